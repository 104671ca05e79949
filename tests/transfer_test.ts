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

Deno.test("mobilenetv2: fine-tuning moves the top blocks only, batch norm keeps its statistics", async () => {
  const cacheDir = await Deno.makeTempDir();
  try {
    const data = syntheticCifar100({ seed: 3, trainCount: 24, testCount: 8 });
    const weights = { kind: "none" as const, description: "random initial weights (test)" };
    const lines: string[] = [];
    const config: ExperimentConfig = {
      model: "mobilenetv2",
      alpha: 0.35,
      inputSize: 32,
      epochs: 1,
      batchSize: 12,
      seed: 3,
      fineTune: true,
      cacheDir,
      out: null,
    };
    if (backend.name === "wasm") {
      assert.throws(() => resolveRun(config, engine), /--fine-tune .* needs the native engine/);
      return;
    }
    const tuned = await trainTransfer(
      resolveRun(config, engine),
      weights,
      data,
      {},
      (l) => lines.push(l),
    );
    assert.ok(lines.some((l) => /RANDOM MobileNetV2 \(alpha 0\.35\) weights/.test(l)));
    assert.ok(lines.some((l) => /Fine-tuning blocks 13 to 16 and Conv_1 \(/.test(l)));
    assert.equal(tuned.history.loss.length, 1 + 2, "head epochs, then fine-tuning epochs");
    assert.equal(tuned.extra!.alpha, 0.35);
    const { buildMobileNetV2Base } = await import("../lib/models/mobilenet_v2.ts");
    const fresh = buildMobileNetV2Base({ alpha: 0.35, inputSize: 32, seed: 3 });
    const layer = (m: tf.LayersModel, name: string) => m.getLayer(name).getWeights()[0].dataSync();
    const base = tuned.model.getLayer("mobilenetv2_0.35_224") as tf.LayersModel;
    for (const frozen of ["Conv1", "block_12_project", "block_13_expand_BN", "Conv_1_bn"]) {
      assert.deepEqual(layer(base, frozen), layer(fresh, frozen), frozen);
    }
    const movingMean = (m: tf.LayersModel) => m.getLayer("block_16_project_BN").getWeights()[2];
    assert.deepEqual(movingMean(base).dataSync(), movingMean(fresh).dataSync());
    for (const trained of ["block_13_expand", "block_16_depthwise", "Conv_1"]) {
      assert.notDeepEqual(layer(base, trained), layer(fresh, trained), trained);
    }
    fresh.dispose();
    tuned.model.dispose();
  } finally {
    await Deno.remove(cacheDir, { recursive: true });
  }
});

Deno.test("mobilenetv2: a saved run predicts, explains itself at out_relu and calibrates", async () => {
  const { runExperiment } = await import("../lib/train/experiment.ts");
  const { loadClassifier, predictTopK } = await import("../lib/inference/predict.ts");
  const { gradCam } = await import("../lib/inference/gradcam.ts");
  const { calibrate } = await import("../lib/inference/calibration.ts");
  const out = await Deno.makeTempDir();
  try {
    await runExperiment({
      model: "mobilenetv2",
      alpha: 0.35,
      inputSize: 64,
      weights: "none",
      data: "synthetic",
      epochs: 2,
      limitTrain: 64,
      limitTest: 32,
      out,
      cacheDir: out,
    }, { log: () => {}, summary: false });
    const classifier = await loadClassifier(`${out}/mobilenetv2`);
    assert.equal(classifier.inputSize, 64);
    const test = syntheticCifar100({ trainCount: 0, testCount: 32 }).test;
    const before = tf.memory().numTensors;
    const [top] = predictTopK(classifier, test.images.subarray(0, 32 * 32 * 3), 5);
    assert.equal(top.length, 5);
    const cam = gradCam(classifier, test.images.subarray(0, 2 * 32 * 32 * 3));
    assert.equal(cam.layer, "out_relu");
    assert.equal(cam.maps.length, 2 * 32 * 32);
    const calibration = await calibrate(classifier, test.images);
    assert.ok(calibration.temperature > 0);
    assert.equal(tf.memory().numTensors, before, "no tensors left behind");
    classifier.model.dispose();
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
