/**
 * `deno task train` as a child process, for the tests that stop a run with a real signal and
 * resume it (tests/resume_test.ts, tests/vgg16_resume_test.ts): run one to its end, or SIGTERM
 * one once a line is in its log, and read back what a finished run saved.
 */
import assert from "node:assert/strict";
import { join } from "node:path";

const TRAIN = new URL("../lib/cli/train.ts", import.meta.url).pathname;
const decoder = new TextDecoder();

/** A child's exit status and its log (stderr). */
export interface ChildRun {
  code: number;
  log: string;
}

function trainCommand(args: string[], env: Record<string, string>): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", TRAIN, ...args],
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  });
}

/** Run `deno task train ARGS` to its end. */
export async function train(args: string[], env: Record<string, string> = {}): Promise<ChildRun> {
  const result = await trainCommand(args, env).output();
  return { code: result.code, log: decoder.decode(result.stderr) };
}

/**
 * Start `deno task train ARGS`, send it SIGTERM as soon as `trigger` is in its log, and read
 * the rest of its log. Fails when the trigger never showed (the signal was never sent).
 */
export async function interrupted(
  args: string[],
  trigger: string,
  env: Record<string, string> = {},
): Promise<ChildRun> {
  const child = trainCommand(args, env).spawn();
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let log = "", killed = false;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    log += value;
    if (!killed && log.includes(trigger)) {
      child.kill("SIGTERM");
      killed = true;
    }
  }
  const status = await child.status;
  await child.stdout.cancel();
  assert.ok(killed, `'${trigger}' never showed in the log:\n${log}`);
  return { code: status.code, log };
}

/**
 * The stopped child's one error line, checked to be a SIGTERM stop (exit 143) that names a
 * checkpoint and the command that resumes it. A stop that came too late (the run finished
 * first) fails here, saying so.
 */
export function stopLine(stop: ChildRun): string {
  assert.notEqual(stop.code, 0, `the run ended before the signal's stop landed:\n${stop.log}`);
  assert.equal(stop.code, 143, stop.log);
  const lines = errorLines(stop.log);
  assert.equal(lines.length, 1, stop.log);
  const [line] = lines;
  assert.match(line, /^error: training stopped by SIGTERM during epoch \d+ of \d+/);
  assert.match(line, / stands \(.*checkpoint\.ckpt\); resume with: deno task train .*--resume$/);
  return line;
}

/** A finished run's record (run.json) and its weights' SHA-256 (model.json's weightsSha256). */
export async function finished(out: string, model: string) {
  const dir = join(out, model);
  const record = JSON.parse(await Deno.readTextFile(join(dir, "run.json")));
  const json = JSON.parse(await Deno.readTextFile(join(dir, "model.json")));
  return { record, weights: json.weightsSha256 as string };
}

/** The log's `error:` lines. */
export const errorLines = (log: string): string[] =>
  log.split("\n").filter((l) => l.startsWith("error:"));
