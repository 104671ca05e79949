/**
 * Save and load tfjs Layers models as files (model.json + weights.bin), the
 * same format tfjs-node's `file://` handler writes, without needing tfjs-node.
 *
 * Loading checks the weights against the manifest before building anything: the byte size
 * that the weight specs' shapes and dtypes call for, and, for models saved here, the SHA-256
 * that model.json records (`weightsSha256`, a field tfjs ignores). A damaged or mismatched
 * file is named in one line instead of loading as garbage. Files are flushed to disk as they
 * are written; a run folder is replaced as one unit by lib/util/replace_folder.ts, whose
 * interrupted replacements {@linkcode loadModel} finishes first.
 * @module
 */
import { createHash } from "node:crypto";
import { dirname, join } from "node:path";
import { tf } from "../engine/backend.ts";
import { UserError } from "../util/errors.ts";
import { recoverFolder, writeFileDurably } from "../util/replace_folder.ts";

/** The weights' file, as the manifest names it. */
const WEIGHTS_FILE = "weights.bin";

/** model.json as {@linkcode saveModel} writes it. */
interface ModelJson {
  modelTopology: object;
  weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  /** Hex SHA-256 of the weights' bytes (all files in manifest order); absent from tfjs's files. */
  weightsSha256?: string;
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/**
 * Write `model` to `dir` as model.json and weights.bin (created if missing), each flushed to
 * disk. To replace an earlier model and its record as one unit, write into the staging folder
 * of lib/util/replace_folder.ts's `replaceFolder`.
 * @returns the path of model.json.
 */
export async function saveModel(model: tf.LayersModel, dir: string): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  const modelPath = join(dir, "model.json");
  await model.save(tf.io.withSaveHandler(async (artifacts) => {
    const weights = new Uint8Array(artifacts.weightData as ArrayBuffer);
    await writeFileDurably(join(dir, WEIGHTS_FILE), weights);
    const json = {
      format: "layers-model",
      generatedBy: `TensorFlow.js tfjs-layers v${tf.version_layers}`,
      convertedBy: null,
      modelTopology: artifacts.modelTopology,
      weightsManifest: [{ paths: [WEIGHTS_FILE], weights: artifacts.weightSpecs }],
      weightsSha256: sha256(weights),
    };
    await writeFileDurably(modelPath, JSON.stringify(json));
    return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
  }));
  return modelPath;
}

/** Bytes per value of each dtype a weights file can hold. */
const DTYPE_BYTES: Record<string, number> = {
  float32: 4,
  int32: 4,
  bool: 1,
  complex64: 8,
  uint8: 1,
  uint16: 2,
  float16: 2,
};

/**
 * The bytes that `specs` call for: each weight's element count times its stored dtype's size
 * (the quantized dtype where there is one).
 * @throws {Error} for a dtype with no fixed size (string weights).
 */
function manifestBytes(specs: tf.io.WeightsManifestEntry[]): number {
  let total = 0;
  for (const spec of specs) {
    const dtype = spec.quantization?.dtype ?? spec.dtype;
    const size = DTYPE_BYTES[dtype];
    if (size === undefined) throw new Error(`weight ${spec.name}: no fixed size for ${dtype}`);
    total += spec.shape.reduce((n, d) => n * d, 1) * size;
  }
  return total;
}

/**
 * Load a model saved by {@linkcode saveModel} (or by tfjs-node's file:// handler), first
 * finishing a replacement of its folder that a kill interrupted.
 * @param dir the folder holding model.json, or the path of model.json itself.
 * @throws {UserError} when the files are missing, unreadable, or the weights do not match the
 *   manifest (naming the damaged file).
 */
export async function loadModel(dir: string): Promise<tf.LayersModel> {
  const modelPath = dir.endsWith(".json") ? dir : join(dir, "model.json");
  const folder = dirname(modelPath);
  await recoverFolder(folder);
  const json = await readModelJson(modelPath);
  const weightData = await readWeights(json, folder, modelPath);
  return await tf.loadLayersModel(tf.io.fromMemory({
    modelTopology: json.modelTopology,
    weightSpecs: json.weightsManifest.flatMap((g) => g.weights),
    weightData: weightData.buffer as ArrayBuffer,
  }));
}

async function readModelJson(modelPath: string): Promise<ModelJson> {
  let json: ModelJson;
  try {
    json = JSON.parse(await Deno.readTextFile(modelPath));
  } catch (e) {
    throw new UserError(`cannot read model ${modelPath}: ${(e as Error).message}`);
  }
  if (!json?.modelTopology || !Array.isArray(json.weightsManifest)) {
    throw new UserError(
      `model ${modelPath} is damaged: no modelTopology or weightsManifest; train it again`,
    );
  }
  return json;
}

/** The weights' bytes, all files in manifest order, checked against the manifest. */
async function readWeights(json: ModelJson, folder: string, modelPath: string) {
  const damaged = (path: string, what: string) =>
    new UserError(`weights ${path} are damaged: ${what} (model ${modelPath}); train it again`);
  const buffers: Uint8Array[] = [];
  for (const group of json.weightsManifest) {
    const parts: Uint8Array[] = [];
    for (const path of group.paths) {
      const file = join(folder, path);
      try {
        parts.push(await Deno.readFile(file));
      } catch (e) {
        throw new UserError(`cannot read weights ${file}: ${(e as Error).message}`);
      }
    }
    const have = parts.reduce((n, b) => n + b.length, 0);
    const need = manifestBytes(group.weights);
    if (have !== need) {
      const files = group.paths.map((p) => join(folder, p)).join(" + ");
      throw damaged(files, `${have} bytes where the manifest's shapes need ${need}`);
    }
    buffers.push(...parts);
  }
  const total = buffers.reduce((n, b) => n + b.length, 0);
  const weightData = new Uint8Array(total);
  let offset = 0;
  for (const b of buffers) weightData.set(b, (offset += b.length) - b.length);
  if (json.weightsSha256 !== undefined && sha256(weightData) !== json.weightsSha256) {
    const files = json.weightsManifest.flatMap((g) => g.paths).map((p) => join(folder, p));
    throw damaged(files.join(" + "), "their SHA-256 is not the one model.json records");
  }
  return weightData;
}
