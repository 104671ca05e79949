/**
 * Features from a frozen convolutional base (VGG16, MobileNetV2), computed once per dataset,
 * weights and input size and cached in memory and on disk: the base does not train while the
 * head does, so a head epoch costs a dense layer per image instead of a forward pass.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { tf } from "../engine/backend.ts";
import { IMAGE_SIZE } from "../data/dataset.ts";
import { HYP } from "./hyp.ts";
import { cacheRoot } from "../util/cache.ts";
import { evenShares, type GradientWorker } from "./parallel.ts";
import { createProgress } from "../util/progress.ts";
import { TracedForward } from "./traced_forward.ts";
import { writeFileAtomically } from "../util/replace_folder.ts";

const CHANNELS = 3;

interface ExtractOptions {
  /** Must equal the base's input size. */
  inputSize: number;
  /** The base's preprocessing of 0..255 pixels at any side (lib/models/backbone.ts `input`). */
  input: (pixels: tf.Tensor4D, inputSize: number) => tf.Tensor4D;
  /** Side of the given images; default 32. */
  imageSize?: number;
  /** Default `HYP.vgg16.featureBatchSize`. */
  batchSize?: number;
  onProgress?: (done: number, total: number) => void;
  /** Show the terminal progress bar (default: when stderr is a terminal). */
  progress?: boolean;
  /** Workers with a backbone recipe of the same base and weights: each extracts a share. */
  workers?: GradientWorker[];
  /**
   * This base's batches as one TensorFlow function, kept by a caller that extracts again (the
   * bench), as `fit` takes a kept replay; by default one per call on the tensorflow engine.
   */
  traced?: TracedForward;
}

interface ExtractedFeatures {
  /** `[N, C]` row-major. */
  features: Float32Array;
  seconds: number;
  imagesPerSecond: number;
}

/**
 * Run every image (uint8 NHWC) through the frozen `base`, batch by batch, after the base's
 * preprocessing, and average its output over height and width.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { initBackend } from "../engine/backend.ts";
 * import { syntheticCifar100 } from "../data/synthetic.ts";
 * import { buildVgg16Base, vgg16Input } from "../models/vgg16.ts";
 * await initBackend();
 * const data = syntheticCifar100({ trainCount: 8, testCount: 0 });
 * const base = buildVgg16Base(64, 0); // random weights here; ImageNet's in the notebooks
 * const { features, imagesPerSecond } = await extractFeatures(base, data.train.images, {
 *   inputSize: 64,
 *   input: vgg16Input,
 *   progress: false,
 * });
 * assert.equal(features.length, 8 * 512);
 * assert.ok(imagesPerSecond > 0);
 * base.dispose();
 * ```
 */
export async function extractFeatures(
  base: tf.LayersModel,
  images: Uint8Array,
  opts: ExtractOptions,
): Promise<ExtractedFeatures> {
  const { inputSize, imageSize = IMAGE_SIZE, batchSize = HYP.vgg16.featureBatchSize } = opts;
  const [, height, width, channels] = base.inputs[0].shape;
  if (height !== inputSize || width !== inputSize) {
    throw new Error(`base expects ${height}x${width} input, but inputSize is ${inputSize}`);
  }
  const pixelsPerImage = imageSize * imageSize * CHANNELS;
  if (channels !== CHANNELS || images.length % pixelsPerImage !== 0) {
    throw new Error(
      `images must be uint8 [N, ${imageSize}, ${imageSize}, 3]; got ${images.length} bytes`,
    );
  }
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new Error(`batchSize must be a positive integer, got ${batchSize}`);
  }
  const count = images.length / pixelsPerImage;
  const dim = base.outputs[0].shape.at(-1)!;
  const features = new Float32Array(count * dim);
  const workers = opts.workers ?? [];
  // This thread takes the first share, each worker one of the others, all at once.
  const shares = evenShares(count, workers.length + 1);
  const progress = createProgress({
    total: count,
    label: `Features ${inputSize}px`,
    onUpdate: opts.onProgress ? (done, total) => opts.onProgress!(done, total) : undefined,
    terminal: opts.progress === false ? false : undefined,
  });
  const traced = opts.traced ??
    (tf.getBackend() === "tensorflow"
      ? new TracedForward(base.weights.map((w) => w.read()))
      : undefined);
  const start = performance.now();
  try {
    const fromWorkers = workers.map((worker, i) => {
      const [first, last] = shares[i + 1];
      if (first === last) return Promise.resolve();
      // A copy: the worker gets its own buffer (transferring would detach the dataset's).
      return worker.features(
        images.slice(first * pixelsPerImage, last * pixelsPerImage),
        batchSize,
        imageSize,
      )
        .then((part) => features.set(part, first * dim));
    });
    const mine = shares[0][1];
    const forward = pooledOutput(base, opts.input, inputSize);
    for (let first = 0; first < mine; first += batchSize) {
      const last = Math.min(first + batchSize, mine);
      const pooled = tf.tidy(() => {
        const pixels = new Float32Array(
          images.subarray(first * pixelsPerImage, last * pixelsPerImage),
        );
        const x = tf.tensor4d(pixels, [last - first, imageSize, imageSize, CHANNELS]);
        return traced ? traced.run(x, forward) : forward(x);
      });
      try {
        // Awaiting the download (not dataSync) lets the progress bar and notebooks redraw.
        features.set(await pooled.data() as Float32Array, first * dim);
      } finally {
        pooled.dispose();
      }
      // Workers progress at about this thread's pace: scale this thread's share to the whole.
      const done = Math.round(last * count / mine);
      const rate = done / ((performance.now() - start) / 1000);
      progress.update(done, { "img/s": rate.toFixed(0) });
    }
    await Promise.all(fromWorkers);
  } finally {
    progress.stop();
    if (!opts.traced) traced?.dispose();
  }
  const seconds = (performance.now() - start) / 1000;
  return { features, seconds, imagesPerSecond: count / seconds };
}

/** The base's output for a batch of pixels, preprocessed, averaged over height and width. */
function pooledOutput(base: tf.LayersModel, input: ExtractOptions["input"], inputSize: number) {
  return (x: tf.Tensor) => {
    const output = base.predict(input(x as tf.Tensor4D, inputSize), {
      batchSize: x.shape[0],
    }) as tf.Tensor4D;
    return tf.mean(output, [1, 2]);
  };
}

/** What cached features depend on; every field goes into the cache key. */
interface FeatureKey {
  /** e.g. `vgg16` or `mobilenetv2-1.0` (with its width). */
  base: string;
  /** e.g. the weights file's MD5; random weights differ per seed, e.g. `none-seed42`. */
  weightsId: string;
  /** The exact images, e.g. `dataset.source.id` plus any limit on their count. */
  dataId: string;
  split: "train" | "test";
  inputSize: number;
}

const memory = new Map<string, Float32Array>();
const MAGIC = "VGGFEAT1";

/**
 * Cached features for `key`, else `compute`d and cached in memory and on disk (default
 * `<cacheRoot()>/features/`). A file is used only when its header names the same key and length
 * and its checksum matches; else it is recomputed. Failing to write the cache is not an error.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const cacheDir = await Deno.makeTempDir(); // default: <cacheRoot()>/features
 * const key = {
 *   base: "vgg16",
 *   weightsId: "none-seed0",
 *   dataId: "synthetic-seed0-8-0",
 *   split: "train",
 *   inputSize: 64,
 * } as const;
 * // Usually
 * // async () => (await extractFeatures(base, data.train.images, { inputSize: 64 })).features
 * const compute = () => Promise.resolve(new Float32Array(8 * 512).fill(0.5));
 * const first = await cachedFeatures(key, compute, { cacheDir });
 * assert.equal(first.fromCache, false); // computed, then kept in memory and on disk
 * clearFeatureMemoryCache();
 * const again = await cachedFeatures(key, compute, { cacheDir });
 * assert.equal(again.fromCache, true); // read back from the file
 * assert.deepEqual(again.features, first.features);
 * await Deno.remove(cacheDir, { recursive: true });
 * ```
 */
export async function cachedFeatures(
  key: FeatureKey,
  compute: () => Promise<Float32Array>,
  opts: { cacheDir?: string } = {},
): Promise<{ features: Float32Array; fromCache: boolean }> {
  const id = JSON.stringify([key.base, key.weightsId, key.dataId, key.split, key.inputSize]);
  const dir = opts.cacheDir ?? join(cacheRoot(), "features");
  const hash = createHash("sha256").update(id).digest("hex").slice(0, 16);
  const path = join(dir, `${key.base}-${key.split}-${key.inputSize}px-${hash}.f32`);
  const memoryKey = `${path}\n${id}`;
  const inMemory = memory.get(memoryKey);
  if (inMemory) return { features: inMemory, fromCache: true };

  const onDisk = await readFeatureFile(path, id);
  if (onDisk) {
    memory.set(memoryKey, onDisk);
    return { features: onDisk, fromCache: true };
  }
  const features = await compute();
  memory.set(memoryKey, features);
  await writeFeatureFile(path, id, features);
  return { features, fromCache: false };
}

/** Forget the in-memory copies (the disk cache stays). */
export function clearFeatureMemoryCache(): void {
  memory.clear();
}

interface Header {
  id: string;
  length: number;
  checksum: number;
}

/**
 * File layout: "VGGFEAT1", uint32 LE header length, JSON header padded with spaces to a multiple
 * of 4 bytes, then `length` float32 values, little-endian.
 */
async function writeFeatureFile(path: string, id: string, features: Float32Array): Promise<void> {
  const header: Header = { id, length: features.length, checksum: checksum(features) };
  let json = JSON.stringify(header);
  json += " ".repeat((4 - ((MAGIC.length + 4 + json.length) % 4)) % 4);
  const head = new TextEncoder().encode(MAGIC + "    " + json);
  new DataView(head.buffer).setUint32(MAGIC.length, head.length - MAGIC.length - 4, true);
  try {
    const values = new Uint8Array(features.buffer, features.byteOffset, features.byteLength);
    await writeFileAtomically(path, [head, values]);
  } catch (e) {
    console.warn(`note: could not write the feature cache ${path} (${(e as Error).message})`);
  }
}

async function readFeatureFile(path: string, id: string): Promise<Float32Array | undefined> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
  const header = parseHeader(bytes);
  const dataStart = header ? MAGIC.length + 4 + header.size : 0;
  const valid = header !== undefined && header.value.id === id &&
    bytes.length === dataStart + header.value.length * 4;
  if (valid) {
    const features = new Float32Array(
      bytes.buffer,
      bytes.byteOffset + dataStart,
      header.value.length,
    );
    if (checksum(features) === header.value.checksum) return features;
  }
  console.warn(`note: feature cache ${path} is damaged or stale; recomputing it`);
  return undefined;
}

function parseHeader(bytes: Uint8Array): { value: Header; size: number } | undefined {
  if (bytes.length < MAGIC.length + 4) return undefined;
  if (new TextDecoder().decode(bytes.subarray(0, MAGIC.length)) !== MAGIC) return undefined;
  const size = new DataView(bytes.buffer, bytes.byteOffset).getUint32(MAGIC.length, true);
  const start = MAGIC.length + 4;
  if (size % 4 !== 0 || start + size > bytes.length) return undefined;
  try {
    const value = JSON.parse(new TextDecoder().decode(bytes.subarray(start, start + size)));
    const ok = typeof value?.id === "string" && Number.isInteger(value.length) &&
      Number.isInteger(value.checksum);
    return ok ? { value, size } : undefined;
  } catch {
    return undefined;
  }
}

/** FNV-1a over the 32-bit words: detects truncation and altered bytes, and is fast. */
function checksum(values: Float32Array): number {
  const words = new Uint32Array(values.buffer, values.byteOffset, values.length);
  let hash = 0x811c9dc5;
  for (let i = 0; i < words.length; i++) hash = Math.imul(hash ^ words[i], 0x01000193);
  return hash >>> 0;
}
