import assert from "node:assert/strict";
import { join } from "node:path";
import { initBackend, tf } from "../lib/engine/backend.ts";
import { cachedFeatures, clearFeatureMemoryCache, extractFeatures } from "../lib/train/features.ts";
import { buildVgg16Base, IMAGENET_MEAN_BGR } from "../lib/models/vgg16.ts";

await initBackend();

/** A stand-in base that passes its (preprocessed) input through: features = channel means. */
function identityBase(size: number): tf.LayersModel {
  const input = tf.input({ shape: [size, size, 3] });
  const output = tf.layers.activation({ activation: "linear", name: "pass" })
    .apply(input) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: output });
}

/** `n` uint8 images [n, 32, 32, 3]; image i is the constant colour (R, G, B) = colours[i]. */
function constantImages(colours: [number, number, number][]): Uint8Array {
  const images = new Uint8Array(colours.length * 32 * 32 * 3);
  colours.forEach((rgb, i) => {
    for (let p = 0; p < 32 * 32; p++) images.set(rgb, (i * 1024 + p) * 3);
  });
  return images;
}

function seededImages(n: number, seed: number): Uint8Array {
  const images = new Uint8Array(n * 32 * 32 * 3);
  let state = seed;
  for (let i = 0; i < images.length; i++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    images[i] = state >>> 24;
  }
  return images;
}

for (const inputSize of [32, 64]) {
  Deno.test(`features are BGR channel means minus ImageNet's at ${inputSize}px, in image order`, async () => {
    const colours: [number, number, number][] = [[255, 0, 10], [1, 2, 3], [100, 150, 200]];
    const base = identityBase(inputSize);
    const progress: [number, number][] = [];
    const { features, seconds, imagesPerSecond } = await extractFeatures(
      base,
      constantImages(colours),
      { inputSize, batchSize: 2, onProgress: (done, total) => progress.push([done, total]) },
    );
    assert.equal(features.length, 3 * 3);
    colours.forEach(([r, g, b], i) => {
      const expected = [
        b - IMAGENET_MEAN_BGR[0],
        g - IMAGENET_MEAN_BGR[1],
        r - IMAGENET_MEAN_BGR[2],
      ];
      expected.forEach((v, c) => assert.ok(Math.abs(features[i * 3 + c] - v) < 1e-2, `${i},${c}`));
    });
    assert.deepEqual(progress, [[2, 3], [3, 3]]);
    assert.ok(seconds > 0 && imagesPerSecond > 0);
    base.dispose();
  });
}

Deno.test("VGG16 features: [N, 512], independent of the batch size, no tensor leak", async () => {
  const base = buildVgg16Base(32);
  const images = seededImages(5, 7);
  const before = tf.memory().numTensors;
  const a = await extractFeatures(base, images, { inputSize: 32, batchSize: 2 });
  const b = await extractFeatures(base, images, { inputSize: 32, batchSize: 5 });
  assert.equal(tf.memory().numTensors, before);
  assert.equal(a.features.length, 5 * 512);
  a.features.forEach((v, i) => assert.ok(Math.abs(v - b.features[i]) <= 1e-4 * (1 + Math.abs(v))));
  // Different images give different features (the images really went through the base).
  const first = a.features.subarray(0, 512);
  const second = a.features.subarray(512, 1024);
  assert.ok(first.some((v, i) => Math.abs(v - second[i]) > 1e-6));
  base.dispose();
});

Deno.test("extractFeatures rejects an input size the base was not built for", async () => {
  const base = identityBase(32);
  await assert.rejects(
    extractFeatures(base, constantImages([[0, 0, 0]]), { inputSize: 64 }),
    /inputSize is 64/,
  );
  base.dispose();
});

Deno.test("feature cache: memory, then disk; a damaged file is recomputed, not trusted", async () => {
  const dir = await Deno.makeTempDir({ prefix: "features_test_" });
  try {
    const key = {
      weightsId: "md5abc",
      dataId: "synthetic-seed1",
      split: "train",
      inputSize: 64,
    } as const;
    const values = Float32Array.from({ length: 1024 }, (_, i) => Math.sin(i));
    let computed = 0;
    const compute = () => {
      computed++;
      return Promise.resolve(values.slice());
    };
    const opts = { cacheDir: dir };

    const first = await cachedFeatures(key, compute, opts);
    assert.equal(first.fromCache, false);
    assert.equal(computed, 1);
    const memoryHit = await cachedFeatures(key, compute, opts);
    assert.equal(memoryHit.fromCache, true);
    assert.equal(computed, 1);

    clearFeatureMemoryCache();
    const diskHit = await cachedFeatures(key, compute, opts);
    assert.equal(diskHit.fromCache, true);
    assert.equal(computed, 1);
    assert.deepEqual(diskHit.features, values);

    // Another split, size or weights is another entry.
    const other = await cachedFeatures({ ...key, split: "test" }, compute, opts);
    assert.equal(other.fromCache, false);
    assert.equal(computed, 2);

    const [file] = [...Deno.readDirSync(dir)].map((e) => join(dir, e.name))
      .filter((p) => p.includes("-train-64px-"));
    assert.ok(file, "a train file under the cache folder");
    const bytes = await Deno.readFile(file);
    for (
      const damage of [
        (b: Uint8Array) => b.map((v, i) => (i === b.length - 3 ? v ^ 0x40 : v)), // one bit in the data
        (b: Uint8Array) => b.subarray(0, b.length - 4), // truncated
        (b: Uint8Array) => b.map((v, i) => (i === 2 ? 0 : v)), // bad magic
      ]
    ) {
      clearFeatureMemoryCache();
      await Deno.writeFile(file, damage(bytes));
      const before: number = computed;
      const again = await cachedFeatures(key, compute, opts);
      assert.equal(again.fromCache, false);
      assert.equal(computed, before + 1);
      assert.deepEqual(again.features, values);
      assert.deepEqual(await Deno.readFile(file), bytes, "rewritten whole");
    }
    assert.ok(
      [...Deno.readDirSync(dir)].every((e) => !e.name.endsWith(".tmp")),
      "no temp files left",
    );
  } finally {
    clearFeatureMemoryCache();
    await Deno.remove(dir, { recursive: true });
  }
});
