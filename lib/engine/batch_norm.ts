/**
 * Batch normalisation in training mode as TensorFlow's one fused kernel each way
 * (`FusedBatchNormV3` and its gradient, joined by `tf.customGrad`, as Keras runs on CPU) on the
 * `tensorflow` backend, where tfjs differentiates about a dozen ops; other backends keep tfjs's.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { nodeBackend } from "./node_backend.ts";

/** What {@linkcode batchNormTraining} returns. */
interface BatchNormResult {
  y: tf.Tensor;
  /** The batch's mean per channel, kept: the caller disposes it. */
  mean: tf.Tensor1D;
  /** The batch's biased variance per channel (as tfjs's `moments`), kept likewise. */
  variance: tf.Tensor1D;
}

/**
 * Normalise `x` over every axis but the last with the batch's statistics, scale and shift, as
 * Keras's BatchNormalization in training; `relu` folds in a ReLU (`ReluGrad` is one pass).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs";
 * const x = tf.tensor2d([[1, 10], [3, 30]]);
 * const { y, mean, variance } = batchNormTraining(x, tf.ones([2]), tf.zeros([2]), 0);
 * assert.deepEqual(Array.from(y.dataSync()).map(Math.round), [-1, -1, 1, 1]);
 * assert.deepEqual(Array.from(mean.dataSync()), [2, 20]);
 * assert.deepEqual(Array.from(variance.dataSync()), [1, 100]);
 * tf.dispose([mean, variance]);
 * ```
 */
export function batchNormTraining(
  x: tf.Tensor,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  epsilon: number,
  relu = false,
): BatchNormResult {
  if (tf.getBackend() === "tensorflow" && x.dtype === "float32" && x.rank >= 2 && x.rank <= 4) {
    return fused(x, gamma, beta, epsilon, relu);
  }
  let mean: tf.Tensor1D | undefined, variance: tf.Tensor1D | undefined;
  const y = tf.tidy(() => {
    const axes = Array.from({ length: x.rank - 1 }, (_, i) => i);
    const moments = tf.moments(x, axes);
    mean = tf.keep(moments.mean as tf.Tensor1D);
    variance = tf.keep(moments.variance as tf.Tensor1D);
    const normed = tf.batchNorm(x, mean, variance, beta, gamma, epsilon);
    return relu ? tf.relu(normed) : normed;
  });
  return { y, mean: mean!, variance: variance! };
}

function fused(
  x: tf.Tensor,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  epsilon: number,
  relu: boolean,
): BatchNormResult {
  const b = nodeBackend();
  const { binding } = b;
  const attrs = [
    { name: "T", type: binding.TF_ATTR_TYPE, value: binding.TF_FLOAT },
    { name: "U", type: binding.TF_ATTR_TYPE, value: binding.TF_FLOAT },
    { name: "epsilon", type: binding.TF_ATTR_FLOAT, value: epsilon },
    { name: "data_format", type: binding.TF_ATTR_STRING, value: "NHWC" },
    { name: "is_training", type: binding.TF_ATTR_BOOL, value: true },
  ];
  // The fused ops take 4-D NHWC and reduce over N, H and W: [N, C] is the same as [1, 1, N, C].
  const shape4: number[] = [...new Array<number>(4 - x.rank).fill(1), ...x.shape];
  let mean: tf.Tensor1D | undefined, variance: tf.Tensor1D | undefined;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input, scale, offset] = args as tf.Tensor[];
    const save = args[3] as tf.GradSaveFunc;
    const x4 = input.reshape(shape4);
    const empty = tf.tensor1d([], "float32");
    // Outputs: y, batch mean, batch variance (Bessel-corrected), then the reserve spaces the
    // gradient op takes: 1 the mean, 2 the biased variance, 3 backend scratch.
    const outputs = b.executeMultipleOutputs(
      "FusedBatchNormV3",
      [
        ...attrs,
        { name: "exponential_avg_factor", type: binding.TF_ATTR_FLOAT, value: 1 },
      ],
      [x4, scale, offset, empty, empty],
      6,
    );
    const [normed, batchMean, batchVariance, r1, r2, r3] = outputs;
    let y = normed;
    if (relu) {
      y = b.executeSingleOutput("Relu", [attrs[0]], [normed]);
      normed.dispose();
    }
    mean = tf.keep(r1.clone() as tf.Tensor1D);
    variance = tf.keep(r2.clone() as tf.Tensor1D);
    save([x4, scale, r1, r2, r3, y]);
    tf.dispose([empty, batchMean, batchVariance]);
    return {
      value: y.reshape(input.shape),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [x4, scale, r1, r2, r3, y] = saved;
        let dy4 = dy.reshape(shape4);
        if (relu) dy4 = b.executeSingleOutput("ReluGrad", [attrs[0]], [dy4, y]);
        const [dx, dscale, doffset, r4, r5] = b.executeMultipleOutputs(
          "FusedBatchNormGradV3",
          attrs,
          [dy4, x4, scale, r1, r2, r3],
          5,
        );
        tf.dispose([r4, r5]);
        return [dx.reshape(dy.shape), dscale, doffset];
      },
    };
  });
  const y = op(x, gamma, beta);
  return { y, mean: mean!, variance: variance! };
}
