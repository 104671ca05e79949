/**
 * The side-by-side benchmark behind `deno task bench`: for each model, ours then each Python
 * reference, `repeat` times in turn, and the ratio of ours to theirs, run by run, whose median
 * is reported (absolute times drift on shared machines; a ratio of neighbours drifts less).
 *
 * @module
 */
import { initBackend, tf } from "../engine/backend.ts";
import { median } from "../util/stats.ts";
import {
  benchReference,
  type Reference,
  referenceHas,
  references,
  writeBenchData,
} from "./reference.ts";
import { type BenchModel, benchOurs } from "./throughput.ts";

/** What {@linkcode sideBySide} measures. */
export interface SideBySideOptions {
  models: BenchModel[];
  /** Synthetic training images per epoch (every engine gets the same ones). */
  images: number;
  /** Runs of each engine per model. */
  repeat: number;
  /** Our threads: this one plus threads-1 workers. */
  threads: number;
  /** Run the Keras reference. */
  keras: boolean;
  /** Run the PyTorch references. */
  torch: boolean;
  /** Progress lines (stderr in the command). */
  log: (line: string) => void;
}

/** One reference's figures for one model in the JSON line. */
export interface ReferenceFigures {
  name: string;
  images_per_second: number[];
  /** The median over runs of ours / theirs, to 3 decimals. */
  ratio: number;
}

/** One model's figures: ours, and a {@linkcode ReferenceFigures} per reference id. */
export type ModelFigures = { images_per_second: number[] } & {
  [reference: string]: ReferenceFigures | number[];
};

/** The JSON line of `deno task bench`: the setting, then one entry per model. */
export type BenchResult = {
  backend: string;
  threads: number;
  images: number;
  data: "synthetic";
  repeat: number;
} & { [model: string]: ModelFigures | string | number };

/** Benchmark `options.models` on the active engine and, as asked, beside Keras and PyTorch. */
export async function sideBySide(options: SideBySideOptions): Promise<BenchResult> {
  const { images, threads, repeat, log } = options;
  const backend = await initBackend();
  const refs = await references(options.keras, options.torch, log);
  const data = refs.length ? await writeBenchData(images) : "";
  const result: BenchResult = { backend: backend.name, threads, images, data: "synthetic", repeat };
  try {
    for (const model of options.models) {
      result[model] = await benchModel(model, refs, data, options);
    }
  } finally {
    if (data) await Deno.remove(data, { recursive: true });
  }
  tf.disposeVariables();
  return result;
}

/** One model: ours and each reference in turn, `repeat` times, then the figures. */
async function benchModel(
  model: BenchModel,
  refs: Reference[],
  data: string,
  { images, threads, repeat, log }: SideBySideOptions,
): Promise<ModelFigures> {
  const backend = await initBackend();
  const ours: number[] = [];
  const theirs = refs.map(() => [] as number[]);
  for (let r = 0; r < repeat; r++) {
    ours.push(await benchOurs(model, images, threads));
    log(`${model}: ${ours.at(-1)!.toFixed(0)} images/s here (${backend.name})`);
    for (const [i, ref] of refs.entries()) {
      if (!referenceHas(ref, model)) continue;
      theirs[i].push(await benchReference(ref, model, data, images));
      const ratio = ours.at(-1)! / theirs[i].at(-1)!;
      log(
        `${model}: ${theirs[i].at(-1)!.toFixed(0)} images/s ${ref.name}, ratio ${ratio.toFixed(2)}`,
      );
    }
  }
  const entry: ModelFigures = { images_per_second: ours.map(Math.round) };
  refs.forEach((ref, i) => {
    if (!theirs[i].length) return;
    entry[ref.id] = {
      name: ref.name,
      images_per_second: theirs[i].map(Math.round),
      ratio: ratioOf(ours, theirs[i]),
    };
  });
  return entry;
}

/**
 * Ours over theirs, run by run, and the median of those, to 3 decimals.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(ratioOf([100, 300, 200], [100, 100, 100]), 2);
 * ```
 */
export function ratioOf(ours: number[], theirs: number[]): number {
  return Number(median(ours.map((o, r) => o / theirs[r])).toFixed(3));
}
