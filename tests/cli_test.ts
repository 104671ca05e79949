import assert from "node:assert/strict";
import { join } from "node:path";
import { vgg16NotopLayers, writeKerasWeights } from "./vgg16_fixture.ts";

const CLI = new URL("../lib/cli/train.ts", import.meta.url).pathname;

/** Run `deno task train`'s entry point with an empty cache and no downloads. */
async function train(args: string[], env: Record<string, string> = {}) {
  const cache = await Deno.makeTempDir();
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    // An empty Keras cache too, whatever this machine has in ~/.keras.
    env: {
      CIFAR100_CACHE: cache,
      KERAS_HOME: join(cache, "keras"),
      CIFAR100_OFFLINE: "1",
      CIFAR100_DATA: "",
      ...env,
    },
    stdout: "piped",
    stderr: "piped",
  }).output();
  await Deno.remove(cache, { recursive: true });
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

/** A user error: exit 2, one `error:` line (plus usage where useful), no stack trace. */
function assertUserError(r: { code: number; stderr: string }, pattern: RegExp) {
  assert.equal(r.code, 2, r.stderr);
  const errorLines = r.stderr.split("\n").filter((l) => l.startsWith("error: "));
  assert.equal(errorLines.length, 1, r.stderr);
  assert.match(errorLines[0], pattern);
  assert.doesNotMatch(r.stderr, /^\s+at /m, "no stack trace");
}

Deno.test("cli: bad flags and values get one clear error line and exit 2", async (t) => {
  const cases: [string[], RegExp][] = [
    [[], /--model is required/],
    [["--model", "resnet"], /unknown model 'resnet': use one of mlp, cnn, vgg16/],
    [["--model", "cnn", "--epochs", "two"], /--epochs must be a whole number, got 'two'/],
    [["--model", "cnn", "--epochs", "0"], /--epochs must be a whole number >= 1, got '0'/],
    [["--model", "cnn", "--batch-size=-5"], /--batch-size must be a whole number >= 1/],
    [
      ["--model", "cnn", "--batch-size", "-5"],
      /'--batch-size' argument is ambiguous.*--batch-size=-XYZ/,
    ],
    [["--model", "cnn", "--frobnicate"], /Unknown option '--frobnicate'/],
    [["--model", "mlp", "--weights", "none"], /--weights applies to --model vgg16 and mobilenet/],
    [["--model", "cnn", "--alpha", "0.5"], /--alpha applies to --model mobilenetv2 only/],
    [["--model", "mobilenetv2", "--alpha", "wide"], /--alpha must be a number .*'wide'/],
    [
      ["--model", "mobilenetv2", "--alpha", "0.6"],
      /--alpha 0\.6: .* 0\.35, 0\.5, 0\.75, 1, 1\.3, 1\.4/,
    ],
    [["--model", "mobilenetv2", "--input-size", "16"], /--input-size 16 is too small .*: .* 32/],
    [["--model", "mobilenetv2", "--augment", "crop"], /--augment does not apply to --model mob/],
    [["--model", "mlp", "--loss", "mse"], /unknown loss 'mse'/],
    [["--model", "resnet9", "--augment", "rotate"], /unknown augmentation 'rotate'/],
    [["--model", "vgg16", "--augment", "crop"], /--augment does not apply to --model vgg16/],
    [["--model", "cnn", "--data", "/nonexistent/cifar"], /\/nonexistent\/cifar/],
    [["--model", "cnn", "--validation-split", "1"], /--validation-split must be a fraction .*'1'/],
    [["--model", "cnn", "--validation-split", "half"], /--validation-split must be .*'half'/],
    [["--model", "cnn", "--input-size", "8"], /--input-size 8 is too small for --model cnn: .* 10/],
  ];
  for (const [args, pattern] of cases) {
    await t.step(args.join(" ") || "(no flags)", async () => {
      assertUserError(await train(args), pattern);
    });
  }
});

Deno.test("cli: no data and no network names the three ways and the synthetic option", async () => {
  const r = await train(["--model", "cnn", "--epochs", "1"]);
  assertUserError(r, /--data PATH.*CIFAR100_DATA.*--data synthetic/);
});

Deno.test("cli: vgg16 without weights and without network says how to supply them", async () => {
  const r = await train(["--model", "vgg16", "--data", "synthetic"]);
  assertUserError(r, /--weights PATH.*VGG16_WEIGHTS.*--weights none/);
});

Deno.test("cli: mobilenetv2 without weights and without network names its file and the places", async () => {
  const r = await train(["--model", "mobilenetv2", "--alpha", "0.5", "--data", "synthetic"]);
  assertUserError(
    r,
    /MobileNetV2 alpha 0\.5 96 px ImageNet weights .*MOBILENET_V2_WEIGHTS.*mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0\.5_96_no_top\.h5.*--weights none/,
  );
});

Deno.test("cli: a synthetic run prints the log on stderr and one JSON line on stdout", async () => {
  const out = await Deno.makeTempDir();
  const r = await train([
    "--model",
    "mlp",
    "--epochs",
    "2",
    "--data",
    "synthetic",
    "--limit-train",
    "512",
    "--limit-test",
    "256",
    "--seed",
    "3",
    "--out",
    out,
  ]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split("\n");
  assert.equal(lines.length, 1, "stdout holds exactly the JSON line");
  const record = JSON.parse(lines[0]);
  for (
    const key of [
      "model",
      "backend",
      "params",
      "epochs",
      "train_images",
      "test_images",
      "history",
      "test_loss",
      "test_accuracy",
      "top5_accuracy",
      "seconds_per_epoch",
      "train_images_per_second",
      "data",
    ]
  ) assert.ok(key in record, `JSON line has ${key}`);
  assert.equal(record.model, "mlp");
  assert.equal(record.params, 1_887_332);
  assert.equal(record.train_images, 512);
  assert.equal(record.test_images, 256);
  assert.equal(record.seconds_per_epoch.length, 2);
  assert.equal(record.history.val_accuracy.length, 2);
  assert.equal(record.data.synthetic, true);
  assert.equal(record.data.origin, "synthetic");
  assert.equal(record.official_data, false);
  assert.deepEqual(record.budget_overrides, []);
  assert.equal("test_confidences" in record, false, "per-image arrays stay in the saved record");
  assert.equal(record.loss, "categorical_crossentropy");
  assert.ok(record.top5_accuracy >= record.test_accuracy);
  assert.match(r.stderr, /Epoch 2\/2/);
  assert.match(r.stderr, /SYNTHETIC/);
  assert.match(r.stderr, /Total params: 1,887,332/);
  // The run record and the model are on disk.
  const saved = JSON.parse(await Deno.readTextFile(join(out, "mlp", "run.json")));
  assert.equal(saved.test_accuracy, record.test_accuracy);
  assert.equal(saved.test_predictions.length, 256);
  // Top-1 probabilities of a 100-way softmax, to 3 decimals.
  assert.equal(saved.test_confidences.length, 256);
  for (const p of saved.test_confidences) {
    assert.ok(p >= 0.01 && p <= 1 && Math.round(p * 1000) === p * 1000, `confidence ${p}`);
  }
  assert.ok((await Deno.stat(join(out, "mlp", "weights.bin"))).size > 7_000_000);
  await Deno.remove(out, { recursive: true });
});

Deno.test("cli: `--model cnn --epochs 1 --data synthetic` trains far above chance", async () => {
  const out = await Deno.makeTempDir();
  const r = await train(["--model", "cnn", "--epochs", "1", "--data", "synthetic", "--out", out]);
  assert.equal(r.code, 0, r.stderr);
  const record = JSON.parse(r.stdout);
  assert.equal(record.train_images, 5000);
  assert.equal(record.params, 249_892);
  // 100 classes: chance is 1%.
  assert.ok(record.test_accuracy > 0.3, `test accuracy ${record.test_accuracy}`);
  assert.ok(record.train_images_per_second > 0);
  await Deno.remove(out, { recursive: true });
});

Deno.test("cli: weights_kind comes from the file, not its path: 'file' under random/, 'random' for none", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(join(dir, "random"));
    const path = join(dir, "random", "vgg16_random_init.h5");
    await writeKerasWeights(path, vgg16NotopLayers((l, w, i) => ((i * 7 + l * 13 + w) % 41) / 400));
    const run = (weights: string) =>
      train([
        ...["--model", "vgg16", "--weights", weights, "--data", "synthetic", "--epochs", "1"],
        ...["--limit-train", "16", "--limit-test", "8", "--workers", "1", "--out", dir],
      ]);
    const fromFile = await run(path);
    assert.equal(fromFile.code, 0, fromFile.stderr);
    const record = JSON.parse(fromFile.stdout);
    assert.equal(record.weights_kind, "file");
    assert.match(record.weights, /not known to be ImageNet weights/);
    assert.doesNotMatch(fromFile.stderr, /RANDOM/);
    const none = await run("none");
    assert.equal(none.code, 0, none.stderr);
    assert.equal(JSON.parse(none.stdout).weights_kind, "random");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
