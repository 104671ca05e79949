import assert from "node:assert/strict";
import { initBackend, tf } from "../lib/engine/backend.ts";
import { syntheticCifar100 } from "../lib/data/synthetic.ts";
import { trainTransfer } from "../lib/train/transfer.ts";
import { type ExperimentConfig, resolveRun } from "../lib/train/experiment_config.ts";
import { defaultWorkers } from "../lib/train/parallel.ts";

const backend = await initBackend();
const engine = { backend: backend.name, threads: defaultWorkers(backend.name) };

Deno.test("vgg16: cached features train the head, fine-tuning moves block5 only", async () => {
  const cacheDir = await Deno.makeTempDir();
  try {
    const data = syntheticCifar100({ seed: 3, trainCount: 24, testCount: 8 });
    const lines: string[] = [];
    const weights = { kind: "none" as const, description: "random initial weights (test)" };
    // out null: trainTransfer alone saves nothing, not even checkpoints (runExperiment saves).
    const config: ExperimentConfig = {
      model: "vgg16",
      epochs: 2,
      batchSize: 12,
      seed: 3,
      cacheDir,
      out: null,
    };

    const run = resolveRun(config, engine);
    const head = await trainTransfer(run, weights, data, {}, (l) => lines.push(l));
    assert.equal(head.params.total, 14_765_988);
    assert.equal(head.params.trainable, 51_300);
    assert.equal(head.history.loss.length, 2);
    assert.equal(head.extra!.head_seconds_per_epoch!.length, 2);
    assert.ok(head.extra!.feature_seconds! >= 0);
    assert.equal(head.evaluation.predictions.length, 8);
    assert.ok(
      lines.some((l) =>
        /Features \(train, 24 images, 32px\): computed at [\d.]+ images\/s/.test(l)
      ),
    );
    assert.ok(lines.some((l) => /RANDOM VGG16 weights/.test(l)));
    head.model.dispose();

    // Same weights, data and size: the features now come from the cache.
    lines.length = 0;
    const tuned = await trainTransfer(
      resolveRun({ ...config, fineTune: true }, engine),
      weights,
      data,
      {},
      (l) => lines.push(l),
    );
    assert.ok(lines.some((l) => /Features \(train, 24 images, 32px\): from cache/.test(l)));
    assert.equal(tuned.params.trainable, 51_300 + 3 * 2_359_808);
    assert.equal(tuned.history.loss.length, 2 + 2, "head epochs, then fine-tuning epochs");
    assert.equal(tuned.extra!.fine_tune, true);
    // Block 5 trained away from its seeded start; block 1 stayed frozen.
    const fresh = (await import("../lib/models/vgg16.ts")).buildVgg16Base(32, 3);
    const layer = (m: tf.LayersModel, name: string) => m.getLayer(name).getWeights()[0].dataSync();
    const base = tuned.model.getLayer("vgg16") as tf.LayersModel;
    assert.deepEqual(layer(base, "block1_conv1"), layer(fresh, "block1_conv1"));
    assert.notDeepEqual(layer(base, "block5_conv3"), layer(fresh, "block5_conv3"));
    fresh.dispose();
    tuned.model.dispose();
  } finally {
    await Deno.remove(cacheDir, { recursive: true });
  }
});
