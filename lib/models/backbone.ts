/**
 * The pretrained bases a transfer-learning run can stand on (VGG16, MobileNetV2) behind one
 * face, so training, `deno task predict` and the web page never ask which one a run used. Plain
 * tfjs, no files: the web page bundles it.
 *
 * @module
 */
import { tf } from "../engine/backend.ts";
import {
  buildMobileNetV2Base,
  foldMobileNetV2,
  MOBILENET_V2_LAST_CONV_LAYER,
  mobilenetV2FeatureDim,
  mobilenetV2Input,
  setMobileNetV2FineTunable,
} from "./mobilenet_v2.ts";
import {
  buildVgg16Base,
  setFineTunable,
  VGG16_CONV_LAYERS,
  VGG16_FEATURE_DIM,
  vgg16Input,
} from "./vgg16.ts";
import { glorot, SeedSequence } from "./layers.ts";

/** The bases, by the name `--model` gives them (lib/train/hyp.ts lists them as models). */
export type BackboneName = "vgg16" | "mobilenetv2";

/** Which base, at which input side and (MobileNetV2) width: what its weights file depends on. */
export interface BackboneChoice {
  readonly name: BackboneName;
  readonly inputSize: number;
  /** MobileNetV2's width multiplier; 1 for VGG16, which has none. */
  readonly alpha: number;
}

/** What a base does, whichever it is. */
interface Backbone {
  /** The base with seeded random weights, unpooled. */
  build(choice: BackboneChoice, seed: number): tf.LayersModel;
  /** What feature extraction runs for a frozen `base`: itself, or a folded twin to dispose. */
  featureModel(base: tf.LayersModel, choice: BackboneChoice): tf.LayersModel;
  featureDim(choice: BackboneChoice): number;
  /** Pixels 0..255 resized to the input side and preprocessed as Keras's `preprocess_input`. */
  input(pixels: tf.Tensor4D, inputSize: number): tf.Tensor4D;
  setFineTunable(base: tf.LayersModel, trainable: boolean): void;
  /** The part of the base fine-tuning trains, for logs and run records. */
  fineTuned: string;
  /** The layer Grad-CAM explains. */
  lastConvLayer: string;
}

const BASES: Record<BackboneName, Backbone> = {
  vgg16: {
    build: ({ inputSize }, seed) => buildVgg16Base(inputSize, seed),
    featureModel: (base) => base,
    featureDim: () => VGG16_FEATURE_DIM,
    input: vgg16Input,
    setFineTunable,
    fineTuned: "block5",
    lastConvLayer: "block5_conv3",
  },
  mobilenetv2: {
    build: ({ inputSize, alpha }, seed) => buildMobileNetV2Base({ alpha, inputSize, seed }),
    featureModel: (base, { alpha, inputSize }) => foldMobileNetV2(base, { alpha, inputSize }),
    featureDim: ({ alpha }) => mobilenetV2FeatureDim(alpha),
    input: mobilenetV2Input,
    setFineTunable: setMobileNetV2FineTunable,
    fineTuned: "blocks 13 to 16 and Conv_1",
    lastConvLayer: MOBILENET_V2_LAST_CONV_LAYER,
  },
};

/**
 * The backbone named `name`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(backbone("mobilenetv2").lastConvLayer, "out_relu");
 * assert.equal(backbone("vgg16").featureDim({ name: "vgg16", inputSize: 32, alpha: 1 }), 512);
 * ```
 */
export function backbone(name: BackboneName): Backbone {
  return BASES[name];
}

/**
 * The classification head on a base's pooled features: `Dense(numClasses)` as in the source but
 * ending in softmax, so `predict` gives probabilities (training uses its logits).
 *
 * @param seed the run's seed; its draws follow VGG16's 13 convolutions' so one seed fixes the
 *   whole classifier. Without it, tfjs's unseeded Glorot uniform.
 */
export function buildHead(numClasses: number, featureDim: number, seed?: number): tf.Sequential {
  let kernelInitializer;
  if (seed !== undefined) {
    const seeds = new SeedSequence(seed);
    VGG16_CONV_LAYERS.forEach(() => seeds.next());
    kernelInitializer = glorot(seeds);
  }
  const head = tf.sequential({ name: "head" });
  head.add(tf.layers.dense({
    inputShape: [featureDim],
    units: numClasses,
    activation: "softmax",
    kernelInitializer,
    name: "predictions",
  }));
  return head;
}

/**
 * The whole classifier (base, global average pooling, head), for the summary and fine-tuning.
 * The base and head are shared, not copied; compile again after `setFineTunable`.
 */
export function buildClassifier(
  name: BackboneName,
  base: tf.LayersModel,
  head: tf.LayersModel,
): tf.LayersModel {
  const [, height, width, channels] = base.inputs[0].shape;
  const input = tf.input({ shape: [height!, width!, channels!], name: "image" });
  const features = base.apply(input) as tf.SymbolicTensor;
  const pooled = tf.layers.globalAveragePooling2d({ name: "global_average_pooling2d" })
    .apply(features) as tf.SymbolicTensor;
  const output = head.apply(pooled) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: output, name: `${name}_classifier` });
}
