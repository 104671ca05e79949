/**
 * The exported site's layout, shared by the exporter (lib/web/export.ts) and the page
 * (lib/web/page/main.ts): where the model, the test images and tfjs's wasm files go.
 *
 * @module
 */

/** The folder of the site holding model.json, weights.bin and run.json. */
export const SITE_MODEL = "model";

/** The list of test images, {@linkcode SampleImage}s. */
export const SAMPLES_FILE = "samples/samples.json";

/** The folder of tfjs's wasm engine files. */
export const SITE_TFJS = "tfjs";

/** One of the run's test images, exported as a PNG with its true class. */
export interface SampleImage {
  /** The PNG's path in the site, e.g. `samples/test_0.png`. */
  file: string;
  /** True fine class index. */
  class: number;
  /** Its name and its superclass's name ("" when the run has none), from the run record. */
  name: string;
  superclass: string;
}

/** What {@linkcode siteTitle} reads of a run record. */
interface TitledRun {
  data?: { held_out?: unknown; path?: string };
  fine_label_names?: string[];
}

/**
 * The page's title for a run: `CIFAR-100 classifier`, or for a folder of your own images its
 * folder's name and class count (the name only: the page shows nothing of the machine).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const roses = { data: { held_out: {}, path: "/home/me/roses/" }, fine_label_names: ["a", "b"] };
 * assert.equal(siteTitle(roses), "roses: 2 classes");
 * assert.equal(siteTitle({ data: { path: "/x/cifar-100-binary" } }), "CIFAR-100 classifier");
 * ```
 */
export function siteTitle(record: TitledRun): string {
  const path = record.data?.held_out ? record.data.path : undefined;
  if (path === undefined) return "CIFAR-100 classifier";
  const folder = path.split(/[/\\]/).filter((part) => part !== "").at(-1) ?? path;
  return `${folder}: ${record.fine_label_names?.length ?? 0} classes`;
}
