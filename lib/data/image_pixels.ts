/**
 * PNG or JPEG bytes in, model-sized pixels out, the same way for every image: EXIF orientation
 * applied (phones write it instead of rotating the pixels), the largest centred square cropped
 * (squashing a 4:3 photo would distort every shape by a third), then area averaging down
 * (OpenCV's INTER_AREA: every source pixel counts once, so fine texture averages out instead of
 * aliasing into moiré) or bilinear up. Transparency goes over white, greyscale to R=G=B.
 *
 * No Deno or Node API here: predict (through lib/data/images.ts) and the web page share it.
 *
 * @module
 */
import { convertIndexedToRgb, decode as decodePng, type DecodedPng, encode } from "fast-png";
import jpeg from "jpeg-js";
import { IMAGE_SIZE } from "./dataset.ts";
import { firstLine, UserError } from "../util/user_error.ts";

/** An 8-bit RGB image, row-major, 3 bytes per pixel. */
export interface RgbImage {
  width: number;
  height: number;
  /** `width * height * 3` bytes, index `(row * width + col) * 3 + channel`. */
  data: Uint8Array;
}

/** Largest image decoded, in megapixels (a 100 MP photo needs 300 MB as RGB). */
const MAX_MEGAPIXELS = 100;

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/**
 * Which image format `bytes` hold, from their first bytes (not the file name).
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(imageFormat(new Uint8Array([0xff, 0xd8, 0xff, 0xe0])), "jpeg");
 * assert.equal(imageFormat(new TextEncoder().encode("hello")), undefined);
 * ```
 */
export function imageFormat(bytes: Uint8Array): "png" | "jpeg" | undefined {
  if (PNG_SIGNATURE.every((b, i) => bytes[i] === b)) return "png";
  if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return "jpeg";
  return undefined;
}

/**
 * What a file's bytes look like when they are not PNG or JPEG, for error messages.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(looksLike(new TextEncoder().encode("%PDF-1.7")), "a PDF document");
 * ```
 */
export function looksLike(bytes: Uint8Array): string {
  const ascii = (start: number, end: number) => String.fromCharCode(...bytes.subarray(start, end));
  if (ascii(0, 4) === "GIF8") return "a GIF image";
  if (ascii(0, 4) === "RIFF" && ascii(8, 12) === "WEBP") return "a WebP image";
  if (ascii(4, 8) === "ftyp") {
    return /^(heic|heix|mif1|msf1|hevc)$/.test(ascii(8, 12)) ? "a HEIC image" : "an ISO media file";
  }
  if (ascii(0, 2) === "BM") return "a BMP image";
  if (ascii(0, 4) === "II*\0" || ascii(0, 4) === "MM\0*") return "a TIFF image";
  if (ascii(0, 4) === "%PDF") return "a PDF document";
  const head = bytes.subarray(0, 512);
  const text = head.every((b) => b === 9 || b === 10 || b === 13 || (b >= 32 && b !== 127));
  return text ? "text" : "an unknown format";
}

/**
 * Decode a PNG or JPEG file's bytes into upright 8-bit RGB, transparency over white.
 *
 * @throws {UserError} naming the file: empty, not a PNG or JPEG, damaged, or too large
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encode } from "fast-png";
 * const png = encode({ width: 2, height: 1, data: new Uint8Array([255, 0, 0, 0, 0, 255]), channels: 3 });
 * assert.deepEqual(decodeImage(png, "two.png"), {
 *   width: 2, height: 1, data: new Uint8Array([255, 0, 0, 0, 0, 255]),
 * });
 * ```
 */
export function decodeImage(bytes: Uint8Array, name = "image"): RgbImage {
  if (bytes.length === 0) throw new UserError(`${name}: the file is empty; give a PNG or JPEG`);
  const format = imageFormat(bytes);
  if (!format) {
    throw new UserError(
      `${name}: not a PNG or JPEG file (it looks like ${looksLike(bytes)}); ` +
        `give a .png, .jpg or .jpeg image, or convert it to one first`,
    );
  }
  let image: RgbImage;
  try {
    image = format === "png" ? pngToRgb(decodePng(bytes)) : decodeJpeg(bytes);
  } catch (e) {
    if (e instanceof UserError) throw new UserError(`${name}: ${e.message}`);
    const kind = format === "png" ? "PNG" : "JPEG";
    throw new UserError(
      `${name}: damaged or unsupported ${kind} (${firstLine(e)}); ` +
        `open it in an image editor and save it again as PNG or JPEG`,
    );
  }
  if (image.width < 1 || image.height < 1) {
    throw new UserError(`${name}: the image has no pixels (${image.width}x${image.height})`);
  }
  return format === "jpeg" ? applyOrientation(image, jpegOrientation(bytes)) : image;
}

/** Throws a {@linkcode UserError} for an image over {@linkcode MAX_MEGAPIXELS}. */
export function checkSize(width: number, height: number): void {
  if (width * height > MAX_MEGAPIXELS * 1e6) {
    throw new UserError(
      `the image is ${width}x${height}, over ${MAX_MEGAPIXELS} megapixels; scale it down first`,
    );
  }
}

function decodeJpeg(bytes: Uint8Array): RgbImage {
  try {
    const decoded = jpeg.decode(bytes, {
      useTArray: true,
      formatAsRGBA: false,
      maxResolutionInMP: MAX_MEGAPIXELS,
      maxMemoryUsageInMB: 4 * MAX_MEGAPIXELS,
    });
    return { width: decoded.width, height: decoded.height, data: decoded.data };
  } catch (e) {
    if (/maxResolutionInMP/.test(firstLine(e))) {
      throw new UserError(`the image is over ${MAX_MEGAPIXELS} megapixels; scale it down first`);
    }
    throw e;
  }
}

/** Any PNG colour type and bit depth to 8-bit RGB over white. */
function pngToRgb(png: DecodedPng): RgbImage {
  const { width, height } = png;
  checkSize(width, height);
  let channels = png.channels;
  let max = png.depth === 16 ? 65535 : (1 << png.depth) - 1;
  let samples: ArrayLike<number>;
  if (png.palette) {
    samples = convertIndexedToRgb(png);
    channels = png.palette[0].length; // 3, or 4 with a tRNS chunk
    max = 255;
  } else if (png.depth < 8) {
    samples = unpackBits(png.data, width, height, channels, png.depth);
  } else {
    samples = png.data;
  }
  // Greyscale or truecolour tRNS: one colour (raw sample values) that is fully transparent.
  const key = !png.palette && png.transparency?.length === channels ? png.transparency : undefined;
  const colour = channels >= 3 ? [0, 1, 2] : [0, 0, 0];
  const alpha = channels === 2 || channels === 4 ? channels - 1 : -1;
  const out = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++) {
    const s = p * channels;
    let a = alpha >= 0 ? samples[s + alpha] / max : 1;
    if (key && key.every((v, c) => samples[s + c] === v)) a = 0;
    for (let c = 0; c < 3; c++) {
      const value = (samples[s + colour[c]] / max) * 255;
      out[p * 3 + c] = Math.round(value * a + 255 * (1 - a));
    }
  }
  return { width, height, data: out };
}

/** Samples of fewer than 8 bits, rows padded to whole bytes, one number each. */
function unpackBits(
  data: ArrayLike<number>,
  width: number,
  height: number,
  channels: number,
  depth: number,
): Uint8Array {
  const perRow = width * channels;
  const rowBytes = Math.ceil((perRow * depth) / 8);
  const out = new Uint8Array(perRow * height);
  const mask = (1 << depth) - 1;
  for (let y = 0; y < height; y++) {
    for (let i = 0; i < perRow; i++) {
      const bit = i * depth;
      const byte = data[y * rowBytes + (bit >> 3)];
      out[y * perRow + i] = (byte >> (8 - depth - (bit & 7))) & mask;
    }
  }
  return out;
}

/** A JPEG's EXIF orientation, 1..8, from its APP1 segment; 1 when there is none. */
function jpegOrientation(bytes: Uint8Array): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 2; // after SOI
  while (at + 4 <= bytes.length && bytes[at] === 0xff) {
    const marker = bytes[at + 1];
    if (marker === 0xda || marker === 0xd9) break; // start of scan, end of image
    const length = view.getUint16(at + 2);
    const body = at + 4;
    const isExif = marker === 0xe1 && length >= 8 &&
      String.fromCharCode(...bytes.subarray(body, body + 6)) === "Exif\0\0";
    if (isExif) return tiffOrientation(view, body + 6, Math.min(at + 2 + length, bytes.length));
    at += 2 + length;
  }
  return 1;
}

function tiffOrientation(view: DataView, tiff: number, end: number): number {
  if (tiff + 8 > end) return 1;
  const order = view.getUint16(tiff);
  if (order !== 0x4949 && order !== 0x4d4d) return 1; // "II" little-endian, "MM" big-endian
  const little = order === 0x4949;
  const ifd = tiff + view.getUint32(tiff + 4, little);
  if (ifd + 2 > end) return 1;
  const entries = view.getUint16(ifd, little);
  for (let i = 0; i < entries; i++) {
    const entry = ifd + 2 + i * 12;
    if (entry + 12 > end) return 1;
    if (view.getUint16(entry, little) === 0x0112) {
      const value = view.getUint16(entry + 8, little);
      return value >= 1 && value <= 8 ? value : 1;
    }
  }
  return 1;
}

/**
 * An image as stored turned into the image as displayed, per an EXIF orientation (2..8; anything
 * else returns the image unchanged).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * // A 2x1 image, red then blue, rotated 90° clockwise: 1x2, red on top.
 * const image = { width: 2, height: 1, data: new Uint8Array([255, 0, 0, 0, 0, 255]) };
 * assert.deepEqual(applyOrientation(image, 6), {
 *   width: 1, height: 2, data: new Uint8Array([255, 0, 0, 0, 0, 255]),
 * });
 * ```
 */
export function applyOrientation(image: RgbImage, orientation: number): RgbImage {
  if (!(orientation >= 2 && orientation <= 8)) return image;
  const { width: w, height: h, data } = image;
  const swap = orientation >= 5;
  const width = swap ? h : w;
  const height = swap ? w : h;
  // Source column and row of the displayed pixel (x, y).
  const source: (x: number, y: number) => [number, number] = {
    2: (x: number, y: number) => [w - 1 - x, y],
    3: (x: number, y: number) => [w - 1 - x, h - 1 - y],
    4: (x: number, y: number) => [x, h - 1 - y],
    5: (x: number, y: number) => [y, x],
    6: (x: number, y: number) => [y, h - 1 - x],
    7: (x: number, y: number) => [w - 1 - y, h - 1 - x],
    8: (x: number, y: number) => [w - 1 - y, x],
  }[orientation] as (x: number, y: number) => [number, number];
  const out = new Uint8Array(data.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const [sx, sy] = source(x, y);
      const from = (sy * w + sx) * 3;
      out.set(data.subarray(from, from + 3), (y * width + x) * 3);
    }
  }
  return { width, height, data: out };
}

/**
 * The largest centred square of an image (an odd leftover pixel goes to the right or bottom).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const image = { width: 3, height: 1, data: new Uint8Array([1, 1, 1, 2, 2, 2, 3, 3, 3]) };
 * assert.deepEqual(centreCrop(image).data, new Uint8Array([2, 2, 2]));
 * ```
 */
export function centreCrop(image: RgbImage): RgbImage {
  const side = Math.min(image.width, image.height);
  if (image.width === side && image.height === side) return image;
  const left = Math.floor((image.width - side) / 2);
  const top = Math.floor((image.height - side) / 2);
  const out = new Uint8Array(side * side * 3);
  for (let y = 0; y < side; y++) {
    const from = ((top + y) * image.width + left) * 3;
    out.set(image.data.subarray(from, from + side * 3), y * side * 3);
  }
  return { width: side, height: side, data: out };
}

/** Per output index: the source indices it reads and their weights (summing to 1). */
function resampleWeights(from: number, to: number): { index: number[]; weight: number[] }[] {
  const scale = from / to;
  return Array.from({ length: to }, (_, o) => {
    const index: number[] = [];
    const weight: number[] = [];
    if (from >= to) {
      // Area: the source interval [o * scale, (o + 1) * scale), partial pixels by coverage.
      const start = o * scale;
      const end = (o + 1) * scale;
      for (let i = Math.floor(start); i < Math.min(Math.ceil(end), from); i++) {
        const covered = Math.min(end, i + 1) - Math.max(start, i);
        if (covered > 1e-12) {
          index.push(i);
          weight.push(covered / scale);
        }
      }
    } else {
      // Bilinear, half-pixel centres, clamped at the edges.
      const centre = Math.min(Math.max((o + 0.5) * scale - 0.5, 0), from - 1);
      const i = Math.floor(centre);
      const t = centre - i;
      index.push(i);
      weight.push(1 - t);
      if (t > 0) {
        index.push(i + 1);
        weight.push(t);
      }
    }
    return { index, weight };
  });
}

/**
 * Resize an image: area averaging along an axis that shrinks, bilinear with half-pixel centres
 * along one that grows, rounded to the nearest integer.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * // 4x1 -> 2x1: each output pixel averages two.
 * const image = { width: 4, height: 1, data: new Uint8Array([0, 0, 0, 10, 10, 10, 20, 20, 20, 40, 40, 40]) };
 * assert.deepEqual(resize(image, 2, 1).data, new Uint8Array([5, 5, 5, 30, 30, 30]));
 * ```
 */
export function resize(image: RgbImage, width: number, height: number): RgbImage {
  if (!(Number.isInteger(width) && Number.isInteger(height) && width >= 1 && height >= 1)) {
    throw new RangeError(`resize: width and height must be whole numbers >= 1`);
  }
  const { width: w, height: h, data } = image;
  const across = resampleWeights(w, width);
  const down = resampleWeights(h, height);
  // Horizontal pass: h rows of `width` pixels.
  const rows = new Float64Array(h * width * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < width; x++) {
      const { index, weight } = across[x];
      const to = (y * width + x) * 3;
      for (let k = 0; k < index.length; k++) {
        const from = (y * w + index[k]) * 3;
        rows[to] += data[from] * weight[k];
        rows[to + 1] += data[from + 1] * weight[k];
        rows[to + 2] += data[from + 2] * weight[k];
      }
    }
  }
  // Vertical pass.
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const { index, weight } = down[y];
    for (let i = 0; i < width * 3; i++) {
      let sum = 0;
      for (let k = 0; k < index.length; k++) sum += rows[index[k] * width * 3 + i] * weight[k];
      out[y * width * 3 + i] = Math.min(255, Math.max(0, Math.round(sum)));
    }
  }
  return { width, height, data: out };
}

/**
 * The name and version of what {@linkcode toCifarPixels} does, for run records and cache keys:
 * it changes whenever the pixels it gives for a file would change.
 */
export const PREPROCESSING = "centre-crop+area/1";

/**
 * The `size * size * 3` bytes a model sees of an upright image: centre-cropped and resized (see
 * the module doc). Folder training, predict and the web page all go through this one function.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const image = { width: 64, height: 48, data: new Uint8Array(64 * 48 * 3).fill(200) };
 * assert.deepEqual(toCifarPixels(image), new Uint8Array(32 * 32 * 3).fill(200));
 * assert.equal(toCifarPixels(image, 96).length, 96 * 96 * 3);
 * ```
 */
export function toCifarPixels(image: RgbImage, size: number = IMAGE_SIZE): Uint8Array {
  return resize(centreCrop(image), size, size).data;
}

/**
 * One image of an NHWC uint8 batch of square images (a view, not a copy).
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const images = new Uint8Array(2 * 4 * 4 * 3).fill(7, 48);
 * assert.deepEqual(cifarImage(images, 1, 4), { width: 4, height: 4, data: images.subarray(48) });
 * ```
 */
export function cifarImage(images: Uint8Array, index: number, size: number = IMAGE_SIZE): RgbImage {
  const bytes = size * size * 3;
  const start = index * bytes;
  if (!Number.isInteger(index) || index < 0 || start + bytes > images.length) {
    throw new RangeError(`image ${index} is outside the ${images.length / bytes} images`);
  }
  return { width: size, height: size, data: images.subarray(start, start + bytes) };
}

/**
 * Encode an image as an 8-bit RGB PNG.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const image = { width: 1, height: 1, data: new Uint8Array([1, 2, 3]) };
 * assert.deepEqual(decodeImage(encodePng(image)), image);
 * ```
 */
export function encodePng(image: RgbImage): Uint8Array {
  const { width, height, data } = image;
  return encode({ width, height, data, channels: 3, depth: 8 });
}

/**
 * Enlarge an image by a whole factor, each pixel becoming a `factor` x `factor` block
 * (nearest neighbour: crisp pixels where a browser would blur a small picture).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const image = { width: 1, height: 1, data: new Uint8Array([9, 8, 7]) };
 * assert.deepEqual(enlarge(image, 2).data, new Uint8Array([9, 8, 7, 9, 8, 7, 9, 8, 7, 9, 8, 7]));
 * ```
 */
export function enlarge(image: RgbImage, factor: number): RgbImage {
  if (!Number.isInteger(factor) || factor < 1) {
    throw new RangeError(`enlarge: factor must be a whole number >= 1, got ${factor}`);
  }
  const width = image.width * factor;
  const height = image.height * factor;
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const from = (Math.floor(y / factor) * image.width + Math.floor(x / factor)) * 3;
      out.set(image.data.subarray(from, from + 3), (y * width + x) * 3);
    }
  }
  return { width, height, data: out };
}
