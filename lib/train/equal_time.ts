/**
 * ResNet-9 against the source's CNN at equal training time, on the same machine.
 *
 * The CNN trains as the source trains it (HYP.cnn: Adam, batch 128, 20 epochs); its training
 * time (seconds per epoch summed, validation excluded) is the budget. ResNet-9's throughput is
 * measured with a short warm run on the same images, and it gets as many whole epochs of its
 * recipe (HYP.resnet9, the one-cycle schedule stretched over them) as fit in that budget, at
 * least one. Both records keep their measured times, so a table can show whether ResNet-9 did
 * stay within the CNN's time. ResNet-9 then trains a second time with the same epochs and no
 * augmentation: the ablation.
 *
 * Used by notebook 06 and `deno task equal-time` (lib/cli/equal_time.ts).
 *
 * @module
 */
import { join } from "node:path";
import { initBackend } from "../engine/backend.ts";
import { imageExamples } from "../data/examples.ts";
import type { Cifar100 } from "../data/dataset.ts";
import { type AugmentName, HYP, runRecipe } from "./hyp.ts";
import type { ExperimentConfig, ExperimentHooks } from "./experiment_config.ts";
import { type RunRecord, trainingSeconds } from "./run_record.ts";
import { runExperiment } from "./experiment.ts";
import { fit } from "./fit.ts";
import { makeOptimizer } from "./optimizer.ts";
import { buildSmallModel } from "./small_models.ts";
import { type ProfileSettings, readProfileRecordIfPresent } from "./profile.ts";
import { loadCifar100 } from "../data/cifar100.ts";

/** Options for {@linkcode equalTime}. */
interface EqualTimeOptions {
  /** The data, loaded once for every run. */
  dataset: Cifar100;
  /** Seed of every run (weights, shuffling, augmentation). Default 0. */
  seed?: number;
  /**
   * The CNN's run when it has been trained already (notebook 03's record): its measured
   * training time is the budget. Default: train it here first, with `cnnEpochs`.
   */
  cnn?: RunRecord;
  /** The CNN's epochs when it trains here (default HYP.cnn.epochs, the source's 20). */
  cnnEpochs?: number;
  /**
   * ResNet-9's augmentation (default its recipe's, `crop+flip`; `crop` for data whose classes
   * a mirror image changes, such as digits).
   */
  augment?: AugmentName;
  /** Measures ResNet-9's images/s (default {@linkcode probeResnet9}; tests pass their own). */
  probe?: (data: Cifar100, seed: number, augment?: AugmentName) => Promise<number>;
  /** Folder for the runs' records and models (`<out>/<run>/<model>/`), or null to save none. */
  out?: string | null;
  /** Profile and budget overrides to record, as `ExperimentConfig`'s. */
  profile?: string;
  budgetOverrides?: string[];
  hooks?: ExperimentHooks;
}

/** What {@linkcode equalTime} returns. */
export interface EqualTimeResult {
  cnn: RunRecord;
  /** ResNet-9 with its recipe, for the epochs that fit in the CNN's training time. */
  resnet9: RunRecord;
  /** The same without augmentation. */
  noAugment: RunRecord;
  /** The CNN's training seconds: the budget. */
  budgetSeconds: number;
  /** ResNet-9's training images per second in the warm-up measurement. */
  probeImagesPerSecond: number;
  /** ResNet-9's epochs: floor(budget x probe throughput / training images), at least 1. */
  epochs: number;
}

/**
 * Whole epochs of `imagesPerSecond` that fit in `seconds` on `images` training images (at least
 * one).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(epochsWithin(600, 450, 50_000), 5); // 600 s x 450 images/s = 5.4 epochs
 * assert.equal(epochsWithin(2, 450, 2_000), 1); // less than one epoch: one
 * ```
 */
export function epochsWithin(seconds: number, imagesPerSecond: number, images: number): number {
  return Math.max(1, Math.floor(seconds * imagesPerSecond / images));
}

/**
 * ResNet-9's training throughput on the active engine: two epochs at its batch size, peak
 * learning rate, augmentation and label smoothing on the first 8 batches of `data`, the second
 * timed.
 */
async function probeResnet9(data: Cifar100, seed: number, augment?: AugmentName): Promise<number> {
  await initBackend();
  const { batchSize } = HYP.resnet9;
  const count = Math.min(data.train.count, 8 * batchSize);
  const train = imageExamples(
    { images: data.train.images.subarray(0, count * 3072), count },
    data.train.fineLabels.subarray(0, count),
  );
  const model = buildSmallModel("resnet9", seed, data.fineLabelNames.length);
  const recipe = runRecipe({ model: "resnet9", augment });
  const optimizer = makeOptimizer({ ...HYP.resnet9.optimizer, learningRate: recipe.learningRate });
  try {
    const result = await fit(model, train, {
      epochs: 2,
      batchSize,
      optimizer,
      seed,
      log: () => {},
      augment: recipe.augment ?? undefined,
      labelSmoothing: recipe.labelSmoothing,
    });
    return count / result.secondsPerEpoch[1];
  } finally {
    optimizer.dispose();
    model.dispose();
  }
}

/**
 * Train the CNN (unless its record is given), then ResNet-9 for the whole epochs that fit in the
 * CNN's training time, and ResNet-9 without augmentation (see the module doc).
 */
export async function equalTime(options: EqualTimeOptions): Promise<EqualTimeResult> {
  const { dataset, seed = 0, hooks = {} } = options;
  const out = options.out === undefined ? null : options.out;
  const base: Omit<ExperimentConfig, "model"> = {
    dataset,
    seed,
    profile: options.profile,
    ...(options.budgetOverrides?.length ? { budgetOverrides: options.budgetOverrides } : {}),
  };
  // <out>/<run>/<model>/run.json
  const where = (run: string) => (out === null ? null : join(out, run));
  const cnn = options.cnn ?? await runExperiment({
    ...base,
    model: "cnn",
    epochs: options.cnnEpochs ?? HYP.cnn.epochs,
    out: where("cnn"),
  }, hooks);
  const budgetSeconds = trainingSeconds(cnn);
  const probe = options.probe ?? probeResnet9;
  const probeImagesPerSecond = await probe(dataset, seed, options.augment);
  const epochs = epochsWithin(budgetSeconds, probeImagesPerSecond, dataset.train.count);
  const resnet9 = await runExperiment({
    ...base,
    model: "resnet9",
    epochs,
    augment: options.augment,
    out: where("resnet9"),
  }, hooks);
  const noAugment = await runExperiment({
    ...base,
    model: "resnet9",
    epochs,
    augment: "none",
    out: where("resnet9_no_augment"),
  }, hooks);
  return { cnn, resnet9, noAugment, budgetSeconds, probeImagesPerSecond, epochs };
}

/**
 * The equal-time comparison of a notebook profile (notebook 06): on the profile's data and the
 * CNN's images, the CNN's run from notebook 03 when it ran in this profile on the same images
 * (else the CNN is trained here), then ResNet-9 and the no-augmentation ablation. Records go to
 * `runs/<profile>/equal_time/<cnn|resnet9|resnet9_no_augment>/<model>/`.
 */
export async function profileEqualTime(
  settings: ProfileSettings,
  hooks: ExperimentHooks = {},
): Promise<EqualTimeResult> {
  const config = settings.run("cnn");
  const dataset = await loadCifar100({
    data: config.data,
    seed: config.seed,
    limitTrain: config.limitTrain,
    limitTest: config.limitTest,
  });
  const saved = await readProfileRecordIfPresent(settings, "cnn");
  const same = saved && saved.data.id === dataset.source.id &&
    saved.train_images === dataset.train.count && saved.test_images === dataset.test.count &&
    saved.epochs === config.epochs;
  return await equalTime({
    dataset,
    seed: config.seed,
    cnn: same ? saved : undefined,
    cnnEpochs: config.epochs,
    out: join(settings.out, "equal_time"),
    profile: settings.name,
    budgetOverrides: config.budgetOverrides,
    hooks,
  });
}
