/**
 * Optimizers from the specs in `HYP` (lib/train/hyp.ts): TensorFlow's fused update ops on
 * the tensorflow backend (lib/engine/tensorflow_optimizers.ts), tfjs's optimizers elsewhere.
 * SGD's learning rate can be changed between steps (`setLearningRate`, a schedule) on both.
 * @module
 */
import { tf } from "../engine/backend.ts";
import { FusedAdam, FusedMomentum, FusedRmsprop } from "../engine/tensorflow_optimizers.ts";
import type { OptimizerSpec } from "./hyp.ts";

/** A fresh optimizer for `spec` on the active backend (dispose it after training). */
export function makeOptimizer(spec: OptimizerSpec): tf.Optimizer {
  const fused = tf.getBackend() === "tensorflow";
  switch (spec.name) {
    case "adam":
      return fused
        ? new FusedAdam(spec)
        : tf.train.adam(spec.learningRate, spec.beta1, spec.beta2, spec.epsilon);
    case "rmsprop":
      return fused
        ? new FusedRmsprop(spec)
        : tf.train.rmsprop(spec.learningRate, spec.rho, spec.momentum, spec.epsilon);
    case "sgd":
      return fused
        ? new FusedMomentum(spec)
        : tf.train.momentum(spec.learningRate, spec.momentum, spec.nesterov);
  }
}
