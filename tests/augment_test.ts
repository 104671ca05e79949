import assert from "node:assert/strict";
import { augmentBatch } from "../lib/data/augment.ts";

const SIZE = 32;
/** Images whose pixel values name their image, row, column and channel. */
function numbered(count: number): Uint8Array {
  const pixels = new Uint8Array(count * SIZE * SIZE * 3);
  for (let n = 0; n < count; n++) {
    for (let r = 0; r < SIZE; r++) {
      for (let c = 0; c < SIZE; c++) {
        const at = ((n * SIZE + r) * SIZE + c) * 3;
        pixels.set([r, c, n], at);
      }
    }
  }
  return pixels;
}

/** numpy's 'reflect' padding, written out independently. */
const mirror = (i: number) => i < 0 ? -i : i > SIZE - 1 ? 2 * SIZE - 2 - i : i;

/** The (dy, dx, flip) that explains an augmented image exactly, or undefined. */
function explain(out: Uint8Array, n: number, crop: number) {
  for (let dy = -crop; dy <= crop; dy++) {
    for (let dx = -crop; dx <= crop; dx++) {
      for (const flip of [false, true]) {
        let ok = true;
        for (let r = 0; r < SIZE && ok; r++) {
          for (let c = 0; c < SIZE && ok; c++) {
            const at = ((n * SIZE + r) * SIZE + c) * 3;
            const sr = mirror(r + dy), sc = mirror((flip ? SIZE - 1 - c : c) + dx);
            ok = out[at] === sr && out[at + 1] === sc && out[at + 2] === n;
          }
        }
        if (ok) return { dy, dx, flip };
      }
    }
  }
  return undefined;
}

Deno.test("augmentBatch: every image is a mirror-padded shift of at most `crop`, maybe flipped", () => {
  const count = 200, crop = 4;
  const out = augmentBatch(numbered(count), count, { crop, flip: true }, 11);
  const seen = new Set<string>();
  let flips = 0;
  for (let n = 0; n < count; n++) {
    const how = explain(out, n, crop);
    assert.ok(how, `image ${n} is not a shifted, mirrored copy of itself`);
    seen.add(`${how.dy},${how.dx}`);
    if (how.flip) flips++;
  }
  // Shifts are drawn over the whole range, flips about half the time.
  assert.ok(seen.size > 50, `only ${seen.size} of 81 shifts drawn`);
  assert.ok(flips > 60 && flips < 140, `${flips} of ${count} flipped`);
});

Deno.test("augmentBatch: reflect padding mirrors without repeating the edge", () => {
  // With crop 31 every shift is possible; check the corners of a few images exactly.
  const out = augmentBatch(numbered(50), 50, { crop: 31, flip: false }, 3);
  for (let n = 0; n < 50; n++) assert.ok(explain(out, n, 31), `image ${n}`);
});

Deno.test("augmentBatch: same seed, same batch; other seed, other batch; input untouched", () => {
  const pixels = numbered(8);
  const copy = pixels.slice();
  const a = augmentBatch(pixels, 8, { crop: 4, flip: true }, 5);
  assert.deepEqual(augmentBatch(pixels, 8, { crop: 4, flip: true }, 5), a);
  assert.notDeepEqual(augmentBatch(pixels, 8, { crop: 4, flip: true }, 6), a);
  assert.deepEqual(pixels, copy);
  assert.deepEqual(augmentBatch(pixels, 8, { crop: 0, flip: false }, 5), pixels);
});

Deno.test("augmentBatch: bad sizes are errors", () => {
  assert.throws(() => augmentBatch(new Uint8Array(10), 1, { crop: 4, flip: true }, 0), /bytes/);
  assert.throws(() => augmentBatch(numbered(1), 1, { crop: 32, flip: true }, 0), /crop/);
});

Deno.test("augmentBatch: images of another side (a folder's) are flipped and cropped at that side", () => {
  const side = 12, count = 20, bytes = side * side * 3;
  const pixels = Uint8Array.from({ length: count * bytes }, (_, i) => Math.floor(i / 3) % 251);
  const mirrored = (image: Uint8Array) =>
    Uint8Array.from(image, (_, i) => {
      const [row, col, channel] = [Math.floor(i / (side * 3)), Math.floor(i / 3) % side, i % 3];
      return image[(row * side + side - 1 - col) * 3 + channel];
    });
  const out = augmentBatch(pixels, count, { crop: 0, flip: true }, 9, side);
  let flips = 0;
  for (let n = 0; n < count; n++) {
    const [before, after] = [pixels, out].map((p) => p.subarray(n * bytes, (n + 1) * bytes));
    const flipped = mirrored(before).every((v, i) => v === after[i]);
    assert.ok(flipped || before.every((v, i) => v === after[i]), `image ${n}`);
    if (flipped) flips++;
  }
  assert.ok(flips > 0 && flips < count, `${flips} of ${count} flipped`);
  assert.throws(() => augmentBatch(pixels, count, { crop: side, flip: false }, 0, side), /crop/);
});
