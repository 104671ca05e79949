/**
 * Install time: applies tfjs_node_binding.patch (list-valued attributes; the C++ diff says why)
 * to tfjs-node's binding sources with jsdiff, and keys the cached binding by the patch's bytes.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { relative } from "node:path";
import { fileURLToPath } from "node:url";
import { applyPatch, parsePatch, type StructuredPatch } from "diff";
import { PROJECT_ROOT } from "../../util/paths.ts";

const PATCH_PATH = fileURLToPath(new URL("./tfjs_node_binding.patch", import.meta.url));

/** The patch file's path from the project root, for messages. */
export const PATCH_FILE: string = relative(PROJECT_ROOT, PATCH_PATH);

const PATCH_BYTES = Deno.readFileSync(PATCH_PATH);
const PATCH: StructuredPatch = (() => {
  const files = parsePatch(new TextDecoder().decode(PATCH_BYTES));
  if (files.length !== 1 || !files[0].newFileName?.startsWith("b/")) {
    throw new Error(`${PATCH_FILE}: expected a diff of one file, named b/...`);
  }
  return files[0];
})();

/** The file the patch applies to, relative to the package: from the patch's `+++ b/...` line. */
export const PATCHED_FILE: string = PATCH.newFileName!.slice("b/".length);

/** Marks a patched source: the first comment the patch adds. */
const MARK: string = PATCH.hunks.flatMap((h) => h.lines)
  .map((line) => line.startsWith("+") ? line.slice(1).trim() : "")
  .find((added) => added.startsWith("//"))!;

/**
 * `tfjs_backend.cc` with the patch applied (a no-op the second time), or `undefined` when it does
 * not apply (another tfjs-node version).
 *

 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * // Not tfjs-node 4.22.0's source: the patch's context is not there.
 * assert.equal(patchBindingSource("int main() {}\n"), undefined);
 * // Already patched: returned as it is.
 * const patched = "// cifar100-ts: guards it, since gradient workers' bindings (other threads) insert too.\n";
 * assert.equal(patchBindingSource(patched), patched);
 * ```
 */
export function patchBindingSource(source: string): string | undefined {
  if (source.includes(MARK)) return source;
  const patched = applyPatch(source, PATCH);
  return patched === false ? undefined : patched;
}

/** A digest of the patch file's bytes, for cache keys: editing the patch rebuilds the binding. */
export const PATCH_VERSION: string = createHash("sha256").update(PATCH_BYTES).digest("hex")
  .slice(0, 8);
