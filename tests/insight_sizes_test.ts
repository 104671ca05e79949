/**
 * The insight views at a run's own input size, not only CIFAR's 32: Grad-CAM and saliency maps at
 * 64 px that still find the evidence (saliency of the CNN: an MLP on 12,288 noisy inputs learns
 * the corner too slowly for its gradients to show it), and every view of notebook 07 on folder runs of VGG16 at
 * 64 px and MobileNetV2 at 96 px (random weights: `--weights none`), drawn at that size, without
 * leaking tensors.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { decode } from "fast-png";
import { initBackend, tf } from "../lib/engine/backend.ts";
import { PREPROCESSING } from "../lib/data/image_pixels.ts";
import { buildCnn } from "../lib/models/cnn.ts";
import { mulberry32 } from "../lib/util/random.ts";
import { runExperiment } from "../lib/train/experiment.ts";
import type { RunRecord } from "../lib/train/run_record.ts";
import type { Classifier } from "../lib/inference/predict.ts";
import { gradCam, saliency } from "../lib/inference/gradcam.ts";
import { penultimateFeatures } from "../lib/inference/embedding.ts";
import { JUPYTER_DISPLAY } from "../lib/report/display.ts";
import {
  calibrationView,
  confusedGallery,
  embeddingView,
  extremeClassesTable,
  loadInsightRun,
  whereItLooksView,
} from "../lib/report/insight.ts";
import { makeImageFolder } from "./image_folder_fixture.ts";

await initBackend();
const tmp = await Deno.makeTempDir({ prefix: "insight_sizes_test_" });
globalThis.addEventListener("unload", () => Deno.removeSync(tmp, { recursive: true }));
const SIDE = 64;

/**
 * A classifier around an in-memory model at `side` px: of a folder run, whose images are read at
 * that side, or of a CIFAR run, whose 32-px images the model resizes.
 */
function inMemory(model: tf.LayersModel, side: number, folder = true): Classifier {
  const record = {
    model: "cnn",
    fine_label_names: ["red corner", "blue corner"],
    coarse_label_names: [],
    fine_to_coarse: [],
    input_size: side,
    ...(folder ? { preprocessing: PREPROCESSING } : {}),
  } as unknown as RunRecord;
  return { model, record, inputSize: side, dir: "" };
}

/** Noise images at `side` px whose class is only the colour of their top-left quarter-side corner. */
function cornerImages(count: number, seed: number): { pixels: Uint8Array; labels: number[] } {
  const random = mulberry32(seed);
  const pixels = new Uint8Array(count * SIDE * SIDE * 3);
  const labels: number[] = [];
  for (let i = 0; i < count; i++) {
    labels.push(i % 2);
    for (let p = 0; p < SIDE * SIDE; p++) {
      const corner = p % SIDE < SIDE / 4 && Math.floor(p / SIDE) < SIDE / 4;
      for (let c = 0; c < 3; c++) {
        const on = c === (i % 2 ? 2 : 0);
        pixels[(i * SIDE * SIDE + p) * 3 + c] = corner ? (on ? 255 : 0) : random() * 256;
      }
    }
  }
  return { pixels, labels };
}

async function trainOnCorners(model: tf.LayersModel): Promise<void> {
  const { pixels, labels } = cornerImages(128, 1);
  const x = tf.tensor4d(Float32Array.from(pixels, (v) => v / 255), [128, SIDE, SIDE, 3]);
  const y = tf.oneHot(labels, 2).toFloat();
  model.compile({ optimizer: tf.train.adam(1e-3), loss: "categoricalCrossentropy" });
  await model.fit(x, y, { epochs: 4, batchSize: 32, verbose: 0, shuffle: false });
  tf.dispose([x, y]);
}

/**
 * How often each map (side x side) peaks in the top-left quadrant, and the share of the maps'
 * mass in the class's corner (a sixteenth of the image).
 */
function cornerShare(maps: Float32Array, count: number): { peaks: number; mass: number } {
  let peaks = 0;
  let mass = 0;
  const within = (p: number, part: number) => p % SIDE < SIDE / part && p / SIDE < SIDE / part;
  for (let i = 0; i < count; i++) {
    const map = maps.subarray(i * SIDE * SIDE, (i + 1) * SIDE * SIDE);
    let [best, inside, total] = [0, 0, 0];
    map.forEach((v, p) => {
      best = v > map[best] ? p : best;
      total += v;
      if (within(p, 4)) inside += v;
    });
    if (within(best, 2)) peaks += 1 / count;
    mass += total > 0 ? inside / total / count : 0;
  }
  return { peaks, mass };
}

Deno.test("Grad-CAM and saliency at 64 px: maps at 64x64 that peak where the class is", async () => {
  const cnn = buildCnn({ numClasses: 2, seed: 3, inputSize: SIDE });
  await trainOnCorners(cnn);
  const test = cornerImages(16, 2);
  const before = tf.memory().numTensors;
  const cam = gradCam(inMemory(cnn, SIDE), test.pixels);
  const map = saliency(inMemory(cnn, SIDE), test.pixels);
  // A CIFAR run at 64 px: its 32-px images are resized by the model, its maps are at 32.
  const small = saliency(inMemory(cnn, SIDE, false), test.pixels.subarray(0, 4 * 32 * 32 * 3));
  assert.equal(tf.memory().numTensors, before);
  for (const explained of [cam, map]) {
    assert.equal(explained.side, SIDE);
    assert.equal(explained.maps.length, 16 * SIDE * SIDE);
    const right = explained.classes.filter((c, i) => c === test.labels[i]).length;
    assert.ok(right >= 14, `${explained.method}: the model learnt the corner: ${right} of 16`);
    const { peaks } = cornerShare(explained.maps, 16);
    assert.ok(peaks >= 0.9, `${explained.method}: maps peak in the corner for ${peaks}`);
  }
  // The corner is a sixteenth of the image: chance is 0.0625.
  assert.ok(cornerShare(cam.maps, 16).mass > 0.4, "Grad-CAM's mass is in the corner");
  assert.deepEqual([small.side, small.maps.length], [32, 4 * 32 * 32]);
  cnn.dispose();
});

/** The sides of base64 PNG images. */
function pngSidesOf(pngs: string[]): number[] {
  return pngs.map((b64) => {
    const png = decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)));
    assert.equal(png.width, png.height);
    return png.width;
  });
}

/** The sides of the PNG images in a display's HTML. */
function pngSides(html: string): number[] {
  return pngSidesOf(
    [...html.matchAll(/data:image\/png;base64,([A-Za-z0-9+/=]+)/g)].map((m) => m[1]),
  );
}

const folder = join(tmp, "flowers");
await makeImageFolder(folder);
const cacheDir = join(tmp, "cache");

/** The photo cases: VGG16 at 64 px and MobileNetV2 at 96 px, with the layer Grad-CAM explains. */
const CASES = [
  { model: "vgg16", side: 64, layer: "block5_conv3" },
  { model: "mobilenetv2", side: 96, layer: "out_relu" },
] as const;

for (const { model, side, layer } of CASES) {
  Deno.test(`the insight views of a ${model} folder run at ${side} px draw and explain it at ${side}`, async () => {
    const out = join(tmp, `${model}-${side}`);
    await runExperiment(
      {
        model,
        data: folder,
        weights: "none",
        inputSize: side,
        epochs: 1,
        seed: 1,
        out,
        cacheDir,
      },
      { log: () => {}, summary: false },
    );
    const before = tf.memory().numTensors;
    const run = await loadInsightRun(join(out, model));
    assert.equal(run.data.imageSize, side);
    const count = run.data.test.count;

    const cam = gradCam(run.classifier, run.data.test.images);
    assert.deepEqual([cam.layer, cam.side, cam.maps.length], [layer, side, count * side * side]);
    assert.ok(cam.maps.every((v) => v >= 0 && v <= 1));
    const features = penultimateFeatures(run.classifier, run.data.test.images);
    assert.equal(features.count, count);

    const looks = whereItLooksView([run], 2)[JUPYTER_DISPLAY]();
    assert.match(
      looks["text/plain"],
      new RegExp(`held-out images it got \\w+ \\(${side}x${side};`),
    );
    const sides = pngSides(looks["text/html"]);
    assert.ok(sides.length >= 4 && sides.every((s) => s === side), sides.join(", "));
    assert.match(looks["text/html"], /alt="true: [^"]+">.*alt="predicted: [^"]+ \(\d+%\)"/);

    const gallery = confusedGallery(run, 3, 1)[JUPYTER_DISPLAY]();
    assert.ok(pngSides(gallery["text/html"]).every((s) => s === side));
    assert.match(gallery["text/plain"], new RegExp(`\\(${side}x${side} held-out images\\)`));
    const embedding = embeddingView([run])[JUPYTER_DISPLAY]()["text/html"];
    const hover = pngSidesOf(JSON.parse(embedding.match(/var images = (\[[^\]]*\]);/)![1]));
    assert.ok(hover.length === Math.min(100, count) && hover.every((s) => s === side));
    const calibration = await calibrationView([run], false);
    assert.match(calibration[JUPYTER_DISPLAY]()["text/plain"], /Temperature scaling/);
    assert.match(extremeClassesTable(run.record, 3)[JUPYTER_DISPLAY]()["text/plain"], /worst/);

    run.classifier.model.dispose();
    assert.equal(tf.memory().numTensors, before, "no tensor left behind");
  });
}
