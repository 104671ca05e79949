/**
 * tfjs optimizers from the specs in `HYP` (lib/train/config.ts).
 * @module
 */
import { tf } from "../engine/backend.ts";
import type { OptimizerSpec } from "./config.ts";

/** A fresh tfjs optimizer for `spec` (dispose it after training). */
export function makeOptimizer(spec: OptimizerSpec): tf.Optimizer {
  return spec.name === "adam"
    ? tf.train.adam(spec.learningRate, spec.beta1, spec.beta2, spec.epsilon)
    : tf.train.rmsprop(spec.learningRate, spec.rho, spec.momentum, spec.epsilon);
}
