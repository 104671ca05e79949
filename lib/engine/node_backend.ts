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

/** tfjs-node's backend as the replays use it: tensors' binding ids, and tensors from handles. */
export interface HandleBackend {
  binding: Binding;
  getInputTensorIds(tensors: tf.Tensor[]): number[];
  createOutputTensor(handle: Handle): tf.Tensor;
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

/** A call of the binding's `executeOp`, as {@linkcode recordBinding} saw it. */
export interface RecordedOp {
  name: string;
  attrs: OpAttr[];
  inputs: number[];
  outputs: number;
  /** Its output handles. */
  made: Handle[];
}

/** A tensor the binding made from JavaScript values, with a copy of them. */
export interface CreatedTensor {
  id: number;
  shape: number[];
  dtype: number;
  values: Int32Array | Float32Array;
}

/**
 * Runs `fn` and records what it asked of the binding: the ops it ran, the tensors it made from
 * values, and the ids it read back, in order. How the replays learn a step or a forward pass.
 */
export function recordBinding<T>(fn: () => T) {
  const ops: RecordedOp[] = [];
  const created: CreatedTensor[] = [];
  const reads: number[] = [];
  const result = withBinding((original) => ({
    executeOp(name, attrs, inputs, outputs) {
      const made = original.executeOp(name, attrs, inputs, outputs);
      ops.push({ name, attrs: attrs as OpAttr[], inputs: [...inputs], outputs, made });
      return made;
    },
    createTensor(shape, dtype, values) {
      const id = original.createTensor(shape, dtype, values);
      const copy = (values as Float32Array).slice();
      created.push({ id, shape: [...shape], dtype, values: copy });
      return id;
    },
    tensorDataSync(id) {
      reads.push(id);
      return original.tensorDataSync(id);
    },
  }), fn);
  return { result, ops, created, reads };
}
