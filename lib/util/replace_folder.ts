/**
 * Replace a folder's contents as one unit, so that a process killed at any instant leaves
 * either the earlier complete folder or the new complete one, never a mixture.
 *
 * A run folder holds several files that must agree (model.json, weights.bin, run.json), and
 * readers open them by fixed names, so writing them in place can never be atomic: a kill
 * between two writes leaves new weights beside an old record. Instead the new contents are
 * written in full to a sibling `<dir>.saving` (same parent, so same file system), each file
 * flushed to disk, and a `.complete` marker written last. Then two renames:
 *
 * 1. `<dir>` -> `<dir>.previous` (when there is an earlier folder);
 * 2. `<dir>.saving` -> `<dir>`;
 *
 * and `<dir>.previous` is removed. A directory rename is atomic, so the only states a kill can
 * leave are: a `<dir>.saving` beside the old `<dir>` (the save did not finish: removed, the old
 * folder stands), a `.previous` beside the new `<dir>` (removed), or, between the two renames,
 * no `<dir>` but a complete `<dir>.saving` and a `<dir>.previous` (the save is rolled forward).
 * {@linkcode recoverFolder} sorts that out; the next save and every load call it first.
 * Renaming the folder itself (not its files one by one) is what makes the unit: Deno offers no
 * atomic exchange of two folders (Linux's renameat2), and two renames with a marker are the
 * portable equivalent. One file is replaced the same way, by a rename
 * ({@linkcode writeFileAtomically}).
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

/**
 * Write `data` to `path` and flush it to disk before returning (so a rename that follows never
 * publishes a file whose bytes are still only in memory).
 */
export async function writeFileDurably(path: string, data: Uint8Array | string): Promise<void> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  using file = await Deno.open(path, { write: true, create: true, truncate: true });
  let written = 0;
  while (written < bytes.length) written += await file.write(bytes.subarray(written));
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
      for (const part of parts) {
        const bytes = typeof part === "string" ? new TextEncoder().encode(part) : part;
        for (let done = 0; done < bytes.length;) done += await file.write(bytes.subarray(done));
      }
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

/**
 * Finish or undo a replacement of `dir` that a kill interrupted (see the module doc).
 * @returns what it did, for a log line, or undefined when there was nothing to do.
 */
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
 * Replace `dir` with a folder that `write` fills (it gets the staging folder's path, empty), as
 * one unit: a kill at any instant leaves the earlier `dir` or the new one (see the module doc).
 * Files that `write` creates should be flushed ({@linkcode writeFileDurably}).
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
