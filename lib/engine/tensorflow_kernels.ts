/**
 * Run time: kernels the project registers for tfjs-node's `tensorflow` backend (libtensorflow),
 * when lib/engine/backend.ts picks it.
 *
 * tfjs-node runs each tfjs kernel as TensorFlow eager ops. Some of its kernels are built from
 * many small ops where TensorFlow has one, which costs passes over memory and dispatch time on
 * every training step. They are replaced here by the ops TensorFlow's own Keras runs (what each
 * saves: docs/engines.md):
 *
 * - Step (ReLU's derivative, times dy in every ReLU and fused-conv gradient): tfjs-node builds
 *   it from IsNan, Greater, OnesLike, Fill, Select and Select again; Relu(Sign(x)) gives the
 *   same values in two ops.
 * - Sum over every axis but the last (a bias gradient): BiasAddGrad, one kernel.
 * - FusedConv2D and FusedDepthwiseConv2D (conv + bias + relu or relu6, in inference): tfjs-node
 *   dispatches conv, a broadcasting Add and the activation as separate tfjs kernels; here each is
 *   TensorFlow's fused oneDNN kernel (lib/engine/conv_bias_relu.ts, which also has the trainable
 *   version), or the conv, BiasAdd and the activation where the binding cannot call it.
 * - _FusedMatMul (dense + bias + activation): MatMul, BiasAdd and Relu executed directly.
 * - ReLU's gradient (the Relu kernel's registered gradient): tfjs's is dy x Cast(Step(x)), four
 *   TensorFlow ops and four passes over the activation; here TensorFlow's `ReluGrad`, one. The
 *   gradient registry is shared by all backends, so other backends keep tfjs's formula.
 * - MaxPoolGrad: TensorFlow's recomputes each window's argmax pixel by pixel; the project's own
 *   op (lib/engine/install/native_ops.cc), where
 *   setup could build it, does the same in a vectorised loop.
 * - MaxPool and MaxPoolGrad under a gradient: oneDNN's, the gradient from the forward pass's
 *   workspace (lib/engine/max_pool.ts); the above where that cannot run.
 * - Conv2D, Conv2DBackpropInput, Conv2DBackpropFilter and BatchMatMul (with _FusedMatMul's
 *   product): tfjs-node's, or in bfloat16 when the run asks for it (lib/engine/precision.ts).
 *
 * Each is tested against the cpu backend (tests/tensorflow_kernels_test.ts).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { floatType, nhwc, type NodeBackend, nodeBackend, runOp } from "./node_backend.ts";
import {
  type FusedActivation,
  fusedConv,
  fusedDepthwiseConv,
  registerConv2dBiasRelu,
} from "./conv_bias_relu.ts";
import { loadNativeOps } from "./native_ops.ts";
import { maxPoolGradFromWorkspace, maxPoolWithWorkspace } from "./max_pool.ts";
import { bfloat16Backend, convInBfloat16, precision } from "./precision.ts";

const BACKEND = "tensorflow";

type KernelArgs = {
  inputs: Record<string, tf.TensorInfo | undefined>;
  backend: NodeBackend;
  attrs: Record<string, unknown>;
};
type KernelFunc = (args: KernelArgs) => tf.TensorInfo;

let registered = false;

/** Register the project's tensorflow kernels; safe to call more than once. */
export function registerTensorflowKernels(): void {
  if (registered) return;
  registered = true;
  replaceKernel("Step", step);
  replaceKernel("Sum", sum);
  replaceKernel("FusedConv2D", fusedConvolution(fusedConv));
  replaceKernel("FusedDepthwiseConv2D", fusedConvolution(fusedDepthwiseConv));
  replaceKernel("_FusedMatMul", fusedMatMul);
  if (loadNativeOps()) replaceKernel("MaxPoolGrad", maxPoolGrad);
  replaceKernel("MaxPool", maxPoolWithWorkspace);
  replaceKernel("MaxPoolGrad", maxPoolGradFromWorkspace);
  replaceKernel("Conv2D", inBfloat16(({ inputs }) => convInBfloat16(inputs.filter!.shape)));
  replaceKernel(
    "Conv2DBackpropInput",
    inBfloat16(({ inputs }) => convInBfloat16(inputs.filter!.shape)),
  );
  replaceKernel(
    "Conv2DBackpropFilter",
    inBfloat16(({ attrs }) => convInBfloat16(attrs.filterShape as number[])),
  );
  replaceKernel("BatchMatMul", inBfloat16(() => precision() === "bfloat16"));
  replaceReluGradient();
  registerConv2dBiasRelu();
}

/**
 * tfjs-node's kernel, given a backend that runs its op in bfloat16 when `when` holds for
 * float32 inputs; the kernel as it is otherwise.
 */
function inBfloat16(when: (args: KernelArgs) => boolean): (original: KernelFunc) => KernelFunc {
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

/** The output of `pre` (conv or matmul) with the bias and a relu/linear activation applied. */
function biasActivation(b: NodeBackend, pre: tf.Tensor, bias?: tf.TensorInfo, relu = false) {
  const biased = bias ? runOp(b, "BiasAdd", [pre, bias], [floatType(b), nhwc(b)], [pre]) : pre;
  return relu ? runOp(b, "Relu", [biased], undefined, [biased]) : biased;
}

/** The activation, when it is one handled here; others (and prelu) go to tfjs-node's kernel. */
function simpleActivation(attrs: Record<string, unknown>): FusedActivation | undefined {
  const activation = attrs.activation ?? "linear";
  return activation === "relu" || activation === "relu6" || activation === "linear"
    ? activation
    : undefined;
}

/**
 * A fused convolution kernel as `run` (oneDNN's fused kernel, or the conv, BiasAdd and the
 * activation), when the convolution is NHWC float32 without dilation, padded "valid" or "same",
 * with an activation handled here; tfjs-node's kernel otherwise.
 */
function fusedConvolution(run: typeof fusedConv): (original: KernelFunc) => KernelFunc {
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
    return run(args.backend, x!, filter!, bias, { strides, pad: attrs.pad }, activation);
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
    return biasActivation(args.backend, product, bias, attrs.activation === "relu");
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
