// Packing of the GEMM right-hand side into 8-column panels, done once when weights load.

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
