/**
 * VGG16 transfer learning, done right and fast, in three phases:
 *
 * 1. **Features.** The base is frozen, so its pooled output for an image never changes: it is
 *    computed once per (weights, images, input size), cached in memory and on disk, and shared
 *    out over every core. Images go through Keras's "caffe" preprocessing (0..255 BGR minus the
 *    ImageNet means); the source fed raw RGB, which ImageNet weights were never trained on.
 * 2. **Head.** A softmax head trains on the cached features, with the loss computed from its
 *    logits (lib/train/loss.ts): head epochs take seconds, not the source's 56 s.
 * 3. **Fine-tune** (optional). block5 is unfrozen and the whole network trains end to end at a
 *    low learning rate.
 *
 * @module
 */
import { join } from "node:path";
import { initBackend, tf } from "../engine/backend.ts";
import type { Cifar100 } from "../data/dataset.ts";
import { featureExamples, imageExamples } from "../data/examples.ts";
import { countParams, summary } from "../models/layers.ts";
import {
  buildVgg16Base,
  buildVgg16Classifier,
  buildVgg16Head,
  setFineTunable,
  VGG16_FEATURE_DIM,
} from "../models/vgg16.ts";
import {
  loadVgg16Weights,
  resolveVgg16Weights,
  weightsKind,
  type WeightsSource,
} from "../models/vgg16_weights.ts";
import { HYP, optimizerLabel } from "./hyp.ts";
import {
  type ExperimentConfig,
  type ExperimentHooks,
  resolveConfig,
  type RunSettings,
} from "./experiment_config.ts";
import { type History, recordedConfidences } from "./run_record.ts";
import { cachedFeatures, extractFeatures, vgg16Input } from "./features.ts";
import { evaluate, type Evaluation, fit, type Trained } from "./fit.ts";
import { makeOptimizer } from "./optimizer.ts";
import { defaultWorkers, startWorkers } from "./parallel.ts";

const hyp = HYP.vgg16;

/** Find the weights (--weights, env VGG16_WEIGHTS, cache, download) or say how to supply them. */
export function resolveWeights(config: ExperimentConfig): Promise<WeightsSource> {
  return resolveVgg16Weights({ weights: config.weights, cacheDir: config.cacheDir });
}

/** What the phases share. */
interface Context {
  config: ExperimentConfig;
  run: RunSettings;
  weights: WeightsSource;
  data: Cifar100;
  hooks: ExperimentHooks;
  log: (line: string) => void;
  inputSize: number;
  /** This thread plus feature workers. */
  threads: number;
}

/** Train the VGG16 head (and optionally fine-tune block5); see the module doc. */
export async function trainVgg16(
  config: ExperimentConfig,
  weights: WeightsSource,
  data: Cifar100,
  hooks: ExperimentHooks,
  log: (line: string) => void,
): Promise<Trained> {
  const backend = await initBackend();
  const run = resolveConfig(config);
  const ctx: Context = {
    config,
    run,
    weights,
    data,
    hooks,
    log,
    inputSize: config.inputSize ?? hyp.inputSize,
    threads: config.workers ?? defaultWorkers(backend.name),
  };
  log(`Weights: ${weights.description}`);
  if (weights.kind === "none") {
    log("RANDOM VGG16 weights (--weights none): features are not ImageNet features.");
  }
  const base = buildVgg16Base(ctx.inputSize, run.seed);
  if (weights.path) await loadVgg16Weights(base, weights.path);
  setFineTunable(base, false);
  const head = buildVgg16Head(data.fineLabelNames.length);
  const classifier = buildVgg16Classifier(base, head);
  const text = summary(classifier);
  if (hooks.summary !== false) log(text);

  const features = await featuresPhase(ctx, base);
  const headRun = await headPhase(ctx, head, features);
  const tuned = config.fineTune ? await fineTunePhase(ctx, base, classifier) : undefined;
  const last = tuned ?? headRun;
  return {
    params: countParams(classifier).total,
    trainable_params: tuned?.trainable ?? countParams(classifier).trainable,
    optimizer: optimizerLabel(hyp.optimizer) +
      (tuned ? `, then ${optimizerLabel(hyp.fineTune.optimizer)} on block5` : ""),
    history: tuned ? concatHistory(headRun.history, tuned.history) : headRun.history,
    test_loss: last.evaluation.loss,
    test_accuracy: last.evaluation.accuracy,
    top5_accuracy: last.evaluation.top5Accuracy,
    seconds_per_epoch: [...headRun.secondsPerEpoch, ...tuned?.secondsPerEpoch ?? []],
    validation_seconds: [...headRun.validationSeconds, ...tuned?.validationSeconds ?? []],
    train_images_per_second: last.imagesPerSecond,
    test_predictions: Array.from(last.evaluation.predictions),
    test_confidences: recordedConfidences(last.evaluation.confidences),
    summary: text,
    weights: weights.description,
    weights_kind: weightsKind(weights),
    input_size: ctx.inputSize,
    fine_tune: !!config.fineTune,
    feature_seconds: features.seconds,
    head_seconds_per_epoch: headRun.secondsPerEpoch,
    workers: ctx.threads,
    trained: classifier,
  };
}

// ---- Phase 1: features, once per weights, images and size ---------------------------------------

interface Features {
  train: Float32Array;
  test: Float32Array;
  seconds: number;
}

async function featuresPhase(ctx: Context, base: tf.LayersModel): Promise<Features> {
  const { data, inputSize, threads, log, hooks } = ctx;
  const start = performance.now();
  // Extraction is forward passes only: every core gets a share of the images. Workers start
  // only when a split is not cached.
  let workers: ReturnType<typeof startWorkers> | undefined;
  const startFeatureWorkers = () => {
    if (!workers && threads > 1) log(`Extracting features on ${threads} threads`);
    return workers ??= threads > 1
      ? initBackend().then((backend) =>
        startWorkers(threads - 1, backend.name, {
          model: "vgg16-base",
          inputSize,
          seed: ctx.run.seed,
          weightsPath: ctx.weights.path,
        })
      )
      : Promise.resolve([]);
  };
  const split = async (name: "train" | "test") => {
    let rate = 0;
    const compute = async () => {
      const extracted = await extractFeatures(base, data[name].images, {
        inputSize,
        workers: await startFeatureWorkers(),
        onProgress: hooks.onProgress
          ? (done, total) => hooks.onProgress!(done, total, { features: name })
          : undefined,
      });
      rate = extracted.imagesPerSecond;
      return extracted.features;
    };
    const { features, fromCache } = await cachedFeatures(
      {
        // Random weights are cheap to recreate but differ per seed; key them by it.
        weightsId: ctx.weights.md5 ?? `none-seed${ctx.run.seed}`,
        dataId: `${data.source.id}:${name}:${data[name].count}`,
        split: name,
        inputSize,
      },
      compute,
      { cacheDir: ctx.config.cacheDir && join(ctx.config.cacheDir, "features") },
    );
    log(
      `Features (${name}, ${data[name].count} images, ${inputSize}px): ` +
        (fromCache ? "from cache" : `computed at ${rate.toFixed(1)} images/s`),
    );
    return features;
  };
  try {
    const train = await split("train");
    const test = await split("test");
    const seconds = (performance.now() - start) / 1000;
    log(`Feature extraction: ${seconds.toFixed(1)}s`);
    return { train, test, seconds };
  } finally {
    (await workers)?.forEach((w) => w.close());
  }
}

// ---- Phase 2: the head, on cached features --------------------------------------------------------

interface PhaseResult {
  history: History;
  secondsPerEpoch: number[];
  validationSeconds: number[];
  imagesPerSecond: number;
  evaluation: Evaluation;
}

async function headPhase(
  ctx: Context,
  head: tf.LayersModel,
  features: Features,
): Promise<PhaseResult> {
  const { data, run } = ctx;
  const train = featureExamples(features.train, VGG16_FEATURE_DIM, data.train.fineLabels);
  const test = featureExamples(features.test, VGG16_FEATURE_DIM, data.test.fineLabels);
  const optimizer = makeOptimizer(hyp.optimizer);
  try {
    const result = await fit(head, train, {
      epochs: run.epochs,
      batchSize: run.batchSize,
      optimizer,
      loss: run.loss,
      seed: run.seed,
      validation: test,
      log: ctx.log,
      onProgress: ctx.hooks.onProgress,
      // Ctrl-C stops after the step under way; vgg16 writes no checkpoint to resume.
      signal: ctx.hooks.signal,
    });
    return { ...result, evaluation: await evaluate(head, test, { loss: run.loss }) };
  } finally {
    optimizer.dispose();
  }
}

// ---- Phase 3: fine-tuning block5, end to end on images --------------------------------------------

async function fineTunePhase(
  ctx: Context,
  base: tf.LayersModel,
  classifier: tf.LayersModel,
): Promise<PhaseResult & { trainable: number }> {
  const { data, run, inputSize } = ctx;
  setFineTunable(base, true);
  const trainable = countParams(classifier).trainable;
  ctx.log(`Fine-tuning block5 (${trainable.toLocaleString("en-US")} trainable parameters)`);
  // VGG16 takes 0..255 pixels (scale 1), resized and caffe-preprocessed per batch.
  const transform = (x: tf.Tensor) => vgg16Input(x as tf.Tensor4D, inputSize);
  const test = imageExamples(data.test, data.test.fineLabels, 1);
  const optimizer = makeOptimizer(hyp.fineTune.optimizer);
  try {
    const result = await fit(classifier, imageExamples(data.train, data.train.fineLabels, 1), {
      epochs: hyp.fineTune.epochs,
      batchSize: run.batchSize,
      optimizer,
      loss: run.loss,
      // Another shuffle than the head's.
      seed: run.seed + 1,
      validation: test,
      transform,
      log: ctx.log,
      onProgress: ctx.hooks.onProgress,
      // Ctrl-C stops after the step under way; vgg16 writes no checkpoint to resume.
      signal: ctx.hooks.signal,
    });
    const evaluation = await evaluate(classifier, test, { loss: run.loss, transform });
    return { ...result, evaluation, trainable };
  } finally {
    optimizer.dispose();
    setFineTunable(base, false);
  }
}

function concatHistory(a: History, b: History): History {
  return {
    loss: [...a.loss, ...b.loss],
    accuracy: [...a.accuracy, ...b.accuracy],
    val_loss: [...a.val_loss, ...b.val_loss],
    val_accuracy: [...a.val_accuracy, ...b.val_accuracy],
  };
}
