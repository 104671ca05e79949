/**
 * The run record, as `deno task train` prints it and the notebooks save it. Plain data, so the
 * reports read records without an engine.
 *
 * @module
 */
import type { DataOrigin } from "../data/dataset.ts";
import type { IgnoredCounts } from "../data/image_folder.ts";
import type { WeightsKind } from "../models/vgg16_weights.ts";
import { UserError } from "../util/errors.ts";
import type { LossName, ModelName, PrecisionName } from "./hyp.ts";

/** Per-epoch metrics, named as Keras's `history.history`. */
export interface History {
  loss: number[];
  accuracy: number[];
  val_loss: number[];
  val_accuracy: number[];
}

/** A run record: what was run, on what, and what came out (also the CLI's JSON line). */
export interface RunRecord {
  model: ModelName;
  backend: string;
  backend_note?: string;
  profile?: string;
  data: {
    kind: string;
    synthetic: boolean;
    /** `official` (archive MD5 checked), `unofficial`, `unverified` (a folder) or `synthetic`. */
    origin: DataOrigin;
    description: string;
    id: string;
    path?: string;
    note?: string;
    /**
     * A folder of images: what the test fields measure, drawn by the seed (`split`) or its
     * test/ folder (`given`); `files` in the order of `test_labels`.
     */
    held_out?: { kind: "split" | "given"; name: string; digest: string; files: string[] };
    /** A folder's files that did not decode, and why. */
    skipped?: { file: string; reason: string }[];
    ignored?: IgnoredCounts;
  };
  synthetic: boolean;
  /** Only the official archive (MD5 checked) gives CIFAR-100 results, comparable with the source's. */
  official_data: boolean;
  params: number;
  trainable_params: number;
  epochs: number;
  batch_size: number;
  loss: LossName;
  optimizer: string;
  seed: number;
  /** Absent in older records: float32. */
  precision?: PrecisionName;
  /** Threads: training, or a backbone's feature extraction. */
  workers: number;
  train_images: number;
  test_images: number;
  /** Env variables that overrode the profile's budget, e.g. `["CIFAR_EPOCHS=2"]`. */
  budget_overrides: string[];
  history: History;
  augmentation?: string;
  lr_schedule?: string;
  label_smoothing?: number;
  weight_decay?: number;
  /** ResNet-9's width multiplier; absent for other models. */
  width?: number;
  test_loss: number;
  test_accuracy: number;
  top5_accuracy: number;
  seconds_per_epoch: number[];
  validation_seconds: number[];
  train_images_per_second: number;
  started_at: string;
  seconds_total: number;
  test_predictions: number[];
  /** Top-1 probabilities, to 3 decimals. */
  test_confidences: number[];
  test_labels: number[];
  /** Empty, as `coarse_label_names`, when there are no superclasses (a folder). */
  fine_to_coarse: number[];
  fine_label_names: string[];
  coarse_label_names: string[];
  /** How a folder's images were brought to `input_size`, so predict reads files the same way. */
  preprocessing?: string;
  summary: string;
  /** Calibration temperature that `deno task predict` divides the logits by. Absent: 1. */
  temperature?: number;
  calibration?: {
    /** Never the test images it is measured on. */
    fitted_on: string;
    images: number;
    /** Expected calibration error (15 bins), before and after. */
    ece_before: number;
    ece_after: number;
    measured_on: string;
  };
  resumed_from_epoch?: number;
  /** With `--keep-best`: the epoch (from 1) kept in `best/`. */
  best_epoch?: number;
  record_path?: string;
  model_path?: string;
  /** The fields below are a backbone's (VGG16, MobileNetV2) only. */
  weights?: string;
  weights_kind?: WeightsKind;
  /** Absent in older records: 32, or VGG16's model's. */
  input_size?: number;
  alpha?: number;
  fine_tune?: boolean;
  feature_seconds?: number;
  head_seconds_per_epoch?: number[];
}

/**
 * Top-1 probabilities as the run record keeps them: 3 decimals.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(recordedConfidences(new Float32Array([0.98765, 0.0104])), [0.988, 0.01]);
 * ```
 */
export function recordedConfidences(values: ArrayLike<number>): number[] {
  return Array.from(values, (p) => Math.round(p * 1000) / 1000);
}

/** Training seconds of a run, validation excluded. */
export function trainingSeconds(record: Pick<RunRecord, "seconds_per_epoch">): number {
  return record.seconds_per_epoch.reduce((a, b) => a + b, 0);
}

/** Read a saved run record. */
export async function readRunRecord(path: string): Promise<RunRecord> {
  try {
    return JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    throw new UserError(`cannot read run record ${path}: ${(e as Error).message}`);
  }
}
