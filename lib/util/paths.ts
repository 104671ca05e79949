/**
 * Where the project is on disk.
 * @module
 */
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The project root: the folder with deno.json, lib/, notebooks/ and node_modules/. */
export const PROJECT_ROOT: string = resolve(fileURLToPath(new URL("../..", import.meta.url)));
