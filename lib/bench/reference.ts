/**
 * The Python references of `deno task bench --keras --torch`: Keras 3 on TensorFlow CPU
 * (keras_reference.py) and PyTorch (torch_reference.py, pip's and Debian's), each in its own
 * virtual environment, on the same synthetic images as ours.
 *
 * @module
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { encodeRecords } from "../data/cifar_binary.ts";
import { type Cifar100, IMAGE_BYTES, type Split } from "../data/dataset.ts";
import { HYP, isBackbone, type PrecisionName as Precision } from "../train/hyp.ts";
import { UserError } from "../util/errors.ts";
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
const TORCH_PIP = "torch==2.13.0+cpu";
/** Debian's interpreter, whose python3-torch (1.13) is the older anchor. */
const DEBIAN_PYTHON = "/usr/bin/python3";

/** A Python reference: a short id, what it is, and its interpreter. */
export interface Reference {
  /** `keras`, `torch` or `torch_debian`: the key in the JSON line. */
  id: string;
  /** e.g. `Keras on tensorflow-cpu==2.21.0`. */
  name: string;
  python: string;
}

/** Whether a reference has `model`: torch_reference.py has neither VGG16 nor MobileNetV2. */
export function referenceHas(reference: Reference, model: BenchModel): boolean {
  return !isBackbone(model) || reference.id === "keras";
}

/** A backbone's feature extraction in keras_reference.py: `--input-size`, `--alpha`, how many. */
export interface ReferenceFeature {
  inputSize: number;
  alpha: number;
  /** The first `count` images of the data folder (`--limit-train`). */
  count: number;
}

/**
 * The references `--keras` / `--torch` ask for, their environments set up as needed; Keras on
 * the native engine's tensorflow-cpu version.
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

/** The first JSON line a reference prints in `--serve` mode, once its model is built. */
interface ReferenceHeader {
  /** e.g. `keras 3.15.0 tf 2.21.0 cpu`. */
  engine: string;
  train_images: number;
  /** Every weight, the batch norms' moving statistics included (as Keras counts). */
  params: number;
  trainable_params: number;
}

/** A reference process holding its compiled model: one timed epoch per request. */
export interface ReferenceSession {
  header: ReferenceHeader;
  /** One epoch over the training images, in their order: its images/s. */
  epoch(): Promise<number>;
  close(): Promise<void>;
}

/** The script's arguments that pick the model (ResNet-9 takes HYP.resnet9 as JSON). */
function modelArgs(model: BenchModel, feature?: ReferenceFeature): string[] {
  if (model === "resnet9") return ["--model", model, "--resnet9", JSON.stringify(HYP.resnet9)];
  if (!feature) return ["--model", model];
  const { inputSize, alpha, count } = feature;
  return ["--model", model, "--input-size", `${inputSize}`, "--alpha", `${alpha}`]
    .concat(["--limit-train", `${count}`]);
}

/** `--precision bfloat16` for Keras (its `mixed_bfloat16` policy); PyTorch's scripts have none. */
function precisionArgs(reference: Reference, precision: Precision): string[] {
  if (precision === "float32") return [];
  if (reference.id !== "keras") {
    throw new UserError(`${reference.name} has no --precision ${precision}: leave --torch out`);
  }
  return ["--precision", precision];
}

/**
 * Start `reference`'s script in `--serve` mode on the folder `data`: it builds `model` and loads
 * the images once, then times one epoch per request, so no pair pays Python's start-up.
 */
export async function openReference(
  reference: Reference,
  model: BenchModel,
  data: string,
  feature?: ReferenceFeature,
  precision: Precision = "float32",
): Promise<ReferenceSession> {
  const script = REFERENCE_SCRIPTS[reference.id === "keras" ? "keras" : "torch"];
  const what = `${reference.name} (${script})`;
  const args = [script, "--serve", ...modelArgs(model, feature), "--data", data];
  args.push(...precisionArgs(reference, precision));
  const child = spawn(reference.python, args, {
    env: { ...Deno.env.toObject(), TF_CPP_MIN_LOG_LEVEL: "2", NO_COLOR: "1" },
    stdio: ["pipe", "pipe", "pipe"],
  });
  const stderr: string[] = [];
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
    stderr.push(...chunk.split("\n").filter((l) => l.trim()));
    stderr.splice(0, Math.max(0, stderr.length - 50));
  });
  let failure = "";
  child.on("error", (e: Error) => failure = e.message);
  const exited = new Promise<void>((resolve) => child.on("close", () => resolve()));
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  /** The next JSON line; other lines (a library's chatter) are skipped. */
  const next = async (): Promise<Record<string, unknown>> => {
    for (let line = await lines.next(); !line.done; line = await lines.next()) {
      if (line.value.startsWith("{")) return JSON.parse(line.value);
    }
    await exited;
    const telling = failure || stderr.findLast((l) => /Error/.test(l)) || stderr.at(-1) ||
      `exit code ${child.exitCode}`;
    throw new UserError(`${what} stopped: ${telling}`);
  };
  const header = await next() as unknown as ReferenceHeader;
  return {
    header,
    async epoch() {
      child.stdin!.write("epoch\n");
      const { seconds } = await next() as { seconds: number };
      return header.train_images / seconds;
    },
    async close() {
      child.stdin!.end("quit\n");
      await exited;
    },
  };
}

/** What {@linkcode referenceAccuracy} returns: the script's last JSON line. */
interface ReferenceAccuracy {
  engine: string;
  test_accuracy: number;
  seconds_per_epoch: number[];
  params: number;
}

/**
 * Train ResNet-9 in `reference` on the folder `data` with HYP.resnet9's recipe and one-cycle
 * schedule (without augmentation), and return its test accuracy.
 */
export async function referenceAccuracy(
  reference: Reference,
  data: string,
  epochs: number,
  precision: Precision = "float32",
): Promise<ReferenceAccuracy> {
  const script = REFERENCE_SCRIPTS[reference.id === "keras" ? "keras" : "torch"];
  const args = [script, ...modelArgs("resnet9"), "--data", data];
  args.push(...precisionArgs(reference, precision));
  args.push("--epochs", String(epochs), "--one-cycle");
  const out = await run(reference.python, args, {
    what: `${reference.name} (${script})`,
    env: { TF_CPP_MIN_LOG_LEVEL: "2" },
  });
  // The scripts print one JSON line last; TensorFlow may log before it.
  return JSON.parse(out.stdout.trim().split("\n").pop()!);
}

/**
 * Write `data` as a cifar-100-binary folder in a new temporary folder, which the caller removes.
 *
 * @param order the training images in this order: our epoch's shuffle, so that the references,
 *   which do not shuffle when timing, train on our batches
 */

export async function writeBenchData(data: Cifar100, order?: Uint32Array): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "cifar100-bench-" });
  await Deno.writeFile(join(dir, "train.bin"), encodeRecords(reordered(data.train, order)));
  await Deno.writeFile(join(dir, "test.bin"), encodeRecords(data.test));
  return dir;
}

/** `split`'s images and labels at the indices `order` lists, in that order. */
export function reordered(split: Split, order?: Uint32Array): Split {
  if (!order) return split;
  const images = new Uint8Array(order.length * IMAGE_BYTES);
  order.forEach((from, to) => {
    images.set(
      split.images.subarray(from * IMAGE_BYTES, (from + 1) * IMAGE_BYTES),
      to * IMAGE_BYTES,
    );
  });
  const pick = (labels: Uint8Array) => Uint8Array.from(order, (i) => labels[i]);
  return {
    images,
    fineLabels: pick(split.fineLabels),
    coarseLabels: pick(split.coarseLabels),
    count: order.length,
  };
}
