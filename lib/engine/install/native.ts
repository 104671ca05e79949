/**
 * Install time (`deno task setup`): tfjs-node's binding to libtensorflow in this project's
 * node_modules. tfjs-node's own installer is used where Google's storage is reachable; else the
 * binding is built with node-gyp against the C library in the `tensorflow-cpu` wheel (the same
 * TF_/TFE_ C API), cached under `<cache>/native/` so a second setup takes seconds.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { UserError } from "../../util/errors.ts";
import { PROJECT_ROOT } from "../../util/paths.ts";
import { exists, findPython, run, which } from "../../util/process.ts";
import { NATIVE_OPS_LIBRARY } from "../native_ops.ts";
import { PATCH_FILE, PATCH_VERSION, patchBindingSource, PATCHED_FILE } from "./binding_patch.ts";

/** The TensorFlow wheel whose C library the binding is built against. */
export const TENSORFLOW_WHEEL = { name: "tensorflow-cpu", version: "2.21.0" } as const;

/** What the setup found or did, also written to `node_modules/.native-engine.json`. */
interface NativeStatus {
  state: "ready";
  via: "already set up" | "tfjs-node installer" | "built from source" | "cached build";
  /** libtensorflow's version, as the binding reports it. */
  tensorflow: string;
  tfjsNode: string;
  /** The project's own TensorFlow ops (native_ops.cc) were built and load. */
  ops: boolean;
  /** The binding takes list attributes (tfjs_node_binding.patch), so convolutions fuse. */
  fusedConv: boolean;
  /** The binding is tfjs-node's own prebuilt one. */
  installer: boolean;
  /** The digest of the tfjs_node_binding.patch the binding was built with (none: installer's). */
  patch?: string;
  seconds: number;
}

/** Options for {@linkcode setupNative}. */
interface SetupOptions {
  cacheDir: string;
  /** Skip tfjs-node's own installer (it needs Google's storage). */
  skipInstaller?: boolean;
}

const STATUS_FILE = join(PROJECT_ROOT, "node_modules", ".native-engine.json");

const log = (line: string) => console.error(line);

/** The setup's record, if `deno task setup` made the native engine work in this project. */
export async function readNativeStatus(): Promise<NativeStatus | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(STATUS_FILE));
  } catch {
    return undefined;
  }
}

const FALLBACK = "the WebAssembly engine still works (chosen automatically, or TFJS_BACKEND=wasm)";

/**
 * Make tfjs-node work in this project: check it, else run its installer, else build its binding
 * from source. Idempotent; a user error names what is missing and the fallback that still works.
 */
export async function setupNative(options: SetupOptions): Promise<NativeStatus> {
  const native = join(options.cacheDir, "native");
  const start = performance.now();

  log("[1/5] npm packages into node_modules (deno install)");
  await run(Deno.execPath(), ["install", "--quiet"], {
    cwd: PROJECT_ROOT,
    what: "deno install",
    hint: FALLBACK,
  });
  const pkg = await Deno.realPath(join(PROJECT_ROOT, "node_modules", "@tensorflow", "tfjs-node"))
    .catch(() => {
      throw new UserError(
        `node_modules/@tensorflow/tfjs-node is missing after deno install: check "nodeModulesDir" in deno.json; ${FALLBACK}`,
      );
    });
  const tfjsNode = JSON.parse(await Deno.readTextFile(join(pkg, "package.json"))).version;

  const previous = await readNativeStatus();
  const via = await binding(pkg, native, tfjsNode, options, previous);
  log("[5/5] the project's own TensorFlow ops (lib/engine/install/native_ops.cc)");
  const ops = await nativeOps(pkg, native);
  const probe = await probeNative();
  if (!probe.ok) {
    throw new UserError(`tfjs-node does not load after setup (${probe.error}); ${FALLBACK}`);
  }
  if (ops && !probe.ops) {
    log("      built, but they do not load: TensorFlow's own kernels are used");
  }
  const installer = via === "tfjs-node installer" ||
    (via === "already set up" && previous?.installer === true);
  const status: NativeStatus = {
    state: "ready",
    via,
    tensorflow: probe.tensorflow,
    tfjsNode,
    ops: probe.ops,
    fusedConv: probe.fusedConv,
    installer,
    patch: installer ? undefined : PATCH_VERSION,
    seconds: Math.round((performance.now() - start) / 100) / 10,
  };
  await Deno.writeTextFile(STATUS_FILE, JSON.stringify(status, null, 2) + "\n");
  return status;
}

/** Steps 2 to 4: a working tfjs_binding.node, however it can be had. */
async function binding(
  pkg: string,
  native: string,
  tfjsNode: string,
  options: SetupOptions,
  previous: NativeStatus | undefined,
): Promise<NativeStatus["via"]> {
  log("[2/5] checking the native binding");
  let probe = await probeNative();
  // A binding built here from another patch (or none) is rebuilt; the installer's is kept
  // unless the installer is to be skipped (then it is replaced by one built here).
  const keepPrebuilt = previous?.installer && !options.skipInstaller;
  const samePatch = previous?.patch === PATCH_VERSION;
  if (probe.ok && ((probe.fusedConv && samePatch) || keepPrebuilt)) return "already set up";
  log(
    !probe.ok
      ? `      not working yet: ${probe.error}`
      : probe.fusedConv
      ? `      it was built from another ${PATCH_FILE}: rebuilding`
      : "      it works but cannot pass list attributes (unfused convolutions): rebuilding",
  );

  // The installer only helps where no binding loads: it cannot apply the patch.
  if (!options.skipInstaller && !probe.ok) {
    log("[3/5] tfjs-node's own installer (downloads libtensorflow from Google's storage)");
    const installer = await run(
      Deno.execPath(),
      ["install", "--allow-scripts=npm:@tensorflow/tfjs-node"],
      { cwd: PROJECT_ROOT, what: "tfjs-node's installer", allowFailure: true },
    );
    if (installer.ok) {
      probe = await probeNative();
      if (probe.ok) return "tfjs-node installer";
    }
    log(`      it did not work (${installer.error ?? probe.error}): building from source instead`);
  }

  log(`[4/5] building the binding against ${TENSORFLOW_WHEEL.name} ${TENSORFLOW_WHEEL.version}`);
  const library = await tensorflowLibrary(native);
  await linkLibrary(pkg, library);
  const key = `tfjs-node-${tfjsNode}-tf-${TENSORFLOW_WHEEL.version}-patch-${PATCH_VERSION}-` +
    `${Deno.build.os}-${Deno.build.arch}`;
  const cached = join(native, "bindings", key, "tfjs_binding.node");
  const target = join(pkg, "lib", "napi-v8", "tfjs_binding.node");
  await Deno.mkdir(dirname(target), { recursive: true });
  if (await exists(cached)) {
    log(`      using the binding built earlier: ${cached}`);
    await copyAtomically(cached, target);
    return "cached build";
  }
  const sources = await patchedSources(pkg, tfjsNode, join(native, "src", key));
  await buildBinding(sources, native, target);
  await copyAtomically(target, cached);
  return "built from source";
}

/** Copy as a new file renamed into place: a process with the old library loaded keeps its copy. */
async function copyAtomically(file: string, to: string): Promise<void> {
  await Deno.mkdir(dirname(to), { recursive: true });
  await Deno.copyFile(file, `${to}.tmp`);
  await Deno.rename(`${to}.tmp`, to);
}

/**
 * Compile lib/engine/install/native_ops.cc against the library tfjs-node uses (its deps/), cached
 * by the source's hash. Optional: without a compiler the engine keeps TensorFlow's own kernels.
 */
async function nativeOps(pkg: string, native: string) {
  const source = fileURLToPath(new URL("./native_ops.cc", import.meta.url));
  // Built for this CPU (-march=native): the key has the source and the CPU's features.
  const cpu = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  const flags = cpu.split("\n").find((l) => l.startsWith("flags")) ?? "";
  const hash = createHash("sha256").update(await Deno.readFile(source)).update(flags).digest("hex")
    .slice(0, 16);
  const cached = join(
    native,
    "ops",
    `${Deno.build.os}-${Deno.build.arch}-${hash}`,
    NATIVE_OPS_LIBRARY,
  );
  const target = join(pkg, "lib", "napi-v8", NATIVE_OPS_LIBRARY);
  if (await exists(cached)) {
    await copyAtomically(cached, target);
    return true;
  }
  const compiler = await which("c++") ?? await which("g++");
  if (!compiler) {
    log("      no C++ compiler: skipped; TensorFlow's own kernels are used");
    return false;
  }
  const built = await run(compiler, [
    "-O3",
    // Vector compares and blends (AVX2 here) make the pooling gradient 3x faster than SSE2.
    "-march=native",
    "-std=c++17",
    "-shared",
    "-fPIC",
    source,
    `-I${join(pkg, "deps", "include")}`,
    `-L${join(pkg, "deps", "lib")}`,
    "-ltensorflow_framework",
    // Found where tfjs_binding.node finds it.
    "-Wl,-rpath,$ORIGIN/../../deps/lib",
    // Never unloaded: TensorFlow keeps pointers to its kernels, and registering an op twice
    // (after a reload) aborts the process.
    "-Wl,-z,nodelete",
    "-o",
    target,
  ], { what: "compiling native_ops.cc", allowFailure: true });
  if (!built.ok) {
    log(`      not built (${built.error}): TensorFlow's own kernels are used`);
    return false;
  }
  await copyAtomically(target, cached);
  return true;
}

// ---- Probing: load tfjs-node in a child process (a broken library may crash it) -----------------

type Probe =
  & { ok: boolean; error?: string }
  & Pick<NativeStatus, "tensorflow" | "ops" | "fusedConv">;

const PROBE = `
const { initBackend, tf } = await import(Deno.args[0]);
const { loadNativeOps } = await import(Deno.args[1]);
const { fusedConvAvailable } = await import(Deno.args[2]);
const info = await initBackend("tensorflow");
const x = tf.oneHot(tf.tensor1d([1, 0], "int32"), 3).sum().dataSync()[0];
if (x !== 2) throw new Error("tensorflow backend computed " + x);
const binding = tf.backend().binding;
console.log(JSON.stringify({
  tensorflow: binding.TF_Version,
  ops: loadNativeOps(),
  fusedConv: fusedConvAvailable(),
}));
`;

/** Load tfjs-node and run one op in a child process. */
export async function probeNative(): Promise<Probe> {
  const backend = new URL("../backend.ts", import.meta.url).href;
  const ops = new URL("../native_ops.ts", import.meta.url).href;
  const conv = new URL("../conv_bias_relu.ts", import.meta.url).href;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--quiet", "--ext=ts", PROBE, backend, ops, conv],
    cwd: PROJECT_ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { TF_CPP_MIN_LOG_LEVEL: "2" },
  }).output();
  const text = new TextDecoder();
  if (!out.success) {
    const lines = text.decode(out.stderr).split("\n").filter((l) => /error/i.test(l));
    const error = (lines[0] ?? `exit code ${out.code}`).replace(/^.*?error:\s*/i, "").trim();
    return { ok: false, error, tensorflow: "", ops: false, fusedConv: false };
  }
  const last = text.decode(out.stdout).trim().split("\n").pop()!;
  return { ok: true, ...JSON.parse(last) };
}

// ---- The TensorFlow C library, from the tensorflow-cpu wheel -------------------------------------

/** Folders of libtensorflow*.so.2 (`lib`) and of the C API headers (`include`). */
type Library = { lib: string; include: string };

/** The wheel's members the binding needs: the two libraries and the C API headers. */
const WHEEL_MEMBERS = [
  "tensorflow/libtensorflow_cc.so.2",
  "tensorflow/libtensorflow_framework.so.2",
  "tensorflow/include/tensorflow/c/",
  "tensorflow/include/tensorflow/core/platform/",
  "tensorflow/include/tsl/platform/",
  "tensorflow/include/xla/tsl/c/",
  // What tensorflow/c/kernels.h includes (for lib/engine/install/native_ops.cc).
  "tensorflow/include/tensorflow/core/common_runtime/next_pluggable_device/c/",
];

const EXTRACT = `
import sys, zipfile
wheel, dest, *prefixes = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    names = [n for n in z.namelist() if any(n == p or (p.endswith("/") and n.startswith(p)) for p in prefixes)]
    for n in names:
        z.extract(n, dest)
print(len(names))
`;

async function tensorflowLibrary(native: string): Promise<Library> {
  const folder = join(native, `${TENSORFLOW_WHEEL.name}-${TENSORFLOW_WHEEL.version}`);
  const library = {
    lib: join(folder, "tensorflow"),
    include: join(folder, "tensorflow", "include"),
  };
  const complete = join(folder, ".complete");
  // The marker lists what was extracted: a longer list means extracting again.
  if (await exists(complete) && (await Deno.readTextFile(complete)) === WHEEL_MEMBERS.join("\n")) {
    log(`      TensorFlow C library: ${folder} (cached)`);
    return library;
  }
  const python = await findPython(`to fetch the TensorFlow C library (${TENSORFLOW_WHEEL.name})`)
    .catch((e) => {
      throw new UserError(`${e.message}; ${FALLBACK}`);
    });
  const wheels = join(native, "wheels");
  await Deno.mkdir(wheels, { recursive: true });
  let wheel = await findWheel(wheels);
  if (!wheel) {
    log(`      pip download ${TENSORFLOW_WHEEL.name}==${TENSORFLOW_WHEEL.version} (about 270 MB)`);
    const spec = `${TENSORFLOW_WHEEL.name}==${TENSORFLOW_WHEEL.version}`;
    const pip = await run(
      python,
      ["-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", wheels, spec],
      { what: "pip download", allowFailure: true, inherit: true },
    );
    wheel = await findWheel(wheels);
    if (!pip.ok || !wheel) {
      const why = pip.error ?? "no wheel";
      throw new UserError(
        `pip could not download ${spec} (${why}): check pip's index or network, or put the ` +
          `wheel in ${wheels}; ${FALLBACK}`,
      );
    }
  }
  log(`      extracting the library and headers from ${wheel}`);
  const partial = `${folder}.partial`;
  await Deno.remove(partial, { recursive: true }).catch(() => {});
  await run(python, ["-c", EXTRACT, wheel, partial, ...WHEEL_MEMBERS], {
    what: "extraction",
    hint: FALLBACK,
  });
  await Deno.writeTextFile(join(partial, ".complete"), WHEEL_MEMBERS.join("\n"));
  await Deno.remove(folder, { recursive: true }).catch(() => {});
  await Deno.rename(partial, folder);
  // The extracted library is all that is needed from the 270 MB wheel.
  await Deno.remove(wheel);
  return library;
}

async function findWheel(folder: string): Promise<string | undefined> {
  const prefix = `${TENSORFLOW_WHEEL.name.replace(/-/g, "_")}-${TENSORFLOW_WHEEL.version}-`;
  for await (const entry of Deno.readDir(folder)) {
    if (entry.name.startsWith(prefix) && entry.name.endsWith(".whl")) {
      return join(folder, entry.name);
    }
  }
  return undefined;
}

/** Symlink the library where binding.gyp and the binding's rpath look, under the names asked for. */
async function linkLibrary(pkg: string, library: Library): Promise<void> {
  const deps = join(pkg, "deps");
  await Deno.remove(deps, { recursive: true }).catch(() => {});
  await Deno.mkdir(join(deps, "lib"), { recursive: true });
  await Deno.symlink(library.include, join(deps, "include"));
  const links: [string, string][] = [
    ["libtensorflow_cc.so.2", "libtensorflow_cc.so.2"],
    ["libtensorflow_cc.so.2", "libtensorflow.so"],
    ["libtensorflow_framework.so.2", "libtensorflow_framework.so.2"],
    ["libtensorflow_framework.so.2", "libtensorflow_framework.so"],
  ];
  for (const [file, name] of links) {
    await Deno.symlink(join(library.lib, file), join(deps, "lib", name));
  }
}

// ---- Building the binding with node-gyp ---------------------------------------------------------

/**
 * A patched copy of the binding's sources in `dir` for node-gyp to build, so the package in
 * node_modules (hard links into Deno's npm cache) is never edited.
 */
async function patchedSources(pkg: string, tfjsNode: string, dir: string) {
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  await Deno.mkdir(join(dir, "binding"), { recursive: true });
  await Deno.copyFile(join(pkg, "binding.gyp"), join(dir, "binding.gyp"));
  for await (const entry of Deno.readDir(join(pkg, "binding"))) {
    if (entry.isFile) {
      await Deno.copyFile(join(pkg, "binding", entry.name), join(dir, "binding", entry.name));
    }
  }
  await Deno.symlink(join(pkg, "deps"), join(dir, "deps"));
  const file = join(dir, PATCHED_FILE);
  const patched = patchBindingSource(await Deno.readTextFile(file));
  if (patched) await Deno.writeTextFile(file, patched);
  else {
    log(
      `      ${PATCH_FILE} does not apply to tfjs-node ${tfjsNode}'s ${PATCHED_FILE}: ` +
        "built without list attributes (unfused convolutions)",
    );
  }
  return dir;
}

async function buildBinding(sources: string, native: string, target: string): Promise<void> {
  const compiler = await which("c++") ?? await which("g++");
  if (!compiler) {
    throw new UserError(
      `no C++ compiler to build tfjs-node's binding: install one (apt-get install g++ make); ${FALLBACK}`,
    );
  }
  if (!await which("make")) {
    throw new UserError(
      `'make' is missing to build tfjs-node's binding: apt-get install make; ${FALLBACK}`,
    );
  }
  const node = await which("node");
  if (!node) {
    throw new UserError(
      `Node.js is missing (node-gyp runs on it): apt-get install nodejs npm; ${FALLBACK}`,
    );
  }
  const gyp = await findNodeGyp(node);
  if (!gyp) {
    throw new UserError(
      `node-gyp is missing: install npm (it bundles node-gyp) or npm i -g node-gyp; ${FALLBACK}`,
    );
  }
  // Node's headers next to the node binary (Debian's nodejs: /usr/include/node), so that
  // node-gyp does not download them; N-API addons built against them load in Deno too.
  const prefix = dirname(dirname(await Deno.realPath(node)));
  const headers = join(prefix, "include", "node", "node_api.h");
  const nodedir = await exists(headers) ? [`--nodedir=${prefix}`] : [];
  if (!nodedir.length) log(`      no Node headers at ${headers}: node-gyp will download them`);
  log(`      node-gyp rebuild (${compiler}, about 15 s)`);
  await run(node, [
    gyp,
    "rebuild",
    ...nodedir,
    "--module_name=tfjs_binding",
    `--module_path=${dirname(target)}`,
    "--napi_build_version=8",
  ], {
    cwd: sources,
    what: "node-gyp",
    hint: FALLBACK,
    // node-gyp's own cache (headers, if it must download them) stays in ours.
    env: { npm_config_devdir: join(native, "node-gyp") },
  });
  if (!await exists(target)) throw new UserError(`node-gyp did not produce ${target}; ${FALLBACK}`);
}

async function findNodeGyp(node: string): Promise<string | undefined> {
  const onPath = await which("node-gyp");
  const candidates = [
    // npm's bundled node-gyp, next to node (Debian: /usr/lib/node_modules or /usr/share/nodejs).
    join(
      dirname(dirname(await Deno.realPath(node))),
      "lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js",
    ),
    "/usr/share/nodejs/node-gyp/bin/node-gyp.js",
    "/usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js",
    ...(onPath ? [await Deno.realPath(onPath)] : []),
  ];
  for (const c of candidates) if (await exists(c)) return c;
  return undefined;
}
