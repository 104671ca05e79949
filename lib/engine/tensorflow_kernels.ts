/**
 * Kernels the project registers for tfjs-node's `tensorflow` backend: where tfjs-node builds a
 * kernel from many small eager ops, the one op TensorFlow's Keras runs (Step, a bias gradient's
 * Sum, fused conv and matmul, ReLU's gradient, max pooling), and bfloat16 products when the run
 * asks for them (docs/engines.md). Each is tested against the cpu backend.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { floatType, nhwc, nodeBackend, runOp } from "./node_backend.ts";
import {
  biasAndActivation,
  type FusedActivation,
  fusedConv,
  registerConv2dBiasRelu,
} from "./conv_bias_relu.ts";
import { loadNativeOps } from "./native_ops.ts";
import { type KernelFunc, maxPoolGradFromWorkspace, maxPoolWithWorkspace } from "./max_pool.ts";

import { bfloat16Backend, convInBfloat16, precision } from "./precision.ts";

const BACKEND = "tensorflow";

let registered = false;

/** Register the project's tensorflow kernels; safe to call more than once. */
export function registerTensorflowKernels(): void {
  if (registered) return;
  registered = true;
  replaceKernel("Step", step);
  replaceKernel("Sum", sum);
  replaceKernel("FusedConv2D", fusedConvolution(false));
  replaceKernel("FusedDepthwiseConv2D", fusedConvolution(true));
  replaceKernel("_FusedMatMul", fusedMatMul);
  if (loadNativeOps()) replaceKernel("MaxPoolGrad", maxPoolGrad);
  replaceKernel("MaxPool", maxPoolWithWorkspace);
  replaceKernel("MaxPoolGrad", maxPoolGradFromWorkspace);
  const byFilter = inBfloat16(({ inputs }) => convInBfloat16(inputs.filter!.shape));
  replaceKernel("Conv2D", byFilter);
  replaceKernel("Conv2DBackpropInput", byFilter);
  replaceKernel(
    "Conv2DBackpropFilter",
    inBfloat16(({ attrs }) => convInBfloat16(attrs.filterShape as number[])),
  );
  replaceKernel("BatchMatMul", inBfloat16(() => precision() === "bfloat16"));
  replaceReluGradient();
  registerConv2dBiasRelu();
}

/** tfjs-node's kernel, on a backend that runs its op in bfloat16 when `when` holds. */
function inBfloat16(
  when: (args: Parameters<KernelFunc>[0]) => boolean,
): (original: KernelFunc) => KernelFunc {
  return (original) => (args) => {
    // `when` first: in float32 runs it answers at once, before the inputs are looked at.
    if (!when(args) || !Object.values(args.inputs).every((t) => !t || t.dtype === "float32")) {
      return original(args);
    }
    return original({ ...args, backend: bfloat16Backend(args.backend) });
  };
}

/** Relu's gradient as TensorFlow's ReluGrad on this backend; tfjs's own elsewhere. */
function replaceReluGradient(): void {
  const original = tf.getGradient("Relu");
  tf.registerGradient({
    ...original,
    gradFunc: (dy, saved, attrs) => {
      const [x] = saved;
      if (
        tf.getBackend() !== BACKEND || Array.isArray(dy) || dy.dtype !== "float32" ||
        x.dtype !== "float32"
      ) {
        return original.gradFunc(dy, saved, attrs);
      }
      const b = nodeBackend();
      return { x: () => runOp(b, "ReluGrad", [dy, x]) };
    },
  });
}

function replaceKernel(name: string, wrap: (original: KernelFunc) => KernelFunc): void {
  const original = tf.getKernel(name, BACKEND);
  if (!original) throw new Error(`the tensorflow backend has no ${name} kernel`);
  tf.unregisterKernel(name, BACKEND);
  tf.registerKernel({
    ...original,
    kernelFunc: wrap(original.kernelFunc as unknown as KernelFunc) as unknown as tf.KernelFunc,
  });
}

/** x > 0 ? 1 : alpha, and NaN for NaN: for alpha 0, Relu(Sign(x)) in two ops. */
function step(original: KernelFunc): KernelFunc {
  return (args) => {
    const x = args.inputs.x!;
    if (x.dtype !== "float32" || args.attrs.alpha !== 0) return original(args);
    const b = args.backend;
    const sign = runOp(b, "Sign", [x]);
    return runOp(b, "Relu", [sign], undefined, [sign]);
  };
}

/** A sum over every axis but the last, without keepDims: a bias gradient, as BiasAddGrad. */
function sum(original: KernelFunc): KernelFunc {
  return (args) => {
    const x = args.inputs.x!;
    const rank = x.shape.length;
    const axes = tf.util.parseAxisParam(args.attrs.axis as number | number[], x.shape);
    const leading = rank >= 2 && axes.length === rank - 1 &&
      axes.slice().sort((p, q) => p - q).every((a, i) => a === i);
    if (x.dtype !== "float32" || args.attrs.keepDims || !leading) return original(args);
    const b = args.backend;
    return runOp(b, "BiasAddGrad", [x], [floatType(b), nhwc(b)]);
  };
}

/** The activation, when it is one handled here; others (and prelu) go to tfjs-node's kernel. */
function simpleActivation(attrs: Record<string, unknown>): FusedActivation | undefined {
  const activation = attrs.activation ?? "linear";
  return activation === "relu" || activation === "relu6" || activation === "linear"
    ? activation
    : undefined;
}

/** A fused (depthwise) convolution as {@linkcode fusedConv} where it can; tfjs-node's otherwise. */
function fusedConvolution(depthwise: boolean): (original: KernelFunc) => KernelFunc {
  return (original) => (args) => {
    const { x, filter, bias, preluActivationWeights } = args.inputs;
    const attrs = args.attrs;
    const dilations = attrs.dilations as number | [number, number] | undefined;
    const plain = dilations === undefined || dilations === 1 ||
      (Array.isArray(dilations) && dilations.every((d) => d === 1));
    const activation = simpleActivation(attrs);
    if (
      x!.dtype !== "float32" || attrs.dataFormat !== "NHWC" || !plain || preluActivationWeights ||
      !activation || (attrs.pad !== "valid" && attrs.pad !== "same")
    ) {
      return original(args);
    }
    const strides: [number, number] = typeof attrs.strides === "number"
      ? [attrs.strides, attrs.strides]
      : attrs.strides as [number, number];
    const pad = attrs.pad;
    return fusedConv(args.backend, x!, filter!, bias, { strides, pad }, activation, depthwise);
  };
}

/**
 * MatMul + BiasAdd + Relu. tfjs's fused.matMul hands over rank-3 operands ([batch, rows, cols],
 * batch 1 for a dense layer), which BatchMatMulV2 takes as they are.
 */
function fusedMatMul(original: KernelFunc): KernelFunc {
  return (args) => {
    const { a, b: w, bias, preluActivationWeights } = args.inputs;
    const attrs = args.attrs;
    const rank = a!.shape.length;
    if (
      (rank !== 2 && rank !== 3) || w!.shape.length !== rank || a!.dtype !== "float32" ||
      (bias && bias.shape.length !== 1) || preluActivationWeights ||
      !["relu", "linear"].includes(simpleActivation(attrs) ?? "")
    ) {
      return original(args);
    }
    // The product in bfloat16 when the run asks for it; the bias and activation in float32.
    const b = precision() === "bfloat16" ? bfloat16Backend(args.backend) : args.backend;
    const flag = (name: string, value: unknown) => ({
      name,
      type: b.binding.TF_ATTR_BOOL,
      value: !!value,
    });
    const product = rank === 2
      ? runOp(b, "MatMul", [a!, w!], [
        floatType(b),
        flag("transpose_a", attrs.transposeA),
        flag("transpose_b", attrs.transposeB),
      ])
      : runOp(b, "BatchMatMulV2", [a!, w!], [
        floatType(b),
        flag("adj_x", attrs.transposeA),
        flag("adj_y", attrs.transposeB),
      ]);
    const relu = attrs.activation === "relu" ? "Relu" : undefined;
    return biasAndActivation(args.backend, product, bias, relu);
  };
}

/** MaxPoolGrad as Cifar100MaxPoolGrad (lib/engine/install/native_ops.cc), NHWC float32. */
function maxPoolGrad(original: KernelFunc): KernelFunc {
  return (args) => {
    const { dy, input } = args.inputs;
    const attrs = args.attrs;
    const info = tf.backend_util.computePool2DInfo(
      input!.shape as [number, number, number, number],
      attrs.filterSize as [number, number] | number,
      attrs.strides as [number, number] | number,
      1,
      attrs.pad as "valid" | "same" | number,
      attrs.dimRoundingMode as "floor" | "round" | "ceil" | undefined,
    );
    if (input!.dtype !== "float32" || info.dataFormat !== "channelsLast") return original(args);
    const b = args.backend;
    const int = (name: string, value: number) => ({ name, type: b.binding.TF_ATTR_INT, value });
    return runOp(b, "Cifar100MaxPoolGrad", [input!, dy!], [
      int("window_height", info.filterHeight),
      int("window_width", info.filterWidth),
      int("stride_height", info.strideHeight),
      int("stride_width", info.strideWidth),
      int("pad_top", info.padInfo.top),
      int("pad_left", info.padInfo.left),
    ]);
  };
}
