/**
 * VGG16 transfer learning, done right and fast:
 *
 * 1. Keras's "caffe" preprocessing (0..255 BGR minus the ImageNet means): the
 *    source fed raw RGB, which ImageNet weights were never trained on.
 * 2. A softmax head trained with categorical cross-entropy on probabilities:
 *    the source's head gave logits to a loss that expects probabilities.
 * 3. The base is frozen, so its pooled features are computed once per
 *    (weights, images, input size), cached in memory and on disk, and the head
 *    trains on them: head epochs take seconds, not the source's 56 s.
 * 4. Optionally, block5 is then fine-tuned end to end at a low learning rate.
 *
 * @module
 */
import { join } from "node:path";
import { initBackend, tf } from "./backend.ts";
import { defaultWorkers, type GradientWorker, startWorkers } from "./parallel.ts";
import type { Cifar100 } from "./data/cifar100.ts";
import { featureExamples, imageExamples } from "./data/examples.ts";
import type { ExperimentConfig, ExperimentHooks, TrainedBody } from "./experiment.ts";
import { cachedFeatures, extractFeatures, vgg16Input } from "./features.ts";
import { countParams, summary } from "./models/layers.ts";
import {
  buildVgg16Base,
  buildVgg16Classifier,
  buildVgg16Head,
  setFineTunable,
  VGG16_FEATURE_DIM,
} from "./models/vgg16.ts";
import {
  loadVgg16Weights,
  resolveVgg16Weights,
  type WeightsSource,
} from "./models/vgg16_weights.ts";
import { evaluate, fit } from "./train.ts";

/** VGG16 hyperparameters, in one place. */
export const VGG16_DEFAULTS = {
  /** Adam at Keras's default rate trains the 51,300-parameter head well on cached features. */
  headLearningRate: 1e-3,
  /** Fine-tuning moves pretrained filters: 100x lower, as in Keras's transfer-learning guide. */
  fineTuneLearningRate: 1e-5,
  /** Fine-tuning runs the whole network per batch; two epochs show the gain at bearable cost. */
  fineTuneEpochs: 2,
  /** Forward-only feature extraction fits larger batches than training. */
  featureBatchSize: 64,
} as const;

/** Find the weights (--weights, env VGG16_WEIGHTS, cache, download) or say how to supply them. */
export function resolveWeights(config: ExperimentConfig): Promise<WeightsSource> {
  return resolveVgg16Weights({ weights: config.weights, cacheDir: config.cacheDir });
}

/** Train the VGG16 head (and optionally fine-tune block5); see the module doc. */
export async function trainVgg16(
  config: ExperimentConfig,
  weights: WeightsSource,
  data: Cifar100,
  hooks: ExperimentHooks,
  log: (line: string) => void,
): Promise<TrainedBody> {
  const inputSize = config.inputSize ?? 32;
  const seed = config.seed ?? 0;
  const epochs = config.epochs ?? 20;
  const batchSize = config.batchSize ?? 128;
  const loss = config.loss ?? "categorical_crossentropy";

  log(`Weights: ${weights.description}`);
  if (weights.kind === "none") {
    log("RANDOM VGG16 weights (--weights none): features are not ImageNet features.");
  }
  const base = buildVgg16Base(inputSize, seed);
  if (weights.path) await loadVgg16Weights(base, weights.path);
  setFineTunable(base, false);
  const head = buildVgg16Head(data.fineLabelNames.length);
  const classifier = buildVgg16Classifier(base, head);
  const text = summary(classifier);
  if (hooks.summary !== false) log(text);

  // ---- Features: once per weights, images and size; the head trains on them ----
  const featureStart = performance.now();
  // Extraction is forward passes only: every core gets a share of the images.
  const backend = await initBackend();
  const threads = config.workers ?? defaultWorkers(backend.name);
  let workers: Promise<GradientWorker[]> | undefined;
  const startFeatureWorkers = () => {
    if (!workers && threads > 1) log(`Extracting features on ${threads} threads`);
    return workers ??= threads > 1
      ? startWorkers(threads - 1, backend.name, {
        model: "vgg16-base",
        inputSize,
        seed,
        weightsPath: weights.path,
      })
      : Promise.resolve([]);
  };
  const features = async (split: "train" | "test") => {
    const images = data[split].images;
    let rate = 0;
    const compute = async () => {
      const extracted = await extractFeatures(base, images, {
        inputSize,
        batchSize: VGG16_DEFAULTS.featureBatchSize,
        workers: await startFeatureWorkers(),
        onProgress: hooks.onProgress
          ? (done, total) => hooks.onProgress!(done, total, { features: split })
          : undefined,
      });
      rate = extracted.imagesPerSecond;
      return extracted.features;
    };
    // Random weights are cheap to recreate but differ per seed; key them by it.
    const weightsId = weights.md5 ?? `none-seed${seed}`;
    const { features, fromCache } = await cachedFeatures(
      {
        weightsId,
        dataId: `${data.source.id}:${split}:${data[split].count}`,
        split,
        inputSize,
      },
      compute,
      { cacheDir: config.cacheDir && join(config.cacheDir, "features") },
    );
    log(
      `Features (${split}, ${data[split].count} images, ${inputSize}px): ` +
        (fromCache ? "from cache" : `computed at ${rate.toFixed(1)} images/s`),
    );
    return features;
  };
  let trainFeatures: Float32Array, testFeatures: Float32Array;
  try {
    trainFeatures = await features("train");
    testFeatures = await features("test");
  } finally {
    (await workers)?.forEach((w) => w.close());
  }
  const featureSeconds = (performance.now() - featureStart) / 1000;
  log(`Feature extraction: ${featureSeconds.toFixed(1)}s`);

  const dim = VGG16_FEATURE_DIM;
  const train = featureExamples(trainFeatures, dim, data.train.fineLabels);
  const test = featureExamples(testFeatures, dim, data.test.fineLabels);
  const headOptimizer = tf.train.adam(VGG16_DEFAULTS.headLearningRate, 0.9, 0.999, 1e-7);
  const headFit = await fit(head, train, {
    epochs,
    batchSize,
    optimizer: headOptimizer,
    loss,
    seed,
    validation: test,
    log,
    onProgress: hooks.onProgress,
  });
  headOptimizer.dispose();
  let evaluation = await evaluate(head, test, { loss });
  const history = headFit.history;
  const secondsPerEpoch = [...headFit.secondsPerEpoch];
  const validationSeconds = [...headFit.validationSeconds];
  let trainable = countParams(classifier).trainable;
  let imagesPerSecond = headFit.imagesPerSecond;

  // ---- Optional fine-tuning of block5, end to end on images ----
  if (config.fineTune) {
    setFineTunable(base, true);
    trainable = countParams(classifier).trainable;
    log(`Fine-tuning block5 (${trainable.toLocaleString("en-US")} trainable parameters)`);
    const transform = (x: tf.Tensor) => vgg16Input(x as tf.Tensor4D, inputSize);
    const optimizer = tf.train.adam(VGG16_DEFAULTS.fineTuneLearningRate, 0.9, 0.999, 1e-7);
    const tuned = await fit(classifier, imageExamples(data.train, data.train.fineLabels, 1), {
      epochs: VGG16_DEFAULTS.fineTuneEpochs,
      batchSize,
      optimizer,
      loss,
      seed: seed + 1,
      validation: imageExamples(data.test, data.test.fineLabels, 1),
      transform,
      log,
      onProgress: hooks.onProgress,
    });
    optimizer.dispose();
    for (const key of Object.keys(history) as (keyof typeof history)[]) {
      history[key].push(...tuned.history[key]);
    }
    secondsPerEpoch.push(...tuned.secondsPerEpoch);
    validationSeconds.push(...tuned.validationSeconds);
    imagesPerSecond = tuned.imagesPerSecond;
    evaluation = await evaluate(classifier, imageExamples(data.test, data.test.fineLabels, 1), {
      loss,
      transform,
    });
    setFineTunable(base, false);
  }

  return {
    params: countParams(classifier).total,
    trainable_params: trainable,
    optimizer: `Adam(lr=${VGG16_DEFAULTS.headLearningRate})` +
      (config.fineTune ? `, then Adam(lr=${VGG16_DEFAULTS.fineTuneLearningRate}) on block5` : ""),
    history,
    test_loss: evaluation.loss,
    test_accuracy: evaluation.accuracy,
    top5_accuracy: evaluation.top5Accuracy,
    seconds_per_epoch: secondsPerEpoch,
    validation_seconds: validationSeconds,
    train_images_per_second: imagesPerSecond,
    test_predictions: Array.from(evaluation.predictions),
    summary: text,
    weights: weights.description,
    input_size: inputSize,
    fine_tune: !!config.fineTune,
    feature_seconds: featureSeconds,
    head_seconds_per_epoch: headFit.secondsPerEpoch,
    workers: threads,
    trained: classifier,
  };
}
