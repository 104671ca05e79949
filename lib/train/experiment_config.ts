/**
 * What a run is asked to do ({@linkcode ExperimentConfig}), checked and completed from
 * {@linkcode HYP} once, before any work starts, into the {@linkcode Run} the trainers take.
 *
 * @module
 */
import { join } from "node:path";
import type { AugmentOptions } from "../data/augment.ts";
import { backbone, type BackboneChoice } from "../models/backbone.ts";
import { MOBILENET_V2_ALPHAS } from "../models/mobilenet_v2.ts";
import { type Cifar100, IMAGE_SIZE } from "../data/dataset.ts";
import { UserError } from "../util/errors.ts";
import type { ProgressInfo } from "../util/progress.ts";
import {
  AUGMENTATIONS,
  type AugmentName,
  DEFAULT_OUT,
  HYP,
  isBackbone,
  LOSSES,
  type LossName,
  type ModelName,
  MODELS,
  type OneCycleSchedule,
  optimizerLabel,
  type OptimizerSpec,
  type PrecisionName,
  PRECISIONS,
  runRecipe,
} from "./hyp.ts";

/** Everything that defines a run. */
export interface ExperimentConfig {
  model: ModelName;
  epochs?: number;
  batchSize?: number;
  /**
   * A CIFAR-100 archive or folder, a folder of your own images (one sub-folder per class),
   * "synthetic", or undefined (env CIFAR100_DATA, the cache, then a download).
   */
  data?: string;
  /** A folder of images without given splits: the share of each class held out. */
  validationSplit?: number;
  limitTrain?: number;
  limitTest?: number;
  seed?: number;
  loss?: LossName;
  /** Folder for run records and models; null to save nothing. */
  out?: string | null;
  /** Notebook profile that asked for this run, recorded as is. */
  profile?: string;
  /** Env variables that changed the profile's budget, e.g. `["CIFAR_EPOCHS=2"]`. */
  budgetOverrides?: string[];
  /** This thread plus gradient workers; default every core on wasm and cpu, 1 on tfjs-node. */
  workers?: number;
  /** A backbone's weights path, or "none" for random weights. */
  weights?: string;
  /** MobileNetV2's width multiplier. */
  alpha?: number;
  /**
   * The model's input side: a folder is decoded at it, CIFAR's images are resized to it.
   * Default: a given dataset's `imageSize`, else 32, or HYP's `inputSize` for a backbone.
   */
  inputSize?: number;
  /** A backbone: after the head, fine-tune the top of the base at a low learning rate. */
  fineTune?: boolean;
  /** Default: the model's recipe; only `none` for a backbone (cached features). */
  augment?: AugmentName;
  /** Default `cacheRoot()`. */
  cacheDir?: string;
  /** An already loaded dataset, to skip loading (limits still apply). */
  dataset?: Cifar100;
  /** What to do with a checkpoint in the run's folder; default `auto`. */
  checkpoint?: CheckpointMode;
  /** Also keep the model of the best validation accuracy, in `<out>/<model>/best/`. */
  keepBest?: boolean;
  /** Precision of convolutions and matrix products; bfloat16: the tensorflow engine, one thread. */
  precision?: PrecisionName;
}

/**
 * What a run does with a checkpoint already in its folder:
 * - `auto` (the notebooks'): go on from it when it is this configuration's, refuse another's
 *   with one line naming the difference;
 * - `resume` (`--resume`): the same, and say so when there is none;
 * - `restart` (`--restart`): delete it and start from epoch 1;
 * - `ask` (the command line without either flag): refuse, saying to pass --resume or --restart.
 */
export type CheckpointMode = "auto" | "resume" | "restart" | "ask";

const CHECKPOINT_MODES: readonly CheckpointMode[] = ["auto", "resume", "restart", "ask"];

/** Hooks for the front ends. */
export interface ExperimentHooks {
  /** Default console.error. */
  log?: (line: string) => void;
  /** Batch progress within an epoch or a feature extraction. */
  onProgress?: (done: number, total: number, info: ProgressInfo) => void;
  /** Log the model summary (default true; notebooks show it in its own cell). */
  summary?: boolean;
  /** A request to stop (Ctrl-C): training stops after the step under way. */
  signal?: AbortSignal;
}

/**
 * A run as it will be trained: every setting resolved once, with HYP's defaults and the recipe
 * filled in; nothing below re-derives one. The data's facts come from the loaded dataset.
 */
export interface Run
  extends
    Readonly<Required<Pick<ExperimentConfig, "model" | "epochs" | "batchSize" | "seed" | "loss">>>,
    Readonly<Required<Pick<ExperimentConfig, "checkpoint" | "keepBest" | "precision">>>,
    Readonly<Pick<ExperimentConfig, "data" | "dataset" | "limitTrain" | "limitTest">>,
    Readonly<Pick<ExperimentConfig, "profile" | "cacheDir">> {
  readonly out: string | null;
  /** The run's own folder, `<out>/<model>`, where its checkpoints go; undefined when unsaved. */
  readonly dir: string | undefined;
  readonly budgetOverrides: readonly string[];
  readonly backend: string;
  /** This thread plus gradient (or, for a backbone, feature) workers. */
  readonly threads: number;
  /** Its learning rate scaled to the batch size (the schedule's peak). */
  readonly optimizer: OptimizerSpec;
  /** How the run record names the optimizer(s). */
  readonly optimizerLabel: string;
  readonly augment: AugmentOptions | null;
  readonly schedule: OneCycleSchedule | null;
  readonly labelSmoothing: number;
  readonly weightDecay: number;
  readonly inputSize: number;
  readonly validationSplit: number;
  /** ResNet-9's width; undefined for other models. */
  readonly width: number | undefined;
  /** A backbone's settings; undefined for the small models. */
  readonly transfer: TransferSettings | undefined;
}

const DEFAULT_VALIDATION_SPLIT = 0.2;

/** The smallest input side each model's layers leave a feature map for (VGG16 checks its own). */
const MIN_INPUT_SIZE: Partial<Record<ModelName, number>> = { cnn: 10, resnet9: 8, mobilenetv2: 32 };

/** The settings only a transfer-learning run has. */
export type TransferSettings =
  & BackboneChoice
  & Readonly<Pick<ExperimentConfig, "weights"> & Required<Pick<ExperimentConfig, "fineTune">>>;

/**
 * Validate `config` and resolve it into the {@linkcode Run} every trainer takes.
 *
 * @param engine the initialised backend's name and its default thread count
 * @throws {UserError} naming a bad value
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { HYP } from "./hyp.ts";
 * const run = resolveRun({ model: "resnet9", batchSize: 256 }, { backend: "cpu", threads: 2 });
 * assert.equal(run.epochs, HYP.resnet9.epochs);
 * assert.equal(run.optimizer.learningRate, 0.8); // HYP's 0.4 at batch 128, scaled
 * assert.equal(run.threads, 2);
 * assert.equal(run.out, "runs");
 * ```
 */
export function resolveRun(
  config: ExperimentConfig,
  engine: { backend: string; threads: number },
): Run {
  validateConfig(config);
  if (config.model === "mobilenetv2" && config.fineTune && engine.backend === "wasm") {
    // tfjs's WebAssembly backend has no gradient kernels for depthwise convolutions.
    throw new UserError(
      "--fine-tune of --model mobilenetv2 needs the native engine (the WebAssembly engine has " +
        "no depthwise convolution gradients): run deno task setup, or leave --fine-tune out",
    );
  }
  const hyp = HYP[config.model];
  const recipe = runRecipe(config);
  const optimizer = { ...hyp.optimizer, learningRate: recipe.learningRate };
  const out = config.out === undefined ? DEFAULT_OUT : config.out;
  // A folder of images already read (a notebook's) was brought to its size: the model takes that.
  const model = config.model;
  const inputSize = config.inputSize ?? config.dataset?.imageSize ??
    (isBackbone(model) ? HYP[model].inputSize : IMAGE_SIZE);
  const transfer = isBackbone(model)
    ? {
      name: model,
      inputSize,
      alpha: model === "mobilenetv2" ? config.alpha ?? HYP.mobilenetv2.alpha : 1,
      weights: config.weights,
      fineTune: !!config.fineTune,
    }
    : undefined;
  const fineTuned = transfer?.fineTune
    ? `, then ${optimizerLabel(HYP[transfer.name].fineTune.optimizer)} on ` +
      backbone(transfer.name).fineTuned
    : "";
  return {
    model: config.model,
    epochs: config.epochs ?? hyp.epochs,
    batchSize: config.batchSize ?? hyp.batchSize,
    seed: config.seed ?? hyp.seed,
    loss: config.loss ?? hyp.loss,
    data: config.data,
    dataset: config.dataset,
    limitTrain: config.limitTrain,
    limitTest: config.limitTest,
    out,
    dir: out === null ? undefined : join(out, config.model),
    profile: config.profile,
    budgetOverrides: config.budgetOverrides ?? [],
    backend: engine.backend,
    threads: config.workers ?? engine.threads,
    optimizer,
    optimizerLabel: optimizerLabel(optimizer) + fineTuned,
    augment: recipe.augment,
    schedule: recipe.schedule,
    labelSmoothing: recipe.labelSmoothing,
    weightDecay: recipe.weightDecay,
    inputSize,
    validationSplit: config.validationSplit ?? DEFAULT_VALIDATION_SPLIT,
    width: config.model === "resnet9" ? HYP.resnet9.width : undefined,
    transfer,
    checkpoint: config.checkpoint ?? "auto",
    keepBest: !!config.keepBest,
    precision: config.precision ?? "float32",
    cacheDir: config.cacheDir,
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
  const smallest = MIN_INPUT_SIZE[config.model] ?? 1;
  if (config.inputSize !== undefined && config.inputSize < smallest) {
    throw new UserError(
      `--input-size ${config.inputSize} is too small for --model ${config.model}: ` +
        `use at least ${smallest}`,
    );
  }
  const split = config.validationSplit;
  if (split !== undefined && !(split > 0 && split < 1)) {
    throw new UserError(
      `--validation-split must be a fraction between 0 and 1 (e.g. 0.2), got '${split}'`,
    );
  }
  if (config.seed !== undefined && !Number.isInteger(config.seed)) {
    throw new UserError(`--seed must be a whole number, got '${config.seed}'`);
  }
  known("loss", config.loss, LOSSES);
  known("augmentation", config.augment, AUGMENTATIONS);
  known("checkpoint mode", config.checkpoint, CHECKPOINT_MODES);
  validatePrecision(config);
  const { model } = config;
  if (isBackbone(model) && config.augment && config.augment !== "none") {
    throw new UserError(`--augment does not apply to --model ${model} (cached features)`);
  }
  if (!isBackbone(model)) {
    if (config.weights !== undefined) {
      throw new UserError("--weights applies to --model vgg16 and mobilenetv2 only");
    }
    if (config.fineTune) {
      throw new UserError("--fine-tune applies to --model vgg16 and mobilenetv2 only");
    }
  }
  if (config.alpha !== undefined && model !== "mobilenetv2") {
    throw new UserError("--alpha applies to --model mobilenetv2 only");
  }
  if (config.alpha !== undefined && !MOBILENET_V2_ALPHAS.includes(config.alpha)) {
    throw new UserError(
      `--alpha ${config.alpha}: MobileNetV2 has Keras weights for ${
        MOBILENET_V2_ALPHAS.join(", ")
      }`,
    );
  }
}

/** `--precision`: a known one; bfloat16 only on one thread and for a model trained whole. */
function validatePrecision(config: ExperimentConfig): void {
  known("precision", config.precision, PRECISIONS);
  if (config.precision === "bfloat16" && config.workers !== undefined && config.workers > 1) {
    // The gradient workers start their own engines at float32.
    throw new UserError("--precision bfloat16 trains on one thread: leave --workers out");
  }
  if (config.precision === "bfloat16" && isBackbone(config.model)) {
    // Their heads train on cached features, which are cached without a precision.
    throw new UserError(
      `--precision bfloat16 applies to mlp, cnn and resnet9, not --model ${config.model} ` +
        "(its features are cached in float32)",
    );
  }
}

/** Throws unless `value` is unset or one of `values`. */
function known<T>(what: string, value: T | undefined, values: readonly T[]): void {
  if (value !== undefined && !values.includes(value)) {
    throw new UserError(`unknown ${what} '${value}': use one of ${values.join(", ")}`);
  }
}
