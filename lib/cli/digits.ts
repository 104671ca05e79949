/**
 * `deno task data:digits`: write scikit-learn's handwritten digits as a cifar-100-binary/ folder,
 * real images for offline measurements that are NOT CIFAR-100.
 * The usage: `deno task data:digits --help`; every flag, the output and the exit status: docs/cli.md.
 *
 * @module
 */
import { SKLEARN_WHEEL, writeDigitsFolder } from "../data/sklearn_digits.ts";
import { parseCommandLine, runCommand, UsageError } from "../util/errors.ts";

/** `deno task data:digits --help`. */
export const USAGE = `usage: deno task data:digits OUT
  writes OUT/cifar-100-binary/: scikit-learn's 1,797 handwritten digits (from the
  ${SKLEARN_WHEEL} wheel, via pip download) as 32x32 RGB records, 10 classes, NOT CIFAR-100`;

function main(args: string[]): Promise<number> {
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
