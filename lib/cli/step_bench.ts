/**
 * `deno task bench:step`: the median time of one training step, for profiling the engine.
 * The usage: `deno task bench:step --help`; every flag, the output and the exit status: docs/cli.md.
 *
 * @module
 */
import { HYP } from "../train/hyp.ts";
import type { SmallModel } from "../train/small_models.ts";
import { parseCommandLine, positiveInt, runCommand, UserError } from "../util/errors.ts";

/** `deno task bench:step --help`. */
export const USAGE =
  `usage: deno task bench:step [--model mlp|cnn|resnet9] [--batch-size N] [--steps N]
  [--batch-norm fused|tfjs] [--profile]
  --model: the model to step (default resnet9)
  --batch-size N: images per step (default the model's batch size in HYP)
  --steps N: timed steps, after 3 warm-up steps; the median is reported (default 8)
  --batch-norm: ResNet-9's batch normalisation: fused kernels (default; tensorflow engine) or tfjs's
  --profile: add per-kernel times, the time inside TensorFlow, and the step replayed without tfjs`;

function main(args: string[]): Promise<number> {
  return runCommand(async () => {
    const { values: v } = parseCommandLine(args, {
      usage: USAGE,
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
    // Loaded after the flags are read, so that --help and bad flags never load tfjs.
    const { stepTime } = await import("../bench/step.ts");
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
