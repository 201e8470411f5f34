// One-row products against weights packed for them (GEMV: the one-step shape of recurrent and
// projection layers, memory-bound): y[n] = start + a1 · B[r0 .. r0 + k1) + a2 · B[r0 + k1 ..
// r0 + k1 + k2), the rows of B taken in order, so one call can multiply the concatenation
// [a1 ‖ a2] (an LSTM step's [x ‖ h] against [W; U]) or a slice of B's rows (h against U alone).
//
// Packing (f32_gemv_pack_b): B [rows, n] as column panels of GEMV_W = 28 floats, each panel
// `rows` rows of its width, row-major: panel p at bp + p * rows * 112 bytes; the last panel is
// n - 28 p wide rounded up to 4 (zero columns past n), so at most 3 padding columns are read.
// A panel is one contiguous stream: each k reads 112 bytes at one pointer, against the three
// 32-byte streams of the GEMM packing (f32_gemm_pack_b's 8-column panels, which f32_gemm's
// tiles need).
//
// Sums: start is y (accumulate), else bias (0 = none), else zero; then one madd per row in row
// order, as every GEMM tile sums (tile.ts), so an element of y is bit-identical to f32_gemm's
// with the same start and rows: a recurrent step equals the layer's GEMM + GEMV split.
//
// Micro-kernel 1x28: 7 accumulator chains + 7 loaded vectors + the A broadcast = 15 xmm
// registers, all V8 keeps (1x32 spills, 36 GB/s). 7 chains of the relaxed FMA (latency 4 on
// Zen 4) keep 1.75 FMAs in flight per cycle, past the memory's rate. Measured (bench/kernels/
// gemm.bench.js, 1 x 2048 x 512, 4 MiB, Zen 4, relaxed / plain, GB/s of weights): f32_gemm's
// 1x24 on 8-column panels 75 / 66, this kernel 88 / 72, the read bound (f32_peak_read) 97. The
// 1x24 loop reading its three 8-column panels with OR instead of madd reaches only 84, and this
// loop with OR 90: one wide stream is what gains; the rest is the loop's own cost.
import { madd } from '../simd';
import { accStart, accStore, nextSweepBackward, panelledLen, panelWidth } from './tile';

/** Panel width in floats. */
const GEMV_W = 28;

/** Floats needed to pack a [rows, n] matrix for f32_gemv. */
export function f32_gemv_packed_len(rows: i32, n: i32): i32 {
  return panelledLen(rows, n, GEMV_W);
}

/**
 * Packs B [k, n] (row-major, row stride ldb elements) into rows [r0, r0 + k) of a GEMV packing
 * of `rows` rows (see above); call it once per block of rows to stack matrices (an LSTM's
 * [W; U]: rows din + u, W at r0 = 0, U at r0 = din). Padding columns are written as zeros.
 */
export function f32_gemv_pack_b(rows: i32, r0: i32, k: i32, n: i32, b: usize, ldb: i32, out: usize): void {
  const panels = (n + GEMV_W - 1) / GEMV_W;
  for (let p = 0; p < panels; p++) {
    const n0 = p * GEMV_W, w = panelWidth(n, p, GEMV_W), nr = min(w, n - n0);
    let o = out + (<usize>(rows * n0 + r0 * w) << 2);
    for (let r = 0; r < k; r++) {
      const src = b + (<usize>(r * ldb + n0) << 2);
      for (let j = 0; j < w; j++) store<f32>(o + (<usize>j << 2), j < nr ? load<f32>(src + (<usize>j << 2)) : 0);
      o += <usize>w << 2;
    }
  }
}

/**
 * One panel of width w (4..28, a multiple of 4, constant at every call: the unused chains
 * vanish): y[n0 .. n0 + nr) of the header's formula, from the panel's row r0 at b (rows w
 * floats apart), a1's k1 rows then a2's k2.
 */
@inline function panel(w: i32, b: usize, k1: i32, a1: usize, k2: i32, a2: usize, y: usize, bias: usize, nr: i32, accumulate: bool): void {
  let x0 = accStart(y, bias, 0, nr, accumulate), x1 = accStart(y, bias, 4, nr, accumulate);
  let x2 = accStart(y, bias, 8, nr, accumulate), x3 = accStart(y, bias, 12, nr, accumulate);
  let x4 = accStart(y, bias, 16, nr, accumulate), x5 = accStart(y, bias, 20, nr, accumulate);
  let x6 = accStart(y, bias, 24, nr, accumulate);
  const step = <usize>w << 2;
  for (let s = 0; s < 2; s++) {
    const a = s ? a2 : a1, aEnd = a + (<usize>(s ? k2 : k1) << 2);
    for (let ap = a; ap < aEnd; ap += 4) {
      const va = v128.load32_splat(ap);
      x0 = madd(va, v128.load(b), x0);
      if (w > 4) x1 = madd(va, v128.load(b, 16), x1);
      if (w > 8) x2 = madd(va, v128.load(b, 32), x2);
      if (w > 12) x3 = madd(va, v128.load(b, 48), x3);
      if (w > 16) x4 = madd(va, v128.load(b, 64), x4);
      if (w > 20) x5 = madd(va, v128.load(b, 80), x5);
      if (w > 24) x6 = madd(va, v128.load(b, 96), x6);
      b += step;
    }
  }
  accStore(y, x0, 0, nr);
  accStore(y, x1, 4, nr);
  accStore(y, x2, 8, nr);
  accStore(y, x3, 12, nr);
  accStore(y, x4, 16, nr);
  accStore(y, x5, 20, nr);
  accStore(y, x6, 24, nr);
}

/**
 * y[0 .. n) = start + Σ_{r < k1} a1[r] B[r0 + r] + Σ_{r < k2} a2[r] B[r0 + k1 + r], B packed by
 * f32_gemv_pack_b with `rows` rows (r0 + k1 + k2 <= rows); start = y when accumulating, else
 * bias (n floats, 0 = none), else zero. Any n >= 1, k1, k2 >= 0 (a pointer whose count is 0 is
 * not read); no alignment assumed; never reads a1, a2 or bias, nor writes y, past their last
 * element; y must not overlap a1, a2 or B.
 */
export function f32_gemv(
  n: i32, rows: i32, r0: i32, k1: i32, a1: usize, k2: i32, a2: usize, bp: usize, y: usize, bias: usize, accumulate: bool,
): void {
  const panels = (n + GEMV_W - 1) / GEMV_W;
  // Every other call over the same (L2-sized) packing runs its panels last to first (tile.ts).
  const backward = nextSweepBackward(bp, <usize>f32_gemv_packed_len(rows, n) << 2);
  for (let q = 0; q < panels; q++) {
    const p = backward ? panels - 1 - q : q;
    const n0 = p * GEMV_W, w = panelWidth(n, p, GEMV_W), nr = min(GEMV_W, n - n0);
    const yp = y + (<usize>n0 << 2), biasP: usize = bias ? bias + (<usize>n0 << 2) : 0;
    const b = bp + (<usize>(rows * n0 + r0 * w) << 2);
    if (w == GEMV_W) panel(28, b, k1, a1, k2, a2, yp, biasP, nr, accumulate);
    else if (w == 24) panel(24, b, k1, a1, k2, a2, yp, biasP, nr, accumulate);
    else if (w == 20) panel(20, b, k1, a1, k2, a2, yp, biasP, nr, accumulate);
    else if (w == 16) panel(16, b, k1, a1, k2, a2, yp, biasP, nr, accumulate);
    else if (w == 12) panel(12, b, k1, a1, k2, a2, yp, biasP, nr, accumulate);
    else if (w == 8) panel(8, b, k1, a1, k2, a2, yp, biasP, nr, accumulate);
    else panel(4, b, k1, a1, k2, a2, yp, biasP, nr, accumulate);
  }
}
