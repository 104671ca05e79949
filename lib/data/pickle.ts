/**
 * Safe reading of CIFAR-100's Python 2 (protocol 2) pickles with pickleparser: only the three
 * numpy globals that rebuild a uint8 array are registered, so any other is refused before anything
 * runs; dicts come back as `Map`s, so no key can touch a prototype. Python 2 strings are read as
 * Latin-1, not pickleparser's `TextDecoder("ascii")`, which is windows-1252 and changes bytes
 * 0x80-0x9F; a long one (the image bytes) is kept as the bytes, without a copy.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { BufferReader, Parser } from "pickleparser";
import { firstLine, UserError } from "../util/errors.ts";

/** A Python 2 `str` this long or longer is kept as bytes (only image data is that long). */
const RAW_MIN = 1 << 16;

/** A long Python 2 `str`: its bytes, a view into the pickle. `String(raw)` gives its text. */
class RawBytes {
  constructor(readonly bytes: Uint8Array) {}
  toString(): string {
    return latin1(this.bytes);
  }
}

/** A numpy array of unsigned bytes (`|u1`, C order), as rebuilt from a pickle's BUILD. */
export class NumpyArray {
  shape: number[] = [];
  data: Uint8Array = new Uint8Array(0);
  #built = false;

  /** numpy's array state: `(1, shape, dtype, fortran order, raw bytes)`. */
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

class PickleContentError extends Error {}

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

/** The globals these pickles name, built fresh (and frozen) per parse. */
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
