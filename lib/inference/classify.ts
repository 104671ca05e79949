/**
 * Classifying images with a loaded model: the preprocessing of training, the forward pass, the
 * run's calibration temperature and the named top classes. `deno task predict` and the web page
 * share it, so both give the same answer; hence no Deno or Node API here.
 *
 * @module
 */
import { tf } from "../engine/backend.ts";
import { type Cifar100, IMAGE_SIZE } from "../data/dataset.ts";
import { imageExamples } from "../data/examples.ts";
import { logitsOf } from "../models/logits.ts";
import { backbone } from "../models/backbone.ts";
import { toInputSize } from "../models/vgg16.ts";
import { UserError } from "../util/user_error.ts";
import { EVAL_BATCH_SIZE, isBackbone, MODELS } from "../train/hyp.ts";
import type { RunRecord } from "../train/run_record.ts";

/** One of the most probable classes for an image (rank 1 first; superclass "" for none). */
export interface TopClass {
  rank: number;
  class: number;
  name: string;
  superclass: string;
  probability: number;
}

/** A loaded model with the record of its run and its folder. */
export interface Classifier {
  model: tf.LayersModel;
  record: RunRecord;
  /** Side of the model's input (images read at another side are resized to it). */
  inputSize: number;
  dir: string;
}

/**
 * Check that a run record has what classifying needs: a known model, the class names, the
 * superclasses and the mapping between them.
 *
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
 * The side at which a run's images are read from files: its `input_size` when its data was
 * brought to size from files (a folder of images), else CIFAR's 32, resized by the model.
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
 * The model's input for `count` uint8 images `[count, side, side, 3]` at the run's side,
 * preprocessed as in training (lib/data/examples.ts, then a backbone's own input).
 */
function modelInput(classifier: Classifier, pixels: Uint8Array, count: number): tf.Tensor4D {
  const side = imageSideOf(classifier.record);
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

/** N of `[N, side, side, 3]` uint8 images at the run's side ({@linkcode imageSideOf}). */
export function imageCount(record: RunRecord, pixels: Uint8Array): number {
  const side = imageSideOf(record);
  const count = pixels.length / (side * side * 3);
  if (!Number.isInteger(count)) {
    throw new RangeError(`expected [N, ${side}, ${side}, 3] bytes, got ${pixels.length}`);
  }
  return count;
}

/** The pixels of some test images of a run, in the order given, at the data's side. */
export function testPixels(
  data: Pick<Cifar100, "test" | "imageSize">,
  indices: number[],
): Uint8Array {
  const bytes = (data.imageSize ?? IMAGE_SIZE) ** 2 * 3;
  const pixels = new Uint8Array(indices.length * bytes);
  indices.forEach((t, i) =>
    pixels.set(data.test.images.subarray(t * bytes, (t + 1) * bytes), i * bytes)
  );
  return pixels;
}

/** Call `each` in a tf.tidy on every {@linkcode modelInput} batch, with its first image's index. */
export function eachBatch(
  classifier: Classifier,
  pixels: Uint8Array,
  batchSize: number,
  each: (x: tf.Tensor4D, first: number) => void,
): void {
  const count = imageCount(classifier.record, pixels);
  const bytes = imageSideOf(classifier.record) ** 2 * 3;
  for (let first = 0; first < count; first += batchSize) {
    const batch = pixels.subarray(first * bytes, (first + batchSize) * bytes);
    const size = Math.min(batchSize, count - first);
    tf.tidy(() => each(modelInput(classifier, batch, size), first));
  }
}

/**
 * The class probabilities `[N, classes]` for a {@linkcode modelInput} batch: the softmax of the
 * logits divided by the run's calibration temperature, if it has one.
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
 * The `k` most probable fine classes of each image, most probable first, with the probabilities
 * of {@linkcode probabilitiesOf}.
 *
 * @param pixels `[N, side, side, 3]` uint8 images at the run's side ({@linkcode imageSideOf})
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
  const take = Math.min(k, record.fine_label_names.length);
  const results: TopClass[][] = [];
  eachBatch(classifier, pixels, batchSize, (x) => {
    const top = tf.topk(probabilitiesOf(classifier, x, x.shape[0]), take);
    const [values, indices] = [top.values.dataSync(), top.indices.dataSync()];
    for (let i = 0; i < x.shape[0]; i++) {
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
  });
  return results;
}

/** Why a model does not fit its run record (outputs or input size), or undefined when it does. */
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
