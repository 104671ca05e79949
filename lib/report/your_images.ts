/**
 * Notebook 08's views of a folder of your own images (one sub-folder per class): the data, the
 * model that suits it, and files classified by the trained run. The other views are the other
 * notebooks' functions, which take a folder run as is.
 *
 * @module
 */
import { join } from "node:path";
import { type ImageFolderData, loadImageFolder } from "../data/image_folder.ts";
import { backbone, type BackboneName } from "../models/backbone.ts";
import { resolveMobileNetV2Weights } from "../models/mobilenet_v2_weights.ts";
import { resolveVgg16Weights } from "../models/vgg16_weights.ts";
import { classifyImageFiles, loadClassifier } from "../inference/predict.ts";
import type { ExperimentConfig } from "../train/experiment_config.ts";
import { HYP } from "../train/hyp.ts";
import type { ProfileSettings } from "../train/profile.ts";
import { firstLine, UserError } from "../util/errors.ts";
import { classCounts, classHistogram, dataTable, topKChart } from "./charts.ts";
import { type Displayable, imageGrid } from "./display.ts";

/** The side VGG16 reads a folder at here with ImageNet weights: its default input. */
const VGG16_SIZE = 32;

/** The smoke profile's side: random features at 64 px tell a folder's classes apart at 32's cost. */
const SMOKE_SIZE = 64;

/** The smoke profile's head epochs (unless CIFAR_EPOCHS sets them): its 2 are too few to learn. */
const SMOKE_EPOCHS = 20;

/** Images with no CIFAR-100 caveat: a folder of your own images is not meant to be CIFAR-100. */
const OWN_IMAGES: readonly never[] = [];

/**
 * Read the notebook's folder (env IMAGE_FOLDER) at the suited model's side, the held-out split
 * as its test split; each bad file is named once and skipped.
 *
 * @param seed the seed of the held-out split (the training run uses the same)
 * @throws {UserError} when no folder is given, or it is not a usable folder of classes
 */
export async function loadYourImages(
  folder: string | undefined,
  seed: number,
  imageSize: number = VGG16_SIZE,
): Promise<ImageFolderData> {
  if (!folder) {
    throw new UserError(
      "IMAGE_FOLDER is not set: set it to a folder with one sub-folder of images per class",
    );
  }
  return await loadImageFolder(folder, { seed, imageSize, log: console.log });
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
  const side = data.imageSize;
  const bytes = side * side * 3;
  const picked = data.fineLabelNames.flatMap((_, label) =>
    Array.from(data.train.fineLabels.entries()).filter(([, l]) => l === label)
      .slice(0, perClass).map(([i]) => i)
  );
  const images = new Uint8Array(picked.length * bytes);
  picked.forEach((t, i) =>
    images.set(data.train.images.subarray(t * bytes, (t + 1) * bytes), i * bytes)
  );
  const captions = picked.map((t) => data.fineLabelNames[data.train.fineLabels[t]]);
  return imageGrid(images, captions, { columns: perClass, side });
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

/** Training images from which the top of the base is fine-tuned too (fewer overfit it). */
const FINE_TUNE_FROM = 2000;

/** The model that suits a folder of photos, the side it reads them at, and why (`note`). */
interface SuitedModel {
  model: BackboneName;
  inputSize: number;
  /** `none` for random weights; undefined: the ImageNet weights found, as training finds them. */
  weights: "none" | undefined;
  /** Epochs, when not the profile's. */
  epochs?: number;
  note: string;
}

/** Never a download from a notebook: only weights already on this machine are used. */
const NOT_DOWNLOADED = {
  fetch: () => Promise.reject(new Error("not downloaded from a notebook")),
};

/**
 * The model that suits photos: MobileNetV2 at 96 px with ImageNet weights when they are here,
 * else VGG16 at 32 px with its ImageNet weights, else with random weights. The smoke profile
 * trains VGG16 with random weights at {@linkcode SMOKE_SIZE} px (offline, cheap, still learning).
 */
export async function suitedModel(settings: ProfileSettings): Promise<SuitedModel> {
  const vgg16 = { model: "vgg16", inputSize: VGG16_SIZE } as const;
  const base = settings.run("vgg16");
  if (base.weights === "none") {
    const budget = base.budgetOverrides?.some((v) => v.startsWith("CIFAR_EPOCHS="));
    const epochs = budget ? base.epochs : Math.max(base.epochs ?? 0, SMOKE_EPOCHS);
    const note = `The ${settings.name} profile trains VGG16 with random weights (offline) at ` +
      `${SMOKE_SIZE}x${SMOKE_SIZE}, the head for ${epochs} epochs.`;
    return { model: "vgg16", inputSize: SMOKE_SIZE, weights: "none", epochs, note };
  }
  const { alpha, inputSize } = HYP.mobilenetv2;
  let missing: string;
  try {
    const source = await resolveMobileNetV2Weights({ alpha, inputSize }, NOT_DOWNLOADED);
    const note = `MobileNetV2 with ImageNet weights (${source.description}) at ` +
      `${inputSize}x${inputSize}.`;
    return { model: "mobilenetv2", inputSize, weights: undefined, note };
  } catch (e) {
    missing = `MobileNetV2: ${firstLine(e)}`;
  }
  try {
    const source = await resolveVgg16Weights(NOT_DOWNLOADED);
    const note = `VGG16 with ImageNet weights (${source.description}) at ` +
      `${VGG16_SIZE}x${VGG16_SIZE}; MobileNetV2's, which suit photos better, are not here ` +
      `(${missing}): set MOBILENET_V2_WEIGHTS to its .h5 file.`;
    return { ...vgg16, weights: undefined, note };
  } catch (e) {
    const note = `No ImageNet weights here (${missing}; VGG16: ${firstLine(e)}): VGG16 with ` +
      `random weights at ${VGG16_SIZE}x${VGG16_SIZE} instead; set MOBILENET_V2_WEIGHTS (or ` +
      `VGG16_WEIGHTS) to the .h5 file for transfer learning.`;
    return { ...vgg16, weights: "none", note };
  }
}

/**
 * The run that suits a folder: transfer learning from the {@linkcode suitedModel}, the top of
 * the base fine-tuned from {@linkcode FINE_TUNE_FROM} training images; saved under
 * `<profile out>/your_images/`.
 *
 * @throws {UserError} when `data` was read at another side than the model takes
 */
export async function suitedRun(
  settings: ProfileSettings,
  data: ImageFolderData,
  suited?: SuitedModel,
): Promise<{ config: ExperimentConfig; note: string }> {
  const { model, inputSize, weights, epochs, note } = suited ?? await suitedModel(settings);
  if (data.imageSize !== inputSize) {
    throw new UserError(
      `the images were read at ${data.imageSize}x${data.imageSize} but ${model} takes ` +
        `${inputSize}x${inputSize}: read them with loadYourImages(folder, seed, ${inputSize})`,
    );
  }
  const fineTune = data.train.count >= FINE_TUNE_FROM;
  const run = settings.run(model);
  const config: ExperimentConfig = {
    ...run,
    epochs: epochs ?? run.epochs,
    data: data.source.path,
    dataset: data,
    weights,
    inputSize,
    fineTune,
    limitTrain: undefined,
    limitTest: undefined,
    out: join(settings.out, "your_images"),
  };
  const top = backbone(model).fineTuned;
  const tuned = fineTune
    ? `then ${top} fine-tuned (${data.train.count} training images)`
    : `the head only (${top} fine-tuned from ${FINE_TUNE_FROM} training images)`;
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
