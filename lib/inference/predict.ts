/**
 * Predictions from a saved run folder (`runs/<model>/`): load it and classify image files, with
 * the preprocessing of training (lib/inference/classify.ts, re-exported here).
 *
 * @module
 */
import { dirname, join } from "node:path";
import { tf } from "../engine/backend.ts";
import { type CifarImageFile, readCifarImage } from "../data/images.ts";
import { loadModel } from "../models/model_io.ts";
import {
  checkRecord,
  type Classifier,
  imageSideOf,
  modelMismatch,
  predictTopK,
  type TopClass,
} from "./classify.ts";
import { firstLine, UserError } from "../util/errors.ts";
import { exists } from "../util/process.ts";
import { recoverFolder } from "../util/replace_folder.ts";
import { readRunRecord } from "../train/run_record.ts";

// Shared with the web page (lib/web/): the scaling, forward pass and top classes.
export { type Classifier, predictTopK, type TopClass };

const USE_RUN = "give the run folder `deno task train` saves, runs/<model> (model.json, " +
  "weights.bin, run.json)";

/**
 * Load a trained model and its run record from a run folder (or the path of a file in it).
 *
 * @throws {UserError} naming the folder or file that is missing, unreadable or inconsistent
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
  // A save killed between its two renames leaves no `dir` but a complete `dir.saving`.
  await recoverFolder(dir);
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
    if (e instanceof UserError) throw e;
    throw new UserError(`cannot load the model ${modelPath} (${firstLine(e)}); train it again`);
  }
  const problem = modelMismatch(model, record);
  if (problem) {
    model.dispose();
    throw new UserError(`${modelPath} does not match ${recordPath}: ${problem}; train it again`);
  }
  return { model, record, inputSize: model.inputs[0].shape[1] as number, dir };
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

/**
 * The answer for one image file: its size (upright), the pixels the model was given and its top
 * classes, or one line naming the file and what to do.
 */
export type ImageFileResult =
  | { path: string; ok: true; width: number; height: number; pixels: Uint8Array; top: TopClass[] }
  | { path: string; ok: false; error: string };

/**
 * Classify PNG or JPEG files, each centre-cropped and resized to the run's side
 * ({@linkcode imageSideOf}); an unreadable file gets an error result and the others are answered.
 *
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
  // One at a time: only each image's pixels at the run's side are kept, not its file.
  const side = imageSideOf(classifier.record);
  const imageBytes = side * side * 3;
  const read: (CifarImageFile | { path: string; error: string })[] = [];
  for (const path of paths) {
    try {
      read.push(await readCifarImage(path, side));
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      read.push({ path, error: e.message });
    }
  }
  const good = read.filter((r): r is CifarImageFile => !("error" in r));
  const pixels = new Uint8Array(good.length * imageBytes);
  good.forEach((image, i) => pixels.set(image.pixels, i * imageBytes));
  const tops = good.length ? predictTopK(classifier, pixels, k) : [];
  let next = 0;
  return read.map((r): ImageFileResult =>
    "error" in r
      ? { path: r.path, ok: false, error: r.error }
      : { ...r, ok: true, top: tops[next++] }
  );
}
