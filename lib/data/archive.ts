/**
 * Streaming reads of `.tar.gz` (or `.tar`) archives in one pass, nothing extracted; modern-tar's
 * strict mode makes bad header checksums and truncation errors.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { createTarDecoder } from "modern-tar";
import { firstLine, UserError } from "../util/errors.ts";

type Bytes = TransformStream<Uint8Array, Uint8Array>;

/** A regular file inside an archive (`name` e.g. `cifar-100-binary/train.bin`). */
export interface ArchiveEntry {
  name: string;
  size: number;
  body: ReadableStream<Uint8Array>;
}

/**
 * Hand every regular file of a tar.gz (or tar) archive to `onEntry` in order (a body it leaves
 * unread is skipped), and with `md5`, hash the archive in the same pass.
 *
 * @throws {UserError} when the archive is corrupt, truncated or not a tar.gz; one from `onEntry`
 *   passes through unchanged
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
    // DecompressionStream is typed as taking any BufferSource; it gets Uint8Array here.
    if (gzip) bytes = bytes.pipeThrough(new DecompressionStream("gzip") as unknown as Bytes);
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
