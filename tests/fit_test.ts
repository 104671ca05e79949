import assert from "node:assert/strict";
import { initBackend, tf } from "../lib/engine/backend.ts";
import { featureExamples, imageExamples } from "../lib/data/examples.ts";
import { syntheticCifar100 } from "../lib/data/synthetic.ts";
import { buildCnn } from "../lib/models/cnn.ts";
import { buildMlp } from "../lib/models/mlp.ts";
import { evaluate, fit } from "../lib/train/fit.ts";
import { lossFromLogits } from "../lib/train/loss.ts";

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

Deno.test("imageExamples scale bytes per batch; featureExamples copy rows", () => {
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
