/**
 * How a model arranges the images: its penultimate-layer features, what the last dense layer
 * separates linearly (projection.ts maps them to 2-D).
 *
 * @module
 */
import { tf } from "../engine/backend.ts";
import { EVAL_BATCH_SIZE } from "../train/hyp.ts";
import { type Classifier, eachBatch, imageCount } from "./classify.ts";
import { flatLayers, modelUpTo } from "./model_parts.ts";

/** `count` rows of `dim` features, the output of `layer`. */
interface Features {
  values: Float32Array;
  count: number;
  dim: number;
  layer: string;
}

/**
 * The penultimate-layer features of `[N, side, side, 3]` images at the run's side, e.g. the
 * MLP's second hidden layer (512) or a backbone's pooled base output.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { syntheticCifar100 } from "../data/synthetic.ts";
 * import { runExperiment } from "../train/experiment.ts";
 * import { loadClassifier } from "./predict.ts";
 * const out = await Deno.makeTempDir();
 * await runExperiment(
 *   { model: "mlp", data: "synthetic", epochs: 1, limitTrain: 256, limitTest: 64, out },
 *   { log: () => {}, summary: false },
 * );
 * const classifier = await loadClassifier(`${out}/mlp`);
 * const data = syntheticCifar100({ trainCount: 0, testCount: 3 });
 * const features = penultimateFeatures(classifier, data.test.images);
 * assert.deepEqual([features.count, features.dim], [3, 512]);
 * classifier.model.dispose();
 * await Deno.remove(out, { recursive: true });
 * ```
 */
export function penultimateFeatures(classifier: Classifier, pixels: Uint8Array): Features {
  const count = imageCount(classifier.record, pixels);
  if (count === 0) throw new RangeError("no images to take the features of");
  const layers = flatLayers(classifier.model);
  // Dropout passes its input through at inference: the features are those before it.
  const before = layers.slice(0, -1).filter((l) => l.getClassName() !== "Dropout").at(-1);
  if (!before) throw new Error(`${classifier.model.name} has no layer before its last`);
  const upTo = modelUpTo(classifier.model, before.name);
  const dim = (upTo.outputs[0].shape.slice(1) as number[]).reduce((a, b) => a * b, 1);
  const values = new Float32Array(count * dim);
  eachBatch(classifier, pixels, EVAL_BATCH_SIZE, (x, first) => {
    values.set((upTo.predict(x) as tf.Tensor).dataSync(), first * dim);
  });
  return { values, count, dim, layer: before.name };
}
