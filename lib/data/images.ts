/**
 * Image files in, model-sized pixels out, and PNG files written; re-exports the pixel work
 * (lib/data/image_pixels.ts, which the web page bundles too) and the other formats
 * (lib/data/image_decode.ts).
 *
 * @module
 */
import { dirname } from "node:path";
import { IMAGE_SIZE } from "./dataset.ts";
import { decodeImageFile } from "./image_decode.ts";
import { encodePng, type RgbImage, toCifarPixels } from "./image_pixels.ts";
import { firstLine, UserError } from "../util/errors.ts";

export * from "./image_pixels.ts";
export * from "./image_decode.ts";

/** An image file read for a model: its upright size and the pixels at the model's input size. */
export interface CifarImageFile {
  path: string;
  width: number;
  height: number;
  pixels: Uint8Array;
}

/**
 * Read an image file and bring it to `size` x `size`, as predict does.
 *
 * @throws {UserError} naming the file: missing, a folder, unreadable, or not a usable image
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const path = `${await Deno.makeTempDir()}/grey.png`;
 * await writePng(path, { width: 64, height: 48, data: new Uint8Array(64 * 48 * 3).fill(90) });
 * const { pixels, width, height } = await readCifarImage(path);
 * assert.deepEqual([width, height, pixels.length, pixels[0]], [64, 48, 3072, 90]);
 * ```
 */
export async function readCifarImage(
  path: string,
  size: number = IMAGE_SIZE,
): Promise<CifarImageFile> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new UserError(`${path}: no such file; check the path`);
    }
    const folder = await Deno.stat(path).then((info) => info.isDirectory, () => false);
    if (e instanceof Deno.errors.IsADirectory || folder) {
      throw new UserError(`${path}: is a folder; name the image files inside it`);
    }
    throw new UserError(`${path}: cannot read it (${firstLine(e)})`);
  }
  const image = await decodeImageFile(bytes, path);
  return { path, width: image.width, height: image.height, pixels: toCifarPixels(image, size) };
}

/**
 * Write an image as an 8-bit RGB PNG file, creating its folder.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeImage } from "./image_pixels.ts";
 * const path = `${await Deno.makeTempDir()}/images/one.png`;
 * await writePng(path, { width: 1, height: 1, data: new Uint8Array([1, 2, 3]) });
 * assert.deepEqual(decodeImage(await Deno.readFile(path)).data, new Uint8Array([1, 2, 3]));
 * ```
 */
export async function writePng(path: string, image: RgbImage): Promise<string> {
  await Deno.mkdir(dirname(path), { recursive: true });
  await Deno.writeFile(path, encodePng(image));
  return path;
}
