/**
 * A small static file server for the exported page (`deno task web`), safe to leave running: it
 * listens on 127.0.0.1 by default, answers only GET and HEAD, serves only files whose real path
 * lies inside its folder (anything refused is a plain 404), streams them, caps URL and file
 * sizes, and lists no folders.
 *
 * @module
 */
import { extname, join, sep } from "node:path";

/** Longest URL answered (longer: 414). */
const MAX_URL_BYTES = 4096;

/** Largest file served (VGG16's weights are 60 MB). */
const MAX_FILE_BYTES = 512 * 1024 * 1024;

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".json": "application/json",
  ".wasm": "application/wasm",
  ".bin": "application/octet-stream",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".txt": "text/plain; charset=utf-8",
};

/**
 * The file inside `root` that a request path names (`/` names index.html), or undefined. Each
 * segment is percent-decoded once; one that is empty, starts with a dot or holds a slash, a
 * backslash or a NUL is refused.
 *
 * @param root the served folder's real path (`Deno.realPath`)
 * @param pathname the URL's path as sent, still percent-encoded
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const root = await Deno.realPath(await Deno.makeTempDir());
 * await Deno.writeTextFile(`${root}/index.html`, "hi");
 * assert.equal(await resolveRequestPath(root, "/"), `${root}/index.html`);
 * assert.equal(await resolveRequestPath(root, "/..%2findex.html"), undefined);
 * assert.equal(await resolveRequestPath(root, "/%2e%2e/etc/passwd"), undefined);
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function resolveRequestPath(
  root: string,
  pathname: string,
): Promise<string | undefined> {
  if (!pathname.startsWith("/")) return undefined;
  const raw = pathname.slice(1).split("/");
  if (raw.at(-1) === "") raw[raw.length - 1] = "index.html";
  const segments: string[] = [];
  for (const part of raw) {
    let segment: string;
    try {
      segment = decodeURIComponent(part);
    } catch {
      return undefined; // malformed percent-encoding
    }
    if (segment === "" || segment.startsWith(".") || /[/\\\0]/.test(segment)) return undefined;
    segments.push(segment);
  }
  try {
    const real = await Deno.realPath(join(root, ...segments));
    if (!real.startsWith(root + sep)) return undefined;
    const info = await Deno.stat(real);
    return info.isFile && info.size <= MAX_FILE_BYTES ? real : undefined;
  } catch {
    return undefined;
  }
}

function plain(status: number, text: string, headers: Record<string, string> = {}): Response {
  return new Response(`${text}\n`, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", ...headers },
  });
}

/** Answer one request for a file of `root` (a real path). */
async function answer(root: string, request: Request): Promise<Response> {
  if (request.method !== "GET" && request.method !== "HEAD") {
    return plain(405, "only GET and HEAD", { allow: "GET, HEAD" });
  }
  if (request.url.length > MAX_URL_BYTES) return plain(414, "URL too long");
  // The raw target as sent: the URL parser has already collapsed literal dot segments, and
  // resolveRequestPath refuses what decoding would turn into one.
  const file = await resolveRequestPath(root, new URL(request.url).pathname);
  if (!file) return plain(404, "not found");
  const size = (await Deno.stat(file)).size;
  const headers = {
    "content-type": TYPES[extname(file).toLowerCase()] ?? "application/octet-stream",
    "content-length": String(size),
    "cache-control": "no-cache",
    "x-content-type-options": "nosniff",
  };
  if (request.method === "HEAD") return new Response(null, { headers });
  const handle = await Deno.open(file, { read: true });
  return new Response(handle.readable, { headers });
}

/** Where {@linkcode serveFolder} listens: 127.0.0.1:8000 by default (port 0: a free one). */
interface ServeOptions {
  root: string;
  hostname?: string;
  port?: number;
  onListen?: (url: string) => void;
  signal?: AbortSignal;
}

/** Serve a folder over HTTP until `signal` aborts. */
export async function serveFolder(options: ServeOptions): Promise<Deno.HttpServer> {
  const root = await Deno.realPath(options.root);
  const hostname = options.hostname ?? "127.0.0.1";
  return Deno.serve({
    hostname,
    port: options.port ?? 8000,
    signal: options.signal,
    onListen: ({ port }) => {
      const host = hostname.includes(":") ? `[${hostname}]` : hostname;
      options.onListen?.(`http://${host}:${port}/`);
    },
  }, (request) => answer(root, request));
}
