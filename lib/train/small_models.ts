/**
 * The models trained image by image, built from their `HYP` for the training loop and the
 * gradient workers alike.
 * @module
 */
import type { tf } from "../engine/backend.ts";
import { buildCnn } from "../models/cnn.ts";
import { buildMlp } from "../models/mlp.ts";
import { buildResnet9 } from "../models/resnet9.ts";
import { HYP } from "./hyp.ts";

export type SmallModel = "mlp" | "cnn" | "resnet9";

/**
 * A fresh mlp, cnn or resnet9 with the weights fixed by `seed` (default 100 classes, 32 px).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { initBackend } from "../engine/backend.ts";
 * await initBackend();
 * const model = buildSmallModel("cnn", 0);
 * assert.equal(model.countParams(), 249892);
 * model.dispose();
 * ```
 */
export function buildSmallModel(
  model: SmallModel,
  seed: number,
  numClasses?: number,
  inputSize?: number,
): tf.LayersModel {
  if (model === "mlp") return buildMlp({ seed, numClasses, inputSize });
  if (model === "cnn") return buildCnn({ seed, numClasses, inputSize });
  const { width, batchNorm, logitScale, head } = HYP.resnet9;
  return buildResnet9({ width, seed, batchNorm, logitScale, head, numClasses, inputSize });
}
