/**
 * `deno task train`: train one model and save its run; stdout gets the run record as one JSON
 * line. Ctrl-C stops after the step under way, and a later run can resume from the checkpoint.
 * The usage: `deno task train --help`; every flag, the output and the exit status: docs/cli.md.
 *
 * @module
 */
import {
  parseCommandLine,
  runCommand,
  UsageError,
  UserError,
  wholeNumber,
} from "../util/errors.ts";
import type { ExperimentConfig } from "../train/experiment_config.ts";
import type { AugmentName, LossName, ModelName, PrecisionName } from "../train/hyp.ts";
import type { RunRecord } from "../train/run_record.ts";
import { signalExitCode, stopOnSignals } from "../util/interrupt.ts";

/** `deno task train --help`. */
export const USAGE =
  `usage: deno task train --model <mlp|cnn|vgg16|resnet9|mobilenetv2> [--epochs N] [--batch-size N]
  [--data PATH|DIR|synthetic] [--limit-train N] [--limit-test N] [--seed N] [--out DIR]
  [--loss categorical_crossentropy|binary_crossentropy] [--workers N] [--input-size N]
  a folder of your images (DIR/<class>/...): [--validation-split F] (default 0.2)
  mlp, cnn, resnet9: [--augment crop+flip|crop|none] (default crop+flip for resnet9, else none)
  [--resume|--restart] [--keep-best] (a checkpoint in <out>/<model>/)
  mlp, cnn, resnet9: [--precision float32|bfloat16] (default float32; bfloat16: CPUs with it)
  vgg16, mobilenetv2: [--weights PATH|none] [--fine-tune]
  mobilenetv2 only: [--alpha 0.35|0.5|0.75|1.0|1.3|1.4] (default 1.0)`;

/** Parse the flags into a config (values are checked by the experiment's validation). */
function parseTrainArgs(args: string[]): ExperimentConfig {
  const { values: v } = parseCommandLine(args, {
    usage: USAGE,
    options: {
      model: { type: "string" },
      epochs: { type: "string" },
      "batch-size": { type: "string" },
      data: { type: "string" },
      "limit-train": { type: "string" },
      "limit-test": { type: "string" },
      seed: { type: "string" },
      out: { type: "string" },
      loss: { type: "string" },
      weights: { type: "string" },
      alpha: { type: "string" },
      "input-size": { type: "string" },
      "validation-split": { type: "string" },
      "fine-tune": { type: "boolean" },
      workers: { type: "string" },
      augment: { type: "string" },
      resume: { type: "boolean" },
      restart: { type: "boolean" },
      "keep-best": { type: "boolean" },
      precision: { type: "string" },
    },
  });
  if (!v.model) throw new UsageError("--model is required", USAGE);
  if (v.resume && v.restart) {
    throw new UsageError("--resume and --restart exclude each other: pass one", USAGE);
  }
  return {
    model: v.model as ModelName,
    epochs: wholeNumber("--epochs", v.epochs),
    batchSize: wholeNumber("--batch-size", v["batch-size"]),
    data: v.data,
    limitTrain: wholeNumber("--limit-train", v["limit-train"]),
    limitTest: wholeNumber("--limit-test", v["limit-test"]),
    seed: wholeNumber("--seed", v.seed),
    out: v.out,
    loss: v.loss as LossName | undefined,
    weights: v.weights,
    alpha: numberFlag("--alpha", v.alpha, "a number such as 1.0 or 0.35"),
    inputSize: wholeNumber("--input-size", v["input-size"]),
    validationSplit: numberFlag(
      "--validation-split",
      v["validation-split"],
      "a fraction between 0 and 1 (e.g. 0.2)",
    ),
    fineTune: v["fine-tune"] || undefined,
    workers: wholeNumber("--workers", v.workers),
    augment: v.augment as AugmentName | undefined,
    // Without either flag a checkpoint is refused with a line saying to pass one (`ask`).
    checkpoint: v.resume ? "resume" : v.restart ? "restart" : "ask",
    keepBest: v["keep-best"] || undefined,
    precision: v.precision as PrecisionName | undefined,
  };
}

/** A number flag's value, or undefined when not given (its range is the config's to check). */
function numberFlag(flag: string, value: string | undefined, what: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === "" || Number.isNaN(n)) {
    throw new UserError(`${flag} must be ${what}, got '${value}'`);
  }
  return n;
}

/** The command that resumes a stopped run: its own flags, with --resume in place of --restart. */
function resumeCommand(args: string[]): string {
  const kept = args.filter((a) => a !== "--restart" && a !== "--resume");
  const quoted = kept.map((a) =>
    /^[\w.,:=/+@%-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`
  );
  return ["deno task train", ...quoted, "--resume"].join(" ");
}

/** The JSON line: the record without the per-image and per-class arrays. */
function summaryLine(record: RunRecord): string {
  const heldOut = record.data.held_out;
  const { files: _h, ...heldOutSummary } = heldOut ?? { files: [] };
  const data = heldOut ? { ...record.data, held_out: heldOutSummary } : record.data;
  const {
    test_predictions: _p,
    test_confidences: _q,
    test_labels: _l,
    fine_to_coarse: _m,
    fine_label_names: _f,
    coarse_label_names: _c,
    summary: _s,
    ...rest
  } = record;
  return JSON.stringify({ ...rest, data });
}

/** Run the command line; returns the exit code. */
function main(args: string[]): Promise<number> {
  return runCommand(async () => {
    const config = parseTrainArgs(args);
    // Loaded after the flags are read, so that --help and bad flags never load tfjs.
    const { runExperiment } = await import("../train/experiment.ts");
    const { TrainingStopped } = await import("../train/fit.ts");
    const stop = stopOnSignals(
      (signal) => console.error(`${signal}: stopping after this step (again: stop at once)`),
    );
    try {
      const record = await runExperiment(config, { signal: stop.signal });
      console.log(summaryLine(record));
      return 0;
    } catch (e) {
      if (!(e instanceof TrainingStopped)) throw e;
      const resume = e.checkpoint ? `; resume with: ${resumeCommand(args)}` : "";
      console.error(`error: ${e.message}${resume}`);
      return signalExitCode(e.reason);
    } finally {
      stop.dispose();
    }
  });
}

if (import.meta.main) Deno.exit(await main(Deno.args));
