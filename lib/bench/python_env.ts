/**
 * Python virtual environments for the benchmark's reference scripts, kept under the cache
 * folder (`<cache>/bench/<name>/`) and created once per package list.
 *
 * @module
 */
import { join } from "node:path";
import { cacheRoot } from "../util/cache.ts";
import { exists, findPython, run } from "../util/process.ts";

/** Where the environment `name` lives: `<cache>/bench/<name>`. */
export function benchEnvDir(name: string): string {
  return join(cacheRoot(), "bench", name);
}

/**
 * The interpreter of a virtual environment with `packages`, created once and reused while its
 * `.ready` file lists the same packages.
 */

export async function pythonEnv(
  name: string,
  packages: string[],
  log: (line: string) => void,
): Promise<string> {
  const dir = benchEnvDir(name);
  const python = join(dir, "bin", "python");
  const ready = join(dir, ".ready");
  const wanted = packages.join(" ");
  if (await exists(ready) && await Deno.readTextFile(ready) === wanted) return python;
  const base = await findPython(`for the ${name} reference`);
  log(`Creating ${dir} with ${packages.join(", ")} (once; a few minutes)`);
  await run(base, ["-m", "venv", "--clear", dir], { what: `python -m venv ${dir}` });
  await run(python, ["-m", "pip", "install", "--quiet", ...packages], {
    what: `pip install ${wanted}`,
    inherit: true,
    hint: "check pip's index or network",
  });
  // Written last: an interrupted install is redone next time.
  await Deno.writeTextFile(ready, wanted);
  return python;
}
