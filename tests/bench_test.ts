import assert from "node:assert/strict";
import { join } from "node:path";
import { main as benchMain } from "../lib/cli/bench.ts";
import { benchEnvDir } from "../lib/bench/python_env.ts";
import { noiseVerdict, summarizePairs, turnOrder } from "../lib/bench/pairs.ts";
import {
  openReference,
  REFERENCE_SCRIPTS,
  referenceHas,
  writeBenchData,
} from "../lib/bench/reference.ts";
import { stepTime } from "../lib/bench/step.ts";
import { openOurs } from "../lib/bench/throughput.ts";
import { encodeRecords, RECORD_BYTES } from "../lib/data/cifar_binary.ts";
import { IMAGE_BYTES } from "../lib/data/dataset.ts";
import { syntheticCifar100 } from "../lib/data/synthetic.ts";
import { initBackend, tf } from "../lib/engine/backend.ts";
import { buildMobileNetV2Base } from "../lib/models/mobilenet_v2.ts";
import { buildSmallModel } from "../lib/train/small_models.ts";
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

Deno.test("bench: a warm-up of each side, then ours and theirs alternating, pair by pair", () => {
  const turns = turnOrder(5);
  assert.equal(turns.length, 12);
  assert.deepEqual(turns.slice(0, 2).map((t) => [t.side, t.warmUp]), [
    ["ours", true],
    ["theirs", true],
  ]);
  turns.slice(2).forEach((turn, i) => {
    assert.equal(turn.warmUp, false);
    assert.equal(turn.side, i % 2 ? "theirs" : "ours", `turn ${i + 2}`);
    assert.equal(turn.pair, Math.floor(i / 2), `turn ${i + 2}`);
  });
});

Deno.test("bench: each pair's ratio, and their median, minimum and maximum", () => {
  // Ratios 2, 1, 0.5, 1.5, 1.25: the median is of the ratios, not the ratio of the medians (250 / 400).
  const s = summarizePairs([100, 400, 200, 600, 250], [50, 400, 400, 400, 200]);
  assert.deepEqual(s.ratios, [2, 1, 0.5, 1.5, 1.25]);
  assert.deepEqual([s.median, s.min, s.max], [1.25, 0.5, 2]);
  assert.equal(summarizePairs([1000], [3000]).median, 0.333);
  assert.throws(() => summarizePairs([1, 2], [1]), /2 timings of ours against 1 of theirs/);
});

Deno.test("bench: the noise verdict concludes only when every pair agrees and the spread is below the lead", () => {
  // A clear lead: every pair above 1.0, spread 0.1 within the lead 0.25.
  const lead = noiseVerdict([1.2, 1.25, 1.3, 1.22, 1.28]);
  assert.equal(lead.conclusive, true);
  assert.match(lead.verdict, /^ours faster in every pair \(pairs 1\.20 to 1\.30, median 1\.25\)$/);
  // A clear deficit, the other way round.
  assert.match(noiseVerdict([0.8, 0.82, 0.85]).verdict, /^theirs faster in every pair/);
  // One pair on the other side of 1.0.
  const across = noiseVerdict([1.3, 1.25, 0.98, 1.28, 1.3]);
  assert.equal(across.conclusive, false);
  assert.match(across.verdict, /too noisy to conclude: 1 of 5 pairs on the other side of 1\.0/);
  // Every pair above 1.0, but spread 0.3 wider than the lead 0.2: a swing like Keras's.
  const wide = noiseVerdict([1.1, 1.2, 1.4, 1.15, 1.25]);
  assert.equal(wide.conclusive, false);
  assert.match(
    wide.verdict,
    /the pairs spread 0\.30, wider than the median's distance from 1\.0 \(0\.20/,
  );
  // A median of exactly 1.0 says nothing, however tight.
  assert.equal(noiseVerdict([1, 1, 1]).conclusive, false);
});

Deno.test("bench: torch has no VGG16 nor MobileNetV2; Keras has every model; both have ResNet-9", () => {
  const keras = { id: "keras", name: "Keras", python: "python" };
  const torch = { id: "torch", name: "PyTorch", python: "python" };
  assert.ok(referenceHas(keras, "vgg16") && referenceHas(keras, "mlp"));
  assert.ok(referenceHas(keras, "mobilenetv2") && !referenceHas(torch, "mobilenetv2"));
  assert.ok(!referenceHas(torch, "vgg16") && referenceHas(torch, "cnn"));
  assert.ok(referenceHas(keras, "resnet9") && referenceHas(torch, "resnet9"));
});

Deno.test("bench: the scripts' data folder is our synthetic images in the CIFAR-100 binary layout, in the given order", async () => {
  const data = syntheticCifar100({ seed: 0, trainCount: 512, testCount: 128 });
  const order = Uint32Array.from({ length: 512 }, (_, i) => (i * 7 + 3) % 512);
  const dir = await writeBenchData(data, order);
  try {
    const train = await Deno.readFile(join(dir, "train.bin"));
    assert.equal(train.length, 512 * RECORD_BYTES);
    // Record i is our image order[i], with its labels.
    const { images, fineLabels, coarseLabels } = data.train;
    const record = (j: number) =>
      encodeRecords({
        images: images.subarray(j * IMAGE_BYTES, (j + 1) * IMAGE_BYTES),
        fineLabels: fineLabels.subarray(j, j + 1),
        coarseLabels: coarseLabels.subarray(j, j + 1),
        count: 1,
      });
    order.forEach((j, i) => {
      assert.deepEqual(train.subarray(i * RECORD_BYTES, (i + 1) * RECORD_BYTES), record(j), `${i}`);
    });
    assert.deepEqual(await Deno.readFile(join(dir, "test.bin")), encodeRecords(data.test));
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
    [["--pairs", "0"], /--pairs must be a whole number >= 1, got '0'/],
    [
      ["--models", "mlp,resnet"],
      /--models: unknown model 'resnet'; use mlp, cnn, vgg16, resnet9, mobilenetv2$/,
    ],
    [
      ["--sizes", "96,16"],
      /^error: --sizes: '16' is not a whole number >= 32; e\.g\. --sizes 96,160,224$/,
    ],
    [["--sizes", "96,,224"], /^error: --sizes: '' is not a whole number >= 32/],
    [["--sizes", "96.5"], /^error: --sizes: '96\.5' is not a whole number >= 32/],
    // A valid list parses, and is refused only because no model takes it.
    [
      ["--sizes", "96,160,224", "--models", "mlp"],
      /^error: --sizes applies to vgg16 and mobilenetv2/,
    ],
    [["--feature-images", "9000"], /^error: --feature-images 9000 is more than --images 8192$/],
    [["--feature-images", "0"], /^error: --feature-images must be a whole number >= 1, got '0'$/],
    [
      ["--alpha", "0.6"],
      /^error: --alpha: '0\.6' is not one of 0\.35, 0\.5, 0\.75, 1, 1\.3, 1\.4$/,
    ],
    [["--accuracy", "--models", "cnn"], /--accuracy measures resnet9 only; drop --models 'cnn'/],
    [["--workers", "0", "--models", "mlp"], /--workers must be a whole number >= 1, got '0'/],
  ];
  for (const [args, message] of cases) {
    const { code, err } = await bench(args);
    assert.equal(code, 2, args.join(" "));
    assert.equal(err.length, 1, err.join("\n"));
    assert.match(err[0], message);
  }
});

Deno.test("bench: our side holds its model across epochs, and leaves no tensors when closed", async () => {
  await initBackend();
  const data = syntheticCifar100({ seed: 0, trainCount: 512, testCount: 1 });
  const before = tf.memory().numTensors;
  const ours = await openOurs("mlp", data, 1);
  const first = await ours.epoch();
  // The optimizer's slots exist after the first step; a later epoch adds nothing.
  const held = tf.memory().numTensors;
  const second = await ours.epoch();
  assert.equal(tf.memory().numTensors, held);
  assert.ok([first, second].every((r) => Number.isFinite(r) && r > 0), `${first} ${second}`);
  ours.close();
  assert.equal(tf.memory().numTensors, before);
});

Deno.test("bench: MobileNetV2's feature extraction at a given side gives a rate and leaves no tensors", async () => {
  await initBackend();
  const data = syntheticCifar100({ seed: 0, trainCount: 512, testCount: 1 });
  const images = data.train.images.subarray(0, 16 * IMAGE_BYTES);
  const before = tf.memory().numTensors;
  const ours = await openOurs("mobilenetv2", data, 1, { inputSize: 48, alpha: 0.35, images });
  const rates = [await ours.epoch(), await ours.epoch()];
  assert.ok(rates.every((r) => Number.isFinite(r) && r > 0), String(rates));
  ours.close();
  assert.equal(tf.memory().numTensors, before);
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
  if (result.backend === "tensorflow") {
    // The replay records the same step that the split counts.
    assert.equal(result.replay?.ops, result.split?.ops, JSON.stringify(result));
    // The training loop's replays, as one function and op by op: every timed step replayed.
    const traced = result.traced!;
    assert.ok(traced.replayed.every((n) => n >= 9 * 4), JSON.stringify(traced));
    assert.ok(traced.function_ms > 0 && traced.ops_ms > 0 && traced.tfjs_ms > 0);
  }
});

// The real scripts, only where `deno task bench --keras` / `--torch` made their environments.
Deno.test({
  name:
    "bench: keras_reference.py --serve extracts MobileNetV2 features at a side, with our weights count",
  ignore: !(await exists(join(benchEnvDir("keras-venv"), ".ready"))),
  fn: async () => {
    await initBackend();
    const python = join(benchEnvDir("keras-venv"), "bin", "python");
    const data = syntheticCifar100({ seed: 0, trainCount: 512, testCount: 1 });
    const dir = await writeBenchData(data);
    const ours = buildMobileNetV2Base({ alpha: 0.35, inputSize: 64, seed: 0 });
    const feature = { inputSize: 64, alpha: 0.35, count: 128 };
    const theirs = await openReference(
      { id: "keras", name: "keras", python },
      "mobilenetv2",
      dir,
      feature,
    );
    try {
      assert.equal(theirs.header.train_images, 128);
      assert.equal(theirs.header.params, ours.countParams());
      const rate = await theirs.epoch();
      assert.ok(Number.isFinite(rate) && rate > 0, String(rate));
    } finally {
      await theirs.close();
      ours.dispose();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

for (const [id, env] of [["keras", "keras-venv"], ["torch", "torch-venv"]] as const) {
  const python = join(benchEnvDir(env), "bin", "python");
  Deno.test({
    name:
      `bench: ${id}_reference.py --serve holds ResNet-9, as many weights as ours, and times epochs on request`,
    ignore: !(await exists(join(benchEnvDir(env), ".ready"))),
    fn: async () => {
      await initBackend();
      const data = syntheticCifar100({ seed: 0, trainCount: 512, testCount: 1 });
      const dir = await writeBenchData(data);
      const ours = buildSmallModel("resnet9", 0);
      const trainable = ours.trainableWeights.reduce(
        (n, w) => n + w.read().size,
        0,
      );
      const theirs = await openReference({ id, name: id, python }, "resnet9", dir);
      try {
        assert.equal(theirs.header.train_images, 512);
        assert.deepEqual(
          [theirs.header.params, theirs.header.trainable_params],
          [ours.countParams(), trainable],
        );
        const rates = [await theirs.epoch(), await theirs.epoch()];
        assert.ok(rates.every((r) => Number.isFinite(r) && r > 0), String(rates));
      } finally {
        await theirs.close();
        ours.dispose();
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}

Deno.test({
  name: "bench: eager_vs_function.py times the CNN step eagerly and as one tf.function",
  ignore: !(await exists(join(benchEnvDir("keras-venv"), ".ready"))),
  fn: async () => {
    const python = join(benchEnvDir("keras-venv"), "bin", "python");
    const script = new URL("../lib/bench/eager_vs_function.py", import.meta.url).pathname;
    const args = [script, "--batch", "8", "--rounds", "2", "--sides", "eager,function"];
    const run = await new Deno.Command(python, { args, stdout: "piped", stderr: "null" }).output();
    assert.equal(run.code, 0);
    const result = JSON.parse(new TextDecoder().decode(run.stdout).trim().split("\n").at(-1)!);
    assert.deepEqual(Object.keys(result), ["batch", "rounds", "eager", "function"]);
    // At 8 images a step is mostly Python's and the eager runtime's per-op cost, which the
    // graph removes: the function must win, or the two sides are not what they claim.
    assert.ok(result.function.eager_over_this[0] > 1, JSON.stringify(result));
  },
});
