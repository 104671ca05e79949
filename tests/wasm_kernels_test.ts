import assert from "node:assert/strict";
import { initBackend, tf } from "../lib/engine/backend.ts";
import { buildCnn } from "../lib/models/cnn.ts";
import { gradients } from "../lib/train/step.ts";
import { assertClose, on } from "./numeric.ts";

await initBackend("wasm");

const convCases: Array<{
  name: string;
  x: [number, number, number, number];
  k: [number, number, number, number];
  strides: [number, number];
  pad: "valid" | "same";
}> = [
  { name: "3x3 valid stride 1", x: [2, 8, 8, 3], k: [3, 3, 3, 4], strides: [1, 1], pad: "valid" },
  { name: "3x3 same stride 1", x: [2, 7, 7, 2], k: [3, 3, 2, 5], strides: [1, 1], pad: "same" },
  { name: "3x3 valid stride 2", x: [3, 9, 9, 2], k: [3, 3, 2, 3], strides: [2, 2], pad: "valid" },
  {
    name: "3x3 valid stride 2, uneven",
    x: [1, 10, 10, 2],
    k: [3, 3, 2, 3],
    strides: [2, 2],
    pad: "valid",
  },
  { name: "3x3 same stride 2", x: [2, 8, 8, 3], k: [3, 3, 3, 2], strides: [2, 2], pad: "same" },
  { name: "2x4 same stride 2x1", x: [2, 7, 6, 2], k: [2, 4, 2, 3], strides: [2, 1], pad: "same" },
  { name: "5x5 valid stride 3", x: [2, 11, 13, 1], k: [5, 5, 1, 2], strides: [3, 3], pad: "valid" },
  { name: "1x1 valid", x: [4, 5, 5, 6], k: [1, 1, 6, 7], strides: [1, 1], pad: "valid" },
  // Even kernels with "same" padding pad one more row/column after than before: the stride-1
  // input gradient must mirror that asymmetry. Non-square inputs and batch 1 on purpose.
  {
    name: "2x2 same stride 1, 5x7",
    x: [1, 5, 7, 2],
    k: [2, 2, 2, 3],
    strides: [1, 1],
    pad: "same",
  },
  {
    name: "2x4 same stride 1, 6x9",
    x: [2, 6, 9, 3],
    k: [2, 4, 3, 2],
    strides: [1, 1],
    pad: "same",
  },
  {
    name: "4x3 same stride 1, 9x5",
    x: [1, 9, 5, 2],
    k: [4, 3, 2, 4],
    strides: [1, 1],
    pad: "same",
  },
  {
    name: "4x3 valid stride 1, 8x6",
    x: [1, 8, 6, 3],
    k: [4, 3, 3, 2],
    strides: [1, 1],
    pad: "valid",
  },
];

for (const c of convCases) {
  Deno.test(`wasm conv2d gradients match cpu: ${c.name}`, async () => {
    const case_ = () => {
      const x = tf.randomNormal(c.x, 0, 1, "float32", 1);
      const k = tf.randomNormal(c.k, 0, 1, "float32", 2);
      const f = (x: tf.Tensor4D, k: tf.Tensor4D) =>
        tf.conv2d(x, k, c.strides, c.pad).square().sum();
      const [dx, dk] = tf.grads(f as (...a: tf.Tensor[]) => tf.Tensor)([x, k]);
      return [tf.conv2d(x as tf.Tensor4D, k as tf.Tensor4D, c.strides, c.pad), dx, dk];
    };
    const [y0, dx0, dk0] = await on("cpu", case_);
    const [y1, dx1, dk1] = await on("wasm", case_);
    assertClose(y1, y0, "output", 1e-3);
    assertClose(dx1, dx0, "input gradient", 1e-3);
    assertClose(dk1, dk0, "filter gradient", 1e-3);
  });
}

Deno.test("wasm Conv2DBackpropFilter kernel matches cpu when called directly", async () => {
  const case_ = () => {
    const x = tf.randomUniform([3, 9, 9, 4], -1, 1, "float32", 3) as tf.Tensor4D;
    const dy = tf.randomUniform([3, 4, 4, 5], -1, 1, "float32", 4) as tf.Tensor4D;
    return [
      tf.engine().runKernel("Conv2DBackpropFilter", { x, dy }, {
        strides: 2,
        pad: "valid",
        dataFormat: "NHWC",
        filterShape: [3, 3, 4, 5],
      }) as tf.Tensor,
    ];
  };
  const [cpu] = await on("cpu", case_);
  const [wasm] = await on("wasm", case_);
  assertClose(wasm, cpu, "filter gradient", 1e-3);
});

for (const batch of [[], [2]]) {
  for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]]) {
    Deno.test(`wasm matMul rank ${batch.length + 2} transposeA=${ta} transposeB=${tb} matches cpu, values and gradients`, async () => {
      const case_ = () => {
        const a = tf.randomNormal([...batch, ...(ta ? [7, 5] : [5, 7])], 0, 1, "float32", 5);
        const b = tf.randomNormal([...batch, ...(tb ? [3, 7] : [7, 3])], 0, 1, "float32", 6);
        const f = (a: tf.Tensor, b: tf.Tensor) => tf.matMul(a, b, ta, tb).square().sum();
        const [da, db] = tf.grads(f)([a, b]);
        return [tf.matMul(a, b, ta, tb), da, db];
      };
      const cpu = await on("cpu", case_);
      const wasm = await on("wasm", case_);
      ["product", "gradient a", "gradient b"].forEach((what, i) =>
        assertClose(wasm[i], cpu[i], what, 1e-3)
      );
    });
  }
}

/** Buffers the wasm backend holds: engine tensors and any temporaries a kernel forgot to free. */
function wasmDataIds(): number {
  assert.equal(tf.getBackend(), "wasm");
  return (tf.backend() as unknown as { numDataIds(): number }).numDataIds();
}

Deno.test("wasm kernels leak no tensors or backend buffers across repeated gradient steps", () => {
  // Stride 2 "same": the filter gradient pads its input and crops the dilated conv's output.
  const x = tf.randomNormal([4, 10, 10, 3], 0, 1, "float32", 7) as tf.Tensor4D;
  const k = tf.variable(tf.randomNormal([3, 3, 3, 8], 0, 1, "float32", 8));
  const step = () =>
    tf.tidy(() => {
      const { grads } = tf.variableGrads(() => tf.conv2d(x, k as tf.Tensor4D, 2, "same").sum());
      return grads[k.name].sum();
    });
  (step()).dispose(); // first call may allocate kernel caches
  const before = tf.memory();
  const ids = wasmDataIds();
  for (let i = 0; i < 5; i++) step().dispose();
  const after = tf.memory();
  assert.equal(after.numTensors, before.numTensors);
  assert.equal(after.numBytes, before.numBytes);
  assert.equal(wasmDataIds(), ids, "wasm backend buffers");
  x.dispose();
  k.dispose();
});

Deno.test("a CNN training step on wasm frees every temporary of the project's kernels", async () => {
  // tf.memory() counts engine tensors only; a buffer a kernel allocates on the backend and
  // never frees shows only in the backend's own count of data ids.
  const model = buildCnn({ numClasses: 10, seed: 3 });
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const optimizer: tf.Optimizer = tf.train.adam(1e-3);
  const x = tf.randomUniform([4, 32, 32, 3], 0, 1, "float32", 12);
  const labels = tf.tensor1d([0, 3, 9, 3], "int32");
  const step = () => {
    const { grads } = gradients(model, variables, {
      x,
      labels,
      numClasses: 10,
      loss: "categorical_crossentropy",
    });
    optimizer.applyGradients(grads);
    tf.dispose(grads);
  };
  // The step goes through every kernel lib/engine/wasm_kernels.ts registers.
  const { kernelNames } = await tf.profile(step); // also the warm-up: Adam makes its slots
  for (
    const name of [
      "BatchMatMul",
      "Conv2DBackpropInput",
      "Conv2DBackpropFilter",
      "MaxPoolGrad",
      "Sum",
    ]
  ) {
    assert.ok(kernelNames.includes(name), `${name} runs in a CNN step`);
  }
  const tensors = tf.memory().numTensors;
  const ids = wasmDataIds();
  for (let i = 0; i < 3; i++) step();
  assert.equal(tf.memory().numTensors, tensors, "engine tensors");
  assert.equal(wasmDataIds(), ids, "wasm backend buffers");
  tf.dispose([x, labels]);
  optimizer.dispose();
  model.dispose();
});

const poolCases: Array<{
  name: string;
  x: [number, number, number, number];
  size: [number, number];
  strides: [number, number];
  pad: "valid" | "same";
}> = [
  {
    name: "2x2 stride 2 valid, even",
    x: [2, 8, 8, 3],
    size: [2, 2],
    strides: [2, 2],
    pad: "valid",
  },
  {
    name: "2x2 stride 2 valid, odd (13->6)",
    x: [2, 13, 13, 4],
    size: [2, 2],
    strides: [2, 2],
    pad: "valid",
  },
  {
    name: "3x3 stride 2 same, overlapping",
    x: [2, 9, 7, 2],
    size: [3, 3],
    strides: [2, 2],
    pad: "same",
  },
  { name: "2x3 stride 1 valid", x: [1, 5, 6, 3], size: [2, 3], strides: [1, 1], pad: "valid" },
];

for (const c of poolCases) {
  for (const ties of [false, true]) {
    Deno.test(`wasm maxPool gradient matches cpu: ${c.name}${ties ? ", with ties" : ""}`, async () => {
      const case_ = () => {
        let x = tf.randomNormal(c.x, 0, 1, "float32", 9);
        // Rounding to a coarse grid makes many windows hold equal maxima (as ReLU zeros do).
        if (ties) x = x.mul(2).round().relu();
        const w = tf.randomNormal(
          tf.maxPool(x as tf.Tensor4D, c.size, c.strides, c.pad).shape,
          0,
          1,
          "float32",
          10,
        );
        const f = (x: tf.Tensor) =>
          tf.maxPool(x as tf.Tensor4D, c.size, c.strides, c.pad).mul(w).sum();
        return [tf.grad(f)(x)];
      };
      const [cpu] = await on("cpu", case_);
      const [wasm] = await on("wasm", case_);
      assertClose(wasm, cpu, "input gradient", 1e-6);
    });
  }
}

for (
  const [shape, axis, keepDims] of [
    [[4, 5, 6, 7], [0, 1, 2], false],
    [[4, 5, 6, 7], [2, 0, 1], true],
    [[30, 8], 0, false],
    [[3, 4, 5], [0, 2], false],
    [[3, 4, 5], [1, 2], false],
    [[3, 4], [0, 1], false],
  ] as Array<[number[], number | number[], boolean]>
) {
  Deno.test(`wasm sum matches cpu: shape ${shape} axis ${axis} keepDims ${keepDims}`, async () => {
    const case_ = () => [tf.randomNormal(shape, 0, 1, "float32", 11).sum(axis, keepDims)];
    const [cpu] = await on("cpu", case_);
    const [wasm] = await on("wasm", case_);
    assertClose(wasm, cpu, "sum", 1e-5);
  });
}
