/**
 * Optimizers from the specs in `HYP` (lib/train/config.ts): TensorFlow's fused update ops on
 * the tensorflow backend (lib/engine/tensorflow_optimizers.ts), tfjs's optimizers elsewhere.
 * @module
 */
import { tf } from "../engine/backend.ts";
import { FusedAdam, FusedRmsprop } from "../engine/tensorflow_optimizers.ts";
import type { OptimizerSpec } from "./config.ts";

/** A fresh optimizer for `spec` on the active backend (dispose it after training). */
export function makeOptimizer(spec: OptimizerSpec): tf.Optimizer {
  if (tf.getBackend() === "tensorflow") {
    return spec.name === "adam" ? new FusedAdam(spec) : new FusedRmsprop(spec);
  }
  return spec.name === "adam"
    ? tf.train.adam(spec.learningRate, spec.beta1, spec.beta2, spec.epsilon)
    : tf.train.rmsprop(spec.learningRate, spec.rho, spec.momentum, spec.epsilon);
}
