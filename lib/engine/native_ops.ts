/**
 * Loading the project's own TensorFlow ops (lib/engine/native_ops.cc), built by
 * `deno task setup` next to tfjs-node's binding, into the running libtensorflow with Deno's FFI.
 *
 * @module
 */
import { join } from "node:path";
import { PROJECT_ROOT } from "../util/paths.ts";

/** The ops library's file name, next to tfjs_binding.node. */
export const NATIVE_OPS_LIBRARY = "cifar100_ops.so";

/** Where setup puts the library for the tfjs-node package in `root`'s node_modules. */
export function nativeOpsPath(root = PROJECT_ROOT): string {
  return join(
    root,
    "node_modules",
    "@tensorflow",
    "tfjs-node",
    "lib",
    "napi-v8",
    NATIVE_OPS_LIBRARY,
  );
}

let loaded: boolean | undefined;

/**
 * Load and register the ops once; true when they are available. False (not an error) where
 * setup did not build them (no compiler) or FFI is not permitted: the kernels then keep
 * TensorFlow's own ops.
 */
export function loadNativeOps(path = nativeOpsPath()): boolean {
  if (loaded !== undefined) return loaded;
  try {
    Deno.statSync(path);
    const library = Deno.dlopen(path, { cifar100_register_ops: { parameters: [], result: "i32" } });
    // Kept open for the life of the process: TensorFlow holds the kernels' code.
    loaded = library.symbols.cifar100_register_ops() === 0;
  } catch {
    loaded = false;
  }
  return loaded;
}
