import assert from "node:assert/strict";
import { basename, join } from "node:path";
import { launchChromium } from "./chromium.ts";
import { ensureSmokeBuild } from "./smoke_build.ts";
import { smokeNotebookEnv } from "./smoke_images.ts";
import { PLOT_CLASS } from "../lib/report/display.ts";

const SCREENSHOTS = "build/screenshots";

Deno.test({
  name: "HTML exports render every plotly chart in headless Chromium",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const executed = await ensureSmokeBuild(await smokeNotebookEnv());
    await Deno.mkdir(SCREENSHOTS, { recursive: true });
    const profile = await Deno.makeTempDir({ prefix: "chromium-profile-" });
    const browser = await launchChromium(profile);
    try {
      for (const ipynb of executed) {
        const name = basename(ipynb, ".ipynb");
        const page = await browser.newPage();
        const errors: string[] = [];
        page.on("pageerror", (e) => errors.push(e.message));
        await page.goto(`file://${Deno.realPathSync(ipynb.replace(/\.ipynb$/, ".html"))}`, {
          waitUntil: "domcontentloaded",
        });
        const charts = await page.locator(`.${PLOT_CLASS}`).count();
        // A string expression: it runs in the page, where `document` exists.
        await page.waitForFunction(
          `[...document.querySelectorAll(".${PLOT_CLASS}")].every((el) => el.querySelector(".main-svg"))`,
          undefined,
          { timeout: 60_000 },
        );
        const rendered = await page.locator(`.${PLOT_CLASS}:has(.main-svg)`).count();
        assert.equal(rendered, charts, `${name}: ${rendered} of ${charts} charts rendered`);
        const bars = await page.locator(`.${PLOT_CLASS} .main-svg .point, .${PLOT_CLASS} .trace`)
          .count();
        if (charts > 0) assert.ok(bars > 0, `${name}: charts have no drawn traces`);
        assert.deepEqual(errors.filter((e) => /plotly|newPlot/i.test(e)), [], name);
        await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
        await page.close();
      }
    } finally {
      await browser.close();
      await Deno.remove(profile, { recursive: true });
    }
  },
});
