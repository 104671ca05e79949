/**
 * Opt-in bfloat16 compute on the tensorflow backend (`--precision bfloat16`): convolutions and
 * matrix products run in bfloat16 on CPUs that multiply it; weights, loss and everything else
 * stay float32, as Keras's `mixed_bfloat16` policy. tfjs has no bfloat16 dtype, so each such op
 * runs on the binding's raw handles between two Casts.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import { UserError } from "../util/user_error.ts";
import type { NodeBackend, OpAttr } from "./node_backend.ts";

/** Compute precisions (`--precision`); `float32` is the default. */
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
type RawOutput = { id: number; shape: number[]; dtype: number };

/** tfjs-node's backend with the handle-level methods used here. */
interface RawBackend {
  binding: RawBinding;
  getInputTensorIds(tensors: tf.TensorInfo[]): number[];
  createOutputTensor(output: RawOutput): tf.Tensor;
}

/** Whether this CPU computes in bfloat16, read from /proc/cpuinfo (`cpuinfo` for tests). */
export function cpuHasBfloat16(
  cpuinfo: () => string = () => Deno.readTextFileSync("/proc/cpuinfo"),
): boolean {
  let text: string;
  try {
    text = cpuinfo();
  } catch {
    return false;
  }
  const flags = new Set(text.match(/^flags\s*:.*$/m)?.[0].split(/\s+/) ?? []);
  return BF16_FLAGS.some((flag) => flags.has(flag));
}

/** Set the process's compute precision, once per run, after its backend is initialised. */
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
 * Whether a convolution and its gradients with this filter shape run in bfloat16: only with
 * even input channels, as TF 2.21's oneDNN bfloat16 convolution is wrong for odd ones (RGB).
 */
export function convInBfloat16(filterShape: number[]): boolean {
  return active === "bfloat16" && filterShape[2] % 2 === 0;
}

/** `b`, with `executeSingleOutput` running each op in bfloat16 and returning float32. */
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

/** Run `op` in bfloat16 on raw handles, deleted before it returns, and return float32. */
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
