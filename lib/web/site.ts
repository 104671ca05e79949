/**
 * The exported site's layout, shared by the exporter (lib/web/export.ts) and the page.
 *
 * @module
 */

/** The folder of the site holding model.json, weights.bin and run.json. */
export const SITE_MODEL = "model";
/** The list of test images, {@linkcode SampleImage}s. */
export const SAMPLES_FILE = "samples/samples.json";
/** The folder of tfjs's wasm engine files. */
export const SITE_TFJS = "tfjs";

/** One of the run's test images: its PNG's path in the site and its true class. */
export interface SampleImage {
  file: string;
  class: number;
  name: string;
  /** "" when the run has no superclasses. */
  superclass: string;
}

/** What {@linkcode siteTitle} reads of a run record. */
interface TitledRun {
  data?: { held_out?: unknown; path?: string };
  fine_label_names?: string[];
}

/**
 * The page's title for a run: `CIFAR-100 classifier`, or a folder run's folder name (not its
 * path) and class count.
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
