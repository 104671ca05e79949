/**
 * Seeded dropout (lib/engine/dropout.ts) on the default engine: the one-pass op on tensorflow,
 * tfjs's formula elsewhere.
 */
import assert from "node:assert/strict";
import { initBackend, tf } from "../lib/engine/backend.ts";
import { dropout } from "../lib/engine/dropout.ts";

await initBackend();

Deno.test("dropout keeps 1 - rate of the values, scaled, evenly over the tensor", () => {
  const n = 1 << 20, rate = 0.3;
  const values = tf.tidy(() => dropout(tf.ones([n]), rate, 12345).dataSync());
  const scale = 1 / (1 - rate);
  // Sixteen stretches of the tensor (the op splits it between threads) each keep about 70%.
  const chunk = n / 16;
  for (let c = 0; c < 16; c++) {
    let kept = 0;
    for (let i = c * chunk; i < (c + 1) * chunk; i++) {
      if (values[i] !== 0) {
        assert.ok(Math.abs(values[i] - scale) < 1e-6, `value ${values[i]} at ${i}`);
        kept++;
      }
    }
    // 4.5 standard deviations of a binomial proportion over 65,536 draws: about 0.008.
    assert.ok(Math.abs(kept / chunk - (1 - rate)) < 0.008, `stretch ${c}: ${kept / chunk}`);
  }
});

Deno.test("dropout: a seed fixes the mask, whatever the tensor's size; another seed changes it", () => {
  const masks = tf.tidy(() => {
    // Both big enough to be split between threads, at different places.
    const big = dropout(tf.ones([1 << 20]), 0.5, 99).slice(0, 600_000);
    return [big, dropout(tf.ones([600_000]), 0.5, 99), dropout(tf.ones([600_000]), 0.5, 100)]
      .map((t) => t.dataSync().slice(-4096));
  });
  assert.deepEqual(masks[0], masks[1]);
  const differ = masks[1].filter((v, i) => v !== masks[2][i]).length;
  assert.ok(differ > 1500 && differ < 2600, `${differ} of 4096 differ between seeds`);
  // Seeds beyond 32 bits count too.
  const [a, b] = tf.tidy(() =>
    [dropout(tf.ones([256]), 0.5, 2 ** 40), dropout(tf.ones([256]), 0.5, 2 ** 41)]
      .map((t) => t.dataSync())
  );
  assert.notDeepEqual(a, b);
});

Deno.test("dropout's gradient is the mask times dy, and nothing is left behind", () => {
  const x = tf.randomNormal([64, 300], 0, 1, "float32", 1);
  const w = tf.randomNormal([64, 300], 0, 1, "float32", 2);
  const before = tf.memory().numTensors;
  const { value, grads } = tf.tidy(() =>
    tf.valueAndGrads((x: tf.Tensor) => dropout(x, 0.4, 5).mul(w).sum())([x])
  );
  const y = tf.tidy(() => dropout(x, 0.4, 5));
  const [dx, ys, xs, ws] = [grads[0], y, x, w].map((t) => t.dataSync());
  let total = 0;
  for (let i = 0; i < xs.length; i++) {
    // Where a value was kept, y = x / 0.6 and the gradient is w / 0.6; elsewhere both are 0.
    const kept = ys[i] !== 0;
    assert.ok(Math.abs(dx[i] - (kept ? ws[i] / 0.6 : 0)) < 1e-5, `dx[${i}]`);
    total += ys[i] * ws[i];
  }
  assert.ok(Math.abs(value.dataSync()[0] - total) < 1e-2);
  tf.dispose([value, grads[0], y]);
  assert.equal(tf.memory().numTensors, before, "no tensors left behind");
  tf.dispose([x, w]);
});

Deno.test("dropout rejects a rate outside (0, 1)", () => {
  assert.throws(() => dropout(tf.ones([3]), 1, 0), /rate must be in \(0, 1\), got 1/);
});
