/**
 * The Python references of `deno task bench --keras --torch`: the source's cells in Keras 3 on
 * TensorFlow CPU (keras_reference.py, beside this module) and the same MLP and CNN in PyTorch 2
 * (torch_reference.py), each in its own virtual environment (./python_env.ts), and optionally
 * Debian's python3-torch. They train on the same synthetic images as ours, written as a
 * cifar-100-binary folder ({@linkcode writeBenchData}).
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { encodeRecords } from "../data/cifar_binary.ts";
import { syntheticCifar100 } from "../data/synthetic.ts";
import { TENSORFLOW_WHEEL } from "../engine/install/native.ts";
import { run } from "../util/process.ts";
import { pythonEnv } from "./python_env.ts";
import type { BenchModel } from "./throughput.ts";

/** The reference scripts, beside this module. */
export const REFERENCE_SCRIPTS = {
  keras: fileURLToPath(new URL("./keras_reference.py", import.meta.url)),
  torch: fileURLToPath(new URL("./torch_reference.py", import.meta.url)),
} as const;
/** PyTorch from pip for `--torch`. */
export const TORCH_PIP = "torch==2.13.0+cpu";
/** Debian's interpreter, whose python3-torch (1.13) is the older anchor. */
const DEBIAN_PYTHON = "/usr/bin/python3";
/** Test images in the folder the scripts read (Keras evaluates on them; they are not timed). */
const TEST_IMAGES = 128;

/** A Python reference: a short id, what it is, and its interpreter. */
export interface Reference {
  /** `keras`, `torch` or `torch_debian`: the key in the JSON line. */
  id: string;
  /** e.g. `Keras on tensorflow-cpu==2.21.0`. */
  name: string;
  /** The interpreter that runs its script. */
  python: string;
}

/** Whether a reference has `model`: torch_reference.py has the MLP and the CNN only. */
export function referenceHas(reference: Reference, model: BenchModel): boolean {
  return model !== "vgg16" || reference.id === "keras";
}

/**
 * The references `--keras` / `--torch` ask for, their environments set up as needed: Keras on
 * the native engine's tensorflow-cpu version; PyTorch from pip, and Debian's when installed.
 */
export async function references(
  keras: boolean,
  torch: boolean,
  log: (line: string) => void,
): Promise<Reference[]> {
  const list: Reference[] = [];
  if (keras) {
    const spec = `${TENSORFLOW_WHEEL.name}==${TENSORFLOW_WHEEL.version}`;
    const python = await pythonEnv("keras-venv", [spec], log);
    list.push({ id: "keras", name: `Keras on ${spec}`, python });
  }
  if (torch) {
    const python = await pythonEnv("torch-venv", [TORCH_PIP, "numpy"], log);
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

/**
 * Images/s of a reference script on the folder `data` (from {@linkcode writeBenchData}): the
 * warm (last) of two epochs over its first `images` training images.
 *
 * @throws {UserError} when the script fails (its most telling line)
 */
export async function benchReference(
  reference: Reference,
  model: BenchModel,
  data: string,
  images: number,
): Promise<number> {
  const keras = reference.id === "keras";
  const script = keras ? REFERENCE_SCRIPTS.keras : REFERENCE_SCRIPTS.torch;
  const args = [script, "--model", model, "--data", data, "--epochs", "2"];
  args.push("--limit-train", String(images));
  if (keras) args.push("--limit-test", String(TEST_IMAGES));
  const out = await run(reference.python, args, {
    what: `${reference.name} (${script})`,
    env: { TF_CPP_MIN_LOG_LEVEL: "2" },
  });
  // The scripts print one JSON line last; TensorFlow may log before it.
  const line = JSON.parse(out.stdout.trim().split("\n").pop()!);
  return images / line.seconds_per_epoch.at(-1);
}

/**
 * Write our benchmark's images (synthetic, seed 0) as a cifar-100-binary folder (train.bin,
 * test.bin) in a new temporary folder, for the scripts; the caller removes it.
 *
 * @returns the folder
 */
export async function writeBenchData(images: number): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "cifar100-bench-" });
  const data = syntheticCifar100({ seed: 0, trainCount: images, testCount: TEST_IMAGES });
  await Deno.writeFile(join(dir, "train.bin"), encodeRecords(data.train));
  await Deno.writeFile(join(dir, "test.bin"), encodeRecords(data.test));
  return dir;
}
