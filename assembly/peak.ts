// The WASM SIMD peak loops the benchmarks compare kernels against (bench/kernels/gemm.bench.js).
import { madd } from './simd';

// Multiplicands of the madd peak loop: two sets of 12 vectors, read alternately (zeros: x86
// FP units take the same time whatever the values).
const MULTIPLICANDS = memory.data(2 * 12 * 16, 16);

/**
 * The madd peak loop: 12 independent chains c_i = a_i * b + c_i, the form every kernel
 * accumulates in (the chain runs through the add only; a_i are loaded from L1, as a kernel's
 * operands are, and alternate so nothing is loop-invariant). 96 flops per iteration. Runs
 * `iterations` rounds and returns a lane so the work is not optimised away.
 *
 * An earlier version chained c_i = c_i * a + b, putting the multiply on the dependency chain:
 * the plain build then measured latency, not throughput (38 GFLOP/s on Zen 4, below the 42
 * its own GEMM reaches); the relaxed build's 59 (FMA) is the same either way.
 */
export function f32_peak_madd(iterations: i32): f32 {
  const b = f32x4.splat(0.999);
  let c0 = f32x4.splat(0), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0;
  let c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;
  for (let i = 0; i < iterations; i++) {
    const p = MULTIPLICANDS + <usize>((i & 1) * 192);
    c0 = madd(v128.load(p), b, c0); c1 = madd(v128.load(p, 16), b, c1);
    c2 = madd(v128.load(p, 32), b, c2); c3 = madd(v128.load(p, 48), b, c3);
    c4 = madd(v128.load(p, 64), b, c4); c5 = madd(v128.load(p, 80), b, c5);
    c6 = madd(v128.load(p, 96), b, c6); c7 = madd(v128.load(p, 112), b, c7);
    c8 = madd(v128.load(p, 128), b, c8); c9 = madd(v128.load(p, 144), b, c9);
    c10 = madd(v128.load(p, 160), b, c10); c11 = madd(v128.load(p, 176), b, c11);
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
