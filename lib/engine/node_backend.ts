/**
 * The part of tfjs-node's `NodeJSKernelBackend` that the project's tensorflow-backend code uses:
 * running a TensorFlow op by name on tensor handles (`lib/engine/tensorflow_kernels.ts`,
 * `tensorflow_optimizers.ts`, `batch_norm.ts`, `softmax_cross_entropy.ts`, `random.ts`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/** An op attribute as tfjs-node's binding takes it; `type` is one of `binding.TF_ATTR_*`. */
export interface OpAttr {
  name: string;
  type: number;
  value: number | number[] | boolean | string;
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
