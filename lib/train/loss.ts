/**
 * Losses, computed from logits: a softmax then a clipped log saturates (the true class's
 * probability underflows to the clip and the gradient is zero), so categorical cross-entropy
 * uses log-softmax, as Keras does. The source's binary cross-entropy is kept as it had it.
 *
 * @module
 */
import { tf } from "../engine/backend.ts";
import { softmaxCrossEntropy } from "../engine/softmax_cross_entropy.ts";
import type { LossName } from "./hyp.ts";

/**
 * The batch-mean loss of `logits` against one-hot `truth`.
 *
 * @param labelSmoothing spreads this much of each target's mass over all classes (categorical)
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { initBackend, tf } from "../engine/backend.ts";
 * await initBackend();
 * const logits = tf.tensor2d([[200, -200], [0, 0]]);
 * const loss = lossFromLogits("categorical_crossentropy", tf.oneHot([1, 0], 2), logits);
 * assert.ok(Math.abs(loss.dataSync()[0] - (400 + Math.LN2) / 2) < 1e-3);
 * ```
 */
export function lossFromLogits(
  name: LossName,
  truth: tf.Tensor,
  logits: tf.Tensor,
  labelSmoothing = 0,
): tf.Scalar {
  return tf.tidy(() => {
    if (name === "binary_crossentropy") {
      return tf.metrics.binaryCrossentropy(truth, tf.softmax(logits)).mean() as tf.Scalar;
    }
    // Smoothed as tfjs's and Keras's: truth x (1 - s) + s / classes.
    const target = labelSmoothing > 0
      ? truth.mul(1 - labelSmoothing).add(labelSmoothing / truth.shape[truth.rank - 1])
      : truth;
    return softmaxCrossEntropy(target, logits);
  });
}
