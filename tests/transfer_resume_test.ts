/**
 * The backbones' checkpoints (issues 20 and 26): a real `deno task train --model vgg16` (or
 * `mobilenetv2`) child (random weights, synthetic data, 32 px) is sent a real SIGTERM during its head phase, and with --fine-tune
 * during its fine-tuning phase; `--resume` ends with the weights (model.json's SHA-256), history
 * and test accuracy of a run that was never stopped, bit for bit. A resumed head phase reads
 * the features from their cache; a resumed fine-tuning phase needs none. A checkpoint of another
 * configuration (input size; MobileNetV2's width) is refused in one line; --restart --keep-best
 * keeps best/.
 *
 * Head epochs take milliseconds, so the head case has many short epochs (30 of 16 steps): a
 * signal that lands late stops a later epoch, and the test compares from the checkpoint the
 * child's line names. Fine-tuning has two epochs; the signal goes once the first one's
 * checkpoint is written, with 12 steps of the second left to stop in.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { errorLines, finished, interrupted, stopLine, train } from "./train_child.ts";

const PHASE_WORDS = { head: "the head", fineTune: "fine-tuning" } as const;

const cases = [
  {
    name: "head phase",
    phase: PHASE_WORDS.head,
    args: ["--epochs", "30", "--limit-train", "64", "--batch-size", "4"],
    trigger: "Epoch 2/30",
    /** Head epochs before the checkpoint's phase. */
    headEpochs: 0,
    resumedFeatures: /Features \(train, 64 images, 32px\): from cache/,
  },
  {
    name: "fine-tuning phase",
    phase: PHASE_WORDS.fineTune,
    args: ["--epochs", "2", "--limit-train", "96", "--batch-size", "8", "--fine-tune"],
    trigger: "Checkpoint: fine-tune epoch 1,",
    headEpochs: 2,
    resumedFeatures: /Features: not needed/,
  },
];

/** The backbones, each with its own flags (MobileNetV2 at its narrowest width, for speed). */
const BACKBONES = [
  { model: "vgg16", flags: [] },
  { model: "mobilenetv2", flags: ["--alpha", "0.35", "--input-size", "32"] },
];

function childArgs(out: string, extra: string[], model = "vgg16"): string[] {
  const common = ["--model", model, "--weights", "none", "--data", "synthetic"];
  return [...common, "--limit-test", "16", "--out", out, ...extra];
}

/** The epoch (within its phase) of the checkpoint that a stop's line says stands. */
function standingEpoch(line: string, phase: string): number {
  const stands = new RegExp(`of ${phase}; the checkpoint after epoch (\\d+) of ${phase} stands`);
  const [, epoch] = stands.exec(line) ?? [];
  assert.ok(epoch, `a stop in ${phase}, after a checkpoint of it: ${line}`);
  return Number(epoch);
}

for (const { model, flags } of BACKBONES) {
  for (const { name, phase, args: caseArgs, trigger, headEpochs, resumedFeatures } of cases) {
    const args = (out: string, extra: string[]) => childArgs(out, [...flags, ...extra], model);
    Deno.test(`${model}: SIGTERM in the ${name}, --resume: the same weights, history, accuracy`, async () => {
      const whole = await Deno.makeTempDir(), parted = await Deno.makeTempDir();
      // One features cache for the three runs, none of the user's.
      const env = { CIFAR100_CACHE: await Deno.makeTempDir(), CIFAR100_OFFLINE: "1" };
      try {
        const full = await train(args(whole, caseArgs), env);
        assert.equal(full.code, 0, full.log);
        const stop = await interrupted(args(parted, caseArgs), trigger, env);
        const epoch = standingEpoch(stopLine(stop), phase);
        const resumed = await train(args(parted, [...caseArgs, "--resume"]), env);
        assert.equal(resumed.code, 0, resumed.log);
        assert.match(resumed.log, new RegExp(`Resuming from epoch ${epoch} of ${phase} `));
        assert.match(resumed.log, resumedFeatures);
        const a = await finished(whole, model), b = await finished(parted, model);
        assert.equal(b.record.resumed_from_epoch, headEpochs + epoch);
        assert.deepEqual(b.record.history, a.record.history);
        assert.equal(b.record.test_accuracy, a.record.test_accuracy);
        assert.equal(b.record.test_loss, a.record.test_loss);
        assert.equal(b.weights, a.weights);
        assert.equal(a.record.resumed_from_epoch, undefined);
        await assert.rejects(Deno.stat(join(parted, model, "checkpoint.ckpt")));
      } finally {
        for (const dir of [whole, parted, env.CIFAR100_CACHE]) {
          await Deno.remove(dir, { recursive: true });
        }
      }
    });
  }
}

Deno.test("vgg16: another input size's checkpoint is refused in one line; --restart --keep-best", async () => {
  const out = await Deno.makeTempDir();
  const env = { CIFAR100_CACHE: await Deno.makeTempDir(), CIFAR100_OFFLINE: "1" };
  const args = ["--epochs", "30", "--limit-train", "64", "--batch-size", "4"];
  try {
    const stop = await interrupted(childArgs(out, args), "Epoch 2/30", env);
    standingEpoch(stopLine(stop), PHASE_WORDS.head);
    const other = await train(childArgs(out, [...args, "--resume", "--input-size", "64"]), env);
    assert.equal(other.code, 2, other.log);
    assert.equal(errorLines(other.log).length, 1, other.log);
    assert.match(errorLines(other.log)[0], /is of another run \(input_size 32, this run's 64\)/);
    const fewer = ["--epochs", "3", "--limit-train", "64", "--batch-size", "16"];
    const restarted = await train(childArgs(out, [...fewer, "--restart", "--keep-best"]), env);
    assert.equal(restarted.code, 0, restarted.log);
    assert.match(restarted.log, /Starting afresh: removed /);
    const { record } = await finished(out, "vgg16");
    assert.equal(record.resumed_from_epoch, undefined);
    const accuracies: number[] = record.history.val_accuracy;
    assert.equal(record.best_epoch, accuracies.indexOf(Math.max(...accuracies)) + 1);
    // best/ holds the whole classifier (images in), not the head alone.
    const best = JSON.parse(await Deno.readTextFile(join(out, "vgg16", "best", "model.json")));
    assert.match(JSON.stringify(best.modelTopology), /block5_conv3/);
  } finally {
    await Deno.remove(out, { recursive: true });
    await Deno.remove(env.CIFAR100_CACHE, { recursive: true });
  }
});

Deno.test("mobilenetv2: another width's checkpoint is refused in one line, naming both", async () => {
  const out = await Deno.makeTempDir();
  const env = { CIFAR100_CACHE: await Deno.makeTempDir(), CIFAR100_OFFLINE: "1" };
  const args = ["--epochs", "30", "--limit-train", "64", "--batch-size", "4", "--input-size", "32"];
  try {
    const narrow = (extra: string[]) => childArgs(out, [...args, ...extra], "mobilenetv2");
    const stop = await interrupted(narrow(["--alpha", "0.35"]), "Epoch 2/30", env);
    standingEpoch(stopLine(stop), PHASE_WORDS.head);
    const other = await train(narrow(["--alpha", "0.5", "--resume"]), env);
    assert.equal(other.code, 2, other.log);
    assert.equal(errorLines(other.log).length, 1, other.log);
    assert.match(errorLines(other.log)[0], /is of another run \(alpha 0\.35, this run's 0\.5\)/);
  } finally {
    await Deno.remove(out, { recursive: true });
    await Deno.remove(env.CIFAR100_CACHE, { recursive: true });
  }
});
