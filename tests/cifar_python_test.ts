import assert from "node:assert/strict";
import { join } from "node:path";
import { CIFAR100_PYTHON_MD5, loadCifar100, type LoadOptions } from "../lib/data/cifar100.ts";
import type { Cifar100 } from "../lib/data/dataset.ts";
import { unpickleCifar } from "../lib/data/pickle.ts";
import { UserError } from "../lib/util/errors.ts";
import {
  fixtureFiles,
  md5,
  NumpyU1,
  packFixtureArchive,
  py2Pickle,
  PyGlobal,
  pythonFixtureFiles,
  pythonMetaDict,
  pythonSplitDict,
  type PyValue,
  rejectsWith,
  writeFixtureArchive,
  writeFixtureFolder,
} from "./cifar_fixture.ts";

const TRAIN = 120;
const TEST = 30;
const COUNTS = { train: TRAIN, test: TEST };
const PY = "cifar-100-python";

async function withTempDir(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "cifar_python_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Both datasets hold the same bytes, labels, names and mapping. */
function assertSameData(a: Cifar100, b: Cifar100) {
  for (const split of ["train", "test"] as const) {
    assert.equal(a[split].count, b[split].count);
    assert.deepEqual(a[split].images, b[split].images, `${split} images`);
    assert.deepEqual(a[split].fineLabels, b[split].fineLabels, `${split} fine labels`);
    assert.deepEqual(a[split].coarseLabels, b[split].coarseLabels, `${split} coarse labels`);
  }
  assert.deepEqual(a.fineLabelNames, b.fineLabelNames);
  assert.deepEqual(a.coarseLabelNames, b.coarseLabelNames);
  assert.deepEqual(a.fineToCoarse, b.fineToCoarse);
}

/** The python files with `train` (or another file) replaced. */
function withFile(name: string, body: Uint8Array | string | undefined) {
  return { ...pythonFixtureFiles(TRAIN, TEST), [name]: body };
}

/** A bad python-version file, as a folder and as an archive: both fail naming the file. */
async function rejectsAsFolderAndArchive(
  base: string,
  files: ReturnType<typeof withFile>,
  fragments: string[],
) {
  const folder = await writeFixtureFolder(base, files, PY);
  await rejectsWith(loadCifar100({ data: folder, expectedCounts: COUNTS }), folder, ...fragments);
  const archive = await writeFixtureArchive(`${base}.tar.gz`, files, PY);
  await rejectsWith(loadCifar100({ data: archive, expectedCounts: COUNTS }), archive, ...fragments);
}

Deno.test("python version: the same images, labels and names as the binary version, to the byte", async () => {
  await withTempDir(async (dir) => {
    const binary = await loadCifar100({
      data: await writeFixtureArchive(join(dir, "b.tar.gz"), fixtureFiles(TRAIN, TEST)),
      expectedCounts: COUNTS,
    });
    const archivePath = join(dir, "cifar-100-python.tar.gz");
    await writeFixtureArchive(archivePath, pythonFixtureFiles(TRAIN, TEST), PY);
    const archive = await loadCifar100({ data: archivePath, expectedCounts: COUNTS });
    assertSameData(archive, binary);
    assert.equal(archive.source.kind, "archive");
    assert.equal(archive.source.origin, "unofficial");
    assert.match(
      archive.source.description,
      /^CIFAR-100 \(python version\) from .*cifar-100-python\.tar\.gz$/,
    );
    assert.ok(archive.source.note?.includes(CIFAR100_PYTHON_MD5), archive.source.note);

    const folder = await writeFixtureFolder(dir, pythonFixtureFiles(TRAIN, TEST), PY);
    for (const data of [folder, dir]) {
      const loaded = await loadCifar100({ data, expectedCounts: COUNTS });
      assertSameData(loaded, binary);
      assert.equal(loaded.source.origin, "unverified");
      assert.equal(loaded.source.path, folder);
    }
    // Limits keep the same first images.
    const limited = await loadCifar100({ data: archivePath, limitTrain: 7, limitTest: 3 });
    assert.deepEqual(limited.train.images, binary.train.images.subarray(0, 7 * 3072));
    assert.equal(limited.test.count, 3);
  });
});

Deno.test("python version: small arrays (read as strings) and the official MD5", async () => {
  await withTempDir(async (dir) => {
    const counts = { train: 3, test: 2 };
    const binary = await loadCifar100({
      data: await writeFixtureFolder(dir, fixtureFiles(3, 2)),
      expectedCounts: counts,
    });
    const bytes = await packFixtureArchive(pythonFixtureFiles(3, 2), PY);
    const path = join(dir, "small.tar.gz");
    await Deno.writeFile(path, bytes);
    // expectedPythonMd5 stands in for the official MD5, which a fixture cannot have.
    const official = await loadCifar100({ data: path, expectedCounts: counts }, {
      expectedPythonMd5: md5(bytes),
    });
    assertSameData(official, binary);
    assert.equal(official.source.origin, "official");
    assert.equal(official.source.md5, md5(bytes));
    assert.equal(official.source.note, undefined);
  });
});

Deno.test("python version: a pickle naming any other global is refused, nothing run", async () => {
  await withTempDir(async (dir) => {
    const evilData = pythonSplitDict(TRAIN);
    evilData.set("data", new PyGlobal("os", "system"));
    await rejectsAsFolderAndArchive(join(dir, "os"), withFile("train", py2Pickle(evilData)), [
      "train",
      "os.system",
      "refused",
    ]);
    const evilMeta = pythonMetaDict();
    evilMeta.set("x", new PyGlobal("builtins", "eval"));
    await rejectsAsFolderAndArchive(join(dir, "eval"), withFile("meta", py2Pickle(evilMeta)), [
      "meta",
      "builtins.eval",
    ]);
    // The classic payload: cos.system, (S'touch ...'), REDUCE. Refused at the GLOBAL.
    const marker = join(dir, "ran");
    const payload = new TextEncoder().encode(`cos\nsystem\n(S'touch ${marker}'\ntR.`);
    assert.throws(() => unpickleCifar(payload, "evil.pkl"), /evil\.pkl: .*os\.system.*refused/);
    await assert.rejects(Deno.stat(marker), Deno.errors.NotFound);
    // Instance creation by name (INST) goes through the same refusal.
    const inst = new TextEncoder().encode("(ipathlib\nPath\n.");
    assert.throws(() => unpickleCifar(inst, "inst.pkl"), /inst\.pkl: .*pathlib\.Path.*refused/);
  });
});

Deno.test("python version: bad files get one clear line naming the file", async () => {
  await withTempDir(async (dir) => {
    const cases: [string, string, Uint8Array | string | undefined, string[]][] = [];
    const shortFine = pythonSplitDict(TRAIN);
    shortFine.set("fine_labels", (shortFine.get("fine_labels") as number[]).slice(1));
    cases.push(["shortfine", "train", py2Pickle(shortFine), [
      "has 120 images but 119 fine_labels",
    ]]);
    const wrongShape = pythonSplitDict(TRAIN);
    wrongShape.set("data", new NumpyU1([TRAIN, 3000], new Uint8Array(TRAIN * 3000)));
    cases.push(["shape", "train", py2Pickle(wrongShape), ["shape (120, 3000)", "(N, 3072)"]]);
    const shortData = pythonSplitDict(TEST, 1);
    shortData.set("data", new NumpyU1([TEST, 3072], new Uint8Array(TEST * 3072 - 1)));
    cases.push(["bytes", "test", py2Pickle(shortData), ["92159 bytes of data, expected 92160"]]);
    const badLabel = pythonSplitDict(TRAIN);
    (badLabel.get("coarse_labels") as number[])[4] = 20;
    cases.push(["label", "train", py2Pickle(badLabel), ["coarse_labels[4] is 20"]]);
    cases.push(["fewer", "test", py2Pickle(pythonSplitDict(TEST - 1, 1)), [
      "29 images, expected 30",
    ]]);
    cases.push(["meta99", "meta", py2Pickle(pythonMetaDict(99, 20)), [
      "99 fine_label_names, expected 100",
    ]]);
    cases.push(["meta21", "meta", py2Pickle(pythonMetaDict(100, 21)), [
      "21 coarse_label_names, expected 20",
    ]]);
    const list: PyValue = [1, 2, 3];
    cases.push(["list", "train", py2Pickle(list), ["a list of 3", "expected CIFAR-100's dict"]]);
    const other = new Map<string, PyValue>([["weights", [1.5]]]);
    cases.push(["otherdict", "meta", py2Pickle(other), ["a dict without", "it has weights"]]);
    const full = py2Pickle(pythonSplitDict(TRAIN));
    cases.push(["cut", "train", full.subarray(0, full.length - 1000), ["not a readable pickle"]]);
    cases.push(["text", "test", "hello", ["not a readable pickle"]]);
    cases.push(["nometa", "meta", undefined, ["meta"]]);
    for (const [name, file, body, fragments] of cases) {
      await rejectsAsFolderAndArchive(join(dir, name), withFile(file, body), [file, ...fragments]);
    }
    // A truncated archive.
    const good = await packFixtureArchive(pythonFixtureFiles(TRAIN, TEST), PY);
    const truncated = join(dir, "truncated.tar.gz");
    await Deno.writeFile(truncated, good.subarray(0, good.length - 100));
    await rejectsWith(
      loadCifar100({ data: truncated, expectedCounts: COUNTS }),
      truncated,
      "corrupt",
    );
  });
});

/** loadCifar100 with env KERAS_HOME/HOME set only while it reads them (synchronously). */
function loadWithEnv(
  env: Record<string, string | undefined>,
  options: LoadOptions,
  seams: Parameters<typeof loadCifar100>[1],
) {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, Deno.env.get(k)]));
  const set = (vars: Record<string, string | undefined>) => {
    for (const [k, v] of Object.entries(vars)) {
      v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
    }
  };
  set({ CIFAR100_DATA: undefined, ...env });
  try {
    return loadCifar100(options, seams);
  } finally {
    set({ CIFAR100_DATA: Deno.env.get("CIFAR100_DATA"), ...saved });
  }
}

Deno.test("Keras's cache: found through KERAS_HOME, else ~/.keras, before this project's cache", async () => {
  await withTempDir(async (dir) => {
    const cacheDir = join(dir, "cache");
    // This project's cache holds the binary version: Keras's cache comes first.
    await writeFixtureFolder(cacheDir, fixtureFiles(TRAIN, TEST));
    // download: false makes a download a failure, so every load here comes from a cache.
    const options = { cacheDir, download: false, expectedCounts: COUNTS };

    const kerasHome = join(dir, "keras");
    await Deno.mkdir(join(kerasHome, "datasets"), { recursive: true });
    const archive = join(kerasHome, "datasets", "cifar-100-python.tar.gz");
    await writeFixtureArchive(archive, pythonFixtureFiles(TRAIN, TEST), PY);
    const viaEnv = await loadWithEnv({ KERAS_HOME: kerasHome }, options, {});
    assert.equal(viaEnv.source.path, archive);
    assert.equal(viaEnv.source.kind, "cache");
    assert.equal(viaEnv.source.origin, "unofficial");
    assert.match(viaEnv.source.description, /python version.*\(Keras's cache\)$/);

    const home = join(dir, "home");
    await Deno.mkdir(join(home, ".keras"), { recursive: true });
    await Deno.rename(kerasHome, join(home, ".keras", "x"));
    await Deno.rename(join(home, ".keras", "x", "datasets"), join(home, ".keras", "datasets"));
    const viaHome = await loadWithEnv({ KERAS_HOME: undefined, HOME: home }, options, {});
    assert.equal(viaHome.source.path, join(home, ".keras", "datasets", "cifar-100-python.tar.gz"));

    // Keras 3's extracted folder, when no archive is there.
    const keras3 = join(dir, "keras3");
    await writeFixtureFolder(
      join(keras3, "datasets", "cifar-100-python-target"),
      pythonFixtureFiles(TRAIN, TEST),
      PY,
    );
    const folder = await loadCifar100({ ...options, kerasHome: keras3 });
    assert.equal(folder.source.path, join(keras3, "datasets", "cifar-100-python-target", PY));
    assert.equal(folder.source.origin, "unverified");
    assertSameData(folder, viaEnv);

    // Found without being named, the data must have CIFAR-100's counts.
    await rejectsWith(
      loadCifar100({ cacheDir, download: false, kerasHome: keras3 }),
      "120 images, expected 50,000",
    );
    // Nothing in Keras's cache: this project's cache is used.
    const empty = await loadCifar100({ ...options, kerasHome: join(dir, "none") });
    assert.equal(empty.source.path, join(cacheDir, "cifar-100-binary"));
  });
});

Deno.test("offline with nothing found: the error lists every place, in the order tried", async () => {
  await withTempDir(async (dir) => {
    const offline = (() => Promise.reject(new TypeError("error sending request"))) as typeof fetch;
    const kerasHome = join(dir, "keras");
    const cacheDir = join(dir, "cache");
    await assert.rejects(loadWithEnv({}, { cacheDir, kerasHome }, { fetch: offline }), (e) => {
      assert.ok(e instanceof UserError && !e.message.includes("\n"), String(e));
      const order = [
        "(1) --data PATH",
        "(2) env CIFAR100_DATA=PATH",
        `(3) Keras's cache (KERAS_HOME, else ~/.keras): ${
          join(kerasHome, "datasets", "cifar-100-python.tar.gz")
        }`,
        join(kerasHome, "datasets", "cifar-100-python-target"),
        `(4) this project's cache ${join(cacheDir, "cifar-100-binary")}/`,
        join(cacheDir, "cifar-100-binary.tar.gz"),
        "(5) the download from https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz",
        "--data synthetic",
      ];
      let at = 0;
      for (const f of order) {
        const found = e.message.indexOf(f, at);
        assert.ok(found >= at, `"${f}" after position ${at} in: ${e.message}`);
        at = found + f.length;
      }
      assert.match(e.message, /error sending request/);
      return true;
    });
  });
});

Deno.test("python and binary archives of the same images: the same test accuracy, same seed", async () => {
  const { runExperiment } = await import("../lib/train/experiment.ts");
  await withTempDir(async (dir) => {
    const binary = await writeFixtureArchive(join(dir, "b.tar.gz"), fixtureFiles(TRAIN, TEST));
    const python = join(dir, "p.tar.gz");
    await writeFixtureArchive(python, pythonFixtureFiles(TRAIN, TEST), PY);
    const run = (data: string) =>
      runExperiment(
        { model: "cnn", data, epochs: 1, batchSize: 32, seed: 5, workers: 1, out: null },
        { log: () => {}, summary: false },
      );
    const a = await run(binary);
    const b = await run(python);
    assert.equal(a.test_accuracy, b.test_accuracy);
    assert.equal(a.test_loss, b.test_loss);
    assert.deepEqual(a.test_labels, b.test_labels);
    assert.match(b.data.description, /python layout from .*p\.tar\.gz/);
  });
});
