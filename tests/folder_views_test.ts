/**
 * The views of a run trained on a folder of your own images, which has no superclasses: the
 * confusion chart over its classes, the best and worst classes without a superclass column or
 * marks, the embedding coloured by class, no CIFAR-100 caveat, calibration on its held-out
 * images (fitted on half, measured on the other half), the insight views of a run whose images
 * are not 32x32 at their size, and notebook 07 executed on the run (INSIGHT_RUN).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { tf } from "../lib/engine/backend.ts";
import { calibrate } from "../lib/inference/calibration.ts";
import { dataCaveat } from "../lib/report/analysis.ts";
import { confusionHeatmapFigure } from "../lib/report/charts.ts";
import { extremeClasses } from "../lib/report/class_accuracy.ts";
import { JUPYTER_DISPLAY } from "../lib/report/display.ts";
import {
  confusedGallery,
  embeddingView,
  loadInsightRun,
  whereItLooksView,
} from "../lib/report/insight.ts";
import { executeNotebooks } from "../lib/notebooks/execute.ts";
import { makeImageFolder } from "./image_folder_fixture.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const tmp = await Deno.makeTempDir({ prefix: "folder_views_test_" });
globalThis.addEventListener("unload", () => Deno.removeSync(tmp, { recursive: true }));
const folder = join(tmp, "flowers");
await makeImageFolder(folder);

/** `deno task train` a CNN on the folder; returns its run folder. */
async function train(name: string, ...more: string[]): Promise<string> {
  const out = join(tmp, name);
  const args = [
    "task",
    "train",
    "--model",
    "cnn",
    "--data",
    folder,
    "--epochs",
    "3",
    "--seed",
    "1",
  ];
  const run = await new Deno.Command(Deno.execPath(), {
    args: [...args, "--out", out, ...more],
    cwd: ROOT,
  }).output();
  assert.equal(run.code, 0, new TextDecoder().decode(run.stderr));
  return join(out, "cnn");
}

const dir = await train("runs");

Deno.test("a folder run's views use its class names and no superclasses", async () => {
  const run = await loadInsightRun(dir);
  const { record } = run;
  assert.equal(record.coarse_label_names.length, 0);
  const names = record.fine_label_names;
  assert.equal(run.data.test.count, record.test_images);

  const figure = confusionHeatmapFigure(record);
  const [heatmap] = figure.data as { x: string[]; customdata: number[][] }[];
  assert.deepEqual(heatmap.x, names);
  assert.equal(heatmap.customdata.flat().reduce((a, b) => a + b, 0), record.test_images);
  assert.match(JSON.stringify(figure.layout), /CNN: class confusion/);

  const rows = extremeClasses(record, 3);
  assert.ok(rows.every((row) => !("superclass" in row) && !row.taken_for.includes("*")));
  assert.ok(rows.some((row) => row.taken_for !== ""), "some worst class is taken for another");
  assert.equal(dataCaveat(record), undefined);

  const embedding = embeddingView([run])[JUPYTER_DISPLAY]()["text/html"] ?? "";
  const traces = [...embedding.matchAll(/"name":"([^"]+)"/g)].map((m) => m[1]);
  assert.ok(traces.length > 0 && traces.every((t) => names.includes(t)), traces.join(", "));
  assert.match(confusedGallery(run)[JUPYTER_DISPLAY]()["text/plain"] ?? "", /worst classes/);
  run.classifier.model.dispose();
});

Deno.test("calibration of a folder run fits on half its held-out images, measures the rest", async () => {
  const run = await loadInsightRun(dir);
  const before = tf.memory().numTensors;
  const calibration = await calibrate(run.classifier, run.data.test.images);
  assert.equal(tf.memory().numTensors, before);
  assert.equal(calibration.images, Math.ceil(run.record.test_images / 2));
  assert.match(calibration.fitted_on, /even-numbered held-out images/);
  assert.equal(calibration.measured_on, "the odd-numbered held-out images");
  assert.ok(calibration.temperature > 0 && Number.isFinite(calibration.ece_after));
  run.classifier.model.dispose();
});

Deno.test("insight shows a folder run not at 32x32 at its own size", async () => {
  const wide = await loadInsightRun(await train("runs48", "--input-size", "48"));
  assert.equal(wide.data.imageSize, 48);
  const looks = whereItLooksView([wide], 2)[JUPYTER_DISPLAY]();
  assert.match(looks["text/plain"], /held-out images it got \w+ \(48x48;/);
  assert.match(looks["text/plain"], /^\d+ images \(48x48\): true: /m);
  wide.classifier.model.dispose();
});

Deno.test({
  name: "notebook 07 executes on a folder run and says it has no superclasses",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const outDir = join(tmp, "notebooks");
    const [executed] = await executeNotebooks({
      notebooks: [join(ROOT, "notebooks", "07_insight.ipynb")],
      outDir,
      profile: "smoke",
      env: { INSIGHT_RUN: dir },
      log: () => {},
    });
    const { cells } = JSON.parse(await Deno.readTextFile(executed));
    const outputs = cells.flatMap((c: { outputs?: { output_type: string }[] }) => c.outputs ?? []);
    assert.deepEqual(outputs.filter((o: { output_type: string }) => o.output_type === "error"), []);
    const text = JSON.stringify(outputs);
    assert.match(text, /Its classes have no superclasses \(a folder of your own images\)/);
    assert.match(text, /CNN: class confusion|the 10 best and 10 worst classes\W/);
    assert.doesNotMatch(text, /same superclass|CIFAR-100 from an extracted folder/);
  },
});
