/**
 * `deno task equal-time`: {@linkcode equalTime} repeated with seeds 0..R-1 on one dataset, and
 * the medians (one run's accuracy and time vary with the seed and the machine's load).
 *
 * @module
 */
import { join } from "node:path";
import { loadCifar100 } from "../data/cifar100.ts";
import { initBackend } from "../engine/backend.ts";
import { median } from "../util/stats.ts";
import { equalTime, type EqualTimeResult } from "./equal_time.ts";
import type { AugmentName } from "./hyp.ts";
import { type RunRecord, trainingSeconds } from "./run_record.ts";

/** Options for {@linkcode equalTimeRepeats}. */
interface EqualTimeRepeatsOptions {
  data?: string;
  limitTrain?: number;
  limitTest?: number;
  repeat: number;
  augment?: AugmentName;
  /** Folder for `<out>/seed<N>/...`. */
  out: string;
  log: (line: string) => void;
}

/** The active engine, the data, and every repeat's {@linkcode EqualTimeResult}. */
export async function equalTimeRepeats(
  options: EqualTimeRepeatsOptions,
): Promise<EqualTimeResult[]> {
  const { log, repeat } = options;
  const backend = await initBackend();
  log(`Backend: ${backend.name}`);
  const dataset = await loadCifar100({
    data: options.data,
    limitTrain: options.limitTrain,
    limitTest: options.limitTest,
  });
  log(`Data: ${dataset.source.description}`);
  if (dataset.source.note) log(`Note: ${dataset.source.note}`);
  const results: EqualTimeResult[] = [];
  for (let seed = 0; seed < repeat; seed++) {
    log(`== Repeat ${seed + 1}/${repeat} (seed ${seed})`);
    results.push(
      await equalTime({
        dataset,
        seed,
        augment: options.augment,
        out: join(options.out, `seed${seed}`),
        hooks: { log, summary: false },
      }),
    );
  }
  return results;
}

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

/** The JSON summary of the repeats: the data, every run's accuracy and time, the medians. */
export function summariseRepeats(results: EqualTimeResult[]) {
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
      resnet9_no_augment: figures(r.noAugment),
    })),
    median: {
      cnn_accuracy: pick((r) => r.cnn.test_accuracy),
      resnet9_accuracy: pick((r) => r.resnet9.test_accuracy),
      resnet9_no_augment_accuracy: pick((r) => r.noAugment.test_accuracy),
      cnn_seconds: pick((r) => trainingSeconds(r.cnn)),
      resnet9_seconds: pick((r) => trainingSeconds(r.resnet9)),
      cnn_images_per_second: pick((r) => r.cnn.train_images_per_second),
      resnet9_images_per_second: pick((r) => r.resnet9.train_images_per_second),
    },
  };
}

/** What {@linkcode summariseRepeats} returns: the command's JSON line. */
export type EqualTimeSummary = ReturnType<typeof summariseRepeats>;
