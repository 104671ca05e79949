/**
 * One gradient computation, shared by the training loop (lib/train/fit.ts) and the gradient
 * workers (lib/train/parallel_worker.ts), so both compute exactly the same thing.
 *
 * @module
 */
import { tf } from "../engine/backend.ts";
import { logitsOf } from "../models/layers.ts";
import type { LossName } from "./config.ts";
import { lossFromLogits } from "./loss.ts";

/** What {@linkcode gradients} returns; the caller disposes `grads`. */
export interface Gradients {
  /** Gradient per variable name, of `weight` x the batch-mean loss. */
  grads: tf.NamedTensorMap;
  /** The unweighted batch-mean loss. */
  loss: number;
  /** Examples whose top-1 prediction is the label. */
  correct: number;
}

/** Inputs of {@linkcode gradients}. */
export interface GradientRequest {
  x: tf.Tensor;
  labels: tf.Tensor1D;
  numClasses: number;
  loss: LossName;
  /**
   * Scales the loss whose gradient is taken: a part's share of a split batch, so that the
   * parts' gradients sum to the whole batch's. Default 1.
   */
  weight?: number;
  labelSmoothing?: number;
}

/**
 * Gradients of the (weighted) mean loss of `model` on one batch, in training mode (dropout on),
 * with respect to `variables`. Leaves no tensors behind but the returned gradients.
 */
export function gradients(
  model: tf.LayersModel,
  variables: tf.Variable[],
  request: GradientRequest,
): Gradients {
  const { x, labels, numClasses, weight = 1 } = request;
  let hits: tf.Scalar | undefined;
  const { value, grads } = tf.tidy(() => {
    const truth = tf.oneHot(labels, numClasses);
    return tf.variableGrads(() => {
      const logits = logitsOf(model, x, true);
      hits = tf.keep(logits.argMax(-1).equal(labels).sum());
      const mean = lossFromLogits(request.loss, truth, logits, request.labelSmoothing);
      return weight === 1 ? mean : mean.mul(weight);
    }, variables);
  });
  const result = { grads, loss: value.dataSync()[0] / weight, correct: hits!.dataSync()[0] };
  tf.dispose([value, hits!]);
  return result;
}
