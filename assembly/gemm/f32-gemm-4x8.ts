// Packed SGEMM: C[m, n] = A[m, k] · B[k, n] (+ bias[n]) (+ C when accumulating).
//
// A is row-major with row stride lda elements (rows may overlap: a strided convolution passes
// lda = stride * channels). B is packed by f32_gemm_pack_b into panels [ceil(n/8)][k][8].
// C is row-major with row stride ldc. bias is a pointer to n floats, or 0 for none; it is added
// only when not accumulating. Any m, n, k >= 1 (m = 0 does nothing); no alignment assumed; never
// writes outside C's m x n elements and never reads A or bias past their last element (packed
// panels are whole). C must not overlap A or B.
//
// Micro-kernel 4x8: 8 accumulators + 2 B vectors + 1 A broadcast = 11 of V8's 15 usable xmm
// registers, so the tile stays in registers. Each A broadcast is a load32_splat (V8 emits one
// vbroadcastss from memory) rather than splat(load), which costs a scalar load plus a shuffle
// on an FP port the madds need: measured at 512 x 512 x 512 (bench/kernels/gemm.bench.js, Zen 4,
// best of interleaved runs), 33 -> 42 GFLOP/s plain and 42 -> 53 relaxed. Cache blocking
// (K in blocks of 128..512, rows in blocks of 32..256) measured no faster on the shapes of
// bench/shapes.json, so panels stay outermost; packing A into [m/4][k][4] (one pointer for
// the four broadcasts) gained 8 % plain and 3 % relaxed before counting the packing itself,
// so A is read in place. Rows left over (m mod 4, all of them when
// m < 4) go to the 2x16 tile (f32-gemm-2x16.ts), which hands an odd last row to 1x24.
import { madd } from '../simd';
import { f32_gemm_2x16 } from './f32-gemm-2x16';
import { f32_gemm_packed_len } from './pack';
import { accStart, accStore } from './tile';

export function f32_gemm(
  m: i32, n: i32, k: i32, a: usize, lda: i32, bp: usize, c: usize, ldc: i32, bias: usize, accumulate: bool,
): void {
  const panels = (n + 7) >> 3;
  const panelBytes = <usize>k << 5;
  const ldaB = <usize>lda << 2;
  const ldcB = <usize>ldc << 2;
  const m4 = m & ~3;
  // Panels outermost: one panel (k x 32 bytes) stays in cache across all row tiles.
  for (let p = 0; p < panels && m4 > 0; p++) {
    const n0 = p << 3;
    const nr = min(8, n - n0);
    const bpan = bp + <usize>p * panelBytes;
    const biasP: usize = bias ? bias + (<usize>n0 << 2) : 0;
    // Main loop: 4 rows x 8 columns.
    for (let i = 0; i < m4; i += 4) {
      const a0 = a + <usize>i * ldaB;
      const a1 = a0 + ldaB, a2 = a1 + ldaB, a3 = a2 + ldaB;
      const c0 = c + <usize>i * ldcB + (<usize>n0 << 2);
      const c1 = c0 + ldcB, c2 = c1 + ldcB, c3 = c2 + ldcB;
      let x0 = accStart(c0, biasP, 0, nr, accumulate), y0 = accStart(c0, biasP, 4, nr, accumulate);
      let x1 = accStart(c1, biasP, 0, nr, accumulate), y1 = accStart(c1, biasP, 4, nr, accumulate);
      let x2 = accStart(c2, biasP, 0, nr, accumulate), y2 = accStart(c2, biasP, 4, nr, accumulate);
      let x3 = accStart(c3, biasP, 0, nr, accumulate), y3 = accStart(c3, biasP, 4, nr, accumulate);
      let bk = bpan;
      for (let kk = 0; kk < k; kk++) {
        const ka = <usize>kk << 2;
        const b0 = v128.load(bk), b1 = v128.load(bk, 16);
        bk += 32;
        let va = v128.load32_splat(a0 + ka);
        x0 = madd(va, b0, x0); y0 = madd(va, b1, y0);
        va = v128.load32_splat(a1 + ka);
        x1 = madd(va, b0, x1); y1 = madd(va, b1, y1);
        va = v128.load32_splat(a2 + ka);
        x2 = madd(va, b0, x2); y2 = madd(va, b1, y2);
        va = v128.load32_splat(a3 + ka);
        x3 = madd(va, b0, x3); y3 = madd(va, b1, y3);
      }
      accStore(c0, x0, 0, nr); accStore(c0, y0, 4, nr);
      accStore(c1, x1, 0, nr); accStore(c1, y1, 4, nr);
      accStore(c2, x2, 0, nr); accStore(c2, y2, 4, nr);
      accStore(c3, x3, 0, nr); accStore(c3, y3, 4, nr);
    }
  }
  // Remaining rows: 2x16 tiles.
  if (m > m4) f32_gemm_2x16(m - m4, n, k, a + <usize>m4 * ldaB, lda, bp, c + <usize>m4 * ldcB, ldc, bias, accumulate);
}

/**
 * `batch` independent f32_gemm problems of the same sizes: for j < batch,
 * C_j = A_j · B_j (+ bias_j) with A_j = a + j * strideA elements, C_j = c + j * strideC
 * elements, B_j the j-th of `batch` consecutive packed matrices (f32_gemm_packed_len(k, n)
 * floats each) and bias_j = bias + j * n elements (bias [batch, n], or 0 for none).
 * Einsums with a letter shared by input, kernel and output (e.g. "...ab,abc->...bac") run as
 * one call of this.
 */
export function f32_gemm_batch(
  batch: i32, m: i32, n: i32, k: i32, a: usize, lda: i32, strideA: i32, bp: usize,
  c: usize, ldc: i32, strideC: i32, bias: usize, accumulate: bool,
): void {
  const packedBytes = <usize>f32_gemm_packed_len(k, n) << 2;
  for (let j = 0; j < batch; j++) {
    f32_gemm(
      m, n, k, a + (<usize>(j * strideA) << 2), lda, bp + <usize>j * packedBytes,
      c + (<usize>(j * strideC) << 2), ldc, bias ? bias + (<usize>(j * n) << 2) : 0, accumulate,
    );
  }
}
