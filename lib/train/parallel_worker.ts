/**
 * A worker thread holding a replica of a model (./parallel.ts): gradients of a slice of each
 * batch from the current weights, or a backbone's features of the images it is sent.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { initBackend, tf } from "../engine/backend.ts";
import { extractFeatures } from "./features.ts";
import type { ReplicaRecipe, StepReply, StepRequest, WorkerMessage } from "./parallel.ts";
import { buildSmallModel } from "./small_models.ts";
import { backbone } from "../models/backbone.ts";
import { dropoutPositions, setDropoutPositions } from "../models/layers.ts";
import { loadBackboneWeights } from "../models/backbone_weights.ts";
import { gradients } from "./step.ts";
import { SEED_STRIDE } from "../util/random.ts";

let model: tf.LayersModel | undefined;
let variables: tf.Variable[] = [];
let input: ((pixels: tf.Tensor4D, inputSize: number) => tf.Tensor4D) | undefined;

async function build(recipe: ReplicaRecipe): Promise<void> {
  if (recipe.model === "backbone") {
    const parts = backbone(recipe.choice.name);
    const base = parts.build(recipe.choice, recipe.seed);
    input = parts.input;
    if (recipe.weightsPath) await loadBackboneWeights(recipe.choice, base, recipe.weightsPath);
    model = parts.featureModel(base, recipe.choice);
    if (model !== base) base.dispose();
    return;
  }
  // Another seed than the main thread's, so the replica's dropout masks are its own.
  const seed = recipe.seed + SEED_STRIDE.replica * recipe.index;
  model = buildSmallModel(recipe.model, seed, recipe.numClasses, recipe.inputSize);
  variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
}

function step(request: StepRequest): StepReply {
  const m = model!;
  request.weights.forEach((w, i) => {
    const v = variables[i];
    tf.tidy(() => v.assign(tf.tensor(w, v.shape)));
  });
  const x = tf.tensor(request.x, request.shape);
  const labels = tf.tensor1d(request.labels, "int32");
  const decay = request.weightDecay;
  const weightDecay = decay &&
    { rate: decay.rate, names: decay.indices.map((i) => variables[i].name) };
  const { grads, loss, correct } = gradients(m, variables, {
    ...request,
    x,
    labels,
    weightDecay,
  });
  tf.dispose([x, labels]);
  // Typed arrays stay outside tidy: it would walk them element by element.
  const reply = {
    grads: variables.map((v) => grads[v.name].dataSync() as Float32Array),
    loss,
    correct,
  };
  tf.dispose(grads);
  return reply;
}

self.onmessage = async (event: MessageEvent<WorkerMessage>) => {
  const message = event.data;
  try {
    if (message.type === "init") {
      await initBackend(message.backend);
      await build(message.recipe);
      self.postMessage({ type: "ready" });
    } else if (message.type === "features") {
      const { features } = await extractFeatures(model!, message.images, {
        inputSize: model!.inputs[0].shape[1]!,
        input: input!,
        imageSize: message.imageSize,
        batchSize: message.batchSize,
        progress: false,
      });
      self.postMessage({ features }, [features.buffer as ArrayBuffer]);
    } else if (message.type === "dropout") {
      if (message.positions) setDropoutPositions(model!, message.positions);
      self.postMessage({ dropout: dropoutPositions(model!) });
    } else {
      const reply = step(message);
      self.postMessage(reply, reply.grads.map((g) => g.buffer as ArrayBuffer));
    }
  } catch (e) {
    self.postMessage({ type: "error", message: String((e as Error).stack ?? e) });
  }
};
