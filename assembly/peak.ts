// The WASM SIMD peak loop the benchmarks compare kernels against: 12 independent
// accumulator chains of madd (mul + add, or relaxed FMA), enough to hide the latency of each.
// It does 12 * 4 * 2 = 96 flops per iteration and touches no memory.
import { madd } from './simd';

/** Runs `iterations` rounds; returns a lane so the work is not optimised away. */
export function f32_peak_madd(iterations: i32): f32 {
  const a = f32x4.splat(0.999), b = f32x4.splat(0.001);
  let c0 = f32x4.splat(0), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0;
  let c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;
  for (let i = 0; i < iterations; i++) {
    c0 = madd(c0, a, b); c1 = madd(c1, a, b); c2 = madd(c2, a, b); c3 = madd(c3, a, b);
    c4 = madd(c4, a, b); c5 = madd(c5, a, b); c6 = madd(c6, a, b); c7 = madd(c7, a, b);
    c8 = madd(c8, a, b); c9 = madd(c9, a, b); c10 = madd(c10, a, b); c11 = madd(c11, a, b);
  }
  const s = f32x4.add(f32x4.add(f32x4.add(c0, c1), f32x4.add(c2, c3)), f32x4.add(f32x4.add(c4, c5), f32x4.add(c6, c7)));
  return f32x4.extract_lane(f32x4.add(s, f32x4.add(f32x4.add(c8, c9), f32x4.add(c10, c11))), 0);
}
