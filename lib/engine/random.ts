/**
 * Seeded uniform noise: TensorFlow's `StatelessRandomUniform` on the tensorflow backend, where
 * tfjs draws every value in JavaScript (docs/performance.md); tfjs's generator elsewhere.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { nodeBackend } from "./node_backend.ts";

/**
 * Uniform values in [0, 1), float32, of `shape`, fixed by the integer `seed`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const a = uniformNoise([2, 3], 7), b = uniformNoise([2, 3], 7);
 * assert.deepEqual(a.dataSync(), b.dataSync());
 * assert.ok(a.dataSync().every((v) => v >= 0 && v < 1));
 * ```
 */
export function uniformNoise(shape: number[], seed: number): tf.Tensor {
  if (tf.getBackend() !== "tensorflow") return tf.randomUniform(shape, 0, 1, "float32", seed);
  const b = nodeBackend();
  const type = (name: string, value: number) => ({ name, type: b.binding.TF_ATTR_TYPE, value });
  return tf.tidy(() => {
    const dims = tf.tensor1d(shape, "int32");
    // Two 32-bit halves of the seed, as TensorFlow's stateless ops take it.
    const key = tf.tensor1d([seed | 0, Math.floor(seed / 2 ** 32) | 0], "int32");
    return b.executeSingleOutput("StatelessRandomUniform", [
      type("dtype", b.binding.TF_FLOAT),
      type("T", b.binding.TF_INT32),
      type("Tseed", b.binding.TF_INT32),
    ], [dims, key]);
  });
}
