/**
 * The dataset's shape and types, shared by every source of images (the binary archive, the
 * synthetic stand-in, a folder of your own images) and by everything that consumes them.
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
  /** `count * 3072` bytes, index `((i * 32 + row) * 32 + col) * 3 + channel`. */
  images: Uint8Array;
  /** Fine label (0..99) per image. */
  fineLabels: Uint8Array;
  /** Coarse label (0..19) per image (255 for an image folder, which has no coarse classes). */
  coarseLabels: Uint8Array;
  /** Number of images. */
  count: number;
  /** Each image's file, relative to the folder (a folder of images only). */
  files?: string[];
}

/**
 * Whether a dataset is the official CIFAR-100:
 *
 * - `official`: read from an archive whose MD5 is the official archive's;
 * - `unofficial`: an archive with another MD5, accepted because its structure is valid (a
 *   re-pack, a modified or a home-made file): its results are not CIFAR-100 results as published;
 * - `unverified`: an extracted folder. Its files have no published checksums, so nothing shows
 *   they are the official ones; give the `.tar.gz` to have the data verified;
 * - `synthetic`: the generated stand-in.
 */
export type DataOrigin = "official" | "unofficial" | "unverified" | "synthetic";

/** Where a dataset came from. */
export interface DataSource {
  /**
   * archive/folder: given explicitly (a folder: CIFAR-100 extracted, or your own images, one
   * sub-folder per class); cache: found in the cache folder; download: just fetched.
   */
  kind: "archive" | "folder" | "cache" | "download" | "synthetic";
  /** The file or folder actually read. */
  path?: string;
  /** MD5 of the archive, when an archive was read. */
  md5?: string;
  /** Something the user should see, e.g. that the checksum differs from the official one. */
  note?: string;
  /** True for generated data. */
  synthetic: boolean;
  /** Official, unofficial, unverified or synthetic: see {@linkcode DataOrigin}. */
  origin: DataOrigin;
  /**
   * Stable identity for cache keys: the archive's MD5, `folder:<path>:<file sizes>`, or
   * `synthetic-seed<seed>-<train>-<test>`. It does not include `limitTrain`/`limitTest`:
   * callers caching per-image results must add the counts themselves.
   */
  id: string;
  /** One human-readable line, e.g. `CIFAR-100 from /x/cifar-100-binary.tar.gz`. */
  description: string;
}

/**
 * The dataset: both splits, label names, and the fine-to-coarse mapping. A folder of your own
 * images (lib/data/image_folder.ts) is one too: its classes are the fine labels, it has no
 * coarse ones, and its images may be larger than 32 px ({@linkcode Cifar100.imageSize}).
 */
export interface Cifar100 {
  train: Split;
  test: Split;
  /** 100 names, index = fine label (an image folder: its class names, as many as it has). */
  fineLabelNames: string[];
  /** 20 names, index = coarse label (none for an image folder). */
  coarseLabelNames: string[];
  /** Coarse label of each fine label (255 for a fine label absent from every record). */
  fineToCoarse: Uint8Array;
  source: DataSource;
  /** Side of every image in both splits; absent means {@linkcode IMAGE_SIZE} (32). */
  imageSize?: number;
  /**
   * How the images were brought to {@linkcode Cifar100.imageSize} from files of any size
   * (lib/data/image_pixels.ts `PREPROCESSING`); absent for CIFAR's own 32 px images.
   */
  preprocessing?: string;
}
