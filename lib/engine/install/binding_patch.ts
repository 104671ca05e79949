/**
 * One change to tfjs-node's binding sources before they are built (lib/engine/install/native.ts):
 * list-valued string and type attributes.
 *
 * tfjs-node's `AssignOpAttr` (binding/tfjs_backend.cc) sets lists of ints, floats and bools
 * but only single strings and types; an array throws "Argument is not a string!". TensorFlow's
 * fused convolutions (conv + bias + ReLU in one kernel, what Keras's graph runs) take
 * `fused_ops: list(string)` and `TArgs: list(type)`, so without this they cannot be called. The
 * change adds the two list cases with TensorFlow's C API (`TFE_OpSetAttrStringList`,
 * `TFE_OpSetAttrTypeList`) and leaves everything else as it was. A binding without it (tfjs-node's
 * own prebuilt one) still works: lib/engine/tensorflow_kernels.ts probes for the fused
 * kernel and keeps separate ops where it is missing.
 *
 * @module
 */
import { createHash } from "node:crypto";

/** Where each list case goes: the start of the single-value case, and what is inserted. */
const EDITS: { anchor: string; insert: string }[] = [
  {
    anchor: "    case TF_ATTR_STRING: {\n",
    insert: `      // cifar100-ts: list(string) attributes (a fused conv's fused_ops).
      if (IsArray(env, nstatus, &js_value)) {
        uint32_t length;
        nstatus = napi_get_array_length(env, js_value, &length);
        ENSURE_NAPI_OK(env, nstatus);
        std::vector<std::string> strings(length);
        std::vector<const void *> values(length);
        std::vector<size_t> lengths(length);
        for (uint32_t i = 0; i < length; ++i) {
          napi_value element;
          nstatus = napi_get_element(env, js_value, i, &element);
          ENSURE_NAPI_OK(env, nstatus);
          nstatus = GetStringParam(env, element, strings[i]);
          ENSURE_NAPI_OK(env, nstatus);
          values[i] = strings[i].data();
          lengths[i] = strings[i].size();
        }
        TFE_OpSetAttrStringList(tfe_op, attr_name, values.data(), lengths.data(),
                                static_cast<int>(length));
        break;
      }
`,
  },
  {
    anchor: "    case TF_ATTR_TYPE: {\n",
    insert: `      // cifar100-ts: list(type) attributes (a fused conv's TArgs).
      if (IsArray(env, nstatus, &js_value)) {
        uint32_t length;
        nstatus = napi_get_array_length(env, js_value, &length);
        ENSURE_NAPI_OK(env, nstatus);
        std::vector<TF_DataType> types(length);
        for (uint32_t i = 0; i < length; ++i) {
          napi_value element;
          nstatus = napi_get_element(env, js_value, i, &element);
          ENSURE_NAPI_OK(env, nstatus);
          nstatus = napi_get_value_int32(env, element, reinterpret_cast<int32_t *>(&types[i]));
          ENSURE_NAPI_OK(env, nstatus);
        }
        TFE_OpSetAttrTypeList(tfe_op, attr_name, types.data(), static_cast<int>(length));
        break;
      }
`,
  },
];

/** Marks a patched source, so that patching twice is a no-op. */
const MARK = "// cifar100-ts: list(string) attributes";

/** The file the edits apply to, relative to the package. */
export const PATCHED_FILE = "binding/tfjs_backend.cc";

/**
 * `tfjs_backend.cc` with list(string) and list(type) attributes, or `undefined` when the
 * source does not have the expected shape (another tfjs-node version): the caller then builds
 * the binding unchanged.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const source = "  switch (t) {\n    case TF_ATTR_STRING: {\n      a();\n    }\n" +
 *   "    case TF_ATTR_TYPE: {\n      b();\n    }\n  }\n";
 * const patched = patchBindingSource(source)!;
 * assert.match(patched, /TFE_OpSetAttrStringList/);
 * assert.match(patched, /TFE_OpSetAttrTypeList/);
 * assert.equal(patchBindingSource(patched), patched);
 * assert.equal(patchBindingSource("int main() {}"), undefined);
 * ```
 */
export function patchBindingSource(source: string): string | undefined {
  if (source.includes(MARK)) return source;
  let out = source;
  for (const { anchor, insert } of EDITS) {
    const at = out.indexOf(anchor);
    if (at < 0 || out.indexOf(anchor, at + 1) >= 0) return undefined;
    out = out.slice(0, at + anchor.length) + insert + out.slice(at + anchor.length);
  }
  // std::vector and std::string, whatever the binding's own includes are.
  return "#include <string>\n#include <vector>\n" + out;
}

/** A short digest of the edits, for cache keys: a change to them rebuilds the binding. */
export const PATCH_VERSION: string = createHash("sha256")
  .update(EDITS.map((e) => e.anchor + e.insert).join(""))
  .digest("hex")
  .slice(0, 8);
