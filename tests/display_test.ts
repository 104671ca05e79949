import assert from "node:assert/strict";
import * as aq from "arquero";
import { decode } from "fast-png";
import {
  curves,
  type Displayable,
  imageGrid,
  JUPYTER_DISPLAY,
  type JupyterBroadcaster,
  liveTraining,
  plot,
  PLOT_CLASS,
  PLOTLY_BUNDLE_MARKER,
  PLOTLY_TRACE_TYPES,
  resetPlotlyEmbedding,
  SYNTHETIC_NOTE,
  table,
  TABLE_SCROLL_CLASS,
} from "../lib/report/display.ts";

const bundle = (d: Displayable) => d[JUPYTER_DISPLAY]();
const count = (text: string, needle: string) => text.split(needle).length - 1;

/** The JSON spec each chart's script passes to Plotly.newPlot. */
function specs(html: string): { data: { name?: string; y: number[] }[]; layout: unknown }[] {
  return [...html.matchAll(/var spec = (.*);\n/g)].map((m) => JSON.parse(m[1]));
}

Deno.test("plot embeds plotly.js once, later charts wait for it", () => {
  resetPlotlyEmbedding();
  const figure = { data: [{ type: "bar", x: ["a"], y: [1] }], layout: { title: "t" } };
  const first = bundle(plot(figure))["text/html"];
  const second = bundle(plot(figure))["text/html"];
  assert.equal(count(first, PLOTLY_BUNDLE_MARKER), 1);
  // The cartesian partial build of plotly.js: about 1.5 MB (the full bundle is 4.8 MB).
  assert.ok(first.length > 1_000_000, "first chart carries the minified bundle");
  assert.ok(first.length < 2_000_000, "and it is the partial build, not the full bundle");
  assert.equal(count(second, PLOTLY_BUNDLE_MARKER), 0);
  assert.ok(second.length < 5_000);
  assert.match(second, /cifar-plotly-ready/);
  assert.equal(count(second, `class="${PLOT_CLASS}"`), 1);
  assert.doesNotMatch(second, /https?:\/\/cdn/);
  resetPlotlyEmbedding();
  assert.equal(count(bundle(plot(figure))["text/html"], PLOTLY_BUNDLE_MARKER), 1);
});

Deno.test("the inlined plotly.js draws the notebooks' trace types; plot rejects the others", () => {
  for (const type of ["bar", "scatter", "heatmap"]) assert.ok(PLOTLY_TRACE_TYPES.includes(type));
  resetPlotlyEmbedding();
  assert.throws(
    () => plot({ data: [{ type: "bar", y: [1] }, { type: "scatter3d", z: [1] }] }),
    /plotly trace type 'scatter3d' is not in the inlined plotly.js build; use one of .*heatmap/,
  );
  const first = bundle(plot({ data: [{ y: [1] }] }))["text/html"]; // no type: plotly's scatter
  assert.equal(
    count(first, PLOTLY_BUNDLE_MARKER),
    1,
    "a rejected chart does not use up the bundle",
  );
});

Deno.test("table puts the table in a box that scrolls sideways", () => {
  const html = bundle(table([{ a: 1 }], { caption: "c" }))["text/html"];
  assert.match(
    html,
    new RegExp(`c</div><div class="${TABLE_SCROLL_CLASS}" style="overflow-x:auto[^"]*"><table>`),
  );
});

Deno.test("plot labels synthetic data in the banner, the title and the text fallback", () => {
  const out = bundle(
    plot({ data: [], layout: { title: { text: "Counts" } } }, { synthetic: true }),
  );
  assert.match(out["text/html"], new RegExp(`class="cifar-synthetic"[^>]*>⚠ ${SYNTHETIC_NOTE}`));
  const layout = specs(out["text/html"])[0].layout as { title: { text: string } };
  assert.equal(layout.title.text, `Counts<br><sub>${SYNTHETIC_NOTE}</sub>`);
  assert.match(out["text/plain"], /SYNTHETIC DATA/);
  const real = bundle(plot({ data: [], layout: { title: "Counts" } }));
  assert.doesNotMatch(real["text/html"], /SYNTHETIC/);
});

Deno.test("plot keeps </script> in data from closing the script", () => {
  const html =
    bundle(plot({ data: [{ type: "bar", name: "</script><b>x", y: [1] }] }))["text/html"];
  assert.equal(specs(html)[0].data[0].name, "</script><b>x");
  assert.doesNotMatch(html.slice(html.lastIndexOf("var spec")), /<\/script><b>/);
});

Deno.test("curves: Train plots the training metrics, Test the validation metrics", () => {
  const history = {
    loss: [3, 2],
    accuracy: [0.1, 0.2],
    val_loss: [3.5, 2.5],
    val_accuracy: [0.05, 0.15],
  };
  const out = bundle(curves(history, { title: "MLP" }));
  const [accuracy, loss] = specs(out["text/html"]);
  assert.deepEqual(accuracy.data.map((t) => [t.name, t.y]), [
    ["Train", [0.1, 0.2]],
    ["Test", [0.05, 0.15]],
  ]);
  assert.deepEqual(loss.data.map((t) => [t.name, t.y]), [["Train", [3, 2]], ["Test", [3.5, 2.5]]]);
  assert.match(out["text/plain"], /Train loss 2\.0000 accuracy 0\.2000, Test loss 2\.5000/);
});

Deno.test("table renders arquero tables and row arrays, with caption and note", () => {
  const rows = [{ name: "apple", count: 500 }, { name: "<b>", count: 7 }];
  const fromRows = bundle(table(rows, { caption: "Counts", synthetic: true }));
  assert.match(fromRows["text/html"], /<table>.*apple.*500/s);
  assert.match(fromRows["text/html"], /&lt;b&gt;/);
  assert.match(fromRows["text/html"], /Counts/);
  assert.match(fromRows["text/plain"], /SYNTHETIC DATA[\s\S]*\|apple\|500\|/);
  const fromTable = bundle(table(aq.from(rows)));
  assert.match(fromTable["text/html"], /apple/);
  assert.doesNotMatch(fromTable["text/html"], /SYNTHETIC/);
  const long = bundle(
    table(aq.table({ i: Array.from({ length: 30 }, (_, i) => i) }), { limit: 5 }),
  );
  assert.match(long["text/plain"], /first 5 of 30 rows/);
});

Deno.test("imageGrid encodes each image as a PNG with its caption", () => {
  const images = new Uint8Array(2 * 32 * 32 * 3);
  for (let i = 0; i < images.length; i++) images[i] = (i * 7) % 256;
  const out = bundle(imageGrid(images, ["apple\nfruit", "bee"], { columns: 2 }));
  const uris = [...out["text/html"].matchAll(/data:image\/png;base64,([^"]+)/g)].map((m) => m[1]);
  assert.equal(uris.length, 2);
  const second = decode(Uint8Array.from(atob(uris[1]), (c) => c.charCodeAt(0)));
  assert.equal(second.width, 32);
  assert.equal(second.channels, 3);
  assert.deepEqual([...second.data], [...images.subarray(3072, 6144)]);
  assert.match(out["text/html"], /apple<br>fruit/);
  assert.match(out["text/html"], /width="96"/);
  assert.equal(out["image/png"], undefined);
  const single = bundle(imageGrid(images, ["one"]));
  assert.equal(single["image/png"], uris[0]);
  assert.throws(() => imageGrid(images, ["a", "b", "c"]), /3 captions but only 2 images/);
});

Deno.test("imageGrid draws square images of any side, 8 across within a notebook's width", () => {
  const drawn = (side: number) => {
    const images = Uint8Array.from({ length: side * side * 3 }, (_, i) => i % 251);
    const out = bundle(imageGrid(images, ["photo"], { side }));
    const [, b64] = out["text/html"].match(/data:image\/png;base64,([^"]+)/)!;
    const png = decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)));
    assert.deepEqual([png.width, png.height], [side, side]);
    assert.deepEqual([...png.data], [...images], `${side} px: the pixels as given`);
    assert.match(out["text/plain"], new RegExp(`^1 images \\(${side}x${side}\\): photo`));
    const width = Number(out["text/html"].match(/width="(\d+)"/)![1]);
    return { width, crisp: out["text/html"].includes("image-rendering:pixelated") };
  };
  // CIFAR's 32 px as before; larger ones about as wide, smoothed unless enlarged by a whole factor.
  assert.deepEqual(drawn(32), { width: 96, crisp: true });
  assert.deepEqual(drawn(48), { width: 96, crisp: true });
  assert.deepEqual(drawn(64), { width: 96, crisp: false });
  assert.deepEqual(drawn(96), { width: 96, crisp: true });
  assert.deepEqual(drawn(224), { width: 112, crisp: false });
  const two = new Uint8Array(2 * 64 * 64 * 3);
  assert.throws(() => imageGrid(two, ["a", "b", "c"], { side: 64 }), /only 2 images of 64x64x3/);
});

Deno.test("liveTraining shows one display and updates it in place, throttled", async () => {
  const sent: { type: string; content: Record<string, unknown> }[] = [];
  const jupyter: JupyterBroadcaster = {
    broadcast: (type, content) => (sent.push({ type, content }), Promise.resolve()),
  };
  const live = liveTraining({ jupyter, intervalMs: 50 });
  live.onProgress(1, 10, { loss: "4.6" });
  for (let i = 2; i <= 10; i++) live.onProgress(i, 10, { loss: "4.5" });
  assert.equal(sent.length, 1, "updates within the interval are held back");
  await new Promise((r) => setTimeout(r, 80));
  assert.equal(sent.length, 2, "the held-back update is sent after the interval");
  live.log("Epoch 1/2 - loss: 4.5");
  live.done();
  live.done();
  assert.equal(sent[0].type, "display_data");
  assert.ok(sent.slice(1).every((m) => m.type === "update_display_data"));
  const ids = new Set(sent.map((m) => (m.content.transient as { display_id: string }).display_id));
  assert.equal(ids.size, 1);
  const last = sent.at(-1)!.content.data as Record<string, string>;
  assert.match(last["text/html"], /Epoch 1\/2 - loss: 4\.5/);
  assert.doesNotMatch(last["text/html"], /<progress/, "the finished display drops the bar");
  assert.match((sent[1].content.data as Record<string, string>)["text/html"], /10\/10/);
  const count = sent.length;
  live.onProgress(1, 1, {});
  await new Promise((r) => setTimeout(r, 80));
  assert.equal(sent.length, count, "nothing is sent after done()");
});

Deno.test("liveTraining outside the kernel prints log lines and ignores progress", () => {
  const logged: unknown[] = [];
  const original = console.log;
  console.log = (...args: unknown[]) => logged.push(args.join(" "));
  try {
    const live = liveTraining();
    live.onProgress(1, 2, { loss: 1 });
    live.log("Epoch 1/1");
    live.done();
  } finally {
    console.log = original;
  }
  assert.deepEqual(logged, ["Epoch 1/1"]);
});
