import assert from "node:assert/strict";
import { parseArgs } from "node:util";
import {
  HelpRequested,
  parseCommandLine,
  positiveInt,
  runCommand,
  UsageError,
  UserError,
  wholeNumber,
} from "../lib/util/errors.ts";

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
  const help = await captured(() => runCommand(() => Promise.reject(new HelpRequested(usage))));
  assert.deepEqual([help.code, help.out, help.err], [0, [usage], []]);

  const user = await captured(() =>
    runCommand(() => Promise.reject(new UserError("--n must be >= 1, got '0'")))
  );
  assert.deepEqual([user.code, user.out, user.err], [2, [], ["error: --n must be >= 1, got '0'"]]);

  // One code for every user error: a bad command line, a missing program, a missing flag.
  const flag = await captured(() =>
    runCommand(() => {
      parseArgs({ args: ["--frobnicate"], options: { n: { type: "string" } } });
      return Promise.resolve(0);
    })
  );
  assert.deepEqual([flag.code, flag.out], [2, []]);
  assert.deepEqual(flag.err, ["error: Unknown option '--frobnicate'"]);

  const other = await captured(() => runCommand(() => Promise.reject(new UserError("no Jupyter"))));
  assert.deepEqual([other.code, other.err], [2, ["error: no Jupyter"]]);

  const missing = await captured(() =>
    runCommand(() => Promise.reject(new UsageError("--n is required", usage)))
  );
  assert.deepEqual([missing.code, missing.out], [2, []]);
  assert.deepEqual(missing.err, ["error: --n is required", usage]);

  await assert.rejects(runCommand(() => Promise.reject(new TypeError("a bug"))), TypeError);
  assert.equal((await captured(() => runCommand(() => Promise.resolve(3)))).code, 3);
});

Deno.test("parseCommandLine: the flags as given, --help and -h, unknown flags as a UsageError", async () => {
  const usage = "usage: tool [--n N] [--x] FILE...";
  const spec = {
    usage,
    positionals: true,
    options: { n: { type: "string" as const, default: "7" }, x: { type: "boolean" as const } },
  };
  const parsed = parseCommandLine(["--x", "a.png", "b.png"], spec);
  assert.deepEqual({ ...parsed.values }, { n: "7", x: true });
  assert.deepEqual(parsed.positionals, ["a.png", "b.png"]);
  for (const args of [["--help"], ["-h"], ["--n", "3", "-h", "a.png"]]) {
    assert.throws(
      () => parseCommandLine(args, spec),
      (e) => e instanceof HelpRequested && e.usage === usage,
      args.join(" "),
    );
  }
  // An unknown flag wins over --help: the command line is wrong either way.
  for (const args of [["--frobnicate"], ["--frobnicate", "--help"], ["--n"]]) {
    assert.throws(
      () => parseCommandLine(args, spec),
      (e) => e instanceof UsageError && e.usage === usage && !e.message.includes("\n"),
      args.join(" "),
    );
  }
  assert.throws(
    () => parseCommandLine(["a.png"], { ...spec, positionals: false }),
    /Unexpected argument 'a.png'/,
  );
  const out = await captured(() =>
    runCommand(() => Promise.resolve(parseCommandLine(["--frobnicate"], spec) && 0))
  );
  assert.equal(out.code, 2);
  assert.equal(out.err.length, 2);
  assert.match(out.err[0], /^error: Unknown option '--frobnicate'[^\n]*$/);
  assert.equal(out.err[1], usage);
});

Deno.test("wholeNumber and positiveInt: whole numbers as typed, naming the flag and the value", () => {
  assert.equal(wholeNumber("--seed", "0"), 0);
  assert.equal(wholeNumber("--seed", "-2"), -2);
  for (const bad of ["two", "", " ", "1.5"]) {
    assert.throws(() => wholeNumber("--seed", bad), {
      name: "UserError",
      message: `--seed must be a whole number, got '${bad}'`,
    });
  }
  assert.equal(positiveInt("--top", "3"), 3);
  for (const bad of ["0", "-1", "x", ""]) {
    assert.throws(() => positiveInt("--top", bad), {
      name: "UserError",
      message: `--top must be a whole number >= 1, got '${bad}'`,
    });
  }
});
