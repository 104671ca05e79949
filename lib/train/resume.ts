/**
 * A run's checkpoints in its folder (`<out>/<model>/`): whether to resume, start afresh or
 * refuse, putting one back, and writing one every epoch (format: ./checkpoint.ts).
 *
 * @module
 */
import { join } from "node:path";
import type { tf } from "../engine/backend.ts";
import type { Cifar100 } from "../data/dataset.ts";
import { saveModel } from "../models/model_io.ts";
import { UserError } from "../util/errors.ts";
import { recoverFolder, replaceFolder, writeFileDurably } from "../util/replace_folder.ts";
import {
  type Checkpoint,
  CHECKPOINT_FILE,
  configDifference,
  type PhaseProgress,
  readCheckpoint,
  restoreCheckpoint,
  type RunIdentity,
  type TrainingProgress,
  writeCheckpoint,
} from "./checkpoint.ts";
import type { CheckpointMode, Run } from "./experiment_config.ts";
import { augmentationLabel, scheduleLabel } from "./hyp.ts";
import type { GradientWorker } from "./parallel.ts";
import { TrainingStopped } from "./fit.ts";

/** Inside a run's folder: the best epoch's model, with `keepBest`. */
const BEST_FOLDER = "best";

/**
 * The identity of `run` on `data`, named as in a run record. The threads count because dropout
 * and batch norm depend on them, the engine because another one rounds differently.
 */
export function experimentIdentity(run: Run, data: Cifar100): RunIdentity {
  return {
    model: run.model,
    data: data.source.id,
    train_images: data.train.count,
    test_images: data.test.count,
    seed: run.seed,
    batch_size: run.batchSize,
    epochs: run.epochs,
    loss: run.loss,
    augmentation: augmentationLabel(run.augment),
    lr_schedule: scheduleLabel(run.schedule, run.optimizer.learningRate),
    label_smoothing: run.labelSmoothing,
    weight_decay: run.weightDecay,
    optimizer: run.optimizerLabel,
    workers: run.threads,
    backend: run.backend,
    width: run.width ?? null,
    input_size: run.inputSize,
  };
}

/**
 * A stop's message with what stands after it: the last checkpoint in `dir`, or none.
 *
 * @param phase a run in phases: how the log names the phase stopped in, and the checkpoint
 *   that stands before its first epoch ends (an earlier phase's), if any
 */
export function stoppedWithCheckpoint(
  stopped: TrainingStopped,
  dir: string | undefined,
  phase?: { words: string; before?: string },
): TrainingStopped {
  const { epochsDone, epochs, reason } = stopped;
  const during = phase ? ` of ${phase.words}` : "";
  if (dir === undefined) {
    return new TrainingStopped(epochsDone, epochs, reason, `${during}; the run saves nothing`);
  }
  const standing = epochsDone > 0 ? `epoch ${epochsDone}${during}` : phase?.before;
  if (standing === undefined) {
    const none = `${during}; no epoch was complete, so there is no checkpoint`;
    return new TrainingStopped(epochsDone, epochs, reason, none);
  }
  const path = join(dir, CHECKPOINT_FILE);
  const after = `${during}; the checkpoint after ${standing} stands (${path})`;
  return new TrainingStopped(epochsDone, epochs, reason, after, path);
}

/**
 * The checkpoint in `dir` that this run goes on from, if any, as `mode` says (`restart` deletes
 * it; `ask` refuses any; another run's is refused). An interrupted save of `dir` is finished or
 * undone first.
 */
export async function openCheckpoint(
  dir: string,
  identity: RunIdentity,
  mode: CheckpointMode,
  log: (line: string) => void,
): Promise<Checkpoint | undefined> {
  const recovered = await recoverFolder(dir);
  if (recovered) log(`Run folder: ${recovered}`);
  const path = join(dir, CHECKPOINT_FILE);
  if (mode === "restart") {
    if (await Deno.lstat(path).then(() => true, () => false)) {
      await Deno.remove(path);
      log(`Starting afresh: removed ${path}`);
    }
    return undefined;
  }
  const checkpoint = await readCheckpoint(dir);
  if (!checkpoint) {
    if (mode === "resume") log(`No checkpoint in ${dir}: starting from epoch 1`);
    return undefined;
  }
  const difference = configDifference(checkpoint.identity, identity);
  const epoch = checkpoint.progress.epoch;
  if (difference || mode === "ask") checkpoint.dispose();
  if (difference) {
    throw new UserError(
      `checkpoint ${path} is of another run (${difference}): ` +
        "run with its settings to resume it, or pass --restart (or delete it) to start afresh",
    );
  }
  if (mode === "ask") {
    throw new UserError(
      `${path} holds this run after epoch ${epoch} of ${identity.epochs}: ` +
        "pass --resume to go on from it, or --restart to start afresh",
    );
  }
  return checkpoint;
}

/**
 * Put `checkpoint`'s state into a freshly built model, optimizer and workers, log it, and free
 * its tensors; returns fit's `resumeFrom`.
 */
export async function resumeRun(
  checkpoint: Checkpoint,
  model: tf.LayersModel,
  optimizer: tf.Optimizer,
  workers: GradientWorker[],
  log: (line: string) => void,
  phase?: string,
): Promise<TrainingProgress> {
  try {
    await restoreCheckpoint(checkpoint, model, optimizer);
    const positions = checkpoint.replicaDropout;
    if (positions.length !== workers.length) {
      throw new UserError(
        `checkpoint ${checkpoint.path} has ${positions.length} workers' dropout positions, ` +
          `this run ${workers.length} workers: pass --restart to start afresh`,
      );
    }
    await Promise.all(workers.map((w, i) => w.dropoutPositions(positions[i])));
  } finally {
    checkpoint.dispose();
  }
  const during = phase ? ` of ${phase}` : "";
  log(`Resuming from epoch ${checkpoint.progress.epoch}${during} (${checkpoint.path})`);
  return checkpoint.progress;
}

interface EpochCheckpointRun {
  dir: string;
  identity: RunIdentity;
  model: tf.LayersModel;
  optimizer: tf.Optimizer;
  workers: GradientWorker[];
  keepBest?: boolean;
  /** Its earlier phases' validation accuracies count for the best epoch. */
  phase?: PhaseProgress;
  /** The model that best/ holds, when it is not `model` (a backbone's classifier). */
  bestModel?: tf.LayersModel;
  log: (line: string) => void;
}

/**
 * fit's `onEpochEnd` for a saved run: write the checkpoint; with `keepBest`, save the model in
 * `dir`/best/ when the epoch's validation accuracy is the best so far.
 */
export function epochCheckpoints(run: EpochCheckpointRun): (p: TrainingProgress) => Promise<void> {
  return async (progress) => {
    const start = performance.now();
    const replicaDropout = await Promise.all(run.workers.map((w) => w.dropoutPositions()));
    const { path, bytes } = await writeCheckpoint(run.dir, { ...run, progress, replicaDropout });
    const seconds = (performance.now() - start) / 1000;
    run.log(
      `Checkpoint: ${run.phase ? `${run.phase.name} ` : ""}epoch ${progress.epoch}, ` +
        `${(bytes / 1e6).toFixed(1)} MB in ${seconds.toFixed(2)}s (${path})`,
    );
    const earlier = (run.phase?.earlier ?? []).flatMap((p) => p.history.val_accuracy ?? []);
    const accuracies = [...earlier, ...progress.history.val_accuracy ?? []];
    if (run.keepBest && bestEpoch(accuracies) === accuracies.length) {
      const best = join(run.dir, BEST_FOLDER);
      await replaceFolder(best, async (staging) => {
        await saveModel(run.bestModel ?? run.model, staging);
      });
      run.log(
        `Best epoch so far: ${accuracies.length} (val_accuracy ${accuracies.at(-1)}): ${best}`,
      );
    }
  };
}

/** The 1-based epoch of the highest accuracy (the first, on ties); 0 when there is none. */
export function bestEpoch(accuracies: number[]): number {
  let best = 0;
  accuracies.forEach((a, i) => {
    if (best === 0 || a > accuracies[best - 1]) best = i + 1;
  });
  return best;
}

/** Copy `from`/best/, if any, into `staging`, so the run's final save keeps it. */
export async function keepBestModel(from: string, staging: string): Promise<void> {
  const best = join(from, BEST_FOLDER);
  await recoverFolder(best);
  if (!(await Deno.lstat(best).then(() => true, () => false))) return;
  const target = join(staging, BEST_FOLDER);
  await Deno.mkdir(target);
  for await (const entry of Deno.readDir(best)) {
    if (!entry.isFile) continue;
    await writeFileDurably(join(target, entry.name), await Deno.readFile(join(best, entry.name)));
  }
}
