/**
 * Run time, tensorflow backend: opt-in bfloat16 compute (`--precision bfloat16`). The
 * convolutions (forward, input and filter gradients) and the dense layers' matrix products run in
 * bfloat16 on CPUs whose instructions multiply it (avx512_bf16, AMX); everything else (bias,
 * activations, pooling, batch norm, loss, optimizer, the weights themselves) stays float32, as
 * Keras's `mixed_bfloat16` policy keeps its variables and loss.
 *
 * tfjs has no bfloat16 dtype and tfjs-node throws on an output of one, so each such op is run
 * on the binding's raw TensorFlow handles: Cast to bfloat16, the op with `T = bfloat16`, Cast
 * back; only the float32 result becomes a tfjs tensor and the intermediates are deleted at once.
 *
 * TensorFlow 2.21's oneDNN forward convolution in bfloat16 gives wrong channels when the input
 * has an odd number of channels (an RGB image: docs/performance.md), so such a convolution stays
 * float32, its gradients too.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import { UserError } from "../util/user_error.ts";
import type { NodeBackend, OpAttr } from "./node_backend.ts";

/**
 * Compute precisions (`--precision`): `float32` (the default, unchanged by this module), or
 * `bfloat16` for the convolutions and matrix products, weights and loss kept float32.
 */
export const PRECISIONS = ["float32", "bfloat16"] as const;

/** A precision name. */
export type PrecisionName = typeof PRECISIONS[number];

/** TensorFlow's `TF_BFLOAT16` dtype enum (tfjs-node's binding does not export it). */
const TF_BFLOAT16 = 14;

/** The CPU flags (as /proc/cpuinfo names them) whose instructions compute in bfloat16. */
const BF16_FLAGS = ["avx512_bf16", "amx_bf16"];

let active: PrecisionName = "float32";

/** The binding calls on raw TensorFlow handles (tfjs-node 4.22's `TFJSBinding`). */
interface RawBinding {
  TF_FLOAT: number;
  TF_ATTR_TYPE: number;
  TF_ATTR_BOOL: number;
  executeOp(name: string, attrs: OpAttr[], ids: number[], outputs: number): RawOutput[];
  deleteTensor(id: number): void;
}

/** One output of `executeOp`: a handle id, its shape and TensorFlow dtype enum. */
interface RawOutput {
  id: number;
  shape: number[];
  dtype: number;
}

/** tfjs-node's backend with the handle-level methods used here. */
interface RawBackend {
  binding: RawBinding;
  getInputTensorIds(tensors: tf.TensorInfo[]): number[];
  createOutputTensor(output: RawOutput): tf.Tensor;
}

/**
 * Whether this CPU computes in bfloat16: one of {@linkcode BF16_FLAGS} in /proc/cpuinfo.
 *
 * @param cpuinfo the text of /proc/cpuinfo (injectable for tests); none readable: false
 */
export function cpuHasBfloat16(cpuinfo: () => string = readCpuinfo): boolean {
  let text: string;
  try {
    text = cpuinfo();
  } catch {
    return false;
  }
  const flags = new Set(text.match(/^flags\s*:.*$/m)?.[0].split(/\s+/) ?? []);
  return BF16_FLAGS.some((flag) => flags.has(flag));
}

function readCpuinfo(): string {
  return Deno.readTextFileSync("/proc/cpuinfo");
}

/**
 * Set the process's compute precision, once per run where its backend is initialised.
 *
 * @param precision float32 (the default) or bfloat16
 * @param backend the active tfjs backend's name
 * @param cpuinfo the text of /proc/cpuinfo (injectable for tests)
 * @throws {UserError} for bfloat16 on another engine than tensorflow or on a CPU without it
 */
export function setPrecision(
  precision: PrecisionName,
  backend: string,
  cpuinfo?: () => string,
): void {
  if (precision === "bfloat16") {
    if (backend !== "tensorflow") {
      throw new UserError(
        `--precision bfloat16 needs the native engine (this one is ${backend}): ` +
          "run deno task setup, or leave --precision out",
      );
    }
    if (!cpuHasBfloat16(cpuinfo)) {
      throw new UserError(
        `--precision bfloat16 needs a CPU with ${BF16_FLAGS.join(" or ")} ` +
          "(not in /proc/cpuinfo): leave --precision out",
      );
    }
  }
  active = precision;
}

/** The precision set by {@linkcode setPrecision}. */
export function precision(): PrecisionName {
  return active;
}

/**
 * Whether a convolution, or its gradients, with this filter shape ([kh, kw, in, out]) runs in
 * bfloat16: the precision is bfloat16 and the input's channels are even (an odd count gives
 * wrong forward results, and its filter gradient is slower in bfloat16).
 */
export function convInBfloat16(filterShape: number[]): boolean {
  return active === "bfloat16" && filterShape[2] % 2 === 0;
}

/**
 * `b`, with `executeSingleOutput` running each op in bfloat16 on its float32 inputs (other
 * inputs, such as shapes, as they are) and returning float32: the op's `T` and `TArgs`
 * attributes are set to bfloat16. Every other member is `b`'s.
 */
export function bfloat16Backend(b: NodeBackend): NodeBackend {
  const bf16 = Object.create(b) as NodeBackend;
  bf16.executeSingleOutput = (op, attrs, inputs) =>
    runInBfloat16(b, op, inputs, (dtype) => attrs.map((a) => retyped(a, dtype)));
  return bf16;
}

/** `attr` with its dtype set to `dtype` where it is the op's `T` or `TArgs`. */
function retyped(attr: OpAttr, dtype: number): OpAttr {
  if (attr.name === "T") return { ...attr, value: dtype };
  if (attr.name === "TArgs") return { ...attr, value: (attr.value as number[]).map(() => dtype) };
  return attr;
}

/**
 * Run TensorFlow op `op` in bfloat16 and return its float32 output: the float32 inputs are cast
 * to bfloat16 on raw handles, the others passed as they are; the handles made here are deleted
 * before it returns, also when the op throws.
 */
function runInBfloat16(
  b: NodeBackend,
  op: string,
  inputs: tf.TensorInfo[],
  attrs: (dtype: number) => OpAttr[],
): tf.Tensor {
  const raw = b as unknown as RawBackend;
  const binding = raw.binding;
  const ids = raw.getInputTensorIds(inputs);
  const owned: number[] = [];
  try {
    const args = ids.map((id, i) => {
      if (inputs[i].dtype !== "float32") return id;
      const half = castId(binding, id, binding.TF_FLOAT, TF_BFLOAT16);
      owned.push(half);
      return half;
    });
    const [out] = binding.executeOp(op, attrs(TF_BFLOAT16), args, 1);
    owned.push(out.id);
    const id = castId(binding, out.id, TF_BFLOAT16, binding.TF_FLOAT);
    return raw.createOutputTensor({ id, shape: out.shape, dtype: binding.TF_FLOAT });
  } finally {
    for (const id of owned) binding.deleteTensor(id);
  }
}

/** A new handle: `id` cast from dtype enum `from` to `to`. */
function castId(binding: RawBinding, id: number, from: number, to: number): number {
  const [out] = binding.executeOp(
    "Cast",
    [
      { name: "SrcT", type: binding.TF_ATTR_TYPE, value: from },
      { name: "DstT", type: binding.TF_ATTR_TYPE, value: to },
      { name: "Truncate", type: binding.TF_ATTR_BOOL, value: false },
    ],
    [id],
    1,
  );
  return out.id;
}
