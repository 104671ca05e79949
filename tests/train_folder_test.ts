/**
 * Training on a folder of your own images (issue 25), end to end: `deno task train --data DIR`
 * spawned once on the fixture folder (tests/image_folder_fixture.ts: six classes, every format,
 * bad and ignored files), then `deno task predict` on its run; VGG16 at 64 px and ResNet-9 in
 * process; the same seed giving the same split and weights; predict seeing training's pixels;
 * and `--input-size` for a small model on CIFAR-sized images.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { initBackend, tf } from "../lib/engine/backend.ts";
import { loadImageFolder } from "../lib/data/image_folder.ts";
import { PREPROCESSING } from "../lib/data/image_pixels.ts";
import { syntheticCifar100 } from "../lib/data/synthetic.ts";
import { classifyImageFiles, loadClassifier, predictTopK } from "../lib/inference/predict.ts";
import { runExperiment } from "../lib/train/experiment.ts";
import { readRunRecord, type RunRecord } from "../lib/train/run_record.ts";
import { UserError } from "../lib/util/errors.ts";
import { makeImageFolder } from "./image_folder_fixture.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const tmp = await Deno.makeTempDir({ prefix: "train_folder_test_" });
globalThis.addEventListener("unload", () => Deno.removeSync(tmp, { recursive: true }));
const fixture = await makeImageFolder(join(tmp, "photos"));
/** Every run's cache (the decoded pixels, VGG16 features) stays in the test's folder. */
const cacheDir = join(tmp, "cache");
await initBackend();

/** Run a `deno task` with this test's cache and no downloads. */
async function task(name: string, args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", name, ...args],
    cwd: ROOT,
    env: { CIFAR100_CACHE: cacheDir, CIFAR100_OFFLINE: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

/** Run in process, saving under `out`, without the log. */
function train(out: string, config: Partial<Parameters<typeof runExperiment>[0]> = {}) {
  return runExperiment(
    { model: "cnn", data: fixture.dir, epochs: 1, seed: 1, out, cacheDir, ...config },
    { log: () => {}, summary: false },
  );
}

const cliOut = join(tmp, "cli");
const trained = await task("train", [
  "--model",
  "cnn",
  "--data",
  fixture.dir,
  "--epochs",
  "3",
  "--seed",
  "1",
  "--out",
  cliOut,
]);

Deno.test("train --data DIR: trains the folder's classes, names each bad file once, records them", async () => {
  assert.equal(trained.code, 0, trained.stderr);
  for (const { path } of fixture.bad) {
    const naming = trained.stderr.split("\n").filter((line) => line.includes(path));
    assert.equal(naming.length, 1, `${path} named once:\n${trained.stderr}`);
    assert.match(naming[0], /^skipped /);
  }
  assert.match(trained.stderr, /^Held-out \(validation split \(20%, seed 1\)\) loss: /m);
  const record = await readRunRecord(join(cliOut, "cnn", "run.json"));
  assert.deepEqual(record.fine_label_names, fixture.classNames);
  assert.deepEqual([record.coarse_label_names, record.fine_to_coarse], [[], []]);
  assert.deepEqual(
    record.data.skipped!.map((s) => s.file),
    fixture.bad.map((b) => b.path).sort(),
  );
  assert.deepEqual(record.data.ignored, fixture.ignored);
  assert.equal(record.data.kind, "folder");
  assert.equal(record.data.path, fixture.dir);
  assert.equal(record.input_size, 32);
  assert.equal(record.preprocessing, PREPROCESSING);
  const heldOut = record.data.held_out!;
  assert.equal(heldOut.kind, "split");
  assert.equal(heldOut.files.length, record.test_images);
  // The held-out files are listed in the order of the test labels.
  heldOut.files.forEach((file, i) => {
    assert.equal(record.fine_label_names[record.test_labels[i]], file.split("/")[0]);
  });
  const line = JSON.parse(trained.stdout);
  assert.equal(line.data.held_out.digest, heldOut.digest);
  assert.equal(line.data.held_out.files, undefined, "no per-image list on the JSON line");
});

Deno.test("predict --run: answers a folder run with its class names, no superclasses", async () => {
  const image = join(fixture.dir, fixture.images.get("cherry")![0]);
  const r = await task("predict", ["--run", join(cliOut, "cnn"), image]);
  assert.equal(r.code, 0, r.stderr);
  const { top } = JSON.parse(r.stdout);
  assert.equal(top.length, 5);
  for (const t of top) {
    assert.equal(t.name, fixture.classNames[t.class]);
    assert.equal(t.superclass, undefined);
  }
  assert.doesNotMatch(r.stderr, /CIFAR-100/, "no CIFAR caveat for your own images");
});

Deno.test("predict gives the model the pixels training gave it, file for file", async () => {
  // At 24 px, not the default 32: predict must read at the run's size, not CIFAR's.
  const out = join(tmp, "pixels");
  await train(out, { model: "mlp", inputSize: 24 });
  const classifier = await loadClassifier(join(out, "mlp"));
  const record = classifier.record;
  assert.equal(record.input_size, 24);
  const data = await loadImageFolder(fixture.dir, {
    seed: 1,
    imageSize: record.input_size,
    cacheDir: false,
    workers: 1,
    log: () => {},
  });
  const files = data.test.files!;
  const results = await classifyImageFiles(classifier, files.map((f) => join(fixture.dir, f)));
  const bytes = record.input_size! ** 2 * 3;
  results.forEach((result, i) => {
    assert.ok(result.ok);
    assert.deepEqual(
      result.pixels,
      data.test.images.subarray(i * bytes, (i + 1) * bytes),
      files[i],
    );
  });
  classifier.model.dispose();
});

Deno.test("train --data DIR: VGG16 at --input-size 64 and ResNet-9 train on the folder's classes", async () => {
  const out = join(tmp, "models");
  const before = tf.memory().numTensors;
  const vgg16 = await train(out, { model: "vgg16", weights: "none", inputSize: 64 });
  const resnet9 = await train(out, { model: "resnet9" });
  assert.equal(tf.memory().numTensors, before);
  for (const record of [vgg16, resnet9]) {
    assert.deepEqual(record.fine_label_names, fixture.classNames);
    assert.equal(record.preprocessing, PREPROCESSING);
  }
  assert.deepEqual([vgg16.input_size, resnet9.input_size], [64, 32]);
  const classifier = await loadClassifier(join(out, "vgg16"));
  assert.equal(classifier.inputSize, 64);
  const image = join(fixture.dir, fixture.images.get("apple")![0]);
  const [result] = await classifyImageFiles(classifier, [image]);
  assert.ok(result.ok);
  assert.equal(result.pixels.length, 64 * 64 * 3, "read at the run's 64 px, as in training");
  classifier.model.dispose();
});

Deno.test("train --data DIR: the same seed gives the same split and the same weights", async () => {
  const runs: RunRecord[] = [];
  const weights: Uint8Array[] = [];
  for (const name of ["a", "b"]) {
    runs.push(await train(join(tmp, `seed-${name}`), { epochs: 2 }));
    weights.push(await Deno.readFile(join(tmp, `seed-${name}`, "cnn", "weights.bin")));
  }
  assert.deepEqual(runs[0].data.held_out, runs[1].data.held_out);
  assert.deepEqual(weights[0], weights[1]);
  assert.deepEqual(runs[0].history, runs[1].history);
});

Deno.test("--input-size on CIFAR-sized images: resized per batch in training and in predict alike", async () => {
  const out = join(tmp, "resized");
  const dataset = syntheticCifar100({ trainCount: 64, testCount: 16 });
  const record = await runExperiment(
    { model: "cnn", dataset, epochs: 1, inputSize: 40, out, cacheDir },
    { log: () => {}, summary: false },
  );
  assert.equal(record.input_size, 40);
  assert.equal(record.preprocessing, undefined, "CIFAR's images were not brought to size");
  const classifier = await loadClassifier(join(out, "cnn"));
  assert.equal(classifier.inputSize, 40);
  const tops = predictTopK(classifier, dataset.test.images, 1);
  assert.deepEqual(tops.map(([best]) => best.class), record.test_predictions);
  classifier.model.dispose();
});

Deno.test("a folder read already (a notebook's) trains at its size, and refuses another", async () => {
  const dataset = await loadImageFolder(fixture.dir, {
    seed: 1,
    imageSize: 24,
    cacheDir: false,
    workers: 1,
    log: () => {},
  });
  const record = await train(join(tmp, "given"), { model: "mlp", data: undefined, dataset });
  assert.equal(record.input_size, 24);
  await assert.rejects(
    train(join(tmp, "given"), { model: "mlp", data: undefined, dataset, inputSize: 32 }),
    (e: Error) =>
      e instanceof UserError && /read at 24 px but the input size is 32/.test(e.message),
  );
});
