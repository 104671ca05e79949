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
