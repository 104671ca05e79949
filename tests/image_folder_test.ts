/**
 * A folder of your own images as a dataset (lib/data/image_folder.ts): classes and their order,
 * bad files skipped and named once, ignored files counted, refusals, the stratified and the given
 * splits, the cache (hit, and a changed, touched, added or removed file noticed), pixels equal to
 * predict's for the same file, progress, and no tfjs anywhere in the loader.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { encode as encodePng } from "fast-png";
import { type ImageFolderData, loadImageFolder } from "../lib/data/image_folder.ts";
import { readCifarImage } from "../lib/data/images.ts";
import { UserError } from "../lib/util/errors.ts";
import { makeImageFolder } from "./image_folder_fixture.ts";

const tmp = await Deno.makeTempDir({ prefix: "image_folder_test_" });
globalThis.addEventListener("unload", () => Deno.removeSync(tmp, { recursive: true }));
const fixture = await makeImageFolder(join(tmp, "photos"));
const fixtureCache = join(tmp, "fixture-cache");

/** Load with the log's lines and the progress calls kept. */
async function load(
  dir: string,
  options: Partial<Parameters<typeof loadImageFolder>[1]> = {},
) {
  const lines: string[] = [];
  const progress: [number, number][] = [];
  const data = await loadImageFolder(dir, {
    seed: 1,
    cacheDir: false,
    log: (line) => lines.push(line),
    onProgress: (done, total) => progress.push([done, total]),
    ...options,
  });
  return { data, lines, progress };
}

const first = await load(fixture.dir, { cacheDir: fixtureCache });

/** Class name of a relative path (its first folder, or the one after train/ or test/). */
function classOf(path: string): string {
  const parts = path.split("/");
  return ["train", "test", "val", "valid"].includes(parts[0]) ? parts[1] : parts[0];
}

/** Every (file, label, pixels) of both splits. */
function imagesOf(data: ImageFolderData) {
  const bytes = data.imageSize ** 2 * 3;
  return [data.train, data.test].flatMap((split) =>
    split.files!.map((file, i) => ({
      file,
      label: split.fineLabels[i],
      pixels: split.images.subarray(i * bytes, (i + 1) * bytes),
    }))
  );
}

/** A small folder of flat-grey PNGs: `counts[class]` images per class. */
async function smallFolder(name: string, counts: Record<string, number>): Promise<string> {
  const dir = join(tmp, name);
  await Deno.mkdir(dir);
  for (const [label, count] of Object.entries(counts)) {
    await Deno.mkdir(join(dir, label), { recursive: true });
    for (let i = 0; i < count; i++) await writeGrey(join(dir, label, `${i}.png`), 10 * i + 7);
  }
  return dir;
}

async function writeGrey(path: string, grey: number, width = 12, height = 9) {
  const data = new Uint8Array(width * height * 3).fill(grey);
  await Deno.writeFile(path, encodePng({ width, height, data, channels: 3 }));
}

Deno.test("image folder: classes are the folders in code-point order, every usable file read in its class", () => {
  const { data } = first;
  assert.deepEqual(data.fineLabelNames, fixture.classNames);
  assert.deepEqual(data.coarseLabelNames, []);
  assert.deepEqual([...data.fineToCoarse], new Array(fixture.classNames.length).fill(255));
  const found = new Map<string, string[]>();
  for (const { file, label } of imagesOf(data)) {
    assert.equal(data.fineLabelNames[label], classOf(file), file);
    found.set(classOf(file), [...(found.get(classOf(file)) ?? []), file].sort());
  }
  assert.deepEqual(found, fixture.images);
  for (const split of [data.train, data.test]) {
    assert.equal(split.images.length, split.count * 32 * 32 * 3);
    assert.equal(split.fineLabels.length, split.count);
    assert.ok(split.coarseLabels.every((c) => c === 255));
  }
  assert.equal(data.source.kind, "folder");
  assert.match(data.source.description, /6 classes, \d+ training and \d+ held-out images/);
});

Deno.test("image folder: both splits are views of the one buffer the pixels were read into", () => {
  // A copy of a split, even a moment's, held the training images twice at the peak of a run.
  const { data } = first;
  const bytes = data.imageSize ** 2 * 3;
  assert.ok(data.skipped.length > 0, "the fixture has skipped files");
  assert.equal(data.train.images.buffer, data.test.images.buffer);
  assert.equal(data.train.images.byteOffset, 0);
  assert.equal(data.test.images.byteOffset, data.train.images.byteLength);
  const files = data.train.count + data.test.count + data.skipped.length;
  assert.equal(data.train.images.buffer.byteLength, files * bytes);
});

Deno.test("image folder: each bad file is named once with its reason, skipped, and the load goes on", () => {
  const { data, lines } = first;
  const skippedLines = lines.filter((line) => line.startsWith("skipped "));
  assert.equal(skippedLines.length, fixture.bad.length, lines.join("\n"));
  assert.deepEqual(data.skipped.map((s) => s.path), fixture.bad.map((b) => b.path).sort());
  for (const bad of fixture.bad) {
    const prefix = `skipped ${join(fixture.dir, bad.path)}: `;
    const mine = skippedLines.filter((line) => line.startsWith(prefix));
    assert.equal(mine.length, 1, `${bad.path} named once: ${lines.join("\n")}`);
    assert.match(mine[0].slice(prefix.length), bad.reason);
    assert.ok(!mine[0].includes("\n"));
    const reason = data.skipped.find((s) => s.path === bad.path)!.reason;
    assert.equal(mine[0], prefix + reason);
  }
  assert.match(data.source.description, /; 3 files skipped/);
});

Deno.test("image folder: hidden files and folders, non-images and files beside the classes are ignored and counted", () => {
  assert.deepEqual(first.data.ignored, fixture.ignored);
  assert.ok(imagesOf(first.data).every(({ file }) => !file.includes("/.")));
});

Deno.test("image folder: every image's pixels are predict's for the same file (32 px and 20 px)", async () => {
  const at20 = (await load(fixture.dir, { imageSize: 20, workers: 1 })).data;
  for (const data of [first.data, at20]) {
    const images = imagesOf(data);
    assert.equal(images.length, [...fixture.images.values()].flat().length);
    for (const { file, pixels } of images) {
      const predict = await readCifarImage(join(fixture.dir, file), data.imageSize);
      assert.deepEqual(pixels, predict.pixels, `${file} at ${data.imageSize} px`);
    }
  }
  // The EXIF-rotated JPEG is read upright (20x40 stored, turned 90°: 40 wide, 20 high).
  const rotated = await readCifarImage(join(fixture.dir, fixture.rotated));
  assert.deepEqual([rotated.width, rotated.height], [40, 20]);
});

Deno.test("image folder: the validation split is stratified by class and lists its files", async () => {
  for (
    const [fraction, data] of [[0.2, first.data], [
      0.5,
      (await load(fixture.dir, { validationSplit: 0.5 })).data,
    ]] as const
  ) {
    for (const [name, files] of fixture.images) {
      const n = files.length;
      const held = data.test.files!.filter((f) => classOf(f) === name).length;
      const expected = Math.min(n - 1, Math.max(1, Math.round(n * fraction)));
      assert.equal(held, expected, `${name}: ${held} of ${n} held out at ${fraction}`);
    }
    assert.deepEqual(data.heldOut.files, [...data.test.files!].sort());
    assert.equal(data.heldOut.kind, "split");
    const train = new Set(data.train.files);
    assert.ok(data.test.files!.every((f) => !train.has(f)), "no held-out file is trained on");
  }
  assert.equal(first.data.heldOut.name, "validation split (20%, seed 1)");
  assert.match(first.data.heldOut.digest, /^[0-9a-f]{64}$/);
});

Deno.test("image folder: the same seed gives the same split, another seed another", async () => {
  const again = (await load(fixture.dir, { cacheDir: fixtureCache })).data;
  assert.deepEqual(again.heldOut, first.data.heldOut);
  assert.deepEqual(again.train.files, first.data.train.files);
  assert.deepEqual(again.train.images, first.data.train.images);
  assert.equal(again.source.id, first.data.source.id);
  const other = (await load(fixture.dir, { cacheDir: fixtureCache, seed: 2 })).data;
  assert.notDeepEqual(other.heldOut.files, first.data.heldOut.files);
  assert.notEqual(other.heldOut.digest, first.data.heldOut.digest);
  assert.notEqual(other.source.id, first.data.source.id);
});

Deno.test("image folder: given train/ and test/ splits are used as they are", async () => {
  const dir = join(tmp, "given");
  const files: Record<string, number> = {
    "train/cat": 3,
    "train/dog": 4,
    "test/cat": 2,
    "test/dog": 1,
    "val/cat": 2,
  };
  for (const [folder, count] of Object.entries(files)) {
    await Deno.mkdir(join(dir, folder), { recursive: true });
    for (let i = 0; i < count; i++) await writeGrey(join(dir, folder, `${i}.png`), 30 * i);
  }
  await Deno.writeTextFile(join(dir, "train", "README"), "beside the classes");
  const { data } = await load(dir);
  assert.deepEqual(data.fineLabelNames, ["cat", "dog"]);
  assert.deepEqual(data.test.files, ["test/cat/0.png", "test/cat/1.png", "test/dog/0.png"]);
  assert.deepEqual([...data.test.fineLabels], [0, 0, 1]);
  assert.equal(data.train.count, 7);
  assert.ok(data.train.files!.every((f) => f.startsWith("train/")));
  assert.deepEqual([data.heldOut.kind, data.heldOut.name], ["given", "test/ folder"]);
  assert.deepEqual(data.unusedFolders, ["val"]);
  assert.equal(data.ignored.outsideClasses, 1);
  // A held-out class that training does not have is refused.
  await Deno.mkdir(join(dir, "test", "emu"));
  await writeGrey(join(dir, "test", "emu", "0.png"), 1);
  await assert.rejects(load(dir), isUserError(/test\/emu: a class that .*train does not have/));
});

/** A UserError with one line matching `pattern`. */
function isUserError(pattern: RegExp) {
  return (e: Error) => {
    assert.ok(e instanceof UserError, e.stack);
    assert.match(e.message, pattern);
    assert.equal(e.message.split("\n").length, 1);
    return true;
  };
}

Deno.test("image folder: a class with under 2 usable images, or under 2 classes, is refused naming it", async () => {
  const one = await smallFolder("one-image", { a: 3, b: 1 });
  await assert.rejects(
    load(one),
    isUserError(/one-image\/b: 1 usable image; a class needs at least 2/),
  );
  const spoilt = await smallFolder("spoilt", { a: 3, b: 2 });
  await Deno.writeTextFile(join(spoilt, "b", "1.png"), "text");
  await assert.rejects(load(spoilt), isUserError(/spoilt\/b: 1 usable image \(1 skipped\)/));
  const single = await smallFolder("single", { a: 4 });
  await assert.rejects(
    load(single),
    isUserError(/single: one class folder \(a\); give a folder with at least 2/),
  );
  const empty = await smallFolder("empty", {});
  await assert.rejects(load(empty), isUserError(/empty: no class folders/));
  await assert.rejects(load(join(tmp, "nowhere")), isUserError(/nowhere: no such folder/));
  await assert.rejects(load(join(one, "a", "0.png")), isUserError(/0\.png: is a file/));
  await assert.rejects(load(one, { validationSplit: 1 }), isUserError(/validation split .* got 1/));
  await assert.rejects(load(one, { imageSize: 0 }), isUserError(/input size .* got 0/));
});

Deno.test("image folder: the cache serves a second load and notices a changed, touched, added or removed file", async () => {
  const dir = await smallFolder("cached", { a: 4, b: 4 });
  const cacheDir = join(tmp, "cache");
  const loadCached = async () => (await load(dir, { cacheDir })).data;
  const pixelsOf = (data: ImageFolderData, file: string) =>
    imagesOf(data).find((x) => x.file === file)?.pixels;
  const cold = await loadCached();
  assert.deepEqual(cold.cache, {
    file: cold.cache.file,
    reused: 0,
    unchanged: 0,
    decoded: 8,
    written: true,
  });
  const warm = await loadCached();
  assert.deepEqual(warm.cache, { ...cold.cache, reused: 8, decoded: 0, written: false });
  assert.deepEqual(imagesOf(warm), imagesOf(cold));

  await writeGrey(join(dir, "a", "0.png"), 200, 15, 9); // new bytes (and size)
  const changed = await loadCached();
  assert.deepEqual([changed.cache.reused, changed.cache.decoded, changed.cache.written], [
    7,
    1,
    true,
  ]);
  assert.deepEqual(
    pixelsOf(changed, "a/0.png"),
    (await readCifarImage(join(dir, "a", "0.png"))).pixels,
  );

  const later = new Date(Date.now() + 60_000);
  await Deno.utime(join(dir, "a", "1.png"), later, later); // same bytes, new time
  const touched = await loadCached();
  assert.deepEqual([touched.cache.reused, touched.cache.unchanged, touched.cache.decoded], [
    7,
    1,
    0,
  ]);
  assert.deepEqual(imagesOf(touched), imagesOf(changed));

  await writeGrey(join(dir, "b", "9.png"), 99);
  await Deno.remove(join(dir, "a", "3.png"));
  const moved = await loadCached();
  assert.deepEqual([moved.cache.reused, moved.cache.decoded, moved.cache.written], [7, 1, true]);
  assert.ok(pixelsOf(moved, "b/9.png") && !pixelsOf(moved, "a/3.png"));

  await Deno.writeTextFile(join(dir, "b", "bad.png"), "text");
  await loadCached();
  const { data: badAgain, lines } = await load(dir, { cacheDir });
  assert.equal(badAgain.cache.decoded, 0);
  assert.deepEqual(lines.filter((l) => l.startsWith("skipped ")), [
    `skipped ${join(dir, "b", "bad.png")}: ${badAgain.skipped[0].reason}`,
  ]);

  const file = badAgain.cache.file!;
  await Deno.truncate(file, (await Deno.stat(file)).size - 1); // damaged: read as no cache
  assert.equal((await loadCached()).cache.decoded, 9);
});

Deno.test("image folder: progress counts up to every file, never back", () => {
  const { progress } = first;
  const total = [...fixture.images.values()].flat().length + fixture.bad.length;
  assert.deepEqual(progress.at(-1), [total, total]);
  for (let i = 1; i < progress.length; i++) assert.ok(progress[i][0] >= progress[i - 1][0]);
});

Deno.test("image folder: the loader and its workers never load tfjs", async () => {
  for (const module of ["image_folder.ts", "image_folder_worker.ts"]) {
    const path = fileURLToPath(new URL(`../lib/data/${module}`, import.meta.url));
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", path],
      stdout: "piped",
    }).output();
    assert.equal(out.code, 0);
    const graph: { modules: { specifier: string }[] } = JSON.parse(
      new TextDecoder().decode(out.stdout),
    );
    const npm = graph.modules.map((m) => m.specifier).filter((s) => s.startsWith("npm:"));
    assert.ok(npm.includes("npm:/jpeg-js@0.4.4"), `${module}: ${npm.join(", ")}`);
    assert.deepEqual(npm.filter((s) => s.includes("@tensorflow")), [], module);
  }
});
