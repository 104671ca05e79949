/**
 * A folder's decoded pixels kept between runs, one file per folder, input size and
 * {@linkcode PREPROCESSING}. A file whose size and time are the cached ones is taken unread (as
 * make checks); one with a new time is hashed, and decoded only when its bytes differ, since a
 * copy or unzip gives every file a new time and hashing costs a fraction of decoding. Files that
 * did not decode are kept with their reason. A damaged cache file is read as no cache.
 *
 * Layout: `IMGFOLD1`, a little-endian uint32 header length, the header as JSON, then
 * `size * size * 3` bytes per usable file in slot order.
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

/** What the cache knows about one file (path relative to the folder, MD5 in hex). */
export interface CachedFile {
  path: string;
  size: number;
  mtimeMs: number;
  md5: string;
  /** Where its pixels are (a usable file), or why it was skipped. */
  slot?: number;
  skipped?: string;
}

/** A cache file opened for reading: its entries by path, and where slot 0's pixels start. */
export interface FolderCache {
  file: string;
  entries: Map<string, CachedFile>;
  pixelsAt: number;
  imageBytes: number;
}

/** The cache file for a folder: named by a hash of its absolute path, size and preprocessing. */
export function folderCacheFile(dir: string, imageSize: number, cacheDir: string): string {
  const key = createHash("sha256").update(`${resolve(dir)}\n${imageSize}\n${PREPROCESSING}`);
  return join(cacheDir, `${key.digest("hex").slice(0, 24)}-${imageSize}px.bin`);
}

/**
 * Read a cache file's header; undefined when there is none, or it is damaged, for another size
 * or preprocessing, or cut short.
 */
export async function readFolderCache(
  file: string,
  imageSize: number,
): Promise<FolderCache | undefined> {
  try {
    using handle = await Deno.open(file, { read: true });
    const head = await readInto(handle, 0, new Uint8Array(HEADER_AT));
    if (new TextDecoder().decode(head.subarray(0, MAGIC.length)) !== MAGIC) return undefined;
    const length = new DataView(head.buffer).getUint32(MAGIC.length, true);
    const header = JSON.parse(
      new TextDecoder().decode(await readInto(handle, HEADER_AT, new Uint8Array(length))),
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

/** Fill `into` from `offset`, or throw when the file ends first. */
async function readInto(handle: Deno.FsFile, offset: number, into: Uint8Array) {
  await handle.seek(offset, Deno.SeekMode.Start);
  for (let done = 0; done < into.length;) {
    const n = await handle.read(into.subarray(done));
    if (n === null) throw new Error(`the file ends at ${offset + done}`);
    done += n;
  }
  return into;
}

/** Copy cached images into place: each slot's pixels into its `into`. */
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
 * Write a cache file atomically: every file's entry, and the usable files' pixels in slot order.
 * Returns why it could not be written, if so (the load goes on without it).
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
