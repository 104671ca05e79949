/**
 * The source notebook's multilayer perceptron ("Sequential model").
 * @module
 */
import { tf } from "../engine/backend.ts";
import { dropout, glorot, LayerNames, SeedSequence } from "./layers.ts";

/**
 * Flatten -> Dense(512, relu) -> Dropout(0.2) -> Dense(512, relu) -> Dropout(0.2)
 * -> Dense(classes, softmax), as in the source.
 *
 * @param options.seed fixes initial weights and dropout masks.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { initBackend } from "../engine/backend.ts";
 * await initBackend();
 * const model = buildMlp({ seed: 0 });
 * assert.equal(model.countParams(), 1_887_332);
 * ```
 */
export function buildMlp(
  options: { numClasses?: number; seed: number; inputSize?: number },
): tf.Sequential {
  const { numClasses = 100, seed, inputSize = 32 } = options;
  const seeds = new SeedSequence(seed);
  const names = new LayerNames();
  const dense = (units: number, activation: "relu" | "softmax") =>
    tf.layers.dense({
      units,
      activation,
      kernelInitializer: glorot(seeds),
      name: names.next("dense"),
    });
  return tf.sequential({
    name: "mlp",
    layers: [
      tf.layers.flatten({ inputShape: [inputSize, inputSize, 3], name: names.next("flatten") }),
      dense(512, "relu"),
      dropout(0.2, seeds, names.next("dropout")),
      dense(512, "relu"),
      dropout(0.2, seeds, names.next("dropout")),
      dense(numClasses, "softmax"),
    ],
  });
}
