/**
 * The notebooks' charts, tables and image grids, so that notebook cells stay one line long. A
 * `...Figure` function builds each plotly figure (plain data, tested); every display says what
 * its data was (synthetic banner, {@linkcode dataCaveat}).
 *
 * @module
 */
import {
  coarseConfusion,
  type ComparisonRow,
  comparisonRows,
  confidentMistakes,
  dataCaveat,
  type DataOf,
  fineConfusion,
  isSyntheticData,
  modelLabel,
  superclassAccuracy,
} from "./analysis.ts";
import { type Cifar100, IMAGE_SIZE } from "../data/dataset.ts";
import {
  bannerHtml,
  base64,
  captionHtml,
  curves,
  type Displayable,
  escapeHtml,
  type Figure,
  imageGrid,
  JUPYTER_DISPLAY,
  plot,
  table,
} from "./display.ts";
import type { RunRecord } from "../train/run_record.ts";
import { encodePng, enlarge } from "../data/images.ts";
import type { TopClass } from "../inference/predict.ts";
import { testPixels } from "../inference/classify.ts";
import { modelName, pct } from "./format.ts";

/** Class of the banner that carries the data caveat (tests look for it). */
export const CAVEAT_CLASS = "cifar-data-caveat";

/** Put a heading and the data caveat, if any, above a display (HTML and plain text alike). */
export function withCaveat(shown: Displayable, of: DataOf, heading?: string): Displayable {
  const caveat = dataCaveat(of);
  if (!caveat && !heading) return shown;
  const bundle = shown[JUPYTER_DISPLAY]();
  const colours = "background:#fde2e1;color:#7a1b12;border:1px solid #e08a80";
  const head = (caveat ? bannerHtml(CAVEAT_CLASS, colours, caveat) : "") + captionHtml(heading);
  const plain = [...(caveat ? [`[⚠ ${caveat}]`] : []), ...(heading ? [heading] : [])];
  const labelled = {
    ...bundle,
    "text/html": head + (bundle["text/html"] ?? ""),
    "text/plain": [...plain, bundle["text/plain"] ?? ""].join("\n"),
  };
  return { [JUPYTER_DISPLAY]: () => labelled };
}

/** A figure whose title also carries the data caveat, when there is one. */
function withTitleCaveat(figure: Figure, of: DataOf): Figure {
  const caveat = dataCaveat(of);
  if (!caveat) return figure;
  const layout = figure.layout ?? {};
  const title = (layout.title as { text?: string } | undefined)?.text ?? "";
  const margin = layout.margin as Record<string, number> | undefined;
  return {
    ...figure,
    layout: {
      ...layout,
      // Room for the caveat's line under the title, unless the figure asked for more.
      margin: { ...margin, t: Math.max(margin?.t ?? 0, 90) },
      title: { text: `${title}<br><sub>⚠ ${escapeHtml(caveat)}</sub>` },
    },
  };
}

/** A chart labelled with its data: synthetic banner, and the caveat above it and in its title. */
export function dataChart(figure: Figure, of: DataOf, height: number): Displayable {
  const shown = plot(withTitleCaveat(figure, of), { synthetic: isSyntheticData(of), height });
  return withCaveat(shown, of);
}

/**
 * A table labelled with its data: caption, synthetic banner and data caveat.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { JUPYTER_DISPLAY } from "./display.ts";
 * // Usually `dataTable(comparisonRows(records), "Runs of the full profile", records)`.
 * const rows = [{ model: "cnn", test_accuracy: 0.4178 }];
 * const shown = dataTable(rows, "CNN", { synthetic: false, origin: "unofficial" });
 * const { "text/html": html, "text/plain": text } = shown[JUPYTER_DISPLAY]();
 * assert.ok(html.includes(`class="${CAVEAT_CLASS}"`)); // a red banner above the table
 * assert.ok(text.startsWith("[⚠ not the official CIFAR-100 archive: its MD5 differs]\nCNN\n"));
 * ```
 */
export function dataTable(rows: readonly object[], caption: string, of: DataOf): Displayable {
  return withCaveat(table(rows, { caption, synthetic: isSyntheticData(of) }), of);
}

/** A run's accuracy and loss per epoch ({@linkcode curves}), titled and labelled. */
export function runCurves(record: RunRecord): Displayable {
  const shown = curves(record.history, { title: modelLabel(record), synthetic: record.synthetic });
  return withCaveat(shown, record);
}

/** Images of one class (its index and name) in each split; a type alias passes as a table row. */
type ClassCount = { class: number; name: string; train: number; test: number };

/**
 * Count the images of each class in both splits, one row per class in index order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { syntheticCifar100 } from "../data/synthetic.ts";
 * const data = syntheticCifar100({ trainCount: 500, testCount: 100 });
 * // On CIFAR-100: { class: 0, name: "aquatic_mammals", train: 2500, test: 500 }
 * assert.deepEqual(
 *   classCounts(data, "coarse")[0],
 *   { class: 0, name: "synthetic_superclass_00", train: 25, test: 5 },
 * );
 * ```
 */
export function classCounts(
  data: Pick<Cifar100, "train" | "test" | "fineLabelNames" | "coarseLabelNames">,
  level: "fine" | "coarse",
): ClassCount[] {
  const names = level === "fine" ? data.fineLabelNames : data.coarseLabelNames;
  const rows = names.map((name, i) => ({ class: i, name, train: 0, test: 0 }));
  for (const split of ["train", "test"] as const) {
    const labels = level === "fine" ? data[split].fineLabels : data[split].coarseLabels;
    for (const label of labels) {
      if (!rows[label]) throw new RangeError(`${level} label ${label} has no name in ${split}`);
      rows[label][split] += 1;
    }
  }
  return rows;
}

/** The figure of {@linkcode classHistogram}: one bar per class, training and test images stacked. */
export function classHistogramFigure(counts: ClassCount[], title: string): Figure {
  const names = counts.map((c) => c.name);
  return {
    data: (["train", "test"] as const).map((split) => ({
      type: "bar",
      name: split,
      x: names,
      y: counts.map((c) => c[split]),
    })),
    layout: {
      title: { text: title },
      barmode: "stack",
      margin: { b: 160 },
      xaxis: { tickangle: -60, automargin: true },
      yaxis: { title: { text: "images" } },
    },
  };
}

/**
 * Show the class distribution ({@linkcode classCounts}) as a stacked bar chart.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { syntheticCifar100 } from "../data/synthetic.ts";
 * import { JUPYTER_DISPLAY } from "./display.ts";
 * const data = syntheticCifar100({ trainCount: 500, testCount: 100 });
 * const chart = classHistogram(classCounts(data, "fine"), "Images per fine class", data.source);
 * assert.equal(
 *   chart[JUPYTER_DISPLAY]()["text/plain"],
 *   "Plotly chart: Images per fine class (2 traces) [SYNTHETIC DATA — not CIFAR-100]",
 * );
 * ```
 */
export function classHistogram(counts: ClassCount[], title: string, of: DataOf): Displayable {
  return dataChart(classHistogramFigure(counts, title), of, 460);
}

/** The first training images, each captioned with its fine class and, below, its superclass. */
export function sampleGrid(data: Cifar100, count = 24): Displayable {
  const n = Math.min(count, data.train.count);
  const captions = Array.from({ length: n }, (_, i) => {
    const fine = data.fineLabelNames[data.train.fineLabels[i]];
    return `${fine}\n(${data.coarseLabelNames[data.train.coarseLabels[i]]})`;
  });
  const side = data.imageSize ?? IMAGE_SIZE;
  const images = data.train.images.subarray(0, n * side * side * 3);
  return withCaveat(
    imageGrid(images, captions, { side, synthetic: data.source.synthetic }),
    data.source,
  );
}

/**
 * The test images a run got wrong most confidently ({@linkcode confidentMistakes}), captioned.
 *
 * @param data the run's test images, e.g. from `runTestImages(record)` in lib/train/profile.ts
 * @throws {RangeError} when the images are not the run's (another count or other labels)
 */
export function mistakesGrid(
  record: RunRecord,
  data: Pick<Cifar100, "test" | "imageSize">,
  count = 24,
): Displayable {
  if (data.test.count !== record.test_labels.length) {
    throw new RangeError(
      `${data.test.count} test images, but the run was tested on ${record.test_labels.length}`,
    );
  }
  const mistakes = confidentMistakes(record, count);
  for (const { index } of mistakes) {
    if (data.test.fineLabels[index] !== record.test_labels[index]) {
      throw new RangeError(`test image ${index} has another label than in the run`);
    }
  }
  const images = testPixels(data, mistakes.map((m) => m.index));
  const captions = mistakes.map((m) =>
    `true: ${m.true_class}\npredicted: ${m.predicted_as} (${Math.round(m.confidence * 100)}%)`
  );
  const side = data.imageSize ?? IMAGE_SIZE;
  const grid = imageGrid(images, captions, { side, synthetic: record.synthetic });
  const heading = `${modelLabel(record)}: its ${mistakes.length} most confident mistakes ` +
    `on the test set, most confident first`;
  return withCaveat(grid, record, heading);
}

/** Numeric columns of the comparison table that {@linkcode metricBars} can chart. */
type MetricColumn = {
  [K in keyof ComparisonRow]: ComparisonRow[K] extends number ? K : never;
}[keyof ComparisonRow];

/** Options for {@linkcode metricBars}: titles, and a logarithmic y axis. */
interface MetricBarsOptions {
  title: string;
  ytitle: string;
  log?: boolean;
}

const modelNames = (records: RunRecord[]) => records.map((r) => modelName(r.model));

/** The figure of {@linkcode metricBars}, with the comparison table's (rounded) values. */
export function metricBarsFigure(
  records: RunRecord[],
  metrics: Record<string, MetricColumn>,
  opts: MetricBarsOptions,
): Figure {
  const rows = comparisonRows(records);
  const x = modelNames(records);
  return {
    data: Object.entries(metrics).map(([name, column]) => ({
      type: "bar",
      name,
      x,
      y: rows.map((row) => row[column]),
    })),
    layout: {
      title: { text: opts.title },
      barmode: "group",
      yaxis: { title: { text: opts.ytitle }, type: opts.log ? "log" : "linear" },
    },
  };
}

/**
 * Compare runs on one or more metrics as grouped bars, labelled with their data.
 *
 * @param metrics trace name to comparison-table column, e.g. `{ "top-1": "test_accuracy" }`
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { JUPYTER_DISPLAY } from "./display.ts";
 * import { runExperiment } from "../train/experiment.ts";
 * const record = await runExperiment(
 *   { model: "mlp", data: "synthetic", epochs: 1, limitTrain: 256, limitTest: 64, out: null },
 *   { log: () => {}, summary: false },
 * );
 * const records = [record]; // usually one run per model
 * const chart = metricBars(records, { total: "params", trainable: "trainable" }, {
 *   title: "Parameters", ytitle: "parameters", log: true,
 * });
 * assert.equal(
 *   chart[JUPYTER_DISPLAY]()["text/plain"],
 *   "Plotly chart: Parameters (2 traces) [SYNTHETIC DATA — not CIFAR-100]",
 * );
 * ```
 */
export function metricBars(
  records: RunRecord[],
  metrics: Record<string, MetricColumn>,
  opts: MetricBarsOptions,
): Displayable {
  return dataChart(metricBarsFigure(records, metrics, opts), records, 340);
}

/** The figure of {@linkcode superclassBars}, from `superclassAccuracy`. */
export function superclassBarsFigure(records: RunRecord[]): Figure {
  const names = modelNames(records);
  return {
    data: records.map((record, i) => {
      const rows = superclassAccuracy(record);
      return {
        type: "bar",
        name: names[i],
        x: rows.map((r) => r.superclass),
        y: rows.map((r) => r.accuracy),
      };
    }),
    layout: {
      title: { text: "Test accuracy per superclass" },
      barmode: "group",
      margin: { b: 170 },
      xaxis: { tickangle: -50, automargin: true },
      yaxis: { title: { text: "accuracy" } },
    },
  };
}

/** Show each run's fine-class test accuracy per superclass as grouped bars (one trace a run). */
export function superclassBars(records: RunRecord[]): Displayable {
  return dataChart(superclassBarsFigure(records), records, 480);
}

/**
 * The figure of {@linkcode confusionHeatmap}: the superclass (else class) confusion matrix,
 * rows normalised in `z`, the counts in `customdata` for the hover.
 */
export function confusionHeatmapFigure(record: RunRecord): Figure {
  const superclasses = record.coarse_label_names.length > 0;
  const counts = superclasses ? coarseConfusion(record) : fineConfusion(record);
  const shares = counts.map((row) => {
    const total = row.reduce((a, b) => a + b, 0);
    return row.map((v) => v / Math.max(1, total));
  });
  const names = superclasses ? record.coarse_label_names : record.fine_label_names;
  const level = superclasses ? "superclass" : "class";
  return {
    data: [{
      type: "heatmap",
      x: names,
      y: names,
      z: shares,
      customdata: counts,
      colorscale: "Blues",
      reversescale: true,
      hovertemplate: "true %{y}<br>predicted %{x}<br>%{customdata} images<extra></extra>",
    }],
    layout: {
      title: { text: `${modelName(record.model)}: ${level} confusion (row-normalised)` },
      margin: { l: 200, b: 200 },
      xaxis: { tickangle: -50, title: { text: "predicted" } },
      yaxis: { autorange: "reversed", title: { text: "true" } },
    },
  };
}

/**
 * Show a run's superclass confusion matrix as a heatmap (rows true, columns predicted).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { JUPYTER_DISPLAY } from "./display.ts";
 * import { runExperiment } from "../train/experiment.ts";
 * const record = await runExperiment(
 *   { model: "mlp", data: "synthetic", epochs: 1, limitTrain: 256, limitTest: 64, out: null },
 *   { log: () => {}, summary: false },
 * );
 * // Of several runs, e.g. the most accurate:
 * // confusionHeatmap(records.reduce((a, b) => (b.test_accuracy > a.test_accuracy ? b : a)))
 * const chart = confusionHeatmap(record);
 * assert.match(chart[JUPYTER_DISPLAY]()["text/plain"], /^Plotly chart: MLP: superclass confusion/);
 * ```
 */
export function confusionHeatmap(record: RunRecord): Displayable {
  return dataChart(confusionHeatmapFigure(record), record, 720);
}

/** One image's panel in {@linkcode topKChart}: title, top classes and its 32x32x3 pixels. */
interface TopKPanel {
  title: string;
  top: TopClass[];
  pixels?: Uint8Array;
}

/** Pixel heights of {@linkcode topKFigure}'s parts. */
const TOPK = { panel: 210, top: 70, bottom: 20, gap: 55 } as const;
const PAPER = { xref: "paper", yref: "paper" } as const;

/** The figure of {@linkcode topKChart}: one panel of horizontal bars per image, stacked. */
export function topKFigure(panels: TopKPanel[], title: string): Figure {
  const plotHeight = panels.length * TOPK.panel;
  const withPictures = panels.some((p) => p.pixels);
  const layout: Record<string, unknown> = {
    title: { text: title },
    height: plotHeight + TOPK.top + TOPK.bottom,
    margin: { t: TOPK.top, b: TOPK.bottom },
    showlegend: false,
    annotations: [],
    images: [],
  };
  const data = panels.map((panel, i) => {
    const suffix = i === 0 ? "" : String(i + 1);
    // Panel i from the top: its share of the plot height, leaving room for title and ticks.
    const bottom = (panels.length - 1 - i) * TOPK.panel;
    const domain = [
      (bottom + TOPK.gap / 2) / plotHeight,
      (bottom + TOPK.panel - TOPK.gap / 2) / plotHeight,
    ];
    layout[`xaxis${suffix}`] = {
      domain: [0, withPictures ? 0.78 : 1],
      range: [0, 1],
      tickformat: ".0%",
      anchor: `y${suffix}`,
    };
    layout[`yaxis${suffix}`] = {
      domain,
      autorange: "reversed",
      automargin: true,
      anchor: `x${suffix}`,
    };
    (layout.annotations as unknown[]).push({
      text: panel.title,
      ...PAPER,
      x: 0,
      y: domain[1],
      xanchor: "left",
      yanchor: "bottom",
      showarrow: false,
      font: { size: 13 },
    });
    if (panel.pixels) {
      const png = encodePng(
        enlarge({ width: IMAGE_SIZE, height: IMAGE_SIZE, data: panel.pixels }, 4),
      );
      (layout.images as unknown[]).push({
        source: `data:image/png;base64,${base64(png)}`,
        ...PAPER,
        x: 0.82,
        y: domain[1],
        sizex: 0.18,
        sizey: domain[1] - domain[0],
        xanchor: "left",
        yanchor: "top",
        sizing: "contain",
      });
    }
    return {
      type: "bar",
      orientation: "h",
      x: panel.top.map((t) => t.probability),
      y: panel.top.map((t) => t.superclass ? `${t.name} (${t.superclass})` : t.name),
      text: panel.top.map((t) => pct(t.probability)),
      textposition: "auto",
      marker: { color: "#1f77b4" },
      hovertemplate: "%{y}: %{x:.2%}<extra></extra>",
      xaxis: `x${suffix}`,
      yaxis: `y${suffix}`,
    };
  });
  return { data, layout };
}

/**
 * Show the most probable classes of images as bar charts, one panel per image with its picture.
 *
 * @param of the model's run record
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { JUPYTER_DISPLAY } from "./display.ts";
 * // Usually `const [top] = predictTopK(classifier, pixels)` (lib/inference/predict.ts).
 * const top = [
 *   { rank: 1, class: 3, name: "bear", superclass: "large_carnivores", probability: 0.62 },
 *   { rank: 2, class: 42, name: "leopard", superclass: "large_carnivores", probability: 0.21 },
 * ];
 * const pixels = new Uint8Array(32 * 32 * 3); // the 32x32 RGB image the model saw
 * const official = { synthetic: false, origin: "official" } as const; // or classifier.record
 * const chart = topKChart([{ title: "bear.jpg", top, pixels }], "CNN: top-2", official);
 * assert.equal(chart[JUPYTER_DISPLAY]()["text/plain"], "Plotly chart: CNN: top-2 (1 traces)");
 * ```
 */
export function topKChart(panels: TopKPanel[], title: string, of: DataOf): Displayable {
  const figure = topKFigure(panels, title);
  return dataChart(figure, of, figure.layout!.height as number);
}
