/**
 * Notebook 08's views of a folder of your own images (one sub-folder per class): what the data
 * is (images per class, samples of each class, the files skipped and why, the split), which
 * model suits it (transfer learning: VGG16 with ImageNet weights when they are here), and one
 * file classified by the trained run. The training, the curves, the confusion chart, the worst
 * classes and calibration are the other notebooks' functions, which take a folder run as is.
 *
 * @module
 */
import { join } from "node:path";
import { type ImageFolderData, loadImageFolder } from "../data/image_folder.ts";
import { resolveVgg16Weights } from "../models/vgg16_weights.ts";
import { classifyImageFiles, loadClassifier } from "../inference/predict.ts";
import type { ExperimentConfig } from "../train/experiment_config.ts";
import type { ProfileSettings } from "../train/profile.ts";
import { firstLine, UserError } from "../util/errors.ts";
import { classCounts, classHistogram, dataTable, topKChart } from "./charts.ts";
import { type Displayable, imageGrid } from "./display.ts";

/** The side the notebook reads images at: VGG16's and the small models' default input. */
const NOTEBOOK_IMAGE_SIZE = 32;

/** Images with no CIFAR-100 caveat: a folder of your own images is not meant to be CIFAR-100. */
const OWN_IMAGES: readonly never[] = [];

/**
 * Read the folder of images the notebook is about (env IMAGE_FOLDER), each bad file named once
 * and skipped.
 *
 * @param folder the folder, one sub-folder per class (undefined: IMAGE_FOLDER was not set)
 * @param seed the seed of the held-out split (the training run uses the same)
 * @returns the images at 32x32, the held-out split as its test split
 * @throws {UserError} when no folder is given, or it is not a usable folder of classes
 */
export async function loadYourImages(
  folder: string | undefined,
  seed: number,
): Promise<ImageFolderData> {
  if (!folder) {
    throw new UserError(
      "IMAGE_FOLDER is not set: set it to a folder with one sub-folder of images per class",
    );
  }
  return await loadImageFolder(folder, { seed, imageSize: NOTEBOOK_IMAGE_SIZE, log: console.log });
}

/** Images per class, training and held-out stacked. */
export function imagesPerClass(data: ImageFolderData): Displayable {
  const counts = classCounts(data, "fine");
  const title = `Images per class: ${data.train.count} training (train), ` +
    `${data.test.count} held-out (test)`;
  return classHistogram(counts, title, OWN_IMAGES);
}

/** The first `perClass` training images of every class, one row per class. */
export function classSamples(data: ImageFolderData, perClass = 6): Displayable {
  const bytes = NOTEBOOK_IMAGE_SIZE ** 2 * 3;
  const picked = data.fineLabelNames.flatMap((_, label) =>
    Array.from(data.train.fineLabels.entries()).filter(([, l]) => l === label)
      .slice(0, perClass).map(([i]) => i)
  );
  const images = new Uint8Array(picked.length * bytes);
  picked.forEach((t, i) =>
    images.set(data.train.images.subarray(t * bytes, (t + 1) * bytes), i * bytes)
  );
  const captions = picked.map((t) => data.fineLabelNames[data.train.fineLabels[t]]);
  return imageGrid(images, captions, { columns: perClass });
}

/** The files that were skipped and why, and what was ignored. */
export function skippedFiles(data: ImageFolderData): Displayable {
  const { hidden, notImages, outsideClasses } = data.ignored;
  const rows = data.skipped.map(({ path, reason }) => ({ file: path, reason }));
  const caption = `${data.skipped.length} files skipped (each named once above); ignored: ` +
    `${hidden} hidden, ${notImages} not images, ${outsideClasses} outside the class folders`;
  return dataTable(rows.length ? rows : [{ file: "(none)", reason: "" }], caption, OWN_IMAGES);
}

/** The split: how many images train and how many are held out, and how they were chosen. */
export function splitTable(data: ImageFolderData): Displayable {
  const rows = [
    { split: "training", images: data.train.count },
    { split: `held-out: ${data.heldOut.name}`, images: data.test.count },
  ];
  return dataTable(
    rows,
    `${data.fineLabelNames.length} classes; held-out digest ` +
      `${data.heldOut.digest.slice(0, 12)}`,
    OWN_IMAGES,
  );
}

/** Training images from which VGG16's last block is fine-tuned too (fewer overfit it). */
const FINE_TUNE_FROM = 2000;

/**
 * The run that suits a folder: transfer learning from VGG16 with ImageNet weights when they are
 * here (VGG16_WEIGHTS, Keras's cache or this project's; never a download in a notebook), with
 * block 5 fine-tuned from {@linkcode FINE_TUNE_FROM} training images; random weights in the
 * smoke profile, or when the weights are not here, as the smoke profile does.
 *
 * @returns the run's config (saved under `<profile out>/your_images/`) and a sentence on why
 */
export async function suitedRun(
  settings: ProfileSettings,
  data: ImageFolderData,
): Promise<{ config: ExperimentConfig; note: string }> {
  const base = settings.run("vgg16");
  let weights = base.weights;
  let note = `The ${settings.name} profile trains VGG16 with random weights (offline).`;
  if (weights !== "none") {
    try {
      const source = await resolveVgg16Weights({
        fetch: () => Promise.reject(new Error("not downloaded from a notebook")),
      });
      note = `VGG16 with ImageNet weights (${source.description}).`;
    } catch (e) {
      weights = "none";
      note = `No ImageNet weights here (${firstLine(e)}): VGG16 with random weights instead, ` +
        `as the smoke profile does; set VGG16_WEIGHTS to the .h5 file for transfer learning.`;
    }
  }
  const fineTune = data.train.count >= FINE_TUNE_FROM;
  const config: ExperimentConfig = {
    ...base,
    data: data.source.path,
    dataset: data,
    weights,
    fineTune,
    limitTrain: undefined,
    limitTest: undefined,
    out: join(settings.out, "your_images"),
  };
  const tuned = fineTune
    ? `then block 5 fine-tuned (${data.train.count} training images)`
    : `the head only (block 5 is fine-tuned from ${FINE_TUNE_FROM} training images)`;
  return { config, note: `${note} Features computed once, ${tuned}.` };
}

/** Classify image files with a saved run, as `deno task predict` does, as bars. */
export async function predictFiles(dir: string, paths: string[]): Promise<Displayable> {
  const classifier = await loadClassifier(dir);
  try {
    const results = await classifyImageFiles(classifier, paths);
    const panels = results.flatMap((r) =>
      r.ok ? [{ title: `${r.path.split("/").at(-1)} (${r.width}x${r.height})`, top: r.top }] : []
    );
    return topKChart(panels, `${dir.split("/").at(-1)}: the top 5 of each file`, [
      classifier.record,
    ]);
  } finally {
    classifier.model.dispose();
  }
}
