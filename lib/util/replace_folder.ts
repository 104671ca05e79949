/**
 * Replace a folder's contents as one unit, so that a process killed at any instant leaves the
 * earlier complete folder or the new one, never a mixture (a run folder's files must agree).
 *
 * The new contents are written to a sibling `<dir>.saving`, flushed, and marked `.complete`;
 * then `<dir>` is renamed to `<dir>.previous`, `<dir>.saving` to `<dir>`, and the previous one
 * is removed. Directory renames are atomic, and Deno has no atomic exchange of two folders, so
 * {@linkcode recoverFolder} finishes or undoes whatever a kill left; every save and load calls it.
 *
 * @module
 */
import { basename, dirname, join } from "node:path";

/** The marker written last into a fully written staging folder. */
const COMPLETE = ".complete";

/** The two siblings a replacement uses. */
function siblings(dir: string) {
  const clean = dir.replace(/\/+$/, "");
  return { dir: clean, staging: `${clean}.saving`, previous: `${clean}.previous` };
}

async function exists(path: string): Promise<boolean> {
  return await Deno.lstat(path).then(() => true, () => false);
}

async function writeParts(file: Deno.FsFile, parts: (Uint8Array | string)[]): Promise<void> {
  for (const part of parts) {
    const bytes = typeof part === "string" ? new TextEncoder().encode(part) : part;
    for (let done = 0; done < bytes.length;) done += await file.write(bytes.subarray(done));
  }
}

/**
 * Write `data` to `path` and flush it to disk before returning, so a rename that follows never
 * publishes bytes still only in memory.
 */
export async function writeFileDurably(path: string, data: Uint8Array | string): Promise<void> {
  using file = await Deno.open(path, { write: true, create: true, truncate: true });
  await writeParts(file, [data]);
  await file.syncData();
}

/**
 * Write `parts` to `path` through a temporary file beside it and a rename, so that a process
 * killed at any instant leaves the earlier `path` or the new one; with `durable`, the bytes are
 * flushed to disk before the rename. The temporary file is removed when the write fails.
 */
export async function writeFileAtomically(
  path: string,
  parts: (Uint8Array | string)[],
  durable = false,
): Promise<void> {
  const temp = `${path}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  try {
    await Deno.mkdir(dirname(path), { recursive: true });
    {
      using file = await Deno.open(temp, { write: true, createNew: true });
      await writeParts(file, parts);
      if (durable) await file.syncData();
    }
    await Deno.rename(temp, path);
  } catch (e) {
    await Deno.remove(temp).catch(() => {});
    throw e;
  }
}

/** Flush a folder's entries (a rename inside it) to disk, where the platform allows it. */
async function syncFolder(path: string): Promise<void> {
  try {
    using folder = await Deno.open(path, { read: true });
    await folder.sync();
  } catch {
    // Not every platform opens or syncs folders; the renames stand either way for a kill.
  }
}

/** Finish or undo a replacement that a kill interrupted; returns what it did, if anything. */
export async function recoverFolder(path: string): Promise<string | undefined> {
  const { dir, staging, previous } = siblings(path);
  const done: string[] = [];
  if (!(await exists(dir))) {
    if (await exists(join(staging, COMPLETE))) {
      await Deno.rename(staging, dir);
      done.push(`finished an interrupted save of ${dir}`);
    } else if (await exists(previous)) {
      await Deno.rename(previous, dir);
      done.push(`restored ${dir} from ${basename(previous)}`);
    }
  }
  for (const left of [previous, staging]) {
    if (await exists(left)) {
      await Deno.remove(left, { recursive: true });
      done.push(`removed ${left} (left by an interrupted save)`);
    }
  }
  return done.length ? done.join("; ") : undefined;
}

/**
 * Replace `path` with the folder that `write` fills (given the empty staging folder), as one
 * unit; `write` should flush its files ({@linkcode writeFileDurably}).
 */
export async function replaceFolder(
  path: string,
  write: (staging: string) => Promise<void>,
): Promise<void> {
  const { dir, staging, previous } = siblings(path);
  await recoverFolder(dir);
  await Deno.mkdir(dirname(dir), { recursive: true });
  await Deno.mkdir(staging);
  try {
    await write(staging);
    await writeFileDurably(join(staging, COMPLETE), "");
    await syncFolder(staging);
  } catch (e) {
    await Deno.remove(staging, { recursive: true }).catch(() => {});
    throw e;
  }
  if (await exists(dir)) await Deno.rename(dir, previous);
  await Deno.rename(staging, dir);
  await syncFolder(dirname(dir));
  await Deno.remove(previous, { recursive: true }).catch(() => {});
}
