/**
 * The library's floor plan, checked: every module imports only from its own folder or a folder
 * below it, install-time code is reached only from the commands that install or compare engines,
 * and no import cycle exists. Every relative specifier counts, type imports, dynamic imports,
 * `new URL(..., import.meta.url)` and `@example` blocks included (`deno test --doc` runs those).
 */
import assert from "node:assert/strict";
import { dirname, join, normalize, relative } from "node:path";
import { fileURLToPath } from "node:url";

const LIB = fileURLToPath(new URL("../lib/", import.meta.url));

/** lib/'s folders, lowest first: a module may import from its own folder or any one before it. */
const LAYERS = [
  "util",
  "engine",
  "data",
  "models",
  "train",
  "inference",
  "report",
  "bench",
  "web",
  "notebooks",
  "cli",
] as const;

/** Install-time code (setup's native build) and who may import it; run time never does. */
const INSTALL = "engine/install";
const INSTALL_USERS = [INSTALL, "bench", "cli"];

const IMPORT = /(?:\bfrom\s+|\bimport\s*\(\s*|\bimport\s+)["'](\.\.?\/[^"'`$]+)["']/g;
const URL_OF = /\bnew URL\(\s*["'](\.\.?\/[^"'`$]+)["']/g;

/**
 * Relative module specifiers in a source text, resolved against its path (relative to lib/).
 * With `urls`, modules named by `new URL(...)` too (a Worker's module: loaded, but not imported,
 * so it counts for layering and not for cycles).
 */
export function importsOf(path: string, source: string, urls = true): string[] {
  const found = new Set<string>();
  const matches = [...source.matchAll(IMPORT), ...(urls ? source.matchAll(URL_OF) : [])];
  for (const m of matches) {
    const target = normalize(join(dirname(path), m[1]));
    if (/\.(ts|js|mjs)$/.test(target)) found.add(target);
  }
  return [...found].sort();
}

/** The folder of a lib/-relative path that the rules know it by ("" for lib/ itself). */
function folderOf(path: string): string {
  if (path.startsWith(INSTALL + "/")) return INSTALL;
  return path.includes("/") ? path.slice(0, path.indexOf("/")) : "";
}

function rank(folder: string): number {
  return LAYERS.indexOf((folder === INSTALL ? "engine" : folder) as typeof LAYERS[number]);
}

/** Every import that breaks the floor plan, as "from -> to: why". */
export function layeringViolations(graph: Map<string, string[]>): string[] {
  const out: string[] = [];
  for (const [from, targets] of graph) {
    const f = folderOf(from);
    if (rank(f) < 0) {
      out.push(`${from}: in no known folder (${LAYERS.join(", ")})`);
      continue;
    }
    for (const to of targets) {
      const t = folderOf(to);
      if (to.startsWith("..")) out.push(`${from} -> ${to}: outside lib/`);
      else if (rank(t) < 0) out.push(`${from} -> ${to}: into no known folder`);
      else if (rank(t) > rank(f)) out.push(`${from} -> ${to}: ${t}/ is above ${f}/`);
      else if (t === INSTALL && !INSTALL_USERS.includes(f)) {
        out.push(`${from} -> ${to}: install-time code, only for ${INSTALL_USERS.join(", ")}`);
      }
    }
  }
  return out;
}

/** Every import cycle among the graph's modules, each as its modules in order. */
export function importCycles(graph: Map<string, string[]>): string[][] {
  const cycles: string[][] = [];
  const seen = new Set<string>();
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (node: string) => {
    state.set(node, "open");
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (!graph.has(next)) continue;
      if (state.get(next) === "open") {
        const cycle = stack.slice(stack.indexOf(next));
        const key = [...cycle].sort().join(" ");
        if (!seen.has(key)) seen.add(key), cycles.push(cycle);
      } else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(node, "done");
  };
  for (const node of [...graph.keys()].sort()) if (!state.has(node)) visit(node);
  return cycles;
}

async function libGraph(urls = true): Promise<Map<string, string[]>> {
  const graph = new Map<string, string[]>();
  const walk = async (dir: string) => {
    for await (const entry of Deno.readDir(dir)) {
      const path = join(dir, entry.name);
      if (entry.isDirectory) await walk(path);
      else if (entry.name.endsWith(".ts")) {
        const rel = relative(LIB, path);
        graph.set(rel, importsOf(rel, await Deno.readTextFile(path), urls));
      }
    }
  };
  await walk(LIB);
  return graph;
}

Deno.test("lib/: every module imports only from its own folder or one below it", async () => {
  const graph = await libGraph();
  assert.ok(graph.size > 50, `found only ${graph.size} modules under ${LIB}`);
  assert.deepEqual(layeringViolations(graph), []);
});

Deno.test("lib/: no import cycles, type imports and examples included", async () => {
  assert.deepEqual(importCycles(await libGraph(false)).map((c) => c.join(" -> ")), []);
});

Deno.test("lib/: no module at the top but the one that re-exports the library", async () => {
  const top: string[] = [];
  for await (const e of Deno.readDir(LIB)) if (e.isFile && e.name.endsWith(".ts")) top.push(e.name);
  assert.ok(top.every((name) => name === "mod.ts"), `at the top of lib/: ${top.join(", ")}`);
});

Deno.test("the layering rules catch an upward import, install-time code and a cycle", () => {
  const source = [
    `import type { X } from "../train/config.ts";`,
    `/** @example \n * import { y } from "./b.ts";\n */`,
    'const w = new URL("./worker.ts", import.meta.url);',
    `const m = await import("../engine/install/native.ts");`,
  ].join("\n");
  assert.deepEqual(importsOf("data/a.ts", source), [
    "data/b.ts",
    "data/worker.ts",
    "engine/install/native.ts",
    "train/config.ts",
  ]);
  const graph = new Map([
    ["data/a.ts", importsOf("data/a.ts", source)],
    ["data/b.ts", ["data/a.ts"]],
    ["engine/x.ts", ["util/y.ts", "engine/install/native.ts"]],
    ["cli/setup.ts", ["engine/install/native.ts", "util/y.ts"]],
  ]);
  assert.deepEqual(layeringViolations(graph), [
    "data/a.ts -> engine/install/native.ts: install-time code, only for engine/install, bench, cli",
    "data/a.ts -> train/config.ts: train/ is above data/",
    "engine/x.ts -> engine/install/native.ts: install-time code, only for engine/install, bench, cli",
  ]);
  assert.deepEqual(importCycles(graph), [["data/a.ts", "data/b.ts"]]);
});
