/**
 * Times the insight views (notebook 07, lib/report/insight.ts) on saved run folders, for
 * `deno task bench:insight` (lib/cli/insight_bench.ts). For each run: Grad-CAM (or saliency) of 32 test images, the reliability diagram, temperature
 * fitting (not saved), the PCA and UMAP maps of the first N test images (default 2,000) and the
 * class-accuracy views, one line of seconds each. docs/insight.md lists what it measured.
 *
 * @module
 */
import { whereItLooks } from "../inference/gradcam.ts";
import {
  calibrationView,
  classAccuracyBars,
  confusedGallery,
  embeddingView,
  extremeClassesTable,
  type InsightRun,
  reliabilityView,
} from "../report/insight.ts";
import { testPixels } from "../report/charts.ts";

/** Seconds each view of one run took. */
export async function timeViews(run: InsightRun, images: number): Promise<Record<string, number>> {
  const seconds: Record<string, number> = {};
  const time = async (name: string, view: () => unknown) => {
    const started = performance.now();
    await view();
    seconds[name] = Math.round((performance.now() - started) / 10) / 100;
  };
  const first32 = Array.from({ length: Math.min(32, run.data.test.count) }, (_, i) => i);
  await time("grad-cam 32", () => whereItLooks(run.classifier, testPixels(run.data, first32)));
  await time("reliability", () => reliabilityView([run.record]));
  await time("calibration", () => calibrationView([run], false));
  await time(`pca ${images}`, () => embeddingView([run], { images }));
  await time(`umap ${images}`, () => embeddingView([run], { images, method: "umap" }));
  await time("classes", () => {
    classAccuracyBars(run.record);
    extremeClassesTable(run.record);
    confusedGallery(run);
  });
  return seconds;
}
