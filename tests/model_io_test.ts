import assert from "node:assert/strict";
import { initBackend, tf } from "../lib/engine/backend.ts";
import { UserError } from "../lib/util/errors.ts";
import { buildCnn } from "../lib/models/cnn.ts";
import { loadModel, saveModel } from "../lib/models/model_io.ts";

await initBackend();

Deno.test("a saved model loads back with the same architecture and predictions", async () => {
  const dir = await Deno.makeTempDir();
  const model = buildCnn({ seed: 2 });
  const x = tf.randomUniform([2, 32, 32, 3], 0, 1, "float32", 3);
  const path = await saveModel(model, dir);
  assert.ok(path.endsWith("model.json"));
  const loaded = await loadModel(dir);
  assert.deepEqual(loaded.layers.map((l) => l.name), model.layers.map((l) => l.name));
  assert.deepEqual(
    Array.from((loaded.predict(x) as tf.Tensor).dataSync()),
    Array.from((model.predict(x) as tf.Tensor).dataSync()),
  );
  const json = JSON.parse(await Deno.readTextFile(path));
  assert.equal(json.format, "layers-model");
  assert.deepEqual(json.weightsManifest[0].paths, ["weights.bin"]);
  model.dispose();
  loaded.dispose();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("loading a missing model names the file", async () => {
  await assert.rejects(() => loadModel("/nonexistent/model"), (e: Error) => {
    assert.ok(e instanceof UserError);
    assert.match(e.message, /\/nonexistent\/model\/model\.json/);
    return true;
  });
});
