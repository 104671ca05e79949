/**
 * Notebook 08's helpers (lib/report/your_images.ts) and the executor's handling of it: no
 * folder set is one clear line; the run suited to a folder is MobileNetV2 at 96 px when its
 * ImageNet file is here, else VGG16 at 32 px with its ImageNet file, else with random weights,
 * saying which and why, and random VGG16 at 64 px in the smoke profile; the views name the
 * skipped files and show every class; and notebook 08 named without IMAGE_FOLDER is refused
 * before any kernel starts.
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
  suitedModel,
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

/** Run `fn` with environment variables set, restoring them after. */
async function withEnv(env: Record<string, string>, fn: () => Promise<void>): Promise<void> {
  const previous = Object.fromEntries(Object.keys(env).map((k) => [k, Deno.env.get(k)]));
  for (const [k, v] of Object.entries(env)) Deno.env.set(k, v);
  try {
    await fn();
  } finally {
    for (const [k, v] of Object.entries(previous)) {
      if (v === undefined) Deno.env.delete(k);
      else Deno.env.set(k, v);
    }
  }
}

Deno.test("without the ImageNet file the full profile falls back to random weights, saying so", async () => {
  const missing = {
    VGG16_WEIGHTS: join(tmp, "missing.h5"),
    MOBILENET_V2_WEIGHTS: join(tmp, "missing-mobilenet.h5"),
  };
  await withEnv(missing, async () => {
    const full = await suitedRun(profileSettings("full", noBudget), data);
    assert.equal(full.config.model, "vgg16");
    assert.equal(full.config.weights, "none");
    assert.match(full.note, /^No ImageNet weights here \(.*missing\.h5.*\): VGG16 with random/);
    assert.equal(full.config.dataset, data);
    assert.equal(full.config.fineTune, false, "a few dozen images: the head only");
    assert.match(full.config.out!, /your_images$/);
    assert.match(full.note, /missing-mobilenet\.h5.*MOBILENET_V2_WEIGHTS/);
  });
});

Deno.test("the smoke profile trains VGG16 with random weights at 64 px, long enough to learn", async () => {
  const at64 = await loadImageFolder(fixture.dir, {
    seed: 1,
    imageSize: 64,
    cacheDir: false,
    log: () => {},
  });
  const smoke = await suitedRun(profileSettings("smoke", noBudget), at64);
  assert.equal(smoke.config.weights, "none");
  assert.deepEqual([smoke.config.model, smoke.config.inputSize, smoke.config.epochs], [
    "vgg16",
    64,
    20,
  ]);
  assert.match(smoke.note, /smoke profile trains VGG16 with random weights \(offline\) at 64x64/);
  const budget = { variables: ["CIFAR_EPOCHS=1"], epochs: 1 };
  assert.equal((await suitedModel(profileSettings("smoke", budget))).epochs, 1, "CIFAR_EPOCHS");
});

Deno.test("with only VGG16's weights here the full profile trains VGG16 at 32 px, naming MobileNetV2's", async () => {
  const file = join(tmp, "vgg16.h5"); // found by path; read only when training
  await Deno.writeFile(file, new Uint8Array(8));
  const env = { VGG16_WEIGHTS: file, MOBILENET_V2_WEIGHTS: join(tmp, "missing-mobilenet.h5") };
  await withEnv(env, async () => {
    const { config, note } = await suitedRun(profileSettings("full", noBudget), data);
    assert.deepEqual([config.model, config.inputSize, config.weights], ["vgg16", 32, undefined]);
    assert.match(note, /^VGG16 with ImageNet weights \(.*vgg16\.h5.*\) at 32x32; MobileNetV2's/);
    assert.match(note, /missing-mobilenet\.h5.*set MOBILENET_V2_WEIGHTS/);
  });
});

Deno.test("with MobileNetV2's weights here the full profile trains it at 96 px, saying so", async () => {
  const file = join(tmp, "mobilenet_v2.h5"); // found by path; read only when training
  await Deno.writeFile(file, new Uint8Array(8));
  await withEnv({ MOBILENET_V2_WEIGHTS: file }, async () => {
    const settings = profileSettings("full", noBudget);
    const suited = await suitedModel(settings);
    assert.deepEqual([suited.model, suited.inputSize, suited.weights], [
      "mobilenetv2",
      96,
      undefined,
    ]);
    assert.match(
      suited.note,
      /^MobileNetV2 with ImageNet weights \(.*mobilenet_v2\.h5.*\) at 96x96/,
    );
    await assert.rejects(suitedRun(settings, data, suited), (e) => {
      assert.ok(e instanceof UserError);
      assert.match(e.message, /read at 32x32 but mobilenetv2 takes 96x96/);
      return true;
    });
    const at96 = await loadImageFolder(fixture.dir, {
      seed: 1,
      imageSize: 96,
      cacheDir: false,
      log: () => {},
    });
    const { config, note } = await suitedRun(settings, at96, suited);
    assert.deepEqual([config.model, config.inputSize, config.dataset], ["mobilenetv2", 96, at96]);
    assert.match(note, /the head only \(blocks 13 to 16 and Conv_1 fine-tuned from 2000/);
    const samples = classSamples(at96, 1)[JUPYTER_DISPLAY]()["text/plain"] ?? "";
    assert.match(samples, /^6 images \(96x96\)/);
  });
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
