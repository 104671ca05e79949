/**
 * Folders of images for the folder loader's tests (tests/image_folder_test.ts) and whoever needs
 * one: {@linkcode makeImageFolder} writes six classes of PNG, JPEG, BMP, GIF and WebP files of
 * several sizes and aspect ratios (RGBA, greyscale, 16-bit, palette, an EXIF-rotated JPEG, one
 * in a nested folder), with the bad and the ignored files a real folder has: a truncated JPEG,
 * a text file named `.png`, an empty `.jpg`, `.DS_Store` files, a hidden folder with an image in
 * it, a non-image file and a file beside the class folders. It returns what a loader must find.
 * Photo-sized folders for load timings are lib/bench/image_folder.ts's.
 */
import { dirname, join } from "node:path";
import { encode as encodePng } from "fast-png";
import jpeg from "jpeg-js";
import { GifWriter } from "omggif";
import { encode as encodeWebp } from "@jsquash/webp";

/** What {@linkcode makeImageFolder} wrote. */
export interface ImageFolderFixture {
  dir: string;
  /** Class names in code-point order. */
  classNames: string[];
  /** Usable image files per class, relative paths. */
  images: Map<string, string[]>;
  /** Files that must be skipped, and a pattern for each one's reason. */
  bad: { path: string; reason: RegExp }[];
  /** What must be counted as ignored. */
  ignored: { hidden: number; notImages: number; outsideClasses: number };
  /** A JPEG whose EXIF orientation turns it (relative path). */
  rotated: string;
}

/** Class names: code-point order puts "Zebra" first and "élan" last (a locale sort would not). */
const CLASSES = ["apple", "Zebra", "cherry", "élan", "date", "banana"];
/** Usable images per class, in CLASSES order: sizes that round differently at 20 %. */
const COUNTS = [7, 5, 12, 3, 9, 6];

/** A class's colour, far from every other class's, so pixels say which class a file is. */
function colourOf(label: number): [number, number, number] {
  return [40 + 40 * label, 230 - 35 * label, (97 * label) % 256];
}

/** RGBA pixels: the class colour with a diagonal ramp (so crops and rotations show). */
function picture(width: number, height: number, label: number, variant: number): Uint8Array {
  const [r, g, b] = colourOf(label);
  const out = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const ramp = Math.round((20 * (x + y)) / (width + height)) + variant;
      out.set([(r + ramp) & 255, (g + ramp) & 255, (b + 2 * ramp) & 255, 255], (y * width + x) * 4);
    }
  }
  return out;
}

const rgbOf = (rgba: Uint8Array) => rgba.filter((_, i) => i % 4 !== 3);

function jpegFile(width: number, height: number, rgba: Uint8Array): Uint8Array {
  return new Uint8Array(jpeg.encode({ data: rgba, width, height }, 90).data);
}

/** A JPEG with an EXIF APP1 segment right after SOI (little-endian TIFF, one IFD entry). */
export function withOrientation(file: Uint8Array, orientation: number): Uint8Array {
  const tiff = [0x49, 0x49, 0x2a, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0];
  const body = [...new TextEncoder().encode("Exif\0\0"), ...tiff, orientation, 0, 0, 0, 0, 0, 0, 0];
  const length = body.length + 2;
  return new Uint8Array([
    0xff,
    0xd8,
    0xff,
    0xe1,
    length >> 8,
    length & 255,
    ...body,
    ...file.slice(2),
  ]);
}

/**
 * An uncompressed BMP: 24-bit from RGBA, or 8-bit with `palette` and one index per pixel; rows
 * bottom-up (or top-down: a negative height).
 */
export function bmpFile(
  width: number,
  height: number,
  pixels: { rgba: Uint8Array } | { palette: number[][]; indices: Uint8Array },
  topDown = false,
): Uint8Array {
  const bits = "rgba" in pixels ? 24 : 8;
  const colours = "palette" in pixels ? pixels.palette.length : 0;
  const rowBytes = Math.ceil((width * bits) / 32) * 4;
  const offset = 54 + colours * 4;
  const out = new Uint8Array(offset + rowBytes * height);
  const view = new DataView(out.buffer);
  out.set([0x42, 0x4d]);
  view.setUint32(2, out.length, true);
  view.setUint32(10, offset, true);
  view.setUint32(14, 40, true);
  view.setInt32(18, width, true);
  view.setInt32(22, topDown ? -height : height, true);
  view.setUint16(26, 1, true);
  view.setUint16(28, bits, true);
  view.setUint32(34, rowBytes * height, true);
  view.setUint32(46, colours, true);
  if ("palette" in pixels) {
    pixels.palette.forEach(([r, g, b], i) => out.set([b, g, r, 0], 54 + 4 * i));
  }
  for (let y = 0; y < height; y++) {
    const row = offset + (topDown ? y : height - 1 - y) * rowBytes;
    for (let x = 0; x < width; x++) {
      const p = y * width + x;
      if ("rgba" in pixels) {
        const [r, g, b] = pixels.rgba.subarray(p * 4, p * 4 + 3);
        out.set([b, g, r], row + 3 * x);
      } else out[row + x] = pixels.indices[p];
    }
  }
  return out;
}

/** A one-frame GIF with a 4-colour palette; index 3 is transparent. */
export function gifFile(width: number, height: number, indices: number[], palette: number[]) {
  const buffer = new Uint8Array(1024 + width * height * 2);
  const writer = new GifWriter(buffer, width, height, { palette });
  writer.addFrame(0, 0, width, height, indices, { transparent: 3 });
  return buffer.slice(0, writer.end());
}

/** One usable image of class `label` (the `k`-th), in a format and shape picked by `k`. */
async function imageFile(label: number, k: number): Promise<{ name: string; bytes: Uint8Array }> {
  const [r, g, b] = colourOf(label);
  const sizes = [[40, 30], [24, 48], [33, 33], [64, 20], [17, 25], [50, 50]];
  const [w, h] = sizes[(label + k) % sizes.length];
  const rgba = picture(w, h, label, k);
  switch (k % 7) {
    case 0:
      return {
        name: `p${k}.png`,
        bytes: encodePng({ width: w, height: h, data: rgbOf(rgba), channels: 3 }),
      };
    case 1: { // RGBA, the left half half transparent
      for (let p = 0; p < w * h; p++) if (p % w < w / 2) rgba[p * 4 + 3] = 128;
      return {
        name: `a${k}.PNG`,
        bytes: encodePng({ width: w, height: h, data: rgba, channels: 4 }),
      };
    }
    case 2: { // greyscale, 16 bits
      const grey = Uint16Array.from({ length: w * h }, (_, p) => (r * 200 + (p % w) * 97) & 0xffff);
      return {
        name: `g${k}.png`,
        bytes: encodePng({ width: w, height: h, data: grey, channels: 1, depth: 16 }),
      };
    }
    case 3:
      return { name: `j${k}.jpg`, bytes: jpegFile(w, h, rgba) };
    case 4: {
      const palette = [[r, g, b], [255 - r, 255 - g, 255 - b], [g, b, r]];
      const indices = Uint8Array.from({ length: w * h }, (_, p) => (p + Math.floor(p / w)) % 3);
      return {
        name: `b${k}.bmp`,
        bytes: bmpFile(w, h, k % 2 ? { palette, indices } : { rgba }, k > 7),
      };
    }
    case 5: {
      const palette = [
        (r << 16) | (g << 8) | b,
        0xffffff - ((r << 16) | (g << 8) | b),
        0x102030,
        0,
      ];
      const indices = Array.from({ length: w * h }, (_, p) => (p % 5 === 0 ? 3 : p % 3));
      return { name: `f${k}.gif`, bytes: gifFile(w, h, indices, palette) };
    }
    default: {
      const data = new Uint8ClampedArray(rgba);
      const webp = await encodeWebp({ width: w, height: h, data, colorSpace: "srgb" } as ImageData);
      return { name: `w${k}.webp`, bytes: new Uint8Array(webp) };
    }
  }
}

async function write(path: string, bytes: Uint8Array | string): Promise<void> {
  await Deno.mkdir(dirname(path), { recursive: true });
  if (typeof bytes === "string") await Deno.writeTextFile(path, bytes);
  else await Deno.writeFile(path, bytes);
}

/**
 * Write the test folder (see the module doc) into `dir`, which may not exist yet.
 *
 * @param dir where
 * @returns what a loader must find there
 */
export async function makeImageFolder(dir: string): Promise<ImageFolderFixture> {
  const images = new Map<string, string[]>();
  for (const [label, name] of CLASSES.entries()) {
    const paths = [];
    for (let k = 0; k < COUNTS[label]; k++) {
      const file = await imageFile(label, k);
      // Every third image one folder down: classes are searched at any depth.
      const path = k % 3 === 2 ? `${name}/more/${file.name}` : `${name}/${file.name}`;
      await write(join(dir, path), file.bytes);
      paths.push(path);
    }
    images.set(name, paths);
  }
  const rotated = "cherry/rotated.jpg";
  const tall = picture(20, 40, CLASSES.indexOf("cherry"), 0);
  await write(join(dir, rotated), withOrientation(jpegFile(20, 40, tall), 6));
  images.get("cherry")!.push(rotated);
  const whole = jpegFile(40, 30, picture(40, 30, 0, 1));
  const bad = [
    {
      path: "apple/truncated.jpg",
      bytes: whole.slice(0, Math.floor(whole.length * 0.6)),
      reason: /^damaged or unsupported JPEG/,
    },
    {
      path: "banana/notes.png",
      bytes: "not a picture\n",
      reason:
        /^not a PNG, JPEG, BMP, GIF or WebP file \(it looks like text\); convert it to one of them/,
    },
    { path: "date/more/empty.jpg", bytes: new Uint8Array(0), reason: /^the file is empty$/ },
  ];
  for (const b of bad) await write(join(dir, b.path), b.bytes);
  // Hidden: 2 .DS_Store files and a hidden folder (with an image that must not be read).
  await write(join(dir, ".DS_Store"), new Uint8Array([0, 0, 0, 1, 66, 117, 100, 49]));
  await write(join(dir, "apple/.DS_Store"), new Uint8Array([0, 0, 0, 1]));
  await write(join(dir, "Zebra/.thumbnails/t.png"), (await imageFile(0, 0)).bytes);
  await write(join(dir, "élan/readme.txt"), "not an image by its name\n"); // not an image
  await write(join(dir, "LICENSE.md"), "beside the class folders\n"); // outside the classes
  for (const paths of images.values()) paths.sort();
  return {
    dir,
    classNames: ["Zebra", "apple", "banana", "cherry", "date", "élan"],
    images,
    bad: bad.map(({ path, reason }) => ({ path, reason })),
    ignored: { hidden: 3, notImages: 1, outsideClasses: 1 },
    rotated,
  };
}
