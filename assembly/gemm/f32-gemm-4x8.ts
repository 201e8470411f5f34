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
// best of interleaved runs), 33 -> 42 GFLOP/s plain and 42 -> 53 relaxed.
//
// Blocking: A is copied (pack.ts packA), KC columns by MC rows at a time, into A_BLOCK as
// [MC/4][kc][4], so the tile's four broadcasts come from one pointer at constant offsets (with
// A in place each row costs an address add per k). The block (128 KiB) stays in L2 while every
// panel's kc x 8 slice (16 KiB, in L1) passes over it. Measured by `npm run bench` on the
// shapes of bench/shapes.json: plain about 34-38 -> 43-46 GFLOP/s, relaxed 76-91 % -> 86-91 %
// of its peak loop. The plain build stays at 73-78 % of its peak loop (59 GFLOP/s, 8 distinct
// mul + add per iteration; Zen 4 issues two of each per cycle): a k step here is 16 FP
// operations, 2 loads and 4 broadcasts, and a peak loop with this tile's 4 broadcasts x 2
// multipliers also measures 47 GFLOP/s, so the issue slots, not the FP pipes, bound it. The K blocks keep every sum's order: the
// partial sums go to C (f32, exact) and the next block starts from C, so an element is still
// start + k = 0, 1, ... in turn.
//
// The relaxed build runs most rows in 5x8 tiles (f32-gemm-5x8.ts: 10 FMA chains instead of 8,
// 86-91 % -> 91-96 % of its peak loop on the bench's shapes of 64 rows or more), leaving a
// multiple of 4 rows to 4x8. Products of at most 4 columns run their rows in the lanes instead
// (f32-gemm-narrow.ts). Rows left over (m mod 4, all of them when m < 4) go, unpacked, to the
// 2x16 tile (f32-gemm-2x16.ts), which hands an odd last row to 1x24.
import { madd } from '../simd';
import { f32_gemm_2x16 } from './f32-gemm-2x16';
import { tile5x8 } from './f32-gemm-5x8';
import { NARROW_N, narrowRows } from './f32-gemm-narrow';
import { f32_gemm_packed_len, packA } from './pack';
import { accStart, accStore } from './tile';

/** Rows and columns (depth) of A packed at a time. */
const MC = 64, KC = 512;
const A_BLOCK = memory.data(MC * KC * 4, 16);

/** One 4x8 tile over kc steps: packed A quartets at ap, the panel's slice at bk, C rows from c0 (ldcB bytes apart). */
@inline function tile(kc: i32, ap: usize, bk: usize, c0: usize, ldcB: usize, bias: usize, nr: i32, accumulate: bool): void {
  const c1 = c0 + ldcB, c2 = c1 + ldcB, c3 = c2 + ldcB;
  let x0 = accStart(c0, bias, 0, nr, accumulate), y0 = accStart(c0, bias, 4, nr, accumulate);
  let x1 = accStart(c1, bias, 0, nr, accumulate), y1 = accStart(c1, bias, 4, nr, accumulate);
  let x2 = accStart(c2, bias, 0, nr, accumulate), y2 = accStart(c2, bias, 4, nr, accumulate);
  let x3 = accStart(c3, bias, 0, nr, accumulate), y3 = accStart(c3, bias, 4, nr, accumulate);
  const end = ap + (<usize>kc << 4);
  for (; ap < end; ap += 16) {
    const b0 = v128.load(bk), b1 = v128.load(bk, 16);
    bk += 32;
    let va = v128.load32_splat(ap);
    x0 = madd(va, b0, x0); y0 = madd(va, b1, y0);
    va = v128.load32_splat(ap, 4);
    x1 = madd(va, b0, x1); y1 = madd(va, b1, y1);
    va = v128.load32_splat(ap, 8);
    x2 = madd(va, b0, x2); y2 = madd(va, b1, y2);
    va = v128.load32_splat(ap, 12);
    x3 = madd(va, b0, x3); y3 = madd(va, b1, y3);
  }
  accStore(c0, x0, 0, nr); accStore(c0, y0, 4, nr);
  accStore(c1, x1, 0, nr); accStore(c1, y1, 4, nr);
  accStore(c2, x2, 0, nr); accStore(c2, y2, 4, nr);
  accStore(c3, x3, 0, nr); accStore(c3, y3, 4, nr);
}

export function f32_gemm(
  m: i32, n: i32, k: i32, a: usize, lda: i32, bp: usize, c: usize, ldc: i32, bias: usize, accumulate: bool,
): void {
  const ldaB = <usize>lda << 2;
  const ldcB = <usize>ldc << 2;
  // Relaxed build: 5x8 tiles over the first m5 rows, m5 the largest multiple of 5 that leaves
  // a multiple of 4 rows: 5a with a ≡ m (mod 4), so none for m = 1-4, 6-8, 11, 12, 16.
  let m5 = 0;
  if (ASC_FEATURE_RELAXED_SIMD && n > NARROW_N) {
    m5 = m / 5;
    while (m5 > 0 && (m - 5 * m5) & 3) m5--;
    m5 *= 5;
    if (m5) blocked(5, m5, n, k, a, ldaB, bp, c, ldcB, bias, accumulate);
  }
  const m4 = m5 + ((m - m5) & ~3);
  if (m4 > m5) blocked(4, m4 - m5, n, k, a + <usize>m5 * ldaB, ldaB, bp, c + <usize>m5 * ldcB, ldcB, bias, accumulate);
  if (m > m4) f32_gemm_2x16(m - m4, n, k, a + <usize>m4 * ldaB, lda, bp, c + <usize>m4 * ldcB, ldc, bias, accumulate);
}

/**
 * Rows [0, m) (a multiple of r = 4 or 5, a constant at each call) in r x 8 tiles: A packed
 * MC x KC at a time into A_BLOCK (packA), every panel's kc x 8 slice passed over the
 * block. Arguments as f32_gemm's, strides in bytes.
 */
@inline function blocked(r: i32, m: i32, n: i32, k: i32, a: usize, ldaB: usize, bp: usize, c: usize, ldcB: usize, bias: usize, accumulate: bool): void {
  const panels = (n + 7) >> 3;
  const panelBytes = <usize>k << 5;
  const mc = MC - MC % r;
  for (let k0 = 0; k0 < k; k0 += KC) {
    const kc = min(KC, k - k0);
    // Later K blocks continue from the partial sums in C.
    const acc = accumulate || k0 > 0;
    for (let i0 = 0; i0 < m; i0 += mc) {
      const rows = min(mc, m - i0);
      packA(r, rows, kc, a + <usize>i0 * ldaB + (<usize>k0 << 2), ldaB, A_BLOCK);
      if (n <= NARROW_N) {
        narrowRows(n, rows, kc, A_BLOCK, bp + (<usize>k0 << 5), c + <usize>i0 * ldcB, ldcB, bias, acc);
        continue;
      }
      for (let p = 0; p < panels; p++) {
        const n0 = p << 3;
        const nr = min(8, n - n0);
        const bk = bp + <usize>p * panelBytes + (<usize>k0 << 5);
        const biasP: usize = bias ? bias + (<usize>n0 << 2) : 0;
        const cp = c + <usize>i0 * ldcB + (<usize>n0 << 2);
        // Row group i's packed A starts at i * kc floats for either tile height.
        for (let i = 0; i < rows; i += r) {
          const ap = A_BLOCK + <usize>i * (<usize>kc << 2), ci = cp + <usize>i * ldcB;
          if (r == 5) tile5x8(kc, ap, bk, ci, ldcB, biasP, nr, acc);
          else tile(kc, ap, bk, ci, ldcB, biasP, nr, acc);
        }
      }
    }
  }
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
