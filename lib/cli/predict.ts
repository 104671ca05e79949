/**
 * `deno task predict`: classify your own images with a trained model, one JSON line per image on
 * stdout and a table on stderr; a file that cannot be read gets an `error:` line.
 * The usage: `deno task predict --help`; every flag, the output and the exit status: docs/cli.md.
 *
 * @module
 */
import {
  parseCommandLine,
  positiveInt,
  runCommand,
  UsageError,
  USER_ERROR_CODE,
} from "../util/errors.ts";
import { dataCaveat } from "../report/analysis.ts";
import { modelName, pct } from "../report/format.ts";
import type { Classifier, ImageFileResult } from "../inference/predict.ts";

/** `deno task predict --help`. */
export const USAGE = `usage: deno task predict --run DIR [--top K] IMAGE...
  DIR: a run folder saved by \`deno task train\` (runs/<model>: model.json, run.json)
  IMAGE: PNG, JPEG, BMP, GIF or WebP files of any size (centre-cropped, then resized to
    32x32, or to the input size of a run trained on a folder of images)`;

/** The JSON line of one classified image. */
function resultLine(result: ImageFileResult & { ok: true }): string {
  const { path, width, height } = result;
  // A run without superclasses (a folder's classes) has none to name.
  const top = result.top.map(({ superclass, ...rest }) =>
    superclass ? { ...rest, superclass } : rest
  );
  return JSON.stringify({ file: path, width, height, top });
}

/** The readable report of the classified images (for stderr). */
function resultTable(classifier: Classifier, results: ImageFileResult[]): string {
  const { record, dir } = classifier;
  // The caveats are about CIFAR-100's results; a folder of your own images is none.
  const caveat = record.data.held_out ? undefined : dataCaveat(record);
  const lines = [
    `Model: ${modelName(record.model)} from ${dir}` +
    (record.synthetic ? " (trained on SYNTHETIC data: its answers say nothing about photos)" : "") +
    (caveat ? ` (⚠ ${caveat})` : ""),
  ];
  for (const result of results) {
    if (!result.ok) continue;
    lines.push("", `${result.path} (${result.width}x${result.height})`);
    const width = Math.max(...result.top.map((t) => t.name.length));
    for (const t of result.top) {
      lines.push(
        `  ${t.rank}. ${t.name.padEnd(width)}  ${pct(t.probability).padStart(6)}  ${t.superclass}`
          .trimEnd(),
      );
    }
  }
  return lines.join("\n");
}

function main(args: string[]): Promise<number> {
  return runCommand(async () => {
    const { values: v, positionals: images } = parseCommandLine(args, {
      usage: USAGE,
      positionals: true,
      options: { run: { type: "string" }, top: { type: "string" } },
    });
    if (!v.run) throw new UsageError("--run DIR is required", USAGE);
    if (images.length === 0) throw new UsageError("no images given", USAGE);
    const top = positiveInt("--top", v.top) ?? 5;
    // Loaded after the flags are read, so that --help and bad flags never load tfjs.
    const { initBackend } = await import("../engine/backend.ts");
    const { classifyImageFiles, loadClassifier } = await import("../inference/predict.ts");
    await initBackend();
    const classifier = await loadClassifier(v.run);
    const results = await classifyImageFiles(classifier, images, top);
    for (const result of results) {
      if (result.ok) console.log(resultLine(result));
      else console.error(`error: ${result.error}`);
    }
    if (results.some((r) => r.ok)) console.error(resultTable(classifier, results));
    classifier.model.dispose();
    return results.every((r) => r.ok) ? 0 : USER_ERROR_CODE;
  });
}

if (import.meta.main) Deno.exit(await main(Deno.args));
