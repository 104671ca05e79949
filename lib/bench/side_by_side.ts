/**
 * The side-by-side benchmark behind `deno task bench`: ours and each Python reference hold their
 * model, warm up, then alternate timed epochs in pairs, so a drift of the shared machine's speed
 * falls on both sides of each pair's ratio (./pairs.ts summarises them).
 *
 * @module
 */
import { type Cifar100, IMAGE_BYTES } from "../data/dataset.ts";
import { syntheticCifar100 } from "../data/synthetic.ts";
import { initBackend, tf } from "../engine/backend.ts";
import { setPrecision } from "../engine/precision.ts";
import { HYP, isBackbone, type PrecisionName } from "../train/hyp.ts";
import { permutation } from "../util/random.ts";
import { type PairSummary, summarizePairs, turnOrder } from "./pairs.ts";
import {
  openReference,
  type Reference,
  type ReferenceFeature,
  referenceHas,
  references,
  type ReferenceSession,
  reordered,
  writeBenchData,
} from "./reference.ts";
import { type BenchModel, type FeatureSetting, openOurs, type OursSession } from "./throughput.ts";

/** What {@linkcode sideBySide} measures. */
interface SideBySideOptions {
  models: BenchModel[];
  /** Synthetic training images per epoch (every engine gets the same ones). */
  images: number;
  pairs: number;
  /** The backbones' input sides, each timed on its own; default HYP[model].inputSize. */
  sizes?: number[];
  alpha: number;
  /** Images per epoch of a backbone: the first of the epoch's order, at most `images`. */
  featureImages: number;
  /** Our threads: this one plus threads-1 workers. */
  threads: number;
  keras: boolean;
  torch: boolean;
  /** Ours in this precision; Keras under `mixed_bfloat16` for bfloat16. Default float32. */
  precision?: PrecisionName;
  log: (line: string) => void;
}

/** One reference's figures for one model in the JSON line; images/s pair by pair. */
type ReferenceFigures = {
  name: string;
  /** The reference's own words for its engine, e.g. `keras 3.15.0 tf 2.21.0 cpu`. */
  engine: string;
  ours: number[];
  theirs: number[];
} & PairSummary;

/** One model's figures: all our timed epochs, and a {@linkcode ReferenceFigures} per reference. */
type ModelFigures = { images_per_second: number[] } & {
  [reference: string]: ReferenceFigures | number[];
};

/**
 * The JSON line of `deno task bench`: the setting, then one entry per model, a backbone's per
 * input side (`mobilenetv2@96`).
 */
type BenchResult = {
  backend: string;
  threads: number;
  images: number;
  data: "synthetic";
  pairs: number;
  precision: PrecisionName;
  feature_images?: number;
  alpha?: number;
} & { [model: string]: ModelFigures | string | number };

/** One entry of the JSON line: a model, and a backbone's input side, width and images. */
interface BenchRun {
  /** The model, or `model@side` for a backbone. */
  key: string;
  model: BenchModel;
  feature?: Required<FeatureSetting>;
}

/** Benchmark `options.models` on the active engine and, as asked, beside Keras and PyTorch. */
export async function sideBySide(options: SideBySideOptions): Promise<BenchResult> {
  const { images, threads, pairs, log } = options;
  const backend = await initBackend();
  const precision = options.precision ?? "float32";
  setPrecision(precision, backend.name);
  const refs = await references(options.keras, options.torch, log);
  const data = syntheticCifar100({ seed: 0, trainCount: images, testCount: 1 });
  // fit's shuffle of epoch 0 at seed 0 (lib/train/fit.ts): the references get the images in
  // this order and do not shuffle, so that both sides train on the same batches.
  const order = permutation(images, 0);
  const dir = refs.length ? await writeBenchData(data, order) : "";
  const result: BenchResult = {
    backend: backend.name,
    threads,
    images,
    data: "synthetic",
    pairs,
    precision,
  };
  const first = reordered(data.train, order.subarray(0, options.featureImages)).images;
  const runs = benchRuns(options, first);
  if (runs.some((run) => run.feature)) result.feature_images = options.featureImages;
  if (options.models.includes("mobilenetv2")) result.alpha = options.alpha;
  try {
    for (const run of runs) result[run.key] = await benchModel(run, refs, data, dir, options);
  } finally {
    if (dir) await Deno.remove(dir, { recursive: true });
    setPrecision("float32", backend.name);
  }
  tf.disposeVariables();
  return result;
}

/** The entries of the JSON line, in order: each model, a backbone once per input side. */
function benchRuns(options: SideBySideOptions, featureImages: Uint8Array): BenchRun[] {
  return options.models.flatMap((model): BenchRun[] => {
    if (!isBackbone(model)) return [{ key: model, model }];
    return (options.sizes ?? [HYP[model].inputSize]).map((inputSize) => ({
      key: `${model}@${inputSize}`,
      model,
      feature: { inputSize, alpha: options.alpha, images: featureImages },
    }));
  });
}

/** One entry: ours built once, then each reference's pairs against it. */
async function benchModel(
  { key, model, feature }: BenchRun,
  refs: Reference[],
  data: Cifar100,
  dir: string,
  { threads, pairs, log, precision }: SideBySideOptions,
): Promise<ModelFigures> {
  const ours = await openOurs(model, data, threads, feature);
  const theirFeature: ReferenceFeature | undefined = feature && {
    inputSize: feature.inputSize,
    alpha: feature.alpha,
    count: feature.images.length / IMAGE_BYTES,
  };
  const entry: ModelFigures = { images_per_second: [] };
  try {
    const present = refs.filter((ref) => referenceHas(ref, model));
    if (!present.length) {
      // No reference: a warm-up, then `pairs` timed epochs of ours alone.
      await ours.epoch();
      for (let i = 0; i < pairs; i++) entry.images_per_second.push(Math.round(await ours.epoch()));
      log(`${key}: ${entry.images_per_second.join(", ")} images/s here`);
    }
    for (const ref of present) {
      const theirs = await openReference(ref, model, dir, theirFeature, precision);
      try {
        const figures = await runPairs(key, ours, theirs, ref, pairs, log);
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
  key: string,
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
        `${key} pair ${turn.pair + 1}/${pairs}: ours ${o.toFixed(0)}, ${ref.name} ` +
          `${t.toFixed(0)} images/s, ratio ${(o / t).toFixed(2)}`,
      );
    }
  }
  const summary = summarizePairs(rates.ours, rates.theirs);
  log(`${key} against ${ref.name}: ${summary.verdict}`);
  return {
    name: ref.name,
    engine: theirs.header.engine,
    ours: rates.ours.map(Math.round),
    theirs: rates.theirs.map(Math.round),
    ...summary,
  };
}
