/**
 * `deno task bench --accuracy`: ResNet-9's test accuracy at equal epochs, ours against the
 * references, with HYP.resnet9's recipe and no augmentation (which the references lack). The
 * images are synthetic: it tests that the sides train alike, not what ResNet-9 reaches.
 *
 * @module
 */
import { syntheticCifar100 } from "../data/synthetic.ts";
import { runExperiment } from "../train/experiment.ts";
import type { PrecisionName } from "../train/hyp.ts";
import { referenceAccuracy, references, writeBenchData } from "./reference.ts";

/** What {@linkcode accuracyComparison} measures. */
interface AccuracyOptions {
  epochs: number;
  /** Synthetic training images. */
  images: number;
  testImages: number;
  /** Our threads: this one plus threads-1 workers. */
  threads: number;
  keras: boolean;
  torch: boolean;
  /** Ours in this precision, Keras under `mixed_bfloat16` for bfloat16; default float32. */
  precision?: PrecisionName;
  log: (line: string) => void;
}

/** One side's result. */
interface SideAccuracy {
  engine: string;
  test_accuracy: number;
  seconds_per_epoch: number[];
}

/** The JSON line of `deno task bench --accuracy`. */
interface AccuracyResult {
  model: "resnet9";
  data: "synthetic";
  epochs: number;
  train_images: number;
  test_images: number;
  precision: PrecisionName;

  ours: SideAccuracy;
  /** By reference id (`keras`, `torch`, `torch_debian`). */
  [reference: string]: SideAccuracy | string | number;
}

/** Train ResNet-9 on every side for `options.epochs` epochs and collect the test accuracies. */
export async function accuracyComparison(options: AccuracyOptions): Promise<AccuracyResult> {
  const { epochs, images, testImages, log } = options;
  const refs = await references(options.keras, options.torch, log);
  const data = syntheticCifar100({ seed: 0, trainCount: images, testCount: testImages });
  const dir = await writeBenchData(data);
  try {
    const record = await runExperiment({
      model: "resnet9",
      epochs,
      dataset: data,
      out: null,
      augment: "none",
      workers: options.threads,
      precision: options.precision,
    }, { log: () => {} });
    const result: AccuracyResult = {
      model: "resnet9",
      data: "synthetic",
      epochs,
      train_images: images,
      test_images: testImages,
      precision: options.precision ?? "float32",
      ours: {
        engine: record.backend,
        test_accuracy: record.test_accuracy,
        seconds_per_epoch: record.seconds_per_epoch,
      },
    };
    log(`resnet9, ${epochs} epochs, synthetic: ours ${record.test_accuracy.toFixed(4)}`);
    for (const ref of refs) {
      const theirs = await referenceAccuracy(ref, dir, epochs, options.precision);
      result[ref.id] = {
        engine: theirs.engine,
        test_accuracy: theirs.test_accuracy,
        seconds_per_epoch: theirs.seconds_per_epoch,
      };
      log(`resnet9, ${epochs} epochs, synthetic: ${ref.name} ${theirs.test_accuracy.toFixed(4)}`);
    }
    return result;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
