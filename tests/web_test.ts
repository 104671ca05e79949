/**
 * The web page (lib/web/) in a real headless Chromium: the exported site, served by Python's
 * plain static server, classifies a PNG and a JPEG as `deno task predict` does (same top 5,
 * probabilities within 1e-4, made meaningful by a trained model whose answers move by 10x that
 * when the pixels change by one level: checked first), shows a message for a file that is not an image and still
 * classifies the next one; `deno task web` serves the same page and refuses path traversal,
 * however encoded, and methods other than GET and HEAD. Screenshots go to build/screenshots/.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import jpeg from "jpeg-js";
import type { Page } from "playwright-core";
import { launchChromium, openSite } from "./chromium.ts";
import { type RgbImage, writePng } from "../lib/data/images.ts";
import { syntheticCifar100 } from "../lib/data/synthetic.ts";
import { mulberry32 } from "../lib/util/random.ts";

const SCREENSHOTS = "build/screenshots";
const ROOT = new URL("..", import.meta.url).pathname;

interface Top {
  rank: number;
  class: number;
  name: string;
  probability: number;
}

async function deno(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

/**
 * A synthetic test image (the run's classes, another seed's draw) as a photo would come: its
 * 32x32 pixels blown up to `side` x `side` with fresh per-pixel noise, set in a `width` x
 * `height` frame of black and white checks. The page's steps all change what the model sees:
 * without the centre crop the checks come in and the picture is squashed; a bilinear resize
 * reads a few source pixels where the area average takes the mean of all ~10 (the noise stays);
 * one level brighter everywhere is measured in the precondition test.
 */
function photoOf(
  images: Uint8Array,
  index: number,
  frame: { width: number; height: number; side: number },
  brighter = 0,
): RgbImage {
  const { width, height, side } = frame;
  const random = mulberry32(1000 + index);
  const left = Math.floor((width - side) / 2);
  const top = Math.floor((height - side) / 2);
  const source = images.subarray(index * 32 * 32 * 3);
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const inside = x >= left && x < left + side && y >= top && y < top + side;
      const row = Math.floor(((y - top) * 32) / side);
      const from = (row * 32 + Math.floor(((x - left) * 32) / side)) * 3;
      const check = ((x >> 2) + (y >> 2)) % 2 ? 230 : 20;
      for (let c = 0; c < 3; c++) {
        const value = inside ? source[from + c] + (random() * 2 - 1) * 60 : check;
        data[(y * width + x) * 3 + c] = Math.min(255, Math.max(0, Math.round(value + brighter)));
      }
    }
  }
  return { width, height, data };
}

/**
 * A CNN trained to ~85% on synthetic data (3 epochs of 2,000 images, a few seconds), so its
 * answers are confident and move with the input; a PNG and a JPEG made by {@linkcode photoOf};
 * the PNG one level brighter; a text file; and `deno task predict`'s answers for the images.
 */
async function fixture() {
  const dir = await Deno.makeTempDir({ prefix: "web-test-" });
  const trained = await deno([
    "task",
    "train",
    "--model",
    "cnn",
    "--epochs",
    "3",
    "--data",
    "synthetic",
    "--limit-train",
    "2000",
    "--limit-test",
    "200",
    "--out",
    join(dir, "runs"),
  ]);
  assert.equal(trained.code, 0, trained.stderr);
  const drawn = syntheticCifar100({ seed: 7, trainCount: 0, testCount: 4 }).test.images;
  const wide = { width: 120, height: 100, side: 100 };
  const png = await writePng(join(dir, "wide.png"), photoOf(drawn, 0, wide));
  const brighterPng = await writePng(join(dir, "brighter.png"), photoOf(drawn, 0, wide, 1));
  const tall = photoOf(drawn, 3, { width: 100, height: 120, side: 100 });
  const rgba = new Uint8Array(tall.width * tall.height * 4).fill(255);
  for (let p = 0; p < tall.width * tall.height; p++) {
    rgba.set(tall.data.subarray(p * 3, p * 3 + 3), p * 4);
  }
  const jpg = join(dir, "tall.jpg");
  await Deno.writeFile(jpg, jpeg.encode({ ...tall, data: rgba }, 90).data);
  const text = join(dir, "notes.txt");
  await Deno.writeTextFile(text, "not an image\n");
  const run = join(dir, "runs", "cnn");
  const predicted = await deno(["task", "predict", "--run", run, png, jpg, brighterPng]);
  assert.equal(predicted.code, 0, predicted.stderr);
  const lines = predicted.stdout.trim().split("\n").map((l) => JSON.parse(l));
  const expected = new Map<string, Top[]>(
    lines.map((l) => [l.file.slice(dir.length + 1), l.top]),
  );
  return { dir, run, images: [png, jpg, text], expected };
}

/** Open a page and wait until it has loaded (and classified `?image=`, if given). */
async function openPage(page: Page, url: string): Promise<void> {
  await page.goto(url);
  await page.waitForSelector("body[data-ready]", { timeout: 30_000 });
}

async function top5(page: Page): Promise<Top[]> {
  return JSON.parse(await page.locator("#result").getAttribute("data-top5") ?? "[]");
}

/** How far the page's probabilities may be from deno task predict's (the figure). */
const TOLERANCE = 1e-4;

/** The largest difference between two top-5 lists' probabilities, rank by rank. */
function largestDifference(a: Top[], b: Top[]): number {
  return Math.max(...a.map((t, i) => Math.abs(t.probability - b[i].probability)));
}

function assertSameTop(actual: Top[], expected: Top[], label: string): void {
  assert.deepEqual(actual.map((t) => t.class), expected.map((t) => t.class), `${label}: classes`);
  const difference = largestDifference(actual, expected);
  assert.ok(difference <= TOLERANCE, `${label}: probabilities differ by up to ${difference}`);
}

/** Send a request as written (fetch would normalise the path) and return its status. */
async function rawStatus(port: number, method: string, path: string): Promise<number> {
  const connection = await Deno.connect({ hostname: "127.0.0.1", port });
  await connection.write(
    new TextEncoder().encode(
      `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`,
    ),
  );
  const reply = await new Response(connection.readable).text();
  return Number(/^HTTP\/1\.1 (\d+)/.exec(reply)?.[1]);
}

const shared = fixture();

Deno.test({
  name: "precondition: the model's answers are confident and move by 10x the tolerance",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // A near-uniform model (1 epoch of 256 images: every probability ~1.2%) hides a page
    // that sees other pixels: one level brighter everywhere moved it by ~2e-5, under 1e-4.
    const { expected } = await shared;
    const [wide, tall, brighter] = ["wide.png", "tall.jpg", "brighter.png"].map((name) =>
      expected.get(name)!
    );
    for (const [name, top] of [["wide.png", wide], ["tall.jpg", tall]] as const) {
      assert.ok(top[0].probability >= 0.2, `${name}: top-1 probability ${top[0].probability}`);
    }
    assert.notEqual(wide[0].class, tall[0].class, "the two images get different classes");
    const moved = largestDifference(brighter, wide);
    assert.ok(moved >= 10 * TOLERANCE, `one level brighter moves the top 5 by only ${moved}`);
  },
});

Deno.test({
  name: "the exported page, from python's http.server, answers as deno task predict",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const { dir, run, images, expected } = await shared;
    const site = join(dir, "site");
    const exported = await deno(["task", "web:export", "--run", run, "--out", site, ...images]);
    assert.equal(exported.code, 0, exported.stderr);
    const { base, browser, close } = await openSite(site);
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      for (const name of ["wide.png", "tall.jpg"]) {
        await openPage(page, `${base}?image=images/${name}`);
        assert.equal(await page.locator("#message").textContent(), "", name);
        assertSameTop(await top5(page), expected.get(name)!, name);
      }
      assert.match(await page.locator("#engine").textContent() ?? "", /^Engine: (webgl|wasm|cpu)/);
      assert.match(await page.locator("#caveat").textContent() ?? "", /SYNTHETIC/);
      assert.equal(await page.locator("#samples button").count(), 8);
      await Deno.mkdir(SCREENSHOTS, { recursive: true });
      await page.screenshot({ path: join(SCREENSHOTS, "web_page.png"), fullPage: true });

      // Not an image: one message, and the page still classifies the next image.
      await openPage(page, `${base}?image=images/notes.txt`);
      assert.match(await page.locator("#message").textContent() ?? "", /not a PNG or JPEG file/);
      await page.locator("#picker").setInputFiles(images[0]);
      await page.waitForSelector(`#result[data-file="wide.png"]`, { timeout: 10_000 });
      assert.equal(await page.locator("#message").textContent(), "");
      assertSameTop(await top5(page), expected.get("wide.png")!, "picked after the text file");
      assert.deepEqual(errors, []);
    } finally {
      await close();
    }
  },
});

Deno.test({
  name: "deno task web serves the page on 127.0.0.1, only its folder, only GET and HEAD",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const { dir, run, images } = await shared;
    await Deno.writeTextFile(join(dir, "secret.txt"), "outside the site\n");
    const site = join(dir, "served");
    const server = new Deno.Command(Deno.execPath(), {
      args: ["task", "web", "--run", run, "--port", "0", "--out", site, images[0]],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const profile = await Deno.makeTempDir({ prefix: "chromium-profile-" });
    const browser = await launchChromium(profile);
    try {
      const reader = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
      const { value } = await reader.read();
      const { url } = JSON.parse(value!.split("\n")[0]);
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
      const port = Number(new URL(url).port);
      await Deno.symlink(join(dir, "secret.txt"), join(site, "link.txt"));
      const traversals = [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/%2e%2e/secret.txt",
        "/..%2fsecret.txt",
        "/%2e%2e%2fsecret.txt",
        "/images/..%5c..%5csecret.txt",
        "/model/%252e%252e/secret.txt",
        "/%00/secret.txt",
        "/link.txt",
        "/.%2e/secret.txt",
      ];
      for (const path of traversals) assert.equal(await rawStatus(port, "GET", path), 404, path);
      assert.equal(await rawStatus(port, "GET", "/site.json"), 200);
      assert.equal(await rawStatus(port, "HEAD", "/"), 200);
      assert.equal(await rawStatus(port, "POST", "/"), 405);
      assert.equal(await rawStatus(port, "PUT", "/site.json"), 405);

      const page = await browser.newPage();
      await openPage(page, `${url}?image=images/wide.png`);
      assert.match(await page.locator("#model").textContent() ?? "", /^CNN: [\d,]+ parameters/);
      assert.equal((await top5(page)).length, 5);
      await Deno.mkdir(SCREENSHOTS, { recursive: true });
      await page.screenshot({ path: join(SCREENSHOTS, "web_served.png") });
      await reader.cancel();
    } finally {
      await browser.close();
      server.kill("SIGTERM");
      const status = await server.status;
      await server.stderr.cancel();
      await Deno.remove(profile, { recursive: true });
      await Deno.remove((await shared).dir, { recursive: true });
      assert.equal(status.code, 0, "stops cleanly on SIGTERM");
    }
  },
});
