import assert from "node:assert/strict";
import { join } from "node:path";
import { UserError } from "../lib/util/errors.ts";
import {
  budgetFromEnv,
  profileSettings,
  readProfileRecords,
  runTestImages,
} from "../lib/train/profile.ts";
import type { RunRecord } from "../lib/train/run_record.ts";
import { syntheticCifar100 } from "../lib/data/synthetic.ts";
import { fixtureFiles, fixtureFine, writeFixtureFolder } from "./cifar_fixture.ts";

/** No budget variables, whatever the environment of the test run. */
const NONE = { variables: [] };

Deno.test("smoke profile: synthetic data, small subsets, 2 epochs, random VGG16 weights", () => {
  const s = profileSettings("smoke", NONE);
  assert.equal(s.synthetic, true);
  assert.deepEqual(s.run("mlp"), {
    model: "mlp",
    epochs: 2,
    data: "synthetic",
    limitTrain: 2000,
    limitTest: 500,
    seed: 0,
    out: s.out,
    profile: "smoke",
  });
  const vgg = s.run("vgg16");
  assert.equal(vgg.weights, "none");
  assert.equal(vgg.limitTrain, 512);
  assert.equal(vgg.limitTest, 256);
  assert.match(s.out, /runs[\\/]smoke$/);
  assert.equal(s.recordPath("cnn"), join(s.out, "cnn", "run.json"));
});

Deno.test("full profile: real data lookup, whole splits, 20 epochs, ImageNet weights", () => {
  const s = profileSettings("full", NONE);
  const mlp = s.run("mlp");
  assert.equal(mlp.data, undefined);
  assert.equal(mlp.limitTrain, undefined);
  assert.equal(mlp.epochs, 20);
  assert.equal(mlp.profile, "full");
  assert.equal("weights" in mlp, false, "weights would be rejected for mlp");
  assert.equal(s.run("vgg16").weights, undefined);
  assert.match(s.out, /runs[\\/]full$/);
});

Deno.test("profile comes from CIFAR_PROFILE, default full; unknown names are user errors", async () => {
  // In a child process: env is shared between test files under --parallel.
  const nameIn = async (env: Record<string, string>) => {
    const code =
      `import { profileSettings } from "${new URL("../lib/train/profile.ts", import.meta.url)}";` +
      "console.log(profileSettings().name)";
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", code],
      env: { ...Deno.env.toObject(), CIFAR_PROFILE: "", ...env },
      stdout: "piped",
    }).output();
    return new TextDecoder().decode(out.stdout).trim();
  };
  assert.equal(await nameIn({}), "full");
  assert.equal(await nameIn({ CIFAR_PROFILE: "smoke" }), "smoke");
  assert.throws(() => profileSettings("quick"), (e: unknown) => {
    assert.ok(e instanceof UserError);
    assert.match(e.message, /quick.*smoke.*full/);
    return true;
  });
});

Deno.test("readProfileRecords names the missing record's notebook and rejects other profiles", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const s = { ...profileSettings("smoke"), recordPath: (m: string) => join(dir, m, "run.json") };
    await assert.rejects(readProfileRecords(s, ["cnn"]), /03_cnn\.ipynb.*CIFAR_PROFILE=smoke/);
    await Deno.mkdir(join(dir, "cnn"));
    await Deno.writeTextFile(join(dir, "cnn", "run.json"), JSON.stringify({ profile: "full" }));
    await assert.rejects(readProfileRecords(s, ["cnn"]), /profile 'full', not 'smoke'/);
    await Deno.writeTextFile(join(dir, "cnn", "run.json"), JSON.stringify({ profile: "smoke" }));
    await assert.rejects(
      readProfileRecords(s, ["cnn"]),
      /has no official_data, budget_overrides, test_confidences \(an older record\): execute notebooks\/03_cnn/,
    );
    const recent = {
      profile: "smoke",
      official_data: false,
      budget_overrides: [],
      test_confidences: [0.5],
    };
    await Deno.writeTextFile(join(dir, "cnn", "run.json"), JSON.stringify(recent));
    assert.deepEqual(await readProfileRecords(s, ["cnn"]), [recent]);
    await Deno.mkdir(join(dir, "vgg16"));
    await Deno.writeTextFile(join(dir, "vgg16", "run.json"), JSON.stringify(recent));
    await assert.rejects(
      readProfileRecords(s, ["vgg16"]),
      /has no weights_kind \(an older record\)/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("budgetFromEnv: CIFAR_EPOCHS, CIFAR_LIMIT_TRAIN, CIFAR_LIMIT_TEST, whole numbers >= 1", () => {
  const read = (env: Record<string, string>) => budgetFromEnv((name) => env[name]);
  assert.deepEqual(read({}), { variables: [] });
  assert.deepEqual(
    read({ CIFAR_EPOCHS: "", CIFAR_LIMIT_TEST: " " }),
    { variables: [] },
    "empty = unset",
  );
  assert.deepEqual(
    read({ CIFAR_EPOCHS: "2", CIFAR_LIMIT_TRAIN: "5000", CIFAR_LIMIT_TEST: " 1000 " }),
    {
      epochs: 2,
      train: 5000,
      test: 1000,
      variables: ["CIFAR_EPOCHS=2", "CIFAR_LIMIT_TRAIN=5000", "CIFAR_LIMIT_TEST=1000"],
    },
  );
  const bad: [Record<string, string>, RegExp][] = [
    [
      { CIFAR_EPOCHS: "two" },
      /^CIFAR_EPOCHS must be a whole number >= 1, got 'two' \(unset it to use the profile's epochs\)$/,
    ],
    [{ CIFAR_EPOCHS: "0" }, /^CIFAR_EPOCHS must be .*got '0'/],
    [{ CIFAR_LIMIT_TRAIN: "-5" }, /^CIFAR_LIMIT_TRAIN must be .*got '-5'.*training images/],
    [{ CIFAR_LIMIT_TEST: "1.5" }, /^CIFAR_LIMIT_TEST must be .*got '1\.5'.*test images/],
    [{ CIFAR_LIMIT_TEST: "1e3" }, /^CIFAR_LIMIT_TEST must be .*got '1e3'/],
  ];
  for (const [env, pattern] of bad) {
    assert.throws(() => read(env), (e: unknown) => {
      assert.ok(e instanceof UserError, String(e));
      assert.match(e.message, pattern);
      return true;
    });
  }
});

Deno.test("budget overrides apply to every model of either profile and are recorded", () => {
  const budget = budgetFromEnv((name) => ({ CIFAR_EPOCHS: "1", CIFAR_LIMIT_TRAIN: "100" })[name]);
  const smoke = profileSettings("smoke", budget);
  assert.equal(smoke.epochs, 1);
  assert.deepEqual(smoke.run("mlp"), {
    model: "mlp",
    epochs: 1,
    data: "synthetic",
    limitTrain: 100,
    limitTest: 500, // the profile's
    seed: 0,
    out: smoke.out,
    profile: "smoke",
    budgetOverrides: ["CIFAR_EPOCHS=1", "CIFAR_LIMIT_TRAIN=100"],
  });
  assert.equal(smoke.run("vgg16").limitTrain, 100);
  assert.equal(smoke.run("vgg16").limitTest, 256);
  assert.deepEqual(smoke.load, {
    data: "synthetic",
    seed: 0,
    limitTrain: 100,
    limitTest: undefined,
  });
  const full = profileSettings("full", budgetFromEnv((name) => ({ CIFAR_LIMIT_TEST: "7" })[name]));
  assert.equal(full.run("cnn").epochs, 20);
  assert.equal(full.run("cnn").limitTrain, undefined);
  assert.equal(full.run("vgg16").limitTest, 7);
  assert.deepEqual(full.run("cnn").budgetOverrides, ["CIFAR_LIMIT_TEST=7"]);
  assert.equal("budgetOverrides" in profileSettings("full", NONE).run("cnn"), false);
});

Deno.test("the budget variables are read from the environment by default", async () => {
  // In a child process: env is shared between test files under --parallel.
  const code =
    `import { profileSettings } from "${new URL("../lib/train/profile.ts", import.meta.url)}";` +
    `const s = profileSettings("full"); console.log(JSON.stringify(s.run("mlp")))`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", code],
    env: { CIFAR_EPOCHS: "3", CIFAR_LIMIT_TRAIN: "", CIFAR_LIMIT_TEST: "" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const config = JSON.parse(new TextDecoder().decode(out.stdout));
  assert.equal(config.epochs, 3);
  assert.deepEqual(config.budgetOverrides, ["CIFAR_EPOCHS=3"]);
});

Deno.test("runTestImages: the run's own test images again, checked against its labels", async () => {
  const data = syntheticCifar100({ seed: 4, trainCount: 50, testCount: 12 });
  const synthetic = {
    model: "cnn",
    synthetic: true,
    seed: 4,
    test_images: 12,
    test_labels: Array.from(data.test.fineLabels),
    data: { kind: "synthetic", synthetic: true, origin: "synthetic", id: "s", description: "" },
  } as unknown as RunRecord;
  const again = await runTestImages(synthetic);
  assert.deepEqual(again.test.images, data.test.images);
  assert.equal(again.train.count, 0, "no training images");
  await assert.rejects(runTestImages({ ...synthetic, seed: 5 }), /labels differ/);

  const dir = await Deno.makeTempDir();
  try {
    const folder = await writeFixtureFolder(dir, fixtureFiles(20, 10));
    const counts = { expectedCounts: { train: 20, test: 10 } };
    const real = {
      ...synthetic,
      synthetic: false,
      test_images: 4,
      test_labels: [0, 1, 2, 3].map(fixtureFine),
      data: { ...synthetic.data, synthetic: false, origin: "unverified", path: folder },
    } as RunRecord;
    assert.equal((await runTestImages(real, counts)).test.count, 4);
    await assert.rejects(
      runTestImages({ ...real, test_labels: [0, 1, 2, 4].map(fixtureFine) }, counts),
      (e) => e instanceof UserError && /not the ones the cnn run was tested on/.test(e.message),
    );
    await Deno.remove(folder, { recursive: true });
    await assert.rejects(runTestImages(real, counts), UserError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
