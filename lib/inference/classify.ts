/**
 * Classifying images with a loaded model, the part that `deno task predict`
 * (lib/inference/predict.ts, which loads the model from disk and re-exports this module) and the
 * web page (lib/web/, which loads it over HTTP) share, so both give the same answer: the
 * examples' scaling (lib/data/examples.ts: pixels / 255 for the MLP, the CNN and ResNet-9,
 * 0..255 for a backbone), then for a backbone its input (lib/models/backbone.ts: resize to the
 * run's input size, VGG16's "caffe" or MobileNetV2's [-1, 1] preprocessing), the forward pass,
 * the run's calibration temperature if it has one, and the top classes with their names.
 *
 * No Deno or Node API here (the page's bundle swaps lib/engine/backend.ts for the browser's tfjs).
 *
 * @module
 */
import { tf } from "../engine/backend.ts";
import { IMAGE_SIZE } from "../data/dataset.ts";
import { imageExamples } from "../data/examples.ts";
import { logitsOf } from "../models/logits.ts";
import { backbone } from "../models/backbone.ts";
import { toInputSize } from "../models/vgg16.ts";
import { UserError } from "../util/user_error.ts";
import { EVAL_BATCH_SIZE, isBackbone, MODELS } from "../train/hyp.ts";
import type { RunRecord } from "../train/run_record.ts";

/** One of the most probable classes for an image. */
export interface TopClass {
  /** 1 for the most probable class. */
  rank: number;
  /** Class index (CIFAR-100's fine label, or a folder's class). */
  class: number;
  /** Class name, from the run record. */
  name: string;
  /** Name of its superclass (coarse class), from the run record; "" when it has none. */
  superclass: string;
  /** The model's softmax probability. */
  probability: number;
}

/** A loaded model with the labels and settings of its run. */
export interface Classifier {
  /** The trained model, softmax output over the fine classes. */
  model: tf.LayersModel;
  /** The run record saved beside it (run.json): class names, superclasses, model, data. */
  record: RunRecord;
  /**
   * Side of the model's input: the run's `input_size` (images read at another side,
   * {@linkcode imageSideOf}, are resized to it).
   */
  inputSize: number;
  /** The run folder. */
  dir: string;
}

/**
 * Check that a run record has what classifying needs: a known model, the class names, the
 * superclasses and the mapping between them.
 *
 * @param record the parsed run.json
 * @param path where it was read, for the message
 * @throws {UserError} naming `path` and what is missing
 */
export function checkRecord(record: RunRecord, path: string): void {
  const names = record?.fine_label_names;
  const coarse = record?.coarse_label_names;
  const mapping = record?.fine_to_coarse;
  // No superclasses (a folder of images) is no coarse names and no mapping.
  const mapped = Array.isArray(coarse) && Array.isArray(mapping) &&
    (coarse.length === 0 ? mapping.length === 0 : mapping.length === names?.length);
  const problem = !MODELS.includes(record?.model)
    ? `model '${record?.model}' is not one of ${MODELS.join(", ")}`
    : !Array.isArray(names) || names.length === 0
    ? "fine_label_names is missing"
    : !mapped
    ? "coarse_label_names or fine_to_coarse is missing or does not match the fine classes"
    : undefined;
  if (problem) throw new UserError(`run record ${path}: ${problem}; train the model again`);
}

/**
 * The side at which a run's images are read from files ({@linkcode modelInput} takes them so):
 * its `input_size` when its data was brought to size from files of any size (a folder of images,
 * `record.preprocessing`), else CIFAR's 32, which the model resizes to its input as in training.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { RunRecord } from "../train/run_record.ts";
 * const folder = { input_size: 64, preprocessing: "centre-crop+area/1" } as RunRecord;
 * assert.equal(imageSideOf(folder), 64);
 * assert.equal(imageSideOf({ input_size: 64 } as RunRecord), 32);
 * ```
 */
export function imageSideOf(record: RunRecord): number {
  return record.preprocessing && record.input_size ? record.input_size : IMAGE_SIZE;
}

/**
 * The model's input for a batch of uint8 images at the run's side ({@linkcode imageSideOf}),
 * preprocessed as in training.
 *
 * @param pixels `[N, side, side, 3]` bytes
 * @returns MLP/CNN/ResNet-9: pixels / 255 at the model's input size; a backbone: 0..255 at its
 *   input size, preprocessed as the backbone's
 */
export function modelInput(classifier: Classifier, pixels: Uint8Array): tf.Tensor4D {
  const side = imageSideOf(classifier.record);
  const count = pixels.length / (side * side * 3);
  if (!Number.isInteger(count) || count === 0) {
    throw new RangeError(`expected [N, ${side}, ${side}, 3] bytes, got ${pixels.length}`);
  }
  const { model } = classifier.record;
  const transfer = isBackbone(model);
  // The examples' conventions: [0, 1] for the small models, 0..255 for a backbone.
  const examples = imageExamples(
    { images: pixels, count },
    new Uint8Array(count),
    transfer ? 1 : 1 / 255,
    side,
  );
  const batch = examples.gather(Array.from({ length: count }, (_, i) => i));
  return tf.tidy(() => {
    const x = tf.tensor4d(batch, [count, side, side, 3]);
    return transfer
      ? backbone(model).input(x, classifier.inputSize)
      : toInputSize(x, classifier.inputSize);
  });
}

/**
 * The model's class probabilities for a preprocessed batch ({@linkcode modelInput}): its softmax,
 * or, when the run was calibrated (`record.temperature`, lib/inference/calibration.ts), the
 * softmax of its logits divided by that temperature.
 *
 * @param classifier from lib/inference/predict.ts's `loadClassifier`
 * @param batchSize images per forward pass
 * @returns `[N, classes]` probabilities
 */
export function probabilitiesOf(
  classifier: Classifier,
  x: tf.Tensor4D,
  batchSize: number = EVAL_BATCH_SIZE,
): tf.Tensor2D {
  const temperature = classifier.record.temperature;
  if (temperature === undefined || temperature === 1) {
    return classifier.model.predict(x, { batchSize }) as tf.Tensor2D;
  }
  return tf.tidy(() => tf.softmax(tf.div(logitsOf(classifier.model, x), temperature)));
}

/**
 * The `k` most probable fine classes of each image, most probable first.
 *
 * @param classifier from lib/inference/predict.ts's `loadClassifier`
 * @param pixels `[N, side, side, 3]` uint8 images at the run's side ({@linkcode imageSideOf}),
 *   e.g. from `readCifarImage` or a dataset split
 * @param k classes per image (default 5; at most the number of classes)
 * @param batchSize images per forward pass
 * @returns per image, `k` classes with names, superclasses and probabilities (tempered by the
 *   run's calibration temperature when it has one, {@linkcode probabilitiesOf})
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { syntheticCifar100 } from "../data/synthetic.ts";
 * import { loadModel } from "../models/model_io.ts";
 * import { runExperiment } from "../train/experiment.ts";
 * import { readRunRecord } from "../train/run_record.ts";
 * const out = await Deno.makeTempDir(); // `deno task train --model mlp` saves to runs/mlp
 * await runExperiment(
 *   { model: "mlp", data: "synthetic", epochs: 1, limitTrain: 256, limitTest: 64, out },
 *   { log: () => {}, summary: false },
 * );
 * // lib/inference/predict.ts's loadClassifier does this, with checks.
 * const model = await loadModel(`${out}/mlp`);
 * const record = await readRunRecord(`${out}/mlp/run.json`);
 * const classifier = { model, record, inputSize: 32, dir: `${out}/mlp` };
 * const data = syntheticCifar100({ trainCount: 0, testCount: 2 });
 * const tops = predictTopK(classifier, data.test.images, 3);
 * assert.equal(tops.length, 2); // one list per image
 * const [best, second] = tops[0];
 * assert.ok(best.probability >= second.probability);
 * assert.ok(best.name.startsWith("synthetic_class_"));
 * model.dispose();
 * await Deno.remove(out, { recursive: true });
 * ```
 */
export function predictTopK(
  classifier: Classifier,
  pixels: Uint8Array,
  k = 5,
  batchSize: number = EVAL_BATCH_SIZE,
): TopClass[][] {
  const { record } = classifier;
  const imageBytes = imageSideOf(record) ** 2 * 3;
  const count = pixels.length / imageBytes;
  if (!Number.isInteger(count)) {
    throw new RangeError(`expected [N, side, side, 3] bytes, got ${pixels.length}`);
  }
  const take = Math.min(k, record.fine_label_names.length);
  const results: TopClass[][] = [];
  for (let first = 0; first < count; first += batchSize) {
    const last = Math.min(first + batchSize, count);
    const [values, indices] = tf.tidy(() => {
      const x = modelInput(classifier, pixels.subarray(first * imageBytes, last * imageBytes));
      const probabilities = probabilitiesOf(classifier, x, last - first);
      const top = tf.topk(probabilities, take);
      return [top.values.dataSync(), top.indices.dataSync()];
    });
    for (let i = 0; i < last - first; i++) {
      results.push(Array.from({ length: take }, (_, r) => {
        const fine = indices[i * take + r];
        return {
          rank: r + 1,
          class: fine,
          name: record.fine_label_names[fine],
          superclass: record.coarse_label_names.length
            ? record.coarse_label_names[record.fine_to_coarse[fine]] ?? "?"
            : "",
          probability: values[i * take + r],
        };
      }));
    }
  }
  return results;
}

/**
 * What is wrong when a model does not fit its run record: a different number of outputs than
 * classes, or an input that is not the run's square RGB size.
 *
 * @returns a phrase for the message, or undefined when they fit
 */
export function modelMismatch(model: tf.LayersModel, record: RunRecord): string | undefined {
  const [, height, width, channels] = model.inputs[0].shape;
  const classes = model.outputs[0].shape.at(-1);
  // Records before every model had an input size: VGG16's is its model's, the others' 32.
  const expectedSide = record.input_size ?? (isBackbone(record.model) ? height : IMAGE_SIZE);
  return classes !== record.fine_label_names.length
    ? `it has ${classes} outputs but run.json names ${record.fine_label_names.length} classes`
    : height !== width || channels !== 3 || height !== expectedSide
    ? `its input is ${height}x${width}x${channels}, not ${expectedSide}x${expectedSide}x3 ` +
      `as run.json says`
    : undefined;
}
