/**
 * Optimizers from the specs in `HYP`: TensorFlow's fused update ops on the tensorflow backend,
 * tfjs's elsewhere. Each, restored from its `getWeights`, goes on bit for bit.
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
        : new RestorableAdam(spec.learningRate, spec.beta1, spec.beta2, spec.epsilon);
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

/** tfjs's Adam's private powers of beta1 and beta2. */
interface AdamPowers {
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
}

/**
 * tfjs's Adam, whose `setWeights` restores the powers of beta1 and beta2 as an uninterrupted run
 * holds them: tfjs's keeps beta^(t+1) as a running float32 product but restores it as
 * pow(beta, t + 1), which can differ in the last bit, so a resumed run would drift.
 */
class RestorableAdam extends tf.AdamOptimizer {
  override async setWeights(
    weightValues: Parameters<tf.AdamOptimizer["setWeights"]>[0],
  ): Promise<void> {
    await super.setWeights(weightValues);
    const powers = this as unknown as AdamPowers;
    tf.tidy(() => {
      powers.accBeta1.assign(tf.scalar(float32Power(this.beta1, this.iterations + 1)));
      powers.accBeta2.assign(tf.scalar(float32Power(this.beta2, this.iterations + 1)));
    });
  }
}

/** base^exponent as repeated float32 multiplication gives it, each product rounded once. */
function float32Power(base: number, exponent: number): number {
  const b = Math.fround(base);
  let power = b;
  for (let i = 1; i < exponent; i++) power = Math.fround(power * b);
  return power;
}
