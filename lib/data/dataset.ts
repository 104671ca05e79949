/**
 * The dataset's shape and types, shared by every source of images and everything consuming them.
 *
 * @module
 */

/** Image side in pixels. */
export const IMAGE_SIZE = 32;
/** Bytes of one image (32 x 32 x 3). */
export const IMAGE_BYTES = IMAGE_SIZE * IMAGE_SIZE * 3;
/** Number of fine classes. */
export const FINE_CLASSES = 100;
/** Number of coarse classes (superclasses). */
export const COARSE_CLASSES = 20;
/** One split: images NHWC `[count, 32, 32, 3]` uint8 and their labels. */
export interface Split {
  images: Uint8Array;
  fineLabels: Uint8Array;
  /** 255 for an image folder, which has no coarse classes. */
  coarseLabels: Uint8Array;
  count: number;
  /** Each image's file, relative to the folder (a folder of images only). */
  files?: string[];
}

/**
 * Whether a dataset is the official CIFAR-100: `official`, an archive with the official MD5;
 * `unofficial`, an archive with another MD5, accepted because its structure is valid;
 * `unverified`, an extracted folder, whose files have no published checksums; `synthetic`.
 */
export type DataOrigin = "official" | "unofficial" | "unverified" | "synthetic";

/** Where a dataset came from. */
export interface DataSource {
  /** archive or folder: given explicitly; cache: found in a cache; download: just fetched. */
  kind: "archive" | "folder" | "cache" | "download" | "synthetic";
  /** The file or folder actually read. */
  path?: string;
  /** MD5 of the archive, when an archive was read. */
  md5?: string;
  /** Something the user should see, e.g. that the checksum differs from the official one. */
  note?: string;
  synthetic: boolean;
  origin: DataOrigin;
  /**
   * Stable identity for cache keys, without `limitTrain`/`limitTest`: callers caching
   * per-image results must add the counts themselves.
   */
  id: string;
  /** One human-readable line, e.g. `CIFAR-100 from /x/cifar-100-binary.tar.gz`. */
  description: string;
}

/**
 * The dataset: both splits, label names, and the fine-to-coarse mapping. A folder of your own
 * images is one too: its classes are the fine labels, it has no coarse ones, and its images may
 * be larger than 32 px.
 */
export interface Cifar100 {
  train: Split;
  test: Split;
  fineLabelNames: string[];
  coarseLabelNames: string[];
  /** Coarse label of each fine label (255 for a fine label absent from every record). */
  fineToCoarse: Uint8Array;
  source: DataSource;
  /** Side of every image in both splits; absent means {@linkcode IMAGE_SIZE} (32). */
  imageSize?: number;
  /** lib/data/image_pixels.ts `PREPROCESSING` for images from files; absent for CIFAR's own. */
  preprocessing?: string;
}
