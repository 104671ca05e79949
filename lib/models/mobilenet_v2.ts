/**
 * MobileNetV2 as Keras Applications builds it (`MobileNetV2(include_top=False)`), for transfer
 * learning on photos. Layers carry Keras's names, so its ImageNet weights load by name
 * (./mobilenet_v2_weights.ts).
 *
 * @module
 */
import { tf } from "../engine/backend.ts";
import type { RemoteFile } from "../util/cache.ts";
import { UserError } from "../util/user_error.ts";
import { type BatchNormalizationFields, classOf, glorot, SeedSequence } from "./layers.ts";
import { toInputSize } from "./vgg16.ts";

/** Width multipliers Keras publishes ImageNet weights for. */
export const MOBILENET_V2_ALPHAS: readonly number[] = [0.35, 0.5, 0.75, 1.0, 1.3, 1.4];

/** Input sizes Keras publishes ImageNet weights for; other sizes use the 224-px weights. */
const MOBILENET_V2_SIZES: readonly number[] = [96, 128, 160, 192, 224];

/** Smallest input side Keras accepts (five stride-2 stages). */
const MOBILENET_V2_MIN_INPUT_SIZE = 32;

/** The layer whose output Grad-CAM looks at: the last convolution block's activation. */
export const MOBILENET_V2_LAST_CONV_LAYER = "out_relu";

/** Keras's BatchNormalization settings in MobileNetV2. */
const BATCH_NORM = { epsilon: 1e-3, momentum: 0.999 };

/** The paper's Table 2: stages of inverted residual blocks, the first of each at `stride`. */
const STAGES = [
  { filters: 16, repeats: 1, stride: 1 },
  { filters: 24, repeats: 2, stride: 2 },
  { filters: 32, repeats: 3, stride: 2 },
  { filters: 64, repeats: 4, stride: 2 },
  { filters: 96, repeats: 3, stride: 1 },
  { filters: 160, repeats: 3, stride: 2 },
  { filters: 320, repeats: 1, stride: 1 },
] as const;

/** The 17 blocks as Keras lists them: output filters (before alpha), stride. */
const BLOCKS = STAGES.flatMap(({ filters, repeats, stride }) =>
  Array.from({ length: repeats }, (_, i) => ({ filters, stride: i === 0 ? stride : 1 as const }))
);

// tfjs exports the layers' factories, not their classes; subclassing needs the classes.
const BatchNormalization = classOf(tf.layers.batchNormalization, {});
const ReLU = classOf(tf.layers.reLU, {});
const Conv2D = classOf(tf.layers.conv2d, { filters: 1, kernelSize: 1 });
const DepthwiseConv2D = classOf(tf.layers.depthwiseConv2d, { kernelSize: 1 });

/** Inference batch normalisation as Keras 3 computes it: `x * inv + shift`, per channel. */
function invAndShift(bn: BatchNormalizationFields): [tf.Tensor, tf.Tensor] {
  const variance = bn.movingVariance.read();
  const inv = tf.mul(tf.rsqrt(tf.add(variance, tf.scalar(bn.epsilon))), bn.gamma.read());
  return [inv, tf.sub(bn.beta.read(), tf.mul(bn.movingMean.read(), inv))];
}

/**
 * Batch normalisation whose inference runs Keras 3's ops (`x * inv + (beta - mean * inv)`), so
 * features equal Keras's bit for bit where tfjs's FusedBatchNorm rounds differently. A frozen
 * layer stays in inference mode while training, as in Keras 3, so fine-tuning keeps its statistics.
 */
class KerasBatchNormalization extends BatchNormalization {
  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>) {
    if (kwargs.training && this.trainable) return super.call(inputs, kwargs);
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    return tf.tidy(() => {
      const [inv, shift] = invAndShift(this as unknown as BatchNormalizationFields);
      return tf.add(tf.mul(x, inv), shift);
    });
  }
}

/** Keras's `ReLU(6.0)` as one `Relu6` op, where tfjs's ReLU with `maxValue` runs a ReLU and a clip. */
class ReLU6 extends ReLU {
  override call(inputs: tf.Tensor | tf.Tensor[]) {
    return tf.relu6(Array.isArray(inputs) ? inputs[0] : inputs);
  }
}

/** The fields of tfjs's convolution layers that a folded call reads. */
interface ConvFields {
  kernel: tf.LayerVariable;
  depthwiseKernel: tf.LayerVariable;
  bias: tf.LayerVariable;
  strides: [number, number];
  padding: "same" | "valid";
}

/** A folded layer's convolution, bias and activation as one fused op. */
function foldedCall(layer: FoldedConv2D | FoldedDepthwiseConv2D, inputs: tf.Tensor | tf.Tensor[]) {
  const { kernel, depthwiseKernel, bias, strides, padding } = layer as unknown as ConvFields;
  const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
  const args = { x, bias: bias.read(), strides, pad: padding, activation: layer.fused };
  return layer instanceof FoldedDepthwiseConv2D
    ? tf.fused.depthwiseConv2d({ ...args, filter: depthwiseKernel.read() as tf.Tensor4D })
    : tf.fused.conv2d({ ...args, filter: kernel.read() as tf.Tensor4D });
}

type Fused = "relu6" | "linear";

/** A convolution with bias and ReLU6 in one fused op: tfjs's Conv2D applies ReLU6 as a pass. */
class FoldedConv2D extends Conv2D {
  constructor(args: Parameters<typeof tf.layers.conv2d>[0], readonly fused: Fused) {
    super(args);
  }
  override call(inputs: tf.Tensor | tf.Tensor[]) {
    return foldedCall(this, inputs);
  }
}

/** {@linkcode FoldedConv2D}'s depthwise counterpart. */
class FoldedDepthwiseConv2D extends DepthwiseConv2D {
  constructor(args: Parameters<typeof tf.layers.depthwiseConv2d>[0], readonly fused: Fused) {
    super(args);
  }
  override call(inputs: tf.Tensor | tf.Tensor[]) {
    return foldedCall(this, inputs);
  }
}

/**
 * A frozen base's inference twin: each batch normalisation folded into the convolution before it,
 * ReLU6 fused, so feature extraction runs one kernel per convolution; features differ from the
 * base's by rounding only. It copies the weights: build it again after the base changes.
 */
export function foldMobileNetV2(
  base: tf.LayersModel,
  opts: Pick<MobileNetV2Options, "alpha" | "inputSize">,
): tf.LayersModel {
  const folded = buildMobileNetV2Base({ ...opts, seed: 0, fold: true });
  tf.tidy(() => {
    for (const layer of folded.layers) {
      if (!(layer instanceof FoldedConv2D || layer instanceof FoldedDepthwiseConv2D)) continue;
      const [kernel] = base.getLayer(layer.name).getWeights();
      const bn = base.getLayer(batchNormOf(layer.name)) as unknown as BatchNormalizationFields;
      const [inv, shift] = invAndShift(bn);

      // A depthwise kernel [h, w, channels, 1] scales along its channels, a kernel along its last.
      const scale = layer instanceof FoldedDepthwiseConv2D ? inv.reshape([1, 1, -1, 1]) : inv;
      layer.setWeights([tf.mul(kernel, scale), shift]);
    }
  });
  return folded;
}

/** The batch normalisation after convolution `conv`, as Keras names it. */
function batchNormOf(conv: string): string {
  return conv === "Conv1" ? "bn_Conv1" : conv === "Conv_1" ? "Conv_1_bn" : `${conv}_BN`;
}

/** Block 0 keeps its width (expansion 1, no expand convolution); the others expand six times. */
const EXPANSION = 6;

/** Keras's `_make_divisible(v, 8)`: nearest multiple of 8, one step up if that lost over 10%. */
function makeDivisible(v: number): number {
  const rounded = Math.max(8, Math.floor(Math.trunc(v + 4) / 8) * 8);
  return rounded < 0.9 * v ? rounded + 8 : rounded;
}

/** One inverted residual block's channels, as `_inverted_res_block` derives them. */
interface BlockPlan {
  /** Layer name prefix: `expanded_conv_` for block 0, else `block_N_`. */
  prefix: string;
  inChannels: number;
  expanded: number;
  outChannels: number;
  stride: 1 | 2;
  residual: boolean;
}

/** Every block's channels for `alpha`, and the first and last convolutions' filters. */
function plan(alpha: number): { first: number; blocks: BlockPlan[]; last: number } {
  const first = makeDivisible(32 * alpha);
  let inChannels = first;
  const blocks = BLOCKS.map(({ filters, stride }, id): BlockPlan => {
    const outChannels = makeDivisible(Math.trunc(filters * alpha));
    const block = {
      prefix: id === 0 ? "expanded_conv_" : `block_${id}_`,
      inChannels,
      expanded: id === 0 ? inChannels : EXPANSION * inChannels,
      outChannels,
      stride,
      residual: stride === 1 && inChannels === outChannels,
    };
    inChannels = outChannels;
    return block;
  });
  // Keras widens the last convolution only for alpha above 1 (the paper keeps 1280 below).
  return { first, blocks, last: mobilenetV2FeatureDim(alpha) };
}

/**
 * Length of a pooled MobileNetV2 feature vector: 1280, or more for alpha above 1.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(mobilenetV2FeatureDim(0.35), 1280);
 * assert.equal(mobilenetV2FeatureDim(1.4), 1792);
 * ```
 */
export function mobilenetV2FeatureDim(alpha: number): number {
  return alpha > 1 ? makeDivisible(1280 * alpha) : 1280;
}

/**
 * Every weighted layer's weight shapes for `alpha`, by layer name, in Keras's weight order: what
 * a weights file of that alpha holds.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(mobilenetV2WeightShapes(1.0).get("Conv1"), [[3, 3, 3, 32]]);
 * assert.deepEqual(mobilenetV2WeightShapes(0.35).get("block_1_depthwise"), [[3, 3, 48, 1]]);
 * ```
 */
export function mobilenetV2WeightShapes(alpha: number): Map<string, number[][]> {
  const { first, blocks, last } = plan(alpha);
  const shapes = new Map<string, number[][]>();
  const conv = (name: string, k: number, inputs: number, filters: number) =>
    shapes.set(name, [[k, k, inputs, filters]]);
  const norm = (name: string, channels: number) => shapes.set(name, Array(4).fill([channels]));
  conv("Conv1", 3, 3, first);
  norm("bn_Conv1", first);
  for (const b of blocks) {
    if (b.prefix !== "expanded_conv_") {
      conv(`${b.prefix}expand`, 1, b.inChannels, b.expanded);
      norm(`${b.prefix}expand_BN`, b.expanded);
    }
    conv(`${b.prefix}depthwise`, 3, b.expanded, 1);
    norm(`${b.prefix}depthwise_BN`, b.expanded);
    conv(`${b.prefix}project`, 1, b.expanded, b.outChannels);
    norm(`${b.prefix}project_BN`, b.outChannels);
  }
  conv("Conv_1", 1, blocks.at(-1)!.outChannels, last);
  norm("Conv_1_bn", last);
  return shapes;
}

/**
 * The size whose weights a base of `inputSize` loads: itself when Keras publishes it, else 224.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(mobilenetV2WeightsSize(160), 160);
 * assert.equal(mobilenetV2WeightsSize(32), 224);
 * ```
 */
export function mobilenetV2WeightsSize(inputSize: number): number {
  return MOBILENET_V2_SIZES.includes(inputSize) ? inputSize : 224;
}

/** `alpha` as Python's `str(float(alpha))` writes it in Keras's file names: `1.0`, `0.35`. */
export function alphaName(alpha: number): string {
  return Number.isInteger(alpha) ? alpha.toFixed(1) : String(alpha);
}

/**
 * Keras's no-top ImageNet weights file for `alpha` and `inputSize` (no published checksum).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(
 *   mobilenetV2WeightsFile(1.0, 100).fileName,
 *   "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5",
 * );
 * ```
 */
export function mobilenetV2WeightsFile(alpha: number, inputSize: number): RemoteFile {
  const fileName = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_" +
    `${alphaName(alpha)}_${mobilenetV2WeightsSize(inputSize)}_no_top.h5`;
  return {
    url: `https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/${fileName}`,
    fileName,
    what: `MobileNetV2 ImageNet weights (Keras, alpha ${alphaName(alpha)}, no top)`,
  };
}

/**
 * Keras's `mobilenet_v2.preprocess_input` ("tf" mode): pixels 0..255 to -1..1, `x / 127.5 - 1`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { initBackend, tf } from "../engine/backend.ts";
 * await initBackend();
 * const x = preprocessMobileNetV2(tf.tensor4d([0, 127.5, 255], [1, 1, 1, 3]));
 * assert.deepEqual(Array.from(x.dataSync()), [-1, 0, 1]);
 * ```
 */
export function preprocessMobileNetV2(images: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => tf.sub(tf.div(tf.cast(images, "float32"), 127.5), 1) as tf.Tensor4D);
}

/** What MobileNetV2 is fed: pixels 0..255 resized to `inputSize`, then preprocessed. */
export function mobilenetV2Input(pixels: tf.Tensor4D, inputSize: number): tf.Tensor4D {
  return tf.tidy(() => preprocessMobileNetV2(toInputSize(pixels, inputSize)));
}

/** Options for {@linkcode buildMobileNetV2Base}. */
export interface MobileNetV2Options {
  /** Width multiplier, one of {@linkcode MOBILENET_V2_ALPHAS}. */
  alpha: number;
  /** Input height and width, an integer of at least 32. */
  inputSize: number;
  seed: number;
  /** `avg` ends in global average pooling (`[N, features]`); else `out_relu`'s `[N, h, w, c]`. */
  pooling?: "avg";
  /** Each convolution, batch norm and ReLU6 as one layer, for {@linkcode foldMobileNetV2}. */
  fold?: boolean;
}

/**
 * The MobileNetV2 base, `MobileNetV2(include_top=False, alpha, input_shape=(s, s, 3))`, with
 * random weights until `loadMobileNetV2Weights` fills them; it expects
 * {@linkcode preprocessMobileNetV2}'s input.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { initBackend } from "../engine/backend.ts";
 * await initBackend();
 * const base = buildMobileNetV2Base({ alpha: 0.35, inputSize: 96, seed: 0, pooling: "avg" });
 * assert.deepEqual(base.outputs[0].shape, [null, 1280]);
 * base.dispose();
 * ```
 */
export function buildMobileNetV2Base(opts: MobileNetV2Options): tf.LayersModel {
  const { alpha, inputSize } = opts;
  checkOptions(alpha, inputSize);
  const { first, blocks, last } = plan(alpha);
  const seeds = new SeedSequence(opts.seed);
  const input = tf.input({ shape: [inputSize, inputSize, 3], name: "input_layer" });
  const unit = unitBuilder(seeds, !!opts.fold);
  let x = unit(input, { conv: "Conv1", bn: "bn_Conv1", relu: "Conv1_relu" }, first, 3, 2);
  for (const block of blocks) x = invertedResidual(x, block, unit);
  const top = { conv: "Conv_1", bn: "Conv_1_bn", relu: MOBILENET_V2_LAST_CONV_LAYER };
  x = unit(x, top, last, 1, 1);
  if (opts.pooling === "avg") {
    x = apply(tf.layers.globalAveragePooling2d({ name: "global_average_pooling2d" }), x);
  }
  const rows = mobilenetV2WeightsSize(inputSize);
  return tf.model({ inputs: input, outputs: x, name: `mobilenetv2_${alpha.toFixed(2)}_${rows}` });
}

function checkOptions(alpha: number, inputSize: number): void {
  if (!MOBILENET_V2_ALPHAS.includes(alpha)) {
    throw new UserError(
      `MobileNetV2 alpha ${alpha} has no Keras weights: use one of ` +
        `${MOBILENET_V2_ALPHAS.map(alphaName).join(", ")} (--alpha)`,
    );
  }
  if (!Number.isInteger(inputSize) || inputSize < MOBILENET_V2_MIN_INPUT_SIZE) {
    throw new UserError(
      `MobileNetV2 input size ${inputSize} is not an integer of at least ` +
        `${MOBILENET_V2_MIN_INPUT_SIZE}: use one of ${MOBILENET_V2_SIZES.join(", ")} ` +
        `(--input-size), which Keras has weights for`,
    );
  }
}

/** A convolution, the batch normalisation after it and, where Keras has one, its ReLU6. */
interface UnitNames {
  conv: string;
  bn: string;
  relu?: string;
}

function apply(layer: tf.layers.Layer, x: tf.SymbolicTensor | tf.SymbolicTensor[]) {
  return layer.apply(x) as tf.SymbolicTensor;
}

/**
 * One base's convolution units (one seed sequence; folded or as Keras has them): `filters` 0
 * means a depthwise one ("valid" at stride 2, after `_pad`).
 */
function unitBuilder(seeds: SeedSequence, fold: boolean) {
  return (
    x: tf.SymbolicTensor,
    names: UnitNames,
    filters: number,
    kernelSize: number,
    strides: number,
  ): tf.SymbolicTensor => {
    const common = {
      kernelSize,
      strides,
      padding: filters === 0 && strides === 2 ? "valid" as const : "same" as const,
      useBias: fold,
      name: names.conv,
    };
    const initializer = glorot(seeds);
    if (fold) {
      const activation = names.relu ? "relu6" : "linear";
      const layer = filters === 0
        ? new FoldedDepthwiseConv2D({ ...common, depthwiseInitializer: initializer }, activation)
        : new FoldedConv2D({ ...common, filters, kernelInitializer: initializer }, activation);
      return apply(layer, x);
    }
    const conv = filters === 0
      ? tf.layers.depthwiseConv2d({ ...common, depthwiseInitializer: initializer })
      : tf.layers.conv2d({ ...common, filters, kernelInitializer: initializer });
    x = apply(
      new KerasBatchNormalization({ ...BATCH_NORM, axis: -1, name: names.bn }),
      apply(conv, x),
    );
    return names.relu ? apply(new ReLU6({ maxValue: 6, name: names.relu }), x) : x;
  };
}

/** Keras's `_inverted_res_block`: expand (1x1), depthwise 3x3, project (1x1, linear), add. */
function invertedResidual(
  input: tf.SymbolicTensor,
  block: BlockPlan,
  unit: ReturnType<typeof unitBuilder>,
): tf.SymbolicTensor {
  const { prefix, stride } = block;
  const names = (part: string, relu = true) => ({
    conv: `${prefix}${part}`,
    bn: `${prefix}${part}_BN`,
    relu: relu ? `${prefix}${part}_relu` : undefined,
  });
  let x = input;
  if (prefix !== "expanded_conv_") x = unit(x, names("expand"), block.expanded, 1, 1);
  if (stride === 2) {
    x = apply(tf.layers.zeroPadding2d({ padding: correctPad(x), name: `${prefix}pad` }), x);
  }
  x = unit(x, names("depthwise"), 0, 3, stride);
  x = unit(x, names("project", false), block.outChannels, 1, 1);
  return block.residual ? apply(tf.layers.add({ name: `${prefix}add` }), [input, x]) : x;
}

/** Keras's `correct_pad` for a 3x3 stride-2 convolution: one row less at the top for even sides. */
function correctPad(x: tf.SymbolicTensor): [[number, number], [number, number]] {
  const [, height, width] = x.shape as number[];
  return [[height % 2, 1], [width % 2, 1]];
}

/**
 * Freeze the whole base (`false`) or unfreeze blocks 13 to 16 and `Conv_1` for fine-tuning
 * (`true`); batch normalisation stays frozen, as Keras's transfer-learning guide does. Recompile
 * any model containing the base afterwards.
 */
export function setMobileNetV2FineTunable(base: tf.LayersModel, trainable: boolean): void {
  base.trainable = trainable;
  for (const layer of base.layers) {
    const block = /^block_(\d+)_/.exec(layer.name)?.[1];
    const top = block !== undefined ? Number(block) >= 13 : layer.name === "Conv_1";
    layer.trainable = trainable && top && !(layer instanceof KerasBatchNormalization);
  }
}
