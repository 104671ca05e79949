/**
 * A batch's gradients without tfjs: the TensorFlow ops of {@linkcode gradients} are recorded from
 * two real steps, then run straight through tfjs-node's binding for later batches of the same
 * shape and settings. The same ops run in the same order on the same inputs, so the results are
 * the same bits as the tfjs path; what is skipped is tfjs's engine, tape and layers, about a fifth
 * of a CNN step (docs/performance.md). Anything the recording cannot account for keeps the tfjs
 * path.
 *
 * @module
 */
import { tf } from "../engine/backend.ts";
import { dropoutKey } from "../engine/dropout.ts";
import {
  addFunction,
  type GraphSpec,
  type GraphValue,
  removeFunction,
  tfDataType,
} from "../engine/graph_function.ts";
import { poolReluBiasGrad } from "../engine/max_pool.ts";
import {
  type CreatedTensor,
  type Handle,
  type HandleBackend,
  nodeBackend,
  type OpAttr,
  recordBinding,
  type RecordedOp,
} from "../engine/node_backend.ts";
import { seededDropouts } from "../models/layers.ts";
import { type GradientRequest, type Gradients, gradients } from "./step.ts";

/** What one real step did through the binding, and what it started from. */
interface Recording {
  ops: RecordedOp[];
  /** Tensors the step created from JavaScript values, in order. */
  created: CreatedTensor[];
  /** Ids the step read back (the loss, then the right answers). */
  reads: number[];
  x: number;
  labels: number;
  variables: number[];
  /** The model's other weights (batch norm's moving statistics) at the start and the end. */
  stateBefore: number[];
  stateAfter: number[];
  /** Each seeded dropout layer's seed at the start. */
  seeds: number[];
  /** The gradients' ids, by variable name. */
  grads: Record<string, number>;
}

/** Where an op's input comes from when replayed. */
type Source =
  | { kind: "out"; op: number; index: number }
  | { kind: "constant"; created: number }
  | { kind: "dropout"; created: number; layer: number }
  | { kind: "x" | "labels" }
  | { kind: "variable"; index: number }
  | { kind: "state"; index: number }
  | { kind: "fixed"; id: number };

/** One op of a plan. */
interface PlanOp {
  name: string;
  attrs: unknown[];
  inputs: Source[];
  outputs: number;
}

/** A recorded step, ready to replay. */
interface Plan {
  /** null for an op that a fused one after it does the work of. */
  ops: (PlanOp | null)[];
  /** Constant created tensors, made once and kept; undefined for per-step ones. */
  constants: (number | undefined)[];
  /** Per-step created tensors: which dropout layer's key each is. */
  dropouts: { created: number; layer: number }[];
  reads: { op: number; index: number }[];
  grads: Record<string, { op: number; index: number }>;
  /** The op outputs that become the model's other weights, by index in `state`. */
  state: { index: number; op: number; output: number }[];
  /**
   * The ops as one TensorFlow function, where the binding can register one: its name, and where
   * each argument comes from. It returns the reads, then the gradients, then the state.
   */
  function?: { name: string; args: Source[] };
}

/**
 * Computes {@linkcode gradients} for `model`: through tfjs while it records, then by replay.
 * Dispose it to free the replay's constants and functions.
 */
export class TracedGradients {
  /** By {@linkcode planKey}. */
  #recordings = new Map<string, Recording[]>();
  #plans = new Map<string, Plan | null>();
  readonly #dropouts;
  /** The model's weights that a step may reassign: batch norm's moving statistics. */
  readonly #state: tf.Variable[];
  /** Batches computed by replay so far. */
  replayed = 0;

  /**
   * @param attempts steps recorded per kind of batch ({@linkcode planKey}) before giving up
   * @param asFunction replay a plan as one TensorFlow function where the binding can, rather than
   * op by op
   */
  constructor(
    readonly model: tf.LayersModel,
    private readonly variables: tf.Variable[],
    private readonly attempts = 4,
    private readonly asFunction = true,
  ) {
    this.#dropouts = seededDropouts(model);
    this.#state = model.nonTrainableWeights.map((w) => w.read() as tf.Variable);
  }

  /** The gradients of one batch, as {@linkcode gradients} computes them. */
  gradients(request: GradientRequest): Gradients {
    const key = planKey(request);
    const plan = this.#plans.get(key);
    if (plan) {
      this.replayed++;
      return this.#replay(plan, request);
    }
    if (plan === null) return gradients(this.model, this.variables, request);
    const { result, recording } = this.#record(request);
    const recordings = this.#recordings.get(key) ?? [];
    recordings.push(recording);
    this.#recordings.set(key, recordings.slice(-2));
    if (recordings.length >= 2) {
      const made = this.#plan(recordings.at(-2)!, recording, request);
      if (made || recordings.length >= this.attempts) {
        this.#plans.set(key, made);
        this.#recordings.delete(key);
      }
    }
    return result;
  }

  dispose(): void {
    const { binding } = nodeBackend() as unknown as HandleBackend;
    for (const plan of this.#plans.values()) {
      for (const id of plan?.constants ?? []) if (id !== undefined) binding.deleteTensor(id);
      if (plan?.function) removeFunction(binding, plan.function.name);
    }
    this.#plans.clear();
  }

  /** One real step through tfjs, recording its binding calls. */
  #record(request: GradientRequest): { result: Gradients; recording: Recording } {
    const backend = nodeBackend() as unknown as HandleBackend;
    // The step's inputs get their handles first, so the step itself only creates its own.
    const [x, labels] = backend.getInputTensorIds([request.x, request.labels]);
    const variables = backend.getInputTensorIds(this.variables);
    const stateBefore = backend.getInputTensorIds(this.#state);
    const seeds = this.#dropouts.map((layer) => layer.nextSeed);
    const { result, ops, created, reads } = recordBinding(() =>
      gradients(this.model, this.variables, request)
    );
    const recording: Recording = {
      ops,
      created,
      reads,
      x,
      labels,
      variables,
      stateBefore,
      stateAfter: [],
      seeds,
      grads: {},
    };
    const names = Object.keys(result.grads);
    const ids = backend.getInputTensorIds(names.map((name) => result.grads[name]));
    names.forEach((name, i) => recording.grads[name] = ids[i]);
    recording.stateAfter = backend.getInputTensorIds(this.#state);
    // Gradients never reassign a trainable weight; a step that did is not replayed.
    const after = backend.getInputTensorIds(this.variables);
    if (after.some((id, i) => id !== recording.variables[i])) recording.ops = [];
    return { result, recording };
  }

  /** The replay of two consecutive recordings, or null where they differ in a way it cannot follow. */
  #plan(a: Recording, b: Recording, request: GradientRequest): Plan | null {
    const same = (p: unknown, q: unknown) => JSON.stringify(p) === JSON.stringify(q);
    if (!a.ops.length || a.ops.length !== b.ops.length || a.created.length !== b.created.length) {
      return null;
    }
    const [wa, wb] = [where(a), where(b)];
    const dropouts: Plan["dropouts"] = [];
    const perStep = new Map<number, number>();
    for (let i = 0; i < a.created.length; i++) {
      const [ca, cb] = [a.created[i], b.created[i]];
      if (!same([ca.shape, ca.dtype], [cb.shape, cb.dtype])) return null;
      if (same(Array.from(ca.values), Array.from(cb.values))) continue;
      const layer = this.#dropouts.findIndex((_, l) =>
        same(Array.from(ca.values), Array.from(dropoutKey(a.seeds[l]))) &&
        same(Array.from(cb.values), Array.from(dropoutKey(b.seeds[l])))
      );
      if (layer < 0) return null;
      dropouts.push({ created: i, layer });
      perStep.set(i, layer);
    }
    const source = (r: Recording, w: typeof wa, id: number): Source => {
      const out = w.out.get(id);
      if (out) return { kind: "out", ...out };
      const created = w.created.get(id);
      if (created !== undefined) {
        const layer = perStep.get(created);
        return layer === undefined
          ? { kind: "constant", created }
          : { kind: "dropout", created, layer };
      }
      if (id === r.x) return { kind: "x" };
      if (id === r.labels) return { kind: "labels" };
      const index = r.variables.indexOf(id);
      if (index >= 0) return { kind: "variable", index };
      const state = r.stateBefore.indexOf(id);
      if (state >= 0) return { kind: "state", index: state };
      return { kind: "fixed", id };
    };
    const ops: PlanOp[] = [];
    for (let i = 0; i < a.ops.length; i++) {
      const [oa, ob] = [a.ops[i], b.ops[i]];
      if (
        oa.name !== ob.name || oa.outputs !== ob.outputs || !same(oa.attrs, ob.attrs) ||
        oa.inputs.length !== ob.inputs.length
      ) return null;
      const inputs = oa.inputs.map((id) => source(a, wa, id));
      // Both steps must draw each input from the same place; a fixed one must be one tensor.
      if (!same(inputs, ob.inputs.map((id) => source(b, wb, id)))) return null;
      ops.push({ name: oa.name, attrs: oa.attrs, inputs, outputs: oa.outputs });
    }
    const position = (w: typeof wa, id: number) => w.out.get(id);
    const reads = a.reads.map((id) => position(wa, id));
    if (!same(reads, b.reads.map((id) => position(wb, id))) || reads.some((r) => !r)) {
      return null;
    }
    const grads: Plan["grads"] = {};
    for (const [name, id] of Object.entries(a.grads)) {
      const at = position(wa, id);
      if (!at || !same(at, position(wb, b.grads[name]))) return null;
      grads[name] = at;
    }
    const state: Plan["state"] = [];
    for (let k = 0; k < this.#state.length; k++) {
      const [changedA, changedB] = [a, b].map((r) => r.stateAfter[k] !== r.stateBefore[k]);
      if (changedA !== changedB) return null;
      if (!changedA) continue;
      const at = position(wa, a.stateAfter[k]);
      if (!at || !same(at, position(wb, b.stateAfter[k]))) return null;
      state.push({ index: k, op: at.op, output: at.index });
    }
    const { binding } = nodeBackend() as unknown as HandleBackend;
    const constants = a.created.map((c, i) =>
      perStep.has(i) ? undefined : binding.createTensor(c.shape, c.dtype, c.values)
    );
    const plan = fused(
      deduplicated({ ops, constants, dropouts, reads: reads as Plan["reads"], grads, state }),
    );
    if (this.asFunction) plan.function = this.#function(plan, a, request);
    return plan;
  }

  /** `plan` registered as one TensorFlow function, or undefined where it cannot be. */
  #function(plan: Plan, r: Recording, request: GradientRequest): Plan["function"] {
    const args: Source[] = [];
    const values: GraphValue[] = [];
    const argument = new Map<string, number>();
    const value = (s: Source): GraphValue | undefined => {
      const t = s.kind === "x"
        ? request.x
        : s.kind === "labels"
        ? request.labels
        : s.kind === "variable"
        ? this.variables[s.index]
        : s.kind === "state"
        ? this.#state[s.index]
        : undefined;
      const dtype = t && tfDataType(t.dtype);
      if (t) return dtype === undefined ? undefined : { dtype, shape: t.shape };
      if (s.kind === "constant" || s.kind === "dropout") return r.created[s.created];
    };
    const ops = [];
    for (const op of plan.ops) {
      if (!op) {
        ops.push(null);
        continue;
      }
      const inputs = [];
      for (const s of op.inputs) {
        if (s.kind === "out") {
          inputs.push({ op: s.op, index: s.index });
          continue;
        }
        const key = JSON.stringify(s);
        if (!argument.has(key)) {
          const v = value(s);
          if (!v) return undefined;
          argument.set(key, args.length);
          args.push(s);
          values.push({ dtype: v.dtype, shape: v.shape });
        }
        inputs.push({ arg: argument.get(key)! });
      }
      ops.push({ name: op.name, attrs: op.attrs as OpAttr[], inputs });
    }
    const results = resultsOf(plan).map(({ op, index }) => {
      const { dtype, shape } = r.ops[op].made[index];
      return { op, index, dtype, shape };
    });
    const name = `cifar100_ts_step_${++functions}`;
    const { binding } = nodeBackend() as unknown as HandleBackend;
    const spec: GraphSpec = { args: values, ops, results };
    try {
      return addFunction(binding, name, spec) ? { name, args } : undefined;
    } catch {
      // A graph TensorFlow will not import (an op attribute it cannot infer): the ops one by one.
      return undefined;
    }
  }

  #replay(plan: Plan, request: GradientRequest): Gradients {
    const backend = nodeBackend() as unknown as HandleBackend;
    const { binding } = backend;
    const [x, labels] = backend.getInputTensorIds([request.x, request.labels]);
    const variables = backend.getInputTensorIds(this.variables);
    const state = backend.getInputTensorIds(this.#state);
    const created = [...plan.constants];
    for (const { created: i, layer } of plan.dropouts) {
      const dropout = this.#dropouts[layer];
      created[i] = binding.createTensor([2], binding.TF_INT32, dropoutKey(dropout.nextSeed));
      dropout.calls++;
    }
    const source = (s: Source) => {
      switch (s.kind) {
        case "out":
          throw new Error("an op's output is no argument");
        case "constant":
        case "dropout":
          return created[s.created]!;
        case "x":
          return x;
        case "labels":
          return labels;
        case "variable":
          return variables[s.index];
        case "state":
          return state[s.index];
        case "fixed":
          return s.id;
      }
    };
    const made: Handle[][] = [];
    const at = resultsOf(plan);
    if (plan.function) {
      const { name, args } = plan.function;
      made.push(binding.executeOp(name, [], args.map(source), at.length));
    } else {
      for (const op of plan.ops) {
        const ids = op?.inputs.map((s) => s.kind === "out" ? made[s.op][s.index].id : source(s));
        made.push(op ? binding.executeOp(op.name, op.attrs, ids!, op.outputs) : []);
      }
    }
    // The function returns its results in resultsOf's order; op by op, they are where they were made.
    const results = at.map(({ op, index }, k) => plan.function ? made[0][k] : made[op][index]);
    const weight = request.weight ?? 1;
    const result: Gradients = {
      grads: {},
      loss: binding.tensorDataSync(results[0].id)[0] / weight,
      correct: binding.tensorDataSync(results[1].id)[0],
    };
    const kept = new Set<number>();
    const names = Object.keys(plan.grads);
    names.forEach((name, k) => {
      const handle = results[plan.reads.length + k];
      kept.add(handle.id);
      result.grads[name] = backend.createOutputTensor(handle);
    });
    plan.state.forEach(({ index }, k) => {
      const handle = results[plan.reads.length + names.length + k];
      kept.add(handle.id);
      const value = backend.createOutputTensor(handle);
      this.#state[index].assign(value);
      value.dispose();
    });
    for (const handles of made) {
      for (const h of handles) if (!kept.has(h.id)) binding.deleteTensor(h.id);
    }
    for (const { created: i } of plan.dropouts) binding.deleteTensor(created[i]!);
    return result;
  }
}

/** Functions registered so far, for unique names. */
let functions = 0;

/** Where a plan's results are: the loss and right answers read, the gradients, the state. */
function resultsOf(plan: Plan): { op: number; index: number }[] {
  return [
    ...plan.reads,
    ...Object.values(plan.grads),
    ...plan.state.map(({ op, output }) => ({ op, index: output })),
  ];
}

/**
 * What a plan holds for one batch: its shape, and the values the step makes constants of (the
 * one-hot depth, the loss's constants), so that a plan is never replayed for other ones.
 */
function planKey(r: GradientRequest): string {
  const { x, labels, numClasses, loss, weight = 1, labelSmoothing = 0, weightDecay } = r;
  return JSON.stringify([
    x.shape,
    x.dtype,
    labels.shape,
    numClasses,
    loss,
    weight,
    labelSmoothing,
    weightDecay,
  ]);
}

/** Where each tensor of a recording came from: an op's output, or the step's n-th created one. */
function where(r: Recording) {
  const out = new Map<number, { op: number; index: number }>();
  r.ops.forEach(({ made }, op) => made.forEach((h, index) => out.set(h.id, { op, index })));
  const created = new Map(r.created.map((c, i) => [c.id, i]));
  return { out, created };
}

/** Ops whose result depends on their inputs and attributes alone, so one run can serve twice. */
const PURE = new Set(["Cast"]);

/**
 * `plan` with each pure op that repeats an earlier one (same inputs, same attributes) run once:
 * in bfloat16, a tensor cast for the forward pass and again for a gradient. The same bits.
 */
function deduplicated(plan: Plan): Plan {
  const kept = new Set(
    [...plan.reads, ...Object.values(plan.grads)].map(({ op }) => op)
      .concat(plan.state.map(({ op }) => op)),
  );
  const first = new Map<string, number>();
  const replaced = new Map<number, number>();
  const ops = plan.ops.map((op, i) => {
    if (!op) return op;
    const inputs = op.inputs.map((s) =>
      s.kind === "out" && replaced.has(s.op) ? { ...s, op: replaced.get(s.op)! } : s
    );
    const key = JSON.stringify([op.name, op.attrs, inputs]);
    const earlier = first.get(key);
    if (PURE.has(op.name) && !kept.has(i) && earlier !== undefined) {
      replaced.set(i, earlier);
      return null;
    }
    first.set(key, i);
    return { ...op, inputs };
  });
  return { ...plan, ops };
}

/**
 * `plan` with each pooling gradient whose one use is the ReLU-bias gradient of the pooling's input
 * done by one op instead of two (engine/max_pool.ts): the same bits, one pass less over the
 * largest activations. Keras's graph passes do not fuse these.
 */
function fused(plan: Plan): Plan {
  const key = (op: number, index: number) => `${op}:${index}`;
  const uses = new Map<string, number>();
  const use = (op: number, index: number) =>
    uses.set(key(op, index), (uses.get(key(op, index)) ?? 0) + 1);
  for (const op of plan.ops) {
    for (const s of op?.inputs ?? []) if (s.kind === "out") use(s.op, s.index);
  }
  [...plan.reads, ...Object.values(plan.grads)].forEach(({ op, index }) => use(op, index));
  plan.state.forEach(({ op, output }) => use(op, output));
  const ops = [...plan.ops];
  ops.forEach((op, i) => {
    const [dx, y] = op?.inputs ?? [];
    if (op?.name !== "Cifar100ReluBiasGrad" || dx.kind !== "out") return;
    const pool = ops[dx.op];
    if (!pool || uses.get(key(dx.op, dx.index)) !== 1) return;
    if (JSON.stringify(pool.inputs[0]) !== JSON.stringify(y)) return;
    const one = poolReluBiasGrad(pool);
    if (!one) return;
    ops[i] = { ...one, inputs: [y, pool.inputs[2]], outputs: 2 };
    ops[dx.op] = null;
  });
  return { ...plan, ops };
}
