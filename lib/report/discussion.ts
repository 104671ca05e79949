/**
 * What notebooks 05 and 06 say in words, written from the runs' measured numbers.
 *
 * @module
 */
import type { DataOrigin } from "../data/dataset.ts";
import { HYP, optimizerLabel, SOURCE_BUDGET } from "../train/hyp.ts";
import { type RunRecord, trainingSeconds } from "../train/run_record.ts";
import {
  budgetText,
  coarseAccuracy,
  dataCaveat,
  isSyntheticData,
  mean,
  modelLabel,
  recordOrigin,
  superclassAccuracy,
  topConfusedPairs,
} from "./analysis.ts";
import { count, modelName, pct, secs } from "./format.ts";

const budgetKey = (r: RunRecord) => `${r.epochs}/${r.train_images}/${r.test_images}`;
const sourceBudget = (r: RunRecord) =>
  r.epochs === SOURCE_BUDGET.epochs && r.train_images === SOURCE_BUDGET.train_images &&
  r.test_images === SOURCE_BUDGET.test_images;

/** A warning when the runs had different budgets, so their accuracies are not like for like. */
function budgetNote(records: RunRecord[]): string | undefined {
  if (new Set(records.map(budgetKey)).size <= 1) return undefined;
  return "**Different budgets.** These runs did not train on the same budget: " +
    records.map((r) => `${modelName(r.model)} ${budgetText(r)}`).join("; ") +
    ". Their accuracies are not like for like: a run with fewer epochs or images is handicapped.";
}

/** Markdown, a bullet per run: its data and origin, budget and weights; then any budget note. */
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

/**
 * A markdown discussion of the runs against the source's numbers, with prominent warnings for
 * synthetic or unverified data, non-ImageNet VGG16 weights and unequal budgets.
 */
export function discussion(records: RunRecord[]): string {
  if (records.length === 0) return "No runs to discuss.";
  const synthetic = isSyntheticData(records);
  const caveat = dataCaveat(records);
  const ranked = [...records].sort((a, b) => b.test_accuracy - a.test_accuracy);
  const best = ranked[0];
  const budgets = budgetNote(records);
  return [
    synthetic && SYNTHETIC_WARNING,
    caveat && `**⚠ Data not verified as CIFAR-100** — ${caveat}. ${CAVEAT_CONSEQUENCE}`,
    accuracyParagraph(ranked, budgets),
    budgets,
    lossParagraph(records),
    speedParagraph(records, best.backend),
    vgg16WeightsWarning(records),
    superclassParagraph(best),
    againstTheSource(records, synthetic, caveat),
  ].filter((paragraph) => paragraph).join("\n\n");
}

// The discussion's opening warnings: synthetic data, or data not verified as CIFAR-100.
const SYNTHETIC_WARNING = "**⚠ SYNTHETIC DATA — not CIFAR-100.** These runs used the smoke " +
  "profile's synthetic stand-in and small subsets: the numbers below check that everything " +
  "works; they say nothing about CIFAR-100.";
const CAVEAT_CONSEQUENCE = "The numbers below are measured on that data; they are CIFAR-100 " +
  "results only if it is the official dataset, and the comparison with the source's " +
  "CIFAR-100 numbers is not like for like.";

/** The runs from most to least accurate, against guessing; `budgets` when they differ. */
function accuracyParagraph(ranked: RunRecord[], budgets: string | undefined): string {
  const best = ranked[0];
  const runs = ranked.map((r) =>
    `${modelName(r.model)} ${pct(r.test_accuracy)} (top-5 ${pct(r.top5_accuracy)})`
  );
  const budget = budgets ? "on different budgets (below)" : `after ${budgetText(best)}`;
  return `**Accuracy.** ${runs.join(", ")}, from most to least accurate, ${budget}; ` +
    `guessing scores ${pct(1 / best.fine_label_names.length)}.`;
}

/** The test losses, and whether they can be compared (one loss function for all). */
function lossParagraph(records: RunRecord[]): string {
  const losses = new Set(records.map((r) => r.loss));
  const each = records.map((r) => `${modelName(r.model)} ${r.test_loss.toFixed(3)}`);
  return `**Loss.** Test loss: ${each.join(", ")}. ` +
    (losses.size === 1
      ? `Every model was trained and evaluated with ${[...losses][0]}, so these are comparable ` +
        "(the source's MLP loss of 0.045 was binary cross-entropy and compared with nothing)."
      : "The models used different losses, so their loss values are not comparable.");
}

/** Seconds per epoch and images per second of every run (VGG16: plus feature extraction). */
function speedParagraph(records: RunRecord[], backend: string): string {
  const speed = records.map((r) => {
    const extra = r.feature_seconds === undefined ? "" : ` on cached features (plus ` +
      `${secs(r.feature_seconds)} once to extract them, or to read them from the cache)`;
    return `${modelName(r.model)} ${secs(mean(r.seconds_per_epoch))} per epoch, ` +
      `${count(Math.round(r.train_images_per_second))} images/s${extra}`;
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
  return `**Superclasses** (${modelName(best.model)}). ${pct(coarseAccuracy(best))} of its ` +
    `predictions fall in the right superclass, against ${pct(best.test_accuracy)} in the right ` +
    `fine class. Best superclass: ${top.superclass} (${pct(top.accuracy)}); ` +
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
  const shorterNote = `${shorter.map((r) => modelName(r.model)).join(", ")} did not have the ` +
    `source's budget of ${budgetText(SOURCE_BUDGET)}`;
  const warnings = [caveat, shorter.length && shorterNote].filter(Boolean);
  const warning = warnings.length ? ` ⚠ Not like for like — ${warnings.join("; ")}.` : "";
  return intro + lines.join(" ") + warning;
}

// ---- Notebook 06: ResNet-9 at equal time -------------------------------------------------------

/**
 * What notebook 06's equal-time runs and augmentation ablation show, in markdown.
 *
 * @param cnn the CNN's run (the time budget)
 * @param noAugment ResNet-9 without augmentation, if run
 */
export function equalTimeDiscussion(
  cnn: RunRecord,
  resnet9: RunRecord,
  noAugment?: RunRecord,
): string {
  const out: string[] = [];
  const all = [cnn, resnet9, ...(noAugment ? [noAugment] : [])];
  if (isSyntheticData(all)) {
    out.push(
      "**⚠ SYNTHETIC DATA — not CIFAR-100.** The synthetic classes are coloured stripes at set " +
        "angles with a blob at a set place: a mirror image turns one class's pattern into " +
        "another's, so flips are wrong for this data, and the small smoke budgets are too " +
        "short for the comparison to mean anything.",
    );
  }
  const caveat = dataCaveat(all);
  if (caveat) out.push(`**⚠ Data not verified as CIFAR-100** — ${caveat}.`);
  const budget = trainingSeconds(cnn), used = trainingSeconds(resnet9);
  const within = used <= budget * 1.05;
  out.push(
    `**Budget.** The CNN trained ${budgetText(cnn)} in ${secs(budget)}. ResNet-9 ran at ` +
      `${Math.round(resnet9.train_images_per_second)} images/s against the CNN's ` +
      `${Math.round(cnn.train_images_per_second)}, so ${resnet9.epochs} epoch` +
      `${resnet9.epochs === 1 ? "" : "s"} fit, which took ${secs(used)}` +
      (within
        ? "."
        : ` — **more than the CNN's time** (at least one epoch always runs), so this is not ` +
          "an equal-time comparison."),
  );
  const gain = resnet9.test_accuracy - cnn.test_accuracy;
  out.push(
    `**Accuracy at ${within ? "equal" : "unequal"} time.** ResNet-9 ` +
      `${pct(resnet9.test_accuracy)} against the CNN's ${pct(cnn.test_accuracy)}: ` +
      (gain > 0
        ? `ResNet-9 is ${(gain * 100).toFixed(1)} points more accurate.`
        : gain < 0
        ? `the CNN is ${(-gain * 100).toFixed(1)} points more accurate.`
        : "a tie."),
  );
  if (noAugment) {
    const d = resnet9.test_accuracy - noAugment.test_accuracy;
    out.push(
      `**Augmentation** (${resnet9.augmentation}): with it ${pct(resnet9.test_accuracy)}, ` +
        `without ${pct(noAugment.test_accuracy)}, the same epochs. ` +
        (d > 0
          ? `It bought ${(d * 100).toFixed(1)} points: each epoch showed new variants of the ` +
            "images, so the network memorised less."
          : `It cost ${(-d * 100).toFixed(1)} points here. Augmentation is a regulariser: it ` +
            "pays when a network sees its images many times and starts memorising them; in a " +
            "budget of a few epochs it mostly makes the task harder, and flips hurt wherever a " +
            "mirror image is another class."),
    );
  }
  return out.join("\n\n");
}

/** Notebook 06's ResNet-9 run in a paragraph for notebook 05, or how to get it. */
export function beyondSummary(resnet9: RunRecord | undefined, records: RunRecord[]): string {
  if (!resnet9) {
    return "ResNet-9 (`06_beyond.ipynb`) has not run in this profile: execute it to add a " +
      "modern fast-training recipe to this comparison.";
  }
  const cnn = records.find((r) => r.model === "cnn");
  const vs = cnn
    ? `, against the CNN's ${pct(cnn.test_accuracy)} after ${budgetText(cnn)} ` +
      `(${secs(trainingSeconds(cnn))})`
    : "";
  return `**ResNet-9** (\`06_beyond.ipynb\`, ${optimizerLabel(HYP.resnet9.optimizer)}, ` +
    `${resnet9.lr_schedule}, augmentation ${resnet9.augmentation}, label smoothing ` +
    `${resnet9.label_smoothing}): ${pct(resnet9.test_accuracy)} after ${budgetText(resnet9)} ` +
    `(${secs(trainingSeconds(resnet9))} of training)${vs}. Its notebook compares the two at ` +
    "equal training time.";
}
