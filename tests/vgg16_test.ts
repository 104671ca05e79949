import assert from "node:assert/strict";
import { initBackend, tf } from "../lib/engine/backend.ts";
import { UserError } from "../lib/util/errors.ts";
import { countParams } from "../lib/models/summary.ts";
import {
  buildVgg16Base,
  IMAGENET_MEAN_BGR,
  preprocessCaffe,
  setFineTunable,
  VGG16_CONV_LAYERS,
} from "../lib/models/vgg16.ts";
import { buildClassifier, buildHead } from "../lib/models/backbone.ts";
import { HYP } from "../lib/train/hyp.ts";

await initBackend();

Deno.test("preprocessCaffe flips RGB to BGR and subtracts the ImageNet means", () => {
  // Two pixels: (R,G,B) = (255, 0, 10) and (1, 2, 3).
  const rgb = tf.tensor4d([255, 0, 10, 1, 2, 3], [1, 1, 2, 3]);
  const out = preprocessCaffe(rgb);
  const expected = [
    10 - 103.939,
    0 - 116.779,
    255 - 123.68,
    3 - 103.939,
    2 - 116.779,
    1 - 123.68,
  ];
  assert.deepEqual(out.shape, [1, 1, 2, 3]);
  Array.from(out.dataSync()).forEach((v, i) => assert.ok(Math.abs(v - expected[i]) < 1e-4, `${i}`));
  assert.deepEqual(IMAGENET_MEAN_BGR, [103.939, 116.779, 123.68]);
  tf.dispose([rgb, out]);
});

Deno.test("preprocessCaffe leaks no tensors", () => {
  const rgb = tf.zeros([2, 4, 4, 3]) as tf.Tensor4D;
  const before = tf.memory().numTensors;
  const out = preprocessCaffe(rgb);
  assert.equal(tf.memory().numTensors, before + 1);
  tf.dispose([rgb, out]);
});

Deno.test("VGG16 base, head and classifier have Keras's layer names and parameter counts", () => {
  const before = tf.memory().numTensors;
  const base = buildVgg16Base(32, HYP.vgg16.seed);
  assert.equal(base.name, "vgg16");
  assert.equal(base.countParams(), 14_714_688);
  assert.deepEqual(
    base.layers.filter((l) => l.getWeights().length > 0).map((l) => l.name),
    [...VGG16_CONV_LAYERS],
  );
  assert.equal(VGG16_CONV_LAYERS.length, 13);
  assert.deepEqual(base.layers.filter((l) => l.name.endsWith("_pool")).map((l) => l.name), [
    "block1_pool",
    "block2_pool",
    "block3_pool",
    "block4_pool",
    "block5_pool",
  ]);
  assert.deepEqual(base.outputs[0].shape, [null, 1, 1, 512]);

  const head = buildHead(100, 512);
  assert.equal(head.countParams(), 51_300);

  setFineTunable(base, false);
  const classifier = buildClassifier("vgg16", base, head);
  assert.equal(classifier.countParams(), 14_765_988);
  assert.equal(countParams(classifier).trainable, 51_300);
  assert.equal(countParams(classifier).nonTrainable, 14_714_688);

  // Fine-tuning unfreezes block 5 only: 3 x (3*3*512*512 + 512).
  setFineTunable(base, true);
  assert.equal(countParams(classifier).trainable, 51_300 + 3 * 2_359_808);
  assert.ok(base.trainableWeights.every((w) => w.name.includes("block5_")));
  setFineTunable(base, false);
  assert.equal(countParams(classifier).trainable, 51_300);

  classifier.dispose();
  assert.equal(tf.memory().numTensors, before);
});

Deno.test("the classifier maps images to class probabilities; larger inputs shrink to 512 features", () => {
  const base = buildVgg16Base(64, HYP.vgg16.seed);
  assert.deepEqual(base.outputs[0].shape, [null, 2, 2, 512]);
  const head = buildHead(7, 512);
  const classifier = buildClassifier("vgg16", base, head);
  const x = tf.randomUniform([2, 64, 64, 3], -100, 100, "float32", 1);
  const p = classifier.predict(x) as tf.Tensor;
  assert.deepEqual(p.shape, [2, 7]);
  const sums = tf.sum(p, 1);
  Array.from(sums.dataSync()).forEach((s) => assert.ok(Math.abs(s - 1) < 1e-5));
  tf.dispose([x, p, sums]);
  classifier.dispose();
});

Deno.test("an input size below 32 is a user error naming the option", () => {
  assert.throws(
    () => buildVgg16Base(16, HYP.vgg16.seed),
    (e) => e instanceof UserError && /--input-size/.test(e.message),
  );
  assert.throws(() => buildVgg16Base(40.5, HYP.vgg16.seed), UserError);
});

Deno.test("the head trains on pooled features with categorical cross-entropy on its probabilities", async () => {
  // Three classes of 512-dim features: a class-specific block of 8 features is raised.
  const n = 96;
  const random = tf.randomUniform([n, 512], 0, 1, "float32", 3);
  const labels = Array.from({ length: n }, (_, i) => i % 3);
  // Row c of `centres` is 2 at features 8c..8c+7 and 0 elsewhere.
  const centres = Array.from({ length: 3 * 512 }, (_, i) => {
    const [c, feature] = [Math.floor(i / 512), i % 512];
    return Math.floor(feature / 8) === c ? 2 : 0;
  });
  const shift = tf.tidy(() => tf.oneHot(labels, 3).matMul(tf.tensor2d(centres, [3, 512])));
  const x = random.add(shift);
  const y = tf.oneHot(labels, 3);
  const head = buildHead(3, 512, 1);
  head.compile({
    optimizer: tf.train.adam(0.01),
    loss: "categoricalCrossentropy",
    metrics: ["accuracy"],
  });
  const history = await head.fit(x, y, { epochs: 15, batchSize: 32, verbose: 0 });
  const accuracy = history.history.acc.at(-1) as number;
  const losses = history.history.loss as number[];
  assert.ok(accuracy > 0.9, `accuracy ${accuracy}`);
  assert.ok(losses.at(-1)! < losses[0] / 2, `loss ${losses[0]} -> ${losses.at(-1)}`);
  tf.dispose([random, shift, x, y]);
  head.dispose();
});
