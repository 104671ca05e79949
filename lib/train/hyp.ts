/**
 * Every hyperparameter of this project, once, with the reason for it (in the style of
 * airbench's `hyp`): the models, losses and augmentations by name, one `HYP` per model, the
 * source's budget, the notebook profiles, and what follows from them (the recipe of a run, the
 * learning-rate schedule, the labels a run record gives them).
 *
 * Everything here is plain data, so the notebook executor, the reports and the command line
 * can read it without loading an engine. The model builders (lib/models/) take these numbers as
 * arguments and hold no defaults of their own.
 *
 * @module
 */
import type { AugmentOptions } from "../data/augment.ts";
import type { BackboneName } from "../models/backbone.ts";

/**
 * The models this project trains: the source's three, ResNet-9, a model of the fast CIFAR
 * training recipes (notebook 06), and MobileNetV2, a pretrained base fast enough for photos.
 */
export const MODELS = ["mlp", "cnn", "vgg16", "resnet9", "mobilenetv2"] as const;
/** A model name. */
export type ModelName = typeof MODELS[number];

/** The models that are a head on a pretrained base (lib/models/backbone.ts). */
const BACKBONES = ["vgg16", "mobilenetv2"] as const satisfies readonly (ModelName & BackboneName)[];

/** Whether a model is a head on a pretrained base rather than a model trained whole. */
export function isBackbone(model: string): model is BackboneName {
  return (BACKBONES as readonly string[]).includes(model);
}

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

/** The compute precisions, listed with the other choices of a run. */
export { type PrecisionName, PRECISIONS } from "../engine/precision.ts";

/**
 * Page's "one cycle": the learning rate rises linearly from 0 to its peak over the first
 * `warmup` of the run (a fraction of all steps), then falls linearly to 0 at the end.
 */
export interface OneCycleSchedule {
  kind: "one-cycle";
  /** Fraction of the run spent rising to the peak. */
  warmup: number;
}

// ---- The source's budget ----------------------------------------------------------------------

/**
 * The source notebook's budget: every model trains for 20 epochs on all of CIFAR-100's 50,000
 * training images and is tested on its 10,000 test images. The full profile and the source's
 * models' `epochs` follow it; the reports name a run that kept it as comparable with the source.
 */
export const SOURCE_BUDGET = { epochs: 20, train_images: 50_000, test_images: 10_000 } as const;

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
  /** The source's budget ({@linkcode SOURCE_BUDGET}). */
  epochs: SOURCE_BUDGET.epochs,
  /** The source's batch size. */
  batchSize: 128,
  /** Fixes weights, dropout masks, shuffling and the augmentation's draws. */
  seed: 0,
  /**
   * Categorical cross-entropy (from the logits) for every model. The source trained its softmax
   * MLP with binary cross-entropy (a loss for independent yes/no outputs), which also made its
   * loss figures incomparable; `--loss binary_crossentropy` reproduces that.
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
   * 1/28 of the compute: 1.4 times the images/s of width 16 (measured, docs/resnet9.md),
   * about a third of the CNN's, so at the CNN's time budget it still sees several epochs.
   */
  width: 12,
  /**
   * Full-profile epochs, from measured throughput: they and the per-epoch validation fit in
   * 30 minutes on 2 cores with the native engine (docs/resnet9.md, "The full-profile budget"). Page: 24.
   */
  epochs: 15,
  /**
   * Page's batch is 512; on 2 cores images/s hardly depend on it (docs/resnet9.md), so 128
   * gives 4 times the steps per second, which short budgets need.
   */
  batchSize: 128,
  seed: COMMON.seed,
  /** As every model here, with label smoothing. */
  loss: COMMON.loss,
  /**
   * Page: SGD with Nesterov momentum 0.9, peak learning rate 0.4 (at his batch 512). Kept at
   * batch 128 rather than scaled down to 0.1, which learned much slower on held-out synthetic
   * data (docs/resnet9.md). Another batch size scales it linearly (runRecipe).
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
   * with the global max (docs/resnet9.md); on CIFAR-100 it costs 140,000 more weights.
   */
  head: "flatten" as "max" | "flatten",
} as const;

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
  mobilenetv2: {
    ...COMMON,
    optimizer: KERAS_ADAM,
    /** The smallest side Keras has weights for: about 0.1 GFLOP per image at alpha 1. */
    inputSize: 96,
    /** Keras's default width; its ImageNet top-1 is VGG16's. */
    alpha: 1.0,
    /** A forward pass needs far less memory per image than VGG16's, so batches can be larger. */
    featureBatchSize: 128,
    fineTune: {
      /** As VGG16's: 100x below the head's rate, so the pretrained filters move little. */
      optimizer: { ...KERAS_ADAM, learningRate: 1e-5 },
      epochs: 2,
    },
  },
} as const;

/** Evaluation is forward-only: larger batches than training amortise per-batch overhead. */
export const EVAL_BATCH_SIZE = 500;

/** Where run records and trained models go, relative to the working folder. */
export const DEFAULT_OUT = "runs";

// ---- Notebook profiles ------------------------------------------------------------------------

/** Training and test images a model trains and is tested on (undefined = the whole split). */
interface Subset {
  train?: number;
  test?: number;
}

/** What a notebook profile decides, before env overrides (lib/train/profile.ts applies them). */
export interface NotebookProfile {
  /** `"synthetic"`, or undefined for the real data lookup (CIFAR100_DATA, cache, download). */
  data: "synthetic" | undefined;
  /** Seed for weights, shuffling, dropout and the synthetic data. */
  seed: number;
  /** Epochs of each model. */
  epochs: Record<ModelName, number>;
  /** Images of each model. */
  subsets: Record<ModelName, Subset>;
  /** VGG16 weights: "none" (random) or undefined (ImageNet: VGG16_WEIGHTS, cache, download). */
  weights: "none" | undefined;
}

/** Epochs for every model. */
const allModels = (epochs: number): Record<ModelName, number> => ({
  mlp: epochs,
  cnn: epochs,
  vgg16: epochs,
  resnet9: epochs,
  mobilenetv2: epochs,
});

/**
 * The notebook profiles (env CIFAR_PROFILE): `smoke`, a small synthetic stand-in for CIFAR-100
 * so that every notebook runs offline in a minute or two on a 2-core machine (tests and the demo
 * use it), and `full`, the real CIFAR-100 at the source's budget with ImageNet weights for
 * VGG16, to reproduce the source.
 */
export const NOTEBOOK_PROFILES = {
  smoke: {
    data: "synthetic",
    seed: COMMON.seed,
    /** Two epochs show the curves' shape in seconds. */
    epochs: allModels(2),
    subsets: {
      // Small enough for about a minute per notebook on 2 cores, big enough to beat chance.
      mlp: { train: 2000, test: 500 },
      cnn: { train: 2000, test: 500 },
      // Random-weight VGG16 feature extraction runs about 35 images/s on 2 cores.
      vgg16: { train: 512, test: 256 },
      // Notebook 06 trains it three times (recipe, no augmentation, the CNN at equal time).
      resnet9: { train: 2000, test: 500 },
      mobilenetv2: { train: 512, test: 256 },
    },
    /** Random weights keep the smoke profile offline. */
    weights: "none",
  },
  full: {
    data: undefined,
    seed: COMMON.seed,
    /** The source's budget; ResNet-9's is its own (HYP.resnet9.epochs), not the source's. */
    epochs: { ...allModels(SOURCE_BUDGET.epochs), resnet9: RESNET9.epochs },
    /** Whole splits: on CIFAR-100, the source's images ({@linkcode SOURCE_BUDGET}). */
    subsets: { mlp: {}, cnn: {}, vgg16: {}, resnet9: {}, mobilenetv2: {} },
    weights: undefined,
  },
} as const satisfies Record<string, NotebookProfile>;

// ---- What follows from them -------------------------------------------------------------------

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
 * @param config the run's model, and its batch size and augmentation when not HYP's
 *   (an `ExperimentConfig` will do)
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
  config: { model: ModelName; batchSize?: number; augment?: AugmentName },
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

/**
 * How a run record names its learning rate over the run.
 *
 * @param schedule the schedule, or null for a constant rate
 * @param learningRate the constant rate, or the schedule's peak
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(scheduleLabel(null, 0.001), "constant (0.001)");
 * assert.equal(
 *   scheduleLabel({ kind: "one-cycle", warmup: 5 / 24 }, 0.4),
 *   "one-cycle: linear 0 -> 0.4 over 21% of steps, then -> 0",
 * );
 * ```
 */
export function scheduleLabel(schedule: OneCycleSchedule | null, learningRate: number): string {
  if (!schedule) return `constant (${learningRate})`;
  const at = Math.round(schedule.warmup * 100);
  return `one-cycle: linear 0 -> ${learningRate} over ${at}% of steps, then -> 0`;
}
