import assert from "node:assert/strict";
import { initBackend, tf } from "../lib/engine/backend.ts";
import { imageExamples } from "../lib/data/examples.ts";
import { syntheticCifar100 } from "../lib/data/synthetic.ts";
import { buildCnn } from "../lib/models/cnn.ts";
import { evenShares, startWorkers } from "../lib/train/parallel.ts";
import { fit } from "../lib/train/fit.ts";
import { lossFromLogits } from "../lib/train/loss.ts";
import { logitsOf } from "../lib/models/logits.ts";
import { gradients } from "../lib/train/step.ts";
import { permutation, SEED_STRIDE } from "../lib/util/random.ts";

const backend = await initBackend();

Deno.test("evenShares: contiguous shares whose sizes differ by at most one", () => {
  assert.deepEqual(evenShares(7, 3), [[0, 3], [3, 5], [5, 7]]);
  assert.deepEqual(evenShares(1, 2), [[0, 1], [1, 1]]);
  assert.deepEqual(evenShares(6, 1), [[0, 6]]);
});

Deno.test("a gradient worker returns the same gradients as this thread for the same replica", async () => {
  // The worker's replica i uses seed + 1,000,003 * i, so a local model with that seed draws the
  // same dropout masks on its first call.
  const [worker] = await startWorkers(1, backend.name, { model: "cnn", seed: 4, numClasses: 100 });
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
  const workers = await startWorkers(1, backend.name, { model: "cnn", seed: 2, numClasses: 100 });
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
  const { buildVgg16Base, vgg16Input } = await import("../lib/models/vgg16.ts");
  const { extractFeatures } = await import("../lib/train/features.ts");
  const images = syntheticCifar100({ seed: 6, trainCount: 9, testCount: 1 }).train.images;
  const base = buildVgg16Base(32, 5);
  const workers = await startWorkers(1, backend.name, {
    model: "backbone",
    choice: { name: "vgg16", inputSize: 32, alpha: 1 },
    seed: 5,
  });
  try {
    const alone = await extractFeatures(base, images, {
      inputSize: 32,
      input: vgg16Input,
      batchSize: 4,
      progress: false,
    });
    const shared = await extractFeatures(base, images, {
      inputSize: 32,
      input: vgg16Input,
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

Deno.test("parallel steps: the workers' weighted gradients sum to this thread's on the same slices", async () => {
  // 23 examples in batches of 10: batches of 10, 10 and 3, split over this thread and 1, 2 or
  // 3 workers into unequal slices (with 3 workers the last batch leaves one slice empty), each
  // weighted by its share of the batch. Dropout makes every replica draw its own masks, so the
  // reference is computed here by mirror models built from the same seeds (this thread's model:
  // seed; worker i's replica: seed + SEED_STRIDE.replica * i), called once per step as the
  // replicas are, so their masks are the same call for call.
  const seed = 11, numClasses = 100, batchSize = 10;
  const data = syntheticCifar100({ seed: 3, trainCount: 23, testCount: 1 });
  const train = imageExamples(data.train, data.train.fineLabels);
  const model = buildCnn({ seed });
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const mirrors = [0, 1, 2, 3].map((i) => buildCnn({ seed: seed + SEED_STRIDE.replica * i }));
  const mirrorVars = mirrors.map((m) => m.trainableWeights.map((w) => w.read() as tf.Variable));
  const workers = await startWorkers(3, backend.name, { model: "cnn", seed, numClasses });
  const inner = tf.train.sgd(0.05);
  try {
    for (const count of [1, 2, 3]) {
      const order = permutation(train.count, count * SEED_STRIDE.epoch);
      let step = 0, lossSum = 0, correct = 0, worst = 0;
      const spy = {
        applyGradients(total: tf.NamedTensorMap) {
          const batch = order.subarray(step * batchSize, (step + 1) * batchSize);
          step++;
          const expected = vars.map((v) => new Float64Array(v.size));
          evenShares(batch.length, count + 1).forEach(([first, last], p) => {
            const part = batch.subarray(first, last);
            if (part.length === 0) return; // an empty slice is not sent: no mask drawn either
            mirrorVars[p].forEach((m, k) => m.assign(vars[k]));
            const x = tf.tensor4d(train.gather(part), [part.length, 32, 32, 3]);
            const labels = tf.tensor1d(Array.from(part, (j) => train.labels[j]), "int32");
            const weight = part.length / batch.length;
            const result = gradients(mirrors[p], mirrorVars[p], {
              x,
              labels,
              numClasses,
              loss: "categorical_crossentropy",
              weight,
            });
            mirrorVars[p].forEach((m, k) => {
              const g = result.grads[m.name].dataSync();
              for (let j = 0; j < g.length; j++) expected[k][j] += g[j];
            });
            lossSum += result.loss * part.length;
            correct += result.correct;
            tf.dispose([x, labels, result.grads]);
          });
          vars.forEach((v, k) => {
            const actual = total[v.name].dataSync();
            const scale = expected[k].reduce((s, g) => Math.max(s, Math.abs(g)), 0);
            assert.ok(scale > 0, `${v.name} has a gradient`);
            for (let j = 0; j < actual.length; j++) {
              worst = Math.max(worst, Math.abs(actual[j] - expected[k][j]) / scale);
            }
          });
          inner.applyGradients(total);
        },
      } as unknown as tf.Optimizer;
      const { history } = await fit(model, train, {
        epochs: 1,
        batchSize,
        optimizer: spy,
        seed: count,
        workers: workers.slice(0, count),
        log: () => {},
      });
      assert.equal(step, 3, "three batches");
      assert.ok(worst < 1e-5, `${count} worker(s): max gradient difference ${worst} of scale`);
      assert.ok(
        Math.abs(history.loss[0] - lossSum / train.count) < 1e-5,
        `${count} worker(s): loss`,
      );
      assert.equal(history.accuracy[0], correct / train.count, `${count} worker(s): accuracy`);
    }
  } finally {
    workers.forEach((w) => w.close());
    inner.dispose();
    [model, ...mirrors].forEach((m) => m.dispose());
  }
});
