/**
 * Convolution + bias + ReLU as one trainable op on the `tensorflow` backend: one oneDNN kernel,
 * as Keras's graph runs, where tfjs-layers trains a `relu` Conv2D as three ops (docs/engines.md).
 * The fused kernel needs the binding `deno task setup` builds (list attributes); without it the op
 * runs as Conv2D, BiasAdd and Relu, and on other backends as tfjs's own ops.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import {
  floatType,
  nhwc,
  type NodeBackend,
  nodeBackend,
  type OpAttr,
  runOp,
} from "./node_backend.ts";
import { loadNativeOps } from "./native_ops.ts";
import { bfloat16Backend, convInBfloat16 } from "./precision.ts";

/**
 * TensorFlow's oneDNN convolution with bias and activation post-ops, what Keras's graph passes
 * rewrite to; eager mode never does, so it is called by name (Eigen's `_FusedConv2D` is slower).
 */
const FUSED_OP = "_MklNativeFusedConv2D";
const FUSED_DEPTHWISE_OP = "_MklNativeFusedDepthwiseConv2dNative";

const CONV2D_BIAS_RELU = "Cifar100Conv2DBiasRelu";

const BACKEND = "tensorflow";

/** Geometry of a 2-D convolution, as tfjs-layers' Conv2D has it. */
interface ConvGeometry {
  strides: [number, number];
  pad: "valid" | "same";
}

let fusedProbe: boolean | undefined;

/**
 * Whether the fused oneDNN convolution can be called through this binding (tfjs-node's prebuilt
 * one lacks list attributes); probed once, false on other backends.
 */
export function fusedConvAvailable(): boolean {
  if (tf.getBackend() !== BACKEND) return false;
  if (fusedProbe === undefined) {
    fusedProbe = tf.tidy(() => {
      try {
        const one = tf.ones([1, 1, 1, 1]);
        const geometry: ConvGeometry = { strides: [1, 1], pad: "valid" };
        const y = fusedConv(nodeBackend(), one, one, tf.ones([1]), geometry, "relu", false, true);
        return y.dataSync()[0] === 2;
      } catch {
        return false;
      }
    });
  }
  return fusedProbe;
}

/** The activations the fused kernels apply, by their tfjs names. */
export type FusedActivation = "linear" | "relu" | "relu6";

/** TensorFlow's op for each activation (none for linear). */
const ACTIVATION_OPS: Record<FusedActivation, string | undefined> = {
  linear: undefined,
  relu: "Relu",
  relu6: "Relu6",
};

/**
 * conv2d(x, filter), depthwise where `depthwise`, + bias, then the activation: one fused oneDNN
 * kernel where the binding allows it, else separate ops. NHWC, no dilation. The fused ReLU gives
 * -0 where Relu gives +0.
 */
export function fusedConv(
  b: NodeBackend,
  x: tf.TensorInfo,
  filter: tf.TensorInfo,
  bias: tf.TensorInfo | undefined,
  geometry: ConvGeometry,
  activation: FusedActivation,
  depthwise = false,
  fused = fusedConvAvailable(),
): tf.Tensor {
  const attrs = convAttrs(b, geometry);
  // Only Conv2D has this attribute; the depthwise ops reject it.
  if (!depthwise) {
    attrs.push({ name: "use_cudnn_on_gpu", type: b.binding.TF_ATTR_BOOL, value: true });
  }
  const act = ACTIVATION_OPS[activation];
  if (!fused || (!bias && !act)) {
    const y = runOp(b, depthwise ? "DepthwiseConv2dNative" : "Conv2D", [x, filter], attrs);
    return biasAndActivation(b, y, bias, act);
  }
  if (depthwise) {
    const channels = filter.shape[2] * filter.shape[3];
    return fusedCall(b, FUSED_DEPTHWISE_OP, [x, filter], channels, bias, act, attrs);
  }
  // In bfloat16 (lib/engine/precision.ts) the op's T and TArgs become bfloat16.
  const run = convInBfloat16(filter.shape) ? bfloat16Backend(b) : b;
  return fusedCall(run, FUSED_OP, [x, filter], filter.shape[3], bias, act, [
    ...attrs,
    { name: "TArgs", type: b.binding.TF_ATTR_TYPE, value: [b.binding.TF_FLOAT] },
  ]);
}

/** A convolution's type, strides, padding, layout and (no) dilation, as TensorFlow's attributes. */
function convAttrs(b: NodeBackend, geometry: ConvGeometry): OpAttr[] {
  const [sh, sw] = geometry.strides;
  return [
    floatType(b),
    { name: "strides", type: b.binding.TF_ATTR_INT, value: [1, sh, sw, 1] },
    { name: "padding", type: b.binding.TF_ATTR_STRING, value: geometry.pad.toUpperCase() },
    nhwc(b),
    { name: "dilations", type: b.binding.TF_ATTR_INT, value: [1, 1, 1, 1] },
  ];
}

/** `y` + bias, then the activation op, as separate TensorFlow ops. */
export function biasAndActivation(
  b: NodeBackend,
  y: tf.Tensor,
  bias: tf.TensorInfo | undefined,
  act: string | undefined,
): tf.Tensor {
  const biased = bias ? runOp(b, "BiasAdd", [y, bias], [floatType(b), nhwc(b)], [y]) : y;
  return act ? runOp(b, act, [biased], undefined, [biased]) : biased;
}

/** One of oneDNN's fused convolutions, with BiasAdd (and the activation) as post-ops. */
function fusedCall(
  b: NodeBackend,
  op: string,
  inputs: tf.TensorInfo[],
  channels: number,
  bias: tf.TensorInfo | undefined,
  act: string | undefined,
  attrs: OpAttr[],
): tf.Tensor {
  // An activation without bias still needs one (zero) argument: TensorFlow fuses BiasAdd first.
  const args = bias ?? tf.zeros([channels]);
  return runOp(b, op, [...inputs, args], [
    ...attrs,
    { name: "num_args", type: b.binding.TF_ATTR_INT, value: 1 },
    { name: "fused_ops", type: b.binding.TF_ATTR_STRING, value: ["BiasAdd", ...act ? [act] : []] },
    // The kernel label that TensorFlow's oneDNN graph pass gives the op it creates.
    { name: "_kernel", type: b.binding.TF_ATTR_STRING, value: "MklNameChangeOp" },
  ], bias ? [] : [args as tf.Tensor]);
}

/**
 * relu(conv2d(x, filter) + bias): NHWC, no dilation, differentiable in all three inputs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs";
 * const x = tf.tensor4d([1, -2, 3, -4], [1, 2, 2, 1]);
 * const y = conv2dBiasRelu(x, tf.ones([1, 1, 1, 2]), tf.tensor1d([0, 1]), {
 *   strides: [1, 1],
 *   pad: "valid",
 * });
 * // On tensorflow, oneDNN's fused ReLU gives -0 where the sum is negative (+ 0 makes it 0).
 * assert.deepEqual(Array.from(y.dataSync(), (v) => v + 0), [1, 2, 0, 0, 3, 4, 0, 0]);
 * ```
 */
export function conv2dBiasRelu(
  x: tf.Tensor4D,
  filter: tf.Tensor4D,
  bias: tf.Tensor1D,
  geometry: ConvGeometry,
): tf.Tensor4D {
  if (!tf.getKernel(CONV2D_BIAS_RELU, tf.getBackend()) || x.dtype !== "float32") {
    // tfjs's own: unfused under a gradient, the backend's fused kernel otherwise.
    return tf.fused.conv2d({ x, filter, bias, activation: "relu", ...geometry });
  }
  return tf.engine().runKernel(
    CONV2D_BIAS_RELU,
    { x, filter, bias } as unknown as tf.NamedTensorMap,
    geometry as unknown as tf.NamedAttrMap,
  ) as tf.Tensor4D;
}

type KernelArgs = {
  inputs: Record<string, tf.TensorInfo>;
  backend: NodeBackend;
  attrs: ConvGeometry;
};

/** Register the op's kernel on the tensorflow backend and its gradient; idempotent. */
export function registerConv2dBiasRelu(): void {
  if (tf.getKernel(CONV2D_BIAS_RELU, BACKEND)) return;
  tf.registerKernel({
    kernelName: CONV2D_BIAS_RELU,
    backendName: BACKEND,
    kernelFunc: (({ inputs: { x, filter, bias }, backend, attrs }: KernelArgs) =>
      fusedConv(backend, x, filter, bias, attrs, "relu")) as unknown as tf.KernelFunc,
  });
  tf.registerGradient({
    kernelName: CONV2D_BIAS_RELU,
    inputsToSave: ["x", "filter"],
    outputsToSave: [true],
    gradFunc: (dy, saved, attrs) => {
      const [x, filter, y] = saved as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
      const { strides, pad } = attrs as unknown as ConvGeometry;
      const b = nodeBackend();
      // The ReLU's and bias's gradients in one pass of the project's op where setup built it.
      const [dz, db] = loadNativeOps()
        ? b.executeMultipleOutputs("Cifar100ReluBiasGrad", [], [dy as tf.Tensor, y], 2)
        : [runOp(b, "ReluGrad", [dy as tf.Tensor, y])];
      const geometry = { strides, pad, dataFormat: "NHWC" };
      return {
        x: () =>
          tf.engine().runKernel(
            "Conv2DBackpropInput",
            { dy: dz, filter },
            { ...geometry, inputShape: x.shape } as unknown as tf.NamedAttrMap,
          ) as tf.Tensor,
        filter: () =>
          tf.engine().runKernel(
            "Conv2DBackpropFilter",
            { x, dy: dz },
            { ...geometry, filterShape: filter.shape } as unknown as tf.NamedAttrMap,
          ) as tf.Tensor,
        bias: () => db ?? runOp(b, "BiasAddGrad", [dz], [floatType(b), nhwc(b)]),
      };
    },
  });
}
