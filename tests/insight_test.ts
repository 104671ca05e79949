/**
 * The insight views' methods (notebook 07): each test would fail with a wrong method, not just
 * a crashing one.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { initBackend, tf } from "../lib/engine/backend.ts";
import { IMAGE_SIZE } from "../lib/data/dataset.ts";
import { cifarImage, writePng } from "../lib/data/images.ts";
import { buildCnn } from "../lib/models/cnn.ts";
import { buildMlp } from "../lib/models/mlp.ts";
import { buildResnet9 } from "../lib/models/resnet9.ts";
import { buildVgg16Base } from "../lib/models/vgg16.ts";
import { buildClassifier, buildHead } from "../lib/models/backbone.ts";
import { mulberry32 } from "../lib/util/random.ts";
import { runExperiment } from "../lib/train/experiment.ts";
import type { RunRecord } from "../lib/train/run_record.ts";
import { type Classifier, loadClassifier, predictTopK } from "../lib/inference/predict.ts";
import { gradCam, saliency } from "../lib/inference/gradcam.ts";
import { penultimateFeatures } from "../lib/inference/embedding.ts";
import { pca, umap } from "../lib/inference/projection.ts";
import {
  classifierLogits,
  expectedCalibrationError,
  fitTemperature,
  recordOutcomes,
  saveCalibration,
  temperedTop1,
} from "../lib/inference/calibration.ts";
import { extremeClasses, sortedClassAccuracy } from "../lib/report/class_accuracy.ts";

await initBackend();

/** A classifier object around an in-memory model (no run folder). */
function inMemory(model: tf.LayersModel, name: RunRecord["model"], classes: number): Classifier {
  const record = {
    model: name,
    fine_label_names: Array.from({ length: classes }, (_, i) => `class_${i}`),
    coarse_label_names: ["all"],
    fine_to_coarse: new Array(classes).fill(0),
  } as unknown as RunRecord;
  return { model, record, inputSize: IMAGE_SIZE, dir: "" };
}

/**
 * Noise images whose class is only the colour of their top-left 8x8 corner: red (0) or blue (1).
 */
function cornerImages(count: number, seed: number): { pixels: Uint8Array; labels: number[] } {
  const random = mulberry32(seed);
  const pixels = new Uint8Array(count * IMAGE_SIZE * IMAGE_SIZE * 3);
  const labels: number[] = [];
  for (let i = 0; i < count; i++) {
    const label = i % 2;
    labels.push(label);
    for (let y = 0; y < IMAGE_SIZE; y++) {
      for (let x = 0; x < IMAGE_SIZE; x++) {
        const at = ((i * IMAGE_SIZE + y) * IMAGE_SIZE + x) * 3;
        const corner = x < 8 && y < 8;
        for (let c = 0; c < 3; c++) {
          pixels[at + c] = corner ? (c === (label ? 2 : 0) ? 255 : 0) : Math.floor(random() * 256);
        }
      }
    }
  }
  return { pixels, labels };
}

async function trainOnCorners(model: tf.LayersModel): Promise<void> {
  const { pixels, labels } = cornerImages(256, 1);
  const x = tf.tensor4d(Float32Array.from(pixels, (v) => v / 255), [256, 32, 32, 3]);
  const y = tf.oneHot(labels, 2).toFloat();
  model.compile({ optimizer: tf.train.adam(1e-3), loss: "categoricalCrossentropy" });
  await model.fit(x, y, { epochs: 4, batchSize: 32, verbose: 0, shuffle: false });
  tf.dispose([x, y]);
}

/** Share of each map's mass in the top-left quadrant, averaged, and how often it peaks there. */
function cornerShare(maps: Float32Array, count: number): { mass: number; peaks: number } {
  let mass = 0;
  let peaks = 0;
  const side = IMAGE_SIZE;
  for (let i = 0; i < count; i++) {
    const map = maps.subarray(i * side * side, (i + 1) * side * side);
    let inside = 0;
    let total = 0;
    let best = 0;
    map.forEach((v, p) => {
      total += v;
      if (p % side < side / 2 && Math.floor(p / side) < side / 2) inside += v;
      if (v > map[best]) best = p;
    });
    mass += total > 0 ? inside / total / count : 0;
    if (best % side < side / 2 && Math.floor(best / side) < side / 2) peaks += 1 / count;
  }
  return { mass, peaks };
}

Deno.test("Grad-CAM of a CNN whose class is in one corner peaks in that corner", async () => {
  const model = buildCnn({ numClasses: 2, seed: 3 });
  await trainOnCorners(model);
  const test = cornerImages(32, 2);
  const started = performance.now();
  const cam = gradCam(inMemory(model, "cnn", 2), test.pixels);
  const seconds = (performance.now() - started) / 1000;
  const right = cam.classes.filter((c, i) => c === test.labels[i]).length;
  assert.ok(right >= 30, `the CNN learnt the corner: ${right} of 32 right`);
  const { mass, peaks } = cornerShare(cam.maps, 32);
  // A quarter of the image: chance is 0.25.
  assert.ok(peaks >= 0.9, `maps peak in the corner quadrant for ${peaks} of the images`);
  assert.ok(mass > 0.3, `the corner quadrant holds ${mass} of the maps' mass`);
  assert.ok(seconds < 5, `Grad-CAM for 32 images took ${seconds} s`);
  model.dispose();
});

Deno.test("the MLP's saliency map of a corner-class model peaks in that corner", async () => {
  const model = buildMlp({ numClasses: 2, seed: 3 });
  await trainOnCorners(model);
  const test = cornerImages(16, 2);
  const map = saliency(inMemory(model, "mlp", 2), test.pixels);
  const { mass, peaks } = cornerShare(map.maps, 16);
  assert.ok(peaks >= 0.9 && mass > 0.3, `peaks ${peaks}, mass ${mass}`);
  model.dispose();
});

Deno.test("Grad-CAM and features reach ResNet-9's last block and VGG16's block5_conv3", () => {
  const resnet9 = buildResnet9({
    numClasses: 5,
    width: 4,
    seed: 0,
    batchNorm: { momentum: 0.9, epsilon: 1e-5 },
    logitScale: 0.125,
    head: "flatten",
  });
  const vgg16 = buildClassifier("vgg16", buildVgg16Base(32, 0), buildHead(5, 512));
  const { pixels } = cornerImages(3, 4);
  for (
    const [model, name, layer, dim] of [[resnet9, "resnet9", "add_1", 512], [
      vgg16,
      "vgg16",
      "block5_conv3",
      512,
    ]] as const
  ) {
    const classifier = inMemory(model, name, 5);
    const cam = gradCam(classifier, pixels);
    assert.equal(cam.layer, layer);
    assert.ok(cam.maps.every((v) => Number.isFinite(v) && v >= 0 && v <= 1));
    assert.equal(penultimateFeatures(classifier, pixels).dim, dim);
    model.dispose();
  }
});

Deno.test("the expected calibration error of known confidences equals the hand-computed value", () => {
  const confidences = [0.95, 0.85, 0.85, 0.55, 0.35, 0.15];
  const correct = [true, true, false, true, false, false];
  // Ten bins: gaps 0.05 (1 image), 0.35 (2), 0.45 (1), 0.35 (1), 0.15 (1).
  const expected = (0.05 + 2 * 0.35 + 0.45 + 0.35 + 0.15) / 6;
  assert.ok(Math.abs(expectedCalibrationError(confidences, correct, 10) - expected) < 1e-12);
  const record = {
    test_confidences: confidences,
    test_predictions: [1, 2, 0, 4, 0, 0],
    test_labels: [1, 2, 3, 4, 5, 6],
  } as unknown as RunRecord;
  assert.deepEqual(recordOutcomes(record), correct);
  // Perfectly calibrated: 0.75 sure, right 3 times in 4.
  assert.equal(expectedCalibrationError([0.75, 0.75, 0.75, 0.75], [true, true, true, false]), 0);
});

/** Logits of a model four times too sure: labels drawn from softmax(z), logits 4z. */
function overconfident(count: number, seed: number) {
  const random = mulberry32(seed);
  const classes = 10;
  const values = new Float32Array(count * classes);
  const labels: number[] = [];
  for (let i = 0; i < count; i++) {
    const z = Array.from({ length: classes }, () => random() * 2);
    z[Math.floor(random() * classes)] += 2;
    const weights = z.map(Math.exp);
    let u = random() * weights.reduce((a, b) => a + b);
    labels.push(weights.findIndex((w) => (u -= w) <= 0));
    z.forEach((v, c) => (values[i * classes + c] = 4 * v));
  }
  return { logits: { values, count, classes }, labels };
}

Deno.test("temperature scaling lowers the calibration error of an over-confident model", () => {
  const fit = overconfident(2000, 1);
  const held = overconfident(2000, 2);
  const temperature = fitTemperature(fit.logits, fit.labels);
  assert.ok(temperature > 3 && temperature < 5.5, `fitted temperature ${temperature}, true 4`);
  const ece = (t: number) => {
    const { confidences, classes } = temperedTop1(held.logits, t);
    return expectedCalibrationError(
      confidences,
      Array.from(classes, (c, i) => c === held.labels[i]),
    );
  };
  assert.ok(ece(temperature) < ece(1) / 3, `ECE ${ece(1)} before, ${ece(temperature)} after`);
});

/** Three far-apart Gaussian clusters in 64 dimensions. */
function clusters(perCluster: number) {
  const random = mulberry32(5);
  const dim = 64;
  const count = 3 * perCluster;
  const values = new Float32Array(count * dim);
  const labels: number[] = [];
  for (let i = 0; i < count; i++) {
    const cluster = i % 3;
    labels.push(cluster);
    for (let d = 0; d < dim; d++) {
      const noise = (random() + random() + random() - 1.5) * 2;
      values[i * dim + d] = noise + (d % 3 === cluster ? 6 : 0);
    }
  }
  return { values, count, dim, labels };
}

/** Share of points nearer their own cluster's 2-D centre than any other's. */
function separated(coords: Float32Array, labels: number[]): number {
  const centres = [0, 1, 2].map((c) => {
    const points = labels.flatMap((l, i) => (l === c ? [i] : []));
    return [0, 1].map((d) => points.reduce((s, i) => s + coords[i * 2 + d], 0) / points.length);
  });
  const nearest = (i: number) =>
    centres.map((m, c) => [Math.hypot(coords[i * 2] - m[0], coords[i * 2 + 1] - m[1]), c])
      .sort((a, b) => a[0] - b[0])[0][1];
  return labels.filter((l, i) => nearest(i) === l).length / labels.length;
}

Deno.test("PCA and UMAP keep well-separated clusters apart", () => {
  const { values, count, dim, labels } = clusters(60);
  const flat = pca(values, count, dim);
  assert.equal(separated(flat.coords, labels), 1);
  assert.ok(flat.explained![0] > flat.explained![1]);
  const map = umap(values, count, dim, 0, 100);
  assert.equal(separated(map.coords, labels), 1);
  // The first principal axis is the line the points lie along.
  const line = new Float32Array(200 * 2).map((_, i) => (i % 2 ? 0.01 : 1) * Math.floor(i / 2));
  assert.ok(pca(line, 200, 2, 1).explained![0] > 0.999);
});

Deno.test("per-class accuracy sums back to the overall accuracy", () => {
  const random = mulberry32(9);
  const labels = Array.from({ length: 1000 }, () => Math.floor(random() * 100));
  const predictions = labels.map((l) => (random() < 0.4 ? l : Math.floor(random() * 100)));
  const run = {
    test_labels: labels,
    test_predictions: predictions,
    fine_to_coarse: Array.from({ length: 100 }, (_, i) => Math.floor(i / 5)),
    fine_label_names: Array.from({ length: 100 }, (_, i) => `c${i}`),
    coarse_label_names: Array.from({ length: 20 }, (_, i) => `s${i}`),
  };
  const rows = sortedClassAccuracy(run);
  const overall = labels.filter((l, i) => predictions[i] === l).length / labels.length;
  assert.equal(rows.reduce((s, r) => s + r.images, 0), 1000);
  const weighted = rows.reduce((s, r) => s + (r.images ? r.accuracy * r.images : 0), 0) / 1000;
  assert.ok(Math.abs(weighted - overall) < 1e-12, `${weighted} vs ${overall}`);
  const table = extremeClasses(run, 10);
  assert.equal(table.length, 20);
  assert.ok(table[0].accuracy_pct >= table[19].accuracy_pct);
});

Deno.test("a run's temperature changes the probabilities predict gives", async () => {
  const out = await Deno.makeTempDir();
  try {
    await runExperiment(
      { model: "mlp", data: "synthetic", epochs: 1, limitTrain: 256, limitTest: 32, out },
      { log: () => {}, summary: false },
    );
    const dir = join(out, "mlp");
    const { syntheticCifar100 } = await import("../lib/data/synthetic.ts");
    const pixels = syntheticCifar100({ trainCount: 0, testCount: 4 }).test.images;
    const plain = await loadClassifier(dir);
    const before = predictTopK(plain, pixels, 3);
    const logits = classifierLogits(plain, pixels);
    plain.model.dispose();
    await saveCalibration(dir, {
      temperature: 2,
      fitted_on: "test",
      images: 1,
      ece_before: 0,
      ece_after: 0,
      measured_on: "test",
    });
    const tempered = await loadClassifier(dir);
    assert.equal(tempered.record.temperature, 2);
    const after = predictTopK(tempered, pixels, 3);
    const expected = temperedTop1(logits, 2).confidences;
    after.forEach((top, i) => {
      assert.equal(top[0].class, before[i][0].class);
      assert.notEqual(top[0].probability, before[i][0].probability);
      assert.ok(Math.abs(top[0].probability - expected[i]) < 1e-5);
    });
    // The command prints the tempered probability.
    const image = await writePng(join(out, "a.png"), cifarImage(pixels, 0));
    const cli = new URL("../lib/cli/predict.ts", import.meta.url).pathname;
    const run = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", cli, "--run", dir, "--top", "1", image],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const printed = JSON.parse(new TextDecoder().decode(run.stdout));
    assert.ok(Math.abs(printed.top[0].probability - after[0][0].probability) < 1e-6);
    assert.ok(Math.abs(printed.top[0].probability - before[0][0].probability) > 1e-3);
    tempered.model.dispose();
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
