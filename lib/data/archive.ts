/**
 * Streaming reads of `.tar.gz` (or plain `.tar`) archives, one pass, nothing extracted to disk.
 *
 * gzip is undone by the runtime's native DecompressionStream; tar entries come from the
 * `modern-tar` decoder in strict mode, so bad header checksums and truncation are errors.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { createTarDecoder } from "modern-tar";
import { firstLine, UserError } from "../util/errors.ts";

/** A regular file inside an archive. Its body must be read to the end or cancelled. */
export interface ArchiveEntry {
  /** Path inside the archive, e.g. `cifar-100-binary/train.bin`. */
  name: string;
  /** Size in bytes from the tar header. */
  size: number;
  /** The file's bytes. */
  body: ReadableStream<Uint8Array>;
}

/**
 * Read every regular file of a tar.gz (or tar) archive in order, handing each to `onEntry`.
 *
 * `onEntry` may read the body or leave it; unread bodies are skipped. A {@linkcode UserError}
 * thrown by `onEntry` passes through unchanged; any other failure (bad gzip, bad tar header,
 * truncation) becomes one UserError naming the archive.
 *
 * @param onEntry called per regular file; directories and links are skipped
 * @param options `md5`: also compute the archive's MD5 in the same pass
 * @returns the archive's MD5 (hex) when asked for
 * @throws {UserError} when the archive is corrupt, truncated or not a tar.gz
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { packTar } from "modern-tar";
 * const body = new TextEncoder().encode("apple\n");
 * const tar = await packTar([{ header: { name: "names.txt", type: "file", size: 6 }, body }]);
 * const path = await Deno.makeTempFile({ suffix: ".tar.gz" });
 * await Deno.writeFile(path, new Blob([tar]).stream().pipeThrough(new CompressionStream("gzip")));
 * const texts: string[] = [];
 * await readArchive(path, async (entry) => {
 *   if (entry.name.endsWith(".txt")) texts.push(await new Response(entry.body).text());
 * });
 * assert.deepEqual(texts, ["apple\n"]);
 * await Deno.remove(path);
 * ```
 */
export async function readArchive(
  path: string,
  onEntry: (entry: ArchiveEntry) => Promise<void>,
  options: { md5?: boolean } = {},
): Promise<{ md5?: string }> {
  const hash = options.md5 ? createHash("md5") : undefined;
  try {
    using file = await Deno.open(path, { read: true });
    const magic = new Uint8Array(2);
    const gzip = (await file.read(magic)) === 2 && magic[0] === 0x1f && magic[1] === 0x8b;
    await file.seek(0, Deno.SeekMode.Start);

    let bytes: ReadableStream<Uint8Array> = file.readable;
    if (hash) {
      bytes = bytes.pipeThrough(
        new TransformStream<Uint8Array, Uint8Array>({
          transform(chunk, controller) {
            hash.update(chunk);
            controller.enqueue(chunk);
          },
        }),
      );
    }
    if (gzip) {
      // DecompressionStream is typed as taking any BufferSource; it gets Uint8Array here.
      const gunzip = new DecompressionStream("gzip") as unknown as TransformStream<
        Uint8Array,
        Uint8Array
      >;
      bytes = bytes.pipeThrough(gunzip);
    }
    const entries = bytes.pipeThrough(createTarDecoder({ strict: true }));
    for await (const entry of entries) {
      const { name, size, type } = entry.header;
      if ((type ?? "file") !== "file") {
        await entry.body.cancel();
        continue;
      }
      let consumed = false;
      const body = entry.body;
      await onEntry({
        name,
        size,
        get body() {
          consumed = true;
          return body;
        },
      });
      if (!consumed) await body.cancel();
    }
  } catch (e) {
    if (e instanceof UserError) throw e;
    if (e instanceof Deno.errors.NotFound) {
      throw new UserError(
        `${path}: no such file; give the path of cifar-100-binary.tar.gz or cifar-100-python.tar.gz`,
      );
    }
    const why = firstLine(e);
    throw new UserError(
      `${path}: corrupt or not a tar.gz archive (${why}); get it again, or extract it and give the folder`,
    );
  }
  return { md5: hash?.digest("hex") };
}
