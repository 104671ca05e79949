/**
 * The module doc of each lib/cli/*.ts command does not repeat its usage (a copy drifted from the
 * `USAGE` that `--help` prints): it points to `--help` and docs/cli.md instead, and every flag it
 * does name is one that its `USAGE` lists.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { USAGE as bench } from "../lib/cli/bench.ts";
import { USAGE as digits } from "../lib/cli/digits.ts";
import { USAGE as equalTime } from "../lib/cli/equal_time.ts";
import { USAGE as folderBench } from "../lib/cli/folder_bench.ts";
import { USAGE as insightBench } from "../lib/cli/insight_bench.ts";
import { USAGE as notebooks } from "../lib/cli/notebooks.ts";
import { USAGE as predict } from "../lib/cli/predict.ts";
import { USAGE as setup } from "../lib/cli/setup.ts";
import { USAGE as stepBench } from "../lib/cli/step_bench.ts";
import { USAGE as train } from "../lib/cli/train.ts";
import { USAGE as web } from "../lib/cli/web.ts";
import { USAGE as webExport } from "../lib/cli/web_export.ts";

const CLI = fileURLToPath(new URL("../lib/cli/", import.meta.url));

/** Each command's file and the usage its `--help` prints. */
const USAGES: Record<string, string> = {
  "bench.ts": bench,
  "digits.ts": digits,
  "equal_time.ts": equalTime,
  "folder_bench.ts": folderBench,
  "insight_bench.ts": insightBench,
  "notebooks.ts": notebooks,
  "predict.ts": predict,
  "setup.ts": setup,
  "step_bench.ts": stepBench,
  "train.ts": train,
  "web.ts": web,
  "web_export.ts": webExport,
};

/** The text of the first `/** ... @module` comment, without its ` * ` margins. */
function moduleDoc(source: string): string | undefined {
  const doc = source.match(/^\/\*\*\n([\s\S]*?)\n \*\/\n/)?.[1];
  if (!doc?.includes("@module")) return undefined;
  return doc.split("\n").map((line) => line.replace(/^ \*( |$)/, "")).join("\n");
}

/** The `--flags` that a text names. */
function flags(text: string): Set<string> {
  return new Set([...text.matchAll(/(?<![\w-])--[a-z][\w-]*/g)].map((m) => m[0]));
}

const files = [...Deno.readDirSync(CLI)].filter((f) => f.name.endsWith(".ts")).map((f) => f.name)
  .sort();

Deno.test("lib/cli/*.ts: the module doc points to --help and docs/cli.md, and names no other flag", async (t) => {
  assert.deepEqual(files, Object.keys(USAGES).sort(), "USAGES lists every lib/cli/*.ts");
  for (const name of files) {
    await t.step(name, async () => {
      const path = `${CLI}${name}`;
      const usage = USAGES[name];
      const command = usage.match(/^usage: (deno task [\w:-]+)/)?.[1];
      assert.ok(command, `${name}: USAGE does not start with "usage: deno task NAME"`);
      const doc = moduleDoc(await Deno.readTextFile(path));
      assert.ok(doc, `${name} has no /** ... @module */ doc at the top`);
      assert.ok(
        doc.includes(`\`${command} --help\``) && doc.includes("docs/cli.md"),
        `${name}: its module doc should point to \`${command} --help\` and docs/cli.md`,
      );
      assert.doesNotMatch(
        doc,
        new RegExp(`^${command} .*\\[`, "m"),
        `${name}: its module doc repeats the usage; \`${command} --help\` prints it`,
      );
      const known = flags(usage);
      const unknown = [...flags(doc)].filter((flag) => flag !== "--help" && !known.has(flag));
      assert.deepEqual(unknown, [], `${name}: its module doc names flags its USAGE does not`);
    });
  }
});
