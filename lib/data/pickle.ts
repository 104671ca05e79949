/**
 * Safe reading of the pickles in CIFAR-100's python version: dictionaries, lists, strings and
 * numbers, and numpy uint8 arrays, nothing else.
 *
 * The files were written by Python 2's cPickle (protocol 2): strings are Python 2 `str`
 * (SHORT_BINSTRING/BINSTRING, raw bytes), and each numpy array is the call
 * `numpy.core.multiarray._reconstruct(numpy.ndarray, (0,), 'b')` followed by a BUILD with the
 * state `(1, shape, numpy.dtype('u1', 0, 1) + its state, False, <raw bytes>)`.
 *
 * Parsing is pickleparser's; two things are set here:
 * - the globals: exactly those three names are registered, as small functions that only build a
 *   {@linkcode NumpyArray}; any other global (or instance creation by name) is refused before
 *   anything else happens, so nothing in a pickle is ever evaluated;
 * - the reader: pickleparser decodes Python 2 strings with `TextDecoder("ascii")`, which is
 *   windows-1252 by the WHATWG standard and changes bytes 0x80-0x9F. Here they are read as
 *   Latin-1 (one character per byte, exact), and a large one, the image bytes, is kept as the
 *   bytes themselves ({@linkcode RawBytes}), without a copy.
 *
 * Dictionaries come back as `Map`s (no key can touch an object's prototype), lists and tuples as
 * arrays.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { BufferReader, Parser } from "pickleparser";
import { firstLine, UserError } from "../util/errors.ts";

/** A Python 2 `str` this long or longer is kept as bytes (only image data is that long). */
const RAW_MIN = 1 << 16;

/** A long Python 2 `str`: its bytes, untouched. `String(raw)` gives its Latin-1 text. */
class RawBytes {
  /** `bytes`: the string's bytes, a view into the pickle's buffer. */
  constructor(readonly bytes: Uint8Array) {}
  /** The bytes as Latin-1 text. */
  toString(): string {
    return latin1(this.bytes);
  }
}

/** A numpy array of unsigned bytes (`|u1`, C order), as rebuilt from a pickle. */
export class NumpyArray {
  /** Dimensions, e.g. `[50000, 3072]`. */
  shape: number[] = [];
  /** Its elements in C order; empty until the pickle's BUILD gave the state. */
  data: Uint8Array = new Uint8Array(0);
  #built = false;

  /** Called by the parser's BUILD with numpy's array state. */
  __setstate__(state: unknown): void {
    if (this.#built || !Array.isArray(state) || state.length !== 5) {
      throw new PickleContentError("a numpy array with a state other than numpy's");
    }
    const [version, shape, dtype, fortran, raw] = state;
    if (version !== 1 || !(dtype instanceof NumpyDtype) || !dtype.built) {
      throw new PickleContentError("a numpy array with a state other than numpy's");
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new PickleContentError("a numpy array whose shape is not a tuple of sizes");
    }
    if (fortran !== false && fortran !== 0) {
      throw new PickleContentError("a numpy array in Fortran order");
    }
    const bytes = raw instanceof RawBytes
      ? raw.bytes
      : typeof raw === "string"
      ? Uint8Array.from(Buffer.from(raw, "latin1"))
      : undefined;
    const elements = shape.reduce((a: number, b: number) => a * b, 1);
    if (bytes === undefined || bytes.length !== elements) {
      throw new PickleContentError(
        `a numpy array of shape (${shape.join(", ")}) with ${bytes?.length ?? "no"} bytes of ` +
          `data, expected ${elements}`,
      );
    }
    this.shape = shape;
    this.data = bytes;
    this.#built = true;
  }
}

/** numpy's dtype as a pickle builds it; only `u1` (uint8) is accepted. */
class NumpyDtype {
  built = false;
  __setstate__(state: unknown): void {
    // (version, byte order, subarray, names, fields, elsize, alignment, flags); '|' for bytes.
    if (!Array.isArray(state) || state.length < 8 || state[1] !== "|") {
      throw new PickleContentError("a numpy dtype with a state other than uint8's");
    }
    this.built = true;
  }
}

/** The pickle is readable but holds something these files never hold. */
class PickleContentError extends Error {}

/** Python 2 strings as their exact bytes (see the module doc). */
class Python2Reader extends BufferReader {
  override string(size: number, encoding: "ascii" | "utf-8"): string {
    if (encoding === "utf-8") return super.string(size, encoding);
    const bytes = this.bytes(size) as Uint8Array;
    // A RawBytes stands where pickleparser expects a string; only the array state reads it.
    return (bytes.length >= RAW_MIN ? new RawBytes(bytes) : latin1(bytes)) as string;
  }
}

function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1");
}

/** The globals a CIFAR-100 python-version pickle names, built fresh (and frozen) per parse. */
function numpyGlobals(): Map<string, (...args: unknown[]) => unknown> {
  const ndarray = Object.freeze(() => {
    throw new PickleContentError("numpy.ndarray called directly");
  });
  const reconstruct = Object.freeze((cls: unknown, shape: unknown, typecode: unknown) => {
    const empty = Array.isArray(shape) && shape.length === 1 && shape[0] === 0;
    if (cls !== ndarray || !empty || String(typecode) !== "b") {
      throw new PickleContentError("numpy's _reconstruct called with other arguments");
    }
    return new NumpyArray();
  });
  const dtype = Object.freeze((kind: unknown) => {
    if (String(kind) !== "u1") {
      throw new PickleContentError(`a numpy array of dtype '${String(kind)}', not uint8`);
    }
    return new NumpyDtype();
  });
  return new Map<string, (...args: unknown[]) => unknown>([
    ["numpy.core.multiarray._reconstruct", reconstruct],
    ["numpy.ndarray", ndarray],
    ["numpy.dtype", dtype],
  ]);
}

/**
 * Unpickle one file of CIFAR-100's python version, refusing everything those files never hold.
 *
 * @param name the file, for messages (e.g. `cifar-100-python.tar.gz:cifar-100-python/train`)
 * @returns Maps for dicts, arrays for lists and tuples, strings, numbers, booleans, null and
 *   {@linkcode NumpyArray}s
 * @throws {UserError} one line naming the file: a refused global, an array other than numpy
 *   uint8, or a pickle that is truncated or not a pickle
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * // Python 2's cPickle.dumps({'a': [1, 2]}, 2)
 * const bytes = Uint8Array.from(atob("gAJ9cQFVAWFxAl1xAyhLAUsCZXMu"), (c) => c.charCodeAt(0));
 * const value = unpickleCifar(bytes, "x.pkl") as Map<string, number[]>;
 * assert.deepEqual(value.get("a"), [1, 2]);
 * // `cos.system\n(S'ls'\ntR.`: the global is refused before anything runs.
 * const evil = new TextEncoder().encode("cos\nsystem\n(S'ls'\ntR.");
 * assert.throws(() => unpickleCifar(evil, "evil.pkl"), /evil\.pkl: .*os\.system.*refused/);
 * ```
 */
export function unpickleCifar(bytes: Uint8Array, name: string): unknown {
  const globals = numpyGlobals();
  const refuse = (module: string, global: string): never => {
    throw new UserError(
      `${name}: the pickle names ${module}.${global}, which is refused (only numpy's uint8 ` +
        `array reconstruction is allowed; nothing in the file was run); it is not a file of ` +
        `CIFAR-100's python version`,
    );
  };
  const parser = new Parser({
    unpicklingTypeOfDictionary: "Map",
    nameResolver: {
      resolve: (module, global) =>
        globals.get(`${String(module)}.${String(global)}`) ??
          refuse(String(module), String(global)),
    },
  });
  try {
    return parser.read(new Python2Reader(bytes));
  } catch (e) {
    if (e instanceof UserError) throw e;
    if (e instanceof PickleContentError) {
      throw new UserError(
        `${name}: the pickle holds ${e.message}; it is not a file of CIFAR-100's python version`,
      );
    }
    throw new UserError(
      `${name}: not a readable pickle (${firstLine(e)}); the file is truncated or not from ` +
        `CIFAR-100's python version, get it again`,
    );
  }
}
