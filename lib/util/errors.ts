/**
 * Errors that a user can fix, and the command-line policy for them: one `error:` line and exit
 * {@linkcode USER_ERROR_CODE}; anything else is a bug and keeps its stack.
 *
 * @module
 */
import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { firstLine, UserError } from "./user_error.ts";

/** The `values` that parseArgs gives for `options`, `--help` aside. */
type ParsedValues<O extends ParseArgsOptionsConfig> = ReturnType<
  typeof parseArgs<{ options: O; strict: true; allowPositionals: boolean }>
>["values"];

export { firstLine, UserError };

/** Thrown for `--help` / `-h`: {@linkcode runCommand} prints the usage and gives 0. */
export class HelpRequested extends Error {
  override name = "HelpRequested";
  constructor(readonly usage: string) {
    super("help requested");
  }
}

/** A mistake in the command line itself: reported with the usage after the error line. */
export class UsageError extends UserError {
  override name = "UsageError";
  constructor(message: string, readonly usage: string) {
    super(message);
  }
}

/**
 * Exit code of every command for every user error: one code, so a script tells "read the
 * `error:` line" (2) from a bug (1, Deno's code for an uncaught error) without knowing the command.
 */
export const USER_ERROR_CODE = 2;

/**
 * Run a command's body and return its exit code: `--help` prints the usage and gives 0; a
 * {@linkcode UserError} prints `error: <message>` (a usage error adds the usage) and gives
 * {@linkcode USER_ERROR_CODE}; anything else is rethrown with its stack.
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
export async function runCommand(body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (e) {
    if (e instanceof HelpRequested) {
      console.log(e.usage);
      return 0;
    }
    if (e instanceof UsageError || isParseArgsError(e)) {
      console.error(`error: ${oneLine(e.message)}`);
      if (e instanceof UsageError) console.error(e.usage);
      return USER_ERROR_CODE;
    }
    if (!(e instanceof UserError)) throw e;
    console.error(`error: ${e.message}`);
    return USER_ERROR_CODE;
  }
}

/** node:util's `parseArgs` rejects a flag with an error whose code starts ERR_PARSE_ARGS. */
function isParseArgsError(e: unknown): e is Error {
  return e instanceof Error && !!(e as { code?: string }).code?.startsWith("ERR_PARSE_ARGS");
}

/** parseArgs's messages may span lines; an error line is one line. */
function oneLine(message: string): string {
  return message.replace(/\s*\n\s*/g, " ").trim();
}

/**
 * Parse a command line with node:util's strict `parseArgs`, adding `--help` / `-h`. Entry points
 * call it before loading anything heavy, so `--help` never loads tfjs.
 *
 * @throws {HelpRequested} for `--help` or `-h`; {@linkcode UsageError} for a bad flag
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const spec = { usage: "usage: tool [--n N]", options: { n: { type: "string" as const } } };
 * assert.equal(parseCommandLine(["--n", "3"], spec).values.n, "3");
 * assert.throws(() => parseCommandLine(["-h"], spec), HelpRequested);
 * assert.throws(() => parseCommandLine(["--frobnicate"], spec), /Unknown option '--frobnicate'/);
 * ```
 */
export function parseCommandLine<const O extends ParseArgsOptionsConfig>(
  args: string[],
  spec: { options: O; usage: string; positionals?: boolean },
): { values: ParsedValues<O>; positionals: string[] } {
  const options = { ...spec.options, help: { type: "boolean", short: "h" } } as const;
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options,
      strict: true,
      allowPositionals: spec.positionals ?? false,
    });
  } catch (e) {
    if (!isParseArgsError(e)) throw e;
    throw new UsageError(oneLine(e.message), spec.usage);
  }
  if ((parsed.values as { help?: boolean }).help) throw new HelpRequested(spec.usage);
  return parsed as unknown as { values: ParsedValues<O>; positionals: string[] };
}

/**
 * A whole-number flag value (any sign: seeds may be 0 or negative), or undefined when not given.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(wholeNumber("--seed", "-3"), -3);
 * assert.equal(wholeNumber("--seed", undefined), undefined);
 * assert.throws(() => wholeNumber("--seed", "two"), /--seed must be a whole number, got 'two'/);
 * ```
 */
export function wholeNumber(flag: string, value: string | undefined, min = -Infinity) {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === "" || !Number.isInteger(n) || n < min) {
    const bound = min > -Infinity ? ` >= ${min}` : "";
    throw new UserError(`${flag} must be a whole number${bound}, got '${value}'`);
  }
  return n;
}

/**
 * A whole-number flag value >= 1, or undefined when the flag was not given.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(positiveInt("--repeat", "3"), 3);
 * assert.equal(positiveInt("--repeat", undefined), undefined);
 * assert.throws(() => positiveInt("--repeat", "0"), /--repeat must be a whole number >= 1, got '0'/);
 * ```
 */
export function positiveInt(flag: string, value: string | undefined): number | undefined {
  return wholeNumber(flag, value, 1);
}
