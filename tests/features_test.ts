import assert from "node:assert/strict";
import { join } from "node:path";
import { initBackend, tf } from "../lib/engine/backend.ts";
import { cachedFeatures, clearFeatureMemoryCache, extractFeatures } from "../lib/train/features.ts";
import { buildVgg16Base, IMAGENET_MEAN_BGR, vgg16Input } from "../lib/models/vgg16.ts";
import { HYP } from "../lib/train/hyp.ts";

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
      {
        inputSize,
        input: vgg16Input,
        batchSize: 2,
        onProgress: (done, total) => progress.push([done, total]),
      },
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

Deno.test("vgg16Input upsamples 32 -> 64 bilinearly with half-pixel centres, clamped at the edges", () => {
  // A gradient image: R = 10 * row + col, G = R + 500, B = R + 1000. Half-pixel centres (TF2's
  // tf.image.resize) sample output pixel i at source coordinate (i + 0.5) / 2 - 0.5 = i/2 - 0.25,
  // clamped to [0, 31]; on a linear image bilinear interpolation then gives 10 * y + x exactly.
  // Legacy (i/2) or align-corners (i * 31/63) sampling, or nearest neighbour, give other values.
  const values = new Float32Array(32 * 32 * 3);
  for (let r = 0; r < 32; r++) {
    for (let c = 0; c < 32; c++) {
      for (let ch = 0; ch < 3; ch++) values[(r * 32 + c) * 3 + ch] = 10 * r + c + 500 * ch;
    }
  }
  const pixels = tf.tensor4d(values, [1, 32, 32, 3]);
  const input = vgg16Input(pixels, 64);
  assert.deepEqual(input.shape, [1, 64, 64, 3]);
  const out = input.dataSync();
  tf.dispose([pixels, input]);
  /** Red before preprocessing at output (i, j), from the BGR, mean-subtracted input. */
  const red = (i: number, j: number) => out[(i * 64 + j) * 3 + 2] + IMAGENET_MEAN_BGR[2];
  // [row, col, expected red], by hand.
  const cases: Array<[number, number, number]> = [
    [0, 0, 0], // row and column -0.25: clamped to pixel (0, 0)
    [0, 1, 0.25], // row clamped, column 0.25
    [1, 1, 2.75], // 10 * 0.25 + 0.25
    [1, 2, 3.25], // 10 * 0.25 + 0.75
    [33, 10, 167.25], // 10 * 16.25 + 4.75
    [62, 63, 338.5], // 10 * 30.75 + 31 (column 31.25 clamped)
    [0, 63, 31], // top right corner
    [63, 0, 310], // bottom left corner
    [63, 63, 341], // bottom right corner: 31.25 clamped to 31 both ways
  ];
  for (const [i, j, expected] of cases) {
    assert.ok(Math.abs(red(i, j) - expected) < 2e-3, `(${i}, ${j}): ${red(i, j)} vs ${expected}`);
  }
  // Every position, every channel (BGR order, ImageNet means subtracted).
  const source = (i: number) => Math.min(31, Math.max(0, i / 2 - 0.25));
  for (let i = 0; i < 64; i++) {
    for (let j = 0; j < 64; j++) {
      const rgb = [0, 500, 1000].map((offset) => 10 * source(i) + source(j) + offset);
      for (let c = 0; c < 3; c++) {
        const expected = rgb[2 - c] - IMAGENET_MEAN_BGR[c];
        const actual = out[(i * 64 + j) * 3 + c];
        assert.ok(
          Math.abs(actual - expected) < 2e-3,
          `(${i}, ${j}, ${c}): ${actual} vs ${expected}`,
        );
      }
    }
  }
});

Deno.test("VGG16 features: [N, 512], independent of the batch size, no tensor leak", async () => {
  const base = buildVgg16Base(32, HYP.vgg16.seed);
  const images = seededImages(5, 7);
  const before = tf.memory().numTensors;
  const a = await extractFeatures(base, images, { inputSize: 32, input: vgg16Input, batchSize: 2 });
  const b = await extractFeatures(base, images, { inputSize: 32, input: vgg16Input, batchSize: 5 });
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
    extractFeatures(base, constantImages([[0, 0, 0]]), { inputSize: 64, input: vgg16Input }),
    /inputSize is 64/,
  );
  base.dispose();
});

Deno.test("feature cache: memory, then disk; a damaged file is recomputed, not trusted", async () => {
  const dir = await Deno.makeTempDir({ prefix: "features_test_" });
  try {
    const key = {
      base: "vgg16",
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
