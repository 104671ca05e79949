/**
 * Analysis of saved runs, as pure functions over {@linkcode RunRecord}s: accuracy per
 * superclass, confusion matrices, the most confused class pairs, the comparison table and
 * a discussion written from the measured numbers (the comparison notebook shows them).
 *
 * @module
 */
import type { RunRecord } from "../train/config.ts";

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
 * superclassAccuracy(record).map((r) => `${r.superclass}: ${r.accuracy}`);
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
 * confusionMatrix([0, 1, 1], [0, 0, 1], 2); // [[1, 0], [1, 1]]
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
  epochs: number;
  /** Mean training seconds per epoch (VGG16: head epochs on cached features). */
  seconds_per_epoch: number;
  /** Training images per second. */
  images_per_second: number;
  /** VGG16: one-off seconds to compute the frozen base's features; null for the others. */
  feature_seconds: number | null;
  data: string;
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
    seconds_per_epoch: round(mean(r.seconds_per_epoch), 3),
    images_per_second: Math.round(r.train_images_per_second),
    feature_seconds: r.feature_seconds === undefined ? null : round(r.feature_seconds, 1),
    data: r.data.description,
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

const MODEL_NAMES: Record<string, string> = { mlp: "MLP", cnn: "CNN", vgg16: "VGG16" };
const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const secs = (x: number) => `${x < 10 ? x.toFixed(2) : x.toFixed(1)} s`;
const modelName = (m: string) => MODEL_NAMES[m] ?? m;

/**
 * A discussion of the runs, in markdown, written from their measured numbers: ranking by
 * accuracy, speed, the VGG16 feature cost, the best and worst superclasses and the most
 * confused pair of the best model, and how the numbers relate to the source's. Says
 * prominently when the data was synthetic or VGG16's weights random.
 *
 * @param records run records of one profile
 * @returns markdown text
 */
export function discussion(records: RunRecord[]): string {
  if (records.length === 0) return "No runs to discuss.";
  const out: string[] = [];
  const synthetic = records.some((r) => r.synthetic);
  if (synthetic) {
    out.push(
      "**⚠ SYNTHETIC DATA — not CIFAR-100.** These runs used the smoke profile's synthetic " +
        "stand-in and small subsets: the numbers below check that everything works; they say " +
        "nothing about CIFAR-100.",
    );
  }
  const ranked = [...records].sort((a, b) => b.test_accuracy - a.test_accuracy);
  const best = ranked[0];
  const chance = 1 / best.fine_label_names.length;
  out.push(
    `**Accuracy.** ${
      ranked.map((r) =>
        `${modelName(r.model)} ${pct(r.test_accuracy)} (top-5 ${pct(r.top5_accuracy)})`
      ).join(", ")
    }, from most to least accurate, after ${
      [...new Set(records.map((r) => r.history.loss.length))].join("/")
    } epochs on ${best.train_images.toLocaleString("en-US")} training and ` +
      `${best.test_images.toLocaleString("en-US")} test images; guessing scores ${pct(chance)}.`,
  );
  const losses = new Set(records.map((r) => r.loss));
  out.push(
    `**Loss.** Test loss: ${
      records.map((r) => `${modelName(r.model)} ${r.test_loss.toFixed(3)}`).join(", ")
    }. ${
      losses.size === 1
        ? `Every model was trained and evaluated with ${[...losses][0]}, so these are comparable ` +
          "(the source's MLP loss of 0.045 was binary cross-entropy and compared with nothing)."
        : "The models used different losses, so their loss values are not comparable."
    }`,
  );
  const speed = records.map((r) => {
    const extra = r.feature_seconds !== undefined
      ? ` on cached features (plus ${
        secs(r.feature_seconds)
      } once to extract them, or to read them from the cache)`
      : "";
    return `${modelName(r.model)} ${secs(mean(r.seconds_per_epoch))} per epoch, ` +
      `${Math.round(r.train_images_per_second).toLocaleString("en-US")} images/s${extra}`;
  });
  out.push(`**Speed** (${best.backend} backend). ${speed.join("; ")}.`);
  const vgg = records.find((r) => r.model === "vgg16");
  if (vgg?.weights && /random/i.test(vgg.weights)) {
    out.push(
      "**VGG16 ran with random weights** (`--weights none`): its features are not ImageNet " +
        "features, so its accuracy shows only that the pipeline works, not what transfer " +
        "learning achieves.",
    );
  }
  const classes = superclassAccuracy(best).filter((r) => r.images > 0);
  if (classes.length > 0) {
    const byAccuracy = [...classes].sort((a, b) => b.accuracy - a.accuracy);
    const top = byAccuracy[0], bottom = byAccuracy[byAccuracy.length - 1];
    const pair = topConfusedPairs(best, 1)[0];
    out.push(
      `**Superclasses** (${modelName(best.model)}). ${
        pct(coarseAccuracy(best))
      } of its predictions fall in the right superclass, against ${
        pct(best.test_accuracy)
      } in the right fine class. Best superclass: ${top.superclass} (${pct(top.accuracy)}); ` +
        `worst: ${bottom.superclass} (${pct(bottom.accuracy)}).` +
        (pair
          ? ` Its most frequent mistake: ${pair.true_class} taken for ${pair.predicted_as} ` +
            `(${pair.count} times${pair.same_superclass ? ", same superclass" : ""}).`
          : ""),
    );
  }
  const source = SOURCE_RESULTS.map((s) => `${modelName(s.model)} ${pct(s.test_accuracy)}`);
  out.push(
    `**Against the source** (${source.join(", ")} on CIFAR-100 after 20 epochs). ` +
      (synthetic
        ? "Synthetic runs cannot be compared with these; run the full profile for that."
        : records.map((r) => {
          const s = SOURCE_RESULTS.find((x) => x.model === r.model);
          if (!s) return "";
          const diff = (r.test_accuracy - s.test_accuracy) * 100;
          return `${modelName(r.model)}: ${pct(r.test_accuracy)}, ` +
            `${diff >= 0 ? "+" : ""}${diff.toFixed(1)} points.`;
        }).filter(Boolean).join(" ")),
  );
  return out.join("\n\n");
}
