/**
 * The page's stand-in for lib/engine/backend.ts: the browser's tfjs. Only `tf`, so a page module
 * that needs more of backend.ts fails to bundle, as it should.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

export { tf };
