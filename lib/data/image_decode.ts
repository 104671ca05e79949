/**
 * Every image format a folder may hold, decoded to upright 8-bit RGB, the format read from the
 * first bytes, never the name: PNG and JPEG through lib/data/image_pixels.ts, BMP (bmp-ts), GIF's
 * first frame (omggif) and WebP (@jsquash/webp). BMP's fourth channel is ignored, as TensorFlow's
 * decode_bmp does, since most 32-bit BMPs leave it at 0. Not bundled for the web page: bmp-ts
 * reads a node:buffer Buffer.
 *
 * @module
 */
import { Buffer } from "node:buffer";
// @ts-types="./bmp_ts.d.ts"
import { decode as decodeBmp } from "bmp-ts";
// @ts-types="npm:@types/omggif@1.0.5"
import { GifReader } from "omggif";
import { checkSize, decodeImage, imageFormat, looksLike, type RgbImage } from "./image_pixels.ts";
import { firstLine, UserError } from "../util/user_error.ts";

/** File name endings read as images, lowercase: Keras's list, plus WebP. */
export const IMAGE_EXTENSIONS: readonly string[] = [
  ".bmp",
  ".gif",
  ".jpeg",
  ".jpg",
  ".png",
  ".webp",
];

const FORMATS = "PNG, JPEG, BMP, GIF or WebP";

/** A file that cannot be used as an image; the folder loader skips it with `reason`. */
export class ImageFileError extends UserError {
  override name = "ImageFileError";
  constructor(readonly file: string, readonly reason: string) {
    super(`${file}: ${reason}`);
  }
}

type ExtraFormat = "bmp" | "gif" | "webp";

/** BMP, GIF or WebP from the first bytes; PNG and JPEG are {@linkcode imageFormat}'s. */
function extraFormat(bytes: Uint8Array): ExtraFormat | undefined {
  const ascii = (start: number, end: number) => String.fromCharCode(...bytes.subarray(start, end));
  if (ascii(0, 2) === "BM") return "bmp";
  if (ascii(0, 6) === "GIF87a" || ascii(0, 6) === "GIF89a") return "gif";
  if (ascii(0, 4) === "RIFF" && ascii(8, 12) === "WEBP") return "webp";
  return undefined;
}

/**
 * Decode an image file's bytes into upright 8-bit RGB, transparency over white; PNG and JPEG
 * exactly as {@linkcode decodeImage} does.
 *
 * @throws {ImageFileError} naming the file: empty, not an image, damaged, or too large
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { GifWriter } from "omggif";
 * const gif = new Uint8Array(100);
 * const writer = new GifWriter(gif, 2, 1, { palette: [0xff0000, 0x0000ff] });
 * writer.addFrame(0, 0, 2, 1, [0, 1]);
 * const image = await decodeImageFile(gif.subarray(0, writer.end()), "two.gif");
 * assert.deepEqual(image.data, new Uint8Array([255, 0, 0, 0, 0, 255]));
 * await assert.rejects(decodeImageFile(new Uint8Array(0), "x.png"), /^ImageFileError: x.png: the file is empty/);
 * ```
 */
export async function decodeImageFile(bytes: Uint8Array, name: string): Promise<RgbImage> {
  if (bytes.length === 0) throw new ImageFileError(name, "the file is empty");
  const format = extraFormat(bytes);
  if (!format) {
    if (!imageFormat(bytes)) {
      const looks = looksLike(bytes);
      throw new ImageFileError(
        name,
        `not a ${FORMATS} file (it looks like ${looks}); convert it to one of them`,
      );
    }
    try {
      return decodeImage(bytes, name);
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      const prefix = `${name}: `;
      const reason = e.message.startsWith(prefix) ? e.message.slice(prefix.length) : e.message;
      throw new ImageFileError(name, reason);
    }
  }
  let image: RgbImage;
  try {
    image = format === "bmp"
      ? bmpToRgb(bytes)
      : format === "gif"
      ? gifToRgb(bytes)
      : await webpToRgb(bytes);
  } catch (e) {
    if (e instanceof UserError) throw new ImageFileError(name, e.message);
    const reason = `damaged or unsupported ${format.toUpperCase()} (${firstLine(e)})`;
    throw new ImageFileError(name, `${reason}; open it in an image editor and save it again`);
  }
  if (image.width < 1 || image.height < 1) {
    throw new ImageFileError(name, `the image has no pixels (${image.width}x${image.height})`);
  }
  return image;
}

/** BMP of any bit depth (bmp-ts: 1, 4, 8 with a palette, 16, 24, 32; RLE), alpha ignored. */
function bmpToRgb(bytes: Uint8Array): RgbImage {
  if (bytes.length < 26) throw new Error("the header is cut short");
  const header = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // Checked before decoding: bmp-ts allocates width x height x 4 bytes from the header alone.
  const width = Math.abs(header.getInt32(18, true));
  checkSize(width, Math.abs(header.getInt32(22, true)));
  const bits = header.getUint16(28, true);
  const compression = bytes.length >= 34 ? header.getUint32(30, true) : 0;
  if (bits === 4 && compression === 0 && width % 2 === 1) {
    // bmp-ts 1.0.9 stops after the first row of these (its 4-bit loop returns early): refused
    // rather than read wrong.
    throw new UserError("a 4-bit BMP of odd width, which is not read; save it as a 24-bit BMP");
  }
  const decoded = decodeBmp(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  const height = decoded.height;
  const abgr = decoded.data;
  if (abgr.length < width * height * 4) throw new Error("the pixel data is cut short");
  const out = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++) {
    out[p * 3] = abgr[p * 4 + 3];
    out[p * 3 + 1] = abgr[p * 4 + 2];
    out[p * 3 + 2] = abgr[p * 4 + 1];
  }
  return { width, height, data: out };
}

/** A GIF's first frame, drawn on its transparent canvas, over white. */
function gifToRgb(bytes: Uint8Array): RgbImage {
  const reader = new GifReader(bytes);
  const { width, height } = reader;
  checkSize(width, height);
  const rgba = new Uint8Array(width * height * 4);
  reader.decodeAndBlitFrameRGBA(0, rgba);
  return compositeOverWhite(width, height, rgba);
}

/** WebP through libwebp (WebAssembly, loaded on the first WebP only). */
async function webpToRgb(bytes: Uint8Array): Promise<RgbImage> {
  const { decode } = await import("@jsquash/webp");
  const copy = bytes.slice().buffer; // the decoder takes a whole ArrayBuffer
  const decoded = await decode(copy);
  return compositeOverWhite(decoded.width, decoded.height, decoded.data);
}

/** 8-bit RGBA to RGB over white, with the same arithmetic as image_pixels.ts uses for PNG. */
function compositeOverWhite(width: number, height: number, rgba: ArrayLike<number>): RgbImage {
  const out = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++) {
    const a = rgba[p * 4 + 3] / 255;
    for (let c = 0; c < 3; c++) {
      const value = (rgba[p * 4 + c] / 255) * 255;
      out[p * 3 + c] = Math.round(value * a + 255 * (1 - a));
    }
  }
  return { width, height, data: out };
}
