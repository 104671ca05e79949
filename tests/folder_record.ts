/**
 * A run record of a folder of images, made by hand from a loaded folder (the record contract of
 * lib/train/run_record.ts: class names, no superclasses, the held-out files), for the views
 * that only read a record: calibration, insight, the confusion chart and the web page.
 */
import type { ImageFolderData } from "../lib/data/image_folder.ts";
import { PREPROCESSING } from "../lib/data/image_pixels.ts";
import type { RunRecord } from "../lib/train/run_record.ts";

/**
 * The record of a run on `data` whose top-1 predictions are `predictions` (default: the true
 * class, except every third image taken for the next class).
 */
export function folderRecord(
  data: ImageFolderData,
  dataPath: string,
  predictions?: number[],
): RunRecord {
  const labels = Array.from(data.test.fineLabels);
  const classes = data.fineLabelNames.length;
  const predicted = predictions ?? labels.map((l, i) => i % 3 === 2 ? (l + 1) % classes : l);
  const accuracy = predicted.filter((p, i) => p === labels[i]).length / labels.length;
  return {
    model: "cnn",
    backend: "tensorflow",
    data: {
      kind: "folder",
      synthetic: false,
      origin: data.source.origin,
      description: data.source.description,
      id: data.source.id,
      path: dataPath,
      held_out: { ...data.heldOut, files: [...data.test.files ?? []] },
      skipped: data.skipped.map((s) => ({ file: s.path, reason: s.reason })),
      ignored: data.ignored,
    },
    synthetic: false,
    official_data: false,
    params: 0,
    trainable_params: 0,
    epochs: 1,
    batch_size: 32,
    loss: "categorical_crossentropy",
    optimizer: "adam",
    seed: 1,
    workers: 1,
    train_images: data.train.count,
    test_images: data.test.count,
    budget_overrides: [],
    history: { loss: [1], accuracy: [0.5], val_loss: [1], val_accuracy: [accuracy] },
    test_loss: 1,
    test_accuracy: accuracy,
    top5_accuracy: 1,
    seconds_per_epoch: [1],
    validation_seconds: [0],
    train_images_per_second: 1,
    started_at: "2026-12-05T00:00:00.000Z",
    seconds_total: 1,
    test_predictions: predicted,
    test_confidences: predicted.map((_, i) => 0.5 + (i % 5) / 10),
    test_labels: labels,
    fine_to_coarse: [],
    fine_label_names: data.fineLabelNames,
    coarse_label_names: [],
    preprocessing: PREPROCESSING,
    input_size: data.imageSize,
    summary: "",
  };
}
