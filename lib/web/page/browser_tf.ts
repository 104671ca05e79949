/**
 * What the web page's bundle uses in place of lib/engine/backend.ts: the browser's tfjs (the
 * same npm package, without tfjs-node, the native ops or Deno's environment). Only `tf` is
 * exported; a module of the page that needs more of backend.ts fails to bundle, as it should.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

export { tf };
