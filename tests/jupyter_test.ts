import assert from "node:assert/strict";
import { join } from "node:path";

const EXECUTE = "lib/cli/notebooks.ts";

async function execute(args: string[], env: Record<string, string>) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", EXECUTE, ...args],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

Deno.test("a failing cell stops the run with one line naming notebook and cell", async () => {
  const out = await Deno.makeTempDir();
  const source = await Deno.readTextFile("tests/fixtures/failing.ipynb");
  const result = await execute(["--out", out, "tests/fixtures/failing.ipynb"], {
    CIFAR_PROFILE: "smoke",
  });
  assert.notEqual(result.code, 0);
  const errors = result.stderr.split("\n").filter((l) => l.startsWith("error: "));
  assert.deepEqual(errors, [
    'error: tests/fixtures/failing.ipynb: cell 3 of 4 failed (throw new Error("deliberate ' +
    'failure in cell 3");): Error: deliberate failure in cell 3',
  ]);
  const executed = JSON.parse(await Deno.readTextFile(join(out, "failing.ipynb")));
  assert.equal(executed.cells[3].outputs.length, 0, "cells after the failure never run");
  assert.equal(await Deno.readTextFile("tests/fixtures/failing.ipynb"), source, "source untouched");
  await Deno.remove(out, { recursive: true });
});

Deno.test("a passing notebook gets the profile, the import map and an HTML export", async () => {
  const out = await Deno.makeTempDir();
  const result = await execute(["--out", out, "tests/fixtures/passing.ipynb"], {
    CIFAR_PROFILE: "smoke",
  });
  assert.equal(result.code, 0, result.stderr);
  const executed = JSON.parse(await Deno.readTextFile(join(out, "passing.ipynb")));
  assert.deepEqual(executed.cells[1].outputs[0].text, ["profile=smoke cwd=fixtures\n"]);
  assert.match(executed.cells[2].outputs[0].data["text/html"].join(""), /cifar-plotly-bundle/);
  assert.equal(executed.metadata.cifar.profile, "smoke");
  assert.match(await Deno.readTextFile(join(out, "passing.html")), /class="cifar-plotly"/);
  await Deno.remove(out, { recursive: true });
});

Deno.test("full profile without data stops before the first notebook", async () => {
  const out = await Deno.makeTempDir();
  const result = await execute(["--out", out, "tests/fixtures/passing.ipynb"], {
    CIFAR_PROFILE: "full",
    CIFAR100_DATA: join(out, "missing-cifar-100-binary.tar.gz"),
  });
  assert.notEqual(result.code, 0);
  assert.match(result.stderr, /^error: .*missing-cifar-100-binary\.tar\.gz/m);
  assert.doesNotMatch(result.stderr, /executing|\n\s+at /);
  assert.deepEqual([...Deno.readDirSync(out)], [], "no notebook ran");
  await Deno.remove(out, { recursive: true });
});

Deno.test("a bad profile is a one-line error", async () => {
  const result = await execute(["tests/fixtures/passing.ipynb"], { CIFAR_PROFILE: "fast" });
  assert.notEqual(result.code, 0);
  assert.equal(
    result.stderr.trim(),
    "error: CIFAR_PROFILE=fast is not a profile: use smoke or full",
  );
});

/** CIFAR-100 files of the real sizes (sparse zeros: every image black, class 0), for preflights. */
async function realSizeData(dir: string): Promise<string> {
  const folder = join(dir, "cifar-100-binary");
  await Deno.mkdir(folder, { recursive: true });
  for (const [name, records] of [["train.bin", 50_000], ["test.bin", 10_000]] as const) {
    await Deno.writeFile(join(folder, name), new Uint8Array());
    await Deno.truncate(join(folder, name), records * 3074);
  }
  const names = (n: number) => Array.from({ length: n }, (_, i) => `class_${i}\n`).join("");
  await Deno.writeTextFile(join(folder, "fine_label_names.txt"), names(100));
  await Deno.writeTextFile(join(folder, "coarse_label_names.txt"), names(20));
  return folder;
}

/** A notebook with one code cell. */
async function oneCellNotebook(path: string, code: string): Promise<string> {
  const cell = {
    cell_type: "code",
    metadata: {},
    source: code,
    outputs: [],
    execution_count: null,
  };
  const kernelspec = { display_name: "Deno", language: "typescript", name: "deno" };
  const nb = { cells: [cell], metadata: { kernelspec }, nbformat: 4, nbformat_minor: 5 };
  await Deno.writeTextFile(path, JSON.stringify(nb));
  return path;
}

Deno.test("full profile with the data but no VGG16 weights stops before the first notebook", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const env = {
      CIFAR_PROFILE: "full",
      CIFAR100_DATA: await realSizeData(dir),
      CIFAR100_CACHE: join(dir, "cache"),
      KERAS_HOME: join(dir, "keras"), // an empty Keras cache, whatever this machine has
      CIFAR100_OFFLINE: "1",
      VGG16_WEIGHTS: "",
    };
    const out = join(dir, "out");
    await Deno.mkdir(out);
    const first = await oneCellNotebook(join(dir, "01_first.ipynb"), 'console.log("ran")');
    const vgg16 = await oneCellNotebook(join(dir, "04_vgg16.ipynb"), 'console.log("ran")');
    const result = await execute(["--out", out, first, vgg16], env);
    assert.notEqual(result.code, 0);
    const errors = result.stderr.split("\n").filter((l) => l.startsWith("error: "));
    assert.equal(errors.length, 1, result.stderr);
    assert.match(
      errors[0],
      /^error: VGG16 ImageNet weights are not available: .*--weights PATH: not given; \(2\) env VGG16_WEIGHTS=PATH: not set; \(3\) Keras's cache.*\(notebooks: CIFAR_PROFILE=smoke, or leave 04_vgg16\.ipynb out\)$/,
    );
    assert.doesNotMatch(result.stderr, /executing|\n\s+at /);
    assert.deepEqual([...Deno.readDirSync(out)], [], "no notebook ran");

    // Without notebook 04 the weights are not needed; the budget variables reach the kernel.
    const budget = await oneCellNotebook(
      join(dir, "02_budget.ipynb"),
      'console.log(Deno.env.get("CIFAR_EPOCHS"), Deno.env.get("CIFAR_LIMIT_TEST"))',
    );
    const ran = await execute(["--out", out, budget], {
      ...env,
      CIFAR_EPOCHS: "3",
      CIFAR_LIMIT_TEST: "50",
    });
    assert.equal(ran.code, 0, ran.stderr);
    const executed = JSON.parse(await Deno.readTextFile(join(out, "02_budget.ipynb")));
    assert.deepEqual(executed.cells[0].outputs[0].text, ["3 50\n"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a bad budget variable is a one-line error before any notebook", async () => {
  const result = await execute(["tests/fixtures/passing.ipynb"], {
    CIFAR_PROFILE: "smoke",
    CIFAR_LIMIT_TRAIN: "lots",
  });
  assert.notEqual(result.code, 0);
  assert.equal(
    result.stderr.trim(),
    "error: CIFAR_LIMIT_TRAIN must be a whole number >= 1, got 'lots' " +
      "(unset it to use the profile's training images)",
  );
});

Deno.test("late outputs stay in their own cells when another cell follows", async () => {
  // Deno's kernel sends a cell's outputs after its execute reply (a 2 MB result noticeably
  // later), when the executor has already sent the next cell: routing outputs by arrival, or
  // dropping what comes after the reply, misplaces or loses them. Every output must be in the
  // cell whose request it answers.
  const out = await Deno.makeTempDir();
  const result = await execute(["--out", out, "tests/fixtures/late_output.ipynb"], {
    CIFAR_PROFILE: "smoke",
  });
  assert.equal(result.code, 0, result.stderr);
  const executed = JSON.parse(await Deno.readTextFile(join(out, "late_output.ipynb")));
  type Output = { output_type: string; data?: Record<string, string[]>; execution_count?: number };
  const cells = executed.cells.slice(1) as Array<{
    id: string;
    outputs: Output[];
    execution_count: number;
  }>;
  assert.equal(cells.length, 10);
  for (let k = 0; k < 5; k++) {
    const [big, marker] = [cells[2 * k], cells[2 * k + 1]];
    assert.deepEqual(big.outputs.map((o) => o.output_type), ["execute_result"], big.id);
    const html = [big.outputs[0].data!["text/html"]].flat().join("");
    const expected = `<div id="big-${k}">${"0123456789abcdef".repeat(125_000)}</div>`;
    assert.ok(html === expected, `${big.id}: the whole 2 MB output, ${html.length} characters`);
    assert.equal(big.outputs[0].execution_count, big.execution_count, big.id);
    const holders = cells.filter((c) => JSON.stringify(c.outputs).includes(`marker ${k}`));
    assert.deepEqual(marker.outputs, [
      { output_type: "stream", name: "stdout", text: [`marker ${k}\n`] },
    ], `${marker.id}; 'marker ${k}' is under: ${holders.map((c) => c.id).join(", ") || "none"}`);
  }
  await Deno.remove(out, { recursive: true });
});
