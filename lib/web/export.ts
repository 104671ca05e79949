/**
 * `deno task web:export`: the web page for a saved model as a self-contained static folder that
 * works from any static file server, offline: index.html and page.js, tfjs/ (the wasm engine),
 * model/ (run.json without the machine's absolute paths), samples/ (a few test images, when the
 * run's data is here), images/ (files given on the command line) and site.json (the mark that
 * lets a later export replace the folder). It is written whole, then swapped in.
 *
 * @module
 */
import { basename, join } from "node:path";
import { cifarImage, encodePng } from "../data/images.ts";
import { loadCifar100 } from "../data/cifar100.ts";
import { syntheticCifar100 } from "../data/synthetic.ts";
import { type Cifar100, IMAGE_SIZE } from "../data/dataset.ts";
import { loadClassifier } from "../inference/predict.ts";
import { readHeldOut } from "../train/held_out.ts";
import type { RunRecord } from "../train/run_record.ts";
import { PROJECT_ROOT } from "../util/paths.ts";
import { exists } from "../util/process.ts";
import { replaceFolder } from "../util/replace_folder.ts";
import { firstLine, UserError } from "../util/user_error.ts";
import { bundlePageScript } from "./bundle.ts";
import { type SampleImage, SAMPLES_FILE, SITE_MODEL, SITE_TFJS, siteTitle } from "./site.ts";

/** Test images exported with the model (distinct classes where the data has them). */
const SAMPLE_COUNT = 8;

/** The file that marks a folder as an exported site. */
const SITE_MARK = "site.json";

/** The wasm engine's files, from npm @tensorflow/tfjs-backend-wasm. */
const WASM_FILES = [
  "tfjs-backend-wasm.wasm",
  "tfjs-backend-wasm-simd.wasm",
  "tfjs-backend-wasm-threaded-simd.wasm",
];
const WASM_DIR = join(PROJECT_ROOT, "node_modules/@tensorflow/tfjs-backend-wasm/dist");
const PAGE_HTML = new URL("./page/index.html", import.meta.url);

/** What {@linkcode exportSite} is asked for: the run folder, the site folder, images to copy. */
interface ExportOptions {
  run: string;
  out: string;
  images?: string[];
  log?: (line: string) => void;
}

/** What was exported: samples (or why none, `samplesNote`) and `images/NAME` paths. */
interface ExportedSite {
  out: string;
  model: string;
  samples: SampleImage[];
  samplesNote?: string;
  images: string[];
}

/**
 * Write the static site for a run folder.
 *
 * @throws {UserError} for a run folder without a usable model (as `deno task predict` says),
 *   an `out` that is a non-empty folder but not an earlier export, or an unreadable image
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { runExperiment } from "../train/experiment.ts";
 * const out = await Deno.makeTempDir();
 * await runExperiment(
 *   { model: "mlp", data: "synthetic", epochs: 1, limitTrain: 256, limitTest: 64, out },
 *   { log: () => {}, summary: false },
 * );
 * const site = await exportSite({ run: `${out}/mlp`, out: `${out}/site` });
 * assert.equal(site.samples.length, 8);
 * assert.ok((await Deno.stat(`${out}/site/page.js`)).size > 100_000);
 * await Deno.remove(out, { recursive: true });
 * ```
 */
export async function exportSite(options: ExportOptions): Promise<ExportedSite> {
  const { run, out, images = [], log = () => {} } = options;
  const classifier = await loadClassifier(run);
  classifier.model.dispose();
  await checkOut(out);
  const imageBytes = await Promise.all(images.map(readImageFile));
  log(`Bundling the page (tfjs and lib/ code) ...`);
  const script = await bundlePageScript();
  const html = await Deno.readTextFile(PAGE_HTML);
  const { samples, note } = await sampleImages(classifier.record);
  const listed: SampleImage[] = samples.map(({ png: _, ...s }) => s);
  const written: string[] = [];
  await replaceFolder(out, async (dir) => {
    await Deno.writeTextFile(join(dir, "index.html"), titledPage(html, classifier.record));
    await Deno.writeTextFile(join(dir, "page.js"), script);
    await Deno.mkdir(join(dir, SITE_TFJS));
    for (const file of WASM_FILES) {
      await Deno.copyFile(join(WASM_DIR, file), join(dir, SITE_TFJS, file));
    }
    await copyRun(classifier.dir, join(dir, SITE_MODEL), classifier.record);
    await Deno.mkdir(join(dir, "samples"));
    for (const sample of samples) await Deno.writeFile(join(dir, sample.file), sample.png);
    await Deno.writeTextFile(join(dir, SAMPLES_FILE), JSON.stringify(listed, null, 1));
    if (imageBytes.length) await Deno.mkdir(join(dir, "images"));
    for (const { name, bytes } of imageBytes) {
      await Deno.writeFile(join(dir, "images", name), bytes);
      written.push(`images/${name}`);
    }
    const mark = {
      run: basename(run),
      model: classifier.record.model,
      exported_at: new Date().toISOString(),
    };
    await Deno.writeTextFile(join(dir, SITE_MARK), JSON.stringify(mark, null, 1));
  });
  return {
    out,
    model: classifier.record.model,
    samples: listed,
    samplesNote: note,
    images: written,
  };
}

/** Refuse to replace a folder that holds something other than an earlier export. */
async function checkOut(out: string): Promise<void> {
  const info = await Deno.stat(out).catch(() => undefined);
  if (!info) return;
  if (!info.isDirectory) throw new UserError(`--out ${out}: is a file; give a folder for the site`);
  for await (const _ of Deno.readDir(out)) {
    if (await exists(join(out, SITE_MARK))) return;
    throw new UserError(
      `--out ${out}: a folder with other files in it (no ${SITE_MARK}); give an empty or new ` +
        `folder, or an earlier export`,
    );
  }
}

/** Copy model.json and the weight files it names, and write the run's public record. */
async function copyRun(from: string, to: string, record: RunRecord): Promise<void> {
  await Deno.mkdir(to);
  const modelJson = JSON.parse(await Deno.readTextFile(join(from, "model.json")));
  const files = (modelJson.weightsManifest as { paths: string[] }[]).flatMap((g) => g.paths);
  for (const file of ["model.json", ...files]) {
    if (file !== basename(file)) {
      throw new UserError(`${from}/model.json names weights outside its folder (${file})`);
    }
    await Deno.copyFile(join(from, file), join(to, file));
  }
  await Deno.writeTextFile(join(to, "run.json"), JSON.stringify(publicRecord(record)) + "\n");
}

/** An absolute path inside a text: at its start or after a space, quote or bracket. */
const ABSOLUTE_PATH = /(^|[\s"'(=])(\/[^\s"'),;]*)/g;

/** The run record with every absolute path in its texts cut to its last component. */
function publicRecord(record: RunRecord): RunRecord {
  const cut = (text: string) =>
    text.replace(
      ABSOLUTE_PATH,
      // The path's last component, trailing slashes ignored (`/` stays `/`).
      (_, before: string, path: string) =>
        before + (path.split("/").filter((part) => part !== "").at(-1) ?? path),
    );
  const walk = (value: unknown): unknown =>
    typeof value === "string"
      ? cut(value)
      : Array.isArray(value)
      ? value.map(walk)
      : value !== null && typeof value === "object"
      ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, walk(v)]))
      : value;
  return walk(record) as RunRecord;
}

/** The page with the run's title in its <title> and heading (the page sets it again). */
function titledPage(html: string, record: RunRecord): string {
  const title = siteTitle(publicRecord(record)).replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
  return html.replaceAll("CIFAR-100 classifier", title);
}

/** An image given on the command line, read whole (the page says whether it can use it). */
async function readImageFile(path: string): Promise<{ name: string; bytes: Uint8Array }> {
  try {
    return { name: basename(path), bytes: await Deno.readFile(path) };
  } catch (e) {
    throw new UserError(`${path}: cannot read it (${firstLine(e)}); check the path`);
  }
}

/** The run's data, when it is here: synthetic regenerated, CIFAR-100 when its id matches. */
async function runData(record: RunRecord): Promise<{ data?: Cifar100; note?: string }> {
  const id = record.data?.id ?? "";
  const synthetic = /^synthetic-seed(\d+)-\d+-(\d+)$/.exec(id);
  if (synthetic) {
    const [, seed, test] = synthetic.map(Number);
    return { data: syntheticCifar100({ seed, trainCount: 0, testCount: test }) };
  }
  try {
    // Only data already here: an export never downloads 160 MB for eight pictures.
    const data = await loadCifar100({ limitTrain: 0, limitTest: 1000, download: false });
    if (data.source.id === id) return { data };
    return { note: `the run's data (${record.data?.description}) is not the data found here` };
  } catch (e) {
    return { note: `the run's data is not here (${firstLine(e)})` };
  }
}

/** Up to {@linkcode SAMPLE_COUNT} test images of distinct classes, as PNGs. */
async function sampleImages(
  record: RunRecord,
): Promise<{ samples: (SampleImage & { png: Uint8Array })[]; note?: string }> {
  // A folder run's held-out images, when the folder is here as it was.
  const { data, note }: { data?: Cifar100; note?: string } = record.data.held_out
    ? await readHeldOut(record).then((data) => ({ data }), (e) => ({ note: firstLine(e) }))
    : await runData(record);
  if (!data) return { samples: [], note };
  const side = data.imageSize ?? IMAGE_SIZE;
  const seen = new Set<number>();
  const samples: (SampleImage & { png: Uint8Array })[] = [];
  for (let i = 0; i < data.test.count && samples.length < SAMPLE_COUNT; i++) {
    const fine = data.test.fineLabels[i];
    if (seen.has(fine)) continue;
    seen.add(fine);
    samples.push({
      file: `samples/test_${i}.png`,
      class: fine,
      name: record.fine_label_names[fine],
      superclass: record.coarse_label_names[record.fine_to_coarse[fine]] ?? "",
      png: encodePng(cifarImage(data.test.images, i, side)),
    });
  }
  return { samples, note: samples.length ? undefined : "the run's test split is empty" };
}
