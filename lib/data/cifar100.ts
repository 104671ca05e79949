/**
 * CIFAR-100, in the spirit of `keras.datasets.cifar100.load_data`: both splits as uint8 NHWC
 * images with fine and coarse labels, the label names and the fine-to-coarse mapping.
 *
 * Where the data comes from, in this order:
 * 1. `options.data`, else env `CIFAR100_DATA`: a `cifar-100-binary.tar.gz`, its extracted
 *    folder (or the folder holding it), or `"synthetic"`;
 * 2. the cache folder ({@linkcode cacheRoot}): `cifar-100-binary/` extracted there, or
 *    `cifar-100-binary.tar.gz` with the official MD5;
 * 3. a download from {@linkcode CIFAR100_URL}, MD5-checked, written atomically into the cache.
 *
 * `source.origin` says whether it is the official dataset: `official` only for an archive whose
 * MD5 is the official one; `unofficial` for another archive (accepted when its structure is
 * valid); `unverified` for an extracted folder, since the files inside the archive have no
 * published checksums to check them against.
 *
 * Images stay uint8 (184 MB for both splits); lib/data/examples.ts converts a batch at a time.
 *
 * @module
 */
import { join } from "node:path";
import { cacheRoot, DownloadError, fetchCached, type RemoteFile } from "../util/cache.ts";
import { UserError } from "../util/errors.ts";
import { type ArchiveEntry, readArchive } from "./archive.ts";
import { parseLabelNames, RECORD_BYTES, RecordDecoder, UNSEEN } from "./cifar_binary.ts";
import {
  type Cifar100,
  COARSE_CLASSES,
  type DataSource,
  FINE_CLASSES,
  type Split,
} from "./dataset.ts";
import { syntheticCifar100 } from "./synthetic.ts";

/** The official CIFAR-100 binary archive. */
export const CIFAR100_URL = "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz";
/** MD5 of the official archive. */
export const CIFAR100_MD5 = "03b5dce01913d631647c71ecec9e9cb8";
/** The archive's name in the cache folder. */
export const CIFAR100_ARCHIVE = "cifar-100-binary.tar.gz";
/** The folder inside the archive. */
export const CIFAR100_FOLDER = "cifar-100-binary";
/** Records in the official train.bin and test.bin. */
export const CIFAR100_COUNTS: Readonly<{ train: number; test: number }> = {
  train: 50000,
  test: 10000,
};

const REMOTE: RemoteFile = {
  url: CIFAR100_URL,
  md5: CIFAR100_MD5,
  fileName: CIFAR100_ARCHIVE,
  what: "CIFAR-100 archive",
};
const FILES = {
  train: "train.bin",
  test: "test.bin",
  fine: "fine_label_names.txt",
  coarse: "coarse_label_names.txt",
} as const;

/** Options for {@linkcode loadCifar100}. */
export interface LoadOptions {
  /** A `.tar.gz`, an extracted folder, or `"synthetic"`; default env `CIFAR100_DATA`. */
  data?: string;
  /** Seed for synthetic data (default 0). */
  seed?: number;
  /**
   * Keep the first N training records (all are still validated). For synthetic data this is
   * the number generated (default 5,000).
   */
  limitTrain?: number;
  /** Keep the first N test records; for synthetic data the number generated (default 1,000). */
  limitTest?: number;
  /** Cache folder; default {@linkcode cacheRoot}. */
  cacheDir?: string;
  /** Fetch used for the download (tests inject one). */
  fetch?: typeof fetch;
  /** Download progress callback (bytes done, bytes in all). */
  onProgress?: (done: number, total: number) => void;
  /**
   * The record counts train.bin and test.bin must have. Default: CIFAR-100's 50,000 and 10,000
   * for the cached or downloaded data; for data given explicitly (`data`, `CIFAR100_DATA`), any
   * counts, with a note in `source.note` when they are not CIFAR-100's (such data is not
   * CIFAR-100, e.g. lib/data/sklearn_digits.ts). Tests pass small fixtures' counts.
   */
  expectedCounts?: { train: number; test: number };
  /**
   * For tests and fixtures only: the official archive's MD5 (default {@linkcode CIFAR100_MD5}),
   * which a downloaded or cached archive must have and which makes an archive `official`, so
   * those paths can be tested with a small archive.
   */
  expectedMd5?: string;
}

/**
 * Load CIFAR-100 (or the synthetic stand-in), finding or downloading it as described above.
 *
 * @param options where the data is, limits, cache folder
 * @returns both splits with label names, mapping and a description of the source
 * @throws {UserError} one line naming the file and the problem: missing path, corrupt archive,
 *   wrong size or record count, label out of range, missing label names, or no data and no
 *   network (then it lists every way to provide the data)
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const data = await loadCifar100({ data: "synthetic", limitTrain: 1000 });
 * assert.equal(data.train.count, 1000);
 * assert.match(data.source.description, /SYNTHETIC/);
 * ```
 */
export async function loadCifar100(options: LoadOptions = {}): Promise<Cifar100> {
  const fromEnv = options.data === undefined;
  const data = options.data ?? (Deno.env.get("CIFAR100_DATA") || undefined);
  checkLimit("limitTrain", options.limitTrain);
  checkLimit("limitTest", options.limitTest);

  if (data === "synthetic") {
    return syntheticCifar100({
      seed: options.seed,
      trainCount: options.limitTrain,
      testCount: options.limitTest,
    });
  }

  if (data !== undefined) {
    const origin = fromEnv ? "CIFAR100_DATA" : "data path";
    const info = await statOrUndefined(data);
    if (!info) {
      throw new UserError(
        `${origin} ${data}: not found; give a cifar-100-binary.tar.gz or its extracted folder ` +
          `(--data PATH), or --data synthetic`,
      );
    }
    // Explicit data may hold any number of records (noted when not CIFAR-100's).
    const counts = options.expectedCounts ?? ANY_COUNTS;
    if (info.isDirectory) {
      const folder = resolveFolder(data, await isDataFolder(data));
      return await loadFolder(folder, "folder", options, counts);
    }
    const dataset = await loadArchive(data, "archive", undefined, options, counts);
    if (dataset.source.origin === "unofficial") {
      const note = `${data} has MD5 ${dataset.source.md5}, not the official ` +
        `${officialMd5(options)}; it was accepted because its structure is valid, and its ` +
        `results are labelled as not the official CIFAR-100`;
      dataset.source.note = dataset.source.note ? `${dataset.source.note}; ${note}` : note;
    }
    return dataset;
  }

  const cacheDir = options.cacheDir ?? cacheRoot();
  const cachedFolder = join(cacheDir, CIFAR100_FOLDER);
  if ((await statOrUndefined(cachedFolder))?.isDirectory) {
    return await loadFolder(cachedFolder, "cache", options);
  }
  let fetched: { path: string; downloaded: boolean };
  try {
    fetched = await fetchCached({ ...REMOTE, md5: officialMd5(options) }, {
      cacheDir,
      fetch: options.fetch,
      onProgress: options.onProgress,
    });
  } catch (e) {
    if (!(e instanceof DownloadError)) throw e;
    throw new DownloadError(
      e.url,
      `CIFAR-100 not found, and ${e.message}. Provide it in one of three ways: ` +
        `--data PATH (a cifar-100-binary.tar.gz or its extracted folder); ` +
        `env CIFAR100_DATA=PATH; or put cifar-100-binary.tar.gz in ${cacheDir} ` +
        `(when online it downloads there automatically). ` +
        `For a quick run without the real data: --data synthetic`,
    );
  }
  return await loadArchive(
    fetched.path,
    fetched.downloaded ? "download" : "cache",
    officialMd5(options),
    options,
  );
}

/** Record counts train.bin and test.bin must have; undefined: any. */
type Counts = { train?: number; test?: number };

/** Any number of records (see `LoadOptions.expectedCounts`). */
const ANY_COUNTS: Counts = {};

/** The four files a dataset is made of, read from a folder or an archive. */
interface Parts {
  train?: Split;
  test?: Split;
  fine?: string[];
  coarse?: string[];
  /** Records in each file, before limits. */
  records: { train: number; test: number };
}

/** How data with other counts than CIFAR-100's is described: never as CIFAR-100. */
function notCifarDescription(where: string, parts: Parts): string {
  const fmt = (n: number) => n.toLocaleString("en-US");
  return `NOT CIFAR-100: ${fmt(parts.records.train)} train / ${fmt(parts.records.test)} test ` +
    `images in CIFAR-100's binary layout from ${where}`;
}

/**
 * A note, which every run logs and records, when data has other record counts than
 * CIFAR-100's: it is then no CIFAR-100, whatever its origin.
 */
function countsNote(where: string, parts: Parts, counts: Counts): string | undefined {
  const { train, test } = parts.records;
  const accepted = counts.train === undefined || counts.test === undefined;
  if (!accepted || (train === CIFAR100_COUNTS.train && test === CIFAR100_COUNTS.test)) {
    return undefined;
  }
  const fmt = (n: number) => n.toLocaleString("en-US");
  return `${where} holds ${fmt(train)} training and ${fmt(test)} test records, not ` +
    `CIFAR-100's ${fmt(CIFAR100_COUNTS.train)} and ${fmt(CIFAR100_COUNTS.test)}: it is not ` +
    `CIFAR-100, and its results are not CIFAR-100 results`;
}

async function loadFolder(
  folder: string,
  kind: "folder" | "cache",
  options: LoadOptions,
  counts: Counts = options.expectedCounts ?? CIFAR100_COUNTS,
): Promise<Cifar100> {
  const fineToCoarse = new Uint8Array(FINE_CLASSES).fill(UNSEEN);
  const sizes: number[] = [];
  const parts: Parts = { records: { train: 0, test: 0 } };
  const missing = [];
  for (const file of Object.values(FILES)) {
    if (!(await statOrUndefined(join(folder, file)))?.isFile) missing.push(file);
  }
  if (missing.length > 0) {
    throw new UserError(
      `${folder}: missing ${missing.join(", ")}; expected the extracted cifar-100-binary folder ` +
        `(train.bin, test.bin, fine_label_names.txt, coarse_label_names.txt)`,
    );
  }
  for (const split of ["train", "test"] as const) {
    const path = join(folder, FILES[split]);
    using file = await Deno.open(path, { read: true });
    const byteLength = (await file.stat()).size;
    sizes.push(byteLength);
    parts.records[split] = byteLength / RECORD_BYTES;
    const decoder = new RecordDecoder({
      name: path,
      byteLength,
      expectedCount: counts[split],
      limit: split === "train" ? options.limitTrain : options.limitTest,
      fineToCoarse,
    });
    const buffer = new Uint8Array(4 << 20);
    while (true) {
      const n = await file.read(buffer);
      if (n === null) break;
      decoder.push(buffer.subarray(0, n));
    }
    parts[split] = decoder.finish();
  }
  for (const [key, expected] of [["fine", FINE_CLASSES], ["coarse", COARSE_CLASSES]] as const) {
    const path = join(folder, FILES[key]);
    parts[key] = parseLabelNames(await Deno.readTextFile(path), path, expected);
  }
  const unverified = `${folder} is an extracted folder, which cannot be checked against the ` +
    `official archive's MD5: results are labelled unverified (give the .tar.gz to verify it)`;
  const other = countsNote(folder, parts, counts);
  return assemble(parts, fineToCoarse, {
    kind,
    path: folder,
    synthetic: false,
    // No published checksums for the extracted files: only an archive can be verified.
    origin: "unverified",
    note: other ? `${other}; ${unverified}` : unverified,
    id: `folder:${folder}:${sizes.join(",")}`,
    description: other ? notCifarDescription(folder, parts) : `CIFAR-100 from ${folder}`,
  });
}

async function loadArchive(
  path: string,
  kind: "archive" | "cache" | "download",
  knownMd5: string | undefined,
  options: LoadOptions,
  counts: Counts = options.expectedCounts ?? CIFAR100_COUNTS,
): Promise<Cifar100> {
  const fineToCoarse = new Uint8Array(FINE_CLASSES).fill(UNSEEN);
  const parts: Parts = { records: { train: 0, test: 0 } };
  let sawPythonVersion = false;
  const onEntry = async (entry: ArchiveEntry) => {
    const base = entry.name.split("/").pop() ?? "";
    if (entry.name.includes("cifar-100-python")) sawPythonVersion = true;
    if (base.startsWith("._")) return; // macOS resource forks
    const name = `${path}:${entry.name}`;
    if (base === FILES.train || base === FILES.test) {
      const split = base === FILES.train ? "train" : "test";
      if (parts[split]) return;
      parts.records[split] = entry.size / RECORD_BYTES;
      const decoder = new RecordDecoder({
        name,
        byteLength: entry.size,
        expectedCount: counts[split],
        limit: split === "train" ? options.limitTrain : options.limitTest,
        fineToCoarse,
      });
      for await (const chunk of entry.body) decoder.push(chunk);
      parts[split] = decoder.finish();
    } else if (base === FILES.fine || base === FILES.coarse) {
      const key = base === FILES.fine ? "fine" : "coarse";
      const text = await new Response(entry.body).text();
      parts[key] = parseLabelNames(text, name, key === "fine" ? FINE_CLASSES : COARSE_CLASSES);
    }
  };
  const { md5 } = await readArchive(path, onEntry, { md5: knownMd5 === undefined });
  const missing = Object.entries(FILES).filter(([key]) => !parts[key as keyof Parts]);
  if (missing.length > 0) {
    const hint = sawPythonVersion
      ? "this is the python version; use the binary version, cifar-100-binary.tar.gz"
      : "is it cifar-100-binary.tar.gz, the binary version?";
    throw new UserError(
      `${path}: no ${
        missing.map(([, file]) => `${CIFAR100_FOLDER}/${file}`).join(", ")
      } inside; ${hint}`,
    );
  }
  const archiveMd5 = knownMd5 ?? md5!;
  return assemble(parts, fineToCoarse, {
    kind,
    path,
    md5: archiveMd5,
    synthetic: false,
    origin: archiveMd5 === officialMd5(options) ? "official" : "unofficial",
    id: archiveMd5,
    description: countsNote(path, parts, counts)
      ? notCifarDescription(path, parts)
      : `CIFAR-100 from ${path}${kind === "download" ? " (downloaded)" : ""}`,
    note: countsNote(path, parts, counts),
  });
}

/** The MD5 that makes an archive official: {@linkcode CIFAR100_MD5}, or a test's stand-in. */
function officialMd5(options: LoadOptions): string {
  return options.expectedMd5 ?? CIFAR100_MD5;
}

function assemble(parts: Parts, fineToCoarse: Uint8Array, source: DataSource): Cifar100 {
  return {
    train: parts.train!,
    test: parts.test!,
    fineLabelNames: parts.fine!,
    coarseLabelNames: parts.coarse!,
    fineToCoarse,
    source,
  };
}

/** A folder with the data files directly in it, or one holding `cifar-100-binary/`. */
function resolveFolder(folder: string, direct: boolean): string {
  return direct ? folder : join(folder, CIFAR100_FOLDER);
}

async function isDataFolder(folder: string): Promise<boolean> {
  if ((await statOrUndefined(join(folder, FILES.train)))?.isFile) return true;
  return !(await statOrUndefined(join(folder, CIFAR100_FOLDER)))?.isDirectory;
}

async function statOrUndefined(path: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.stat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) {
      return undefined;
    }
    throw e;
  }
}

function checkLimit(name: string, value: number | undefined): void {
  if (value !== undefined && !(Number.isInteger(value) && value >= 0)) {
    throw new UserError(`${name} must be a whole number >= 0, got ${value}`);
  }
}
