/**
 * Errors that a user can fix (missing data, a bad file, a wrong flag).
 *
 * Front ends print `error: <message>` as one line and exit non-zero, with no
 * stack trace; anything else is a bug and keeps its stack.
 *
 * @module
 */

/** An error caused by user input; its message names the file or value and what to do. */
export class UserError extends Error {
  override name = "UserError";
}

/** True for errors that should be shown to the user as one line. */
export function isUserError(e: unknown): e is UserError {
  return e instanceof UserError;
}

/**
 * The first line of an error's message: enough for a one-line report.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(firstLine(new Error("disk full\nat write()")), "disk full");
 * assert.equal(firstLine("plain"), "plain");
 * ```
 */
export function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split("\n")[0];
}

/** Thrown by a command line's parser for `--help`: {@linkcode runCommand} prints the usage. */
export class HelpRequested extends Error {
  override name = "HelpRequested";
}

/**
 * Run the body of a command-line entry point and return its exit code, with the one policy every
 * entry point shares: `--help` ({@linkcode HelpRequested}) prints `usage` to stdout and gives 0;
 * a {@linkcode UserError}, or a flag that node:util's `parseArgs` rejected, prints
 * `error: <message>` to stderr (one line, unless the message adds the usage) and gives `userErrorCode`; anything else is a bug and is rethrown
 * with its stack.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const code = await runCommand(() => {
 *   throw new UserError("--epochs must be a whole number >= 1, got 'x'");
 * });
 * assert.equal(code, 2);
 * assert.equal(await runCommand(() => Promise.resolve(0)), 0);
 * ```
 */
export async function runCommand(
  body: () => Promise<number>,
  options: { usage?: string; userErrorCode?: number } = {},
): Promise<number> {
  try {
    return await body();
  } catch (e) {
    if (e instanceof HelpRequested && options.usage !== undefined) {
      console.log(options.usage);
      return 0;
    }
    const badFlag = (e as { code?: string }).code?.startsWith("ERR_PARSE_ARGS");
    if (isUserError(e) || badFlag) {
      console.error(`error: ${(e as Error).message}`);
      return options.userErrorCode ?? 2;
    }
    throw e;
  }
}

/**
 * A whole-number flag value >= 1, or undefined when the flag was not given.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(positiveInt("--repeat", "3"), 3);
 * assert.equal(positiveInt("--repeat", undefined), undefined);
 * assert.throws(() => positiveInt("--repeat", "0"), /--repeat must be a whole number >= 1/);
 * ```
 */
export function positiveInt(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UserError(`${flag} must be a whole number >= 1`);
  return n;
}
