/**
 * The held-out images of a run on a folder of your own images, read again from the files its
 * record names, so calibration, insight and the web page use exactly the images it was measured
 * on; a file changed since the run is refused by the record's digest.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import type { Cifar100 } from "../data/dataset.ts";
import { decodeImageFile } from "../data/image_decode.ts";
import { toCifarPixels } from "../data/image_pixels.ts";
import { byCodePoint } from "../data/image_folder_scan.ts";
import { firstLine, UserError } from "../util/errors.ts";
import type { RunRecord } from "./run_record.ts";

/** A folder run's held-out images at its input size, as a dataset's test split, in its order. */
export async function readHeldOut(record: RunRecord): Promise<Cifar100> {
  const { held_out: heldOut, path: dir } = record.data;
  if (!heldOut || dir === undefined) {
    throw new UserError(`the ${record.model} run's record names no held-out images to read again`);
  }
  const bytes = await Promise.all(heldOut.files.map(async (file) => {
    try {
      return await Deno.readFile(join(dir, file));
    } catch (e) {
      throw new UserError(
        `${join(dir, file)}: a held-out image of the ${record.model} run cannot be read ` +
          `(${firstLine(e)}); train it again on the folder as it is now`,
      );
    }
  }));
  if (digestOf(heldOut.files, bytes) !== heldOut.digest) {
    throw new UserError(
      `${dir}: its held-out images changed since the ${record.model} run (their digest ` +
        `differs); train it again on the folder as it is now`,
    );
  }
  const side = record.input_size ?? 32;
  const used = heldOut.files.length;
  const images = new Uint8Array(used * side * side * 3);
  for (let i = 0; i < used; i++) {
    const image = await decodeImageFile(bytes[i], join(dir, heldOut.files[i]));
    images.set(toCifarPixels(image, side), i * side * side * 3);
  }
  const empty = { images: new Uint8Array(0), fineLabels: new Uint8Array(0), count: 0 };
  return {
    train: { ...empty, coarseLabels: new Uint8Array(0) },
    test: {
      images,
      fineLabels: Uint8Array.from(record.test_labels.slice(0, used)),
      coarseLabels: new Uint8Array(used).fill(255),
      count: used,
      files: heldOut.files.slice(0, used),
    },
    fineLabelNames: record.fine_label_names,
    coarseLabelNames: [],
    fineToCoarse: new Uint8Array(record.fine_label_names.length).fill(255),
    source: {
      kind: "folder",
      path: dir,
      synthetic: false,
      origin: record.data.origin,
      id: record.data.id,
      description: `${heldOut.name} of ${dir}`,
    },
    imageSize: side,
  };
}

/** The data layer's held-out digest: SHA-256 of each `path\tmd5` line, paths sorted. */
function digestOf(files: string[], bytes: Uint8Array[]): string {
  const lines = files.map((path, i) => ({
    path,
    md5: createHash("md5").update(bytes[i]).digest("hex"),
  }));
  lines.sort((a, b) => byCodePoint(a.path, b.path));
  const digest = createHash("sha256");
  for (const { path, md5 } of lines) digest.update(`${path}\t${md5}\n`);
  return digest.digest("hex");
}
