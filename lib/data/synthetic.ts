/**
 * A synthetic stand-in for CIFAR-100 with the same shapes, for tests and quick runs: each class
 * has its own colours, stripes and blob place, each image random phase, jitter and noise. A small
 * model learns it quickly; it says nothing about CIFAR-100, and its description says SYNTHETIC.
 *
 * @module
 */
import {
  type Cifar100,
  COARSE_CLASSES,
  FINE_CLASSES,
  IMAGE_BYTES,
  IMAGE_SIZE,
  type Split,
} from "./dataset.ts";
import { mulberry32 } from "../util/random.ts";

/** Options for {@linkcode syntheticCifar100}: defaults seed 0, 5,000 and 1,000 images. */
interface SyntheticOptions {
  seed?: number;
  trainCount?: number;
  testCount?: number;
}

/**
 * Generate a deterministic, learnable synthetic dataset shaped like CIFAR-100: balanced labels in
 * a seeded order, fine class `i` in coarse class `floor(i / 5)`; the test split depends only on
 * the seed and its own count.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const data = syntheticCifar100({ seed: 1, trainCount: 500, testCount: 100 });
 * assert.equal(data.train.images.length, 500 * 32 * 32 * 3);
 * assert.ok(data.source.synthetic);
 * ```
 */
export function syntheticCifar100(options: SyntheticOptions = {}): Cifar100 {
  const seed = options.seed ?? 0;
  const trainCount = options.trainCount ?? 5000;
  const testCount = options.testCount ?? 1000;
  for (const [name, n] of [["trainCount", trainCount], ["testCount", testCount]] as const) {
    if (!Number.isInteger(n) || n < 0) {
      throw new RangeError(`syntheticCifar100: ${name} must be a whole number >= 0, got ${n}`);
    }
  }
  const classes = Array.from({ length: FINE_CLASSES }, (_, c) => classStyle(c));
  const fineToCoarse = new Uint8Array(FINE_CLASSES);
  for (let i = 0; i < FINE_CLASSES; i++) fineToCoarse[i] = Math.floor(i / 5);
  const pad = (i: number) => String(i).padStart(2, "0");
  const id = `synthetic-seed${seed}-${trainCount}-${testCount}`;
  return {
    train: makeSplit(trainCount, mulberry32(hashSeed(seed, 1)), classes, fineToCoarse),
    test: makeSplit(testCount, mulberry32(hashSeed(seed, 2)), classes, fineToCoarse),
    fineLabelNames: Array.from({ length: FINE_CLASSES }, (_, i) => `synthetic_class_${pad(i)}`),
    coarseLabelNames: Array.from(
      { length: COARSE_CLASSES },
      (_, i) => `synthetic_superclass_${pad(i)}`,
    ),
    fineToCoarse,
    source: {
      kind: "synthetic",
      synthetic: true,
      origin: "synthetic",
      id,
      description: `SYNTHETIC data (seed ${seed}, ${trainCount} train / ${testCount} test), ` +
        `not CIFAR-100`,
    },
  };
}

/** What makes a class recognisable: colours, stripe wave vector (radians/pixel), blob centre. */
interface ClassStyle {
  fg: [number, number, number];
  bg: [number, number, number];
  kx: number;
  ky: number;
  blobX: number;
  blobY: number;
}

function classStyle(c: number): ClassStyle {
  // Hues spread by the golden ratio; brightness and saturation vary on other digits of c so
  // neighbouring hues still differ.
  const hue = (c * 0.618033988749895) % 1;
  const fg = hsv(hue, 0.55 + 0.15 * (c % 3), 0.95 - 0.12 * (Math.floor(c / 3) % 3));
  const bg = hsv((hue + 0.35 + 0.1 * (c % 4)) % 1, 0.6, 0.2 + 0.1 * (Math.floor(c / 4) % 3));
  const angle = (c % 8) * Math.PI / 8;
  const cycles = 1.5 + (Math.floor(c / 8) % 5);
  const k = 2 * Math.PI * cycles / IMAGE_SIZE;
  const cell = (c * 7) % 9;
  return {
    fg,
    bg,
    kx: k * Math.cos(angle),
    ky: k * Math.sin(angle),
    blobX: 6 + 10 * (cell % 3),
    blobY: 6 + 10 * Math.floor(cell / 3),
  };
}

function makeSplit(
  count: number,
  random: () => number,
  classes: ClassStyle[],
  fineToCoarse: Uint8Array,
): Split {
  const fineLabels = new Uint8Array(count);
  for (let i = 0; i < count; i++) fineLabels[i] = i % FINE_CLASSES;
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [fineLabels[i], fineLabels[j]] = [fineLabels[j], fineLabels[i]];
  }
  const coarseLabels = fineLabels.map((f) => fineToCoarse[f]);
  const images = new Uint8Array(count * IMAGE_BYTES);
  for (let i = 0; i < count; i++) {
    const s = classes[fineLabels[i]];
    const phase = random() * 2 * Math.PI * 0.5;
    const gain = 0.7 + 0.6 * random();
    const bx = s.blobX + (random() - 0.5) * 6;
    const by = s.blobY + (random() - 0.5) * 6;
    let out = i * IMAGE_BYTES;
    for (let y = 0; y < IMAGE_SIZE; y++) {
      for (let x = 0; x < IMAGE_SIZE; x++) {
        const stripe = 0.5 + 0.5 * Math.sin(s.kx * x + s.ky * y + phase);
        const d2 = (x - bx) ** 2 + (y - by) ** 2;
        const blob = d2 < 16 ? 0.6 : 0;
        for (let ch = 0; ch < 3; ch++) {
          const base = s.bg[ch] + (s.fg[ch] - s.bg[ch]) * stripe + blob;
          // Triangular noise of about +-80 levels.
          const noise = (random() + random() - 1) * 80;
          const v = base * gain * 255 + noise;
          images[out++] = v < 0 ? 0 : v > 255 ? 255 : v;
        }
      }
    }
  }
  return { images, fineLabels, coarseLabels, count };
}

function hsv(h: number, s: number, v: number): [number, number, number] {
  const f = (n: number) => {
    const k = (n + h * 6) % 6;
    return v - v * s * Math.max(0, Math.min(k, 4 - k, 1));
  };
  return [f(5), f(3), f(1)];
}

/** Mix the user's seed with a stream number into a 32-bit seed. */
function hashSeed(seed: number, stream: number): number {
  let h = Math.imul((seed | 0) ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(stream, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  return (h ^ (h >>> 15)) >>> 0;
}
