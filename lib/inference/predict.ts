/**
 * Predictions from a saved model: load what `deno task train` (or a notebook) saved under
 * `runs/<model>/` and classify 32x32 images with it, top-k fine classes with their names and
 * superclasses.
 *
 * The images are preprocessed exactly as in training: the examples' conventions
 * (lib/data/examples.ts: pixels / 255 for the MLP and the CNN, 0..255 for VGG16), then for
 * VGG16 {@linkcode vgg16Input} (resize to the run's input size, "caffe" preprocessing).
 *
 * @module
 */
import { dirname, join } from "node:path";
import { tf } from "../engine/backend.ts";
import { IMAGE_BYTES, IMAGE_SIZE } from "../data/dataset.ts";
import { imageExamples } from "../data/examples.ts";
import { type CifarImageFile, readCifarImage } from "../data/images.ts";
import { loadModel } from "../models/model_io.ts";
import { firstLine, isUserError, UserError } from "../util/errors.ts";
import { exists } from "../util/process.ts";
import { EVAL_BATCH_SIZE, MODELS } from "../train/hyp.ts";
import { readRunRecord, type RunRecord } from "../train/run_record.ts";
import { vgg16Input } from "../train/features.ts";

/** One of the most probable classes for an image. */
export interface TopClass {
  /** 1 for the most probable class. */
  rank: number;
  /** Fine class index, 0..99. */
  class: number;
  /** Fine class name, from the run record. */
  name: string;
  /** Name of its superclass (coarse class), from the run record. */
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
  /** Side of the model's input: 32, or VGG16's input size (the 32 px images are resized). */
  inputSize: number;
  /** The run folder. */
  dir: string;
}

const USE_RUN = "give the run folder `deno task train` saves, runs/<model> (model.json, " +
  "weights.bin, run.json)";

/**
 * Load a trained model and its run record from a run folder.
 *
 * @param run the folder holding model.json and run.json, or the path of either file
 * @returns the model, its labels and input size
 * @throws {UserError} naming the folder or file: missing folder, no model.json (listing any
 *   subfolders that have one), no run.json, unreadable or inconsistent files
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { syntheticCifar100 } from "../data/synthetic.ts";
 * import { cifarImage } from "../data/images.ts";
 * import { runExperiment } from "../train/experiment.ts";
 * const out = await Deno.makeTempDir(); // `deno task train --model mlp` saves to runs/mlp
 * await runExperiment(
 *   { model: "mlp", data: "synthetic", epochs: 1, limitTrain: 256, limitTest: 64, out },
 *   { log: () => {}, summary: false },
 * );
 * const classifier = await loadClassifier(`${out}/mlp`);
 * assert.equal(classifier.record.model, "mlp");
 * assert.equal(classifier.inputSize, 32);
 * const data = syntheticCifar100({ trainCount: 0, testCount: 1 });
 * const [top5] = predictTopK(classifier, cifarImage(data.test.images, 0).data);
 * assert.deepEqual(top5.map((c) => c.rank), [1, 2, 3, 4, 5]);
 * classifier.model.dispose();
 * await Deno.remove(out, { recursive: true });
 * ```
 */
export async function loadClassifier(run: string): Promise<Classifier> {
  const dir = run.endsWith(".json") ? dirname(run) : run;
  const info = await Deno.stat(dir).catch(() => undefined);
  if (!info) throw new UserError(`run folder ${dir}: not found; ${USE_RUN}`);
  if (!info.isDirectory) throw new UserError(`run folder ${dir}: not a folder; ${USE_RUN}`);
  const modelPath = join(dir, "model.json");
  if (!(await exists(modelPath))) {
    const inside = await runsInside(dir);
    throw new UserError(
      inside.length
        ? `run folder ${dir}: no model.json, but ${inside.join(" and ")} ` +
          `${inside.length > 1 ? "have one: pass one of those" : "has one: pass that"}`
        : `run folder ${dir}: no model.json; ${USE_RUN}, or train a model first ` +
          "(deno task train --model cnn saves runs/cnn)",
    );
  }
  const recordPath = join(dir, "run.json");
  if (!(await exists(recordPath))) {
    throw new UserError(
      `run folder ${dir}: model.json but no run.json (the class names are in it); ${USE_RUN}`,
    );
  }
  const record = await readRunRecord(recordPath);
  checkRecord(record, recordPath);
  let model: tf.LayersModel;
  try {
    model = await loadModel(dir);
  } catch (e) {
    if (isUserError(e)) throw e;
    throw new UserError(`cannot load the model ${modelPath} (${firstLine(e)}); train it again`);
  }
  const [, height, width, channels] = model.inputs[0].shape;
  const classes = model.outputs[0].shape.at(-1);
  const expectedSide = record.model === "vgg16" ? record.input_size ?? height : IMAGE_SIZE;
  const problem = classes !== record.fine_label_names.length
    ? `it has ${classes} outputs but run.json names ${record.fine_label_names.length} classes`
    : height !== width || channels !== 3 || height !== expectedSide
    ? `its input is ${height}x${width}x${channels}, not ${expectedSide}x${expectedSide}x3 ` +
      `as run.json says`
    : undefined;
  if (problem) {
    model.dispose();
    throw new UserError(`${modelPath} does not match ${recordPath}: ${problem}; train it again`);
  }
  return { model, record, inputSize: height as number, dir };
}

/** Subfolders of `dir` that hold a model.json (e.g. `runs` -> runs/cnn, runs/mlp). */
async function runsInside(dir: string): Promise<string[]> {
  const found: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isDirectory && await exists(join(dir, entry.name, "model.json"))) {
        found.push(join(dir, entry.name));
      }
    }
  } catch {
    // Unreadable: no hint.
  }
  return found.sort();
}

function checkRecord(record: RunRecord, path: string): void {
  const names = record?.fine_label_names;
  const coarse = record?.coarse_label_names;
  const mapping = record?.fine_to_coarse;
  const problem = !MODELS.includes(record?.model)
    ? `model '${record?.model}' is not one of ${MODELS.join(", ")}`
    : !Array.isArray(names) || names.length === 0
    ? "fine_label_names is missing"
    : !Array.isArray(coarse) || !Array.isArray(mapping) || mapping.length !== names.length
    ? "coarse_label_names or fine_to_coarse is missing or does not match the fine classes"
    : undefined;
  if (problem) throw new UserError(`run record ${path}: ${problem}; train the model again`);
}

/**
 * The model's input for a batch of 32x32 uint8 images, preprocessed as in training.
 *
 * @param classifier the loaded model and its run
 * @param pixels `[N, 32, 32, 3]` bytes
 * @returns MLP/CNN: pixels / 255; VGG16: 0..255 resized to its input size, caffe-preprocessed
 */
export function modelInput(classifier: Classifier, pixels: Uint8Array): tf.Tensor4D {
  const count = pixels.length / IMAGE_BYTES;
  if (!Number.isInteger(count) || count === 0) {
    throw new RangeError(`expected [N, 32, 32, 3] bytes, got ${pixels.length}`);
  }
  const vgg16 = classifier.record.model === "vgg16";
  // The examples' conventions: [0, 1] for the small models, 0..255 for VGG16.
  const examples = imageExamples(
    { images: pixels, count },
    new Uint8Array(count),
    vgg16 ? 1 : 1 / 255,
  );
  const batch = examples.gather(Array.from({ length: count }, (_, i) => i));
  return tf.tidy(() => {
    const x = tf.tensor4d(batch, [count, IMAGE_SIZE, IMAGE_SIZE, 3]);
    return vgg16 ? vgg16Input(x, classifier.inputSize) : x;
  });
}

/**
 * The `k` most probable fine classes of each image, most probable first.
 *
 * @param classifier from {@linkcode loadClassifier}
 * @param pixels `[N, 32, 32, 3]` uint8 images, e.g. from `readCifarImage` or a dataset split
 * @param k classes per image (default 5; at most the number of classes)
 * @param batchSize images per forward pass
 * @returns per image, `k` classes with names, superclasses and probabilities
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { syntheticCifar100 } from "../data/synthetic.ts";
 * import { runExperiment } from "../train/experiment.ts";
 * const out = await Deno.makeTempDir(); // `deno task train --model mlp` saves to runs/mlp
 * await runExperiment(
 *   { model: "mlp", data: "synthetic", epochs: 1, limitTrain: 256, limitTest: 64, out },
 *   { log: () => {}, summary: false },
 * );
 * const classifier = await loadClassifier(`${out}/mlp`);
 * const data = syntheticCifar100({ trainCount: 0, testCount: 2 });
 * // Or one image file: predictTopK(classifier, (await readCifarImage("cat.jpg")).pixels)
 * const tops = predictTopK(classifier, data.test.images, 3);
 * assert.equal(tops.length, 2); // one list per image
 * const [best, second] = tops[0];
 * assert.ok(best.probability >= second.probability);
 * assert.ok(best.name.startsWith("synthetic_class_"));
 * classifier.model.dispose();
 * await Deno.remove(out, { recursive: true });
 * ```
 */
export function predictTopK(
  classifier: Classifier,
  pixels: Uint8Array,
  k = 5,
  batchSize: number = EVAL_BATCH_SIZE,
): TopClass[][] {
  const { record, model } = classifier;
  const count = pixels.length / IMAGE_BYTES;
  if (!Number.isInteger(count)) {
    throw new RangeError(`expected [N, 32, 32, 3] bytes, got ${pixels.length}`);
  }
  const take = Math.min(k, record.fine_label_names.length);
  const results: TopClass[][] = [];
  for (let first = 0; first < count; first += batchSize) {
    const last = Math.min(first + batchSize, count);
    const [values, indices] = tf.tidy(() => {
      const x = modelInput(classifier, pixels.subarray(first * IMAGE_BYTES, last * IMAGE_BYTES));
      const probabilities = model.predict(x, { batchSize: last - first }) as tf.Tensor2D;
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
          superclass: record.coarse_label_names[record.fine_to_coarse[fine]] ?? "?",
          probability: values[i * take + r],
        };
      }));
    }
  }
  return results;
}

/** The answer for one image file: its top classes, or why it could not be read. */
export type ImageFileResult =
  | {
    /** The path as given. */
    path: string;
    ok: true;
    /** Size of the image in the file (upright). */
    width: number;
    height: number;
    /** The 32x32x3 pixels the model saw. */
    pixels: Uint8Array;
    /** Most probable first. */
    top: TopClass[];
  }
  | {
    path: string;
    ok: false;
    /** One line naming the file and what to do. */
    error: string;
  };

/**
 * Classify image files: each is read, centre-cropped and resized to 32x32 (lib/data/images.ts),
 * then all readable ones go through the model in batches. A file that cannot be read gets an
 * error result; the others are still answered.
 *
 * @param classifier from {@linkcode loadClassifier}
 * @param paths PNG or JPEG files of any size
 * @param k classes per image (default 5)
 * @returns one result per path, in the same order
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writePng } from "../data/images.ts";
 * import { runExperiment } from "../train/experiment.ts";
 * const out = await Deno.makeTempDir(); // `deno task train --model mlp` saves to runs/mlp
 * await runExperiment(
 *   { model: "mlp", data: "synthetic", epochs: 1, limitTrain: 256, limitTest: 64, out },
 *   { log: () => {}, summary: false },
 * );
 * const image = { width: 64, height: 48, data: new Uint8Array(64 * 48 * 3).fill(128) };
 * const grey = await writePng(`${out}/grey.png`, image);
 * const classifier = await loadClassifier(`${out}/mlp`);
 * const results = await classifyImageFiles(classifier, [grey, `${out}/missing.jpg`]);
 * assert.ok(results[0].ok && results[0].top.length === 5 && results[0].width === 64);
 * assert.ok(!results[1].ok && results[1].error.includes("no such file"));
 * classifier.model.dispose();
 * await Deno.remove(out, { recursive: true });
 * ```
 */
export async function classifyImageFiles(
  classifier: Classifier,
  paths: string[],
  k = 5,
): Promise<ImageFileResult[]> {
  // One at a time: only the 3 KB of pixels of each image are kept, not its file.
  const read: (CifarImageFile | { path: string; error: string })[] = [];
  for (const path of paths) {
    try {
      read.push(await readCifarImage(path));
    } catch (e) {
      if (!isUserError(e)) throw e;
      read.push({ path, error: e.message });
    }
  }
  const good = read.filter((r): r is CifarImageFile => !("error" in r));
  const pixels = new Uint8Array(good.length * IMAGE_BYTES);
  good.forEach((image, i) => pixels.set(image.pixels, i * IMAGE_BYTES));
  const tops = good.length ? predictTopK(classifier, pixels, k) : [];
  let next = 0;
  return read.map((r): ImageFileResult =>
    "error" in r
      ? { path: r.path, ok: false, error: r.error }
      : { ...r, ok: true, top: tops[next++] }
  );
}
