import assert from "node:assert/strict";
import { initBackend, tf } from "../lib/engine/backend.ts";
import { featureExamples, imageExamples } from "../lib/data/examples.ts";
import { syntheticCifar100 } from "../lib/data/synthetic.ts";
import { buildCnn } from "../lib/models/cnn.ts";
import { buildMlp } from "../lib/models/mlp.ts";
import { evaluate, fit } from "../lib/train/fit.ts";
import { lossFromLogits } from "../lib/train/loss.ts";
import { HYP, type OptimizerSpec } from "../lib/train/hyp.ts";
import { logitsOf } from "../lib/models/logits.ts";
import { makeOptimizer } from "../lib/train/optimizer.ts";
import { runExperiment } from "../lib/train/experiment.ts";

await initBackend();
const data = syntheticCifar100({ seed: 1, trainCount: 768, testCount: 256 });
const train = imageExamples(data.train, data.train.fineLabels);
const test = imageExamples(data.test, data.test.fineLabels);
const quiet = () => {};

Deno.test("CNN training beats chance, keeps the tensor count flat across epochs, logs like Keras", async () => {
  const model = buildCnn({ seed: 1 });
  const counts: number[] = [];
  const lines: string[] = [];
  const progress: number[] = [];
  const optimizer = tf.train.adam(1e-3);
  const result = await fit(model, train, {
    epochs: 3,
    batchSize: 64,
    optimizer,
    validation: test,
    log: (l) => lines.push(l),
    onProgress: (done) => progress.push(done),
    onEpochEnd: () => counts.push(tf.memory().numTensors),
  });
  assert.equal(new Set(counts).size, 1, `tensor counts per epoch: ${counts}`);
  assert.equal(result.history.val_accuracy.length, 3);
  assert.ok(result.history.val_accuracy[2] > 0.1, `val accuracy ${result.history.val_accuracy}`);
  assert.ok(result.history.loss[2] < result.history.loss[0]);
  assert.equal(result.secondsPerEpoch.length, 3);
  assert.equal(lines[0], "Epoch 1/3");
  assert.match(
    lines[1],
    /^12\/12 - [\d.]+s \d+ms\/step - loss: [\d.]+ - accuracy: [\d.]+ - val_loss: [\d.]+ - val_accuracy: [\d.]+$/,
  );
  assert.deepEqual(progress.slice(0, 12), [...Array(12).keys()].map((i) => i + 1));
  optimizer.dispose();
  model.dispose();
});

Deno.test("the same seed gives the same history; another seed does not", async () => {
  const run = async (seed: number) => {
    const model = buildMlp({ seed });
    const optimizer = tf.train.rmsprop(1e-3, 0.9, 0, 1e-7);
    const { history } = await fit(model, train, {
      epochs: 2,
      batchSize: 128,
      optimizer,
      seed,
      log: quiet,
    });
    optimizer.dispose();
    model.dispose();
    return history.loss;
  };
  const a = await run(7);
  assert.deepEqual(await run(7), a);
  assert.notDeepEqual(await run(8), a);
});

Deno.test("evaluate: accuracy, top-5, loss and predictions against hand-computed values", async () => {
  // Identity head: the predicted class is the largest feature.
  const head = tf.sequential({
    layers: [tf.layers.dense({ inputShape: [6], units: 6, activation: "softmax", useBias: false })],
  });
  head.setWeights([tf.eye(6)]);
  const features = new Float32Array([
    5,
    0,
    0,
    0,
    0,
    0, // -> 0, label 0: right
    0,
    4,
    1,
    0,
    0,
    0, // -> 1, label 1: right
    0,
    0,
    0,
    3,
    2,
    1, // -> 3, label 4: wrong, 2nd best
    1,
    2,
    3,
    4,
    5,
    6, // -> 5, label 0: wrong, last
  ]);
  const labels = new Uint8Array([0, 1, 4, 0]);
  const result = await evaluate(head, featureExamples(features, 6, labels), { batchSize: 3 });
  assert.deepEqual(Array.from(result.predictions), [0, 1, 3, 5]);
  assert.equal(result.accuracy, 0.5);
  assert.equal(result.top5Accuracy, 0.75); // label 0 of the last row ranks 6th
  const ce = (row: number[], label: number) =>
    -Math.log(Math.exp(row[label]) / row.reduce((s, v) => s + Math.exp(v), 0));
  const expected = (ce([5, 0, 0, 0, 0, 0], 0) + ce([0, 4, 1, 0, 0, 0], 1) +
    ce([0, 0, 0, 3, 2, 1], 4) + ce([1, 2, 3, 4, 5, 6], 0)) / 4;
  assert.ok(Math.abs(result.loss - expected) < 1e-4, `${result.loss} vs ${expected}`);
  head.dispose();
});

Deno.test("losses: categorical and (the source's) binary cross-entropy, from logits", () => {
  const truth = tf.tensor2d([[0, 1, 0]]);
  // Logits whose softmax is [0.2, 0.5, 0.3].
  const logits = tf.log(tf.tensor2d([[0.2, 0.5, 0.3]]));
  const categorical = lossFromLogits("categorical_crossentropy", truth, logits).dataSync()[0];
  const binary = lossFromLogits("binary_crossentropy", truth, logits).dataSync()[0];
  assert.ok(Math.abs(categorical - -Math.log(0.5)) < 1e-5);
  const expectedBinary = -(Math.log(0.8) + Math.log(0.5) + Math.log(0.7)) / 3;
  assert.ok(Math.abs(binary - expectedBinary) < 1e-5, `${binary} vs ${expectedBinary}`);
});

Deno.test("imageExamples scale bytes per batch, into a buffer if given; featureExamples copy rows", () => {
  const images = new Uint8Array(2 * 3072);
  images[3072] = 255;
  images[3073] = 51;
  const ex = imageExamples({ images, count: 2 }, new Uint8Array([3, 4]));
  const batch = ex.gather([1, 0]);
  assert.equal(batch[0], 1);
  assert.ok(Math.abs(batch[1] - 0.2) < 1e-7);
  assert.equal(batch[3072], 0);
  const raw = imageExamples({ images, count: 2 }, new Uint8Array([3, 4]), 1).gather([1]);
  assert.equal(raw[0], 255);
  // Into a caller's buffer: that buffer, filled; a later gather leaves an earlier one as it was.
  const into = new Float32Array(3072);
  assert.equal(ex.gather([1], into), into);
  assert.equal(into[1], batch[1]);
  const second = ex.gather([0, 1]);
  assert.deepEqual([into[0], second[0], second[3072]], [1, 0, 1]);
  assert.throws(() => ex.gather([0, 1], into), /a buffer of 3072 values for 6144/);
  const feats = featureExamples(new Float32Array([1, 2, 3, 4]), 2, new Uint8Array([0, 1]));
  assert.deepEqual(Array.from(feats.gather([1, 0])), [3, 4, 1, 2]);
  assert.throws(() => featureExamples(new Float32Array(3), 2, new Uint8Array(2)), /expected 2 x 2/);
});

Deno.test("evaluate: confidences are the top-1 softmax probabilities, batch by batch", async () => {
  // Identity head: the logits are the features themselves.
  const head = tf.sequential({
    layers: [tf.layers.dense({ inputShape: [3], units: 3, activation: "softmax", useBias: false })],
  });
  head.setWeights([tf.eye(3)]);
  const rows = [[2, 0, 0], [0, 1, 1], [1, 2, 3]];
  const labels = new Uint8Array([0, 2, 0]);
  const examples = featureExamples(new Float32Array(rows.flat()), 3, labels);
  const result = await evaluate(head, examples, { batchSize: 2 });
  const top1 = (row: number[]) =>
    Math.max(...row.map(Math.exp)) / row.reduce((s, v) => s + Math.exp(v), 0);
  assert.equal(result.confidences.length, 3);
  rows.forEach((row, i) => {
    assert.ok(Math.abs(result.confidences[i] - top1(row)) < 1e-6, `row ${i}`);
  });
  head.dispose();
});

// ---- One optimizer step by hand; batches and history on a set that leaves a smaller last batch.

/** A one-layer softmax classifier [dim] -> [classes] with the given weights (no dropout). */
function softmaxHead(kernel: number[][], bias: number[]): tf.Sequential {
  const head = tf.sequential({
    layers: [
      tf.layers.dense({ inputShape: [kernel.length], units: bias.length, activation: "softmax" }),
    ],
  });
  head.setWeights([tf.tensor2d(kernel), tf.tensor1d(bias)]);
  return head;
}

/** d(mean categorical cross-entropy of softmax(xW + b))/d(W, b), in float64. */
function handGradient(w: number[][], b: number[], x: number[][], labels: number[]) {
  const gw = w.map((row) => row.map(() => 0));
  const gb = b.map(() => 0);
  x.forEach((xi, i) => {
    const z = b.map((bk, k) => bk + xi.reduce((s, xd, d) => s + xd * w[d][k], 0));
    const top = Math.max(...z);
    const e = z.map((zk) => Math.exp(zk - top));
    const sum = e.reduce((s, v) => s + v, 0);
    e.forEach((ek, k) => {
      const dz = (ek / sum - (k === labels[i] ? 1 : 0)) / x.length;
      gb[k] += dz;
      xi.forEach((xd, d) => gw[d][k] += xd * dz);
    });
  });
  return [gw.flat(), gb];
}

/** Close to `tol` in absolute terms, element by element. */
function assertNear(actual: ArrayLike<number>, expected: number[], what: string, tol: number) {
  assert.equal(actual.length, expected.length, what);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(
      Math.abs(actual[i] - expected[i]) < tol,
      `${what}[${i}]: ${actual[i]} vs ${expected[i]}`,
    );
  }
}

const handFeatures = [[1, -2], [0.5, 0.5], [-1, 3]];
const handLabels = [2, 0, 1];
const handKernel = [[0.1, -0.2, 0.3], [0.4, 0, -0.1]];
const handBias = [0.05, -0.05, 0];

/**
 * Train the known head for two epochs of one full batch (two optimizer steps) with
 * makeOptimizer(spec); return its weights and what the update rule `rule` predicts.
 */
async function twoSteps(
  spec: OptimizerSpec,
  rule: (params: number[], grads: number[], state: number[][], t: number) => number[],
) {
  const head = softmaxHead(handKernel, handBias);
  const optimizer = makeOptimizer(spec);
  const examples = featureExamples(
    Float32Array.from(handFeatures.flat()),
    2,
    Uint8Array.from(handLabels),
  );
  await fit(head, examples, { epochs: 2, batchSize: 3, optimizer, log: quiet });
  const actual = head.getWeights().map((w) => Array.from(w.dataSync()));
  let w = handKernel.map((r) => r.slice()), b = handBias.slice();
  const states = [[[], []], [[], []]] as number[][][];
  for (let t = 1; t <= 2; t++) {
    const [gw, gb] = handGradient(w, b, handFeatures, handLabels);
    const flat = rule(w.flat(), gw, states[0], t);
    w = [flat.slice(0, 3), flat.slice(3)];
    b = rule(b, gb, states[1], t);
  }
  optimizer.dispose();
  head.dispose();
  return { actual, expected: [w.flat(), b], start: [handKernel.flat(), handBias] };
}

Deno.test("fit + makeOptimizer: two Adam steps equal the engine's update rule by hand", async () => {
  // A large epsilon makes the rules' difference visible: TensorFlow's (Keras's, the fused op
  // on the tensorflow engine) scales the step by sqrt(1 - b2^t) / (1 - b1^t) outside epsilon;
  // tfjs's (wasm) bias-corrects m and v and adds epsilon to sqrt(v-hat).
  const spec = {
    name: "adam",
    learningRate: 0.05,
    beta1: 0.9,
    beta2: 0.999,
    epsilon: 0.02,
  } as const;
  const keras = tf.getBackend() === "tensorflow";
  const { learningRate: lr, beta1: b1, beta2: b2, epsilon: eps } = spec;
  const { actual, expected, start } = await twoSteps(spec, (p, g, [m, v], t) =>
    p.map((pi, i) => {
      m[i] = b1 * (m[i] ?? 0) + (1 - b1) * g[i];
      v[i] = b2 * (v[i] ?? 0) + (1 - b2) * g[i] ** 2;
      return keras
        ? pi - lr * Math.sqrt(1 - b2 ** t) / (1 - b1 ** t) * m[i] / (Math.sqrt(v[i]) + eps)
        : pi - lr * (m[i] / (1 - b1 ** t)) / (Math.sqrt(v[i] / (1 - b2 ** t)) + eps);
    }));
  // The steps are large against the tolerance: a wrong rate or a missing bias correction shows.
  assert.ok(expected[0].some((v, i) => Math.abs(v - start[0][i]) > 0.02));
  assertNear(actual[0], expected[0], "kernel", 2e-6);
  assertNear(actual[1], expected[1], "bias", 2e-6);
});

Deno.test("fit + makeOptimizer: two RMSprop steps (with momentum) equal the update rule by hand", async () => {
  const spec = {
    name: "rmsprop",
    learningRate: 0.01,
    rho: 0.9,
    momentum: 0.5,
    epsilon: 0.01,
  } as const;
  const { learningRate: lr, rho, momentum, epsilon: eps } = spec;
  const { actual, expected, start } = await twoSteps(spec, (p, g, [ms, mom]) =>
    p.map((pi, i) => {
      ms[i] = rho * (ms[i] ?? 0) + (1 - rho) * g[i] ** 2;
      mom[i] = momentum * (mom[i] ?? 0) + lr * g[i] / Math.sqrt(ms[i] + eps);
      return pi - mom[i];
    }));
  assert.ok(expected[0].some((v, i) => Math.abs(v - start[0][i]) > 0.01));
  assertNear(actual[0], expected[0], "kernel", 2e-6);
  assertNear(actual[1], expected[1], "bias", 2e-6);
});

/**
 * Ten examples in batches of 4 (4, 4, then 2), two epochs, with a spy on the batches gathered
 * and on each optimizer step. At each step, before the update, the spy computes the batch's
 * loss and hits itself from the current weights (the model has no dropout, so they are what
 * fit's gradient step saw).
 */
async function spiedFit() {
  const dim = 3, classes = 4, count = 10;
  const features = Float32Array.from({ length: count * dim }, (_, i) => Math.sin(1.7 * i + 0.3));
  const labels = Uint8Array.from({ length: count }, (_, i) => (i * 3) % classes);
  const head = softmaxHead(
    [[0.5, -0.3, 0.2, 0.1], [-0.4, 0.6, 0, 0.3], [0.2, 0.1, -0.5, 0.4]],
    [0.1, 0, -0.1, 0],
  );
  const base = featureExamples(features, dim, labels);
  const batches: number[][] = [];
  const examples = {
    ...base,
    gather(indices: ArrayLike<number>) {
      batches.push(Array.from(indices));
      return base.gather(indices);
    },
  };
  const inner = makeOptimizer({ ...HYP.cnn.optimizer, learningRate: 0.05 });
  const steps: { size: number; loss: number; correct: number }[] = [];
  const spy = {
    applyGradients(grads: tf.NamedTensorMap) {
      const batch = batches.at(-1)!;
      const [loss, correct] = tf.tidy(() => {
        const x = tf.tensor2d(base.gather(batch), [batch.length, dim]);
        const truth = tf.tensor1d(Array.from(batch, (i) => labels[i]), "int32");
        const logits = logitsOf(head, x);
        return [
          lossFromLogits("categorical_crossentropy", tf.oneHot(truth, classes), logits),
          logits.argMax(-1).equal(truth).sum(),
        ].map((t) => t.dataSync()[0]);
      });
      steps.push({ size: batch.length, loss, correct });
      inner.applyGradients(grads);
    },
  } as unknown as tf.Optimizer;
  const progress: [number, number][] = [];
  const { history } = await fit(head, examples, {
    epochs: 2,
    batchSize: 4,
    optimizer: spy,
    seed: 5,
    log: quiet,
    onProgress: (done, total) => progress.push([done, total]),
  });
  inner.dispose();
  head.dispose();
  return { history, batches, steps, progress, count };
}

Deno.test("fit: a smaller last batch; every example once per epoch; one step per batch", async () => {
  const { batches, steps, progress, count } = await spiedFit();
  assert.deepEqual(batches.map((b) => b.length), [4, 4, 2, 4, 4, 2]);
  assert.deepEqual(steps.map((s) => s.size), [4, 4, 2, 4, 4, 2], "one optimizer step per batch");
  assert.deepEqual(progress, [[1, 3], [2, 3], [3, 3], [1, 3], [2, 3], [3, 3]]);
  const all = [...Array(count).keys()];
  for (const epoch of [batches.slice(0, 3), batches.slice(3)]) {
    assert.deepEqual(epoch.flat().sort((a, b) => a - b), all, "each example exactly once");
  }
  assert.notDeepEqual(batches.slice(0, 3).flat(), batches.slice(3).flat(), "reshuffled");
});

Deno.test("fit: history loss and accuracy are the batch-size-weighted means over each epoch", async () => {
  const { history, steps, count } = await spiedFit();
  for (const epoch of [0, 1]) {
    const part = steps.slice(3 * epoch, 3 * epoch + 3);
    const loss = part.reduce((s, b) => s + b.loss * b.size, 0) / count;
    const accuracy = part.reduce((s, b) => s + b.correct, 0) / count;
    assert.ok(
      Math.abs(history.loss[epoch] - loss) < 1e-6,
      `epoch ${epoch}: loss ${history.loss[epoch]} vs ${loss}`,
    );
    assert.ok(
      Math.abs(history.accuracy[epoch] - accuracy) < 1e-9,
      `epoch ${epoch}: accuracy ${history.accuracy[epoch]} vs ${accuracy}`,
    );
    // The weighting matters here: the plain means of the three batches differ.
    const plainLoss = part.reduce((s, b) => s + b.loss, 0) / 3;
    const plainAccuracy = part.reduce((s, b) => s + b.correct / b.size, 0) / 3;
    assert.ok(Math.abs(plainLoss - loss) > 1e-4, `epoch ${epoch}: loss weighting is visible`);
    assert.ok(
      Math.abs(plainAccuracy - accuracy) > 1e-3,
      `epoch ${epoch}: accuracy weighting is visible`,
    );
  }
});

/** Test images that count how many images are read from them (imageExamples reads each once). */
class CountingImages extends Uint8Array {
  imagesRead = 0;
  override subarray(begin?: number, end?: number) {
    this.imagesRead++;
    return super.subarray(begin, end);
  }
}

Deno.test("a CNN run evaluates the test set once per epoch, not again at the end", async () => {
  const small = syntheticCifar100({ seed: 2, trainCount: 128, testCount: 40 });
  const images = new CountingImages(small.test.images);
  const dataset = { ...small, test: { ...small.test, images } };
  const record = await runExperiment(
    { model: "cnn", epochs: 2, dataset, out: null, workers: 1 },
    { log: quiet, summary: false },
  );
  assert.equal(images.imagesRead, 2 * 40, "each test image read once per epoch's validation");
  // The record's test metrics are the last validation's.
  assert.equal(record.test_loss, record.history.val_loss.at(-1));
  assert.equal(record.test_accuracy, record.history.val_accuracy.at(-1));
  assert.equal(record.test_predictions.length, 40);
});
