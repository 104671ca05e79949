/**
 * How much of a training step is spent outside TensorFlow's kernels, for
 * `deno task bench:step --profile`: a tiny op's cost through tfjs and through the binding, a
 * step's time inside the binding's `executeOp` against its wall time, and the step replayed
 * through the binding without tfjs.
 *
 * @module
 */
import { tf } from "../engine/backend.ts";
import { type Binding, nodeBackend, withBinding } from "../engine/node_backend.ts";
import { median } from "../util/stats.ts";

/**
 * Microseconds per one-element `Add` through tfjs and through the binding directly, the median
 * of alternating rounds: their difference is tfjs's own cost per op. Tensorflow backend only.
 */
export function dispatchCost(ops = 1000, repeats = 9) {
  const backend = nodeBackend();
  const binding = backend.binding as unknown as Binding & Record<string, number>;
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
  let inside = 0, ops = 0;
  const splits: StepSplit[] = [];
  withBinding((original) => ({
    executeOp(name, attrs, ids, outputs) {
      const start = performance.now();
      try {
        return original.executeOp(name, attrs, ids, outputs);
      } finally {
        inside += performance.now() - start;
        ops++;
      }
    },
  }), () => {
    for (let r = 0; r < repeats; r++) {
      inside = 0, ops = 0;
      const start = performance.now();
      step();
      settle();
      const wall = performance.now() - start;
      splits.push({ step_ms: wall, in_tensorflow_ms: inside, outside_ms: wall - inside, ops });
    }
  });
  splits.sort((x, y) => x.step_ms - y.step_ms);
  const mid = splits[Math.floor(splits.length / 2)];
  return {
    step_ms: round(mid.step_ms),
    in_tensorflow_ms: round(mid.in_tensorflow_ms),
    outside_ms: round(mid.outside_ms),
    ops: mid.ops,
  };
}

/** One op of a recorded step: its inputs and outputs by the binding's tensor ids. */
interface RecordedOp {
  name: string;
  attrs: unknown[];
  inputs: number[];
  outputs: number[];
}

/**
 * What a step costs without tfjs: its ops recorded once, then replayed through the binding alone
 * (the same ops and kernels, with no engine, tape or layers), in rounds alternating with the tfjs
 * step. The replay reads the recorded inputs every time (weights are not carried from one replay
 * to the next), so it times a traced step; it does not train.
 */
export function stepReplay(step: () => void, settle: () => void, rounds = 9, steps = 4) {
  const binding = nodeBackend().binding as unknown as Binding;
  const recorded: RecordedOp[] = [];
  // Tensors the step deletes stay alive until the replays are over: the replays read them.
  const deleted: number[] = [];
  withBinding((original) => ({
    executeOp(name, attrs, ids, outputs) {
      const made = original.executeOp(name, attrs, ids, outputs);
      recorded.push({ name, attrs, inputs: [...ids], outputs: made.map((t) => t.id) });
      return made;
    },
    deleteTensor(id: number) {
      deleted.push(id);
    },
  }), step);
  const replay = () => {
    const ids = new Map<number, number>();
    for (const op of recorded) {
      const inputs = op.inputs.map((id) => ids.get(id) ?? id);
      const made = binding.executeOp(op.name, op.attrs, inputs, op.outputs.length);
      op.outputs.forEach((id, i) => ids.set(id, made[i].id));
    }
    for (const id of ids.values()) binding.deleteTensor(id);
  };
  const tfjs: number[] = [], direct: number[] = [], ratios: number[] = [];
  try {
    for (let r = 0; r < rounds + 1; r++) {
      const t0 = performance.now();
      for (let i = 0; i < steps; i++) step();
      settle();
      const t1 = performance.now();
      for (let i = 0; i < steps; i++) replay();
      settle();
      const t2 = performance.now();
      // Round 0 warms both paths up.
      if (r > 0) {
        tfjs.push((t1 - t0) / steps), direct.push((t2 - t1) / steps);
        ratios.push((t1 - t0) / (t2 - t1));
      }
    }
  } finally {
    for (const id of deleted) binding.deleteTensor(id);
  }
  return {
    ops: recorded.length,
    tfjs_ms: round(median(tfjs)),
    replay_ms: round(median(direct)),
    tfjs_over_replay: {
      median: round2(median(ratios)),
      min: round2(Math.min(...ratios)),
      max: round2(Math.max(...ratios)),
    },
  };
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}
