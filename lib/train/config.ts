/**
 * What a run is, without tfjs: the models, every hyperparameter (one `HYP` per model, in the
 * style of airbench's `hyp`), the run configuration and the run record.
 *
 * Everything here is plain data, so the notebook executor, the reports and the command line
 * can read it without loading an engine.
 *
 * @module
 */
import type { AugmentOptions } from "../data/augment.ts";
import type { Cifar100, DataOrigin } from "../data/dataset.ts";
import type { WeightsKind } from "../models/vgg16_weights.ts";
import { UserError } from "../util/errors.ts";
import type { ProgressInfo } from "../util/progress.ts";

/**
 * The models this project trains: the source's three, and ResNet-9, a model of the fast CIFAR
 * training recipes (notebook 06).
 */
export const MODELS = ["mlp", "cnn", "vgg16", "resnet9"] as const;
/** A model name. */
export type ModelName = typeof MODELS[number];

/** Loss functions; the source's MLP used binary cross-entropy on a softmax, a mistake kept selectable. */
export const LOSSES = ["categorical_crossentropy", "binary_crossentropy"] as const;
/** A loss name, as Keras spells it. */
export type LossName = typeof LOSSES[number];

/** An optimizer and its settings, as Keras names them. */
export type OptimizerSpec =
  | { name: "adam"; learningRate: number; beta1: number; beta2: number; epsilon: number }
  | { name: "rmsprop"; learningRate: number; rho: number; momentum: number; epsilon: number }
  | { name: "sgd"; learningRate: number; momentum: number; nesterov: boolean };

/**
 * Training augmentations by name: `crop+flip` (Page's and airbench's, for natural images, which
 * look as natural mirrored), `crop` (random translation only, for data whose classes a mirror
 * changes, such as digits or the synthetic stand-in's oriented stripes) or `none`.
 */
export const AUGMENTATIONS = ["crop+flip", "crop", "none"] as const;
/** An augmentation name. */
export type AugmentName = typeof AUGMENTATIONS[number];

/**
 * Page's "one cycle": the learning rate rises linearly from 0 to its peak over the first
 * `warmup` of the run (a fraction of all steps), then falls linearly to 0 at the end.
 */
export interface OneCycleSchedule {
  kind: "one-cycle";
  /** Fraction of the run spent rising to the peak. */
  warmup: number;
}

// ---- Hyperparameters: every number a run uses, once ------------------------------------------

/** Keras's `Adam()`: the source's CNN and VGG16 head. */
const KERAS_ADAM = {
  name: "adam",
  learningRate: 1e-3,
  beta1: 0.9,
  beta2: 0.999,
  epsilon: 1e-7,
} as const satisfies OptimizerSpec;

/** Keras's `RMSprop()`: the source's MLP. */
const KERAS_RMSPROP = {
  name: "rmsprop",
  learningRate: 1e-3,
  rho: 0.9,
  momentum: 0,
  epsilon: 1e-7,
} as const satisfies OptimizerSpec;

/** What every run shares. */
const COMMON = {
  /** The source trains every model for 20 epochs. */
  epochs: 20,
  /** The source's batch size. */
  batchSize: 128,
  /** Fixes weights, dropout masks and shuffling. */
  seed: 0,
  /**
   * Categorical cross-entropy for every model. The source trained its softmax MLP with
   * binary cross-entropy (a loss for independent yes/no outputs), which also made its loss
   * figures incomparable; `--loss binary_crossentropy` reproduces that.
   */
  loss: "categorical_crossentropy" as LossName,
} as const;

/**
 * ResNet-9 and the recipe of the fast CIFAR-10 training results, scaled to a CPU budget:
 * David Page, "How to train your ResNet" (2018; DAWNBench, 94% in 79 s on a V100) and Keller
 * Jordan's airbench (2024, 94% in 3.3 s on an A100).
 */
const RESNET9 = {
  /**
   * Filters of the first conv (stages: 2, 4 and 8 times as many). Page's are 64. 12 is about
   * 1/28 of the compute: 1.4 times the images/s of width 16 (measured, README: ResNet-9),
   * about a third of the CNN's, so at the CNN's time budget it still sees several epochs.
   */
  width: 12,
  /**
   * Full-profile epochs, from measured throughput: they and the per-epoch validation fit in
   * 30 minutes on 2 cores with the native engine (README: ResNet-9 budget). Page: 24.
   */
  epochs: 15,
  /**
   * Page's batch is 512; on 2 cores images/s hardly depend on it (421, 474, 519 at 128, 256,
   * 512 for width 16), so 128 gives 4 times the steps per second, which short budgets need.
   */
  batchSize: 128,
  /** Fixes weights, shuffling and the augmentation's draws, as for the other models. */
  seed: 0,
  /** Categorical cross-entropy from the logits, as every model here (with label smoothing). */
  loss: "categorical_crossentropy" as LossName,
  /**
   * Page: SGD with Nesterov momentum 0.9, peak learning rate 0.4 (at his batch 512). Kept at
   * batch 128 rather than scaled down to 0.1: on held-out synthetic data (seed 7, 1,000 images,
   * 5 epochs) peaks of 0.1, 0.2, 0.4 and 0.8 reached 77%, 94%, 98% and 99% test accuracy, 0.8
   * much slower in the first epochs. Another batch size scales it linearly (runRecipe).
   */
  optimizer: { name: "sgd", learningRate: 0.4, momentum: 0.9, nesterov: true },
  /** Page: piecewise linear, 0 -> peak at epoch 5 of 24 -> 0 at the end. */
  schedule: { kind: "one-cycle", warmup: 5 / 24 } satisfies OneCycleSchedule,
  /** Page (and PyTorch's SGD weight_decay): 5e-4 x the weight, on conv and dense kernels. */
  weightDecay: 5e-4,
  /** Page's final recipe and airbench: label smoothing 0.2. */
  labelSmoothing: 0.2,
  /** Page: random 32x32 crops of the image padded by 4 (mirror), and flips (airbench: 2 px). */
  augment: "crop+flip" as AugmentName,
  /** Page's crop: up to 4 pixels each way. */
  cropPixels: 4,
  /** PyTorch's batch-norm momentum 0.1 is Keras's 0.9; its epsilon 1e-5. */
  batchNorm: { momentum: 0.9, epsilon: 1e-5 },
  /** Page: the logits are scaled by 0.125 before the softmax (trains better at high lr). */
  logitScale: 0.125,
  /**
   * Page pools the last 4x4 map to one value per channel (global max). Flattening it keeps
   * where a pattern is, as the source's CNN does: on held-out synthetic data (seed 7, 1,000
   * images, 7 epochs), whose classes are partly positions, 99.6% test accuracy against 90.5%
   * with the global max (README: ResNet-9); on CIFAR-100 it costs 140,000 more weights.
   */
  head: "flatten" as "max" | "flatten",
} as const;

/** Evaluation is forward-only: larger batches than training amortise per-batch overhead. */
export const EVAL_BATCH_SIZE = 500;

/** The hyperparameters of each model. */
export const HYP = {
  mlp: { ...COMMON, optimizer: KERAS_RMSPROP },
  cnn: { ...COMMON, optimizer: KERAS_ADAM },
  vgg16: {
    ...COMMON,
    /** The head trains well on cached features at Adam's default rate. */
    optimizer: KERAS_ADAM,
    /** The source fed 32 px images (a 1x1 final feature map); larger inputs help. */
    inputSize: 32,
    /**
     * Images per forward pass of the frozen base: Keras's batch in the source's fit. 64, 128 and
     * 256 ran within 5% of each other (`deno task bench --models vgg16`, native engine, 2 cores).
     */
    featureBatchSize: 128,
    fineTune: {
      /** Fine-tuning moves pretrained filters: 100x lower, as Keras's transfer-learning guide. */
      optimizer: { ...KERAS_ADAM, learningRate: 1e-5 },
      /** Fine-tuning runs the whole network per batch; two epochs show the gain at bearable cost. */
      epochs: 2,
    },
  },
  resnet9: RESNET9,
} as const;

/** Where run records and trained models go, relative to the working folder. */
export const DEFAULT_OUT = "runs";

/**
 * A readable label, e.g. `Adam(lr=0.001)`, `RMSprop(lr=0.001, rho=0.9)` or
 * `SGD(lr=0.4, momentum=0.9, nesterov)`.
 */
export function optimizerLabel(spec: OptimizerSpec): string {
  if (spec.name === "sgd") {
    return `SGD(lr=${spec.learningRate}, momentum=${spec.momentum}${
      spec.nesterov ? ", nesterov" : ""
    })`;
  }
  return spec.name === "adam"
    ? `Adam(lr=${spec.learningRate})`
    : `RMSprop(lr=${spec.learningRate}, rho=${spec.rho})`;
}

/**
 * The learning rate of a one-cycle schedule at `progress` (0 at the start of the run, 1 at its
 * end), for a peak rate `peak`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const schedule = { kind: "one-cycle", warmup: 0.25 } as const;
 * const rates = [0, 0.125, 0.25, 0.625, 1].map((p) => oneCycle(schedule, 0.4, p));
 * assert.deepEqual(rates.map((r) => Math.round(r * 1e6) / 1e6), [0, 0.2, 0.4, 0.2, 0]);
 * ```
 */
export function oneCycle(schedule: OneCycleSchedule, peak: number, progress: number): number {
  const p = Math.min(Math.max(progress, 0), 1);
  return p < schedule.warmup ? peak * p / schedule.warmup : peak * (1 - p) / (1 - schedule.warmup);
}

/** What a run trains with besides the model, the optimizer and the loss: the ResNet-9 recipe. */
export interface Recipe {
  /** Random crop and flip of every training batch, or null for none. */
  augment: AugmentOptions | null;
  /** The learning-rate schedule, or null for the optimizer's constant rate. */
  schedule: OneCycleSchedule | null;
  /** The schedule's peak (or the constant) learning rate, scaled to the run's batch size. */
  learningRate: number;
  labelSmoothing: number;
  /** L2 weight decay of conv and dense kernels (0 for none). */
  weightDecay: number;
}

/**
 * The recipe of a run: HYP's for ResNet-9 (another augmentation can be asked for, e.g. none
 * for an ablation), nothing beyond the optimizer for the source's models (augmentation can be
 * asked for the MLP and the CNN). A batch size other than HYP's scales the learning rate
 * linearly (Goyal et al. 2017).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(runRecipe({ model: "resnet9", batchSize: 256 }).learningRate, 0.8);
 * assert.equal(runRecipe({ model: "resnet9", augment: "none" }).augment, null);
 * assert.deepEqual(runRecipe({ model: "resnet9" }).augment, { crop: 4, flip: true });
 * assert.equal(runRecipe({ model: "cnn" }).schedule, null);
 * ```
 */
export function runRecipe(
  config: Pick<ExperimentConfig, "model" | "batchSize" | "augment">,
): Recipe {
  const crop = HYP.resnet9.cropPixels;
  const augmentOf = (name: AugmentName): AugmentOptions | null =>
    name === "none" ? null : { crop, flip: name === "crop+flip" };
  if (config.model === "resnet9") {
    const hyp = HYP.resnet9;
    const batchSize = config.batchSize ?? hyp.batchSize;
    return {
      augment: augmentOf(config.augment ?? hyp.augment),
      schedule: hyp.schedule,
      learningRate: hyp.optimizer.learningRate * batchSize / hyp.batchSize,
      labelSmoothing: hyp.labelSmoothing,
      weightDecay: hyp.weightDecay,
    };
  }
  return {
    augment: augmentOf(config.augment ?? "none"),
    schedule: null,
    learningRate: HYP[config.model].optimizer.learningRate,
    labelSmoothing: 0,
    weightDecay: 0,
  };
}

/** How a run record names its augmentation, e.g. `random crop (pad 4, mirror) + flip`. */
export function augmentationLabel(augment: AugmentOptions | null): string {
  if (!augment || (augment.crop === 0 && !augment.flip)) return "none";
  const parts = [];
  if (augment.crop > 0) parts.push(`random crop (pad ${augment.crop}, mirror)`);
  if (augment.flip) parts.push("horizontal flip");
  return parts.join(" + ");
}

/** How a run record names its schedule, e.g. `one-cycle (peak 0.2 at 21% of steps)`. */
export function scheduleLabel(recipe: Recipe): string {
  if (!recipe.schedule) return `constant (${recipe.learningRate})`;
  const at = Math.round(recipe.schedule.warmup * 100);
  return `one-cycle: linear 0 -> ${recipe.learningRate} over ${at}% of steps, then -> 0`;
}

// ---- Runs -------------------------------------------------------------------------------------

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
   * Env variables that changed the profile's budget, e.g. `["CIFAR_EPOCHS=2"]`
   * (lib/train/profile.ts), recorded as `budget_overrides`.
   */
  budgetOverrides?: string[];
  /**
   * Threads for mlp/cnn training: this one plus workers-1 gradient workers (lib/train/parallel.ts).
   * Default: every core on single-threaded backends (wasm, cpu), 1 on tfjs-node.
   */
  workers?: number;
  /** VGG16 only: a weights path, or "none" for random weights. */
  weights?: string;
  /** VGG16 only: input side in pixels (images are upsampled). */
  inputSize?: number;
  /** VGG16 only: after the head, fine-tune block5 at a low learning rate. */
  fineTune?: boolean;
  /**
   * Augmentation of training batches ({@linkcode AUGMENTATIONS}): default `crop+flip` for
   * resnet9 (its recipe), `none` for mlp and cnn (the source); only `none` for vgg16 (its head
   * trains on cached features).
   */
  augment?: AugmentName;
  /** Cache folder for the data, the VGG16 weights and features; default `cacheRoot()`. */
  cacheDir?: string;
  /** An already loaded dataset, to skip loading (limits still apply). */
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

/** Per-epoch metrics, named as Keras's `history.history`. */
export interface History {
  loss: number[];
  accuracy: number[];
  val_loss: number[];
  val_accuracy: number[];
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
    /** `official` (archive MD5 checked), `unofficial`, `unverified` (a folder) or `synthetic`. */
    origin: DataOrigin;
    description: string;
    id: string;
    path?: string;
    note?: string;
  };
  synthetic: boolean;
  /**
   * True only for the official CIFAR-100 archive (its MD5 checked): only then are the results
   * CIFAR-100 results, comparable with the source's.
   */
  official_data: boolean;
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
  /**
   * Env variables that overrode the profile's budget (epochs, training or test images), e.g.
   * `["CIFAR_EPOCHS=2"]`; empty when none did. The budget itself is `epochs`, `train_images`
   * and `test_images`.
   */
  budget_overrides: string[];
  history: History;
  /** Training augmentation, e.g. `random crop (pad 4, mirror) + horizontal flip`, or `none`. */
  augmentation?: string;
  /** The learning rate over the run, e.g. `constant (0.001)` or a one-cycle schedule. */
  lr_schedule?: string;
  /** Label smoothing of the loss (0: none). */
  label_smoothing?: number;
  /** L2 weight decay of conv and dense kernels (0: none). */
  weight_decay?: number;
  /** ResNet-9: filters of its first conv (stages 2, 4, 8 times as many). */
  width?: number;
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
  /** Top-1 probability (softmax of the logits) of every test image, to 3 decimals. */
  test_confidences: number[];
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
  /** `imagenet` (Keras's file, MD5 checked), `file` (another file) or `random` (`--weights none`). */
  weights_kind?: WeightsKind;
  input_size?: number;
  fine_tune?: boolean;
  feature_seconds?: number;
  head_seconds_per_epoch?: number[];
}

/** What a model's trainer adds to the record (the rest comes from the config and the data). */
export type TrainedFields =
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
    | "test_confidences"
    | "summary"
    | "workers"
  >
  & Partial<RunRecord>;

/**
 * Top-1 probabilities as the run record keeps them: 3 decimals, about 6 bytes per test image.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(recordedConfidences(new Float32Array([0.98765, 0.0104])), [0.988, 0.01]);
 * ```
 */
export function recordedConfidences(values: ArrayLike<number>): number[] {
  return Array.from(values, (p) => Math.round(p * 1000) / 1000);
}

/** A run's settings with every default filled in from {@linkcode HYP}. */
export interface RunSettings {
  model: ModelName;
  epochs: number;
  batchSize: number;
  seed: number;
  loss: LossName;
  /** Folder for run records and models, or null to save nothing. */
  out: string | null;
}

/**
 * Fill in the defaults of a (validated) config.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const run = resolveConfig({ model: "cnn", epochs: 2 });
 * assert.equal(run.epochs, 2);
 * assert.equal(run.batchSize, HYP.cnn.batchSize);
 * ```
 */
export function resolveConfig(config: ExperimentConfig): RunSettings {
  const hyp = HYP[config.model];
  return {
    model: config.model,
    epochs: config.epochs ?? hyp.epochs,
    batchSize: config.batchSize ?? hyp.batchSize,
    seed: config.seed ?? hyp.seed,
    loss: config.loss ?? hyp.loss,
    out: config.out === undefined ? DEFAULT_OUT : config.out,
  };
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
  if (config.augment !== undefined && !AUGMENTATIONS.includes(config.augment)) {
    throw new UserError(
      `unknown augmentation '${config.augment}': use one of ${AUGMENTATIONS.join(", ")}`,
    );
  }
  if (config.model === "vgg16" && config.augment && config.augment !== "none") {
    throw new UserError("--augment does not apply to --model vgg16 (cached features)");
  }
  if (config.model !== "vgg16") {
    for (const [flag, v] of [["--weights", config.weights], ["--input-size", config.inputSize]]) {
      if (v !== undefined) throw new UserError(`${flag} applies to --model vgg16 only`);
    }
    if (config.fineTune) throw new UserError("--fine-tune applies to --model vgg16 only");
  }
}

/** Training seconds of a run: its epochs' times, validation excluded. */
export function trainingSeconds(record: Pick<RunRecord, "seconds_per_epoch">): number {
  return record.seconds_per_epoch.reduce((a, b) => a + b, 0);
}

/** Read a saved run record. */
export async function readRunRecord(path: string): Promise<RunRecord> {
  try {
    return JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    throw new UserError(`cannot read run record ${path}: ${(e as Error).message}`);
  }
}
