/**
 * A folder run's held-out images read again from its record (lib/train/held_out.ts, and
 * runTestImages through it): the loader's own pixels and labels, and a changed file refused.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { loadImageFolder } from "../lib/data/image_folder.ts";
import { readHeldOut } from "../lib/train/held_out.ts";
import { runTestImages } from "../lib/train/profile.ts";
import { UserError } from "../lib/util/errors.ts";
import { folderRecord } from "./folder_record.ts";
import { makeImageFolder } from "./image_folder_fixture.ts";

const tmp = await Deno.makeTempDir({ prefix: "held_out_test_" });
globalThis.addEventListener("unload", () => Deno.removeSync(tmp, { recursive: true }));
const fixture = await makeImageFolder(join(tmp, "photos"));
const data = await loadImageFolder(fixture.dir, {
  seed: 1,
  imageSize: 24,
  cacheDir: false,
  log: () => {},
});

Deno.test("a folder run's held-out images are the loader's, pixel for pixel", async () => {
  const record = folderRecord(data, fixture.dir);
  const again = await runTestImages(record);
  assert.equal(again.test.count, data.test.count);
  assert.deepEqual(again.test.files, data.test.files);
  assert.deepEqual(Array.from(again.test.fineLabels), Array.from(data.test.fineLabels));
  assert.deepEqual(again.test.images, data.test.images);
  assert.equal(again.imageSize, 24);
  assert.deepEqual(again.coarseLabelNames, []);
});

Deno.test("a held-out file changed since the run is refused, naming the folder", async () => {
  const copy = join(tmp, "changed");
  await Deno.mkdir(copy);
  for (const file of data.heldOut.files) {
    await Deno.mkdir(join(copy, file, ".."), { recursive: true });
    await Deno.copyFile(join(fixture.dir, file), join(copy, file));
  }
  const record = folderRecord(data, copy);
  assert.equal((await readHeldOut(record)).test.count, data.heldOut.files.length);
  const changed = join(copy, data.heldOut.files[0]);
  const bytes = await Deno.readFile(changed);
  bytes[bytes.length - 1] ^= 1;
  await Deno.writeFile(changed, bytes);
  await assert.rejects(readHeldOut(record), (e) => {
    assert.ok(e instanceof UserError);
    assert.match(e.message, /changed\b.*digest differs.*train it again/);
    assert.ok(e.message.startsWith(copy));
    return true;
  });
  await Deno.remove(changed);
  await assert.rejects(readHeldOut(record), /cannot be read/);
});
