/**
 * The web page's script: lib/web/page/main.ts and all it imports bundled into one ES module with
 * esbuild. Two Deno-only modules of lib/engine/ are swapped for browser stand-ins; any other
 * import of `node:` or tfjs-node fails the bundle, so Deno-only code cannot slip into the page.
 *
 * @module
 */
import { basename, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";
import { PROJECT_ROOT } from "../util/paths.ts";
import { UserError } from "../util/user_error.ts";

const PAGE = fileURLToPath(new URL("./page/", import.meta.url));
const ENGINE = join(PROJECT_ROOT, "lib", "engine") + "/";

/** lib/engine modules replaced in the page, by file name, with their stand-ins. */
const STAND_INS: Record<string, string> = {
  "backend.ts": join(PAGE, "browser_tf.ts"),
  "native_ops.ts": join(PAGE, "no_native_ops.ts"),
};

/** The esbuild plugin that swaps the stand-ins in and refuses Deno-only imports. */
const browserOnly: esbuild.Plugin = {
  name: "browser-only",
  setup(build) {
    build.onResolve({ filter: /(^|\/)(backend|native_ops)\.ts$/ }, (args) => {
      const file = resolve(args.resolveDir, args.path);
      return file.startsWith(ENGINE) ? { path: STAND_INS[basename(file)] } : undefined;
    });
    build.onResolve({ filter: /^(node:|@tensorflow\/tfjs-node)/ }, (args) => ({
      errors: [{
        text: `${args.path} (imported by ${relative(PROJECT_ROOT, args.importer)}) ` +
          "is Deno-only; the page cannot bundle it",
      }],
    }));
  },
};

/** Bundle the page's script into a minified ES module (a UserError names esbuild's first error). */
export async function bundlePageScript(): Promise<string> {
  try {
    const result = await esbuild.build({
      entryPoints: [join(PAGE, "main.ts")],
      absWorkingDir: PROJECT_ROOT,
      bundle: true,
      write: false,
      format: "esm",
      platform: "browser",
      target: "es2022",
      minify: true,
      legalComments: "eof",
      logLevel: "silent",
      plugins: [browserOnly],
    });
    return result.outputFiles[0].text;
  } catch (e) {
    const first = (e as { errors?: esbuild.Message[] }).errors?.[0];
    if (!first) throw e;
    const where = first.location ? ` (${first.location.file}:${first.location.line})` : "";
    throw new UserError(`cannot bundle the web page: ${first.text}${where}`);
  } finally {
    await esbuild.stop();
  }
}
