/**
 * Data-parallel training for backends that use one thread (tfjs's threaded wasm build fails
 * under Deno with ERR_WORKER_PATH): each batch is split between this thread and
 * {@linkcode GradientWorker}s holding replicas of the model, which get the weights every step so
 * they never drift. Dropout masks then depend on the number of workers, and batch normalisation
 * normalises each part with its own statistics ("ghost" batch norm), keeping the main thread's
 * moving averages. The same workers share out a backbone's feature extraction.
 *
 * @module
 */
import { tf } from "../engine/backend.ts";
import type { BackboneChoice } from "../models/backbone.ts";
import type { Examples } from "../data/examples.ts";
import type { LossName } from "./hyp.ts";
import type { SmallModel } from "./small_models.ts";
import type { Gradients } from "./step.ts";

/** How a worker rebuilds a trainable model (its initial weights are overwritten every step). */
interface TrainRecipe {
  model: SmallModel;
  seed: number;
  numClasses: number;
  inputSize?: number;
  /** 1, 2, ...: distinct dropout seeds per replica. */
  index: number;
}

/** How a worker rebuilds a frozen backbone, to extract features from its share of images. */
interface BackboneRecipe {
  model: "backbone";
  choice: BackboneChoice;
  /** Seeds the random weights when no weights file is given. */
  seed: number;
  weightsPath?: string;
}

/** What a worker rebuilds. */
export type ReplicaRecipe = TrainRecipe | BackboneRecipe;

interface InitRequest {
  type: "init";
  backend: string;
  recipe: ReplicaRecipe;
}

/** Main -> worker: one gradient step on a slice of a batch. */
export interface StepRequest {
  type: "step";
  weights: Float32Array[];
  x: Float32Array;
  shape: number[];
  labels: Int32Array;
  numClasses: number;
  loss: LossName;
  /** The slice's share of the batch (lib/train/step.ts). */
  weight: number;
  labelSmoothing?: number;
  /** Decays the trainable weights at these indices (variable names differ between threads). */
  weightDecay?: { rate: number; indices: number[] };
}

/** Worker -> main: gradients of weight x the slice's mean loss, in trainable-weight order. */
export interface StepReply {
  grads: Float32Array[];
  loss: number;
  correct: number;
}

/** Main -> worker: a backbone's pooled features of uint8 NHWC images. */
interface FeaturesRequest {
  type: "features";
  images: Uint8Array;
  batchSize: number;
  imageSize: number;
}

/** Main -> worker: set the replica's dropout positions, when given, and reply with them. */
interface DropoutRequest {
  type: "dropout";
  positions?: number[];
}

export type WorkerMessage = InitRequest | StepRequest | FeaturesRequest | DropoutRequest;

/** Worker -> main; features are row-major [N, features]. */
type Reply =
  | StepReply
  | { features: Float32Array }
  | { dropout: number[] }
  | { type: "ready" }
  | { type: "error"; message: string };

/** One replica on its own thread: gradient steps (mlp, cnn) or a backbone's features. */
export class GradientWorker {
  #worker: Worker;
  #pending?: { resolve: (r: Reply) => void; reject: (e: Error) => void };

  private constructor() {
    this.#worker = new Worker(new URL("./parallel_worker.ts", import.meta.url), {
      type: "module",
    });
    this.#worker.onmessage = (event: MessageEvent<Reply>) => {
      const pending = this.#pending;
      this.#pending = undefined;
      const reply = event.data;
      if ("type" in reply && reply.type === "error") {
        pending?.reject(new Error(`gradient worker failed: ${reply.message}`));
      } else pending?.resolve(reply);
    };
    this.#worker.onerror = (event) => {
      event.preventDefault();
      this.#pending?.reject(new Error(`gradient worker crashed: ${event.message}`));
      this.#pending = undefined;
    };
  }

  static async start(backend: string, recipe: ReplicaRecipe): Promise<GradientWorker> {
    const worker = new GradientWorker();
    await worker.#request({ type: "init", backend, recipe });
    return worker;
  }

  /** Gradients for one slice; the weights' buffers are transferred (do not reuse them). */
  step(request: Omit<StepRequest, "type">): Promise<StepReply> {
    const transfer = [...request.weights.map((w) => w.buffer), request.x.buffer];
    return this.#request({ type: "step", ...request }, transfer as ArrayBuffer[]) as Promise<
      StepReply
    >;
  }

  /** Pooled features of `images` (a worker started with a {@linkcode BackboneRecipe}). */
  async features(images: Uint8Array, batchSize: number, imageSize: number): Promise<Float32Array> {
    const reply = await this.#request({ type: "features", images, batchSize, imageSize });
    return (reply as { features: Float32Array }).features;
  }

  /** The replica's dropout positions, after setting them to `positions` when given. */
  async dropoutPositions(positions?: number[]): Promise<number[]> {
    const reply = await this.#request({ type: "dropout", positions });
    return (reply as { dropout: number[] }).dropout;
  }

  close(): void {
    this.#worker.terminate();
    this.#pending?.reject(new Error("gradient worker closed"));
    this.#pending = undefined;
  }

  #request(message: WorkerMessage, transfer: Transferable[] = []): Promise<Reply> {
    if (this.#pending) throw new Error("gradient worker is busy");
    return new Promise((resolve, reject) => {
      this.#pending = { resolve, reject };
      this.#worker.postMessage(message, transfer);
    });
  }
}

/** Split `count` items into `parts` contiguous `[first, last)` shares differing by one at most. */
export function evenShares(count: number, parts: number): [number, number][] {
  const out: [number, number][] = [];
  for (let p = 0, first = 0; p < parts; p++) {
    const size = Math.floor(count / parts) + (p < count % parts ? 1 : 0);
    out.push([first, first + size]);
    first += size;
  }
  return out;
}

/** What {@linkcode parallelStep} needs of the training run (lib/train/fit.ts). */
interface SplitStepRun {
  /** In the order of the workers' weights. */
  variables: tf.Variable[];
  optimizer: tf.Optimizer;
  examples: Pick<Examples, "labels" | "shape">;
  /** Float pixels of these examples as this step trains them (augmented, when asked for). */
  pixels(indices: Uint32Array): Float32Array;
  loss: Pick<StepRequest, "numClasses" | "loss" | "labelSmoothing" | "weightDecay">;
  /** This thread's share: gradients of `weight` x the mean loss over `indices`. */
  localGradients(indices: Uint32Array, weight: number): Gradients;
}

/**
 * One training step on `batch`, split into even shares between this thread and `workers`. Each
 * share's loss is weighted by its share of the batch, so the gradients' sum, which the optimizer
 * applies, is the whole batch's. Returns the batch's mean loss and right answers.
 */
export async function parallelStep(
  batch: Uint32Array,
  workers: GradientWorker[],
  run: SplitStepRun,
): Promise<[number, number]> {
  const shares = evenShares(batch.length, workers.length + 1)
    .map(([first, last]) => batch.subarray(first, last));
  const replies = sendShares(shares.slice(1), workers, batch.length, run);
  const local = run.localGradients(shares[0], shares[0].length / batch.length);
  const remote = await Promise.all(replies);
  applySummedGradients(run, local.grads, remote);
  tf.dispose(local.grads);
  // Each loss is its share's mean.
  let lossSum = local.loss * shares[0].length, correct = local.correct;
  remote.forEach((r, i) => {
    if (r) {
      lossSum += r.loss * shares[i + 1].length;
      correct += r.correct;
    }
  });
  return [lossSum / batch.length, correct];
}

/** Ask worker i for share i's gradients (none for an empty share), from the current weights. */
function sendShares(
  shares: Uint32Array[],
  workers: GradientWorker[],
  batchSize: number,
  run: SplitStepRun,
): (Promise<StepReply> | undefined)[] {
  const weights = run.variables.map((v) => v.dataSync() as Float32Array);
  return shares.map((share, i) => {
    if (share.length === 0) return undefined;
    const labels = Int32Array.from(share, (j) => run.examples.labels[j]);
    return workers[i].step({
      // Copies: buffers are transferred, and some backends return their own storage.
      weights: weights.map((w) => w.slice()),
      x: run.pixels(share),
      shape: [share.length, ...run.examples.shape],
      labels,
      ...run.loss,
      weight: share.length / batchSize,
    });
  });
}

/** Apply the sum of this thread's and the workers' gradients (each weighted by its share). */
function applySummedGradients(
  run: SplitStepRun,
  local: tf.NamedTensorMap,
  remote: (StepReply | undefined)[],
): void {
  tf.tidy(() => {
    const total: Record<string, tf.Tensor> = {};
    run.variables.forEach((v, k) => {
      let sum = local[v.name];
      for (const r of remote) if (r) sum = sum.add(tf.tensor(r.grads[k], v.shape));
      total[v.name] = sum;
    });
    run.optimizer.applyGradients(total);
  });
}

/** Threads to use by default: every core for single-threaded backends; tfjs-node threads itself. */
export function defaultWorkers(backend: string): number {
  return backend === "tensorflow" ? 1 : Math.max(1, navigator.hardwareConcurrency ?? 1);
}

/** Start `count` workers; closes the started ones if one fails. */
export async function startWorkers(
  count: number,
  backend: string,
  recipe: Omit<TrainRecipe, "index"> | BackboneRecipe,
): Promise<GradientWorker[]> {
  const recipeFor = (i: number): ReplicaRecipe =>
    recipe.model === "backbone" ? recipe : { ...recipe, index: i + 1 };
  const started = await Promise.allSettled(
    Array.from({ length: count }, (_, i) => GradientWorker.start(backend, recipeFor(i))),
  );
  const failed = started.find((s) => s.status === "rejected");
  if (failed) {
    for (const s of started) if (s.status === "fulfilled") s.value.close();
    throw (failed as PromiseRejectedResult).reason;
  }
  return started.map((s) => (s as PromiseFulfilledResult<GradientWorker>).value);
}
