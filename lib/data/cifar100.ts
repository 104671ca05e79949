/**
 * CIFAR-100, in the spirit of `keras.datasets.cifar100.load_data`, from either published version
 * (binary or python, archive or extracted folder; both give the same bytes). Looked for in order:
 * 1. `options.data`, else env `CIFAR100_DATA` (a path, or `"synthetic"`);
 * 2. Keras's cache, `<Keras home>/datasets`: used whatever its MD5, since it is the user's own
 *    file, read in place (Keras checked its SHA-256 when it downloaded it);
 * 3. this project's cache folder ({@linkcode cacheRoot}), extracted or as the official archive;
 * 4. a download, MD5-checked, into that cache.
 * docs/data.md says what `source.origin` and data with other record counts mean.
 *
 * @module
 */
import { join } from "node:path";
import { cacheRoot, DownloadError, fetchCached, kerasHome } from "../util/cache.ts";
import { UserError } from "../util/errors.ts";
import { statOrUndefined } from "../util/paths.ts";
import {
  BINARY_FOLDER,
  CIFAR100_COUNTS,
  readDataArchive,
  readDataFolder,
  type ReadOptions,
} from "./cifar_read.ts";
import type { Cifar100 } from "./dataset.ts";
import { syntheticCifar100 } from "./synthetic.ts";

const CIFAR100_URL = "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz";
/** MD5 of the official binary archive. */
export const CIFAR100_MD5 = "03b5dce01913d631647c71ecec9e9cb8";
/** MD5 of the official python-version archive, `cifar-100-python.tar.gz`. */
export const CIFAR100_PYTHON_MD5 = "eb9058c3a382ffc7106e4002c42a8d85";
const CIFAR100_ARCHIVE = "cifar-100-binary.tar.gz";

/** What Keras 2 and then Keras 3 leave in `<Keras home>/datasets`: archives (verifiable) first. */
const KERAS_DATA_NAMES: readonly string[] = [
  "cifar-100-python.tar.gz",
  "cifar-100-python-target_archive",
  "cifar-100-python",
  "cifar-100-python-target",
];

/** Options for {@linkcode loadCifar100}. */
export interface LoadOptions {
  /** An archive, an extracted folder, or `"synthetic"`; default env `CIFAR100_DATA`. */
  data?: string;
  /** Seed for synthetic data (default 0). */
  seed?: number;
  /** Keep the first N records (all are still validated); for synthetic data, the number made. */
  limitTrain?: number;
  /** As `limitTrain`, for the test split. */
  limitTest?: number;
  /** Default {@linkcode cacheRoot}. */
  cacheDir?: string;
  /** Default {@linkcode kerasHome}. */
  kerasHome?: string;
  /** False: only data already here, never a download (default true). */
  download?: boolean;
  onProgress?: (done: number, total: number) => void;
  /**
   * The record counts the splits must have. Default: CIFAR-100's for data found or downloaded;
   * any for data given explicitly, with a note in `source.note` when they are not CIFAR-100's.
   */
  expectedCounts?: { train: number; test: number };
}

/** What tests replace to run the download and official-archive checks on small fixtures. */
interface TestSeams {
  fetch?: typeof fetch;
  /** Default {@linkcode CIFAR100_MD5}. */
  expectedMd5?: string;
  /** Default {@linkcode CIFAR100_PYTHON_MD5}. */
  expectedPythonMd5?: string;
}

/** The fetch of a load with `download: false`: the cache's checks run, no request is made. */
const refuseDownload = () => Promise.reject(new Error("downloads are off for this load"));

/**
 * Load CIFAR-100 (or the synthetic stand-in), finding or downloading it as described above.
 *
 * @throws {UserError} one line naming the file and the problem; with no data and no network, it
 *   lists every place looked in
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const data = await loadCifar100({ data: "synthetic", limitTrain: 1000 });
 * assert.equal(data.train.count, 1000);
 * assert.match(data.source.description, /SYNTHETIC/);
 * ```
 */
export async function loadCifar100(
  options: LoadOptions = {},
  seams: TestSeams = {},
): Promise<Cifar100> {
  // Every env variable is read before the first await (tests set them around the call).
  const fromEnv = options.data === undefined;
  const data = options.data ?? (Deno.env.get("CIFAR100_DATA") || undefined);
  const places = dataPlaces(options);
  checkLimit("limitTrain", options.limitTrain);
  checkLimit("limitTest", options.limitTest);

  if (data === "synthetic") {
    return syntheticCifar100({
      seed: options.seed,
      trainCount: options.limitTrain,
      testCount: options.limitTest,
    });
  }
  // Data found without being named has CIFAR-100's counts unless asked for others.
  const read: ReadOptions = {
    limitTrain: options.limitTrain,
    limitTest: options.limitTest,
    counts: options.expectedCounts ?? CIFAR100_COUNTS,
    officialMd5: {
      binary: seams.expectedMd5 ?? CIFAR100_MD5,
      python: seams.expectedPythonMd5 ?? CIFAR100_PYTHON_MD5,
    },
  };
  // Explicit data may hold any number of records (noted when not CIFAR-100's).
  const explicit = { ...read, counts: options.expectedCounts ?? {} };
  if (data !== undefined) return await loadExplicit(data, fromEnv, explicit);
  return await fromKerasCache(places.keras, read) ??
    await fromProjectCache(places.cacheDir, read) ??
    await download(places, options, seams, read);
}

type DataPlaces = { keras: string; cacheDir: string };

/**
 * Where data not named explicitly is looked for (read from the environment now).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const places = dataPlaces({ kerasHome: "/k", cacheDir: "/c" });
 * assert.deepEqual(places, { keras: "/k/datasets", cacheDir: "/c" });
 * ```
 */
export function dataPlaces(options: Pick<LoadOptions, "kerasHome" | "cacheDir"> = {}): DataPlaces {
  return {
    keras: join(options.kerasHome ?? kerasHome(), "datasets"),
    cacheDir: options.cacheDir ?? cacheRoot(),
  };
}

/** Step 1: the path (or env) given; any counts unless asked for. */
async function loadExplicit(data: string, fromEnv: boolean, read: ReadOptions) {
  const origin = fromEnv ? "CIFAR100_DATA" : "data path";
  const info = await statOrUndefined(data);
  if (!info) {
    throw new UserError(
      `${origin} ${data}: not found; give a cifar-100-binary.tar.gz or cifar-100-python.tar.gz ` +
        `or its extracted folder (--data PATH), or --data synthetic`,
    );
  }
  if (info.isDirectory) return await readDataFolder(data, "folder", read);
  return await readDataArchive(data, "archive", undefined, { ...read, noteUnofficial: true });
}

/** Step 2: the python version where Keras keeps it; undefined when none of it is there. */
async function fromKerasCache(datasets: string, found: ReadOptions) {
  const read = { ...found, foundIn: "Keras's cache", noteUnofficial: true };
  for (const name of KERAS_DATA_NAMES) {
    const path = join(datasets, name);
    const info = await statOrUndefined(path);
    if (info?.isFile) return await readDataArchive(path, "cache", undefined, read);
    if (info?.isDirectory) return await readDataFolder(path, "cache", read);
  }
  return undefined;
}

/** Step 3 (its folder; the archive is step 4's cache hit). */
async function fromProjectCache(cacheDir: string, read: ReadOptions) {
  const folder = join(cacheDir, BINARY_FOLDER);
  if (!(await statOrUndefined(folder))?.isDirectory) return undefined;
  return await readDataFolder(folder, "cache", read);
}

/** Steps 3-4: the cached archive, MD5-checked, else a download; offline, every place tried. */
async function download(
  places: DataPlaces,
  options: LoadOptions,
  seams: TestSeams,
  read: ReadOptions,
) {
  const md5 = read.officialMd5.binary;
  let fetched: { path: string; downloaded: boolean };
  try {
    const file = { url: CIFAR100_URL, md5, fileName: CIFAR100_ARCHIVE, what: "CIFAR-100 archive" };
    fetched = await fetchCached(file, {
      cacheDir: places.cacheDir,
      fetch: options.download === false ? refuseDownload : seams.fetch,
      onProgress: options.onProgress,
    });
  } catch (e) {
    if (!(e instanceof DownloadError)) throw e;
    throw new DownloadError(e.url, notFoundMessage(places, e.message));
  }
  const kind = fetched.downloaded ? "download" : "cache";
  return await readDataArchive(fetched.path, kind, md5, read);
}

/** The offline error: every place looked in, in the order tried, and what to do. */
function notFoundMessage(places: DataPlaces, why: string): string {
  const keras = KERAS_DATA_NAMES.map((n) => join(places.keras, n)).join(", ");
  return `CIFAR-100 not found, and ${why}. Looked in, in this order: ` +
    `(1) --data PATH (a cifar-100-binary.tar.gz or cifar-100-python.tar.gz, or its extracted ` +
    `folder): not given; (2) env CIFAR100_DATA=PATH: not set; (3) Keras's cache ` +
    `(KERAS_HOME, else ~/.keras): ${keras}: none there; (4) this project's cache ` +
    `${join(places.cacheDir, BINARY_FOLDER)}/ or ${join(places.cacheDir, CIFAR100_ARCHIVE)}: ` +
    `none there; (5) the download from ${CIFAR100_URL}: failed. Provide the data in any of ` +
    `these places (put cifar-100-binary.tar.gz in ${places.cacheDir}; when online it downloads ` +
    `there automatically). For a quick run without the real data: --data synthetic`;
}

function checkLimit(name: string, value: number | undefined): void {
  if (value !== undefined && !(Number.isInteger(value) && value >= 0)) {
    throw new UserError(`${name} must be a whole number >= 0, got ${value}`);
  }
}
