/**
 * `deno task bench`: training throughput on the active engine, optionally side by side with Keras
 * and PyTorch on the same machine, or ResNet-9's accuracy at equal epochs (`--accuracy`). The
 * measuring is lib/bench/side_by_side.ts and lib/bench/accuracy.ts; this file is the command line.
 *
 * The usage: `deno task bench --help`; every flag, the output and the exit status: docs/cli.md.
 *
 * @module
 */
import type { BenchModel } from "../bench/throughput.ts";
import { parseCommandLine, positiveInt, runCommand, UserError } from "../util/errors.ts";

/** `deno task bench --help`. */
export const USAGE =
  `usage: deno task bench [--images N] [--models mlp,cnn,vgg16,resnet9] [--keras] [--torch]
  [--workers N] [--pairs N] [--accuracy] [--epochs E]
  --images N: synthetic training images per epoch, >= 512 (default 8192)
  --models: the models to time, comma-separated (default mlp,cnn,vgg16,resnet9)
  --keras, --torch: also time the Python references (Keras; PyTorch) on the same images
  --workers N: our threads (default 1 on tensorflow, every core on the others)
  --pairs N: timed pairs of epochs (ours, theirs) per model after a warm-up of each (default 5)
  --accuracy: instead of timing, ResNet-9's test accuracy after --epochs on every side
    (synthetic images, 1,000 of them for the test)
  --epochs E: epochs of --accuracy (default 5)`;

/** Test images of `--accuracy`. */
const ACCURACY_TEST_IMAGES = 1000;

/** Run the command line; returns the exit code. */
export function main(args: string[]): Promise<number> {
  const log = (line: string) => console.error(line);
  return runCommand(async () => {
    const { values } = parseCommandLine(args, {
      usage: USAGE,
      options: {
        images: { type: "string", default: "8192" },
        models: { type: "string" },
        keras: { type: "boolean", default: false },
        torch: { type: "boolean", default: false },
        workers: { type: "string" },
        pairs: { type: "string", default: "5" },
        accuracy: { type: "boolean", default: false },
        epochs: { type: "string", default: "5" },
      },
    });
    const images = Number(values.images);
    if (!Number.isInteger(images) || images < 512) {
      throw new UserError(`--images must be a whole number >= 512, got '${values.images}'`);
    }
    const pairs = positiveInt("--pairs", values.pairs)!;
    const epochs = positiveInt("--epochs", values.epochs)!;
    if (values.accuracy && values.models !== undefined && values.models !== "resnet9") {
      throw new UserError(`--accuracy measures resnet9 only; drop --models '${values.models}'`);
    }
    // Loaded after the flags are read, so that --help and bad flags never load tfjs.
    const { BENCH_MODELS } = await import("../bench/throughput.ts");
    const models = (values.models ?? BENCH_MODELS.join(",")).split(",") as BenchModel[];
    for (const m of models) {
      if (!BENCH_MODELS.includes(m)) {
        throw new UserError(`--models: unknown model '${m}'; use ${BENCH_MODELS.join(", ")}`);
      }
    }
    const { initBackend } = await import("../engine/backend.ts");
    const { defaultWorkers } = await import("../train/parallel.ts");
    const backend = await initBackend();
    const threads = values.workers === undefined
      ? defaultWorkers(backend.name)
      : positiveInt("--workers", values.workers)!;
    const sides = { threads, keras: values.keras, torch: values.torch, log };
    if (values.accuracy) {
      const { accuracyComparison } = await import("../bench/accuracy.ts");
      const testImages = ACCURACY_TEST_IMAGES;
      console.log(
        JSON.stringify(await accuracyComparison({ epochs, images, testImages, ...sides })),
      );
      return 0;
    }
    const { sideBySide } = await import("../bench/side_by_side.ts");
    console.log(JSON.stringify(await sideBySide({ models, images, pairs, ...sides })));
    return 0;
  });
}

if (import.meta.main) Deno.exit(await main(Deno.args));
