/**
 * Rich displays for the notebooks (plotly charts, arquero tables, image grids, a live training
 * display) as MIME bundles for Deno's Jupyter kernel; `text/plain` is the fallback.
 *
 * Charts are `text/html` carrying plotly.js, since plotly's own MIME type needs a renderer in the
 * frontend. The first chart of a kernel session embeds the bundle and fires `cifar-plotly-ready`;
 * later charts on the same page wait for it ({@linkcode resetPlotlyEmbedding} embeds it again).
 *
 * @module
 */
import * as aq from "arquero";
import { Buffer } from "node:buffer";
import plotlyBundle from "plotly.js-cartesian-dist-min/plotly-cartesian.min.js" with {
  type: "text",
};
import { IMAGE_SIZE } from "../data/dataset.ts";
import { cifarImage, encodePng } from "../data/image_pixels.ts";
import type { History } from "../train/run_record.ts";

/** The key Deno's kernel looks for to get an object's MIME bundle: `Symbol.for("Jupyter.display")`. */
export const JUPYTER_DISPLAY: unique symbol = Symbol.for("Jupyter.display");

/** Something Deno's Jupyter kernel shows: its display method returns MIME type -> content. */
export type Displayable = { [JUPYTER_DISPLAY](): Record<string, string> };

/** The note shown on every chart, table and image made from synthetic data. */
export const SYNTHETIC_NOTE = "SYNTHETIC DATA — not CIFAR-100";

/** Class of the element each chart is drawn into (tests count them). */
export const PLOT_CLASS = "cifar-plotly";
/** Class of the wrapper around each table. */
export const TABLE_CLASS = "cifar-table";
/** Class of the box inside a table's wrapper that scrolls a wide table sideways. */
export const TABLE_SCROLL_CLASS = "cifar-table-scroll";
/** Class of the wrapper around each image grid. */
export const IMAGE_GRID_CLASS = "cifar-image-grid";
/** Class of the wrapper around each live training display. */
export const LIVE_CLASS = "cifar-live";
/** Marker put in the script that carries plotly.js, so tests can count embeddings. */
export const PLOTLY_BUNDLE_MARKER = "cifar-plotly-bundle";

/** The trace types the inlined plotly.js build registers (bar, heatmap, scatter, ...). */
export const PLOTLY_TRACE_TYPES: readonly string[] = [
  ...new Set([...plotlyBundle.matchAll(/moduleType:"trace",name:"(\w+)"/g)].map((m) => m[1])),
].sort();

let plotlyEmbedded = false;

/** Make the next chart carry the plotly.js bundle again (after clearing the one that did). */
export function resetPlotlyEmbedding(): void {
  plotlyEmbedded = false;
}

function displayable(bundle: Record<string, string>): Displayable {
  return { [JUPYTER_DISPLAY]: () => bundle };
}

/** Escape text for HTML element content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A caption line above a display, as tables and labelled displays show it ("" for none). */
export function captionHtml(text?: string): string {
  const style = "font:bold 13px sans-serif;margin:4px 0";
  return text ? `<div class="cifar-caption" style="${style}">${escapeHtml(text)}</div>` : "";
}

/** JSON safe to place inside a `<script>` element. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, "\\u003c").replace(
    /\u2028|\u2029/g,
    (c) => c === "\u2028" ? "\\u2028" : "\\u2029",
  );
}

/** A warning banner above a display: `⚠ text`, with its class and colours. */
export function bannerHtml(className: string, colours: string, text: string): string {
  const style = `${colours};padding:2px 8px;margin:4px 0;font:bold 13px sans-serif`;
  return `<div class="${className}" style="${style}">⚠ ${escapeHtml(text)}</div>`;
}

const syntheticBanner = () =>
  bannerHtml(
    "cifar-synthetic",
    "background:#fff3cd;color:#7a4b00;border:1px solid #e0b44c",
    SYNTHETIC_NOTE,
  );

function bundleScript(): string {
  if (plotlyEmbedded) return "";
  plotlyEmbedded = true;
  const code = plotlyBundle.replace(/<\/script/gi, "<\\/script");
  return `<script class="${PLOTLY_BUNDLE_MARKER}">${code}\n;` +
    `window.dispatchEvent(new Event("cifar-plotly-ready"));</script>`;
}

let chartCounter = 0;

/** A plotly figure: traces and an optional layout. */
export interface Figure {
  data: unknown[];
  layout?: Record<string, unknown>;
}

function titleText(layout: Record<string, unknown>): string {
  const title = layout.title;
  if (typeof title === "string") return title;
  if (title && typeof title === "object" && "text" in title) return String(title.text);
  return "";
}

function chartHtml(figure: Figure, synthetic: boolean, height: number): string {
  for (const trace of figure.data) {
    const type = (trace as { type?: unknown } | null)?.type ?? "scatter"; // plotly's default
    if (!PLOTLY_TRACE_TYPES.includes(String(type))) {
      throw new RangeError(
        `plotly trace type '${type}' is not in the inlined plotly.js build; ` +
          `use one of ${PLOTLY_TRACE_TYPES.join(", ")}`,
      );
    }
  }
  const layout: Record<string, unknown> = { ...figure.layout, height };
  if (synthetic) {
    const title = titleText(layout);
    layout.title = { text: title ? `${title}<br><sub>${SYNTHETIC_NOTE}</sub>` : SYNTHETIC_NOTE };
  }
  const id = `cifar-plot-${crypto.randomUUID().slice(0, 8)}-${++chartCounter}`;
  const spec = { data: figure.data, layout, config: { responsive: true, displaylogo: false } };
  return `<div id="${id}" class="${PLOT_CLASS}" style="height:${height}px;min-width:320px;` +
    `flex:1">Loading chart…</div>` + bundleScript() +
    `<script>(function () {
  var spec = ${scriptJson(spec)};
  function draw() {
    var el = document.getElementById(${scriptJson(id)});
    if (!el) return;
    el.textContent = "";
    window.Plotly.newPlot(el, spec.data, spec.layout, spec.config);
  }
  // While a page is still parsed (HTML export), wait for it: a chart drawn now keeps the width
  // it had before its flex siblings existed (curves' first chart overflowed under the second).
  if (window.Plotly && document.readyState !== "loading") draw();
  else if (window.Plotly) document.addEventListener("DOMContentLoaded", draw, { once: true });
  else window.addEventListener("cifar-plotly-ready", draw, { once: true });
})();</script>`;
}

/** Options for {@linkcode plot}: the synthetic banner, and the height in pixels (400). */
interface PlotOptions {
  synthetic?: boolean;
  height?: number;
}

/**
 * Show a plotly figure (as for `Plotly.newPlot`) as HTML that renders offline.
 *
 * @throws {RangeError} for a trace type the inlined plotly.js lacks (see {@linkcode PLOTLY_TRACE_TYPES})
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const chart = plot({
 *   data: [{ type: "bar", x: ["a", "b"], y: [3, 5] }],
 *   layout: { title: "Counts" },
 * });
 * const bundle = chart[JUPYTER_DISPLAY](); // what the kernel shows
 * assert.match(bundle["text/html"], new RegExp(`class="${PLOT_CLASS}"`));
 * assert.equal(bundle["text/plain"], "Plotly chart: Counts (1 traces)");
 * ```
 */
export function plot(figure: Figure, opts: PlotOptions = {}): Displayable {
  const synthetic = opts.synthetic ?? false;
  const html = `<div class="cifar-chart">${synthetic ? syntheticBanner() : ""}` +
    chartHtml(figure, synthetic, opts.height ?? 400) + `</div>`;
  const title = titleText(figure.layout ?? {}) || "untitled";
  const plain = `Plotly chart: ${title} (${figure.data.length} traces)` +
    (synthetic ? ` [${SYNTHETIC_NOTE}]` : "");
  return displayable({ "text/html": html, "text/plain": plain });
}

/** Options for {@linkcode table}: synthetic banner, caption, most rows shown (200). */
interface TableOptions {
  synthetic?: boolean;
  caption?: string;
  limit?: number;
}

/**
 * Show an arquero table or an array of rows as HTML, with a markdown text fallback.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const shown = table([{ class: "apple", count: 500 }], { caption: "Training images per class" });
 * assert.equal(
 *   shown[JUPYTER_DISPLAY]()["text/plain"],
 *   "Training images per class\n|class|count|\n|:-|-:|\n|apple|500|\n",
 * );
 * ```
 */
export function table(
  t: aq.ColumnTable | readonly object[],
  opts: TableOptions = {},
): Displayable {
  const columns = Array.isArray(t) ? aq.from(t as object[]) : t as aq.ColumnTable;
  const limit = opts.limit ?? 200;
  const caption = captionHtml(opts.caption);
  const more = columns.numRows() > limit ? ` (first ${limit} of ${columns.numRows()} rows)` : "";
  // A table wider than the output area scrolls sideways in its own box, under its caption, in
  // every frontend (JupyterLab, VS Code, the HTML export), rather than being cut off.
  const html = `<div class="${TABLE_CLASS}">${opts.synthetic ? syntheticBanner() : ""}${caption}` +
    `<div class="${TABLE_SCROLL_CLASS}" style="overflow-x:auto;max-width:100%">` +
    columns.toHTML({ limit }) + `</div>` + (more ? `<div>${escapeHtml(more)}</div>` : "") +
    `</div>`;
  const lines = [
    ...(opts.synthetic ? [`[${SYNTHETIC_NOTE}]`] : []),
    ...(opts.caption ? [opts.caption + more] : more ? [more.trim()] : []),
    columns.toMarkdown({ limit }),
  ];
  return displayable({ "text/html": html, "text/plain": lines.join("\n") });
}

/** Image `index` of an NHWC uint8 batch [N, side, side, 3] (default 32) as a PNG file's bytes. */
export function encodeImagePng(images: Uint8Array, index: number, side = IMAGE_SIZE): Uint8Array {
  return encodePng(cifarImage(images, index, side));
}

/** Bytes as base64, for `data:` URIs and the `image/png` MIME type. */
export function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}

/** Options for {@linkcode imageGrid}: images per row (8), their side (32), synthetic banner. */
interface ImageGridOptions {
  columns?: number;
  side?: number;
  synthetic?: boolean;
}

/**
 * Show images as a grid of captioned pictures; one image also gets an `image/png` entry.
 *
 * @param images NHWC uint8 [N, side, side, 3], N = captions.length (extra images are ignored)
 * @param captions one caption per image; newlines start a new caption line
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { syntheticCifar100 } from "../data/synthetic.ts";
 * const data = syntheticCifar100({ trainCount: 16, testCount: 0 });
 * const names = Array.from(data.train.fineLabels, (label) => data.fineLabelNames[label]);
 * const grid = imageGrid(data.train.images, names, { columns: 8, synthetic: true });
 * const bundle = grid[JUPYTER_DISPLAY]();
 * assert.equal(bundle["text/html"].match(/<img /g)?.length, 16);
 * assert.ok(bundle["text/plain"].startsWith("16 images (32x32): synthetic_class_"));
 * ```
 */
export function imageGrid(
  images: Uint8Array,
  captions: string[],
  opts: ImageGridOptions = {},
): Displayable {
  const count = captions.length;
  const side = opts.side ?? IMAGE_SIZE;
  const have = Math.floor(images.length / (side * side * 3));
  if (have < count) {
    throw new RangeError(
      `imageGrid got ${count} captions but only ${have} images of ${side}x${side}x3 bytes`,
    );
  }
  const columns = Math.max(1, Math.min(opts.columns ?? 8, Math.max(count, 1)));
  const size = drawnSize(side);
  // Pixels enlarged by a whole factor stay square blocks; other sizes are smoothed by the browser.
  const rendering = size % side === 0 ? ` style="image-rendering:pixelated"` : "";
  const pngs = captions.map((_, i) => encodeImagePng(images, i, side));
  const cells = pngs.map((png, i) => {
    const caption = escapeHtml(captions[i]).replace(/\n/g, "<br>");
    return `<figure style="margin:0;text-align:center;font:11px sans-serif">` +
      `<img src="data:image/png;base64,${base64(png)}" width="${size}" height="${size}"` +
      `${rendering} alt="${escapeHtml(captions[i])}">` +
      `<figcaption style="width:${size + 16}px;overflow-wrap:anywhere">${caption}</figcaption>` +
      `</figure>`;
  }).join("");
  const html = `<div class="${IMAGE_GRID_CLASS}">${opts.synthetic ? syntheticBanner() : ""}` +
    `<div style="display:grid;grid-template-columns:repeat(${columns},auto);gap:8px 10px;` +
    `justify-content:start">${cells}</div></div>`;
  const note = opts.synthetic ? ` [${SYNTHETIC_NOTE}]` : "";
  const bundle: Record<string, string> = {
    "text/html": html,
    "text/plain": `${count} images (${side}x${side}): ${captions.join(", ")}${note}`,
  };
  if (count === 1) bundle["image/png"] = base64(pngs[0]);
  return displayable(bundle);
}

/** Most pixels a grid image is drawn at by default: 8 across still fit a notebook's width. */
const MAX_DRAWN = 112;

/** About 96 px: a whole multiple of `side` (drawn crisp) if one fits, else smoothed up to 112. */
function drawnSize(side: number): number {
  const enlarged = side * Math.round(96 / side);
  return enlarged >= side && enlarged <= MAX_DRAWN
    ? enlarged
    : Math.min(Math.max(side, 96), MAX_DRAWN);
}

/** Options for {@linkcode curves}: a heading (e.g. the model name) and the synthetic banner. */
interface CurvesOptions {
  title?: string;
  synthetic?: boolean;
}

/**
 * Show accuracy and loss per epoch as two charts side by side; "Test" is the held-out split used
 * as validation data (the source's legend had the two the wrong way round).
 */
export function curves(history: History, opts: CurvesOptions = {}): Displayable {
  const synthetic = opts.synthetic ?? false;
  const epochs = history.loss.map((_, i) => i + 1);
  const prefix = opts.title ? `${opts.title}: ` : "";
  const chart = (metric: string, train: number[], test: number[]): Figure => ({
    data: [
      { type: "scatter", mode: "lines+markers", name: "Train", x: epochs, y: train },
      { type: "scatter", mode: "lines+markers", name: "Test", x: epochs, y: test },
    ],
    layout: {
      title: { text: `${prefix}${metric}` },
      xaxis: { title: { text: "epoch" }, dtick: epochs.length <= 20 ? 1 : undefined },
      yaxis: { title: { text: metric } },
      margin: { t: synthetic ? 80 : 50 },
    },
  });
  const accuracy = chart("accuracy", history.accuracy, history.val_accuracy);
  const loss = chart("loss", history.loss, history.val_loss);
  const html = `<div class="cifar-chart">${synthetic ? syntheticBanner() : ""}` +
    `<div style="display:flex;flex-wrap:wrap;gap:8px">` +
    chartHtml(accuracy, synthetic, 360) + chartHtml(loss, synthetic, 360) + `</div></div>`;
  const last = history.loss.length - 1;
  const fmt = (v: number | undefined) => v === undefined ? "n/a" : v.toFixed(4);
  const plain = `${prefix}accuracy and loss over ${history.loss.length} epochs; last epoch: ` +
    `Train loss ${fmt(history.loss[last])} accuracy ${fmt(history.accuracy[last])}, ` +
    `Test loss ${fmt(history.val_loss[last])} accuracy ${fmt(history.val_accuracy[last])}` +
    (synthetic ? ` [${SYNTHETIC_NOTE}]` : "");
  return displayable({ "text/html": html, "text/plain": plain });
}

/** The part of `Deno.jupyter` the live display uses. */
export interface JupyterBroadcaster {
  broadcast(msgType: string, content: Record<string, unknown>): Promise<void>;
}

/** `Deno.jupyter`, or undefined outside the kernel (where Deno 2.9's getter throws). */
function jupyterKernel(): JupyterBroadcaster | undefined {
  try {
    return (Deno as unknown as { jupyter?: JupyterBroadcaster }).jupyter;
  } catch {
    return undefined;
  }
}

/** Options for {@linkcode liveTraining}: where to send (`Deno.jupyter`), ms between updates. */
interface LiveTrainingOptions {
  jupyter?: JupyterBroadcaster;
  intervalMs?: number;
}

/** A live training display, fed by the training loop; `done` shows the final state. */
interface LiveTraining {
  onProgress(done: number, total: number, info: Record<string, string | number>): void;
  log(line: string): void;
  done(): void;
}

/**
 * A progress bar and the epoch log lines, updated in place in the kernel at most every 250 ms.
 * Outside the kernel `log` prints and progress is ignored (the terminal has its own bar).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * // In the kernel, `liveTraining()` sends to Deno.jupyter; here a stand-in records what is sent.
 * const sent: { type: string; text: unknown }[] = [];
 * const jupyter = {
 *   broadcast: (type: string, content: Record<string, unknown>) => {
 *     sent.push({ type, text: (content.data as Record<string, string>)["text/plain"] });
 *     return Promise.resolve();
 *   },
 * };
 * const live = liveTraining({ jupyter });
 * live.onProgress(10, 391, { loss: "4.2" }); // shown at once
 * live.log("Epoch 1/20 - 6s - loss: 4.1 - accuracy: 0.07"); // within 250 ms: waits
 * live.done(); // the final state replaces the display
 * assert.deepEqual(sent, [
 *   { type: "display_data", text: "10/391 loss: 4.2" },
 *   { type: "update_display_data", text: "Epoch 1/20 - 6s - loss: 4.1 - accuracy: 0.07" },
 * ]);
 * ```
 */
export function liveTraining(opts: LiveTrainingOptions = {}): LiveTraining {
  const jupyter = opts.jupyter ?? jupyterKernel();
  if (!jupyter) {
    return { onProgress() {}, log: (line) => console.log(line), done() {} };
  }
  const interval = opts.intervalMs ?? 250;
  const displayId = `cifar-live-${crypto.randomUUID()}`;
  const lines: string[] = [];
  let progress: { done: number; total: number; info: Record<string, string | number> } | null =
    null;
  let shown = false;
  let finished = false;
  let lastSent = -Infinity;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const bundle = (): Record<string, string> => {
    const textBar = progress
      ? `${progress.done}/${progress.total} ` +
        Object.entries(progress.info).map(([k, v]) => `${k}: ${v}`).join(" - ")
      : "";
    const bar = progress
      ? `<div><progress value="${progress.done}" max="${progress.total}" style="width:320px">` +
        `</progress> ${escapeHtml(textBar)}</div>`
      : "";
    return {
      "text/html": `<div class="${LIVE_CLASS}">${finished ? "" : bar}` +
        `<pre style="margin:4px 0">${escapeHtml(lines.join("\n"))}</pre></div>`,
      "text/plain": [...lines, ...(finished || !textBar ? [] : [textBar])].join("\n"),
    };
  };
  const send = () => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    lastSent = Date.now();
    const content = { data: bundle(), metadata: {}, transient: { display_id: displayId } };
    const type = shown ? "update_display_data" : "display_data";
    shown = true;
    // Deno 2.9's broadcast may return undefined instead of a promise.
    Promise.resolve(jupyter.broadcast(type, content)).catch(() => {});
  };
  const schedule = () => {
    if (finished) return;
    const wait = lastSent + interval - Date.now();
    if (wait <= 0) send();
    else if (timer === undefined) timer = setTimeout(send, wait);
  };
  return {
    onProgress(done, total, info) {
      progress = { done, total, info: { ...info } };
      schedule();
    },
    log(line) {
      lines.push(line);
      schedule();
    },
    done() {
      if (finished) return;
      finished = true;
      send();
    },
  };
}
