// BroadcastPlan (src/broadcast.ts) through the layers that combine channel shapes: contiguous
// axes merge, so high-rank shapes run within the kernel's MAX_STRIDED_RANK axes, and a
// broadcast that cannot merge below it is BAD_CONFIG at build (it once ran past the kernel's
// counters and gave wrong values silently).
import { beforeAll, describe, expect, it } from 'vitest';
import * as sl from '../../src/index.js';

beforeAll(async () => {
  await sl.init();
});

const iota = (n: number) => Float32Array.from({ length: n }, (_, i) => i + 1);

/** Parallel 'add' of the input reshaped two ways (via a Dense to `bSize` features for the second). */
function alternating(rank: number) {
  const a = Array.from({ length: rank }, (_, i) => (i % 2 ? 1 : 2)), b = a.map((d) => 3 - d);
  const size = (s: number[]) => s.reduce((p, d) => p * d, 1);
  const config = sl.Parallel([sl.Reshape({ outputShape: a }), sl.Serial([sl.Dense({ features: size(b), useBias: false }), sl.Reshape({ outputShape: b })])], { combination: 'add' });
  return { config, a, b, inputShape: [size(a)] };
}

describe('broadcast plans', () => {
  it('merge contiguous axes: a stack over nine axes of 2 is exact', () => {
    const shape = Array<number>(9).fill(2), n = 2 ** 9;
    const m = sl.build(sl.Parallel([sl.Identity(), sl.Scale({ scale: 2 })], { combination: 'stack' }), { inputShape: shape });
    const x = sl.Sequence.fromValues(iota(3 * n), [1, 3, ...shape]);
    const y = m.layer(x);
    expect(y.shape).toEqual([1, 3, 2, ...shape]);
    for (let t = 0; t < 3; t++) {
      for (let j = 0; j < n; j++) {
        expect(y.values[t * 2 * n + j]).toBe(x.values[t * n + j]);
        expect(y.values[t * 2 * n + n + j]).toBe(2 * x.values[t * n + j]!);
      }
    }
    m.dispose();
  });

  it('broadcast over seven alternating axes (no merge) equals a direct sum', () => {
    const { config, a, b, inputShape } = alternating(7);
    const m = sl.build(config, { inputShape, seed: 1 });
    const x = sl.Sequence.fromValues(iota(2 * inputShape[0]!), [1, 2, ...inputShape]);
    const y = m.layer(x);
    const ya = sl.build(sl.Reshape({ outputShape: a }), { inputShape }).layer(x).values;
    const dense = sl.build(sl.Dense({ features: b.reduce((p, d) => p * d, 1), useBias: false }), { inputShape });
    dense.loadWeights({ kernel: m.getWeights()['layers.1.layers.0.kernel']! });
    const yb = dense.layer(x).values;
    const out = a.map((d, i) => Math.max(d, b[i]!)), nOut = out.reduce((p, d) => p * d, 1);
    const index = (shape: number[], coords: number[]) => coords.reduce((acc, c, i) => acc * shape[i]! + (shape[i] === 1 ? 0 : c), 0);
    for (let t = 0; t < 2; t++) {
      for (let e = 0; e < nOut; e++) {
        const coords = out.map((_, i) => Math.floor(e / out.slice(i + 1).reduce((p, d) => p * d, 1)) % out[i]!);
        const want = Math.fround(ya[t * ya.length / 2 + index(a, coords)]! + yb[t * yb.length / 2 + index(b, coords)]!);
        expect(y.values[t * nOut + e]).toBe(want);
      }
    }
    m.dispose();
  });

  it('refuse a broadcast left with more axes than the kernel takes', () => {
    const { config, inputShape } = alternating(9);
    expect(() => sl.build(config, { inputShape })).toThrow(
      '[BAD_CONFIG] config: expected channels that broadcast over at most 7 axes once those of size 1 are dropped and contiguous ones merged, got shape [2, 2, 2, 2, 2, 2, 2, 2, 2] (9 axes)',
    );
  });
});
