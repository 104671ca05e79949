/**
 * ResNet-9, the network of fast CIFAR training recipes (David Page, "How to train your ResNet",
 * 2018): prep conv(w) -> conv(2w), pool, residual -> conv(4w), pool -> conv(8w), pool, residual
 * -> head -> x logit scale -> dense softmax; every conv 3x3, no bias, then batch norm and ReLU.
 * Its settings have no defaults here: their values and reasons are `HYP.resnet9`.
 *
 * @module
 */
import { tf } from "../engine/backend.ts";
import { batchNormalization, LayerNames, SeedSequence } from "./layers.ts";

/** Options for {@linkcode buildResnet9}: HYP.resnet9's settings, and the seed. */
interface Resnet9Options {
  numClasses?: number;
  inputSize?: number;
  /** Filters of the first conv; the stages have 2, 4 and 8 times as many. */
  width: number;
  seed: number;
  batchNorm: { momentum: number; epsilon: number };
  /** Multiplies the pooled features, hence the logits less the bias (Page: 0.125). */
  logitScale: number;
  /** The last map to features: Page's global max pool, or flattened as the source's CNN. */
  head: "max" | "flatten";
  /** `tfjs`: tfjs's own batch-norm layer, to measure what the fused one saves. */
  batchNormKernel?: "fused" | "tfjs";
}

/**
 * Build ResNet-9 (see the module doc).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { initBackend } from "../engine/backend.ts";
 * await initBackend();
 * const options = { seed: 0, batchNorm: { momentum: 0.9, epsilon: 1e-5 }, logitScale: 0.125 };
 * const model = buildResnet9({ ...options, width: 4, head: "max", numClasses: 10 });
 * assert.deepEqual(model.outputs[0].shape, [null, 10]);
 * model.dispose();
 * ```
 */
export function buildResnet9(options: Resnet9Options): tf.LayersModel {
  const { numClasses = 100, inputSize = 32, width, seed, logitScale, batchNorm: norm } = options;
  const seeds = new SeedSequence(seed);
  const names = new LayerNames();
  /** conv 3x3 same, no bias -> batch norm -> relu. */
  const block = (x: tf.SymbolicTensor, filters: number) => {
    const conv = tf.layers.conv2d({
      filters,
      kernelSize: 3,
      padding: "same",
      useBias: false,
      // He initialisation, for ReLU networks.
      kernelInitializer: tf.initializers.heNormal({ seed: seeds.next() }),
      name: names.next("conv2d"),
    }).apply(x) as tf.SymbolicTensor;
    const args = { ...norm, name: names.next("batch_normalization") };
    const layer = options.batchNormKernel === "tfjs"
      ? tf.layers.batchNormalization(args)
      : batchNormalization(args);
    const normed = layer.apply(conv) as tf.SymbolicTensor;
    return tf.layers.activation({ activation: "relu", name: names.next("re_lu") })
      .apply(normed) as tf.SymbolicTensor;
  };
  const pool = (x: tf.SymbolicTensor) =>
    tf.layers.maxPooling2d({ poolSize: 2, name: names.next("max_pooling2d") })
      .apply(x) as tf.SymbolicTensor;
  const residual = (x: tf.SymbolicTensor, filters: number) =>
    tf.layers.add({ name: names.next("add") })
      .apply([x, block(block(x, filters), filters)]) as tf.SymbolicTensor;

  const input = tf.input({ shape: [inputSize, inputSize, 3], name: "image" });
  let x = block(input, width);
  x = residual(pool(block(x, 2 * width)), 2 * width);
  x = pool(block(x, 4 * width));
  x = residual(pool(block(x, 8 * width)), 8 * width);
  x =
    (options.head === "flatten"
      ? tf.layers.flatten({ name: names.next("flatten") })
      : tf.layers.globalMaxPooling2d({ name: names.next("global_max_pooling2d") }))
      .apply(x) as tf.SymbolicTensor;
  x = tf.layers.rescaling({ scale: logitScale, name: names.next("rescaling") })
    .apply(x) as tf.SymbolicTensor;
  const output = tf.layers.dense({
    units: numClasses,
    activation: "softmax",
    kernelInitializer: tf.initializers.glorotUniform({ seed: seeds.next() }),
    name: names.next("dense"),
  }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: output, name: "resnet9" });
}

/** The weights weight decay applies to: conv and dense kernels (as airbench). */
export function decayedWeights(model: tf.LayersModel): string[] {
  return model.layers
    .filter((layer) => ["Conv2D", "Dense"].includes(layer.getClassName()))
    .flatMap((layer) => layer.trainableWeights.filter((w) => /kernel$/.test(w.originalName)))
    .map((w) => w.name);
}
