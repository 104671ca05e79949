import assert from "node:assert/strict";
import { probeNative, readNativeStatus } from "../lib/engine/install/native.ts";
import {
  PATCH_FILE,
  PATCH_VERSION,
  patchBindingSource,
  PATCHED_FILE,
} from "../lib/engine/install/binding_patch.ts";
import { PROJECT_ROOT } from "../lib/util/paths.ts";

const native = await readNativeStatus();
const BACKEND = new URL("../lib/engine/backend.ts", import.meta.url).href;

/** Run `code` in a fresh Deno with `env`; returns stdout's last line and stderr. */
async function child(code: string, env: Record<string, string> = {}) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--quiet", "--ext=ts", code],
    env: { TF_CPP_MIN_LOG_LEVEL: "2", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return {
    ok: out.success,
    last: text.decode(out.stdout).trim().split("\n").pop() ?? "",
    stderr: text.decode(out.stderr),
  };
}

Deno.test({
  name: "after deno task setup, the default backend is tensorflow",
  ignore: !native,
  async fn() {
    // TFJS_BACKEND unset: the automatic choice must find the native engine, not fall back.
    const env = { ...Deno.env.toObject() };
    delete env.TFJS_BACKEND;
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        "--quiet",
        "--ext=ts",
        `const { initBackend } = await import("${BACKEND}"); console.log(JSON.stringify(await initBackend()));`,
      ],
      env,
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const info = JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").pop()!);
    assert.equal(info.name, "tensorflow", `fell back: ${info.note}`);
  },
});

Deno.test({
  name: "tfjs-node runs under Deno because backend.ts supplies node:util's isNullOrUndefined",
  ignore: !native,
  async fn() {
    // OneHot is the first kernel that calls util.isNullOrUndefined.
    const oneHot = `const { tf } = await import("${BACKEND}");` +
      `console.log(tf.oneHot(tf.tensor1d([2], "int32"), 3).dataSync().join(","));`;
    const through = await child(
      `const { initBackend } = await import("${BACKEND}"); await initBackend("tensorflow");` +
        oneHot,
    );
    assert.ok(through.ok, through.stderr);
    assert.equal(through.last, "0,0,1");
    // tfjs-node loaded without the backend module's help fails at that kernel.
    const bare = await child(
      `await import("@tensorflow/tfjs-node"); const tf = await import("@tensorflow/tfjs");` +
        `tf.oneHot(tf.tensor1d([2], "int32"), 3).dataSync();`,
    );
    assert.equal(bare.ok, false);
    assert.match(bare.stderr, /isNullOrUndefined/);
  },
});

Deno.test({
  name: "the setup's probe loads the native engine and reports libtensorflow's version",
  ignore: !native,
  async fn() {
    const probe = await probeNative();
    assert.ok(probe.ok, probe.error);
    assert.match(probe.tensorflow, /^\d+\.\d+\.\d+/);
    assert.equal(probe.tensorflow, native!.tensorflow);
  },
});

Deno.test("an unknown TFJS_BACKEND is a one-line error naming the choices", async () => {
  const out = await child(
    `const { initBackend } = await import("${BACKEND}");` +
      `try { await initBackend(); } catch (e) { console.log(e.message); }`,
    { TFJS_BACKEND: "metal" },
  );
  assert.equal(
    out.last,
    "unknown backend 'metal' (TFJS_BACKEND): use one of tensorflow, wasm, cpu",
  );
});

Deno.test({
  name: "after deno task setup, the project's own TensorFlow ops load",
  ignore: !native?.ops,
  async fn() {
    const ops = new URL("../lib/engine/native_ops.ts", import.meta.url).href;
    const out = await child(
      `const { loadNativeOps } = await import("${ops}");` +
        `const { initBackend } = await import("${BACKEND}"); await initBackend("tensorflow");` +
        `console.log(loadNativeOps());`,
    );
    assert.equal(out.last, "true", out.stderr);
  },
});

Deno.test({
  name: "the binding change applies to the installed tfjs-node's source, and the probe sees it",
  ignore: !native,
  async fn() {
    const file = `${PROJECT_ROOT}/node_modules/@tensorflow/tfjs-node/${PATCHED_FILE}`;
    const patched = patchBindingSource(await Deno.readTextFile(file));
    assert.ok(patched, `${file} no longer has the shape the change expects`);
    assert.match(patched, /TFE_OpSetAttrStringList/);
    assert.match(patched, /TFE_OpSetAttrTypeList/);
    if (!native!.installer) {
      const probe = await probeNative();
      assert.equal(probe.fusedConv, true, "a binding built by setup calls the fused convolution");
    }
  },
});

Deno.test({
  name: "the binding patch changes only its own lines, once, and not to a source it does not fit",
  ignore: !native,
  async fn() {
    const source = await Deno.readTextFile(
      `${PROJECT_ROOT}/node_modules/@tensorflow/tfjs-node/${PATCHED_FILE}`,
    );
    const patch = await Deno.readTextFile(`${PROJECT_ROOT}/${PATCH_FILE}`);
    const lines = (text: string) => text.split("\n");
    const added = lines(patch).filter((l) => l.startsWith("+") && !l.startsWith("+++"));
    const removed = lines(patch).filter((l) => l.startsWith("-") && !l.startsWith("---"));
    const patched = patchBindingSource(source)!;
    assert.equal(lines(patched).length, lines(source).length + added.length - removed.length);
    assert.equal(patchBindingSource(patched), patched, "patching twice is a no-op");
    // Another tfjs-node's AssignOpAttr (one context line changed): built unchanged, not fuzzed in.
    const other = source.replace("    case TF_ATTR_TYPE: {\n", "    case TF_ATTR_TYPE:\n    {\n");
    assert.notEqual(other, source);
    assert.equal(patchBindingSource(other), undefined);
    // The cached binding's key follows the patch file's bytes.
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(patch));
    const hex = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
    assert.equal(PATCH_VERSION, hex.slice(0, 8));
  },
});
