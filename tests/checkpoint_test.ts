import assert from "node:assert/strict";
import { join } from "node:path";
import { initBackend, tf } from "../lib/engine/backend.ts";
import { buildCnn } from "../lib/models/cnn.ts";
import { makeOptimizer } from "../lib/train/optimizer.ts";
import { gradients } from "../lib/train/step.ts";
import {
  CHECKPOINT_FILE,
  configDifference,
  readCheckpoint,
  restoreCheckpoint,
  writeCheckpoint,
} from "../lib/train/checkpoint.ts";
import { UserError } from "../lib/util/errors.ts";

await initBackend();

const SPECS = [
  { name: "adam", learningRate: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 },
  { name: "rmsprop", learningRate: 1e-3, rho: 0.9, momentum: 0.5, epsilon: 1e-7 },
  { name: "sgd", learningRate: 0.05, momentum: 0.9, nesterov: true },
] as const;

/** `steps` training steps of the CNN (dropout on) on fixed random batches, from step `from`. */
function train(model: tf.LayersModel, optimizer: tf.Optimizer, from: number, steps: number) {
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  for (let s = from; s < from + steps; s++) {
    const x = tf.randomUniform([8, 32, 32, 3], 0, 1, "float32", s);
    const labels = tf.tensor1d(Array.from({ length: 8 }, (_, i) => (i * 7 + s) % 100), "int32");
    const { grads } = gradients(model, variables, {
      x,
      labels,
      numClasses: 100,
      loss: "categorical_crossentropy",
    });
    optimizer.applyGradients(grads);
    tf.dispose([x, labels, ...Object.values(grads)]);
  }
}

function weightsOf(model: tf.LayersModel): Float32Array[] {
  return model.weights.map((w) => w.read().dataSync() as Float32Array);
}

/**
 * Steps before the checkpoint: after 18, tfjs's Adam holds 0.999^19 as a float32 product that
 * pow(0.999, 19) is not (lib/train/optimizer.ts RestorableAdam); after 3 they were the same.
 */
const STEPS_BEFORE = 18;

const PROGRESS = {
  epoch: 1,
  step: 3,
  history: { loss: [4.6] },
  secondsPerEpoch: [1],
  validationSeconds: [],
  learningRates: [],
};

for (const spec of SPECS) {
  Deno.test(`a restored ${spec.name} run goes on to the same weights, bit for bit`, async () => {
    const dir = await Deno.makeTempDir();
    const model = buildCnn({ seed: 5 }), optimizer = makeOptimizer(spec);
    train(model, optimizer, 0, STEPS_BEFORE);
    const { path, bytes } = await writeCheckpoint(dir, {
      identity: { model: "cnn", seed: 5 },
      progress: PROGRESS,
      model,
      optimizer,
    });
    assert.equal((await Deno.stat(path)).size, bytes);
    train(model, optimizer, STEPS_BEFORE, 3);
    const expected = weightsOf(model);

    // A fresh model as a resumed run builds it (same seed: other variable names, the initial
    // weights, dropout at its first mask) and a fresh optimizer.
    const again = buildCnn({ seed: 5 }), fresh = makeOptimizer(spec);
    const checkpoint = (await readCheckpoint(dir))!;
    assert.deepEqual(checkpoint.progress, PROGRESS);
    await restoreCheckpoint(checkpoint, again, fresh);
    checkpoint.dispose();
    train(again, fresh, STEPS_BEFORE, 3);
    const got = weightsOf(again);
    got.forEach((w, i) => assert.deepEqual(w, expected[i], `weight ${i} differs`));
    assert.equal(fresh.iterations, optimizer.iterations);
    [model, again].forEach((m) => m.dispose());
    [optimizer, fresh].forEach((o) => o.dispose());
    await Deno.remove(dir, { recursive: true });
  });
}

Deno.test("a checkpoint replaces the previous one and a damaged one is named", async () => {
  const dir = await Deno.makeTempDir();
  const model = buildCnn({ seed: 1 }), optimizer = makeOptimizer(SPECS[0]);
  train(model, optimizer, 0, 1);
  const state = { identity: { seed: 1 }, progress: PROGRESS, model, optimizer };
  await writeCheckpoint(dir, state);
  await writeCheckpoint(dir, { ...state, progress: { ...PROGRESS, epoch: 2 } });
  assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), [CHECKPOINT_FILE]);
  const checkpoint = (await readCheckpoint(dir))!;
  assert.equal(checkpoint.progress.epoch, 2);
  checkpoint.dispose();
  const path = join(dir, CHECKPOINT_FILE);
  const bytes = await Deno.readFile(path);
  for (const damage of [bytes.subarray(0, bytes.length - 1), bytes.with(-5, bytes.at(-5)! ^ 1)]) {
    await Deno.writeFile(path, damage);
    await assert.rejects(() => readCheckpoint(dir), (e: Error) => {
      assert.ok(e instanceof UserError);
      assert.ok(e.message.includes(path) && !e.message.includes("\n"), e.message);
      assert.match(e.message, /damaged/);
      return true;
    });
  }
  assert.equal(await readCheckpoint(join(dir, "none")), undefined);
  model.dispose();
  optimizer.dispose();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("configDifference names the first key whose value differs", () => {
  const run = { model: "cnn", seed: 1, batch_size: 128 };
  assert.equal(configDifference(run, { ...run }), undefined);
  assert.equal(configDifference(run, { ...run, seed: 2 }), "seed 1, this run's 2");
  assert.equal(
    configDifference(run, { ...run, data: "synthetic" }),
    'data null, this run\'s "synthetic"',
  );
  // Checkpoints written before runs recorded their precision were float32 runs.
  assert.equal(configDifference(run, { ...run, precision: "float32" }), undefined);
  assert.equal(
    configDifference(run, { ...run, precision: "bfloat16" }),
    'precision "float32", this run\'s "bfloat16"',
  );
});
