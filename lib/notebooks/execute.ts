/**
 * Execute the notebooks headless on Deno's Jupyter kernel through nbclient, for
 * `deno task notebooks:execute` and `deno task demo` (docs/cli.md).
 *
 * @module
 */
import { basename, join, relative, resolve } from "node:path";
import { fileURLToPath as fromFileUrl } from "node:url";
import { UserError } from "../util/errors.ts";
import { PROJECT_ROOT } from "../util/paths.ts";
import { run } from "../util/process.ts";
import { budgetFromEnv, type ProfileName, profileSettings } from "../train/profile.ts";

/** Where executed notebooks go by default, relative to the repository root. */
export const DEFAULT_OUT_DIR = "build/notebooks";

/**
 * Per-cell timeout in seconds: ResNet-9's full-profile cell is sized to 30 minutes on 2 idle cores
 * (docs/resnet9.md), and a busy machine can take several times that.
 */
export const DEFAULT_CELL_TIMEOUT_S = 6 * 3600;

const RUNNER = fromFileUrl(new URL("./execute_notebook.py", import.meta.url));

/** The paths of notebooks/*.ipynb, sorted by name. */
export async function listNotebooks(): Promise<string[]> {
  const dir = join(PROJECT_ROOT, "notebooks");
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isFile && entry.name.endsWith(".ipynb")) names.push(entry.name);
  }
  return names.sort().map((name) => join(dir, name));
}

/** Run Python code; its output, or `ok: false` when it fails or `python` does not run. */
function python(path: string, code: string) {
  return run(path, ["-c", code], { what: "python", allowFailure: true });
}

/** A Python with nbclient and nbconvert: env PYTHON, else Debian's /usr/bin/python3, else python3. */
async function findPython(): Promise<string> {
  const env = Deno.env.get("PYTHON");
  const candidates = env ? [env] : ["/usr/bin/python3", "python3"];
  for (const path of candidates) {
    if ((await python(path, "import nbclient, nbconvert, jupyter_client")).ok) return path;
  }
  throw new UserError(
    `no Python with nbclient and nbconvert (tried ${candidates.join(", ")}): ` +
      "apt-get install python3-nbclient jupyter-nbconvert jupyter-client, " +
      "or pip install nbclient nbconvert, or set PYTHON",
  );
}

/** Register Deno's Jupyter kernel ("deno") unless the Jupyter of that Python already knows it. */
async function ensureDenoKernel(path: string): Promise<void> {
  const probe = await python(
    path,
    "from jupyter_client.kernelspec import KernelSpecManager as K; " +
      "print('deno' in K().find_kernel_specs())",
  );
  if (probe.stdout.trim() === "True") return;
  await run(Deno.execPath(), ["jupyter", "--install"], { what: "deno jupyter --install" });
}

/** Check with the notebooks' own loader that the full profile's data can be loaded. */
async function preflightData(): Promise<void> {
  const { loadCifar100 } = await import("../data/cifar100.ts");
  try {
    await loadCifar100({ limitTrain: 1, limitTest: 1 });
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    // The notebooks' way to the synthetic data is the profile, not a flag.
    throw new UserError(`${e.message} (notebooks: CIFAR_PROFILE=smoke, or deno task demo)`);
  }
}

/** The notebook that needs the backbones' ImageNet weights in the full profile. */
const VGG16_NOTEBOOK = "04_vgg16.ipynb";

/** The notebook of your own images: it reads the folder named by env IMAGE_FOLDER. */
export const YOUR_IMAGES_NOTEBOOK = "08_your_images.ipynb";

/** Check that the ImageNet weights of VGG16 and MobileNetV2 can be found, as notebook 04 does. */
async function preflightWeights(): Promise<void> {
  const { resolveBackboneWeights } = await import("../models/backbone_weights.ts");
  const { HYP } = await import("../train/hyp.ts");
  const { inputSize, alpha } = HYP.mobilenetv2;
  const choices = [
    { name: "vgg16", inputSize: HYP.vgg16.inputSize, alpha: 1 },
    { name: "mobilenetv2", inputSize, alpha },
  ] as const;
  for (const choice of choices) {
    try {
      await resolveBackboneWeights(choice, {});
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      // The notebooks' way to random weights is the smoke profile, not a flag.
      throw new UserError(
        `${e.message} (notebooks: CIFAR_PROFILE=smoke, or leave ${VGG16_NOTEBOOK} out)`,
      );
    }
  }
}

/**
 * The checks before the first notebook, so that what is missing is one error line before, not a
 * failed cell after, hours of training.
 */
async function preflight(notebooks: string[], profile: ProfileName): Promise<void> {
  budgetFromEnv();
  if (profile !== "full") return;
  await preflightData();
  if (notebooks.some((n) => basename(n) === VGG16_NOTEBOOK)) await preflightWeights();
}

/** Options for {@linkcode executeNotebooks}; `env` is added to this process's for the kernel. */
interface ExecuteOptions {
  /** Notebook paths, run in this order (default: notebooks/*.ipynb by name). */
  notebooks?: string[];
  /** Folder for NAME.ipynb and NAME.html (default build/notebooks). */
  outDir?: string;
  /** Profile for the kernel (default: env CIFAR_PROFILE, else full). */
  profile?: ProfileName;
  timeoutS?: number;
  log?: (line: string) => void;
  env?: Record<string, string>;
}

/** Execute notebooks in order; returns those written, or a UserError naming the failed cell. */
export async function executeNotebooks(options: ExecuteOptions = {}): Promise<string[]> {
  const profile = options.profile ?? profileSettings().name;
  const log = options.log ?? ((line: string) => console.error(line));
  const imageFolder = options.env?.IMAGE_FOLDER ?? Deno.env.get("IMAGE_FOLDER");
  const notebooks = options.notebooks ?? await listNotebooks();
  if (!imageFolder && notebooks.some((n) => basename(n) === YOUR_IMAGES_NOTEBOOK)) {
    // Named on the command line it is refused below; by default it is left out, with a line.
    if (options.notebooks) {
      throw new UserError(
        `${YOUR_IMAGES_NOTEBOOK} needs IMAGE_FOLDER=DIR: a folder with one sub-folder of ` +
          `images per class`,
      );
    }
    notebooks.splice(notebooks.findIndex((n) => basename(n) === YOUR_IMAGES_NOTEBOOK), 1);
    log(`leaving out ${YOUR_IMAGES_NOTEBOOK}: set IMAGE_FOLDER=DIR to run it on your images`);
  }
  const outDir = resolve(options.outDir ?? join(PROJECT_ROOT, DEFAULT_OUT_DIR));
  if (notebooks.length === 0) throw new UserError("no notebooks to execute");
  await preflight(notebooks, profile);
  const python = await findPython();
  await ensureDenoKernel(python);
  await Deno.mkdir(outDir, { recursive: true });
  const written: string[] = [];
  for (const notebook of notebooks) {
    const name = basename(notebook, ".ipynb");
    const outIpynb = join(outDir, `${name}.ipynb`);
    const outHtml = join(outDir, `${name}.html`);
    if (resolve(notebook) === outIpynb) {
      throw new UserError(`${notebook}: output would overwrite the source; pick another --out`);
    }
    const shown = relative(Deno.cwd(), resolve(notebook)) || notebook;
    log(`executing ${shown} (profile ${profile})`);
    const started = performance.now();
    const run = await new Deno.Command(python, {
      args: [RUNNER, shown, outIpynb, outHtml, String(options.timeoutS ?? DEFAULT_CELL_TIMEOUT_S)],
      env: { ...options.env, CIFAR_PROFILE: profile },
      stdout: "inherit",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(run.stderr);
    if (!run.success) {
      const line = stderr.split("\n").reverse().find((l) => l.startsWith("error: "));
      throw new UserError(
        line ? line.slice("error: ".length) : `${shown}: nbclient failed: ${stderr.trim()}`,
      );
    }
    written.push(outIpynb);
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    log(`wrote ${relative(Deno.cwd(), outIpynb)} and .html (${seconds} s)`);
  }
  return written;
}
