// Parameter initialisers (seeded). Models normally load trained weights; these give a built
// model sensible random values, as the reference's defaults do.
import type { Initializer } from './layer.js';
import { normal } from './testing/random.js';

export const zeros: Initializer = (out) => out.fill(0);
export const ones: Initializer = (out) => out.fill(1);
export const constant = (v: number): Initializer => (out) => out.fill(v);

/** Uniform in [-limit, limit]. */
export const uniform = (limit: number): Initializer => (out, random) => {
  for (let i = 0; i < out.length; i++) out[i] = (2 * random() - 1) * limit;
};

/** Normal(0, std). */
export const gaussian = (std: number): Initializer => (out, random) => {
  const g = normal(random);
  for (let i = 0; i < out.length; i++) out[i] = g() * std;
};

/** Glorot (Xavier) uniform: limit sqrt(6 / (fanIn + fanOut)). */
export const glorotUniform = (fanIn: number, fanOut: number): Initializer => uniform(Math.sqrt(6 / Math.max(1, fanIn + fanOut)));

/** LeCun normal: std sqrt(1 / fanIn) (flax's default kernel init). */
export const lecunNormal = (fanIn: number): Initializer => gaussian(Math.sqrt(1 / Math.max(1, fanIn)));

/**
 * A random orthogonal [rows, cols] matrix, row-major (flax's orthogonal with column_axis=-1):
 * orthonormal columns when rows >= cols, orthonormal rows otherwise. Gram-Schmidt on a normal
 * matrix, which is QR with R's diagonal made positive, as flax does.
 */
export const orthogonal = (rows: number, cols: number): Initializer => (out, random) => {
  const g = normal(random);
  const n = Math.max(rows, cols), k = Math.min(rows, cols);
  // q holds k vectors of length n (the columns of the tall matrix), vector-major; vector j
  // starts at j * n. Plain loops over offsets, with no subarray views or mapping callbacks:
  // this runs once per build, mostly before V8 optimises it, where every allocation counts.
  const q = new Float64Array(n * k);
  for (let i = 0; i < q.length; i++) q[i] = g();
  for (let v = 0; v < n * k; v += n) {
    for (let w = 0; w < v; w += n) {
      let dot = 0;
      for (let r = 0; r < n; r++) dot += q[v + r]! * q[w + r]!;
      for (let r = 0; r < n; r++) q[v + r]! -= dot * q[w + r]!;
    }
    let norm = 0;
    for (let r = 0; r < n; r++) norm += q[v + r]! ** 2;
    norm = Math.sqrt(norm) || 1;
    for (let r = 0; r < n; r++) q[v + r]! /= norm;
  }
  // Tall (rows >= cols): out[r, c] = q[c][r]; wide: the transpose, out[r, c] = q[r][c].
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[r * cols + c] = rows >= cols ? q[c * n + r]! : q[r * n + c]!;
};
