/**
 * The page's stand-in for lib/engine/native_ops.ts: a browser has no native library.
 *
 * @module
 */

/** No native ops in a browser: always false. */
export function loadNativeOps(): boolean {
  return false;
}
