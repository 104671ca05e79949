import assert from "node:assert/strict";
import { imageExamples } from "../lib/data/examples.ts";
import { syntheticCifar100 } from "../lib/data/synthetic.ts";
import { initBackend, tf } from "../lib/engine/backend.ts";
import { loadNativeOps } from "../lib/engine/native_ops.ts";
import { cpuHasBfloat16, setPrecision } from "../lib/engine/precision.ts";
import { withBinding } from "../lib/engine/node_backend.ts";
import { buildResnet9, decayedWeights } from "../lib/models/resnet9.ts";
import { fit } from "../lib/train/fit.ts";
import { HYP } from "../lib/train/hyp.ts";
import { makeOptimizer } from "../lib/train/optimizer.ts";
import { buildSmallModel } from "../lib/train/small_models.ts";
import { TracedGradients } from "../lib/train/traced_step.ts";

const backend = await initBackend();
// The replay runs through tfjs-node's binding: the tensorflow engine only.
const ignore = backend.name !== "tensorflow";

// 5 full batches of 64 and a short one of 20 per epoch.
const data = syntheticCifar100({ seed: 2, trainCount: 340, testCount: 1 });
const train = imageExamples(data.train, data.train.fineLabels);

/**
 * Weights (as bits) and history after `epochs` of `fit`: without the replay, with it (as one
 * TensorFlow function where the binding can), or with it op by op.
 */
async function trained(model: "mlp" | "cnn", replay: boolean | "ops", epochs = 2) {
  const net = buildSmallModel(model, 3);
  const optimizer = makeOptimizer(HYP[model].optimizer);
  const traced = replay === "ops" &&
    new TracedGradients(net, net.trainableWeights.map((w) => w.read() as tf.Variable), 4, false);
  try {
    const { history } = await fit(net, train, {
      epochs,
      batchSize: 64,
      optimizer,
      seed: 5,
      log: () => {},
      replay: traced || replay === true,
      augment: model === "cnn" ? { crop: 2, flip: true } : undefined,
    });
    const bits = net.getWeights().map((w) => Array.from(new Uint32Array(w.dataSync().buffer)));
    return { bits, history };
  } finally {
    if (traced) traced.dispose();
    optimizer.dispose();
    net.dispose();
  }
}

for (const model of ["mlp", "cnn"] as const) {
  Deno.test({
    name:
      `traced step: a ${model} trained with the replay has the tfjs path's weights, bit for bit`,
    ignore,
    async fn() {
      const before = tf.memory().numTensors;
      const plain = await trained(model, false);
      for (const replay of [true, "ops"] as const) {
        const replayed = await trained(model, replay);
        assert.deepEqual(replayed.history, plain.history, `replay: ${replay}`);
        assert.deepEqual(replayed.bits, plain.bits, `replay: ${replay}`);
      }
      assert.equal(tf.memory().numTensors, before);
    },
  });
}

Deno.test({
  name: "traced step: one TracedGradients kept across fit calls replays from the first batch, " +
    "with the bits of fit without it",
  ignore,
  async fn() {
    const before = tf.memory().numTensors;
    const run = async (keep: boolean) => {
      const net = buildSmallModel("cnn", 3);
      const optimizer = makeOptimizer(HYP.cnn.optimizer);
      const variables = net.trainableWeights.map((w) => w.read() as tf.Variable);
      const traced = keep ? new TracedGradients(net, variables) : undefined;
      const replayed: number[] = [];
      const histories = [];
      for (let epoch = 0; epoch < 2; epoch++) {
        const { history } = await fit(net, train, {
          epochs: 1,
          batchSize: 64,
          optimizer,
          seed: epoch,
          log: () => {},
          replay: traced ?? false,
        });
        histories.push(history);
        replayed.push(traced?.replayed ?? 0);
      }
      const bits = net.getWeights().map((w) => Array.from(new Uint32Array(w.dataSync().buffer)));
      traced?.dispose();
      optimizer.dispose();
      net.dispose();
      return { bits, histories, replayed };
    };
    const plain = await run(false);
    const kept = await run(true);
    assert.deepEqual(kept.histories, plain.histories);
    assert.deepEqual(kept.bits, plain.bits);
    // 5 batches of 64 and one of 20 an epoch: the second epoch replays every batch of 64 (the
    // short one is recorded a second time, as it would be in one fit of two epochs).
    assert.equal(kept.replayed[1] - kept.replayed[0], 5);
    assert.equal(tf.memory().numTensors, before);
    await assert.rejects(
      () =>
        fit(buildSmallModel("mlp", 0), train, {
          epochs: 1,
          batchSize: 64,
          optimizer: makeOptimizer(HYP.mlp.optimizer),
          replay: new TracedGradients(buildSmallModel("mlp", 0), []),
        }),
      /TracedGradients of another model/,
    );
  },
});

Deno.test({
  name: "traced step: a batch with other constants (label smoothing) is recorded, not replayed",
  ignore,
  fn() {
    const model = buildSmallModel("mlp", 0);
    const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const traced = new TracedGradients(model, variables);
    const step = (labelSmoothing: number) => {
      const x = tf.randomUniform([16, 32, 32, 3], 0, 1, "float32", 1);
      const labels = tf.tensor1d(Array.from({ length: 16 }, (_, k) => k), "int32");
      const request = { x, labels, numClasses: 100, loss: "categorical_crossentropy" as const };
      const result = traced.gradients({ ...request, labelSmoothing });
      tf.dispose([x, labels, ...Object.values(result.grads)]);
      return result.loss;
    };
    for (let i = 0; i < 3; i++) step(0);
    const replayed = traced.replayed;
    assert.ok(replayed >= 1);
    const smoothed = step(0.2);
    assert.equal(traced.replayed, replayed, "recorded on the tfjs path");
    assert.notEqual(smoothed, step(0));
    traced.dispose();
    model.dispose();
  },
});

/** `steps` batches of 16 through `traced`: the losses and right answers, tensors disposed. */
function batches(traced: TracedGradients, steps: number) {
  const results: [number, number][] = [];
  for (let i = 0; i < steps; i++) {
    const x = tf.randomUniform([16, 32, 32, 3], 0, 1, "float32", i);
    const labels = tf.tensor1d(Array.from({ length: 16 }, (_, k) => (7 * k + i) % 100), "int32");
    const { grads, loss, correct } = traced.gradients({
      x,
      labels,
      numClasses: 100,
      loss: "categorical_crossentropy",
    });
    results.push([loss, correct]);
    tf.dispose([x, labels, ...Object.values(grads)]);
  }
  return results;
}

Deno.test({
  name: "traced step: replays once two recorded batches agree, and frees every handle it made",
  ignore,
  fn() {
    const handles = () =>
      (tf.backend() as unknown as { getNumOfTFTensors(): number }).getNumOfTFTensors();
    const [tensors, before] = [tf.memory().numTensors, handles()];
    const model = buildSmallModel("cnn", 0);
    const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const traced = new TracedGradients(model, variables);
    batches(traced, 5);
    // Batches 1 and 2 agree and 3 to 5 are replayed, or, where batch 1 was a process's first and
    // gave tfjs's lazily made tensors their handles, batches 2 and 3 agree and 4 and 5 are.
    assert.ok(traced.replayed === 3 || traced.replayed === 2, `${traced.replayed} replayed`);
    traced.dispose();
    model.dispose();
    assert.equal(tf.memory().numTensors, tensors);
    assert.equal(handles(), before);
  },
});

Deno.test({
  name: "traced step: a pooling gradient and the ReLU-bias gradient after it replay as one op",
  ignore: ignore || !loadNativeOps(),
  fn() {
    const model = buildSmallModel("cnn", 0);
    const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const traced = new TracedGradients(model, variables, 4, false);
    const ran = (steps: number) => {
      const names: string[] = [];
      withBinding((original) => ({
        executeOp(name, attrs, inputs, outputs) {
          names.push(name);
          return original.executeOp(name, attrs, inputs, outputs);
        },
      }), () => batches(traced, steps));
      return names.filter((name) => /PoolGrad|PoolReluBiasGrad|ReluBiasGrad/.test(name));
    };
    const recorded = ran(3);
    assert.deepEqual(recorded.slice(0, 2), ["_MklNativeMaxPoolGrad", "Cifar100ReluBiasGrad"]);
    assert.ok(traced.replayed >= 1);
    assert.deepEqual(ran(1), Array(2).fill("Cifar100MaxPoolReluBiasGrad"));
    traced.dispose();
    model.dispose();
  },
});

Deno.test({
  name: "traced step: a replayed step is one call into the binding, the plan as one function",
  ignore,
  fn() {
    const model = buildSmallModel("cnn", 0);
    const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const calls = (traced: TracedGradients) => {
      const names: string[] = [];
      withBinding((original) => ({
        executeOp(name, attrs, inputs, outputs) {
          names.push(name);
          return original.executeOp(name, attrs, inputs, outputs);
        },
      }), () => batches(traced, 1));
      return names;
    };
    for (const asFunction of [true, false]) {
      const traced = new TracedGradients(model, variables, 4, asFunction);
      // Four: a process's first batch gives tfjs's lazily made tensors their handles.
      batches(traced, 4);
      assert.ok(traced.replayed >= 1);
      const names = calls(traced);
      if (asFunction) assert.match(names.join(), /^cifar100_ts_step_\d+$/);
      else assert.ok(names.length > 20, `${names.length} ops op by op`);
      traced.dispose();
    }
    model.dispose();
  },
});

Deno.test({
  name: "traced step: in bfloat16, a tensor cast twice is cast once by the replay, same bits",
  ignore: ignore || !cpuHasBfloat16(),
  async fn() {
    setPrecision("bfloat16", "tensorflow");
    try {
      const plain = await trained("cnn", false, 1);
      const replayed = await trained("cnn", true, 1);
      assert.deepEqual(replayed.history, plain.history);
      assert.deepEqual(replayed.bits, plain.bits);
      const model = buildSmallModel("cnn", 0);
      const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
      const traced = new TracedGradients(model, variables, 4, false);
      const casts = () => {
        let count = 0;
        withBinding((original) => ({
          executeOp(name, attrs, inputs, outputs) {
            if (name === "Cast") count++;
            return original.executeOp(name, attrs, inputs, outputs);
          },
        }), () => batches(traced, 1));
        return count;
      };
      const recorded = [casts(), casts(), casts()];
      assert.ok(traced.replayed >= 1);
      assert.ok(casts() < recorded[0], `${recorded[0]} casts recorded, fewer replayed`);
      traced.dispose();
      model.dispose();
    } finally {
      setPrecision("float32", "tensorflow");
    }
  },
});

Deno.test({
  name: "traced step: ResNet-9 with its recipe, batch norm's moving statistics included, same bits",
  ignore,
  async fn() {
    const h = HYP.resnet9;
    const run = async (replay: boolean) => {
      const model = buildResnet9({ ...h, seed: 0, width: 4 });
      const optimizer = makeOptimizer(h.optimizer);
      try {
        const { history } = await fit(model, train, {
          epochs: 1,
          batchSize: 64,
          optimizer,
          log: () => {},
          replay,
          labelSmoothing: h.labelSmoothing,
          weightDecay: { rate: h.weightDecay, names: decayedWeights(model) },
          augment: { crop: 2, flip: true },
        });
        // Every weight: the moving statistics too, which the replay assigns itself.
        const bits = model.getWeights().map((w) =>
          Array.from(new Uint32Array(w.dataSync().buffer))
        );
        return { bits, history };
      } finally {
        optimizer.dispose();
        model.dispose();
      }
    };
    const plain = await run(false);
    const replayed = await run(true);
    assert.deepEqual(replayed.history, plain.history);
    assert.deepEqual(replayed.bits, plain.bits);

    const model = buildResnet9({ ...h, seed: 0, width: 4 });
    const traced = new TracedGradients(
      model,
      model.trainableWeights.map((w) => w.read() as tf.Variable),
    );
    batches(traced, 5);
    assert.ok(traced.replayed >= 2, `${traced.replayed} replayed`);
    traced.dispose();
    model.dispose();
  },
});
