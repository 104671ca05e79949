/**
 * A folder of your own images as a dataset (layout: lib/data/image_folder_scan.ts): decoded on
 * every core, brought to the input size as predict does, split by class from the seed unless the
 * splits are given, and cached. A file that fails to decode is reported once and left out, never
 * stopping the run. Memory holds the images once: both splits are views of the buffer read into.
 * The result is a {@linkcode Cifar100} whose classes are fine labels (coarse labels are 255).
 *
 * @module
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import type { Cifar100, DataSource, Split } from "./dataset.ts";
import { IMAGE_SIZE } from "./dataset.ts";
import { PREPROCESSING } from "./image_pixels.ts";
import {
  byCodePoint,
  type FolderFile,
  type FolderListing,
  type IgnoredCounts,
  listImageFolder,
} from "./image_folder_scan.ts";
import {
  type CachedFile,
  type FolderCache,
  folderCacheFile,
  readCachedPixels,
  readFolderCache,
  writeFolderCache,
} from "./image_folder_cache.ts";
import { decodeInWorkers, type DecodeJob } from "./image_folder_decode.ts";
import { cacheRoot } from "../util/cache.ts";
import { permutation } from "../util/random.ts";
import { UserError } from "../util/user_error.ts";

export type { IgnoredCounts } from "./image_folder_scan.ts";

/** Options for {@linkcode loadImageFolder}. */
interface ImageFolderOptions {
  /** The run's seed: the same seed gives the same validation split. */
  seed: number;
  /** The model's input side N: every image is brought to N x N. Default 32. */
  imageSize?: number;
  /** Share of each class held out when the folder has no given splits, in (0, 1). Default 0.2. */
  validationSplit?: number;
  /** Cache folder; default `image-folders/` in the project's cache folder; false: no cache. */
  cacheDir?: string | false;
  /** Decoding threads; default one per core. */
  workers?: number;
  /** Where `skipped ...` and cache notes go; default console.warn. */
  log?: (line: string) => void;
  /** Called as files are read: files done, of all files. */
  onProgress?: (done: number, total: number) => void;
}

/** A file left out, and why. */
export interface SkippedFile {
  /** Relative to the folder. */
  path: string;
  reason: string;
}

/** The images a model is evaluated on, and how they were chosen. */
export interface HeldOut {
  /** `split`: drawn from the folder by the seed; `given`: the folder's test/ (val/, valid/). */
  kind: "split" | "given";
  /** What accuracy on it is called, e.g. `validation split (20%, seed 1)` or `test/ folder`. */
  name: string;
  /** Relative to the folder, sorted. */
  files: string[];
  /** SHA-256 (hex) of the held-out files' paths and MD5s: the same digest, the same images. */
  digest: string;
}

/** What the cache did on this load: files reused by size and time, hashed unchanged, decoded. */
export interface CacheUse {
  /** Absent when caching is off. */
  file?: string;
  reused: number;
  unchanged: number;
  decoded: number;
  written: boolean;
}

/** A folder of images, read: a {@linkcode Cifar100} whose test split is the held-out one. */
export interface ImageFolderData extends Cifar100 {
  imageSize: number;
  heldOut: HeldOut;
  /** Files that did not decode, in path order. */
  skipped: SkippedFile[];
  ignored: IgnoredCounts;
  /** Held-out folders present but not used (e.g. `val` beside `test`). */
  unusedFolders: string[];
  cache: CacheUse;
}

/** Labels are bytes, as in every {@linkcode Split}. */
const MAX_CLASSES = 256;
/** A 1024 px image is 3 MB; 10,000 of them, 30 GB. */
const MAX_IMAGE_SIZE = 1024;
/** Derives each class's split seed from the run's seed (a prime no other stream uses). */
const SPLIT_SEED_STRIDE = 1_000_039;

/** The options with their defaults. */
type Settings = Required<Omit<ImageFolderOptions, "onProgress">> & ImageFolderOptions;

function settingsOf(options: ImageFolderOptions): Settings {
  const imageSize = options.imageSize ?? IMAGE_SIZE;
  if (!Number.isInteger(imageSize) || imageSize < 1 || imageSize > MAX_IMAGE_SIZE) {
    throw new UserError(
      `the input size must be a whole number from 1 to ${MAX_IMAGE_SIZE}, got ${imageSize}`,
    );
  }
  const validationSplit = options.validationSplit ?? 0.2;
  if (!(validationSplit > 0 && validationSplit < 1)) {
    throw new UserError(
      `the validation split must be a fraction between 0 and 1 (e.g. 0.2), got ${validationSplit}`,
    );
  }
  return {
    seed: options.seed,
    imageSize,
    validationSplit,
    cacheDir: options.cacheDir ?? join(cacheRoot(), "image-folders"),
    workers: options.workers ?? navigator.hardwareConcurrency ?? 2,
    log: options.log ?? ((line) => console.warn(line)),
    onProgress: options.onProgress,
  };
}

/**
 * Read a folder of images as a dataset (see the module doc).
 *
 * @throws {UserError} naming the folder when it is missing or unreadable, has fewer than 2
 *   classes or more than 256, or a class folder with fewer than 2 usable images
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writePng } from "./images.ts";
 * const dir = await Deno.makeTempDir();
 * for (const [name, grey] of [["dark", 40], ["light", 220]] as const) {
 *   for (let i = 0; i < 5; i++) {
 *     await writePng(`${dir}/${name}/${i}.png`, { width: 8, height: 6, data: new Uint8Array(144).fill(grey + i) });
 *   }
 * }
 * const data = await loadImageFolder(dir, { seed: 1, imageSize: 4, cacheDir: false, workers: 1 });
 * assert.deepEqual(data.fineLabelNames, ["dark", "light"]);
 * assert.deepEqual([data.train.count, data.test.count, data.train.images.length], [8, 2, 8 * 4 * 4 * 3]);
 * assert.equal(data.heldOut.files.length, 2);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function loadImageFolder(
  dir: string,
  options: ImageFolderOptions,
): Promise<ImageFolderData> {
  const settings = settingsOf(options);
  const listing = await listImageFolder(dir);
  checkClasses(dir, listing, listing.files.map(() => true));
  const read = await readAllPixels(dir, listing, settings);
  const usable = read.outcomes.map((o) => o.reason === undefined);
  checkClasses(dir, listing, usable);
  const kept = listing.files.filter((_, i) => usable[i]);
  const keptMd5 = read.outcomes.filter((_, i) => usable[i]).map((o) => o.md5!);
  const heldOutFlags = listing.heldOutFolder
    ? kept.map((f) => f.heldOut)
    : stratifiedHoldOut(kept, listing.classNames, settings);
  if (!heldOutFlags.includes(true)) {
    throw new UserError(`${join(dir, listing.heldOutFolder!)}: no usable images to hold out`);
  }
  const skipped = listing.files.flatMap((f, i) => {
    const reason = read.outcomes[i].reason;
    return reason === undefined ? [] : [{ path: f.path, reason }];
  });
  const { train, test } = cutSplits(read.pixels, settings.imageSize, kept, heldOutFlags);
  const heldOut = heldOutOf(listing, settings, kept, keptMd5, heldOutFlags);
  const source = sourceOf(dir, listing, settings, { train, test, heldOut, skipped, keptMd5, kept });
  const classes = listing.classNames.length;
  return {
    train,
    test,
    fineLabelNames: listing.classNames,
    coarseLabelNames: [],
    fineToCoarse: new Uint8Array(classes).fill(255),
    source,
    imageSize: settings.imageSize,
    preprocessing: PREPROCESSING,
    heldOut,
    skipped,
    ignored: listing.ignored,
    unusedFolders: listing.unusedFolders,
    cache: read.cache,
  };
}

/**
 * Refuse a folder with fewer than 2 classes (or more than 256), or a class with fewer than 2
 * images among `usable` (training files; a given held-out class needs none).
 */
function checkClasses(dir: string, listing: FolderListing, usable: boolean[]): void {
  const names = listing.classNames;
  if (names.length < 2) {
    const found = names.length === 0 ? "no class folders" : `one class folder (${names[0]})`;
    throw new UserError(
      `${dir}: ${found}; give a folder with at least 2 sub-folders of images, one per class`,
    );
  }
  if (names.length > MAX_CLASSES) {
    throw new UserError(`${dir}: ${names.length} class folders; at most ${MAX_CLASSES} are read`);
  }
  const counts = new Array(names.length).fill(0);
  const found = new Array(names.length).fill(0);
  listing.files.forEach((f, i) => {
    if (f.heldOut) return;
    found[f.label]++;
    if (usable[i]) counts[f.label]++;
  });
  const label = counts.findIndex((n) => n < 2);
  if (label < 0) return;
  const folder = join(dir, listing.heldOutFolder ? "train" : "", names[label]);
  const skipped = found[label] - counts[label];
  throw new UserError(
    `${folder}: ${counts[label]} usable image${counts[label] === 1 ? "" : "s"}` +
      `${skipped > 0 ? ` (${skipped} skipped)` : ""}; a class needs at least 2: ` +
      `add images or move the folder out`,
  );
}

/** Each file: its MD5 (when read or cached) and why it was skipped, if it was. */
interface Outcome {
  md5?: string;
  reason?: string;
}

/**
 * Every file's pixels into one buffer (usable files packed from slot 0 in listing order), from
 * the cache where it still stands, else from the workers; the cache rewritten if anything changed.
 */
async function readAllPixels(dir: string, listing: FolderListing, settings: Settings) {
  const { files } = listing;
  const imageBytes = settings.imageSize ** 2 * 3;
  const cacheFile = settings.cacheDir === false
    ? undefined
    : folderCacheFile(dir, settings.imageSize, settings.cacheDir);
  const cache = cacheFile ? await readFolderCache(cacheFile, settings.imageSize) : undefined;
  const pixels = new Uint8Array(files.length * imageBytes);
  const at = (i: number) => pixels.subarray(i * imageBytes, (i + 1) * imageBytes);
  const outcomes: Outcome[] = files.map(() => ({}));
  const plan = planFromCache(files, cache, settings.imageSize);
  const copies = plan.fresh.flatMap(({ index, entry }) => {
    outcomes[index] = { md5: entry.md5, reason: entry.skipped };
    return entry.slot === undefined ? [] : [{ slot: entry.slot, into: at(index) }];
  });
  let done = plan.fresh.length;
  settings.onProgress?.(done, files.length);
  let unchanged = 0;
  await decodeInWorkers(plan.jobs, settings.workers, (reply) => {
    const entry = cache?.entries.get(files[reply.id].path);
    if (reply.unchanged && entry) {
      unchanged++;
      outcomes[reply.id] = { md5: reply.md5, reason: entry.skipped };
      if (entry.slot !== undefined) copies.push({ slot: entry.slot, into: at(reply.id) });
    } else {
      outcomes[reply.id] = { md5: reply.md5, reason: reply.reason };
      if (reply.pixels) at(reply.id).set(reply.pixels);
    }
    settings.onProgress?.(++done, files.length);
  });
  if (cache) await readCachedPixels(cache, copies);
  const usable = packUsable(pixels, imageBytes, outcomes);
  for (const [i, o] of outcomes.entries()) {
    if (o.reason !== undefined) settings.log(`skipped ${join(dir, files[i].path)}: ${o.reason}`);
  }
  const entries = cacheEntries(files, outcomes);
  const changed = plan.jobs.length > 0 || cache?.entries.size !== files.length;
  let written = false;
  if (cacheFile && changed) {
    const failed = await writeFolderCache(
      cacheFile,
      settings.imageSize,
      entries,
      pixels.subarray(0, usable * imageBytes),
    );
    if (failed) settings.log(`note: the image cache ${cacheFile} was not written (${failed})`);
    written = !failed;
  }
  const decoded = plan.jobs.length - unchanged;
  const reused = plan.fresh.length;
  return { pixels, outcomes, cache: { file: cacheFile, reused, unchanged, decoded, written } };
}

/**
 * The files the cache stands for by size and time (`fresh`), and the rest as jobs, carrying the
 * cached MD5 when the size is the same so a worker only hashes a file whose bytes match.
 */
function planFromCache(files: FolderFile[], cache: FolderCache | undefined, imageSize: number) {
  const fresh: { index: number; entry: CachedFile }[] = [];
  const jobs: DecodeJob[] = [];
  files.forEach((file, id) => {
    const entry = cache?.entries.get(file.path);
    if (entry && file.size >= 0 && entry.size === file.size && entry.mtimeMs === file.mtimeMs) {
      fresh.push({ index: id, entry });
      return;
    }
    const knownMd5 = entry && entry.size === file.size ? entry.md5 : undefined;
    jobs.push({ id, absolute: file.absolute, path: file.path, imageSize, knownMd5 });
  });
  return { fresh, jobs };
}

/** Move the usable files' images down over the skipped ones' gaps; returns how many there are. */
function packUsable(pixels: Uint8Array, imageBytes: number, outcomes: Outcome[]): number {
  let slot = 0;
  outcomes.forEach((o, i) => {
    if (o.reason !== undefined) return;
    if (i !== slot) pixels.copyWithin(slot * imageBytes, i * imageBytes, (i + 1) * imageBytes);
    slot++;
  });
  return slot;
}

/** The cache's entries for this load: usable files get slots 0..n-1 in listing order. */
function cacheEntries(files: FolderFile[], outcomes: Outcome[]): CachedFile[] {
  let slot = 0;
  return files.flatMap((f, i) => {
    const { md5, reason } = outcomes[i];
    if (md5 === undefined) return []; // not read at all: nothing to remember
    const entry: CachedFile = { path: f.path, size: f.size, mtimeMs: f.mtimeMs, md5 };
    if (reason === undefined) entry.slot = slot++;
    else entry.skipped = reason;
    return [entry];
  });
}

/**
 * In each class, `round(n * validationSplit)` of its `n` files held out (at least 1, at most
 * n - 1), by a permutation seeded from the seed and the class's name, so adding a class leaves
 * the others' splits as they were.
 */
function stratifiedHoldOut(files: FolderFile[], classNames: string[], settings: Settings) {
  const byClass = classNames.map(() => [] as number[]);
  files.forEach((f, i) => byClass[f.label].push(i));
  const flags = files.map(() => false);
  byClass.forEach((members, label) => {
    const n = members.length;
    const count = Math.min(n - 1, Math.max(1, Math.round(n * settings.validationSplit)));
    const seed = settings.seed * SPLIT_SEED_STRIDE + nameHash(classNames[label]);
    const order = permutation(n, seed);
    for (let k = 0; k < count; k++) flags[members[order[k]]] = true;
  });
  return flags;
}

/** FNV-1a of a string's UTF-16 units: a stable 32-bit number per class name. */
function nameHash(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/**
 * The training and held-out splits as views of the packed pixels, reordered in place (training
 * first), so memory holds the images once.
 */
function cutSplits(
  pixels: Uint8Array,
  imageSize: number,
  kept: FolderFile[],
  heldOut: boolean[],
): { train: Split; test: Split } {
  const imageBytes = imageSize ** 2 * 3;
  const order = [...kept.keys()].sort((a, b) => Number(heldOut[a]) - Number(heldOut[b]));
  permuteBlocks(pixels, imageBytes, order);
  const trainCount = heldOut.filter((h) => !h).length;
  const trainImages = pixels.subarray(0, trainCount * imageBytes);
  const testImages = pixels.subarray(trainCount * imageBytes, kept.length * imageBytes);
  const split = (images: Uint8Array, indices: number[]): Split => ({
    images,
    fineLabels: Uint8Array.from(indices, (i) => kept[i].label),
    coarseLabels: new Uint8Array(indices.length).fill(255),
    count: indices.length,
    files: indices.map((i) => kept[i].path),
  });
  return {
    train: split(trainImages, order.slice(0, trainCount)),
    test: split(testImages, order.slice(trainCount)),
  };
}

/**
 * Reorder equal-sized blocks of `buffer` in place so that block j becomes the old block
 * `order[j]`, following each cycle of the permutation with one block of scratch.
 */
function permuteBlocks(buffer: Uint8Array, blockBytes: number, order: number[]): void {
  const done = new Uint8Array(order.length);
  const scratch = new Uint8Array(blockBytes);
  const block = (j: number) => buffer.subarray(j * blockBytes, (j + 1) * blockBytes);
  for (let start = 0; start < order.length; start++) {
    if (done[start] || order[start] === start) continue;
    scratch.set(block(start));
    let j = start;
    while (order[j] !== start) {
      buffer.copyWithin(j * blockBytes, order[j] * blockBytes, (order[j] + 1) * blockBytes);
      done[j] = 1;
      j = order[j];
    }
    block(j).set(scratch);
    done[j] = 1;
  }
}

function heldOutOf(
  listing: FolderListing,
  settings: Settings,
  kept: FolderFile[],
  keptMd5: string[],
  flags: boolean[],
): HeldOut {
  const held = kept.flatMap((f, i) => flags[i] ? [{ path: f.path, md5: keptMd5[i] }] : []);
  held.sort((a, b) => byCodePoint(a.path, b.path));
  const digest = createHash("sha256");
  for (const { path, md5 } of held) digest.update(`${path}\t${md5}\n`);
  const percent = Math.round(settings.validationSplit * 1000) / 10;
  return {
    kind: listing.heldOutFolder ? "given" : "split",
    name: listing.heldOutFolder
      ? `${listing.heldOutFolder}/ folder`
      : `validation split (${percent}%, seed ${settings.seed})`,
    files: held.map((h) => h.path),
    digest: digest.digest("hex"),
  };
}

function sourceOf(
  dir: string,
  listing: FolderListing,
  settings: Settings,
  read: Pick<ImageFolderData, "train" | "test" | "heldOut" | "skipped"> & {
    keptMd5: string[];
    kept: FolderFile[];
  },
): DataSource {
  const id = createHash("sha256").update(
    JSON.stringify([listing.classNames, settings.imageSize, PREPROCESSING, read.heldOut.digest]),
  );
  read.kept.forEach((f, i) => id.update(`${f.path}\t${read.keptMd5[i]}\n`));
  const { hidden, notImages, outsideClasses } = listing.ignored;
  const ignored = hidden + notImages + outsideClasses;
  const side = settings.imageSize;
  const description = `your images in ${dir}: ${listing.classNames.length} classes, ` +
    `${read.train.count} training and ${read.test.count} held-out images at ${side}x${side} ` +
    `(held out: ${read.heldOut.name})` +
    (read.skipped.length > 0 ? `; ${read.skipped.length} files skipped` : "") +
    (ignored > 0 ? `; ${ignored} other files and folders ignored` : "");
  return {
    kind: "folder",
    path: dir,
    synthetic: false,
    // Not checked files; an origin of its own belongs with wiring folders into the reports.
    origin: "unverified",
    id: `image-folder:${id.digest("hex").slice(0, 32)}`,
    description,
  };
}
