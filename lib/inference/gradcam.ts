/**
 * Where a model looks: Grad-CAM (Selvaraju et al. 2017) for the convolutional models and a
 * gradient saliency map for the MLP (no spatial layers), on images at the run's side, each map
 * scaled so its largest value is 1.
 *
 * @module
 */
import { tf } from "../engine/backend.ts";
import { backbone } from "../models/backbone.ts";
import { logitsOf } from "../models/logits.ts";
import { isBackbone, type ModelName } from "../train/hyp.ts";
import {
  type Classifier,
  eachBatch,
  imageCount,
  imageSideOf,
  probabilitiesOf,
} from "./classify.ts";
import { cutAt, lastLayerOf, tailLogits } from "./model_parts.ts";

/** Heatmaps for a batch of images, for each image's top class and its probability. */
export interface Explanation {
  method: "grad-cam" | "saliency";
  /** The layer whose activations Grad-CAM weighs, or `input` for saliency. */
  layer: string;
  /** N maps of `side` x `side` values in [0, 1], row by row. */
  maps: Float32Array;
  side: number;
  classes: number[];
  probabilities: number[];
}

/** The layer Grad-CAM explains, by model: the last block with a spatial map. */
function camLayer(model: tf.LayersModel, name: ModelName): string {
  // A backbone names its own (MobileNetV2's last convolution is followed by batch norm and
  // ReLU6); ResNet-9's is followed by batch norm, ReLU and the residual addition.
  if (isBackbone(name)) return backbone(name).lastConvLayer;
  return lastLayerOf(model, name === "resnet9" ? "Add" : "Conv2D").name;
}

/** Images per gradient pass: bounds the memory of the activations kept for the gradient. */
const BATCH = 32;

/**
 * Grad-CAM maps for `[N, side, side, 3]` images at the run's side: the positive part of the
 * layer's channels weighted by the top class logit's gradient averaged over positions.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { syntheticCifar100 } from "../data/synthetic.ts";
 * import { runExperiment } from "../train/experiment.ts";
 * import { loadClassifier } from "./predict.ts";
 * const out = await Deno.makeTempDir();
 * await runExperiment(
 *   { model: "cnn", data: "synthetic", epochs: 1, limitTrain: 256, limitTest: 64, out },
 *   { log: () => {}, summary: false },
 * );
 * const classifier = await loadClassifier(`${out}/cnn`);
 * const data = syntheticCifar100({ trainCount: 0, testCount: 2 });
 * const cam = gradCam(classifier, data.test.images);
 * assert.equal(cam.maps.length, 2 * 32 * 32);
 * assert.equal(cam.layer, "conv2d_1"); // the CNN's last (second) convolution
 * classifier.model.dispose();
 * await Deno.remove(out, { recursive: true });
 * ```
 */
export function gradCam(classifier: Classifier, pixels: Uint8Array): Explanation {
  const layer = camLayer(classifier.model, classifier.record.model);
  const { upTo, tail } = cutAt(classifier.model, layer);
  return inBatches(classifier, pixels, "grad-cam", layer, (x, mask, side) => {
    const activations = upTo.apply(x, { training: false }) as tf.Tensor4D;
    const score = (a: tf.Tensor) => tf.sum(tf.mul(tailLogits(tail, a), mask)) as tf.Scalar;
    const gradient = tf.grad(score)(activations);
    const weights = tf.mean(gradient, [1, 2], true);
    const cam = tf.relu(tf.sum(tf.mul(weights, activations), -1, true)) as tf.Tensor4D;
    return tf.image.resizeBilinear(cam, [side, side]).squeeze([3]) as tf.Tensor3D;
  });
}

/** Gradient saliency maps: the largest absolute gradient of the logit over a pixel's channels. */
export function saliency(classifier: Classifier, pixels: Uint8Array): Explanation {
  return inBatches(classifier, pixels, "saliency", "input", (x, mask, side) => {
    const score = (input: tf.Tensor) =>
      tf.sum(tf.mul(logitsOf(classifier.model, input), mask)) as tf.Scalar;
    const map = tf.max(tf.abs(tf.grad(score)(x)), -1, true) as tf.Tensor4D;
    const sized = map.shape[1] === side ? map : tf.image.resizeBilinear(map, [side, side]);
    return sized.squeeze([3]) as tf.Tensor3D;
  });
}

/** The model's own view: {@linkcode saliency} for the MLP, {@linkcode gradCam} for the others. */
export function whereItLooks(classifier: Classifier, pixels: Uint8Array): Explanation {
  return classifier.record.model === "mlp"
    ? saliency(classifier, pixels)
    : gradCam(classifier, pixels);
}

/** Runs `maps` on batches of images for their top classes; probabilities, scaling to [0, 1]. */
function inBatches(
  classifier: Classifier,
  pixels: Uint8Array,
  method: Explanation["method"],
  layer: string,
  maps: (x: tf.Tensor4D, mask: tf.Tensor2D, side: number) => tf.Tensor3D,
): Explanation {
  const side = imageSideOf(classifier.record);
  const count = imageCount(classifier.record, pixels);
  const classCount = classifier.record.fine_label_names.length;
  const out: Explanation = {
    method,
    layer,
    maps: new Float32Array(count * side ** 2),
    side,
    classes: [],
    probabilities: [],
  };
  eachBatch(classifier, pixels, BATCH, (x, first) => {
    const p = probabilitiesOf(classifier, x);
    const chosen = tf.argMax(p, 1) as tf.Tensor1D;
    const mask = tf.oneHot(chosen, classCount).toFloat() as tf.Tensor2D;
    const raw = maps(x, mask, side);
    const peak = tf.maximum(tf.max(raw, [1, 2], true), 1e-12);
    out.maps.set(tf.div(raw, peak).dataSync(), first * side ** 2);
    out.classes.push(...chosen.dataSync());
    out.probabilities.push(...tf.sum(tf.mul(p, mask), 1).dataSync());
  });
  return out;
}
