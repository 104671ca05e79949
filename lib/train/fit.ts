/**
 * Training and evaluation: a Keras-like `fit` over {@linkcode Examples}, written out rather than
 * tfjs-layers' `model.fit` so images stay uint8 until each batch, progress reaches notebooks,
 * and epochs are timed without validation.
 *
 * @module
 */
import { tf } from "../engine/backend.ts";
import type { Examples } from "../data/examples.ts";
import type { AugmentOptions } from "../data/augment.ts";
import { EVAL_BATCH_SIZE, type LossName } from "./hyp.ts";
import type { History, RunRecord } from "./run_record.ts";
import { createProgress, type ProgressInfo } from "../util/progress.ts";
import { type GradientWorker, parallelStep } from "./parallel.ts";
import { permutation, SEED_STRIDE } from "../util/random.ts";
import { logitsOf } from "../models/logits.ts";
import { lossFromLogits } from "./loss.ts";
import { type Gradients, gradients } from "./step.ts";
import { TracedGradients } from "./traced_step.ts";
import type { TrainingProgress } from "./checkpoint.ts";
import { UserError } from "../util/errors.ts";
import { letSignalsIn } from "../util/interrupt.ts";

/** What a model's trainer hands back: the trained model, and what the run record says of it. */
export interface Trained extends TrainingMeasures {
  /** The model to save (VGG16: the whole classifier). */
  model: tf.LayersModel;
  summary: string;
  /** `trainable` counts the parameters its last phase trained. */
  params: { total: number; trainable: number };
  /** The evaluation on the test set. */
  evaluation: Evaluation;
  resumedFromEpoch?: number;
  /** Record fields of this model alone (a backbone's weights and features). */
  extra?: Partial<RunRecord>;
}

/** What a training run measured (a VGG16 run: over its phases, images/s of the last). */
export type TrainingMeasures = Pick<
  FitResult,
  "history" | "secondsPerEpoch" | "validationSeconds" | "imagesPerSecond"
>;

/** Options for {@linkcode fit}. */
export interface FitOptions {
  epochs: number;
  batchSize: number;
  optimizer: tf.Optimizer;
  loss?: LossName;
  /** Seeds the shuffle and the augmentation (lib/util/random.ts `SEED_STRIDE`). */
  seed?: number;
  /** Evaluated after every epoch (the source used the test set, as Keras's validation_data). */
  validation?: Examples;
  /** Applied to every batch before the model, e.g. VGG16 preprocessing; must not leak. */
  transform?: (x: tf.Tensor) => tf.Tensor;
  /** Default: console.error. */
  log?: (line: string) => void;
  onProgress?: (done: number, total: number, info: ProgressInfo) => void;
  /** Replicas of `model` (lib/train/parallel.ts) that take a share of each batch. */
  workers?: GradientWorker[];
  /**
   * Replay each batch's TensorFlow ops without tfjs once two batches of its shape and settings
   * were recorded (lib/train/traced_step.ts): the same bits, less time. Tensorflow engine only;
   * default true.
   * A `TracedGradients` of this model is used and kept (not disposed), so that `fit` after `fit`
   * replays from its first batch.
   */
  replay?: boolean | TracedGradients;
  /** Awaited after every epoch with a copy of the progress: all a checkpoint needs but tensors. */
  onEpochEnd?: (progress: TrainingProgress) => unknown;
  /** Go on from a checkpoint's progress; the model, optimizer and dropout are restored already. */
  resumeFrom?: TrainingProgress;
  /** Checked before every step: the run stops after the step under way with TrainingStopped. */
  signal?: AbortSignal;
  /** A fresh random crop and flip of every training batch (`train` must be images). */
  augment?: AugmentOptions;
  /**
   * The learning rate at a position in the run, in epochs, set before every step; the optimizer
   * must have `setLearningRate`.
   */
  learningRate?: (epochs: number) => number;
  labelSmoothing?: number;
  /** L2 weight decay of the named variables (lib/train/step.ts). */
  weightDecay?: { rate: number; names: string[] };
}

interface SettableRate {
  setLearningRate(learningRate: number): void;
}

/** What {@linkcode fit} returns. */
interface FitResult {
  history: History;
  /** Each epoch's training time, validation excluded. */
  secondsPerEpoch: number[];
  validationSeconds: number[];
  imagesPerSecond: number;
  /** The learning rate of every step, when a schedule set it. */
  learningRates: number[];
  /**
   * The last epoch's evaluation of `validation`, so a caller whose validation set is its test
   * set need not evaluate it again; undefined when a resumed run had no epoch left.
   */
  validation?: Evaluation;
}

/** What {@linkcode fit} throws when its `signal` asked it to stop. */
export class TrainingStopped extends UserError {
  override name = "TrainingStopped";
  /**
   * @param reason the signal's reason, e.g. "SIGINT"
   * @param after appended to the message: what stands after the stop
   * @param checkpoint the checkpoint a resumed run would go on from, where there is one
   */
  constructor(
    readonly epochsDone: number,
    readonly epochs: number,
    readonly reason: string,
    after = "",
    readonly checkpoint?: string,
  ) {
    super(`training stopped by ${reason} during epoch ${epochsDone + 1} of ${epochs}${after}`);
  }
}

/** Test metrics from {@linkcode evaluate}. */
export interface Evaluation {
  loss: number;
  accuracy: number;
  top5Accuracy: number;
  /** Top-1 class and its probability per example. */
  predictions: Uint8Array;
  confidences: Float32Array;
  seconds: number;
}

function batchLabels(examples: Examples, indices: ArrayLike<number>): tf.Tensor1D {
  const labels = new Int32Array(indices.length);
  for (let i = 0; i < indices.length; i++) labels[i] = examples.labels[indices[i]];
  return tf.tensor1d(labels, "int32");
}

/**
 * Train `model` on `train`, Keras style: shuffled mini-batches, one log line per epoch,
 * optional validation after each epoch.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { initBackend } from "../engine/backend.ts";
 * import { syntheticCifar100 } from "../data/synthetic.ts";
 * import { imageExamples } from "../data/examples.ts";
 * import { buildCnn } from "../models/cnn.ts";
 * import { HYP } from "./hyp.ts";
 * import { makeOptimizer } from "./optimizer.ts";
 * await initBackend();
 * const data = syntheticCifar100({ trainCount: 256, testCount: 64 });
 * const model = buildCnn({ seed: HYP.cnn.seed }), optimizer = makeOptimizer(HYP.cnn.optimizer);
 * const { history } = await fit(model, imageExamples(data.train, data.train.fineLabels), {
 *   epochs: 2, batchSize: 128, optimizer, log: () => {},
 * });
 * assert.equal(history.loss.length, 2);
 * assert.ok(history.loss[1] < history.loss[0]);
 * optimizer.dispose();
 * model.dispose();
 * ```
 */
export async function fit(
  model: tf.LayersModel,
  train: Examples,
  options: FitOptions,
): Promise<FitResult> {
  const loop = checkedLoop(model, train, options);
  const { epochs, batchSize, batches, optimizer, seed, log, schedule } = loop;

  // All the epochs change besides the weights, the optimizer and dropout's counts: what a
  // checkpoint keeps. The shuffle is seeded by the epoch, each batch's augmentation by the step.
  const state = startingState(options.resumeFrom);
  const { history, secondsPerEpoch, validationSeconds, learningRates } = state;
  let validation: Evaluation | undefined;

  try {
    for (let epoch = state.epoch; epoch < epochs; epoch++) {
      log(`Epoch ${epoch + 1}/${epochs}`);
      const order = permutation(train.count, seed * SEED_STRIDE.epoch + epoch);
      const bar = createProgress({
        total: batches,
        label: `${epoch + 1}/${epochs}`,
        onUpdate: loop.onProgress,
      });
      let lossSum = 0, correct = 0, seen = 0;
      const start = performance.now();

      for (let b = 0; b < batches; b++) {
        if (loop.signal) await stopIfAsked(loop.signal, epoch, epochs);
        const indices = order.subarray(b * batchSize, Math.min((b + 1) * batchSize, train.count));
        if (schedule) {
          const rate = schedule(epoch + b / batches);
          (optimizer as tf.Optimizer & SettableRate).setLearningRate(rate);
          learningRates.push(rate);
        }
        const [batchLoss, batchCorrect] = loop.workers.length
          ? await splitStep(loop, indices, state.step)
          : localStep(loop, indices, state.step);
        state.step++;
        lossSum += batchLoss * indices.length;
        correct += batchCorrect;
        seen += indices.length;
        bar.update(b + 1, { loss: fmt(lossSum / seen), accuracy: fmt(correct / seen) });
      }

      // Yield once per epoch so a notebook's display messages go out.
      await new Promise((resolve) => setTimeout(resolve, 0));
      const seconds = (performance.now() - start) / 1000;
      bar.stop();
      secondsPerEpoch.push(seconds);
      history.loss.push(lossSum / seen);
      history.accuracy.push(correct / seen);
      let line = epochLine(batches, seconds, lossSum / seen, correct / seen);
      if (loop.validation) {
        validation = evaluate(model, loop.validation, {
          loss: loop.loss,
          transform: loop.transform,
        });
        history.val_loss.push(validation.loss);
        history.val_accuracy.push(validation.accuracy);
        validationSeconds.push(validation.seconds);
        line += ` - val_loss: ${fmt(validation.loss)} - val_accuracy: ${fmt(validation.accuracy)}`;
      }
      log(line);
      state.epoch = epoch + 1;
      await loop.onEpochEnd?.(structuredClone(state));
    }
  } finally {
    // The replay's kept constants, unless the caller keeps them.
    if (!(options.replay instanceof TracedGradients)) loop.traced?.dispose();
  }

  return {
    history,
    secondsPerEpoch,
    validationSeconds,
    imagesPerSecond: train.count * epochs / secondsPerEpoch.reduce((a, b) => a + b, 0),
    learningRates,
    validation,
  };
}

/** The state of a run before its first epoch, or a copy of a checkpoint's. */
function startingState(resumeFrom?: TrainingProgress): TrainingProgress & { history: History } {
  const fresh = {
    epoch: 0,
    step: 0,
    history: { loss: [], accuracy: [], val_loss: [], val_accuracy: [] },
    secondsPerEpoch: [],
    validationSeconds: [],
    learningRates: [],
  };
  return structuredClone(resumeFrom ?? fresh) as TrainingProgress & { history: History };
}

/** Let the event loop run (a signal's listener aborts `signal`), then stop if it asks. */
async function stopIfAsked(signal: AbortSignal, epoch: number, epochs: number): Promise<void> {
  await letSignalsIn();
  if (signal.aborted) throw new TrainingStopped(epoch, epochs, String(signal.reason ?? "a stop"));
}

/** A {@linkcode fit}'s options with their defaults and what follows from the model. */
interface Loop extends Omit<FitOptions, "learningRate"> {
  model: tf.LayersModel;
  train: Examples;
  /** Per epoch (the last one may be short). */
  batches: number;
  loss: LossName;
  seed: number;
  labelSmoothing: number;
  log: (line: string) => void;
  numClasses: number;
  /** Only this model's trainable weights: the engine may hold other models' variables. */
  variables: tf.Variable[];
  workers: GradientWorker[];
  traced?: TracedGradients;
  schedule?: (epochs: number) => number;
  /** The weight decay as workers take it: by index in `variables` (names differ there). */
  decayIndices?: { rate: number; indices: number[] };
  /**
   * Pixel buffers by length, reused batch after batch (fresh memory costs page faults).
   * TensorFlow reads a tensor's JavaScript memory in place, so each batch's tensor, and any
   * reshape of it, is gone before the next batch is gathered: nothing a step keeps views x.
   */
  pixels: Map<number, Float32Array>;
}

/** Throws on options that cannot go together. */
function checkedLoop(model: tf.LayersModel, train: Examples, options: FitOptions): Loop {
  const { epochs, batchSize, optimizer, learningRate: schedule, weightDecay } = options;
  if (!(epochs >= 1) || !(batchSize >= 1)) throw new Error("epochs and batchSize must be >= 1");
  const workers = options.workers ?? [];
  if (workers.length && options.transform) {
    throw new Error("fit: workers cannot be combined with a transform");
  }
  if (options.augment && !train.gatherAugmented) {
    throw new Error("fit: augmentation needs image examples (imageExamples)");
  }
  const settable = (optimizer as unknown as Partial<SettableRate>).setLearningRate;
  if (schedule && typeof settable !== "function") {
    throw new Error("fit: a learning-rate schedule needs an optimizer with setLearningRate");
  }
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  if (options.replay instanceof TracedGradients && options.replay.model !== model) {
    throw new Error("fit: replay is a TracedGradients of another model");
  }
  const decayIndices = weightDecay && {
    rate: weightDecay.rate,
    indices: weightDecay.names.map((name) => variables.findIndex((v) => v.name === name)),
  };
  return {
    ...options,
    model,
    train,
    batches: Math.ceil(train.count / batchSize),
    loss: options.loss ?? "categorical_crossentropy",
    seed: options.seed ?? 0,
    labelSmoothing: options.labelSmoothing ?? 0,
    log: options.log ?? ((line: string) => console.error(line)),
    numClasses: model.outputs[0].shape.at(-1)!,
    variables,
    workers,
    traced: options.replay === false || workers.length || tf.getBackend() !== "tensorflow"
      ? undefined
      : options.replay instanceof TracedGradients
      ? options.replay
      : new TracedGradients(model, variables),
    schedule,
    decayIndices,
    pixels: new Map(),
  };
}

/**
 * The float pixels of the run's batch number `step`: augmented afresh, when asked for. Into a
 * buffer kept for this thread's batches of this size, unless `fresh` (a worker's, transferred).
 */
function batchPixels(loop: Loop, indices: ArrayLike<number>, step: number, fresh = false) {
  const { train, seed, augment, pixels } = loop;
  const length = indices.length * train.shape.reduce((a, b) => a * b, 1);
  const into = fresh ? undefined : pixels.get(length) ?? new Float32Array(length);
  if (into) pixels.set(length, into);
  return augment
    ? train.gatherAugmented!(indices, augment, seed * SEED_STRIDE.augment + step, into)
    : train.gather(indices, into);
}

/** Gradients of `weight` x the mean loss over `indices` of batch `step`, on this thread. */
function localGradients(
  loop: Loop,
  indices: ArrayLike<number>,
  step: number,
  weight = 1,
): Gradients {
  const { train, transform } = loop;
  const x = tf.tensor(batchPixels(loop, indices, step), [indices.length, ...train.shape]);
  const labels = batchLabels(train, indices);
  const input = transform ? transform(x) : x;
  try {
    const request = {
      x: input,
      labels,
      numClasses: loop.numClasses,
      loss: loop.loss,
      weight,
      labelSmoothing: loop.labelSmoothing,
      weightDecay: loop.weightDecay,
    };
    return loop.traced?.gradients(request) ?? gradients(loop.model, loop.variables, request);
  } finally {
    tf.dispose([x, labels, input]);
  }
}

/** Compute and apply batch `step`'s gradients on this thread: its mean loss and right answers. */
function localStep(loop: Loop, indices: Uint32Array, step: number): [number, number] {
  const { grads, loss, correct } = localGradients(loop, indices, step);
  loop.optimizer.applyGradients(grads);
  tf.dispose(grads);
  return [loss, correct];
}

/** Batch `step`'s step, split between this thread and the workers (./parallel.ts). */
function splitStep(loop: Loop, indices: Uint32Array, step: number): Promise<[number, number]> {
  return parallelStep(indices, loop.workers, {
    variables: loop.variables,
    optimizer: loop.optimizer,
    examples: loop.train,
    pixels: (share) => batchPixels(loop, share, step, true),
    loss: {
      numClasses: loop.numClasses,
      loss: loop.loss,
      labelSmoothing: loop.labelSmoothing,
      weightDecay: loop.decayIndices,
    },
    localGradients: (share, weight) => localGradients(loop, share, step, weight),
  });
}

/** Keras's end-of-epoch line: batches, time, time per step, and the training metrics. */
function epochLine(batches: number, seconds: number, loss: number, accuracy: number): string {
  return `${batches}/${batches} - ${seconds.toFixed(1)}s ${
    (1000 * seconds / batches).toFixed(0)
  }ms/step - loss: ${fmt(loss)} - accuracy: ${fmt(accuracy)}`;
}

/**
 * Loss, accuracy, top-5 accuracy and the predicted class of every example, in inference mode.
 *
 * @param options.batchSize default EVAL_BATCH_SIZE; tests pass small ones to cross batches
 */
export function evaluate(
  model: tf.LayersModel,
  examples: Examples,
  options: { loss?: LossName; batchSize?: number; transform?: (x: tf.Tensor) => tf.Tensor } = {},
): Evaluation {
  const { loss = "categorical_crossentropy", batchSize = EVAL_BATCH_SIZE } = options;
  const numClasses = model.outputs[0].shape.at(-1)!;
  const predictions = new Uint8Array(examples.count);
  const confidences = new Float32Array(examples.count);
  let lossSum = 0, correct = 0, top5 = 0;
  const start = performance.now();
  for (let s = 0; s < examples.count; s += batchSize) {
    const indices = Array.from(
      { length: Math.min(batchSize, examples.count - s) },
      (_, i) => s + i,
    );
    const { batchLoss, hits, inTop5, best, confidence } = tf.tidy(() => {
      const x = tf.tensor(examples.gather(indices), [indices.length, ...examples.shape]);
      const labels = batchLabels(examples, indices);
      const input = options.transform ? options.transform(x) : x;
      const logits = logitsOf(model, input, false);
      const top = tf.topk(logits, Math.min(5, numClasses)).indices;
      const best = logits.argMax(-1);
      return {
        batchLoss: lossFromLogits(loss, tf.oneHot(labels, numClasses), logits),
        hits: best.equal(labels).sum(),
        inTop5: top.equal(labels.expandDims(1)).any(1).sum(),
        best,
        confidence: tf.softmax(logits).max(-1),
      };
    });
    lossSum += batchLoss.dataSync()[0] * indices.length;
    correct += hits.dataSync()[0];
    top5 += inTop5.dataSync()[0];
    predictions.set(best.dataSync(), s);
    confidences.set(confidence.dataSync(), s);
    tf.dispose([batchLoss, hits, inTop5, best, confidence]);
  }
  return {
    loss: lossSum / examples.count,
    accuracy: correct / examples.count,
    top5Accuracy: top5 / examples.count,
    predictions,
    confidences,
    seconds: (performance.now() - start) / 1000,
  };
}

function fmt(x: number): string {
  return x.toFixed(4);
}
