import assert from "node:assert/strict";
import { join } from "node:path";
import { initBackend, tf } from "../lib/engine/backend.ts";
import { benchEnvDir } from "../lib/bench/python_env.ts";
import { exists } from "../lib/util/process.ts";
import { UserError } from "../lib/util/errors.ts";
import {
  alphaName,
  buildMobileNetV2Base,
  foldMobileNetV2,
  MOBILENET_V2_ALPHAS,
  MOBILENET_V2_LAST_CONV_LAYER,
  mobilenetV2FeatureDim,
  mobilenetV2Input,
  mobilenetV2WeightShapes,
  preprocessMobileNetV2,
  setMobileNetV2FineTunable,
} from "../lib/models/mobilenet_v2.ts";
import { loadMobileNetV2Weights } from "../lib/models/mobilenet_v2_weights.ts";

await initBackend();

Deno.test("alpha 1.0 at 224 px: Keras's 154 layers, 2,257,984 parameters, 7x7x1280 out", () => {
  const base = buildMobileNetV2Base({ alpha: 1.0, inputSize: 224, seed: 0 });
  assert.equal(base.name, "mobilenetv2_1.00_224");
  assert.equal(base.layers.length, 154);
  assert.equal(base.countParams(), 2_257_984);
  assert.deepEqual(base.outputs[0].shape, [null, 7, 7, 1280]);
  // Grad-CAM's layer: the last convolution block's activation, the base's output.
  assert.equal(base.getLayer(MOBILENET_V2_LAST_CONV_LAYER).output, base.outputs[0]);
  // correct_pad: an even side gets no row above and one below before a stride-2 depthwise conv.
  const pad = base.getLayer("block_1_pad");
  assert.deepEqual(pad.outputShape, [null, 113, 113, 96]);
  assert.deepEqual(base.getLayer("block_1_depthwise").outputShape, [null, 56, 56, 96]);
  assert.deepEqual(base.getLayer("block_16_project_BN").outputShape, [null, 7, 7, 320]);
  base.dispose();
});

Deno.test("every alpha's layers hold the weight shapes its weights file has", () => {
  for (const alpha of MOBILENET_V2_ALPHAS) {
    const base = buildMobileNetV2Base({ alpha, inputSize: 32, seed: 0, pooling: "avg" });
    const shapes = mobilenetV2WeightShapes(alpha);
    const weighted = base.layers.filter((l) => l.weights.length > 0);
    assert.deepEqual(weighted.map((l) => l.name), [...shapes.keys()], `alpha ${alpha}`);
    for (const layer of weighted) {
      assert.deepEqual(layer.weights.map((w) => w.shape), shapes.get(layer.name), layer.name);
    }
    assert.deepEqual(base.outputs[0].shape, [null, mobilenetV2FeatureDim(alpha)]);
    base.dispose();
  }
});

Deno.test("odd sides are padded one row and column on each side, as correct_pad does", () => {
  const base = buildMobileNetV2Base({ alpha: 0.35, inputSize: 33, seed: 0 });
  // Conv1 (stride 2, "same") takes 33 to 17; block_1_pad then pads 17 to 19 (1 + 17 + 1).
  assert.deepEqual(base.getLayer("block_1_pad").outputShape, [null, 19, 19, 48]);
  assert.deepEqual(base.getLayer("block_1_depthwise").outputShape, [null, 9, 9, 48]);
  base.dispose();
});

Deno.test("bad alpha or input size: one line naming the value and the choices", () => {
  const refused = (fn: () => unknown, ...patterns: RegExp[]) =>
    assert.throws(fn, (e) => {
      assert.ok(e instanceof UserError && !e.message.includes("\n"), String(e));
      for (const p of patterns) assert.match(e.message, p);
      return true;
    });
  refused(
    () => buildMobileNetV2Base({ alpha: 0.6, inputSize: 96, seed: 0 }),
    /alpha 0\.6/,
    /0\.35, 0\.5, 0\.75, 1\.0, 1\.3, 1\.4/,
  );
  refused(() => buildMobileNetV2Base({ alpha: 1, inputSize: 31, seed: 0 }), /input size 31/);
});

Deno.test("preprocessing is x / 127.5 - 1, after resizing to the input size", () => {
  const pixels = tf.tensor4d([0, 51, 127.5, 255], [1, 2, 2, 1]);
  const before = tf.memory().numTensors;
  const scaled = preprocessMobileNetV2(pixels);
  const resized = mobilenetV2Input(pixels, 4);
  assert.deepEqual(Array.from(scaled.dataSync()), [-1, 51 / 127.5 - 1, 0, 1].map(Math.fround));
  assert.deepEqual(resized.shape, [1, 4, 4, 1]);
  const corners = resized.dataSync();
  assert.deepEqual([corners[0], corners[15]], [-1, 1]);
  assert.equal(tf.memory().numTensors, before + 2, "only the two results are new");
  tf.dispose([pixels, scaled, resized]);
});

Deno.test("fine-tuning trains blocks 13 to 16 and Conv_1; batch norm stays in inference mode", () => {
  const base = buildMobileNetV2Base({ alpha: 0.35, inputSize: 32, seed: 0 });
  setMobileNetV2FineTunable(base, true);
  const trainable = new Set(base.trainableWeights.map((w) => w.originalName.split("/")[0]));
  assert.ok(trainable.has("block_13_expand") && trainable.has("Conv_1"));
  assert.ok(!trainable.has("block_12_project") && !trainable.has("Conv1"));
  assert.ok(![...trainable].some((name) => /_BN$|_bn$/.test(name)), [...trainable].join(", "));
  // A training pass normalises with the moving statistics, as inference does: the same output,
  // where batch statistics would give another.
  const x = tf.randomUniform([2, 32, 32, 3], -1, 1, "float32", 1);
  const before = tf.memory().numTensors;
  const [inference, training] = [false, true].map((t) =>
    base.apply(x, { training: t }) as tf.Tensor
  );
  assert.deepEqual(training.dataSync(), inference.dataSync());
  tf.dispose([inference, training]);
  assert.equal(tf.memory().numTensors, before);
  setMobileNetV2FineTunable(base, false);
  assert.equal(base.trainableWeights.length, 0);
  tf.dispose(x);
  base.dispose();
});

// Keras's side, in the benchmark's Python environment (`deno task bench --keras` makes it).
const kerasPython = join(benchEnvDir("keras-venv"), "bin", "python");
const hasKeras = await exists(join(benchEnvDir("keras-venv"), ".ready"));
if (!hasKeras) {
  console.warn(
    `mobilenet_v2_test: skipping the comparison with Keras: no ${kerasPython} ` +
      "(run `deno task bench --keras` once to create it)",
  );
}

Deno.test({
  name: "pooled features equal Keras's, from its legacy and Keras 3 weights files (alpha 0.35, 96)",
  ignore: !hasKeras,
  fn: async () => {
    const [alpha, size, count] = [0.35, 96, 4];
    const dir = await Deno.makeTempDir({ prefix: "mobilenet_v2_test_" });
    try {
      const script = new URL("./mobilenet_v2_keras.py", import.meta.url).pathname;
      const run = await new Deno.Command(kerasPython, {
        args: [script, dir, String(alpha), String(size), String(count), "7"],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(run.stderr);
      assert.equal(run.code, 0, stderr.split("\n").slice(-5).join("\n"));
      const keras = JSON.parse(new TextDecoder().decode(run.stdout).trim().split("\n").at(-1)!);

      const base = buildMobileNetV2Base({ alpha, inputSize: size, seed: 1, pooling: "avg" });
      // The same layers with the same names and output shapes, in the same order.
      assert.deepEqual(
        base.layers.map((l) => [l.name, (l.outputShape as number[]).slice(1)]),
        keras.layers,
      );
      for (const a of MOBILENET_V2_ALPHAS) {
        const built = buildMobileNetV2Base({ alpha: a, inputSize: 96, seed: 0 });
        assert.equal(built.countParams(), keras.params[alphaName(a)], `alpha ${a} parameters`);
        built.dispose();
      }

      const images = await Deno.readFile(join(dir, "images.u8"));
      const expected = new Float32Array((await Deno.readFile(join(dir, "features.f32"))).buffer);
      // The comparison means something only where the features depend on the image: two images'
      // features differ by a good part of their scale.
      const dim = expected.length / count;
      let apart = 0;
      for (let i = 0; i < dim; i++) {
        apart = Math.max(apart, Math.abs(expected[i] - expected[dim + i]));
      }
      assert.ok(apart > 0.1 * keras.scale, `features hardly depend on the image (${apart})`);
      const legacy = join(
        dir,
        `mobilenet_v2_weights_tf_dim_ordering_tf_kernels_${alpha}_${size}_no_top.h5`,
      );
      const predicted = new Float32Array((await Deno.readFile(join(dir, "predicted.f32"))).buffer);
      for (const file of [legacy, join(dir, "keras3.weights.h5")]) {
        const before = tf.memory().numTensors;
        await loadMobileNetV2Weights(base, file, { alpha, inputSize: size });
        const features = tf.tidy(() => {
          const x = preprocessMobileNetV2(tf.tensor4d(images, [count, size, size, 3], "int32"));
          return (base.predict(x) as tf.Tensor).dataSync();
        });
        assert.equal(tf.memory().numTensors, before, "no tensor left behind");
        // Op for op what Keras runs eagerly, on the same TensorFlow kernels: bit for bit.
        assert.equal(features.length, expected.length);
        const differing = expected.filter((v, i) => features[i] !== v).length;
        assert.equal(differing, 0, `${differing} features differ from Keras's eager ones`);
        // Keras's predict() runs a graph that Grappler rewrites: not bitwise, bounded.
        let largest = 0;
        predicted.forEach((v, i) => (largest = Math.max(largest, Math.abs(features[i] - v))));
        console.log(
          `${file.split("/").at(-1)}: equal to Keras ${keras.keras} (TF ${keras.tensorflow}) ` +
            `called eagerly; largest difference from its predict() ${largest.toExponential(2)}, ` +
            `features' scale ${keras.scale.toFixed(3)}`,
        );
        assert.ok(largest <= 1e-5 * keras.scale, `largest difference ${largest}`);
        // The folded twin that feature extraction runs: the same features but for rounding,
        // which 52 folded kernels and 17 blocks add up to more than Keras's graph does (3.6e-5 of
        // the scale here): bounded at 1e-4 of it.
        const folded = foldMobileNetV2(base, { alpha, inputSize: size });
        const foldedFeatures = tf.tidy(() => {
          const x = preprocessMobileNetV2(tf.tensor4d(images, [count, size, size, 3], "int32"));
          return tf.mean(folded.predict(x) as tf.Tensor, [1, 2]).dataSync();
        });
        folded.dispose();
        let foldedLargest = 0;
        expected.forEach((v, i) =>
          foldedLargest = Math.max(foldedLargest, Math.abs(foldedFeatures[i] - v))
        );
        console.log(`  folded: largest difference from Keras ${foldedLargest.toExponential(2)}`);
        assert.ok(foldedLargest <= 1e-4 * keras.scale, `folded: ${foldedLargest}`);
      }
      base.dispose();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
