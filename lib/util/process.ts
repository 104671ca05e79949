/**
 * Running other programs (pip, node-gyp, Python references) with one-line failures.
 *
 * @module
 */
import { join } from "node:path";
import { firstLine, UserError } from "./errors.ts";

/** The full path of `name` on PATH, or undefined. */
export async function which(name: string): Promise<string | undefined> {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir && await exists(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/** True when `path` exists (following links). */
export async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

/** Options for {@linkcode run}. */
interface RunOptions {
  /** What the program does, for messages, e.g. `pip download`. */
  what: string;
  cwd?: string;
  env?: Record<string, string>;
  /** Return the failure instead of throwing. */
  allowFailure?: boolean;
  /** Pass the child's output through (its own progress bars). */
  inherit?: boolean;
  /** Appended to the error message: what the user can do or still use. */
  hint?: string;
}

/**
 * Run `cmd args`, collecting its output (none when inherited); on failure, `error` is the most
 * telling line of the output.
 *
 * @throws {UserError} `<what> failed: <the most telling line>; <hint>` unless `allowFailure`
 */
export async function run(
  cmd: string,
  args: string[],
  options: RunOptions,
): Promise<{ ok: boolean; error?: string; stdout: string }> {
  const hint = options.hint ? `; ${options.hint}` : "";
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(cmd, {
      args,
      cwd: options.cwd,
      // Plain text: error lines are quoted in one-line messages.
      env: { NO_COLOR: "1", ...options.env },
      stdout: options.inherit ? "inherit" : "piped",
      stderr: options.inherit ? "inherit" : "piped",
    }).output();
  } catch (e) {
    if (options.allowFailure) return { ok: false, error: firstLine(e), stdout: "" };
    throw new UserError(`cannot run ${cmd} (${options.what}): ${firstLine(e)}${hint}`);
  }
  // Inherited streams cannot be read back.
  const stdout = options.inherit ? "" : new TextDecoder().decode(out.stdout);
  const stderr = options.inherit ? "" : new TextDecoder().decode(out.stderr);
  if (out.success) return { ok: true, stdout };
  const lines = (stderr + stdout).split("\n").map((l) => l.trim()).filter(Boolean);
  // The root cause (an uncaught exception's message) beats the wrapper's summary line.
  const error = lines.find((l) => /Uncaught/.test(l))?.replace(/^.*Uncaught (\w*Error: )?/, "") ??
    lines.find((l) => /error/i.test(l)) ?? lines.at(-1) ?? `exit code ${out.code}`;
  if (options.allowFailure) return { ok: false, error, stdout };
  throw new UserError(`${options.what} failed: ${error}${hint}`);
}

/** A Python interpreter with pip (env PYTHON, else python3, else python); `why` for the error. */
export async function findPython(why: string): Promise<string> {
  for (const name of [Deno.env.get("PYTHON"), "python3", "python"]) {
    if (!name) continue;
    const path = name.includes("/") ? name : await which(name);
    if (!path) continue;
    const check = await run(path, ["-m", "pip", "--version"], { what: "pip", allowFailure: true });
    if (check.ok) return path;
  }
  throw new UserError(
    `Python with pip is needed ${why}: apt-get install python3-pip, or set PYTHON`,
  );
}
