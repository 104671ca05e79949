/**
 * Child process for tests/run_folder_test.ts: saves two CNNs (seeds 1 and 2) with their run
 * records by turns into `<out>/cnn` until it is killed. The first save completes before it
 * prints `ready <ms per save>`, so the folder always held a complete run before any kill.
 * Each record carries the SHA-256 of its model's weights, so the parent can tell a record that
 * does not belong to the weights beside it.
 */
import { createHash } from "node:crypto";
import { initBackend, tf } from "../lib/engine/backend.ts";
import { buildCnn } from "../lib/models/cnn.ts";
import { saveRecord } from "../lib/train/experiment.ts";

/** SHA-256 of a model's weights, in order. */
export function weightsDigest(model: tf.LayersModel): string {
  const hash = createHash("sha256");
  for (const w of model.getWeights()) hash.update(new Uint8Array(w.dataSync().buffer));
  return hash.digest("hex");
}

/** The run record's type, without naming its module. */
type Record = Parameters<typeof saveRecord>[0];

if (import.meta.main) {
  const out = Deno.args[0];
  await initBackend();
  const models = [1, 2].map((seed) => buildCnn({ seed }));
  const records = models.map((m, i) => ({ model: "cnn", seed: i + 1, weights: weightsDigest(m) }));
  const save = (i: number) =>
    saveRecord({ ...records[i % 2] } as unknown as Record, models[i % 2], out);
  const start = performance.now();
  await save(0);
  console.log(`ready ${(performance.now() - start).toFixed(1)}`);
  for (let i = 1;; i++) await save(i);
}
