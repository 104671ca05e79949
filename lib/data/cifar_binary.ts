/**
 * The CIFAR-100 binary record format, read in chunks from wherever: a record is the coarse label,
 * the fine label, then the red, green and blue planes, each 32 rows of 32 pixels, top row first.
 *
 * @module
 */
import { UserError } from "../util/errors.ts";
import { COARSE_CLASSES, FINE_CLASSES, IMAGE_BYTES, IMAGE_SIZE, type Split } from "./dataset.ts";

const PLANE = IMAGE_SIZE * IMAGE_SIZE;

/** Bytes of one record: two label bytes and the image. */
export const RECORD_BYTES = IMAGE_BYTES + 2;
/** Marks a fine label not seen in any record in a fine-to-coarse table. */
export const UNSEEN = 255;

/** Options for {@linkcode RecordDecoder}. */
interface RecordDecoderOptions {
  /** Name for messages, e.g. `/data/cifar-100-binary/train.bin`. */
  name: string;
  /** The file's length, known up front from stat or the tar header. */
  byteLength: number;
  /** Records the file must hold; undefined accepts any number from 1. */
  expectedCount?: number;
  /** Keep only the first `limit` records (all are still validated). */
  limit?: number;
  /** Shared across splits, {@linkcode UNSEEN} where not yet seen; filled and checked. */
  fineToCoarse: Uint8Array;
}

/**
 * Decodes a `.bin` file fed in chunks of any size into a {@linkcode Split}: size and count are
 * checked up front, labels per record, and pixels go straight into the NHWC output, so a file
 * is never held twice in memory.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const record = new Uint8Array(RECORD_BYTES);
 * record.set([4, 30]); // coarse 4, fine 30, black pixels
 * const fineToCoarse = new Uint8Array(100).fill(UNSEEN);
 * const decoder = new RecordDecoder({
 *   name: "train.bin", byteLength: 2 * RECORD_BYTES, expectedCount: 2, fineToCoarse,
 * });
 * for (const chunk of [record, record.subarray(0, 5), record.subarray(5)]) decoder.push(chunk);
 * const split = decoder.finish();
 * assert.deepEqual([split.count, split.fineLabels[1], fineToCoarse[30]], [2, 30, 4]);
 * ```
 */
export class RecordDecoder {
  readonly #name: string;
  readonly #total: number;
  readonly #keep: number;
  readonly #fineToCoarse: Uint8Array;
  readonly #split: Split;
  readonly #carry = new Uint8Array(RECORD_BYTES);
  #carried = 0;
  #index = 0;

  /** @throws {UserError} when the size is not a whole number of records or the count is wrong */
  constructor(options: RecordDecoderOptions) {
    const { name, byteLength, expectedCount } = options;
    if (byteLength % RECORD_BYTES !== 0) {
      throw new UserError(
        `${name}: size ${thousands(byteLength)} bytes is not a multiple of the ` +
          `${thousands(RECORD_BYTES)}-byte CIFAR-100 record; the file is truncated or not ` +
          `CIFAR-100 binary, get it again`,
      );
    }
    const count = byteLength / RECORD_BYTES;
    if (expectedCount === undefined && count === 0) {
      throw new UserError(`${name}: has no records; give a file with at least one`);
    }
    if (expectedCount !== undefined && count !== expectedCount) {
      throw new UserError(
        `${name}: has ${thousands(count)} records, expected ${thousands(expectedCount)}; ` +
          `the file is incomplete or not CIFAR-100 binary, get it again`,
      );
    }
    this.#name = name;
    this.#total = count;
    this.#keep = Math.min(count, Math.max(0, options.limit ?? count));
    this.#fineToCoarse = options.fineToCoarse;
    this.#split = {
      images: new Uint8Array(this.#keep * IMAGE_BYTES),
      fineLabels: new Uint8Array(this.#keep),
      coarseLabels: new Uint8Array(this.#keep),
      count: this.#keep,
    };
  }

  /** Feed the next bytes of the file. */
  push(chunk: Uint8Array): void {
    let offset = 0;
    if (this.#carried > 0) {
      const take = Math.min(RECORD_BYTES - this.#carried, chunk.length);
      this.#carry.set(chunk.subarray(0, take), this.#carried);
      this.#carried += take;
      offset = take;
      if (this.#carried < RECORD_BYTES) return;
      this.#record(this.#carry, 0);
      this.#carried = 0;
    }
    // Whole records straight from the chunk; only a record split across chunks is copied.
    while (chunk.length - offset >= RECORD_BYTES) {
      this.#record(chunk, offset);
      offset += RECORD_BYTES;
    }
    if (offset < chunk.length) {
      this.#carry.set(chunk.subarray(offset));
      this.#carried = chunk.length - offset;
    }
  }

  /** The decoded split, once every byte was pushed; throws when bytes are missing. */
  finish(): Split {
    if (this.#index !== this.#total || this.#carried !== 0) {
      const got = thousands(this.#index * RECORD_BYTES + this.#carried);
      const all = thousands(this.#total * RECORD_BYTES);
      throw new UserError(
        `${this.#name}: ended after ${got} of ${all} bytes; the file is truncated, get it again`,
      );
    }
    return this.#split;
  }

  #record(bytes: Uint8Array, at: number): void {
    const i = this.#index;
    if (i >= this.#total) {
      throw new UserError(`${this.#name}: more bytes than its declared size; the file is corrupt`);
    }
    const coarse = bytes[at];
    const fine = bytes[at + 1];
    if (fine >= FINE_CLASSES || coarse >= COARSE_CLASSES) {
      throw new UserError(
        `${this.#name}: record ${i} has fine label ${fine} and coarse label ${coarse}, ` +
          `expected fine < ${FINE_CLASSES} and coarse < ${COARSE_CLASSES}; the file is corrupt or not CIFAR-100, get it again`,
      );
    }
    const known = this.#fineToCoarse[fine];
    if (known === UNSEEN) {
      this.#fineToCoarse[fine] = coarse;
    } else if (known !== coarse) {
      throw new UserError(
        `${this.#name}: record ${i} puts fine label ${fine} in coarse class ${coarse}, ` +
          `but earlier records put it in ${known}; the file is corrupt, get it again`,
      );
    }
    if (i < this.#keep) {
      const { images, fineLabels, coarseLabels } = this.#split;
      fineLabels[i] = fine;
      coarseLabels[i] = coarse;
      // Planar R, G, B (rows top to bottom) -> interleaved HWC.
      const red = at + 2;
      const green = red + PLANE;
      const blue = green + PLANE;
      let out = i * IMAGE_BYTES;
      for (let p = 0; p < PLANE; p++) {
        images[out] = bytes[red + p];
        images[out + 1] = bytes[green + p];
        images[out + 2] = bytes[blue + p];
        out += 3;
      }
    }
    this.#index = i + 1;
  }
}

/** Parse a label-name file (one per line, blanks ignored); throws unless `expected` names. */
export function parseLabelNames(text: string, name: string, expected: number): string[] {
  const names = text.split(/\r?\n/).map((line) => line.trim()).filter((line) => line !== "");
  if (names.length !== expected) {
    throw new UserError(
      `${name}: has ${names.length} label names, expected ${expected} (one per line); ` +
        `the file is damaged or not from CIFAR-100, get it again`,
    );
  }
  return names;
}

/** A count with thousands separators, for messages: `50,000`. */
export function thousands(n: number): string {
  return n.toLocaleString("en-US");
}

/**
 * Encode a split as a CIFAR-100 `.bin` file (the inverse of {@linkcode RecordDecoder}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IMAGE_BYTES } from "./dataset.ts";
 * const images = new Uint8Array(IMAGE_BYTES).fill(7);
 * const bytes = encodeRecords({
 *   images, fineLabels: Uint8Array.of(42), coarseLabels: Uint8Array.of(3), count: 1,
 * });
 * assert.deepEqual([bytes.length, bytes[0], bytes[1], bytes[2]], [RECORD_BYTES, 3, 42, 7]);
 * ```
 */
export function encodeRecords(split: Split): Uint8Array {
  const out = new Uint8Array(split.count * RECORD_BYTES);
  for (let i = 0; i < split.count; i++) {
    const at = i * RECORD_BYTES;
    out[at] = split.coarseLabels[i];
    out[at + 1] = split.fineLabels[i];
    const image = split.images.subarray(i * IMAGE_BYTES, (i + 1) * IMAGE_BYTES);
    for (let p = 0; p < PLANE; p++) {
      for (let channel = 0; channel < 3; channel++) {
        out[at + 2 + channel * PLANE + p] = image[p * 3 + channel];
      }
    }
  }
  return out;
}
