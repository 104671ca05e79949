/**
 * Our side of `deno task bench`: a model built once and kept, so the paired benchmark can time
 * its epochs (training, or a frozen base's feature extraction) without paying set-up in a pair.
 *
 * @module
 */
import type { Cifar100 } from "../data/dataset.ts";
import { imageExamples } from "../data/examples.ts";
import { initBackend, tf } from "../engine/backend.ts";
import { decayedWeights } from "../models/resnet9.ts";
import { backbone } from "../models/backbone.ts";
import { extractFeatures } from "../train/features.ts";
import { fit, type FitOptions } from "../train/fit.ts";
import { HYP, isBackbone } from "../train/hyp.ts";
import type { BackboneName } from "../models/backbone.ts";
import { makeOptimizer } from "../train/optimizer.ts";
import { type GradientWorker, startWorkers } from "../train/parallel.ts";
import { buildSmallModel, type SmallModel } from "../train/small_models.ts";
import { TracedForward } from "../train/traced_forward.ts";
import { TracedGradients } from "../train/traced_step.ts";

/** What can be benchmarked. */
export const BENCH_MODELS = ["mlp", "cnn", "vgg16", "resnet9", "mobilenetv2"] as const;
/** A benchmarked model. */
export type BenchModel = typeof BENCH_MODELS[number];

/** Which feature extraction a backbone (vgg16, mobilenetv2) times; see {@linkcode openOurs}. */
export interface FeatureSetting {
  /** Default HYP[model].inputSize, the side training uses. */
  inputSize?: number;
  /** Default HYP.mobilenetv2.alpha. */
  alpha?: number;
  /** uint8 `[N, 32, 32, 3]` images an epoch extracts; default all of `data.train`. */
  images?: Uint8Array;
}

/** A model held for timing. */
export interface OursSession {
  /** One epoch over the same images in the same batches: its images/s. */
  epoch(): Promise<number>;
  close(): void;
}

/**
 * Build `model` once for timing on `data.train`: the small models train as `deno task train`
 * does (ResNet-9 at a constant peak rate, no augmentation, as the references run it); a backbone
 * times its frozen base's feature extraction (random weights) with `feature`'s settings.
 *
 * @param threads this thread plus threads-1 workers
 */
export async function openOurs(
  model: BenchModel,
  data: Cifar100,
  threads: number,
  feature: FeatureSetting = {},
): Promise<OursSession> {
  const backend = await initBackend();
  if (isBackbone(model)) {
    const choice = {
      name: model,
      inputSize: feature.inputSize ?? HYP[model].inputSize,
      alpha: model === "mobilenetv2" ? feature.alpha ?? HYP.mobilenetv2.alpha : 1,
    };
    const built = backbone(model).build(choice, 0);
    const base = backbone(model).featureModel(built, choice);
    if (base !== built) built.dispose();
    const recipe = { model: "backbone", choice, seed: 0 } as const;
    const workers = await startWorkers(threads - 1, backend.name, recipe);
    const images = feature.images ?? data.train.images;
    return featureSession(model, base, choice.inputSize, images, workers);
  }
  const workers = await startWorkers(threads - 1, backend.name, {
    model,
    seed: 0,
    numClasses: 100,
  });
  return trainingSession(model, data, workers);
}

/** An {@linkcode OursSession} training `model`. */
function trainingSession(
  model: SmallModel,
  data: Cifar100,
  workers: GradientWorker[],
): OursSession {
  const net = buildSmallModel(model, 0);
  const optimizer = makeOptimizer(HYP[model].optimizer);
  const examples = imageExamples(data.train, data.train.fineLabels);
  // Kept across epochs, as Keras keeps its compiled step: each epoch replays from its first batch.
  const replay = tf.getBackend() === "tensorflow"
    ? new TracedGradients(net, net.trainableWeights.map((w) => w.read() as tf.Variable))
    : true;
  const recipe: Partial<FitOptions> = model === "resnet9"
    ? {
      labelSmoothing: HYP.resnet9.labelSmoothing,
      weightDecay: { rate: HYP.resnet9.weightDecay, names: decayedWeights(net) },
    }
    : {};
  return {
    async epoch() {
      // One epoch per call: fit shuffles epoch 0 with seed 0 every time, so every call trains
      // on the same batches (the references get the images in that order).
      const result = await fit(net, examples, {
        epochs: 1,
        batchSize: HYP[model].batchSize,
        optimizer,
        log: () => {},
        workers,
        replay,
        ...recipe,
      });
      return examples.count / result.secondsPerEpoch[0];
    },
    close() {
      workers.forEach((w) => w.close());
      if (replay !== true) replay.dispose();
      net.dispose();
      optimizer.dispose();
    },
  };
}

/** An {@linkcode OursSession} of a frozen base's feature extraction over `images`. */
function featureSession(
  model: BackboneName,
  base: tf.LayersModel,
  inputSize: number,
  images: Uint8Array,
  workers: GradientWorker[],
): OursSession {
  // Kept across epochs, as Keras keeps its compiled predict: each epoch replays from its first batch.
  const traced = tf.getBackend() === "tensorflow"
    ? new TracedForward(base.weights.map((w) => w.read()))
    : undefined;
  const options = {
    inputSize,
    input: backbone(model).input,
    batchSize: HYP[model].featureBatchSize,
    workers,
    progress: false,
    traced,
  };
  let warm = false;
  return {
    async epoch() {
      // Before the bench's own warm-up ends: until the function has run (it is optimised on its
      // first call), as Keras's warm-up builds its graph. An epoch may be two batches.
      for (let i = 0; !warm && traced && traced.replayed < 2 && i < 4; i++) {
        await extractFeatures(base, images, options);
      }
      warm = true;
      const timed = await extractFeatures(base, images, options);
      return timed.imagesPerSecond;
    },
    close() {
      workers.forEach((w) => w.close());
      traced?.dispose();
      base.dispose();
    },
  };
}
