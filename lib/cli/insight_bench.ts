/**
 * `deno task bench:insight`: the seconds each insight view of notebook 07 takes, per saved run.
 * The usage: `deno task bench:insight --help`; every flag, the output and the exit status: docs/cli.md.
 *
 * @module
 */
import { parseCommandLine, positiveInt, runCommand, UsageError } from "../util/errors.ts";

/** `deno task bench:insight --help`. */
export const USAGE = `usage: deno task bench:insight [--images N] RUN_DIR...
  RUN_DIR: a run folder saved by deno task train or a notebook (model.json, weights.bin, run.json)
  --images N: test images for the PCA and UMAP maps (default 2000)`;

function main(args: string[]): Promise<number> {
  return runCommand(async () => {
    const { values, positionals } = parseCommandLine(args, {
      usage: USAGE,
      options: { images: { type: "string" } },
      positionals: true,
    });
    if (positionals.length === 0) throw new UsageError("give at least one RUN_DIR", USAGE);
    const images = positiveInt("--images", values.images) ?? 2000;
    // Loaded after the flags are read, so that --help and bad flags never load tfjs.
    const { timeViews } = await import("../bench/insight.ts");
    const { loadInsightRun } = await import("../report/insight.ts");
    for (const dir of positionals) {
      const run = await loadInsightRun(dir);
      const seconds = await timeViews(run, images);
      console.log(JSON.stringify({ run: dir, test_images: run.record.test_images, seconds }));
      run.classifier.model.dispose();
    }
    return 0;
  });
}

if (import.meta.main) Deno.exit(await main(Deno.args));
