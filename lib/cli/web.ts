/**
 * `deno task web`: export the web page for a saved model and serve it on this machine until
 * Ctrl-C, e.g. `deno task web --run runs/cnn`, then open http://127.0.0.1:8000/.
 * The usage: `deno task web --help`; every flag, the output and the exit status: docs/cli.md.
 *
 * @module
 */
import {
  parseCommandLine,
  runCommand,
  UsageError,
  UserError,
  wholeNumber,
} from "../util/errors.ts";

/** `deno task web --help`. */
export const USAGE =
  `usage: deno task web --run DIR [--port N] [--host HOST] [--out SITE] [IMAGE...]
  DIR: a run folder saved by \`deno task train\` or a notebook (runs/<model>)
  --port: default 8000; 0 picks a free one
  --host: default 127.0.0.1 (this machine only); another address lets others on it connect
  SITE: where the served site is written (default: a temporary folder, removed on exit)
  IMAGE: files copied into the site's images/, for page?image=images/NAME`;

const LOCAL_HOSTS = ["127.0.0.1", "localhost", "::1"];

function main(args: string[]): Promise<number> {
  return runCommand(async () => {
    const { values: v, positionals: images } = parseCommandLine(args, {
      usage: USAGE,
      positionals: true,
      options: {
        run: { type: "string" },
        port: { type: "string" },
        host: { type: "string" },
        out: { type: "string" },
      },
    });
    if (!v.run) throw new UsageError("--run DIR is required", USAGE);
    const { run, out } = v;
    const port = wholeNumber("--port", v.port) ?? 8000;
    if (port > 65535) throw new UserError(`--port must be 0..65535, got ${port}`);
    const host = v.host ?? "127.0.0.1";
    // Loaded after the flags are read, so that --help and bad flags never load tfjs.
    const { initBackend } = await import("../engine/backend.ts");
    const { exportSite } = await import("../web/export.ts");
    const { serveFolder } = await import("../web/server.ts");
    await initBackend();
    const site = out ?? await Deno.makeTempDir({ prefix: "cifar100-web-" });
    const exported = await exportSite({ run, out: site, images, log: (l) => console.error(l) });
    if (!LOCAL_HOSTS.includes(host)) {
      console.error(
        `warning: serving on ${host}: anyone who can reach this machine there can load the ` +
          `model and the images in ${site}`,
      );
    }
    const stop = new AbortController();
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      Deno.addSignalListener(signal, () => stop.abort());
    }
    let server: Deno.HttpServer;
    try {
      server = await serveFolder({
        root: site,
        hostname: host,
        port,
        signal: stop.signal,
        onListen: (url) => {
          console.error(`Serving the ${exported.model} page at ${url} (Ctrl-C stops)`);
          console.log(JSON.stringify({ url, site, model: exported.model }));
        },
      });
    } catch (e) {
      throw new UserError(`cannot listen on ${host}:${port} (${(e as Error).message})`);
    }
    await server.finished;
    if (!out) await Deno.remove(site, { recursive: true });
    return 0;
  });
}

if (import.meta.main) Deno.exit(await main(Deno.args));
