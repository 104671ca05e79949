/**
 * Where the caches are (this project's {@linkcode cacheRoot}, Keras's {@linkcode kerasHome}, read
 * only) and one download-and-cache helper. Env `CIFAR100_OFFLINE=1` forbids downloads.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { homedir } from "node:os";
import { firstLine, UserError } from "./errors.ts";
import { statOrUndefined } from "./paths.ts";
import { createProgress } from "./progress.ts";

/**
 * The cache folder (not created here): env `CIFAR100_CACHE` if set, else
 * `$XDG_CACHE_HOME/cifar100-ts`, else `$HOME/.cache/cifar100-ts`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * Deno.env.set("CIFAR100_CACHE", "/data/cache");
 * assert.equal(cacheRoot(), "/data/cache");
 * Deno.env.delete("CIFAR100_CACHE");
 * ```
 */
export function cacheRoot(): string {
  const override = Deno.env.get("CIFAR100_CACHE");
  if (override) return override;
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  if (xdg) return join(xdg, "cifar100-ts");
  const home = Deno.env.get("HOME") || homedir();
  return join(home, ".cache", "cifar100-ts");
}

/** MD5 of a file as lowercase hex, read in chunks (the file is never held in memory). */
export async function md5File(path: string): Promise<string> {
  const hash = createHash("md5");
  using file = await Deno.open(path, { read: true });
  const buffer = new Uint8Array(4 << 20);
  while (true) {
    const n = await file.read(buffer);
    if (n === null) break;
    hash.update(buffer.subarray(0, n));
  }
  return hash.digest("hex");
}

/** A file known by URL and checksum. */
export interface RemoteFile {
  url: string;
  /** Expected MD5, lowercase hex; absent where the publisher gives none (the caller checks). */
  md5?: string;
  /** Name in the cache folder, e.g. `cifar-100-binary.tar.gz`. */
  fileName: string;
  /** What it is, for messages and the progress bar, e.g. `CIFAR-100 archive`. */
  what: string;
}

/** Options for {@linkcode fetchCached}. */
interface FetchOptions {
  /** Folder to cache in; default {@linkcode cacheRoot}. Created when needed. */
  cacheDir?: string;
  /** Folders looked in first for a copy with the right MD5 (e.g. Keras's); never written. */
  elsewhere?: string[];
  /** The fetch to use (tests inject one that serves from memory); default global fetch. */
  fetch?: typeof fetch;
  /** Called as bytes arrive (total is 0 when the server does not say). */
  onProgress?: (done: number, total: number) => void;
}

/** A download failed (network, HTTP status, broken stream); `url` says which. */
export class DownloadError extends UserError {
  override name = "DownloadError";
  constructor(readonly url: string, message: string) {
    super(message);
  }
}

/**
 * The Keras home folder, holding `datasets/` and `models/`: env `KERAS_HOME` if set, else
 * `$HOME/.keras`, as Keras decides it. Nothing is written there.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * Deno.env.set("KERAS_HOME", "/data/keras");
 * assert.equal(kerasHome(), "/data/keras");
 * Deno.env.delete("KERAS_HOME");
 * ```
 */
export function kerasHome(): string {
  const override = Deno.env.get("KERAS_HOME");
  if (override) return override;
  return join(Deno.env.get("HOME") || homedir(), ".keras");
}

/**
 * A local copy of `file` whose MD5 matches: from `elsewhere`, the cache, or a download. A download
 * goes to a temporary file beside its place and is renamed there only once its MD5 matched, so an
 * interrupted or altered download is never found, and trusted, later.
 *
 * @throws {DownloadError} when the download fails (callers add how to supply the file by hand)
 * @throws {UserError} when the downloaded bytes have the wrong MD5 (nothing is kept)
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const cacheDir = await Deno.makeTempDir();
 * const file = { // a data: URL stands in for a server here
 *   url: "data:text/plain,hello", md5: "5d41402abc4b2a76b9719d911017c592",
 *   fileName: "hello.txt", what: "greeting",
 * };
 * const first = await fetchCached(file, { cacheDir });
 * assert.equal(await Deno.readTextFile(first.path), "hello");
 * assert.equal((await fetchCached(file, { cacheDir })).downloaded, false); // now from the cache
 * await Deno.remove(cacheDir, { recursive: true });
 * ```
 */
export async function fetchCached(
  file: RemoteFile,
  options: FetchOptions = {},
): Promise<{ path: string; downloaded: boolean }> {
  const dir = options.cacheDir ?? cacheRoot();
  const path = join(dir, file.fileName);
  const places = [...(options.elsewhere ?? []).map((d) => join(d, file.fileName)), path];
  const found = await findVerifiedCopy(places, file.md5);
  if (found.path) return { path: found.path, downloaded: false };
  await Deno.mkdir(dir, { recursive: true }).catch((e) => {
    throw new UserError(
      `cannot create cache folder ${dir} (${firstLine(e)}); set CIFAR100_CACHE to a writable ` +
        "folder",
    );
  });
  const response = await startDownload(file, options, found.rejected);
  await downloadInto(path, response, file, options.onProgress);
  return { path, downloaded: true };
}

/** The first of `places` with the right MD5; else a note on each copy with another MD5. */
async function findVerifiedCopy(
  places: string[],
  md5: string | undefined,
): Promise<{ path?: string; rejected: string }> {
  const notes = [];
  for (const place of places) {
    if (!(await statOrUndefined(place))?.isFile) continue;
    if (md5 === undefined) return { path: place, rejected: "" };
    const actual = await md5File(place);
    if (actual === md5) return { path: place, rejected: "" };
    notes.push(`${place} has MD5 ${actual}, expected ${md5}, so it is not used`);
  }
  return { rejected: notes.length > 0 ? ` (${notes.join("; ")})` : "" };
}

/** A response with a body, unless offline; `rejected` explains unusable copies. */
async function startDownload(
  file: RemoteFile,
  options: FetchOptions,
  rejected: string,
): Promise<Response & { body: ReadableStream<Uint8Array> }> {
  const doFetch = options.fetch ?? fetch;
  if (!options.fetch && Deno.env.get("CIFAR100_OFFLINE") === "1") {
    throw new DownloadError(
      file.url,
      `not downloading ${file.what} from ${file.url}: CIFAR100_OFFLINE=1${rejected}`,
    );
  }
  const failed = (why: string) =>
    new DownloadError(file.url, `could not download ${file.what} from ${file.url}: ${why}`);
  let response: Response;
  try {
    response = await doFetch(file.url);
  } catch (e) {
    throw failed(`${firstLine(e)}${rejected}`);
  }
  if (!response.ok || !response.body) {
    await response.body?.cancel();
    throw failed(`HTTP ${response.status} ${response.statusText}${rejected}`.trimEnd());
  }
  return response as Response & { body: ReadableStream<Uint8Array> };
}

/** The body, with a progress bar, into a temporary file renamed to `path` if its MD5 matches. */
async function downloadInto(
  path: string,
  response: Response & { body: ReadableStream<Uint8Array> },
  file: RemoteFile,
  onProgress: FetchOptions["onProgress"],
): Promise<void> {
  const total = Number(response.headers.get("content-length")) || 0;
  const progress = createProgress({
    total,
    label: `Downloading ${file.what}`,
    bytes: true,
    onUpdate: onProgress,
  });
  // Same folder, so the rename is atomic; a killed process's leftover never has the final name.
  const temp = `${path}.${crypto.randomUUID().slice(0, 8)}.part`;
  const hash = createHash("md5");
  let done = 0;
  try {
    using out = await Deno.open(temp, { write: true, createNew: true });
    let reported = 0;
    for await (const chunk of response.body) {
      hash.update(chunk);
      for (let written = 0; written < chunk.length;) {
        written += await out.write(chunk.subarray(written));
      }
      done += chunk.length;
      // Report about once per MB, not once per chunk, to keep notebooks' displays cheap.
      if (done - reported >= 1 << 20) {
        progress.update(done);
        reported = done;
      }
    }
    progress.update(done);
  } catch (e) {
    await Deno.remove(temp).catch(() => {});
    throw new DownloadError(
      file.url,
      `download of ${file.what} from ${file.url} failed after ${done} bytes: ${firstLine(e)}`,
    );
  } finally {
    progress.stop();
  }
  const md5 = hash.digest("hex");
  if (file.md5 !== undefined && md5 !== file.md5) {
    await Deno.remove(temp).catch(() => {});
    throw new UserError(
      `downloaded ${file.what} from ${file.url} has MD5 ${md5}, expected ${file.md5} ` +
        `(${done} bytes); it was not kept, try again`,
    );
  }
  try {
    await Deno.rename(temp, path);
  } catch (e) {
    await Deno.remove(temp).catch(() => {});
    throw new UserError(`cannot move the download into ${path} (${firstLine(e)})`);
  }
}
