import assert from "node:assert/strict";
import { join } from "node:path";
import { UserError } from "../lib/util/errors.ts";
import { profileSettings, readProfileRecords } from "../lib/train/profile.ts";

Deno.test("smoke profile: synthetic data, small subsets, 2 epochs, random VGG16 weights", () => {
  const s = profileSettings("smoke");
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
  const s = profileSettings("full");
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
    assert.deepEqual(await readProfileRecords(s, ["cnn"]), [{ profile: "smoke" }]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
