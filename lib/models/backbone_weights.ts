/**
 * A backbone's ImageNet weights, through VGG16's or MobileNetV2's own lookup.
 *
 * @module
 */
import type { tf } from "../engine/backend.ts";
import type { BackboneChoice } from "./backbone.ts";
import type { WeightsSource } from "./keras_weights.ts";
import { loadMobileNetV2Weights, resolveMobileNetV2Weights } from "./mobilenet_v2_weights.ts";
import {
  loadVgg16Weights,
  resolveVgg16Weights,
  type WeightsKind,
  weightsKind,
} from "./vgg16_weights.ts";

/** Find the weights of `choice`'s base (`resolveKerasWeights`). */
export function resolveBackboneWeights(
  choice: BackboneChoice,
  opts: { weights?: string; cacheDir?: string },
): Promise<WeightsSource> {
  return choice.name === "vgg16"
    ? resolveVgg16Weights(opts)
    : resolveMobileNetV2Weights(choice, opts);
}

/** Copy a Keras weights file into a base built for `choice`, by layer name. */
export function loadBackboneWeights(
  choice: BackboneChoice,
  base: tf.LayersModel,
  path: string,
): Promise<void> {
  return choice.name === "vgg16"
    ? loadVgg16Weights(base, path)
    : loadMobileNetV2Weights(base, path, choice);
}

/**
 * What the run record says the weights were: VGG16's from their MD5; MobileNetV2's (no checksum)
 * `imagenet` from a cache or download, `file` when given.
 */
export function backboneWeightsKind(choice: BackboneChoice, source: WeightsSource): WeightsKind {
  if (choice.name === "vgg16" || source.kind === "none") return weightsKind(source);
  return source.kind === "file" ? "file" : "imagenet";
}
