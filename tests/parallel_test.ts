import assert from "node:assert/strict";
import { initBackend, tf } from "../lib/engine/backend.ts";
import { imageExamples } from "../lib/data/examples.ts";
import { syntheticCifar100 } from "../lib/data/synthetic.ts";
import { buildCnn } from "../lib/models/cnn.ts";
import { evenShares, startWorkers } from "../lib/train/parallel.ts";
import { fit } from "../lib/train/fit.ts";
import { lossFromLogits } from "../lib/train/loss.ts";
import { logitsOf } from "../lib/models/layers.ts";

const backend = await initBackend();

Deno.test("evenShares: contiguous shares whose sizes differ by at most one", () => {
  assert.deepEqual(evenShares(7, 3), [[0, 3], [3, 5], [5, 7]]);
  assert.deepEqual(evenShares(1, 2), [[0, 1], [1, 1]]);
  assert.deepEqual(evenShares(6, 1), [[0, 6]]);
});

Deno.test("a gradient worker returns the same gradients as this thread for the same replica", async () => {
  // The worker's replica i uses seed + 1,000,003 * i, so a local model with that seed draws the
  // same dropout masks on its first call.
  const [worker] = await startWorkers(1, backend.name, { model: "cnn", seed: 4 });
  try {
    const local = buildCnn({ seed: 4 + 1_000_003 });
    const vars = local.trainableWeights.map((w) => w.read() as tf.Variable);
    const x = tf.randomUniform([6, 32, 32, 3], 0, 1, "float32", 5);
    const labels = new Int32Array([1, 5, 9, 1, 0, 99]);
    const { grads, value } = tf.variableGrads(() =>
      lossFromLogits(
        "categorical_crossentropy",
        tf.oneHot(tf.tensor1d(labels, "int32"), 100),
        logitsOf(local, x, true),
      ), vars);
    const reply = await worker.step({
      weights: vars.map((v) => (v.dataSync() as Float32Array).slice()),
      x: (x.dataSync() as Float32Array).slice(),
      shape: [6, 32, 32, 3],
      labels,
      numClasses: 100,
      loss: "categorical_crossentropy",
      weight: 1,
    });
    assert.ok(Math.abs(reply.loss - value.dataSync()[0]) < 1e-5);
    vars.forEach((v, i) => {
      const expected = grads[v.name].dataSync();
      assert.equal(reply.grads[i].length, expected.length);
      for (let j = 0; j < expected.length; j++) {
        assert.ok(Math.abs(reply.grads[i][j] - expected[j]) < 1e-5, `${v.name}[${j}]`);
      }
    });
    local.dispose();
  } finally {
    worker.close();
  }
});

Deno.test("two-thread training learns, keeps memory flat and closes cleanly", async () => {
  const data = syntheticCifar100({ seed: 2, trainCount: 640, testCount: 256 });
  const model = buildCnn({ seed: 2 });
  const workers = await startWorkers(1, backend.name, { model: "cnn", seed: 2 });
  const counts: number[] = [];
  const optimizer = tf.train.adam(1e-3);
  try {
    const result = await fit(model, imageExamples(data.train, data.train.fineLabels), {
      epochs: 3,
      batchSize: 64,
      optimizer,
      validation: imageExamples(data.test, data.test.fineLabels),
      workers,
      log: () => {},
      onEpochEnd: () => counts.push(tf.memory().numTensors),
    });
    assert.equal(new Set(counts).size, 1, `tensor counts per epoch: ${counts}`);
    assert.ok(result.history.val_accuracy[2] > 0.1, `${result.history.val_accuracy}`);
  } finally {
    workers.forEach((w) => w.close());
    optimizer.dispose();
    model.dispose();
  }
});

Deno.test("VGG16 features from two threads equal one thread's, in image order", async () => {
  const { buildVgg16Base } = await import("../lib/models/vgg16.ts");
  const { extractFeatures } = await import("../lib/train/features.ts");
  const images = syntheticCifar100({ seed: 6, trainCount: 9, testCount: 1 }).train.images;
  const base = buildVgg16Base(32, 5);
  const workers = await startWorkers(1, backend.name, {
    model: "vgg16-base",
    inputSize: 32,
    seed: 5,
  });
  try {
    const alone = await extractFeatures(base, images, {
      inputSize: 32,
      batchSize: 4,
      progress: false,
    });
    const shared = await extractFeatures(base, images, {
      inputSize: 32,
      batchSize: 4,
      progress: false,
      workers,
    });
    assert.equal(shared.features.length, 9 * 512);
    let worst = 0;
    for (let i = 0; i < alone.features.length; i++) {
      const scale = Math.max(1e-3, Math.abs(alone.features[i]));
      worst = Math.max(worst, Math.abs(shared.features[i] - alone.features[i]) / scale);
    }
    assert.ok(worst < 1e-3, `max relative difference ${worst}`);
    assert.ok(alone.features.some((v) => v !== 0), "features are not all zero");
  } finally {
    workers.forEach((w) => w.close());
    base.dispose();
  }
});
