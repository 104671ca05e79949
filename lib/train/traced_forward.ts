/**
 * A frozen base's forward pass as one TensorFlow function: the ops of a batch's pass are recorded
 * through tfjs-node's binding from two batches of a shape, then later batches of that shape run
 * them as one op (lib/engine/graph_function.ts), without tfjs's layers between them. In
 * bfloat16, a value that a convolution made in bfloat16 is cast to float32 and straight back for
 * the next one, or through a max pooling (which picks one of its inputs); the function keeps such
 * values in bfloat16 and pools them there. Either way the same bits as tfjs.
 *
 * @module
 */
import { tf } from "../engine/backend.ts";
import {
  addFunction,
  DT,
  type GraphSpec,
  removeFunction,
  tfDataType,
} from "../engine/graph_function.ts";
import {
  type CreatedTensor,
  type HandleBackend,
  nodeBackend,
  type OpAttr,
  recordBinding,
  type RecordedOp,
} from "../engine/node_backend.ts";
import { precision } from "../engine/precision.ts";

/** One pass through the binding. */
interface Recording {
  ops: RecordedOp[];
  created: CreatedTensor[];
  x: number;
  weights: number[];
  output: number;
}

type Op = NonNullable<GraphSpec["ops"][number]>;

/** A weight's cast, made once rather than every batch. */
interface WeightCast {
  weight: number;
  attrs: OpAttr[];
}

/**
 * A registered function, and what it takes after the batch and the weights: the constants the
 * pass made, then the weights' casts, made for the weights of `castFrom` (their handles).
 */
interface Plan {
  name: string;
  constants: number[];
  casts: WeightCast[];
  cast: number[];
  castFrom: number[];
}

const [FLOAT, BFLOAT16] = [DT.float, DT.bfloat16];

/** Functions registered so far, for unique names. */
let functions = 0;

/**
 * Runs `forward` (one frozen base's pass, the same computation every call) on batches, as one
 * TensorFlow function once two batches of a shape have been recorded. Dispose it to free the
 * functions and their constants.
 */
export class TracedForward {
  /** By batch shape and precision: the last two recordings, until a plan is made or given up. */
  #recordings = new Map<string, Recording[]>();
  #plans = new Map<string, Plan | null>();
  /** Batches run as one function so far. */
  replayed = 0;

  constructor(private readonly weights: tf.Tensor[]) {}

  /** `forward(x)`, by tfjs while it records, then by the function. */
  run(x: tf.Tensor, forward: (x: tf.Tensor) => tf.Tensor): tf.Tensor {
    const key = JSON.stringify([x.shape, x.dtype, precision()]);
    const plan = this.#plans.get(key);
    const backend = nodeBackend() as unknown as HandleBackend;
    if (plan) {
      this.replayed++;
      const [xId, ...weights] = backend.getInputTensorIds([x, ...this.weights]);
      // Weights assigned since (new handles): their casts are made again.
      if (weights.some((id, i) => id !== plan.castFrom[i])) castWeights(plan, weights);
      const ids = [xId, ...weights, ...plan.constants, ...plan.cast];
      return backend.createOutputTensor(backend.binding.executeOp(plan.name, [], ids, 1)[0]);
    }
    if (plan === null) return forward(x);
    const { output, recording } = record(x, this.weights, forward);
    const recordings = [...this.#recordings.get(key) ?? [], recording];
    this.#recordings.set(key, recordings);
    if (recordings.length >= 2) {
      const made = planOf(recordings.at(-2)!, recording, x, this.weights);
      // A process's first batch gives tfjs's lazily made tensors their handles: a third try.
      if (made || recordings.length >= 3) {
        this.#plans.set(key, made);
        this.#recordings.delete(key);
      }
    }
    return output;
  }

  dispose(): void {
    const { binding } = nodeBackend() as unknown as HandleBackend;
    for (const plan of this.#plans.values()) {
      if (!plan) continue;
      [...plan.constants, ...plan.cast].forEach((id) => binding.deleteTensor(id));
      removeFunction(binding, plan.name);
    }
    this.#plans.clear();
    this.#recordings.clear();
  }
}

/** One real pass through tfjs, recording its binding calls. */
function record(x: tf.Tensor, weights: tf.Tensor[], forward: (x: tf.Tensor) => tf.Tensor) {
  const backend = nodeBackend() as unknown as HandleBackend;
  const [xId, ...weightIds] = backend.getInputTensorIds([x, ...weights]);
  const { result: output, ops, created } = recordBinding(() => forward(x));
  const [outputId] = backend.getInputTensorIds([output]);
  const recording: Recording = { ops, created, x: xId, weights: weightIds, output: outputId };
  return { output, recording };
}

/** The function two recordings agree on, registered; null where they differ or it cannot be. */
function planOf(a: Recording, b: Recording, x: tf.Tensor, weights: tf.Tensor[]): Plan | null {
  const same = (p: unknown, q: unknown) => JSON.stringify(p) === JSON.stringify(q);
  const constant = (c: Recording["created"][number]) => [c.shape, c.dtype, Array.from(c.values)];
  if (a.ops.length !== b.ops.length || !same(a.created.map(constant), b.created.map(constant))) {
    return null;
  }
  // Arguments: the batch, then the weights, then the constants the pass created.
  const sources = (r: Recording) => {
    const found = new Map<number, Op["inputs"][number]>();
    r.weights.forEach((id, k) => found.set(id, { arg: 1 + k }));
    found.set(r.x, { arg: 0 });
    r.created.forEach((c, k) => found.set(c.id, { arg: 1 + weights.length + k }));
    r.ops.forEach((op, i) => op.made.forEach((h, index) => found.set(h.id, { op: i, index })));
    return (id: number) => found.get(id);
  };
  const [sa, sb] = [sources(a), sources(b)];
  const ops: Op[] = [];
  for (let i = 0; i < a.ops.length; i++) {
    const [oa, ob] = [a.ops[i], b.ops[i]];
    const inputs = oa.inputs.map(sa);
    if (
      oa.name !== ob.name || !same(oa.attrs, ob.attrs) || inputs.some((s) => !s) ||
      !same(inputs, ob.inputs.map(sb))
    ) return null;
    ops.push({ name: oa.name, attrs: oa.attrs, inputs: inputs as Op["inputs"] });
  }
  const at = sa(a.output);
  if (!at || !("op" in at) || !same(at, sb(b.output))) return null;
  const { dtype, shape } = a.ops[at.op].made[at.index];
  const typed = (t: tf.Tensor) => ({ dtype: tfDataType(t.dtype) ?? -1, shape: t.shape });
  const args = [x, ...weights].map(typed).concat(
    a.created.map(({ dtype, shape }) => ({ dtype, shape })),
  );
  if (args.some((v) => v.dtype < 0)) return null;
  const { ops: body, casts } = withoutWeightCasts(inBfloat16(ops), args.length, weights.length);
  casts.forEach(({ weight, attrs }) => {
    args.push({
      dtype: attrs.find((a) => a.name === "DstT")!.value as number,
      shape: weights[weight].shape,
    });
  });
  const spec: GraphSpec = { args, ops: body, results: [{ ...at, dtype, shape }] };
  const { binding } = nodeBackend() as unknown as HandleBackend;
  const name = `cifar100_ts_forward_${++functions}`;
  try {
    if (!addFunction(binding, name, spec)) return null;
  } catch {
    return null;
  }
  const plan: Plan = {
    name,
    constants: a.created.map((c) => binding.createTensor(c.shape, c.dtype, c.values)),
    casts,
    cast: [],
    castFrom: [],
  };
  castWeights(plan, b.weights);
  return plan;
}

/**
 * `ops` without the casts of a weight (a bfloat16 run casts each weight every batch): each becomes
 * an argument after the `args` there are, made once per weight's value by {@linkcode castWeights}.
 */
function withoutWeightCasts(ops: Op[], args: number, weights: number) {
  const casts: WeightCast[] = [];
  const moved = new Map<number, number>();
  ops.forEach((op, i) => {
    const [input] = op?.inputs ?? [];
    if (op?.name !== "Cast" || !("arg" in input) || input.arg < 1 || input.arg > weights) return;
    moved.set(i, args + casts.length);
    casts.push({ weight: input.arg - 1, attrs: op.attrs });
  });
  const body = ops.map((op, i) =>
    !op || moved.has(i) ? null : {
      ...op,
      inputs: op.inputs.map((s) => "op" in s && moved.has(s.op) ? { arg: moved.get(s.op)! } : s),
    }
  );
  return { ops: body, casts };
}

/** Makes `plan`'s weight casts from the weights whose handles are `weights`. */
function castWeights(plan: Plan, weights: number[]): void {
  const { binding } = nodeBackend() as unknown as HandleBackend;
  plan.cast.forEach((id) => binding.deleteTensor(id));
  plan.cast = plan.casts.map(({ weight, attrs }) =>
    binding.executeOp("Cast", attrs, [weights[weight]], 1)[0].id
  );
  plan.castFrom = [...weights];
}

/**
 * `ops` with each cast of a bfloat16 value to float32 and straight back, or through a max pooling,
 * replaced by the bfloat16 value, pooled in bfloat16: exact, since a float32 copy of a bfloat16
 * value casts back to itself and a max pooling returns one of its inputs. Ops left without a use
 * are pruned when the function is instantiated.
 */
export function inBfloat16(ops: Op[]): Op[] {
  const attr = (op: Op | null, name: string) => op?.attrs.find((a) => a.name === name)?.value;
  const cast = (op: Op | null, from: number, to: number) =>
    op?.name === "Cast" && attr(op, "SrcT") === from && attr(op, "DstT") === to;
  const from = (input: Op["inputs"][number]) => "op" in input ? ops[input.op] : null;
  return ops.map((op) => {
    if (!cast(op, FLOAT, BFLOAT16)) return op;
    const before = from(op.inputs[0]);
    if (before && cast(before, BFLOAT16, FLOAT)) {
      const type = { ...op.attrs.find((a) => a.name === "DstT")!, name: "T" };
      return { name: "Identity", attrs: [type], inputs: [before.inputs[0]] };
    }
    const pooled = before?.name === "MaxPool" && attr(before, "T") === FLOAT
      ? from(before.inputs[0])
      : null;
    if (before && pooled && cast(pooled, BFLOAT16, FLOAT)) {
      const attrs = before.attrs.map((a) => a.name === "T" ? { ...a, value: BFLOAT16 } : a);
      return { name: "MaxPool", attrs, inputs: [pooled.inputs[0]] };
    }
    return op;
  });
}
