/**
 * The compute backend: `initBackend()` picks tfjs-node when its binding loads, else WebAssembly,
 * else cpu; env TFJS_BACKEND overrides. Import this module before anything else that uses tf.
 *
 * @module
 */
import nodeUtil from "node:util";
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { firstLine, UserError } from "../util/errors.ts";

export { tf };

/** Names accepted by TFJS_BACKEND and `initBackend`. */
const BACKENDS = ["tensorflow", "wasm", "cpu"] as const;
/** A backend name. */
type BackendName = typeof BACKENDS[number];

/** What `initBackend` chose and why. */
export interface BackendInfo {
  name: BackendName;
  /** Why a faster backend was not used, if one was skipped. */
  note?: string;
}

let active: Promise<BackendInfo> | undefined;

/**
 * Node.js functions tfjs-node 4.22 calls that Deno's `node:util` lacks (they were deprecated
 * in Node); supplied before tfjs-node loads. Without `isNullOrUndefined` the tensorflow
 * backend fails at its first OneHot.
 */
function supplyNodeUtil(): void {
  const util = nodeUtil as unknown as Record<string, unknown>;
  util.isNullOrUndefined ??= (value: unknown) => value === null || value === undefined;
}

/** Select and initialise the backend once per process (`preferred` default env TFJS_BACKEND). */
export function initBackend(preferred?: string): Promise<BackendInfo> {
  active ??= choose(preferred ?? Deno.env.get("TFJS_BACKEND") ?? undefined);
  return active;
}

async function choose(preferred: string | undefined): Promise<BackendInfo> {
  if (preferred !== undefined && !BACKENDS.includes(preferred as BackendName)) {
    throw new UserError(
      `unknown backend '${preferred}' (TFJS_BACKEND): use one of ${BACKENDS.join(", ")}`,
    );
  }
  const order: BackendName[] = preferred ? [preferred as BackendName] : [...BACKENDS];
  const skipped: string[] = [];
  for (const name of order) {
    const why = await tryBackend(name);
    if (why === undefined) {
      return { name, note: skipped.length ? skipped.join("; ") : undefined };
    }
    if (preferred) throw new UserError(`backend '${name}' could not start: ${why}`);
    skipped.push(`${name}: ${why}`);
  }
  throw new Error(`no tfjs backend could start: ${skipped.join("; ")}`);
}

/** Set environment variables the user has not set (libtensorflow reads them at start-up). */
function setDefaultEnv(values: Record<string, string>): void {
  for (const [name, value] of Object.entries(values)) {
    if (Deno.env.get(name) === undefined) Deno.env.set(name, value);
  }
}

/** Returns undefined on success, else the reason the backend is unusable. */
async function tryBackend(name: BackendName): Promise<string | undefined> {
  try {
    if (name === "tensorflow") {
      supplyNodeUtil();
      setDefaultEnv({
        // libtensorflow logs CPU features and more at start-up; keep its warnings and errors.
        TF_CPP_MIN_LOG_LEVEL: "2",
        // Eager ops allocate every output afresh, and through malloc the large ones are mmap'ed
        // and zeroed each time; TensorFlow's BFC allocator keeps and reuses them.
        TF_CPU_ALLOCATOR_USE_BFC: "true",
        // oneDNN's convolution kernels, which TensorFlow enables by default only on CPUs with
        // AVX512-VNNI/AMX, because their gradients are faster here too (docs/engines.md).
        // TF_ENABLE_ONEDNN_OPTS=0 turns it off.
        TF_ENABLE_ONEDNN_OPTS: "1",
      });
      const { quietLoad } = await import("./native_ops.ts");
      // The native binding is only present after `deno task setup`; elsewhere this throws.
      try {
        // TF_CPP_MIN_LOG_LEVEL also for the lines libtensorflow logs through absl as it loads.
        await quietLoad(() => import("@tensorflow/tfjs-node"));
      } catch (e) {
        if (/tfjs_binding\.node/.test(String(e))) {
          return "tfjs-node's native binding is not set up: run deno task setup (docs/engines.md)";
        }
        return `tfjs-node does not load (${firstLine(e)}): run deno task setup again`;
      }
      const { registerTensorflowKernels } = await import("./tensorflow_kernels.ts");
      registerTensorflowKernels();
    }
    if (name === "wasm") {
      const { registerWasmKernels } = await import("./wasm_kernels.ts");
      registerWasmKernels();
    }
    if (!(await tf.setBackend(name))) return "setBackend returned false";
    await tf.ready();
    return undefined;
  } catch (e) {
    return firstLine(e);
  }
}
