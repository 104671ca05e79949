/// <reference lib="dom" />
/**
 * The web page's script (page.js): loads the exported model with tfjs, takes an image (picker,
 * drop, paste, camera, a test image, `?image=NAME`) and shows the top 5 classes, through the
 * modules `deno task predict` runs.
 *
 * @module
 */
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import { tf } from "../../engine/backend.ts";
import { decodeImage, enlarge, type RgbImage, toCifarPixels } from "../../data/image_pixels.ts";
import {
  checkRecord,
  type Classifier,
  imageSideOf,
  modelMismatch,
  predictTopK,
} from "../../inference/classify.ts";
import { dataCaveat } from "../../report/analysis.ts";
import { modelName } from "../../report/format.ts";
import type { RunRecord } from "../../train/run_record.ts";
import { firstLine } from "../../util/user_error.ts";
import { type SampleImage, SAMPLES_FILE, SITE_MODEL, siteTitle } from "../site.ts";
import { showResult, showSeen } from "./view.ts";

/** Largest file the page reads, in bytes (a photo is a few MB; decoding checks megapixels too). */
const MAX_FILE_BYTES = 64 * 1024 * 1024;

const byId = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

/** Say something went wrong (one line), or clear the message with undefined. */
function say(message: string | undefined): void {
  byId("message").textContent = message ?? "";
}

/**
 * The fastest tfjs engine that works here: `?backend=` if given, else WebGL, wasm, cpu; each is
 * tried with one small op, as a WebGL context can be created and still fail.
 */
async function chooseEngine(wanted: string | null): Promise<string> {
  setWasmPaths(new URL("tfjs/", location.href).href);
  const skipped: string[] = [];
  for (const name of wanted ? [wanted] : ["webgl", "wasm", "cpu"]) {
    try {
      if (await tf.setBackend(name)) {
        await tf.ready();
        tf.tidy(() => tf.add(tf.scalar(1), tf.scalar(1)).dataSync());
        const note = skipped.length ? ` (${skipped.join(", ")} unavailable here)` : "";
        byId("engine").textContent = `Engine: ${name}${note}`;
        document.body.dataset.engine = name;
        return name;
      }
    } catch {
      // Not available in this browser: try the next one.
    }
    skipped.push(name);
  }
  throw new Error(`no tfjs engine works in this browser (tried ${skipped.join(", ")})`);
}

/** Fetch a file of the site, refusing a missing one with a message that names it. */
async function fetchSite(path: string): Promise<Response> {
  const response = await fetch(path);
  if (!response.ok) throw new Error(`${path}: ${response.status} ${response.statusText}`);
  return response;
}

/** Load model/run.json and model/model.json, with the checks `deno task predict` makes. */
async function loadSiteClassifier(): Promise<Classifier> {
  const recordPath = `${SITE_MODEL}/run.json`;
  let record: RunRecord;
  try {
    record = await (await fetchSite(recordPath)).json();
  } catch (e) {
    throw new Error(
      `no model here (${firstLine(e)}); export one with deno task web:export --run DIR --out SITE`,
    );
  }
  checkRecord(record, recordPath);
  let model: tf.LayersModel;
  try {
    model = await tf.loadLayersModel(`${SITE_MODEL}/model.json`);
  } catch (e) {
    throw new Error(`cannot load the model ${SITE_MODEL}/model.json (${firstLine(e)})`);
  }
  const problem = modelMismatch(model, record);
  if (problem) throw new Error(`${SITE_MODEL}/model.json does not match ${recordPath}: ${problem}`);
  return { model, record, inputSize: model.inputs[0].shape[1] as number, dir: SITE_MODEL };
}

/** The run's title, model, size, accuracy, data and input, and a warning for doubtful data. */
function describeModel(classifier: Classifier): void {
  const { record, model } = classifier;
  const title = siteTitle(record);
  document.title = title;
  byId("title").textContent = title;
  const folder = record.data?.held_out !== undefined;
  const accuracy = typeof record.test_accuracy === "number"
    ? `${(record.test_accuracy * 100).toFixed(1)}% ${folder ? "held-out" : "test"} accuracy`
    : "no test accuracy recorded";
  const params = model.countParams().toLocaleString("en");
  const side = imageSideOf(record);
  const input = record.preprocessing
    ? `Images are brought to ${side}x${side} (${record.preprocessing}).`
    : `Images are brought to ${side}x${side}.`;
  byId("model").textContent = `${modelName(record.model)}: ${params} parameters, ` +
    `${accuracy}, ${record.epochs ?? "?"} epoch${record.epochs === 1 ? "" : "s"}, ` +
    `${record.fine_label_names.length} classes. Data: ${
      record.data?.description ?? "unknown"
    }. ${input}`;
  const caveat = record.synthetic
    ? "Trained on SYNTHETIC data, not CIFAR-100: its answers say nothing about photos."
    : dataCaveat(record);
  byId("caveat").textContent = caveat ? `⚠ ${caveat}` : "";
}

/** Classify one image file's bytes and show the result; a bad file only shows a message. */
function classifyBytes(classifier: Classifier, bytes: Uint8Array, name: string): void {
  try {
    if (bytes.length > MAX_FILE_BYTES) {
      throw new Error(`${name}: over ${MAX_FILE_BYTES >> 20} MB; scale the image down first`);
    }
    const image = decodeImage(bytes, name);
    classifyImage(
      classifier,
      image,
      name,
      URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>])),
    );
  } catch (e) {
    say(firstLine(e));
  }
}

/** Photos classified so far: the first one's time includes the warm-up. */
let photosTimed = 0;

/** Classify a decoded image: the same pixels and call `deno task predict` makes. */
function classifyImage(classifier: Classifier, image: RgbImage, name: string, url: string): void {
  const side = imageSideOf(classifier.record);
  const start = performance.now();
  const pixels = toCifarPixels(image, side);
  const [top5] = predictTopK(classifier, pixels, 5);
  const ms = performance.now() - start;
  // The first photo also compiles the engine's kernels; later ones show the steady cost.
  byId("timing").textContent = `This photo took ${ms.toFixed(0)} ms here (crop, resize, ` +
    `model, top 5 on ${tf.getBackend()})${photosTimed++ ? "" : ", the engine's warm-up included"}.`;
  say(undefined);
  const original = byId<HTMLImageElement>("original");
  original.src = url;
  byId("original-caption").textContent = `${name} (${image.width}x${image.height})`;
  // Drawn about 192 px wide, whatever the side.
  const scale = Math.max(1, Math.round(192 / side));
  showSeen(
    byId<HTMLCanvasElement>("seen"),
    enlarge({ width: side, height: side, data: pixels }, scale),
  );
  byId("seen-caption").textContent = `As the model sees it: centre crop, ${side}x${side}`;
  showResult(byId("result"), byId("bars"), name, top5);
}

/** Read a File (picker, drop, paste) and classify it. */
async function classifyFile(classifier: Classifier, file: File): Promise<void> {
  if (file.size > MAX_FILE_BYTES) {
    say(`${file.name}: over ${MAX_FILE_BYTES >> 20} MB; scale the image down first`);
    return;
  }
  classifyBytes(classifier, new Uint8Array(await file.arrayBuffer()), file.name);
}

/** Fetch an image of the site (a test image, or `?image=NAME`) and classify it. */
async function classifyUrl(classifier: Classifier, path: string): Promise<void> {
  try {
    const response = await fetchSite(path);
    const length = Number(response.headers.get("content-length") ?? 0);
    if (length > MAX_FILE_BYTES) throw new Error(`${path}: over ${MAX_FILE_BYTES >> 20} MB`);
    classifyBytes(classifier, new Uint8Array(await response.arrayBuffer()), path);
  } catch (e) {
    say(firstLine(e));
  }
}

/** The picker, drag and drop, and paste. */
function wireInputs(classifier: Classifier): void {
  const picker = byId<HTMLInputElement>("picker");
  picker.addEventListener("change", () => {
    if (picker.files?.[0]) classifyFile(classifier, picker.files[0]);
    picker.value = ""; // the same file can be chosen again
  });
  const drop = byId("drop");
  drop.addEventListener("dragover", (e) => {
    e.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    const file = e.dataTransfer?.files?.[0];
    if (file) classifyFile(classifier, file);
  });
  document.addEventListener("paste", (e) => {
    const file = [...(e.clipboardData?.files ?? [])][0];
    if (file) classifyFile(classifier, file);
  });
}

/** The camera, where the browser has one and allows it: one frame, as an RGB image. */
function wireCamera(classifier: Classifier): void {
  if (!navigator.mediaDevices?.getUserMedia) return;
  const start = byId<HTMLButtonElement>("camera");
  const snap = byId<HTMLButtonElement>("snap");
  const video = byId<HTMLVideoElement>("video");
  start.hidden = false;
  start.addEventListener("click", async () => {
    try {
      video.srcObject = await navigator.mediaDevices.getUserMedia({ video: true });
      video.style.display = "block";
      snap.hidden = false;
    } catch (e) {
      say(`the camera is not available (${firstLine(e)})`);
    }
  });
  snap.addEventListener("click", () => {
    const canvas = document.createElement("canvas");
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    const context = canvas.getContext("2d")!;
    context.drawImage(video, 0, 0);
    const rgba = context.getImageData(0, 0, canvas.width, canvas.height).data;
    const data = new Uint8Array(canvas.width * canvas.height * 3);
    for (let p = 0; p < data.length / 3; p++) data.set(rgba.subarray(p * 4, p * 4 + 3), p * 3);
    const image = { width: canvas.width, height: canvas.height, data };
    classifyImage(classifier, image, "camera", canvas.toDataURL("image/png"));
  });
}

/** The run's test images, each a button that classifies it. */
async function showSamples(classifier: Classifier): Promise<void> {
  const note = byId("samples-note");
  let samples: SampleImage[] = [];
  try {
    samples = await (await fetchSite(SAMPLES_FILE)).json();
  } catch {
    // No samples exported: said below.
  }
  note.textContent = samples.length
    ? "Click one to classify it; its true class is under it."
    : "No test images were exported with this model.";
  for (const sample of samples) {
    const button = document.createElement("button");
    button.type = "button";
    button.title = sample.superclass ? `${sample.name} (${sample.superclass})` : sample.name;
    const img = document.createElement("img");
    img.src = sample.file;
    img.alt = sample.name;
    button.append(img, sample.name);
    button.addEventListener("click", () => classifyUrl(classifier, sample.file));
    byId("samples").append(button);
  }
}

/** Start the page: engine, model, inputs, samples, then `?image=` if given. */
async function start(): Promise<void> {
  const params = new URLSearchParams(location.search);
  try {
    await chooseEngine(params.get("backend"));
    const classifier = await loadSiteClassifier();
    describeModel(classifier);
    wireInputs(classifier);
    wireCamera(classifier);
    await showSamples(classifier);
    const image = params.get("image");
    if (image) await classifyUrl(classifier, image);
  } catch (e) {
    byId("model").textContent = "No model loaded.";
    say(firstLine(e));
  } finally {
    document.body.dataset.ready = "true";
  }
}

start();
