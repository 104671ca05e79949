/**
 * The command line behind `deno task train`.
 *
 * ```sh
 * deno task train --model <mlp|cnn|vgg16|resnet9> [--epochs N] [--batch-size N]
 *   [--data PATH|synthetic] [--limit-train N] [--limit-test N] [--seed N] [--out DIR] [--loss NAME]
 *   [--workers N] [--augment crop+flip|crop|none] [--weights PATH|none] [--input-size N]
 *   [--fine-tune]
 * ```
 *
 * The log goes to stderr; stdout gets exactly one JSON line, the run record
 * without its per-image arrays. User errors: one line on stderr, exit 2.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { HelpRequested, runCommand, UserError } from "../util/errors.ts";
import { runExperiment } from "../train/experiment.ts";
import { type ExperimentConfig, type ModelName, type RunRecord } from "../train/config.ts";
import type { AugmentName, LossName } from "../train/config.ts";

const USAGE = `usage: deno task train --model <mlp|cnn|vgg16|resnet9> [--epochs N] [--batch-size N]
  [--data PATH|synthetic] [--limit-train N] [--limit-test N] [--seed N] [--out DIR]
  [--loss categorical_crossentropy|binary_crossentropy] [--workers N]
  mlp, cnn, resnet9: [--augment crop+flip|crop|none] (default crop+flip for resnet9, else none)
  vgg16 only: [--weights PATH|none] [--input-size N] [--fine-tune]`;

/** Parse the flags into a config; throws UserError naming a bad flag or value. */
export function parseTrainArgs(args: string[]): ExperimentConfig {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
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
        "input-size": { type: "string" },
        "fine-tune": { type: "boolean" },
        workers: { type: "string" },
        augment: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (e) {
    // parseArgs messages may span lines; a user error is one line, then the usage.
    throw new UserError(`${(e as Error).message.replace(/\s*\n\s*/g, " ")}\n${USAGE}`);
  }
  const v = parsed.values;
  if (v.help) throw new HelpRequested();
  if (!v.model) throw new UserError(`--model is required\n${USAGE}`);
  return {
    model: v.model as ModelName,
    epochs: int("--epochs", v.epochs),
    batchSize: int("--batch-size", v["batch-size"]),
    data: v.data,
    limitTrain: int("--limit-train", v["limit-train"]),
    limitTest: int("--limit-test", v["limit-test"]),
    seed: int("--seed", v.seed),
    out: v.out,
    loss: v.loss as LossName | undefined,
    weights: v.weights,
    inputSize: int("--input-size", v["input-size"]),
    fineTune: v["fine-tune"] || undefined,
    workers: int("--workers", v.workers),
    augment: v.augment as AugmentName | undefined,
  };
}

function int(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === "" || !Number.isInteger(n)) {
    throw new UserError(`${flag} must be a whole number, got '${value}'`);
  }
  return n;
}

/** The JSON line: the record without the per-image and per-class arrays. */
export function summaryLine(record: RunRecord): string {
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
  return JSON.stringify(rest);
}

/** Run the command line; returns the exit code. */
export function main(args: string[]): Promise<number> {
  return runCommand(async () => {
    const config = parseTrainArgs(args);
    const record = await runExperiment(config);
    console.log(summaryLine(record));
    return 0;
  }, { usage: USAGE });
}

if (import.meta.main) Deno.exit(await main(Deno.args));
