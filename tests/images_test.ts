import assert from "node:assert/strict";
import { join } from "node:path";
import { encode as encodePngFile } from "fast-png";
import jpeg from "jpeg-js";
import { encode as encodeWebp } from "@jsquash/webp";
import {
  applyOrientation,
  centreCrop,
  cifarImage,
  decodeImage,
  decodeImageFile,
  encodePng,
  enlarge,
  ImageFileError,
  imageFormat,
  readCifarImage,
  resize,
  type RgbImage,
  toCifarPixels,
  writePng,
} from "../lib/data/images.ts";
import { UserError } from "../lib/util/errors.ts";
import { bmpFile, gifFile } from "./image_folder_fixture.ts";
import { withOrientation } from "./image_folder_fixture.ts";

/** An RGB image whose pixel (x, y) is `f(x, y)`. */
function image(width: number, height: number, f: (x: number, y: number) => number[]): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) data.set(f(x, y), (y * width + x) * 3);
  }
  return { width, height, data };
}

/** Pixel (x, y) of a `side`-wide image's bytes. */
const pixel = (data: Uint8Array, side: number, x: number, y: number) =>
  Array.from(data.subarray((y * side + x) * 3, (y * side + x) * 3 + 3));

/** A baseline JPEG of `img` (quality 95) from jpeg-js's encoder. */
function jpegOf(img: RgbImage, quality = 95): Uint8Array {
  const rgba = new Uint8Array(img.width * img.height * 4);
  for (let p = 0; p < img.width * img.height; p++) {
    rgba.set(img.data.subarray(p * 3, p * 3 + 3), p * 4);
    rgba[p * 4 + 3] = 255;
  }
  return new Uint8Array(
    jpeg.encode({ data: rgba, width: img.width, height: img.height }, quality).data,
  );
}

Deno.test("resize: a 64x64 gradient becomes the 2x2 means at 32x32", () => {
  const gradient = image(64, 64, (x, y) => [4 * x, 4 * y, 255 - 2 * x - 2 * y]);
  const out = toCifarPixels(gradient);
  assert.equal(out.length, 32 * 32 * 3);
  for (let y = 0; y < 32; y++) {
    for (let x = 0; x < 32; x++) {
      // Mean of 4x over x in {2X, 2X+1} is 8X + 2; of 255 - 2x - 2y it is 253 - 4X - 4Y.
      assert.deepEqual(pixel(out, 32, x, y), [8 * x + 2, 8 * y + 2, 253 - 4 * x - 4 * y]);
    }
  }
});

Deno.test("resize: non-square images are centre-cropped to a square first", () => {
  // Landscape 96x64: columns 16..79 are kept.
  const wide = toCifarPixels(image(96, 64, (x, y) => [2 * x, 2 * y, 0]));
  // Portrait 64x96: rows 16..79 are kept.
  const tall = toCifarPixels(image(64, 96, (x, y) => [2 * x, 2 * y, 0]));
  for (let y = 0; y < 32; y++) {
    for (let x = 0; x < 32; x++) {
      assert.deepEqual(pixel(wide, 32, x, y), [33 + 4 * x, 1 + 4 * y, 0]);
      assert.deepEqual(pixel(tall, 32, x, y), [1 + 4 * x, 33 + 4 * y, 0]);
    }
  }
  const odd = centreCrop(image(5, 2, (x) => [x, 0, 0]));
  assert.equal(odd.width, 2);
  assert.deepEqual([pixel(odd.data, 2, 0, 0)[0], pixel(odd.data, 2, 1, 0)[0]], [1, 2]);
});

Deno.test("resize: area averaging weighs partly covered pixels (48 -> 32)", () => {
  const out = resize(image(48, 48, (x) => [3 * x, 7, 0]), 32, 32);
  // Output 2m covers pixel 3m and half of 3m+1: 9m+1; output 2m+1 half of 3m+1 and 3m+2: 9m+5.
  for (let x = 0; x < 32; x++) {
    const m = Math.floor(x / 2);
    assert.deepEqual(pixel(out.data, 32, x, 5), [x % 2 === 0 ? 9 * m + 1 : 9 * m + 5, 7, 0]);
  }
});

Deno.test("resize: antialiased, a fine checkerboard averages to grey instead of aliasing", () => {
  for (const side of [64, 320, 100]) {
    const board = image(side, side, (x, y) => (x + y) % 2 ? [255, 255, 255] : [0, 0, 0]);
    const out = toCifarPixels(board);
    // 64 and 320 cover whole 2x2 or 10x10 blocks: exactly 127.5; 100 px: 3.125 px per output.
    const tolerance = side === 100 ? 12 : 0.5;
    for (const v of out) assert.ok(Math.abs(v - 127.5) <= tolerance, `${side}px: ${v}`);
  }
});

Deno.test("resize: smaller images are enlarged bilinearly (half-pixel centres)", () => {
  const out = toCifarPixels(image(16, 16, (x) => [16 * x, 100, 0]));
  // Output o samples source position o/2 - 1/4, clamped to [0, 15].
  assert.deepEqual(pixel(out, 32, 0, 0), [0, 100, 0]);
  for (let x = 1; x < 31; x++) assert.deepEqual(pixel(out, 32, x, 9), [8 * x - 4, 100, 0]);
  assert.deepEqual(pixel(out, 32, 31, 0), [240, 100, 0]);
  // Same size: unchanged.
  const same = image(32, 32, (x, y) => [x, y, x ^ y]);
  assert.deepEqual(toCifarPixels(same), same.data);
});

Deno.test("decodeImage: PNG colour types and depths become 8-bit RGB over white", () => {
  const rgb = image(3, 2, (x, y) => [x * 100, y * 200, 7]);
  assert.deepEqual(decodeImage(encodePng(rgb)), rgb);
  // RGBA: opaque, transparent (white), half transparent red.
  const rgba = encodePngFile({
    width: 3,
    height: 1,
    channels: 4,
    data: new Uint8Array([10, 20, 30, 255, 0, 0, 0, 0, 255, 0, 0, 51]),
  });
  assert.deepEqual(
    decodeImage(rgba).data,
    new Uint8Array([10, 20, 30, 255, 255, 255, 255, 204, 204]),
  );
  const grey = encodePngFile({ width: 2, height: 1, channels: 1, data: new Uint8Array([0, 200]) });
  assert.deepEqual(decodeImage(grey).data, new Uint8Array([0, 0, 0, 200, 200, 200]));
  const grey16 = encodePngFile({
    width: 2,
    height: 1,
    channels: 1,
    depth: 16,
    data: new Uint16Array([65535, 257 * 100]),
  });
  assert.deepEqual(decodeImage(grey16).data, new Uint8Array([255, 255, 255, 100, 100, 100]));
  // Palette with transparency (fast-png writes tRNS only for entries before the opaque ones).
  const indexed = encodePngFile({
    width: 3,
    height: 1,
    channels: 1,
    depth: 8,
    data: new Uint8Array([2, 0, 1]),
    palette: [[255, 0, 0, 0], [0, 255, 0, 51], [0, 0, 255, 255]],
  });
  assert.deepEqual(
    decodeImage(indexed).data,
    new Uint8Array([0, 0, 255, 255, 255, 255, 204, 255, 204]),
  );
  // 2-bit palette indices.
  const packed = encodePngFile({
    width: 3,
    height: 1,
    channels: 1,
    depth: 2,
    data: new Uint8Array([0b00011000]),
    palette: [[255, 0, 0], [0, 255, 0], [0, 0, 255]],
  });
  assert.deepEqual(decodeImage(packed).data, new Uint8Array([255, 0, 0, 0, 255, 0, 0, 0, 255]));
  // 1-bit greyscale, 10 pixels: rows are padded to whole bytes.
  const bits = encodePngFile({
    width: 10,
    height: 2,
    channels: 1,
    depth: 1,
    data: new Uint8Array([0b10100000, 0b01000000, 0b00000000, 0b11000000]),
  });
  const unpacked = decodeImage(bits).data.filter((_, i) => i % 3 === 0);
  assert.deepEqual(Array.from(unpacked), [
    ...[255, 0, 255, 0, 0, 0, 0, 0, 0, 255],
    ...[0, 0, 0, 0, 0, 0, 0, 0, 255, 255],
  ]);
});

Deno.test("decodeImage: JPEG, including the EXIF orientation phones write", () => {
  // Left half red, right half blue, 64x32.
  const stored = image(64, 32, (x) => x < 32 ? [220, 20, 20] : [20, 20, 220]);
  const file = jpegOf(stored);
  assert.equal(imageFormat(file), "jpeg");
  const plain = decodeImage(file, "a.jpg");
  assert.equal(plain.width, 64);
  assert.equal(plain.height, 32);
  const near = (got: number[], want: number[]) =>
    assert.ok(got.every((v, i) => Math.abs(v - want[i]) <= 12), `${got} vs ${want}`);
  near(pixel(plain.data, 64, 8, 16), [220, 20, 20]);
  near(pixel(plain.data, 64, 56, 16), [20, 20, 220]);
  // Orientation 6: shown rotated 90° clockwise, 32x64, red on top.
  const rotated = withOrientation(file, 6);
  const upright = decodeImage(rotated, "b.jpg");
  assert.deepEqual([upright.width, upright.height], [32, 64]);
  near(pixel(upright.data, 32, 16, 8), [220, 20, 20]);
  near(pixel(upright.data, 32, 16, 56), [20, 20, 220]);
});

Deno.test("applyOrientation: all eight EXIF orientations", () => {
  // a b c / d e f, one grey level per letter.
  const stored = {
    width: 3,
    height: 2,
    data: new Uint8Array([1, 2, 3, 4, 5, 6].flatMap((v) => [v, v, v])),
  };
  const shown = (o: number) => {
    const r = applyOrientation(stored, o);
    return [r.width, r.height, ...r.data.filter((_, i) => i % 3 === 0)];
  };
  assert.deepEqual(shown(1), [3, 2, 1, 2, 3, 4, 5, 6]);
  assert.deepEqual(shown(2), [3, 2, 3, 2, 1, 6, 5, 4]); // mirrored
  assert.deepEqual(shown(3), [3, 2, 6, 5, 4, 3, 2, 1]); // 180°
  assert.deepEqual(shown(4), [3, 2, 4, 5, 6, 1, 2, 3]); // flipped
  assert.deepEqual(shown(5), [2, 3, 1, 4, 2, 5, 3, 6]); // transposed
  assert.deepEqual(shown(6), [2, 3, 4, 1, 5, 2, 6, 3]); // 90° clockwise
  assert.deepEqual(shown(7), [2, 3, 6, 3, 5, 2, 4, 1]); // transverse
  assert.deepEqual(shown(8), [2, 3, 3, 6, 2, 5, 1, 4]); // 90° counter-clockwise
  assert.equal(applyOrientation(stored, 0), stored);
});

Deno.test("decodeImage: empty, non-image and damaged files get one line naming the file", () => {
  const cases: [Uint8Array, RegExp][] = [
    [new Uint8Array(0), /^x: the file is empty/],
    [
      new TextEncoder().encode("just text\n"),
      /^x: not a PNG or JPEG file \(it looks like text\); give a \.png/,
    ],
    [new TextEncoder().encode("RIFF\0\0\0\0WEBPVP8 "), /it looks like a WebP image.*convert it/],
    [new TextEncoder().encode("GIF89a"), /it looks like a GIF image/],
    [new Uint8Array([0, 0, 0, 24, ...new TextEncoder().encode("ftypheic")]), /a HEIC image/],
    [
      encodePng(image(4, 4, () => [1, 2, 3])).subarray(0, 40),
      /^x: damaged or unsupported PNG \(.+\); open it/,
    ],
    [new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 0, 4, 0, 0]), /^x: damaged or unsupported JPEG/],
  ];
  for (const [bytes, pattern] of cases) {
    assert.throws(() => decodeImage(bytes, "x"), (e: Error) => {
      assert.ok(e instanceof UserError, e.stack);
      assert.match(e.message, pattern);
      assert.equal(e.message.split("\n").length, 1);
      return true;
    });
  }
});

Deno.test("readCifarImage: files of any size to 32x32; missing files and folders named", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const photo = image(120, 80, (x, y) => [x, y, 50]);
    const pngPath = await writePng(join(dir, "sub", "photo.png"), photo);
    const read = await readCifarImage(pngPath);
    assert.deepEqual([read.width, read.height], [120, 80]);
    assert.deepEqual(read.pixels, toCifarPixels(photo));
    const jpgPath = join(dir, "photo.jpg");
    await Deno.writeFile(jpgPath, jpegOf(photo));
    const fromJpeg = await readCifarImage(jpgPath);
    assert.deepEqual([fromJpeg.width, fromJpeg.height], [120, 80]);
    const diff = fromJpeg.pixels.reduce((m, v, i) => Math.max(m, Math.abs(v - read.pixels[i])), 0);
    assert.ok(diff <= 8, `JPEG and PNG of one picture differ by ${diff}`);
    await assert.rejects(() => readCifarImage(join(dir, "nope.png")), /nope\.png: no such file/);
    await assert.rejects(() => readCifarImage(dir), /is a folder; name the image files/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a dataset image written as PNG reads back as the same 32x32 pixels", async () => {
  const images = new Uint8Array(2 * 3072).map((_, i) => (i * 31) % 256);
  const dir = await Deno.makeTempDir();
  try {
    const path = await writePng(join(dir, "test_1.png"), cifarImage(images, 1));
    assert.deepEqual((await readCifarImage(path)).pixels, images.subarray(3072));
    assert.throws(() => cifarImage(images, 2), RangeError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("enlarge: nearest neighbour blocks", () => {
  const big = enlarge(image(2, 1, (x) => [x, x, x]), 3);
  assert.deepEqual([big.width, big.height], [6, 3]);
  const row = [0, 0, 0, 1, 1, 1];
  assert.deepEqual(Array.from(big.data.filter((_, i) => i % 3 === 0)), [...row, ...row, ...row]);
  assert.throws(() => enlarge(big, 0), RangeError);
});

/** RGBA bytes of `img` with alpha `alpha(x, y)`. */
function rgbaOf(img: RgbImage, alpha: (x: number, y: number) => number): Uint8Array {
  const out = new Uint8Array(img.width * img.height * 4);
  for (let p = 0; p < img.width * img.height; p++) {
    out.set(img.data.subarray(p * 3, p * 3 + 3), p * 4);
    out[p * 4 + 3] = alpha(p % img.width, Math.floor(p / img.width));
  }
  return out;
}

Deno.test("decodeImageFile: BMP, 24-bit and 8-bit with a palette, bottom-up and top-down rows", async () => {
  const picture = image(5, 3, (x, y) => [40 * x, 80 * y, 7 + x + y]);
  for (const topDown of [false, true]) {
    const rgb = bmpFile(5, 3, { rgba: rgbaOf(picture, () => 255) }, topDown);
    assert.deepEqual(await decodeImageFile(rgb, "rgb.bmp"), picture);
    const palette = [[255, 0, 0], [0, 0, 255], [10, 200, 30]];
    const indices = Uint8Array.from({ length: 15 }, (_, p) => (p * 7) % 3);
    const paletted = await decodeImageFile(bmpFile(5, 3, { palette, indices }, topDown), "p.bmp");
    assert.deepEqual(paletted.data, Uint8Array.from([...indices].flatMap((i) => palette[i])));
  }
});

Deno.test("decodeImageFile: a GIF's first frame, transparent pixels over white", async () => {
  const palette = [0xff0000, 0x00ff00, 0x0000ff, 0];
  const gif = gifFile(4, 1, [0, 1, 2, 3], palette);
  const decoded = await decodeImageFile(gif, "x.gif");
  assert.deepEqual(decoded, {
    width: 4,
    height: 1,
    data: new Uint8Array([255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255]),
  });
});

Deno.test("decodeImageFile: WebP (lossless) exactly, half-transparent pixels over white", async () => {
  const picture = image(6, 4, (x, y) => [30 * x, 60 * y, 200]);
  const rgba = rgbaOf(picture, (x) => (x < 3 ? 255 : 51));
  const webp = await encodeWebp(
    { width: 6, height: 4, data: new Uint8ClampedArray(rgba), colorSpace: "srgb" } as ImageData,
    { lossless: 1, exact: 1 },
  );
  const decoded = await decodeImageFile(new Uint8Array(webp), "x.webp");
  const expected = picture.data.map((
    v,
    i,
  ) => (Math.floor(i / 3) % 6 < 3 ? v : Math.round(v * 0.2 + 204)));
  assert.deepEqual(decoded.data, expected);
});

Deno.test("decodeImageFile: PNG and JPEG exactly as decodeImage (the web page's decoder)", async () => {
  const picture = image(9, 7, (x, y) => [x * 20, y * 30, 99]);
  for (const bytes of [encodePng(picture), withOrientation(jpegOf(picture), 6)]) {
    assert.deepEqual(await decodeImageFile(bytes, "x"), decodeImage(bytes, "x"));
  }
});

Deno.test("decodeImageFile: a file that is not a usable image is an ImageFileError with a one-line reason", async () => {
  const gif = gifFile(4, 4, new Array(16).fill(1), [0, 0xffffff, 0, 0]);
  const bmp = bmpFile(5, 3, { rgba: new Uint8Array(60).fill(9) });
  const oddFourBit = bmp.slice();
  new DataView(oddFourBit.buffer).setUint16(28, 4, true);
  const huge = bmp.slice();
  new DataView(huge.buffer).setInt32(18, 20_000, true);
  new DataView(huge.buffer).setInt32(22, 20_000, true);
  const cases: [Uint8Array, RegExp][] = [
    [new Uint8Array(0), /^the file is empty$/],
    [
      new TextEncoder().encode("hello"),
      /^not a PNG, JPEG, BMP, GIF or WebP file \(it looks like text\)/,
    ],
    [new TextEncoder().encode("%PDF-1.4"), /it looks like a PDF document/],
    [gif.slice(0, 20), /^damaged or unsupported GIF \(.+\); open it in an image editor/],
    [bmp.slice(0, 40), /^damaged or unsupported BMP/],
    [oddFourBit, /^a 4-bit BMP of odd width, which is not read; save it as a 24-bit BMP$/],
    [huge, /^the image is 20000x20000, over 100 megapixels/],
    [new TextEncoder().encode("RIFF\0\0\0\0WEBPVP8 junk"), /^damaged or unsupported WEBP/],
    [jpegOf(image(8, 8, () => [1, 2, 3])).slice(0, 200), /^damaged or unsupported JPEG/],
  ];
  for (const [bytes, pattern] of cases) {
    await assert.rejects(decodeImageFile(bytes, "dir/x.img"), (e: Error) => {
      assert.ok(e instanceof ImageFileError, e.stack);
      assert.equal(e.file, "dir/x.img");
      assert.match(e.reason, pattern);
      assert.equal(e.message, `dir/x.img: ${e.reason}`);
      assert.equal(e.message.split("\n").length, 1);
      return true;
    });
  }
});
