/**
 * 2-D maps of high-dimensional features: PCA (fast) and UMAP (McInnes et al. 2018, umap-js;
 * slower, keeps neighbourhoods rather than variance, so clusters stand out). Both are seeded.
 *
 * @module
 */
import { UMAP } from "umap-js";
import { tf } from "../engine/backend.ts";
import { mulberry32 } from "../util/random.ts";

/** `count` points of `dims` coordinates, row by row. */
export interface Projection {
  coords: Float32Array;
  count: number;
  dims: number;
  /** PCA: the share of the features' variance each axis keeps. */
  explained?: number[];
}

/** Power-iteration rounds of the subspace iteration (each sharpens the subspace). */
const ROUNDS = 8;
/** Extra directions iterated beyond those wanted, so the wanted ones converge fast. */
const OVERSAMPLE = 8;

/**
 * Project `count` rows of `dim` features on their first `dims` principal components: subspace
 * iteration with tfjs, then the exact eigenvectors of the small projected covariance.
 *
 * @param seed the starting subspace
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { initBackend } from "../engine/backend.ts";
 * await initBackend();
 * // Points on a line along (1, 1, 0): all their variance is on the first axis.
 * const values = new Float32Array([0, 0, 0, 1, 1, 0, 2, 2, 0, 3, 3, 0]);
 * const { explained } = pca(values, 4, 3);
 * assert.ok(explained![0] > 0.999);
 * ```
 */
export function pca(
  values: Float32Array,
  count: number,
  dim: number,
  dims = 2,
  seed = 0,
): Projection {
  if (values.length !== count * dim) {
    throw new RangeError(`${values.length} values, not ${count}x${dim}`);
  }
  const k = Math.min(dims + OVERSAMPLE, dim, count);
  const random = mulberry32(seed);
  const start = Float32Array.from({ length: dim * k }, () => random() - 0.5);
  const [scores, total] = tf.tidy(() => {
    const x = tf.tensor2d(values, [count, dim]);
    const centred = tf.sub(x, tf.mean(x, 0, true)) as tf.Tensor2D;
    let basis = tf.tensor2d(orthonormalColumns(start, dim, k), [dim, k]);
    for (let round = 0; round < ROUNDS; round++) {
      const grown = tf.matMul(centred, tf.matMul(centred, basis), true, false).dataSync();
      basis = tf.tensor2d(orthonormalColumns(Float32Array.from(grown), dim, k), [dim, k]);
    }
    return [tf.matMul(centred, basis).arraySync(), tf.sum(tf.square(centred)).dataSync()[0]];
  }) as [number[][], number];
  // The k x k covariance of the scores, and its eigenvectors, largest eigenvalue first.
  const cov = Array.from(
    { length: k },
    (_, a) =>
      Array.from({ length: k }, (_, b) => scores.reduce((s, row) => s + row[a] * row[b], 0)),
  );
  const { values: eigen, vectors } = symmetricEigen(cov);
  const order = eigen.map((_, i) => i).sort((a, b) => eigen[b] - eigen[a]).slice(0, dims);
  const coords = new Float32Array(count * dims);
  scores.forEach((row, i) =>
    order.forEach((e, d) => {
      coords[i * dims + d] = row.reduce((s, v, j) => s + v * vectors[j][e], 0);
    })
  );
  const explained = order.map((e) => (total > 0 ? eigen[e] / total : 0));
  return { coords, count, dims, explained };
}

/**
 * The columns of a `rows x cols` row-major matrix made orthonormal (modified Gram-Schmidt in
 * double precision; tfjs's QR runs as hundreds of small ops, seconds for a 2304 x 58 matrix).
 */
function orthonormalColumns(matrix: Float32Array, rows: number, cols: number): Float32Array {
  const columns = Array.from({ length: cols }, (_, c) => {
    const column = new Float64Array(rows);
    for (let r = 0; r < rows; r++) column[r] = matrix[r * cols + c];
    return column;
  });
  columns.forEach((column, c) => {
    for (let previous = 0; previous < c; previous++) {
      const other = columns[previous];
      let dot = 0;
      for (let r = 0; r < rows; r++) dot += column[r] * other[r];
      for (let r = 0; r < rows; r++) column[r] -= dot * other[r];
    }
    let norm = 0;
    for (let r = 0; r < rows; r++) norm += column[r] * column[r];
    norm = Math.sqrt(norm) || 1;
    for (let r = 0; r < rows; r++) column[r] /= norm;
  });
  const out = new Float32Array(rows * cols);
  columns.forEach((column, c) => column.forEach((v, r) => (out[r * cols + c] = v)));
  return out;
}

/**
 * Eigenvalues and eigenvectors (columns) of a small symmetric matrix, by cyclic Jacobi rotations.
 */
function symmetricEigen(matrix: number[][]): { values: number[]; vectors: number[][] } {
  const n = matrix.length;
  const a = matrix.map((row) => [...row]);
  const v = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => +(i === j)));
  for (let sweep = 0; sweep < 50; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p][q] ** 2;
    if (off < 1e-20) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        if (Math.abs(a[p][q]) < 1e-30) continue;
        const theta = (a[q][q] - a[p][p]) / (2 * a[p][q]);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let r = 0; r < n; r++) {
          const [arp, arq] = [a[r][p], a[r][q]];
          a[r][p] = c * arp - s * arq;
          a[r][q] = s * arp + c * arq;
        }
        for (let r = 0; r < n; r++) {
          const [apr, aqr] = [a[p][r], a[q][r]];
          a[p][r] = c * apr - s * aqr;
          a[q][r] = s * apr + c * aqr;
          const [vrp, vrq] = [v[r][p], v[r][q]];
          v[r][p] = c * vrp - s * vrq;
          v[r][q] = s * vrp + c * vrq;
        }
      }
    }
  }
  return { values: a.map((row, i) => row[i]), vectors: v };
}

/**
 * A 2-D UMAP of `count` rows of `dim` features, run on their top 50 principal components.
 *
 * @param epochs optimisation epochs: the map settles well before umap-js's 500
 */
export function umap(
  values: Float32Array,
  count: number,
  dim: number,
  seed = 0,
  epochs = 200,
): Projection {
  const components = Math.min(50, dim, count);
  const reduced = pca(values, count, dim, components, seed);
  const rows = Array.from(
    { length: count },
    (_, i) => Array.from(reduced.coords.subarray(i * components, (i + 1) * components)),
  );
  const layout = new UMAP({
    nComponents: 2,
    nNeighbors: Math.min(15, count - 1), // UMAP's default, for a small map's fewer points
    nEpochs: epochs,
    random: mulberry32(seed + 1),
  }).fit(rows);
  return { coords: Float32Array.from(layout.flat()), count, dims: 2 };
}
