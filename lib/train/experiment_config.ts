/**
 * What a run is asked to do ({@linkcode ExperimentConfig}, from the command line's flags or a
 * notebook profile), checked before any work starts ({@linkcode validateConfig}) and completed
 * from {@linkcode HYP} ({@linkcode resolveConfig}). Plain data, no tfjs.
 *
 * @module
 */
import type { Cifar100 } from "../data/dataset.ts";
import { UserError } from "../util/errors.ts";
import type { ProgressInfo } from "../util/progress.ts";
import {
  AUGMENTATIONS,
  type AugmentName,
  DEFAULT_OUT,
  HYP,
  LOSSES,
  type LossName,
  type ModelName,
  MODELS,
} from "./hyp.ts";

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
  /**
   * What to do with a checkpoint in the run's folder (a run stopped before its end; see
   * {@linkcode CheckpointMode}); default `auto`. Runs that save nothing (`out: null`) write none.
   */
  checkpoint?: CheckpointMode;
  /** Also keep the model of the epoch with the best validation accuracy, in `<out>/<model>/best/`. */
  keepBest?: boolean;
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

/** The values {@linkcode CheckpointMode} takes. */
export const CHECKPOINT_MODES: readonly CheckpointMode[] = ["auto", "resume", "restart", "ask"];

/** Hooks for the front ends. */
export interface ExperimentHooks {
  /** Log lines (summary, epoch lines, notes); default console.error. */
  log?: (line: string) => void;
  /** Batch progress within an epoch or a feature extraction. */
  onProgress?: (done: number, total: number, info: ProgressInfo) => void;
  /** Log the model summary before training (default true; notebooks show it in its own cell). */
  summary?: boolean;
  /**
   * A request to stop (lib/util/interrupt.ts aborts it on Ctrl-C): training stops at the end of
   * the step under way, after its last epoch's checkpoint, with lib/train/fit.ts'
   * `TrainingStopped`.
   */
  signal?: AbortSignal;
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
 * import { HYP } from "./hyp.ts";
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
  if (config.checkpoint !== undefined && !CHECKPOINT_MODES.includes(config.checkpoint)) {
    throw new UserError(
      `unknown checkpoint mode '${config.checkpoint}': use one of ${CHECKPOINT_MODES.join(", ")}`,
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
