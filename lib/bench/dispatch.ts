/**
 * How much of a training step is spent outside TensorFlow's kernels, for
 * `deno task bench:step --profile`: a tiny op's cost through tfjs and through the binding, and a
 * step's time inside the binding's `executeOp` against its wall time.
 *
 * @module
 */
import { tf } from "../engine/backend.ts";
import { nodeBackend } from "../engine/node_backend.ts";
import { median } from "../util/stats.ts";

/** The binding's `executeOp`, as far as used here. */
type ExecuteOp = (name: string, attrs: unknown[], ids: number[], outputs: number) => {
  id: number;
}[];

/**
 * Microseconds per one-element `Add` through tfjs and through the binding directly, the median
 * of alternating rounds: their difference is tfjs's own cost per op. Tensorflow backend only.
 */
export function dispatchCost(ops = 1000, repeats = 9) {
  const backend = nodeBackend();
  const binding = backend.binding as unknown as {
    executeOp: ExecuteOp;
    deleteTensor(id: number): void;
  } & Record<string, number>;
  const a = tf.tensor1d([1]), b = tf.tensor1d([2]);
  // The handles of a and b as the binding knows them (tfjs-node keeps them in its tensor map).
  const ids = (backend as unknown as {
    getInputTensorIds(tensors: tf.Tensor[]): number[];
  }).getInputTensorIds([a, b]);
  const attrs = [{ name: "T", type: binding.TF_ATTR_TYPE, value: binding.TF_FLOAT }];
  const viaTfjs = () => {
    for (let i = 0; i < ops; i++) tf.add(a, b).dispose();
  };
  const viaBinding = () => {
    for (let i = 0; i < ops; i++) {
      binding.deleteTensor(binding.executeOp("Add", attrs, ids, 1)[0].id);
    }
  };
  const tfjs: number[] = [], direct: number[] = [];
  for (let r = 0; r < repeats + 1; r++) {
    const t0 = performance.now();
    viaTfjs();
    const t1 = performance.now();
    viaBinding();
    const t2 = performance.now();
    // Round 0 warms both paths up.
    if (r > 0) tfjs.push(t1 - t0), direct.push(t2 - t1);
  }
  tf.dispose([a, b]);
  return {
    tfjs_us_per_op: round(median(tfjs) * 1000 / ops),
    binding_us_per_op: round(median(direct) * 1000 / ops),
  };
}

/** Where one training step's time went, in ms: inside the binding's `executeOp`, or outside. */
interface StepSplit {
  step_ms: number;
  in_tensorflow_ms: number;
  outside_ms: number;
  ops: number;
}

/**
 * The split of `step`'s time (median of `repeats`), timing every call into the binding's
 * `executeOp`; `settle` reads a small result, so that the step's last op has finished.
 */
export function stepSplit(step: () => void, settle: () => void, repeats = 5): StepSplit {
  // The binding's functions are read-only: the backend gets a stand-in that times executeOp.
  const backend = nodeBackend() as unknown as { binding: { executeOp: ExecuteOp } };
  const original = backend.binding;
  let inside = 0, ops = 0;
  const executeOp: ExecuteOp = (name, attrs, ids, outputs) => {
    const start = performance.now();
    try {
      return original.executeOp(name, attrs, ids, outputs);
    } finally {
      inside += performance.now() - start;
      ops++;
    }
  };
  // A copy, since the binding's properties are frozen (neither assignable nor proxied).
  const timed: Record<string, unknown> = {};
  for (const key of Object.getOwnPropertyNames(original)) {
    const value = (original as unknown as Record<string, unknown>)[key];
    timed[key] = typeof value === "function" ? value.bind(original) : value;
  }
  timed.executeOp = executeOp;
  backend.binding = timed as unknown as typeof original;
  const splits: StepSplit[] = [];
  try {
    for (let r = 0; r < repeats; r++) {
      inside = 0, ops = 0;
      const start = performance.now();
      step();
      settle();
      const wall = performance.now() - start;
      splits.push({ step_ms: wall, in_tensorflow_ms: inside, outside_ms: wall - inside, ops });
    }
  } finally {
    backend.binding = original;
  }
  splits.sort((x, y) => x.step_ms - y.step_ms);
  const mid = splits[Math.floor(splits.length / 2)];
  return {
    step_ms: round(mid.step_ms),
    in_tensorflow_ms: round(mid.in_tensorflow_ms),
    outside_ms: round(mid.outside_ms),
    ops: mid.ops,
  };
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}
