import assert from "node:assert/strict";
import { join } from "node:path";
import { initBackend, tf } from "../lib/engine/backend.ts";
import { md5File } from "../lib/util/cache.ts";
import { UserError } from "../lib/util/errors.ts";
import { buildVgg16Base, VGG16_CONV_LAYERS, VGG16_WEIGHTS } from "../lib/models/vgg16.ts";
import { HYP } from "../lib/train/hyp.ts";
import { loadVgg16Weights, resolveVgg16Weights, weightsKind } from "../lib/models/vgg16_weights.ts";
import { fill, type FixtureLayer, vgg16NotopLayers, writeKerasWeights } from "./vgg16_fixture.ts";

await initBackend();

/** A two-conv model named like VGG16's first block: 3x3 input, 3 -> 2 -> 2 channels. */
function tinyBlock1(): tf.LayersModel {
  const input = tf.input({ shape: [3, 3, 3] });
  const conv = (filters: number, name: string) =>
    tf.layers.conv2d({ filters, kernelSize: 3, padding: "same", activation: "relu", name });
  const x = conv(2, "block1_conv1").apply(input) as tf.SymbolicTensor;
  const y = conv(2, "block1_conv2").apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: y });
}

/** Keras layers for `tinyBlock1`: block1_conv1 has a single nonzero kernel entry. */
function tinyLayers(): FixtureLayer[] {
  // kernel[i=0][j=2][c=1][o=1] = 2 at flat index ((i*3 + j)*3 + c)*2 + o = 15.
  const kernel1 = fill([3, 3, 3, 2], (i) => (i === 15 ? 2 : 0));
  const bias1 = fill([2], (i) => [0.5, -0.25][i]);
  // block1_conv2: the centre tap copies channel o to channel o (identity), bias 0.
  // Flat index of [1][1][c][o] is ((1*3 + 1)*2 + c)*2 + o: 16 for c=o=0, 19 for c=o=1.
  const kernel2 = fill([3, 3, 2, 2], (i) => (i === 16 || i === 19 ? 1 : 0));
  return [
    { name: "input_1", weights: [] },
    { name: "block1_conv1", weights: [kernel1, fill([2], (i) => bias1.data[i])] },
    { name: "block1_conv2", weights: [kernel2, fill([2], () => 0)] },
    { name: "block1_pool", weights: [] },
  ];
}

async function tempDir(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "vgg16_weights_test_" });
}

async function rejectsWith(promise: Promise<unknown>, ...patterns: RegExp[]) {
  await assert.rejects(promise, (e) => {
    assert.ok(e instanceof UserError, `expected UserError, got ${e}`);
    assert.ok(!e.message.includes("\n"), `one line: ${e.message}`);
    for (const p of patterns) assert.match(e.message, p);
    return true;
  });
}

for (const style of ["keras1", "keras2"] as const) {
  Deno.test(`a kernel value lands at the same [kh, kw, in, out] position (${style} layout)`, async () => {
    const dir = await tempDir();
    try {
      const path = join(dir, "tiny.h5");
      await writeKerasWeights(path, tinyLayers(), { style });
      const model = tinyBlock1();
      await loadVgg16Weights(model, path);
      const [kernel, bias] = model.getLayer("block1_conv1").getWeights();
      const k = kernel.arraySync() as number[][][][];
      assert.equal(k[0][2][1][1], 2);
      assert.equal(kernel.sum().arraySync(), 2);
      assert.deepEqual(Array.from(bias.dataSync()), [0.5, -0.25]);

      // Hand-computed forward pass. Output (h, w, o=1) = relu(2 * x[h-1][w+1][channel 1] - 0.25),
      // output channel 0 = relu(0.5); block1_conv2 is the identity on both channels.
      // x[h][w][c] = 10h + 3w + c, so the tap at (h-1, w+1) exists only for h >= 1, w <= 1.
      const x = tf.tensor4d(
        Array.from({ length: 27 }, (_, i) => {
          const [h, w, c] = [Math.floor(i / 9), Math.floor(i / 3) % 3, i % 3];
          return 10 * h + 3 * w + c;
        }),
        [1, 3, 3, 3],
      );
      const y = (model.predict(x) as tf.Tensor).arraySync() as number[][][][];
      assert.equal(y[0][0][0][1], 0); // no tap (row -1): relu(-0.25)
      assert.equal(y[0][1][0][1], 2 * (10 * 0 + 3 * 1 + 1) - 0.25); // 7.75
      assert.equal(y[0][2][1][1], 2 * (10 * 1 + 3 * 2 + 1) - 0.25); // 33.75
      assert.equal(y[0][2][2][1], 0); // column 3 is padding
      for (let h = 0; h < 3; h++) for (let w = 0; w < 3; w++) assert.equal(y[0][h][w][0], 0.5);
      model.dispose();
      tf.dispose(x);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("a full-size notop file in Keras's layout loads into every VGG16 layer", async () => {
  const dir = await tempDir();
  try {
    const path = join(dir, VGG16_WEIGHTS.fileName);
    const valueOf = (l: number, w: number, i: number) => ((i * 7 + l * 13 + w * 5) % 101) / 100;
    await writeKerasWeights(path, vgg16NotopLayers(valueOf));
    const base = buildVgg16Base(32, HYP.vgg16.seed);
    const before = tf.memory().numTensors;
    await loadVgg16Weights(base, path);
    assert.equal(tf.memory().numTensors, before);
    VGG16_CONV_LAYERS.forEach((name, l) => {
      const [kernel, bias] = base.getLayer(name).getWeights();
      const k = kernel.dataSync();
      const last = k.length - 1;
      for (const i of [0, 1, 12345 % k.length, last]) {
        assert.ok(Math.abs(k[i] - valueOf(l, 0, i)) < 1e-6, `${name} kernel[${i}]`);
      }
      const b = bias.dataSync();
      assert.ok(Math.abs(b[b.length - 1] - valueOf(l, 1, b.length - 1)) < 1e-6, `${name} bias`);
    });
    base.dispose();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bad weights files get one-line errors naming the file and what is wrong", async () => {
  const dir = await tempDir();
  const model = tinyBlock1();
  const original = model.getLayer("block1_conv1").getWeights()[0].dataSync().slice();
  try {
    const missingLayer = join(dir, "missing_layer.h5");
    await writeKerasWeights(missingLayer, tinyLayers().filter((l) => l.name !== "block1_conv2"));
    await rejectsWith(loadVgg16Weights(model, missingLayer), /missing_layer\.h5/, /'block1_conv2'/);

    const missingDataset = join(dir, "missing_dataset.h5");
    await writeKerasWeights(missingDataset, tinyLayers(), { omitDatasets: ["block1_conv1_b_1:0"] });
    await rejectsWith(
      loadVgg16Weights(model, missingDataset),
      /dataset 'block1_conv1\/block1_conv1_b_1:0' is missing/,
    );

    const wrongShape = join(dir, "wrong_shape.h5");
    const layers = tinyLayers();
    layers[2].weights[0] = fill([3, 3, 2, 3], () => 1);
    await writeKerasWeights(wrongShape, layers);
    await rejectsWith(
      loadVgg16Weights(model, wrongShape),
      /wrong_shape\.h5/,
      /'block1_conv2\/block1_conv2_W_1:0' has shape \[3, 3, 2, 3\], the model expects \[3, 3, 2, 2\]/,
    );
    // Checked before assigning: block1_conv1 (valid in that file) was not loaded either.
    assert.deepEqual(model.getLayer("block1_conv1").getWeights()[0].dataSync(), original);

    const noLayerNames = join(dir, "no_layer_names.h5");
    await writeKerasWeights(noLayerNames, tinyLayers(), { omitLayerNames: true });
    await rejectsWith(loadVgg16Weights(model, noLayerNames), /not a Keras weights file/);

    const notHdf5 = join(dir, "weights.h5");
    await Deno.writeTextFile(notHdf5, "<html>404 Not Found</html>");
    await rejectsWith(loadVgg16Weights(model, notHdf5), /weights\.h5 is not an HDF5 file/);

    // An HDF5 signature followed by garbage: HDF5 itself refuses it.
    const truncated = join(dir, "truncated.h5");
    const bytes = await Deno.readFile(missingLayer);
    await Deno.writeFile(truncated, bytes.subarray(0, 64));
    await rejectsWith(loadVgg16Weights(model, truncated), /truncated\.h5: broken HDF5/);

    await rejectsWith(loadVgg16Weights(model, join(dir, "absent.h5")), /absent\.h5 not found/);
  } finally {
    model.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("resolveVgg16Weights: none, explicit path, env, missing path", async () => {
  const dir = await tempDir();
  try {
    const none = await resolveVgg16Weights({ weights: "none" });
    assert.equal(none.kind, "none");
    assert.match(none.description, /random/);

    const path = join(dir, "w.h5");
    await writeKerasWeights(path, tinyLayers());
    const md5 = await md5File(path);
    const explicit = await resolveVgg16Weights({ weights: path, cacheDir: dir });
    assert.deepEqual({ ...explicit, description: "" }, {
      kind: "file",
      path,
      md5,
      description: "",
    });
    assert.match(explicit.description, /differs from Keras's/);

    // The environment is shared by tests running in parallel: set VGG16_WEIGHTS in a child.
    const module = new URL("../lib/models/vgg16_weights.ts", import.meta.url).href;
    const script = `const { resolveVgg16Weights } = await import(${JSON.stringify(module)});
      const env = await resolveVgg16Weights({ cacheDir: ${JSON.stringify(dir)} });
      const option = await resolveVgg16Weights({ weights: "none" });
      console.log(JSON.stringify([env.kind, env.path, option.kind]));`;
    const child = await new Deno.Command(Deno.execPath(), {
      args: ["eval", script],
      env: { VGG16_WEIGHTS: path },
      stderr: "inherit",
    }).output();
    assert.equal(child.code, 0);
    // The option wins over the environment.
    assert.deepEqual(JSON.parse(new TextDecoder().decode(child.stdout)), ["file", path, "none"]);
    await rejectsWith(
      resolveVgg16Weights({ weights: join(dir, "nope.h5") }),
      /nope\.h5 \(--weights\) not found/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("resolveVgg16Weights downloads into the cache once, then finds it there", async () => {
  const dir = await tempDir();
  try {
    const source = join(dir, "source.h5");
    await writeKerasWeights(source, tinyLayers());
    const bytes = await Deno.readFile(source);
    const remote = { ...VGG16_WEIGHTS, md5: await md5File(source), fileName: "tiny.h5" };
    let calls = 0;
    const fakeFetch = ((_url: string) => {
      calls++;
      return Promise.resolve(new Response(bytes));
    }) as typeof fetch;
    const cacheDir = join(dir, "cache");
    const kerasHome = join(dir, "no-keras");
    const first = await resolveVgg16Weights({ cacheDir, kerasHome, fetch: fakeFetch, remote });
    assert.equal(first.kind, "download");
    assert.equal(first.path, join(cacheDir, "tiny.h5"));
    const second = await resolveVgg16Weights({ cacheDir, kerasHome, fetch: fakeFetch, remote });
    assert.equal(second.kind, "cache");
    assert.equal(calls, 1);
    const model = tinyBlock1();
    await loadVgg16Weights(model, second.path!);
    model.dispose();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("offline with nothing cached: one error naming every way to supply the file", async () => {
  const dir = await tempDir();
  try {
    const offline = (() => Promise.reject(new TypeError("dns error: no network"))) as typeof fetch;
    const kerasHome = join(dir, "keras");
    const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    await rejectsWith(
      resolveVgg16Weights({ cacheDir: dir, kerasHome, fetch: offline }),
      /no network/,
      /--weights PATH/,
      /env VGG16_WEIGHTS=PATH/,
      new RegExp(`copy it to ${escape(join(dir, VGG16_WEIGHTS.fileName))}`),
      /--weights none/,
      /6d6bbae143d832006294945121d1f1fc/,
      // Every place, in the order tried.
      new RegExp(
        `\\(1\\) --weights PATH.*\\(2\\) env VGG16_WEIGHTS=PATH.*\\(3\\) Keras's cache.*` +
          `${escape(join(kerasHome, "models", VGG16_WEIGHTS.fileName))}.*\\(4\\) this project's ` +
          `cache: ${escape(join(dir, VGG16_WEIGHTS.fileName))}.*\\(5\\) the download from ` +
          `${escape(VGG16_WEIGHTS.url)}`,
      ),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Keras's cache (KERAS_HOME, else ~/.keras): models/ is looked in before this project's cache", async () => {
  const dir = await tempDir();
  try {
    const source = join(dir, "source.h5");
    await writeKerasWeights(source, tinyLayers());
    const remote = { ...VGG16_WEIGHTS, md5: await md5File(source), fileName: "tiny.h5" };
    const refuse = (() => Promise.reject(new Error("no download expected"))) as typeof fetch;
    const cacheDir = join(dir, "cache");
    await Deno.mkdir(cacheDir);
    await Deno.copyFile(source, join(cacheDir, "tiny.h5"));
    const kerasHome = join(dir, "keras");
    await Deno.mkdir(join(kerasHome, "models"), { recursive: true });
    const inKeras = join(kerasHome, "models", "tiny.h5");
    await Deno.copyFile(source, inKeras);

    const found = await resolveVgg16Weights({ cacheDir, kerasHome, fetch: refuse, remote });
    assert.deepEqual([found.kind, found.path, found.md5], ["cache", inKeras, remote.md5]);
    assert.match(found.description, /^ImageNet \(Keras\) from Keras's cache /);

    // KERAS_HOME, then HOME/.keras, read before the first await (env is shared: set and restore).
    const withEnv = (env: Record<string, string | undefined>) => {
      const saved = Object.fromEntries(Object.keys(env).map((k) => [k, Deno.env.get(k)]));
      const set = (vars: Record<string, string | undefined>) => {
        for (const [k, v] of Object.entries(vars)) {
          v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
        }
      };
      set(env);
      try {
        return resolveVgg16Weights({ cacheDir, fetch: refuse, remote });
      } finally {
        set(saved);
      }
    };
    assert.equal((await withEnv({ KERAS_HOME: kerasHome })).path, inKeras);
    const home = join(dir, "home");
    await Deno.mkdir(home);
    await Deno.rename(kerasHome, join(home, ".keras"));
    const viaHome = await withEnv({ KERAS_HOME: undefined, HOME: home });
    assert.equal(viaHome.path, join(home, ".keras", "models", "tiny.h5"));

    // A copy there with another MD5 is not used: this project's cache is.
    await Deno.writeTextFile(join(home, ".keras", "models", "tiny.h5"), "truncated");
    const skipped = await resolveVgg16Weights({
      cacheDir,
      kerasHome: join(home, ".keras"),
      fetch: refuse,
      remote,
    });
    assert.equal(skipped.path, join(cacheDir, "tiny.h5"));
    assert.match(skipped.description, /from cache /);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("weightsKind comes from the MD5, never the path: a file under 'random' is `file`", async () => {
  const dir = await tempDir();
  try {
    const folder = join(dir, "random");
    await Deno.mkdir(folder);
    const path = join(folder, "random_init.h5");
    await writeKerasWeights(path, tinyLayers());
    const source = await resolveVgg16Weights({ weights: path });
    assert.equal(weightsKind(source), "file");
    assert.doesNotMatch(source.description, /^ImageNet/, "not called ImageNet");
    assert.match(source.description, /not known to be ImageNet weights/);
    assert.equal(weightsKind(await resolveVgg16Weights({ weights: "none" })), "random");
    // The official file, wherever it was found (its MD5 is checked on the way).
    for (const kind of ["file", "cache", "download"] as const) {
      assert.equal(weightsKind({ kind, md5: VGG16_WEIGHTS.md5 }), "imagenet", kind);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
