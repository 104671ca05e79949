/**
 * The part of tfjs-node's `NodeJSKernelBackend` that the project's kernels use: running a
 * TensorFlow op by name on tensor handles.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/** An op attribute as tfjs-node's binding takes it; `type` is one of `binding.TF_ATTR_*`. */
export interface OpAttr {
  name: string;
  type: number;
  value: number | number[] | boolean | string | string[];
}

/** tfjs-node's backend, as far as used here. */
export interface NodeBackend {
  /** The native binding's constants: `TF_ATTR_*` attribute kinds, `TF_FLOAT` and other dtypes. */
  binding: Record<string, number>;
  executeSingleOutput(name: string, attrs: OpAttr[], inputs: tf.TensorInfo[]): tf.Tensor;
  executeMultipleOutputs(
    name: string,
    attrs: OpAttr[],
    inputs: tf.TensorInfo[],
    outputs: number,
  ): tf.Tensor[];
}

/** The active backend as tfjs-node's; only when `tf.getBackend()` is `"tensorflow"`. */
export function nodeBackend(): NodeBackend {
  return tf.backend() as unknown as NodeBackend;
}

/** The `T` attribute for float32 ops. */
export function floatType(b: NodeBackend): OpAttr {
  return { name: "T", type: b.binding.TF_ATTR_TYPE, value: b.binding.TF_FLOAT };
}

/** The `data_format` attribute for NHWC (tfjs's channels-last) tensors. */
export function nhwc(b: NodeBackend): OpAttr {
  return { name: "data_format", type: b.binding.TF_ATTR_STRING, value: "NHWC" };
}

/** Run the TensorFlow op `op` on `inputs`, disposing the tensors in `release` afterwards. */
export function runOp(
  b: NodeBackend,
  op: string,
  inputs: tf.TensorInfo[],
  attrs: OpAttr[] = [floatType(b)],
  release: tf.Tensor[] = [],
): tf.Tensor {
  try {
    return b.executeSingleOutput(op, attrs, inputs);
  } finally {
    tf.dispose(release);
  }
}

/** A tensor as tfjs-node's binding describes it; `dtype` is one of `binding.TF_*`. */
export interface Handle {
  id: number;
  shape: number[];
  dtype: number;
}

/** tfjs-node's native binding, as far as the project calls it directly. */
export interface Binding {
  TF_INT32: number;
  executeOp(name: string, attrs: unknown[], ids: number[], outputs: number): Handle[];
  createTensor(shape: number[], dtype: number, values: ArrayLike<number>): number;
  deleteTensor(id: number): void;
  tensorDataSync(id: number): ArrayLike<number>;
}

/**
 * Runs `fn` with the backend's binding swapped for a copy whose functions `overrides` replaces,
 * and puts the original back: how a step's calls into TensorFlow are timed or recorded. A copy,
 * since the binding's properties are frozen (neither assignable nor proxied).
 */
export function withBinding<T>(
  overrides: (original: Binding) => Partial<Binding>,
  fn: () => T,
): T {
  const backend = nodeBackend() as unknown as { binding: Binding };
  const original = backend.binding;
  const swapped: Record<string, unknown> = {};
  for (const key of Object.getOwnPropertyNames(original)) {
    const value = (original as unknown as Record<string, unknown>)[key];
    swapped[key] = typeof value === "function" ? value.bind(original) : value;
  }
  Object.assign(swapped, overrides(original));
  backend.binding = swapped as unknown as Binding;
  try {
    return fn();
  } finally {
    backend.binding = original;
  }
}
