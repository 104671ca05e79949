/**
 * Times the insight views (notebook 07) on saved run folders, for `deno task bench:insight`.
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
import { testPixels } from "../inference/classify.ts";

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
