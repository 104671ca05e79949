/**
 * `deno task notebooks:execute` and `deno task demo` (CIFAR_PROFILE=smoke): execute the
 * notebooks headless; a failure names the notebook and cell.
 * The usage: `deno task notebooks:execute --help`; every flag, the output and the exit status: docs/cli.md.
 *
 * @module
 */
import { DEFAULT_CELL_TIMEOUT_S, DEFAULT_OUT_DIR, executeNotebooks } from "../notebooks/execute.ts";
import { parseCommandLine, runCommand, UserError } from "../util/errors.ts";

/** `deno task notebooks:execute --help` (and `deno task demo --help`). */
export const USAGE = `usage: deno task notebooks:execute [--out DIR] [--timeout S] [NOTEBOOK...]
       deno task demo [--out DIR] [--timeout S] [NOTEBOOK...]   (CIFAR_PROFILE=smoke)
  NOTEBOOK: notebooks to run, in this order (default notebooks/*.ipynb by name)
  --out DIR: where NAME.ipynb and NAME.html go (default ${DEFAULT_OUT_DIR})
  --timeout S: seconds per cell (default ${DEFAULT_CELL_TIMEOUT_S}, ${
  DEFAULT_CELL_TIMEOUT_S / 3600
} h)
  env CIFAR_PROFILE: smoke or full (default full); the rest of the environment goes to the kernel`;

function main(args: string[]): Promise<number> {
  return runCommand(async () => {
    const { values, positionals } = parseCommandLine(args, {
      usage: USAGE,
      positionals: true,
      options: { out: { type: "string" }, timeout: { type: "string" } },
    });
    const timeoutS = values.timeout === undefined ? undefined : Number(values.timeout);
    if (timeoutS !== undefined && !(timeoutS > 0)) {
      throw new UserError(`--timeout ${values.timeout} is not a positive number of seconds`);
    }
    await executeNotebooks({
      notebooks: positionals.length ? positionals : undefined,
      outDir: values.out,
      timeoutS,
    });
    return 0;
  });
}

if (import.meta.main) Deno.exit(await main(Deno.args));
