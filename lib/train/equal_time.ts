/**
 * ResNet-9 against the source's CNN at equal training time: the CNN's training time is the
 * budget, and ResNet-9 gets as many whole epochs of its recipe as its measured throughput fits
 * in it, then again without augmentation (the ablation). Notebook 06, and `deno task
 * equal-time`, which repeats it with seeds 0..R-1 and reports the medians (one run's accuracy
 * and time vary with the seed and the machine's load).
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
import { median } from "../util/stats.ts";

interface EqualTimeOptions {
  dataset: Cifar100;
  seed?: number;
  /** The CNN's run when it has been trained already; default: train it here, `cnnEpochs`. */
  cnn?: RunRecord;
  cnnEpochs?: number;
  /** ResNet-9's augmentation; default the one its recipe uses. */
  augment?: AugmentName;
  /** Measures ResNet-9's images/s (default {@linkcode probeResnet9}; tests pass their own). */
  probe?: (data: Cifar100, seed: number, augment?: AugmentName) => Promise<number>;
  /** Folder for `<out>/<run>/<model>/`, or null to save none. */
  out?: string | null;
  profile?: string;
  budgetOverrides?: string[];
  hooks?: ExperimentHooks;
}

interface EqualTimeResult {
  cnn: RunRecord;
  resnet9: RunRecord;
  noAugment: RunRecord;
  /** The CNN's training seconds. */
  budgetSeconds: number;
  probeImagesPerSecond: number;
  /** The epochs ResNet-9 trained for. */
  epochs: number;
}

/**
 * Whole epochs of `imagesPerSecond` that fit in `seconds` on `images` images (at least one).
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

/** ResNet-9's training images/s: two epochs of its recipe on 8 batches, the second timed. */
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

/** Train the CNN (unless its record is given), then ResNet-9 twice (see the module doc). */
export async function equalTime(options: EqualTimeOptions): Promise<EqualTimeResult> {
  const { dataset, seed = 0, hooks = {}, out = null } = options;
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
  const resnet9Run = (augment: AugmentName | undefined, run: string) =>
    runExperiment({ ...base, model: "resnet9", epochs, augment, out: where(run) }, hooks);
  const resnet9 = await resnet9Run(options.augment, "resnet9");
  const noAugment = await resnet9Run("none", "resnet9_no_augment");
  return { cnn, resnet9, noAugment, budgetSeconds, probeImagesPerSecond, epochs };
}

/**
 * The equal-time comparison of a notebook profile (notebook 06), with notebook 03's CNN run
 * when it ran on the same images; records go to `runs/<profile>/equal_time/`.
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

interface EqualTimeRepeatsOptions {
  data?: string;
  limitTrain?: number;
  limitTest?: number;
  repeat: number;
  augment?: AugmentName;
  /** Folder for `<out>/seed<N>/...`. */
  out: string;
  log: (line: string) => void;
}

/** The active engine, the data, and every repeat's {@linkcode EqualTimeResult}. */
export async function equalTimeRepeats(
  options: EqualTimeRepeatsOptions,
): Promise<EqualTimeResult[]> {
  const { log, repeat } = options;
  const backend = await initBackend();
  log(`Backend: ${backend.name}`);
  const dataset = await loadCifar100({
    data: options.data,
    limitTrain: options.limitTrain,
    limitTest: options.limitTest,
  });
  log(`Data: ${dataset.source.description}`);
  if (dataset.source.note) log(`Note: ${dataset.source.note}`);
  const results: EqualTimeResult[] = [];
  for (let seed = 0; seed < repeat; seed++) {
    log(`== Repeat ${seed + 1}/${repeat} (seed ${seed})`);
    results.push(
      await equalTime({
        dataset,
        seed,
        augment: options.augment,
        out: join(options.out, `seed${seed}`),
        hooks: { log, summary: false },
      }),
    );
  }
  return results;
}

function figures(r: RunRecord) {
  return {
    epochs: r.epochs,
    test_accuracy: r.test_accuracy,
    top5_accuracy: r.top5_accuracy,
    train_seconds: Math.round(trainingSeconds(r) * 10) / 10,
    images_per_second: Math.round(r.train_images_per_second),
    augmentation: r.augmentation,
  };
}

/** The JSON summary of the repeats: the data, every run's accuracy and time, the medians. */
export function summariseRepeats(results: EqualTimeResult[]) {
  const first = results[0];
  const pick = (f: (r: EqualTimeResult) => number) =>
    Math.round(median(results.map(f)) * 1e4) / 1e4;
  return {
    data: first.cnn.data.description,
    data_origin: first.cnn.data.origin,
    data_note: first.cnn.data.note,
    backend: first.cnn.backend,
    train_images: first.cnn.train_images,
    test_images: first.cnn.test_images,
    repeats: results.map((r, seed) => ({
      seed,
      budget_seconds: Math.round(r.budgetSeconds * 10) / 10,
      probe_images_per_second: Math.round(r.probeImagesPerSecond),
      cnn: figures(r.cnn),
      resnet9: figures(r.resnet9),
      resnet9_no_augment: figures(r.noAugment),
    })),
    median: {
      cnn_accuracy: pick((r) => r.cnn.test_accuracy),
      resnet9_accuracy: pick((r) => r.resnet9.test_accuracy),
      resnet9_no_augment_accuracy: pick((r) => r.noAugment.test_accuracy),
      cnn_seconds: pick((r) => trainingSeconds(r.cnn)),
      resnet9_seconds: pick((r) => trainingSeconds(r.resnet9)),
      cnn_images_per_second: pick((r) => r.cnn.train_images_per_second),
      resnet9_images_per_second: pick((r) => r.resnet9.train_images_per_second),
    },
  };
}

/** What {@linkcode summariseRepeats} returns: the command's JSON line. */
export type EqualTimeSummary = ReturnType<typeof summariseRepeats>;
