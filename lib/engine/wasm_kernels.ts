/**
 * Kernels the project registers for tfjs's WebAssembly backend (4.22), which lacks
 * Conv2DBackpropFilter and is slow at the input gradient, MaxPoolGrad, leading-axis Sum and
 * transposed BatchMatMul (docs/engines.md): each is composed from fast kernels the backend has,
 * or written in JavaScript over the wasm heap with the cpu backend's semantics.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

type TensorInfo = tf.TensorInfo;
type Backend = tf.KernelBackend & {
  disposeData(dataId: unknown, force?: boolean): boolean;
  makeOutput(shape: number[], dtype: tf.DataType): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): Float32Array;
};
type KernelFunc = (args: {
  inputs: Record<string, TensorInfo>;
  backend: Backend;
  attrs?: Record<string, unknown>;
}) => TensorInfo;

const BACKEND = "wasm";

type Shape4 = [number, number, number, number];
/** Attributes the conv gradient and pooling kernels share. */
type ConvAttrs = {
  strides: number | [number, number];
  pad: "valid" | "same" | number | tf.backend_util.ExplicitPadding;
  dataFormat: "NHWC" | "NCHW";
  dimRoundingMode?: "floor" | "round" | "ceil";
};
let registered = false;

/** Register the project's wasm kernels; safe to call more than once. */
export function registerWasmKernels(): void {
  if (registered) return;
  registered = true;
  const batchMatMul = kernel("BatchMatMul");
  replaceKernel("BatchMatMul", (args) => transposedMatMul(batchMatMul, args));
  const backpropInput = kernel("Conv2DBackpropInput");
  replaceKernel("Conv2DBackpropInput", (args) => conv2DBackpropInput(backpropInput, args));
  replaceKernel("MaxPoolGrad", maxPoolGrad);
  const sum = kernel("Sum");
  replaceKernel("Sum", (args) => sumLeadingAxes(sum, args));
  tf.registerKernel({
    kernelName: "Conv2DBackpropFilter",
    backendName: BACKEND,
    kernelFunc: conv2DBackpropFilter as unknown as tf.KernelFunc,
  });
}

function kernel(name: string): KernelFunc {
  const config = tf.getKernel(name, BACKEND);
  if (!config) throw new Error(`wasm backend has no ${name} kernel`);
  return config.kernelFunc as unknown as KernelFunc;
}

/** Swap a kernel's function, keeping its setup (which binds the wasm exports). */
function replaceKernel(name: string, kernelFunc: KernelFunc): void {
  const original = tf.getKernel(name, BACKEND)!;
  tf.unregisterKernel(name, BACKEND);
  tf.registerKernel({ ...original, kernelFunc: kernelFunc as unknown as tf.KernelFunc });
}

/** Run one kernel of the active wasm backend. */
function run(
  backend: Backend,
  name: string,
  inputs: Record<string, TensorInfo>,
  attrs: Record<string, unknown> = {},
): TensorInfo {
  return kernel(name)({ inputs, backend, attrs });
}

/** A stride-1, unpadded NHWC Conv2D with the given dilations (both gradients reduce to it). */
function validConv(
  backend: Backend,
  x: TensorInfo,
  filter: TensorInfo,
  dilations: [number, number],
): TensorInfo {
  return run(backend, "Conv2D", { x, filter }, {
    strides: [1, 1],
    pad: "valid",
    dataFormat: "NHWC",
    dilations,
    dimRoundingMode: undefined,
  });
}

function free(backend: Backend, ...infos: TensorInfo[]): void {
  for (const info of infos) backend.disposeData(info.dataId);
}

/** Swap the last two axes (matMul takes rank 2 or more), materialising the result. */
function transposeLast2(backend: Backend, x: TensorInfo): TensorInfo {
  const rank = x.shape.length;
  const perm = [...Array(rank - 2).keys(), rank - 1, rank - 2];
  return run(backend, "Transpose", { x }, { perm });
}

/** BatchMatMul with transposes done explicitly first: the stock transposed product is slow. */
function transposedMatMul(
  batchMatMul: KernelFunc,
  { inputs, backend, attrs }: Parameters<KernelFunc>[0],
): TensorInfo {
  const { transposeA, transposeB } = attrs as { transposeA: boolean; transposeB: boolean };
  if (!transposeA && !transposeB) return batchMatMul({ inputs, backend, attrs });
  let { a, b } = inputs;
  const temps: TensorInfo[] = [];
  if (transposeA) temps.push(a = transposeLast2(backend, a));
  if (transposeB) temps.push(b = transposeLast2(backend, b));
  const out = batchMatMul({
    inputs: { a, b },
    backend,
    attrs: { ...attrs, transposeA: false, transposeB: false },
  });
  free(backend, ...temps);
  return out;
}

/** The filter gradient as conv2d(xT=[C,H,W,N], dyT=[OH,OW,N,F], dilation=stride) -> [C,KH,KW,F]. */
function conv2DBackpropFilter(
  { inputs, backend, attrs }: Parameters<KernelFunc>[0],
): TensorInfo {
  const { x, dy } = inputs;
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as ConvAttrs & {
    filterShape: Shape4;
  };
  if (dataFormat !== "NHWC") throw new Error("Conv2DBackpropFilter (wasm): only NHWC is supported");
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as Shape4,
    filterShape,
    strides,
    1,
    pad,
    dimRoundingMode,
  );
  const { top, bottom, left, right } = info.padInfo;
  const [kh, kw, c, f] = filterShape;
  const temps: TensorInfo[] = [];
  let input = x;
  if (top || bottom || left || right) {
    input = run(backend, "PadV2", { x }, {
      paddings: [[0, 0], [top, bottom], [left, right], [0, 0]],
      constantValue: 0,
    });
    temps.push(input);
  }
  const xT = run(backend, "Transpose", { x: input }, { perm: [3, 1, 2, 0] });
  const dyT = run(backend, "Transpose", { x: dy }, { perm: [1, 2, 0, 3] });
  temps.push(xT, dyT);
  const conv = validConv(backend, xT, dyT, [info.strideHeight, info.strideWidth]);
  temps.push(conv);
  // With strides that do not divide the input evenly, the dilated conv covers
  // a few positions past the kernel; they belong to no filter tap.
  let cropped = conv;
  if (conv.shape[1] !== kh || conv.shape[2] !== kw) {
    cropped = run(backend, "Slice", { x: conv }, { begin: [0, 0, 0, 0], size: [c, kh, kw, f] });
    temps.push(cropped);
  }
  const dw = run(backend, "Transpose", { x: cropped }, { perm: [1, 2, 0, 3] });
  free(backend, ...temps);
  return dw;
}

/** Stride 1: dx = conv2d(pad(dy, k-1-pad), reverse(W, [0,1]) with in/out swapped), valid. */
function conv2DBackpropInput(
  stock: KernelFunc,
  args: Parameters<KernelFunc>[0],
): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { dy, filter } = inputs;
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs as ConvAttrs & {
    inputShape: Shape4;
  };
  const [sh, sw] = typeof strides === "number" ? [strides, strides] : strides;
  if (dataFormat !== "NHWC" || sh !== 1 || sw !== 1) return stock(args);
  const info = tf.backend_util.computeConv2DInfo(
    inputShape,
    filter.shape as Shape4,
    1,
    1,
    pad,
    dimRoundingMode,
  );
  const [kh, kw] = filter.shape;
  const { top, bottom, left, right } = info.padInfo;
  const paddings = [[0, 0], [kh - 1 - top, kh - 1 - bottom], [kw - 1 - left, kw - 1 - right], [
    0,
    0,
  ]];
  if (paddings.flat().some((p) => p < 0)) return stock(args);
  const temps: TensorInfo[] = [];
  let padded = dy;
  if (paddings.flat().some((p) => p > 0)) {
    temps.push(padded = run(backend, "PadV2", { x: dy }, { paddings, constantValue: 0 }));
  }
  const reversed = run(backend, "Reverse", { x: filter }, { dims: [0, 1] });
  const swapped = run(backend, "Transpose", { x: reversed }, { perm: [0, 1, 3, 2] });
  temps.push(reversed, swapped);
  const dx = validConv(backend, padded, swapped, [1, 1]);
  free(backend, ...temps);
  return dx;
}

/** MaxPoolGrad in JavaScript over the heap: dy goes to the first maximum of each window. */
function maxPoolGrad({ inputs, backend, attrs }: Parameters<KernelFunc>[0]): TensorInfo {
  const { dy, input } = inputs;
  const { filterSize, strides, pad, dimRoundingMode } = attrs as ConvAttrs & {
    filterSize: number | [number, number];
  };
  const info = tf.backend_util.computePool2DInfo(
    input.shape as Shape4,
    filterSize,
    strides,
    1,
    pad,
    dimRoundingMode,
  );
  const out = backend.makeOutput(input.shape, "float32");
  // Views after the allocation: malloc may grow (and so replace) the heap.
  const dx = backend.typedArrayFromHeap(out);
  const x = backend.typedArrayFromHeap(input);
  const g = backend.typedArrayFromHeap(dy);
  dx.fill(0);
  const { batchSize, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = info;
  const { strideHeight: sh, strideWidth: sw, filterHeight: fh, filterWidth: fw } = info;
  const { top, left } = info.padInfo;
  // Channels innermost: every read is contiguous (NHWC), unlike a per-channel window scan.
  const best = new Float32Array(C), where = new Int32Array(C);
  for (let b = 0; b < batchSize; b++) {
    for (let yr = 0; yr < OH; yr++) {
      const r0 = Math.max(0, yr * sh - top), r1 = Math.min(H, yr * sh - top + fh);
      for (let yc = 0; yc < OW; yc++) {
        const c0 = Math.max(0, yc * sw - left), c1 = Math.min(W, yc * sw - left + fw);
        best.fill(-Infinity);
        where.fill(-1);
        for (let r = r0; r < r1; r++) {
          for (let c = c0; c < c1; c++) {
            const base = ((b * H + r) * W + c) * C;
            for (let d = 0; d < C; d++) {
              if (x[base + d] > best[d]) {
                best[d] = x[base + d];
                where[d] = base + d;
              }
            }
          }
        }
        const gBase = ((b * OH + yr) * OW + yc) * C;
        for (let d = 0; d < C; d++) if (where[d] >= 0) dx[where[d]] += g[gBase + d];
      }
    }
  }
  return out;
}

/** Sum over all leading axes (e.g. [N,H,W] of NHWC) in JavaScript; other reductions: stock. */
function sumLeadingAxes(stock: KernelFunc, args: Parameters<KernelFunc>[0]): TensorInfo {
  const { inputs: { x }, backend, attrs } = args;
  const { axis, keepDims } = attrs as { axis: number | number[]; keepDims: boolean };
  const rank = x.shape.length;
  const axes = tf.util.parseAxisParam(axis, x.shape).sort((a, b) => a - b);
  const leading = axes.length < rank && axes.every((a, i) => a === i);
  if (x.dtype !== "float32" || !leading || axes.length === 0) return stock(args);
  const inner = x.shape.slice(axes.length).reduce((a, b) => a * b, 1);
  const outer = x.shape.slice(0, axes.length).reduce((a, b) => a * b, 1);
  const shape = keepDims
    ? x.shape.map((d, i) => (i < axes.length ? 1 : d))
    : x.shape.slice(axes.length);
  const out = backend.makeOutput(shape, "float32");
  const sum = backend.typedArrayFromHeap(out);
  const values = backend.typedArrayFromHeap(x);
  // Accumulate in float64 per output, then store: fewer rounding steps than float32.
  const acc = new Float64Array(inner);
  for (let o = 0, i = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++, i++) acc[j] += values[i];
  }
  sum.set(acc);
  return out;
}
