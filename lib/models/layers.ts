/**
 * The layers the models are built from: seeded initialisers, Keras-style names, a dropout whose
 * masks are reproducible from a seed, and Keras's batch normalisation and Conv2D running the
 * engine's fused kernels. A whole model's summary is in summary.ts, its logits in logits.ts.
 *
 * @module
 */
import { tf } from "../engine/backend.ts";
import { batchNormTraining } from "../engine/batch_norm.ts";
import { dropout as seededDropout } from "../engine/dropout.ts";
import { conv2dBiasRelu } from "../engine/conv_bias_relu.ts";
import { SEED_STRIDE } from "../util/random.ts";

/** A distinct seed per layer: one run seed fixes every initial weight, no streams shared. */
export class SeedSequence {
  #next: number;
  constructor(seed: number) {
    this.#next = seed * SEED_STRIDE.layer + 1;
  }
  next(): number {
    return this.#next++;
  }
}

/** Keras-style layer names ("dense", "dense_1", ...) so summaries read like the source's. */
export class LayerNames {
  #counts = new Map<string, number>();
  next(kind: string): string {
    const n = this.#counts.get(kind) ?? 0;
    this.#counts.set(kind, n + 1);
    return n === 0 ? kind : `${kind}_${n}`;
  }
}

/** Keras's default kernel initialiser (Glorot uniform), seeded. */
export function glorot(seeds: SeedSequence): ReturnType<typeof tf.initializers.glorotUniform> {
  return tf.initializers.glorotUniform({ seed: seeds.next() });
}

/** The class behind a tfjs layer factory: tfjs exports the factories, subclassing needs it. */
export function classOf<Args>(factory: (args: Args) => tf.layers.Layer, args: NoInfer<Args>) {
  return factory(args).constructor as new (args: Args) => tf.layers.Layer;
}

const Dropout = classOf(tf.layers.dropout, { rate: 0.5 });

/**
 * Dropout whose mask sequence is fixed by a seed: tfjs's draws the same mask every call with a
 * seed, and from Math.random without. It serialises as a plain Dropout.
 */
class SeededDropout extends Dropout {
  /** Calls so far (training and inference): the position in the layer's mask sequence. */
  calls = 0;
  #baseSeed: number;
  #rate: number;
  constructor(args: { rate: number; seed: number; name?: string }) {
    super(args);
    this.#baseSeed = args.seed;
    this.#rate = args.rate;
  }
  /** The seed of the next call's mask. */
  get nextSeed(): number {
    return this.#baseSeed + SEED_STRIDE.dropoutCall * this.calls;
  }
  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>) {
    const seed = this.nextSeed;
    this.calls++;
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    if (!kwargs.training || !(this.#rate > 0 && this.#rate < 1)) return x;
    // As tfjs's dropout: keep where u >= rate, and scale the kept values by 1 / (1 - rate).
    return seededDropout(x, this.#rate, seed);
  }
}

/**
 * Where each seeded dropout layer of `model` (nested ones too) is in its mask sequence: a
 * checkpoint saves it so a resumed run draws the masks an uninterrupted one would.
 */
export function dropoutPositions(model: tf.LayersModel): number[] {
  return seededDropouts(model).map((layer) => layer.calls);
}

/** Set the positions that {@linkcode dropoutPositions} returned for the same architecture. */
export function setDropoutPositions(model: tf.LayersModel, positions: number[]): void {
  const layers = seededDropouts(model);
  if (layers.length !== positions.length) {
    throw new Error(`${positions.length} dropout positions for ${layers.length} dropout layers`);
  }
  layers.forEach((layer, i) => layer.calls = positions[i]);
}

/** The seeded dropout layers of `model`, nested ones too, in layer order. */
export function seededDropouts(model: tf.LayersModel): SeededDropout[] {
  const found: SeededDropout[] = [];
  const visit = (layers: tf.layers.Layer[]) => {
    for (const layer of layers) {
      if (layer instanceof SeededDropout) found.push(layer);
      const inner = (layer as Partial<tf.LayersModel>).layers;
      if (Array.isArray(inner)) visit(inner);
    }
  };
  visit(model.layers);
  return found;
}

/** A Dropout layer with reproducible masks; see {@linkcode SeededDropout}. */
export function dropout(rate: number, seeds: SeedSequence, name?: string): tf.layers.Layer {
  return new SeededDropout({ rate, seed: seeds.next(), name });
}

/** The fields of tfjs's BatchNormalization (private in its types). */
export interface BatchNormalizationFields {
  axis: number;
  momentum: number;
  epsilon: number;
  center: boolean;
  scale: boolean;
  gamma: tf.LayerVariable;
  beta: tf.LayerVariable;
  movingMean: tf.LayerVariable;
  movingVariance: tf.LayerVariable;
}

const BatchNormalization = classOf(tf.layers.batchNormalization, {});

/**
 * Keras's BatchNormalization whose training pass runs as one fused kernel each way on the
 * tensorflow backend, instead of tfjs's dozen element-wise ops; it serialises as tfjs's layer.
 */
class FusedBatchNormalization extends BatchNormalization {
  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>) {
    const layer = this as unknown as BatchNormalizationFields;
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    const lastAxis = layer.axis === -1 || layer.axis === x.rank - 1;
    if (!kwargs.training || !lastAxis || !layer.center || !layer.scale) {
      return super.call(inputs, kwargs);
    }
    return tf.tidy(() => {
      const gamma = layer.gamma.read() as tf.Tensor1D, beta = layer.beta.read() as tf.Tensor1D;
      const { y, mean, variance } = batchNormTraining(x, gamma, beta, layer.epsilon);
      // The moving averages as tfjs's layer updates them: moving -= (moving - batch) (1 - m).
      const pairs = [[layer.movingMean, mean], [layer.movingVariance, variance]] as const;
      for (const [moving, batch] of pairs) {
        const value = moving.read();
        moving.write(tf.sub(value, tf.mul(tf.sub(value, batch), 1 - layer.momentum)));
      }
      tf.dispose([mean, variance]);
      return y;
    });
  }
}

/**
 * A {@linkcode FusedBatchNormalization}; `args` is required so a model passes its momentum and
 * epsilon rather than falling back on Keras's.
 */
export function batchNormalization(
  args: NonNullable<Parameters<typeof tf.layers.batchNormalization>[0]>,
): tf.layers.Layer {
  return new FusedBatchNormalization(args);
}

/** The fields of tfjs's Conv2D used here (protected in its types). */
interface Conv2DFields {
  kernel: tf.LayerVariable;
  bias: tf.LayerVariable | null;
  strides: number[];
  padding: string;
  dataFormat: string;
  dilationRate: number | number[];
  activation: { getClassName(): string };
}

const Conv2D = classOf(tf.layers.conv2d, { filters: 1, kernelSize: 1 });

/**
 * Keras's Conv2D whose relu version trains as one conv + bias + ReLU op, where tfjs-layers runs
 * three; it serialises as a plain Conv2D.
 */
class FusedConv2D extends Conv2D {
  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>) {
    const layer = this as unknown as Conv2DFields;
    const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
    const dilation = [layer.dilationRate].flat();
    if (
      layer.activation.getClassName() !== "relu" || !layer.bias || x.rank !== 4 ||
      layer.dataFormat !== "channelsLast" || dilation.some((d) => d !== 1) ||
      (layer.padding !== "valid" && layer.padding !== "same")
    ) {
      return super.call(inputs, kwargs);
    }
    return conv2dBiasRelu(
      x,
      layer.kernel.read() as tf.Tensor4D,
      layer.bias.read() as tf.Tensor1D,
      { strides: layer.strides as [number, number], pad: layer.padding },
    );
  }
}

/**
 * A {@linkcode FusedConv2D}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const layer = conv2d({ filters: 4, kernelSize: 3, activation: "relu", inputShape: [8, 8, 3] });
 * assert.equal(layer.getClassName(), "Conv2D");
 * ```
 */
export function conv2d(args: Parameters<typeof tf.layers.conv2d>[0]): tf.layers.Layer {
  return new FusedConv2D(args);
}
