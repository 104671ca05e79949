/**
 * The notebooks in a real JupyterLab: a headless `jupyter lab` on 127.0.0.1 serving the
 * repository (so the notebooks' `../lib/...` imports resolve as for a user), each notebook opened
 * in Chromium, Run All Cells, then checks per cell of what JupyterLab shows: no error, every
 * chart drew its SVG, every table rendered and fits (or scrolls), and each output sits under the
 * cell that made it.
 *
 * Deno 2.9's kernel can send a cell's idle status before that cell's queued outputs and then tags
 * a late output with the next request, so JupyterLab shows it under the next cell. Two checks
 * catch that: an `execute_result` carries the execution count of the cell that made it, and
 * every cell's other outputs (streams, displays) must be those of the same cell in the headless
 * executor's copy (tests/smoke_build.ts). Run All queues every cell's request at once,
 * which leaves the kernel's race the widest opening, and it strikes often on a busy machine, so
 * the test reports what Run All put astray, re-runs those cells one by one (the README's advice
 * to users) and fails only if that does not put every output under its own cell; with
 * JUPYTERLAB_STRICT=1 it fails on Run All's misplacements too.
 *
 * Ignored when `jupyter-lab` is not installed (`pip install jupyterlab`, or set JUPYTER_LAB to
 * its path); `.ci/run` installs it. Screenshots go to build/screenshots/jupyterlab/.
 *
 * @module
 */
import assert from "node:assert/strict";
import { basename, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type BrowserContext, type Page } from "playwright-core";
import { launchChromium } from "./chromium.ts";
import { acquireNotebooksLock, ensureSmokeBuild } from "./smoke_build.ts";
import { smokeNotebookEnv } from "./smoke_images.ts";
import { IMAGE_GRID_CLASS, LIVE_CLASS, PLOT_CLASS, TABLE_CLASS } from "../lib/report/display.ts";

const ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));
const SCREENSHOTS = join(ROOT, "build/screenshots/jupyterlab");
/** Longest wait for one notebook's Run All (the smoke notebooks take 10 to 40 s). */
const RUN_ALL_TIMEOUT_MS = 240_000;
/** Quiet time after the last cell before the outputs are read: late outputs land in it. */
const QUIET_MS = 3_000;
/** JUPYTERLAB_STRICT=1: fail on an output that Run All puts under the wrong cell (see above). */
const STRICT = Deno.env.get("JUPYTERLAB_STRICT") === "1";

async function findJupyterLab(): Promise<string | undefined> {
  for (const cmd of [Deno.env.get("JUPYTER_LAB"), "jupyter-lab"]) {
    if (!cmd) continue;
    try {
      const args = ["--version"];
      if (
        (await new Deno.Command(cmd, { args, stdout: "null", stderr: "null" }).output()).success
      ) {
        return cmd;
      }
    } catch {
      // not installed
    }
  }
  return undefined;
}

const JUPYTER_LAB = await findJupyterLab();
if (!JUPYTER_LAB) {
  console.warn(
    "tests/jupyterlab_test.ts: ignored, jupyter-lab not found " +
      "(pip install jupyterlab, or set JUPYTER_LAB; .ci/run installs it)",
  );
}

/** A notebook output (nbformat), as both JupyterLab's model and the executed copy hold it. */
interface Output {
  output_type: string;
  name?: string;
  execution_count?: number | null;
  data?: Record<string, string | string[]>;
  text?: string | string[];
  ename?: string;
  evalue?: string;
}

/** One code cell as JupyterLab shows it. */
interface LabCell {
  /** Position in the notebook (0-based, markdown cells counted). */
  index: number;
  /** The cell's last line of code, to name it in messages. */
  last: string;
  executionCount: number | null;
  /** The model's outputs; `text/html` cut down to its `class="cifar-..."` markers. */
  outputs: Output[];
  charts: number;
  drawn: number;
  tables: number;
  tablesRendered: number;
  tablesCutOff: number;
}

const text = (v: string | string[] | undefined) => Array.isArray(v) ? v.join("") : v ?? "";
const count = (haystack: string, needle: string) => haystack.split(needle).length - 1;

/** What an output is: `stdout`, `error`, `chart`, `2 charts`, `table`, `text/plain`, ... */
function describe(o: Output): string {
  if (o.output_type === "stream") return o.name ?? "stream";
  if (o.output_type === "error") return `error (${o.ename}: ${o.evalue})`;
  const html = text(o.data?.["text/html"]);
  const kinds = [
    ["chart", PLOT_CLASS],
    ["table", TABLE_CLASS],
    ["image grid", IMAGE_GRID_CLASS],
    ["live display", LIVE_CLASS],
  ].flatMap(([kind, cls]) => {
    const n = count(html, `class="${cls}"`);
    return n === 0 ? [] : [n === 1 ? kind : `${n} ${kind}s`];
  });
  if (kinds.length > 0) return kinds.join(" + ");
  const mimes = Object.keys(o.data ?? {});
  return mimes.find((m) => m !== "text/plain") ?? mimes[0] ?? "empty";
}

/** The descriptions of a cell's outputs other than its result, consecutive streams merged. */
function displays(outputs: Output[]): string[] {
  const kinds = outputs.filter((o) => o.output_type !== "execute_result").map(describe);
  return kinds.filter((k, i) => !(i > 0 && k === kinds[i - 1] && /^std(out|err)$/.test(k)));
}

/** What is wrong with what JupyterLab shows, one line per problem. */
interface Problems {
  /** Errors, cells not run, charts not drawn, tables not rendered or cut off. */
  broken: string[];
  /** Outputs under another cell than the one that made them (or missing), by cell. */
  misplaced: { index: number; problem: string }[];
}

/**
 * Check the code cells JupyterLab shows against the headless executor's copy.
 *
 * @param lab the code cells as JupyterLab shows them
 * @param executed the executor's copy of the same notebook (all its cells)
 */
function check(lab: LabCell[], executed: { outputs?: Output[] }[]): Problems {
  const broken: string[] = [];
  const misplaced: Problems["misplaced"] = [];
  // The executor's results by the execution count they carry, wherever they sit.
  const results = new Map<number, string>();
  for (const cell of executed) {
    for (const o of cell.outputs ?? []) {
      if (o.output_type === "execute_result") results.set(o.execution_count!, describe(o));
    }
  }
  for (const cell of lab) {
    const at = `cell ${cell.index + 1} [${cell.executionCount ?? " "}] (${cell.last.slice(0, 50)})`;
    const twin = executed[cell.index] as { execution_count?: number; outputs?: Output[] };
    const wrong = (problem: string) =>
      misplaced.push({ index: cell.index, problem: `${at}: ${problem}` });
    if (cell.executionCount === null) broken.push(`${at}: not executed`);
    for (const o of cell.outputs) {
      if (o.output_type === "error") broken.push(`${at}: ${describe(o)}`);
      if (o.output_type === "execute_result" && o.execution_count !== cell.executionCount) {
        wrong(`holds the result of [${o.execution_count}], a ${describe(o)}`);
      }
    }
    const own = cell.outputs.filter((o) =>
      o.output_type === "execute_result" && o.execution_count === cell.executionCount
    ).map(describe);
    const expected = results.get(twin?.execution_count ?? NaN);
    if (own.length > 1) wrong(`${own.length} results of its own`);
    if (expected !== undefined && own[0] !== expected) {
      wrong(`result ${own[0] ?? "missing"}, expected a ${expected}`);
    }
    const shown = displays(cell.outputs);
    const made = displays(twin?.outputs ?? []);
    if (JSON.stringify(shown) !== JSON.stringify(made)) {
      wrong(`shows [${shown.join(", ")}], the executed copy [${made.join(", ")}]`);
    }
    if (cell.drawn < cell.charts) {
      broken.push(`${at}: ${cell.drawn} of ${cell.charts} charts drawn`);
    }
    if (cell.tablesRendered < cell.tables) {
      broken.push(`${at}: ${cell.tablesRendered} of ${cell.tables} tables rendered`);
    }
    if (cell.tablesCutOff > 0) broken.push(`${at}: ${cell.tablesCutOff} table(s) cut off`);
  }
  return { broken, misplaced };
}

/** Runs in the page: the notebook's code cells (`window.jupyterapp` is JupyterLab's app). */
const LAB_CELLS = `(() => {
  const panel = window.jupyterapp.shell.currentWidget;
  return panel.content.widgets.flatMap((cell, index) => {
    if (cell.model.type !== "code") return [];
    const outputs = cell.model.outputs.toJSON().map((o) => {
      if (!o.data || !o.data["text/html"]) return o;
      const html = [o.data["text/html"]].flat().join("");
      const markers = (html.match(/class="cifar-[\\w-]+"/g) ?? []).join(" ");
      return { ...o, data: { ...o.data, "text/html": markers } };
    });
    const area = cell.node.querySelector(".jp-OutputArea");
    const right = area ? area.getBoundingClientRect().right : 0;
    const charts = [...cell.node.querySelectorAll(".${PLOT_CLASS}")];
    const tables = [...cell.node.querySelectorAll(".${TABLE_CLASS}")];
    // A table wider than the output area must scroll in a box of its own (JupyterLab would
    // scroll the whole output, banner and caption included, with no scrollbar in sight).
    const cutOff = tables.filter((wrapper) => {
      const table = wrapper.querySelector("table");
      if (!table || table.getBoundingClientRect().right <= right + 1) return false;
      for (let el = table.parentElement; el && wrapper.contains(el); el = el.parentElement) {
        const x = getComputedStyle(el).overflowX;
        if ((x === "auto" || x === "scroll") && el.getBoundingClientRect().right <= right + 1) {
          return false;
        }
      }
      return true;
    });
    return [{
      index, last: cell.model.sharedModel.getSource().trim().split("\\n").at(-1),
      executionCount: cell.model.executionCount, outputs,
      charts: charts.length, drawn: charts.filter((c) => c.querySelector(".main-svg")).length,
      tables: tables.length, tablesRendered: tables.filter((t) => t.querySelector("table")).length,
      tablesCutOff: cutOff.length,
    }];
  });
})()`;

/** Runs in the page: true once the kernel is idle and every code cell ran (or one failed). */
const FINISHED = `(() => {
  const panel = window.jupyterapp.shell.currentWidget;
  if (panel.sessionContext.session?.kernel?.status !== "idle") return false;
  const cells = panel.content.widgets.filter((c) => c.model.type === "code");
  const outputs = cells.flatMap((c) => c.model.outputs.toJSON());
  if (outputs.some((o) => o.output_type === "error")) return true;
  return cells.every((c) => c.model.executionCount !== null) &&
    ![...panel.node.querySelectorAll(".jp-InputPrompt")].some((p) => p.textContent.includes("*"));
})()`;

/** Runs in the page: a fingerprint of the outputs, to wait until nothing changes. */
const FINGERPRINT = `(() => {
  const panel = window.jupyterapp.shell.currentWidget;
  return panel.content.widgets.map((c) => c.model.type !== "code" ? "" :
    c.model.outputs.length + ":" + c.node.querySelectorAll(".main-svg").length).join(",");
})()`;

/** Runs in the page: scroll the notebook to its top and return its full height in pixels. */
const NOTEBOOK_HEIGHT = `(() => {
  const notebook = window.jupyterapp.shell.currentWidget.content.node;
  const scroller = notebook.querySelector(".jp-WindowedPanel-outer") ?? notebook;
  scroller.scrollTop = 0;
  return scroller.scrollHeight;
})()`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Run All Cells on the notebook open in `page`, then wait until its outputs stop changing. */
async function runAll(page: Page, name: string): Promise<void> {
  const ready = `(() => {
    const panel = window.jupyterapp?.shell.currentWidget;
    return panel?.content?.widgets?.length > 0 && panel.sessionContext?.isReady === true &&
      panel.sessionContext.session?.kernel?.status === "idle";
  })()`;
  await page.waitForFunction(ready, undefined, { timeout: 60_000, polling: 250 }).catch((e) => {
    throw new Error(`${name}: the notebook or its kernel did not start in 60 s: ${e}`);
  });
  await page.evaluate(`window.jupyterapp.commands.execute("notebook:run-all-cells")`);
  await page.waitForFunction(FINISHED, undefined, { timeout: RUN_ALL_TIMEOUT_MS, polling: 250 })
    .catch((e) => {
      throw new Error(`${name}: Run All did not finish in ${RUN_ALL_TIMEOUT_MS / 1000} s: ${e}`);
    });
  await settle(page);
}

/** Wait until the outputs have not changed for QUIET_MS (late outputs land in that time). */
async function settle(page: Page): Promise<void> {
  let last = "";
  let since = Date.now();
  while (Date.now() - since < QUIET_MS) {
    const now = String(await page.evaluate(FINGERPRINT));
    if (now !== last) [last, since] = [now, Date.now()];
    await sleep(250);
  }
}

/** Runs in the page: true once the kernel is idle and cell `index` ran again after `count`. */
const rerunFinished = (index: number, count: number | null) =>
  `(() => {
    const panel = window.jupyterapp.shell.currentWidget;
    const cell = panel.content.widgets[${index}];
    return panel.sessionContext.session?.kernel?.status === "idle" &&
      cell.model.executionCount !== null && cell.model.executionCount !== ${count};
  })()`;

/** Run one cell on its own (what the README tells a user whose output went astray). */
async function rerun(page: Page, cell: LabCell, name: string): Promise<void> {
  await page.evaluate(`(async () => {
    const panel = window.jupyterapp.shell.currentWidget;
    panel.content.activeCellIndex = ${cell.index};
    panel.content.deselectAll();
    await window.jupyterapp.commands.execute("notebook:run-cell");
  })()`);
  await page.waitForFunction(rerunFinished(cell.index, cell.executionCount), undefined, {
    timeout: RUN_ALL_TIMEOUT_MS,
    polling: 250,
  }).catch((e) => {
    throw new Error(`${name}: re-running cell ${cell.index + 1} did not finish: ${e}`);
  });
  await settle(page);
}

/** What a notebook showed after Run All and after re-running its misplaced cells. */
interface Run {
  /** The problems right after Run All. */
  runAll: Problems;
  /** The cells re-run one by one because Run All put their outputs elsewhere. */
  rerun: number[];
  /** The problems at the end. */
  final: Problems;
  cells: LabCell[];
  pageErrors: string[];
  seconds: number;
}

/**
 * Open a notebook in a new page (a new kernel), Run All, check its cells against the executor's
 * copy; re-run the cells whose outputs went astray one by one and check again; screenshot it.
 */
async function runNotebook(
  browser: BrowserContext,
  server: Server,
  name: string,
  copy: { outputs?: Output[] }[],
): Promise<Run> {
  const started = Date.now();
  const page = await browser.newPage();
  const pageErrors: string[] = [];
  page.on("pageerror", (e) => pageErrors.push(e.message));
  try {
    const url = `${server.url}/lab/tree/notebooks/${name}.ipynb?reset&token=${server.token}`;
    await page.goto(url, { waitUntil: "domcontentloaded" });
    await runAll(page, name);
    let cells = await page.evaluate(LAB_CELLS) as LabCell[];
    const runAllProblems = check(cells, copy);
    const astray = [...new Set(runAllProblems.misplaced.map((m) => m.index))].sort((a, b) => a - b);
    if (runAllProblems.broken.length === 0) {
      for (const index of astray) await rerun(page, cells.find((c) => c.index === index)!, name);
    }
    if (astray.length > 0) cells = await page.evaluate(LAB_CELLS) as LabCell[];
    // The whole notebook in one picture: a viewport as tall as the notebook.
    const height = Number(await page.evaluate(NOTEBOOK_HEIGHT));
    await page.setViewportSize({ width: 1280, height: Math.min(16_000, height + 200) });
    await sleep(1000);
    await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`) });
    await page.evaluate(`window.jupyterapp.shell.currentWidget.sessionContext.shutdown()`);
    return {
      runAll: runAllProblems,
      rerun: astray,
      final: check(cells, copy),
      cells,
      pageErrors,
      seconds: Math.round((Date.now() - started) / 100) / 10,
    };
  } finally {
    await page.close();
  }
}

/** A running `jupyter lab`. */
interface Server {
  url: string;
  token: string;
  /** The tail of its log. */
  log(): string;
  stop(): Promise<void>;
}

async function writeJson(path: string, value: unknown): Promise<void> {
  await Deno.mkdir(join(path, ".."), { recursive: true });
  await Deno.writeTextFile(path, JSON.stringify(value));
}

/** Start `jupyter lab` on a free port of 127.0.0.1, serving the repository, settings in `tmp`. */
async function startJupyterLab(command: string, tmp: string): Promise<Server> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const token = crypto.randomUUID().replaceAll("-", "");
  const settings = join(tmp, "settings");
  // No autosave (the committed notebooks stay without outputs), no news or update popups.
  await writeJson(join(settings, "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings"), {
    autosave: false,
  });
  await writeJson(
    join(settings, "@jupyterlab/apputils-extension/notification.jupyterlab-settings"),
    { fetchNews: "false", checkForUpdates: false },
  );
  const child = new Deno.Command(command, {
    args: [
      "--no-browser",
      "--ServerApp.ip=127.0.0.1",
      `--ServerApp.port=${port}`,
      "--ServerApp.port_retries=0",
      `--IdentityProvider.token=${token}`,
      `--ServerApp.root_dir=${ROOT}`,
      `--LabApp.user_settings_dir=${settings}`,
      `--LabApp.workspaces_dir=${join(tmp, "workspaces")}`,
      // Opening a notebook writes a checkpoint, by default into notebooks/.ipynb_checkpoints/.
      `--FileCheckpoints.checkpoint_dir=${join(tmp, "checkpoints")}`,
      "--LabApp.expose_app_in_browser=True", // window.jupyterapp, for the commands and the model
      ...(Deno.uid() === 0 ? ["--allow-root"] : []), // CI containers run as root
    ],
    cwd: ROOT,
    env: {
      CIFAR_PROFILE: "smoke", // the kernels inherit the server's environment
      ...(await smokeNotebookEnv()), // notebook 08's folder
      JUPYTER_CONFIG_DIR: join(tmp, "config"),
      JUPYTER_RUNTIME_DIR: join(tmp, "runtime"),
    },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let log = "";
  const decoder = new TextDecoder();
  const drain = (stream: ReadableStream<Uint8Array>) =>
    stream.pipeTo(
      new WritableStream({
        write(chunk) {
          log = (log + decoder.decode(chunk, { stream: true })).slice(-20_000);
        },
      }),
    ).catch(() => {});
  const drained = Promise.all([drain(child.stdout), drain(child.stderr)]);
  let exited = false;
  child.status.then(() => exited = true);
  const stop = async () => {
    if (!exited) child.kill("SIGTERM"); // it shuts its kernels down
    const timer = setTimeout(() => exited || child.kill("SIGKILL"), 15_000);
    await child.status;
    clearTimeout(timer);
    await drained;
  };
  const url = `http://127.0.0.1:${port}`;
  for (const deadline = Date.now() + 60_000;;) {
    const specs = await fetch(`${url}/api/kernelspecs?token=${token}`)
      .then((r) => r.ok ? r.json() : (r.body?.cancel(), undefined), () => undefined);
    if (specs) {
      if (specs.kernelspecs?.deno) break;
      await stop();
      throw new Error('jupyter lab does not know the "deno" kernel: run deno jupyter --install');
    }
    if (exited || Date.now() > deadline) {
      await stop();
      throw new Error(`jupyter lab ${exited ? "exited" : "did not answer in 60 s"}:\n${log}`);
    }
    await sleep(250);
  }
  return { url, token, log: () => log, stop };
}

Deno.test({
  name: "JupyterLab: Run All shows every chart, table and output under its own cell" +
    (JUPYTER_LAB ? "" : " (ignored: jupyter-lab not installed)"),
  ignore: !JUPYTER_LAB,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const started = Date.now();
    const executed = await ensureSmokeBuild(await smokeNotebookEnv()); // what each cell makes
    const sources = executed.map((path) => join(ROOT, "notebooks", basename(path)));
    await Deno.mkdir(SCREENSHOTS, { recursive: true });
    const tmp = await Deno.makeTempDir({ prefix: "jupyterlab-test-" });
    const release = await acquireNotebooksLock(); // 02-04 write runs/smoke/, which 05 reads: no executor run meanwhile
    let server: Server | undefined;
    let browser: BrowserContext | undefined;
    const report: string[] = [];
    try {
      browser = await launchChromium(join(tmp, "chromium"), { showScrollbars: true }); // tables that scroll show it
      server = await startJupyterLab(JUPYTER_LAB!, tmp);
      for (const path of executed) { // in order: 05 reads the run records 02-04 write
        const name = basename(path, ".ipynb");
        const run = await runNotebook(
          browser,
          server,
          name,
          JSON.parse(await Deno.readTextFile(path)).cells,
        );
        const broken = [...run.runAll.broken, ...run.final.broken];
        broken.push(...run.pageErrors.filter((e) => /plotly|newPlot/i.test(e)));
        const astray = run.runAll.misplaced.map((m) => m.problem);
        const left = run.final.misplaced.map((m) => m.problem);
        const sum = (key: "charts" | "tables") => run.cells.reduce((n, c) => n + c[key], 0);
        report.push(
          `${name}: ${run.cells.length} code cells, ${sum("charts")} charts, ` +
            `${sum("tables")} tables, ${run.seconds} s` + broken.map((p) => `\n  ${p}`).join("") +
            (astray.length === 0 ? "" : `\n  Run All put outputs under the wrong cell; re-ran ` +
              `cells ${run.rerun.map((i) => i + 1).join(", ")}:` + astray.map((p) =>
                `\n    ${p}`
              ).join("")) +
            left.map((p) => `\n  after re-running: ${p}`).join(""),
        );
        assert.deepEqual(broken, [], `${name} in JupyterLab:\n${broken.join("\n")}`);
        if (STRICT) {
          assert.deepEqual(astray, [], `${name}, Run All in JupyterLab:\n${astray.join("\n")}`);
        }
        assert.deepEqual(
          left,
          [],
          `${name} in JupyterLab, outputs under the wrong cell even after re-running those ` +
            `cells one by one:\n${left.join("\n")}`,
        );
      }
    } catch (e) {
      if (server) console.error(`jupyter lab's log (tail):\n${server.log().slice(-3000)}`);
      throw e;
    } finally {
      report.push(`JupyterLab test: ${((Date.now() - started) / 1000).toFixed(1)} s`);
      console.log(report.join("\n"));
      await browser?.close();
      await server?.stop();
      await release();
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
      for (const source of sources) { // JupyterLab must not have saved its outputs into them
        const cells: { execution_count?: number | null }[] =
          JSON.parse(await Deno.readTextFile(source)).cells;
        assert.ok(cells.every((c) => !c.execution_count), `JupyterLab saved ${source}`);
      }
    }
  },
});
