/**
 * Which classes a run cannot tell apart, from a run record's predictions.
 *
 * @module
 */
import { checkLengths, type Predictions } from "./analysis.ts";
import { percent } from "./format.ts";

/** A fine class's test results. */
interface ClassAccuracy {
  class: number;
  name: string;
  superclass: string;
  images: number;
  correct: number;
  accuracy: number;
}

/**
 * Accuracy of every fine class with test images, most accurate first (ties in class order).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const run = { // a run record has these fields (and more)
 *   test_labels: [0, 0, 1, 1],
 *   test_predictions: [0, 1, 1, 1],
 *   fine_to_coarse: [0, 0],
 *   fine_label_names: ["apple", "pear"],
 *   coarse_label_names: ["fruit"],
 * };
 * assert.deepEqual(sortedClassAccuracy(run).map((c) => `${c.name} ${c.accuracy}`), [
 *   "pear 1",
 *   "apple 0.5",
 * ]);
 * ```
 */
export function sortedClassAccuracy(p: Predictions): ClassAccuracy[] {
  checkLengths(p);
  const rows = p.fine_label_names.map((name, c) => ({
    class: c,
    name,
    superclass: p.coarse_label_names[p.fine_to_coarse[c]] ?? "",
    images: 0,
    correct: 0,
    accuracy: 0,
  }));
  p.test_labels.forEach((label, i) => {
    rows[label].images += 1;
    if (p.test_predictions[i] === label) rows[label].correct += 1;
  });
  for (const row of rows) row.accuracy = row.correct / row.images;
  return rows.filter((c) => c.images > 0)
    .sort((a, b) => b.accuracy - a.accuracy || a.class - b.class);
}

/** A class (index and name) the images of another are taken for, `count` times. */
type TakenFor = { class: number; name: string; count: number };

/** The classes the images of class `c` are most often predicted as, wrong ones only, most first. */
export function takenFor(p: Predictions, c: number, n = 3): TakenFor[] {
  const counts = new Map<number, number>();
  p.test_labels.forEach((label, i) => {
    const q = p.test_predictions[i];
    if (label === c && q !== c) counts.set(q, (counts.get(q) ?? 0) + 1);
  });
  return [...counts].sort((a, b) => b[1] - a[1] || a[0] - b[0]).slice(0, n)
    .map(([q, count]) => ({ class: q, name: p.fine_label_names[q], count }));
}

/** A row of the best-and-worst table. */
type ExtremeClassRow = {
  rank: string;
  class: string;
  /** Absent when the run's classes have none (a folder of images). */
  superclass?: string;
  accuracy_pct: number;
  test_images: number;
  taken_for: string;
};

/** The `n` most and least accurate classes, the worst with what they are taken for. */
export function extremeClasses(p: Predictions, n = 10): ExtremeClassRow[] {
  const sorted = sortedClassAccuracy(p);
  const superclasses = p.coarse_label_names.length > 0;
  const same = (a: number, b: number) =>
    superclasses && p.fine_to_coarse[a] === p.fine_to_coarse[b];
  const row = (c: ClassAccuracy, rank: string, withMistakes: boolean): ExtremeClassRow => ({
    rank,
    class: c.name,
    ...(superclasses ? { superclass: c.superclass } : {}),
    accuracy_pct: percent(c.accuracy),
    test_images: c.images,
    taken_for: withMistakes
      ? takenFor(p, c.class).map((t) => `${t.name}${same(t.class, c.class) ? "*" : ""} ${t.count}`)
        .join(", ")
      : "",
  });
  const best = sorted.slice(0, n).map((c, i) => row(c, `best ${i + 1}`, false));
  const worst = sorted.slice(-n).reverse().map((c, i) => row(c, `worst ${i + 1}`, true));
  return [...best, ...worst];
}
