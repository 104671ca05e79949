/**
 * ResNet-9 and its recipe: the model, the training-loop hooks it needs (learning-rate schedule,
 * augmentation, weight decay), the run record, and the equal-time comparison. Runs on every
 * backend (`deno task test:wasm` includes it: the wasm engine must still train the model).
 */
import assert from "node:assert/strict";
import { initBackend, tf } from "../lib/engine/backend.ts";
import { augmentBatch, type AugmentOptions } from "../lib/data/augment.ts";
import { imageExamples } from "../lib/data/examples.ts";
import { syntheticCifar100 } from "../lib/data/synthetic.ts";
import { buildResnet9, decayedWeights } from "../lib/models/resnet9.ts";
import { loadModel, saveModel } from "../lib/models/model_io.ts";
import { buildMlp } from "../lib/models/mlp.ts";
import { HYP, oneCycle, runRecipe } from "../lib/train/hyp.ts";
import { validateConfig } from "../lib/train/experiment_config.ts";
import { fit } from "../lib/train/fit.ts";
import { buildSmallModel } from "../lib/train/small_models.ts";
import { gradients } from "../lib/train/step.ts";
import { runExperiment } from "../lib/train/experiment.ts";
import { epochsWithin, equalTime } from "../lib/train/equal_time.ts";
import { UserError } from "../lib/util/errors.ts";
import { SEED_STRIDE } from "../lib/util/random.ts";

await initBackend();
const data = syntheticCifar100({ seed: 3, trainCount: 192, testCount: 64 });
const train = imageExamples(data.train, data.train.fineLabels);
const quiet = () => {};

/** HYP's ResNet-9 (head, batch norm, logit scale, seed) at a small width, for speed. */
function smallResnet9(options: { width: number; seed?: number; numClasses?: number }) {
  const { head, batchNorm, logitScale, seed } = HYP.resnet9;
  return buildResnet9({ head, batchNorm, logitScale, seed, ...options });
}

Deno.test("ResNet-9: Page's layers at HYP's width; weight decay on conv and dense kernels only", () => {
  const model = smallResnet9({ width: 4, numClasses: 10 });
  const convs = model.layers.filter((l) => l.getClassName() === "Conv2D");
  assert.equal(convs.length, 8, "prep, layer1 + 2 residual, layer2, layer3 + 2 residual");
  assert.deepEqual(convs.map((l) => (l.getConfig().filters as number)), [
    4,
    8,
    8,
    8,
    16,
    32,
    32,
    32,
  ]);
  assert.equal(model.layers.filter((l) => l.getClassName() === "BatchNormalization").length, 8);
  assert.equal(model.layers.filter((l) => l.getClassName() === "Add").length, 2);
  const decayed = decayedWeights(model);
  assert.equal(decayed.length, 9, "8 conv kernels and the dense kernel");
  assert.ok(decayed.every((name) => /kernel/.test(name)), decayed.join(", "));
  const names = model.trainableWeights.map((w) => w.name);
  assert.ok(names.some((n) => /gamma/.test(n)) && !decayed.some((n) => /gamma|beta|bias/.test(n)));
  model.dispose();
});

Deno.test("the ResNet-9 that runs train is HYP's: width, head, batch norm, logit scale", () => {
  const h = HYP.resnet9;
  const model = buildSmallModel("resnet9", 0);
  const classes = model.layers.map((l) => l.getClassName());
  assert.equal(
    model.layers.find((l) => l.getClassName() === "Conv2D")!.getConfig().filters,
    h.width,
  );
  assert.equal(classes.includes("Flatten"), h.head === "flatten");
  assert.equal(classes.includes("GlobalMaxPooling2D"), h.head === "max");
  const norm = model.layers.find((l) => l.getClassName() === "BatchNormalization")!.getConfig();
  assert.deepEqual({ momentum: norm.momentum, epsilon: norm.epsilon }, h.batchNorm);
  assert.equal(
    model.layers.find((l) => l.getClassName() === "Rescaling")!.getConfig().scale,
    h.logitScale,
  );
  model.dispose();
});

Deno.test("ResNet-9 saves and loads as plain Keras layers with the same predictions", async () => {
  const model = smallResnet9({ width: 4, seed: 2 });
  // One training-mode pass moves the batch-norm moving averages away from their initial values.
  tf.tidy(() => {
    model.apply(tf.randomUniform([8, 32, 32, 3], 0, 1, "float32", 1), { training: true });
  });
  const dir = await Deno.makeTempDir();
  try {
    await saveModel(model, dir);
    const loaded = await loadModel(dir);
    const x = tf.randomUniform([4, 32, 32, 3], 0, 1, "float32", 5);
    const [a, b] = [model, loaded].map((m) => (m.predict(x) as tf.Tensor).dataSync());
    a.forEach((v, i) => assert.ok(Math.abs(v - b[i]) < 1e-5, `output ${i}: ${v} vs ${b[i]}`));
    loaded.dispose();
    x.dispose();
  } finally {
    await Deno.remove(dir, { recursive: true });
    model.dispose();
  }
});

Deno.test("fit: the learning-rate schedule is set before every step, at the run's position", async () => {
  const model = buildMlp({ seed: 1 });
  const optimizer = tf.train.momentum(0.5, 0.9, true);
  const seen: number[] = [];
  const result = await fit(model, train, {
    epochs: 2,
    batchSize: 64,
    optimizer,
    log: quiet,
    learningRate: (epochs) => {
      seen.push(epochs);
      return 0.01 * (1 + epochs);
    },
  });
  // 3 batches per epoch: positions 0, 1/3, 2/3, 1, 4/3, 5/3.
  assert.deepEqual(seen.map((p) => Math.round(p * 3)), [0, 1, 2, 3, 4, 5]);
  assert.deepEqual(result.learningRates, seen.map((p) => 0.01 * (1 + p)));
  // The optimizer really uses it: its learning rate is the last one set.
  assert.ok(
    Math.abs(
      -(optimizer as unknown as { c: tf.Scalar }).c.dataSync()[0] -
        result.learningRates[5],
    ) < 1e-7,
  );
  // An optimizer without setLearningRate cannot follow a schedule.
  const adam = tf.train.adam(1e-3);
  await assert.rejects(
    fit(model, train, {
      epochs: 1,
      batchSize: 64,
      optimizer: adam,
      log: quiet,
      learningRate: () => 1,
    }),
    /setLearningRate/,
  );
  optimizer.dispose();
  adam.dispose();
  model.dispose();
});

Deno.test("fit: augmentation crops and flips each batch afresh, reproducibly from the seed", async () => {
  const batches: Float32Array[] = [], seeds: number[] = [];
  const spy = {
    ...train,
    gatherAugmented(indices: ArrayLike<number>, augment: AugmentOptions, seed: number) {
      const out = train.gatherAugmented!(indices, augment, seed);
      batches.push(out);
      seeds.push(seed);
      return out;
    },
  };
  const run = async (augment?: AugmentOptions) => {
    batches.length = 0;
    seeds.length = 0;
    const model = buildMlp({ seed: 1 });
    const optimizer = tf.train.sgd(0.01);
    const { history } = await fit(model, spy, {
      epochs: 2,
      batchSize: 96,
      optimizer,
      seed: 4,
      log: quiet,
      augment,
    });
    optimizer.dispose();
    model.dispose();
    return { loss: history.loss, batches: [...batches], seeds: [...seeds] };
  };
  const augment = { crop: 4, flip: true };
  const a = await run(augment), b = await run(augment);
  assert.equal(a.batches.length, 4, "one augmented gather per step");
  // A fresh draw per step of the run: seed * SEED_STRIDE.augment + step.
  assert.deepEqual(a.seeds, [0, 1, 2, 3].map((step) => 4 * SEED_STRIDE.augment + step));
  assert.deepEqual(a.loss, b.loss, "the same seed gives the same run");
  assert.deepEqual(a.batches[0], b.batches[0]);
  // Each step draws anew: the same images (epoch 2 reshuffles) never come out identical.
  assert.notDeepEqual(a.batches[0], a.batches[2]);
  // And it is lib/data/augment.ts's augmentation of the uint8 pixels, scaled as gather scales.
  const first = Uint32Array.from({ length: 3 }, (_, i) => i);
  const bytes = data.train.images.subarray(0, 3 * 3072);
  const expected = Float32Array.from(augmentBatch(bytes, 3, augment, 11), (v) => v / 255);
  assert.deepEqual(train.gatherAugmented!(first, augment, 11), expected);
  const plain = await run(undefined);
  assert.equal(plain.batches.length, 0, "no augmentation unless asked for");
});

Deno.test("gradients: weight decay adds rate x weight to the named variables only, scaled by weight", () => {
  // No dropout: both calls must see the same network.
  const model = tf.sequential({
    layers: [
      tf.layers.flatten({ inputShape: [32, 32, 3] }),
      tf.layers.dense({ units: 100, activation: "softmax", kernelInitializer: "glorotUniform" }),
    ],
  });
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const [kernel, bias] = variables;
  const x = tf.tensor(train.gather([0, 1, 2, 3]), [4, 32, 32, 3]);
  const labels = tf.tensor1d([1, 2, 3, 4], "int32");
  const request = { x, labels, numClasses: 100, loss: "categorical_crossentropy" as const };
  for (const weight of [1, 0.25]) {
    const plain = gradients(model, variables, { ...request, weight });
    const decayed = gradients(model, variables, {
      ...request,
      weight,
      weightDecay: { rate: 0.1, names: [kernel.name] },
    });
    const diff = tf.tidy(() =>
      decayed.grads[kernel.name].sub(plain.grads[kernel.name]).sub(kernel.mul(0.1 * weight))
        .abs().max().dataSync()[0]
    );
    assert.ok(diff < 1e-6, `kernel: decayed - plain - rate x weight x w = ${diff}`);
    assert.deepEqual(decayed.grads[bias.name].dataSync(), plain.grads[bias.name].dataSync());
    assert.equal(decayed.loss, plain.loss, "the reported loss is the data loss");
    tf.dispose([Object.values(plain.grads), Object.values(decayed.grads)].flat());
  }
  assert.throws(
    () => gradients(model, variables, { ...request, weightDecay: { rate: 1, names: ["nope"] } }),
    /no trainable variable 'nope'/,
  );
  tf.dispose([x, labels]);
  model.dispose();
});

Deno.test("the recipe: one-cycle schedule, linear scaling with the batch, augmentation names", () => {
  const schedule = HYP.resnet9.schedule;
  const peak = HYP.resnet9.optimizer.learningRate;
  assert.equal(oneCycle(schedule, peak, 0), 0);
  assert.ok(Math.abs(oneCycle(schedule, peak, schedule.warmup) - peak) < 1e-12);
  assert.equal(oneCycle(schedule, peak, 1), 0);
  assert.ok(oneCycle(schedule, peak, 0.5) < peak && oneCycle(schedule, peak, 0.5) > 0);
  const recipe = runRecipe({ model: "resnet9", batchSize: 2 * HYP.resnet9.batchSize });
  assert.equal(recipe.learningRate, 2 * peak);
  assert.deepEqual(runRecipe({ model: "resnet9", augment: "crop" }).augment, {
    crop: HYP.resnet9.cropPixels,
    flip: false,
  });
  assert.deepEqual(runRecipe({ model: "cnn" }), {
    augment: null,
    schedule: null,
    learningRate: HYP.cnn.optimizer.learningRate,
    labelSmoothing: 0,
    weightDecay: 0,
  });
  assert.throws(() => validateConfig({ model: "cnn", augment: "rotate" as "crop" }), UserError);
  assert.throws(() => validateConfig({ model: "vgg16", augment: "crop" }), /vgg16/);
  assert.equal(epochsWithin(100, 50, 1000), 5);
});

Deno.test({
  name: "ResNet-9 trains with its recipe; the record says what ran (on this backend)",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const record = await runExperiment(
      { model: "resnet9", dataset: data, epochs: 2, batchSize: 64, seed: 1, out: null },
      { log: quiet, summary: false },
    );
    const h = HYP.resnet9;
    assert.equal(record.model, "resnet9");
    assert.equal(record.width, h.width);
    assert.equal(record.augmentation, "random crop (pad 4, mirror) + horizontal flip");
    assert.equal(record.label_smoothing, h.labelSmoothing);
    assert.equal(record.weight_decay, h.weightDecay);
    const lr = h.optimizer.learningRate * 64 / h.batchSize;
    assert.equal(record.optimizer, `SGD(lr=${lr}, momentum=0.9, nesterov)`);
    assert.match(record.lr_schedule!, new RegExp(`^one-cycle: linear 0 -> ${lr} over 21% `));
    assert.equal(record.history.loss.length, 2);
    assert.ok(record.history.loss.every(Number.isFinite), `losses ${record.history.loss}`);
    assert.ok(record.test_accuracy >= 0 && record.test_accuracy <= 1);
    const off = await runExperiment(
      { model: "resnet9", dataset: data, epochs: 1, augment: "none", out: null },
      { log: quiet, summary: false },
    );
    assert.equal(off.augmentation, "none");
    const cnn = await runExperiment(
      { model: "cnn", dataset: data, epochs: 1, out: null },
      { log: quiet, summary: false },
    );
    assert.equal(cnn.augmentation, "none");
    assert.equal(cnn.lr_schedule, "constant (0.001)");
    assert.equal(cnn.label_smoothing, 0);
  },
});

Deno.test({
  name: "equalTime: ResNet-9 gets the whole epochs that fit in the CNN's training time",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const hooks = { log: quiet, summary: false };
    const cnn = await runExperiment({ model: "cnn", dataset: data, epochs: 2, out: null }, hooks);
    // A budget of 2.5 s at a measured 192 images/s: 2 whole epochs of 192 images.
    cnn.seconds_per_epoch = [1.5, 1];
    const probed: unknown[] = [];
    const result = await equalTime({
      dataset: data,
      cnn,
      seed: 5,
      augment: "crop",
      probe: (d, seed, augment) => {
        probed.push(d.train.count, seed, augment);
        return Promise.resolve(192);
      },
      hooks,
    });
    assert.deepEqual(probed, [192, 5, "crop"]);
    assert.equal(result.budgetSeconds, 2.5);
    assert.equal(result.epochs, 2);
    assert.equal(result.resnet9.epochs, 2);
    assert.equal(result.resnet9.seed, 5);
    assert.equal(result.resnet9.augmentation, "random crop (pad 4, mirror)");
    assert.equal(result.noAugment.epochs, 2);
    assert.equal(result.noAugment.augmentation, "none");
    // Without a CNN record, the CNN trains first, with the epochs asked for.
    const fresh = await equalTime({
      dataset: data,
      cnnEpochs: 1,
      probe: () => Promise.resolve(1),
      hooks,
    });
    assert.equal(fresh.cnn.epochs, 1);
    assert.equal(fresh.epochs, 1, "at least one epoch");
    assert.equal(fresh.noAugment.epochs, 1, "the ablation has ResNet-9's epochs");
  },
});
