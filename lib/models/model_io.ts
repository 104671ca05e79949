/**
 * Save and load tfjs Layers models as model.json + weights.bin, tfjs-node's `file://` format,
 * without tfjs-node. Loading checks the weights' size and the SHA-256 model.json records
 * (`weightsSha256`, which tfjs ignores), so a damaged file is named instead of loading as garbage.
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
 * Write `model` to `dir` as model.json and weights.bin, each flushed to disk; returns the path
 * of model.json. To replace an earlier model as one unit, write into `replaceFolder`'s staging.
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

/** The bytes that `specs` call for (the quantized dtype's where there is one). */
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
 * Load a model saved by {@linkcode saveModel} or tfjs-node's file:// handler from its folder or
 * model.json, first finishing a replacement of its folder that a kill interrupted.
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
