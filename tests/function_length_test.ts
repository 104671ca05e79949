/**
 * No function or method in lib/ is longer than {@linkcode MAX_LINES} lines unless its doc says
 * why, in a line that starts with "Long because". Functions are found by the TypeScript
 * compiler's parser (npm:typescript), so braces in strings, regular expressions or template
 * literals (the C++ in lib/engine/install/) cannot confuse the count. A function's lines run from
 * its first token (after its doc) to its closing brace, nested functions included; each nested
 * function is counted on its own as well. Nothing in lib/ is exempt but by such a reason.
 */
import assert from "node:assert/strict";
import { relative } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const LIB = fileURLToPath(new URL("../lib/", import.meta.url));

/** The longest a function may be without a reason in its doc. */
export const MAX_LINES = 80;

/** The reason's marker: a doc line starting `Long because` (after the comment's `/**` or `*`). */
const REASON = /^\s*(?:\/\*\*|\*)?\s*Long because\b/m;

/** One function-like node of a module. */
export interface FunctionLength {
  /** e.g. `fit`, `GradientWorker.step`, `discussion > paragraph` for a nested function. */
  name: string;
  /** 1-based line of its first token. */
  line: number;
  lines: number;
  /** Its doc says why it is long. */
  reasoned: boolean;
}

/** The node whose JSDoc documents `fn`: the declaration, or the variable or property it is in. */
function documented(fn: ts.Node): ts.Node {
  const parent = fn.parent;
  if (ts.isVariableDeclaration(parent)) return parent.parent.parent; // the variable statement
  if (ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent)) return parent;
  return fn;
}

function hasReason(fn: ts.Node, source: ts.SourceFile): boolean {
  return ts.getJSDocCommentsAndTags(documented(fn)).some((doc) => REASON.test(doc.getText(source)));
}

function nameOf(fn: ts.SignatureDeclaration, source: ts.SourceFile): string {
  const parent = fn.parent;
  const own = fn.name ?? (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent) ||
      ts.isPropertyDeclaration(parent)
    ? parent.name
    : undefined);
  const base = ts.isConstructorDeclaration(fn)
    ? "constructor"
    : own
    ? own.getText(source)
    : "(anonymous)";
  const owner = ts.isClassLike(parent) && parent.name ? `${parent.name.text}.` : "";
  return owner + base;
}

/** Every function, method, constructor, accessor and arrow function of `text` with its length. */
export function functionLengths(path: string, text: string): FunctionLength[] {
  const source = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const found: FunctionLength[] = [];
  const visit = (node: ts.Node, outer: string[]) => {
    let inner = outer;
    if (ts.isFunctionLike(node) && "body" in node && node.body) {
      const name = [...outer, nameOf(node, source)].join(" > ");
      const first = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
      const last = source.getLineAndCharacterOfPosition(node.getEnd()).line;
      found.push({
        name,
        line: first + 1,
        lines: last - first + 1,
        reasoned: hasReason(node, source),
      });
      inner = [...outer, nameOf(node, source)];
    }
    ts.forEachChild(node, (child) => visit(child, inner));
  };
  visit(source, []);
  return found;
}

/** The functions of `text` over {@linkcode MAX_LINES} lines whose doc gives no reason. */
export function unreasonedLongFunctions(path: string, text: string): FunctionLength[] {
  return functionLengths(path, text).filter((f) => f.lines > MAX_LINES && !f.reasoned);
}

async function* libModules(dir = LIB): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}${entry.name}`;
    if (entry.isDirectory) yield* libModules(`${path}/`);
    else if (/\.(ts|js|mjs)$/.test(entry.name)) yield path;
  }
}

/** A function of `lines` lines (signature and closing brace included), with `doc` above it. */
function sample(lines: number, doc = ""): string {
  const body = Array.from({ length: lines - 2 }, (_, i) => `  const v${i} = "}{";`);
  return `${doc}\nexport function sample() {\n${body.join("\n")}\n}\n`;
}

Deno.test("function lengths: counted from the parse, braces in strings ignored", () => {
  const [f] = functionLengths("x.ts", sample(MAX_LINES));
  assert.deepEqual(f, { name: "sample", line: 2, lines: MAX_LINES, reasoned: false });
  assert.deepEqual(unreasonedLongFunctions("x.ts", sample(MAX_LINES)), []);
  assert.equal(unreasonedLongFunctions("x.ts", sample(MAX_LINES + 1)).length, 1);
});

Deno.test("function lengths: a `Long because` line in the doc is the reason", () => {
  const reason = "/**\n * Does a thing.\n *\n * Long because the steps share state.\n */";
  assert.deepEqual(unreasonedLongFunctions("x.ts", sample(MAX_LINES + 1, reason)), []);
  const mention = "/** Not long because of anything. */";
  assert.equal(unreasonedLongFunctions("x.ts", sample(MAX_LINES + 1, mention)).length, 1);
  const plain = "// Long because a line comment is not a doc.";
  assert.equal(unreasonedLongFunctions("x.ts", sample(MAX_LINES + 1, plain)).length, 1);
});

Deno.test("function lengths: arrow functions, methods and nested functions are named", () => {
  const body = Array.from({ length: MAX_LINES }, (_, i) => `    const v${i} = ${i};`).join("\n");
  const text = `/** Long because it is a sample. */\nconst outer = () => {\n` +
    `  const inner = () => {\n${body}\n  };\n};\n` +
    `class Box {\n  get size() {\n${body}\n    return 1;\n  }\n}\n`;
  assert.deepEqual(
    functionLengths("x.ts", text).map((f) => [f.name, f.lines, f.reasoned]),
    [
      ["outer", MAX_LINES + 4, true],
      ["outer > inner", MAX_LINES + 2, false],
      ["Box.size", MAX_LINES + 3, false],
    ],
  );
});

Deno.test(`no function in lib/ over ${MAX_LINES} lines without a reason in its doc`, async () => {
  const long: string[] = [];
  for await (const path of libModules()) {
    for (const f of unreasonedLongFunctions(path, await Deno.readTextFile(path))) {
      long.push(`lib/${relative(LIB, path)}:${f.line} ${f.name} (${f.lines} lines)`);
    }
  }
  assert.deepEqual(
    long.sort(),
    [],
    `split these, or say why in their doc (a line starting "Long because"):\n  ` +
      long.join("\n  "),
  );
});
