/**
 * One training run, end to end: data -> model -> fit -> evaluate -> run record.
 * The command line and the notebooks both call {@linkcode runExperiment}.
 *
 * @module
 */
import { join } from "node:path";
import { initBackend, tf } from "../engine/backend.ts";
import { loadCifar100 } from "../data/cifar100.ts";
import { type Cifar100, IMAGE_BYTES } from "../data/dataset.ts";
import { imageExamples } from "../data/examples.ts";
import { countParams, summary } from "../models/summary.ts";
import { decayedWeights } from "../models/resnet9.ts";
import { saveModel } from "../models/model_io.ts";
import { replaceFolder, writeFileDurably } from "../util/replace_folder.ts";
import { defaultWorkers, startWorkers } from "./parallel.ts";
import {
  augmentationLabel,
  HYP,
  oneCycle,
  optimizerLabel,
  runRecipe,
  scheduleLabel,
} from "./hyp.ts";
import {
  type ExperimentConfig,
  type ExperimentHooks,
  resolveConfig,
  validateConfig,
} from "./experiment_config.ts";
import { recordedConfidences, type RunRecord } from "./run_record.ts";
import { evaluate, fit, type FitOptions, type Trained, TrainingStopped } from "./fit.ts";
import { CHECKPOINT_FILE, type TrainingProgress } from "./checkpoint.ts";
import {
  bestEpoch,
  epochCheckpoints,
  experimentIdentity,
  keepBestModel,
  openCheckpoint,
  resumeRun,
} from "./resume.ts";
import { makeOptimizer } from "./optimizer.ts";
import { buildSmallModel, type SmallModel } from "./small_models.ts";

/**
 * Run one experiment and return its record (saved under `out/<model>/` unless out is null).
 *
 * @throws {UserError} for bad configuration or data problems.
 * @example
 * ```ts
 * const record = await runExperiment({ model: "cnn", epochs: 1, data: "synthetic" });
 * console.log(record.test_accuracy);
 * ```
 */
export async function runExperiment(
  config: ExperimentConfig,
  hooks: ExperimentHooks = {},
): Promise<RunRecord> {
  validateConfig(config);
  const run = resolveConfig(config);
  const log = hooks.log ?? ((line: string) => console.error(line));
  const started = new Date();
  const backend = await initBackend();
  log(`Backend: ${backend.name}${backend.note ? ` (skipped ${backend.note})` : ""}`);
  // VGG16 weights first: a missing 58 MB file should fail before a long data load.
  const vgg16 = config.model === "vgg16" ? await import("./vgg16_transfer.ts") : undefined;
  const weights = await vgg16?.resolveWeights(config);
  const dataset = config.dataset ?? await loadCifar100({
    data: config.data,
    seed: run.seed,
    limitTrain: config.limitTrain,
    limitTest: config.limitTest,
    cacheDir: config.cacheDir,
    onProgress: hooks.onProgress ? (d, t) => hooks.onProgress!(d, t, {}) : undefined,
  });
  const data = limited(dataset, config);
  log(`Data: ${data.source.description}`);
  if (data.source.note) log(`Note: ${data.source.note}`);
  if (data.source.synthetic) log("SYNTHETIC data: these results are not CIFAR-100 results.");
  if (config.budgetOverrides?.length) {
    log(`Budget overridden by ${config.budgetOverrides.join(", ")} (not the profile's)`);
  }

  const { trained, ...body } = vgg16 && weights
    ? await vgg16.trainVgg16(config, weights, data, hooks, log)
    : await trainSmallModel(config, data, hooks, log);

  const recipe = runRecipe(config);
  const record: RunRecord = {
    model: config.model,
    backend: backend.name,
    backend_note: backend.note,
    profile: config.profile,
    data: {
      kind: data.source.kind,
      synthetic: data.source.synthetic,
      origin: data.source.origin,
      description: data.source.description,
      id: data.source.id,
      path: data.source.path,
      note: data.source.note,
    },
    synthetic: data.source.synthetic,
    official_data: data.source.origin === "official",
    ...body,
    epochs: run.epochs,
    batch_size: run.batchSize,
    loss: run.loss,
    seed: run.seed,
    train_images: data.train.count,
    test_images: data.test.count,
    budget_overrides: config.budgetOverrides ?? [],
    augmentation: augmentationLabel(recipe.augment),
    lr_schedule: scheduleLabel(recipe),
    label_smoothing: recipe.labelSmoothing,
    weight_decay: recipe.weightDecay,
    ...(config.model === "resnet9" ? { width: HYP.resnet9.width } : {}),
    started_at: started.toISOString(),
    seconds_total: (Date.now() - started.getTime()) / 1000,
    test_labels: Array.from(data.test.fineLabels),
    fine_to_coarse: Array.from(data.fineToCoarse),
    fine_label_names: data.fineLabelNames,
    coarse_label_names: data.coarseLabelNames,
  };
  if (run.out !== null) await saveRecord(record, trained, run.out, { keepBest: config.keepBest });
  log(
    `Test loss: ${record.test_loss.toFixed(4)} - accuracy: ${record.test_accuracy.toFixed(4)}` +
      ` - top-5 accuracy: ${record.top5_accuracy.toFixed(4)}`,
  );
  trained.dispose();
  return record;
}

/**
 * Train mlp, cnn or resnet9: from its folder's checkpoint when there is one of this run (see
 * `config.checkpoint`), writing a checkpoint after every epoch when the run is saved.
 */
async function trainSmallModel(
  config: ExperimentConfig,
  data: Cifar100,
  hooks: ExperimentHooks,
  log: (line: string) => void,
): Promise<Trained> {
  const run = resolveConfig(config);
  const { seed, loss } = run;
  const kind = config.model as SmallModel;
  const recipe = runRecipe(config);
  const model = buildSmallModel(kind, seed);
  const text = summary(model);
  if (hooks.summary !== false) log(text);
  const backend = await initBackend();
  const threads = config.workers ?? defaultWorkers(backend.name);
  const spec = { ...HYP[kind].optimizer, learningRate: recipe.learningRate };
  const dir = run.out === null ? undefined : join(run.out, kind);
  const engine = { threads, backend: backend.name, optimizer: optimizerLabel(spec) };
  const identity = experimentIdentity(config, data, engine);
  // Before the workers start, so that a refused checkpoint fails at once.
  const checkpoint = dir === undefined
    ? undefined
    : await openCheckpoint(dir, identity, config.checkpoint ?? "auto", log);
  const workers = threads > 1
    ? await startWorkers(threads - 1, backend.name, { model: kind, seed })
    : [];
  if (threads > 1) log(`Training on ${threads} threads (data parallel)`);
  const train = imageExamples(data.train, data.train.fineLabels);
  const test = imageExamples(data.test, data.test.fineLabels);
  const optimizer = makeOptimizer(spec);
  if (recipe.augment) log(`Augmentation: ${augmentationLabel(recipe.augment)}`);
  if (recipe.schedule) log(`Learning rate: ${scheduleLabel(recipe)}`);
  let resumeFrom: TrainingProgress | undefined;
  const result = await (async () => {
    if (checkpoint) resumeFrom = await resumeRun(checkpoint, model, optimizer, workers, log);
    const saving = { identity, model, optimizer, workers, keepBest: config.keepBest, log };
    return await fit(model, train, {
      epochs: run.epochs,
      batchSize: run.batchSize,
      optimizer,
      loss,
      seed,
      validation: test,
      log,
      onProgress: hooks.onProgress,
      workers,
      ...recipeOptions(config, model),
      resumeFrom,
      onEpochEnd: dir === undefined ? undefined : epochCheckpoints({ dir, ...saving }),
      signal: hooks.signal,
    });
  })().catch((e) => {
    throw e instanceof TrainingStopped ? stoppedWithCheckpoint(e, dir) : e;
  }).finally(() => workers.forEach((w) => w.close()));
  optimizer.dispose();
  const evaluation = await evaluate(model, test, { loss });
  const params = countParams(model);
  return {
    params: params.total,
    trainable_params: params.trainable,
    optimizer: optimizerLabel(spec),
    history: result.history,
    test_loss: evaluation.loss,
    test_accuracy: evaluation.accuracy,
    top5_accuracy: evaluation.top5Accuracy,
    seconds_per_epoch: result.secondsPerEpoch,
    validation_seconds: result.validationSeconds,
    train_images_per_second: result.imagesPerSecond,
    test_predictions: Array.from(evaluation.predictions),
    test_confidences: recordedConfidences(evaluation.confidences),
    summary: text,
    workers: threads,
    ...(resumeFrom ? { resumed_from_epoch: resumeFrom.epoch } : {}),
    ...(config.keepBest ? { best_epoch: bestEpoch(result.history.val_accuracy) } : {}),
    trained: model,
  };
}

/** fit's options from the model's recipe: augmentation, schedule, label smoothing, decay. */
function recipeOptions(config: ExperimentConfig, model: tf.LayersModel): Partial<FitOptions> {
  const recipe = runRecipe(config);
  const { schedule } = recipe;
  const epochs = resolveConfig(config).epochs;
  return {
    augment: recipe.augment ?? undefined,
    learningRate: schedule
      ? (position) => oneCycle(schedule, recipe.learningRate, position / epochs)
      : undefined,
    labelSmoothing: recipe.labelSmoothing,
    weightDecay: recipe.weightDecay > 0
      ? { rate: recipe.weightDecay, names: decayedWeights(model) }
      : undefined,
  };
}

/** A stop's message with what stands after it: the last checkpoint, or none. */
function stoppedWithCheckpoint(e: TrainingStopped, dir: string | undefined): TrainingStopped {
  if (dir === undefined) {
    return new TrainingStopped(e.epochsDone, e.epochs, e.reason, "; the run saves nothing");
  }
  if (e.epochsDone === 0) {
    const none = "; no epoch was complete, so there is no checkpoint";
    return new TrainingStopped(e.epochsDone, e.epochs, e.reason, none);
  }
  const path = join(dir, CHECKPOINT_FILE);
  const after = `; the checkpoint after epoch ${e.epochsDone} stands (${path})`;
  return new TrainingStopped(e.epochsDone, e.epochs, e.reason, after, path);
}

/** Apply limits to a dataset loaded elsewhere (loaders already apply them to their own loads). */
function limited(data: Cifar100, config: ExperimentConfig): Cifar100 {
  const cut = (split: Cifar100["train"], n?: number) =>
    n === undefined || n >= split.count ? split : {
      images: split.images.subarray(0, n * IMAGE_BYTES),
      fineLabels: split.fineLabels.subarray(0, n),
      coarseLabels: split.coarseLabels.subarray(0, n),
      count: n,
    };
  return {
    ...data,
    train: cut(data.train, config.limitTrain),
    test: cut(data.test, config.limitTest),
  };
}

/**
 * Save the trained model and its run record as one unit: `out/<model>/` is replaced by a
 * folder written in full beside it (lib/util/replace_folder.ts), so a kill at any instant
 * leaves the earlier complete run or this one, never new weights beside an old record. Sets
 * the record's `model_path` and `record_path`. The folder's checkpoint goes with the earlier
 * folder (a finished run needs none); with `keepBest`, its best epoch's model (`best/`) is kept.
 */
export async function saveRecord(
  record: RunRecord,
  model: tf.LayersModel,
  out: string,
  options: { keepBest?: boolean } = {},
) {
  const dir = join(out, record.model);
  record.model_path = join(dir, "model.json");
  record.record_path = join(dir, "run.json");
  await replaceFolder(dir, async (staging) => {
    await saveModel(model, staging);
    await writeFileDurably(join(staging, "run.json"), JSON.stringify(record) + "\n");
    if (options.keepBest) await keepBestModel(dir, staging);
  });
}
