/**
 * The error a user can fix, with no Deno or Node API so that the browser bundle (lib/web/) can
 * use it too; lib/util/errors.ts re-exports it with the command-line machinery.
 *
 * @module
 */

/** An error caused by user input; its message names the file or value and what to do. */
export class UserError extends Error {
  override name = "UserError";
}

/**
 * The first line of an error's message: enough for a one-line report.
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
