/** Headless Chromium for the rendering tests (the browser, JupyterLab and web page tests). */
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

/** A static site served by Python's plain `http.server`, and a headless Chromium to open it. */
export interface OpenSite {
  /** The site's address, e.g. `http://127.0.0.1:8000/`. */
  base: string;
  browser: BrowserContext;
  /** Close the browser, stop the server and remove the browser's profile. */
  close(): Promise<void>;
}

/** Serve `site` on a free port of 127.0.0.1 (as docs/web.md says to) and start Chromium. */
export async function openSite(site: string): Promise<OpenSite> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  const python = new Deno.Command("python3", {
    args: ["-m", "http.server", "-b", "127.0.0.1", "-d", site, String(port)],
    stdout: "null",
    stderr: "null",
  }).spawn();
  const base = `http://127.0.0.1:${port}/`;
  const profile = await Deno.makeTempDir({ prefix: "chromium-profile-" });
  const browser = await launchChromium(profile);
  // Wait up to 10 s for the server to answer: on a loaded machine Python starts slowly.
  const answers = async () => {
    try {
      await (await fetch(base)).body?.cancel();
      return true;
    } catch {
      return false;
    }
  };
  for (let i = 0; i < 100 && !(await answers()); i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    base,
    browser,
    async close() {
      await browser.close();
      python.kill();
      await python.status;
      await Deno.remove(profile, { recursive: true });
    },
  };
}
