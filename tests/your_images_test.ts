/**
 * Notebook 08's helpers (lib/report/your_images.ts) and the executor's handling of it: no
 * folder set is one clear line, the run suited to a folder falls back to random VGG16 weights
 * and says so when the ImageNet file is not here, the views name the skipped files and show
 * every class, and notebook 08 named without IMAGE_FOLDER is refused before any kernel starts.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { loadImageFolder } from "../lib/data/image_folder.ts";
import { executeNotebooks } from "../lib/notebooks/execute.ts";
import { JUPYTER_DISPLAY } from "../lib/report/display.ts";
import {
  classSamples,
  loadYourImages,
  skippedFiles,
  suitedRun,
} from "../lib/report/your_images.ts";
import { profileSettings } from "../lib/train/profile.ts";
import { UserError } from "../lib/util/errors.ts";
import { makeImageFolder } from "./image_folder_fixture.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const tmp = await Deno.makeTempDir({ prefix: "your_images_test_" });
globalThis.addEventListener("unload", () => Deno.removeSync(tmp, { recursive: true }));
const fixture = await makeImageFolder(join(tmp, "flowers"));
const data = await loadImageFolder(fixture.dir, { seed: 1, cacheDir: false, log: () => {} });
const noBudget = { variables: [] };

Deno.test("no IMAGE_FOLDER is one line saying what to set", async () => {
  await assert.rejects(loadYourImages(undefined, 1), (e) => {
    assert.ok(e instanceof UserError);
    assert.match(e.message, /^IMAGE_FOLDER is not set: set it to a folder with one sub-folder/);
    return true;
  });
});

Deno.test("without the ImageNet file the full profile falls back to random weights, saying so", async () => {
  const previous = Deno.env.get("VGG16_WEIGHTS");
  Deno.env.set("VGG16_WEIGHTS", join(tmp, "missing.h5"));
  try {
    const full = await suitedRun(profileSettings("full", noBudget), data);
    assert.equal(full.config.model, "vgg16");
    assert.equal(full.config.weights, "none");
    assert.match(full.note, /^No ImageNet weights here \(.*missing\.h5.*\): VGG16 with random/);
    assert.equal(full.config.dataset, data);
    assert.equal(full.config.fineTune, false, "a few dozen images: the head only");
    assert.match(full.config.out!, /your_images$/);
  } finally {
    if (previous === undefined) Deno.env.delete("VGG16_WEIGHTS");
    else Deno.env.set("VGG16_WEIGHTS", previous);
  }
  const smoke = await suitedRun(profileSettings("smoke", noBudget), data);
  assert.equal(smoke.config.weights, "none");
  assert.match(smoke.note, /smoke profile trains VGG16 with random weights/);
});

Deno.test("the views name each skipped file and show every class", () => {
  const skipped = skippedFiles(data)[JUPYTER_DISPLAY]()["text/plain"] ?? "";
  for (const { path } of data.skipped) assert.equal(skipped.split(path).length - 1, 1, path);
  assert.match(skipped, /^3 files skipped/);
  const samples = classSamples(data, 2)[JUPYTER_DISPLAY]()["text/plain"] ?? "";
  for (const name of data.fineLabelNames) assert.ok(samples.includes(name), name);
  assert.match(samples, /^12 images/);
});

Deno.test("notebook 08 named without IMAGE_FOLDER is refused before a kernel starts", async () => {
  const previous = Deno.env.get("IMAGE_FOLDER");
  Deno.env.delete("IMAGE_FOLDER");
  try {
    await assert.rejects(
      executeNotebooks({
        notebooks: [join(ROOT, "notebooks", "08_your_images.ipynb")],
        outDir: join(tmp, "out"),
        profile: "smoke",
        log: () => {},
      }),
      /08_your_images\.ipynb needs IMAGE_FOLDER=DIR/,
    );
  } finally {
    if (previous !== undefined) Deno.env.set("IMAGE_FOLDER", previous);
  }
});
