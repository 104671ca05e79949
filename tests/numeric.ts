/**
 * Helpers for tests that compare one backend's numbers with another's (usually the pure-JS cpu
 * backend, the reference).
 */
import assert from "node:assert/strict";
import { tf } from "../lib/engine/backend.ts";

/** Run `fn` on `backend` (same seeded inputs each time); return its outputs as plain arrays. */
export async function on(backend: string, fn: () => tf.Tensor[]): Promise<Float32Array[]> {
  const previous = tf.getBackend();
  await tf.setBackend(backend);
  try {
    const outs = tf.tidy(fn);
    const values = await Promise.all(outs.map((t) => t.data() as Promise<Float32Array>));
    tf.dispose(outs);
    return values;
  } finally {
    await tf.setBackend(previous);
  }
}

/**
 * Each element within `tol`, relative to the expected value (absolute below 1); NaN where NaN is
 * expected. The message names the worst element.
 */
export function assertClose(
  actual: Float32Array,
  expected: Float32Array,
  what: string,
  tol = 1e-4,
): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let worst = 0, at = -1;
  for (let i = 0; i < actual.length; i++) {
    const e = expected[i], a = actual[i];
    if (Number.isNaN(e)) {
      assert.ok(Number.isNaN(a), `${what}[${i}]: ${a}, expected NaN`);
      continue;
    }
    const err = Math.abs(a - e) / Math.max(1, Math.abs(e));
    if (!(err <= worst)) [worst, at] = [err, i];
  }
  assert.ok(
    worst < tol,
    `${what}[${at}]: ${actual[at]}, expected ${expected[at]} (relative error ${worst})`,
  );
}
