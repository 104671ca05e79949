import assert from "node:assert/strict";
import { bundlePageScript } from "../lib/web/bundle.ts";

Deno.test("the web page bundles: nothing Deno-only reaches it from lib/", async () => {
  // Every lib/ module the page imports, however deep (the engine's kernels included), must be
  // browser-safe; the bundler names the first importer of a node: module or of tfjs-node.
  const script = await bundlePageScript();
  assert.ok(script.length > 100_000, `bundle of ${script.length} bytes`);
});
