/**
 * Save and load tfjs Layers models as files (model.json + weights.bin), the
 * same format tfjs-node's `file://` handler writes, without needing tfjs-node.
 * @module
 */
import { join } from "node:path";
import { tf } from "../engine/backend.ts";
import { UserError } from "../util/errors.ts";

/**
 * Write `model` to `dir` as model.json and weights.bin (created if missing).
 * @returns the path of model.json.
 */
export async function saveModel(model: tf.LayersModel, dir: string): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  const modelPath = join(dir, "model.json");
  await model.save(tf.io.withSaveHandler(async (artifacts) => {
    const weights = artifacts.weightData as ArrayBuffer;
    await Deno.writeFile(join(dir, "weights.bin"), new Uint8Array(weights));
    const json = {
      format: "layers-model",
      generatedBy: `TensorFlow.js tfjs-layers v${tf.version_layers}`,
      convertedBy: null,
      modelTopology: artifacts.modelTopology,
      weightsManifest: [{ paths: ["weights.bin"], weights: artifacts.weightSpecs }],
    };
    await Deno.writeTextFile(modelPath, JSON.stringify(json));
    return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
  }));
  return modelPath;
}

/**
 * Load a model saved by {@linkcode saveModel} (or by tfjs-node's file:// handler).
 * @param dir the folder holding model.json, or the path of model.json itself.
 * @throws {UserError} when the files are missing or unreadable.
 */
export async function loadModel(dir: string): Promise<tf.LayersModel> {
  const modelPath = dir.endsWith(".json") ? dir : join(dir, "model.json");
  const base = modelPath.slice(0, modelPath.lastIndexOf("/") + 1) || "./";
  let json: {
    modelTopology: object;
    weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  };
  try {
    json = JSON.parse(await Deno.readTextFile(modelPath));
  } catch (e) {
    throw new UserError(`cannot read model ${modelPath}: ${(e as Error).message}`);
  }
  const buffers: Uint8Array[] = [];
  for (const group of json.weightsManifest) {
    for (const path of group.paths) {
      try {
        buffers.push(await Deno.readFile(base + path));
      } catch (e) {
        throw new UserError(`cannot read weights ${base + path}: ${(e as Error).message}`);
      }
    }
  }
  const total = buffers.reduce((n, b) => n + b.length, 0);
  const weightData = new Uint8Array(total);
  let offset = 0;
  for (const b of buffers) weightData.set(b, (offset += b.length) - b.length);
  return await tf.loadLayersModel(tf.io.fromMemory({
    modelTopology: json.modelTopology,
    weightSpecs: json.weightsManifest.flatMap((g) => g.weights),
    weightData: weightData.buffer,
  }));
}
