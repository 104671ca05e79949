import assert from "node:assert/strict";
import { join } from "node:path";
import { DownloadError } from "../lib/util/cache.ts";
import { CIFAR100_MD5, loadCifar100, type LoadOptions } from "../lib/data/cifar100.ts";
import type { Cifar100 } from "../lib/data/dataset.ts";
import {
  fixtureCoarse,
  fixtureFiles,
  fixtureFine,
  fixturePixel,
  labelNames,
  makeBin,
  md5,
  packFixtureArchive,
  RECORD_BYTES,
  rejectsWith,
  writeFixtureArchive,
  writeFixtureFolder,
} from "./cifar_fixture.ts";

const TRAIN = 120;
const TEST = 30;
const COUNTS = { train: TRAIN, test: TEST };

async function withTempDir(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "cifar100_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** An empty Keras home: tests never look in the machine's own ~/.keras. */
const NO_KERAS = "/nonexistent/keras-home";

/** The test seams of loadCifar100 (its second argument). */
type Seams = Parameters<typeof loadCifar100>[1];

/** loadCifar100 with CIFAR100_DATA unset while it reads the environment (synchronously). */
function loadWithoutEnvData(options: LoadOptions, seams?: Seams): Promise<Cifar100> {
  const saved = Deno.env.get("CIFAR100_DATA");
  Deno.env.delete("CIFAR100_DATA");
  try {
    return loadCifar100({ kerasHome: NO_KERAS, ...options }, seams);
  } finally {
    if (saved !== undefined) Deno.env.set("CIFAR100_DATA", saved);
  }
}

/** A fetch that serves `body` from memory and counts its calls. */
function serve(body: Uint8Array) {
  const calls: string[] = [];
  const fn = (input: string | URL | Request) => {
    calls.push(String(input));
    return Promise.resolve(new Response(body.slice()));
  };
  return { fetch: fn as typeof fetch, calls };
}

/** The same bad files, as an extracted folder and as a tar.gz: both must fail, naming the path. */
async function rejectsAsFolderAndArchive(
  base: string,
  files: Parameters<typeof writeFixtureFolder>[1],
  fragments: string[],
) {
  const folder = await writeFixtureFolder(base, files);
  await rejectsWith(loadCifar100({ data: folder, expectedCounts: COUNTS }), folder, ...fragments);
  const archive = await writeFixtureArchive(`${base}.tar.gz`, files);
  await rejectsWith(loadCifar100({ data: archive, expectedCounts: COUNTS }), archive, ...fragments);
}

/** Every record of the fixture decoded as the real layout says. */
function checkFixture(data: Cifar100, train = TRAIN, test = TEST) {
  assert.equal(data.train.count, train);
  assert.equal(data.test.count, test);
  for (const [split, s, count] of [[0, data.train, train], [1, data.test, test]] as const) {
    assert.equal(s.images.length, count * 3072);
    assert.equal(s.fineLabels.length, count);
    for (let i = 0; i < count; i++) {
      assert.equal(s.fineLabels[i], fixtureFine(i));
      assert.equal(s.coarseLabels[i], fixtureCoarse(fixtureFine(i)));
    }
    // Every pixel of the first and last image; NHWC index ((i*32+r)*32+c)*3+k.
    for (const i of [0, count - 1]) {
      for (let r = 0; r < 32; r++) {
        for (let c = 0; c < 32; c++) {
          for (let k = 0; k < 3; k++) {
            const got = s.images[((i * 32 + r) * 32 + c) * 3 + k];
            if (got !== fixturePixel(i, r, c, k, split)) {
              assert.fail(`split ${split} image ${i} row ${r} col ${c} ch ${k}: ${got}`);
            }
          }
        }
      }
    }
  }
  assert.equal(data.fineLabelNames.length, 100);
  assert.equal(data.fineLabelNames[7], "fine_07");
  assert.deepEqual(data.coarseLabelNames, labelNames("coarse", 20).trim().split("\n"));
  for (let f = 0; f < 100; f++) assert.equal(data.fineToCoarse[f], fixtureCoarse(f));
  assert.equal(data.source.synthetic, false);
}

Deno.test("a single known pixel lands at ((i*32+r)*32+c)*3+k", async () => {
  await withTempDir(async (dir) => {
    const train = makeBin(TRAIN);
    // Record 5, row 3, column 30, green (channel 1): byte 2 + 1*1024 + 3*32 + 30 of the record.
    train[5 * RECORD_BYTES + 2 + 1024 + 3 * 32 + 30] = 251;
    const folder = await writeFixtureFolder(dir, {
      ...fixtureFiles(TRAIN, TEST),
      "train.bin": train,
    });
    const data = await loadCifar100({ data: folder, expectedCounts: COUNTS });
    assert.equal(data.train.images[((5 * 32 + 3) * 32 + 30) * 3 + 1], 251);
    assert.equal(data.train.images[((5 * 32 + 3) * 32 + 30) * 3 + 0], fixturePixel(5, 3, 30, 0));
    assert.equal(data.train.images[((5 * 32 + 3) * 32 + 30) * 3 + 2], fixturePixel(5, 3, 30, 2));
  });
});

Deno.test("loads an extracted folder, or the folder holding it", async () => {
  await withTempDir(async (dir) => {
    const folder = await writeFixtureFolder(dir, fixtureFiles(TRAIN, TEST));
    const data = await loadCifar100({ data: folder, expectedCounts: COUNTS });
    checkFixture(data);
    assert.equal(data.source.kind, "folder");
    assert.equal(data.source.origin, "unverified", "a folder cannot be checked");
    assert.match(data.source.note ?? "", /labelled unverified/);
    assert.equal(data.source.path, folder);
    assert.match(data.source.id, /^folder:/);
    assert.match(data.source.description, /^CIFAR-100 from /);
    const parent = await loadCifar100({ data: dir, expectedCounts: COUNTS });
    assert.equal(parent.source.path, folder);
    assert.deepEqual(parent.train.images, data.train.images);
  });
});

Deno.test("loads a tar.gz, notes a non-official checksum, gives the same data", async () => {
  await withTempDir(async (dir) => {
    const path = await writeFixtureArchive(join(dir, "c.tar.gz"), fixtureFiles(TRAIN, TEST));
    const data = await loadCifar100({ data: path, expectedCounts: COUNTS });
    checkFixture(data);
    const archiveMd5 = md5(await Deno.readFile(path));
    assert.equal(data.source.kind, "archive");
    assert.equal(data.source.origin, "unofficial");
    assert.equal(data.source.md5, archiveMd5);
    assert.equal(data.source.id, archiveMd5);
    assert.ok(data.source.note?.includes(CIFAR100_MD5), data.source.note);
    assert.ok(data.source.note?.includes("accepted"));
  });
});

Deno.test("origin: an archive is official only when its MD5 is the official one", async () => {
  await withTempDir(async (dir) => {
    const path = await writeFixtureArchive(join(dir, "c.tar.gz"), fixtureFiles(TRAIN, TEST));
    const archiveMd5 = md5(await Deno.readFile(path));
    // expectedMd5 stands in for the official MD5, which a fixture cannot have.
    const official = await loadCifar100({ data: path, expectedCounts: COUNTS }, {
      expectedMd5: archiveMd5,
    });
    assert.equal(official.source.origin, "official");
    assert.equal(official.source.note, undefined);
    const other = await loadCifar100({ data: path, expectedCounts: COUNTS }, {
      expectedMd5: "0".repeat(32),
    });
    assert.equal(other.source.origin, "unofficial");
    assert.match(other.source.note ?? "", /not the official 0{32}.*labelled as not the official/);
  });
});

Deno.test("limitTrain/limitTest keep the first records", async () => {
  await withTempDir(async (dir) => {
    const path = await writeFixtureArchive(join(dir, "c.tar.gz"), fixtureFiles(TRAIN, TEST));
    const data = await loadCifar100({
      data: path,
      expectedCounts: COUNTS,
      limitTrain: 7,
      limitTest: 3,
    });
    checkFixture(data, 7, 3);
    await rejectsWith(loadCifar100({ data: path, limitTrain: -1 }), "limitTrain", "-1");
  });
});

Deno.test("env CIFAR100_DATA is used when no data option is given", async () => {
  await withTempDir(async (dir) => {
    const folder = await writeFixtureFolder(dir, fixtureFiles(TRAIN, TEST));
    const saved = Deno.env.get("CIFAR100_DATA");
    Deno.env.set("CIFAR100_DATA", folder);
    let loading: Promise<Cifar100>;
    try {
      // Reads the environment before its first await.
      loading = loadCifar100({ expectedCounts: COUNTS, cacheDir: join(dir, "unused") });
    } finally {
      saved === undefined ? Deno.env.delete("CIFAR100_DATA") : Deno.env.set("CIFAR100_DATA", saved);
    }
    const data = await loading;
    assert.equal(data.source.path, folder);
  });
});

Deno.test("download: fetched into the cache, MD5-checked, then read from the cache", async () => {
  await withTempDir(async (dir) => {
    const archive = await packFixtureArchive(fixtureFiles(TRAIN, TEST));
    const cacheDir = join(dir, "cache");
    const server = serve(archive);
    const options = { cacheDir, expectedCounts: COUNTS };
    const seams = { fetch: server.fetch, expectedMd5: md5(archive) };
    const progress: number[] = [];
    const first = await loadWithoutEnvData({
      ...options,
      onProgress: (done) => progress.push(done),
    }, seams);
    checkFixture(first);
    assert.equal(first.source.kind, "download");
    assert.equal(first.source.origin, "official", "the (stand-in) official MD5 was checked");
    assert.equal(first.source.path, join(cacheDir, "cifar-100-binary.tar.gz"));
    assert.equal(first.source.id, md5(archive));
    assert.equal(progress.at(-1), archive.length);
    assert.deepEqual(server.calls, ["https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz"]);

    const second = await loadWithoutEnvData(options, seams);
    assert.equal(second.source.kind, "cache");
    assert.equal(second.source.origin, "official");
    assert.equal(server.calls.length, 1, "the cached archive is not fetched again");
    assert.deepEqual(second.train.images, first.train.images);
  });
});

Deno.test("download: a wrong MD5 is rejected and nothing is left in the cache", async () => {
  await withTempDir(async (dir) => {
    const archive = await packFixtureArchive(fixtureFiles(TRAIN, TEST));
    const server = serve(archive);
    await rejectsWith(
      loadWithoutEnvData({ cacheDir: dir, expectedCounts: COUNTS }, { fetch: server.fetch }),
      md5(archive),
      CIFAR100_MD5,
    );
    assert.deepEqual([...Deno.readDirSync(dir)], []);
  });
});

Deno.test("download: an aborted transfer leaves no file behind", async () => {
  await withTempDir(async (dir) => {
    const archive = await packFixtureArchive(fixtureFiles(TRAIN, TEST));
    const broken = (() =>
      Promise.resolve(
        new Response(
          new ReadableStream({
            start(controller) {
              controller.enqueue(archive.slice(0, 1000));
              controller.error(new Error("connection reset"));
            },
          }),
        ),
      )) as typeof fetch;
    await rejectsWith(
      loadWithoutEnvData({ cacheDir: dir }, { fetch: broken, expectedMd5: md5(archive) }),
      "connection reset",
    );
    assert.deepEqual([...Deno.readDirSync(dir)], []);
  });
});

Deno.test("download: false: nothing found is the not-found error, and no request is made", async () => {
  await withTempDir(async (dir) => {
    const server = serve(await packFixtureArchive(fixtureFiles(TRAIN, TEST)));
    await rejectsWith(
      loadWithoutEnvData({ cacheDir: dir, download: false }, { fetch: server.fetch }),
      "downloads are off",
      "--data synthetic",
    );
    assert.deepEqual(server.calls, []);
    assert.deepEqual([...Deno.readDirSync(dir)], []);
  });
});

Deno.test("offline with nothing found: one error naming every way to provide the data", async () => {
  await withTempDir(async (dir) => {
    const offline = (() => Promise.reject(new TypeError("error sending request"))) as typeof fetch;
    await assert.rejects(
      loadWithoutEnvData({ cacheDir: dir }, { fetch: offline }),
      (e) => {
        assert.ok(e instanceof DownloadError);
        assert.ok(!e.message.includes("\n"));
        for (
          const f of [
            "--data PATH",
            "CIFAR100_DATA",
            dir,
            "cifar-100-binary.tar.gz",
            "--data synthetic",
            "error sending request",
          ]
        ) assert.ok(e.message.includes(f), `"${f}" in: ${e.message}`);
        return true;
      },
    );
  });
});

Deno.test("the cache folder may hold the extracted folder instead of the archive", async () => {
  await withTempDir(async (dir) => {
    const folder = await writeFixtureFolder(dir, fixtureFiles(TRAIN, TEST));
    const server = serve(new Uint8Array());
    const data = await loadWithoutEnvData({ cacheDir: dir, expectedCounts: COUNTS }, {
      fetch: server.fetch,
    });
    assert.equal(data.source.kind, "cache");
    assert.equal(data.source.origin, "unverified");
    assert.equal(data.source.path, folder);
    assert.equal(server.calls.length, 0);
  });
});

Deno.test("bad .bin files: size, record count, labels, fine-to-coarse consistency", async () => {
  await withTempDir(async (dir) => {
    const cases: [string, Uint8Array, string[]][] = [];
    cases.push(["truncated", makeBin(TRAIN).slice(0, TRAIN * RECORD_BYTES - 5), [
      "train.bin",
      "not a multiple of the 3,074-byte",
    ]]);
    cases.push(["short", makeBin(TRAIN - 1), ["train.bin", "119 records, expected 120"]]);
    const fine = makeBin(TRAIN);
    fine[17 * RECORD_BYTES + 1] = 100;
    cases.push(["fine", fine, ["train.bin", "record 17", "fine label 100"]]);
    const coarse = makeBin(TRAIN);
    coarse[4 * RECORD_BYTES] = 20;
    cases.push(["coarse", coarse, ["train.bin", "record 4", "coarse label 20"]]);
    const mixed = makeBin(TRAIN);
    // Record 100 repeats record 0's fine label; give it another coarse class.
    mixed[100 * RECORD_BYTES] = (fixtureCoarse(fixtureFine(0)) + 1) % 20;
    cases.push(["mixed", mixed, ["train.bin", "record 100", `fine label ${fixtureFine(0)}`]]);

    for (const [name, train, fragments] of cases) {
      const files = { ...fixtureFiles(TRAIN, TEST), "train.bin": train };
      await rejectsAsFolderAndArchive(join(dir, name), files, fragments);
    }
    // The real counts are the rule for the cached data (explicit data: the next test).
    const cache = join(dir, "cache");
    await writeFixtureFolder(cache, fixtureFiles(TRAIN, TEST));
    await rejectsWith(
      loadWithoutEnvData({ cacheDir: cache }),
      "120 records, expected 50,000",
    );
  });
});

Deno.test("explicit data with other record counts loads, described and noted as not CIFAR-100", async () => {
  await withTempDir(async (dir) => {
    const folder = await writeFixtureFolder(join(dir, "other"), fixtureFiles(TRAIN, TEST));
    const archive = join(dir, "other.tar.gz");
    await Deno.writeFile(archive, await packFixtureArchive(fixtureFiles(TRAIN, TEST)));
    for (const [data, origin] of [[folder, "unverified"], [archive, "unofficial"]] as const) {
      const loaded = await loadCifar100({ data, limitTrain: 100 });
      assert.equal(loaded.train.count, 100);
      assert.equal(loaded.test.count, TEST);
      assert.equal(loaded.source.origin, origin);
      assert.match(loaded.source.description, /^NOT CIFAR-100: 120 train \/ 30 test images/);
      assert.match(
        loaded.source.note ?? "",
        /holds 120 training and 30 test records, not CIFAR-100's 50,000 and 10,000: it is not CIFAR-100/,
      );
      assert.deepEqual(
        Array.from(loaded.train.fineLabels.subarray(0, 3)),
        [0, 1, 2].map(fixtureFine),
      );
    }
    // A file without records is still an error, as is a partial record.
    const empty = await writeFixtureFolder(join(dir, "empty"), {
      ...fixtureFiles(TRAIN, TEST),
      "test.bin": new Uint8Array(0),
    });
    await rejectsWith(loadCifar100({ data: empty }), "test.bin", "has no records");
    const partial = await writeFixtureFolder(join(dir, "partial"), {
      ...fixtureFiles(TRAIN, TEST),
      "test.bin": makeBin(TEST).slice(0, 100),
    });
    await rejectsWith(loadCifar100({ data: partial }), "test.bin", "not a multiple");
    // With the counts asked for, explicit data must have them.
    await rejectsWith(
      loadCifar100({ data: folder, expectedCounts: { train: 50000, test: 10000 } }),
      "120 records, expected 50,000",
    );
  });
});

Deno.test("bad label-name files: missing or wrong line count", async () => {
  await withTempDir(async (dir) => {
    const cases: [string, Record<string, string | undefined>, string[]][] = [
      ["nofine", { "fine_label_names.txt": undefined }, ["fine_label_names.txt"]],
      ["nocoarse", { "coarse_label_names.txt": undefined }, ["coarse_label_names.txt"]],
      ["short", { "fine_label_names.txt": labelNames("f", 99) }, ["99 label names, expected 100"]],
      ["long", { "coarse_label_names.txt": labelNames("c", 21) }, ["21 label names, expected 20"]],
    ];
    for (const [name, change, fragments] of cases) {
      const files = { ...fixtureFiles(TRAIN, TEST), ...change };
      await rejectsAsFolderAndArchive(join(dir, name), files, fragments);
    }
    // Blank lines and Windows line ends are tolerated.
    const files = {
      ...fixtureFiles(TRAIN, TEST),
      "coarse_label_names.txt": labelNames("c", 20).replaceAll("\n", "\r\n") + "\n\n",
    };
    const folder = await writeFixtureFolder(join(dir, "crlf"), files);
    const data = await loadCifar100({ data: folder, expectedCounts: COUNTS });
    assert.equal(data.coarseLabelNames[19], "c_19");
  });
});

Deno.test("corrupt archives and wrong paths", async () => {
  await withTempDir(async (dir) => {
    const good = await packFixtureArchive(fixtureFiles(TRAIN, TEST));
    const truncated = join(dir, "truncated.tar.gz");
    await Deno.writeFile(truncated, good.slice(0, good.length - 100));
    await rejectsWith(
      loadCifar100({ data: truncated, expectedCounts: COUNTS }),
      truncated,
      "corrupt",
    );

    const flipped = good.slice();
    flipped[Math.floor(good.length / 2)] ^= 0xff;
    const damaged = join(dir, "damaged.tar.gz");
    await Deno.writeFile(damaged, flipped);
    await rejectsWith(loadCifar100({ data: damaged, expectedCounts: COUNTS }), damaged);

    // Valid gzip around something that is not a tar.
    const notTar = join(dir, "nottar.tar.gz");
    const junk = new Uint8Array(10000).map((_, i) => (i * 7919) & 255);
    const gz = new Response(new Blob([junk]).stream().pipeThrough(new CompressionStream("gzip")));
    await Deno.writeFile(notTar, new Uint8Array(await gz.arrayBuffer()));
    await rejectsWith(loadCifar100({ data: notTar, expectedCounts: COUNTS }), notTar);

    const text = join(dir, "notes.txt");
    await Deno.writeTextFile(text, "hello");
    await rejectsWith(loadCifar100({ data: text, expectedCounts: COUNTS }), text);

    const missing = join(dir, "nowhere.tar.gz");
    await rejectsWith(loadCifar100({ data: missing }), missing, "not found", "synthetic");

    const noTest = join(dir, "notest.tar.gz");
    const withoutTest = { ...fixtureFiles(TRAIN, TEST), "test.bin": undefined };
    await Deno.writeFile(noTest, await packFixtureArchive(withoutTest));
    await rejectsWith(
      loadCifar100({ data: noTest, expectedCounts: COUNTS }),
      `${noTest}: no cifar-100-binary/test.bin inside`,
    );

    const python = join(dir, "cifar-100-python.tar.gz");
    const { packTar } = await import("modern-tar");
    const tar = await packTar([{
      header: { name: "cifar-100-python/train", size: 3 },
      body: "abc",
    }]);
    await Deno.writeFile(python, tar);
    await rejectsWith(loadCifar100({ data: python }), python, "python version");
  });
});

Deno.test("data: synthetic goes through loadCifar100 with limits as sizes", async () => {
  const data = await loadCifar100({ data: "synthetic", seed: 3, limitTrain: 200, limitTest: 50 });
  assert.equal(data.train.count, 200);
  assert.equal(data.test.count, 50);
  assert.equal(data.source.synthetic, true);
  assert.equal(data.source.origin, "synthetic");
  assert.equal(data.source.id, "synthetic-seed3-200-50");
  assert.match(data.source.description, /SYNTHETIC/);
});
