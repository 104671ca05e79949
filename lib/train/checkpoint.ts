/**
 * Training checkpoints: all a run needs to go on after a completed epoch and end with the
 * numbers an uninterrupted run gives. Weights (batch norm's statistics too), the optimizer's
 * `getWeights`, each dropout layer's call count (the random sources are counter-based, so the
 * epoch and step fix the rest), the progress and the run's identity.
 *
 * One file, `checkpoint.ckpt`: an 8-byte tag, the header's length (uint32 LE), the JSON header
 * (the state, each tensor's byte range, the tensors' SHA-256), then the tensors' bytes, written
 * atomically so a kill leaves the previous checkpoint or the new one.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { tf } from "../engine/backend.ts";
import { dropoutPositions, setDropoutPositions } from "../models/layers.ts";
import { UserError } from "../util/errors.ts";
import { writeFileAtomically } from "../util/replace_folder.ts";

export const CHECKPOINT_FILE = "checkpoint.ckpt";

/** What the file is, and the format's version. */
const TAG = "C100CKP1";

/** The run's progress that a checkpoint keeps besides tensors. */
export interface TrainingProgress {
  /** Epochs completed. */
  epoch: number;
  /** Batches trained so far, over all epochs (seeds augmentation). */
  step: number;
  history: Record<string, number[]>;
  secondsPerEpoch: number[];
  validationSeconds: number[];
  learningRates: number[];
}

/**
 * Where a run in phases stands (a backbone: the head, then fine-tuning): the phase a
 * checkpoint is of, and what the earlier phases ended with, for the run's record.
 */
export interface PhaseProgress {
  /** e.g. "head" or "fine-tune". */
  name: string;
  earlier: Pick<TrainingProgress, "history" | "secondsPerEpoch" | "validationSeconds">[];
  /** Other numbers a resumed run reports as its own (the feature extraction's seconds). */
  values: Record<string, number>;
}

/** What makes two runs the same run: a checkpoint is resumed only under the same values. */
export type RunIdentity = Record<string, string | number | boolean | null>;

/** A checkpoint read back by {@linkcode readCheckpoint}. */
export interface Checkpoint {
  path: string;
  identity: RunIdentity;
  progress: TrainingProgress;
  /** Each dropout layer's call count. */
  dropout: number[];
  /** The same for each gradient worker's replica, in worker order. */
  replicaDropout: number[][];
  phase?: PhaseProgress;
  /** In `model.weights` order. */
  weights: tf.Tensor[];
  /** The optimizer's `getWeights()`. */
  optimizer: { name: string; tensor: tf.Tensor }[];
  dispose(): void;
}

interface TensorEntry {
  name: string;
  shape: number[];
  dtype: "float32" | "int32";
  offset: number;
  bytes: number;
}

/** The checkpoint's state, and where each tensor's bytes are. */
interface Header extends Pick<Checkpoint, "identity" | "progress" | "dropout" | "phase"> {
  replicaDropout?: number[][];
  weights: TensorEntry[];
  optimizer: TensorEntry[];
  sha256: string;
  savedAt: string;
}

/** Write a run's state after a completed epoch to `dir`, replacing the previous checkpoint. */
export async function writeCheckpoint(
  dir: string,
  state: {
    identity: RunIdentity;
    progress: TrainingProgress;
    model: tf.LayersModel;
    optimizer: tf.Optimizer;
    replicaDropout?: number[][];
    phase?: PhaseProgress;
  },
): Promise<{ path: string; bytes: number }> {
  const blobs: Uint8Array[] = [];
  let offset = 0;
  const entry = (name: string, tensor: tf.Tensor): TensorEntry => {
    if (tensor.dtype !== "float32" && tensor.dtype !== "int32") {
      throw new Error(`checkpoint: ${name} is ${tensor.dtype}`);
    }
    const data = tensor.dataSync() as Float32Array | Int32Array;
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
    blobs.push(bytes);
    offset += bytes.length;
    return {
      name,
      shape: tensor.shape,
      dtype: tensor.dtype,
      offset: offset - bytes.length,
      bytes: bytes.length,
    };
  };
  const weights = state.model.weights.map((w) => entry(w.originalName, w.read()));
  const slots = await state.optimizer.getWeights();
  const optimizer = slots.map(({ name, tensor }) => entry(name, tensor));
  tf.dispose(slots.map((s) => s.tensor).filter((t) => !(t instanceof tf.Variable)));
  const sha256 = createHash("sha256");
  for (const blob of blobs) sha256.update(blob);
  const header: Header = {
    identity: state.identity,
    progress: state.progress,
    dropout: dropoutPositions(state.model),
    replicaDropout: state.replicaDropout ?? [],
    ...(state.phase ? { phase: state.phase } : {}),
    weights,
    optimizer,
    sha256: sha256.digest("hex"),
    savedAt: new Date().toISOString(),
  };
  const json = new TextEncoder().encode(JSON.stringify(header));
  const length = new Uint8Array(4);
  new DataView(length.buffer).setUint32(0, json.length, true);
  const path = join(dir, CHECKPOINT_FILE);
  await writeFileAtomically(path, [TAG, length, json, ...blobs], true);
  return { path, bytes: TAG.length + length.length + json.length + offset };
}

/**
 * Read `dir`'s checkpoint, or undefined when there is none.
 * @throws {UserError} naming the file when it is damaged or not a checkpoint.
 */
export async function readCheckpoint(dir: string): Promise<Checkpoint | undefined> {
  const path = join(dir, CHECKPOINT_FILE);
  let file: Uint8Array;
  try {
    file = await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw new UserError(`cannot read checkpoint ${path}: ${(e as Error).message}`);
  }
  const damaged = (what: string) =>
    new UserError(
      `checkpoint ${path} is damaged (${what}); delete it or pass --restart to start afresh`,
    );
  if (file.length < 12 || new TextDecoder().decode(file.subarray(0, 8)) !== TAG) {
    throw damaged("not a checkpoint of this version");
  }
  const length = new DataView(file.buffer, file.byteOffset + 8, 4).getUint32(0, true);
  let header: Header;
  try {
    header = JSON.parse(new TextDecoder().decode(file.subarray(12, 12 + length)));
  } catch {
    throw damaged("unreadable header");
  }
  const body = file.subarray(12 + length);
  const entries = [...header.weights, ...header.optimizer];
  const need = entries.reduce((n, e) => Math.max(n, e.offset + e.bytes), 0);
  if (body.length !== need) {
    throw damaged(`${body.length} bytes of tensors, the header says ${need}`);
  }
  if (createHash("sha256").update(body).digest("hex") !== header.sha256) {
    throw damaged("its tensors' SHA-256 is not the one its header records");
  }
  const tensor = (e: TensorEntry) => {
    const bytes = body.slice(e.offset, e.offset + e.bytes).buffer;
    const values = e.dtype === "int32" ? new Int32Array(bytes) : new Float32Array(bytes);
    return tf.tensor(values, e.shape, e.dtype);
  };
  const weights = header.weights.map(tensor);
  const optimizer = header.optimizer.map((e) => ({ name: e.name, tensor: tensor(e) }));
  return {
    path,
    identity: header.identity,
    progress: header.progress,
    dropout: header.dropout,
    replicaDropout: header.replicaDropout ?? [],
    ...(header.phase ? { phase: header.phase } : {}),
    weights,
    optimizer,
    dispose: () => tf.dispose([...weights, ...optimizer.map((o) => o.tensor)]),
  };
}

/** Put a checkpoint's state into a freshly built `model` and `optimizer`, or say they differ. */
export async function restoreCheckpoint(
  checkpoint: Checkpoint,
  model: tf.LayersModel,
  optimizer: tf.Optimizer,
): Promise<void> {
  const variables = model.weights, saved = checkpoint.weights;
  const misfit = (what: string) =>
    new UserError(`checkpoint ${checkpoint.path} does not fit this model: ${what}`);
  if (variables.length !== saved.length) {
    throw misfit(`${saved.length} weights, the model has ${variables.length}`);
  }
  const shape = (t: { shape: unknown }) => JSON.stringify(t.shape);
  const i = variables.findIndex((v, k) => shape(v) !== shape(saved[k]));
  if (i >= 0) {
    throw misfit(
      `weight ${variables[i].originalName} is ${shape(saved[i])}, the model's ${
        shape(variables[i])
      }`,
    );
  }
  variables.forEach((v, i) => v.write(saved[i]));
  setDropoutPositions(model, checkpoint.dropout);
  await optimizer.setWeights(checkpoint.optimizer);
}

/** Identity keys added after checkpoints were written, with the value those checkpoints ran with. */
const IDENTITY_DEFAULTS: RunIdentity = { precision: "float32" };

/** The first difference of two run identities ("seed 3, this run's 4"), or undefined. */
export function configDifference(saved: RunIdentity, current: RunIdentity): string | undefined {
  const keys = [...new Set([...Object.keys(current), ...Object.keys(saved)])];
  const value = (identity: RunIdentity, key: string) =>
    identity[key] ?? IDENTITY_DEFAULTS[key] ?? null;
  for (const key of keys) {
    const was = value(saved, key), now = value(current, key);
    if (was !== now) {
      return `${key} ${JSON.stringify(was)}, this run's ${JSON.stringify(now)}`;
    }
  }
  return undefined;
}
