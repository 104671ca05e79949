import assert from "node:assert/strict";
import { initBackend, tf } from "../lib/engine/backend.ts";
import { readNativeStatus } from "../lib/engine/install/native.ts";
import { cpuHasBfloat16, setPrecision } from "../lib/engine/precision.ts";
import { conv2dBiasRelu } from "../lib/engine/conv_bias_relu.ts";
import { nodeBackend } from "../lib/engine/node_backend.ts";
import { UserError } from "../lib/util/errors.ts";
import { resolveRun } from "../lib/train/experiment_config.ts";
import { runExperiment } from "../lib/train/experiment.ts";
import { readRunRecord } from "../lib/train/run_record.ts";
import { main as benchMain } from "../lib/cli/bench.ts";

// bfloat16 runs on the native engine on a CPU with bf16 instructions; elsewhere only the refusals.
const native = (await readNativeStatus()) !== undefined;
if (native) await initBackend("tensorflow");
const bf16 = native && cpuHasBfloat16();

const WITH_BF16 = "flags\t\t: fpu avx512f avx512_bf16 sse2\n";
const WITHOUT = "flags\t\t: fpu avx512f avx512_vnni sse2\n";

Deno.test("cpuHasBfloat16 reads avx512_bf16 or amx_bf16 from cpuinfo's flags", () => {
  assert.equal(cpuHasBfloat16(() => WITH_BF16), true);
  assert.equal(cpuHasBfloat16(() => "flags : amx_bf16 amx_tile\n"), true);
  assert.equal(cpuHasBfloat16(() => WITHOUT), false);
  // Not a flag: a model name that mentions it.
  assert.equal(cpuHasBfloat16(() => "model name : avx512_bf16 chip\nflags : sse2\n"), false);
  assert.equal(
    cpuHasBfloat16(() => {
      throw new Error("no /proc");
    }),
    false,
  );
});

Deno.test("bfloat16 is refused in one line without CPU support and on wasm", () => {
  const refused = (backend: string, cpuinfo: string, pattern: RegExp) =>
    assert.throws(() => setPrecision("bfloat16", backend, () => cpuinfo), (e: Error) => {
      assert.ok(e instanceof UserError);
      assert.match(e.message, pattern);
      assert.ok(!e.message.includes("\n"));
      return true;
    });
  refused("tensorflow", WITHOUT, /needs a CPU with avx512_bf16 or amx_bf16/);
  refused("wasm", WITH_BF16, /needs the native engine \(this one is wasm\)/);
  refused("cpu", WITH_BF16, /native engine/);
  setPrecision("float32", "wasm", () => WITHOUT);
});

/** The tensors tfjs-node's backend holds (its own count, beside tfjs's). */
function engineTensors(): number {
  return (nodeBackend() as unknown as { numDataIds(): number }).numDataIds();
}

/** The same values, bit for bit; the message names the first difference (not a diff of all). */
function assertSame(actual: tf.Tensor, expected: tf.Tensor, what: string): void {
  const [a, e] = [actual.dataSync(), expected.dataSync()];
  assert.equal(a.length, e.length, `${what}: length`);
  const i = a.findIndex((v, i) => !Object.is(v, e[i]));
  assert.equal(i, -1, `${what}: element ${i} is ${a[i]}, expected ${e[i]}`);
}

/** Relative error of `a` against `e`: |a - e| / |e| over all elements. */
function relativeError(a: tf.Tensor, e: tf.Tensor): number {
  return tf.tidy(() => tf.norm(tf.sub(a, e)).div(tf.norm(e)).dataSync()[0]);
}

/**
 * The ops that run in bfloat16, each on the same float32 inputs, at `precision`: the CNN's
 * second conv (fused with bias and ReLU, and plain), its input and filter gradients, the dense
 * layer's product (fused with its bias) and both its gradients; then an RGB conv (plain, fused,
 * and its gradients), which stays float32.
 */
function ops(precision: "float32" | "bfloat16"): tf.Tensor[] {
  setPrecision(precision, "tensorflow");
  try {
    return tf.tidy(() => {
      const input = (shape: number[], seed: number, scale = 1) =>
        tf.randomNormal(shape, 0, scale, "float32", seed);
      const x = input([8, 15, 15, 32], 1) as tf.Tensor4D;
      const filter = input([3, 3, 32, 64], 2, 0.1) as tf.Tensor4D;
      const bias = input([64], 3, 0.1) as tf.Tensor1D;
      const dy = input([8, 13, 13, 64], 4) as tf.Tensor4D;
      const a = input([8, 2304], 5) as tf.Tensor2D;
      const w = input([2304, 10], 6, 0.05) as tf.Tensor2D;
      const dense = input([8, 10], 7);
      const geometry = { strides: [1, 1] as [number, number], pad: "valid" as const };
      // Linear in each argument, so each gradient is exactly one backprop op on dy or `dense`.
      const conv = (x: tf.Tensor, f: tf.Tensor) =>
        tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, 1, "valid").mul(dy).sum();
      const product = (a: tf.Tensor, w: tf.Tensor) =>
        tf.matMul(a as tf.Tensor2D, w as tf.Tensor2D).mul(dense).sum();
      const rgb = input([8, 12, 12, 3], 8) as tf.Tensor4D;
      const first = input([3, 3, 3, 32], 9, 0.1) as tf.Tensor4D;
      return [
        conv2dBiasRelu(x, filter, bias, geometry),
        tf.conv2d(x, filter, 1, "valid"),
        ...tf.grads(conv)([x, filter]),
        tf.fused.matMul({ a, b: w, bias: bias.slice(0, 10) }),
        ...tf.grads(product)([a, w]),
        tf.conv2d(rgb, first, 1, "valid"),
        conv2dBiasRelu(rgb, first, bias.slice(0, 32), geometry),
        ...tf.grads((x: tf.Tensor, f: tf.Tensor) =>
          tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, 1, "valid").mul(
            dy.slice(0, [8, 10, 10, 32]),
          )
            .sum()
        )([rgb, first]),
      ];
    });
  } finally {
    setPrecision("float32", "tensorflow");
  }
}

/** What {@linkcode ops} returns, by position. */
const NAMES = ["fused conv", "conv", "conv dx", "conv dfilter", "dense", "dense da", "dense dw"];

Deno.test({
  name: "bfloat16 conv and matmul, forward and gradients, within bfloat16's error of float32",
  ignore: !bf16,
  fn() {
    const full = ops("float32");
    const half = ops("bfloat16");
    NAMES.forEach((name, i) => {
      const err = relativeError(half[i], full[i]);
      assert.ok(err < 1e-2, `${name}: relative error ${err}`);
      // bfloat16 keeps 8 bits of mantissa: a result closer than 1e-4 was not computed in it.
      assert.ok(err > 1e-4, `${name}: relative error ${err}, not bfloat16's`);
    });
    // An odd number of input channels: TensorFlow's bfloat16 conv is wrong there, so float32,
    // its gradients too.
    ["RGB conv", "RGB fused conv", "RGB conv dx", "RGB conv dfilter"].forEach((name, i) =>
      assertSame(half[NAMES.length + i], full[NAMES.length + i], name)
    );
    tf.dispose([...full, ...half]);
  },
});

/**
 * Run `fn` counting the TensorFlow handles the binding makes and deletes: the ids still live at
 * the end (tfjs's tensors and any handle made on raw ids and not deleted).
 */
function liveHandles(fn: () => void): Set<number> {
  const backend = nodeBackend() as unknown as { binding: Binding };
  const binding = backend.binding;
  const live = new Set<number>();
  // The native binding's members are read-only: the backend gets a counting stand-in.
  const counting: Binding = Object.create(binding, {
    executeOp: {
      value: (...a: unknown[]) => {
        const outs = binding.executeOp(...a);
        outs.forEach((o) => live.add(o.id));
        return outs;
      },
    },
    createTensor: {
      value: (...a: unknown[]) => {
        const id = binding.createTensor(...a);
        live.add(id);
        return id;
      },
    },
    deleteTensor: {
      value: (id: number) => {
        live.delete(id);
        binding.deleteTensor(id);
      },
    },
  });
  backend.binding = counting;
  try {
    fn();
  } finally {
    backend.binding = binding;
  }
  return live;
}

/** The binding's calls that make and delete TensorFlow handles. */
interface Binding {
  executeOp(...args: unknown[]): { id: number }[];
  createTensor(...args: unknown[]): number;
  deleteTensor(id: number): void;
}

Deno.test({
  name: "bfloat16 leaves no tensors behind, in tfjs, the engine or the binding; float32 unchanged",
  ignore: !bf16,
  fn() {
    const before = tf.memory().numTensors;
    const engineBefore = engineTensors();
    const first = ops("float32");
    const live = liveHandles(() => tf.dispose(ops("bfloat16")));
    assert.deepEqual([...live], [], "handles made in bfloat16 and never deleted");
    const again = ops("float32");
    first.forEach((t, i) => assertSame(again[i], t, `float32 ${NAMES[i] ?? "RGB conv"}`));
    tf.dispose([...first, ...again]);
    assert.equal(tf.memory().numTensors, before);
    assert.equal(engineTensors(), engineBefore);
  },
});

Deno.test("--precision is resolved once: float32 by default, bfloat16 refused where it cannot hold", () => {
  const engine = { backend: "tensorflow", threads: 1 };
  assert.equal(resolveRun({ model: "cnn" }, engine).precision, "float32");
  assert.equal(resolveRun({ model: "cnn", precision: "bfloat16" }, engine).precision, "bfloat16");
  const refused: [Parameters<typeof resolveRun>[0], RegExp][] = [
    [{ model: "cnn", precision: "half" as "bfloat16" }, /unknown precision 'half'/],
    [{ model: "cnn", precision: "bfloat16", workers: 2 }, /one thread: leave --workers out/],
    [{ model: "vgg16", precision: "bfloat16" }, /not --model vgg16 \(its features are cached/],
  ];
  for (const [config, pattern] of refused) {
    assert.throws(() => resolveRun(config, engine), (e: Error) => {
      assert.ok(e instanceof UserError, String(e));
      assert.match(e.message, pattern);
      return true;
    });
  }
});

Deno.test({
  name: "a bfloat16 run records its precision, and a float32 run refuses its checkpoint",
  ignore: !bf16,
  async fn() {
    const out = await Deno.makeTempDir();
    const config = {
      model: "cnn" as const,
      data: "synthetic",
      limitTrain: 256,
      limitTest: 64,
      batchSize: 64,
      out,
    };
    const quiet = { log: () => {}, summary: false };
    try {
      const record = await runExperiment({ ...config, epochs: 1, precision: "bfloat16" }, quiet);
      assert.equal(record.precision, "bfloat16");
      assert.equal((await readRunRecord(record.record_path!)).precision, "bfloat16");
      // Stopped after epoch 1 of 2: its checkpoint stands.
      const stop = new AbortController();
      await assert.rejects(
        runExperiment({ ...config, epochs: 2, precision: "bfloat16", checkpoint: "restart" }, {
          ...quiet,
          signal: stop.signal,
          onProgress: (done, total) => done === total && stop.abort("test"),
        }),
      );
      await assert.rejects(
        runExperiment({ ...config, epochs: 2, checkpoint: "resume" }, quiet),
        /is of another run \(precision "bfloat16", this run's "float32"\)/,
      );
      const float = await runExperiment({ ...config, epochs: 1, checkpoint: "restart" }, quiet);
      assert.equal(float.precision, "float32");
    } finally {
      setPrecision("float32", "tensorflow");
      await Deno.remove(out, { recursive: true });
    }
  },
});

Deno.test("train --precision bfloat16 on the WebAssembly engine: one line, exit 2", async () => {
  const cli = new URL("../lib/cli/train.ts", import.meta.url).pathname;
  const args = ["--model", "cnn", "--data", "synthetic", "--precision", "bfloat16", "--restart"];
  const dir = await Deno.makeTempDir();
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", cli, ...args, "--out", dir],
    env: { TFJS_BACKEND: "wasm" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  await Deno.remove(dir, { recursive: true });
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 2, stderr);
  const errors = stderr.split("\n").filter((l) => l.startsWith("error: "));
  assert.equal(errors.length, 1, stderr);
  assert.match(errors[0], /--precision bfloat16 needs the native engine \(this one is wasm\)/);
});

Deno.test("bench --precision: an unknown value, or bfloat16 with --torch or workers, is one line", async () => {
  const cases: [string[], RegExp][] = [
    [["--precision", "half"], /^error: --precision: 'half' is not one of float32, bfloat16$/],
    [["--precision", "bfloat16", "--torch"], /compares with Keras only: leave --torch out$/],
    [["--precision", "bfloat16", "--workers", "2"], /runs ours on one thread: leave --workers/],
  ];
  for (const [args, message] of cases) {
    const err: string[] = [];
    const { error } = console;
    console.error = (...a: unknown[]) => void err.push(a.join(" "));
    let code: number;
    try {
      code = await benchMain([...args, "--models", "mlp"]);
    } finally {
      console.error = error;
    }
    assert.equal(code, 2, args.join(" "));
    assert.equal(err.length, 1, err.join("\n"));
    assert.match(err[0], message);
  }
});
