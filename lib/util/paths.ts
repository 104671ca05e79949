/**
 * Where the project is on disk, and what is at a path.
 * @module
 */
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The project root: the folder with deno.json, lib/, notebooks/ and node_modules/. */
export const PROJECT_ROOT: string = resolve(fileURLToPath(new URL("../..", import.meta.url)));

/** Stat, with a missing path (or a file where a folder was expected) as undefined. */
export async function statOrUndefined(path: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.stat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) {
      return undefined;
    }
    throw e;
  }
}
