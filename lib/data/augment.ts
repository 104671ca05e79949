/**
 * Data augmentation as fast CIFAR training does it (Page's "How to train your ResNet", airbench):
 * a fresh random crop after mirror padding, and a left-right flip with probability 1/2, of every
 * image in every batch, on the uint8 pixels.
 *
 * @module
 */
import { IMAGE_SIZE } from "./dataset.ts";
import { mulberry32 } from "../util/random.ts";

/** How to augment. */
export interface AugmentOptions {
  /** Largest shift in pixels, each way (the padding of the random crop); 0 for none. */
  crop: number;
  /** Flip left-right with probability 1/2. */
  flip: boolean;
}

/** Mirror an index into [0, size) the way numpy's `reflect` padding does (edge not repeated). */
function reflect(i: number, size: number): number {
  if (i < 0) return -i;
  if (i >= size) return 2 * (size - 1) - i;
  return i;
}

/**
 * A random crop and flip of each image in a uint8 NHWC batch, into a new array; the same seed
 * gives the same batch.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const image = new Uint8Array(3072).map((_, i) => i % 251);
 * const a = augmentBatch(image, 1, { crop: 4, flip: true }, 7);
 * assert.deepEqual(a, augmentBatch(image, 1, { crop: 4, flip: true }, 7));
 * assert.deepEqual(augmentBatch(image, 1, { crop: 0, flip: false }, 7), image);
 * ```
 */
export function augmentBatch(
  pixels: Uint8Array,
  count: number,
  options: AugmentOptions,
  seed: number,
  imageSize = IMAGE_SIZE,
): Uint8Array {
  const size = imageSize;
  const imageBytes = size * size * 3;
  if (pixels.length !== count * imageBytes) {
    throw new RangeError(`augmentBatch: ${pixels.length} bytes for ${count} images`);
  }
  const { crop, flip } = options;
  if (!(Number.isInteger(crop) && crop >= 0 && crop < size)) {
    throw new RangeError(
      `augmentBatch: crop must be a whole number in [0, ${size - 1}], got ${crop}`,
    );
  }
  const random = mulberry32(seed);
  const out = new Uint8Array(pixels.length);
  // Byte offset, within a source row, of each output column (this image's shift and flip).
  const columns = new Int32Array(size);
  for (let n = 0; n < count; n++) {
    const dy = Math.floor(random() * (2 * crop + 1)) - crop;
    const dx = Math.floor(random() * (2 * crop + 1)) - crop;
    const mirrored = flip && random() < 0.5;
    for (let c = 0; c < size; c++) {
      columns[c] = reflect((mirrored ? size - 1 - c : c) + dx, size) * 3;
    }
    const image = n * imageBytes;
    for (let r = 0; r < size; r++) {
      const row = image + reflect(r + dy, size) * size * 3;
      let at = image + r * size * 3;
      for (let c = 0; c < size; c++, at += 3) {
        const from = row + columns[c];
        out[at] = pixels[from];
        out[at + 1] = pixels[from + 1];
        out[at + 2] = pixels[from + 2];
      }
    }
  }
  return out;
}
