/**
 * Every hyperparameter of this project, once, with the reason for it (as airbench's `hyp`),
 * and what follows from them. Plain data, so reports and the command line need no engine.
 *
 * @module
 */
import type { AugmentOptions } from "../data/augment.ts";
import type { BackboneName } from "../models/backbone.ts";

/** The source's three models, ResNet-9 (notebook 06) and MobileNetV2, a base fast enough for photos. */
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

/** Training augmentations: `crop` alone is for classes a mirror changes (digits, oriented stripes). */
export const AUGMENTATIONS = ["crop+flip", "crop", "none"] as const;
/** An augmentation name. */
export type AugmentName = typeof AUGMENTATIONS[number];

/** The compute precisions, listed with the other choices of a run. */
export { type PrecisionName, PRECISIONS } from "../engine/precision.ts";

/** Page's "one cycle": linear from 0 to the peak over the first `warmup` of all steps, then to 0. */
export interface OneCycleSchedule {
  kind: "one-cycle";
  warmup: number;
}

/** The source notebook's budget; the reports call a run that kept it comparable with the source. */
export const SOURCE_BUDGET = { epochs: 20, train_images: 50_000, test_images: 10_000 } as const;

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

/** What every run shares: the source's epochs and batch size. */
const COMMON = {
  epochs: SOURCE_BUDGET.epochs,
  batchSize: 128,
  seed: 0,
  /** The source's MLP used binary cross-entropy; `--loss binary_crossentropy` reproduces it. */
  loss: "categorical_crossentropy" as LossName,
} as const;

/**
 * ResNet-9 and the fast CIFAR-10 recipe of David Page ("How to train your ResNet", 2018) and
 * Keller Jordan's airbench (2024), scaled to a CPU budget; the measurements: docs/resnet9.md.
 */
const RESNET9 = {
  /** Filters of the first conv (stages 2, 4, 8 times as many); Page's 64 is too slow on a CPU. */
  width: 12,
  /** Page: 24; 15 with their validation fit the full profile's 30 minutes on 2 cores. */
  epochs: 15,
  /** Page: 512; on 2 cores images/s hardly depend on it, and short budgets need the steps. */
  batchSize: 128,
  seed: COMMON.seed,
  loss: COMMON.loss,
  /** Page's, peak 0.4 kept at batch 128 (0.1 learned much slower); runRecipe scales it. */
  optimizer: { name: "sgd", learningRate: 0.4, momentum: 0.9, nesterov: true },
  /** Page: piecewise linear, 0 -> peak at epoch 5 of 24 -> 0 at the end. */
  schedule: { kind: "one-cycle", warmup: 5 / 24 } satisfies OneCycleSchedule,
  /** As PyTorch's SGD weight_decay, on conv and dense kernels. */
  weightDecay: 5e-4,
  labelSmoothing: 0.2,
  augment: "crop+flip" as AugmentName,
  /** Page's crop: up to 4 pixels each way (airbench: 2). */
  cropPixels: 4,
  /** PyTorch's batch-norm momentum 0.1 is Keras's 0.9; its epsilon 1e-5. */
  batchNorm: { momentum: 0.9, epsilon: 1e-5 },
  /** Page: the logits are scaled by 0.125 before the softmax (trains better at high lr). */
  logitScale: 0.125,
  /** Page: global max; flattening keeps where a pattern is, as the source's CNN does. */
  head: "flatten" as "max" | "flatten",
} as const;

/** The hyperparameters of each model. */
export const HYP = {
  mlp: { ...COMMON, optimizer: KERAS_RMSPROP },
  cnn: { ...COMMON, optimizer: KERAS_ADAM },
  vgg16: {
    ...COMMON,
    optimizer: KERAS_ADAM,
    /** The source's 32 px leave a 1x1 final feature map; larger inputs help. */
    inputSize: 32,
    /** Images per forward pass of the frozen base: Keras's batch in the source's fit. */
    featureBatchSize: 128,
    fineTune: {
      /** Fine-tuning moves pretrained filters: 100x lower, as Keras's transfer-learning guide. */
      optimizer: { ...KERAS_ADAM, learningRate: 1e-5 },
      /** Two epochs of the whole network show the gain at bearable cost. */
      epochs: 2,
    },
  },
  resnet9: RESNET9,
  mobilenetv2: {
    ...COMMON,
    optimizer: KERAS_ADAM,
    /** The smallest side Keras has weights for. */
    inputSize: 96,
    /** Keras's default width; its ImageNet top-1 is VGG16's. */
    alpha: 1.0,
    featureBatchSize: 128,
    fineTune: {
      optimizer: { ...KERAS_ADAM, learningRate: 1e-5 },
      epochs: 2,
    },
  },
} as const;

/** Evaluation is forward-only: larger batches than training amortise per-batch overhead. */
export const EVAL_BATCH_SIZE = 500;

/** Where run records and trained models go, relative to the working folder. */
export const DEFAULT_OUT = "runs";

/** What a notebook profile decides, before env overrides (lib/train/profile.ts applies them). */
export interface NotebookProfile {
  /** `"synthetic"`, or undefined for the real data lookup (CIFAR100_DATA, cache, download). */
  data: "synthetic" | undefined;
  seed: number;
  epochs: Record<ModelName, number>;
  /** Training and test images of each model (undefined: the whole split). */
  subsets: Record<ModelName, { train?: number; test?: number }>;
  /** A backbone's weights: "none" (random) or undefined (ImageNet's). */
  weights: "none" | undefined;
}

const allModels = (epochs: number) =>
  Object.fromEntries(MODELS.map((model) => [model, epochs])) as Record<ModelName, number>;

/**
 * The notebook profiles (env CIFAR_PROFILE): `smoke`, synthetic data so every notebook runs
 * offline in a minute or two (tests and the demo), and `full`, the source's data and budget.
 */
export const NOTEBOOK_PROFILES = {
  smoke: {
    data: "synthetic",
    seed: COMMON.seed,
    epochs: allModels(2),
    // About a minute per notebook on 2 cores, big enough to beat chance; the bases are slow.
    subsets: {
      mlp: { train: 2000, test: 500 },
      cnn: { train: 2000, test: 500 },
      vgg16: { train: 512, test: 256 },
      resnet9: { train: 2000, test: 500 },
      mobilenetv2: { train: 512, test: 256 },
    },
    /** Random weights keep the smoke profile offline. */
    weights: "none",
  },
  full: {
    data: undefined,
    seed: COMMON.seed,
    epochs: { ...allModels(SOURCE_BUDGET.epochs), resnet9: RESNET9.epochs },
    subsets: { mlp: {}, cnn: {}, vgg16: {}, resnet9: {}, mobilenetv2: {} },
    weights: undefined,
  },
} as const satisfies Record<string, NotebookProfile>;

/** A readable label, e.g. `Adam(lr=0.001)` or `SGD(lr=0.4, momentum=0.9, nesterov)`. */
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
 * The learning rate of a one-cycle schedule at `progress` (0 to 1 over the run).
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
  augment: AugmentOptions | null;
  /** null: the optimizer's constant rate. */
  schedule: OneCycleSchedule | null;
  /** The schedule's peak (or the constant) rate, scaled to the run's batch size. */
  learningRate: number;
  labelSmoothing: number;
  weightDecay: number;
}

/**
 * The recipe of a run: HYP's for ResNet-9, only an augmentation if asked for the others. A batch
 * size other than HYP's scales the learning rate linearly (Goyal et al. 2017).
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
 * How a run record names its learning rate over the run (`learningRate`: the constant or peak).
 *
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
