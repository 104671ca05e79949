/**
 * Image files in, CIFAR-sized pixels out: read a PNG or JPEG file of any size and bring it to
 * 32x32 ({@linkcode readCifarImage}), and write images as PNG files.
 *
 * Decoding, orientation, the centre crop and the area-average resize are in
 * lib/data/image_pixels.ts (re-exported here, with the reasons for each step), the part with no
 * file system that the web page (lib/web/) bundles too.
 *
 * @module
 */
import { dirname } from "node:path";
import { decodeImage, encodePng, type RgbImage, toCifarPixels } from "./image_pixels.ts";
import { firstLine, UserError } from "../util/errors.ts";

export * from "./image_pixels.ts";

/** An image file read for a model: its own size and the 32x32 pixels. */
export interface CifarImageFile {
  /** The path as given. */
  path: string;
  /** Width and height of the (upright) image in the file. */
  width: number;
  height: number;
  /** 32 x 32 x 3 bytes from {@linkcode toCifarPixels}. */
  pixels: Uint8Array;
}

/**
 * Read a PNG or JPEG file and bring it to 32x32 ({@linkcode decodeImage}, then
 * {@linkcode toCifarPixels}).
 *
 * @param path the file
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
export async function readCifarImage(path: string): Promise<CifarImageFile> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new UserError(`${path}: no such file; check the path`);
    }
    if (e instanceof Deno.errors.IsADirectory || (await isFolder(path))) {
      throw new UserError(`${path}: is a folder; name the image files inside it`);
    }
    throw new UserError(`${path}: cannot read it (${firstLine(e)})`);
  }
  const image = decodeImage(bytes, path);
  return { path, width: image.width, height: image.height, pixels: toCifarPixels(image) };
}

async function isFolder(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    return false;
  }
}

/**
 * Write an image as an 8-bit RGB PNG file, creating its folder.
 *
 * @param path where to write, e.g. `build/images/test_0.png`
 * @param image the image
 * @returns the path
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
