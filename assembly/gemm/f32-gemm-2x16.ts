// Packed SGEMM for few rows (the one-step shapes: m = batch when streaming one step at a time):
// C[m, n] = A[m, k] · B[k, n] (+ bias[n]) (+ C when accumulating), same contract as f32_gemm.
//
// A row-major with row stride lda elements (rows may overlap); B packed by f32_gemm_pack_b as
// panels [ceil(n/8)][k][8]; C row-major with row stride ldc; bias n floats or 0 for none, added
// only when not accumulating. Any m, n, k >= 1; no alignment assumed; never writes outside C's
// m x n elements and never reads A or bias past their last element (packed panels are whole).
//
// Micro-kernel 2x16: two rows by two panels (16 columns): 8 accumulator chains (8 accumulators
// + 4 B vectors + 2 A broadcasts = 14 registers), each B vector loaded once for both rows. A
// broadcasts are load32_splat, as in 4x8. Measured with f32_gemm, m = 2, k = n = 512, Zen 4,
// Node 20, GFLOP/s plain / relaxed: 1x8 rows 15 / 15; this tile 35 / 42, and 37 / 48 with
// load32_splat. An odd last row goes to the 1x24 tile (f32-gemm-1x24.ts), which keeps 6
// chains on one row.
import { madd } from '../simd';
import { f32_gemm_1x24 } from './f32-gemm-1x24';
import { accStart, accStore } from './tile';

/**
 * One tile: rows a0/a1 into c0/c1, over one panel at b0 or, when `wide`, two panels at b0 and
 * b1; nr = valid columns (1..8, or 1..16 when wide). wide is a constant at every call, so each
 * call inlines to a straight loop without the unused chains.
 */
@inline function tile(
  wide: bool, k: i32, a0: usize, a1: usize, b0: usize, b1: usize, c0: usize, c1: usize, bias: usize, nr: i32, accumulate: bool,
): void {
  let x0 = accStart(c0, bias, 0, nr, accumulate), x1 = accStart(c0, bias, 4, nr, accumulate);
  let y0 = accStart(c1, bias, 0, nr, accumulate), y1 = accStart(c1, bias, 4, nr, accumulate);
  let x2 = f32x4.splat(0), x3 = x2, y2 = x2, y3 = x2;
  if (wide) {
    x2 = accStart(c0, bias, 8, nr, accumulate);
    x3 = accStart(c0, bias, 12, nr, accumulate);
    y2 = accStart(c1, bias, 8, nr, accumulate);
    y3 = accStart(c1, bias, 12, nr, accumulate);
  }
  for (let kk = 0; kk < k; kk++) {
    const ka = <usize>kk << 2, kb = <usize>kk << 5;
    const w0 = v128.load(b0 + kb), w1 = v128.load(b0 + kb, 16);
    let w2 = w0, w3 = w1;
    if (wide) {
      w2 = v128.load(b1 + kb);
      w3 = v128.load(b1 + kb, 16);
    }
    const va = v128.load32_splat(a0 + ka);
    x0 = madd(va, w0, x0);
    x1 = madd(va, w1, x1);
    if (wide) {
      x2 = madd(va, w2, x2);
      x3 = madd(va, w3, x3);
    }
    const vb = v128.load32_splat(a1 + ka);
    y0 = madd(vb, w0, y0);
    y1 = madd(vb, w1, y1);
    if (wide) {
      y2 = madd(vb, w2, y2);
      y3 = madd(vb, w3, y3);
    }
  }
  accStore(c0, x0, 0, nr);
  accStore(c0, x1, 4, nr);
  accStore(c1, y0, 0, nr);
  accStore(c1, y1, 4, nr);
  if (wide) {
    accStore(c0, x2, 8, nr);
    accStore(c0, x3, 12, nr);
    accStore(c1, y2, 8, nr);
    accStore(c1, y3, 12, nr);
  }
}

export function f32_gemm_2x16(
  m: i32, n: i32, k: i32, a: usize, lda: i32, bp: usize, c: usize, ldc: i32, bias: usize, accumulate: bool,
): void {
  const panels = (n + 7) >> 3;
  const panelBytes = <usize>k << 5;
  const ldaB = <usize>lda << 2;
  const ldcB = <usize>ldc << 2;
  const m2 = m & ~1;
  // Pairs of panels outermost, so both stay in cache across the rows.
  for (let p = 0; p < panels && m2 > 0; p += 2) {
    const n0 = p << 3;
    const nr = min(16, n - n0);
    const b0 = bp + <usize>p * panelBytes, b1 = b0 + panelBytes;
    const biasP: usize = bias ? bias + (<usize>n0 << 2) : 0;
    const wide = p + 1 < panels;
    // Main loop: 2 rows.
    for (let i = 0; i < m2; i += 2) {
      const a0 = a + <usize>i * ldaB, c0 = c + <usize>i * ldcB + (<usize>n0 << 2);
      if (wide) tile(true, k, a0, a0 + ldaB, b0, b1, c0, c0 + ldcB, biasP, nr, accumulate);
      else tile(false, k, a0, a0 + ldaB, b0, b1, c0, c0 + ldcB, biasP, nr, accumulate);
    }
  }
  // Last row when m is odd.
  if (m > m2) f32_gemm_1x24(1, n, k, a + <usize>m2 * ldaB, lda, bp, c + <usize>m2 * ldcB, ldc, bias, accumulate);
}
