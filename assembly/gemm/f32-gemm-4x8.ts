// Packed SGEMM: C[m, n] = A[m, k] · B[k, n] (+ bias[n]) (+ C when accumulating).
//
// A is row-major with row stride lda elements (rows may overlap: a strided convolution passes
// lda = stride * channels). B is packed by f32_gemm_pack_b into panels [ceil(n/8)][k][8].
// C is row-major with row stride ldc. bias is a pointer to n floats, or 0 for none; it is added
// only when not accumulating. Any m, n, k >= 1; no alignment assumed; never writes outside C's
// m x n elements and never reads A or bias past their last element (packed panels are whole).
//
// Micro-kernel 4x8: 8 accumulators + 2 B vectors + 1 A broadcast = 11 of V8's 15 usable xmm
// registers, so the tile stays in registers. Rows left over (m mod 4) use the 1x8 tile.
import { madd, storeLanes, loadLanes } from '../simd';

@inline function initAcc(c: usize, bias: usize, nr: i32, accumulate: bool, hi: bool): v128 {
  // hi selects columns 4..7 of the panel.
  const off: usize = hi ? 16 : 0;
  const lanes = hi ? nr - 4 : nr;
  if (accumulate) return loadLanes(c + off, lanes);
  if (bias) return loadLanes(bias + off, lanes);
  return f32x4.splat(0);
}

@inline function storeRow(c: usize, lo: v128, hi: v128, nr: i32): void {
  if (nr == 8) {
    v128.store(c, lo);
    v128.store(c, hi, 16);
  } else if (nr > 4) {
    v128.store(c, lo);
    storeLanes(c + 16, hi, nr - 4);
  } else {
    storeLanes(c, lo, nr);
  }
}

export function f32_gemm(
  m: i32, n: i32, k: i32, a: usize, lda: i32, bp: usize, c: usize, ldc: i32, bias: usize, accumulate: bool,
): void {
  const panels = (n + 7) >> 3;
  const panelBytes = <usize>k << 5;
  const ldaB = <usize>lda << 2;
  const ldcB = <usize>ldc << 2;
  for (let p = 0; p < panels; p++) {
    const n0 = p << 3;
    const nr = min(8, n - n0);
    const bpan = bp + <usize>p * panelBytes;
    const biasP: usize = bias ? bias + (<usize>n0 << 2) : 0;
    let i = 0;
    // Main loop: 4 rows x 8 columns.
    for (; i + 4 <= m; i += 4) {
      const a0 = a + <usize>i * ldaB;
      const a1 = a0 + ldaB, a2 = a1 + ldaB, a3 = a2 + ldaB;
      const c0 = c + <usize>i * ldcB + (<usize>n0 << 2);
      const c1 = c0 + ldcB, c2 = c1 + ldcB, c3 = c2 + ldcB;
      let x0 = initAcc(c0, biasP, nr, accumulate, false), y0 = nr > 4 ? initAcc(c0, biasP, nr, accumulate, true) : f32x4.splat(0);
      let x1 = initAcc(c1, biasP, nr, accumulate, false), y1 = nr > 4 ? initAcc(c1, biasP, nr, accumulate, true) : f32x4.splat(0);
      let x2 = initAcc(c2, biasP, nr, accumulate, false), y2 = nr > 4 ? initAcc(c2, biasP, nr, accumulate, true) : f32x4.splat(0);
      let x3 = initAcc(c3, biasP, nr, accumulate, false), y3 = nr > 4 ? initAcc(c3, biasP, nr, accumulate, true) : f32x4.splat(0);
      let bk = bpan;
      for (let kk = 0; kk < k; kk++) {
        const ka = <usize>kk << 2;
        const b0 = v128.load(bk), b1 = v128.load(bk, 16);
        bk += 32;
        let va = f32x4.splat(load<f32>(a0 + ka));
        x0 = madd(va, b0, x0); y0 = madd(va, b1, y0);
        va = f32x4.splat(load<f32>(a1 + ka));
        x1 = madd(va, b0, x1); y1 = madd(va, b1, y1);
        va = f32x4.splat(load<f32>(a2 + ka));
        x2 = madd(va, b0, x2); y2 = madd(va, b1, y2);
        va = f32x4.splat(load<f32>(a3 + ka));
        x3 = madd(va, b0, x3); y3 = madd(va, b1, y3);
      }
      storeRow(c0, x0, y0, nr);
      storeRow(c1, x1, y1, nr);
      storeRow(c2, x2, y2, nr);
      storeRow(c3, x3, y3, nr);
    }
    // Remaining rows: 1 x 8.
    for (; i < m; i++) {
      const a0 = a + <usize>i * ldaB;
      const c0 = c + <usize>i * ldcB + (<usize>n0 << 2);
      let x0 = initAcc(c0, biasP, nr, accumulate, false), y0 = nr > 4 ? initAcc(c0, biasP, nr, accumulate, true) : f32x4.splat(0);
      let bk = bpan;
      for (let kk = 0; kk < k; kk++) {
        const va = f32x4.splat(load<f32>(a0 + (<usize>kk << 2)));
        x0 = madd(va, v128.load(bk), x0);
        y0 = madd(va, v128.load(bk, 16), y0);
        bk += 32;
      }
      storeRow(c0, x0, y0, nr);
    }
  }
}
