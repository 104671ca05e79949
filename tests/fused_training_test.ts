/**
 * The fused training ops for the tensorflow backend: batch normalisation
 * (lib/engine/batch_norm.ts, the layer in lib/models/layers.ts) and conv + bias + ReLU
 * (lib/engine/conv_bias_relu.ts, the Conv2D layer in lib/models/layers.ts) against tfjs's own
 * math on the cpu backend, and SGD with Nesterov momentum (lib/engine/tensorflow_optimizers.ts)
 * against a hand-computed update.
 */
import assert from "node:assert/strict";
import { initBackend, tf } from "../lib/engine/backend.ts";
import { readNativeStatus } from "../lib/engine/install/native.ts";
import { batchNormTraining } from "../lib/engine/batch_norm.ts";
import { FusedMomentum } from "../lib/engine/tensorflow_optimizers.ts";
import { batchNormalization, conv2d } from "../lib/models/layers.ts";
import { conv2dBiasRelu, fusedConvAvailable } from "../lib/engine/conv_bias_relu.ts";
import { floatType, nhwc, nodeBackend, runOp } from "../lib/engine/node_backend.ts";
import { assertClose, on } from "./numeric.ts";

// The fused ops exist only on the native engine; elsewhere the layer is tfjs's own.
const native = (await readNativeStatus()) !== undefined;
if (native) await initBackend("tensorflow");

/** Output, batch mean and variance, and the gradients of a weighted sum of the output. */
function batchNormCase(shape: number[], relu: boolean) {
  return () => {
    const channels = shape[shape.length - 1];
    const x = tf.randomNormal(shape, 1, 2, "float32", 1);
    const gamma = tf.randomNormal([channels], 1, 0.5, "float32", 2);
    const beta = tf.randomNormal([channels], 0, 0.5, "float32", 3);
    const weights = tf.randomNormal(shape, 0, 1, "float32", 4);
    let moments: tf.Tensor[] = [];
    const { value, grads } = tf.valueAndGrads((x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      const out = batchNormTraining(x, g as tf.Tensor1D, b as tf.Tensor1D, 1e-3, relu);
      moments = [out.mean, out.variance];
      return out.y.mul(weights).sum() as tf.Scalar;
    })([x, gamma, beta]);
    const y = tf.tidy(() => {
      const out = batchNormTraining(x, gamma as tf.Tensor1D, beta as tf.Tensor1D, 1e-3, relu);
      tf.dispose([out.mean, out.variance]);
      return out.y;
    });
    return [y, value, ...grads, ...moments];
  };
}

for (const relu of [false, true]) {
  for (const shape of [[4, 5, 6, 3], [2, 7, 4], [9, 3]]) {
    Deno.test({
      name: `batchNormTraining${relu ? " + relu" : ""} [${shape}]: fused kernels match tfjs (cpu)`,
      ignore: !native,
      async fn() {
        const fn = batchNormCase(shape, relu);
        const [ours, reference] = [await on("tensorflow", fn), await on("cpu", fn)];
        const names = ["y", "loss", "dx", "dgamma", "dbeta", "mean", "variance"];
        ours.forEach((values, i) => assertClose(values, reference[i], names[i]));
      },
    });
  }
}

Deno.test({
  name: "batchNormalization layer: training output, gradients and moving averages match tfjs's",
  ignore: !native,
  async fn() {
    const run = () => {
      const ours = batchNormalization({ momentum: 0.9, epsilon: 1e-5 });
      const stock = tf.layers.batchNormalization({ momentum: 0.9, epsilon: 1e-5 });
      const x = tf.randomNormal([8, 3, 3, 4], 2, 3, "float32", 5);
      const outputs: tf.Tensor[] = [];
      for (const layer of [ours, stock]) {
        layer.build(x.shape);
        const variables = layer.trainableWeights.map((w) => w.read() as tf.Variable);
        const { grads } = tf.variableGrads(() => {
          const y = layer.apply(x, { training: true }) as tf.Tensor;
          return y.mul(tf.range(0, y.size).reshape(y.shape).sin()).sum() as tf.Scalar;
        }, variables);
        outputs.push(
          layer.apply(x, { training: true }) as tf.Tensor,
          ...variables.map((v) => grads[v.name]),
          ...layer.nonTrainableWeights.map((w) => w.read().clone()),
          layer.apply(x, { training: false }) as tf.Tensor,
        );
      }
      tf.dispose([ours.weights.map((w) => w.read()), stock.weights.map((w) => w.read())].flat());
      return outputs;
    };
    const values = await on("tensorflow", run);
    const half = values.length / 2;
    const names = ["y", "dgamma", "dbeta", "moving_mean", "moving_variance", "inference"];
    for (let i = 0; i < half; i++) assertClose(values[i], values[i + half], names[i]);
    // The stock layer on cpu is the reference for both.
    const reference = await on("cpu", run);
    for (let i = 0; i < half; i++) assertClose(values[i], reference[i + half], `cpu ${names[i]}`);
  },
});

for (const pad of ["valid", "same"] as const) {
  for (const stride of [1, 2]) {
    Deno.test({
      name: `conv2dBiasRelu, ${pad} padding, stride ${stride}: value and x, filter, bias ` +
        "gradients match tfjs (cpu)",
      ignore: !native,
      async fn() {
        const fn = () => {
          // Biases around zero, so that some outputs are clipped by the ReLU and some are not.
          const x = tf.randomNormal([3, 9, 8, 4], 0, 1, "float32", 11) as tf.Tensor4D;
          const filter = tf.randomNormal([3, 2, 4, 6], 0, 1, "float32", 12) as tf.Tensor4D;
          const bias = tf.randomNormal([6], 0, 1, "float32", 13) as tf.Tensor1D;
          const geometry = { strides: [stride, stride] as [number, number], pad };
          const y = conv2dBiasRelu(x, filter, bias, geometry);
          const weights = tf.randomNormal(y.shape, 0, 1, "float32", 14);
          const grads = tf.grads((x: tf.Tensor, f: tf.Tensor, b: tf.Tensor) =>
            conv2dBiasRelu(x as tf.Tensor4D, f as tf.Tensor4D, b as tf.Tensor1D, geometry)
              .mul(weights).sum()
          )([x, filter, bias]);
          return [y, ...grads];
        };
        const [ours, reference] = [await on("tensorflow", fn), await on("cpu", fn)];
        ["y", "dx", "dfilter", "dbias"].forEach((name, i) =>
          assertClose(ours[i], reference[i], name)
        );
        assert.ok(ours[0].some((v) => v === 0) && ours[0].some((v) => v > 0), "ReLU clips some");
      },
    });
  }
}

Deno.test({
  name: "Cifar100ReluBiasGrad on 600,000 values (split between threads) matches ReluGrad and " +
    "BiasAddGrad",
  ignore: !native,
  async fn() {
    await tf.setBackend("tensorflow");
    const b = nodeBackend();
    const [ours, theirs] = tf.tidy(() => {
      const dy = tf.randomNormal([30, 25, 25, 32], 0, 1, "float32", 18);
      const y = tf.relu(tf.randomNormal([30, 25, 25, 32], 0, 1, "float32", 19));
      const [dz, db] = b.executeMultipleOutputs("Cifar100ReluBiasGrad", [], [dy, y], 2);
      const dzRef = runOp(b, "ReluGrad", [dy, y]);
      const dbRef = runOp(b, "BiasAddGrad", [dzRef], [floatType(b), nhwc(b)]);
      return [[dz, db], [dzRef, dbRef]].map((pair) =>
        pair.map((t) => t.dataSync() as Float32Array)
      );
    });
    assertClose(ours[0], theirs[0], "dz", 1e-7);
    assertClose(ours[1], theirs[1], "db", 1e-4);
  },
});

/** Bits of a float32 tensor: -0 and +0 differ. */
function bits(t: tf.Tensor): Uint32Array {
  return new Uint32Array((t.dataSync() as Float32Array).slice().buffer);
}

for (
  const [shape, window] of [
    [[38, 30, 30, 32], 2], // two threads, each on whole images; windows cover the image
    [[37, 30, 30, 32], 2], // two threads, one image split between them
    [[7, 13, 13, 64], 2], // the last row and column are in no window
    [[3, 9, 9, 5], 3], // the general window loop
  ] as [[number, number, number, number], number][]
) {
  Deno.test({
    name: `Cifar100MaxPoolReluBiasGrad on ${shape.join("x")}, window ${window}: the bits of ` +
      "oneDNN's pooling gradient and then Cifar100ReluBiasGrad",
    ignore: !native,
    async fn() {
      await tf.setBackend("tensorflow");
      const b = nodeBackend();
      const int = (name: string, value: number | number[]) => ({
        name,
        type: b.binding.TF_ATTR_INT,
        value,
      });
      const pool = [
        floatType(b),
        int("ksize", [1, window, window, 1]),
        int("strides", [1, window, window, 1]),
        { name: "padding", type: b.binding.TF_ATTR_STRING, value: "VALID" },
        nhwc(b),
        { name: "workspace_enabled", type: b.binding.TF_ATTR_BOOL, value: true },
        { name: "_kernel", type: b.binding.TF_ATTR_STRING, value: "MklNameChangeOp" },
      ];
      const outputs = tf.tidy(() => {
        // Halves, so that windows hold ties; ReLU outputs with zeros and -0 (as oneDNN's fused
        // ReLU gives); pooled gradients with -0 too.
        const z = tf.randomNormal(shape, 0, 1, "float32", 21).mul(2).round().div(2);
        const y = tf.relu(z).where(z.greater(-0.5), tf.fill(shape, -0));
        const [pooled, workspace] = b.executeMultipleOutputs("_MklNativeMaxPool", pool, [y], 2);
        const random = tf.randomNormal(pooled.shape, 0, 1, "float32", 22);
        const dp = random.where(random.abs().greater(0.3), tf.fill(pooled.shape, -0));
        const dx = b.executeSingleOutput("_MklNativeMaxPoolGrad", pool, [y, pooled, dp, workspace]);
        const two = b.executeMultipleOutputs("Cifar100ReluBiasGrad", [], [dx, y], 2);
        const one = b.executeMultipleOutputs(
          "Cifar100MaxPoolReluBiasGrad",
          [
            ...["window_height", "window_width", "stride_height", "stride_width"].map((name) =>
              int(name, window)
            ),
            int("pad_top", 0),
            int("pad_left", 0),
          ],
          [y, dp],
          2,
        );
        return [...one, ...two];
      });
      const [ours, theirs] = [outputs.slice(0, 2).map(bits), outputs.slice(2).map(bits)];
      tf.dispose(outputs);
      // An index, not deepEqual: its message on a million values would fill the memory.
      ["dz", "db"].forEach((name, i) => {
        assert.equal(ours[i].length, theirs[i].length, name);
        assert.equal(ours[i].findIndex((v, k) => v !== theirs[i][k]), -1, `${name}: differs at`);
      });
      assert.ok(theirs[0].some((v) => v !== 0 && v !== 0x80000000), "some gradient passes");
    },
  });
}

Deno.test({
  name: "conv2dBiasRelu runs as one fused kernel; its input gradient only when asked",
  ignore: !native,
  async fn() {
    await tf.setBackend("tensorflow");
    assert.ok(fusedConvAvailable(), "the binding built by deno task setup takes list attributes");
    const x = tf.randomNormal([2, 6, 6, 3], 0, 1, "float32", 15) as tf.Tensor4D;
    const filter = tf.variable(tf.randomNormal([3, 3, 3, 4], 0, 1, "float32", 16));
    const bias = tf.variable(tf.zeros([4]));
    const geometry = { strides: [1, 1] as [number, number], pad: "valid" as const };
    const before = tf.memory().numTensors;
    const info = await tf.profile(() => {
      const { value, grads } = tf.variableGrads(() =>
        conv2dBiasRelu(x, filter as tf.Tensor4D, bias as tf.Tensor1D, geometry).sum()
      );
      tf.dispose([value, grads[filter.name], grads[bias.name]]);
    });
    const kernels = info.kernels.map((k) => k.name);
    assert.ok(kernels.includes("Cifar100Conv2DBiasRelu"), kernels.join(" "));
    assert.ok(!kernels.includes("Relu") && !kernels.includes("Add"), kernels.join(" "));
    assert.ok(kernels.includes("Conv2DBackpropFilter"), kernels.join(" "));
    assert.ok(!kernels.includes("Conv2DBackpropInput"), "x is data: no gradient computed for it");
    assert.equal(tf.memory().numTensors, before, "no tensors left behind");
    tf.dispose([x, filter, bias]);
  },
});

Deno.test({
  name: "conv2d layer (relu): training output and gradients match tfjs's Conv2D layer",
  ignore: !native,
  async fn() {
    const run = () => {
      const args = {
        filters: 5,
        kernelSize: 3,
        activation: "relu" as const,
        kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }),
        biasInitializer: tf.initializers.randomNormal({ seed: 2 }),
      };
      const x = tf.randomNormal([4, 7, 7, 3], 0, 1, "float32", 17);
      const outputs: tf.Tensor[] = [];
      for (const layer of [conv2d(args), tf.layers.conv2d(args)]) {
        layer.build(x.shape);
        const variables = layer.trainableWeights.map((w) => w.read() as tf.Variable);
        const { value, grads } = tf.variableGrads(() => {
          const y = layer.apply(x, { training: true }) as tf.Tensor;
          return y.mul(tf.range(0, y.size).reshape(y.shape).sin()).sum() as tf.Scalar;
        }, variables);
        outputs.push(value, ...variables.map((v) => grads[v.name]));
        tf.dispose(variables);
      }
      return outputs;
    };
    const values = await on("tensorflow", run);
    const names = ["loss", "dkernel", "dbias"];
    await tf.setBackend("tensorflow");
    const layer = conv2d({ filters: 2, kernelSize: 3, activation: "relu" });
    const kernels = (await tf.profile(() => {
      layer.apply(tf.ones([1, 4, 4, 1]), { training: true });
    })).kernels.map((k) => k.name);
    assert.deepEqual(kernels, ["Cifar100Conv2DBiasRelu"], "the fused op, in training");
    tf.dispose(layer.weights.map((w) => w.read()));
    for (let i = 0; i < 3; i++) assertClose(values[i], values[i + 3], names[i]);
    const reference = await on("cpu", run);
    for (let i = 0; i < 3; i++) assertClose(values[i], reference[i + 3], `cpu ${names[i]}`);
  },
});

Deno.test({
  name: "FusedMomentum applies SGD with Nesterov momentum, learning rate set between steps",
  ignore: !native,
  fn() {
    for (const nesterov of [true, false]) {
      const w = tf.variable(tf.tensor1d([1, -2, 3]), true, `fused_momentum_test_${nesterov}`);
      const optimizer = new FusedMomentum({ learningRate: 0.1, momentum: 0.9, nesterov });
      let a = [0, 0, 0], expected = [1, -2, 3];
      const steps = [[0.1, [0.5, -1, 2]], [0.05, [0.1, 0.2, -0.3]], [0.2, [1, 1, 1]]] as const;
      for (const [lr, g] of steps) {
        optimizer.setLearningRate(lr);
        const grad = tf.tensor1d(g as unknown as number[]);
        optimizer.applyGradients({ [w.name]: grad });
        grad.dispose();
        // TensorFlow's ApplyMomentum, by hand: a = m a + g; w -= lr (g + m a) or lr a.
        a = a.map((ai, i) => 0.9 * ai + g[i]);
        expected = expected.map((wi, i) => wi - lr * (nesterov ? g[i] + 0.9 * a[i] : a[i]));
        const what = `nesterov ${nesterov}, lr ${lr}`;
        assertClose(w.dataSync() as Float32Array, Float32Array.from(expected), what, 1e-6);
      }
      const before = tf.memory().numTensors;
      optimizer.dispose();
      assert.ok(tf.memory().numTensors < before, "dispose frees the slots and scalars");
      w.dispose();
    }
  },
});

Deno.test({
  name: "FusedMomentum matches tfjs's momentum optimizer with setLearningRate",
  ignore: !native,
  fn() {
    const start = [0.3, -0.7, 1.1, 2];
    const grads = [[0.5, -1, 2, 0], [0.1, 0.2, -0.3, 1], [-1, 0.5, 0.25, -2]];
    const results = [true, false].map((fused) => {
      const w = tf.variable(tf.tensor1d(start), true, `momentum_compare_${fused}`);
      const optimizer: tf.Optimizer & { setLearningRate(lr: number): void } = fused
        ? new FusedMomentum({ learningRate: 0.4, momentum: 0.9, nesterov: true })
        : tf.train.momentum(0.4, 0.9, true);
      grads.forEach((g, step) => {
        optimizer.setLearningRate(0.4 / (step + 1));
        const grad = tf.tensor1d(g);
        optimizer.applyGradients({ [w.name]: grad });
        grad.dispose();
      });
      const values = w.dataSync() as Float32Array;
      optimizer.dispose();
      w.dispose();
      return values;
    });
    assertClose(results[0], results[1], "weights after three steps", 1e-6);
  },
});
