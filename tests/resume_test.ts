/**
 * Training that survives interruption (issue 20): a real `deno task train` child is sent a real
 * SIGTERM once "Epoch 3/4" is in its log, stops after the step under way with the checkpoint of
 * epoch 2, and `--resume` ends with the weights (model.json's SHA-256 of weights.bin), history
 * and test accuracy of a run that was never stopped, bit for bit: the CNN, ResNet-9 with its
 * augmentation and one-cycle schedule, and the CNN on wasm with a gradient worker (whose
 * replica's dropout positions the checkpoint keeps). A checkpoint of another configuration is
 * refused with one line naming the difference; so is any checkpoint without --resume or
 * --restart. Synthetic data, 192 training images: a few seconds per run.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { initBackend, tf } from "../lib/engine/backend.ts";
import { syntheticCifar100 } from "../lib/data/synthetic.ts";
import { imageExamples } from "../lib/data/examples.ts";
import { buildCnn } from "../lib/models/cnn.ts";
import { fit, TrainingStopped } from "../lib/train/fit.ts";
import type { TrainingProgress } from "../lib/train/checkpoint.ts";

const TRAIN = new URL("../lib/cli/train.ts", import.meta.url).pathname;
const decoder = new TextDecoder();

function trainCommand(out: string, model: string, extra: string[] = [], env = {}) {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      TRAIN,
      "--model",
      model,
      "--data",
      "synthetic",
      "--epochs",
      "4",
      "--limit-train",
      "192",
      "--limit-test",
      "32",
      "--batch-size",
      "32",
      "--out",
      out,
      ...extra,
    ],
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  });
}

/** Run to the end; its stderr on failure. */
async function train(out: string, model: string, extra: string[] = [], env = {}) {
  const result = await trainCommand(out, model, extra, env).output();
  const log = decoder.decode(result.stderr);
  return { code: result.code, log };
}

/** Start a run, SIGTERM it once its log shows `Epoch 3/4`, and read the rest of its log. */
async function interrupted(out: string, model: string, extra: string[] = [], env = {}) {
  const child = trainCommand(out, model, extra, env).spawn();
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let log = "", killed = false;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    log += value;
    if (!killed && log.includes("Epoch 3/4")) {
      child.kill("SIGTERM");
      killed = true;
    }
  }
  const status = await child.status;
  await child.stdout.cancel();
  return { code: status.code, log };
}

async function finished(out: string, model: string) {
  const dir = join(out, model);
  const record = JSON.parse(await Deno.readTextFile(join(dir, "run.json")));
  const json = JSON.parse(await Deno.readTextFile(join(dir, "model.json")));
  return { record, weights: json.weightsSha256 as string };
}

const errorLines = (log: string) => log.split("\n").filter((l) => l.startsWith("error:"));

const cases = [
  { name: "cnn", model: "cnn", extra: [] as string[], env: {} },
  { name: "resnet9 (crop+flip, one-cycle)", model: "resnet9", extra: [], env: {} },
  {
    name: "cnn on wasm, 2 threads",
    model: "cnn",
    extra: ["--workers", "2"],
    env: { TFJS_BACKEND: "wasm" },
  },
];

for (const { name, model, extra, env } of cases) {
  Deno.test(`${name}: SIGTERM in epoch 3 of 4, --resume: the same weights, history, accuracy`, async () => {
    const whole = await Deno.makeTempDir(), parted = await Deno.makeTempDir();
    try {
      const full = await train(whole, model, extra, env);
      assert.equal(full.code, 0, full.log);
      const stop = await interrupted(parted, model, extra, env);
      assert.equal(stop.code, 143, stop.log);
      const [line] = errorLines(stop.log);
      assert.match(line, /^error: training stopped by SIGTERM during epoch (3|4) of 4; /);
      assert.match(line, /the checkpoint after epoch \d stands .*; resume with: deno task train /);
      assert.match(line, /--resume$/);
      const doneBefore = Number(/during epoch (\d)/.exec(line)![1]) - 1;
      const resumed = await train(parted, model, [...extra, "--resume"], env);
      assert.equal(resumed.code, 0, resumed.log);
      assert.match(resumed.log, new RegExp(`Resuming from epoch ${doneBefore} `));
      const a = await finished(whole, model), b = await finished(parted, model);
      assert.equal(b.record.resumed_from_epoch, doneBefore);
      assert.deepEqual(b.record.history, a.record.history);
      assert.equal(b.record.test_accuracy, a.record.test_accuracy);
      assert.equal(b.record.test_loss, a.record.test_loss);
      assert.equal(b.weights, a.weights);
      assert.equal(a.record.resumed_from_epoch, undefined);
      // The finished run's save replaced the folder: no checkpoint is left.
      await assert.rejects(Deno.stat(join(parted, model, "checkpoint.ckpt")));
    } finally {
      await Deno.remove(whole, { recursive: true });
      await Deno.remove(parted, { recursive: true });
    }
  });
}

Deno.test("a checkpoint of another configuration, or without --resume/--restart, is refused in one line", async () => {
  const out = await Deno.makeTempDir();
  try {
    const stop = await interrupted(out, "cnn");
    assert.equal(stop.code, 143, stop.log);
    const other = await train(out, "cnn", ["--resume", "--batch-size", "16"]);
    assert.equal(other.code, 2, other.log);
    assert.deepEqual(errorLines(other.log).length, 1, other.log);
    assert.match(errorLines(other.log)[0], /is of another run \(batch_size 32, this run's 16\).*--restart/);
    const neither = await train(out, "cnn");
    assert.equal(neither.code, 2, neither.log);
    assert.match(errorLines(neither.log)[0], /holds this run after epoch \d of 4: pass --resume/);
    // --restart starts afresh (the record says nothing of a resume); --keep-best keeps best/.
    const restarted = await train(out, "cnn", ["--restart", "--keep-best"]);
    assert.equal(restarted.code, 0, restarted.log);
    assert.match(restarted.log, /Starting afresh: removed /);
    const { record } = await finished(out, "cnn");
    assert.equal(record.resumed_from_epoch, undefined);
    const best = record.history.val_accuracy.indexOf(Math.max(...record.history.val_accuracy));
    assert.equal(record.best_epoch, best + 1);
    const bestJson = JSON.parse(await Deno.readTextFile(join(out, "cnn", "best", "model.json")));
    assert.equal(typeof bestJson.weightsSha256, "string");
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("fit: a stop request ends the run after the step under way; onEpochEnd is awaited", async () => {
  await initBackend();
  const data = syntheticCifar100({ trainCount: 96, testCount: 0 });
  const model = buildCnn({ seed: 1 }), optimizer = tf.train.adam(1e-3);
  const controller = new AbortController();
  const ends: TrainingProgress[] = [];
  const steps: number[] = [];
  try {
    await assert.rejects(
      fit(model, imageExamples(data.train, data.train.fineLabels), {
        epochs: 3,
        batchSize: 32,
        optimizer,
        log: () => {},
        signal: controller.signal,
        onProgress: (done) => {
          steps.push(done);
          if (ends.length === 1 && done === 2) controller.abort("SIGINT");
        },
        onEpochEnd: async (progress) => {
          await new Promise((resolve) => setTimeout(resolve, 20));
          ends.push(progress);
        },
      }),
      (e) => e instanceof TrainingStopped && e.epochsDone === 1 && e.reason === "SIGINT",
    );
    assert.deepEqual(ends.map((p) => [p.epoch, p.step, p.history.loss.length]), [[1, 3, 1]]);
    assert.deepEqual(steps.filter((s) => s > 0), [1, 2, 3, 1, 2]);
  } finally {
    optimizer.dispose();
    model.dispose();
  }
});
