/**
 * Analysis of saved runs as pure functions over {@linkcode RunRecord}s, and the labels every
 * output carries (what data, which weights, which budget).
 *
 * @module
 */
import type { DataOrigin, DataSource } from "../data/dataset.ts";
import type { RunRecord } from "../train/run_record.ts";
import { UserError } from "../util/user_error.ts";
import { count, modelName, round } from "./format.ts";

/** The parts of a run record the analysis reads. */
export type Predictions = Pick<
  RunRecord,
  "test_predictions" | "test_labels" | "fine_to_coarse" | "fine_label_names" | "coarse_label_names"
>;

/** Accuracy on the test images of one superclass: fine class exact, and superclass right. */
interface SuperclassAccuracy {
  coarse: number;
  superclass: string;
  images: number;
  accuracy: number;
  coarse_accuracy: number;
}

/** Throws unless a run has one prediction per label. */
export function checkLengths(p: Predictions): void {
  if (p.test_predictions.length !== p.test_labels.length) {
    throw new RangeError(
      `${p.test_predictions.length} predictions but ${p.test_labels.length} labels`,
    );
  }
}

/**
 * Fine and coarse accuracy per superclass, one row each in coarse-index order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const run = { // a run record has these fields (and more)
 *   test_labels: [0, 1, 2, 2],
 *   test_predictions: [0, 0, 2, 0],
 *   fine_to_coarse: [0, 0, 1],
 *   fine_label_names: ["apple", "pear", "bus"],
 *   coarse_label_names: ["fruit", "vehicles"],
 * };
 * const rows = superclassAccuracy(run);
 * const accuracies = rows.map((r) => `${r.superclass}: ${r.accuracy}`);
 * assert.deepEqual(accuracies, ["fruit: 0.5", "vehicles: 0.5"]);
 * assert.equal(rows[0].coarse_accuracy, 1); // the pear taken for an apple is still fruit
 * ```
 */
export function superclassAccuracy(p: Predictions): SuperclassAccuracy[] {
  checkLengths(p);
  const rows = p.coarse_label_names.map((superclass, coarse) => ({
    coarse,
    superclass,
    images: 0,
    accuracy: 0,
    coarse_accuracy: 0,
  }));
  p.test_labels.forEach((label, i) => {
    const predicted = p.test_predictions[i];
    const row = rows[p.fine_to_coarse[label]];
    row.images += 1;
    if (predicted === label) row.accuracy += 1;
    if (p.fine_to_coarse[predicted] === row.coarse) row.coarse_accuracy += 1;
  });
  for (const row of rows) {
    if (row.images === 0) continue;
    row.accuracy /= row.images;
    row.coarse_accuracy /= row.images;
  }
  return rows;
}

/** Share of test images whose predicted fine class lies in the right superclass (0 for none). */
export function coarseAccuracy(p: Predictions): number {
  checkLengths(p);
  if (p.test_labels.length === 0) return 0;
  const hits =
    p.test_labels.filter((label, i) =>
      p.fine_to_coarse[p.test_predictions[i]] === p.fine_to_coarse[label]
    ).length;
  return hits / p.test_labels.length;
}

/** Count matrix of true against predicted class: `m[t][p]` = examples of class t predicted as p. */
function confusionMatrix(
  truth: ArrayLike<number>,
  predicted: ArrayLike<number>,
  classes: number,
): number[][] {
  if (truth.length !== predicted.length) {
    throw new RangeError(`${predicted.length} predictions but ${truth.length} labels`);
  }
  const m = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  for (let i = 0; i < truth.length; i++) {
    const t = truth[i], p = predicted[i];
    if (!(t >= 0 && t < classes && p >= 0 && p < classes)) {
      throw new RangeError(`class ${t < 0 || t >= classes ? t : p} is outside 0..${classes - 1}`);
    }
    m[t][p] += 1;
  }
  return m;
}

/** The fine-class confusion matrix of a run (100x100 for CIFAR-100). */
export function fineConfusion(p: Predictions): number[][] {
  return confusionMatrix(p.test_labels, p.test_predictions, p.fine_label_names.length);
}

/** The superclass confusion matrix of a run (20x20), `m[true][predicted]` counts. */
export function coarseConfusion(p: Predictions): number[][] {
  const map = (fine: number[]) => fine.map((f) => p.fine_to_coarse[f]);
  return confusionMatrix(
    map(p.test_labels),
    map(p.test_predictions),
    p.coarse_label_names.length,
  );
}

/** One off-diagonal cell of the fine confusion matrix. */
interface ConfusedPair {
  true_class: string;
  predicted_as: string;
  count: number;
  same_superclass: boolean;
}

/**
 * The most frequent mistakes: off-diagonal cells of the fine confusion matrix, largest first
 * (ties in class-index order), zero counts left out.
 */
export function topConfusedPairs(p: Predictions, n = 10): ConfusedPair[] {
  const m = fineConfusion(p);
  const cells: { t: number; q: number; count: number }[] = [];
  m.forEach((row, t) =>
    row.forEach((count, q) => {
      if (t !== q && count > 0) cells.push({ t, q, count });
    })
  );
  cells.sort((a, b) => b.count - a.count || a.t - b.t || a.q - b.q);
  return cells.slice(0, n).map(({ t, q, count }) => ({
    true_class: p.fine_label_names[t],
    predicted_as: p.fine_label_names[q],
    count,
    same_superclass: p.fine_to_coarse[t] === p.fine_to_coarse[q],
  }));
}

/** A test image whose top-1 prediction is wrong, with the model's probability for it. */
interface Mistake {
  index: number;
  true_class: string;
  predicted_as: string;
  confidence: number;
}

/**
 * The mistakes a run was surest of, highest top-1 probability first (ties in image order).
 *
 * @throws {UserError} for a record older than `test_confidences`
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const run = { // a run record has these fields (and more)
 *   test_labels: [0, 1, 2],
 *   test_predictions: [0, 2, 0],
 *   test_confidences: [0.9, 0.6, 0.8],
 *   fine_to_coarse: [0, 0, 1],
 *   fine_label_names: ["apple", "pear", "bus"],
 *   coarse_label_names: ["fruit", "vehicles"],
 * };
 * const mistakes = confidentMistakes(run, 3).map((m) => `${m.true_class} -> ${m.predicted_as}`);
 * assert.deepEqual(mistakes, ["bus -> apple", "pear -> bus"]); // 80% sure, then 60% sure
 * ```
 */
export function confidentMistakes(
  p: Predictions & Pick<RunRecord, "test_confidences">,
  n = 24,
): Mistake[] {
  checkLengths(p);
  if (p.test_confidences?.length !== p.test_predictions.length) {
    throw new UserError(
      `${p.test_confidences?.length ?? "no"} confidences for ${p.test_predictions.length} ` +
        "predictions: the record predates test_confidences; train the model again",
    );
  }
  const wrong: number[] = [];
  p.test_labels.forEach((label, i) => {
    if (p.test_predictions[i] !== label) wrong.push(i);
  });
  wrong.sort((a, b) => p.test_confidences[b] - p.test_confidences[a] || a - b);
  return wrong.slice(0, n).map((index) => ({
    index,
    true_class: p.fine_label_names[p.test_labels[index]],
    predicted_as: p.fine_label_names[p.test_predictions[index]],
    confidence: p.test_confidences[index],
  }));
}

// ---- Labels: what data, which weights, which budget ---------------------------------------------

type Source = Pick<DataSource, "synthetic" | "origin">;

/** What an output is made from: a dataset's source, one run, or several runs. */
export type DataOf = Source | RunRecord | readonly RunRecord[];

const isRecord = (x: object): x is RunRecord => "model" in x && "data" in x;

function sourcesOf(
  of: DataOf,
): { model?: string; synthetic: boolean; origin: DataOrigin; ownImages?: boolean }[] {
  const list = (Array.isArray(of) ? of : [of]) as (RunRecord | Source)[];
  return list.map((x) =>
    isRecord(x)
      ? {
        model: x.model,
        synthetic: x.synthetic,
        origin: recordOrigin(x),
        ownImages: x.data.held_out !== undefined,
      }
      : { synthetic: x.synthetic, origin: x.origin }
  );
}

/** A record's data origin (`unverified` for a real-data record that does not say). */
export function recordOrigin(r: RunRecord): DataOrigin {
  return r.data.origin ?? (r.synthetic ? "synthetic" : "unverified");
}

/** True when any of it was synthetic. */
export function isSyntheticData(of: DataOf): boolean {
  return sourcesOf(of).some((s) => s.synthetic);
}

const CAVEATS: Partial<Record<DataOrigin, string>> = {
  unofficial: "not the official CIFAR-100 archive: its MD5 differs",
  unverified: "CIFAR-100 from an extracted folder, not verified against the official archive",
};

/**
 * The warning outputs carry when real data is not the verified official CIFAR-100, naming the
 * models when only some runs are concerned; undefined for the official archive, synthetic data
 * (its own banner) and a folder of your own images (not meant to be CIFAR-100).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(
 *   dataCaveat({ synthetic: false, origin: "unofficial" }),
 *   "not the official CIFAR-100 archive: its MD5 differs",
 * );
 * assert.equal(dataCaveat({ synthetic: false, origin: "official" }), undefined);
 * ```
 */
export function dataCaveat(of: DataOf): string | undefined {
  const sources = sourcesOf(of).filter((s) => !s.synthetic && !s.ownImages);
  const parts = (["unofficial", "unverified"] as const).flatMap((origin) => {
    const concerned = sources.filter((s) => s.origin === origin);
    if (concerned.length === 0) return [];
    const models = concerned.length < sources.length
      ? `${concerned.map((s) => modelName(s.model ?? "data")).join(", ")}: `
      : "";
    return [models + CAVEATS[origin]];
  });
  return parts.length ? parts.join("; ") : undefined;
}

const WEIGHTS_LABELS: Record<NonNullable<RunRecord["weights_kind"]>, string> = {
  imagenet: "ImageNet weights",
  file: "weights from a file that is not Keras's ImageNet file",
  random: "RANDOM weights (not ImageNet)",
};

/** A run's model as outputs name it, with a backbone's weights: `VGG16 with ImageNet weights`. */
export function modelLabel(record: Pick<RunRecord, "model" | "weights_kind">): string {
  const name = modelName(record.model);
  return record.weights_kind ? `${name} with ${WEIGHTS_LABELS[record.weights_kind]}` : name;
}

/** `2 epochs on 5,000 training and 1,000 test images (CIFAR_EPOCHS=2)`. */
export function budgetText(
  r: Pick<RunRecord, "epochs" | "train_images" | "test_images"> & {
    budget_overrides?: string[];
  },
): string {
  const set = r.budget_overrides?.length ? ` (${r.budget_overrides.join(", ")})` : "";
  return `${r.epochs} epoch${r.epochs === 1 ? "" : "s"} on ${count(r.train_images)} training ` +
    `and ${count(r.test_images)} test images${set}`;
}

// ---- The comparison table ---------------------------------------------------------------------

/** One row of the comparison table (VGG16 alone has `feature_seconds` and `weights`). */
export interface ComparisonRow {
  model: string;
  params: number;
  trainable: number;
  test_accuracy: number;
  top5_accuracy: number;
  test_loss: number;
  loss: string;
  /** Epochs trained (VGG16 with fine-tuning: head epochs plus fine-tuning epochs). */
  epochs: number;
  train_images: number;
  test_images: number;
  /** Env variables that overrode the profile's budget, e.g. `CIFAR_EPOCHS=2`; "" for none. */
  budget_overrides: string;
  /** Mean training seconds per epoch (VGG16: head epochs on cached features). */
  seconds_per_epoch: number;
  images_per_second: number;
  feature_seconds: number | null;
  weights: string | null;
  data: string;
  data_origin: DataOrigin;
  profile: string;
}

/** The mean of `xs` (0 for none). */
export const mean = (xs: number[]): number =>
  xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0;

/** The comparison table: one row per run, rounded for display. */
export function comparisonRows(records: RunRecord[]): ComparisonRow[] {
  return records.map((r) => ({
    model: r.model,
    params: r.params,
    trainable: r.trainable_params,
    test_accuracy: round(r.test_accuracy, 4),
    top5_accuracy: round(r.top5_accuracy, 4),
    test_loss: round(r.test_loss, 4),
    loss: r.loss,
    epochs: r.history.loss.length,
    train_images: r.train_images,
    test_images: r.test_images,
    budget_overrides: (r.budget_overrides ?? []).join(", "),
    seconds_per_epoch: round(mean(r.seconds_per_epoch), 3),
    images_per_second: Math.round(r.train_images_per_second),
    feature_seconds: r.feature_seconds === undefined ? null : round(r.feature_seconds, 1),
    weights: r.weights_kind ?? null,
    data: r.data.description,
    data_origin: recordOrigin(r),
    profile: r.profile ?? "",
  }));
}
