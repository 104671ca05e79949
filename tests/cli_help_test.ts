/**
 * Every command (a task in deno.json that runs a lib/cli/*.ts file) answers `--help` and `-h`
 * with its usage on stdout and exit 0, and an unknown flag with one `error:` line, the usage and
 * exit 2; any other user error with one `error:` line and exit 2 too (the one rule of docs/cli.md);
 * the usage is word for word in docs/cli.md, under that command's heading; and no entry point loads
 * tfjs before it has read its flags (--help must be instant and start nothing).
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const TASKS: Record<string, string> = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`)).tasks;
const ENTRY = /\blib\/cli\/\w+\.ts\b/;
/** The commands: task name and its entry point. */
const COMMANDS = Object.entries(TASKS).flatMap(([name, command]) => {
  const entry = command.match(ENTRY)?.[0];
  return entry ? [{ name, entry }] : [];
});

interface Output {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run `deno task NAME ARGS...` from the repository root, with `env` added to this one's. */
async function task(
  name: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<Output> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["task", name, ...args],
    cwd: ROOT,
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

/** `fn` over `items`, at most `limit` at a time (each deno start costs about a second of CPU). */
async function pooled<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) results[i] = await fn(items[i]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** Deno's own lines on stderr: the task's echo, and waits for the lock of node_modules. */
const DENO_LINE = /^(Task \S+ |Blocking waiting for file lock|Download )/;

/** What the command itself wrote to stderr. */
function ownStderr(stderr: string): string[] {
  return stderr.split("\n").filter((line) => line.trim() && !DENO_LINE.test(line));
}

/** The `## ` section of docs/cli.md whose heading names `deno task NAME`. */
function docSection(doc: string, name: string): string | undefined {
  return doc.split(/^(?=## )/m).find((s) => s.split("\n")[0].includes(`\`deno task ${name}\``));
}

/** npm packages that an entry point imports before any dynamic import (what loads at start). */
async function staticNpmImports(entry: string): Promise<string[]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const graph = JSON.parse(new TextDecoder().decode(out.stdout));
  type Dep = { code?: { specifier: string }; isDynamic?: boolean };
  const modules = new Map<string, { dependencies?: Dep[] }>(
    graph.modules.map((m: { specifier: string }) => [m.specifier, m]),
  );
  const seen = new Set<string>(), npm = new Set<string>();
  const stack: string[] = [...graph.roots];
  while (stack.length) {
    const specifier = stack.pop()!;
    if (seen.has(specifier)) continue;
    seen.add(specifier);
    for (const dep of modules.get(specifier)?.dependencies ?? []) {
      // Type-only imports have no `code`; dynamic ones load only when reached.
      if (!dep.code || dep.isDynamic) continue;
      if (dep.code.specifier.startsWith("npm:")) npm.add(dep.code.specifier);
      else stack.push(dep.code.specifier);
    }
  }
  return [...npm].sort();
}

const runs = COMMANDS.flatMap(({ name }) =>
  [["--help"], ["-h"], ["--frobnicate"]].map((args) => ({ name, args }))
);
const outputs = new Map<string, Output>();
async function runAll() {
  if (outputs.size) return;
  const results = await pooled(runs, 6, ({ name, args }) => task(name, args));
  runs.forEach(({ name, args }, i) => outputs.set(`${name} ${args[0]}`, results[i]));
}

Deno.test("every lib/cli/ entry point is a deno task, and every command is checked here", async () => {
  const entries = new Set(COMMANDS.map((c) => c.entry));
  for await (const file of Deno.readDir(`${ROOT}lib/cli`)) {
    if (file.name.endsWith(".ts")) {
      assert.ok(
        entries.has(`lib/cli/${file.name}`),
        `no task in deno.json runs lib/cli/${file.name}`,
      );
    }
  }
  const names = COMMANDS.map((c) => c.name);
  for (const name of ["setup", "train", "predict", "equal-time", "bench", "bench:step"]) {
    assert.ok(names.includes(name), `task ${name} runs no lib/cli/ file`);
  }
  for (const name of ["notebooks:execute", "demo", "data:digits"]) {
    assert.ok(names.includes(name), `task ${name} runs no lib/cli/ file`);
  }
});

Deno.test("deno task NAME --help and -h: the usage on stdout, exit 0, as in docs/cli.md", async (t) => {
  await runAll();
  const doc = await Deno.readTextFile(`${ROOT}docs/cli.md`);
  for (const { name } of COMMANDS) {
    await t.step(name, () => {
      const help = outputs.get(`${name} --help`)!;
      assert.equal(help.code, 0, help.stderr);
      assert.match(help.stdout, /^usage: /);
      assert.deepEqual(ownStderr(help.stderr), [], "--help logs nothing and starts nothing");
      const short = outputs.get(`${name} -h`)!;
      assert.deepEqual(
        [short.code, short.stdout, ownStderr(short.stderr)],
        [0, help.stdout, []],
        "-h is --help",
      );
      const section = docSection(doc, name);
      assert.ok(section, `docs/cli.md has no "## ... \`deno task ${name}\`" heading`);
      assert.ok(
        section.includes("```\n" + help.stdout + "```\n"),
        `docs/cli.md's section on deno task ${name} does not hold its usage verbatim:\n` +
          help.stdout,
      );
    });
  }
});

Deno.test("deno task NAME --frobnicate: one error line naming it, the usage, exit 2", async (t) => {
  await runAll();
  for (const { name } of COMMANDS) {
    await t.step(name, () => {
      const r = outputs.get(`${name} --frobnicate`)!;
      const usage = outputs.get(`${name} --help`)!.stdout;
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stdout, "");
      const errors = r.stderr.split("\n").filter((line) => line.startsWith("error:"));
      assert.equal(errors.length, 1, r.stderr);
      assert.match(errors[0], /^error: Unknown option '--frobnicate'/);
      assert.ok(r.stderr.includes(usage), `the usage follows the error:\n${r.stderr}`);
      assert.doesNotMatch(r.stderr, /^\s+at /m, "no stack trace");
    });
  }
});

/**
 * A user error that is not a bad command line, per command, found before any real work: each must
 * exit 2 like a bad flag (docs/cli.md's one rule).
 */
const NOWHERE = "/nonexistent/cifar100-ts-run";
const USER_ERRORS: Record<string, { args: string[]; env?: Record<string, string>; error: RegExp }> =
  {
    "train": { args: ["--model", "cnn", "--epochs", "0"], error: /--epochs must be/ },
    "equal-time": { args: ["--repeat", "0"], error: /--repeat must be/ },
    "bench": { args: ["--images", "100"], error: /--images must be/ },
    "bench:step": { args: ["--steps", "0"], error: /--steps must be/ },
    "bench:insight": { args: [NOWHERE], error: new RegExp(NOWHERE) },
    "bench:folder": { args: [NOWHERE], error: new RegExp(NOWHERE) },
    "predict": { args: ["--run", NOWHERE, "a.png"], error: new RegExp(NOWHERE) },
    "notebooks:execute": { args: ["--timeout", "0"], error: /--timeout 0 is not a positive/ },
    "demo": { args: ["--timeout", "0"], error: /--timeout 0 is not a positive/ },
    // No Python on PATH: the command says so before it downloads anything.
    "data:digits": { args: [NOWHERE], env: { PATH: NOWHERE }, error: /Python with pip is needed/ },
    "web": { args: ["--run", "x", "--port", "70000"], error: /--port must be 0\.\.65535/ },
    "web:export": { args: ["--run", NOWHERE, "--out", NOWHERE], error: new RegExp(NOWHERE) },
  };
/** Commands whose user errors need real work to provoke; they share runCommand (checked below). */
const NOT_PROVOKED = new Set(["setup"]);

Deno.test("deno task NAME: a user error other than a bad flag is one error line and exit 2", async (t) => {
  for (const { name } of COMMANDS) {
    if (NOT_PROVOKED.has(name)) continue;
    const provoked = USER_ERRORS[name];
    assert.ok(provoked, `no user error for deno task ${name} in USER_ERRORS (or NOT_PROVOKED)`);
  }
  const cases = COMMANDS.filter(({ name }) => USER_ERRORS[name]);
  const results = await pooled(
    cases,
    4,
    ({ name }) => task(name, USER_ERRORS[name].args, USER_ERRORS[name].env),
  );
  for (const [i, { name }] of cases.entries()) {
    await t.step(name, () => {
      const r = results[i];
      assert.equal(r.code, 2, r.stderr);
      const errors = r.stderr.split("\n").filter((line) => line.startsWith("error:"));
      assert.equal(errors.length, 1, r.stderr);
      assert.match(errors[0], USER_ERRORS[name].error);
      assert.doesNotMatch(r.stderr, /^\s+at /m, "no stack trace");
    });
  }
});

Deno.test("every entry point's main is runCommand, whose user errors all exit 2", async () => {
  for (const entry of new Set(COMMANDS.map((c) => c.entry))) {
    const source = await Deno.readTextFile(`${ROOT}${entry}`);
    assert.match(
      source,
      /\n {2}return runCommand\(/,
      `${entry}: main does not return runCommand(...)`,
    );
  }
});

Deno.test("no entry point loads tfjs before it has read its flags", async (t) => {
  const entries = [...new Set(COMMANDS.map((c) => c.entry))];
  const imports = await pooled(entries, 4, staticNpmImports);
  for (const [i, entry] of entries.entries()) {
    await t.step(entry, () => {
      const tfjs = imports[i].filter((s) => s.startsWith("npm:@tensorflow/"));
      assert.deepEqual(tfjs, [], `${entry} imports tfjs statically: import it after parsing`);
    });
  }
});
