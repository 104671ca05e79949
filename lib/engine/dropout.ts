/**
 * Inverted dropout whose mask is fixed by a seed: one pass of the project's `Cifar100Dropout` on
 * the tensorflow backend where tfjs makes five (docs/engines.md), else tfjs's formula on
 * {@linkcode uniformNoise}. The two engines' masks differ.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { nodeBackend, runOp } from "./node_backend.ts";
import { loadNativeOps } from "./native_ops.ts";
import { uniformNoise } from "./random.ts";

const DROPOUT_OP = "Cifar100Dropout";

/**
 * `x` with each value kept with probability 1 - `rate` and scaled by 1 / (1 - `rate`), else 0,
 * as Keras's training-time dropout; the same integer `seed` and shape give the same mask.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { initBackend, tf } from "./backend.ts";
 * await initBackend();
 * const y = dropout(tf.ones([1000]), 0.25, 7);
 * const values = Array.from(y.dataSync());
 * assert.ok(values.every((v) => v === 0 || Math.abs(v - 4 / 3) < 1e-6));
 * const kept = values.filter((v) => v > 0).length;
 * assert.ok(kept > 700 && kept < 800, `${kept} kept`);
 * assert.deepEqual(dropout(tf.ones([1000]), 0.25, 7).dataSync(), y.dataSync());
 * ```
 */
export function dropout(x: tf.Tensor, rate: number, seed: number): tf.Tensor {
  if (!(rate > 0 && rate < 1)) throw new Error(`dropout: rate must be in (0, 1), got ${rate}`);
  if (tf.getBackend() !== "tensorflow" || x.dtype !== "float32" || !loadNativeOps()) {
    return tf.tidy(() => {
      const keep = tf.greaterEqual(uniformNoise(x.shape, seed), rate);
      return tf.mul(x, tf.mul(tf.cast(keep, "float32"), 1 / (1 - rate)));
    });
  }
  const b = nodeBackend();
  const key = tf.tensor1d(dropoutKey(seed), "int32");
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args[1] as tf.GradSaveFunc;
    const attrs = [{ name: "rate", type: b.binding.TF_ATTR_FLOAT, value: rate }];
    const [y, mask] = b.executeMultipleOutputs(DROPOUT_OP, attrs, [args[0] as tf.Tensor, key], 2);
    save([mask]);
    // `save` kept its own reference.
    mask.dispose();
    return { value: y, gradFunc: (dy: tf.Tensor, [m]: tf.Tensor[]) => runOp(b, "Mul", [dy, m]) };
  });
  const y = op(x);
  key.dispose();
  return y;
}

/** The `Cifar100Dropout` op's seed input: the seed's two 32-bit halves, low first. */
export function dropoutKey(seed: number): Int32Array {
  return Int32Array.of(seed | 0, Math.floor(seed / 2 ** 32) | 0);
}
