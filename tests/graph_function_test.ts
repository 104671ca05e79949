import assert from "node:assert/strict";
import { initBackend, tf } from "../lib/engine/backend.ts";
import { addFunction, type GraphSpec, removeFunction } from "../lib/engine/graph_function.ts";
import { type Binding, nodeBackend, type OpAttr, withBinding } from "../lib/engine/node_backend.ts";

const backend = await initBackend();
// Functions are registered with tfjs-node's binding: the tensorflow engine only.
const ignore = backend.name !== "tensorflow";

const binding = () => (nodeBackend() as unknown as { binding: Binding }).binding;
const [FLOAT, INT32] = [1, 3];
const ATTR = { string: 0, int: 1, float: 2, bool: 3, type: 4, shape: 5 };
const t = (name: string, value: number): OpAttr => ({ name, type: ATTR.type, value });

/** A convolution, a bias and a ReLU, a sum and a LeakyRelu: every attribute kind but shape. */
const conv: OpAttr[] = [
  t("T", FLOAT),
  { name: "strides", type: ATTR.int, value: [1, 2, 2, 1] },
  { name: "padding", type: ATTR.string, value: "SAME" },
  { name: "data_format", type: ATTR.string, value: "NHWC" },
  { name: "dilations", type: ATTR.int, value: [1, 1, 1, 1] },
  { name: "use_cudnn_on_gpu", type: ATTR.bool, value: true },
];
const spec: GraphSpec = {
  args: [
    { dtype: FLOAT, shape: [2, 5, 5, 3] },
    { dtype: FLOAT, shape: [3, 3, 3, 4] },
    { dtype: FLOAT, shape: [4] },
    { dtype: INT32, shape: [2] },
  ],
  ops: [
    { name: "Conv2D", attrs: conv, inputs: [{ arg: 0 }, { arg: 1 }] },
    null,
    {
      name: "_FusedConv2D",
      attrs: [
        ...conv,
        { name: "num_args", type: ATTR.int, value: 1 },
        { name: "fused_ops", type: ATTR.string, value: ["BiasAdd", "Relu"] },
        { name: "TArgs", type: ATTR.type, value: [FLOAT] },
        { name: "epsilon", type: ATTR.float, value: 0 },
      ],
      inputs: [{ arg: 0 }, { arg: 1 }, { arg: 2 }],
    },
    {
      name: "Sum",
      attrs: [t("T", FLOAT), t("Tidx", INT32), {
        name: "keep_dims",
        type: ATTR.bool,
        value: false,
      }],
      inputs: [{ op: 0, index: 0 }, { arg: 3 }],
    },
    {
      name: "LeakyRelu",
      attrs: [t("T", FLOAT), { name: "alpha", type: ATTR.float, value: 0.25 }],
      inputs: [{ op: 3, index: 0 }],
    },
  ],
  results: [
    { op: 2, index: 0, dtype: FLOAT, shape: [2, 3, 3, 4] },
    { op: 4, index: 0, dtype: FLOAT, shape: [2, 4] },
    { op: 0, index: 0, dtype: FLOAT, shape: [2, 3, 3, 4] },
  ],
};

Deno.test({
  name: "graph function: a registered graph gives the bits of its ops run one by one; removed",
  ignore,
  fn() {
    const b = binding();
    const values = [
      tf.randomNormal([2, 5, 5, 3], 0, 1, "float32", 1),
      tf.randomNormal([3, 3, 3, 4], 0, 1, "float32", 2),
      tf.randomNormal([4], 0, 1, "float32", 3),
      tf.tensor1d([1, 2], "int32"),
    ];
    const ids = (nodeBackend() as unknown as {
      getInputTensorIds(t: tf.Tensor[]): number[];
    }).getInputTensorIds(values);
    assert.ok(addFunction(b, "graph_function_test", spec));
    const called = b.executeOp("graph_function_test", [], ids, spec.results.length);
    const made: number[][] = [];
    for (const op of spec.ops) {
      const inputs = op?.inputs.map((s) => "arg" in s ? ids[s.arg] : made[s.op][s.index]) ?? [];
      made.push(op ? b.executeOp(op.name, op.attrs, inputs, 1).map((h) => h.id) : []);
    }
    spec.results.forEach((r, k) => {
      assert.deepEqual(called[k].shape, r.shape);
      const [fn, one] = [called[k].id, made[r.op][r.index]].map((id) => b.tensorDataSync(id));
      assert.deepEqual(
        new Uint32Array(new Float32Array(fn).buffer),
        new Uint32Array(new Float32Array(one).buffer),
      );
    });
    for (const id of [...called.map((h) => h.id), ...made.flat()]) b.deleteTensor(id);
    // Removed, the name runs no more.
    removeFunction(b, "graph_function_test");
    assert.throws(() => b.executeOp("graph_function_test", [], ids, 3), /graph_function_test/);
    tf.dispose(values);
  },
});

Deno.test({
  name: "graph function: a graph TensorFlow rejects throws its message; no patch gives false",
  ignore,
  fn() {
    const bad = { ...spec, ops: spec.ops.map((op, i) => i ? op : { ...op!, name: "NoSuchOp" }) };
    assert.throws(() => addFunction(binding(), "graph_function_bad", bad), /NoSuchOp/);
    const unpatched = withBinding((original) => ({
      executeOp(name, attrs, inputs, outputs) {
        if (name !== "Cifar100TsAddFunction") {
          return original.executeOp(name, attrs, inputs, outputs);
        }
        throw new Error("Op type not registered 'Cifar100TsAddFunction' in binary");
      },
    }), () => addFunction(binding(), "graph_function_unpatched", spec));
    assert.equal(unpatched, false);
  },
});
