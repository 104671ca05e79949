import assert from "node:assert/strict";
import { join } from "node:path";

const EXECUTE = "lib/notebooks/execute.ts";

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
    assert.deepEqual(marker.outputs, [
      { output_type: "stream", name: "stdout", text: [`marker ${k}\n`] },
    ], marker.id);
  }
  await Deno.remove(out, { recursive: true });
});
