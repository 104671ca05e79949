/**
 * Softmax cross-entropy from logits as TensorFlow's one `SoftmaxCrossEntropyWithLogits` kernel
 * (what Keras runs) on the `tensorflow` backend, where tfjs runs about 35 small ops a step; other
 * backends keep tfjs's.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { nodeBackend } from "./node_backend.ts";

/**
 * The batch mean of -sum(truth x log softmax(logits)): categorical cross-entropy from [N, C]
 * logits, stable for any magnitude, differentiable in `logits`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs";
 * const loss = softmaxCrossEntropy(tf.tensor2d([[0, 1], [1, 0]]), tf.tensor2d([[200, -200], [0, 0]]));
 * assert.ok(Math.abs(loss.dataSync()[0] - (400 + Math.LN2) / 2) < 1e-3);
 * ```
 */
export function softmaxCrossEntropy(truth: tf.Tensor, logits: tf.Tensor): tf.Scalar {
  if (tf.getBackend() !== "tensorflow" || logits.rank !== 2 || logits.dtype !== "float32") {
    return tf.losses.softmaxCrossEntropy(truth, logits) as tf.Scalar;
  }
  tf.util.assertShapesMatch(truth.shape, logits.shape, "softmaxCrossEntropy: ");
  // One-hot labels come as int32 (tf.oneHot); the op takes them in the logits' type.
  const target = truth.dtype === "float32" ? truth : tf.cast(truth, "float32");
  const b = nodeBackend();
  const attrs = [{ name: "T", type: b.binding.TF_ATTR_TYPE, value: b.binding.TF_FLOAT }];
  const count = logits.shape[0];
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const z = args[0] as tf.Tensor;
    const save = args[1] as tf.GradSaveFunc;
    const [losses, backprop] = b.executeMultipleOutputs(
      "SoftmaxCrossEntropyWithLogits",
      attrs,
      [z, target],
      2,
    );
    save([backprop]);
    return {
      value: tf.mean(losses) as tf.Scalar,
      // d(mean)/d(logits) = (softmax - truth) / N, which the op returned as `backprop` x N.
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(saved[0], tf.div(dy, count)),
    };
  });
  const loss = op(logits) as tf.Scalar;
  if (target !== truth) target.dispose();
  return loss;
}
