// Kernels of assembly/position.ts that the layer tests reach only partly: the accuracy of the
// timing signal's sin and cos (math.ts's sinV and cosV, which shares sinV's reduction) against
// f64 Math.sin / Math.cos over the range positions reach, and the position counter. Runs on
// both builds.
import { beforeAll, describe, expect, it } from 'vitest';
import * as sl from '../../src/index.js';

let rt: sl.Runtime;
beforeAll(async () => {
  await sl.init();
  rt = sl.getRuntime();
});

/** f32_timing_signal with one timescale (inverse 1): [sin(p), cos(p)] for every p. */
function sinCos(ps: Float32Array): { sin: Float32Array; cos: Float32Array } {
  const n = ps.length;
  const pos = rt.heap.alloc(n * 4), inv = rt.heap.alloc(4), y = rt.heap.alloc(2 * n * 4);
  try {
    rt.f32.set(ps, pos >> 2);
    rt.f32[inv >> 2] = 1;
    rt.k.f32_timing_signal(n, 2, pos, inv, 1, y);
    const out = rt.f32.slice(y >> 2, (y >> 2) + 2 * n);
    return { sin: out.filter((_, i) => i % 2 === 0), cos: out.filter((_, i) => i % 2 === 1) };
  } finally {
    rt.heap.release(pos);
    rt.heap.release(inv);
    rt.heap.release(y);
  }
}

describe('f32_timing_signal (sinV, cosV)', () => {
  it('has abs error <= 1e-7 for |x| <= 1e4 (both functions)', () => {
    const n = 200_001;
    const ps = Float32Array.from({ length: n }, (_, i) => -1e4 + (2e4 * i) / (n - 1));
    const { sin, cos } = sinCos(ps);
    let es = 0, ec = 0;
    ps.forEach((p, i) => {
      es = Math.max(es, Math.abs(sin[i]! - Math.sin(p)));
      ec = Math.max(ec, Math.abs(cos[i]! - Math.cos(p)));
    });
    expect(es).toBeLessThanOrEqual(1e-7);
    expect(ec).toBeLessThanOrEqual(1e-7);
  });

  it('gives exact values at 0, the cos of a NaN or infinite position is NaN', () => {
    const { sin, cos } = sinCos(Float32Array.from([0, -0, NaN, Infinity, -Infinity]));
    expect([sin[0], cos[0], cos[1]]).toEqual([0, 1, 1]);
    expect([...sin.subarray(2), ...cos.subarray(2)].every(Number.isNaN)).toBe(true);
  });
});

describe('seq_positions', () => {
  it('counts valid steps from the counter (and physical steps), updating it', () => {
    const mask = Uint8Array.from([0, 1, 1, 0, 1, 1, 1, 0, 0, 1]);
    const m = rt.heap.alloc(10), c = rt.heap.alloc(8), p = rt.heap.alloc(40);
    try {
      rt.u8.set(mask, m);
      rt.i32.set([-1, 4], c >> 2);
      rt.k.seq_positions(2, 5, 1, m, c, p);
      expect(Array.from(rt.f32.subarray(p >> 2, (p >> 2) + 10))).toEqual([0, 0, 1, 1, 2, 5, 6, 6, 6, 7]);
      expect(Array.from(rt.i32.subarray(c >> 2, (c >> 2) + 2))).toEqual([2, 7]);
      rt.k.seq_positions(2, 5, 0, m, c, p);
      expect(Array.from(rt.f32.subarray(p >> 2, (p >> 2) + 10))).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
      expect(Array.from(rt.i32.subarray(c >> 2, (c >> 2) + 2))).toEqual([7, 12]);
    } finally {
      rt.heap.release(m);
      rt.heap.release(c);
      rt.heap.release(p);
    }
  });
});
