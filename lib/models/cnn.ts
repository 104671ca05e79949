/**
 * The source notebook's convolutional network.
 * @module
 */
import { tf } from "../engine/backend.ts";
import { conv2d, dropout, glorot, LayerNames, SeedSequence } from "./layers.ts";

/**
 * Conv(32, 3x3, relu) -> MaxPool(2) -> Conv(64, 3x3, relu) -> MaxPool(2) -> Flatten
 * -> Dropout(0.5) -> Dense(classes, softmax), as in the source.
 *
 * @param options.seed fixes initial weights and dropout masks.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { initBackend } from "../engine/backend.ts";
 * await initBackend();
 * const model = buildCnn({ seed: 0 });
 * assert.equal(model.countParams(), 249_892);
 * ```
 */
export function buildCnn(
  options: { numClasses?: number; seed: number; inputSize?: number },
): tf.Sequential {
  const { numClasses = 100, seed, inputSize = 32 } = options;
  const seeds = new SeedSequence(seed);
  const names = new LayerNames();
  const conv = (filters: number, inputShape?: number[]) =>
    conv2d({
      filters,
      kernelSize: 3,
      activation: "relu",
      kernelInitializer: glorot(seeds),
      name: names.next("conv2d"),
      ...(inputShape ? { inputShape } : {}),
    });
  return tf.sequential({
    name: "cnn",
    layers: [
      conv(32, [inputSize, inputSize, 3]),
      tf.layers.maxPooling2d({ poolSize: 2, name: names.next("max_pooling2d") }),
      conv(64),
      tf.layers.maxPooling2d({ poolSize: 2, name: names.next("max_pooling2d") }),
      tf.layers.flatten({ name: names.next("flatten") }),
      dropout(0.5, seeds, names.next("dropout")),
      tf.layers.dense({
        units: numClasses,
        activation: "softmax",
        kernelInitializer: glorot(seeds),
        name: names.next("dense"),
      }),
    ],
  });
}
