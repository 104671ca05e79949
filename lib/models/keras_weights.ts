/**
 * Keras Applications' weights files for every pretrained base (VGG16, MobileNetV2): where one is
 * found (`--weights PATH` or env, Keras's cache, this project's cache, a download), and loading
 * it into a model by layer name with h5wasm. Keras's legacy layout (`layer_names`, a group per
 * layer with `weight_names`), a whole-model save and Keras 3's `.weights.h5` are read; kernels
 * share tfjs's layout, so values are copied without transposing.
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

/** Where a base's weights came from; `description` is printed and recorded with every run. */
export type WeightsSource = {
  kind: "file" | "cache" | "download" | "none";
  /** The HDF5 file to load (absent for `none`). */
  path?: string;
  /** Its MD5 (absent for `none`); a stable identity for feature caches. */
  md5?: string;
  description: string;
};

/** One base's weights file as Keras Applications publishes it, and how users name it. */
export interface KerasWeightsFile {
  remote: RemoteFile;
  /** The base, for messages: `VGG16`, `MobileNetV2 alpha 1.0, 224 px`. */
  base: string;
  /** The env variable that gives a path (or `none`), e.g. `VGG16_WEIGHTS`. */
  envVar: string;
}

/** Options for {@linkcode resolveKerasWeights}. */
export interface ResolveWeightsOptions {
  /** `--weights`: a path to the .h5 file (or a folder holding it), or `none`; default the env. */
  weights?: string;
  cacheDir?: string;
  kerasHome?: string;
  /** Tests inject one. */
  fetch?: typeof fetch;
}

/**
 * Find a base's weights: `--weights PATH` (or its env variable), else Keras's cache, else this
 * project's cache, else a download; `none` selects random weights. An explicit file with another
 * MD5 is used anyway (it may be a re-save); a cached copy or a download must match.
 */
export async function resolveKerasWeights(
  file: KerasWeightsFile,
  opts: ResolveWeightsOptions = {},
): Promise<WeightsSource> {
  // Every env variable is read before the first await (tests set them around the call).
  const fromOption = opts.weights !== undefined && opts.weights !== "";
  const given = fromOption ? opts.weights : Deno.env.get(file.envVar) || undefined;
  const origin = fromOption ? "--weights" : `env ${file.envVar}`;
  const kerasModels = join(opts.kerasHome ?? kerasHome(), "models");
  const cacheDir = opts.cacheDir ?? cacheRoot();
  if (given === "none") {
    return {
      kind: "none",
      description: `random initial weights (${origin} none), not ImageNet`,
    };
  }
  if (given !== undefined) return await explicitFile(file, given, origin);

  const { remote } = file;
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
      md5: remote.md5 ?? await md5File(path),
      description: `ImageNet (Keras) ${where} ${path}`,
    };
  } catch (e) {
    if (!(e instanceof DownloadError)) throw e;
    const identity = remote.md5 ? ` (MD5 ${remote.md5})` : "";
    throw new UserError(
      `${file.base} ImageNet weights are not available: ${e.message}. Looked in, in this order: ` +
        `(1) --weights PATH: not given; (2) env ${file.envVar}=PATH: not set; (3) Keras's cache ` +
        `(KERAS_HOME, else ~/.keras): ${join(kerasModels, remote.fileName)}: not there; ` +
        `(4) this project's cache: ${join(cacheDir, remote.fileName)}: not there; (5) the ` +
        `download from ${remote.url}: failed. Supply ${remote.fileName}${identity} ` +
        `with --weights PATH, or copy it to ${join(cacheDir, remote.fileName)}, or run once ` +
        `with network access. Or use --weights none for random initial weights`,
    );
  }
}

async function explicitFile(
  file: KerasWeightsFile,
  given: string,
  origin: string,
): Promise<WeightsSource> {
  const { remote } = file;
  let path = given;
  try {
    if ((await Deno.stat(path)).isDirectory) {
      path = join(path, remote.fileName);
      await Deno.stat(path);
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new UserError(
        `${file.base} weights file ${path} (${origin}) not found: give the path of ` +
          `${remote.fileName}, or --weights none for random weights`,
      );
    }
    throw new UserError(
      `cannot read ${file.base} weights file ${path} (${origin}): ${firstLine(e)}`,
    );
  }
  const md5 = await md5File(path);
  let description;
  if (remote.md5 === undefined) {
    description = `weights file ${path} (Keras publishes no checksum for ${file.base}: ` +
      `accepted when every layer's shapes match)`;
  } else if (md5 === remote.md5) {
    description = `ImageNet (Keras) from ${path}`;
  } else {
    description = `weights file ${path} (MD5 ${md5} differs from Keras's ImageNet file ` +
      `${remote.md5}; used as given, not known to be ImageNet weights)`;
  }
  return { kind: "file", path, md5, description };
}

// HDF5 puts its superblock signature at byte 0 or at 512, 1024, 2048, ... (a user block).
const HDF5_SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];
const SIGNATURE_OFFSETS = [0, 512, 1024, 2048, 4096, 8192];

/** The weight shapes of every weighted layer in a Keras weights file, by layer name. */
export async function readWeightShapes(
  path: string,
  file: KerasWeightsFile,
): Promise<Map<string, number[][]>> {
  return await withWeightsFile(path, file, (table) => {
    const shapes = new Map<string, number[][]>();
    for (const [name, entry] of table) {
      if (entry === undefined || entry.weightNames.length === 0) continue;
      const datasets = entry.weightNames.map((w) => entry.group.get(w));
      shapes.set(name, datasets.map((d) => (d instanceof Dataset ? d.shape ?? [] : [])));
    }
    return shapes;
  });
}

/**
 * Copy weights from a Keras HDF5 file into `model` by layer name; every weighted layer must be
 * there with the same shapes. All is checked before anything is assigned, so a bad file leaves
 * `model` unchanged.
 */
export async function loadKerasWeights(
  model: tf.LayersModel,
  path: string,
  file: KerasWeightsFile,
): Promise<void> {
  const values = await withWeightsFile(path, file, (table) => {
    const found = new Map<tf.layers.Layer, Float32Array[]>();
    for (const layer of model.layers) {
      const expected = layer.weights;
      if (expected.length === 0) continue;
      const where = `${path}: layer '${layer.name}'`;
      if (!table.has(layer.name)) {
        throw new UserError(
          `${where} is missing (the file has ${[...table.keys()].join(", ")}); ` +
            `is it the ${file.base} weights file ${file.remote.fileName}?`,
        );
      }
      const entry = table.get(layer.name);
      if (entry === undefined) {
        throw new UserError(`${where} is listed in layer_names but has no group '${layer.name}'`);
      }
      const { group, weightNames } = entry;
      if (weightNames.length !== expected.length) {
        throw new UserError(
          `${where} has ${weightNames.length} weights in the file ` +
            `(${weightNames.join(", ") || "no weight_names attribute"}), the model expects ` +
            `${expected.length} (${
              expected.map((w) => w.originalName.split("/").pop()).join(", ")
            })`,
        );
      }
      found.set(
        layer,
        weightNames.map((name, i) => readDataset(group, name, expected[i].shape, where)),
      );
    }
    return found;
  });
  for (const [layer, arrays] of values) {
    const tensors = arrays.map((data, i) => tf.tensor(data, layer.weights[i].shape as number[]));
    layer.setWeights(tensors);
    tf.dispose(tensors);
  }
}

/**
 * A file's layers by name: the group holding each one's weights and their names in weight order
 * (undefined for a layer listed without a group).
 */
type LayerTable = Map<string, { group: Group; weightNames: string[] } | undefined>;

/** Open `path`, run `read` on its layers by name, close; errors name the file. */
async function withWeightsFile<T>(
  path: string,
  file: KerasWeightsFile,
  read: (table: LayerTable) => T,
): Promise<T> {
  await checkHdf5Signature(path, file);
  const h5 = await openHdf5(path);
  try {
    return read(layerTable(h5, path));
  } catch (e) {
    throw asUserError(e, path);
  } finally {
    h5.close();
  }
}

/**
 * Every layer of the file by name, from the legacy layout or Keras 3's `.weights.h5`
 * (`layers/<object name>/vars`, datasets `0`, `1`, ... in weight order).
 */
function layerTable(h5: File, path: string): LayerTable {
  const table: LayerTable = new Map();
  const keras3 = h5.get("layers");
  if (!isLegacy(h5) && keras3 instanceof Group) {
    for (const key of keras3.keys()) {
      const vars = keras3.get(`${key}/vars`);
      if (!(vars instanceof Group) || !hasAttribute(vars, "name")) continue;
      const weightNames = vars.keys().map((_, i) => String(i));
      table.set(String(vars.attrs.name.value), { group: vars, weightNames });
    }
    if (table.size > 0) return table;
  }
  const root = weightsRoot(h5);
  const names = readStrings(root, "layer_names");
  if (names.length === 0) {
    throw new UserError(
      `${path} is not a Keras weights file: its root has no 'layer_names' attribute`,
    );
  }
  for (const name of names) {
    const group = root.get(name);
    table.set(
      name,
      group instanceof Group
        ? { group, weightNames: readStrings(group, "weight_names") }
        : undefined,
    );
  }
  return table;
}

function isLegacy(group: Group): boolean {
  return hasAttribute(group, "layer_names") || hasAttribute(group, "layer_names0");
}

async function checkHdf5Signature(path: string, file: KerasWeightsFile): Promise<void> {
  let bytes: Uint8Array;
  try {
    using handle = await Deno.open(path, { read: true });
    bytes = new Uint8Array(SIGNATURE_OFFSETS.at(-1)! + HDF5_SIGNATURE.length);
    let filled = 0;
    while (filled < bytes.length) {
      const n = await handle.read(bytes.subarray(filled));
      if (n === null) break;
      filled += n;
    }
    bytes = bytes.subarray(0, filled);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new UserError(`${file.base} weights file ${path} not found`);
    }
    throw new UserError(`cannot read ${file.base} weights file ${path}: ${firstLine(e)}`);
  }
  const found = SIGNATURE_OFFSETS.some((at) => HDF5_SIGNATURE.every((b, i) => bytes[at + i] === b));
  if (!found) {
    throw new UserError(
      `${path} is not an HDF5 file (no HDF5 signature): expected Keras's ${file.remote.fileName}`,
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
function weightsRoot(file: File): Group {
  const nested = file.get("model_weights");
  return !isLegacy(file) && nested instanceof Group ? nested : file;
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
