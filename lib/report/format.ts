/**
 * How report/ writes models' names and numbers, so that every table, chart and paragraph says
 * them alike. No Deno or tfjs API: the web page bundles it (through analysis.ts).
 *
 * @module
 */
import type { ModelName } from "../train/hyp.ts";

// Typed by ModelName, so that a new model does not compile until it has a name here.
const MODEL_NAMES: Record<ModelName, string> = {
  mlp: "MLP",
  cnn: "CNN",
  vgg16: "VGG16",
  resnet9: "ResNet-9",
  mobilenetv2: "MobileNetV2",
};

/**
 * A model as outputs name it (an unknown id as it is).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(modelName("resnet9"), "ResNet-9");
 * ```
 */
export function modelName(model: string): string {
  return MODEL_NAMES[model as ModelName] ?? model;
}

/** A share as a percentage with one decimal: `0.4178` -> `41.8%`. */
export const pct = (share: number): string => `${(share * 100).toFixed(1)}%`;

/** A share as a percentage number rounded to one decimal, for tables: `0.4178` -> `41.8`. */
export const percent = (share: number): number => Math.round(share * 1000) / 10;

/** Seconds, with two decimals under 10 s: `3.00 s`, `13.0 s`. */
export const secs = (seconds: number): string =>
  `${seconds < 10 ? seconds.toFixed(2) : seconds.toFixed(1)} s`;

/** A count with thousands separators: `50,000`. */
export const count = (n: number): string => n.toLocaleString("en-US");

/** `x` rounded to `digits` decimals, as a number. */
export const round = (x: number, digits: number): number =>
  Math.round(x * 10 ** digits) / 10 ** digits;
