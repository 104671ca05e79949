/**
 * Reading CIFAR-100 from a folder or a `.tar.gz`, in its binary layout (lib/data/cifar_binary.ts)
 * or its python one (lib/data/cifar_python.ts): both give the same {@linkcode Cifar100}, byte for
 * byte. Where the data is looked for is lib/data/cifar100.ts's business.
 *
 * @module
 */
import { join } from "node:path";
import { UserError } from "../util/errors.ts";
import { statOrUndefined } from "../util/paths.ts";
import { type ArchiveEntry, readArchive } from "./archive.ts";
import { parseLabelNames, RECORD_BYTES, RecordDecoder, thousands, UNSEEN } from "./cifar_binary.ts";
import {
  decodePythonMeta,
  decodePythonSplit,
  PYTHON_FILES,
  PYTHON_FOLDER,
} from "./cifar_python.ts";
import {
  type Cifar100,
  COARSE_CLASSES,
  type DataSource,
  FINE_CLASSES,
  type Split,
} from "./dataset.ts";

/** The binary version's folder inside its archive. */
export const BINARY_FOLDER = "cifar-100-binary";
const BINARY_FILES = {
  train: "train.bin",
  test: "test.bin",
  fine: "fine_label_names.txt",
  coarse: "coarse_label_names.txt",
} as const;
/** Records in the official train and test files. */
export const CIFAR100_COUNTS: Readonly<{ train: number; test: number }> = {
  train: 50000,
  test: 10000,
};

type Layout = "binary" | "python";

/** Record counts each split must have; undefined: any. */
type Counts = { train?: number; test?: number };

/** What to read and how to label it. */
export interface ReadOptions {
  /** Keep the first N images (all are still validated). */
  limitTrain?: number;
  limitTest?: number;
  /** Counts the splits must have; `{}` accepts any (noted when not CIFAR-100's). */
  counts: Counts;
  /** The MD5 that makes an archive of each layout `official`. */
  officialMd5: Record<Layout, string>;
  /** Where it was found, for the description, e.g. `Keras's cache`. */
  foundIn?: string;
  /** Add a note when an archive is not the official one (data not downloaded here). */
  noteUnofficial?: boolean;
}

/** The parts of a dataset as they are read, from a folder or an archive, checked as one. */
class Parts {
  train?: Split;
  test?: Split;
  fine?: string[];
  coarse?: string[];
  /** Records in each file, before limits. */
  readonly records = { train: 0, test: 0 };
  readonly #fineToCoarse = new Uint8Array(FINE_CLASSES).fill(UNSEEN);
  constructor(readonly options: ReadOptions) {}

  /** A decoder for a binary split file; its records are counted now. */
  binary(name: string, byteLength: number, split: "train" | "test"): RecordDecoder {
    this.records[split] = byteLength / RECORD_BYTES;
    return new RecordDecoder({ name, byteLength, ...this.#checks(split) });
  }

  python(bytes: Uint8Array, name: string, split: "train" | "test"): void {
    const decoded = decodePythonSplit(bytes, { name, ...this.#checks(split) });
    this[split] = decoded.split;
    this.records[split] = decoded.records;
  }

  names(text: string, name: string, key: "fine" | "coarse"): void {
    this[key] = parseLabelNames(text, name, key === "fine" ? FINE_CLASSES : COARSE_CLASSES);
  }

  #checks(split: "train" | "test") {
    const { counts, limitTrain, limitTest } = this.options;
    const limit = split === "train" ? limitTrain : limitTest;
    return { expectedCount: counts[split], limit, fineToCoarse: this.#fineToCoarse };
  }

  dataset(source: DataSource): Cifar100 {
    const { train, test, fine, coarse } = this;
    const names = { fineLabelNames: fine!, coarseLabelNames: coarse! };
    return { train: train!, test: test!, ...names, fineToCoarse: this.#fineToCoarse, source };
  }
}

/**
 * The folder that holds a layout's files: `folder` itself, or its `cifar-100-binary/` or
 * `cifar-100-python/`; no layout when it has neither.
 */
async function resolveDataFolder(folder: string): Promise<{ folder: string; layout?: Layout }> {
  if (await isFile(join(folder, BINARY_FILES.train))) return { folder, layout: "binary" };
  if (await isFile(join(folder, PYTHON_FILES.meta))) return { folder, layout: "python" };
  for (const [sub, layout] of [[BINARY_FOLDER, "binary"], [PYTHON_FOLDER, "python"]] as const) {
    const info = await statOrUndefined(join(folder, sub));
    if (info?.isDirectory) return { folder: join(folder, sub), layout };
  }
  return { folder };
}

/** Whether `folder` holds CIFAR-100's files (or their folder) rather than, say, images. */
export async function holdsCifarFiles(folder: string): Promise<boolean> {
  return (await resolveDataFolder(folder)).layout !== undefined;
}

/**
 * Read an extracted folder (one with neither layout as a binary one, whose missing files the
 * error names). Its origin is `unverified`: the files in the archives have no published checksums.
 *
 * @throws {UserError} one line naming the file: missing files, bad records, pickles or names
 */
export async function readDataFolder(
  given: string,
  kind: "folder" | "cache",
  options: ReadOptions,
): Promise<Cifar100> {
  const { folder, layout = "binary" } = await resolveDataFolder(given);
  const parts = new Parts(options);
  const files: readonly string[] = Object.values(layout === "binary" ? BINARY_FILES : PYTHON_FILES);
  const missing = [];
  for (const file of files) if (!(await isFile(join(folder, file)))) missing.push(file);
  if (missing.length > 0) {
    const binary = Object.values(BINARY_FILES).join(", ");
    throw new UserError(
      `${folder}: missing ${missing.join(", ")}; expected the extracted cifar-100-binary folder ` +
        `(${binary}) or cifar-100-python folder (train, test, meta)`,
    );
  }
  const sizes: number[] = [];
  for (const split of ["train", "test"] as const) {
    const path = join(folder, layout === "binary" ? BINARY_FILES[split] : PYTHON_FILES[split]);
    if (layout === "binary") {
      using file = await Deno.open(path, { read: true });
      const byteLength = (await file.stat()).size;
      sizes.push(byteLength);
      const decoder = parts.binary(path, byteLength, split);
      const buffer = new Uint8Array(4 << 20);
      while (true) {
        const n = await file.read(buffer);
        if (n === null) break;
        decoder.push(buffer.subarray(0, n));
      }
      parts[split] = decoder.finish();
    } else {
      const bytes = await Deno.readFile(path);
      sizes.push(bytes.length);
      parts.python(bytes, path, split);
    }
  }
  if (layout === "binary") {
    for (const key of ["fine", "coarse"] as const) {
      const path = join(folder, BINARY_FILES[key]);
      parts.names(await Deno.readTextFile(path), path, key);
    }
  } else {
    const path = join(folder, PYTHON_FILES.meta);
    Object.assign(parts, decodePythonMeta(await Deno.readFile(path), path));
  }
  const unverified = `${folder} is an extracted folder, which cannot be checked against the ` +
    `official archive's MD5: results are labelled unverified (give the .tar.gz to verify it)`;
  const other = countsNote(folder, parts, options.counts);
  return parts.dataset({
    kind,
    path: folder,
    synthetic: false,
    origin: "unverified",
    note: other ? `${other}; ${unverified}` : unverified,
    id: `folder:${folder}:${sizes.join(",")}`,
    description: other
      ? notCifarDescription(folder, parts, layout)
      : describe(folder, layout, kind, options),
  });
}

/**
 * Read a `.tar.gz` of either layout in one pass (hashing it unless `knownMd5` is given); its
 * origin is `official` when its MD5 is the official one for its layout.
 *
 * @throws {UserError} one line naming the archive and entry: corrupt, missing files, bad records
 */
export async function readDataArchive(
  path: string,
  kind: "archive" | "cache" | "download",
  knownMd5: string | undefined,
  options: ReadOptions,
): Promise<Cifar100> {
  const parts = new Parts(options);
  let sawPython = false;
  const onEntry = async (entry: ArchiveEntry) => {
    const base = entry.name.split("/").pop() ?? "";
    if (base.startsWith("._")) return; // macOS resource forks
    const name = `${path}:${entry.name}`;
    if (base === BINARY_FILES.train || base === BINARY_FILES.test) {
      const split = base === BINARY_FILES.train ? "train" : "test";
      if (parts[split]) return;
      const decoder = parts.binary(name, entry.size, split);
      for await (const chunk of entry.body) decoder.push(chunk);
      parts[split] = decoder.finish();
    } else if (base === BINARY_FILES.fine || base === BINARY_FILES.coarse) {
      const key = base === BINARY_FILES.fine ? "fine" : "coarse";
      parts.names(await new Response(entry.body).text(), name, key);
    } else if (Object.values(PYTHON_FILES).includes(base as "meta")) {
      sawPython = true;
      const bytes = await readWhole(entry, name);
      if (base === PYTHON_FILES.meta) Object.assign(parts, decodePythonMeta(bytes, name));
      else parts.python(bytes, name, base as "train" | "test");
    }
  };
  const { md5 } = await readArchive(path, onEntry, { md5: knownMd5 === undefined });
  const layout: Layout = sawPython ? "python" : "binary";
  checkComplete(path, parts, layout);
  const archiveMd5 = knownMd5 ?? md5!;
  const official = archiveMd5 === options.officialMd5[layout];
  const notes = [countsNote(path, parts, options.counts)];
  if (!official && options.noteUnofficial) {
    notes.push(
      `${path} has MD5 ${archiveMd5}, not the official ${options.officialMd5[layout]}; it was ` +
        `accepted because its structure is valid, and its results are labelled as not the ` +
        `official CIFAR-100`,
    );
  }
  const note = notes.filter((n) => n !== undefined).join("; ") || undefined;
  return parts.dataset({
    kind,
    path,
    md5: archiveMd5,
    synthetic: false,
    origin: official ? "official" : "unofficial",
    id: archiveMd5,
    description: notes[0]
      ? notCifarDescription(path, parts, layout)
      : describe(path, layout, kind, options),
    note,
  });
}

function describe(path: string, layout: Layout, kind: string, options: ReadOptions): string {
  const version = layout === "python" ? " (python version)" : "";
  const where = kind === "download"
    ? " (downloaded)"
    : options.foundIn
    ? ` (${options.foundIn})`
    : "";
  return `CIFAR-100${version} from ${path}${where}`;
}

function checkComplete(path: string, parts: Parts, layout: Layout): void {
  const [folder, files] = layout === "binary"
    ? [BINARY_FOLDER, BINARY_FILES]
    : [PYTHON_FOLDER, { train: "train", test: "test", fine: PYTHON_FILES.meta }];
  const missing = Object.entries(files).filter(([key]) => !parts[key as keyof Parts])
    .map(([, file]) => `${folder}/${file}`);
  if (missing.length > 0) {
    throw new UserError(
      `${path}: no ${missing.join(", ")} inside; is it cifar-100-binary.tar.gz or ` +
        `cifar-100-python.tar.gz?`,
    );
  }
}

/** An archive entry's bytes (a pickle is parsed whole); a short entry is an error. */
async function readWhole(entry: ArchiveEntry, name: string): Promise<Uint8Array> {
  const bytes = new Uint8Array(entry.size);
  let filled = 0;
  for await (const chunk of entry.body) {
    if (filled + chunk.length > bytes.length) {
      throw new UserError(`${name}: more bytes than its declared size; the archive is corrupt`);
    }
    bytes.set(chunk, filled);
    filled += chunk.length;
  }
  if (filled !== bytes.length) {
    throw new UserError(
      `${name}: ended after ${filled} of ${entry.size} bytes; the archive is truncated, get it again`,
    );
  }
  return bytes;
}

/** How data with other counts than CIFAR-100's is described: never as CIFAR-100. */
function notCifarDescription(where: string, parts: Parts, layout: Layout): string {
  const { train, test } = parts.records;
  return `NOT CIFAR-100: ${thousands(train)} train / ${thousands(test)} test images in ` +
    `CIFAR-100's ${layout} layout from ${where}`;
}

/** A note, which every run logs and records, when data has other counts than CIFAR-100's. */
function countsNote(where: string, parts: Parts, counts: Counts): string | undefined {
  const { train, test } = parts.records;
  const accepted = counts.train === undefined || counts.test === undefined;
  if (!accepted || (train === CIFAR100_COUNTS.train && test === CIFAR100_COUNTS.test)) {
    return undefined;
  }
  return `${where} holds ${thousands(train)} training and ${thousands(test)} test records, not ` +
    `CIFAR-100's ${thousands(CIFAR100_COUNTS.train)} and ${thousands(CIFAR100_COUNTS.test)}: ` +
    `it is not CIFAR-100, and its results are not CIFAR-100 results`;
}

async function isFile(path: string): Promise<boolean> {
  return (await statOrUndefined(path))?.isFile ?? false;
}
