/**
 * Small CIFAR-100 datasets in the exact real binary layout, for tests.
 *
 * `cifar-100-binary/{train.bin,test.bin,fine_label_names.txt,coarse_label_names.txt}`, each
 * record: coarse byte, fine byte, 1,024 red, 1,024 green, 1,024 blue bytes, rows top to
 * bottom. Pixel values follow {@linkcode fixturePixel} so tests can check placement exactly.
 * Load them with `loadCifar100({ data, expectedCounts: { train, test } })`.
 *
 * @module
 */
import { packTar, type TarEntry } from "modern-tar";
import { join } from "node:path";

/** Layout constants of the real files. */
export const RECORD_BYTES = 3074;

/** Fine label of fixture record `i` (all 100 labels appear once per 100 records). */
export function fixtureFine(i: number): number {
  return (i * 37 + 11) % 100;
}

/** A consistent fine-to-coarse mapping that is not `floor(fine / 5)`. */
export function fixtureCoarse(fine: number): number {
  return (fine * 7 + 3) % 20;
}

/**
 * Pixel value of fixture image `i` at row `r`, column `c`, channel `k` (0 red, 1 green, 2 blue).
 * `split` (0 train, 1 test) makes the two splits differ.
 */
export function fixturePixel(i: number, r: number, c: number, k: number, split = 0): number {
  return (i * 29 + r * 7 + c * 3 + k * 101 + split * 53) & 255;
}

/** Build a `.bin` file of `count` records following the fixture functions. */
export function makeBin(count: number, split = 0): Uint8Array {
  const bytes = new Uint8Array(count * RECORD_BYTES);
  for (let i = 0; i < count; i++) {
    const at = i * RECORD_BYTES;
    const fine = fixtureFine(i);
    bytes[at] = fixtureCoarse(fine);
    bytes[at + 1] = fine;
    for (let k = 0; k < 3; k++) {
      for (let r = 0; r < 32; r++) {
        for (let c = 0; c < 32; c++) {
          bytes[at + 2 + k * 1024 + r * 32 + c] = fixturePixel(i, r, c, k, split);
        }
      }
    }
  }
  return bytes;
}

/** Label-name file contents: `count` lines `prefix_00`, ... with a trailing newline. */
export function labelNames(prefix: string, count: number): string {
  return Array.from({ length: count }, (_, i) => `${prefix}_${String(i).padStart(2, "0")}\n`)
    .join("");
}

/** Fixture files by name inside `cifar-100-binary/`; a value of `undefined` leaves it out. */
export type FixtureFiles = Record<string, Uint8Array | string | undefined>;

/** Default fixture: `train` and `test` records, 100 fine and 20 coarse names. */
export function fixtureFiles(train = 120, test = 30): FixtureFiles {
  return {
    "train.bin": makeBin(train, 0),
    "test.bin": makeBin(test, 1),
    "fine_label_names.txt": labelNames("fine", 100),
    "coarse_label_names.txt": labelNames("coarse", 20),
  };
}

/** Write the files as `<dir>/cifar-100-binary/...`; returns that folder. */
export async function writeFixtureFolder(dir: string, files: FixtureFiles): Promise<string> {
  const folder = join(dir, "cifar-100-binary");
  await Deno.mkdir(folder, { recursive: true });
  for (const [name, body] of Object.entries(files)) {
    if (body === undefined) continue;
    if (typeof body === "string") await Deno.writeTextFile(join(folder, name), body);
    else await Deno.writeFile(join(folder, name), body);
  }
  return folder;
}

/** The files as tar.gz bytes, laid out like the official archive (folder entry first). */
export async function packFixtureArchive(files: FixtureFiles): Promise<Uint8Array> {
  const encoder = new TextEncoder();
  const entries: TarEntry[] = [{
    header: { name: "cifar-100-binary/", type: "directory", size: 0 },
  }];
  for (const [name, body] of Object.entries(files)) {
    if (body === undefined) continue;
    const bytes = typeof body === "string" ? encoder.encode(body) : body;
    entries.push({
      header: { name: `cifar-100-binary/${name}`, type: "file", size: bytes.length },
      body: bytes,
    });
  }
  const tar = await packTar(entries);
  const gzipped = new Blob([tar]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(gzipped).arrayBuffer());
}

/** Write the files as a tar.gz at `path`; returns `path`. */
export async function writeFixtureArchive(path: string, files: FixtureFiles): Promise<string> {
  await Deno.writeFile(path, await packFixtureArchive(files));
  return path;
}
