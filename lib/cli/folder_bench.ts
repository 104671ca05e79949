/**
 * `deno task bench:folder`: the cold and the cached load of a folder of images, and peak memory.
 * The usage: `deno task bench:folder --help`; every flag, the output and the exit status:
 * docs/cli.md.
 *
 * @module
 */
import { parseCommandLine, positiveInt, runCommand, UsageError } from "../util/errors.ts";
import { createProgress, type Progress } from "../util/progress.ts";

/** `deno task bench:folder --help`. */
export const USAGE = `usage: deno task bench:folder [--make N] [--input-size N] DIR
  DIR: a folder of images, one sub-folder per class
  --make N: first write N photo-sized JPEGs (500x375, 10 classes) into DIR, which must not exist
  --input-size N: the side every image is brought to (default 32)`;

function main(args: string[]): Promise<number> {
  return runCommand(async () => {
    const { values, positionals } = parseCommandLine(args, {
      usage: USAGE,
      options: { make: { type: "string" }, "input-size": { type: "string" } },
      positionals: true,
    });
    if (positionals.length !== 1) throw new UsageError("give one DIR", USAGE);
    const [dir] = positionals;
    const make = positiveInt("--make", values.make);
    const imageSize = positiveInt("--input-size", values["input-size"]) ?? 32;
    const { makePhotoFolder, timeFolderLoads } = await import("../bench/image_folder.ts");
    if (make !== undefined) {
      await Deno.mkdir(dir); // fails on an existing folder: never mixed into one
      const progress = createProgress({ total: make, label: "Writing JPEGs" });
      await makePhotoFolder(dir, make, 10, (done) => progress.update(done));
      progress.stop();
    }
    const cacheDir = await Deno.makeTempDir({ prefix: "folder_bench_cache_" });
    try {
      let progress: Progress | undefined;
      const times = await timeFolderLoads(dir, imageSize, cacheDir, (done, total) => {
        progress ??= createProgress({ total, label: "First load (decoding)" });
        progress.update(done);
      });
      progress?.stop();
      console.log(JSON.stringify({
        dir,
        input_size: imageSize,
        images: times.images,
        skipped: times.skipped,
        first_load_s: Number(times.firstSeconds.toFixed(2)),
        second_load_s: Number(times.secondSeconds.toFixed(2)),
        peak_rss_mib: times.peakRssMiB === undefined ? null : Math.round(times.peakRssMiB),
        cores: navigator.hardwareConcurrency,
      }));
    } finally {
      await Deno.remove(cacheDir, { recursive: true });
    }
    return 0;
  });
}

if (import.meta.main) Deno.exit(await main(Deno.args));
