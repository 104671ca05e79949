import assert from "node:assert/strict";
import { initBackend, tf } from "../lib/engine/backend.ts";
import { buildCnn } from "../lib/models/cnn.ts";
import { countParams, summary } from "../lib/models/summary.ts";
import { buildMlp } from "../lib/models/mlp.ts";
import { HYP } from "../lib/train/hyp.ts";

await initBackend();

Deno.test("the MLP matches the source layer by layer: 1,887,332 parameters", () => {
  const model = buildMlp({ seed: HYP.mlp.seed });
  assert.deepEqual(countParams(model), { total: 1_887_332, trainable: 1_887_332, nonTrainable: 0 });
  assert.deepEqual(
    model.layers.map((l) => [l.name, l.getClassName(), l.countParams()]),
    [
      ["flatten", "Flatten", 0],
      ["dense", "Dense", 1_573_376],
      ["dropout", "Dropout", 0],
      ["dense_1", "Dense", 262_656],
      ["dropout_1", "Dropout", 0],
      ["dense_2", "Dense", 51_300],
    ],
  );
  model.dispose();
});

Deno.test("the CNN matches the source layer by layer: 249,892 parameters", () => {
  const model = buildCnn({ seed: HYP.cnn.seed });
  assert.equal(countParams(model).total, 249_892);
  assert.deepEqual(
    model.layers.map((l) => [l.name, JSON.stringify(l.outputShape), l.countParams()]),
    [
      ["conv2d", "[null,30,30,32]", 896],
      ["max_pooling2d", "[null,15,15,32]", 0],
      ["conv2d_1", "[null,13,13,64]", 18_496],
      ["max_pooling2d_1", "[null,6,6,64]", 0],
      ["flatten", "[null,2304]", 0],
      ["dropout", "[null,2304]", 0],
      ["dense", "[null,100]", 230_500],
    ],
  );
  model.dispose();
});

Deno.test("summary prints Keras-like totals with separators", () => {
  const model = buildCnn({ seed: HYP.cnn.seed });
  const text = summary(model);
  assert.match(text, /Total params: 249,892/);
  assert.match(text, /Trainable params: 249,892/);
  assert.match(text, /conv2d_1 \(Conv2D\)/);
  model.dispose();
});

Deno.test("a seed fixes initial weights; another seed changes them", () => {
  const first = (m: tf.LayersModel) => m.getWeights()[0].dataSync().slice(0, 20);
  const [a, b, c] = [buildMlp({ seed: 3 }), buildMlp({ seed: 3 }), buildMlp({ seed: 4 })];
  assert.deepEqual(first(a), first(b));
  assert.notDeepEqual(first(a), first(c));
  [a, b, c].forEach((m) => m.dispose());
});

Deno.test("seeded dropout: masks change between calls and repeat across same-seed models", () => {
  const x = tf.ones([4, 32, 32, 3]);
  const outputs = (seed: number) => {
    const model = buildMlp({ seed });
    const run = () => (model.apply(x, { training: true }) as tf.Tensor).dataSync().slice(0, 50);
    const result = [run(), run()];
    model.dispose();
    return result;
  };
  const [a1, a2] = outputs(5);
  const [b1, b2] = outputs(5);
  assert.notDeepEqual(a1, a2, "successive training calls draw new masks");
  assert.deepEqual(a1, b1);
  assert.deepEqual(a2, b2);
  // Inference applies no dropout.
  const model = buildMlp({ seed: 5 });
  const p = () => (model.apply(x, { training: false }) as tf.Tensor).dataSync().slice(0, 50);
  assert.deepEqual(p(), p());
  model.dispose();
  x.dispose();
});

Deno.test("both models output a probability distribution over 100 classes", () => {
  for (const model of [buildMlp({ seed: HYP.mlp.seed }), buildCnn({ seed: HYP.cnn.seed })]) {
    const out = model.predict(tf.randomUniform([3, 32, 32, 3], 0, 1, "float32", 1)) as tf.Tensor;
    assert.deepEqual(out.shape, [3, 100]);
    for (const s of out.sum(1).dataSync()) assert.ok(Math.abs(s - 1) < 1e-5);
    model.dispose();
  }
});
