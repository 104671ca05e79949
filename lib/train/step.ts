/**
 * One gradient computation, shared by the training loop (lib/train/fit.ts) and the gradient
 * workers (lib/train/parallel_worker.ts), so both compute exactly the same thing.
 *
 * @module
 */
import { tf } from "../engine/backend.ts";
import { logitsOf } from "../models/logits.ts";
import type { LossName } from "./hyp.ts";
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
interface GradientRequest {
  x: tf.Tensor;
  labels: tf.Tensor1D;
  numClasses: number;
  loss: LossName;
  /**
   * Scales the loss whose gradient is taken: a part's share of a split batch, so that the
   * parts' gradients sum to the whole batch's. Default 1.
   */
  weight?: number;
  /** Spreads this much of each target's mass over all classes (lib/train/loss.ts); default 0. */
  labelSmoothing?: number;
  /**
   * L2 weight decay: `rate` x the weight is added to the gradient of each variable named in
   * `names` (conv and dense kernels; not biases or batch-norm parameters), as PyTorch's SGD
   * `weight_decay` does, i.e. the gradient of rate/2 |w|^2. Scaled by `weight` like the loss,
   * so the parts of a split batch still sum to the whole batch's gradient.
   */
  weightDecay?: { rate: number; names: string[] };
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
