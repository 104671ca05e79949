import assert from "node:assert/strict";
import { join } from "node:path";
import { initBackend } from "../lib/engine/backend.ts";
import { buildCnn } from "../lib/models/cnn.ts";
import { loadModel, saveModel } from "../lib/models/model_io.ts";
import { recoverFolder, replaceFolder } from "../lib/util/replace_folder.ts";
import { UserError } from "../lib/util/errors.ts";
import { weightsDigest } from "./save_kill_child.ts";

await initBackend();

const CHILD = new URL("./save_kill_child.ts", import.meta.url).pathname;
const KILLS = 24;

/** Start the saving child and resolve with it and its ms per save once it printed `ready`. */
async function startChild(out: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CHILD, out],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  const match = text.match(/^ready ([\d.]+)/);
  if (!match) {
    const err = await new Response(child.stderr).text();
    throw new Error(`child did not start: ${text} ${err}`);
  }
  reader.releaseLock();
  return { child, msPerSave: Number(match[1]) };
}

Deno.test("a save killed at random moments never leaves a model beside another's record", async () => {
  const out = await Deno.makeTempDir();
  const dir = join(out, "cnn");
  const states = new Set<string>();
  const delays: number[] = [];
  try {
    for (let k = 0; k < KILLS; k++) {
      const { child, msPerSave } = await startChild(out);
      // Anywhere in the next few saves: the phase within a save is what varies.
      const delay = Math.random() * 3 * msPerSave;
      delays.push(delay);
      await new Promise((resolve) => setTimeout(resolve, delay));
      child.kill("SIGKILL");
      const status = await child.status;
      await child.stdout.cancel().catch(() => {});
      await child.stderr.cancel().catch(() => {});
      assert.equal(status.signal, "SIGKILL");
      // What the kill left, before recovery: the phases of the save it interrupted.
      const left = [".saving", ".previous"].filter((s) => existsSync(dir + s));
      states.add(left.length ? left.join("+") : "clean");
      const model = await loadModel(dir);
      const record = JSON.parse(await Deno.readTextFile(join(dir, "run.json")));
      const digest = weightsDigest(model);
      model.dispose();
      assert.equal(
        digest,
        record.weights,
        `kill ${k} after ${delay.toFixed(1)} ms: weights of another save than run.json's ` +
          `(seed ${record.seed})`,
      );
      assert.ok(!existsSync(dir + ".saving") && !existsSync(dir + ".previous"));
    }
    // The kills landed in more than one phase of a save (else the test proves little).
    assert.ok(states.size >= 2, `every kill left ${[...states]}`);
    console.log(`kills left: ${[...states].join(", ")}`);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

function existsSync(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("an interrupted replacement is finished or undone by the next load", async () => {
  const out = await Deno.makeTempDir();
  const dir = join(out, "run");
  const write = (text: string) => async (staging: string) => {
    await Deno.writeTextFile(join(staging, "a.txt"), text);
  };
  await replaceFolder(dir, write("old"));
  // Killed between the two renames: no folder, the complete new one staged, the old one aside.
  await Deno.rename(dir, `${dir}.previous`);
  await Deno.mkdir(`${dir}.saving`);
  await Deno.writeTextFile(join(`${dir}.saving`, "a.txt"), "new");
  await Deno.writeTextFile(join(`${dir}.saving`, ".complete"), "");
  assert.match((await recoverFolder(dir))!, /finished an interrupted save/);
  assert.equal(await Deno.readTextFile(join(dir, "a.txt")), "new");
  assert.ok(!existsSync(`${dir}.previous`));
  // Killed while staging: the incomplete folder goes, the complete one stands.
  await Deno.mkdir(`${dir}.saving`);
  await Deno.writeTextFile(join(`${dir}.saving`, "a.txt"), "half");
  assert.match((await recoverFolder(dir))!, /removed/);
  assert.equal(await Deno.readTextFile(join(dir, "a.txt")), "new");
  assert.equal(await recoverFolder(dir), undefined);
  await Deno.remove(out, { recursive: true });
});

Deno.test("damaged weights are named in one line instead of loading", async () => {
  const dir = await Deno.makeTempDir();
  const model = buildCnn({ seed: 1 });
  await saveModel(model, dir);
  model.dispose();
  const weights = join(dir, "weights.bin");
  const bytes = await Deno.readFile(weights);
  const expectDamaged = async (pattern: RegExp) =>
    await assert.rejects(() => loadModel(dir), (e: Error) => {
      assert.ok(e instanceof UserError, String(e));
      assert.ok(e.message.includes(weights), e.message);
      assert.match(e.message, pattern);
      assert.ok(!e.message.includes("\n"));
      return true;
    });
  await Deno.writeFile(weights, bytes.subarray(0, bytes.length - 4));
  await expectDamaged(/damaged: \d+ bytes where the manifest's shapes need \d+/);
  // Same size, other bytes (e.g. another run's weights of the same model): the digest.
  const flipped = bytes.slice();
  flipped[100] ^= 1;
  await Deno.writeFile(weights, flipped);
  await expectDamaged(/SHA-256/);
  // A tfjs-saved model.json without the digest still loads when the sizes agree.
  const json = JSON.parse(await Deno.readTextFile(join(dir, "model.json")));
  delete json.weightsSha256;
  await Deno.writeTextFile(join(dir, "model.json"), JSON.stringify(json));
  const loaded = await loadModel(dir);
  assert.equal(loaded.getWeights().length > 0, true);
  loaded.dispose();
  await Deno.remove(dir, { recursive: true });
});
