/**
 * `deno task equal-time`: ResNet-9 against the source's CNN at equal training time on this
 * machine (lib/train/equal_time.ts), repeated with seeds 0..R-1, medians reported.
 *
 * ```sh
 * deno task equal-time [--data PATH|synthetic] [--limit-train N] [--limit-test N] [--repeat R]
 *   [--augment crop+flip|crop|none] [--out DIR]
 * ```
 *
 * Each repeat trains the CNN (HYP.cnn: 20 epochs, batch 128, Adam), then ResNet-9 for the whole
 * epochs of its recipe that fit in the CNN's training time (with `--augment`'s augmentation,
 * default the recipe's crop+flip), then ResNet-9 again without augmentation (the ablation). The log goes to stderr, ending with a table; stdout gets one
 * JSON line: the data, every run's accuracy and training seconds, and the medians. Data given
 * with `--data` that is not CIFAR-100 (e.g. lib/data/sklearn_digits.ts) is described as such
 * in both.
 *
 * @module
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { loadCifar100 } from "../data/cifar100.ts";
import { initBackend } from "../engine/backend.ts";
import { equalTime, type EqualTimeResult } from "../train/equal_time.ts";
import {
  AUGMENTATIONS,
  type AugmentName,
  type RunRecord,
  trainingSeconds,
} from "../train/config.ts";
import { positiveInt, runCommand, UserError } from "../util/errors.ts";

const USAGE = `usage: deno task equal-time [--data PATH|synthetic] [--limit-train N]
  [--limit-test N] [--repeat R] [--augment crop+flip|crop|none] [--out DIR]`;

/** One run's figures in the JSON line. */
function figures(r: RunRecord) {
  return {
    epochs: r.epochs,
    test_accuracy: r.test_accuracy,
    top5_accuracy: r.top5_accuracy,
    train_seconds: Math.round(trainingSeconds(r) * 10) / 10,
    images_per_second: Math.round(r.train_images_per_second),
    augmentation: r.augmentation,
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** The JSON summary of the repeats. */
export function summarise(results: EqualTimeResult[]) {
  const first = results[0];
  const pick = (f: (r: EqualTimeResult) => number) =>
    Math.round(median(results.map(f)) * 1e4) / 1e4;
  return {
    data: first.cnn.data.description,
    data_origin: first.cnn.data.origin,
    data_note: first.cnn.data.note,
    backend: first.cnn.backend,
    train_images: first.cnn.train_images,
    test_images: first.cnn.test_images,
    repeats: results.map((r, seed) => ({
      seed,
      budget_seconds: Math.round(r.budgetSeconds * 10) / 10,
      probe_images_per_second: Math.round(r.probeImagesPerSecond),
      cnn: figures(r.cnn),
      resnet9: figures(r.resnet9),
      resnet9_no_augment: r.noAugment ? figures(r.noAugment) : undefined,
    })),
    median: {
      cnn_accuracy: pick((r) => r.cnn.test_accuracy),
      resnet9_accuracy: pick((r) => r.resnet9.test_accuracy),
      resnet9_no_augment_accuracy: pick((r) => r.noAugment?.test_accuracy ?? NaN),
      cnn_seconds: pick((r) => trainingSeconds(r.cnn)),
      resnet9_seconds: pick((r) => trainingSeconds(r.resnet9)),
      cnn_images_per_second: pick((r) => r.cnn.train_images_per_second),
      resnet9_images_per_second: pick((r) => r.resnet9.train_images_per_second),
    },
  };
}

/** Run the command line; returns the exit code. */
export function main(args: string[]): Promise<number> {
  return runCommand(async () => {
    let v;
    try {
      v = parseArgs({
        args,
        strict: true,
        options: {
          data: { type: "string" },
          "limit-train": { type: "string" },
          "limit-test": { type: "string" },
          repeat: { type: "string" },
          out: { type: "string" },
          augment: { type: "string" },
        },
      }).values;
    } catch (e) {
      throw new UserError(`${(e as Error).message.replace(/\s*\n\s*/g, " ")}\n${USAGE}`);
    }
    const repeat = positiveInt("--repeat", v.repeat) ?? 1;
    const augment = v.augment as AugmentName | undefined;
    if (augment !== undefined && !AUGMENTATIONS.includes(augment)) {
      throw new UserError(`--augment must be one of ${AUGMENTATIONS.join(", ")}`);
    }
    const log = (line: string) => console.error(line);
    const backend = await initBackend();
    log(`Backend: ${backend.name}`);
    const dataset = await loadCifar100({
      data: v.data,
      limitTrain: positiveInt("--limit-train", v["limit-train"]),
      limitTest: positiveInt("--limit-test", v["limit-test"]),
    });
    log(`Data: ${dataset.source.description}`);
    if (dataset.source.note) log(`Note: ${dataset.source.note}`);
    const out = v.out ?? join("runs", "equal_time");
    const results: EqualTimeResult[] = [];
    for (let seed = 0; seed < repeat; seed++) {
      log(`== Repeat ${seed + 1}/${repeat} (seed ${seed})`);
      results.push(
        await equalTime({
          dataset,
          seed,
          augment,
          ablation: true,
          out: join(out, `seed${seed}`),
          hooks: { log, summary: false },
        }),
      );
    }
    const summary = summarise(results);
    for (const r of summary.repeats) {
      log(
        `seed ${r.seed}: CNN ${r.cnn.epochs} epochs ${r.cnn.train_seconds} s -> ` +
          `${r.cnn.test_accuracy.toFixed(4)}; ResNet-9 ${r.resnet9.epochs} epochs ` +
          `${r.resnet9.train_seconds} s -> ${r.resnet9.test_accuracy.toFixed(4)}; without ` +
          `augmentation ${r.resnet9_no_augment?.train_seconds} s -> ` +
          `${r.resnet9_no_augment?.test_accuracy.toFixed(4)}`,
      );
    }
    console.log(JSON.stringify(summary));
    return 0;
  });
}

if (import.meta.main) Deno.exit(await main(Deno.args));
