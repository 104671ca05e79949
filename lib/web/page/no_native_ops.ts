/**
 * What the web page's bundle uses in place of lib/engine/native_ops.ts: there is no native
 * library in a browser. The project's layers call it only on the tensorflow backend, which a
 * page never has, so this only answers "not loaded".
 *
 * @module
 */

/** No native ops in a browser: always false. */
export function loadNativeOps(): boolean {
  return false;
}
