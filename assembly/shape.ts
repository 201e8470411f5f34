// Kernels of the shape and type layers (src/layers/shape.ts): reductions over a channel axis,
// dtype casts, and the mask <-> float conversions that let the global reshapes derive their
// output masks with the same copy and reduction they apply to values. Transposes, slices and
// rearranges need no kernel of their own: they are one f32_strided_binary(OP_COPY) call.
import { hmax, hsum, loadLanes, storeLanes } from './simd';

/** y = sum of the reduced axis. */
export const REDUCE_SUM = 0;
/** y = sum / n (true division, as numpy's mean). */
export const REDUCE_MEAN = 1;
/** y = max; NaN if any element is NaN (numpy's max). */
export const REDUCE_MAX = 2;
/** y = min; NaN if any element is NaN (numpy's min). */
export const REDUCE_MIN = 3;

@inline function combine(op: i32, a: f32, b: f32): f32 {
  return op == REDUCE_MAX ? max(a, b) : op == REDUCE_MIN ? min(a, b) : a + b;
}

@inline function combineV(op: i32, a: v128, b: v128): v128 {
  return op == REDUCE_MAX ? f32x4.max(a, b) : op == REDUCE_MIN ? f32x4.min(a, b) : f32x4.add(a, b);
}

/** [a, b, c, d] => op(a, b, c, d); min as -max(-v) (negation is exact and keeps NaN). */
@inline function horizontal(op: i32, v: v128): f32 {
  return op == REDUCE_MAX ? hmax(v) : op == REDUCE_MIN ? -hmax(f32x4.neg(v)) : hsum(v);
}

/** The value of a reduction over no elements: 0 (sum, and mean before 0/0 = NaN), -inf (max), +inf (min). */
@inline function identity(op: i32): f32 {
  return op == REDUCE_MAX ? -Infinity : op == REDUCE_MIN ? Infinity : 0;
}

/**
 * y[o, i] = op over k < n of x[o, k, i] (op: REDUCE_SUM, _MEAN, _MAX, _MIN).
 *
 * x [outer, n, inner] and y [outer, inner], row-major, contiguous, in elements. Any outer,
 * inner >= 0 and n >= 0 (n = 0 gives 0, NaN, -inf, +inf). No alignment assumed; not in place;
 * never reads or writes past the last element. inner == 1 runs SIMD along each row (lanes
 * combined at the end, so sums are reassociated: |error| <= n * 2^-24 * sum|x|); inner > 1
 * runs four columns per vector, partial lanes at the end, in the order of k.
 */
export function f32_reduce(op: i32, outer: i32, n: i32, inner: i32, x: usize, y: usize): void {
  if (inner == 1) {
    for (let o = 0; o < outer; o++) {
      const row = x + (<usize>o * n << 2);
      let s = identity(op);
      let i = 0;
      // Main loop: two vectors per iteration, then one, then scalars.
      if (n >= 4) {
        let a0 = v128.load(row), a1 = f32x4.splat(identity(op));
        i = 4;
        for (; i + 8 <= n; i += 8) {
          a0 = combineV(op, a0, v128.load(row + (<usize>i << 2)));
          a1 = combineV(op, a1, v128.load(row + (<usize>i << 2), 16));
        }
        for (; i + 4 <= n; i += 4) a0 = combineV(op, a0, v128.load(row + (<usize>i << 2)));
        s = horizontal(op, combineV(op, a0, a1));
      }
      for (; i < n; i++) s = combine(op, s, load<f32>(row + (<usize>i << 2)));
      store<f32>(y + (<usize>o << 2), op == REDUCE_MEAN ? s / <f32>n : s);
    }
    return;
  }
  // Columns: four neighbouring i per vector; unused lanes load zeros and are never stored.
  const stride = <usize>inner << 2;
  const init = f32x4.splat(identity(op));
  for (let o = 0; o < outer; o++) {
    const xo = x + <usize>o * n * stride, yo = y + <usize>o * stride;
    for (let c = 0; c < inner; c += 4) {
      const lanes = min(inner - c, 4);
      const xc = xo + (<usize>c << 2);
      let acc = init;
      for (let k = 0; k < n; k++) acc = combineV(op, acc, loadLanes(xc + <usize>k * stride, lanes));
      if (op == REDUCE_MEAN) acc = f32x4.div(acc, f32x4.splat(<f32>n));
      storeLanes(yo + (<usize>c << 2), acc, lanes);
    }
  }
}

/** y = x converted to int32, truncating toward zero and saturating (NaN -> 0), over n elements; not in place. */
export function f32_to_i32(n: i32, x: usize, y: usize): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(y + o, i32x4.trunc_sat_f32x4_s(v128.load(x + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<i32>(y + o, <i32>load<f32>(x + o)); // i32.trunc_sat_f32_s (nontrapping-f2i is on by default)
  }
}

/** y = x converted to float32 (round to nearest even), over n elements; may run in place. */
export function i32_to_f32(n: i32, x: usize, y: usize): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(y + o, f32x4.convert_i32x4_s(v128.load(x + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, <f32>load<i32>(x + o));
  }
}

/**
 * y[r, j] = mask[r] ? 1 : 0 for r < rows, j < n: a [rows] step mask (u8) broadcast over the n
 * elements of each step, as floats, so it can be rearranged and reduced like values.
 * y [rows, n] contiguous; any rows, n >= 0; never writes past y[rows * n - 1].
 */
export function mask_broadcast_f32(rows: i32, n: i32, mask: usize, y: usize): void {
  for (let r = 0; r < rows; r++) {
    const v: f32 = load<u8>(mask + <usize>r) ? 1 : 0;
    const vv = f32x4.splat(v);
    const yr = y + (<usize>r * n << 2);
    let j = 0;
    for (; j + 4 <= n; j += 4) v128.store(yr + (<usize>j << 2), vv);
    for (; j < n; j++) store<f32>(yr + (<usize>j << 2), v);
  }
}

/** mask[i] = x[i] != 0 ? 1 : 0 for i < n (NaN counts as non-zero); x f32 [n], mask u8 [n]. */
export function mask_from_f32(n: i32, x: usize, mask: usize): void {
  for (let i = 0; i < n; i++) store<u8>(mask + <usize>i, load<f32>(x + (<usize>i << 2)) != 0 ? 1 : 0);
}

/**
 * y[r] = index of the largest of x[r, 0..n) (the first one on ties; a NaN counts as the
 * largest, as numpy's argmax), as int32. x [rows, n], y [rows]; n >= 1.
 */
export function f32_argmax(rows: i32, n: i32, x: usize, y: usize): void {
  for (let r = 0; r < rows; r++) store<i32>(y + (<usize>r << 2), argmaxRow(x + ((<usize>r * <usize>n) << 2), n));
}

/**
 * The first index of the row's largest value, or of its first NaN. A vector pass finds the
 * largest with pmax (one maxps; a NaN never wins it, so a flag notes NaNs, and ±0 need no order
 * since the search compares with ==), then a search finds the first lane holding it.
 */
function argmaxRow(row: usize, n: i32): i32 {
  let m0 = f32x4.splat(-Infinity), m1 = m0, nan = i32x4.splat(0);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const a = v128.load(row + (<usize>i << 2)), b = v128.load(row + (<usize>i << 2), 16);
    m0 = f32x4.pmax(m0, a);
    m1 = f32x4.pmax(m1, b);
    nan = v128.or(nan, v128.or(f32x4.ne(a, a), f32x4.ne(b, b)));
  }
  m0 = f32x4.pmax(m0, m1);
  let m = f32x4.extract_lane(m0, 0);
  if (f32x4.extract_lane(m0, 1) > m) m = f32x4.extract_lane(m0, 1);
  if (f32x4.extract_lane(m0, 2) > m) m = f32x4.extract_lane(m0, 2);
  if (f32x4.extract_lane(m0, 3) > m) m = f32x4.extract_lane(m0, 3);
  let hasNaN = v128.any_true(nan);
  for (let j = i; j < n; j++) {
    const v = load<f32>(row + (<usize>j << 2));
    if (v != v) hasNaN = true;
    else if (v > m) m = v;
  }
  const target = f32x4.splat(m);
  for (i = 0; i + 4 <= n; i += 4) {
    const v = v128.load(row + (<usize>i << 2));
    const hit = i32x4.bitmask(hasNaN ? f32x4.ne(v, v) : f32x4.eq(v, target));
    if (hit) return i + ctz(hit);
  }
  for (; i < n; i++) {
    const v = load<f32>(row + (<usize>i << 2));
    if (hasNaN ? v != v : v == m) return i;
  }
  return 0;
}
