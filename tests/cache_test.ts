import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import {
  cacheRoot,
  DownloadError,
  fetchCached,
  kerasHome,
  md5File,
  type RemoteFile,
} from "../lib/util/cache.ts";
import { UserError } from "../lib/util/errors.ts";

const PAYLOAD = new Uint8Array(3 << 20).map((_, i) => (i * 31 + (i >> 9)) & 255);
const PAYLOAD_MD5 = createHash("md5").update(PAYLOAD).digest("hex");

function remote(md5 = PAYLOAD_MD5): RemoteFile {
  return { url: "https://example.invalid/data.bin", md5, fileName: "data.bin", what: "test file" };
}

/** A fetch serving `body` in 64 KiB chunks, optionally failing after `failAfter` bytes. */
function fakeFetch(body: Uint8Array, failAfter?: number) {
  const calls: string[] = [];
  const fn = (input: string | URL | Request) => {
    calls.push(String(input));
    let offset = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (failAfter !== undefined && offset >= failAfter) {
          controller.error(new Error("connection reset"));
          return;
        }
        if (offset >= body.length) return controller.close();
        controller.enqueue(body.slice(offset, offset + 65536));
        offset += 65536;
      },
    });
    return Promise.resolve(
      new Response(stream, { headers: { "content-length": String(body.length) } }),
    );
  };
  return { fetch: fn as typeof fetch, calls };
}

async function withTempDir(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "cache_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function listDir(dir: string): Promise<string[]> {
  const names = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  return names.sort();
}

Deno.test("cacheRoot: CIFAR100_CACHE, then XDG_CACHE_HOME, then HOME/.cache", () => {
  const saved = ["CIFAR100_CACHE", "XDG_CACHE_HOME", "HOME"].map((k) => [k, Deno.env.get(k)]);
  // Set and restore synchronously: env is process-wide and other test files may run alongside.
  let results: string[];
  try {
    Deno.env.set("HOME", "/home/someone");
    Deno.env.delete("XDG_CACHE_HOME");
    Deno.env.delete("CIFAR100_CACHE");
    const home = cacheRoot();
    Deno.env.set("XDG_CACHE_HOME", "/xdg");
    const xdg = cacheRoot();
    Deno.env.set("CIFAR100_CACHE", "/custom/cache");
    results = [home, xdg, cacheRoot()];
  } finally {
    for (const [k, v] of saved) v === undefined ? Deno.env.delete(k!) : Deno.env.set(k!, v);
  }
  assert.deepEqual(results, [
    "/home/someone/.cache/cifar100-ts",
    "/xdg/cifar100-ts",
    "/custom/cache",
  ]);
});

Deno.test("kerasHome: KERAS_HOME, else HOME/.keras", () => {
  const saved = ["KERAS_HOME", "HOME"].map((k) => [k, Deno.env.get(k)]);
  let results: string[];
  try {
    Deno.env.set("HOME", "/home/someone");
    Deno.env.delete("KERAS_HOME");
    const home = kerasHome();
    Deno.env.set("KERAS_HOME", "/data/keras");
    results = [home, kerasHome()];
  } finally {
    for (const [k, v] of saved) v === undefined ? Deno.env.delete(k!) : Deno.env.set(k!, v);
  }
  assert.deepEqual(results, ["/home/someone/.keras", "/data/keras"]);
});

Deno.test("fetchCached looks in `elsewhere` first, uses a copy only when its MD5 matches, never writes there", async () => {
  await withTempDir(async (dir) => {
    const [first, second, cacheDir] = ["a", "b", "cache"].map((n) => join(dir, n));
    await Deno.mkdir(first);
    await Deno.mkdir(second);
    const server = fakeFetch(PAYLOAD);
    await Deno.writeFile(join(second, "data.bin"), PAYLOAD);
    const found = await fetchCached(remote(), {
      cacheDir,
      elsewhere: [first, second],
      fetch: server.fetch,
    });
    assert.deepEqual(found, { path: join(second, "data.bin"), downloaded: false });
    assert.equal(server.calls.length, 0);

    // A wrong copy elsewhere is passed over (and named when the download fails too).
    await Deno.writeTextFile(join(second, "data.bin"), "truncated");
    const offline = (() => Promise.reject(new TypeError("offline"))) as typeof fetch;
    await assert.rejects(
      fetchCached(remote(), { cacheDir, elsewhere: [first, second], fetch: offline }),
      (e) =>
        e instanceof DownloadError && e.message.includes(join(second, "data.bin")) &&
        e.message.includes("not used"),
    );
    const downloaded = await fetchCached(remote(), {
      cacheDir,
      elsewhere: [first, second],
      fetch: server.fetch,
    });
    assert.deepEqual(downloaded, { path: join(cacheDir, "data.bin"), downloaded: true });
    assert.deepEqual(await listDir(first), [], "nothing written elsewhere");
    assert.equal(await Deno.readTextFile(join(second, "data.bin")), "truncated");
  });
});

Deno.test("md5File hashes a file in chunks", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "abc.txt");
    await Deno.writeTextFile(path, "abc");
    assert.equal(await md5File(path), "900150983cd24fb0d6963f7d28e17f72");
    await Deno.writeFile(path, PAYLOAD);
    assert.equal(await md5File(path), PAYLOAD_MD5);
  });
});

Deno.test("fetchCached downloads, verifies, reports progress, then hits the cache", async () => {
  await withTempDir(async (dir) => {
    const cacheDir = join(dir, "nested", "cache");
    const server = fakeFetch(PAYLOAD);
    const progress: [number, number][] = [];
    const first = await fetchCached(remote(), {
      cacheDir,
      fetch: server.fetch,
      onProgress: (done, total) => progress.push([done, total]),
    });
    assert.deepEqual(first, { path: join(cacheDir, "data.bin"), downloaded: true });
    assert.deepEqual(await Deno.readFile(first.path), PAYLOAD);
    assert.deepEqual(await listDir(cacheDir), ["data.bin"]);
    assert.deepEqual(server.calls, ["https://example.invalid/data.bin"]);
    assert.ok(progress.length >= 2, "progress reported more than once");
    assert.deepEqual(progress.at(-1), [PAYLOAD.length, PAYLOAD.length]);

    const second = await fetchCached(remote(), { cacheDir, fetch: server.fetch });
    assert.deepEqual(second, { path: first.path, downloaded: false });
    assert.equal(server.calls.length, 1, "a cache hit does not fetch");
  });
});

Deno.test("fetchCached rejects a download with the wrong MD5 and keeps nothing", async () => {
  await withTempDir(async (dir) => {
    const server = fakeFetch(PAYLOAD);
    const wrong = "0".repeat(32);
    await assert.rejects(
      fetchCached(remote(wrong), { cacheDir: dir, fetch: server.fetch }),
      (e) =>
        e instanceof UserError && !(e instanceof DownloadError) &&
        e.message.includes(PAYLOAD_MD5) && e.message.includes(wrong) && !e.message.includes("\n"),
    );
    assert.deepEqual(await listDir(dir), []);
  });
});

Deno.test("fetchCached leaves no partial file when the download breaks off", async () => {
  await withTempDir(async (dir) => {
    const server = fakeFetch(PAYLOAD, 1 << 20);
    await assert.rejects(
      fetchCached(remote(), { cacheDir: dir, fetch: server.fetch }),
      (e) =>
        e instanceof DownloadError && e.url === remote().url &&
        e.message.includes("connection reset") && e.message.includes("1048576 bytes"),
    );
    assert.deepEqual(await listDir(dir), []);
    // The next attempt starts clean and succeeds.
    const ok = await fetchCached(remote(), { cacheDir: dir, fetch: fakeFetch(PAYLOAD).fetch });
    assert.equal(ok.downloaded, true);
    assert.deepEqual(await listDir(dir), ["data.bin"]);
  });
});

Deno.test("fetchCached turns network failures and HTTP errors into DownloadError", async () => {
  await withTempDir(async (dir) => {
    const offline = (() =>
      Promise.reject(new TypeError("dns error: no such host"))) as typeof fetch;
    await assert.rejects(
      fetchCached(remote(), { cacheDir: dir, fetch: offline }),
      (e) =>
        e instanceof DownloadError && e instanceof UserError && e.url === remote().url &&
        e.message.includes("dns error") && e.message.includes("test file"),
    );
    const notFound = (() =>
      Promise.resolve(
        new Response("nope", { status: 404, statusText: "Not Found" }),
      )) as typeof fetch;
    await assert.rejects(
      fetchCached(remote(), { cacheDir: dir, fetch: notFound }),
      (e) => e instanceof DownloadError && e.message.includes("HTTP 404 Not Found"),
    );
    assert.deepEqual(await listDir(dir), []);
  });
});

Deno.test("fetchCached replaces a cached file whose MD5 is wrong", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "data.bin"), "truncated");
    const offline = (() => Promise.reject(new TypeError("offline"))) as typeof fetch;
    await assert.rejects(
      fetchCached(remote(), { cacheDir: dir, fetch: offline }),
      (e) => e instanceof DownloadError && e.message.includes("not used"),
    );
    const server = fakeFetch(PAYLOAD);
    const result = await fetchCached(remote(), { cacheDir: dir, fetch: server.fetch });
    assert.equal(result.downloaded, true);
    assert.equal(await md5File(result.path), PAYLOAD_MD5);
  });
});

/**
 * A local HTTP server on 127.0.0.1 (port 0): `/data.bin` serves PAYLOAD, `/altered.bin` PAYLOAD
 * with one byte changed, and `/moved` redirects (302) to `/data.bin`. Records the paths requested.
 * `cut` is the URL of a second, bare TCP server whose reply announces PAYLOAD's length and closes
 * the connection after 1 MiB of it.
 */
async function withServer(
  fn: (base: string, requests: string[], cut: string) => Promise<void>,
) {
  const requests: string[] = [];
  const length = { "content-length": String(PAYLOAD.length) };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const path = new URL(request.url).pathname;
    requests.push(path);
    if (path === "/data.bin") return new Response(PAYLOAD, { headers: length });
    if (path === "/altered.bin") {
      const altered = PAYLOAD.slice();
      altered[altered.length >> 1] ^= 1;
      return new Response(altered, { headers: length });
    }
    if (path === "/moved") return Response.redirect(new URL("/data.bin", request.url), 302);
    return new Response("not here", { status: 404 });
  });
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const cutServer = (async () => {
    for await (const conn of listener) {
      try {
        await conn.read(new Uint8Array(65536)); // the request (small: one read)
        const head = `HTTP/1.1 200 OK\r\ncontent-length: ${PAYLOAD.length}\r\n\r\n`;
        await writeAll(conn, new TextEncoder().encode(head));
        await writeAll(conn, PAYLOAD.subarray(0, 1 << 20));
      } catch {
        // The client went first: nothing to do.
      } finally {
        conn.close();
      }
    }
  })();
  try {
    await fn(
      `http://127.0.0.1:${server.addr.port}`,
      requests,
      `http://127.0.0.1:${listener.addr.port}/cut.bin`,
    );
  } finally {
    listener.close();
    await cutServer.catch(() => {});
    await server.shutdown();
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array) {
  for (let written = 0; written < bytes.length;) {
    written += await conn.write(bytes.subarray(written));
  }
}

/** A RemoteFile served by the local server, fetched with the real global fetch. */
function served(base: string, path: string, fileName: string, md5 = PAYLOAD_MD5): RemoteFile {
  return { url: `${base}${path}`, md5, fileName, what: "test file" };
}

Deno.test("fetchCached over real HTTP: a good file lands in the cache whole, then hits the cache", async () => {
  await withServer(async (base, requests) => {
    await withTempDir(async (dir) => {
      const file = served(base, "/data.bin", "data.bin");
      const first = await fetchCached(file, { cacheDir: dir, fetch: globalThis.fetch });
      assert.deepEqual(first, { path: join(dir, "data.bin"), downloaded: true });
      assert.equal(await md5File(first.path), PAYLOAD_MD5);
      assert.deepEqual(await listDir(dir), ["data.bin"]);
      const second = await fetchCached(file, { cacheDir: dir, fetch: globalThis.fetch });
      assert.equal(second.downloaded, false);
      assert.deepEqual(requests, ["/data.bin"], "a cache hit does not fetch");
    });
  });
});

Deno.test("fetchCached over real HTTP: a download with the wrong MD5 is not kept", async () => {
  await withServer(async (base) => {
    await withTempDir(async (dir) => {
      await assert.rejects(
        fetchCached(served(base, "/altered.bin", "data.bin"), {
          cacheDir: dir,
          fetch: globalThis.fetch,
        }),
        (e) =>
          e instanceof UserError && !(e instanceof DownloadError) &&
          e.message.includes(`expected ${PAYLOAD_MD5}`) && e.message.includes("not kept"),
      );
      assert.deepEqual(await listDir(dir), [], "no file, no temp file");
    });
  });
});

Deno.test("fetchCached over real HTTP: a connection cut halfway leaves nothing behind", async () => {
  await withServer(async (base, _requests, cutUrl) => {
    await withTempDir(async (dir) => {
      const cut = { ...served(base, "/data.bin", "data.bin"), url: cutUrl };
      await assert.rejects(
        fetchCached(cut, { cacheDir: dir, fetch: globalThis.fetch }),
        (e) => {
          // Some bytes arrived before the cut, not all of them.
          const bytes = Number(/failed after (\d+) bytes/.exec((e as Error).message)?.[1]);
          return e instanceof DownloadError && e.url === cut.url &&
            bytes > 0 && bytes < PAYLOAD.length;
        },
      );
      assert.deepEqual(await listDir(dir), [], "no partial file, no temp file");
      // The same name downloads cleanly afterwards.
      const good = await fetchCached(served(base, "/data.bin", "data.bin"), {
        cacheDir: dir,
        fetch: globalThis.fetch,
      });
      assert.equal(await md5File(good.path), PAYLOAD_MD5);
      assert.deepEqual(await listDir(dir), ["data.bin"]);
    });
  });
});

Deno.test("fetchCached over real HTTP: follows a 302 redirect to the file", async () => {
  await withServer(async (base, requests) => {
    await withTempDir(async (dir) => {
      const result = await fetchCached(served(base, "/moved", "moved.bin"), {
        cacheDir: dir,
        fetch: globalThis.fetch,
      });
      assert.deepEqual(result, { path: join(dir, "moved.bin"), downloaded: true });
      assert.equal(await md5File(result.path), PAYLOAD_MD5);
      assert.deepEqual(requests, ["/moved", "/data.bin"]);
      assert.deepEqual(await listDir(dir), ["moved.bin"]);
    });
  });
});
