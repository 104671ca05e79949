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
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { DEFAULT_OUT_DIR, executeNotebooks, listNotebooks } from "./execute.ts";

const ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));

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
async function sourceKey(notebooks: string[]): Promise<string> {
  const parts: string[] = ["smoke"];
  const paths = [...notebooks, join(ROOT, "deno.json")];
  for await (const path of files(join(ROOT, "lib"))) paths.push(path);
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

/**
 * Make sure build/notebooks holds a smoke-profile execution of the current
 * notebooks, executing them at most once across parallel test workers.
 *
 * @returns the executed notebook paths (build/notebooks/NAME.ipynb)
 * @throws the executor's error, naming the notebook and cell that failed
 */
export async function ensureSmokeBuild(): Promise<string[]> {
  const notebooks = await listNotebooks();
  const outDir = join(ROOT, DEFAULT_OUT_DIR);
  const stamp = join(outDir, ".smoke-stamp");
  const lock = join(ROOT, "build", ".notebooks-lock");
  const outputs = notebooks.map((n) => join(outDir, n.split("/").pop()!));
  const key = await sourceKey(notebooks);
  await Deno.mkdir(join(ROOT, "build"), { recursive: true });
  for (let waited = 0;; waited += 1) {
    if ((await readText(stamp)) === key) return outputs;
    try {
      await Deno.mkdir(lock);
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
      const age = Date.now() - ((await Deno.stat(lock)).mtime?.getTime() ?? Date.now());
      if (age > 30 * 60_000) await Deno.remove(lock, { recursive: true }); // left by a killed run
      await new Promise((r) => setTimeout(r, 1000));
      continue;
    }
    try {
      if ((await readText(stamp)) === key) return outputs; // finished while we waited
      await Deno.remove(stamp).catch(() => {});
      await executeNotebooks({ notebooks, outDir, profile: "smoke", log: () => {} });
      await Deno.writeTextFile(stamp, key);
      return outputs;
    } finally {
      await Deno.remove(lock, { recursive: true });
    }
  }
}
