/**
 * What the training loop consumes: images (uint8, converted per batch) or precomputed features.
 * @module
 */
import { IMAGE_SIZE } from "./dataset.ts";
import { augmentBatch, type AugmentOptions } from "./augment.ts";

/** A labelled set the training loop can batch from, in any order. */
export interface Examples {
  count: number;
  /** Shape of one example, e.g. [32, 32, 3] or [512]. */
  shape: number[];
  labels: Uint8Array;
  /**
   * Copy the examples at `indices` into one float32 batch, row-major: into `into` where given (a
   * loop reuses one buffer, since fresh memory costs a page fault per 4 KiB every batch).
   */
  gather(indices: ArrayLike<number>, into?: Float32Array): Float32Array;
  /** Images only: as `gather`, each image first cropped and flipped from `seed`. */
  gatherAugmented?(
    indices: ArrayLike<number>,
    augment: AugmentOptions,
    seed: number,
    into?: Float32Array,
  ): Float32Array;
}

/**
 * Images kept as uint8 NHWC and scaled to float32 only per batch, so 50,000 images cost 154 MB
 * rather than 614 MB. `scale` 1/255 gives [0, 1]; 1 keeps 0..255, as VGG16 expects.
 */
export function imageExamples(
  split: { images: Uint8Array; count: number },
  labels: Uint8Array,
  scale = 1 / 255,
  imageSize = IMAGE_SIZE,
): Examples {
  const size = imageSize * imageSize * 3;
  if (split.images.length !== split.count * size) {
    throw new Error(`images hold ${split.images.length} bytes, expected ${split.count} x ${size}`);
  }
  // The picked bytes, in one buffer kept for the next batch: used up before gather returns.
  let picked = new Uint8Array(0);
  const pick = (indices: ArrayLike<number>) => {
    if (picked.length < indices.length * size) picked = new Uint8Array(indices.length * size);
    const bytes = picked.subarray(0, indices.length * size);
    for (let b = 0; b < indices.length; b++) {
      bytes.set(split.images.subarray(indices[b] * size, (indices[b] + 1) * size), b * size);
    }
    return bytes;
  };
  const scaled = (bytes: Uint8Array, into?: Float32Array) => {
    const out = batchBuffer(bytes.length, into);
    for (let i = 0; i < bytes.length; i++) out[i] = bytes[i] * scale;
    return out;
  };
  return {
    count: split.count,
    shape: [imageSize, imageSize, 3],
    labels,
    gather: (indices, into) => scaled(pick(indices), into),
    gatherAugmented: (indices, augment, seed, into) =>
      scaled(augmentBatch(pick(indices), indices.length, augment, seed, imageSize), into),
  };
}

/** Precomputed float features, one row of `dim` values per example. */
export function featureExamples(features: Float32Array, dim: number, labels: Uint8Array): Examples {
  if (features.length !== labels.length * dim) {
    throw new Error(`features hold ${features.length} values, expected ${labels.length} x ${dim}`);
  }
  return {
    count: labels.length,
    shape: [dim],
    labels,
    gather(indices, into) {
      const out = batchBuffer(indices.length * dim, into);
      for (let b = 0; b < indices.length; b++) {
        out.set(features.subarray(indices[b] * dim, (indices[b] + 1) * dim), b * dim);
      }
      return out;
    },
  };
}

/** `into` if given (it must hold `length` values), else a new buffer of `length`. */
function batchBuffer(length: number, into?: Float32Array): Float32Array {
  if (into && into.length !== length) {
    throw new RangeError(`gather: a buffer of ${into.length} values for ${length}`);
  }
  return into ?? new Float32Array(length);
}
