// The WASM SIMD peak loops the benchmarks compare kernels against (bench/kernels/gemm.bench.js).
import { madd } from './simd';

// Operands of the madd peak loop (zeros: x86 FP units take the same time whatever the values,
// and zeros never become subnormal). MULTIPLICANDS holds two pairs of vectors read alternately,
// 64-aligned so that toggling bit 5 of the pointer switches pairs; MULTIPLIERS is read once,
// before the loop (V8 rebuilds a v128 constant every iteration).
const MULTIPLICANDS = memory.data(2 * 2 * 16, 64);
const MULTIPLIERS = memory.data(4 * 16, 16);

/** Flops of one f32_peak_madd iteration in this build: 8 chains × 8 (plain), 12 × 8 (relaxed). */
export function f32_peak_madd_flops(): i32 {
  return ASC_FEATURE_RELAXED_SIMD ? 96 : 64;
}

/**
 * The madd peak loop: independent chains c = a * b + c, the form every kernel accumulates in
 * (the chain runs through the add only), with two multiplicands a0, a1 loaded from L1 each
 * iteration (one pair of two, alternating, so nothing is loop-invariant). Runs `iterations`
 * rounds of f32_peak_madd_flops() flops and returns a lane so the work is not optimised away.
 *
 * The plain build computes every product it counts: a0, a1 times four multipliers b0-b3 held
 * in registers make 8 distinct products, 8 f32x4.mul + 8 f32x4.add per iteration (8
 * accumulators + 4 multipliers + 2 multiplicands + 1 product fill V8's 15 xmm registers).
 * Repeating a product for more chains would not do: Binaryen computes it once (an earlier
 * version ran 12 chains on a0, a1 and one b, 2 multiplies and 12 adds counted as 96 flops).
 * The relaxed build's fused madds share nothing, so it runs 12 chains on a0, a1 and b0: FMA
 * latency (4 cycles) × 2 pipes needs 8 in flight, and 8 chains measured 55 GFLOP/s.
 *
 * Both builds reach the FP pipes' limit on Zen 4, 16 flops per cycle (plain: 2 mul + 2 add,
 * relaxed: 2 FMA), 59 GFLOP/s. The plain build issues twice the FP instructions, so loop
 * overhead shows: switching pairs by an and, a shift and an add on the counter instead of one
 * xor measured 47.
 */
export function f32_peak_madd(iterations: i32): f32 {
  const b0 = v128.load(MULTIPLIERS);
  let c0 = f32x4.splat(0), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
  let p = MULTIPLICANDS;
  if (ASC_FEATURE_RELAXED_SIMD) {
    let c8 = c0, c9 = c0, c10 = c0, c11 = c0;
    for (let i = 0; i < iterations; i++) {
      const a0 = v128.load(p), a1 = v128.load(p, 16);
      p ^= 32;
      c0 = madd(a0, b0, c0); c1 = madd(a1, b0, c1);
      c2 = madd(a0, b0, c2); c3 = madd(a1, b0, c3);
      c4 = madd(a0, b0, c4); c5 = madd(a1, b0, c5);
      c6 = madd(a0, b0, c6); c7 = madd(a1, b0, c7);
      c8 = madd(a0, b0, c8); c9 = madd(a1, b0, c9);
      c10 = madd(a0, b0, c10); c11 = madd(a1, b0, c11);
    }
    c0 = f32x4.add(f32x4.add(c0, c8), c9);
    c1 = f32x4.add(f32x4.add(c1, c10), c11);
  } else {
    const b1 = v128.load(MULTIPLIERS, 16), b2 = v128.load(MULTIPLIERS, 32), b3 = v128.load(MULTIPLIERS, 48);
    for (let i = 0; i < iterations; i++) {
      const a0 = v128.load(p), a1 = v128.load(p, 16);
      p ^= 32;
      c0 = madd(a0, b0, c0); c1 = madd(a1, b0, c1);
      c2 = madd(a0, b1, c2); c3 = madd(a1, b1, c3);
      c4 = madd(a0, b2, c4); c5 = madd(a1, b2, c5);
      c6 = madd(a0, b3, c6); c7 = madd(a1, b3, c7);
    }
  }
  const s = f32x4.add(f32x4.add(f32x4.add(c0, c1), f32x4.add(c2, c3)), f32x4.add(f32x4.add(c4, c5), f32x4.add(c6, c7)));
  return f32x4.extract_lane(s, 0);
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
