// Kernels of assembly/position.ts that the layer tests reach only partly: the accuracy of the
// timing signal's sin and cos (math.ts's sinV and cosV, which shares sinV's reduction) against
// f64 Math.sin / Math.cos over the range positions reach, the rows of sines and cosines of the
// timing signal and rotary embeddings at every width, and the position counter. Runs on both
// builds.
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

// The sines and cosines of a row run two vectors per iteration, then a tail: every row width
// against the same angles one at a time (always the tail), bit for bit.
const WIDTHS = [1, 2, 3, 4, 5, 7, 8, 9, 12, 16, 17, 23];

/** Floats into fresh memory; returns the pointer (release with rt.heap.release). */
function put(values: ArrayLike<number>): number {
  const p = rt.heap.alloc(Math.max(1, values.length) * 4);
  rt.f32.set(Array.from(values), p >> 2);
  return p;
}

describe('f32_timing_signal: whole vectors and tails', () => {
  it('every width, odd channel counts, gives each channel the bits of a one-channel row', () => {
    const pos = put([100.5, -3, 1e4]);
    for (const h of WIDTHS) {
      for (const n of [2 * h, 2 * h + 1]) {
        const inv = put(Array.from({ length: h }, (_, i) => Math.exp(-i / 3)));
        const y = rt.heap.alloc(3 * n * 4), y1 = rt.heap.alloc(3 * 2 * 4);
        rt.k.f32_timing_signal(3, n, pos, inv, 2.5, y);
        const row = rt.f32.slice(y >> 2, (y >> 2) + 3 * n);
        for (let i = 0; i < h; i++) {
          rt.k.f32_timing_signal(3, 2, pos, inv + 4 * i, 2.5, y1);
          const one = rt.f32.slice(y1 >> 2, (y1 >> 2) + 6);
          for (let r = 0; r < 3; r++) {
            expect([row[r * n + i], row[r * n + h + i]], `h=${h}, n=${n}, row ${r}, channel ${i}`).toEqual([one[2 * r], one[2 * r + 1]]);
          }
        }
        if (n % 2) for (let r = 0; r < 3; r++) expect(row[r * n + n - 1]).toBe(0);
        [inv, y, y1].forEach((b) => rt.heap.release(b));
      }
    }
    rt.heap.release(pos);
  });
});

describe('f32_rope: whole vectors and tails', () => {
  it('every half width: each pair has the bits of a half-width-1 rotation, and rotates by pos / timescale', () => {
    const pos = put([37]);
    for (const half of WIDTHS) {
      const ts = Array.from({ length: half }, (_, i) => Math.fround(Math.pow(1e4, (2 * i) / (2 * half))));
      const x = Array.from({ length: 2 * half }, (_, i) => Math.fround(Math.sin(7 * i + half) * 3));
      const tp = put(ts), xp = put(x), yp = rt.heap.alloc(2 * half * 4), tmp = rt.heap.alloc(2 * half * 4);
      const y1 = rt.heap.alloc(8), x1 = rt.heap.alloc(8);
      rt.k.f32_rope(1, 1, half, 1, pos, tp, xp, yp, tmp);
      const y = rt.f32.slice(yp >> 2, (yp >> 2) + 2 * half);
      for (let i = 0; i < half; i++) {
        const a = Math.fround(37 / ts[i]!), c = Math.cos(a), s = Math.sin(a), u = x[i]!, v = x[half + i]!;
        const what = `half=${half}, pair ${i}`;
        expect(Math.abs(y[i]! - (u * c - v * s)), what).toBeLessThanOrEqual(1e-6);
        expect(Math.abs(y[half + i]! - (v * c + u * s)), what).toBeLessThanOrEqual(1e-6);
        rt.f32.set([u, v], x1 >> 2);
        rt.k.f32_rope(1, 1, 1, 1, pos, tp + 4 * i, x1, y1, tmp);
        expect([y[i], y[half + i]], what).toEqual([rt.f32[y1 >> 2], rt.f32[(y1 >> 2) + 1]]);
      }
      [tp, xp, yp, tmp, y1, x1].forEach((b) => rt.heap.release(b));
    }
    rt.heap.release(pos);
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
