import assert from "node:assert/strict";
import {
  budgetText,
  coarseAccuracy,
  coarseConfusion,
  comparisonRows,
  confidentMistakes,
  dataCaveat,
  fineConfusion,
  modelLabel,
  superclassAccuracy,
  topConfusedPairs,
} from "../lib/report/analysis.ts";
import {
  beyondSummary,
  discussion,
  equalTimeDiscussion,
  runsOverview,
} from "../lib/report/discussion.ts";
import type { RunRecord } from "../lib/train/run_record.ts";
import { UserError } from "../lib/util/errors.ts";

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
  assert.deepEqual(fineConfusion(run), [
    [1, 1, 0, 0],
    [0, 1, 0, 0],
    [1, 0, 0, 2],
    [0, 0, 0, 1],
  ]);
  assert.deepEqual(coarseConfusion(run), [[3, 0], [1, 3]]);
  const outside = { ...run, test_labels: [0, 5], test_predictions: [0, 1] };
  assert.throws(() => fineConfusion(outside), /class 5 is outside 0..3/);
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

function record(model: RunRecord["model"], over: Partial<RunRecord> = {}): RunRecord {
  // A cast, so fields the analysis does not read can be added to RunRecord freely.
  return {
    ...run,
    model,
    backend: "wasm",
    profile: "smoke",
    data: {
      kind: "synthetic",
      synthetic: true,
      origin: "synthetic",
      description: "SYNTHETIC data",
      id: "s",
    },
    synthetic: true,
    official_data: false,
    budget_overrides: [],
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

/** A run on the official CIFAR-100 archive with the source's budget (20 epochs, all images). */
function official(model: RunRecord["model"], over: Partial<RunRecord> = {}): RunRecord {
  return record(model, {
    data: {
      kind: "cache",
      synthetic: false,
      origin: "official",
      description: "CIFAR-100 from the cache",
      id: "03b5dce01913d631647c71ecec9e9cb8",
    },
    synthetic: false,
    official_data: true,
    epochs: 20,
    train_images: 50_000,
    test_images: 10_000,
    ...over,
  });
}

/** The same with data of another origin. */
function from(origin: "unofficial" | "unverified", model: "mlp" | "cnn", over = {}): RunRecord {
  const r = official(model, over);
  return { ...r, data: { ...r.data, origin }, official_data: false };
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
    train_images: 2000,
    test_images: 7,
    budget_overrides: "",
    seconds_per_epoch: 3,
    images_per_second: 667,
    feature_seconds: null,
    weights: null,
    data: "SYNTHETIC data",
    data_origin: "synthetic",
    profile: "smoke",
  });
  assert.equal(rows[1].params, 9);
  const overridden = comparisonRows([
    from("unverified", "mlp", { budget_overrides: ["CIFAR_EPOCHS=2", "CIFAR_LIMIT_TEST=500"] }),
    official("vgg16", { weights_kind: "file" }),
  ]);
  assert.equal(overridden[0].budget_overrides, "CIFAR_EPOCHS=2, CIFAR_LIMIT_TEST=500");
  assert.equal(overridden[0].data_origin, "unverified");
  assert.equal(overridden[1].data_origin, "official");
  assert.equal(overridden[1].weights, "file");
  assert.equal(rows[1].feature_seconds, 20);
  assert.equal(rows[1].seconds_per_epoch, 0.3);
});

Deno.test("discussion: from the measured numbers, ranked, with synthetic and random-weight notes", () => {
  const text = discussion([
    record("mlp", { test_accuracy: 0.25 }),
    record("cnn", { test_accuracy: 0.5, top5_accuracy: 0.75 }),
    record("vgg16", {
      test_accuracy: 0.125,
      weights: "random initial weights (--weights none)",
      weights_kind: "random",
    }),
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
    official("cnn", { test_accuracy: 0.45, loss: "binary_crossentropy" }),
    official("mlp", { test_accuracy: 0.2 }),
  ]);
  assert.doesNotMatch(real, /SYNTHETIC|⚠|budget/);
  assert.match(real, /after 20 epochs on 50,000 training and 10,000 test images; guessing/);
  assert.match(real, /CNN: 45\.0%, \+3\.2 points\. MLP: 20\.0%, \+0\.7 points\.$/);
  assert.match(real, /different losses/);
});

Deno.test("discussion: VGG16's weights from weights_kind, not from the description's words", () => {
  const file = official("vgg16", {
    weights: "weights file /data/random/vgg16.h5 (MD5 1234 differs from Keras's ImageNet file)",
    weights_kind: "file",
  });
  const text = discussion([file]);
  assert.doesNotMatch(text, /random weights/i);
  assert.match(text, /weights file that is not Keras's ImageNet file/);
  const imagenet = discussion([
    official("vgg16", { weights: "random-looking", weights_kind: "imagenet" }),
  ]);
  assert.doesNotMatch(imagenet, /random weights|not Keras's ImageNet/i);
  assert.match(discussion([official("vgg16", { weights_kind: "random" })]), /random weights/);
});

Deno.test("discussion: data that is not the verified official archive is said to be so", () => {
  const unofficial = discussion([
    from("unofficial", "mlp", { test_accuracy: 0.97 }),
    from("unofficial", "cnn", { test_accuracy: 0.5 }),
  ]);
  assert.match(
    unofficial,
    /^\*\*⚠ Data not verified as CIFAR-100\*\* — not the official CIFAR-100 archive: its MD5/,
  );
  // The numbers against the source's, with the warning in the same paragraph.
  assert.match(
    unofficial,
    /MLP: 97\.0%, \+77\.7 points\. .* ⚠ Not like for like — not the official CIFAR-100 archive/,
  );
  const folder = discussion([from("unverified", "cnn"), official("mlp")]);
  assert.match(folder, /CNN: CIFAR-100 from an extracted folder, not verified/);
  assert.doesNotMatch(discussion([official("cnn")]), /verified/);
});

Deno.test("discussion: budgets other than the source's, or different between runs, are named", () => {
  const overrides = ["CIFAR_EPOCHS=2"];
  const quick = discussion([
    official("cnn", { epochs: 2, budget_overrides: overrides, test_accuracy: 0.3 }),
    official("mlp", { epochs: 2, budget_overrides: overrides, test_accuracy: 0.1 }),
  ]);
  assert.match(
    quick,
    /CNN: 30\.0% after 2 epochs on 50,000 training and 10,000 test images \(CIFAR_EPOCHS=2\), -11\.8 points/,
  );
  assert.match(
    quick,
    /⚠ Not like for like — CNN, MLP did not have the source's budget of 20 epochs/,
  );
  assert.doesNotMatch(quick, /Different budgets/, "the two runs share their budget");

  const mixed = discussion([official("cnn", { epochs: 2 }), official("mlp")]);
  assert.match(mixed, /from most to least accurate, on different budgets \(below\)/);
  assert.match(mixed, /\*\*Different budgets\.\*\* .*CNN 2 epochs on 50,000 .*MLP 20 epochs on/);
  assert.match(mixed, /Not like for like — CNN did not have the source's budget/);
});

Deno.test("labels: data caveat, model labels, budgets, overview", () => {
  assert.equal(dataCaveat(official("cnn")), undefined);
  assert.equal(dataCaveat({ synthetic: true, origin: "synthetic" }), undefined, "its own banner");
  assert.match(
    dataCaveat({ synthetic: false, origin: "unofficial" })!,
    /^not the official CIFAR-100 archive: its MD5 differs$/,
  );
  assert.match(
    dataCaveat([from("unverified", "mlp"), from("unverified", "cnn")])!,
    /^CIFAR-100 from an extracted folder/,
  );
  assert.equal(
    dataCaveat([from("unverified", "mlp"), official("cnn"), from("unofficial", "cnn")]),
    "CNN: not the official CIFAR-100 archive: its MD5 differs; MLP: CIFAR-100 from an " +
      "extracted folder, not verified against the official archive",
  );

  assert.equal(modelLabel({ model: "cnn" }), "CNN");
  assert.equal(modelLabel({ model: "resnet9" }), "ResNet-9"); // as charts and notebook 06 name it
  assert.equal(
    modelLabel({ model: "vgg16", weights_kind: "imagenet" }),
    "VGG16 with ImageNet weights",
  );
  assert.equal(
    modelLabel({ model: "vgg16", weights_kind: "random" }),
    "VGG16 with RANDOM weights (not ImageNet)",
  );
  assert.match(modelLabel({ model: "vgg16", weights_kind: "file" }), /not Keras's ImageNet file/);

  assert.equal(
    budgetText({
      epochs: 1,
      train_images: 5000,
      test_images: 100,
      budget_overrides: ["CIFAR_EPOCHS=1"],
    }),
    "1 epoch on 5,000 training and 100 test images (CIFAR_EPOCHS=1)",
  );
  assert.doesNotMatch(runsOverview([official("mlp"), official("cnn")]), /Different budgets/);
  assert.match(
    runsOverview([official("mlp"), official("cnn", { test_images: 500 })]),
    /\*\*Different budgets\.\*\*.*CNN 20 epochs on 50,000 training and 500 test/,
  );

  const overview = runsOverview([
    from("unofficial", "mlp", { budget_overrides: ["CIFAR_LIMIT_TRAIN=100"] }),
    official("vgg16", { weights: "ImageNet (Keras) from cache", weights_kind: "imagenet" }),
  ]);
  assert.match(
    overview,
    /^- \*\*MLP\*\*: CIFAR-100 from the cache \(⚠ NOT the official archive: its MD5 differs\); 20 epochs .*\(CIFAR_LIMIT_TRAIN=100\)$/m,
  );
  assert.match(
    overview,
    /^- \*\*VGG16 with ImageNet weights\*\*: .*\(the official archive, MD5 checked\).*; weights: ImageNet \(Keras\) from cache$/m,
  );
});

Deno.test("confidentMistakes: wrong predictions only, most confident first, ties by image", () => {
  // labels      0    0    1    2    2    3    2
  // predicted   0    1    1    3    0    3    3   -> wrong: images 1, 3, 4, 6
  const p = { ...run, test_confidences: [0.99, 0.4, 0.9, 0.8, 0.4, 0.7, 0.95] };
  assert.deepEqual(confidentMistakes(p, 3), [
    { index: 6, true_class: "c", predicted_as: "d", confidence: 0.95 },
    { index: 3, true_class: "c", predicted_as: "d", confidence: 0.8 },
    { index: 1, true_class: "a", predicted_as: "b", confidence: 0.4 },
  ]);
  assert.deepEqual(confidentMistakes(p).map((m) => m.index), [6, 3, 1, 4]);
  assert.deepEqual(confidentMistakes({ ...p, test_predictions: run.test_labels }), []);
  // A record from before test_confidences: the user's to fix (train again), so a UserError.
  assert.throws(
    () => confidentMistakes({ ...run, test_confidences: [] }),
    (e) =>
      e instanceof UserError && /^0 confidences for 7 .*train the model again$/.test(e.message),
  );
});

Deno.test("equalTimeDiscussion, beyondSummary: ResNet-9 against the CNN, in the report's words", () => {
  const cnn = official("cnn", { epochs: 2, seconds_per_epoch: [4, 4.5], test_accuracy: 0.3 });
  const resnet9 = official("resnet9", {
    epochs: 3,
    seconds_per_epoch: [2.5, 2.5, 3],
    test_accuracy: 0.35,
    augmentation: "flip, crop 2",
    lr_schedule: "one-cycle",
    label_smoothing: 0.2,
  });
  const text = equalTimeDiscussion(cnn, resnet9, { ...resnet9, test_accuracy: 0.375 });
  assert.doesNotMatch(text, /SYNTHETIC|⚠/);
  // Seconds as the discussion writes them: two decimals under 10 s.
  assert.match(text, /The CNN trained 2 epochs on 50,000 training .* in 8\.50 s\./);
  assert.match(text, /3 epochs fit, which took 8\.00 s\./);
  assert.match(text, /ResNet-9 35\.0% against the CNN's 30\.0%: ResNet-9 is 5\.0 points more/);
  assert.match(text, /It cost 2\.5 points here/);
  assert.match(equalTimeDiscussion(cnn, { ...resnet9, seconds_per_epoch: [9] }), /unequal time/);
  assert.match(equalTimeDiscussion(record("cnn"), record("resnet9")), /^\*\*⚠ SYNTHETIC DATA/);

  const summary = beyondSummary(resnet9, [official("mlp"), cnn]);
  assert.match(summary, /^\*\*ResNet-9\*\* .*: 35\.0% after 3 epochs .*\(8\.00 s of training\)/);
  assert.match(summary, /against the CNN's 30\.0% after 2 epochs .*\(8\.50 s\)/);
  assert.match(beyondSummary(undefined, [cnn]), /has not run in this profile/);
});
