/**
 * `deno task bench`: training throughput of the MLP and the CNN, and VGG16 feature extraction,
 * on the active engine, optionally side by side with Keras and PyTorch on the same machine.
 *
 * ```sh
 * deno task bench [--images N] [--models mlp,cnn,vgg16] [--keras] [--torch] [--workers N]
 *   [--repeat R]
 * ```
 *
 * Every engine gets the same images (synthetic, written in the CIFAR-100 binary layout for the
 * Python scripts), batch 128, one warm-up epoch then one timed epoch without validation: the
 * images/s of the timed epoch. VGG16 is the frozen base's forward pass at 32 px (random
 * weights): our feature extraction against Keras training the head through the frozen base.
 *
 * `--keras` runs ../shared/bench/keras_reference.py (the source's cells in Keras 3 on
 * TensorFlow CPU) in a virtual environment it creates once under `<cache>/bench/`, with the
 * same tensorflow-cpu version as the native engine. `--torch` runs
 * ../shared/bench/torch_reference.py with PyTorch 2.x from pip (its own environment) and, when
 * installed, Debian's python3-torch. Each reference runs right after ours, `--repeat` times;
 * the JSON line (stdout) has every figure and the ratios of ours to theirs (medians), since
 * absolute times drift on shared machines.
 *
 * @module
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { encodeRecords } from "../data/cifar_binary.ts";
import { IMAGE_BYTES } from "../data/dataset.ts";
import { imageExamples } from "../data/examples.ts";
import { syntheticCifar100 } from "../data/synthetic.ts";
import { initBackend, tf } from "../engine/backend.ts";
import { TENSORFLOW_WHEEL } from "../engine/install/native.ts";
import { buildCnn } from "../models/cnn.ts";
import { buildMlp } from "../models/mlp.ts";
import { buildVgg16Base } from "../models/vgg16.ts";
import { HYP } from "../train/config.ts";
import { extractFeatures } from "../train/features.ts";
import { fit } from "../train/fit.ts";
import { makeOptimizer } from "../train/optimizer.ts";
import { defaultWorkers, startWorkers } from "../train/parallel.ts";
import { cacheRoot } from "../util/cache.ts";
import { runCommand, UserError } from "../util/errors.ts";
import { exists, findPython, run } from "../util/process.ts";

const SHARED_BENCH = new URL("../../../shared/bench/", import.meta.url).pathname;
/** PyTorch from pip for `--torch`. */
const TORCH_PIP = "torch==2.13.0+cpu";
/** Debian's interpreter, whose python3-torch (1.13) is the older anchor. */
const DEBIAN_PYTHON = "/usr/bin/python3";

/** What can be benchmarked. */
export const BENCH_MODELS = ["mlp", "cnn", "vgg16"] as const;
/** A benchmarked model. */
export type BenchModel = typeof BENCH_MODELS[number];

/**
 * Our images/s: for mlp and cnn the second of two training epochs over `images` synthetic
 * images; for vgg16 the frozen base's forward pass (feature extraction) at 32 px.
 *
 * @param threads this thread plus threads-1 workers (single-threaded engines).
 */
export async function benchOurs(model: BenchModel, images: number, threads = 1): Promise<number> {
  const backend = await initBackend();
  const data = syntheticCifar100({ seed: 0, trainCount: images, testCount: 1 });
  if (model === "vgg16") {
    const base = buildVgg16Base(32, 0);
    const workers = threads > 1
      ? await startWorkers(threads - 1, backend.name, {
        model: "vgg16-base",
        inputSize: 32,
        seed: 0,
      })
      : [];
    try {
      // A warm-up pass over a few batches, then the timed pass.
      const warm = data.train.images.subarray(0, 3 * HYP.vgg16.featureBatchSize * IMAGE_BYTES);
      await extractFeatures(base, warm, { inputSize: 32, workers, progress: false });
      const timed = await extractFeatures(base, data.train.images, {
        inputSize: 32,
        workers,
        progress: false,
      });
      return timed.imagesPerSecond;
    } finally {
      workers.forEach((w) => w.close());
      base.dispose();
    }
  }
  const workers = threads > 1
    ? await startWorkers(threads - 1, backend.name, { model, seed: 0 })
    : [];
  const net = model === "mlp" ? buildMlp() : buildCnn();
  const optimizer = makeOptimizer(HYP[model].optimizer);
  try {
    const result = await fit(net, imageExamples(data.train, data.train.fineLabels), {
      epochs: 2,
      batchSize: HYP[model].batchSize,
      optimizer,
      log: () => {},
      workers,
    });
    return images / result.secondsPerEpoch[1];
  } finally {
    workers.forEach((w) => w.close());
    net.dispose();
    optimizer.dispose();
  }
}

// ---- References in Python -------------------------------------------------------------------

/** A Python reference: a short id, what it is, and its interpreter. */
interface Reference {
  /** `keras`, `torch` or `torch_debian`: the key in the JSON line. */
  id: string;
  /** e.g. `Keras on tensorflow-cpu==2.21.0`. */
  name: string;
  python: string;
}

/** A virtual environment under the cache with `packages`, created once. */
async function venv(name: string, packages: string[], log: (s: string) => void): Promise<string> {
  const dir = join(cacheRoot(), "bench", name);
  const python = join(dir, "bin", "python");
  const ready = join(dir, ".ready");
  if (await exists(ready) && await Deno.readTextFile(ready) === packages.join(" ")) return python;
  const base = await findPython(`for the ${name} reference`);
  log(`Creating ${dir} with ${packages.join(", ")} (once; a few minutes)`);
  await run(base, ["-m", "venv", "--clear", dir], { what: `python -m venv ${dir}` });
  await run(python, ["-m", "pip", "install", "--quiet", ...packages], {
    what: `pip install ${packages.join(" ")}`,
    inherit: true,
    hint: "check pip's index or network",
  });
  await Deno.writeTextFile(ready, packages.join(" "));
  return python;
}

/** Images/s of a reference script on the same images: the warm (last) of two epochs. */
async function benchReference(
  reference: Reference,
  model: BenchModel,
  data: string,
  images: number,
): Promise<number> {
  const keras = reference.id === "keras";
  const script = join(SHARED_BENCH, keras ? "keras_reference.py" : "torch_reference.py");
  const args = [script, "--model", model, "--data", data, "--epochs", "2"];
  args.push("--limit-train", String(images), ...(keras ? ["--limit-test", "128"] : []));
  const out = await run(reference.python, args, {
    what: `${reference.name} (${script})`,
    env: { TF_CPP_MIN_LOG_LEVEL: "2" },
  });
  const line = JSON.parse(out.stdout.trim().split("\n").pop()!);
  return images / line.seconds_per_epoch.at(-1);
}

/** The references `--keras` / `--torch` ask for, set up as needed. */
async function references(keras: boolean, torch: boolean, log: (s: string) => void) {
  const list: Reference[] = [];
  if (keras) {
    const spec = `${TENSORFLOW_WHEEL.name}==${TENSORFLOW_WHEEL.version}`;
    const python = await venv("keras-venv", [spec], log);
    list.push({ id: "keras", name: `Keras on ${spec}`, python });
  }
  if (torch) {
    const python = await venv("torch-venv", [TORCH_PIP, "numpy"], log);
    list.push({ id: "torch", name: `PyTorch ${TORCH_PIP}`, python });
    const debian = await run(DEBIAN_PYTHON, ["-c", "import torch; print(torch.__version__)"], {
      what: "Debian's python3-torch",
      allowFailure: true,
    });
    if (debian.ok) {
      const version = debian.stdout.trim();
      list.push({ id: "torch_debian", name: `Debian's PyTorch ${version}`, python: DEBIAN_PYTHON });
    } else {
      log("Debian's python3-torch is not installed: skipping it (apt-get install python3-torch)");
    }
  }
  return list;
}

/** Write the images as a cifar-100-binary folder for the Python scripts. */
async function writeData(images: number): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "cifar100-bench-" });
  const data = syntheticCifar100({ seed: 0, trainCount: images, testCount: 128 });
  await Deno.writeFile(join(dir, "train.bin"), encodeRecords(data.train));
  await Deno.writeFile(join(dir, "test.bin"), encodeRecords(data.test));
  return dir;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

// ---- Command line -----------------------------------------------------------------------------

function main(args: string[]): Promise<number> {
  const log = (line: string) => console.error(line);
  return runCommand(async () => {
    const { values } = parseArgs({
      args,
      strict: true,
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
    const refs = await references(values.keras, values.torch, log);
    const data = refs.length ? await writeData(images) : "";
    const result: Record<string, unknown> = {
      backend: backend.name,
      threads,
      images,
      data: "synthetic",
      repeat,
    };
    try {
      for (const model of models) {
        const ours: number[] = [];
        const theirs = refs.map(() => [] as number[]);
        for (let r = 0; r < repeat; r++) {
          ours.push(await benchOurs(model, images, threads));
          log(`${model}: ${ours.at(-1)!.toFixed(0)} images/s here (${backend.name})`);
          for (const [i, ref] of refs.entries()) {
            // torch_reference.py has the MLP and the CNN only.
            if (model === "vgg16" && ref.id !== "keras") continue;
            theirs[i].push(await benchReference(ref, model, data, images));
            const ratio = ours.at(-1)! / theirs[i].at(-1)!;
            log(
              `${model}: ${theirs[i].at(-1)!.toFixed(0)} images/s ${ref.name}, ratio ${
                ratio.toFixed(2)
              }`,
            );
          }
        }
        const entry: Record<string, unknown> = { images_per_second: ours.map(Math.round) };
        refs.forEach((ref, i) => {
          if (!theirs[i].length) return;
          entry[ref.id] = {
            name: ref.name,
            images_per_second: theirs[i].map(Math.round),
            // Ours over theirs, run by run; the median of those.
            ratio: Number(median(ours.map((o, r) => o / theirs[i][r])).toFixed(3)),
          };
        });
        result[model] = entry;
      }
    } finally {
      if (data) await Deno.remove(data, { recursive: true });
    }
    tf.disposeVariables();
    console.log(JSON.stringify(result));
    return 0;
  });
}

if (import.meta.main) Deno.exit(await main(Deno.args));
