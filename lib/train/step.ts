/**
 * One gradient computation, shared by the training loop and the gradient workers so both
 * compute exactly the same thing.
 *
 * @module
 */
import { tf } from "../engine/backend.ts";
import { logitsOf } from "../models/logits.ts";
import type { LossName } from "./hyp.ts";
import { lossFromLogits } from "./loss.ts";

/** What {@linkcode gradients} returns; the caller disposes `grads`. */
export interface Gradients {
  /** Gradients of `weight` x the batch-mean loss, by variable name. */
  grads: tf.NamedTensorMap;
  /** The unweighted batch-mean loss. */
  loss: number;
  correct: number;
}

export interface GradientRequest {
  x: tf.Tensor;
  labels: tf.Tensor1D;
  numClasses: number;
  loss: LossName;
  /** A part's share of a split batch, so the parts' gradients sum to the whole batch's. */
  weight?: number;
  labelSmoothing?: number;
  /**
   * `rate` x the weight added to the gradient of each named variable, as PyTorch's SGD
   * `weight_decay`; scaled by `weight` like the loss.
   */
  weightDecay?: { rate: number; names: string[] };
}

/** Gradients of the (weighted) mean loss of `model` on one batch, in training mode. */
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
  const decay = request.weightDecay;
  if (decay && decay.rate > 0) {
    const byName = new Map(variables.map((v) => [v.name, v]));
    for (const name of decay.names) {
      const variable = byName.get(name), grad = grads[name];
      if (!variable || !grad) throw new Error(`weight decay: no trainable variable '${name}'`);
      grads[name] = tf.tidy(() => grad.add(variable.mul(decay.rate * weight)));
      grad.dispose();
    }
  }
  const result = { grads, loss: value.dataSync()[0] / weight, correct: hits!.dataSync()[0] };
  tf.dispose([value, hits!]);
  return result;
}
