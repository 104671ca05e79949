import assert from "node:assert/strict";
import { parseArgs } from "node:util";
import { HelpRequested, runCommand, UserError } from "../lib/util/errors.ts";

/** Run `fn` with console.log and console.error captured. */
async function captured(fn: () => Promise<number>) {
  const out: string[] = [], err: string[] = [];
  const { log, error } = console;
  console.log = (...a: unknown[]) => void out.push(a.join(" "));
  console.error = (...a: unknown[]) => void err.push(a.join(" "));
  try {
    return { code: await fn(), out, err };
  } finally {
    Object.assign(console, { log, error });
  }
}

Deno.test("runCommand: --help prints the usage; user errors and bad flags are one line; bugs rethrow", async () => {
  const usage = "usage: tool [--n N]";
  const help = await captured(() =>
    runCommand(() => Promise.reject(new HelpRequested()), { usage })
  );
  assert.deepEqual([help.code, help.out, help.err], [0, [usage], []]);

  const user = await captured(() =>
    runCommand(() => Promise.reject(new UserError("--n must be >= 1, got '0'")), { usage })
  );
  assert.deepEqual([user.code, user.out, user.err], [2, [], ["error: --n must be >= 1, got '0'"]]);

  const flag = await captured(() =>
    runCommand(() => {
      parseArgs({ args: ["--frobnicate"], options: { n: { type: "string" } } });
      return Promise.resolve(0);
    }, { userErrorCode: 1 })
  );
  assert.equal(flag.code, 1);
  assert.deepEqual(flag.err, ["error: Unknown option '--frobnicate'"]);

  await assert.rejects(runCommand(() => Promise.reject(new TypeError("a bug"))), TypeError);
  assert.equal((await captured(() => runCommand(() => Promise.resolve(3)))).code, 3);
});

Deno.test("every entry point answers an unknown flag with one error line, no stack trace", async (t) => {
  const entries: [string, number][] = [
    ["train.ts", 2],
    ["predict.ts", 2],
    ["bench.ts", 2],
    ["step_bench.ts", 2],
    ["equal_time.ts", 2],
    ["setup.ts", 1],
  ];
  for (const [entry, code] of entries) {
    await t.step(entry, async () => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", new URL(`../lib/cli/${entry}`, import.meta.url).pathname, "--frobnicate"],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, code, stderr);
      const errors = stderr.split("\n").filter((l) => l.startsWith("error: "));
      assert.equal(errors.length, 1, stderr);
      assert.match(errors[0], /^error: Unknown option '--frobnicate'/);
      assert.doesNotMatch(stderr, /^\s+at /m, "no stack trace");
    });
  }
});
