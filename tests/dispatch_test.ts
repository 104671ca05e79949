import assert from "node:assert/strict";
import { dispatchCost, stepReplay, stepSplit } from "../lib/bench/dispatch.ts";
import { initBackend, tf } from "../lib/engine/backend.ts";
import { readNativeStatus } from "../lib/engine/install/native.ts";
import { nodeBackend } from "../lib/engine/node_backend.ts";

// The binding exists only on the native engine: run where `deno task setup` made it work.
const native = (await readNativeStatus()) !== undefined;
if (native) await initBackend("tensorflow");

Deno.test({
  name: "dispatch: a step's TensorFlow ops are counted and timed, and the binding is restored",
  ignore: !native,
  fn() {
    const binding = nodeBackend().binding;
    const a = tf.tensor1d([1, 2]);
    const before = tf.memory().numTensors;
    // Three TensorFlow ops a step: two adds and a multiply.
    const step = () => tf.tidy(() => void a.add(a).mul(a).add(1));
    const split = stepSplit(step, () => a.dataSync(), 3);
    assert.equal(split.ops, 3);
    assert.ok(split.in_tensorflow_ms >= 0 && split.in_tensorflow_ms <= split.step_ms, `${split}`);
    assert.ok(Math.abs(split.step_ms - split.in_tensorflow_ms - split.outside_ms) <= 0.11);
    assert.equal(nodeBackend().binding, binding, "the backend has its own binding back");
    assert.equal(tf.memory().numTensors, before);
    a.dispose();
  },
});

Deno.test({
  name: "dispatch: a tiny op's cost through tfjs and through the binding, leaving no tensors",
  ignore: !native,
  fn() {
    // The binding's own count too: the direct path deletes its results itself.
    const handles = () =>
      (nodeBackend() as unknown as { getNumOfTFTensors(): number }).getNumOfTFTensors();
    const [before, beforeHandles] = [tf.memory().numTensors, handles()];
    const cost = dispatchCost(50, 3);
    assert.ok(cost.tfjs_us_per_op > 0 && cost.binding_us_per_op > 0, JSON.stringify(cost));
    assert.equal(tf.memory().numTensors, before);
    assert.equal(handles(), beforeHandles);
  },
});

Deno.test({
  name: "dispatch: a step replayed through the binding runs its ops and frees every handle",
  ignore: !native,
  fn() {
    const backend = nodeBackend();
    const binding = backend.binding;
    const handles = () =>
      (backend as unknown as { getNumOfTFTensors(): number }).getNumOfTFTensors();
    const a = tf.tensor1d([1, 2]);
    // Three TensorFlow ops a step, as above: tiny ones, so tfjs's own cost dominates the step.
    const step = () => tf.tidy(() => void a.add(a).mul(a).add(1));
    step(); // gives `a` its handle (tfjs-node makes one at first use)
    const [before, beforeHandles] = [tf.memory().numTensors, handles()];
    const replay = stepReplay(step, () => a.dataSync(), 3, 2);
    assert.equal(replay.ops, 3);
    const { median, min, max } = replay.tfjs_over_replay;
    assert.ok(min <= median && median <= max, JSON.stringify(replay));
    assert.ok(median > 1, `the replay skips tfjs, so it is faster: ${JSON.stringify(replay)}`);
    assert.equal(backend.binding, binding, "the backend has its own binding back");
    assert.equal(tf.memory().numTensors, before);
    assert.equal(handles(), beforeHandles, "the replays and the recorded step free their handles");
    a.dispose();
  },
});
