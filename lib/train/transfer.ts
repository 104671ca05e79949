/**
 * Transfer learning from a pretrained backbone (VGG16 or MobileNetV2) in three phases: the
 * frozen base's features, computed once and cached (./features.ts); a head trained on them; and
 * optionally the top of the base fine-tuned end to end at a low learning rate. Images go through
 * the base's own Keras preprocessing (the source fed VGG16 raw RGB). Each phase's epochs write
 * checkpoints; a resumed fine-tuning phase needs no features.
 *
 * @module
 */
import { join } from "node:path";
import type { tf } from "../engine/backend.ts";
import type { Cifar100 } from "../data/dataset.ts";
import { type Examples, featureExamples, imageExamples } from "../data/examples.ts";
import { countParams, summary } from "../models/summary.ts";
import { backbone, buildClassifier, buildHead } from "../models/backbone.ts";
import {
  backboneWeightsKind,
  loadBackboneWeights,
  resolveBackboneWeights,
} from "../models/backbone_weights.ts";
import type { WeightsSource } from "../models/keras_weights.ts";
import { alphaName } from "../models/mobilenet_v2.ts";
import { HYP, type OptimizerSpec } from "./hyp.ts";
import type { ExperimentHooks, Run, TransferSettings } from "./experiment_config.ts";
import type { History } from "./run_record.ts";
import { cachedFeatures, extractFeatures } from "./features.ts";
import {
  evaluate,
  type Evaluation,
  fit,
  type FitOptions,
  type Trained,
  type TrainingMeasures,
  TrainingStopped,
} from "./fit.ts";
import { makeOptimizer } from "./optimizer.ts";
import { startWorkers } from "./parallel.ts";
import {
  type Checkpoint,
  type PhaseProgress,
  type RunIdentity,
  type TrainingProgress,
} from "./checkpoint.ts";
import {
  epochCheckpoints,
  experimentIdentity,
  openCheckpoint,
  resumeRun,
  stoppedWithCheckpoint,
} from "./resume.ts";

/** Find the weights (--weights, the base's env variable, caches, download) or say how. */
export function resolveWeights(run: Run): Promise<WeightsSource> {
  return resolveBackboneWeights(run.transfer!, {
    weights: run.transfer!.weights,
    cacheDir: run.cacheDir,
  });
}

/** The phases that checkpoints are of, and how the log names them. */
type PhaseName = "head" | "fine-tune";
const PHASE_WORDS: Record<PhaseName, string> = { head: "the head", "fine-tune": "fine-tuning" };

/** What the phases share. */
interface Context {
  run: Run;
  /** `run.transfer`. */
  transfer: TransferSettings;
  weights: WeightsSource;
  data: Cifar100;
  hooks: ExperimentHooks;
  log: (line: string) => void;
  identity: RunIdentity;
  /** The checkpoint the run goes on from, until its phase has restored it. */
  checkpoint?: Checkpoint;
  /** The base and the head: what the run saves. */
  classifier: tf.LayersModel;
}

/** Train the head on the backbone's features (and optionally fine-tune); see the module doc. */
export async function trainTransfer(
  run: Run,
  weights: WeightsSource,
  data: Cifar100,
  hooks: ExperimentHooks,
  log: (line: string) => void,
): Promise<Trained> {
  const transfer = run.transfer!;
  const identity: RunIdentity = {
    ...experimentIdentity(run, data),
    ...baseFields(transfer, weights),
    weights_md5: weights.md5 ?? null,
  };
  log(`Weights: ${weights.description}`);
  if (weights.kind === "none") {
    const name = transfer.name === "vgg16"
      ? "VGG16"
      : `MobileNetV2 (alpha ${alphaName(transfer.alpha)})`;
    log(`RANDOM ${name} weights (--weights none): features are not ImageNet features.`);
  }
  // Before the features: a checkpoint of another configuration is refused at once.
  const checkpoint = run.dir === undefined
    ? undefined
    : await openCheckpoint(run.dir, identity, run.checkpoint, log);
  const parts = backbone(transfer.name);
  const base = parts.build(transfer, run.seed);
  if (weights.path) await loadBackboneWeights(transfer, base, weights.path);
  parts.setFineTunable(base, false);
  const head = buildHead(data.fineLabelNames.length, parts.featureDim(transfer), run.seed);
  const classifier = buildClassifier(transfer.name, base, head);
  const text = summary(classifier);
  if (hooks.summary !== false) log(text);
  const resumedFrom = resumedEpoch(checkpoint);
  const ctx = { run, transfer, weights, data, hooks, log, identity, checkpoint, classifier };
  const { headRun, tuned, featureSeconds } = await trainPhases(ctx, base, head);
  const last = tuned ?? headRun as PhaseResult;
  const params = countParams(classifier);
  return {
    model: classifier,
    summary: text,
    params: { total: params.total, trainable: tuned?.trainable ?? params.trainable },
    history: tuned ? concatHistory(headRun.history, tuned.history) : headRun.history,
    secondsPerEpoch: [...headRun.secondsPerEpoch, ...tuned?.secondsPerEpoch ?? []],
    validationSeconds: [...headRun.validationSeconds, ...tuned?.validationSeconds ?? []],
    imagesPerSecond: last.imagesPerSecond,
    evaluation: last.evaluation,
    resumedFromEpoch: resumedFrom,
    extra: {
      weights: weights.description,
      ...baseFields(transfer, weights),
      feature_seconds: featureSeconds,
      head_seconds_per_epoch: headRun.secondsPerEpoch,
    },
  };
}

/** What the run record and the checkpoint's identity say of the base. */
function baseFields(transfer: TransferSettings, weights: WeightsSource) {
  return {
    weights_kind: backboneWeightsKind(transfer, weights),
    input_size: transfer.inputSize,
    ...(transfer.name === "mobilenetv2" ? { alpha: transfer.alpha } : {}),
    fine_tune: transfer.fineTune,
  };
}

function phaseOf(checkpoint: Checkpoint): PhaseName {
  return checkpoint.phase?.name === "fine-tune" ? "fine-tune" : "head";
}

/** The epochs, over both phases, that `checkpoint` holds (the record's resumed_from_epoch). */
function resumedEpoch(checkpoint: Checkpoint | undefined): number | undefined {
  if (!checkpoint) return undefined;
  const earlier = checkpoint.phase?.earlier ?? [];
  return earlier.reduce((n, p) => n + p.history.loss.length, checkpoint.progress.epoch);
}

/**
 * Features, head and fine-tuning, from where the checkpoint left off: one of the fine-tuning
 * phase skips the first two (their history and feature time come from it).
 */
async function trainPhases(
  ctx: Context,
  base: tf.LayersModel,
  head: tf.LayersModel,
): Promise<{
  headRun: HeadRecord & Partial<PhaseResult>;
  tuned?: PhaseResult & { trainable: number };
  featureSeconds: number;
}> {
  const phase = ctx.checkpoint?.phase;
  let headRun: HeadRecord & Partial<PhaseResult>, featureSeconds: number;
  if (ctx.checkpoint && phaseOf(ctx.checkpoint) === "fine-tune" && phase) {
    headRun = headRecord(phase.earlier[0]);
    featureSeconds = phase.values.featureSeconds ?? 0;
    ctx.log("Features: not needed (the checkpoint is past the head's training)");
  } else {
    const features = await featuresPhase(ctx, base);
    featureSeconds = features.seconds;
    headRun = await stopsIn(ctx, "head", headPhase(ctx, head, features));
  }
  if (!ctx.transfer.fineTune) return { headRun, featureSeconds };
  const earlier: PhaseProgress = {
    name: "fine-tune",
    earlier: [headRecord(headRun)],
    values: { featureSeconds },
  };
  const tuned = await stopsIn(ctx, "fine-tune", fineTunePhase(ctx, base, earlier));
  return { headRun, tuned, featureSeconds };
}

/** The head phase's history and timings, as a checkpoint of the fine-tuning phase keeps them. */
type HeadRecord = Pick<PhaseResult, "history" | "secondsPerEpoch" | "validationSeconds">;

type Saved = PhaseProgress["earlier"][number];

/** The head phase's record, from the phase's result or from a checkpoint that holds it. */
function headRecord(from: HeadRecord | Saved): HeadRecord & Saved {
  const { loss, accuracy, val_loss, val_accuracy } = from.history;
  const { secondsPerEpoch, validationSeconds } = from;
  return {
    history: { loss, accuracy, val_loss, val_accuracy },
    secondsPerEpoch,
    validationSeconds,
  };
}

/** `training`, with a stop's message naming `phase` and the checkpoint that stands after it. */
async function stopsIn<T>(ctx: Context, phase: PhaseName, training: Promise<T>): Promise<T> {
  try {
    return await training;
  } catch (e) {
    if (!(e instanceof TrainingStopped)) throw e;
    // Before fine-tuning's first epoch ends, the head's last checkpoint stands.
    const before = phase === "fine-tune" ? `epoch ${ctx.run.epochs} of the head` : undefined;
    throw stoppedWithCheckpoint(e, ctx.run.dir, { words: PHASE_WORDS[phase], before });
  }
}

interface Features {
  train: Float32Array;
  test: Float32Array;
  seconds: number;
}

/** The base's features of both splits, from the cache or computed on every core. */
async function featuresPhase(ctx: Context, base: tf.LayersModel): Promise<Features> {
  const { data, log, hooks, transfer, run: { threads } } = ctx;
  const { inputSize } = transfer;
  const input = backbone(transfer.name).input;
  const start = performance.now();
  // Every core gets a share of the images; workers start only when a split is not cached.
  let workers: ReturnType<typeof startWorkers> | undefined;
  let featureBase: tf.LayersModel | undefined;
  const startFeatureWorkers = () => {
    if (!workers && threads > 1) log(`Extracting features on ${threads} threads`);
    return workers ??= threads > 1
      ? startWorkers(threads - 1, ctx.run.backend, {
        model: "backbone",
        choice: transfer,
        seed: ctx.run.seed,
        weightsPath: ctx.weights.path,
      })
      : Promise.resolve([]);
  };
  const split = async (name: "train" | "test") => {
    let rate = 0;
    const compute = async () => {
      // The frozen base's fastest equal (MobileNetV2: batch norms folded), made once.
      featureBase ??= backbone(transfer.name).featureModel(base, transfer);
      const extracted = await extractFeatures(featureBase, data[name].images, {
        inputSize,
        input,
        batchSize: HYP[transfer.name].featureBatchSize,
        imageSize: data.imageSize,
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
        base: transfer.name === "vgg16" ? "vgg16" : `mobilenetv2-${alphaName(transfer.alpha)}`,
        // Random weights are cheap to recreate but differ per seed; key them by it.
        weightsId: ctx.weights.md5 ?? `none-seed${ctx.run.seed}`,
        dataId: `${data.source.id}:${name}:${data[name].count}`,
        split: name,
        inputSize,
      },
      compute,
      { cacheDir: ctx.run.cacheDir && join(ctx.run.cacheDir, "features") },
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
    if (featureBase !== base) featureBase?.dispose();
  }
}

interface PhaseResult extends TrainingMeasures {
  evaluation: Evaluation;
}

/**
 * Train `model` for one phase, from the run's checkpoint when it is of this phase, writing a
 * checkpoint of `model` and its optimizer every epoch when the run is saved.
 */
async function fitPhase(
  ctx: Context,
  phase: PhaseProgress,
  model: tf.LayersModel,
  spec: OptimizerSpec,
  examples: { train: Examples; test: Examples },
  options: Pick<FitOptions, "epochs" | "seed" | "transform">,
): Promise<PhaseResult> {
  const { run, checkpoint } = ctx;
  const name = phase.name as PhaseName;
  const optimizer = makeOptimizer(spec);
  try {
    let resumeFrom: TrainingProgress | undefined;
    if (checkpoint && phaseOf(checkpoint) === name) {
      ctx.checkpoint = undefined;
      resumeFrom = await resumeRun(checkpoint, model, optimizer, [], ctx.log, PHASE_WORDS[name]);
    }
    const result = await fit(model, examples.train, {
      ...options,
      batchSize: run.batchSize,
      optimizer,
      loss: run.loss,
      validation: examples.test,
      log: ctx.log,
      onProgress: ctx.hooks.onProgress,
      resumeFrom,
      onEpochEnd: run.dir === undefined ? undefined : epochCheckpoints({
        dir: run.dir,
        identity: ctx.identity,
        model,
        optimizer,
        workers: [],
        keepBest: run.keepBest,
        phase,
        bestModel: ctx.classifier,
        log: ctx.log,
      }),
      signal: ctx.hooks.signal,
    });
    // The test set is the validation set: its last epoch's evaluation is the phase's.
    const evaluation = result.validation ??
      evaluate(model, examples.test, { loss: run.loss, transform: options.transform });
    return { ...result, evaluation };
  } finally {
    optimizer.dispose();
  }
}

/** The head, on cached features; its checkpoints hold the head alone (the base is rebuilt). */
function headPhase(ctx: Context, head: tf.LayersModel, features: Features): Promise<PhaseResult> {
  const { data, run } = ctx;
  const dim = backbone(ctx.transfer.name).featureDim(ctx.transfer);
  const phase: PhaseProgress = { name: "head", earlier: [], values: {} };
  return fitPhase(ctx, phase, head, run.optimizer, {
    train: featureExamples(features.train, dim, data.train.fineLabels),
    test: featureExamples(features.test, dim, data.test.fineLabels),
  }, { epochs: run.epochs, seed: run.seed });
}

/** Fine-tuning the top of the base, end to end on images. */
async function fineTunePhase(
  ctx: Context,
  base: tf.LayersModel,
  phase: PhaseProgress,
): Promise<PhaseResult & { trainable: number }> {
  const { data, run, transfer, classifier } = ctx;
  const parts = backbone(transfer.name);
  const hyp = HYP[transfer.name].fineTune;
  // Before the checkpoint is restored: `weights` then lists the trainable first, as it was written.
  parts.setFineTunable(base, true);
  const trainable = countParams(classifier).trainable;
  ctx.log(
    `Fine-tuning ${parts.fineTuned} (${trainable.toLocaleString("en-US")} trainable parameters)`,
  );
  try {
    const result = await fitPhase(ctx, phase, classifier, hyp.optimizer, {
      // The base takes 0..255 pixels (scale 1), resized and preprocessed per batch.
      train: imageExamples(data.train, data.train.fineLabels, 1, data.imageSize),
      test: imageExamples(data.test, data.test.fineLabels, 1, data.imageSize),
    }, {
      epochs: hyp.epochs,
      // Another shuffle than the head's.
      seed: run.seed + 1,
      transform: (x) => parts.input(x as tf.Tensor4D, transfer.inputSize),
    });
    return { ...result, trainable };
  } finally {
    parts.setFineTunable(base, false);
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
