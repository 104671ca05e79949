/**
 * The error a user can fix, without the command-line machinery of lib/util/errors.ts (which
 * re-exports all of this): plain TypeScript with no Deno or Node API, so that modules bundled
 * for the browser (lib/web/) can throw and recognise it too.
 *
 * @module
 */

/** An error caused by user input; its message names the file or value and what to do. */
export class UserError extends Error {
  override name = "UserError";
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
