/**
 * What a folder of your own images holds, before anything is decoded, in the layouts Keras's
 * `image_dataset_from_directory` reads: `DIR/<class>/**`, or `DIR/train/<class>/**` with
 * `DIR/test/` (else `val/`, `valid/`) as the given held-out split. Hidden files, non-images and
 * anything beside the class folders are ignored and counted; links are followed, each real
 * folder once.
 *
 * @module
 */
import { join } from "node:path";
import { IMAGE_EXTENSIONS } from "./image_decode.ts";
import { firstLine, UserError } from "../util/user_error.ts";

/** One image file found (not yet read); size and time (ms) are for the cache's check. */
export interface FolderFile {
  /** Relative to the folder, `/`-separated, e.g. `train/cat/a.jpg` or `cat/a.jpg`. */
  path: string;
  absolute: string;
  size: number;
  mtimeMs: number;
  label: number;
  /** In the given held-out folder. */
  heldOut: boolean;
}

/** What a folder holds that is not read, counted (a hidden folder once, whatever is inside). */
export interface IgnoredCounts {
  hidden: number;
  notImages: number;
  outsideClasses: number;
}

/** A folder's listing: training files by class, then the given held-out files by class. */
export interface FolderListing {
  /** Sorted by code point, as Python's `sorted` (Keras) sorts them. */
  classNames: string[];
  files: FolderFile[];
  heldOutFolder?: "test" | "val" | "valid";
  /** Held-out folders present but not used (e.g. `val` when `test` is used). */
  unusedFolders: string[];
  ignored: IgnoredCounts;
}

const HELD_OUT_FOLDERS = ["test", "val", "valid"] as const;

/**
 * Compare by code point, as Python's `sorted` does (JavaScript's sort compares UTF-16 units,
 * which puts characters past U+FFFF before U+E000..U+FFFF).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(["b", "B", "a", "\u{1F600}", "\uFF21"].sort(byCodePoint), ["B", "a", "b", "\uFF21", "\u{1F600}"]);
 * ```
 */
export function byCodePoint(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i].codePointAt(0)! - y[i].codePointAt(0)!;
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

function isHidden(name: string): boolean {
  return name.startsWith(".") || name === "__MACOSX";
}

function isImageName(name: string): boolean {
  const lower = name.toLowerCase();
  return IMAGE_EXTENSIONS.some((ending) => lower.endsWith(ending));
}

/** A folder's entries: name, and whether it is a folder (links followed), sorted by name. */
async function entries(dir: string): Promise<{ name: string; isFolder: boolean }[]> {
  const found = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      let isFolder = entry.isDirectory;
      if (entry.isSymlink) {
        try {
          isFolder = (await Deno.stat(join(dir, entry.name))).isDirectory;
        } catch {
          isFolder = false; // a broken link: a file that will not read, reported then
        }
      }
      found.push({ name: entry.name, isFolder });
    }
  } catch (e) {
    throw new UserError(`${dir}: cannot list this folder (${firstLine(e)})`);
  }
  return found.sort((a, b) => byCodePoint(a.name, b.name));
}

/** The non-hidden entries of `dir`, hidden ones counted into `ignored`. */
async function visibleEntries(dir: string, ignored: IgnoredCounts) {
  const all = await entries(dir);
  ignored.hidden += all.filter((e) => isHidden(e.name)).length;
  return all.filter((e) => !isHidden(e.name));
}

/** Walks class folders, each real folder once. */
class Walker {
  readonly ignored: IgnoredCounts = { hidden: 0, notImages: 0, outsideClasses: 0 };
  readonly #seen = new Set<string>();

  constructor(readonly root: string) {}

  /** The class folders in `base` ("" for the root) and their images; anything else counted. */
  async classes(base: string): Promise<Map<string, { path: string; absolute: string }[]>> {
    const out = new Map<string, { path: string; absolute: string }[]>();
    for (const entry of await visibleEntries(join(this.root, base), this.ignored)) {
      if (!entry.isFolder) {
        this.ignored.outsideClasses++;
        continue;
      }
      const relative = base ? `${base}/${entry.name}` : entry.name;
      out.set(entry.name, await this.images(relative));
    }
    return out;
  }

  /** Image files under `relative`, at any depth, sorted by path. */
  async images(relative: string): Promise<{ path: string; absolute: string }[]> {
    const absolute = join(this.root, relative);
    const real = await Deno.realPath(absolute);
    if (this.#seen.has(real)) return []; // a link back up: each folder is read once
    this.#seen.add(real);
    const found = [];
    for (const entry of await visibleEntries(absolute, this.ignored)) {
      const path = `${relative}/${entry.name}`;
      if (entry.isFolder) found.push(...await this.images(path));
      else if (isImageName(entry.name)) found.push({ path, absolute: join(this.root, path) });
      else this.ignored.notImages++;
    }
    return found.sort((a, b) => byCodePoint(a.path, b.path));
  }
}

/**
 * List a folder of images: its layout, classes and image files, with their sizes and times.
 *
 * @throws {UserError} naming the folder when it is missing, not a folder, unreadable, or when
 *   a given held-out folder has a class that train/ has not
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const dir = await Deno.makeTempDir();
 * for (const f of ["cat/a.png", "cat/x/b.JPG", "dog/c.gif", "dog/notes.txt", ".DS_Store"]) {
 *   await Deno.mkdir(`${dir}/${f.slice(0, f.lastIndexOf("/") + 1)}`, { recursive: true });
 *   await Deno.writeTextFile(`${dir}/${f}`, "");
 * }
 * const listing = await listImageFolder(dir);
 * assert.deepEqual(listing.classNames, ["cat", "dog"]);
 * assert.deepEqual(listing.files.map((f) => [f.path, f.label]), [["cat/a.png", 0], ["cat/x/b.JPG", 0], ["dog/c.gif", 1]]);
 * assert.deepEqual(listing.ignored, { hidden: 1, notImages: 1, outsideClasses: 0 });
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function listImageFolder(dir: string): Promise<FolderListing> {
  await checkFolder(dir);
  const walker = new Walker(dir);
  const top = await entries(dir);
  const folders = new Set(top.filter((e) => e.isFolder && !isHidden(e.name)).map((e) => e.name));
  const present = HELD_OUT_FOLDERS.filter((name) => folders.has(name));
  if (!folders.has("train") || present.length === 0) {
    const classes = await walker.classes("");
    return listing([...classes.keys()], classes, new Map(), walker.ignored, undefined, []);
  }
  const [heldOutFolder, ...unusedFolders] = present;
  for (const entry of await visibleEntries(dir, walker.ignored)) {
    const split = entry.name === "train" ||
      (HELD_OUT_FOLDERS as readonly string[]).includes(entry.name);
    if (!split || !entry.isFolder) walker.ignored.outsideClasses++;
  }
  const train = await walker.classes("train");
  const heldOut = await walker.classes(heldOutFolder);
  for (const name of heldOut.keys()) {
    if (!train.has(name)) {
      throw new UserError(
        `${join(dir, heldOutFolder, name)}: a class that ${join(dir, "train")} does not have; ` +
          `add train/${name} or move it out`,
      );
    }
  }
  return listing([...train.keys()], train, heldOut, walker.ignored, heldOutFolder, unusedFolders);
}

async function checkFolder(dir: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(dir);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new UserError(`${dir}: no such folder; give a folder with one sub-folder per class`);
    }
    throw new UserError(`${dir}: cannot read it (${firstLine(e)})`);
  }
  if (!info.isDirectory) {
    throw new UserError(`${dir}: is a file; give a folder with one sub-folder of images per class`);
  }
}

/** The listing, each file's size and time read. */
function listing(
  names: string[],
  train: Map<string, { path: string; absolute: string }[]>,
  heldOut: Map<string, { path: string; absolute: string }[]>,
  ignored: IgnoredCounts,
  heldOutFolder: FolderListing["heldOutFolder"],
  unusedFolders: string[],
): FolderListing {
  const classNames = names.sort(byCodePoint);
  const files: FolderFile[] = [];
  for (const [split, isHeldOut] of [[train, false], [heldOut, true]] as const) {
    for (const [label, name] of classNames.entries()) {
      for (const file of split.get(name) ?? []) {
        const { size, mtimeMs } = statOf(file.absolute);
        files.push({ ...file, size, mtimeMs, label, heldOut: isHeldOut });
      }
    }
  }
  return { classNames, files, heldOutFolder, unusedFolders, ignored };
}

/**
 * Size and time of a file; -1 for one that cannot be read (its decode then says why). Sync,
 * because 10,000 awaited stats cost more in scheduling than in the kernel.
 */
function statOf(path: string): { size: number; mtimeMs: number } {
  try {
    const info = Deno.statSync(path);
    return { size: info.size, mtimeMs: info.mtime?.getTime() ?? -1 };
  } catch {
    return { size: -1, mtimeMs: -1 };
  }
}
