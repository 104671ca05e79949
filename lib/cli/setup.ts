/**
 * `deno task setup`: install the npm packages and set up the native engine; idempotent.
 * The usage: `deno task setup --help`; every flag, the output and the exit status: docs/cli.md.
 *
 * @module
 */
import { setupNative } from "../engine/install/native.ts";
import { cacheRoot } from "../util/cache.ts";
import { parseCommandLine, runCommand } from "../util/errors.ts";

/** `deno task setup --help`. */
export const USAGE = `usage: deno task setup [--no-installer]
  installs the npm packages and the native engine (tfjs-node on libtensorflow); quick once done
  --no-installer: skip tfjs-node's own installer (it downloads from Google's storage) and build
    the binding here, against the tensorflow-cpu wheel from pip`;

function main(args: string[]): Promise<number> {
  return runCommand(async () => {
    const { values } = parseCommandLine(args, {
      usage: USAGE,
      options: { "no-installer": { type: "boolean", default: false } },
    });
    const status = await setupNative({
      cacheDir: cacheRoot(),
      skipInstaller: values["no-installer"],
    });
    console.error(
      `Native engine ready: tfjs-node ${status.tfjsNode} on libtensorflow ${status.tensorflow} ` +
        `(${status.via}, ${status.seconds}s)`,
    );
    if (!status.fusedConv) {
      console.error(
        "Convolutions run unfused on this binding (it cannot pass list attributes): " +
          "deno task setup --no-installer builds one that fuses conv + bias + ReLU",
      );
    }
    console.log(JSON.stringify(status));
    return 0;
  });
}

if (import.meta.main) Deno.exit(await main(Deno.args));
