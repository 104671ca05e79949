/**
 * Max pooling under a gradient as oneDNN's (`_MklNativeMaxPool`, as Keras's compiled step gets
 * it): its forward pass records each window's maximum (the workspace) and its gradient scatters
 * dy through it, where Eigen's gradient finds every maximum again. tfjs's MaxPool has one output,
 * so the workspace waits in a table keyed by the pooled output's data until its gradient runs,
 * or the next gradient tape pools.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { type NodeBackend, nodeBackend, type OpAttr } from "./node_backend.ts";
import { loadNativeOps } from "./native_ops.ts";

/** A tfjs kernel function on tfjs-node's backend. */
export type KernelFunc = (args: {
  inputs: Record<string, tf.TensorInfo | undefined>;
  backend: NodeBackend;
  attrs: Record<string, unknown>;
}) => tf.TensorInfo;

/** A forward pass's workspace, and the gradient tape it was made under. */
interface Workspace {
  tensor: tf.Tensor;
  tape: unknown;
}

/** Workspaces by the dataId of the pooled output whose gradient will need them. */
const workspaces = new Map<unknown, Workspace>();

/** The parts of tfjs's engine state read here (tfjs-core 4.22's Engine). */
interface EngineState {
  gradientDepth: number;
  kernelDepth: number;
  activeTape: unknown;
}

function engineState(): EngineState {
  return (tf.engine() as unknown as { state: EngineState }).state;
}

/** True inside a kernel the gradient tape records (`kernelDepth` 1: not nested in a kernel). */
function taped(): boolean {
  const state = engineState();
  return state.gradientDepth > 0 && state.kernelDepth === 1;
}

/** The attributes of both oneDNN ops, or undefined for pooling they do not cover. */
function poolAttrs(x: tf.TensorInfo, b: NodeBackend, attrs: Record<string, unknown>) {
  if (x.dtype !== "float32" || x.shape.length !== 4 || attrs.dimRoundingMode != null) return;
  if (attrs.pad !== "valid" && attrs.pad !== "same") return;
  const info = tf.backend_util.computePool2DInfo(
    x.shape as [number, number, number, number],
    attrs.filterSize as [number, number] | number,
    attrs.strides as [number, number] | number,
    1,
    attrs.pad,
  );
  const ints = (name: string, value: number[]): OpAttr => ({
    name,
    type: b.binding.TF_ATTR_INT,
    value,
  });
  return [
    { name: "T", type: b.binding.TF_ATTR_TYPE, value: b.binding.TF_FLOAT },
    ints("ksize", [1, info.filterHeight, info.filterWidth, 1]),
    ints("strides", [1, info.strideHeight, info.strideWidth, 1]),
    { name: "padding", type: b.binding.TF_ATTR_STRING, value: info.padInfo.type },
    { name: "data_format", type: b.binding.TF_ATTR_STRING, value: "NHWC" },
    { name: "workspace_enabled", type: b.binding.TF_ATTR_BOOL, value: true },
    // The kernel label that TensorFlow's oneDNN graph pass gives the ops it creates.
    { name: "_kernel", type: b.binding.TF_ATTR_STRING, value: "MklNameChangeOp" },
  ];
}

/** Dispose the workspaces of finished gradient tapes. */
function dropStale(tape: unknown): void {
  for (const [key, workspace] of workspaces) {
    if (workspace.tape === tape) continue;
    workspace.tensor.dispose();
    workspaces.delete(key);
  }
}

/** false once the oneDNN op failed here (a library without it): the original kernels run. */
let available = true;

/** The MaxPool kernel: oneDNN's with a workspace under a gradient, else `original`. */
export function maxPoolWithWorkspace(original: KernelFunc): KernelFunc {
  return (args) => {
    const x = args.inputs.x!;
    const attrs = available && taped() ? poolAttrs(x, args.backend, args.attrs) : undefined;
    if (!attrs) return original(args);
    const tape = engineState().activeTape;
    dropStale(tape);
    let outputs: tf.Tensor[];
    try {
      outputs = args.backend.executeMultipleOutputs("_MklNativeMaxPool", attrs, [x], 2);
    } catch {
      available = false;
      return original(args);
    }
    const [y, workspace] = outputs;
    // Kept: the forward pass's scope ends before the backward pass that needs it.
    workspaces.set(y.dataId, { tensor: tf.keep(workspace), tape });
    return y;
  };
}

/** The MaxPoolGrad kernel: oneDNN's from the forward pass's workspace, else `original`. */
export function maxPoolGradFromWorkspace(original: KernelFunc): KernelFunc {
  return (args) => {
    const { dy, input, output } = args.inputs;
    const workspace = output && workspaces.get(output.dataId);
    const attrs = workspace && poolAttrs(input!, args.backend, args.attrs);
    if (!workspace || !attrs) return original(args);
    workspaces.delete(output!.dataId);
    try {
      return args.backend.executeSingleOutput("_MklNativeMaxPoolGrad", attrs, [
        input!,
        output!,
        dy!,
        workspace.tensor,
      ]);
    } finally {
      workspace.tensor.dispose();
    }
  };
}

/** What a recorded op is, as the binding ran it. */
interface RecordedOp {
  name: string;
  /** `OpAttr`s. */
  attrs: unknown[];
}

const FUSED_GRAD = "Cifar100MaxPoolReluBiasGrad";

/** The fused gradient's attributes: its windows, with no padding. */
function fusedGradAttrs(b: NodeBackend, [kh, kw]: number[], [sh, sw]: number[]): OpAttr[] {
  const int = (name: string, value: number) => ({ name, type: b.binding.TF_ATTR_INT, value });
  return [
    int("window_height", kh),
    int("window_width", kw),
    int("stride_height", sh),
    int("stride_width", sw),
    int("pad_top", 0),
    int("pad_left", 0),
  ];
}

let fusedGradProbe: boolean | undefined;

/** Whether the ops library setup built has the fused gradient (an older one lacks it). */
function fusedGradAvailable(b: NodeBackend): boolean {
  fusedGradProbe ??= loadNativeOps() && tf.tidy(() => {
    try {
      const attrs = fusedGradAttrs(b, [2, 2], [2, 2]);
      const [dz] = b.executeMultipleOutputs(FUSED_GRAD, attrs, [
        tf.ones([1, 2, 2, 1]),
        tf.ones([1, 1, 1, 1]),
      ], 2);
      return dz.dataSync()[0] === 1;
    } catch {
      return false;
    }
  });
  return fusedGradProbe;
}

/**
 * The one op (lib/engine/install/native_ops.cc) that does the work of `pool`, a recorded
 * `_MklNativeMaxPoolGrad`, and of the `Cifar100ReluBiasGrad` of the pooling's input after it,
 * with the same bits; its inputs are the pooling's input and the pooled output's gradient.
 * Undefined where it does not apply: windows that overlap or pad, or a library without the op.
 */
export function poolReluBiasGrad(pool: RecordedOp): { name: string; attrs: OpAttr[] } | undefined {
  if (pool.name !== "_MklNativeMaxPoolGrad") return;
  const attrs = pool.attrs as OpAttr[];
  const attr = (name: string) => attrs.find((a) => a.name === name)?.value;
  const [, kh, kw] = attr("ksize") as number[];
  const [, sh, sw] = attr("strides") as number[];
  const b = nodeBackend();
  if (
    attr("T") !== b.binding.TF_FLOAT || attr("padding") !== "VALID" ||
    attr("data_format") !== "NHWC" || sh < kh || sw < kw || !fusedGradAvailable(b)
  ) return;
  return { name: FUSED_GRAD, attrs: fusedGradAttrs(b, [kh, kw], [sh, sw]) };
}
