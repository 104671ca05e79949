/**
 * Training that survives interruption (issue 20): a real `deno task train` child is sent a real
 * SIGTERM once "Epoch 3/5" is in its log, stops after the step under way, says which epoch's
 * checkpoint stands, and `--resume` ends with the weights (model.json's SHA-256 of weights.bin),
 * history and test accuracy of a run that was never stopped, bit for bit: the CNN, ResNet-9 with
 * its augmentation and one-cycle schedule, and the CNN on wasm with a gradient worker (whose
 * replica's dropout positions the checkpoint keeps). A checkpoint of another configuration is
 * refused with one line naming the difference; so is any checkpoint without --resume or
 * --restart. Synthetic data, 192 training images (288 on wasm: Adam restored after 18 or more
 * steps), batches of 32: a few seconds per run.
 *
 * The signal is sent when epoch 3 of 5 starts; a loaded machine may deliver it some steps
 * later, so the stop may land in epoch 3, 4 or 5 (17 steps of latency before the run would end):
 * the test reads which epoch's checkpoint stands from the child's line and compares from there.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { initBackend, tf } from "../lib/engine/backend.ts";
import { syntheticCifar100 } from "../lib/data/synthetic.ts";
import { imageExamples } from "../lib/data/examples.ts";
import { buildCnn } from "../lib/models/cnn.ts";
import { fit, TrainingStopped } from "../lib/train/fit.ts";
import type { TrainingProgress } from "../lib/train/checkpoint.ts";
import { errorLines, finished, interrupted, stopLine, train as trainChild } from "./train_child.ts";

const EPOCHS = 5;
/** Sent at the start of epoch 3: the checkpoint of epoch 2 (or a later one) stands. */
const TRIGGER = `Epoch 3/${EPOCHS}`;

function trainArgs(out: string, model: string, extra: string[], images = 192): string[] {
  return [
    "--model",
    model,
    "--data",
    "synthetic",
    "--epochs",
    String(EPOCHS),
    "--limit-train",
    String(images),
    "--limit-test",
    "32",
    "--batch-size",
    "32",
    "--out",
    out,
    ...extra,
  ];
}

/** Run to the end. */
function train(out: string, model: string, extra: string[] = [], env = {}, images?: number) {
  return trainChild(trainArgs(out, model, extra, images), env);
}

/** SIGTERM a run once its log shows epoch 3's start; the epoch whose checkpoint stands. */
async function stopped(
  out: string,
  model: string,
  extra: string[] = [],
  env = {},
  images?: number,
) {
  const stop = await interrupted(trainArgs(out, model, extra, images), TRIGGER, env);
  const line = stopLine(stop);
  const [, during, standing] = /during epoch (\d+) of \d+; the checkpoint after epoch (\d+) /
    .exec(line) ?? [];
  assert.ok(standing, line);
  const epoch = Number(standing);
  assert.equal(Number(during), epoch + 1, line);
  assert.ok(epoch >= 2 && epoch < EPOCHS, `the checkpoint of epoch 2 to ${EPOCHS - 1}: ${line}`);
  return epoch;
}

const cases = [
  { name: "cnn", model: "cnn", extra: [] as string[], env: {} },
  { name: "resnet9 (crop+flip, one-cycle)", model: "resnet9", extra: [], env: {} },
  {
    name: "cnn on wasm, 2 threads",
    model: "cnn",
    extra: ["--workers", "2"],
    env: { TFJS_BACKEND: "wasm" },
    // 9 steps an epoch: the checkpoint holds Adam after 18 or more steps, where tfjs's own
    // restore of beta2's power differed in the last bit (lib/train/optimizer.ts).
    images: 288,
  },
];

for (const { name, model, extra, env, images } of cases) {
  Deno.test(`${name}: SIGTERM in epoch 3 of 5, --resume: the same weights, history, accuracy`, async () => {
    const whole = await Deno.makeTempDir(), parted = await Deno.makeTempDir();
    try {
      const full = await train(whole, model, extra, env, images);
      assert.equal(full.code, 0, full.log);
      const doneBefore = await stopped(parted, model, extra, env, images);
      const resumed = await train(parted, model, [...extra, "--resume"], env, images);
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
    await stopped(out, "cnn");
    const other = await train(out, "cnn", ["--resume", "--batch-size", "16"]);
    assert.equal(other.code, 2, other.log);
    assert.deepEqual(errorLines(other.log).length, 1, other.log);
    assert.match(
      errorLines(other.log)[0],
      /is of another run \(batch_size 32, this run's 16\).*--restart/,
    );
    const neither = await train(out, "cnn");
    assert.equal(neither.code, 2, neither.log);
    assert.match(errorLines(neither.log)[0], /holds this run after epoch \d of 5: pass --resume/);
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
