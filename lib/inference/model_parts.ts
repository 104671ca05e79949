/**
 * A saved classifier cut at one of its layers, for Grad-CAM and the embeddings. The models of
 * lib/models/ nest at most one model in another and are plain chains after the layers cut at
 * here, which {@linkcode cutAt} checks.
 *
 * @module
 */
import { tf } from "../engine/backend.ts";

/** The layers of a model in order, nested models expanded, input layers left out. */
export function flatLayers(model: tf.LayersModel): tf.layers.Layer[] {
  return model.layers.flatMap((layer) =>
    layer instanceof tf.LayersModel
      ? flatLayers(layer)
      : layer.getClassName() === "InputLayer"
      ? []
      : [layer]
  );
}

/** The last layer of a model of a class (e.g. `Conv2D`), nested models included. */
export function lastLayerOf(model: tf.LayersModel, className: string): tf.layers.Layer {
  const found = flatLayers(model).filter((l) => l.getClassName() === className).at(-1);
  if (!found) throw new Error(`${model.name} has no ${className} layer`);
  return found;
}

/**
 * A model from `model`'s input to the output of its layer `name` (found in nested models too,
 * when the nested model takes the outer model's input directly). Shares the weights: never
 * dispose it.
 */
export function modelUpTo(model: tf.LayersModel, name: string): tf.LayersModel {
  const direct = model.layers.find((l) => l.name === name);
  if (direct) {
    return tf.model({ inputs: model.inputs, outputs: direct.output as tf.SymbolicTensor });
  }
  const nested = model.layers.find((l): l is tf.LayersModel =>
    l instanceof tf.LayersModel && flatLayers(l).some((inner) => inner.name === name)
  );
  if (!nested) throw new Error(`${model.name} has no layer ${name}`);
  const [first] = model.layers.filter((l) => l.getClassName() !== "InputLayer");
  if (first !== nested) {
    throw new Error(`${model.name}: ${nested.name} does not take the model's input`);
  }
  return modelUpTo(nested, name);
}

/** A model cut after one of its layers: the model up to it, and the layers after it. */
interface CutModel {
  upTo: tf.LayersModel;
  tail: tf.layers.Layer[];
}

/** Cut a classifier after its layer `name`; what follows must be a chain ending in softmax. */
export function cutAt(model: tf.LayersModel, name: string): CutModel {
  const layers = flatLayers(model);
  const at = layers.findIndex((l) => l.name === name);
  if (at < 0) throw new Error(`${model.name} has no layer ${name}`);
  const tail = layers.slice(at + 1);
  const last = tail.at(-1);
  if (!last || last.getClassName() !== "Dense" || last.getConfig().activation !== "softmax") {
    throw new Error(`${model.name}: the layers after ${name} do not end in a softmax dense layer`);
  }
  const merging = tail.find((l) => ["Add", "Concatenate", "Multiply"].includes(l.getClassName()));
  if (merging) throw new Error(`${model.name}: ${merging.name} after ${name} is not a chain`);
  return { upTo: modelUpTo(model, name), tail };
}

/**
 * The class logits from a cut point's activations: the tail applied in inference mode, its last
 * dense layer without its softmax (as `logitsOf` in lib/models/logits.ts).
 */
export function tailLogits(tail: tf.layers.Layer[], activations: tf.Tensor): tf.Tensor2D {
  let h = activations;
  for (const layer of tail.slice(0, -1)) h = layer.apply(h, { training: false }) as tf.Tensor;
  const [kernel, bias] = tail[tail.length - 1].weights.map((w) => w.read());
  const z = tf.matMul(h as tf.Tensor2D, kernel as tf.Tensor2D);
  return (bias ? tf.add(z, bias) : z) as tf.Tensor2D;
}
