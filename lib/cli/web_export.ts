/**
 * `deno task web:export`: the web page for a saved model as a static folder that works from any
 * static file server, offline.
 * The usage: `deno task web:export --help`; every flag, the output and the exit status: docs/cli.md.
 *
 * @module
 */
import { parseCommandLine, runCommand, UsageError } from "../util/errors.ts";

/** `deno task web:export --help`. */
export const USAGE = `usage: deno task web:export --run DIR --out SITE [IMAGE...]
  DIR: a run folder saved by \`deno task train\` or a notebook (runs/<model>)
  SITE: the folder to write (new, empty, or an earlier export, which is replaced)
  IMAGE: files copied into SITE/images/, for SITE's page?image=images/NAME`;

function main(args: string[]): Promise<number> {
  return runCommand(async () => {
    const { values: v, positionals: images } = parseCommandLine(args, {
      usage: USAGE,
      positionals: true,
      options: { run: { type: "string" }, out: { type: "string" } },
    });
    if (!v.run) throw new UsageError("--run DIR is required", USAGE);
    if (!v.out) throw new UsageError("--out SITE is required", USAGE);
    const { run, out } = v;
    // Loaded after the flags are read, so that --help and bad flags never load tfjs.
    const { initBackend } = await import("../engine/backend.ts");
    const { exportSite } = await import("../web/export.ts");
    await initBackend();
    const site = await exportSite({ run, out, images, log: (line) => console.error(line) });
    if (site.samplesNote) console.error(`No test images: ${site.samplesNote}.`);
    console.error(
      `Wrote ${out} (${site.model}, ${site.samples.length} test images). Serve it with\n` +
        `  python3 -m http.server -d ${out} -b 127.0.0.1 8000\nand open http://127.0.0.1:8000/`,
    );
    console.log(JSON.stringify({
      out,
      model: site.model,
      samples: site.samples.length,
      images: site.images,
    }));
    return 0;
  });
}

if (import.meta.main) Deno.exit(await main(Deno.args));
