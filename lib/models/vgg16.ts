/**
 * VGG16's base as Keras Applications builds it (`VGG16(include_top=False)`), with Keras's layer
 * names so ImageNet weights load by name. Unlike the source notebook, inputs go through Keras's
 * `preprocess_input` ({@linkcode preprocessCaffe}); the source fed raw RGB.
 *
 * @module
 */
import { tf } from "../engine/backend.ts";
import { UserError } from "../util/user_error.ts";
import type { RemoteFile } from "../util/cache.ts";
import { glorot, SeedSequence } from "./layers.ts";

/** The Keras Applications ImageNet weights for the VGG16 base (no top), 58.9 MB. */
export const VGG16_WEIGHTS: RemoteFile = {
  url: "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/" +
    "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
  // The hash Keras checks (file_hash in keras/applications/vgg16.py).
  md5: "6d6bbae143d832006294945121d1f1fc",
  fileName: "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
  what: "VGG16 ImageNet weights (Keras, no top)",
};

/** ImageNet channel means in BGR order, subtracted by Keras's "caffe" preprocessing. */
export const IMAGENET_MEAN_BGR = [103.939, 116.779, 123.68];

/** Output channels of the base: the length of a pooled feature vector. */
export const VGG16_FEATURE_DIM = 512;

/** Smallest input side Keras accepts for the base without its top (five 2x2 poolings). */
const VGG16_MIN_INPUT_SIZE = 32;

/** Convolutions per block and their filters, as in Keras. */
const BLOCKS: ReadonlyArray<{ convs: number; filters: number }> = [
  { convs: 2, filters: 64 },
  { convs: 2, filters: 128 },
  { convs: 3, filters: 256 },
  { convs: 3, filters: 512 },
  { convs: 3, filters: 512 },
];

/** Names of the base's weighted layers in order: `block1_conv1` ... `block5_conv3`. */
export const VGG16_CONV_LAYERS: readonly string[] = BLOCKS.flatMap(({ convs }, b) =>
  Array.from({ length: convs }, (_, c) => `block${b + 1}_conv${c + 1}`)
);

/**
 * Keras's `vgg16.preprocess_input` ("caffe" mode): RGB 0..255 to BGR less the ImageNet means.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { initBackend, tf } from "../engine/backend.ts";
 * await initBackend();
 * const bgr = preprocessCaffe(tf.tensor4d([255, 0, 0], [1, 1, 1, 3])).dataSync();
 * [-103.939, -116.779, 131.32].forEach((v, i) => assert.ok(Math.abs(bgr[i] - v) < 1e-3));
 * ```
 */
export function preprocessCaffe(images: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const bgr = tf.reverse(tf.cast(images, "float32"), -1);
    return tf.sub(bgr, tf.tensor1d(IMAGENET_MEAN_BGR)) as tf.Tensor4D;
  });
}

/**
 * Images resized bilinearly to a model's input side with half-pixel centres (as TF2's
 * `tf.image.resize`); `pixels` itself when they have that side already.
 */
export function toInputSize(pixels: tf.Tensor4D, inputSize: number): tf.Tensor4D {
  return inputSize === pixels.shape[1]
    ? pixels
    : tf.image.resizeBilinear(pixels, [inputSize, inputSize], false, true);
}

/** What VGG16 is fed: pixels 0..255 resized to `inputSize`, then preprocessed. */
export function vgg16Input(pixels: tf.Tensor4D, inputSize: number): tf.Tensor4D {
  return tf.tidy(() => preprocessCaffe(toInputSize(pixels, inputSize)));
}

/**
 * The VGG16 base, `VGG16(include_top=False, input_shape=(s, s, 3))`, with random weights until
 * `loadVgg16Weights` fills them; it expects {@linkcode preprocessCaffe}'s input.
 */
export function buildVgg16Base(inputSize: number, seed: number): tf.LayersModel {
  if (!Number.isInteger(inputSize) || inputSize < VGG16_MIN_INPUT_SIZE) {
    throw new UserError(
      `VGG16 input size ${inputSize} is too small: use an integer of at least ` +
        `${VGG16_MIN_INPUT_SIZE} (--input-size), e.g. 32, 64 or 96`,
    );
  }
  const input = tf.input({ shape: [inputSize, inputSize, 3], name: "input_1" });
  // Seeded so that `--weights none` runs are reproducible.
  const seeds = new SeedSequence(seed);
  let x: tf.SymbolicTensor = input;
  BLOCKS.forEach(({ convs, filters }, b) => {
    for (let c = 1; c <= convs; c++) {
      x = tf.layers.conv2d({
        filters,
        kernelSize: 3,
        padding: "same",
        activation: "relu",
        kernelInitializer: glorot(seeds),
        name: `block${b + 1}_conv${c}`,
      }).apply(x) as tf.SymbolicTensor;
    }
    x = tf.layers.maxPooling2d({ poolSize: 2, strides: 2, name: `block${b + 1}_pool` })
      .apply(x) as tf.SymbolicTensor;
  });
  return tf.model({ inputs: input, outputs: x, name: "vgg16" });
}

/**
 * Freeze the whole base (`false`) or unfreeze only block5 for fine-tuning (`true`); recompile
 * any model containing the base afterwards.
 */
export function setFineTunable(base: tf.LayersModel, trainable: boolean): void {
  base.trainable = trainable;
  for (const layer of base.layers) {
    layer.trainable = trainable && layer.name.startsWith("block5_");
  }
}
