/**
 * What the models learned (notebook 07): where each looks, how far to trust its confidence, how
 * it arranges the classes and which it cannot tell apart. Every view works on any run folder, at
 * the side its images were read at.
 *
 * @module
 */
import { basename, dirname } from "node:path";
import { initBackend } from "../engine/backend.ts";
import { type Cifar100, IMAGE_SIZE } from "../data/dataset.ts";
import { type Classifier, loadClassifier } from "../inference/predict.ts";
import { imageSideOf, testPixels } from "../inference/classify.ts";
import { type Explanation, whereItLooks } from "../inference/gradcam.ts";
import { penultimateFeatures } from "../inference/embedding.ts";
import { pca, type Projection, umap } from "../inference/projection.ts";
import {
  calibrate,
  expectedCalibrationError,
  recordOutcomes,
  reliabilityBins,
  saveCalibration,
} from "../inference/calibration.ts";
import { UserError } from "../util/errors.ts";
import { MODELS } from "../train/hyp.ts";
import {
  MODEL_NOTEBOOKS,
  type ProfileSettings,
  readProfileRecordIfPresent,
  runTestImages,
} from "../train/profile.ts";
import type { RunRecord } from "../train/run_record.ts";
import { modelLabel } from "./analysis.ts";
import { dataChart, dataTable, withCaveat } from "./charts.ts";
import { extremeClasses, sortedClassAccuracy, takenFor } from "./class_accuracy.ts";
import {
  base64,
  type Displayable,
  encodeImagePng,
  type Figure,
  imageGrid,
  JUPYTER_DISPLAY,
} from "./display.ts";
import { modelName, pct, percent, round } from "./format.ts";

/** A run to look into: its record, loaded model and test images. */
export interface InsightRun {
  record: RunRecord;
  classifier: Classifier;
  /** The run's test images, in its order, at their side ({@linkcode sideOf}). */
  data: Cifar100;
}

/** Side of a run's images as read: 32 for CIFAR, the input size for a folder of images. */
function sideOf(data: Pick<Cifar100, "imageSize">): number {
  return data.imageSize ?? IMAGE_SIZE;
}

/** Load a run folder for the views: the model, its record and its test images again. */
export async function loadInsightRun(dir: string): Promise<InsightRun> {
  await initBackend();
  const classifier = await loadClassifier(dir);
  const data = await runTestImages(classifier.record);
  // The views take the images at the side the model's preprocessing expects them.
  const side = imageSideOf(classifier.record);
  if (sideOf(data) !== side) {
    classifier.model.dispose();
    throw new UserError(
      `${dir}: its images were read at ${sideOf(data)}x${sideOf(data)}, but the run takes ` +
        `them at ${side}x${side}: train it again`,
    );
  }
  return { record: classifier.record, classifier, data };
}

/** The runs of a profile found for notebook 07, and the ones missing. */
interface ProfileRuns {
  runs: InsightRun[];
  /** Markdown: which runs are shown, which are missing and which notebook makes them. */
  note: string;
}

/** The saved runs of a profile (every model whose notebook ran), loaded for the views. */
export async function profileRuns(settings: ProfileSettings): Promise<ProfileRuns> {
  const runs: InsightRun[] = [];
  const missing: string[] = [];
  for (const model of MODELS) {
    try {
      const record = await readProfileRecordIfPresent(settings, model);
      if (record) runs.push(await loadInsightRun(dirname(settings.recordPath(model))));
      else missing.push(`**${model}**: execute notebooks/${MODEL_NOTEBOOKS[model]}`);
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      missing.push(`**${model}**: ${e.message}`);
    }
  }
  const shown = runs.map((r) => modelLabel(r.record)).join(", ") || "none";
  const note = `Runs of the \`${settings.name}\` profile shown: ${shown}.` +
    (missing.length
      ? `\n\nMissing (execute those notebooks with CIFAR_PROFILE=${settings.name} first):\n\n` +
        missing.map((m) => `- ${m}`).join("\n")
      : "");
  return { runs, note };
}

/**
 * One run folder for notebook 07 instead of a profile's runs (env INSIGHT_RUN), e.g. a run on a
 * folder of your own images, whose classes have no superclasses: the note says so.
 */
export async function singleRun(dir: string): Promise<ProfileRuns> {
  const run = await loadInsightRun(dir);
  const superclasses = run.record.coarse_label_names.length > 0;
  const note = `The run in \`${basename(dir)}\` shown: ${modelLabel(run.record)}.` +
    (superclasses ? "" : " Its classes have no superclasses (a folder of your own images): " +
      "the map below is coloured by class, the confusions mark no superclass, and its test " +
      "images are its held-out images.");
  return { runs: [run], note };
}

/** Several displays one after the other, as one. */
export function stack(items: Displayable[]): Displayable {
  const bundles = items.map((item) => item[JUPYTER_DISPLAY]());
  const html = bundles.map((b) => b["text/html"] ?? "").join("\n");
  const text = bundles.map((b) => b["text/plain"] ?? "").join("\n\n");
  return { [JUPYTER_DISPLAY]: () => ({ "text/html": html, "text/plain": text }) };
}

// ---- Where the model looks --------------------------------------------------------------------

/** A heat colour (blue, cyan, yellow, red) for a value in [0, 1]. */
function heatColour(v: number): [number, number, number] {
  const stops = [[0, 0, 160], [0, 200, 255], [255, 230, 0], [230, 0, 0]];
  const x = Math.min(Math.max(v, 0), 1) * (stops.length - 1);
  const i = Math.min(Math.floor(x), stops.length - 2);
  const t = x - i;
  return stops[i].map((c, k) => c + t * (stops[i + 1][k] - c)) as [number, number, number];
}

/** Images with their heatmaps (same side) laid over them (the hotter, the more opaque). */
function overlayHeatmaps(pixels: Uint8Array, maps: Float32Array): Uint8Array {
  const out = new Uint8Array(pixels.length);
  for (let p = 0; p < maps.length; p++) {
    const colour = heatColour(maps[p]);
    const alpha = 0.25 + 0.5 * maps[p];
    for (let c = 0; c < 3; c++) {
      out[p * 3 + c] = Math.round((1 - alpha) * pixels[p * 3 + c] + alpha * colour[c]);
    }
  }
  return out;
}

/** What a run's test images are called: a folder run's are its held-out images. */
function testImages(record: RunRecord): string {
  return record.data.held_out ? "held-out images" : "test images";
}

/**
 * Image and heatmap pairs of a run's test images `indices` for an image grid, captioned with the
 * true class and the explained class with its probability.
 */
function explanationImages(
  record: RunRecord,
  indices: number[],
  pixels: Uint8Array,
  explanation: Explanation,
): { images: Uint8Array; captions: string[] } {
  const names = record.fine_label_names;
  const count = explanation.classes.length;
  const bytes = explanation.side ** 2 * 3;
  const overlays = overlayHeatmaps(pixels, explanation.maps);
  const images = new Uint8Array(2 * count * bytes);
  const captions: string[] = [];
  for (let i = 0; i < count; i++) {
    const [from, to] = [i * bytes, (i + 1) * bytes];
    images.set(pixels.subarray(from, to), 2 * from);
    images.set(overlays.subarray(from, to), 2 * from + bytes);
    const p = Math.round(explanation.probabilities[i] * 100);
    captions.push(
      `true: ${names[record.test_labels[indices[i]]]}`,
      `predicted: ${names[explanation.classes[i]]} (${p}%)`,
    );
  }
  return { images, captions };
}

/**
 * Where each model looks: for the first `n` right and `n` wrong test images of each run, the
 * image and its map (Grad-CAM, or saliency for the MLP) for the predicted class.
 */
export function whereItLooksView(runs: InsightRun[], n = 8): Displayable {
  return stack(runs.flatMap(({ record, classifier, data }) => {
    const outcomes = recordOutcomes(record);
    const pick = (want: boolean) =>
      outcomes.flatMap((ok, i) => (ok === want ? [i] : [])).slice(0, n);
    const picked = { right: pick(true), wrong: pick(false) };
    return (["right", "wrong"] as const).filter((kind) => picked[kind].length).map((kind) => {
      const indices = picked[kind];
      const pixels = testPixels(data, indices);
      const explanation = whereItLooks(classifier, pixels);
      const { images, captions } = explanationImages(record, indices, pixels, explanation);
      const how = explanation.method === "saliency"
        ? "gradient saliency"
        : `Grad-CAM on ${explanation.layer}`;
      const side = explanation.side;
      const heading = `${modelLabel(record)}, ${how}: ${indices.length} ${testImages(record)} ` +
        `it got ${kind} (${side}x${side}; each image, then its map for the predicted class)`;
      const grid = imageGrid(images, captions, { columns: 8, side, synthetic: record.synthetic });
      return withCaveat(grid, record, heading);
    });
  }));
}

// ---- How far to trust its confidence ----------------------------------------------------------

/**
 * The reliability diagrams of runs side by side, from their `test_confidences`: accuracy per
 * confidence bin against the diagonal, the calibration error in each title.
 */
export function reliabilityView(records: RunRecord[]): Displayable {
  const data: unknown[] = [];
  const annotations: unknown[] = [];
  const axes: Record<string, unknown> = {};
  records.forEach((record, r) => {
    const axis = r === 0 ? "" : String(r + 1);
    axes[`xaxis${axis}`] = { range: [0, 1], title: { text: "confidence (top-1 probability)" } };
    axes[`yaxis${axis}`] = { range: [0, 1.1], title: { text: r === 0 ? "accuracy" : "" } };
    const outcomes = recordOutcomes(record);
    const bins = reliabilityBins(record.test_confidences, outcomes);
    const ece = expectedCalibrationError(record.test_confidences, outcomes);
    const on = { xaxis: `x${axis}`, yaxis: `y${axis}`, showlegend: false };
    data.push({
      type: "bar",
      name: `${modelName(record.model)} accuracy`,
      x: bins.map((b) => (b.lower + b.upper) / 2),
      y: bins.map((b) => (b.count ? b.accuracy : 0)),
      width: 1 / bins.length,
      text: bins.map((b) => (b.count ? String(b.count) : "")),
      textposition: "outside",
      hovertemplate: "confidence %{x:.2f}<br>accuracy %{y:.2f}<br>%{text} images<extra></extra>",
      ...on,
    }, {
      type: "scatter",
      mode: "lines",
      x: [0, 1],
      y: [0, 1],
      line: { dash: "dot", color: "#888" },
      ...on,
      hoverinfo: "skip",
    });
    annotations.push({
      text: `${modelLabel(record)}: ECE ${pct(ece)}`,
      xref: `x${axis} domain`,
      yref: `y${axis} domain`,
      x: 0.5,
      y: 1.12,
      showarrow: false,
    });
  });
  const layout = {
    title: { text: "Reliability: accuracy against confidence (bar labels: images per bin)" },
    grid: { rows: 1, columns: records.length, pattern: "independent" },
    annotations,
    margin: { t: 110 },
    ...axes,
  };
  return dataChart({ data, layout }, records, 420);
}

/**
 * Fit each run's temperature, save it in its run.json unless `save` is false, and show the
 * calibration error before and after.
 */
export async function calibrationView(runs: InsightRun[], save = true): Promise<Displayable> {
  const rows: object[] = [];
  for (const run of runs) {
    const calibration = await calibrate(run.classifier, run.data.test.images);
    if (save) {
      run.record = await saveCalibration(run.classifier.dir, calibration);
      run.classifier.record = run.record;
    }
    rows.push({
      model: modelLabel(run.record),
      temperature: round(calibration.temperature, 3),
      ece_before_pct: percent(calibration.ece_before),
      ece_after_pct: percent(calibration.ece_after),
      measured_on: calibration.measured_on,
      fitted_on: calibration.fitted_on,
    });
  }
  const caption = "Temperature scaling: expected calibration error before and after";
  return dataTable(rows, caption, runs.map((r) => r.record));
}

// ---- How it arranges the classes --------------------------------------------------------------

/** Options for {@linkcode embeddingView}: method (pca), images (2,000), hoverImages (100). */
interface EmbeddingOptions {
  method?: "pca" | "umap";
  images?: number;
  hoverImages?: number;
}

/** A 2-D map of a run's test images: a trace per superclass (else class), labels on hover. */
function embeddingFigure(record: RunRecord, projection: Projection, title: string): Figure {
  const superclasses = record.coarse_label_names.length > 0;
  const groupNames = superclasses ? record.coarse_label_names : record.fine_label_names;
  const byGroup = new Map<number, number[]>();
  for (let i = 0; i < projection.count; i++) {
    const label = record.test_labels[i];
    const group = superclasses ? record.fine_to_coarse[label] : label;
    byGroup.set(group, [...(byGroup.get(group) ?? []), i]);
  }
  const names = record.fine_label_names;
  const data = [...byGroup].sort((a, b) => a[0] - b[0]).map(([group, points]) => ({
    type: "scatter",
    mode: "markers",
    name: groupNames[group],
    x: points.map((i) => projection.coords[i * 2]),
    y: points.map((i) => projection.coords[i * 2 + 1]),
    customdata: points,
    text: points.map((i) =>
      `${names[record.test_labels[i]]}${superclasses ? ` (${groupNames[group]})` : ""}<br>` +
      `predicted: ${names[record.test_predictions[i]]}`
    ),
    hovertemplate: "%{text}<extra></extra>",
    marker: { size: 5, opacity: 0.75 },
  }));
  return { data, layout: { title: { text: title }, legend: { font: { size: 9 } } } };
}

/** The chart plus a box that shows the hovered point's image (PNG data URIs by point index). */
function withHoverImages(shown: Displayable, pngs: string[]): Displayable {
  const id = `cifar-embedding-${crypto.randomUUID().slice(0, 8)}`;
  const bundle = shown[JUPYTER_DISPLAY]();
  const script = `<script>(function () {
  var images = ${JSON.stringify(pngs)};
  function hook() {
    var box = document.getElementById(${JSON.stringify(id)});
    var el = box && box.querySelector(".js-plotly-plot");
    if (!el || !el.on) return setTimeout(hook, 300);
    el.on("plotly_hover", function (ev) {
      var i = ev.points[0].customdata, img = box.querySelector("img.cifar-hover");
      if (images[i]) { img.src = "data:image/png;base64," + images[i]; img.style.visibility = "visible"; }
      else img.style.visibility = "hidden";
    });
  }
  hook();
})();</script>`;
  const html = `<div id="${id}" style="position:relative">` + (bundle["text/html"] ?? "") +
    `<img class="cifar-hover" alt="hovered image" width="96" height="96" style="position:absolute;` +
    `right:8px;bottom:8px;visibility:hidden;image-rendering:pixelated;border:1px solid #888">` +
    `</div>${script}`;
  return { [JUPYTER_DISPLAY]: () => ({ ...bundle, "text/html": html }) };
}

/**
 * Each run's penultimate features of its first test images projected to 2-D, coloured by
 * superclass; hovering shows a point's labels and, for the first `hoverImages`, its image.
 */
export function embeddingView(runs: InsightRun[], options: EmbeddingOptions = {}): Displayable {
  const method = options.method ?? "pca";
  return stack(runs.map(({ record, classifier, data }) => {
    const count = Math.min(options.images ?? 2000, data.test.count);
    const side = sideOf(data);
    const pixels = data.test.images.subarray(0, count * side * side * 3);
    const features = penultimateFeatures(classifier, pixels);
    const projection = method === "umap"
      ? umap(features.values, count, features.dim, record.seed)
      : pca(features.values, count, features.dim, 2, record.seed);
    const kept = projection.explained
      ? ` (${
        projection.explained.map((e) => `${Math.round(e * 100)}%`).join(" + ")
      } of the variance)`
      : "";
    const title = `${modelLabel(record)}: ${method.toUpperCase()} of ${features.dim} features ` +
      `(${features.layer}) of ${count} test images${kept}`;
    const pngs = Array.from(
      { length: Math.min(options.hoverImages ?? 100, count) },
      (_, i) => base64(encodeImagePng(pixels, i, side)),
    );
    const shown = dataChart(embeddingFigure(record, projection, title), record, 520);
    return withHoverImages(shown, pngs);
  }));
}

// ---- Which classes it cannot tell apart -------------------------------------------------------

/** Every fine class's test accuracy as bars, most accurate first. */
export function classAccuracyBars(record: RunRecord): Displayable {
  const sorted = sortedClassAccuracy(record);
  return dataChart(
    {
      data: [{
        type: "bar",
        x: sorted.map((c) => c.name),
        y: sorted.map((c) => c.accuracy),
        text: sorted.map((c) =>
          `${c.superclass ? `${c.superclass}: ` : ""}${c.correct} of ${c.images}`
        ),
        hovertemplate: "%{x}<br>accuracy %{y:.2f}<br>%{text}<extra></extra>",
      }],
      layout: {
        title: { text: `${modelLabel(record)}: test accuracy of every fine class, best first` },
        xaxis: { tickangle: -60, automargin: true, tickfont: { size: 8 } },
        yaxis: { title: { text: "accuracy" }, range: [0, 1] },
        margin: { b: 140 },
      },
    },
    record,
    460,
  );
}

/** The ten best and ten worst classes, the worst with what they are taken for. */
export function extremeClassesTable(record: RunRecord, n = 10): Displayable {
  return dataTable(
    extremeClasses(record, n),
    `${modelLabel(record)}: the ${n} best and ${n} worst classes` +
      (record.coarse_label_names.length ? " (taken for: * same superclass)" : ""),
    record,
  );
}

/** Each of the `n` worst classes: `perSide` of its images, `perSide` of what it is taken for. */
export function confusedGallery(run: InsightRun, n = 10, perSide = 3): Displayable {
  const { record, data } = run;
  const worst = sortedClassAccuracy(record).slice(-n).reverse();
  const indices: number[] = [];
  const captions: string[] = [];
  for (const c of worst) {
    const [other] = takenFor(record, c.class, 1);
    if (!other) continue;
    const mistaken = record.test_labels.flatMap((label, i) =>
      label === c.class && record.test_predictions[i] === other.class ? [i] : []
    ).slice(0, perSide);
    const theirs = record.test_labels.flatMap((label, i) => (label === other.class ? [i] : []))
      .slice(0, perSide);
    indices.push(...mistaken, ...theirs);
    captions.push(
      ...mistaken.map(() => `${c.name}\ntaken for ${other.name}`),
      ...theirs.map(() => `a real ${other.name}`),
    );
  }
  const side = sideOf(data);
  const grid = imageGrid(testPixels(data, indices), captions, {
    columns: 2 * perSide,
    side,
    synthetic: record.synthetic,
  });
  const heading = `${modelLabel(record)}: its worst classes, each beside the class it takes ` +
    `them for (${side}x${side} ${testImages(record)})`;
  return withCaveat(grid, record, heading);
}
