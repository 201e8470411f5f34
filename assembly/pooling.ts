// Pooling kernels (src/layers/pooling.ts: MaxPooling1D/2D/3D, MinPooling*, AveragePooling*):
// a max, min or average over a window in time and in up to two spatial axes, four channels
// per vector. Invalid time steps and padding are skipped, which is the reference's rule of
// replacing them by the reduction's identity (-inf, +inf, int min/max, 0) before pooling.
//
// Sizes travel in a geometry record of i32 entries that a layer writes once:
//   [0] kt, [1] st, [2] dt                                 time: taps, stride, dilation
//   [3] h, [4] hOut, [5] kh, [6] sh, [7] dh, [8] ph        spatial axis 1: input and output
//   [9] w, [10] wOut, [11] kw, [12] sw, [13] dw, [14] pw   size, taps, stride, dilation, left pad
//   [15] c                                                 elements per position (axes not pooled)
// (a missing spatial axis is h = hOut = kh = sh = dh = 1, ph = 0). The batch, time sizes and
// the time padding change between calls, so they are arguments.
import { loadLanes, storeLanes } from './simd';

/** y = max over the window (NaN if any valid tap is NaN). */
export const POOL_MAX = 0;
/** y = min over the window (NaN if any valid tap is NaN). */
export const POOL_MIN = 1;
/** y = sum over the window / (kt * kh * kw): padding and invalid steps count as zeros. */
export const POOL_AVERAGE = 2;
/** y = sum over the window / (valid time taps * kh * kw), 0 when no time tap is valid. */
export const POOL_MASKED_AVERAGE = 3;

@inline function geo(geom: usize, i: i32): i32 {
  return load<i32>(geom + (<usize>i << 2));
}

/** The reduction's identity in every lane: the value of padding and invalid steps. */
@inline function identity<T>(op: i32): v128 {
  if (isInteger<T>()) return i32x4.splat(op == POOL_MAX ? i32.MIN_VALUE : op == POOL_MIN ? i32.MAX_VALUE : 0);
  return f32x4.splat(op == POOL_MAX ? -Infinity : op == POOL_MIN ? Infinity : 0);
}

@inline function combine<T>(op: i32, a: v128, b: v128): v128 {
  if (isInteger<T>()) return op == POOL_MAX ? i32x4.max_s(a, b) : op == POOL_MIN ? i32x4.min_s(a, b) : i32x4.add(a, b);
  return op == POOL_MAX ? f32x4.max(a, b) : op == POOL_MIN ? f32x4.min(a, b) : f32x4.add(a, b);
}

/** floor(a / b) for b > 0 (numpy's floor_divide). */
@inline function floorDiv(a: i32, b: i32): i32 {
  const q = a / b;
  return a % b != 0 && a < 0 ? q - 1 : q;
}

/** y[e] = x[e] op-combined with the identity, e < c: the first valid tap of a window. */
@inline function startRow<T>(op: i32, y: usize, x: usize, full: usize, tail: i32): void {
  // max(-inf, x) and min(+inf, x) are x; a sum starts from +0 (+0 + -0 is +0), as the window's fold does.
  if (op != POOL_AVERAGE || isInteger<T>()) {
    for (let o: usize = 0; o < full; o += 16) v128.store(y + o, v128.load(x + o));
    if (tail) storeLanes(y + full, loadLanes(x + full, tail), tail);
  } else {
    const zero = f32x4.splat(0);
    for (let o: usize = 0; o < full; o += 16) v128.store(y + o, f32x4.add(zero, v128.load(x + o)));
    if (tail) storeLanes(y + full, f32x4.add(zero, loadLanes(x + full, tail)), tail);
  }
}

/** y[e] = combine(y[e], x[e]) for e < c: `full` bytes of whole vectors, then `tail` lanes. */
@inline function combineRow<T>(op: i32, y: usize, x: usize, full: usize, tail: i32): void {
  for (let o: usize = 0; o < full; o += 16) v128.store(y + o, combine<T>(op, v128.load(y + o), v128.load(x + o)));
  if (tail) storeLanes(y + full, combine<T>(op, loadLanes(y + full, tail), loadLanes(x + full, tail)), tail);
}

/** y[e] = v for e < c. */
@inline function fillRow(y: usize, v: v128, full: usize, tail: i32): void {
  for (let o: usize = 0; o < full; o += 16) v128.store(y + o, v);
  if (tail) storeLanes(y + full, v, tail);
}

/** y[e] = y[e] / divisor (> 0) for e < c; int32 floor-divides (no integer SIMD division). */
@inline function divideRow<T>(y: usize, divisor: i32, full: usize, tail: i32): void {
  if (isInteger<T>()) {
    const end = y + full + (<usize>tail << 2);
    for (let e = y; e < end; e += 4) store<i32>(e, floorDiv(load<i32>(e), divisor));
  } else {
    const d = f32x4.splat(<f32>divisor);
    for (let o: usize = 0; o < full; o += 16) v128.store(y + o, f32x4.div(v128.load(y + o), d));
    if (tail) storeLanes(y + full, f32x4.div(loadLanes(y + full, tail), d), tail);
  }
}

/**
 * The kernel body for one reduction `op`, POOL_MAX, _MIN or _AVERAGE (a constant where
 * poolByOp calls it, so every branch on it folds away); `maskedDivisor` selects
 * POOL_MASKED_AVERAGE's divisor. Per output position it walks the window's taps, skipping
 * those outside the input or at invalid steps, and folds each valid tap's c channels into the
 * output row: the channel loop is innermost and branch-free.
 */
@inline function pool3d<T>(
  op: i32, maskedDivisor: bool, batch: i32, tIn: i32, tOut: i32, padLeft: i32, geom: usize, x: usize, mask: usize, y: usize,
): void {
  const kt = geo(geom, 0), st = geo(geom, 1), dt = geo(geom, 2);
  const h = geo(geom, 3), hOut = geo(geom, 4), kh = geo(geom, 5), sh = geo(geom, 6), dh = geo(geom, 7), ph = geo(geom, 8);
  const w = geo(geom, 9), wOut = geo(geom, 10), kw = geo(geom, 11), sw = geo(geom, 12), dw = geo(geom, 13), pw = geo(geom, 14);
  const c = geo(geom, 15);
  const posBytes = <usize>c << 2, rowW = <usize>w * posBytes, stepIn = <usize>h * rowW;
  const full = <usize>(c & ~3) << 2, tail = c & 3;
  const spatialTaps = kh * kw;
  let yo = y;
  for (let b = 0; b < batch; b++) {
    const xb = x + <usize>b * tIn * stepIn, mb = mask + <usize>(b * tIn);
    for (let j = 0; j < tOut; j++) {
      const t0 = j * st - padLeft;
      let divisor = kt * spatialTaps;
      if (maskedDivisor) {
        let n = 0;
        for (let a = 0; a < kt; a++) {
          const i = t0 + a * dt;
          if (i >= 0 && i < tIn && load<u8>(mb + <usize>i)) n++;
        }
        divisor = n * spatialTaps;
      }
      for (let p = 0; p < hOut; p++) {
        for (let q = 0; q < wOut; q++) {
          let empty = true;
          for (let a = 0; a < kt; a++) {
            const i = t0 + a * dt;
            if (i < 0 || i >= tIn || !load<u8>(mb + <usize>i)) continue;
            const xt = xb + <usize>i * stepIn;
            for (let u = 0; u < kh; u++) {
              const ii = p * sh + u * dh - ph;
              if (ii < 0 || ii >= h) continue;
              for (let v = 0; v < kw; v++) {
                const jj = q * sw + v * dw - pw;
                if (jj < 0 || jj >= w) continue;
                const xp = xt + <usize>ii * rowW + <usize>jj * posBytes;
                if (empty) startRow<T>(op, yo, xp, full, tail);
                else combineRow<T>(op, yo, xp, full, tail);
                empty = false;
              }
            }
          }
          if (empty) fillRow(yo, identity<T>(op), full, tail);
          else if (op == POOL_AVERAGE) divideRow<T>(yo, divisor, full, tail);
          yo += posBytes;
        }
      }
    }
  }
}

/** pool3d with the reduction as a constant: one specialised body each for max, min and average. */
@inline function poolByOp<T>(
  op: i32, batch: i32, tIn: i32, tOut: i32, padLeft: i32, geom: usize, x: usize, mask: usize, y: usize,
): void {
  if (op == POOL_MAX) pool3d<T>(POOL_MAX, false, batch, tIn, tOut, padLeft, geom, x, mask, y);
  else if (op == POOL_MIN) pool3d<T>(POOL_MIN, false, batch, tIn, tOut, padLeft, geom, x, mask, y);
  else pool3d<T>(POOL_AVERAGE, op == POOL_MASKED_AVERAGE, batch, tIn, tOut, padLeft, geom, x, mask, y);
}

/**
 * y = pool(x) over time and up to two spatial axes (op: POOL_MAX, _MIN, _AVERAGE,
 * _MASKED_AVERAGE), float32:
 *   y[b, t, i, j, e] = op over taps (a, u, v) of x[b, t*st + a*dt - padLeft, i*sh + u*dh - ph, j*sw + v*dw - pw, e]
 * where a tap outside the input or at a step with mask[b, step] == 0 is skipped (the reference
 * pads and masks with the reduction's identity). Averages divide the sum by kt * kh * kw (taps,
 * not the dilated span) or, masked, by (valid time taps) * kh * kw, giving 0 for 0 / 0.
 *
 * x [B, tIn, h, w, c], mask [B, tIn] (u8), y [B, tOut, hOut, wOut, c]; geometry at `geom` (see
 * above). Every output element combines its taps in the order (a, u, v), whatever the split of
 * time across calls, so streaming gives the same bits as one call. Not in place; never reads or
 * writes past the last element of x or y.
 */
export function f32_pool3d(
  op: i32, batch: i32, tIn: i32, tOut: i32, padLeft: i32, geom: usize, x: usize, mask: usize, y: usize,
): void {
  poolByOp<f32>(op, batch, tIn, tOut, padLeft, geom, x, mask, y);
}

/**
 * f32_pool3d for int32 values: max and min start from int min / int max, sums wrap around
 * (two's complement, as int32 arithmetic in the reference), and averages floor-divide
 * (numpy's floor_divide), 0 when the masked divisor is 0.
 */
export function i32_pool3d(
  op: i32, batch: i32, tIn: i32, tOut: i32, padLeft: i32, geom: usize, x: usize, mask: usize, y: usize,
): void {
  poolByOp<i32>(op, batch, tIn, tOut, padLeft, geom, x, mask, y);
}
