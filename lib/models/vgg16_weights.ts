/**
 * Where the VGG16 ImageNet weights come from, and loading them from Keras's HDF5 file.
 *
 * Resolution follows the same order as the dataset: an explicit path (`--weights PATH` or env
 * VGG16_WEIGHTS) first, then Keras's cache (`$KERAS_HOME/models`, else `~/.keras/models`, where
 * `VGG16(weights="imagenet", include_top=False)` leaves the file), then this project's cache
 * folder, then a download (progress bar, MD5 check, atomic write, all in `cache.ts`). A file
 * found in either cache is used only when its MD5 is Keras's (a weights file cannot be checked
 * by its structure as the data can); `--weights none` means random initial weights.
 *
 * The file is read with h5wasm (HDF5 compiled to WebAssembly; its Node build runs under Deno
 * and reads the file in place). Keras's legacy weights layout, which `load_weights` reads:
 *
 * - root attribute `layer_names`: every layer of the model, weighted or not, e.g. `input_1`,
 *   `block1_conv1`, ..., `block5_pool` (long lists are split into `layer_names0`, `layer_names1`...);
 * - one group per layer, with attribute `weight_names`: paths relative to that group, kernel
 *   first, then bias. The released notop file (Keras 1 era) names them
 *   `block1_conv1_W_1:0` and `block1_conv1_b_1:0`, datasets directly in the layer group;
 *   Keras 2 writes `block1_conv1/kernel:0` and `block1_conv1/bias:0` in a subgroup. Both are
 *   read by following `weight_names`, as Keras does;
 * - kernels are `[kh, kw, in, out]` float32, the layout tfjs's Conv2D uses, so values are
 *   copied without transposing.
 *
 * A whole-model save (`model.save("x.h5")`) keeps the same layout under a `model_weights`
 * group; that is accepted too.
 *
 * @module
 */
import h5wasm, { Dataset, type File, Group } from "h5wasm/node";
import { dirname, join } from "node:path";
import { tf } from "../engine/backend.ts";
import {
  cacheRoot,
  DownloadError,
  fetchCached,
  kerasHome,
  md5File,
  type RemoteFile,
} from "../util/cache.ts";
import { firstLine, UserError } from "../util/errors.ts";
import { VGG16_WEIGHTS } from "./vgg16.ts";

/** Where the base's weights came from; `description` is printed and recorded with every run. */
export type WeightsSource = {
  /**
   * `file`: explicit path; `cache`: found in Keras's or this project's cache (`path` says which);
   * `download`: fetched now; `none`: random.
   */
  kind: "file" | "cache" | "download" | "none";
  /** The HDF5 file to load (absent for `none`). */
  path?: string;
  /** Its MD5 (absent for `none`); a stable identity for feature caches. */
  md5?: string;
  /** One line for logs and run records, e.g. `ImageNet (Keras) from cache: /root/.cache/...`. */
  description: string;
};

/**
 * What a run's VGG16 weights were, as its record says (`weights_kind`):
 *
 * - `imagenet`: Keras's ImageNet file, its MD5 matching {@linkcode VGG16_WEIGHTS}'s;
 * - `file`: another weights file (a re-save, other weights): not known to be ImageNet's;
 * - `random`: random initial weights (`--weights none`).
 */
export type WeightsKind = "imagenet" | "file" | "random";

/**
 * The {@linkcode WeightsKind} of resolved weights, from their MD5 (never from the path).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { initBackend } from "../engine/backend.ts";
 * await initBackend();
 * assert.equal(weightsKind({ kind: "none" }), "random");
 * assert.equal(weightsKind({ kind: "file", md5: "0".repeat(32) }), "file");
 * ```
 */
export function weightsKind(source: Pick<WeightsSource, "kind" | "md5">): WeightsKind {
  if (source.kind === "none") return "random";
  return source.md5 === VGG16_WEIGHTS.md5 ? "imagenet" : "file";
}

/** Options for {@linkcode resolveVgg16Weights}. */
export interface ResolveWeightsOptions {
  /** `--weights`: a path to the .h5 file (or a folder holding it), or `none`; default env VGG16_WEIGHTS. */
  weights?: string;
  /** Cache folder; default `cacheRoot()`. */
  cacheDir?: string;
  /** Keras's home folder, whose `models/` is looked in first; default `kerasHome()`. */
  kerasHome?: string;
  /** The fetch used for the download (tests inject one). */
  fetch?: typeof fetch;
  /** The file to look for and download; default {@linkcode VGG16_WEIGHTS} (tests use others). */
  remote?: RemoteFile;
}

/**
 * Find the VGG16 weights: `--weights PATH` (or env VGG16_WEIGHTS), else Keras's cache, else this
 * project's cache, else a download. `none` (option or env) selects random weights.
 *
 * An explicit file whose MD5 differs from Keras's is used anyway (it may be a re-save), and the
 * description says so; a cached copy or a download must match.
 *
 * @returns where the weights are and a one-line description
 * @throws {UserError} when an explicit path does not exist, or nothing is cached and the
 *   download fails: one line listing every place looked in, in order
 * @example
 * ```ts
 * const source = await resolveVgg16Weights({ weights: "none" });
 * console.log(source.description); // random initial weights (--weights none), not ImageNet
 * ```
 */
export async function resolveVgg16Weights(
  opts: ResolveWeightsOptions = {},
): Promise<WeightsSource> {
  // Every env variable is read before the first await (tests set them around the call).
  const fromOption = opts.weights !== undefined && opts.weights !== "";
  const given = fromOption ? opts.weights : Deno.env.get("VGG16_WEIGHTS") || undefined;
  const origin = fromOption ? "--weights" : "env VGG16_WEIGHTS";
  const kerasModels = join(opts.kerasHome ?? kerasHome(), "models");
  const cacheDir = opts.cacheDir ?? cacheRoot();
  if (given === "none") {
    return {
      kind: "none",
      description: `random initial weights (${origin} none), not ImageNet`,
    };
  }
  if (given !== undefined) return await explicitFile(given, origin);

  const remote = opts.remote ?? VGG16_WEIGHTS;
  try {
    const { path, downloaded } = await fetchCached(remote, {
      cacheDir,
      elsewhere: [kerasModels],
      fetch: opts.fetch,
    });
    const where = downloaded
      ? "downloaded to"
      : dirname(path) === kerasModels
      ? "from Keras's cache"
      : "from cache";
    return {
      kind: downloaded ? "download" : "cache",
      path,
      md5: remote.md5,
      description: `ImageNet (Keras) ${where} ${path}`,
    };
  } catch (e) {
    if (!(e instanceof DownloadError)) throw e;
    throw new UserError(
      `VGG16 ImageNet weights are not available: ${e.message}. Looked in, in this order: ` +
        `(1) --weights PATH: not given; (2) env VGG16_WEIGHTS=PATH: not set; (3) Keras's cache ` +
        `(KERAS_HOME, else ~/.keras): ${join(kerasModels, remote.fileName)}: not there; ` +
        `(4) this project's cache: ${join(cacheDir, remote.fileName)}: not there; (5) the ` +
        `download from ${remote.url}: failed. Supply ${remote.fileName} (MD5 ${remote.md5}) ` +
        `with --weights PATH, or copy it to ${join(cacheDir, remote.fileName)}, or run once ` +
        `with network access. Or use --weights none for random initial weights`,
    );
  }
}

async function explicitFile(given: string, origin: string): Promise<WeightsSource> {
  let path = given;
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
    if (info.isDirectory) {
      path = join(path, VGG16_WEIGHTS.fileName);
      info = await Deno.stat(path);
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new UserError(
        `VGG16 weights file ${path} (${origin}) not found: give the path of ` +
          `${VGG16_WEIGHTS.fileName}, or --weights none for random weights`,
      );
    }
    throw new UserError(`cannot read VGG16 weights file ${path} (${origin}): ${firstLine(e)}`);
  }
  const md5 = await md5File(path);
  const description = md5 === VGG16_WEIGHTS.md5
    ? `ImageNet (Keras) from ${path}`
    : `weights file ${path} (MD5 ${md5} differs from Keras's ImageNet file ` +
      `${VGG16_WEIGHTS.md5}; used as given, not known to be ImageNet weights)`;
  return { kind: "file", path, md5, description };
}

// HDF5 puts its superblock signature at byte 0 or at 512, 1024, 2048, ... (a user block).
const HDF5_SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];
const SIGNATURE_OFFSETS = [0, 512, 1024, 2048, 4096, 8192];

/**
 * Copy weights from a Keras HDF5 weights file into `base`, matching layers by name.
 *
 * Every layer of `base` that has weights must be in the file with the same number of weights
 * and the same shapes; layers in the file that `base` lacks are ignored. Everything is checked
 * before anything is assigned, so a bad file leaves `base` unchanged.
 *
 * @param base a model from `buildVgg16Base` (or any model whose weighted layers are named as in
 *   the file)
 * @param path the `.h5` file, e.g. `vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5`
 * @throws {UserError} naming the file and the missing layer or dataset, the wrong shape, or the
 *   broken structure
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { initBackend } from "../engine/backend.ts";
 * await initBackend();
 * import { buildVgg16Base } from "./vgg16.ts";
 * const base = buildVgg16Base(32, 0);
 * // With a real file: await loadVgg16Weights(base, (await resolveVgg16Weights()).path!)
 * await assert.rejects(loadVgg16Weights(base, "missing.h5"), /missing\.h5/);
 * base.dispose();
 * ```
 */
export async function loadVgg16Weights(base: tf.LayersModel, path: string): Promise<void> {
  await checkHdf5Signature(path);
  const file = await openHdf5(path);
  const values = new Map<tf.layers.Layer, Float32Array[]>();
  try {
    const root = weightsRoot(file, path);
    const layerNames = new Set(readStrings(root, "layer_names"));
    if (layerNames.size === 0) {
      throw new UserError(
        `${path} is not a Keras weights file: its root has no 'layer_names' attribute`,
      );
    }
    for (const layer of base.layers) {
      const expected = layer.weights;
      if (expected.length === 0) continue;
      const where = `${path}: layer '${layer.name}'`;
      if (!layerNames.has(layer.name)) {
        throw new UserError(
          `${where} is missing (the file has ${[...layerNames].join(", ")}); ` +
            `is it the VGG16 notop weights file?`,
        );
      }
      const group = root.get(layer.name);
      if (!(group instanceof Group)) {
        throw new UserError(`${where} is listed in layer_names but has no group '${layer.name}'`);
      }
      const weightNames = readStrings(group, "weight_names");
      if (weightNames.length !== expected.length) {
        throw new UserError(
          `${where} has ${weightNames.length} weights in the file ` +
            `(${weightNames.join(", ") || "no weight_names attribute"}), the model expects ` +
            `${expected.length} (kernel, bias)`,
        );
      }
      values.set(
        layer,
        weightNames.map((name, i) => readDataset(group, name, expected[i].shape, where)),
      );
    }
  } catch (e) {
    throw asUserError(e, path);
  } finally {
    file.close();
  }
  for (const [layer, arrays] of values) {
    const tensors = arrays.map((data, i) => tf.tensor(data, layer.weights[i].shape as number[]));
    layer.setWeights(tensors);
    tf.dispose(tensors);
  }
}

async function checkHdf5Signature(path: string): Promise<void> {
  let bytes: Uint8Array;
  try {
    using file = await Deno.open(path, { read: true });
    bytes = new Uint8Array(SIGNATURE_OFFSETS.at(-1)! + HDF5_SIGNATURE.length);
    let filled = 0;
    while (filled < bytes.length) {
      const n = await file.read(bytes.subarray(filled));
      if (n === null) break;
      filled += n;
    }
    bytes = bytes.subarray(0, filled);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new UserError(`VGG16 weights file ${path} not found`);
    }
    throw new UserError(`cannot read VGG16 weights file ${path}: ${firstLine(e)}`);
  }
  const found = SIGNATURE_OFFSETS.some((at) => HDF5_SIGNATURE.every((b, i) => bytes[at + i] === b));
  if (!found) {
    throw new UserError(
      `${path} is not an HDF5 file (no HDF5 signature): expected Keras's ${VGG16_WEIGHTS.fileName}`,
    );
  }
}

let h5Ready: Promise<void> | undefined;

async function openHdf5(path: string): Promise<File> {
  h5Ready ??= h5wasm.ready.then((module) => {
    // Throw HDF5 errors as exceptions instead of printing its diagnostic stack to stderr.
    module.activate_throwing_error_handler();
  });
  await h5Ready;
  try {
    return new h5wasm.File(path, "r");
  } catch (e) {
    throw new UserError(`${path}: broken HDF5 file, cannot open it (${hdf5Reason(e)})`);
  }
}

/** The group holding `layer_names`: the root, or `model_weights` in a whole-model save. */
function weightsRoot(file: File, path: string): Group {
  if (hasAttribute(file, "layer_names") || hasAttribute(file, "layer_names0")) return file;
  const nested = file.get("model_weights");
  if (nested instanceof Group) return nested;
  throw new UserError(
    `${path} is not a Keras weights file: its root has no 'layer_names' attribute`,
  );
}

function hasAttribute(group: Group, name: string): boolean {
  return Object.prototype.hasOwnProperty.call(group.attrs, name);
}

/** A string-list attribute as Keras writes it, including its chunked form `name0`, `name1`... */
function readStrings(group: Group, name: string): string[] {
  if (hasAttribute(group, name)) return toStrings(group.attrs[name].value);
  const chunks: string[] = [];
  for (let i = 0; hasAttribute(group, `${name}${i}`); i++) {
    chunks.push(...toStrings(group.attrs[`${name}${i}`].value));
  }
  return chunks;
}

function toStrings(value: unknown): string[] {
  if (typeof value === "string") return [value];
  // An empty list is saved by h5py as an empty float array (layers without weights).
  if (ArrayBuffer.isView(value) && (value as unknown as ArrayLike<unknown>).length === 0) return [];
  if (Array.isArray(value) && value.every((v) => typeof v === "string")) return value;
  throw new UserError(`attribute is not a list of strings (${String(value).slice(0, 60)})`);
}

function readDataset(
  group: Group,
  name: string,
  shape: readonly (number | null)[],
  where: string,
): Float32Array {
  const dataset = group.get(name);
  const fullName = `${group.path.replace(/^\//, "")}/${name}`;
  if (!(dataset instanceof Dataset)) {
    throw new UserError(`${where}: dataset '${fullName}' is missing`);
  }
  const actual = dataset.shape ?? [];
  if (actual.length !== shape.length || actual.some((d, i) => d !== shape[i])) {
    throw new UserError(
      `${where}: dataset '${fullName}' has shape [${actual.join(", ")}], ` +
        `the model expects [${shape.join(", ")}]`,
    );
  }
  const value = dataset.value;
  if (value instanceof Float32Array) return value;
  if (value instanceof Float64Array) return Float32Array.from(value);
  throw new UserError(
    `${where}: dataset '${fullName}' has type ${dataset.dtype}, expected float32`,
  );
}

function asUserError(e: unknown, path: string): UserError {
  if (e instanceof UserError) {
    return e.message.startsWith(path) ? e : new UserError(`${path}: ${e.message}`);
  }
  return new UserError(`${path}: broken HDF5 structure (${hdf5Reason(e)})`);
}

/** The most specific line of an HDF5 error stack (its last "minor:" line), else the first line. */
function hdf5Reason(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  const minors = [...text.matchAll(/minor: (.+)/g)].map((m) => m[1].trim());
  return minors.at(-1) ?? firstLine(e);
}
