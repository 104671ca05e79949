import assert from "node:assert/strict";
import { BN_WEIGHTS } from "./mobilenet_v2_fixture.ts";
import { join } from "node:path";
import { initBackend, tf } from "../lib/engine/backend.ts";
import { UserError } from "../lib/util/errors.ts";
import {
  buildMobileNetV2Base,
  mobilenetV2WeightsFile,
  mobilenetV2WeightShapes,
} from "../lib/models/mobilenet_v2.ts";
import {
  loadMobileNetV2Weights,
  resolveMobileNetV2Weights,
} from "../lib/models/mobilenet_v2_weights.ts";
import { fill, type FixtureLayer, writeKerasWeights } from "./vgg16_fixture.ts";

await initBackend();

/** A no-top file's layers for `alpha` in Keras's legacy layout; weight w of layer l is l + w/10. */
function notopLayers(alpha: number, leaveOut?: string): FixtureLayer[] {
  const layers: FixtureLayer[] = [{ name: "input_1", weights: [] }];
  [...mobilenetV2WeightShapes(alpha)].forEach(([name, shapes], l) => {
    if (name === leaveOut) return;
    const names = shapes.length === 4
      ? BN_WEIGHTS
      : [name.endsWith("depthwise") ? "depthwise_kernel" : "kernel"];
    layers.push({
      name,
      weights: shapes.map((shape, w) => ({ ...fill(shape, () => l + w / 10), name: names[w] })),
    });
  });
  return layers;
}

async function rejectsWith(promise: Promise<unknown>, ...patterns: RegExp[]) {
  await assert.rejects(promise, (e) => {
    assert.ok(e instanceof UserError, `expected UserError, got ${e}`);
    assert.ok(!e.message.includes("\n"), `one line: ${e.message}`);
    for (const p of patterns) assert.match(e.message, p);
    return true;
  });
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

Deno.test("a legacy no-top file loads every layer by name, batch norm's four in order", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mobilenet_v2_weights_test_" });
  try {
    const path = join(dir, mobilenetV2WeightsFile(0.35, 96).fileName);
    await writeKerasWeights(path, notopLayers(0.35), { style: "keras2" });
    const base = buildMobileNetV2Base({ alpha: 0.35, inputSize: 96, seed: 0 });
    const before = tf.memory().numTensors;
    await loadMobileNetV2Weights(base, path, { alpha: 0.35, inputSize: 96 });
    assert.equal(tf.memory().numTensors, before);
    const names = [...mobilenetV2WeightShapes(0.35).keys()];
    for (const name of ["Conv1", "bn_Conv1", "block_16_depthwise", "Conv_1_bn"]) {
      const l = names.indexOf(name);
      const firsts = base.getLayer(name).getWeights().map((w) => w.dataSync()[0]);
      assert.deepEqual(firsts, firsts.map((_, w) => Math.fround(l + w / 10)), name);
    }
    base.dispose();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a missing layer, another alpha, another size: one line naming them", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mobilenet_v2_weights_test_" });
  const base = buildMobileNetV2Base({ alpha: 0.35, inputSize: 96, seed: 0 });
  const original = base.getLayer("Conv1").getWeights()[0].dataSync().slice();
  const choice = { alpha: 0.35, inputSize: 96 };
  try {
    const missing = join(dir, "missing.h5");
    await writeKerasWeights(missing, notopLayers(0.35, "block_5_project"));
    await rejectsWith(
      loadMobileNetV2Weights(base, missing, choice),
      /missing\.h5: layer 'block_5_project' is missing/,
    );

    const otherAlpha = join(dir, mobilenetV2WeightsFile(0.5, 96).fileName);
    await writeKerasWeights(otherAlpha, notopLayers(0.5));
    await rejectsWith(
      loadMobileNetV2Weights(base, otherAlpha, choice),
      new RegExp(escape(otherAlpha)),
      /holds MobileNetV2 weights for alpha 0\.5, the model is alpha 0\.35, 96 px/,
      /--alpha 0\.5/,
    );

    // The shapes are the same at every size: the size is told from Keras's file name.
    const otherSize = join(dir, mobilenetV2WeightsFile(0.35, 128).fileName);
    await writeKerasWeights(otherSize, notopLayers(0.35));
    await rejectsWith(
      loadMobileNetV2Weights(base, otherSize, choice),
      /_0\.35_128_no_top\.h5 holds MobileNetV2 weights for 128 px, the model is alpha 0\.35, 96 px/,
      /--input-size 128/,
    );
    // A side Keras has no weights for takes the 224-px file's, as Keras does.
    const base100 = buildMobileNetV2Base({ alpha: 0.35, inputSize: 100, seed: 0 });
    await rejectsWith(
      loadMobileNetV2Weights(base100, otherSize, { alpha: 0.35, inputSize: 100 }),
      /for 128 px, the model is alpha 0\.35, 224 px/,
    );
    base100.dispose();
    // Nothing was assigned from the refused files.
    assert.deepEqual(base.getLayer("Conv1").getWeights()[0].dataSync(), original);
  } finally {
    base.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("lookup: --weights, then env, then Keras's cache, then this project's, then a download", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mobilenet_v2_weights_test_" });
  try {
    const choice = { alpha: 1.0, inputSize: 160 };
    const { fileName, url } = mobilenetV2WeightsFile(1.0, 160);
    assert.equal(fileName, "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_160_no_top.h5");
    assert.equal(
      url,
      `https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/${fileName}`,
    );
    const source = join(dir, "source.h5");
    await writeKerasWeights(source, notopLayers(1.0));
    const bytes = await Deno.readFile(source);
    const urls: string[] = [];
    const fakeFetch = ((u: string) => {
      urls.push(u);
      return Promise.resolve(new Response(bytes));
    }) as typeof fetch;
    const cacheDir = join(dir, "cache");
    const kerasHome = join(dir, "keras");
    const opts = { cacheDir, kerasHome, fetch: fakeFetch };

    // Nothing anywhere: downloaded from Keras's URL into this project's cache (no MD5 to check).
    const downloaded = await resolveMobileNetV2Weights(choice, opts);
    assert.deepEqual([downloaded.kind, downloaded.path, urls], [
      "download",
      join(cacheDir, fileName),
      [url],
    ]);
    const again = await resolveMobileNetV2Weights(choice, opts);
    assert.deepEqual([again.kind, again.path, urls.length], ["cache", join(cacheDir, fileName), 1]);

    // Keras's cache comes before this project's.
    await Deno.mkdir(join(kerasHome, "models"), { recursive: true });
    await Deno.copyFile(source, join(kerasHome, "models", fileName));
    const fromKeras = await resolveMobileNetV2Weights(choice, opts);
    assert.equal(fromKeras.path, join(kerasHome, "models", fileName));
    assert.match(fromKeras.description, /from Keras's cache/);

    // The env variable before any cache; --weights before the env (env set in a child: tests
    // run in parallel share the environment).
    const module = new URL("../lib/models/mobilenet_v2_weights.ts", import.meta.url).href;
    const script = `const { resolveMobileNetV2Weights } = await import(${JSON.stringify(module)});
      const choice = ${JSON.stringify(choice)}, opts = ${JSON.stringify({ cacheDir, kerasHome })};
      const env = await resolveMobileNetV2Weights(choice, opts);
      const option = await resolveMobileNetV2Weights(choice, { ...opts, weights: "none" });
      console.log(JSON.stringify([env.kind, env.path, option.kind]));`;
    const child = await new Deno.Command(Deno.execPath(), {
      args: ["eval", script],
      env: { MOBILENET_V2_WEIGHTS: source },
      stderr: "inherit",
    }).output();
    assert.equal(child.code, 0);
    assert.deepEqual(JSON.parse(new TextDecoder().decode(child.stdout)), ["file", source, "none"]);

    // A folder given with --weights holds the file under Keras's name.
    const folder = await resolveMobileNetV2Weights(choice, { ...opts, weights: cacheDir });
    assert.deepEqual([folder.kind, folder.path], ["file", join(cacheDir, fileName)]);
    await rejectsWith(
      resolveMobileNetV2Weights(choice, { weights: join(dir, "nope.h5") }),
      /MobileNetV2 alpha 1\.0 160 px weights file .*nope\.h5 \(--weights\) not found/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("offline with nothing cached: one line naming every place looked, in order", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mobilenet_v2_weights_test_" });
  try {
    const offline = (() => Promise.reject(new TypeError("dns error: no network"))) as typeof fetch;
    const kerasHome = join(dir, "keras");
    const { fileName, url } = mobilenetV2WeightsFile(0.75, 32);
    assert.equal(fileName, "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.75_224_no_top.h5");
    await rejectsWith(
      resolveMobileNetV2Weights({ alpha: 0.75, inputSize: 32 }, {
        cacheDir: dir,
        kerasHome,
        fetch: offline,
      }),
      /no network/,
      /--weights none/,
      new RegExp(
        `\\(1\\) --weights PATH.*\\(2\\) env MOBILENET_V2_WEIGHTS=PATH.*\\(3\\) Keras's cache.*` +
          `${escape(join(kerasHome, "models", fileName))}.*\\(4\\) this project's ` +
          `cache: ${escape(join(dir, fileName))}.*\\(5\\) the download from ${escape(url)}`,
      ),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
