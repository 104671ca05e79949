/**
 * `deno task bench:step`: the median time of one training step (gradients and the optimizer's
 * update) of the MLP, the CNN or ResNet-9 on the active engine, on random images; for profiling
 * the engine, where `deno task bench` times whole epochs.
 *
 * ```sh
 * deno task bench:step [--model mlp|cnn|resnet9] [--batch-size N] [--steps N]
 *   [--batch-norm fused|tfjs] [--profile]
 * ```
 *
 * ResNet-9 steps use its recipe's loss (label smoothing, weight decay) and optimizer.
 * `--batch-norm tfjs` builds it with tfjs's own batch normalisation instead of the fused one;
 * `--profile` adds tfjs's per-kernel times of one more step (kernels the project runs inside a
 * gradient, such as FusedBatchNormGradV3, are not listed separately). Prints one JSON line.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { initBackend, tf } from "../engine/backend.ts";
import { buildResnet9, decayedWeights } from "../models/resnet9.ts";
import { HYP } from "../train/config.ts";
import { makeOptimizer } from "../train/optimizer.ts";
import { buildSmallModel, type SmallModel } from "../train/small_models.ts";
import { gradients } from "../train/step.ts";
import { mulberry32 } from "../util/random.ts";
import { positiveInt, runCommand, UserError } from "../util/errors.ts";

/** Median milliseconds per step, and the kernels of one step when asked for. */
export async function stepTime(options: {
  model: SmallModel;
  batchSize: number;
  steps: number;
  batchNorm?: "fused" | "tfjs";
  profile?: boolean;
}) {
  const backend = await initBackend();
  const { model: name, batchSize: n } = options;
  const h = HYP.resnet9;
  const model = name === "resnet9"
    ? buildResnet9({
      width: h.width,
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
  const step = () =>
    tf.tidy(() => {
      const { grads } = gradients(model, variables, {
        x: tf.tensor(pixels, [n, 32, 32, 3]),
        labels: tf.tensor1d(labels, "int32"),
        numClasses: 100,
        loss: "categorical_crossentropy",
        ...recipe,
      });
      optimizer.applyGradients(grads);
      tf.dispose(grads);
    });
  for (let i = 0; i < 3; i++) step();
  const times: number[] = [];
  for (let i = 0; i < options.steps; i++) {
    const start = performance.now();
    step();
    // Eager engines finish each op before returning; reading a small result settles the rest.
    variables[variables.length - 1].dataSync();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  const ms = times[Math.floor(times.length / 2)];
  let kernels: Record<string, number> | undefined;
  if (options.profile) {
    const info = await tf.profile(() => step());
    const byName = new Map<string, number>();
    for (const k of info.kernels) {
      byName.set(k.name, (byName.get(k.name) ?? 0) + (k.kernelTimeMs as number));
    }
    kernels = Object.fromEntries(
      [...byName].sort((a, b) => b[1] - a[1]).slice(0, 15).map(([k, v]) => [k, Math.round(v)]),
    );
  }
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
  };
}

/** Run the command line; returns the exit code. */
export function main(args: string[]): Promise<number> {
  return runCommand(async () => {
    const { values: v } = parseArgs({
      args,
      options: {
        model: { type: "string" },
        "batch-size": { type: "string" },
        steps: { type: "string" },
        "batch-norm": { type: "string" },
        profile: { type: "boolean" },
      },
    });
    const model = (v.model ?? "resnet9") as SmallModel;
    if (!["mlp", "cnn", "resnet9"].includes(model)) {
      throw new UserError(`--model must be mlp, cnn or resnet9, got '${model}'`);
    }
    const batchNorm = v["batch-norm"] as "fused" | "tfjs" | undefined;
    if (batchNorm !== undefined && !["fused", "tfjs"].includes(batchNorm)) {
      throw new UserError("--batch-norm must be fused or tfjs");
    }
    const result = await stepTime({
      model,
      batchSize: positiveInt("--batch-size", v["batch-size"]) ?? HYP[model].batchSize,
      steps: positiveInt("--steps", v.steps) ?? 8,
      batchNorm,
      profile: v.profile,
    });
    console.log(JSON.stringify(result));
    return 0;
  });
}

if (import.meta.main) Deno.exit(await main(Deno.args));
