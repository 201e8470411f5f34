// The WASM SIMD peak loops the benchmarks compare kernels against (bench/kernels/gemm.bench.js).
import { madd } from './simd';

// Multiplicands of the madd peak loop: two pairs of vectors, read alternately (zeros: x86 FP
// units take the same time whatever the values).
const MULTIPLICANDS = memory.data(2 * 2 * 16, 16);

/**
 * The madd peak loop: 12 independent chains c_i = a * b + c_i, the form every kernel
 * accumulates in (the chain runs through the add only), with a one of two vectors loaded from
 * L1 each iteration, alternating so nothing is loop-invariant. 12 accumulators + 2 multiplicands
 * + b fill V8's 15 xmm registers. 96 flops per iteration. Runs `iterations` rounds and returns
 * a lane so the work is not optimised away.
 *
 * The plain build is bound by the instructions V8 issues, not by the FP pipes: an earlier
 * version loaded a fresh multiplicand for every chain (12 loads per 12 madds) and measured 42
 * GFLOP/s plain on Zen 4, where this loop and the GEMM with packed A reach 45 (relaxed: 59 both
 * ways). Before that, chaining c = c * a + b measured the multiply's latency (38).
 */
export function f32_peak_madd(iterations: i32): f32 {
  const b = f32x4.splat(0.999);
  let c0 = f32x4.splat(0), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0;
  let c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;
  for (let i = 0; i < iterations; i++) {
    const p = MULTIPLICANDS + <usize>((i & 1) * 32);
    const a0 = v128.load(p), a1 = v128.load(p, 16);
    c0 = madd(a0, b, c0); c1 = madd(a1, b, c1);
    c2 = madd(a0, b, c2); c3 = madd(a1, b, c3);
    c4 = madd(a0, b, c4); c5 = madd(a1, b, c5);
    c6 = madd(a0, b, c6); c7 = madd(a1, b, c7);
    c8 = madd(a0, b, c8); c9 = madd(a1, b, c9);
    c10 = madd(a0, b, c10); c11 = madd(a1, b, c11);
  }
  const s = f32x4.add(f32x4.add(f32x4.add(c0, c1), f32x4.add(c2, c3)), f32x4.add(f32x4.add(c4, c5), f32x4.add(c6, c7)));
  return f32x4.extract_lane(f32x4.add(s, f32x4.add(f32x4.add(c8, c9), f32x4.add(c10, c11))), 0);
}

/**
 * The read-bandwidth loop memory-bound kernels (GEMV) compare against: reads n floats at p
 * once (16-byte loads, 8 per iteration, then single vectors, then scalars; never past the end)
 * and folds them with OR into independent accumulators, integer ops that keep the loads, not
 * the FP pipes or a dependency chain, as the limit. Returns bits of the fold so no load is
 * optimised away.
 */
export function f32_peak_read(n: i32, p: usize): i32 {
  let a0 = i32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
  const end = p + (<usize>n << 2);
  // Main loop: 128 bytes.
  for (; p + 128 <= end; p += 128) {
    a0 = v128.or(a0, v128.load(p));
    a1 = v128.or(a1, v128.load(p, 16));
    a2 = v128.or(a2, v128.load(p, 32));
    a3 = v128.or(a3, v128.load(p, 48));
    a4 = v128.or(a4, v128.load(p, 64));
    a5 = v128.or(a5, v128.load(p, 80));
    a6 = v128.or(a6, v128.load(p, 96));
    a7 = v128.or(a7, v128.load(p, 112));
  }
  // One vector at a time, then scalars.
  for (; p + 16 <= end; p += 16) a0 = v128.or(a0, v128.load(p));
  let s = 0;
  for (; p < end; p += 4) s |= load<i32>(p);
  const v = v128.or(v128.or(v128.or(a0, a1), v128.or(a2, a3)), v128.or(v128.or(a4, a5), v128.or(a6, a7)));
  return s | i32x4.extract_lane(v, 0) | i32x4.extract_lane(v, 1) | i32x4.extract_lane(v, 2) | i32x4.extract_lane(v, 3);
}
