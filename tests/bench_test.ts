import assert from "node:assert/strict";
import { join } from "node:path";
import { main as benchMain } from "../lib/cli/bench.ts";
import { benchEnvDir } from "../lib/bench/python_env.ts";
import {
  benchReference,
  REFERENCE_SCRIPTS,
  referenceHas,
  writeBenchData,
} from "../lib/bench/reference.ts";
import { ratioOf } from "../lib/bench/side_by_side.ts";
import { stepTime } from "../lib/bench/step.ts";
import { benchOurs } from "../lib/bench/throughput.ts";
import { encodeRecords, RECORD_BYTES } from "../lib/data/cifar_binary.ts";
import { syntheticCifar100 } from "../lib/data/synthetic.ts";
import { exists, which } from "../lib/util/process.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const python3 = await which("python3");

Deno.test({
  name: "bench: the reference scripts are where reference.ts looks, and Python compiles them",
  ignore: !python3,
  fn: async () => {
    const tmp = await Deno.makeTempDir();
    try {
      for (const [id, script] of Object.entries(REFERENCE_SCRIPTS)) {
        assert.ok(await exists(script), `${id}: ${script} is missing`);
        assert.ok(script.startsWith(join(ROOT, "lib", "bench")), script);
        // Compiled into a temporary file: no __pycache__ in the working tree.
        const out = await new Deno.Command(python3!, {
          args: [
            "-c",
            "import sys, py_compile; py_compile.compile(sys.argv[1], cfile=sys.argv[2], doraise=True)",
            script,
            join(tmp, `${id}.pyc`),
          ],
          stderr: "piped",
        }).output();
        assert.ok(out.success, `${script}: ${new TextDecoder().decode(out.stderr)}`);
        // The docstring says how bench.ts calls it and what it prints.
        const text = await Deno.readTextFile(script);
        assert.match(text, /How `deno task bench --\w+` calls it/);
        assert.match(text, /seconds_per_epoch/);
      }
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

Deno.test("bench: nothing in lib/, deno.json or .ci/ refers to ../shared", async () => {
  const offenders: string[] = [];
  async function scan(path: string) {
    const info = await Deno.stat(path);
    if (info.isDirectory) {
      for await (const entry of Deno.readDir(path)) {
        if (entry.name !== "__pycache__") await scan(join(path, entry.name));
      }
    } else if ((await Deno.readTextFile(path)).includes("../shared")) {
      offenders.push(path.slice(ROOT.length));
    }
  }
  for (const path of ["lib", "deno.json", ".ci"]) {
    if (await exists(join(ROOT, path))) await scan(join(ROOT, path));
  }
  assert.deepEqual(offenders, []);
});

Deno.test("bench: ratios are the median of ours over theirs, run by run", () => {
  // Run by run: 2, 1, 0.5 -> 1 (the ratio of the medians would be 200 / 400).
  assert.equal(ratioOf([100, 400, 200], [50, 400, 400]), 1);
  assert.equal(ratioOf([100, 200], [300, 300]), 0.5);
  assert.equal(ratioOf([1000], [3000]), 0.333);
});

Deno.test("bench: torch has no VGG16; Keras has every model", () => {
  const keras = { id: "keras", name: "Keras", python: "python" };
  const torch = { id: "torch", name: "PyTorch", python: "python" };
  assert.ok(referenceHas(keras, "vgg16") && referenceHas(keras, "mlp"));
  assert.ok(!referenceHas(torch, "vgg16") && referenceHas(torch, "cnn"));
});

Deno.test("bench: the scripts' data folder is our synthetic images in the CIFAR-100 binary layout", async () => {
  const dir = await writeBenchData(512);
  try {
    const ours = syntheticCifar100({ seed: 0, trainCount: 512, testCount: 128 });
    const train = await Deno.readFile(join(dir, "train.bin"));
    assert.equal(train.length, 512 * RECORD_BYTES);
    assert.deepEqual(train, encodeRecords(ours.train));
    assert.equal((await Deno.readFile(join(dir, "test.bin"))).length, 128 * RECORD_BYTES);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Run bench.ts's main with the console captured. */
async function bench(args: string[]) {
  const err: string[] = [];
  const { error } = console;
  console.error = (...a: unknown[]) => void err.push(a.join(" "));
  try {
    return { code: await benchMain(args), err };
  } finally {
    console.error = error;
  }
}

Deno.test("bench: bad flag values are one error line and exit 2, before any work", async () => {
  const cases: [string[], RegExp][] = [
    [["--images", "100"], /--images must be a whole number >= 512, got '100'/],
    [["--repeat", "0"], /--repeat must be a whole number >= 1, got '0'/],
    [["--models", "mlp,resnet"], /--models: unknown model 'resnet'; use mlp, cnn, vgg16/],
    [["--workers", "0", "--models", "mlp"], /--workers must be a whole number >= 1, got '0'/],
  ];
  for (const [args, message] of cases) {
    const { code, err } = await bench(args);
    assert.equal(code, 2, args.join(" "));
    assert.equal(err.length, 1, err.join("\n"));
    assert.match(err[0], message);
  }
});

Deno.test("bench: our MLP throughput on 512 images is a positive rate", async () => {
  const imagesPerSecond = await benchOurs("mlp", 512);
  assert.ok(Number.isFinite(imagesPerSecond) && imagesPerSecond > 0, String(imagesPerSecond));
});

Deno.test("bench:step: a step's median time and the JSON line's fields", async () => {
  const result = await stepTime({ model: "mlp", batchSize: 16, steps: 3, profile: true });
  assert.equal(result.model, "mlp");
  assert.equal(result.batch_size, 16);
  assert.equal(result.batch_norm, undefined);
  assert.ok(result.median_ms_per_step > 0);
  // images/s comes from the unrounded time; median_ms_per_step is rounded to 0.1 ms.
  const rate = 16 / result.median_ms_per_step * 1000;
  assert.ok(Math.abs(result.images_per_second - rate) / rate < 0.05, JSON.stringify(result));
  const kernels = Object.values(result.kernels_ms ?? {});
  assert.ok(kernels.length > 0 && kernels.length <= 15, JSON.stringify(result.kernels_ms));
  assert.deepEqual(kernels, [...kernels].sort((a, b) => b - a), "slowest first");
});

// The real scripts, only where `deno task bench --keras` / `--torch` made their environments.
for (const [id, env] of [["keras", "keras-venv"], ["torch", "torch-venv"]] as const) {
  const python = join(benchEnvDir(env), "bin", "python");
  Deno.test({
    name: `bench: ${id}_reference.py trains the MLP and prints the line bench.ts reads`,
    ignore: !(await exists(join(benchEnvDir(env), ".ready"))),
    fn: async () => {
      const dir = await writeBenchData(512);
      try {
        const rate = await benchReference({ id, name: id, python }, "mlp", dir, 512);
        assert.ok(Number.isFinite(rate) && rate > 0, String(rate));
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}
