// Shared SIMD helpers, inlined into every kernel. One spelling per build: the relaxed build
// (compiled with --enable relaxed-simd) uses fused multiply-add, the baseline build mul + add.

/** a * b + c, lane-wise. Fused (single rounding) in the relaxed build. */
@inline export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

/** [a, b, c, d] => a + b + c + d */
@inline export function hsum(v: v128): f32 {
  const s = f32x4.add(v, i32x4.shuffle(v, v, 2, 3, 0, 1));
  return f32x4.extract_lane(f32x4.add(s, i32x4.shuffle(s, s, 1, 0, 3, 2)), 0);
}

/** [a, b, c, d] => max(a, b, c, d) */
@inline export function hmax(v: v128): f32 {
  const s = f32x4.max(v, i32x4.shuffle(v, v, 2, 3, 0, 1));
  return f32x4.extract_lane(f32x4.max(s, i32x4.shuffle(s, s, 1, 0, 3, 2)), 0);
}

/** Stores the first n (0..4) lanes of v at p. */
@inline export function storeLanes(p: usize, v: v128, n: i32): void {
  if (n >= 4) { v128.store(p, v); return; }
  if (n >= 2) {
    v128.store64_lane(p, v, 0);
    if (n == 3) store<f32>(p, f32x4.extract_lane(v, 2), 8);
  } else if (n == 1) {
    store<f32>(p, f32x4.extract_lane(v, 0));
  }
}

/** Loads n (0..4) floats at p into the low lanes, zero elsewhere; never reads past p + 4n. */
@inline export function loadLanes(p: usize, n: i32): v128 {
  if (n >= 4) return v128.load(p);
  let v = f32x4.splat(0);
  if (n >= 2) {
    v = v128.load64_zero(p);
    if (n == 3) v = f32x4.replace_lane(v, 2, load<f32>(p, 8));
  } else if (n == 1) {
    v = v128.load32_zero(p);
  }
  return v;
}

/** y[k] += x[k] for k < n floats (whole vectors, then a partial one). */
@inline export function addInto(y: usize, x: usize, n: i32): void {
  let k = 0;
  for (; k + 4 <= n; k += 4) {
    const o = <usize>k << 2;
    v128.store(y + o, f32x4.add(v128.load(y + o), v128.load(x + o)));
  }
  if (k < n) {
    const o = <usize>k << 2;
    storeLanes(y + o, f32x4.add(loadLanes(y + o, n - k), loadLanes(x + o, n - k)), n - k);
  }
}
