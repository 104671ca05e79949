/**
 * One smoke-profile execution of all notebooks, shared by the tests that
 * need it (tests/notebooks_test.ts and tests/browser_test.ts run in parallel
 * under `deno test --parallel`, in separate workers).
 *
 * The first caller takes a lock (an atomic mkdir), executes every notebook
 * into build/notebooks and writes a stamp; the others wait for the lock and
 * reuse the result. The stamp holds a hash of the notebooks, lib/ and
 * deno.json, so a change to any of them makes the next test run execute again.
 *
 * @module
 */
import { basename, dirname, join } from "node:path";
import {
  DEFAULT_OUT_DIR,
  executeNotebooks,
  listNotebooks,
  YOUR_IMAGES_NOTEBOOK,
} from "../lib/notebooks/execute.ts";
import { PROJECT_ROOT } from "../lib/util/paths.ts";

async function* files(dir: string): AsyncGenerator<string> {
  const entries = [];
  for await (const e of Deno.readDir(dir)) entries.push(e);
  entries.sort((a, b) => a.name.localeCompare(b.name));
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isDirectory) yield* files(path);
    else if (e.isFile) yield path;
  }
}

/** Hash of everything the executed notebooks depend on. */
async function sourceKey(notebooks: string[], env: Record<string, string>): Promise<string> {
  const parts: string[] = ["smoke", JSON.stringify(env)];
  const paths = [...notebooks, join(PROJECT_ROOT, "deno.json")];
  for await (const path of files(join(PROJECT_ROOT, "lib"))) paths.push(path);
  for (const path of paths) parts.push(path, await Deno.readTextFile(path));
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(parts.join("\0")));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch {
    return undefined;
  }
}

/** The lock: a folder (mkdir is atomic) holding the owner's process id. */
const LOCK = join(PROJECT_ROOT, "build", ".notebooks-lock");

/** Whether the lock's owner has gone: its process no longer exists (killed), or, where /proc
 * cannot tell, the lock is older than 30 minutes. */
async function isStale(lock: string): Promise<boolean> {
  const pid = (await readText(join(lock, "pid")))?.trim();
  const age = Date.now() - ((await Deno.stat(lock).catch(() => null))?.mtime?.getTime() ?? 0);
  if (pid && /^\d+$/.test(pid) && (await Deno.stat("/proc/self").catch(() => null))) {
    return !(await Deno.stat(`/proc/${pid}`).catch(() => null));
  }
  // No pid yet: its owner is between mkdir and writing it, unless that was long ago.
  return age > (pid ? 30 * 60_000 : 60_000);
}

/**
 * Take the lock that serialises notebook executions that write runs/ and build/notebooks (the
 * smoke build here, the JupyterLab test), waiting while another holds it. A lock left by a
 * killed run is broken.
 *
 * @param lock the lock folder (tests give another)
 * @returns a function that releases the lock
 */
export async function acquireNotebooksLock(lock = LOCK): Promise<() => Promise<void>> {
  await Deno.mkdir(dirname(lock), { recursive: true });
  for (;;) {
    try {
      await Deno.mkdir(lock);
      await Deno.writeTextFile(join(lock, "pid"), String(Deno.pid));
      return () => Deno.remove(lock, { recursive: true }).catch(() => {});
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
      if (await isStale(lock)) await Deno.remove(lock, { recursive: true }).catch(() => {});
      else await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

/**
 * Make sure build/notebooks holds a smoke-profile execution of the current
 * notebooks, executing them at most once across parallel test workers.
 *
 * @param env more environment for the kernels: `IMAGE_FOLDER` for notebook 08 (the tests make
 *   the folder), without which the executor leaves 08 out
 * @returns the executed notebook paths (build/notebooks/NAME.ipynb)
 * @throws the executor's error, naming the notebook and cell that failed
 */
export async function ensureSmokeBuild(env: Record<string, string> = {}): Promise<string[]> {
  const notebooks = (await listNotebooks()).filter((n) =>
    env.IMAGE_FOLDER || basename(n) !== YOUR_IMAGES_NOTEBOOK
  );
  const outDir = join(PROJECT_ROOT, DEFAULT_OUT_DIR);
  const stamp = join(outDir, ".smoke-stamp");
  const outputs = notebooks.map((n) => join(outDir, n.split("/").pop()!));
  const key = await sourceKey(notebooks, env);
  for (;;) {
    if ((await readText(stamp)) === key) return outputs;
    const release = await acquireNotebooksLock();
    try {
      if ((await readText(stamp)) === key) return outputs; // finished while we waited
      await Deno.remove(stamp).catch(() => {});
      await executeNotebooks({ notebooks, outDir, profile: "smoke", log: () => {}, env });
      await Deno.writeTextFile(stamp, key);
      return outputs;
    } finally {
      await release();
    }
  }
}
