/**
 * Ops recorded from tfjs-node's binding, run as one TensorFlow function: the graph executor runs
 * them without a JavaScript round trip per op, and runs independent ones side by side, as a Keras
 * `tf.function` step does. The graph is written as a GraphDef (protobufjs, from the few messages
 * of TensorFlow's graph.proto it needs) and registered with the binding's context through
 * tfjs_node_binding.patch's `Cifar100TsAddFunction`.
 *
 * @module
 */
import protobuf from "protobufjs";
import type { Binding, OpAttr } from "./node_backend.ts";

/** Where an op's input comes from: an earlier op's output, or the function's argument. */
type GraphInput = { op: number; index: number } | { arg: number };

/** One op of a graph, as the binding's `executeOp` takes it. */
interface GraphOp {
  name: string;
  attrs: OpAttr[];
  inputs: GraphInput[];
}

/** TensorFlow's DataType values (types.proto) that the replays name. */
export const DT = { float: 1, int32: 3, string: 7, bool: 10, bfloat16: 14 } as const;

/** A tfjs dtype as TensorFlow's, or undefined for one a function argument cannot take. */
export function tfDataType(dtype: string): number | undefined {
  return ({ float32: DT.float, int32: DT.int32, bool: DT.bool } as Record<string, number>)[dtype];
}

/** A TensorFlow dtype (`binding.TF_*`) and shape, of an argument or a result. */
export interface GraphValue {
  dtype: number;
  shape: number[];
}

/** A function's arguments, ops (null: none at that position) and results. */
export interface GraphSpec {
  args: GraphValue[];
  ops: (GraphOp | null)[];
  results: ({ op: number; index: number } & GraphValue)[];
}

// Field numbers from tensorflow/core/framework/{graph,node_def,attr_value,tensor_shape,versions}.proto.
const SCHEMA = `
syntax = "proto3";
message GraphDef { repeated NodeDef node = 1; VersionDef versions = 4; }
message VersionDef { int32 producer = 1; }
message NodeDef {
  string name = 1; string op = 2; repeated string input = 3; map<string, AttrValue> attr = 5;
}
message AttrValue {
  oneof value {
    ListValue list = 1; bytes s = 2; int64 i = 3; float f = 4; bool b = 5; int32 type = 6;
    TensorShapeProto shape = 7;
  }
}
message ListValue {
  repeated bytes s = 2; repeated int64 i = 3; repeated float f = 4; repeated bool b = 5;
  repeated int32 type = 6;
}
message TensorShapeProto { message Dim { int64 size = 1; } repeated Dim dim = 2; }
`;
const GRAPH_DEF = protobuf.parse(SCHEMA).root.lookupType("GraphDef");
/** TensorFlow 2.21's TF_GRAPH_DEF_VERSION, the library the binding is built against. */
const PRODUCER = 2474;

/** TF_AttrType's values (tensorflow/c/tf_attrtype.h), as tfjs-node's attributes carry them. */
const ATTR = { string: 0, int: 1, float: 2, bool: 3, type: 4, shape: 5 } as const;

/** An attribute as an AttrValue: lists where tfjs-node passes an array. */
function attrValue({ name, type, value }: OpAttr): Record<string, unknown> {
  const utf8 = (s: unknown) => new TextEncoder().encode(String(s));
  const many = Array.isArray(value);
  switch (type) {
    case ATTR.string:
      return many ? { list: { s: (value as string[]).map(utf8) } } : { s: utf8(value) };
    case ATTR.int:
      return many ? { list: { i: value } } : { i: value };
    case ATTR.float:
      return many ? { list: { f: value } } : { f: value };
    case ATTR.bool:
      return many ? { list: { b: value } } : { b: value };
    case ATTR.type:
      return many ? { list: { type: value } } : { type: value };
    case ATTR.shape:
      return { shape: shape(value as number[]) };
  }
  throw new Error(`graphDef: attribute ${name} has a kind (${type}) it cannot write`);
}

function shape(dims: number[]) {
  return { dim: dims.map((size) => ({ size })) };
}

/**
 * `spec` as a serialized GraphDef: Placeholders arg0, arg1, ... for the arguments, node n{i} for
 * op i, and Identity nodes ret0, ret1, ... for the results, the names the binding's
 * `Cifar100TsAddFunction` looks for.
 */
function graphDef(spec: GraphSpec): Uint8Array {
  const input = (s: GraphInput) => "arg" in s ? `arg${s.arg}` : `n${s.op}:${s.index}`;
  const type = (dtype: number) => ({ type: dtype });
  const node = [
    ...spec.args.map((a, i) => ({
      name: `arg${i}`,
      op: "Placeholder",
      attr: { dtype: type(a.dtype), shape: { shape: shape(a.shape) } },
    })),
    ...spec.ops.flatMap((op, i) =>
      op
        ? [{
          name: `n${i}`,
          op: op.name,
          input: op.inputs.map(input),
          attr: Object.fromEntries(op.attrs.map((a) => [a.name, attrValue(a)])),
        }]
        : []
    ),
    ...spec.results.map((r, i) => ({
      name: `ret${i}`,
      op: "Identity",
      input: [input(r)],
      attr: { T: type(r.dtype) },
    })),
  ];
  const message = GRAPH_DEF.fromObject({ node, versions: { producer: PRODUCER } });
  return GRAPH_DEF.encode(message).finish();
}

/**
 * Registers `spec` as the function `name` of the binding's context, so that
 * `binding.executeOp(name, [], argumentIds, results)` runs it. False where the binding lacks
 * tfjs_node_binding.patch's `Cifar100TsAddFunction` (tfjs-node's prebuilt one); a graph
 * TensorFlow rejects throws its message.
 */
export function addFunction(binding: Binding, name: string, spec: GraphSpec): boolean {
  return call(binding, [new TextEncoder().encode(name), graphDef(spec)]);
}

/** Removes the function `name` that {@linkcode addFunction} registered. */
export function removeFunction(binding: Binding, name: string): void {
  call(binding, [new TextEncoder().encode(name)]);
}

/** `Cifar100TsAddFunction` on `[name, GraphDef]` (add) or `[name]` (remove); false if unpatched. */
function call(binding: Binding, encoded: Uint8Array[]): boolean {
  const shape = [encoded.length];
  const id = binding.createTensor(shape, DT.string, encoded as unknown as ArrayLike<number>);
  try {
    binding.executeOp("Cifar100TsAddFunction", [], [id], 0);
    return true;
  } catch (e) {
    if (String(e).includes("Cifar100TsAddFunction") && String(e).includes("not registered")) {
      return false;
    }
    throw e;
  } finally {
    binding.deleteTensor(id);
  }
}
