/**
 * The web page of a run trained on a folder of your own images, in headless Chromium: titled
 * from the folder, its class names, its input size, samples from its held-out split, the same
 * top 5 as `deno task predict` (within 1e-4) for a held-out JPEG and PNG; and the exported site
 * carries no absolute path of the machine that built it.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { openSite } from "./chromium.ts";
import { makeImageFolder } from "./image_folder_fixture.ts";

const ROOT = new URL("..", import.meta.url).pathname;
/** How far the page's probabilities may be from deno task predict's (the figure). */
const TOLERANCE = 1e-4;

interface Top {
  class: number;
  name: string;
  probability: number;
  superclass?: string;
}

async function deno(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), { args, cwd: ROOT }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

/** Every file under `dir`, as text (binary files too: a path would show as its bytes). */
async function everyFile(dir: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) { for (const [p, t] of await everyFile(path)) files.set(p, t); }
    else files.set(path, new TextDecoder().decode(await Deno.readFile(path)));
  }
  return files;
}

/**
 * A CNN at 48 px trained on the fixture folder until it is sure of itself, two of its
 * held-out images (a JPEG and a PNG) and predict's answers for them.
 */
async function fixture() {
  const dir = await Deno.makeTempDir({ prefix: "web-folder-test-" });
  const folder = join(dir, "flowers");
  await makeImageFolder(folder);
  const runs = join(dir, "runs");
  const args = ["--model", "cnn", "--data", folder, "--input-size", "48", "--seed", "1"];
  const trained = await deno(["task", "train", ...args, "--epochs", "40", "--out", runs]);
  assert.equal(trained.code, 0, trained.stderr);
  const run = join(runs, "cnn");
  const record = JSON.parse(await Deno.readTextFile(join(run, "run.json")));
  const files: string[] = record.data.held_out.files;
  const held = [".jpg", ".png"].map((ext) => join(folder, files.find((f) => f.endsWith(ext))!));
  const predicted = await deno(["task", "predict", "--run", run, ...held]);
  assert.equal(predicted.code, 0, predicted.stderr);
  const expected = predicted.stdout.trim().split("\n").map((l) => JSON.parse(l).top as Top[]);
  return { dir, folder, run, record, held, expected };
}

async function openPage(page: Page, url: string): Promise<void> {
  await page.goto(url);
  await page.waitForSelector("body[data-ready]", { timeout: 30_000 });
}

Deno.test({
  name: "a folder run's exported page: its title, classes, samples, and predict's top 5",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const { dir, folder, run, record, held, expected } = await fixture();
    const names: string[] = record.fine_label_names;
    assert.ok(expected[0][0].probability >= 0.5, `top-1 only ${expected[0][0].probability}`);
    const site = join(dir, "site");
    const exported = await deno(["task", "web:export", "--run", run, "--out", site, ...held]);
    assert.equal(exported.code, 0, exported.stderr);
    for (const [path, text] of await everyFile(site)) {
      for (const absolute of [folder, dir, ROOT.replace(/\/$/, "")]) {
        assert.ok(!text.includes(absolute), `${path} holds ${absolute}`);
      }
    }
    const { base, browser, close } = await openSite(site);
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      for (const [i, file] of held.entries()) {
        const name = file.split("/").at(-1);
        await openPage(page, `${base}?image=images/${name}`);
        assert.equal(await page.locator("#message").textContent(), "", name);
        const top: Top[] = JSON.parse(
          await page.locator("#result").getAttribute("data-top5") ?? "[]",
        );
        assert.deepEqual(top.map((t) => t.name), expected[i].map((t) => t.name), name);
        assert.ok(top.every((t) => names.includes(t.name) && !t.superclass), name);
        const difference = Math.max(
          ...top.map((t, r) => Math.abs(t.probability - expected[i][r].probability)),
        );
        assert.ok(difference <= TOLERANCE, `${name}: probabilities differ by up to ${difference}`);
      }
      assert.equal(await page.title(), "flowers: 6 classes");
      assert.equal(await page.locator("#title").textContent(), "flowers: 6 classes");
      const model = await page.locator("#model").textContent() ?? "";
      assert.match(model, /held-out accuracy.*6 classes.*48x48 \(centre-crop\+area\/1\)/);
      assert.equal(await page.locator("#caveat").textContent(), "");
      const samples = await page.locator("#samples button").allTextContents();
      assert.equal(samples.length, 6);
      assert.deepEqual([...samples].sort(), [...names].sort());
      assert.deepEqual(errors, []);
    } finally {
      await close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
