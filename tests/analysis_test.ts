import assert from "node:assert/strict";
import {
  coarseAccuracy,
  coarseConfusion,
  comparisonRows,
  confusionMatrix,
  discussion,
  fineConfusion,
  superclassAccuracy,
  topConfusedPairs,
} from "../lib/report/analysis.ts";
import type { RunRecord } from "../lib/train/config.ts";

// Four fine classes in two superclasses: a, b -> animals; c, d -> vehicles.
const classes = {
  fine_label_names: ["a", "b", "c", "d"],
  coarse_label_names: ["animals", "vehicles"],
  fine_to_coarse: [0, 0, 1, 1],
};
const run = {
  ...classes,
  test_labels: [0, 0, 1, 2, 2, 3, 2],
  test_predictions: [0, 1, 1, 3, 0, 3, 3],
};

Deno.test("superclassAccuracy: fine and coarse accuracy per superclass, by hand", () => {
  assert.deepEqual(superclassAccuracy(run), [
    // labels 0,0,1 predicted 0,1,1: 2 of 3 exact, all 3 in animals
    { coarse: 0, superclass: "animals", images: 3, accuracy: 2 / 3, coarse_accuracy: 1 },
    // labels 2,2,3,2 predicted 3,0,3,3: 1 of 4 exact, 3 of 4 in vehicles
    { coarse: 1, superclass: "vehicles", images: 4, accuracy: 1 / 4, coarse_accuracy: 3 / 4 },
  ]);
  assert.equal(coarseAccuracy(run), 6 / 7);
  assert.throws(() => superclassAccuracy({ ...run, test_predictions: [0] }), /1 predictions/);
});

Deno.test("confusion matrices: fine counts and superclass counts", () => {
  assert.deepEqual(confusionMatrix([0, 1, 1], [0, 0, 1], 2), [[1, 0], [1, 1]]);
  assert.deepEqual(fineConfusion(run), [
    [1, 1, 0, 0],
    [0, 1, 0, 0],
    [1, 0, 0, 2],
    [0, 0, 0, 1],
  ]);
  assert.deepEqual(coarseConfusion(run), [[3, 0], [1, 3]]);
  assert.throws(() => confusionMatrix([0, 5], [0, 1], 4), /class 5 is outside 0..3/);
});

Deno.test("topConfusedPairs: largest off-diagonal cells first, ties by class index", () => {
  assert.deepEqual(topConfusedPairs(run, 3), [
    { true_class: "c", predicted_as: "d", count: 2, same_superclass: true },
    { true_class: "a", predicted_as: "b", count: 1, same_superclass: true },
    { true_class: "c", predicted_as: "a", count: 1, same_superclass: false },
  ]);
  assert.equal(topConfusedPairs(run, 1).length, 1);
  const perfect = { ...run, test_predictions: run.test_labels };
  assert.deepEqual(topConfusedPairs(perfect), [], "no mistakes, no pairs");
});

function record(model: "mlp" | "cnn" | "vgg16", over: Partial<RunRecord> = {}): RunRecord {
  // A cast, so fields the analysis does not read can be added to RunRecord freely.
  return {
    ...run,
    model,
    backend: "wasm",
    profile: "smoke",
    data: { kind: "synthetic", synthetic: true, description: "SYNTHETIC data", id: "s" },
    synthetic: true,
    params: 100,
    trainable_params: 100,
    epochs: 2,
    batch_size: 128,
    loss: "categorical_crossentropy",
    optimizer: "Adam",
    seed: 0,
    train_images: 2000,
    test_images: 7,
    history: { loss: [2, 1], accuracy: [0.1, 0.2], val_loss: [2, 1], val_accuracy: [0.1, 0.2] },
    test_loss: 1.5,
    test_accuracy: 3 / 7,
    top5_accuracy: 1,
    seconds_per_epoch: [2, 4],
    validation_seconds: [0.1, 0.1],
    train_images_per_second: 666.7,
    started_at: "",
    seconds_total: 7,
    summary: "",
    ...over,
  } as RunRecord;
}

Deno.test("comparisonRows: rounded, mean seconds per epoch, feature seconds only for VGG16", () => {
  const rows = comparisonRows([
    record("mlp"),
    record("vgg16", { seconds_per_epoch: [0.5, 0.1, 0.3], feature_seconds: 20.04, params: 9 }),
  ]);
  assert.deepEqual(rows[0], {
    model: "mlp",
    params: 100,
    trainable: 100,
    test_accuracy: 0.4286, // 3 / 7 to 4 decimals
    top5_accuracy: 1,
    test_loss: 1.5,
    loss: "categorical_crossentropy",
    epochs: 2,
    seconds_per_epoch: 3,
    images_per_second: 667,
    feature_seconds: null,
    data: "SYNTHETIC data",
    profile: "smoke",
  });
  assert.equal(rows[1].params, 9);
  assert.equal(rows[1].feature_seconds, 20);
  assert.equal(rows[1].seconds_per_epoch, 0.3);
});

Deno.test("discussion: from the measured numbers, ranked, with synthetic and random-weight notes", () => {
  const text = discussion([
    record("mlp", { test_accuracy: 0.25 }),
    record("cnn", { test_accuracy: 0.5, top5_accuracy: 0.75 }),
    record("vgg16", { test_accuracy: 0.125, weights: "random initial weights (--weights none)" }),
  ]);
  assert.match(text, /SYNTHETIC DATA/);
  assert.match(text, /CNN 50\.0% \(top-5 75\.0%\), MLP 25\.0% .*VGG16 12\.5%/);
  assert.match(text, /guessing scores 25\.0%/); // four classes in the fixture
  assert.match(text, /VGG16 ran with random weights/);
  assert.match(text, /CNN 3\.00 s per epoch/);
  // Best model (CNN) on the fixture: 6 of 7 in the right superclass, c -> d twice.
  assert.match(text, /85\.7% of its predictions fall in the right superclass/);
  assert.match(text, /c taken for d \(2 times, same superclass\)/);
  assert.match(text, /cannot be compared/);

  const real = discussion([
    record("cnn", { synthetic: false, test_accuracy: 0.45, loss: "binary_crossentropy" }),
    record("mlp", { synthetic: false, test_accuracy: 0.2 }),
  ]);
  assert.doesNotMatch(real, /SYNTHETIC/);
  assert.match(real, /CNN: 45\.0%, \+3\.2 points\. MLP: 20\.0%, \+0\.7 points\./);
  assert.match(real, /different losses/);
});
