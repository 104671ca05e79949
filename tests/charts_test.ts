import assert from "node:assert/strict";
import {
  CAVEAT_CLASS,
  classCounts,
  classHistogram,
  classHistogramFigure,
  confusionHeatmap,
  confusionHeatmapFigure,
  dataChart,
  dataTable,
  metricBars,
  metricBarsFigure,
  mistakesGrid,
  runCurves,
  sampleGrid,
  superclassBars,
  superclassBarsFigure,
} from "../lib/report/charts.ts";
import {
  type Displayable,
  encodeImagePng,
  JUPYTER_DISPLAY,
  SYNTHETIC_NOTE,
} from "../lib/report/display.ts";
import type { RunRecord } from "../lib/train/run_record.ts";
import { syntheticCifar100 } from "../lib/data/synthetic.ts";

const html = (d: Displayable) => d[JUPYTER_DISPLAY]()["text/html"];
const plain = (d: Displayable) => d[JUPYTER_DISPLAY]()["text/plain"];
// deno-lint-ignore no-explicit-any
type Trace = Record<string, any>;
const traces = (figure: { data: unknown[] }) => figure.data as Trace[];
// deno-lint-ignore no-explicit-any
const layout = (figure: { layout?: Record<string, unknown> }) => figure.layout as any;

// Four fine classes in two superclasses: a, b -> animals; c, d -> vehicles.
const predictions = {
  fine_label_names: ["a", "b", "c", "d"],
  coarse_label_names: ["animals", "vehicles"],
  fine_to_coarse: [0, 0, 1, 1],
  test_labels: [0, 0, 1, 2, 2, 3, 2],
  test_predictions: [0, 1, 1, 3, 0, 3, 3],
};

function record(model: RunRecord["model"], over: Partial<RunRecord> = {}): RunRecord {
  // A cast, so fields the charts do not read can be added to RunRecord freely.
  return {
    ...predictions,
    model,
    backend: "wasm",
    profile: "smoke",
    data: {
      kind: "cache",
      synthetic: false,
      origin: "official",
      description: "CIFAR-100",
      id: "c",
    },
    synthetic: false,
    official_data: true,
    params: 1000,
    trainable_params: 100,
    epochs: 2,
    loss: "categorical_crossentropy",
    history: { loss: [2, 1], accuracy: [0.1, 0.2], val_loss: [2, 1], val_accuracy: [0.1, 0.2] },
    test_loss: 1.23456,
    test_accuracy: 3 / 7,
    top5_accuracy: 0.9,
    seconds_per_epoch: [2, 4],
    train_images_per_second: 500,
    ...over,
  } as RunRecord;
}

Deno.test("classCounts: images per class in each split, fine and coarse", () => {
  const split = (fine: number[], coarse: number[]) => ({
    images: new Uint8Array(0),
    fineLabels: Uint8Array.from(fine),
    coarseLabels: Uint8Array.from(coarse),
    count: fine.length,
  });
  const data = {
    train: split([0, 0, 2, 3], [0, 0, 1, 1]),
    test: split([1, 3], [0, 1]),
    fineLabelNames: ["a", "b", "c", "d"],
    coarseLabelNames: ["animals", "vehicles"],
  };
  assert.deepEqual(classCounts(data, "fine"), [
    { class: 0, name: "a", train: 2, test: 0 },
    { class: 1, name: "b", train: 0, test: 1 },
    { class: 2, name: "c", train: 1, test: 0 },
    { class: 3, name: "d", train: 1, test: 1 },
  ]);
  assert.deepEqual(classCounts(data, "coarse"), [
    { class: 0, name: "animals", train: 2, test: 1 },
    { class: 1, name: "vehicles", train: 2, test: 1 },
  ]);
  const bad = { ...data, test: split([7], [0]) };
  assert.throws(() => classCounts(bad, "fine"), /fine label 7 has no name in test/);
});

Deno.test("classHistogram: stacked train and test bars per class, synthetic banner", () => {
  const counts = [
    { class: 0, name: "apple", train: 500, test: 100 },
    { class: 1, name: "bus", train: 490, test: 99 },
  ];
  const figure = classHistogramFigure(counts, "Images per fine class");
  assert.deepEqual(traces(figure).map((t) => [t.type, t.name, t.x, t.y]), [
    ["bar", "train", ["apple", "bus"], [500, 490]],
    ["bar", "test", ["apple", "bus"], [100, 99]],
  ]);
  assert.equal(layout(figure).barmode, "stack");
  assert.equal(layout(figure).title.text, "Images per fine class");
  assert.equal(layout(figure).yaxis.title.text, "images");
  const synthetic = { synthetic: true, origin: "synthetic" } as const;
  const official = { synthetic: false, origin: "official" } as const;
  assert.ok(html(classHistogram(counts, "t", synthetic)).includes(SYNTHETIC_NOTE));
  assert.ok(!html(classHistogram(counts, "t", official)).includes(SYNTHETIC_NOTE));
});

Deno.test("metricBars: one trace per metric, models on x, comparison-table values", () => {
  const opts0 = { title: "Test accuracy", ytitle: "accuracy" };
  const records = [record("mlp"), record("vgg16", { seconds_per_epoch: [0.5, 0.1, 0.3] })];
  const figure = metricBarsFigure(records, { "top-1": "test_accuracy", "top-5": "top5_accuracy" }, {
    title: "Test accuracy",
    ytitle: "accuracy",
  });
  assert.deepEqual(traces(figure).map((t) => [t.type, t.name, t.x, t.y]), [
    ["bar", "top-1", ["MLP", "VGG16"], [0.4286, 0.4286]], // rounded to 4 decimals
    ["bar", "top-5", ["MLP", "VGG16"], [0.9, 0.9]],
  ]);
  assert.equal(layout(figure).title.text, "Test accuracy");
  assert.equal(layout(figure).barmode, "group");
  assert.deepEqual(layout(figure).yaxis, { title: { text: "accuracy" }, type: "linear" });

  const seconds = metricBarsFigure(records, { "seconds per epoch": "seconds_per_epoch" }, {
    title: "Seconds",
    ytitle: "seconds",
    log: true,
  });
  assert.deepEqual(traces(seconds)[0].y, [3, 0.3], "mean seconds per epoch");
  assert.equal(layout(seconds).yaxis.type, "log");
  const resnet9 = metricBarsFigure([record("resnet9")], { "top-1": "test_accuracy" }, opts0);
  assert.deepEqual(traces(resnet9)[0].x, ["ResNet-9"], "named as everywhere else");

  const opts = { title: "Loss", ytitle: "loss" };
  const loss = { "test loss": "test_loss" } as const;
  assert.ok(!html(metricBars(records, loss, opts)).includes(SYNTHETIC_NOTE));
  const mixed = [records[0], record("cnn", { synthetic: true })];
  assert.ok(html(metricBars(mixed, loss, opts)).includes(SYNTHETIC_NOTE), "any synthetic run");
});

Deno.test("superclassBars: per-run fine accuracy on each superclass's images", () => {
  const perfect = record("cnn", { test_predictions: predictions.test_labels });
  const figure = superclassBarsFigure([record("mlp"), perfect]);
  assert.deepEqual(traces(figure).map((t) => [t.type, t.name, t.x, t.y]), [
    ["bar", "MLP", ["animals", "vehicles"], [2 / 3, 1 / 4]],
    ["bar", "CNN", ["animals", "vehicles"], [1, 1]],
  ]);
  assert.equal(layout(figure).title.text, "Test accuracy per superclass");
  assert.equal(layout(figure).yaxis.title.text, "accuracy");
  assert.ok(
    html(superclassBars([perfect, record("mlp", { synthetic: true })])).includes(
      SYNTHETIC_NOTE,
    ),
  );
  assert.ok(!html(superclassBars([perfect])).includes(SYNTHETIC_NOTE));
});

Deno.test("confusionHeatmap: row-normalised superclass confusion, counts on hover", () => {
  const names = ["animals", "vehicles", "empty"];
  const run = record("cnn", { coarse_label_names: names, fine_to_coarse: [0, 0, 1, 1] });
  const figure = confusionHeatmapFigure(run);
  const [trace] = traces(figure);
  assert.equal(trace.type, "heatmap");
  assert.deepEqual(trace.x, names);
  assert.deepEqual(trace.y, names);
  // true animals: 3 right; true vehicles: 1 predicted animals, 3 right; "empty" has no images.
  assert.deepEqual(trace.customdata, [[3, 0, 0], [1, 3, 0], [0, 0, 0]]);
  assert.deepEqual(trace.z, [[1, 0, 0], [0.25, 0.75, 0], [0, 0, 0]]);
  assert.match(trace.hovertemplate, /%\{customdata\} images/);
  assert.equal(layout(figure).title.text, "CNN: superclass confusion (row-normalised)");
  assert.equal(layout(figure).xaxis.title.text, "predicted");
  assert.equal(layout(figure).yaxis.title.text, "true");
  assert.equal(layout(figure).yaxis.autorange, "reversed", "first superclass at the top");
  assert.ok(html(confusionHeatmap({ ...run, synthetic: true })).includes(SYNTHETIC_NOTE));
  assert.ok(!html(confusionHeatmap(run)).includes(SYNTHETIC_NOTE));
});

/** A run on data of another origin than the official archive. */
function other(origin: "unofficial" | "unverified", model: "mlp" | "cnn" | "vgg16" = "cnn") {
  const r = record(model);
  return { ...r, data: { ...r.data, origin }, official_data: false };
}

Deno.test("data that is not the verified official archive is named on every chart and table", () => {
  const caveat = (d: Displayable) => html(d).includes(`class="${CAVEAT_CLASS}"`);
  const unofficial = [record("mlp"), other("unofficial")];
  const shown: [string, (rs: RunRecord[]) => Displayable][] = [
    ["metricBars", (rs) => metricBars(rs, { loss: "test_loss" }, { title: "Loss", ytitle: "l" })],
    ["superclassBars", superclassBars],
    ["confusionHeatmap", (rs) => confusionHeatmap(rs[rs.length - 1])],
    ["dataTable", (rs) => dataTable([{ a: 1 }], "Runs", rs)],
    ["runCurves", (rs) => runCurves(rs[rs.length - 1])],
  ];
  for (const [name, show] of shown) {
    const d = show(unofficial);
    assert.ok(caveat(d), `${name}: caveat banner`);
    assert.match(html(d), /not the official CIFAR-100 archive: its MD5 differs/, name);
    assert.match(plain(d), /^\[⚠ .*not the official CIFAR-100 archive/, `${name}: plain text`);
    assert.ok(!caveat(show([record("mlp"), record("cnn")])), `${name}: official data, no caveat`);
    assert.ok(
      !caveat(show([record("cnn", { synthetic: true })])),
      `${name}: synthetic has its own`,
    );
  }
  // Chart titles carry it too (only the runs concerned are named when some are official).
  const chart = html(metricBars(unofficial, { l: "test_loss" }, { title: "Loss", ytitle: "l" }));
  assert.match(chart, /Loss\\u003cbr>\\u003csub>⚠ CNN: not the official CIFAR-100 archive/);
  const folder = { synthetic: false, origin: "unverified" } as const;
  const histogram = classHistogram([{ class: 0, name: "a", train: 1, test: 1 }], "t", folder);
  assert.match(html(histogram), /extracted folder, not verified against the official archive/);
  assert.ok(
    html(dataTable([{ a: 1 }], "Runs", [record("cnn", { synthetic: true })])).includes(
      SYNTHETIC_NOTE,
    ),
  );
  assert.match(plain(runCurves(other("unverified", "vgg16"))), /^\[⚠ CIFAR-100 from an extracted/);
});

Deno.test("dataChart: the caveat under the title, with room for it unless the figure has more", () => {
  const spec = (d: Displayable) => JSON.parse(html(d).match(/var spec = (.*);\n/)![1]);
  const figure = (t: number) => ({
    data: [{ type: "bar", x: ["a"], y: [1] }],
    layout: { title: { text: "T" }, margin: { b: 5, t } },
  });
  const unofficial = { synthetic: false, origin: "unofficial" } as const;
  const low = spec(dataChart(figure(70), unofficial, 300)).layout;
  assert.equal(
    low.title.text,
    "T<br><sub>⚠ not the official CIFAR-100 archive: its MD5 differs</sub>",
  );
  assert.deepEqual(low.margin, { b: 5, t: 90 });
  assert.equal(spec(dataChart(figure(120), unofficial, 300)).layout.margin.t, 120);
  const official = spec(dataChart(figure(70), { synthetic: false, origin: "official" }, 300));
  assert.deepEqual(official.layout, { title: { text: "T" }, margin: { b: 5, t: 70 }, height: 300 });
});

Deno.test("runCurves: titled with the model, VGG16 with what its weights were", () => {
  assert.match(
    plain(runCurves(record("vgg16", { weights_kind: "file" }))),
    /^VGG16 with weights from a file/,
  );
  assert.match(plain(runCurves(record("mlp"))), /^MLP: accuracy and loss/);
});

Deno.test("mistakesGrid: the run's test images it got most confidently wrong, in that order", () => {
  const data = syntheticCifar100({ seed: 2, trainCount: 0, testCount: 7 });
  // The fixture's labels on those images; wrong: 1, 3, 4, 6 (see the predictions above).
  const test = { ...data.test, fineLabels: Uint8Array.from(predictions.test_labels) };
  const run = record("cnn", { test_confidences: [0.9, 0.5, 0.9, 0.876, 0.2, 0.9, 0.99] });
  const grid = mistakesGrid(run, { test }, 3);
  const pictures = [...html(grid).matchAll(/src="data:image\/png;base64,([^"]+)"/g)].map((m) =>
    m[1]
  );
  const png = (i: number) => btoa(String.fromCharCode(...encodeImagePng(test.images, i)));
  assert.deepEqual(pictures, [png(6), png(3), png(1)]);
  assert.match(plain(grid), /^CNN: its 3 most confident mistakes on the test set/);
  assert.match(plain(grid), /true: c\npredicted: d \(99%\), true: c\npredicted: d \(88%\)/);
  assert.ok(!html(grid).includes(SYNTHETIC_NOTE));
  assert.ok(html(mistakesGrid({ ...run, synthetic: true }, { test })).includes(SYNTHETIC_NOTE));
  const folder = { ...other("unverified"), test_confidences: run.test_confidences };
  assert.ok(html(mistakesGrid(folder, { test })).includes(CAVEAT_CLASS));
  const shuffled = { ...test, fineLabels: test.fineLabels.slice().reverse() };
  assert.throws(() => mistakesGrid(run, { test: shuffled }), /another label than in the run/);
  const fewer = syntheticCifar100({ seed: 2, trainCount: 0, testCount: 5 });
  assert.throws(() => mistakesGrid(run, fewer), /5 test images, but the run was tested on 7/);
});

Deno.test("sampleGrid: the first training images, captioned with class and superclass", () => {
  const data = syntheticCifar100({ seed: 1, trainCount: 30, testCount: 0 });
  const grid = sampleGrid(data, 3);
  const name = (i: number) =>
    `${data.fineLabelNames[data.train.fineLabels[i]]}\n(${
      data.coarseLabelNames[data.train.coarseLabels[i]]
    })`;
  assert.ok(plain(grid).startsWith(`3 images (32x32): ${name(0)}, ${name(1)}, ${name(2)}`));
  assert.ok(html(grid).includes(SYNTHETIC_NOTE));
});

// ---- topKChart --------------------------------------------------------------------------------
import { topKChart, topKFigure } from "../lib/report/charts.ts";

const top3 = [
  { rank: 1, class: 3, name: "bear", superclass: "large_carnivores", probability: 0.6 },
  { rank: 2, class: 0, name: "apple", superclass: "fruit_and_vegetables", probability: 0.25 },
  { rank: 3, class: 9, name: "bottle", superclass: "food_containers", probability: 0.05 },
];

Deno.test("topKChart: horizontal bars per image, most probable on top, names and superclasses", () => {
  const figure = topKFigure([{ title: "cat.jpg", top: top3 }], "CNN: top-3");
  const [trace] = traces(figure);
  assert.equal(traces(figure).length, 1);
  assert.equal(trace.type, "bar");
  assert.equal(trace.orientation, "h");
  assert.deepEqual(trace.x, [0.6, 0.25, 0.05]);
  assert.deepEqual(trace.y, [
    "bear (large_carnivores)",
    "apple (fruit_and_vegetables)",
    "bottle (food_containers)",
  ]);
  assert.deepEqual(trace.text, ["60.0%", "25.0%", "5.0%"]);
  assert.equal(layout(figure).title.text, "CNN: top-3");
  assert.equal(layout(figure).yaxis.autorange, "reversed", "rank 1 at the top");
  assert.deepEqual(layout(figure).xaxis.range, [0, 1]);
  assert.deepEqual(layout(figure).xaxis.domain, [0, 1], "no picture: bars take the width");
  assert.deepEqual(layout(figure).images, []);
  assert.equal(layout(figure).annotations[0].text, "cat.jpg");
});

Deno.test("topKChart: several images stack as panels, each with its picture", () => {
  const pixels = new Uint8Array(32 * 32 * 3).fill(128);
  const panels = [
    { title: "test image 0 (true: bear)", top: top3, pixels },
    { title: "test image 1 (true: apple)", top: top3.slice(0, 2), pixels },
  ];
  const figure = topKFigure(panels, "CNN on test images");
  assert.deepEqual(traces(figure).map((t) => [t.xaxis, t.yaxis, t.x.length]), [
    ["x", "y", 3],
    ["x2", "y2", 2],
  ]);
  const { yaxis, yaxis2, xaxis2, images, annotations } = layout(figure);
  assert.ok(yaxis2.domain[1] < yaxis.domain[0], "the second panel is below the first");
  assert.equal(xaxis2.anchor, "y2");
  assert.ok(xaxis2.domain[1] < 0.8, "room for the pictures on the right");
  assert.equal(images.length, 2);
  assert.match(images[0].source, /^data:image\/png;base64,/);
  assert.equal(images[1].y, yaxis2.domain[1], "each picture beside its panel");
  assert.deepEqual(annotations.map((a: { text: string }) => a.text), panels.map((p) => p.title));
  const run = record("cnn");
  assert.ok(html(topKChart(panels, "t", { ...run, synthetic: true })).includes(SYNTHETIC_NOTE));
  assert.ok(!html(topKChart(panels, "t", run)).includes(SYNTHETIC_NOTE));
  const unverified = topKChart(panels, "t", other("unverified"));
  assert.match(html(unverified), /extracted folder, not verified against the official archive/);
  assert.ok(!html(topKChart(panels, "t", run)).includes(`class="${CAVEAT_CLASS}"`));
});
