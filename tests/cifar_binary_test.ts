import assert from "node:assert/strict";
import { parseLabelNames, RECORD_BYTES, RecordDecoder, UNSEEN } from "../lib/data/cifar_binary.ts";
import { UserError } from "../lib/util/errors.ts";
import { fixtureCoarse, fixtureFine, fixturePixel, makeBin } from "./cifar_fixture.ts";

function decode(bytes: Uint8Array, chunkSize: number, limit?: number) {
  const decoder = new RecordDecoder({
    name: "x.bin",
    byteLength: bytes.length,
    expectedCount: bytes.length / RECORD_BYTES,
    limit,
    fineToCoarse: new Uint8Array(100).fill(UNSEEN),
  });
  for (let at = 0; at < bytes.length; at += chunkSize) {
    decoder.push(bytes.subarray(at, at + chunkSize));
  }
  return decoder.finish();
}

Deno.test("RecordDecoder gives the same result for any chunking", () => {
  const bytes = makeBin(7);
  const whole = decode(bytes, bytes.length);
  // Chunks smaller than, equal to, and straddling record boundaries.
  for (const size of [1, 1000, RECORD_BYTES - 1, RECORD_BYTES, RECORD_BYTES + 1, 5000]) {
    const split = decode(bytes, size);
    assert.deepEqual(split.images, whole.images, `chunk size ${size}`);
    assert.deepEqual(split.fineLabels, whole.fineLabels, `chunk size ${size}`);
  }
  for (let i = 0; i < 7; i++) {
    assert.equal(whole.fineLabels[i], fixtureFine(i));
    assert.equal(whole.coarseLabels[i], fixtureCoarse(fixtureFine(i)));
    assert.equal(whole.images[((i * 32 + 31) * 32 + 0) * 3 + 2], fixturePixel(i, 31, 0, 2));
  }
});

Deno.test("RecordDecoder keeps the first `limit` records but checks them all", () => {
  const bytes = makeBin(5);
  const split = decode(bytes, 999, 2);
  assert.equal(split.count, 2);
  assert.equal(split.images.length, 2 * 3072);
  assert.deepEqual(split.images, decode(bytes, 999).images.subarray(0, 2 * 3072));
  bytes[4 * RECORD_BYTES + 1] = 200;
  assert.throws(() => decode(bytes, 999, 2), /record 4 has fine label 200/);
});

Deno.test("RecordDecoder rejects a stream shorter than the declared size", () => {
  const bytes = makeBin(3);
  const decoder = new RecordDecoder({
    name: "short.bin",
    byteLength: bytes.length,
    expectedCount: 3,
    fineToCoarse: new Uint8Array(100).fill(UNSEEN),
  });
  decoder.push(bytes.subarray(0, bytes.length - 10));
  assert.throws(
    () => decoder.finish(),
    (e) => e instanceof UserError && /short\.bin/.test(e.message),
  );
});

Deno.test("parseLabelNames trims, skips blank lines, and checks the count", () => {
  assert.deepEqual(parseLabelNames(" a\r\nb \n\n", "n.txt", 2), ["a", "b"]);
  assert.throws(
    () => parseLabelNames("a\nb\n", "n.txt", 3),
    /n\.txt: has 2 label names, expected 3/,
  );
});
