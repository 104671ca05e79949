/**
 * `deno task bench`: training throughput of the MLP and the CNN, and VGG16 feature extraction,
 * on the active engine, optionally side by side with Keras and PyTorch on the same machine.
 *
 * Every engine gets the same images (synthetic, written in the CIFAR-100 binary layout for the
 * Python scripts), batch 128, one warm-up epoch then one timed epoch without validation: the
 * images/s of the timed epoch. VGG16 is the frozen base's forward pass at 32 px (random
 * weights): our feature extraction against Keras training the head through the frozen base.
 * The Python references run in virtual environments created once under `<cache>/bench/`, each
 * right after ours; the JSON line (stdout) has every figure and the ratios of ours to theirs
 * (medians), since absolute times drift on shared machines. The measuring is
 * lib/bench/side_by_side.ts; this file is the command line.
 *
 * The usage: `deno task bench --help`; every flag, the output and the exit status: docs/cli.md.
 *
 * @module
 */
import type { BenchModel } from "../bench/throughput.ts";
import { parseCommandLine, runCommand, UserError } from "../util/errors.ts";

/** `deno task bench --help`. */
export const USAGE =
  `usage: deno task bench [--images N] [--models mlp,cnn,vgg16] [--keras] [--torch] [--workers N]
  [--repeat R]
  --images N: synthetic training images per timed epoch, >= 512 (default 8192)
  --models: the models to time, comma-separated (default mlp,cnn,vgg16)
  --keras, --torch: also time the Python references (Keras; PyTorch) on the same images
  --workers N: our threads (default 1 on tensorflow, every core on the others)
  --repeat R: runs of each engine per model; the ratios are medians (default 1)`;

/** Run the command line; returns the exit code. */
export function main(args: string[]): Promise<number> {
  const log = (line: string) => console.error(line);
  return runCommand(async () => {
    const { values } = parseCommandLine(args, {
      usage: USAGE,
      options: {
        images: { type: "string", default: "8192" },
        models: { type: "string", default: "mlp,cnn,vgg16" },
        keras: { type: "boolean", default: false },
        torch: { type: "boolean", default: false },
        workers: { type: "string" },
        repeat: { type: "string", default: "1" },
      },
    });
    const images = Number(values.images);
    if (!Number.isInteger(images) || images < 512) {
      throw new UserError(`--images must be a whole number >= 512, got '${values.images}'`);
    }
    const repeat = Number(values.repeat);
    if (!Number.isInteger(repeat) || repeat < 1) {
      throw new UserError(`--repeat must be a whole number >= 1, got '${values.repeat}'`);
    }
    // Loaded after the flags are read, so that --help and bad flags never load tfjs.
    const { BENCH_MODELS } = await import("../bench/throughput.ts");
    const { sideBySide } = await import("../bench/side_by_side.ts");
    const { initBackend } = await import("../engine/backend.ts");
    const { defaultWorkers } = await import("../train/parallel.ts");
    const models = values.models.split(",") as BenchModel[];
    for (const m of models) {
      if (!BENCH_MODELS.includes(m)) {
        throw new UserError(`--models: unknown model '${m}'; use ${BENCH_MODELS.join(", ")}`);
      }
    }
    const backend = await initBackend();
    const threads = values.workers === undefined
      ? defaultWorkers(backend.name)
      : Number(values.workers);
    if (!Number.isInteger(threads) || threads < 1) {
      throw new UserError(`--workers must be a whole number >= 1, got '${values.workers}'`);
    }
    const result = await sideBySide({
      models,
      images,
      repeat,
      threads,
      keras: values.keras,
      torch: values.torch,
      log,
    });
    console.log(JSON.stringify(result));
    return 0;
  });
}

if (import.meta.main) Deno.exit(await main(Deno.args));
