// int8 weight storage for one-row products (the memory-bound step of Dense and LSTM): weights
// are int8 with one f32 scale per output column (symmetric: scale = max |column| / 127), each
// input row is quantised on the fly to int16 with one scale (max |row| / 32767), and the
// products are summed exactly in int32 by i32x4.dot_i16x8_s, 8 multiply-adds per instruction.
// The int32 sums are converted every 512 rows of B (256 pairs: |sum| <= 256 * 2 * 32768 * 127 <
// 2^31, so they never overflow) and at the end of each input segment: each sum times its
// column's scale and the segment's, in f64, rounded once to f32 and added to y, which starts
// at the bias. The scales never meet in f32, so y overflows or underflows only where the f32
// sums of the same blocks would (applying the column scale after the segment's put y * 127 /
// max |column| in f32 and overflowed about 100x below f32's range).
//
// A NaN or an infinity in an input row makes the row's scale NaN or infinite and every output
// of the row NaN (an infinite scale quantises every value to 0, and 0 * inf is NaN); one in a
// column of B does the same to the column's scale and every output of that column. (With f32
// weights, infinities that meet only finite non-zero values give +-inf.)
//
// Every value of y is a function of its own input row and the weights only, computed by the
// same operations in the same order whatever the number of rows: a stream stepped row by row
// equals the whole sequence bit for bit. Error against f32 weights: the weights' rounding
// (half a step of max |column| / 127) dominates, 0.4 % (uniform weights) to 0.6-0.8 %
// (Gaussian, growing with the width as the column maximum does, 64-2048) of the output's RMS;
// the input's rounding is 127 / 32767 of it.
//
// Packing (q8_gemv_pack_b): B [rows, n] (rows even) as column panels of Q8_W = 32 columns,
// each panel rows * w bytes (w = the panel width, 32 or the rest rounded up to 4, zero columns
// past n), row pairs in order, and within a pair 2 bytes per column: (k, j) at
// ((k >> 1) * w + j) * 2 + (k & 1). Four columns of a pair are 8 bytes, which v128.load8x8_s
// widens to the i16x8 that dot_i16x8_s multiplies by the broadcast pair of the input.
//
// Measured (the q8gemv cases of bench/kernels/gemm.bench.js; 2-core Zen 4 VM shared with
// other jobs, two runs of medians over 5 interleaved repeats): 27-29 G weights/s on either
// build on kernels of 1, 8 and 24 MiB in f32 (0.25, 2 and 6 MiB here), where f32_gemv streams
// 19-20, 22 and 9 G/s from L2, L3 and memory with relaxed SIMD (16-17, 18 and 8-8.5 plain):
// 1.37-1.41x, 1.29x and 3.0-3.1x relaxed, 1.6x, 1.6x and 3.3-3.6x plain. The memory-bound
// ratio follows the bandwidth other processes leave f32 (2.0-2.2x when it streamed 13-14 G/s
// on a quieter machine). The loop (a load-widen, a dot and an add per 8 weights) is what
// limits it, not the bytes; the f64 conversion, once per 512 rows, measured 0-2 % faster than
// the f32 one per 256 rows it replaced. Weights dequantised to f32 in registers instead (f32
// inputs, a convert and a madd per 4 weights) measured 11 G weights/s, slower than f32.
import { loadLanes } from '../simd';
import { accStore, panelledLen, panelWidth } from './tile';

/** Panel width in columns. */
const Q8_W = 32;
/** Row pairs summed in int32 before they are converted (see the header). */
const Q8_BLOCK_PAIRS = 256;

/** Bytes needed to pack a [rows, n] matrix (rows even) for q8_gemv. */
export function q8_gemv_packed_len(rows: i32, n: i32): i32 {
  return panelledLen(rows, n, Q8_W);
}

/**
 * out[j] = max(out[j], max_r |B[r, j]|) for j < n over B [k, n] (row stride ldb): call once per
 * block of a stacked matrix, from zeros, then divide by 127 for the column scales.
 */
export function f32_column_absmax(k: i32, n: i32, b: usize, ldb: i32, out: usize): void {
  for (let r = 0; r < k; r++) {
    const src = b + (<usize>(r * ldb) << 2);
    for (let j = 0; j < n; j++) {
      const o = out + (<usize>j << 2);
      store<f32>(o, max(load<f32>(o), abs(load<f32>(src + (<usize>j << 2)))));
    }
  }
}

/**
 * Quantises B [k, n] (row stride ldb) with the column scales (n floats) into rows [r0, r0 + k)
 * of a q8_gemv packing of `rows` rows (r0 even): q = B / scale rounded to nearest (ties to
 * even), saturated to +-127; a zero scale (or a NaN) gives 0. Call once per block of rows to stack
 * matrices; rows left out and padding columns must be zero (the packing starts zeroed).
 */
export function q8_gemv_pack_b(rows: i32, r0: i32, k: i32, n: i32, b: usize, ldb: i32, scales: usize, out: usize): void {
  const panels = (n + Q8_W - 1) / Q8_W;
  for (let p = 0; p < panels; p++) {
    const n0 = p * Q8_W, w = panelWidth(n, p, Q8_W), nr = min(w, n - n0);
    const panel = out + <usize>(rows * n0);
    for (let r = 0; r < k; r++) {
      const kr = r0 + r, src = b + (<usize>(r * ldb + n0) << 2);
      for (let j = 0; j < nr; j++) {
        const s = load<f32>(scales + (<usize>(n0 + j) << 2));
        const q = s > 0 ? min<f32>(127, max<f32>(-127, nearest<f32>(load<f32>(src + (<usize>j << 2)) / s))) : 0;
        store<i8>(panel + <usize>(((kr >> 1) * w + j) * 2 + (kr & 1)), <i8>(q == q ? q : 0));
      }
    }
  }
}

/**
 * Quantises x [k] to int16 at xq (k rounded up to even elements; the pad is 0) with the scale
 * max |x| / 32767 and returns it: xq = x / scale rounded to nearest, saturated. A zero row
 * gives zeros (scale 0); a row with NaN or an infinity gives a NaN or infinite scale (so NaN
 * from q8_gemv, see the header) and a meaningless row, never a trap.
 */
export function q8_quantize(k: i32, x: usize, xq: usize): f32 {
  let m = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= k; i += 4) m = f32x4.max(m, f32x4.abs(v128.load(x + (<usize>i << 2))));
  let mx = max(max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1)), max(f32x4.extract_lane(m, 2), f32x4.extract_lane(m, 3)));
  for (; i < k; i++) mx = max(mx, abs(load<f32>(x + (<usize>i << 2))));
  const scale = mx / 32767;
  const sv = f32x4.splat(scale > 0 ? scale : 1);
  i = 0;
  for (; i + 8 <= k; i += 8) {
    const p = x + (<usize>i << 2);
    const lo = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.div(v128.load(p), sv)));
    const hi = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.div(v128.load(p, 16), sv)));
    v128.store(xq + (<usize>i << 1), i16x8.narrow_i32x4_s(lo, hi));
  }
  for (; i < k; i++) {
    const q = scale > 0 ? min<f32>(32767, max<f32>(-32767, nearest<f32>(load<f32>(x + (<usize>i << 2)) / scale))) : 0;
    store<i16>(xq + (<usize>i << 1), <i16>(q == q ? q : 0));
  }
  if (k & 1) store<i16>(xq + (<usize>k << 1), 0);
  return scale;
}

/**
 * acc * c * s for the four columns of one int32 sum: c their column scales, s the segment's (an
 * f64x2 splat). In f64, where neither the product of two scales nor the sum times it can
 * overflow or underflow, then rounded once to f32: the block's part of y, finite wherever it
 * is in f32.
 */
@inline function dequantize(acc: v128, c: v128, s: v128): v128 {
  const lo = f64x2.mul(f64x2.convert_low_i32x4_s(acc), f64x2.mul(f64x2.promote_low_f32x4(c), s));
  const hi = f64x2.mul(f64x2.convert_low_i32x4_s(i32x4.shuffle(acc, acc, 2, 3, 2, 3)), f64x2.mul(f64x2.promote_low_f32x4(i32x4.shuffle(c, c, 2, 3, 2, 3)), s));
  return i32x4.shuffle(f32x4.demote_f64x2_zero(lo), f32x4.demote_f64x2_zero(hi), 0, 1, 4, 5);
}

/** y[0 .. nr) += dequantize(acc, column scales, s), four columns per accumulator; y and sc (the scales) at the panel's first column. */
@inline function flush(y: usize, s: v128, sc: usize, nr: i32, x0: v128, x1: v128, x2: v128, x3: v128, x4: v128, x5: v128, x6: v128, x7: v128): void {
  accStore(y, f32x4.add(dequantize(x0, loadLanes(sc, nr), s), loadLanes(y, nr)), 0, nr);
  if (nr > 4) accStore(y, f32x4.add(dequantize(x1, loadLanes(sc + 16, nr - 4), s), loadLanes(y + 16, nr - 4)), 4, nr);
  if (nr > 8) accStore(y, f32x4.add(dequantize(x2, loadLanes(sc + 32, nr - 8), s), loadLanes(y + 32, nr - 8)), 8, nr);
  if (nr > 12) accStore(y, f32x4.add(dequantize(x3, loadLanes(sc + 48, nr - 12), s), loadLanes(y + 48, nr - 12)), 12, nr);
  if (nr > 16) accStore(y, f32x4.add(dequantize(x4, loadLanes(sc + 64, nr - 16), s), loadLanes(y + 64, nr - 16)), 16, nr);
  if (nr > 20) accStore(y, f32x4.add(dequantize(x5, loadLanes(sc + 80, nr - 20), s), loadLanes(y + 80, nr - 20)), 20, nr);
  if (nr > 24) accStore(y, f32x4.add(dequantize(x6, loadLanes(sc + 96, nr - 24), s), loadLanes(y + 96, nr - 24)), 24, nr);
  if (nr > 28) accStore(y, f32x4.add(dequantize(x7, loadLanes(sc + 112, nr - 28), s), loadLanes(y + 112, nr - 28)), 28, nr);
}

/**
 * One segment (`pairs` row pairs of input xq with scale s) over one panel of width w (4..32, a
 * multiple of 4, constant at every call) whose first pair is at b: y[0 .. nr) += the
 * segment's products times the column scales at sc, in blocks of Q8_BLOCK_PAIRS.
 */
@inline function segment(w: i32, b: usize, pairs: i32, xq: usize, s: f32, sc: usize, y: usize, nr: i32): void {
  const sv = f64x2.splat(<f64>s), step = <usize>w << 1;
  for (let p0 = 0; p0 < pairs; p0 += Q8_BLOCK_PAIRS) {
    let x0 = i32x4.splat(0), x1 = x0, x2 = x0, x3 = x0, x4 = x0, x5 = x0, x6 = x0, x7 = x0;
    const aEnd = xq + (<usize>min(pairs, p0 + Q8_BLOCK_PAIRS) << 2);
    for (let ap = xq + (<usize>p0 << 2); ap < aEnd; ap += 4) {
      const va = v128.load32_splat(ap);
      x0 = i32x4.add(x0, i32x4.dot_i16x8_s(v128.load8x8_s(b), va));
      if (w > 4) x1 = i32x4.add(x1, i32x4.dot_i16x8_s(v128.load8x8_s(b, 8), va));
      if (w > 8) x2 = i32x4.add(x2, i32x4.dot_i16x8_s(v128.load8x8_s(b, 16), va));
      if (w > 12) x3 = i32x4.add(x3, i32x4.dot_i16x8_s(v128.load8x8_s(b, 24), va));
      if (w > 16) x4 = i32x4.add(x4, i32x4.dot_i16x8_s(v128.load8x8_s(b, 32), va));
      if (w > 20) x5 = i32x4.add(x5, i32x4.dot_i16x8_s(v128.load8x8_s(b, 40), va));
      if (w > 24) x6 = i32x4.add(x6, i32x4.dot_i16x8_s(v128.load8x8_s(b, 48), va));
      if (w > 28) x7 = i32x4.add(x7, i32x4.dot_i16x8_s(v128.load8x8_s(b, 56), va));
      b += step;
    }
    flush(y, sv, sc, nr, x0, x1, x2, x3, x4, x5, x6, x7);
  }
}

/** Both segments over one panel of width w (see segment). */
@inline function panel(w: i32, b: usize, pairs1: i32, xq1: usize, s1: f32, pairs2: i32, xq2: usize, s2: f32, sc: usize, y: usize, nr: i32): void {
  segment(w, b, pairs1, xq1, s1, sc, y, nr);
  segment(w, b + <usize>(pairs1 * w * 2), pairs2, xq2, s2, sc, y, nr);
}

/**
 * y[0 .. n) = scales ⊙ (s1 · xq1 · B[r0 .. r0 + k1) + s2 · xq2 · B[r0 + k1' .. r0 + k1' + k2))
 * + bias, where k1' = k1 rounded up to even: the int16 rows xq1 (scale s1) and xq2 (scale s2,
 * from q8_quantize) against rows of B packed by q8_gemv_pack_b with `rows` rows; r0 even, k1'
 * + k2 rounded up to even <= rows - r0. One call multiplies an LSTM step's [x ‖ h] against
 * [W; U] (W at row 0, U at row k1'). scales: n column scales; bias: n floats or 0 for none.
 * k2 = 0 leaves xq2 unread. y must not overlap the other buffers; nothing is read or written
 * past the last element of any of them (xq1, xq2 hold their rounded-up-to-even length).
 */
export function q8_gemv(
  n: i32, rows: i32, r0: i32, k1: i32, xq1: usize, s1: f32, k2: i32, xq2: usize, s2: f32, bp: usize, scales: usize, bias: usize, y: usize,
): void {
  const panels = (n + Q8_W - 1) / Q8_W, pairs1 = (k1 + 1) >> 1, pairs2 = (k2 + 1) >> 1;
  for (let p = 0; p < panels; p++) {
    const n0 = p * Q8_W, w = panelWidth(n, p, Q8_W), nr = min(Q8_W, n - n0);
    const yp = y + (<usize>n0 << 2), sp = scales + (<usize>n0 << 2);
    for (let j = 0; j < nr; j += 4) accStore(yp, bias ? loadLanes(bias + (<usize>(n0 + j) << 2), nr - j) : f32x4.splat(0), j, nr);
    const b = bp + <usize>(rows * n0 + r0 * w);
    if (w == Q8_W) panel(32, b, pairs1, xq1, s1, pairs2, xq2, s2, sp, yp, nr);
    else if (w == 28) panel(28, b, pairs1, xq1, s1, pairs2, xq2, s2, sp, yp, nr);
    else if (w == 24) panel(24, b, pairs1, xq1, s1, pairs2, xq2, s2, sp, yp, nr);
    else if (w == 20) panel(20, b, pairs1, xq1, s1, pairs2, xq2, s2, sp, yp, nr);
    else if (w == 16) panel(16, b, pairs1, xq1, s1, pairs2, xq2, s2, sp, yp, nr);
    else if (w == 12) panel(12, b, pairs1, xq1, s1, pairs2, xq2, s2, sp, yp, nr);
    else if (w == 8) panel(8, b, pairs1, xq1, s1, pairs2, xq2, s2, sp, yp, nr);
    else panel(4, b, pairs1, xq1, s1, pairs2, xq2, s2, sp, yp, nr);
  }
}

/**
 * C[m, n] = A[m, k] · B + bias, row by row: each row of A (row stride lda) quantised by
 * q8_quantize into xq (k rounded up to even int16s of scratch), then q8_gemv against B packed
 * with rows = k rounded up to even; C row stride ldc. The Dense layer's product, any m.
 */
export function q8_gemm(m: i32, n: i32, k: i32, a: usize, lda: i32, xq: usize, bp: usize, scales: usize, bias: usize, c: usize, ldc: i32): void {
  const rows = (k + 1) & ~1;
  for (let r = 0; r < m; r++) {
    const s = q8_quantize(k, a + (<usize>(r * lda) << 2), xq);
    q8_gemv(n, rows, 0, k, xq, s, 0, 0, 0, bp, scales, bias, c + (<usize>(r * ldc) << 2));
  }
}
