import assert from "node:assert/strict";
import { initBackend, tf } from "../lib/engine/backend.ts";
import { readNativeStatus } from "../lib/engine/install/native.ts";
import { FusedAdam, FusedRmsprop } from "../lib/engine/tensorflow_optimizers.ts";
import { softmaxCrossEntropy } from "../lib/engine/softmax_cross_entropy.ts";
import { nodeBackend } from "../lib/engine/node_backend.ts";
import { assertClose, on } from "./numeric.ts";

// These kernels exist only on the native engine: run where `deno task setup` made it work.
const native = (await readNativeStatus()) !== undefined;
if (native) await initBackend("tensorflow");

/** Compare `fn` on tensorflow (the project's kernels) with the cpu backend. */
function againstCpu(name: string, fn: () => tf.Tensor[]) {
  Deno.test({
    name: `tensorflow kernel matches cpu: ${name}`,
    ignore: !native,
    async fn() {
      const [ours, reference] = [await on("tensorflow", fn), await on("cpu", fn)];
      ours.forEach((values, i) => assertClose(values, reference[i], `${name} output ${i}`));
    },
  });
}

const input = (shape: number[], seed: number) => tf.randomNormal(shape, 0, 1, "float32", seed);

againstCpu("Step (ReLU's derivative), with zeros, negatives and NaN", () => {
  const x = tf.tensor1d([-2, -0, 0, 1e-30, 3, NaN, -NaN, Infinity, -Infinity]);
  return [tf.step(x), tf.step(input([4, 5, 6], 1)), tf.step(x, 0.5)];
});

againstCpu("Sum over every axis but the last (a bias gradient), and other sums", () => {
  const x = input([3, 4, 5, 6], 2);
  return [
    tf.sum(x, [0, 1, 2]),
    tf.sum(x, [2, 0, 1]),
    tf.sum(x, [0, 1]),
    tf.sum(x, 3),
    tf.sum(x, [0, 1, 2], true),
    tf.sum(input([7, 9], 3), 0),
  ];
});

for (const pad of ["valid", "same"] as const) {
  for (const activation of ["relu", "relu6", "linear"] as const) {
    againstCpu(`FusedDepthwiseConv2D, ${pad} padding, ${activation}, strides 1 and 2`, () => {
      // Scaled so that relu6 clips at both ends.
      const x = input([2, 9, 8, 4], 18).mul(4) as tf.Tensor4D;
      const filter = input([3, 3, 4, 1], 19) as tf.Tensor4D;
      const bias = input([4], 20);
      const strides = [1, 2] as const;
      return strides.map((s) =>
        tf.fused.depthwiseConv2d({ x, filter, strides: s, pad, bias, activation })
      )
        .concat([tf.fused.depthwiseConv2d({ x, filter, strides: 1, pad, activation })]);
    });
    againstCpu(`FusedConv2D, ${pad} padding, ${activation}, strides 1 and 2`, () => {
      const x = input([2, 9, 8, 3], 4).mul(4) as tf.Tensor4D;
      const filter = input([3, 2, 3, 5], 5) as tf.Tensor4D;
      const bias = input([5], 6);
      return [1, 2].map((strides) => tf.fused.conv2d({ x, filter, strides, pad, bias, activation }))
        .concat([tf.fused.conv2d({ x, filter, strides: 1, pad, activation })]);
    });
  }
}

againstCpu("_FusedMatMul with bias and relu, transposes, and without bias", () => {
  const a = input([6, 7], 7), b = input([7, 4], 8), bias = input([4], 9);
  return [
    tf.fused.matMul({ a, b, bias, activation: "relu" }),
    tf.fused.matMul({ a: a.transpose(), b, transposeA: true, bias }),
    tf.fused.matMul({ a, b: b.transpose(), transposeB: true }),
    tf.fused.matMul({ a: a.reshape([2, 3, 7]), b: b.reshape([1, 7, 4]), bias, activation: "relu" }),
  ];
});

againstCpu("Relu's gradient (ReluGrad), with zeros, negatives and infinities", () => {
  const x = tf.concat([tf.tensor1d([-2, -0, 0, 1e-30, 3, Infinity, -Infinity]), input([50], 14)]);
  const dy = input([57], 15);
  const [dx] = tf.grads((x: tf.Tensor) => tf.relu(x).mul(dy).sum())([x]);
  // Through a layer, as training runs it: conv, bias, relu.
  const image = input([2, 6, 6, 3], 16) as tf.Tensor4D;
  const [df] = tf.grads((f: tf.Tensor) =>
    tf.relu(tf.conv2d(image, f as tf.Tensor4D, 1, "same")).square().sum()
  )([input([3, 3, 3, 4], 17)]);
  return [dx, df];
});

againstCpu(
  "softmax cross-entropy from logits (SoftmaxCrossEntropyWithLogits): loss and gradient",
  () => {
    // Logits up to ±200 (where a softmax saturates), one-hot and smoothed targets, int32 one-hot.
    const logits = tf.concat([tf.tensor2d([[200, -200, 0], [0, 0, 0]]), input([5, 3], 18).mul(5)]);
    const oneHot = tf.oneHot([0, 1, 2, 2, 1, 0, 1], 3);
    const smoothed = tf.oneHot([1, 1, 0, 2, 0, 2, 1], 3).toFloat().mul(0.8).add(0.2 / 3);
    return [oneHot, smoothed].flatMap((truth) => {
      const f = (z: tf.Tensor) => softmaxCrossEntropy(truth, z);
      return [f(logits), tf.grad(f)(logits, tf.scalar(3))];
    });
  },
);

againstCpu("training gradients through conv, pooling, dense and relu", () => {
  const x = input([2, 8, 8, 3], 10) as tf.Tensor4D;
  const f = input([3, 3, 3, 4], 11) as tf.Tensor4D;
  const bias = input([4], 12), w = input([36, 5], 13) as tf.Tensor2D;
  const loss = (f: tf.Tensor4D, w: tf.Tensor2D) => {
    const conv = tf.relu(tf.conv2d(x, f, 1, "valid").add(bias)) as tf.Tensor4D;
    const pooled = tf.maxPool(conv, 2, 2, "valid").reshape([2, 36]) as tf.Tensor2D;
    return tf.relu(tf.matMul(pooled, w)).square().sum() as tf.Scalar;
  };
  return tf.grads((...args: tf.Tensor[]) => loss(args[0] as tf.Tensor4D, args[1] as tf.Tensor2D))(
    [f, w],
  );
});

Deno.test({
  name: "FusedAdam applies Keras's Adam update, step by step",
  ignore: !native,
  fn() {
    const settings = { learningRate: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 };
    const w = tf.variable(tf.tensor1d([1, -2, 3]), true, "fused_adam_test_w");
    const optimizer = new FusedAdam(settings);
    let m = [0, 0, 0], v = [0, 0, 0], expected = [1, -2, 3];
    for (const [t, g] of [[1, [0.5, -1, 2]], [2, [0.1, 0.2, -0.3]]] as const) {
      const grad = tf.tensor1d(g as unknown as number[]);
      optimizer.applyGradients({ [w.name]: grad });
      grad.dispose();
      // Keras / TensorFlow ApplyAdam, by hand.
      const { learningRate: lr, beta1: b1, beta2: b2, epsilon: eps } = settings;
      const lrT = lr * Math.sqrt(1 - b2 ** t) / (1 - b1 ** t);
      m = m.map((mi, i) => mi + (g[i] - mi) * (1 - b1));
      v = v.map((vi, i) => vi + (g[i] ** 2 - vi) * (1 - b2));
      expected = expected.map((wi, i) => wi - lrT * m[i] / (Math.sqrt(v[i]) + eps));
      assertClose(w.dataSync() as Float32Array, Float32Array.from(expected), `step ${t}`, 1e-6);
    }
    const before = tf.memory().numTensors;
    optimizer.dispose();
    assert.ok(tf.memory().numTensors < before, "dispose frees the slots");
    w.dispose();
  },
});

Deno.test({
  name: "FusedRmsprop applies RMSprop's update and follows a weight changed elsewhere",
  ignore: !native,
  fn() {
    const settings = { learningRate: 0.01, rho: 0.9, momentum: 0, epsilon: 1e-7 };
    const w = tf.variable(tf.tensor1d([1, -2]), true, "fused_rmsprop_test_w");
    const optimizer = new FusedRmsprop(settings);
    const g = [0.5, -1];
    const update = (w0: number[], ms: number[]) => {
      const next = ms.map((s, i) => settings.rho * s + (1 - settings.rho) * g[i] ** 2);
      return {
        w: w0.map((wi, i) =>
          wi - settings.learningRate * g[i] / Math.sqrt(next[i] + settings.epsilon)
        ),
        ms: next,
      };
    };
    const grad = tf.tensor1d(g);
    optimizer.applyGradients({ [w.name]: grad });
    let expected = update([1, -2], [0, 0]);
    assertClose(w.dataSync() as Float32Array, Float32Array.from(expected.w), "step 1", 1e-6);
    // A weight set from outside (a loaded model) is what the next update starts from.
    w.assign(tf.tensor1d([10, 20]));
    optimizer.applyGradients({ [w.name]: grad });
    expected = update([10, 20], expected.ms);
    assertClose(w.dataSync() as Float32Array, Float32Array.from(expected.w), "step 2", 1e-6);
    grad.dispose();
    optimizer.dispose();
    w.dispose();
  },
});

for (
  const c of [
    { name: "2x2 stride 2 valid, odd sides", x: [3, 13, 11, 5], size: 2, strides: 2, pad: "valid" },
    { name: "3x3 stride 2 same", x: [2, 9, 8, 4], size: 3, strides: 2, pad: "same" },
    {
      name: "3x3 stride 1 same (overlapping windows)",
      x: [1, 6, 7, 3],
      size: 3,
      strides: 1,
      pad: "same",
    },
    {
      name: "2x2 stride 2 valid, 64 channels",
      x: [2, 8, 8, 64],
      size: 2,
      strides: 2,
      pad: "valid",
    },
    {
      // Over 1 MB: the batch is split between threads (unevenly: 5 images).
      name: "2x2 stride 2 valid, 5 images of 30x30x64",
      x: [5, 30, 30, 64],
      size: 2,
      strides: 2,
      pad: "valid",
    },
  ] as const
) {
  // Rounded values make ties common; the first maximum of a window must win.
  const tiesAndInfinity = (infinity: tf.Tensor) => {
    const x = tf.round(input([...c.x], 20).mul(2)).div(2);
    return tf.where(tf.logicalAnd(tf.less(x, -1.4), infinity), tf.fill([...c.x], -Infinity), x);
  };
  againstCpu(`MaxPoolGrad ${c.name}, with ties and -infinity`, () => {
    // Called as a kernel, without a gradient tape: the project's op (no oneDNN workspace).
    const x = tiesAndInfinity(tf.scalar(true)) as tf.Tensor4D;
    const pooled = tf.maxPool(x, c.size, c.strides, c.pad);
    const dy = input(pooled.shape, 21);
    const attrs = { filterSize: c.size, strides: c.strides, pad: c.pad };
    return [tf.engine().runKernel("MaxPoolGrad", { dy, input: x, output: pooled }, attrs)];
  });
  againstCpu(`MaxPool's gradient on a tape (oneDNN) ${c.name}, with ties and -infinity`, () => {
    // -infinity only in even columns, so that no window is all -infinity: oneDNN sends such a
    // window's gradient elsewhere than to its first element (no model's pool sees one).
    const even = tf.range(0, c.x[2]).mod(2).equal(0).reshape([1, 1, c.x[2], 1]);
    const x = tiesAndInfinity(even) as tf.Tensor4D;
    return [
      tf.grad((v: tf.Tensor) => {
        const pooled = tf.maxPool(v as tf.Tensor4D, c.size, c.strides, c.pad);
        return pooled.mul(input(pooled.shape, 21)).sum();
      })(x),
    ];
  });
}

Deno.test({
  name: "MaxPool under a gradient runs oneDNN's ops with a workspace and leaves no tensors",
  ignore: !native,
  fn() {
    const ran = opsRun(() => {
      const x = input([2, 8, 8, 3], 30) as tf.Tensor4D;
      const before = tf.memory().numTensors;
      const grad = tf.grad((v: tf.Tensor) => tf.maxPool(v as tf.Tensor4D, 2, 2, "valid").sum())(x);
      assert.equal(tf.memory().numTensors, before + 1, "the gradient alone is new");
      // Without a tape, the forward pass is Eigen's, and keeps no workspace.
      tf.maxPool(x, 2, 2, "valid").dispose();
      assert.equal(tf.memory().numTensors, before + 1);
      tf.dispose([x, grad]);
    });
    assert.deepEqual(
      ran.filter((op) => op.includes("MaxPool")),
      ["_MklNativeMaxPool", "_MklNativeMaxPoolGrad", "MaxPool"],
    );
  },
});

Deno.test({
  name: "MaxPool: a workspace whose gradient never ran is disposed by the next taped pool",
  ignore: !native,
  fn() {
    const x = input([2, 8, 8, 3], 31) as tf.Tensor4D, w = tf.scalar(2);
    const before = tf.memory().numTensors;
    // The pool is taped but not on the way to w: the backward pass never reaches it.
    const unused = tf.grad((v: tf.Tensor) => v.mul(tf.maxPool(x, 2, 2, "valid").sum()))(w);
    assert.equal(tf.memory().numTensors, before + 2, "the gradient and the held workspace");
    const used = tf.grad((v: tf.Tensor) => tf.maxPool(v as tf.Tensor4D, 2, 2, "valid").sum())(x);
    assert.equal(tf.memory().numTensors, before + 2, "the two gradients alone");
    tf.dispose([x, w, unused, used]);
  },
});

/** The TensorFlow ops `fn` runs, in order, from a stand-in for the backend's frozen binding. */
function opsRun(fn: () => void): string[] {
  const backend = nodeBackend() as unknown as { binding: Record<string, unknown> };
  const original = backend.binding, ran: string[] = [];
  const recording: Record<string, unknown> = {};
  for (const key of Object.getOwnPropertyNames(original)) {
    const value = original[key];
    recording[key] = typeof value === "function" ? value.bind(original) : value;
  }
  const execute = original.executeOp as (name: string, ...rest: unknown[]) => unknown;
  recording.executeOp = (name: string, ...rest: unknown[]) => {
    ran.push(name);
    return execute.call(original, name, ...rest);
  };
  backend.binding = recording;
  try {
    fn();
  } finally {
    backend.binding = original;
  }
  return ran;
}
