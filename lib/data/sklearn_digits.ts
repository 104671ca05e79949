/**
 * Real images for offline measurements in CIFAR-100's binary layout: scikit-learn's 1,797 8x8
 * handwritten digits, upscaled to 32x32 RGB, read from its wheel (`pip download`, no install).
 * They are not CIFAR-100 (docs/data.md).
 *
 * @module
 */
import { join } from "node:path";
import { encodeRecords } from "./cifar_binary.ts";
import { COARSE_CLASSES, FINE_CLASSES, IMAGE_BYTES, IMAGE_SIZE, type Split } from "./dataset.ts";
import { UserError } from "../util/errors.ts";
import { findPython, run } from "../util/process.ts";

/** The wheel the digits are read from. */
export const SKLEARN_WHEEL = "scikit-learn==1.9.1";
/** The first digits train, the rest test. */
const DIGITS_TRAIN = 1500;

const SIDE = 8;
const LEVELS = 16;

/**
 * Parse `digits.csv` (64 grey levels 0..16 and the digit per line) into CIFAR-shaped splits.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const row = Array.from({ length: 64 }, (_, i) => (i % 8 === 0 ? 16 : 0)).join(",");
 * const { train, test } = digitsToSplits(`${row},7\n${row},3\n`, 1);
 * assert.deepEqual([train.count, test.count, train.fineLabels[0], test.fineLabels[0]], [1, 1, 7, 3]);
 * assert.equal(train.images[0], 255); // the left column is ink
 * ```
 */
export function digitsToSplits(
  csv: string,
  trainCount = DIGITS_TRAIN,
): { train: Split; test: Split } {
  const rows = csv.trim().split("\n").map((line, i) => {
    const values = line.split(",").map(Number);
    if (values.length !== SIDE * SIDE + 1 || values.some((v) => !Number.isInteger(v))) {
      throw new UserError(`digits.csv line ${i + 1}: expected 65 whole numbers`);
    }
    return values;
  });
  const split = (part: number[][]): Split => {
    const images = new Uint8Array(part.length * IMAGE_BYTES);
    part.forEach((values, n) => upscale(values, images.subarray(n * IMAGE_BYTES)));
    const fineLabels = Uint8Array.from(part, (values) => values[SIDE * SIDE]);
    return { images, fineLabels, coarseLabels: new Uint8Array(part.length), count: part.length };
  };
  return { train: split(rows.slice(0, trainCount)), test: split(rows.slice(trainCount)) };
}

/** Bilinear 8 -> 32 with half-pixel centres (as TF2's resize), grey to RGB. */
function upscale(values: number[], out: Uint8Array): void {
  const scale = SIDE / IMAGE_SIZE;
  const at = (r: number, c: number) =>
    values[Math.min(Math.max(r, 0), SIDE - 1) * SIDE + Math.min(Math.max(c, 0), SIDE - 1)];
  for (let y = 0; y < IMAGE_SIZE; y++) {
    const sy = (y + 0.5) * scale - 0.5, y0 = Math.floor(sy), fy = sy - y0;
    for (let x = 0; x < IMAGE_SIZE; x++) {
      const sx = (x + 0.5) * scale - 0.5, x0 = Math.floor(sx), fx = sx - x0;
      const v = (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x0 + 1)) +
        fy * ((1 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1));
      const byte = Math.round(v * 255 / LEVELS);
      out.fill(byte, (y * IMAGE_SIZE + x) * 3, (y * IMAGE_SIZE + x) * 3 + 3);
    }
  }
}

/** Fetch the wheel, read the digits and write `<out>/cifar-100-binary/`; returns that folder. */
export async function writeDigitsFolder(out: string): Promise<string> {
  const python = await findPython("to fetch scikit-learn's digits");
  const temp = await Deno.makeTempDir({ prefix: "sklearn-digits-" });
  try {
    const pip = ["-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", temp];
    const what = `pip download ${SKLEARN_WHEEL}`;
    await run(python, [...pip, SKLEARN_WHEEL], { what, hint: "check pip's index or network" });
    const read =
      `import sys, zipfile, glob\nz = zipfile.ZipFile(glob.glob(sys.argv[1] + "/*.whl")[0])\n` +
      `sys.stdout.buffer.write(z.read("sklearn/datasets/data/digits.csv.gz"))`;
    const gz = await new Deno.Command(python, { args: ["-c", read, temp], stdout: "piped" })
      .output();
    if (!gz.success) {
      throw new UserError(`cannot read digits.csv.gz from the ${SKLEARN_WHEEL} wheel`);
    }
    const csv = await new Response(
      new Blob([gz.stdout]).stream().pipeThrough(new DecompressionStream("gzip")),
    ).text();
    const { train, test } = digitsToSplits(csv);
    const folder = join(out, "cifar-100-binary");
    await Deno.mkdir(folder, { recursive: true });
    await Deno.writeFile(join(folder, "train.bin"), encodeRecords(train));
    await Deno.writeFile(join(folder, "test.bin"), encodeRecords(test));
    // digit_0 ... digit_9, then unused names up to 100 fine and 20 coarse.
    const fine = Array.from(
      { length: FINE_CLASSES },
      (_, i) => i < 10 ? `digit_${i}` : `unused_${i}`,
    );
    const coarse = Array.from({ length: COARSE_CLASSES }, (_, i) => i ? `unused_${i}` : "digits");
    await Deno.writeTextFile(join(folder, "fine_label_names.txt"), fine.join("\n") + "\n");
    await Deno.writeTextFile(join(folder, "coarse_label_names.txt"), coarse.join("\n") + "\n");
    return folder;
  } finally {
    await Deno.remove(temp, { recursive: true });
  }
}
