/**
 * The decoded pixels of a folder of images, kept between runs: one file per folder and input
 * size, under the cache folder's `image-folders/`, so a second load of the same folder reads
 * pixels instead of decoding every image again.
 *
 * Which files it still stands for is checked per file, in two steps:
 *
 * 1. **Size and modification time** (what make, rsync and git check first): a stat per file, so
 *    checking 10,000 files costs a fraction of a second. A file whose size and time are what the
 *    cache holds is taken from the cache unread.
 * 2. **Content (MD5)** for a file whose time or size changed: a copy, a `touch`, an unzip or a
 *    checkout gives every file a new time with the same bytes, and hashing a photo costs a small
 *    fraction of decoding it (MD5 runs at hundreds of MB/s, the JPEG decoder at tens), so the
 *    file is read and hashed, and decoded only when its bytes differ. A new file is decoded; a
 *    removed one is dropped.
 *
 * Files that did not decode are kept too (with their reason), so they are reported again without
 * being decoded again. The preprocessing's name and version
 * ({@linkcode PREPROCESSING}) and the input size are in the file: another size is another file,
 * and a changed preprocessing makes the old file unusable.
 *
 * The file is written whole to a temporary name beside it and renamed into place, so a run
 * killed while writing leaves the old file or the new one, never half of one. A damaged or
 * unreadable cache file is read as no cache.
 *
 * Layout: 8 bytes `IMGFOLD1`, a uint32 (little-endian) header length, the header as JSON, then
 * the pixels, `size * size * 3` bytes per usable file in slot order.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { join, resolve } from "node:path";
import { PREPROCESSING } from "./image_pixels.ts";
import { firstLine } from "../util/user_error.ts";
import { writeFileAtomically } from "../util/replace_folder.ts";

const MAGIC = "IMGFOLD1";
const HEADER_AT = MAGIC.length + 4;

/** What the cache knows about one file. */
export interface CachedFile {
  /** Path relative to the folder, as in the listing. */
  path: string;
  size: number;
  mtimeMs: number;
  /** MD5 of the file's bytes, hex. */
  md5: string;
  /** Where its pixels are (a usable file), or why it was skipped. */
  slot?: number;
  skipped?: string;
}

/** A cache file opened for reading. */
export interface FolderCache {
  /** The file. */
  file: string;
  /** Its entries by relative path. */
  entries: Map<string, CachedFile>;
  /** Byte offset of slot 0's pixels. */
  pixelsAt: number;
  /** Bytes per image. */
  imageBytes: number;
}

/**
 * The cache file for a folder at an input size: named by a hash of the folder's absolute path,
 * the size and the preprocessing.
 *
 * @param cacheDir the cache folder (e.g. `join(cacheRoot(), "image-folders")`)
 */
export function folderCacheFile(dir: string, imageSize: number, cacheDir: string): string {
  const key = createHash("sha256").update(`${resolve(dir)}\n${imageSize}\n${PREPROCESSING}`);
  return join(cacheDir, `${key.digest("hex").slice(0, 24)}-${imageSize}px.bin`);
}

/**
 * Read a cache file's header; undefined when there is none, or it is damaged, for another size
 * or preprocessing, or cut short (then the pixels cannot be trusted).
 *
 * @param file from {@linkcode folderCacheFile}
 * @param imageSize the input side it must hold
 */
export async function readFolderCache(
  file: string,
  imageSize: number,
): Promise<FolderCache | undefined> {
  try {
    using handle = await Deno.open(file, { read: true });
    const head = await readExactly(handle, 0, HEADER_AT);
    if (new TextDecoder().decode(head.subarray(0, MAGIC.length)) !== MAGIC) return undefined;
    const length = new DataView(head.buffer).getUint32(MAGIC.length, true);
    const header = JSON.parse(
      new TextDecoder().decode(await readExactly(handle, HEADER_AT, length)),
    );
    if (header.preprocessing !== PREPROCESSING || header.imageSize !== imageSize) return undefined;
    const files: CachedFile[] = header.files;
    const slots = files.filter((f) => f.slot !== undefined).length;
    const imageBytes = imageSize * imageSize * 3;
    const pixelsAt = HEADER_AT + length;
    if ((await handle.stat()).size !== pixelsAt + slots * imageBytes) return undefined;
    return { file, entries: new Map(files.map((f) => [f.path, f])), pixelsAt, imageBytes };
  } catch {
    return undefined; // missing, unreadable or not JSON: decode as if there were no cache
  }
}

/** `length` bytes at `offset`, or an error when the file ends first. */
async function readExactly(handle: Deno.FsFile, offset: number, length: number) {
  return await readInto(handle, offset, new Uint8Array(length));
}

async function readInto(handle: Deno.FsFile, offset: number, into: Uint8Array) {
  await handle.seek(offset, Deno.SeekMode.Start);
  for (let done = 0; done < into.length;) {
    const n = await handle.read(into.subarray(done));
    if (n === null) throw new Error(`the file ends at ${offset + done}`);
    done += n;
  }
  return into;
}

/**
 * Copy cached images into place.
 *
 * @param copies for each image: its slot in the cache and the bytes to fill
 */
export async function readCachedPixels(
  cache: FolderCache,
  copies: { slot: number; into: Uint8Array }[],
): Promise<void> {
  using handle = await Deno.open(cache.file, { read: true });
  // In slot order, so the reads go forward through the file.
  for (const { slot, into } of [...copies].sort((a, b) => a.slot - b.slot)) {
    await readInto(handle, cache.pixelsAt + slot * cache.imageBytes, into);
  }
}

/**
 * Write a cache file atomically (lib/util/replace_folder.ts `writeFileAtomically`).
 *
 * @param file from {@linkcode folderCacheFile}
 * @param files every file's entry; usable ones have slots 0..n-1
 * @param pixels the usable files' pixels in slot order
 * @returns undefined, or why the file could not be written (the load goes on without it)
 */
export async function writeFolderCache(
  file: string,
  imageSize: number,
  files: CachedFile[],
  pixels: Uint8Array,
): Promise<string | undefined> {
  const header = new TextEncoder().encode(
    JSON.stringify({ preprocessing: PREPROCESSING, imageSize, files }),
  );
  const head = new Uint8Array(HEADER_AT);
  head.set(new TextEncoder().encode(MAGIC));
  new DataView(head.buffer).setUint32(MAGIC.length, header.length, true);
  try {
    await writeFileAtomically(file, [head, header, pixels]);
    return undefined;
  } catch (e) {
    return firstLine(e);
  }
}
