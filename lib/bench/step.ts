/**
 * The time of one training step of the MLP, the CNN or ResNet-9 (with its recipe) on the active
 * engine and random images, for `deno task bench:step`: for profiling the engine.
 *
 * @module
 */
import { initBackend, tf } from "../engine/backend.ts";
import { buildResnet9, decayedWeights } from "../models/resnet9.ts";
import { HYP } from "../train/hyp.ts";
import { makeOptimizer } from "../train/optimizer.ts";
import { buildSmallModel, type SmallModel } from "../train/small_models.ts";
import { type GradientRequest, type Gradients, gradients } from "../train/step.ts";
import { TracedGradients } from "../train/traced_step.ts";
import { mulberry32 } from "../util/random.ts";
import { median } from "../util/stats.ts";
import { dispatchCost, stepReplay, stepSplit } from "./dispatch.ts";

/** What {@linkcode stepTime} measures. */
interface StepTimeOptions {
  model: SmallModel;
  batchSize: number;
  /** Timed steps (after 3 untimed ones); the median is reported. */
  steps: number;
  /** ResNet-9's batch normalisation: the fused kernels (default) or tfjs's. */
  batchNorm?: "fused" | "tfjs";
  profile?: boolean;
}

/** Warm-up steps before timing: the first steps compile and allocate. */
const WARM_UP_STEPS = 3;
const PROFILED_KERNELS = 15;

/**
 * The JSON line of `deno task bench:step`: median milliseconds per step and, with `profile`, the
 * kernels of one step (those the project runs inside a gradient are not listed).
 */

export async function stepTime(options: StepTimeOptions) {
  const backend = await initBackend();
  const { model: name, batchSize: n } = options;
  const { model, optimizer, variables, step, stepWith } = trainingStep(options);
  for (let i = 0; i < WARM_UP_STEPS; i++) step();
  // Eager engines finish each op before returning; reading a small result settles the rest.
  const settle = () => variables[variables.length - 1].dataSync();
  const times: number[] = [];
  for (let i = 0; i < options.steps; i++) {
    const start = performance.now();
    step();
    settle();
    times.push(performance.now() - start);
  }
  // The upper middle for an even count, as this benchmark has always reported.
  times.sort((a, b) => a - b);
  const ms = times[Math.floor(times.length / 2)];
  const kernels = options.profile ? await kernelTimes(step) : undefined;
  // The binding's own timing needs tfjs-node: only the tensorflow engine has a binding.
  const native = options.profile && backend.name === "tensorflow";
  const split = native ? stepSplit(step, settle) : undefined;
  const replay = native ? stepReplay(step, settle) : undefined;
  const dispatch = native ? dispatchCost() : undefined;
  const traced = native ? tracedSteps(model, variables, step, stepWith, settle) : undefined;
  optimizer.dispose();
  model.dispose();
  return {
    model: name,
    backend: backend.name,
    batch_size: n,
    // Only the tensorflow backend has the fused kernels; elsewhere the layer is tfjs's math.
    batch_norm: name !== "resnet9"
      ? undefined
      : backend.name === "tensorflow"
      ? options.batchNorm ?? "fused"
      : "tfjs",
    onednn: Deno.env.get("TF_ENABLE_ONEDNN_OPTS"),
    median_ms_per_step: Math.round(ms * 10) / 10,
    images_per_second: Math.round(n / ms * 1000),
    kernels_ms: kernels,
    split,
    replay,
    dispatch,
    traced,
  };
}

/**
 * The step as the training loop runs it (lib/train/traced_step.ts): its gradients replayed as
 * one TensorFlow function and op by op, against the tfjs step, in rounds that alternate the three.
 */
function tracedSteps(
  model: tf.LayersModel,
  variables: tf.Variable[],
  step: () => void,
  stepWith: (compute: (r: GradientRequest) => Gradients) => void,
  settle: () => void,
  rounds = 9,
  steps = 4,
) {
  const sides = [true, false].map((asFunction) => {
    const traced = new TracedGradients(model, variables, 4, asFunction);
    return { traced, step: () => stepWith((r) => traced.gradients(r)) };
  });
  const times: number[][] = [[], [], []];
  const ratios: number[] = [];
  try {
    for (let r = 0; r < rounds + 1; r++) {
      const ms = [step, ...sides.map((s) => s.step)].map((run) => {
        const start = performance.now();
        for (let i = 0; i < steps; i++) run();
        settle();
        return (performance.now() - start) / steps;
      });
      // Round 0 records the replays and warms them up.
      if (r > 0) ms.forEach((t, i) => times[i].push(t)), ratios.push(ms[0] / ms[1]);
    }
  } finally {
    sides.forEach((s) => s.traced.dispose());
  }
  const [tfjs, asFunction, byOp] = times.map((t) => Math.round(median(t) * 10) / 10);
  return {
    tfjs_ms: tfjs,
    function_ms: asFunction,
    ops_ms: byOp,
    replayed: sides.map((s) => s.traced.replayed),
    tfjs_over_function: {
      median: Math.round(median(ratios) * 100) / 100,
      min: Math.round(Math.min(...ratios) * 100) / 100,
      max: Math.round(Math.max(...ratios) * 100) / 100,
    },
  };
}

/** The model, its optimizer and variables, and one training step on a fixed random batch. */
function trainingStep(options: StepTimeOptions) {
  const { model: name, batchSize: n } = options;
  const h = HYP.resnet9;
  const model = name === "resnet9"
    ? buildResnet9({
      width: h.width,
      seed: h.seed,
      batchNorm: h.batchNorm,
      logitScale: h.logitScale,
      head: h.head,
      batchNormKernel: options.batchNorm,
    })
    : buildSmallModel(name, 0);
  const optimizer = makeOptimizer(HYP[name].optimizer);
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const random = mulberry32(1);
  const pixels = Float32Array.from({ length: n * 3072 }, () => random());
  const labels = Int32Array.from({ length: n }, () => Math.floor(random() * 100));
  const recipe = name === "resnet9"
    ? {
      labelSmoothing: h.labelSmoothing,
      weightDecay: { rate: h.weightDecay, names: decayedWeights(model) },
    }
    : {};
  const stepWith = (compute: (r: GradientRequest) => Gradients) =>
    tf.tidy(() => {
      const { grads } = compute({
        x: tf.tensor(pixels, [n, 32, 32, 3]),
        labels: tf.tensor1d(labels, "int32"),
        numClasses: 100,
        loss: "categorical_crossentropy",
        ...recipe,
      });
      optimizer.applyGradients(grads);
      tf.dispose(grads);
    });
  const step = () => stepWith((r) => gradients(model, variables, r));
  return { model, optimizer, variables, step, stepWith };
}

/** tfjs's kernel times of one `step`, summed by kernel name, the slowest first, in ms. */
async function kernelTimes(step: () => void): Promise<Record<string, number>> {
  const info = await tf.profile(() => step());
  const byName = new Map<string, number>();
  for (const k of info.kernels) {
    byName.set(k.name, (byName.get(k.name) ?? 0) + (k.kernelTimeMs as number));
  }
  return Object.fromEntries(
    [...byName].sort((a, b) => b[1] - a[1]).slice(0, PROFILED_KERNELS).map((
      [k, v],
    ) => [k, Math.round(v)]),
  );
}
