/**
 * `deno task bench`: training throughput, optionally side by side with Keras and PyTorch, or
 * ResNet-9's accuracy at equal epochs (`--accuracy`).
 * The usage: `deno task bench --help`; every flag, the output and the exit status: docs/cli.md.
 *
 * @module
 */
import type { BenchModel } from "../bench/throughput.ts";
import { type PrecisionName, PRECISIONS } from "../train/hyp.ts";
import { parseCommandLine, positiveInt, runCommand, UserError } from "../util/errors.ts";

/** `deno task bench --help`. */
export const USAGE =
  `usage: deno task bench [--images N] [--models mlp,cnn,vgg16,resnet9,mobilenetv2] [--keras]
  [--torch] [--workers N] [--pairs N] [--sizes S,...] [--alpha A] [--feature-images N]
  [--accuracy] [--epochs E] [--precision float32|bfloat16]
  --images N: synthetic training images per epoch, >= 512 (default 8192)
  --models: the models to time, comma-separated (default mlp,cnn,vgg16,resnet9,mobilenetv2)
  --keras, --torch: also time the Python references (Keras; PyTorch) on the same images
  --workers N: our threads (default 1 on tensorflow, every core on the others)
  --pairs N: timed pairs of epochs (ours, theirs) per model after a warm-up of each (default 5)
  --sizes S,...: input sides of vgg16 and mobilenetv2's feature extraction, each >= 32, one
    entry per side (default each model's training side: 32 and 96)
  --alpha A: mobilenetv2's width multiplier (default 1.0)
  --feature-images N: images per epoch of vgg16 and mobilenetv2, <= --images (default 256)
  --accuracy: instead of timing, ResNet-9's test accuracy after --epochs on every side
    (synthetic images, 1,000 of them for the test)
  --epochs E: epochs of --accuracy (default 5)
  --precision bfloat16: ours in bfloat16 against Keras's mixed_bfloat16 (a CPU with bfloat16
    instructions, one thread, no --torch; default float32)`;

const ACCURACY_TEST_IMAGES = 1000;
/** The smallest input side of VGG16 and MobileNetV2 (five stride-2 stages). */
const MIN_SIDE = 32;

/** `--sizes`: comma-separated whole numbers >= 32. */
function parseSizes(value: string | undefined): number[] | undefined {
  if (value === undefined) return undefined;
  return value.split(",").map((side) => {
    const n = Number(side);
    if (side.trim() === "" || !Number.isInteger(n) || n < MIN_SIDE) {
      throw new UserError(
        `--sizes: '${side}' is not a whole number >= ${MIN_SIDE}; e.g. --sizes 96,160,224`,
      );
    }
    return n;
  });
}

/** `--precision`: float32 or bfloat16, the latter without the PyTorch references. */
function parsePrecision(value: string | undefined, torch: boolean): PrecisionName {
  if (!PRECISIONS.includes(value as PrecisionName)) {
    throw new UserError(`--precision: '${value}' is not one of ${PRECISIONS.join(", ")}`);
  }
  if (value === "bfloat16" && torch) {
    throw new UserError("--precision bfloat16 compares with Keras only: leave --torch out");
  }
  return value as PrecisionName;
}

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
        sizes: { type: "string" },
        alpha: { type: "string", default: "1.0" },
        "feature-images": { type: "string", default: "256" },
        accuracy: { type: "boolean", default: false },
        epochs: { type: "string", default: "5" },
        precision: { type: "string", default: "float32" },
      },
    });
    const images = Number(values.images);
    if (!Number.isInteger(images) || images < 512) {
      throw new UserError(`--images must be a whole number >= 512, got '${values.images}'`);
    }
    const pairs = positiveInt("--pairs", values.pairs)!;
    const epochs = positiveInt("--epochs", values.epochs)!;
    const sizes = parseSizes(values.sizes);
    const featureImages = positiveInt("--feature-images", values["feature-images"])!;
    if (featureImages > images) {
      throw new UserError(`--feature-images ${featureImages} is more than --images ${images}`);
    }
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
    const { isBackbone } = await import("../train/hyp.ts");
    if (sizes && !models.some(isBackbone)) {
      throw new UserError(`--sizes applies to vgg16 and mobilenetv2: add one to --models`);
    }
    const { MOBILENET_V2_ALPHAS } = await import("../models/mobilenet_v2.ts");
    const alpha = Number(values.alpha);
    if (!MOBILENET_V2_ALPHAS.includes(alpha)) {
      throw new UserError(
        `--alpha: '${values.alpha}' is not one of ${MOBILENET_V2_ALPHAS.join(", ")}`,
      );
    }
    const precision = parsePrecision(values.precision, values.torch);
    const { initBackend } = await import("../engine/backend.ts");
    const { defaultWorkers } = await import("../train/parallel.ts");
    const backend = await initBackend();
    const threads = values.workers === undefined
      ? defaultWorkers(backend.name)
      : positiveInt("--workers", values.workers)!;
    if (precision === "bfloat16" && threads > 1) {
      // Our gradient workers start their own engines at float32.
      throw new UserError("--precision bfloat16 runs ours on one thread: leave --workers out");
    }
    const sides = { threads, keras: values.keras, torch: values.torch, precision, log };
    if (values.accuracy) {
      const { accuracyComparison } = await import("../bench/accuracy.ts");
      const run = { epochs, images, testImages: ACCURACY_TEST_IMAGES, ...sides };
      console.log(JSON.stringify(await accuracyComparison(run)));
      return 0;
    }
    const { sideBySide } = await import("../bench/side_by_side.ts");
    const run = { models, images, pairs, sizes, alpha, featureImages, ...sides };
    console.log(JSON.stringify(await sideBySide(run)));
    return 0;
  });
}

if (import.meta.main) Deno.exit(await main(Deno.args));
