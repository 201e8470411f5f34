// Packed SGEMM one row at a time (GEMV: the one-step shape m = 1, and the odd last row of the
// other tiles): C[m, n] = A[m, k] · B[k, n] (+ bias[n]) (+ C when accumulating), same contract
// as f32_gemm.
//
// A row-major with row stride lda elements; B packed by f32_gemm_pack_b as panels
// [ceil(n/8)][k][8]; C row-major with row stride ldc; bias n floats or 0 for none, added only
// when not accumulating. Any m, n, k >= 1; no alignment assumed; never writes outside C's
// m x n elements and never reads A or bias past their last element (packed panels are whole).
//
// Micro-kernel 1x24: one row over three panels, 6 accumulator chains, each B vector loaded
// once and used once, so a row streams the weights at the rate the madd chains allow (the
// relaxed build's FMA has a latency of 4 cycles on Zen 4: 6 chains keep 1.5 FMAs in flight per
// cycle). A panel pointer per panel advances 32 bytes per k, and A's broadcast is a
// load32_splat (one load, no shuffle). Measured (GB/s of packed weights, bench/kernels/
// gemm.bench.js, 1 x 1120 x 1024, Zen 4, best of interleaved runs, plain / relaxed): the 2x16
// tile on one row 48 / 53; this tile 66 / 80; the read bound (f32_peak_read) 97. Wider tiles
// lose: 1x32 (8 chains) spills in V8 (39 / 36); 1x28 (7 chains, 4 panel pointers) 69 / 77.
import { madd } from '../simd';
import { accStart, accStore, nextSweepBackward } from './tile';

/**
 * One row over `w` (1..3) panels at b0, b0 + panelBytes, ...: nr valid columns (1..8w). w is
 * a constant at every call, so each inlines to a straight loop without the unused chains.
 */
@inline function row(w: i32, k: i32, a: usize, b0: usize, panelBytes: usize, c: usize, bias: usize, nr: i32, accumulate: bool): void {
  let b1 = b0 + panelBytes, b2 = b1 + panelBytes;
  let x0 = accStart(c, bias, 0, nr, accumulate), x1 = accStart(c, bias, 4, nr, accumulate);
  let x2 = f32x4.splat(0), x3 = x2, x4 = x2, x5 = x2;
  if (w >= 2) {
    x2 = accStart(c, bias, 8, nr, accumulate);
    x3 = accStart(c, bias, 12, nr, accumulate);
  }
  if (w >= 3) {
    x4 = accStart(c, bias, 16, nr, accumulate);
    x5 = accStart(c, bias, 20, nr, accumulate);
  }
  const aEnd = a + (<usize>k << 2);
  for (let ap = a; ap < aEnd; ap += 4) {
    const va = v128.load32_splat(ap);
    x0 = madd(va, v128.load(b0), x0);
    x1 = madd(va, v128.load(b0, 16), x1);
    b0 += 32;
    if (w >= 2) {
      x2 = madd(va, v128.load(b1), x2);
      x3 = madd(va, v128.load(b1, 16), x3);
      b1 += 32;
    }
    if (w >= 3) {
      x4 = madd(va, v128.load(b2), x4);
      x5 = madd(va, v128.load(b2, 16), x5);
      b2 += 32;
    }
  }
  accStore(c, x0, 0, nr);
  accStore(c, x1, 4, nr);
  if (w >= 2) {
    accStore(c, x2, 8, nr);
    accStore(c, x3, 12, nr);
  }
  if (w >= 3) {
    accStore(c, x4, 16, nr);
    accStore(c, x5, 20, nr);
  }
}

export function f32_gemm_1x24(
  m: i32, n: i32, k: i32, a: usize, lda: i32, bp: usize, c: usize, ldc: i32, bias: usize, accumulate: bool,
): void {
  const panels = (n + 7) >> 3;
  const panelBytes = <usize>k << 5;
  // Groups of three panels, then the last one or two: groups >= 1 of them.
  const triples = panels / 3, groups = (panels + 2) / 3;
  for (let i = 0; i < m; i++) {
    const ai = a + (<usize>(i * lda) << 2), ci = c + (<usize>(i * ldc) << 2);
    // Every other row over the same (L2-sized) matrix runs its groups last to first (tile.ts).
    const backward = nextSweepBackward(bp, <usize>panels * panelBytes);
    for (let q = 0; q < groups; q++) {
      const p = (backward ? groups - 1 - q : q) * 3, n0 = p << 3;
      const b = bp + <usize>p * panelBytes, cp = ci + (<usize>n0 << 2), biasP: usize = bias ? bias + (<usize>n0 << 2) : 0;
      if (p < triples * 3) row(3, k, ai, b, panelBytes, cp, biasP, min(24, n - n0), accumulate);
      else if (panels - p == 2) row(2, k, ai, b, panelBytes, cp, biasP, n - n0, accumulate);
      else row(1, k, ai, b, panelBytes, cp, biasP, n - n0, accumulate);
    }
  }
}
