// Packing of the GEMM operands: the right-hand side into 8-column panels, done once when
// weights load, and blocks of A into row groups for the 4x8 and 5x8 tiles (f32-gemm-4x8.ts).

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
@inline function packColumns4(r0: usize, r1: usize, r2: usize, r3: usize, ka: usize, out: usize, step: usize): void {
  const v0 = v128.load(r0 + ka), v1 = v128.load(r1 + ka), v2 = v128.load(r2 + ka), v3 = v128.load(r3 + ka);
  const t0 = i32x4.shuffle(v0, v1, 0, 4, 1, 5), t1 = i32x4.shuffle(v2, v3, 0, 4, 1, 5);
  const t2 = i32x4.shuffle(v0, v1, 2, 6, 3, 7), t3 = i32x4.shuffle(v2, v3, 2, 6, 3, 7);
  v128.store(out, i64x2.shuffle(t0, t1, 0, 2));
  v128.store(out + step, i64x2.shuffle(t0, t1, 1, 3));
  v128.store(out + 2 * step, i64x2.shuffle(t2, t3, 0, 2));
  v128.store(out + 3 * step, i64x2.shuffle(t2, t3, 1, 3));
}

/**
 * Copies A's rows [0, rows) (rows a multiple of r = 4 or 5, a constant at each call), columns
 * [0, kc), row stride ldaB bytes, into out as [rows / r][kc][r]: row groups interleaved column
 * by column (rows 0-3 by packColumns4, a fifth row by single floats).
 */
@inline export function packA(r: i32, rows: i32, kc: i32, a: usize, ldaB: usize, out: usize): void {
  const kc4 = kc & ~3, rB = <usize>r << 2;
  for (let i = 0; i < rows; i += r) {
    const r0 = a + <usize>i * ldaB, r1 = r0 + ldaB, r2 = r1 + ldaB, r3 = r2 + ldaB, r4 = r3 + ldaB;
    let o = out + <usize>i * (<usize>kc << 2);
    for (let kk = 0; kk < kc4; kk += 4) {
      const ka = <usize>kk << 2;
      packColumns4(r0, r1, r2, r3, ka, o, rB);
      if (r == 5) {
        store<f32>(o, load<f32>(r4 + ka), 16);
        store<f32>(o, load<f32>(r4 + ka, 4), 36);
        store<f32>(o, load<f32>(r4 + ka, 8), 56);
        store<f32>(o, load<f32>(r4 + ka, 12), 76);
      }
      o += rB << 2;
    }
    for (let kk = kc4; kk < kc; kk++) {
      const ka = <usize>kk << 2;
      store<f32>(o, load<f32>(r0 + ka));
      store<f32>(o, load<f32>(r1 + ka), 4);
      store<f32>(o, load<f32>(r2 + ka), 8);
      store<f32>(o, load<f32>(r3 + ka), 12);
      if (r == 5) store<f32>(o, load<f32>(r4 + ka), 16);
      o += rB;
    }
  }
}
