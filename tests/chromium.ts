/** Headless Chromium for the rendering tests (tests/browser_test.ts, tests/jupyterlab_test.ts). */
import { type BrowserContext, chromium } from "playwright-core";

/** The browser: env CHROMIUM (e.g. Google Chrome where apt's chromium is a snap stub), else Debian's. */
export const CHROMIUM = Deno.env.get("CHROMIUM") ?? "/usr/bin/chromium";

/**
 * Start headless Chromium with its profile in `profileDir`, offline and quiet, in a 1280x900
 * window. `showScrollbars` keeps scrollbars in screenshots (to see which tables scroll).
 */
export function launchChromium(
  profileDir: string,
  options: { showScrollbars?: boolean } = {},
): Promise<BrowserContext> {
  return chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    ignoreDefaultArgs: options.showScrollbars ? ["--hide-scrollbars"] : undefined,
    viewport: { width: 1280, height: 900 },
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--no-first-run",
      "--disable-sync",
    ],
  });
}
