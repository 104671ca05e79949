/**
 * Analysis of saved runs, as pure functions over {@linkcode RunRecord}s: accuracy per
 * superclass, confusion matrices, the most confused class pairs, the most confident mistakes,
 * the comparison table, the labels every output carries (what data, which weights, which
 * budget) and a discussion written from the measured numbers (the comparison notebook shows
 * them).
 *
 * @module
 */
import type { DataOrigin, DataSource } from "../data/dataset.ts";
import type { RunRecord } from "../train/run_record.ts";
import { SOURCE_BUDGET } from "../train/hyp.ts";

/** The parts of a run record the analysis reads. */
export type Predictions = Pick<
  RunRecord,
  "test_predictions" | "test_labels" | "fine_to_coarse" | "fine_label_names" | "coarse_label_names"
>;

/** Accuracy on the test images of one superclass. */
export interface SuperclassAccuracy {
  /** Coarse class index. */
  coarse: number;
  /** Superclass name. */
  superclass: string;
  /** Test images whose true fine class belongs to this superclass. */
  images: number;
  /** Share of them whose fine class was predicted exactly. */
  accuracy: number;
  /** Share of them whose predicted fine class lies in the right superclass. */
  coarse_accuracy: number;
}

function checkLengths(p: Predictions): void {
  if (p.test_predictions.length !== p.test_labels.length) {
    throw new RangeError(
      `${p.test_predictions.length} predictions but ${p.test_labels.length} labels`,
    );
  }
}

/**
 * Fine and coarse accuracy per superclass: fine predictions and labels are mapped through
 * `fine_to_coarse`.
 *
 * @param p predictions, labels and the class mapping of a run
 * @returns one row per superclass, in coarse-index order (accuracy 0 where it has no images)
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

/**
 * Share of test images whose predicted fine class lies in the right superclass.
 *
 * @param p predictions, labels and the class mapping of a run
 * @returns a fraction in [0, 1] (0 for no images)
 */
export function coarseAccuracy(p: Predictions): number {
  checkLengths(p);
  if (p.test_labels.length === 0) return 0;
  const hits =
    p.test_labels.filter((label, i) =>
      p.fine_to_coarse[p.test_predictions[i]] === p.fine_to_coarse[label]
    ).length;
  return hits / p.test_labels.length;
}

/**
 * Count matrix of true against predicted class.
 *
 * @param truth true class per example
 * @param predicted predicted class per example
 * @param classes number of classes
 * @returns `m[t][p]` = examples of true class t predicted as p
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(confusionMatrix([0, 1, 1], [0, 0, 1], 2), [[1, 0], [1, 1]]);
 * ```
 */
export function confusionMatrix(
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

/**
 * The fine-class confusion matrix of a run (100x100 for CIFAR-100).
 *
 * @param p predictions and labels of a run
 * @returns `m[true][predicted]` counts
 */
export function fineConfusion(p: Predictions): number[][] {
  return confusionMatrix(p.test_labels, p.test_predictions, p.fine_label_names.length);
}

/**
 * The superclass confusion matrix of a run (20x20): fine labels and predictions mapped
 * through `fine_to_coarse`.
 *
 * @param p predictions, labels and the class mapping of a run
 * @returns `m[true superclass][predicted superclass]` counts
 */
export function coarseConfusion(p: Predictions): number[][] {
  const map = (fine: number[]) => fine.map((f) => p.fine_to_coarse[f]);
  return confusionMatrix(
    map(p.test_labels),
    map(p.test_predictions),
    p.coarse_label_names.length,
  );
}

/** One off-diagonal cell of the fine confusion matrix. */
export interface ConfusedPair {
  /** True fine class name. */
  true_class: string;
  /** Predicted fine class name. */
  predicted_as: string;
  /** Test images of the true class predicted as the other. */
  count: number;
  /** Whether both classes share a superclass. */
  same_superclass: boolean;
}

/**
 * The most frequent mistakes: off-diagonal cells of the fine confusion matrix, largest first
 * (ties in class-index order), zero counts left out.
 *
 * @param p predictions, labels, names and mapping of a run
 * @param n how many pairs (default 10)
 * @returns up to n pairs
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

/** One mistake of a run: a test image whose top-1 prediction is wrong. */
export interface Mistake {
  /** Index of the image in the run's test split. */
  index: number;
  /** True fine class name. */
  true_class: string;
  /** Predicted fine class name. */
  predicted_as: string;
  /** The model's probability for the predicted class. */
  confidence: number;
}

/**
 * The mistakes a run was surest of: wrongly predicted test images, highest top-1 probability
 * first (ties in image order).
 *
 * @param p predictions, labels, names and top-1 probabilities of a run
 * @param n how many (default 24)
 * @returns up to n mistakes
 * @throws {RangeError} when the record has no probability per prediction
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
    throw new RangeError(
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

/** What an output is made from: a dataset's source, one run, or several runs. */
export type DataOf = Pick<DataSource, "synthetic" | "origin"> | RunRecord | readonly RunRecord[];

const MODEL_NAMES: Record<string, string> = { mlp: "MLP", cnn: "CNN", vgg16: "VGG16" };
const modelName = (m: string) => MODEL_NAMES[m] ?? m;

const isRecord = (x: object): x is RunRecord => "model" in x && "data" in x;

function sourcesOf(of: DataOf): { model?: string; synthetic: boolean; origin: DataOrigin }[] {
  const list: readonly (RunRecord | Pick<DataSource, "synthetic" | "origin">)[] = Array.isArray(of)
    ? of
    : [of as RunRecord | Pick<DataSource, "synthetic" | "origin">];
  return list.map((x) =>
    isRecord(x)
      ? { model: x.model, synthetic: x.synthetic, origin: recordOrigin(x) }
      : { synthetic: x.synthetic, origin: x.origin }
  );
}

/** A record's data origin (`unverified` for a real-data record that does not say). */
function recordOrigin(r: RunRecord): DataOrigin {
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
 * The warning every table, chart and the discussion carry when real data is not the verified
 * official CIFAR-100 (synthetic data has its own banner): undefined for the official archive.
 *
 * @param of a dataset's source, a run or runs
 * @returns one line, naming the models when only some runs are concerned
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
  const sources = sourcesOf(of).filter((s) => !s.synthetic);
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

/**
 * A caption with the data caveat appended when there is one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * // Usually `of` is a dataset's `source` or run records.
 * assert.equal(
 *   captioned("Images per class", { synthetic: false, origin: "official" }),
 *   "Images per class",
 * );
 * assert.equal(
 *   captioned("Images per class", { synthetic: false, origin: "unofficial" }),
 *   "Images per class — ⚠ not the official CIFAR-100 archive: its MD5 differs",
 * );
 * ```
 */
export function captioned(caption: string, of: DataOf): string {
  const caveat = dataCaveat(of);
  return caveat ? `${caption} — ⚠ ${caveat}` : caption;
}

const WEIGHTS_LABELS: Record<NonNullable<RunRecord["weights_kind"]>, string> = {
  imagenet: "ImageNet weights",
  file: "weights from a file that is not Keras's ImageNet file",
  random: "RANDOM weights (not ImageNet)",
};

/**
 * A run's model as outputs name it: `MLP`, `CNN`, or for VGG16 what its weights were, from
 * `weights_kind` (e.g. `VGG16 with RANDOM weights (not ImageNet)`).
 */
export function modelLabel(record: Pick<RunRecord, "model" | "weights_kind">): string {
  const name = modelName(record.model);
  return record.weights_kind ? `${name} with ${WEIGHTS_LABELS[record.weights_kind]}` : name;
}

/** The source notebook's budget (named once in lib/train/hyp.ts). */
export { SOURCE_BUDGET };

const count = (n: number) => n.toLocaleString("en-US");

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

const budgetKey = (r: RunRecord) => `${r.epochs}/${r.train_images}/${r.test_images}`;
const sourceBudget = (r: RunRecord) =>
  r.epochs === SOURCE_BUDGET.epochs && r.train_images === SOURCE_BUDGET.train_images &&
  r.test_images === SOURCE_BUDGET.test_images;

/**
 * A warning when the runs had different budgets (epochs, training or test images), so their
 * accuracies are not like for like; undefined when they all had the same.
 *
 * @param records the runs compared
 * @returns markdown, one paragraph
 */
export function budgetNote(records: RunRecord[]): string | undefined {
  if (new Set(records.map(budgetKey)).size <= 1) return undefined;
  return "**Different budgets.** These runs did not train on the same budget: " +
    records.map((r) => `${modelName(r.model)} ${budgetText(r)}`).join("; ") +
    ". Their accuracies are not like for like: a run with fewer epochs or images is handicapped.";
}

/**
 * What each run was: its data (and whether it is the verified official CIFAR-100), its budget
 * (and any env override), and VGG16's weights; then {@linkcode budgetNote} when budgets differ.
 *
 * @param records the runs
 * @returns markdown: one bullet per run
 */
export function runsOverview(records: RunRecord[]): string {
  const origins: Record<DataOrigin, string> = {
    official: "the official archive, MD5 checked",
    unofficial: "⚠ NOT the official archive: its MD5 differs",
    unverified: "⚠ an extracted folder, not verified against the official archive",
    synthetic: "SYNTHETIC",
  };
  const lines = records.map((r) => {
    // Synthetic data's description already says so.
    const origin = r.synthetic ? "" : ` (${origins[recordOrigin(r)]})`;
    return `- **${modelLabel(r)}**: ${r.data.description}${origin}; ${budgetText(r)}` +
      (r.weights ? `; weights: ${r.weights}` : "");
  });
  const note = budgetNote(records);
  return lines.join("\n") + (note ? `\n\n${note}` : "");
}

// ---- The comparison table and the discussion ----------------------------------------------------

/** One row of the comparison table. */
export interface ComparisonRow {
  model: string;
  params: number;
  trainable: number;
  test_accuracy: number;
  top5_accuracy: number;
  test_loss: number;
  /** The loss the model was trained and evaluated with. */
  loss: string;
  /** Epochs trained (VGG16 with fine-tuning: head epochs plus fine-tuning epochs). */
  epochs: number;
  train_images: number;
  test_images: number;
  /** Env variables that overrode the profile's budget, e.g. `CIFAR_EPOCHS=2`; "" for none. */
  budget_overrides: string;
  /** Mean training seconds per epoch (VGG16: head epochs on cached features). */
  seconds_per_epoch: number;
  /** Training images per second. */
  images_per_second: number;
  /** VGG16: one-off seconds to compute the frozen base's features; null for the others. */
  feature_seconds: number | null;
  /** VGG16: `imagenet`, `file` or `random`; null for the others. */
  weights: string | null;
  data: string;
  /** `official`, `unofficial`, `unverified` or `synthetic` (see lib/data/dataset.ts). */
  data_origin: DataOrigin;
  profile: string;
}

const mean = (xs: number[]) => xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0;
const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;

/**
 * The comparison table: one row per run, rounded for display (metrics to 4 decimals,
 * seconds to 3, feature seconds to 1, images/s to whole images).
 *
 * @param records run records
 * @returns rows in the records' order
 */
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

/** The source notebook's results (real CIFAR-100, 20 epochs, its own machine). */
export const SOURCE_RESULTS: readonly {
  model: string;
  test_accuracy: number;
  test_loss: number;
  loss: string;
  seconds_per_epoch: number;
}[] = [
  // Binary cross-entropy: its loss is not comparable with the others.
  {
    model: "mlp",
    test_accuracy: 0.1934,
    test_loss: 0.0451,
    loss: "binary_crossentropy",
    seconds_per_epoch: 6,
  },
  {
    model: "cnn",
    test_accuracy: 0.4178,
    test_loss: 2.326,
    loss: "categorical_crossentropy",
    seconds_per_epoch: 13,
  },
  // Raw RGB input and a head without softmax, 55 to 58 s per epoch.
  {
    model: "vgg16",
    test_accuracy: 0.0907,
    test_loss: 8.523,
    loss: "categorical_crossentropy",
    seconds_per_epoch: 56,
  },
];

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const secs = (x: number) => `${x < 10 ? x.toFixed(2) : x.toFixed(1)} s`;

/**
 * A discussion of the runs, in markdown, written from their measured numbers: ranking by
 * accuracy, speed, the VGG16 feature cost, the best and worst superclasses and the most
 * confused pair of the best model, and how the numbers relate to the source's. Says
 * prominently when the data was synthetic or not the verified official CIFAR-100, when VGG16's
 * weights were not ImageNet's, and when budgets differ from each other or from the source's.
 *
 * @param records run records of one profile
 * @returns markdown text
 */
export function discussion(records: RunRecord[]): string {
  if (records.length === 0) return "No runs to discuss.";
  const synthetic = isSyntheticData(records);
  const caveat = dataCaveat(records);
  const ranked = [...records].sort((a, b) => b.test_accuracy - a.test_accuracy);
  const best = ranked[0];
  const budgets = budgetNote(records);
  return [
    ...dataWarnings(synthetic, caveat),
    accuracyParagraph(ranked, budgets),
    budgets,
    lossParagraph(records),
    speedParagraph(records, best.backend),
    vgg16WeightsWarning(records),
    superclassParagraph(best),
    againstTheSource(records, synthetic, caveat),
  ].filter((paragraph) => paragraph).join("\n\n");
}

/** The discussion's opening warnings: synthetic data, or data not verified as CIFAR-100. */
function dataWarnings(synthetic: boolean, caveat: string | undefined): string[] {
  const out: string[] = [];
  if (synthetic) {
    out.push(
      "**⚠ SYNTHETIC DATA — not CIFAR-100.** These runs used the smoke profile's synthetic " +
        "stand-in and small subsets: the numbers below check that everything works; they say " +
        "nothing about CIFAR-100.",
    );
  }
  if (caveat) {
    out.push(
      `**⚠ Data not verified as CIFAR-100** — ${caveat}. The numbers below are measured on ` +
        "that data; they are CIFAR-100 results only if it is the official dataset, and the " +
        "comparison with the source's CIFAR-100 numbers is not like for like.",
    );
  }
  return out;
}

/** The runs from most to least accurate, against guessing; `budgets` when they differ. */
function accuracyParagraph(ranked: RunRecord[], budgets: string | undefined): string {
  const best = ranked[0];
  const chance = 1 / best.fine_label_names.length;
  return `**Accuracy.** ${
    ranked.map((r) =>
      `${modelName(r.model)} ${pct(r.test_accuracy)} (top-5 ${pct(r.top5_accuracy)})`
    )
      .join(", ")
  }, from most to least accurate, ${
    budgets ? "on different budgets (below)" : `after ${budgetText(best)}`
  }; guessing scores ${pct(chance)}.`;
}

/** The test losses, and whether they can be compared (one loss function for all). */
function lossParagraph(records: RunRecord[]): string {
  const losses = new Set(records.map((r) => r.loss));
  return `**Loss.** Test loss: ${
    records.map((r) => `${modelName(r.model)} ${r.test_loss.toFixed(3)}`).join(", ")
  }. ${
    losses.size === 1
      ? `Every model was trained and evaluated with ${[...losses][0]}, so these are comparable ` +
        "(the source's MLP loss of 0.045 was binary cross-entropy and compared with nothing)."
      : "The models used different losses, so their loss values are not comparable."
  }`;
}

/** Seconds per epoch and images per second of every run (VGG16: plus feature extraction). */
function speedParagraph(records: RunRecord[], backend: string): string {
  const speed = records.map((r) => {
    const extra = r.feature_seconds !== undefined
      ? ` on cached features (plus ${
        secs(r.feature_seconds)
      } once to extract them, or to read them from the cache)`
      : "";
    return `${modelName(r.model)} ${secs(mean(r.seconds_per_epoch))} per epoch, ` +
      `${Math.round(r.train_images_per_second).toLocaleString("en-US")} images/s${extra}`;
  });
  return `**Speed** (${backend} backend). ${speed.join("; ")}.`;
}

/** A warning when VGG16 ran without Keras's ImageNet weights; undefined when it did, or did not run. */
function vgg16WeightsWarning(records: RunRecord[]): string | undefined {
  const vgg = records.find((r) => r.model === "vgg16");
  if (vgg?.weights_kind === "random") {
    return "**VGG16 ran with random weights** (`--weights none`): its features are not ImageNet " +
      "features, so its accuracy shows only that the pipeline works, not what transfer " +
      "learning achieves.";
  } else if (vgg?.weights_kind === "file") {
    return "**VGG16 ran with a weights file that is not Keras's ImageNet file** (its MD5 differs): " +
      "what its features are depends on that file, so its accuracy is not the ImageNet " +
      "transfer-learning result.";
  }
  return undefined;
}

/** The best model's superclass accuracy, best and worst superclass and most frequent mistake. */
function superclassParagraph(best: RunRecord): string | undefined {
  const classes = superclassAccuracy(best).filter((r) => r.images > 0);
  if (classes.length === 0) return undefined;
  const byAccuracy = [...classes].sort((a, b) => b.accuracy - a.accuracy);
  const top = byAccuracy[0], bottom = byAccuracy[byAccuracy.length - 1];
  const pair = topConfusedPairs(best, 1)[0];
  return `**Superclasses** (${modelName(best.model)}). ${
    pct(coarseAccuracy(best))
  } of its predictions fall in the right superclass, against ${
    pct(best.test_accuracy)
  } in the right fine class. Best superclass: ${top.superclass} (${pct(top.accuracy)}); ` +
    `worst: ${bottom.superclass} (${pct(bottom.accuracy)}).` +
    (pair
      ? ` Its most frequent mistake: ${pair.true_class} taken for ${pair.predicted_as} ` +
        `(${pair.count} times${pair.same_superclass ? ", same superclass" : ""}).`
      : "");
}

function againstTheSource(records: RunRecord[], synthetic: boolean, caveat?: string): string {
  const source = SOURCE_RESULTS.map((s) => `${modelName(s.model)} ${pct(s.test_accuracy)}`);
  const intro = `**Against the source** (${source.join(", ")} on CIFAR-100 after ` +
    `${budgetText(SOURCE_BUDGET)}). `;
  if (synthetic) {
    return intro + "Synthetic runs cannot be compared with these; run the full profile for that.";
  }
  const lines = records.map((r) => {
    const s = SOURCE_RESULTS.find((x) => x.model === r.model);
    if (!s) return "";
    const diff = (r.test_accuracy - s.test_accuracy) * 100;
    const budget = sourceBudget(r) ? "" : ` after ${budgetText(r)}`;
    return `${modelName(r.model)}: ${pct(r.test_accuracy)}${budget}, ` +
      `${diff >= 0 ? "+" : ""}${diff.toFixed(1)} points.`;
  }).filter(Boolean);
  const shorter = records.filter((r) => !sourceBudget(r));
  const warnings = [
    ...(caveat ? [caveat] : []),
    ...(shorter.length
      ? [
        `${shorter.map((r) => modelName(r.model)).join(", ")} did not have the source's ` +
        `budget of ${budgetText(SOURCE_BUDGET)}`,
      ]
      : []),
  ];
  const warning = warnings.length ? ` ⚠ Not like for like — ${warnings.join("; ")}.` : "";
  return intro + lines.join(" ") + warning;
}
