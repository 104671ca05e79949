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
  /** Its name and its superclass's name, from the run record. */
  name: string;
  superclass: string;
}
