import assert from "node:assert/strict";
import { basename } from "node:path";
import { listNotebooks } from "../lib/notebooks/execute.ts";
import { acquireNotebooksLock, ensureSmokeBuild } from "./smoke_build.ts";
import { smokeNotebookEnv } from "./smoke_images.ts";
import {
  IMAGE_GRID_CLASS,
  PLOT_CLASS,
  PLOTLY_BUNDLE_MARKER,
  TABLE_CLASS,
} from "../lib/report/display.ts";

interface Output {
  output_type: string;
  data?: Record<string, string | string[]>;
  text?: string | string[];
}
interface Cell {
  cell_type: string;
  source: string | string[];
  outputs?: Output[];
  execution_count?: number | null;
}
const read = async (path: string): Promise<{ cells: Cell[] }> =>
  JSON.parse(await Deno.readTextFile(path));
const join = (s: string | string[] | undefined) => Array.isArray(s) ? s.join("") : s ?? "";
const html = (cells: Cell[]) =>
  cells.flatMap((c) => c.outputs ?? []).map((o) => join(o.data?.["text/html"])).join("\n");
const count = (text: string, needle: string) => text.split(needle).length - 1;

/** What each notebook must show at least: plotly charts, tables, image grids. */
const EXPECTED: Record<string, { plots: number; tables: number; grids: number }> = {
  "01_dataset": { plots: 2, tables: 3, grids: 1 },
  "02_mlp": { plots: 2, tables: 2, grids: 0 },
  "03_cnn": { plots: 2, tables: 1, grids: 0 },
  "04_vgg16": { plots: 2, tables: 3, grids: 0 },
  "05_comparison": { plots: 6, tables: 4, grids: 1 },
  "06_beyond": { plots: 5, tables: 4, grids: 1 },
  "07_insight": { plots: 12, tables: 5, grids: 8 },
  "08_your_images": { plots: 4, tables: 4, grids: 2 },
};

Deno.test("the notebooks lock waits for a live holder and breaks one left by a killed run", async () => {
  const dir = await Deno.makeTempDir();
  const lock = `${dir}/lock`;
  try {
    const release = await acquireNotebooksLock(lock);
    assert.equal(await Deno.readTextFile(`${lock}/pid`), String(Deno.pid));
    let second = false;
    const waiting = acquireNotebooksLock(lock).then((r) => (second = true, r));
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(second, false, "a lock held by a live process was taken");
    await release();
    await (await waiting)();

    // A holder that was killed: its process id no longer exists.
    const child = new Deno.Command("true").spawn();
    await child.status;
    await Deno.mkdir(lock);
    await Deno.writeTextFile(`${lock}/pid`, String(child.pid));
    await (await acquireNotebooksLock(lock))();

    // An old lock without a process id (written by an older version, or killed before writing it).
    await Deno.mkdir(lock);
    const old = new Date(Date.now() - 5 * 60_000);
    await Deno.utime(lock, old, old);
    await (await acquireNotebooksLock(lock))();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("committed notebooks have no outputs or execution counts", async () => {
  const notebooks = await listNotebooks();
  assert.ok(notebooks.length > 0);
  for (const path of notebooks) {
    for (const [i, cell] of (await read(path)).cells.entries()) {
      if (cell.cell_type !== "code") continue;
      assert.deepEqual(cell.outputs, [], `${path}: cell ${i + 1} has outputs; clear them`);
      assert.equal(cell.execution_count, null, `${path}: cell ${i + 1} has an execution count`);
    }
  }
});

Deno.test({
  name: "every notebook executes in the smoke profile and shows its charts and tables",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const executed = await ensureSmokeBuild(await smokeNotebookEnv());
    assert.ok(executed.some((path) => path.endsWith("08_your_images.ipynb")), "08 executed");
    for (const path of executed) {
      const name = basename(path, ".ipynb");
      const { cells } = await read(path);
      const outputs = cells.flatMap((c) => c.outputs ?? []);
      const errors = outputs.filter((o) => o.output_type === "error");
      assert.deepEqual(errors, [], `${name}: error outputs`);
      const code = cells.filter((c) => c.cell_type === "code");
      assert.ok(code.every((c) => typeof c.execution_count === "number"), `${name}: unexecuted`);
      const page = html(cells);
      const plots = count(page, `class="${PLOT_CLASS}"`);
      if (plots > 0) {
        assert.equal(count(page, `class="${PLOTLY_BUNDLE_MARKER}"`), 1, `${name}: plotly.js once`);
      }
      const expected = EXPECTED[name];
      if (!expected) continue;
      assert.ok(plots >= expected.plots, `${name}: ${plots} charts, expected ${expected.plots}`);
      const tables = count(page, `class="${TABLE_CLASS}"`);
      assert.ok(tables >= expected.tables, `${name}: ${tables} tables`);
      assert.ok(count(page, `class="${IMAGE_GRID_CLASS}"`) >= expected.grids, `${name}: images`);
      if (expected.grids > 0) {
        assert.ok(count(page, "data:image/png;base64,") >= 16, `${name}: sample pictures`);
      }
      if (name === "05_comparison") {
        assert.match(page, /most confident mistakes on the test set/, `${name}: mistakes gallery`);
        assert.match(page, /true: [^<]+<br>predicted: [^<]+ \(\d+%\)/, `${name}: captions`);
      }
      if (name === "08_your_images") {
        // Your own images: named, not CIFAR-100, and none of CIFAR-100's caveats.
        const text = JSON.stringify(outputs);
        for (const bad of ["truncated.jpg", "notes.png", "empty.jpg"]) {
          assert.equal(
            count(text, `skipped ${bad}`) + count(text, `/${bad}: `),
            1,
            `${name}: ${bad}`,
          );
        }
        assert.match(page, /class confusion/, `${name}: confusion over the classes`);
        assert.match(text, /Held-out accuracy: \*\*[\d.]+% of \d+\*\* images/, `${name}: accuracy`);
        assert.doesNotMatch(page, /SYNTHETIC DATA|CIFAR-100 from an extracted folder/, name);
        continue;
      }
      assert.match(page, /SYNTHETIC DATA — not CIFAR-100/, `${name}: synthetic data not labelled`);
    }
  },
});

Deno.test("notebook code type-checks against lib/", async () => {
  const dir = new URL("../notebooks/", import.meta.url).pathname;
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.name.endsWith(".ipynb")) continue;
    const nb = JSON.parse(await Deno.readTextFile(dir + entry.name));
    const code = nb.cells
      .filter((c: { cell_type: string }) => c.cell_type === "code")
      .map((c: { source: string[] | string }) => [c.source].flat().join(""))
      .join("\n;\n");
    // Beside the notebook, so its relative imports resolve as in the kernel.
    const file = `${dir}.typecheck-${entry.name}.ts`;
    await Deno.writeTextFile(file, code);
    try {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["check", file],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.ok(out.success, `${entry.name}: ${new TextDecoder().decode(out.stderr)}`);
    } finally {
      await Deno.remove(file);
    }
  }
});

const codeOf = (cell: Cell) => join(cell.source);

Deno.test("notebook code cells are short: at most 6 lines (longer code lives in lib/)", async () => {
  for (const path of await listNotebooks()) {
    for (const [i, cell] of (await read(path)).cells.entries()) {
      if (cell.cell_type !== "code") continue;
      const lines = codeOf(cell).split("\n").length;
      assert.ok(lines <= 6, `${basename(path)}: cell ${i + 1} has ${lines} lines`);
    }
  }
});

Deno.test("each notebook imports each module once", async () => {
  for (const path of await listNotebooks()) {
    const code = (await read(path)).cells.filter((c) => c.cell_type === "code").map(codeOf);
    const modules = code.flatMap((c) => [...c.matchAll(/\bfrom\s+"([^"]+)"/g)].map((m) => m[1]));
    const twice = modules.filter((m, i) => modules.indexOf(m) !== i);
    assert.deepEqual(twice, [], `${basename(path)} imports these again`);
  }
});

Deno.test("no paragraph of prose is repeated across the notebooks (each point once)", async () => {
  const seen = new Map<string, string>();
  for (const path of await listNotebooks()) {
    for (const cell of (await read(path)).cells) {
      if (cell.cell_type !== "markdown") continue;
      for (const paragraph of codeOf(cell).split(/\n\s*\n/)) {
        const text = paragraph.replace(/\s+/g, " ").trim();
        // The byline under each title is the same on purpose; short references may repeat.
        if (text.length < 150 || text.startsWith("*After ")) continue;
        const first = seen.get(text);
        assert.equal(
          first,
          undefined,
          `${basename(path)} repeats a paragraph of ${first}: ${text}`,
        );
        seen.set(text, basename(path));
      }
    }
  }
});
