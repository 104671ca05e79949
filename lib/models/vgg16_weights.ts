/**
 * VGG16's ImageNet weights through ./keras_weights.ts, with its file, MD5 and env `VGG16_WEIGHTS`.
 *
 * @module
 */
import { tf } from "../engine/backend.ts";
import {
  type KerasWeightsFile,
  loadKerasWeights,
  resolveKerasWeights,
  type ResolveWeightsOptions as KerasResolveOptions,
  type WeightsSource,
} from "./keras_weights.ts";
import type { RemoteFile } from "../util/cache.ts";
import { VGG16_WEIGHTS } from "./vgg16.ts";

/** What a run's VGG16 weights were (`weights_kind`): `file` is not known to be ImageNet's. */
export type WeightsKind = "imagenet" | "file" | "random";

/**
 * The {@linkcode WeightsKind} of resolved weights, from their MD5 (never from the path).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { initBackend } from "../engine/backend.ts";
 * await initBackend();
 * assert.equal(weightsKind({ kind: "none" }), "random");
 * assert.equal(weightsKind({ kind: "file", md5: "0".repeat(32) }), "file");
 * ```
 */
export function weightsKind(source: Pick<WeightsSource, "kind" | "md5">): WeightsKind {
  if (source.kind === "none") return "random";
  return source.md5 === VGG16_WEIGHTS.md5 ? "imagenet" : "file";
}

/** Options for {@linkcode resolveVgg16Weights}: keras_weights.ts's, and the file to look for. */
interface ResolveWeightsOptions extends KerasResolveOptions {
  /** The file to look for and download; default {@linkcode VGG16_WEIGHTS} (tests use others). */
  remote?: RemoteFile;
}

function vgg16File(remote: RemoteFile = VGG16_WEIGHTS): KerasWeightsFile {
  return { remote, base: "VGG16", envVar: "VGG16_WEIGHTS" };
}

/**
 * Find the VGG16 weights (`resolveKerasWeights`, env VGG16_WEIGHTS).
 *
 * @example
 * ```ts
 * const source = await resolveVgg16Weights({ weights: "none" });
 * console.log(source.description); // random initial weights (--weights none), not ImageNet
 * ```
 */
export async function resolveVgg16Weights(
  opts: ResolveWeightsOptions = {},
): Promise<WeightsSource> {
  return await resolveKerasWeights(vgg16File(opts.remote), opts);
}

/**
 * Copy Keras's VGG16 weights file into `base` by layer name (`loadKerasWeights`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { initBackend } from "../engine/backend.ts";
 * await initBackend();
 * import { buildVgg16Base } from "./vgg16.ts";
 * const base = buildVgg16Base(32, 0);
 * // With a real file: await loadVgg16Weights(base, (await resolveVgg16Weights()).path!)
 * await assert.rejects(loadVgg16Weights(base, "missing.h5"), /missing\.h5/);
 * base.dispose();
 * ```
 */
export async function loadVgg16Weights(base: tf.LayersModel, path: string): Promise<void> {
  await loadKerasWeights(base, path, vgg16File());
}
