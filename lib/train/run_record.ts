/**
 * The run record: what was run, on what, and what came out, as `deno task train` prints it (its
 * JSON line) and the notebooks save it (`runs/<profile>/<model>/run.json`). Plain data, no tfjs,
 * so the reports read records without an engine.
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
     * A folder of images: what the test fields measure. `split`: drawn from the folder by the
     * seed (`--validation-split`); `given`: its test/ (val/, valid/) folder. `files` (relative
     * to the folder) in the order of `test_labels`; `digest` identifies the whole held-out set
     * (lib/data/image_folder.ts `HeldOut`).
     */
    held_out?: { kind: "split" | "given"; name: string; digest: string; files: string[] };
    /** A folder of images: the files that did not decode, and why (each left out). */
    skipped?: { file: string; reason: string }[];
    /** A folder of images: the hidden, non-image and stray files and folders not read. */
    ignored?: IgnoredCounts;
  };
  synthetic: boolean;
  /**
   * True only for the official CIFAR-100 archive (its MD5 checked): only then are the results
   * CIFAR-100 results, comparable with the source's.
   */
  official_data: boolean;
  params: number;
  trainable_params: number;
  epochs: number;
  batch_size: number;
  loss: LossName;
  optimizer: string;
  seed: number;
  /**
   * The convolutions' and matrix products' precision (`--precision`); absent in older records:
   * float32.
   */
  precision?: PrecisionName;
  /** Threads used: training for mlp and cnn, feature extraction for a backbone (1 = no workers). */
  workers: number;
  train_images: number;
  test_images: number;
  /**
   * Env variables that overrode the profile's budget (epochs, training or test images), e.g.
   * `["CIFAR_EPOCHS=2"]`; empty when none did. The budget itself is `epochs`, `train_images`
   * and `test_images`.
   */
  budget_overrides: string[];
  history: History;
  /** Training augmentation, e.g. `random crop (pad 4, mirror) + horizontal flip`, or `none`. */
  augmentation?: string;
  /** The learning rate over the run, e.g. `constant (0.001)` or a one-cycle schedule. */
  lr_schedule?: string;
  /** Label smoothing of the loss (0: none). */
  label_smoothing?: number;
  /** L2 weight decay of conv and dense kernels (0: none). */
  weight_decay?: number;
  /** ResNet-9: filters of its first conv (stages 2, 4, 8 times as many). */
  width?: number;
  test_loss: number;
  test_accuracy: number;
  top5_accuracy: number;
  seconds_per_epoch: number[];
  validation_seconds: number[];
  train_images_per_second: number;
  started_at: string;
  seconds_total: number;
  /** Top-1 prediction and true fine label for every test image (confusion views). */
  test_predictions: number[];
  /** Top-1 probability (softmax of the logits) of every test image, to 3 decimals. */
  test_confidences: number[];
  test_labels: number[];
  /** Superclass of each class; empty, as `coarse_label_names`, when there are none (a folder). */
  fine_to_coarse: number[];
  /** The class names: CIFAR-100's fine labels, or a folder's class folders in Keras's order. */
  fine_label_names: string[];
  coarse_label_names: string[];
  /**
   * How images of any size were brought to `input_size` (lib/data/image_pixels.ts
   * `PREPROCESSING`): set when the data was a folder of images, which predict then reads the
   * same way at `input_size`; absent for CIFAR's 32 px images (resized to `input_size`).
   */
  preprocessing?: string;
  summary: string;
  /**
   * Calibration temperature (lib/inference/calibration.ts, notebook 07): `deno task predict`
   * divides the logits by it before the softmax. Absent: not calibrated (1).
   */
  temperature?: number;
  /** How {@linkcode RunRecord.temperature} was fitted, and the calibration error it left. */
  calibration?: {
    /** Which images it was fitted on (never the test images it is measured on). */
    fitted_on: string;
    /** How many images it was fitted on. */
    images: number;
    /** Expected calibration error (15 bins) of the measured images, before and after. */
    ece_before: number;
    ece_after: number;
    /** Which images the errors are measured on. */
    measured_on: string;
  };
  /** The epochs a checkpoint held when this run went on from it (absent: trained from epoch 1). */
  resumed_from_epoch?: number;
  /** With `--keep-best`: the epoch (from 1) of the best validation accuracy, kept in `best/`. */
  best_epoch?: number;
  /** Where the record and the model were written, when saved. */
  record_path?: string;
  model_path?: string;
  /** VGG16 and MobileNetV2 extras. */
  weights?: string;
  /** `imagenet` (Keras's file, MD5 checked), `file` (another file) or `random` (`--weights none`). */
  weights_kind?: WeightsKind;
  /** The model's input side (every model; absent in older records: 32, or VGG16's model). */
  input_size?: number;
  /** MobileNetV2's width multiplier. */
  alpha?: number;
  fine_tune?: boolean;
  feature_seconds?: number;
  head_seconds_per_epoch?: number[];
}

/**
 * Top-1 probabilities as the run record keeps them: 3 decimals, about 6 bytes per test image.
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

/** Training seconds of a run: its epochs' times, validation excluded. */
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
