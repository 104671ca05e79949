/**
 * The notebooks' charts: plotly figures built from datasets and run records, so that notebook
 * cells stay one line long.
 *
 * Each chart comes in two parts: a `...Figure` function that builds the plotly figure (plain
 * data, tested) and a display function that shows it through {@linkcode plot}, with the
 * "synthetic data" banner whenever the data behind the chart was synthetic.
 *
 * @module
 */
import {
  coarseConfusion,
  type ComparisonRow,
  comparisonRows,
  superclassAccuracy,
} from "./analysis.ts";
import type { Cifar100 } from "../data/dataset.ts";
import { type Displayable, type Figure, plot } from "./display.ts";
import type { RunRecord } from "../train/config.ts";

/** Images of one class in each split (a type alias, so it passes as a table row). */
export type ClassCount = {
  /** Class index (fine 0..99 or coarse 0..19). */
  class: number;
  /** Class name. */
  name: string;
  /** Training images of this class. */
  train: number;
  /** Test images of this class. */
  test: number;
};

/** Which labels to count: the 100 fine classes or the 20 superclasses. */
export type LabelLevel = "fine" | "coarse";

/**
 * Count the images of each class in both splits.
 *
 * @param data the dataset (its splits' labels and the label names)
 * @param level fine classes or superclasses
 * @returns one row per class, in class-index order (0 where a class has no images)
 * @example
 * ```ts
 * classCounts(data, "coarse")[0]; // { class: 0, name: "aquatic_mammals", train: 2500, test: 500 }
 * ```
 */
export function classCounts(
  data: Pick<Cifar100, "train" | "test" | "fineLabelNames" | "coarseLabelNames">,
  level: LabelLevel,
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

/** Options for {@linkcode classHistogram}. */
export interface ClassHistogramOptions {
  /** Chart title. */
  title: string;
  /** Label the chart as made from synthetic data. */
  synthetic?: boolean;
}

/**
 * The class-distribution figure: one bar per class, training and test images stacked.
 *
 * @param counts per-class counts, e.g. from {@linkcode classCounts}
 * @param title chart title
 * @returns the plotly figure
 */
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
 * Show the class distribution as a stacked bar chart (see {@linkcode classHistogramFigure}).
 *
 * @param counts per-class counts, e.g. from {@linkcode classCounts}
 * @param opts title and synthetic-data labelling
 * @returns a displayable chart
 * @example
 * ```ts
 * classHistogram(classCounts(data, "fine"), { title: "Images per fine class", synthetic });
 * ```
 */
export function classHistogram(counts: ClassCount[], opts: ClassHistogramOptions): Displayable {
  return plot(classHistogramFigure(counts, opts.title), { synthetic: opts.synthetic, height: 460 });
}

/** Numeric columns of the comparison table that {@linkcode metricBars} can chart. */
export type MetricColumn = {
  [K in keyof ComparisonRow]: ComparisonRow[K] extends number ? K : never;
}[keyof ComparisonRow];

/** Options for {@linkcode metricBars}. */
export interface MetricBarsOptions {
  /** Chart title. */
  title: string;
  /** Y-axis title. */
  ytitle: string;
  /** Logarithmic y axis (e.g. for parameter counts). */
  log?: boolean;
}

const modelNames = (records: RunRecord[]) => records.map((r) => r.model.toUpperCase());
const isSynthetic = (records: RunRecord[]) => records.some((r) => r.synthetic);

/**
 * The figure of {@linkcode metricBars}: one bar group per run, one trace per metric, with the
 * values of the comparison table (`comparisonRows`, so rounded and averaged the same way).
 *
 * @param records the runs, one group of bars each
 * @param metrics trace name to comparison-table column, e.g. `{ "top-1": "test_accuracy" }`
 * @param opts titles and scale
 * @returns the plotly figure
 */
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
 * Compare runs on one or more metrics as grouped bars; labelled synthetic when any run is.
 *
 * @param records the runs, one group of bars each
 * @param metrics trace name to comparison-table column, e.g. `{ "top-1": "test_accuracy" }`
 * @param opts titles and scale
 * @returns a displayable chart
 * @example
 * ```ts
 * metricBars(records, { total: "params", trainable: "trainable" }, {
 *   title: "Parameters", ytitle: "parameters", log: true,
 * });
 * ```
 */
export function metricBars(
  records: RunRecord[],
  metrics: Record<string, MetricColumn>,
  opts: MetricBarsOptions,
): Displayable {
  const figure = metricBarsFigure(records, metrics, opts);
  return plot(figure, { synthetic: isSynthetic(records), height: 340 });
}

/**
 * The figure of {@linkcode superclassBars}: per run, the fine-class test accuracy on the images
 * of each superclass (`superclassAccuracy`).
 *
 * @param records the runs, one trace each
 * @returns the plotly figure
 */
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

/**
 * Show each run's test accuracy per superclass as grouped bars; labelled synthetic when any
 * run is.
 *
 * @param records the runs, one trace each
 * @returns a displayable chart
 */
export function superclassBars(records: RunRecord[]): Displayable {
  return plot(superclassBarsFigure(records), { synthetic: isSynthetic(records), height: 480 });
}

/**
 * The figure of {@linkcode confusionHeatmap}: the superclass confusion matrix of a run,
 * each row divided by its total (rows without images stay 0), the counts kept for the hover.
 *
 * @param record the run
 * @returns the plotly figure (`z` row-normalised, `customdata` the counts)
 */
export function confusionHeatmapFigure(record: RunRecord): Figure {
  const counts = coarseConfusion(record);
  const shares = counts.map((row) => {
    const total = row.reduce((a, b) => a + b, 0);
    return row.map((v) => v / Math.max(1, total));
  });
  const names = record.coarse_label_names;
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
      title: { text: `${record.model.toUpperCase()}: superclass confusion (row-normalised)` },
      margin: { l: 200, b: 200 },
      xaxis: { tickangle: -50, title: { text: "predicted" } },
      yaxis: { autorange: "reversed", title: { text: "true" } },
    },
  };
}

/**
 * Show a run's superclass confusion matrix as a heatmap: row = true superclass, column =
 * predicted, colour = share of the row's test images, counts on hover.
 *
 * @param record the run
 * @returns a displayable chart
 * @example
 * ```ts
 * confusionHeatmap(records.reduce((a, b) => (b.test_accuracy > a.test_accuracy ? b : a)));
 * ```
 */
export function confusionHeatmap(record: RunRecord): Displayable {
  return plot(confusionHeatmapFigure(record), { synthetic: record.synthetic, height: 720 });
}
