/**
 * What notebook 06 (ResNet-9 and its recipe) shows; its discussion is in discussion.ts.
 *
 * @module
 */
import { augmentBatch } from "../data/augment.ts";
import { type Cifar100, IMAGE_BYTES } from "../data/dataset.ts";
import { augmentationLabel, HYP, oneCycle, optimizerLabel, runRecipe } from "../train/hyp.ts";
import { type RunRecord, trainingSeconds } from "../train/run_record.ts";
import { dataChart, withCaveat } from "./charts.ts";
import { type Displayable, imageGrid, plot, table } from "./display.ts";
import { modelName, round } from "./format.ts";

/** One ingredient of the recipe: what it is, its setting here, and where it comes from. */
interface RecipeRow {
  ingredient: string;
  setting: string;
  source: string;
}

const PAGE = "Page, How to train your ResNet (2018)";
const AIRBENCH = "Jordan, airbench (2024)";

/**
 * The ResNet-9 recipe as a table, every setting read from `HYP.resnet9` (lib/train/hyp.ts).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const rows = recipeRows();
 * assert.ok(rows.some((r) => r.ingredient === "label smoothing" && r.setting === "0.2"));
 * ```
 */
export function recipeRows(): RecipeRow[] {
  const h = HYP.resnet9;
  const w = h.width;
  const head = h.head === "flatten" ? "last 4x4 map flattened" : "global max pool";
  return [
    {
      ingredient: "network",
      setting: `ResNet-9, widths ${w}/${2 * w}/${4 * w}/${8 * w}, 3x3 convs, batch norm, ReLU, ` +
        `2 residual blocks, ${head}, logits x ${h.logitScale}`,
      source: `${PAGE} (widths 64-512, global max pool); width ${w} for a 2-core CPU, ` +
        "flattened to keep positions (docs/resnet9.md)",
    },
    {
      ingredient: "optimizer",
      setting: optimizerLabel(h.optimizer),
      source: `${PAGE}: Nesterov momentum 0.9, peak 0.4 (his batch: 512); kept at batch ` +
        `${h.batchSize} (measured on held-out synthetic data, docs/resnet9.md)`,
    },
    {
      ingredient: "learning-rate schedule",
      setting: `one-cycle: 0 -> peak over ${Math.round(h.schedule.warmup * 100)}% of steps -> 0`,
      source: `${PAGE}: piecewise linear, peak at epoch 5 of 24`,
    },
    {
      ingredient: "batch size",
      setting: String(h.batchSize),
      source: `${PAGE} used 512; on 2 cores images/s hardly depend on it, so more steps`,
    },
    {
      ingredient: "weight decay",
      setting: `${h.weightDecay} on conv and dense kernels`,
      source: `${PAGE}: 5e-4; not on batch-norm parameters, as ${AIRBENCH}`,
    },
    {
      ingredient: "label smoothing",
      setting: String(h.labelSmoothing),
      source: `${PAGE} (final version) and ${AIRBENCH}: 0.2`,
    },
    {
      ingredient: "augmentation",
      setting: augmentationLabel(runRecipe({ model: "resnet9" }).augment),
      source: `${PAGE}: pad-4 crops and flips; ${AIRBENCH}: flips and 2-pixel translations`,
    },
    {
      ingredient: "batch norm",
      setting: `momentum ${h.batchNorm.momentum}, epsilon ${h.batchNorm.epsilon}`,
      source: "PyTorch's defaults (momentum 0.1 in its convention), as Page",
    },
    {
      ingredient: "epochs (full profile)",
      setting: String(h.epochs),
      source: `${PAGE}: 24; here what fits in 30 minutes on 2 cores (docs/resnet9.md)`,
    },
  ];
}

/** The recipe table, for the notebook. */
export function recipeTable(): Displayable {
  return table(recipeRows(), { caption: "The ResNet-9 recipe (HYP.resnet9)" });
}

/** The first `count` training images, each followed by `draws` versions augmented as in fit. */
export function augmentationGrid(data: Cifar100, count = 6, draws = 5): Displayable {
  const augment = runRecipe({ model: "resnet9" }).augment!;
  const n = Math.min(count, data.train.count);
  const originals = data.train.images.subarray(0, n * IMAGE_BYTES);
  const variants = Array.from(
    { length: draws },
    (_, d) => augmentBatch(originals, n, augment, 1000 + d),
  );
  const images = new Uint8Array(n * (draws + 1) * IMAGE_BYTES);
  const captions: string[] = [];
  for (let i = 0; i < n; i++) {
    const row = i * (draws + 1);
    images.set(originals.subarray(i * IMAGE_BYTES, (i + 1) * IMAGE_BYTES), row * IMAGE_BYTES);
    captions.push(`${data.fineLabelNames[data.train.fineLabels[i]]}\n(original)`);
    variants.forEach((v, d) => {
      images.set(v.subarray(i * IMAGE_BYTES, (i + 1) * IMAGE_BYTES), (row + d + 1) * IMAGE_BYTES);
      captions.push(`draw ${d + 1}`);
    });
  }
  const grid = imageGrid(images, captions, {
    columns: draws + 1,
    synthetic: data.source.synthetic,
  });
  return withCaveat(grid, data.source, `Augmentation: ${augmentationLabel(augment)}`);
}

/**
 * The learning rate of every step of a ResNet-9 run of `epochs` epochs on `images` images.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { HYP } from "../train/hyp.ts";
 * const rates = scheduleRates(2, 1280); // 10 steps of 128 images per epoch
 * assert.equal(rates.length, 20);
 * assert.equal(rates[0], 0);
 * assert.ok(Math.max(...rates) <= HYP.resnet9.optimizer.learningRate);
 * ```
 */
export function scheduleRates(epochs: number, images: number): number[] {
  const recipe = runRecipe({ model: "resnet9" });
  const batches = Math.ceil(images / HYP.resnet9.batchSize);
  const rates: number[] = [];
  for (let e = 0; e < epochs; e++) {
    for (let b = 0; b < batches; b++) {
      rates.push(oneCycle(recipe.schedule!, recipe.learningRate, (e + b / batches) / epochs));
    }
  }
  return rates;
}

/** The learning rate per step of a run (see {@linkcode scheduleRates}), as a chart. */
export function scheduleChart(epochs: number, images: number): Displayable {
  const rates = scheduleRates(epochs, images);
  const steps = rates.map((_, i) => i + 1);
  return plot({
    data: [{ type: "scatter", mode: "lines", name: "learning rate", x: steps, y: rates }],
    layout: {
      title: { text: `One-cycle learning rate: ${epochs} epochs of ${images} images` },
      xaxis: { title: { text: "step (batch)" } },
      yaxis: { title: { text: "learning rate" } },
    },
  }, { height: 300 });
}

/** A run as the equal-time outputs name it, e.g. `ResNet-9, no augmentation` (the ablation). */
function runLabel(r: RunRecord): string {
  const ablation = r.model === "resnet9" && r.augmentation === "none";
  return modelName(r.model) + (ablation ? ", no augmentation" : "");
}

/** The equal-time comparison's rows: training seconds (validation excluded) and accuracy. */
export function equalTimeRows(records: RunRecord[]) {
  return records.map((r) => ({
    run: runLabel(r),
    epochs: r.epochs,
    train_seconds: round(trainingSeconds(r), 1),
    images_per_second: Math.round(r.train_images_per_second),
    augmentation: r.augmentation ?? "none",
    test_accuracy: round(r.test_accuracy, 4),
    top5_accuracy: round(r.top5_accuracy, 4),
  }));
}

/** Test accuracy after each epoch against the training seconds so far, a trace per run. */
export function accuracyOverTime(records: RunRecord[]): Displayable {
  const data = records.map((r) => {
    let t = 0;
    const x = r.seconds_per_epoch.map((s) => (t += s));
    return {
      type: "scatter",
      mode: "lines+markers",
      name: runLabel(r),
      x,
      y: r.history.val_accuracy,
    };
  });
  const layout = {
    title: { text: "Test accuracy against training time (validation not counted)" },
    xaxis: { title: { text: "training seconds" } },
    yaxis: { title: { text: "test accuracy" } },
  };
  return dataChart({ data, layout }, records, 400);
}
