/**
 * How far to trust a model's confidence: reliability bins, the expected calibration error (ECE;
 * Guo et al. 2017) and temperature scaling, one number T dividing the logits before the softmax,
 * fitted on images the run did not train on and saved in its record for `deno task predict`.
 *
 * @module
 */
import { join } from "node:path";
import { IMAGE_BYTES } from "../data/dataset.ts";
import { loadCifar100 } from "../data/cifar100.ts";
import { logitsOf } from "../models/logits.ts";
import { EVAL_BATCH_SIZE } from "../train/hyp.ts";
import { runTestImages } from "../train/profile.ts";
import { readRunRecord, type RunRecord } from "../train/run_record.ts";
import { writeFileAtomically } from "../util/replace_folder.ts";
import { type Classifier, eachBatch, imageCount, testPixels } from "./classify.ts";

/** One confidence bin (lower, upper] of a reliability diagram; NaN means when it is empty. */
interface ReliabilityBin {
  lower: number;
  upper: number;
  count: number;
  confidence: number;
  accuracy: number;
}

/** Bins of the reliability diagrams and the ECE (Guo et al.'s 15). */
const CALIBRATION_BINS = 15;

/** Sort predictions into equal-width confidence bins (a confidence of 0 goes in the first). */
export function reliabilityBins(
  confidences: ArrayLike<number>,
  correct: ArrayLike<boolean>,
  bins: number = CALIBRATION_BINS,
): ReliabilityBin[] {
  if (confidences.length !== correct.length) {
    throw new RangeError(`${confidences.length} confidences but ${correct.length} outcomes`);
  }
  const sums = Array.from({ length: bins }, () => ({ count: 0, confidence: 0, right: 0 }));
  for (let i = 0; i < confidences.length; i++) {
    const p = confidences[i];
    const bin = sums[Math.min(bins - 1, Math.max(0, Math.ceil(p * bins) - 1))];
    bin.count += 1;
    bin.confidence += p;
    bin.right += correct[i] ? 1 : 0;
  }
  return sums.map((s, b) => ({
    lower: b / bins,
    upper: (b + 1) / bins,
    count: s.count,
    confidence: s.count ? s.confidence / s.count : NaN,
    accuracy: s.count ? s.right / s.count : NaN,
  }));
}

/**
 * The expected calibration error: over the bins, the share of predictions in the bin times the
 * gap between its accuracy and its mean confidence.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * // Two bins: 0.9 and 0.9 (one right): gap 0.4; 0.3 (wrong): gap 0.3. (2 * 0.4 + 0.3) / 3.
 * const ece = expectedCalibrationError([0.9, 0.9, 0.3], [true, false, false], 2);
 * assert.ok(Math.abs(ece - 1.1 / 3) < 1e-12);
 * ```
 */
export function expectedCalibrationError(
  confidences: ArrayLike<number>,
  correct: ArrayLike<boolean>,
  bins: number = CALIBRATION_BINS,
): number {
  const total = confidences.length;
  if (total === 0) return 0;
  return reliabilityBins(confidences, correct, bins)
    .reduce(
      (e, b) => (b.count ? e + (b.count / total) * Math.abs(b.accuracy - b.confidence) : e),
      0,
    );
}

/** Each test prediction's outcome in a run record. */
export function recordOutcomes(
  record: Pick<RunRecord, "test_predictions" | "test_labels">,
): boolean[] {
  return record.test_predictions.map((p, i) => p === record.test_labels[i]);
}

/** Logits of N images, row by row. */
interface Logits {
  values: Float32Array;
  count: number;
  classes: number;
}

/** The class logits of `[N, side, side, 3]` images, preprocessed as `deno task predict` does. */
export function classifierLogits(classifier: Classifier, pixels: Uint8Array): Logits {
  const count = imageCount(classifier.record, pixels);
  const classes = classifier.record.fine_label_names.length;
  const values = new Float32Array(count * classes);
  eachBatch(classifier, pixels, EVAL_BATCH_SIZE, (x, first) => {
    values.set(logitsOf(classifier.model, x).dataSync(), first * classes);
  });
  return { values, count, classes };
}

/** Top-1 probability and class of each row of logits divided by `temperature`. */
export function temperedTop1(
  logits: Logits,
  temperature: number,
): { confidences: Float64Array; classes: Int32Array } {
  const { values, count, classes } = logits;
  const confidences = new Float64Array(count);
  const top = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const row = values.subarray(i * classes, (i + 1) * classes);
    let best = 0;
    for (let c = 1; c < classes; c++) if (row[c] > row[best]) best = c;
    let sum = 0;
    for (let c = 0; c < classes; c++) sum += Math.exp((row[c] - row[best]) / temperature);
    confidences[i] = 1 / sum;
    top[i] = best;
  }
  return { confidences, classes: top };
}

/** Mean negative log-likelihood of the labels under softmax(logits / temperature). */
function temperedNll(
  logits: Logits,
  labels: ArrayLike<number>,
  temperature: number,
): number {
  const { values, count, classes } = logits;
  let total = 0;
  for (let i = 0; i < count; i++) {
    const row = values.subarray(i * classes, (i + 1) * classes);
    let max = -Infinity;
    for (let c = 0; c < classes; c++) max = Math.max(max, row[c] / temperature);
    let sum = 0;
    for (let c = 0; c < classes; c++) sum += Math.exp(row[c] / temperature - max);
    total += max + Math.log(sum) - row[labels[i]] / temperature;
  }
  return total / count;
}

/**
 * The temperature that minimises the negative log-likelihood of `labels` (golden-section search
 * on log T over [1/20, 20]; the NLL is convex in 1/T).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * // Logits 10x too sharp for labels right 3 times in 4: T > 1 softens them.
 * const values = new Float32Array([10, 0, 10, 0, 10, 0, 0, 10]);
 * const labels = [0, 0, 0, 0];
 * assert.ok(fitTemperature({ values, count: 4, classes: 2 }, labels) > 1);
 * ```
 */
export function fitTemperature(logits: Logits, labels: ArrayLike<number>): number {
  let [lo, hi] = [Math.log(1 / 20), Math.log(20)];
  const ratio = (Math.sqrt(5) - 1) / 2;
  const nll = (logT: number) => temperedNll(logits, labels, Math.exp(logT));
  let a = hi - ratio * (hi - lo);
  let b = lo + ratio * (hi - lo);
  let [fa, fb] = [nll(a), nll(b)];
  for (let step = 0; step < 40; step++) {
    if (fa < fb) {
      [hi, b, fb] = [b, a, fa];
      a = hi - ratio * (hi - lo);
      fa = nll(a);
    } else {
      [lo, a, fa] = [a, b, fb];
      b = lo + ratio * (hi - lo);
      fb = nll(b);
    }
  }
  return Math.exp((lo + hi) / 2);
}

/** Images to fit a temperature on, described for the record. */
interface HeldOut {
  pixels: Uint8Array;
  labels: Uint8Array;
  description: string;
  /** When the test set is split: the indices of the test images that measure the temperature. */
  measureOn?: number[];
}

/**
 * 500 to 2,000 images the run did not train on: a synthetic split of another seed, or the
 * training images after its `train_images`; when it trained on them all (as every folder run
 * does), the even-numbered test images, leaving the odd ones to measure.
 */
async function heldOutImages(record: RunRecord): Promise<HeldOut> {
  const count = Math.min(2000, Math.max(500, record.test_images));
  if (record.synthetic) {
    const data = await loadCifar100({
      data: "synthetic",
      seed: record.seed + 1,
      limitTrain: count,
      limitTest: 0,
    });
    return {
      pixels: data.train.images,
      labels: data.train.fineLabels,
      description: `${count} synthetic training images of another seed (${record.seed + 1})`,
    };
  }
  // A folder run's training images are all trained on: its held-out set is split below.
  const all = record.data.path === undefined || record.data.held_out
    ? undefined
    : await loadCifar100({ data: record.data.path, limitTest: 0 });
  if (all && all.train.count > record.train_images) {
    const last = Math.min(all.train.count, record.train_images + count);
    return {
      pixels: all.train.images.slice(record.train_images * IMAGE_BYTES, last * IMAGE_BYTES),
      labels: all.train.fineLabels.slice(record.train_images, last),
      description: `training images ${record.train_images} to ${
        last - 1
      }, which the run did not train on`,
    };
  }
  const test = await runTestImages(record);
  const fit = Array.from({ length: Math.ceil(test.test.count / 2) }, (_, i) => 2 * i);
  const images = record.data.held_out ? "held-out" : "test";
  return {
    pixels: testPixels(test, fit),
    labels: Uint8Array.from(fit, (t) => test.test.fineLabels[t]),
    description: `the even-numbered ${images} images (the run trained on every training image)`,
    measureOn: fit.map((t) => t + 1).filter((t) => t < test.test.count),
  };
}

/** A run's calibration: its temperature and the errors before and after. */
type Calibration = NonNullable<RunRecord["calibration"]> & { temperature: number };

/**
 * Fit the run's temperature on {@linkcode heldOutImages} and measure the ECE of its test
 * predictions (`testPixels`) before and after; the record's own `temperature` is ignored.
 */
export async function calibrate(
  classifier: Classifier,
  testPixels: Uint8Array,
): Promise<Calibration> {
  const { record } = classifier;
  const fitOn = await heldOutImages(record);
  const temperature = fitTemperature(classifierLogits(classifier, fitOn.pixels), fitOn.labels);
  const testLogits = classifierLogits(classifier, testPixels);
  const measured = fitOn.measureOn ?? record.test_labels.map((_, i) => i);
  const error = (t: number) => {
    const { confidences, classes } = temperedTop1(testLogits, t);
    return expectedCalibrationError(
      measured.map((i) => confidences[i]),
      measured.map((i) => classes[i] === record.test_labels[i]),
    );
  };
  return {
    temperature,
    fitted_on: fitOn.description,
    images: fitOn.labels.length,
    ece_before: error(1),
    ece_after: error(temperature),
    measured_on: fitOn.measureOn
      ? `the odd-numbered ${record.data.held_out ? "held-out" : "test"} images`
      : "all the run's test images",
  };
}

/** Save a calibration in the run folder's run.json, which `deno task predict` reads. */
export async function saveCalibration(dir: string, calibration: Calibration): Promise<RunRecord> {
  const path = join(dir, "run.json");
  const { temperature, ...how } = calibration;
  const record = { ...(await readRunRecord(path)), temperature, calibration: how };
  await writeFileAtomically(path, [JSON.stringify(record) + "\n"]);
  return record;
}
