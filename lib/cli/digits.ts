/**
 * `deno task data:digits OUT`: write scikit-learn's handwritten digits as OUT/cifar-100-binary/
 * (lib/data/sklearn_digits.ts), real images for offline measurements that are NOT CIFAR-100.
 *
 * ```sh
 * deno task data:digits OUT
 * CIFAR100_DATA=OUT/cifar-100-binary deno task train --model cnn --epochs 5
 * ```
 *
 * Exit status: 0 when the folder was written (its path on stderr); 2 with one `error:` line for
 * a bad command line or when the wheel cannot be fetched.
 *
 * @module
 */
import { SKLEARN_WHEEL, writeDigitsFolder } from "../data/sklearn_digits.ts";
import { parseCommandLine, runCommand, UsageError } from "../util/errors.ts";

/** `deno task data:digits --help`. */
export const USAGE = `usage: deno task data:digits OUT
  writes OUT/cifar-100-binary/: scikit-learn's 1,797 handwritten digits (from the
  ${SKLEARN_WHEEL} wheel, via pip download) as 32x32 RGB records, 10 classes, NOT CIFAR-100`;

/** Run the command line; returns the exit code. */
export function main(args: string[]): Promise<number> {
  return runCommand(async () => {
    const { positionals } = parseCommandLine(args, {
      usage: USAGE,
      options: {},
      positionals: true,
    });
    if (positionals.length !== 1) {
      throw new UsageError(
        positionals.length ? `one OUT folder, got ${positionals.length}` : "OUT is required",
        USAGE,
      );
    }
    const folder = await writeDigitsFolder(positionals[0]);
    console.error(`Wrote ${folder}: scikit-learn's handwritten digits, NOT CIFAR-100`);
    return 0;
  });
}

if (import.meta.main) Deno.exit(await main(Deno.args));
