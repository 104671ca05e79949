/**
 * `deno task bench:folder`: how long a folder of images takes to load, cold and from the cache,
 * and the process's peak memory, on {@linkcode makePhotoFolder}'s photo-sized JPEGs.
 *
 * @module
 */
import { join } from "node:path";
import jpeg from "jpeg-js";
import { loadImageFolder } from "../data/image_folder.ts";

/**
 * Write `count` photo-sized JPEGs (500x375, textured so they compress like photos) dealt out
 * into `classes` class folders under `dir`; returns the bytes written.
 */
export async function makePhotoFolder(
  dir: string,
  count: number,
  classes = 10,
  onProgress?: (done: number, total: number) => void,
): Promise<number> {
  const width = 500;
  const height = 375;
  const rgba = new Uint8Array(width * height * 4);
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    const label = i % classes;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const wave = Math.sin((x + 3 * i) / (7 + label)) * 60 + Math.cos((y - i) / 11) * 40;
        const noise = ((x * 7919 + y * 104729 + i * 13) % 61) - 30;
        const p = (y * width + x) * 4;
        rgba[p] = 128 + wave + noise;
        rgba[p + 1] = 100 + label * 12 + noise;
        rgba[p + 2] = 160 - wave / 2 + noise;
        rgba[p + 3] = 255;
      }
    }
    const folder = join(dir, `class${String(label).padStart(2, "0")}`);
    await Deno.mkdir(folder, { recursive: true });
    const file = new Uint8Array(jpeg.encode({ data: rgba, width, height }, 85).data);
    await Deno.writeFile(join(folder, `photo${String(i).padStart(6, "0")}.jpg`), file);
    bytes += file.length;
    onProgress?.(i + 1, count);
  }
  return bytes;
}

/** What {@linkcode timeFolderLoads} measured. */
interface FolderLoadTimes {
  images: number;
  skipped: number;
  firstSeconds: number;
  secondSeconds: number;
  /** Peak resident memory of the process so far (Linux only). */
  peakRssMiB?: number;
}

/** Load `dir` twice into an empty `cacheDir`: cold, then from the cache. */

export async function timeFolderLoads(
  dir: string,
  imageSize: number,
  cacheDir: string,
  onProgress?: (done: number, total: number) => void,
): Promise<FolderLoadTimes> {
  const options = { seed: 0, imageSize, cacheDir, log: () => {} };
  let start = performance.now();
  const first = await loadImageFolder(dir, { ...options, onProgress });
  const firstSeconds = (performance.now() - start) / 1000;
  start = performance.now();
  const second = await loadImageFolder(dir, options);
  const secondSeconds = (performance.now() - start) / 1000;
  if (second.cache.decoded !== 0) {
    throw new Error(`the second load decoded ${second.cache.decoded}`);
  }
  return {
    images: first.train.count + first.test.count,
    skipped: first.skipped.length,
    firstSeconds,
    secondSeconds,
    peakRssMiB: peakRssMiB(),
  };
}

/** VmHWM from /proc/self/status: the most resident memory the process has held. */
function peakRssMiB(): number | undefined {
  try {
    const kib = Deno.readTextFileSync("/proc/self/status").match(/^VmHWM:\s+(\d+) kB/m)?.[1];
    return kib ? Number(kib) / 1024 : undefined;
  } catch {
    return undefined;
  }
}
