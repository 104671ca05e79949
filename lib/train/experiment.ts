/**
 * One training run, end to end: settings resolved once -> data -> model -> fit -> run record.
 * The command line and the notebooks both call {@linkcode runExperiment}.
 *
 * @module
 */
import { join } from "node:path";
import { type BackendInfo, initBackend, type tf } from "../engine/backend.ts";
import { setPrecision } from "../engine/precision.ts";
import { loadCifar100 } from "../data/cifar100.ts";
import { holdsCifarFiles } from "../data/cifar_read.ts";
import { statOrUndefined } from "../util/paths.ts";
import { type Cifar100, IMAGE_SIZE } from "../data/dataset.ts";
import { imageExamples } from "../data/examples.ts";
import { type ImageFolderData, loadImageFolder } from "../data/image_folder.ts";
import { toInputSize } from "../models/vgg16.ts";
import { UserError } from "../util/errors.ts";
import { countParams, summary } from "../models/summary.ts";
import { decayedWeights } from "../models/resnet9.ts";
import { saveModel } from "../models/model_io.ts";
import { replaceFolder, writeFileDurably } from "../util/replace_folder.ts";
import { defaultWorkers, startWorkers } from "./parallel.ts";
import { augmentationLabel, oneCycle, scheduleLabel } from "./hyp.ts";
import {
  type ExperimentConfig,
  type ExperimentHooks,
  resolveRun,
  type Run,
} from "./experiment_config.ts";
import { recordedConfidences, type RunRecord } from "./run_record.ts";
import { evaluate, fit, type Trained, TrainingStopped } from "./fit.ts";
import type { TrainingProgress } from "./checkpoint.ts";
import {
  bestEpoch,
  epochCheckpoints,
  experimentIdentity,
  keepBestModel,
  openCheckpoint,
  resumeRun,
  stoppedWithCheckpoint,
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
  const log = hooks.log ?? ((line: string) => console.error(line));
  const started = new Date();
  const backend = await initBackend();
  const run = resolveRun(config, { backend: backend.name, threads: defaultWorkers(backend.name) });
  log(`Backend: ${backend.name}${backend.note ? ` (skipped ${backend.note})` : ""}`);
  // Every run sets its own, so that a bfloat16 run leaves the next run in a process float32.
  setPrecision(run.precision, backend.name);
  if (run.precision !== "float32") {
    log(`Precision: ${run.precision} convolutions and matrix products, float32 weights and loss`);
  }
  // A backbone's weights first: a missing 58 MB file should fail before a long data load.
  const transfer = run.transfer ? await import("./transfer.ts") : undefined;
  const weights = await transfer?.resolveWeights(run);
  const data = await runData(run, hooks, log);
  log(`Data: ${data.source.description}`);
  if (data.source.note) log(`Note: ${data.source.note}`);
  if (data.source.synthetic) log("SYNTHETIC data: these results are not CIFAR-100 results.");
  if (run.budgetOverrides.length) {
    log(`Budget overridden by ${run.budgetOverrides.join(", ")} (not the profile's)`);
  }

  const trained = transfer && weights
    ? await transfer.trainTransfer(run, weights, data, hooks, log)
    : await trainSmallModel(run, data, hooks, log);
  const record = runRecord(run, backend, data, trained, started);
  if (run.out !== null) {
    await saveRecord(record, trained.model, run.out, { keepBest: run.keepBest });
  }
  // A folder's test fields are its held-out images': named so, with how they were chosen.
  const heldOut = record.data.held_out;
  log(
    `${heldOut ? `Held-out (${heldOut.name})` : "Test"} loss: ${record.test_loss.toFixed(4)}` +
      ` - accuracy: ${record.test_accuracy.toFixed(4)}` +
      ` - top-5 accuracy: ${record.top5_accuracy.toFixed(4)}`,
  );
  trained.model.dispose();
  return record;
}

/**
 * The run's data, limited: the given dataset, a folder of your own images (at the input size)
 * or CIFAR-100.
 */
async function runData(
  run: Run,
  hooks: ExperimentHooks,
  log: (line: string) => void,
): Promise<Cifar100> {
  const { limitTrain, limitTest } = run;
  const given = run.dataset;
  const onProgress = hooks.onProgress && ((d: number, t: number) => hooks.onProgress!(d, t, {}));
  // Predict brings files straight to the input size: so must training, not via another size.
  if (given?.preprocessing && given.imageSize !== run.inputSize) {
    throw new UserError(
      `the images were read at ${given.imageSize} px but the input size is ${run.inputSize}: ` +
        `read them at ${run.inputSize} px, or leave the input size unset`,
    );
  }
  if (given) return limited(given, limitTrain, limitTest);
  if (run.data && await isImageFolder(run.data)) {
    const data = await loadImageFolder(run.data, {
      seed: run.seed,
      imageSize: run.inputSize,
      validationSplit: run.validationSplit,
      cacheDir: run.cacheDir && join(run.cacheDir, "image-folders"),
      log,
      onProgress,
    });
    return limited(data, limitTrain, limitTest);
  }
  return await loadCifar100({
    data: run.data,
    seed: run.seed,
    limitTrain,
    limitTest,
    cacheDir: run.cacheDir,
    onProgress,
  });
}

/** The run record of every model. */
function runRecord(
  run: Run,
  backend: BackendInfo,
  data: Cifar100,
  trained: Trained,
  started: Date,
): RunRecord {
  const { history, evaluation } = trained;
  return {
    model: run.model,
    backend: backend.name,
    backend_note: backend.note,
    profile: run.profile,
    data: {
      kind: data.source.kind,
      synthetic: data.source.synthetic,
      origin: data.source.origin,
      description: data.source.description,
      id: data.source.id,
      path: data.source.path,
      note: data.source.note,
      ...("heldOut" in data ? folderFields(data as ImageFolderData) : {}),
    },
    synthetic: data.source.synthetic,
    official_data: data.source.origin === "official",
    params: trained.params.total,
    trainable_params: trained.params.trainable,
    optimizer: run.optimizerLabel,
    history,
    test_loss: evaluation.loss,
    test_accuracy: evaluation.accuracy,
    top5_accuracy: evaluation.top5Accuracy,
    seconds_per_epoch: trained.secondsPerEpoch,
    validation_seconds: trained.validationSeconds,
    train_images_per_second: trained.imagesPerSecond,
    test_predictions: Array.from(evaluation.predictions),
    test_confidences: recordedConfidences(evaluation.confidences),
    summary: trained.summary,
    ...trained.extra,
    workers: run.threads,
    precision: run.precision,
    ...(trained.resumedFromEpoch !== undefined
      ? { resumed_from_epoch: trained.resumedFromEpoch }
      : {}),
    ...(run.keepBest ? { best_epoch: bestEpoch(history.val_accuracy) } : {}),
    epochs: run.epochs,
    batch_size: run.batchSize,
    loss: run.loss,
    seed: run.seed,
    train_images: data.train.count,
    test_images: data.test.count,
    budget_overrides: [...run.budgetOverrides],
    augmentation: augmentationLabel(run.augment),
    lr_schedule: scheduleLabel(run.schedule, run.optimizer.learningRate),
    label_smoothing: run.labelSmoothing,
    weight_decay: run.weightDecay,
    ...(run.width !== undefined ? { width: run.width } : {}),
    started_at: started.toISOString(),
    seconds_total: (Date.now() - started.getTime()) / 1000,
    test_labels: Array.from(data.test.fineLabels),
    // No superclasses, no mapping: a folder's 255s would name none.
    fine_to_coarse: data.coarseLabelNames.length ? Array.from(data.fineToCoarse) : [],
    fine_label_names: data.fineLabelNames,
    coarse_label_names: data.coarseLabelNames,
    input_size: run.inputSize,
    ...(data.preprocessing ? { preprocessing: data.preprocessing } : {}),
  };
}

/** What the record says of a folder of images: the held-out files, the skipped, the ignored. */
function folderFields(data: ImageFolderData): Partial<RunRecord["data"]> {
  const { kind, name, digest } = data.heldOut;
  return {
    held_out: { kind, name, digest, files: [...data.test.files ?? []] },
    skipped: data.skipped.map(({ path, reason }) => ({ file: path, reason })),
    ignored: data.ignored,
  };
}

/** Train mlp, cnn or resnet9, from and to its folder's checkpoint when the run is saved. */
async function trainSmallModel(
  run: Run,
  data: Cifar100,
  hooks: ExperimentHooks,
  log: (line: string) => void,
): Promise<Trained> {
  const { seed, threads, dir, inputSize } = run;
  const kind = run.model as SmallModel;
  const numClasses = data.fineLabelNames.length;
  const imageSize = data.imageSize ?? IMAGE_SIZE;
  const transform = resizeTransform(run, imageSize);
  const model = buildSmallModel(kind, seed, numClasses, inputSize);
  const text = summary(model);
  if (hooks.summary !== false) log(text);
  const identity = { ...experimentIdentity(run, data), precision: run.precision };
  // Before the workers start, so that a refused checkpoint fails at once.
  const checkpoint = dir === undefined
    ? undefined
    : await openCheckpoint(dir, identity, run.checkpoint, log);
  const workers = threads > 1
    ? await startWorkers(threads - 1, run.backend, { model: kind, seed, numClasses, inputSize })
    : [];
  if (threads > 1) log(`Training on ${threads} threads (data parallel)`);
  const train = imageExamples(data.train, data.train.fineLabels, 1 / 255, imageSize);
  const test = imageExamples(data.test, data.test.fineLabels, 1 / 255, imageSize);
  const optimizer = makeOptimizer(run.optimizer);
  if (run.augment) log(`Augmentation: ${augmentationLabel(run.augment)}`);
  const { schedule, optimizer: { learningRate } } = run;
  if (schedule) log(`Learning rate: ${scheduleLabel(schedule, learningRate)}`);
  let resumeFrom: TrainingProgress | undefined;
  const result = await (async () => {
    if (checkpoint) resumeFrom = await resumeRun(checkpoint, model, optimizer, workers, log);
    const saving = { identity, model, optimizer, workers, keepBest: run.keepBest, log };
    return await fit(model, train, {
      epochs: run.epochs,
      batchSize: run.batchSize,
      optimizer,
      loss: run.loss,
      seed,
      validation: test,
      transform,
      log,
      onProgress: hooks.onProgress,
      workers,
      augment: run.augment ?? undefined,
      learningRate: schedule
        ? (position) => oneCycle(schedule, learningRate, position / run.epochs)
        : undefined,
      labelSmoothing: run.labelSmoothing,
      weightDecay: run.weightDecay > 0
        ? { rate: run.weightDecay, names: decayedWeights(model) }
        : undefined,
      resumeFrom,
      onEpochEnd: dir === undefined ? undefined : epochCheckpoints({ dir, ...saving }),
      signal: hooks.signal,
    });
  })().catch((e) => {
    throw e instanceof TrainingStopped ? stoppedWithCheckpoint(e, dir) : e;
  }).finally(() => workers.forEach((w) => w.close()));
  optimizer.dispose();
  return {
    model,
    summary: text,
    params: countParams(model),
    ...result,
    // The test set is the validation set: its last epoch's evaluation is the run's.
    evaluation: result.validation ?? evaluate(model, test, { loss: run.loss, transform }),
    resumedFromEpoch: resumeFrom?.epoch,
  };
}

/** Whether `path` is a folder that does not hold CIFAR-100's files (then: images by class). */
async function isImageFolder(path: string): Promise<boolean> {
  const info = await statOrUndefined(path);
  return !!info?.isDirectory && !(await holdsCifarFiles(path));
}

/**
 * What resizes images of `imageSize` to the run's input size per batch; undefined when they
 * have it already. Gradient workers take no transform.
 */
function resizeTransform(
  run: Run,
  imageSize: number,
): ((x: tf.Tensor) => tf.Tensor) | undefined {
  const { inputSize } = run;
  if (imageSize === inputSize) return undefined;
  if (run.threads > 1) {
    throw new UserError(
      `--input-size ${inputSize} on ${imageSize} px images trains on one thread: ` +
        `pass --workers 1`,
    );
  }
  return (x) => toInputSize(x as tf.Tensor4D, inputSize);
}

/** Apply limits to a dataset loaded elsewhere (the CIFAR loaders apply them to their own). */
function limited<D extends Cifar100>(data: D, limitTrain?: number, limitTest?: number): D {
  const imageBytes = (data.imageSize ?? IMAGE_SIZE) ** 2 * 3;
  const cut = (split: Cifar100["train"], n?: number) =>
    n === undefined || n >= split.count ? split : {
      images: split.images.subarray(0, n * imageBytes),
      fineLabels: split.fineLabels.subarray(0, n),
      coarseLabels: split.coarseLabels.subarray(0, n),
      count: n,
      ...(split.files ? { files: split.files.slice(0, n) } : {}),
    };
  return {
    ...data,
    train: cut(data.train, limitTrain),
    test: cut(data.test, limitTest),
  };
}

/**
 * Save the model and its run record as one unit: `out/<model>/` is replaced whole, so a kill
 * leaves the earlier run or this one. The checkpoint goes with the earlier folder; `best/` is
 * kept with `keepBest`.
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
