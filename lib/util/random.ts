/**
 * Small seeded random numbers for shuffling (tf's own generators are seeded per op, which does
 * not fit a data loader).
 * @module
 */

/**
 * Strides that derive independent seeds from one run seed: seed * stride + index. Distinct
 * primes (and 1000 per model, far more than a model has layers), so no two streams share a
 * seed for the seeds and counts runs use.
 */
export const SEED_STRIDE = {
  /** Shuffling: one permutation per epoch. */
  epoch: 10007,
  /** Initial weights and dropout: one seed per layer, handed out in order. */
  layer: 1000,
  /** Dropout: a fresh mask on every training call of a layer. */
  dropoutCall: 7919,
  /** Gradient workers: each replica's dropout masks are its own. */
  replica: 1_000_003,
  /** Data augmentation: one crop-and-flip draw per training step. */
  augment: 1_000_033,
} as const;

/** A uniform [0, 1) generator (mulberry32): fast, 32-bit state, good enough for shuffling. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A random permutation of 0..n-1 (Fisher-Yates), reproducible from `seed`. */
export function permutation(n: number, seed: number): Uint32Array {
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const random = mulberry32(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}
