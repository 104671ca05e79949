/**
 * Loads the project's own TensorFlow ops (install/native_ops.cc, built by `deno task setup`) into
 * the running libtensorflow with Deno's FFI.
 *
 * @module
 */
import { join } from "node:path";
import { PROJECT_ROOT } from "../util/paths.ts";

/** The ops library's file name, next to tfjs_binding.node. */
export const NATIVE_OPS_LIBRARY = "cifar100_ops.so";

const NATIVE_OPS_PATH = join(
  PROJECT_ROOT,
  "node_modules/@tensorflow/tfjs-node/lib/napi-v8",
  NATIVE_OPS_LIBRARY,
);

let loaded: boolean | undefined;

/**
 * Load and register the ops once; false (not an error) where setup did not build them or FFI is
 * not permitted: the kernels then keep TensorFlow's own ops.
 */
export function loadNativeOps(): boolean {
  if (loaded !== undefined) return loaded;
  try {
    Deno.statSync(NATIVE_OPS_PATH);
    const library = Deno.dlopen(NATIVE_OPS_PATH, {
      cifar100_register_ops: { parameters: [], result: "i32" },
    });
    // Kept open for the life of the process: TensorFlow holds the kernels' code.
    loaded = library.symbols.cifar100_register_ops() === 0;
  } catch {
    loaded = false;
  }
  return loaded;
}

/**
 * Run `load` (the import of tfjs-node) with stderr pointed at /dev/null when
 * `TF_CPP_MIN_LOG_LEVEL` asks for quiet: TensorFlow logs through absl while it loads, which
 * ignores that variable. Failures still surface as exceptions.
 */
export async function quietLoad<T>(load: () => Promise<T>): Promise<T> {
  if (!(Number(Deno.env.get("TF_CPP_MIN_LOG_LEVEL") ?? 0) >= 1)) return await load();
  let libc;
  try {
    libc = Deno.dlopen("libc.so.6", {
      open: { parameters: ["buffer", "i32"], result: "i32" },
      dup: { parameters: ["i32"], result: "i32" },
      dup2: { parameters: ["i32", "i32"], result: "i32" },
      close: { parameters: ["i32"], result: "i32" },
    });
  } catch {
    return await load();
  }
  const { open, dup, dup2, close } = libc.symbols;
  const saved = dup(2);
  const devNull = open(new TextEncoder().encode("/dev/null\0"), 1 /* O_WRONLY */);
  try {
    if (saved >= 0 && devNull >= 0) dup2(devNull, 2);
    return await load();
  } finally {
    if (saved >= 0) {
      dup2(saved, 2);
      close(saved);
    }
    if (devNull >= 0) close(devNull);
    libc.close();
  }
}
