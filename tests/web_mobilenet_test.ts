/**
 * A MobileNetV2 run end to end on a folder of photos: trained on features of a Keras-layout
 * weights file (He-scaled, so that its answers are confident), `deno task predict` answers, and
 * its exported page in headless Chromium gives the same top 5 within 1e-4, names the model, and
 * says how long one photo took.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { openSite } from "./chromium.ts";
import { makeImageFolder } from "./image_folder_fixture.ts";
import { writeHeScaledMobileNetV2 } from "./mobilenet_v2_fixture.ts";

const ROOT = new URL("..", import.meta.url).pathname;
/** How far the page's probabilities may be from deno task predict's (the figure). */
const TOLERANCE = 1e-4;

interface Top {
  name: string;
  probability: number;
}

async function deno(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), { args, cwd: ROOT }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

Deno.test({
  name: "a MobileNetV2 folder run: predict answers, and the page answers as predict does",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "web-mobilenet-test-" });
    const folder = join(dir, "flowers");
    await makeImageFolder(folder);
    const weights = join(dir, "weights.h5");
    await writeHeScaledMobileNetV2(weights, 0.35);
    const runs = join(dir, "runs");
    const trained = await deno([
      ..."task train --model mobilenetv2 --alpha 0.35 --input-size 96 --epochs 60".split(" "),
      ...["--weights", weights, "--data", folder, "--seed", "1", "--out", runs],
    ]);
    assert.equal(trained.code, 0, trained.stderr);
    assert.match(trained.stderr, /Features \(train, \d+ images, 96px\): computed/);
    const run = join(runs, "mobilenetv2");
    const record = JSON.parse(await Deno.readTextFile(join(run, "run.json")));
    assert.equal(record.alpha, 0.35);
    assert.equal(record.weights_kind, "file");
    const files: string[] = record.data.held_out.files;
    const held = [".jpg", ".png"].map((ext) => join(folder, files.find((f) => f.endsWith(ext))!));
    const predicted = await deno(["task", "predict", "--run", run, ...held]);
    assert.equal(predicted.code, 0, predicted.stderr);
    assert.match(predicted.stderr, /Model: MobileNetV2 from/);
    const expected = predicted.stdout.trim().split("\n").map((l) => JSON.parse(l).top as Top[]);
    assert.ok(expected[0][0].probability >= 0.3, `top-1 only ${expected[0][0].probability}`);

    const site = join(dir, "site");
    const exported = await deno(["task", "web:export", "--run", run, "--out", site, ...held]);
    assert.equal(exported.code, 0, exported.stderr);
    const { base, browser, close } = await openSite(site);
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      for (const [i, file] of held.entries()) {
        const name = file.split("/").at(-1);
        await page.goto(`${base}?image=images/${name}`);
        await page.waitForSelector("body[data-ready]", { timeout: 60_000 });
        assert.equal(await page.locator("#message").textContent(), "", name);
        const top: Top[] = JSON.parse(
          await page.locator("#result").getAttribute("data-top5") ?? "[]",
        );
        assert.deepEqual(top.map((t) => t.name), expected[i].map((t) => t.name), name);
        const difference = Math.max(
          ...top.map((t, r) => Math.abs(t.probability - expected[i][r].probability)),
        );
        assert.ok(difference <= TOLERANCE, `${name}: probabilities differ by up to ${difference}`);
      }
      assert.match(await page.locator("#model").textContent() ?? "", /^MobileNetV2: /);
      assert.match(await page.locator("#timing").textContent() ?? "", /warm-up included/);
      // A second photo on the same page: the steady cost of one photo.
      await page.locator("#picker").setInputFiles(held[1]);
      const second = held[1].split("/").at(-1);
      await page.waitForSelector(`#result[data-file="${second}"]`, { timeout: 30_000 });
      const timing = await page.locator("#timing").textContent() ?? "";
      assert.match(timing, /^This photo took \d+ ms here .*\)\.$/);
      console.log(`MobileNetV2 alpha 0.35 at 96 px in Chromium: ${timing}`);
      assert.deepEqual(errors, []);
    } finally {
      await close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
