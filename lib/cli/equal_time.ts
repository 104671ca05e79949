/**
 * `deno task equal-time`: ResNet-9 against the source's CNN at equal training time, repeated.
 * The usage: `deno task equal-time --help`; every flag, the output and the exit status: docs/cli.md.
 *
 * @module
 */
import { join } from "node:path";
import { AUGMENTATIONS, type AugmentName } from "../train/hyp.ts";
import type { EqualTimeSummary } from "../train/equal_time.ts";
import { parseCommandLine, positiveInt, runCommand, UserError } from "../util/errors.ts";

/** `deno task equal-time --help`. */
export const USAGE = `usage: deno task equal-time [--data PATH|synthetic] [--limit-train N]
  [--limit-test N] [--repeat R] [--augment crop+flip|crop|none] [--out DIR]`;

/** The log line of one repeat. */
function repeatLine(r: EqualTimeSummary["repeats"][number]): string {
  return `seed ${r.seed}: CNN ${r.cnn.epochs} epochs ${r.cnn.train_seconds} s -> ` +
    `${r.cnn.test_accuracy.toFixed(4)}; ResNet-9 ${r.resnet9.epochs} epochs ` +
    `${r.resnet9.train_seconds} s -> ${r.resnet9.test_accuracy.toFixed(4)}; without ` +
    `augmentation ${r.resnet9_no_augment.train_seconds} s -> ` +
    `${r.resnet9_no_augment.test_accuracy.toFixed(4)}`;
}

function main(args: string[]): Promise<number> {
  return runCommand(async () => {
    const { values: v } = parseCommandLine(args, {
      usage: USAGE,
      options: {
        data: { type: "string" },
        "limit-train": { type: "string" },
        "limit-test": { type: "string" },
        repeat: { type: "string" },
        out: { type: "string" },
        augment: { type: "string" },
      },
    });
    const repeat = positiveInt("--repeat", v.repeat) ?? 1;
    const augment = v.augment as AugmentName | undefined;
    if (augment !== undefined && !AUGMENTATIONS.includes(augment)) {
      throw new UserError(`--augment must be one of ${AUGMENTATIONS.join(", ")}`);
    }
    const limitTrain = positiveInt("--limit-train", v["limit-train"]);
    const limitTest = positiveInt("--limit-test", v["limit-test"]);
    const log = (line: string) => console.error(line);
    // Loaded after the flags are read, so that --help and bad flags never load tfjs.
    const { equalTimeRepeats, summariseRepeats } = await import("../train/equal_time.ts");
    const results = await equalTimeRepeats({
      data: v.data,
      limitTrain,
      limitTest,
      repeat,
      augment,
      out: v.out ?? join("runs", "equal_time"),
      log,
    });
    const summary = summariseRepeats(results);
    for (const r of summary.repeats) log(repeatLine(r));
    console.log(JSON.stringify(summary));
    return 0;
  });
}

if (import.meta.main) Deno.exit(await main(Deno.args));
