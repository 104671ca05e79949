import assert from "node:assert/strict";
import { initBackend, tf } from "../lib/engine/backend.ts";
import { loadNativeOps } from "../lib/engine/native_ops.ts";
import { cpuHasBfloat16, setPrecision } from "../lib/engine/precision.ts";
import { withBinding } from "../lib/engine/node_backend.ts";
import { backbone, type BackboneName } from "../lib/models/backbone.ts";
import { inBfloat16, TracedForward } from "../lib/train/traced_forward.ts";

const backend = await initBackend();
// The function runs through tfjs-node's binding: the tensorflow engine only.
const ignore = backend.name !== "tensorflow";

/** Four batches' features through `traced` and through tfjs, as bits, and the binding's calls. */
function features(model: BackboneName, inputSize: number) {
  const choice = { name: model, inputSize, alpha: 0.35 } as const;
  const built = backbone(model).build(choice, 1);
  const base = backbone(model).featureModel(built, choice);
  const forward = (x: tf.Tensor) => {
    const output = base.predict(backbone(model).input(x as tf.Tensor4D, inputSize)) as tf.Tensor;
    return tf.mean(output, [1, 2]);
  };
  const traced = new TracedForward(base.weights.map((w) => w.read()));
  const bits = (t: tf.Tensor) => Array.from(new Uint32Array(t.dataSync().slice().buffer));
  const [ours, theirs]: number[][][] = [[], []];
  let calls = 0;
  for (let i = 0; i < 4; i++) {
    const x = tf.randomUniform([6, 32, 32, 3], 0, 255, "float32", i + 1);
    calls = 0;
    const a = withBinding((original) => ({
      executeOp(name, attrs, inputs, outputs) {
        calls++;
        return original.executeOp(name, attrs, inputs, outputs);
      },
    }), () => tf.tidy(() => traced.run(x, forward)));
    const b = tf.tidy(() => forward(x));
    ours.push(bits(a));
    theirs.push(bits(b));
    tf.dispose([x, a, b]);
  }
  const result = { ours, theirs, replayed: traced.replayed, lastCalls: calls };
  traced.dispose();
  base.dispose();
  if (built !== base) built.dispose();
  return result;
}

for (const model of ["vgg16", "mobilenetv2"] as const) {
  Deno.test({
    name: `traced forward: ${model}'s features as one function, the bits of tfjs`,
    ignore: ignore || !loadNativeOps(),
    fn() {
      const handles = () =>
        (tf.backend() as unknown as { getNumOfTFTensors(): number }).getNumOfTFTensors();
      const [tensors, before] = [tf.memory().numTensors, handles()];
      const { ours, theirs, replayed, lastCalls } = features(model, 32);
      assert.deepEqual(ours, theirs);
      assert.ok(replayed >= 1, `${replayed} replayed`);
      assert.equal(lastCalls, 1, "a replayed batch is one call into the binding");
      assert.equal(tf.memory().numTensors, tensors);
      assert.equal(handles(), before);
    },
  });
}

Deno.test({
  name: "traced forward: in bfloat16, VGG16's features as one function, the bits of tfjs",
  ignore: ignore || !loadNativeOps() || !cpuHasBfloat16(),
  fn() {
    setPrecision("bfloat16", "tensorflow");
    try {
      const { ours, theirs, replayed } = features("vgg16", 32);
      assert.deepEqual(ours, theirs);
      assert.ok(replayed >= 1);
    } finally {
      setPrecision("float32", "tensorflow");
    }
  },
});

Deno.test({
  name: "traced forward: weights set after the plan is made are the ones the function uses",
  ignore: ignore || !loadNativeOps(),
  fn() {
    for (const p of cpuHasBfloat16() ? ["float32", "bfloat16"] as const : ["float32"] as const) {
      setPrecision(p, "tensorflow");
      const base = backbone("vgg16").build({ name: "vgg16", inputSize: 32, alpha: 1 }, 1);
      const forward = (x: tf.Tensor) =>
        tf.mean(base.predict(backbone("vgg16").input(x as tf.Tensor4D, 32)) as tf.Tensor, [1, 2]);
      const traced = new TracedForward(base.weights.map((w) => w.read()));
      const x = tf.randomUniform([2, 32, 32, 3], 0, 255, "float32", 9);
      for (let i = 0; i < 4; i++) tf.dispose(tf.tidy(() => traced.run(x, forward)));
      assert.ok(traced.replayed >= 1, `${p}: ${traced.replayed} replayed`);
      // New values for every weight (loaded weights, say): new handles.
      const scaled = base.getWeights().map((w) => tf.mul(w, 0.5));
      base.setWeights(scaled);
      const [ours, theirs] = [traced.run(x, forward), forward(x)];
      assert.deepEqual(ours.dataSync(), theirs.dataSync(), p);
      tf.dispose([x, ours, theirs, ...scaled]);
      traced.dispose();
      base.dispose();
    }
    setPrecision("float32", "tensorflow");
  },
});

Deno.test("inBfloat16: a cast to float32 and back, or through a max pooling, stays bfloat16", () => {
  const [F, H] = [1, 14];
  const cast = (from: number, to: number, op: number) => ({
    name: "Cast",
    attrs: [
      { name: "SrcT", type: 4, value: from },
      { name: "DstT", type: 4, value: to },
      { name: "Truncate", type: 3, value: false },
    ],
    inputs: [op < 0 ? { arg: 0 } : { op, index: 0 }],
  });
  const pool = {
    name: "MaxPool",
    attrs: [{ name: "T", type: 4, value: F }],
    inputs: [] as never[],
  };
  const ops = [
    cast(F, H, -1), // 0: the batch to bfloat16: stays
    cast(H, F, 0), // 1: back to float32 (other uses may need it)
    cast(F, H, 1), // 2: and to bfloat16 again: op 0's value
    cast(H, F, 2), // 3
    { ...pool, inputs: [{ op: 3, index: 0 }] }, // 4: pooled in float32
    cast(F, H, 4), // 5: to bfloat16: op 2's value pooled in bfloat16
    { ...pool, inputs: [{ op: 5, index: 0 }] }, // 6: a float32 pool of a bfloat16 op: stays
    cast(F, H, 6), // 7: its input is no cast from bfloat16: stays
  ];
  const out = inBfloat16(ops);
  assert.deepEqual(out.map((op) => op?.name), [
    "Cast",
    "Cast",
    "Identity",
    "Cast",
    "MaxPool",
    "MaxPool",
    "MaxPool",
    "Cast",
  ]);
  assert.deepEqual(out[2]!.inputs, [{ op: 0, index: 0 }]);
  assert.deepEqual(out[2]!.attrs, [{ name: "T", type: 4, value: H }]);
  assert.deepEqual(out[5]!.inputs, [{ op: 2, index: 0 }]);
  assert.deepEqual(out[5]!.attrs, [{ name: "T", type: 4, value: H }]);
  assert.deepEqual(out[4], ops[4]);
  assert.deepEqual(out[7], ops[7]);
});
