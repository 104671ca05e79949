/**
 * Small CIFAR-100 datasets in the exact real layouts, for tests.
 *
 * Binary version: `cifar-100-binary/{train.bin,test.bin,fine_label_names.txt,
 * coarse_label_names.txt}`, each record: coarse byte, fine byte, 1,024 red, 1,024 green,
 * 1,024 blue bytes, rows top to bottom. Python version: `cifar-100-python/{train,test,meta}`,
 * written as the official files were, by Python 2's cPickle with protocol 2 ({@linkcode
 * py2Pickle}). Both hold the same images: pixel values follow {@linkcode fixturePixel} so tests
 * can check placement exactly. Load them with `loadCifar100({ data, expectedCounts })`.
 *
 * @module
 */
import { packTar, type TarEntry } from "modern-tar";
import { join } from "node:path";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { UserError } from "../lib/util/errors.ts";

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

/** Write the files as `<dir>/<folder>/...` (default `cifar-100-binary`); returns that folder. */
export async function writeFixtureFolder(
  dir: string,
  files: FixtureFiles,
  name = "cifar-100-binary",
): Promise<string> {
  const folder = join(dir, name);
  await Deno.mkdir(folder, { recursive: true });
  for (const [name, body] of Object.entries(files)) {
    if (body === undefined) continue;
    if (typeof body === "string") await Deno.writeTextFile(join(folder, name), body);
    else await Deno.writeFile(join(folder, name), body);
  }
  return folder;
}

/**
 * The files as tar.gz bytes, laid out like the official archive (folder entry first) in
 * `folder` (default `cifar-100-binary`).
 */
export async function packFixtureArchive(
  files: FixtureFiles,
  folder = "cifar-100-binary",
): Promise<Uint8Array> {
  const encoder = new TextEncoder();
  const entries: TarEntry[] = [{
    header: { name: `${folder}/`, type: "directory", size: 0 },
  }];
  for (const [name, body] of Object.entries(files)) {
    if (body === undefined) continue;
    const bytes = typeof body === "string" ? encoder.encode(body) : body;
    entries.push({
      header: { name: `${folder}/${name}`, type: "file", size: bytes.length },
      body: bytes,
    });
  }
  const tar = await packTar(entries);
  const gzipped = new Blob([tar]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(gzipped).arrayBuffer());
}

/** Write the files as a tar.gz at `path` (see {@linkcode packFixtureArchive}); returns `path`. */
export async function writeFixtureArchive(
  path: string,
  files: FixtureFiles,
  folder = "cifar-100-binary",
): Promise<string> {
  await Deno.writeFile(path, await packFixtureArchive(files, folder));
  return path;
}

// ---- The python version -------------------------------------------------------------------

/** A Python value as the fixture pickles it. Strings are Python 2 `str` (Latin-1 bytes). */
export type PyValue =
  | null
  | boolean
  | number
  | string
  | PyValue[]
  | PyTuple
  | Map<string, PyValue>
  | NumpyU1
  | PyGlobal;

/** A Python tuple (a JS array is a list). */
export class PyTuple {
  constructor(readonly items: PyValue[]) {}
}

/** A numpy uint8 array in C order. */
export class NumpyU1 {
  constructor(readonly shape: number[], readonly data: Uint8Array) {}
}

/** A bare reference to a global (as an attacker's pickle would have). */
export class PyGlobal {
  constructor(readonly module: string, readonly name: string) {}
}

/**
 * Pickle `value` as Python 2.7's cPickle.dump(value, f, 2) does, opcode for opcode: PROTO 2;
 * strings as SHORT_BINSTRING/BINSTRING and memoized (BINPUT/LONG_BINPUT from 1, BINGET for a
 * repeat); ints as BININT1/BININT2/BININT; lists and dicts empty first, then filled in batches of
 * 1,000 (APPEND/SETITEM for a batch of one, else MARK ... APPENDS/SETITEMS); tuples of up to 3
 * as TUPLE1-3; and a numpy array as numpy's `__reduce__` gives it:
 * `_reconstruct(ndarray, (0,), 'b')`, REDUCE, then BUILD with
 * `(1, shape, dtype('u1', 0, 1) + BUILD (3, '|', None, None, None, -1, -1, 0), False, data)`.
 */
export function py2Pickle(value: PyValue): Uint8Array {
  const out = new ByteSink();
  const memo = new Map<unknown, number>();
  const put = (key: unknown) => {
    const index = memo.size + 1; // cPickle numbers its memo from 1
    memo.set(key, index);
    if (index < 256) out.bytes(0x71, index); // BINPUT
    else out.bytes(0x72, ...u32(index)); // LONG_BINPUT
  };
  const get = (key: unknown): boolean => {
    const index = memo.get(key);
    if (index === undefined) return false;
    if (index < 256) out.bytes(0x68, index); // BINGET
    else out.bytes(0x6a, ...u32(index)); // LONG_BINGET
    return true;
  };
  const str = (s: string | Uint8Array) => {
    const key = typeof s === "string" ? `str:${s}` : s;
    if (get(key)) return;
    const bytes = typeof s === "string" ? Uint8Array.from(s, (c) => c.charCodeAt(0)) : s;
    if (bytes.length < 256) out.bytes(0x55, bytes.length); // SHORT_BINSTRING
    else out.bytes(0x54, ...u32(bytes.length)); // BINSTRING
    out.raw(bytes);
    put(key);
  };
  const int = (n: number) => {
    if (n >= 0 && n < 256) out.bytes(0x4b, n); // BININT1
    else if (n >= 0 && n < 65536) out.bytes(0x4d, n & 255, n >> 8); // BININT2
    else out.bytes(0x4a, ...u32(n >>> 0)); // BININT
  };
  const global = (module: string, name: string) => {
    const key = `global:${module}.${name}`;
    if (get(key)) return;
    out.bytes(0x63); // GLOBAL
    out.raw(new TextEncoder().encode(`${module}\n${name}\n`));
    put(key);
  };
  const tuple = (items: (() => void)[], key: unknown) => {
    if (items.length === 0) return out.bytes(0x29); // EMPTY_TUPLE, not memoized
    if (items.length > 3) out.bytes(0x28); // MARK
    for (const item of items) item();
    out.bytes(items.length > 3 ? 0x74 : [0x85, 0x86, 0x87][items.length - 1]);
    put(key);
  };
  /** Batches of 1,000: one item + `single`, or MARK items `many`. */
  const batches = (count: number, item: (i: number) => void, single: number, many: number) => {
    for (let start = 0; start < count; start += 1000) {
      const end = Math.min(count, start + 1000);
      if (end - start > 1) out.bytes(0x28);
      for (let i = start; i < end; i++) item(i);
      out.bytes(end - start > 1 ? many : single);
    }
  };
  const save = (v: PyValue): void => {
    if (v === null) return out.bytes(0x4e); // NONE
    if (typeof v === "boolean") return out.bytes(v ? 0x88 : 0x89); // NEWTRUE / NEWFALSE
    if (typeof v === "number") return int(v);
    if (typeof v === "string") return str(v);
    if (v instanceof PyGlobal) return global(v.module, v.name);
    if (v instanceof PyTuple) return tuple(v.items.map((item) => () => save(item)), v);
    if (Array.isArray(v)) {
      out.bytes(0x5d); // EMPTY_LIST
      put(v);
      return batches(v.length, (i) => save(v[i]), 0x61, 0x65); // APPEND / APPENDS
    }
    if (v instanceof Map) {
      out.bytes(0x7d); // EMPTY_DICT
      put(v);
      const entries = [...v];
      return batches(
        entries.length,
        (i) => {
          str(entries[i][0]);
          save(entries[i][1]);
        },
        0x73,
        0x75,
      ); // SETITEM / SETITEMS
    }
    // numpy.ndarray.__reduce__ -> (_reconstruct, (ndarray, (0,), 'b'), state)
    global("numpy.core.multiarray", "_reconstruct");
    tuple([() => global("numpy", "ndarray"), () => tuple([() => int(0)], {}), () => str("b")], {});
    out.bytes(0x52); // REDUCE
    put(v);
    out.bytes(0x28);
    int(1);
    tuple(v.shape.map((d) => () => int(d)), {});
    global("numpy", "dtype");
    tuple([() => str("u1"), () => int(0), () => int(1)], {});
    out.bytes(0x52);
    put({});
    tuple(
      [3, "|", null, null, null, -1, -1, 0].map((item) => () => save(item as PyValue)),
      {},
    );
    out.bytes(0x62); // BUILD (the dtype)
    out.bytes(0x89); // is_fortran: False
    str(v.data);
    out.bytes(0x74); // TUPLE (the array's state)
    put({});
    out.bytes(0x62); // BUILD (the array)
  };
  out.bytes(0x80, 2); // PROTO 2
  save(value);
  out.bytes(0x2e); // STOP
  return out.concat();
}

function u32(n: number): number[] {
  return [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, n >>> 24];
}

/** Small writes gathered in a growing buffer; large ones kept as they are. */
class ByteSink {
  #chunks: Uint8Array[] = [];
  #small: number[] = [];
  bytes(...values: number[]): void {
    for (const v of values) this.#small.push(v);
  }
  raw(bytes: Uint8Array): void {
    if (bytes.length < 4096) {
      for (const b of bytes) this.#small.push(b);
      return;
    }
    this.#flush();
    this.#chunks.push(bytes);
  }
  concat(): Uint8Array {
    this.#flush();
    const out = new Uint8Array(this.#chunks.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const chunk of this.#chunks) {
      out.set(chunk, at);
      at += chunk.length;
    }
    return out;
  }
  #flush(): void {
    if (this.#small.length > 0) this.#chunks.push(Uint8Array.from(this.#small));
    this.#small = [];
  }
}

/**
 * The dict of a python-version `train` (split 0) or `test` (split 1) file holding the same
 * images and labels as {@linkcode makeBin}, with the official file's keys in its order.
 */
export function pythonSplitDict(count: number, split = 0): Map<string, PyValue> {
  const bin = makeBin(count, split);
  const data = new Uint8Array(count * 3072);
  for (let i = 0; i < count; i++) {
    data.set(bin.subarray(i * RECORD_BYTES + 2, (i + 1) * RECORD_BYTES), i * 3072);
  }
  const fine = Array.from({ length: count }, (_, i) => fixtureFine(i));
  return new Map<string, PyValue>([
    ["filenames", Array.from({ length: count }, (_, i) => `fixture_${split}_${i}.png`)],
    ["batch_label", split === 0 ? "training batch 1 of 1" : "testing batch 1 of 1"],
    ["fine_labels", fine],
    ["coarse_labels", fine.map(fixtureCoarse)],
    ["data", new NumpyU1([count, 3072], data)],
  ]);
}

/** The dict of the python version's `meta` file: the fixture's 100 fine and 20 coarse names. */
export function pythonMetaDict(fine = 100, coarse = 20): Map<string, PyValue> {
  const names = (prefix: string, n: number) => labelNames(prefix, n).trim().split("\n");
  return new Map<string, PyValue>([
    ["fine_label_names", names("fine", fine)],
    ["coarse_label_names", names("coarse", coarse)],
  ]);
}

/** Python-version files (inside `cifar-100-python/`) with the same data as `fixtureFiles`. */
export function pythonFixtureFiles(train = 120, test = 30): FixtureFiles {
  return {
    "train": py2Pickle(pythonSplitDict(train, 0)),
    "test": py2Pickle(pythonSplitDict(test, 1)),
    "meta": py2Pickle(pythonMetaDict()),
    "file.txt~": "", // the official archive has this leftover too
  };
}

/** The MD5 of some bytes, hex, as the loader reports a file's. */
export function md5(bytes: Uint8Array): string {
  return createHash("md5").update(bytes).digest("hex");
}

/** Asserts a one-line UserError whose message contains every fragment. */
export async function rejectsWith(promise: Promise<unknown>, ...fragments: string[]) {
  await assert.rejects(promise, (e) => {
    assert.ok(e instanceof UserError, `expected a UserError, got ${e}`);
    assert.ok(!e.message.includes("\n"), `one line: ${e.message}`);
    for (const f of fragments) assert.ok(e.message.includes(f), `"${f}" in: ${e.message}`);
    return true;
  });
}
