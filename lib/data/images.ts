/**
 * Image files in, model-sized pixels out: read an image file of any size and format (PNG, JPEG,
 * BMP, GIF, WebP) and bring it to a model's input size ({@linkcode readCifarImage}), and write
 * images as PNG files.
 *
 * Decoding, orientation, the centre crop and the area-average resize are in
 * lib/data/image_pixels.ts (re-exported here, with the reasons for each step), the part with no
 * file system that the web page (lib/web/) bundles too; the other formats are in
 * lib/data/image_decode.ts (re-exported too).
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

/** An image file read for a model: its own size and the pixels at the model's input size. */
export interface CifarImageFile {
  /** The path as given. */
  path: string;
  /** Width and height of the (upright) image in the file. */
  width: number;
  height: number;
  /** `size * size * 3` bytes from {@linkcode toCifarPixels}. */
  pixels: Uint8Array;
}

/**
 * Read an image file and bring it to `size` x `size` ({@linkcode decodeImageFile}, then
 * {@linkcode toCifarPixels}): what predict does, and what the folder loader
 * (lib/data/image_folder.ts) does to every file.
 *
 * @param size the model's input side (default 32, {@linkcode IMAGE_SIZE})
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
 *
 * @param path where to write, e.g. `build/images/test_0.png`
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
