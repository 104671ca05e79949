/**
 * The folder of images notebook 08 runs on in the tests' smoke build (tests/image_folder_fixture.ts:
 * six classes, PNG, JPEG, BMP and GIF of several sizes, a truncated JPEG, an empty file, a text
 * file named .png, hidden files), made once at a fixed path so that every test worker and
 * JupyterLab see the same folder and the same outputs.
 */
import { join } from "node:path";
import { makeImageFolder } from "./image_folder_fixture.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const FOLDER = join(ROOT, "build", "smoke-images", "flowers");

/**
 * The environment of the smoke build: `IMAGE_FOLDER`, the folder made if it is not there yet
 * (written beside it and renamed, so a parallel worker never sees half of it).
 */
export async function smokeNotebookEnv(): Promise<{ IMAGE_FOLDER: string }> {
  try {
    await Deno.stat(FOLDER);
  } catch {
    await Deno.mkdir(join(FOLDER, ".."), { recursive: true });
    const partial = await Deno.makeTempDir({ dir: join(FOLDER, ".."), prefix: ".partial-" });
    await makeImageFolder(join(partial, "flowers"));
    await Deno.rename(join(partial, "flowers"), FOLDER).catch(() => {}); // another worker's won
    await Deno.remove(partial, { recursive: true });
  }
  return { IMAGE_FOLDER: FOLDER };
}
