/**
 * CIFAR-100's python version (which Keras and torchvision download): the pickled `train`, `test`
 * and `meta` dicts. A `data` row is a binary record without its two label bytes, so each image
 * goes through the binary {@linkcode RecordDecoder}: the same checks, the same bytes out.
 *
 * @module
 */
import { UserError } from "../util/errors.ts";
import { RECORD_BYTES, RecordDecoder, thousands } from "./cifar_binary.ts";
import { COARSE_CLASSES, FINE_CLASSES, IMAGE_BYTES, type Split } from "./dataset.ts";
import { NumpyArray, unpickleCifar } from "./pickle.ts";

/** The folder inside `cifar-100-python.tar.gz`. */
export const PYTHON_FOLDER = "cifar-100-python";
/** The three pickles inside it. */
export const PYTHON_FILES = { train: "train", test: "test", meta: "meta" } as const;

type PythonSplitOptions = Omit<ConstructorParameters<typeof RecordDecoder>[0], "byteLength">;

/**
 * Decode a `train` or `test` pickle into a split, with the file's image count before the limit.
 *
 * @throws {UserError} one line naming the file: not the expected dict, arrays of the wrong
 *   length, labels out of range, or a refused pickle
 */
export function decodePythonSplit(
  bytes: Uint8Array,
  options: PythonSplitOptions,
): { split: Split; records: number } {
  const { name } = options;
  const keys = ["data", "fine_labels", "coarse_labels"];
  const dict = expectDict(unpickleCifar(bytes, name), name, keys);
  const data = dict.get("data");
  if (!(data instanceof NumpyArray) || data.shape.length !== 2 || data.shape[1] !== IMAGE_BYTES) {
    const shape = data instanceof NumpyArray
      ? `an array of shape (${data.shape.join(", ")})`
      : kind(data);
    throw new UserError(
      `${name}: 'data' is ${shape}, expected a uint8 array of shape (N, ${IMAGE_BYTES}); ` +
        `the file is damaged or not from CIFAR-100, get it again`,
    );
  }
  const count = data.shape[0];
  const fine = labelList(dict.get("fine_labels"), "fine_labels", count, FINE_CLASSES, name);
  const coarse = labelList(dict.get("coarse_labels"), "coarse_labels", count, COARSE_CLASSES, name);
  if (options.expectedCount === undefined && count === 0) {
    throw new UserError(`${name}: has no images; give a file with at least one`);
  }
  if (options.expectedCount !== undefined && count !== options.expectedCount) {
    throw new UserError(
      `${name}: has ${thousands(count)} images, expected ${thousands(options.expectedCount)}; ` +
        `the file is incomplete or not CIFAR-100, get it again`,
    );
  }
  const decoder = new RecordDecoder({
    name,
    byteLength: count * RECORD_BYTES,
    expectedCount: count,
    limit: options.limit,
    fineToCoarse: options.fineToCoarse,
  });
  const record = new Uint8Array(RECORD_BYTES);
  for (let i = 0; i < count; i++) {
    record[0] = coarse[i];
    record[1] = fine[i];
    record.set(data.data.subarray(i * IMAGE_BYTES, (i + 1) * IMAGE_BYTES), 2);
    decoder.push(record);
  }
  return { split: decoder.finish(), records: count };
}

/** Decode the `meta` pickle: the 100 fine and 20 coarse label names; throws when it is not that. */
export function decodePythonMeta(
  bytes: Uint8Array,
  name: string,
): { fine: string[]; coarse: string[] } {
  const keys = ["fine_label_names", "coarse_label_names"];
  const dict = expectDict(unpickleCifar(bytes, name), name, keys);
  const names = (key: string, expected: number) => {
    const list = dict.get(key);
    if (!Array.isArray(list) || !list.every((n) => typeof n === "string")) {
      throw new UserError(`${name}: '${key}' is ${kind(list)}, expected a list of names`);
    }
    if (list.length !== expected) {
      throw new UserError(
        `${name}: has ${list.length} ${key}, expected ${expected}; the file is damaged or not ` +
          `from CIFAR-100, get it again`,
      );
    }
    return list as string[];
  };
  return { fine: names(keys[0], FINE_CLASSES), coarse: names(keys[1], COARSE_CLASSES) };
}

function expectDict(value: unknown, name: string, keys: string[]): Map<unknown, unknown> {
  const missing = value instanceof Map ? keys.filter((k) => !value.has(k)) : keys;
  if (missing.length > 0) {
    const what = value instanceof Map
      ? `a dict without ${missing.join(", ")} (it has ${[...value.keys()].map(String).join(", ")})`
      : kind(value);
    throw new UserError(
      `${name}: the pickle is ${what}, expected CIFAR-100's dict with ${keys.join(", ")}; ` +
        `is it a file of CIFAR-100's python version?`,
    );
  }
  return value as Map<unknown, unknown>;
}

function labelList(
  value: unknown,
  key: string,
  count: number,
  classes: number,
  name: string,
): ArrayLike<number> {
  if (!Array.isArray(value)) {
    throw new UserError(`${name}: '${key}' is ${kind(value)}, expected a list of labels`);
  }
  if (value.length !== count) {
    throw new UserError(
      `${name}: has ${thousands(count)} images but ${thousands(value.length)} ${key}; ` +
        `the file is damaged, get it again`,
    );
  }
  for (let i = 0; i < count; i++) {
    const label = value[i];
    if (!Number.isInteger(label) || label < 0 || label >= classes) {
      throw new UserError(
        `${name}: ${key}[${i}] is ${String(label)}, expected 0..${classes - 1}; the file is ` +
          `corrupt or not CIFAR-100, get it again`,
      );
    }
  }
  return value as number[];
}

/** What a decoded value is, for messages. */
function kind(value: unknown): string {
  if (value instanceof Map) return "a dict";
  if (Array.isArray(value)) return `a list of ${value.length}`;
  if (value instanceof NumpyArray) return "a numpy array";
  if (value === null || value === undefined) return "None";
  return `a ${typeof value}`;
}
