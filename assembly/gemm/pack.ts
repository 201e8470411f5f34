// Packing of the GEMM right-hand side into 8-column panels, done once when weights load, and
// the transpose both A packings (f32-gemm-4x8.ts, f32-gemm-5x8.ts) are built from.

/** Floats needed to pack a [k, n] matrix: ceil(n / 8) panels of k rows of 8. */
export function f32_gemm_packed_len(k: i32, n: i32): i32 {
  return ((n + 7) >> 3) * k * 8;
}

/**
 * Packs B [k, n] (row-major, row stride ldb elements) as panels out[ceil(n/8)][k][8]; the columns
 * of the last panel past n are zero, so kernels can always load whole panels.
 */
export function f32_gemm_pack_b(k: i32, n: i32, b: usize, ldb: i32, out: usize): void {
  const panels = (n + 7) >> 3;
  let o = out;
  for (let p = 0; p < panels; p++) {
    const n0 = p << 3;
    const nr = min(8, n - n0);
    for (let kk = 0; kk < k; kk++) {
      const src = b + (<usize>(kk * ldb + n0) << 2);
      if (nr == 8) {
        v128.store(o, v128.load(src));
        v128.store(o, v128.load(src, 16), 16);
      } else {
        for (let j = 0; j < 8; j++) store<f32>(o + (<usize>j << 2), j < nr ? load<f32>(src + (<usize>j << 2)) : 0);
      }
      o += 32;
    }
  }
}

/**
 * Columns [k, k + 4) of four rows of A (ka = k * 4 bytes into each row), transposed: the four
 * floats of column k + j go to out + j * step (a 16-byte store each; step >= 16).
 */
@inline export function packColumns4(r0: usize, r1: usize, r2: usize, r3: usize, ka: usize, out: usize, step: usize): void {
  const v0 = v128.load(r0 + ka), v1 = v128.load(r1 + ka), v2 = v128.load(r2 + ka), v3 = v128.load(r3 + ka);
  const t0 = i32x4.shuffle(v0, v1, 0, 4, 1, 5), t1 = i32x4.shuffle(v2, v3, 0, 4, 1, 5);
  const t2 = i32x4.shuffle(v0, v1, 2, 6, 3, 7), t3 = i32x4.shuffle(v2, v3, 2, 6, 3, 7);
  v128.store(out, i64x2.shuffle(t0, t1, 0, 2));
  v128.store(out + step, i64x2.shuffle(t0, t1, 1, 3));
  v128.store(out + 2 * step, i64x2.shuffle(t2, t3, 0, 2));
  v128.store(out + 3 * step, i64x2.shuffle(t2, t3, 1, 3));
}
