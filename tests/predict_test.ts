import assert from "node:assert/strict";
import { join } from "node:path";
import jpeg from "jpeg-js";
import { initBackend } from "../lib/engine/backend.ts";
import { loadCifar100 } from "../lib/data/cifar100.ts";
import { IMAGE_BYTES } from "../lib/data/dataset.ts";
import { cifarImage, type RgbImage, writePng } from "../lib/data/images.ts";
import { runExperiment } from "../lib/train/experiment.ts";
import type { ExperimentConfig } from "../lib/train/experiment_config.ts";
import type { RunRecord } from "../lib/train/run_record.ts";
import { classifyImageFiles, loadClassifier, predictTopK } from "../lib/inference/predict.ts";
import { UserError } from "../lib/util/errors.ts";

await initBackend();

const PREDICT = new URL("../lib/cli/predict.ts", import.meta.url).pathname;

/** Train a small model quickly into `out`; returns its run record. */
function train(out: string, over: Partial<ExperimentConfig> = {}): Promise<RunRecord> {
  return runExperiment(
    {
      model: "cnn",
      data: "synthetic",
      epochs: 1,
      limitTrain: 256,
      limitTest: 64,
      workers: 1,
      out,
      ...over,
    },
    { log: () => {}, summary: false },
  );
}

/** `deno task predict`'s entry point as a subprocess. */
async function predict(args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", PREDICT, ...args],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  const stdout = text(out.stdout);
  const stderr = text(out.stderr);
  return {
    code: out.code,
    stdout,
    stderr,
    json: stdout.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l)),
    errors: stderr.split("\n").filter((l) => l.startsWith("error: ")),
  };
}

/** A picture of `width` x `height`: a diagonal gradient with a bright disc. */
function picture(width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const inDisc =
        (x - width / 2) ** 2 + (y - height / 2) ** 2 < (Math.min(width, height) / 4) ** 2;
      data.set(
        inDisc ? [250, 220, 40] : [(x * 255) / width, (y * 255) / height, 120],
        (y * width + x) * 3,
      );
    }
  }
  return { width, height, data };
}

async function writeJpeg(path: string, img: RgbImage): Promise<string> {
  const rgba = new Uint8Array(img.width * img.height * 4).fill(255);
  for (let p = 0; p < img.width * img.height; p++) {
    rgba.set(img.data.subarray(p * 3, p * 3 + 3), p * 4);
  }
  await Deno.writeFile(
    path,
    jpeg.encode({ data: rgba, width: img.width, height: img.height }, 90).data,
  );
  return path;
}

/** A JSON line's top classes agree with the run record's names and are sorted probabilities. */
function assertTop(line: { top: Record<string, unknown>[] }, record: RunRecord, k = 5) {
  const top = line.top as {
    rank: number;
    class: number;
    name: string;
    superclass: string;
    probability: number;
  }[];
  assert.equal(top.length, k);
  let sum = 0;
  top.forEach((t, i) => {
    assert.equal(t.rank, i + 1);
    assert.equal(t.name, record.fine_label_names[t.class]);
    assert.equal(t.superclass, record.coarse_label_names[record.fine_to_coarse[t.class]]);
    assert.ok(t.probability > 0 && t.probability <= 1);
    if (i > 0) assert.ok(t.probability <= top[i - 1].probability, "sorted, most probable first");
    sum += t.probability;
  });
  assert.ok(sum <= 1 + 1e-6, `top-${k} probabilities sum to ${sum}`);
  assert.equal(new Set(top.map((t) => t.class)).size, k, "distinct classes");
}

/**
 * Mean cross-entropy of the true classes from all-class predictions: equals the run's
 * test_loss only when the images are preprocessed as in training (argmax alone cannot tell:
 * a barely trained model picks the same classes from wrongly scaled pixels).
 */
function crossEntropy(tops: { class: number; probability: number }[][], labels: Uint8Array) {
  const sum = tops.reduce(
    (s, top, i) => s - Math.log(top.find((t) => t.class === labels[i])!.probability),
    0,
  );
  return sum / tops.length;
}

const tmp = await Deno.makeTempDir({ prefix: "predict_test_" });
const runs = join(tmp, "runs");
const record = await train(runs);
const runDir = join(runs, "cnn");
const png = await writePng(join(tmp, "wide.png"), picture(120, 80));
const jpg = await writeJpeg(join(tmp, "tall.jpg"), picture(45, 300));
const textPng = join(tmp, "notes.png");
await Deno.writeTextFile(textPng, "this is text, not a picture\n");

Deno.test("predict: one JSON line per image, top 5 with names from run.json; a table on stderr", async () => {
  const r = await predict(["--run", runDir, png, jpg]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.json.length, 2);
  assert.deepEqual(r.json.map((l) => [l.file, l.width, l.height]), [[png, 120, 80], [
    jpg,
    45,
    300,
  ]]);
  for (const line of r.json) assertTop(line, record);
  assert.deepEqual(r.errors, []);
  assert.match(r.stderr, /Model: CNN from .*SYNTHETIC/);
  assert.match(r.stderr, new RegExp(`${png} \\(120x80\\)\\n  1\\. ${r.json[0].top[0].name}`));
  assert.match(r.stderr, / {2}5\. synthetic_class_\d+ +\d+\.\d% {2}synthetic_superclass_\d+/);
  const three = await predict(["--run", runDir, "--top", "3", png]);
  assertTop(three.json[0], record, 3);
});

Deno.test("predict: bad images get one error line each and exit 2, the others are still answered", async () => {
  const missing = join(tmp, "missing.png");
  const r = await predict(["--run", runDir, missing, png, textPng, tmp, jpg]);
  assert.equal(r.code, 2, r.stderr);
  assert.deepEqual(r.json.map((l) => l.file), [png, jpg]);
  for (const line of r.json) assertTop(line, record);
  assert.equal(r.errors.length, 3, r.stderr);
  assert.match(r.errors[0], new RegExp(`^error: ${missing}: no such file; check the path$`));
  assert.match(
    r.errors[1],
    new RegExp(
      `^error: ${textPng}: not a PNG, JPEG, BMP, GIF or WebP file \\(it looks like text\\)`,
    ),
  );
  assert.match(r.errors[2], new RegExp(`^error: ${tmp}: is a folder`));
  assert.doesNotMatch(r.stderr, /^\s+at /m, "no stack trace");
});

Deno.test("predict: a run folder without a model, or a bad command line: one line, exit 2", async (t) => {
  const empty = await Deno.makeTempDir({ dir: tmp });
  const noRecord = await Deno.makeTempDir({ dir: tmp });
  await Deno.copyFile(join(runDir, "model.json"), join(noRecord, "model.json"));
  const cases: [string, string[], RegExp][] = [
    ["no model.json", ["--run", empty, png], /run folder .*: no model\.json; give the run folder/],
    ["a parent of runs", ["--run", runs, png], /no model\.json, but .*cnn has one: pass that/],
    ["missing folder", ["--run", join(tmp, "nope"), png], /run folder .*nope: not found/],
    ["no run.json", ["--run", noRecord, png], /model\.json but no run\.json/],
    ["no --run", [png], /--run DIR is required/],
    ["no images", ["--run", runDir], /no images given/],
    ["bad --top", ["--run", runDir, "--top", "0", png], /--top must be a whole number >= 1/],
  ];
  for (const [name, args, pattern] of cases) {
    await t.step(name, async () => {
      const r = await predict(args);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.errors.length, 1, r.stderr);
      assert.match(r.errors[0], pattern);
      assert.equal(r.stdout, "");
      assert.doesNotMatch(r.stderr, /^\s+at /m, "no stack trace");
    });
  }
});

Deno.test("predictTopK preprocesses as training did: the run's test loss, recomputed", async () => {
  const classifier = await loadClassifier(runDir);
  try {
    const data = await loadCifar100({ data: "synthetic", limitTrain: 256, limitTest: 64 });
    const tops = predictTopK(classifier, data.test.images, 100, 16);
    assert.equal(tops.length, 64);
    const loss = crossEntropy(tops, data.test.fineLabels);
    assert.ok(Math.abs(loss - record.test_loss) < 1e-4, `${loss} vs the run's ${record.test_loss}`);
    // The same image through a PNG file gets the same answer.
    const path = await writePng(join(tmp, "test_0.png"), cifarImage(data.test.images, 0));
    const [fromFile] = await classifyImageFiles(classifier, [path]);
    assert.ok(fromFile.ok);
    // (float sums differ in the last bits between a batch of 16 and a batch of 1)
    assert.deepEqual(fromFile.top.map((t) => t.class), tops[0].slice(0, 5).map((t) => t.class));
    fromFile.top.forEach((t, i) =>
      assert.ok(Math.abs(t.probability - tops[0][i].probability) < 1e-6)
    );
    assert.deepEqual(fromFile.pixels, data.test.images.subarray(0, IMAGE_BYTES));
  } finally {
    classifier.model.dispose();
  }
});

Deno.test("loadClassifier: a model that does not match its run record is refused", async () => {
  const dir = await Deno.makeTempDir({ dir: tmp });
  for (const file of ["model.json", "weights.bin"]) {
    await Deno.copyFile(join(runDir, file), join(dir, file));
  }
  const short = { ...record, fine_label_names: record.fine_label_names.slice(0, 10) };
  await Deno.writeTextFile(join(dir, "run.json"), JSON.stringify(short));
  await assert.rejects(() => loadClassifier(dir), (e: Error) => {
    assert.ok(e instanceof UserError);
    assert.match(e.message, /fine_to_coarse is missing or does not match/);
    return true;
  });
  const fewer = { ...short, fine_to_coarse: record.fine_to_coarse.slice(0, 10) };
  await Deno.writeTextFile(join(dir, "run.json"), JSON.stringify(fewer));
  await assert.rejects(
    () => loadClassifier(join(dir, "run.json")),
    /100 outputs but run\.json names 10 classes/,
  );
});

Deno.test({
  name: "predict: VGG16 runs get 0..255 pixels resized to their input size and caffe-preprocessed",
  sanitizeResources: false,
  async fn() {
    const out = join(tmp, "vgg");
    const vgg = await train(out, {
      model: "vgg16",
      weights: "none",
      inputSize: 64,
      limitTrain: 32,
      limitTest: 16,
      cacheDir: join(tmp, "cache"),
    });
    const classifier = await loadClassifier(join(out, "vgg16"));
    try {
      assert.equal(classifier.inputSize, 64);
      const data = await loadCifar100({ data: "synthetic", limitTrain: 32, limitTest: 16 });
      const tops = predictTopK(classifier, data.test.images, 100);
      // The run evaluated the head on features from extractFeatures (vgg16Input, the base, mean
      // pooling); predictTopK runs the saved classifier on raw pixels: the same loss.
      const loss = crossEntropy(tops, data.test.fineLabels);
      assert.ok(Math.abs(loss - vgg.test_loss) < 1e-4, `${loss} vs the run's ${vgg.test_loss}`);
    } finally {
      classifier.model.dispose();
    }
    const r = await predict(["--run", join(out, "vgg16"), png]);
    assert.equal(r.code, 0, r.stderr);
    assertTop(r.json[0], vgg);
  },
});

globalThis.addEventListener("unload", () => Deno.removeSync(tmp, { recursive: true }));
