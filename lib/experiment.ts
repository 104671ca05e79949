/**
 * One training run, end to end: data -> model -> fit -> evaluate -> run record.
 * The command line and the notebooks both call {@linkcode runExperiment}.
 *
 * @module
 */
import { join } from "node:path";
import { initBackend, tf } from "./backend.ts";
import { type Cifar100, loadCifar100 } from "./data/cifar100.ts";
import { imageExamples } from "./data/examples.ts";
import { UserError } from "./errors.ts";
import { countParams, summary } from "./models/layers.ts";
import { buildCnn } from "./models/cnn.ts";
import { buildMlp } from "./models/mlp.ts";
import { saveModel } from "./model_io.ts";
import { defaultWorkers, startWorkers } from "./parallel.ts";
import type { ProgressInfo } from "./progress.ts";
import { evaluate, fit, type History, LOSSES, type LossName } from "./train.ts";

/** The models this project trains. */
export const MODELS = ["mlp", "cnn", "vgg16"] as const;
/** A model name. */
export type ModelName = typeof MODELS[number];

// ---- Hyperparameters, one place ---------------------------------------------------------------
/** Defaults, as in the source notebook unless a comment says otherwise. */
export const DEFAULTS = {
  /** The source trains every model for 20 epochs. */
  epochs: 20,
  /** The source's batch size. */
  batchSize: 128,
  /** Fixes weights, dropout masks and shuffling. */
  seed: 0,
  /**
   * Categorical cross-entropy for every model. The source trained its softmax MLP with
   * binary cross-entropy (a loss for independent yes/no outputs), which also made its
   * loss figures incomparable; `--loss binary_crossentropy` reproduces that.
   */
  loss: "categorical_crossentropy" as LossName,
  /** Where run records and trained models go. */
  out: "runs",
  /** VGG16: the source fed 32 px images (a 1x1 final feature map); larger inputs help. */
  inputSize: 32,
} as const;

/** Keras's RMSprop() and Adam() defaults, which the source used (MLP and CNN). */
function optimizerFor(model: ModelName, learningRate = 1e-3): tf.Optimizer {
  return model === "mlp"
    ? tf.train.rmsprop(learningRate, 0.9, 0, 1e-7)
    : tf.train.adam(learningRate, 0.9, 0.999, 1e-7);
}

/** Everything that defines a run. */
export interface ExperimentConfig {
  model: ModelName;
  epochs?: number;
  batchSize?: number;
  /** A path, "synthetic", or undefined (env CIFAR100_DATA, the cache, then a download). */
  data?: string;
  limitTrain?: number;
  limitTest?: number;
  seed?: number;
  loss?: LossName;
  /** Folder for run records and models; null to save nothing. */
  out?: string | null;
  /** Notebook profile that asked for this run ("smoke" or "full"), recorded as is. */
  profile?: string;
  /**
   * Threads for mlp/cnn training: this one plus workers-1 gradient workers (lib/parallel.ts).
   * Default: every core on single-threaded backends (wasm, cpu), 1 on tfjs-node.
   */
  workers?: number;
  /** VGG16 only: a weights path, or "none" for random weights. */
  weights?: string;
  /** VGG16 only: input side in pixels (images are upsampled). */
  inputSize?: number;
  /** VGG16 only: after the head, fine-tune block5 at a low learning rate. */
  fineTune?: boolean;
  /** Cache folder for the data, the VGG16 weights and features; default `cacheRoot()`. */
  cacheDir?: string;
  /** An already loaded dataset, to skip loading (notebooks reuse one). */
  dataset?: Cifar100;
}

/** Hooks for the front ends. */
export interface ExperimentHooks {
  /** Log lines (summary, epoch lines, notes); default console.error. */
  log?: (line: string) => void;
  /** Batch progress within an epoch or a feature extraction. */
  onProgress?: (done: number, total: number, info: ProgressInfo) => void;
  /** Log the model summary before training (default true; notebooks show it in its own cell). */
  summary?: boolean;
}

/** A run record: what was run, on what, and what came out (also the CLI's JSON line). */
export interface RunRecord {
  model: ModelName;
  backend: string;
  backend_note?: string;
  profile?: string;
  data: {
    kind: string;
    synthetic: boolean;
    description: string;
    id: string;
    path?: string;
    note?: string;
  };
  synthetic: boolean;
  params: number;
  trainable_params: number;
  epochs: number;
  batch_size: number;
  loss: LossName;
  optimizer: string;
  seed: number;
  /** Threads used: training for mlp and cnn, feature extraction for vgg16 (1 = no workers). */
  workers: number;
  train_images: number;
  test_images: number;
  history: History;
  test_loss: number;
  test_accuracy: number;
  top5_accuracy: number;
  seconds_per_epoch: number[];
  validation_seconds: number[];
  train_images_per_second: number;
  started_at: string;
  seconds_total: number;
  /** Top-1 prediction and true fine label for every test image (confusion views). */
  test_predictions: number[];
  test_labels: number[];
  fine_to_coarse: number[];
  fine_label_names: string[];
  coarse_label_names: string[];
  summary: string;
  /** Where the record and the model were written, when saved. */
  record_path?: string;
  model_path?: string;
  /** VGG16 extras. */
  weights?: string;
  input_size?: number;
  fine_tune?: boolean;
  feature_seconds?: number;
  head_seconds_per_epoch?: number[];
}

/** Validate numbers and names before any work starts; throws UserError naming the value. */
export function validateConfig(config: ExperimentConfig): void {
  if (!MODELS.includes(config.model)) {
    throw new UserError(`unknown model '${config.model}': use one of ${MODELS.join(", ")}`);
  }
  const positive: [string, number | undefined][] = [
    ["--epochs", config.epochs],
    ["--batch-size", config.batchSize],
    ["--limit-train", config.limitTrain],
    ["--limit-test", config.limitTest],
    ["--input-size", config.inputSize],
    ["--workers", config.workers],
  ];
  for (const [flag, value] of positive) {
    if (value !== undefined && !(Number.isInteger(value) && value >= 1)) {
      throw new UserError(`${flag} must be a whole number >= 1, got '${value}'`);
    }
  }
  if (config.seed !== undefined && !Number.isInteger(config.seed)) {
    throw new UserError(`--seed must be a whole number, got '${config.seed}'`);
  }
  if (config.loss !== undefined && !LOSSES.includes(config.loss)) {
    throw new UserError(`unknown loss '${config.loss}': use one of ${LOSSES.join(", ")}`);
  }
  if (config.model !== "vgg16") {
    for (const [flag, v] of [["--weights", config.weights], ["--input-size", config.inputSize]]) {
      if (v !== undefined) throw new UserError(`${flag} applies to --model vgg16 only`);
    }
    if (config.fineTune) throw new UserError("--fine-tune applies to --model vgg16 only");
  }
}

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
  const log = hooks.log ?? ((line: string) => console.error(line));
  const started = new Date();
  const backend = await initBackend();
  log(`Backend: ${backend.name}${backend.note ? ` (skipped ${backend.note})` : ""}`);
  // VGG16 weights first: a missing 58 MB file should fail before a long data load.
  const vgg16 = config.model === "vgg16" ? await import("./vgg16_run.ts") : undefined;
  const weights = await vgg16?.resolveWeights(config);
  const dataset = config.dataset ?? await loadCifar100({
    data: config.data,
    seed: config.seed,
    limitTrain: config.limitTrain,
    limitTest: config.limitTest,
    cacheDir: config.cacheDir,
    onProgress: hooks.onProgress ? (d, t) => hooks.onProgress!(d, t, {}) : undefined,
  });
  const data = limited(dataset, config);
  log(`Data: ${data.source.description}`);
  if (data.source.note) log(`Note: ${data.source.note}`);
  if (data.source.synthetic) log("SYNTHETIC data: these results are not CIFAR-100 results.");

  const { trained, ...body } = vgg16 && weights
    ? await vgg16.trainVgg16(config, weights, data, hooks, log)
    : await trainSmallModel(config, data, hooks, log);

  const record: RunRecord = {
    model: config.model,
    backend: backend.name,
    backend_note: backend.note,
    profile: config.profile,
    data: {
      kind: data.source.kind,
      synthetic: data.source.synthetic,
      description: data.source.description,
      id: data.source.id,
      path: data.source.path,
      note: data.source.note,
    },
    synthetic: data.source.synthetic,
    ...body,
    epochs: config.epochs ?? DEFAULTS.epochs,
    batch_size: config.batchSize ?? DEFAULTS.batchSize,
    loss: config.loss ?? DEFAULTS.loss,
    seed: config.seed ?? DEFAULTS.seed,
    train_images: data.train.count,
    test_images: data.test.count,
    started_at: started.toISOString(),
    seconds_total: (Date.now() - started.getTime()) / 1000,
    test_labels: Array.from(data.test.fineLabels),
    fine_to_coarse: Array.from(data.fineToCoarse),
    fine_label_names: data.fineLabelNames,
    coarse_label_names: data.coarseLabelNames,
  };
  const out = config.out === undefined ? DEFAULTS.out : config.out;
  if (out !== null) await saveRecord(record, trained, out);
  log(
    `Test loss: ${record.test_loss.toFixed(4)} - accuracy: ${record.test_accuracy.toFixed(4)}` +
      ` - top-5 accuracy: ${record.top5_accuracy.toFixed(4)}`,
  );
  trained.dispose();
  return record;
}

/** What a model-specific trainer adds to the record, plus the trained model to save. */
export type TrainedBody =
  & Pick<
    RunRecord,
    | "params"
    | "trainable_params"
    | "optimizer"
    | "history"
    | "test_loss"
    | "test_accuracy"
    | "top5_accuracy"
    | "seconds_per_epoch"
    | "validation_seconds"
    | "train_images_per_second"
    | "test_predictions"
    | "summary"
    | "workers"
  >
  & Partial<RunRecord>
  & { trained: tf.LayersModel };

async function trainSmallModel(
  config: ExperimentConfig,
  data: Cifar100,
  hooks: ExperimentHooks,
  log: (line: string) => void,
): Promise<TrainedBody> {
  const seed = config.seed ?? DEFAULTS.seed;
  const kind = config.model as "mlp" | "cnn";
  const model = kind === "mlp" ? buildMlp({ seed }) : buildCnn({ seed });
  const text = summary(model);
  if (hooks.summary !== false) log(text);
  const backend = await initBackend();
  const threads = config.workers ?? defaultWorkers(backend.name);
  const workers = threads > 1
    ? await startWorkers(threads - 1, backend.name, { model: kind, seed })
    : [];
  if (threads > 1) log(`Training on ${threads} threads (data parallel)`);
  const train = imageExamples(data.train, data.train.fineLabels);
  const test = imageExamples(data.test, data.test.fineLabels);
  const loss = config.loss ?? DEFAULTS.loss;
  const optimizer = optimizerFor(config.model);
  const result = await fit(model, train, {
    epochs: config.epochs ?? DEFAULTS.epochs,
    batchSize: config.batchSize ?? DEFAULTS.batchSize,
    optimizer,
    loss,
    seed,
    validation: test,
    log,
    onProgress: hooks.onProgress,
    workers,
  }).finally(() => workers.forEach((w) => w.close()));
  optimizer.dispose();
  const evaluation = await evaluate(model, test, { loss });
  const params = countParams(model);
  return {
    params: params.total,
    trainable_params: params.trainable,
    optimizer: config.model === "mlp" ? "RMSprop(lr=0.001, rho=0.9)" : "Adam(lr=0.001)",
    history: result.history,
    test_loss: evaluation.loss,
    test_accuracy: evaluation.accuracy,
    top5_accuracy: evaluation.top5Accuracy,
    seconds_per_epoch: result.secondsPerEpoch,
    validation_seconds: result.validationSeconds,
    train_images_per_second: result.imagesPerSecond,
    test_predictions: Array.from(evaluation.predictions),
    summary: text,
    workers: threads,
    trained: model,
  };
}

/** Apply limits to a dataset loaded elsewhere (loaders already apply them to their own loads). */
function limited(data: Cifar100, config: ExperimentConfig): Cifar100 {
  const cut = (split: Cifar100["train"], n?: number) =>
    n === undefined || n >= split.count ? split : {
      images: split.images.subarray(0, n * 3072),
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

async function saveRecord(record: RunRecord, model: tf.LayersModel, out: string) {
  const dir = join(out, record.model);
  record.model_path = await saveModel(model, dir);
  record.record_path = join(dir, "run.json");
  await Deno.writeTextFile(record.record_path, JSON.stringify(record) + "\n");
}

/** Read a saved run record. */
export async function readRunRecord(path: string): Promise<RunRecord> {
  try {
    return JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    throw new UserError(`cannot read run record ${path}: ${(e as Error).message}`);
  }
}
