/**
 * The logits under a model's final softmax, for losses computed stably from them.
 *
 * @module
 */
import { tf } from "../engine/backend.ts";

// Body models (everything before the final softmax layer), built once per model.
const bodies = new WeakMap<tf.LayersModel, tf.LayersModel | null>();

function bodyOf(model: tf.LayersModel): tf.LayersModel | null {
  let body = bodies.get(model);
  if (body === undefined) {
    // The input of the model's final layer at the node that made the model's output (a nested
    // model used as a layer has one node per model it is part of).
    const output = model.outputs[0];
    const input = output.sourceLayer.getInputAt(output.nodeIndex) as tf.SymbolicTensor;
    // null: the last layer reads the model's input directly (a one-layer head).
    body = input === model.inputs[0] ? null : tf.model({ inputs: model.inputs, outputs: input });
    bodies.set(model, body);
  }
  return body;
}

/**
 * The logits under a model's final softmax Dense layer (or a nested model's, as the transfer
 * head), so losses can be computed stably from them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { initBackend, tf } from "../engine/backend.ts";
 * await initBackend();
 * const model = tf.sequential({
 *   layers: [tf.layers.dense({ units: 3, activation: "softmax", inputShape: [4] })],
 * });
 * const x = tf.randomNormal([2, 4]);
 * const probabilities = model.predict(x) as tf.Tensor;
 * const fromLogits = tf.softmax(logitsOf(model, x));
 * assert.ok(tf.abs(probabilities.sub(fromLogits)).max().dataSync()[0] < 1e-6);
 * ```
 */
export function logitsOf(model: tf.LayersModel, x: tf.Tensor, training = false): tf.Tensor {
  const last = model.outputs[0].sourceLayer;
  const body = bodyOf(model);
  const h = body ? body.apply(x, { training }) as tf.Tensor : x;
  if (last instanceof tf.LayersModel) return logitsOf(last, h, training);
  const config = last.getConfig();
  if (last.getClassName() !== "Dense" || config.activation !== "softmax") {
    throw new Error(`logitsOf: ${model.name} must end in a softmax Dense layer, not ${last.name}`);
  }
  const [kernel, bias] = last.weights.map((w) => w.read());
  const z = tf.matMul(h, kernel);
  return bias ? tf.add(z, bias) : z;
}
