/**
 * The side-by-side benchmark behind `deno task bench`: for each model, ours and each Python
 * reference hold their model (built, compiled, loaded once), warm up one epoch each, then
 * alternate timed epochs, ours, theirs, ours, theirs ..., for `pairs` pairs. Each pair's ratio
 * (ours / theirs in images/s) compares neighbours in time, so a drift of the shared machine's
 * speed falls on both; the median, minimum and maximum of the ratios and a verdict on the
 * noise (./pairs.ts) are reported.
 *
 * @module
 */
import type { Cifar100 } from "../data/dataset.ts";
import { syntheticCifar100 } from "../data/synthetic.ts";
import { initBackend, tf } from "../engine/backend.ts";
import { permutation } from "../util/random.ts";
import { type PairSummary, summarizePairs, turnOrder } from "./pairs.ts";
import {
  openReference,
  type Reference,
  referenceHas,
  references,
  type ReferenceSession,
  writeBenchData,
} from "./reference.ts";
import { type BenchModel, openOurs, type OursSession } from "./throughput.ts";

/** What {@linkcode sideBySide} measures. */
export interface SideBySideOptions {
  models: BenchModel[];
  /** Synthetic training images per epoch (every engine gets the same ones). */
  images: number;
  /** Timed pairs of epochs per model and reference, after a warm-up epoch of each side. */
  pairs: number;
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
export type ReferenceFigures = {
  name: string;
  /** The reference's own words for its engine, e.g. `keras 3.15.0 tf 2.21.0 cpu`. */
  engine: string;
  /** Our images/s in these pairs, pair by pair. */
  ours: number[];
  /** Theirs, pair by pair. */
  theirs: number[];
} & PairSummary;

/** One model's figures: all our timed epochs, and a {@linkcode ReferenceFigures} per reference. */
export type ModelFigures = { images_per_second: number[] } & {
  [reference: string]: ReferenceFigures | number[];
};

/** The JSON line of `deno task bench`: the setting, then one entry per model. */
export type BenchResult = {
  backend: string;
  threads: number;
  images: number;
  data: "synthetic";
  pairs: number;
} & { [model: string]: ModelFigures | string | number };

/** Benchmark `options.models` on the active engine and, as asked, beside Keras and PyTorch. */
export async function sideBySide(options: SideBySideOptions): Promise<BenchResult> {
  const { images, threads, pairs, log } = options;
  const backend = await initBackend();
  const refs = await references(options.keras, options.torch, log);
  const data = syntheticCifar100({ seed: 0, trainCount: images, testCount: 1 });
  // fit's shuffle of epoch 0 at seed 0 (lib/train/fit.ts): the references get the images in
  // this order and do not shuffle, so that both sides train on the same batches.
  const dir = refs.length ? await writeBenchData(data, permutation(images, 0)) : "";
  const result: BenchResult = { backend: backend.name, threads, images, data: "synthetic", pairs };
  try {
    for (const model of options.models) {
      result[model] = await benchModel(model, refs, data, dir, options);
    }
  } finally {
    if (dir) await Deno.remove(dir, { recursive: true });
  }
  tf.disposeVariables();
  return result;
}

/** One model: ours built once, then each reference's pairs against it. */
async function benchModel(
  model: BenchModel,
  refs: Reference[],
  data: Cifar100,
  dir: string,
  { threads, pairs, log }: SideBySideOptions,
): Promise<ModelFigures> {
  const ours = await openOurs(model, data, threads);
  const entry: ModelFigures = { images_per_second: [] };
  try {
    const present = refs.filter((ref) => referenceHas(ref, model));
    if (!present.length) {
      // No reference: a warm-up, then `pairs` timed epochs of ours alone.
      await ours.epoch();
      for (let i = 0; i < pairs; i++) entry.images_per_second.push(Math.round(await ours.epoch()));
      log(`${model}: ${entry.images_per_second.join(", ")} images/s here`);
    }
    for (const ref of present) {
      const theirs = await openReference(ref, model, dir);
      try {
        const figures = await runPairs(model, ours, theirs, ref, pairs, log);
        entry.images_per_second.push(...figures.ours);
        entry[ref.id] = figures;
      } finally {
        await theirs.close();
      }
    }
  } finally {
    ours.close();
  }
  return entry;
}

/** The turns of {@linkcode turnOrder}: both sides' warm-ups, then the timed pairs. */
async function runPairs(
  model: BenchModel,
  ours: OursSession,
  theirs: ReferenceSession,
  ref: Reference,
  pairs: number,
  log: (line: string) => void,
): Promise<ReferenceFigures> {
  const rates = { ours: [] as number[], theirs: [] as number[] };
  for (const turn of turnOrder(pairs)) {
    const rate = await (turn.side === "ours" ? ours : theirs).epoch();
    if (turn.warmUp) continue;
    rates[turn.side].push(rate);
    if (turn.side === "theirs") {
      const [o, t] = [rates.ours[turn.pair], rate];
      log(
        `${model} pair ${turn.pair + 1}/${pairs}: ours ${o.toFixed(0)}, ${ref.name} ` +
          `${t.toFixed(0)} images/s, ratio ${(o / t).toFixed(2)}`,
      );
    }
  }
  const summary = summarizePairs(rates.ours, rates.theirs);
  log(`${model} against ${ref.name}: ${summary.verdict}`);
  return {
    name: ref.name,
    engine: theirs.header.engine,
    ours: rates.ours.map(Math.round),
    theirs: rates.theirs.map(Math.round),
    ...summary,
  };
}
