// LayerNormalization and RMSNormalization (src/layers/normalization.ts): the reference's test
// cases (normalization_test.py) through verifyContract, parameters, normalised statistics,
// oracle fixtures (tools/fixtures_normalization.py) and bad configs.
import { beforeAll, describe, expect, it } from 'vitest';
import * as sl from '../../src/index.js';
import { seededRandom } from '../../src/util/hash.js';
import { checkFixtureCase, loadFixture } from '../fixtures.js';

beforeAll(async () => {
  await sl.init();
});

/** Replaces every parameter by random values (so ones/zeros cannot hide a bug, as the reference's randomize_weights). */
function randomizeWeights(model: sl.Model, seed = 1): void {
  const g = sl.normal(seededRandom(seed));
  const w = model.getWeights();
  for (const t of Object.values(w)) (t.data as Float32Array).forEach((_, i, a) => (a[i] = 1 + 0.5 * g()));
  model.loadWeights(w);
}

/** Full-rank shape, axis, expected parameter shape (the reference's cases plus positive and non-adjacent axes). */
const LAYER_NORM_CASES: [number[], number | number[], number[]][] = [
  [[2, 10, 4], [-1], [4]],
  [[2, 3, 5, 4], [-1], [4]],
  [[2, 3, 4, 9], [-2], [4]],
  [[2, 3, 4, 8], [-1, -2], [4, 8]],
  [[2, 3, 4, 8], -1, [8]],
  [[2, 3, 3, 4, 5], 2, [3]],
  [[2, 3, 3, 4, 5], [4, 2], [3, 5]],
  [[2, 3, 2, 3, 4, 5], [2, 4], [2, 4]],
  [[2, 3, 2, 3, 4, 5], [-1, 3], [3, 5]],
];

const RMS_NORM_CASES: [number[], number | number[], number[]][] = [
  [[2, 10, 3], [-1], [3]],
  [[2, 3, 5, 9], [-1], [9]],
  [[2, 3, 5, 9], [-2], [5]],
  [[2, 3, 5, 9], [-1, -2], [5, 9]],
  [[2, 3, 3, 4, 5], [2, 4], [3, 5]],
];

/** Indices (in the full rank) reduced by `axis`. */
const fullAxes = (axis: number | number[], rank: number) => [...new Set((Array.isArray(axis) ? axis : [axis]).map((a) => (a + rank) % rank))];

/** Mean and variance of y over the reduced axes for each kept index, by brute force. */
function groupStats(y: sl.Sequence, axes: number[]): { mean: number; variance: number; step: number }[] {
  const shape = y.shape;
  const groups = new Map<string, { sum: number; sq: number; n: number; step: number }>();
  const idx = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < y.values.length; i++) {
    let r = i;
    for (let d = shape.length - 1; d >= 0; d--) {
      idx[d] = r % shape[d]!;
      r = Math.floor(r / shape[d]!);
    }
    const key = idx.map((v, d) => (axes.includes(d) ? '*' : v)).join();
    const g = groups.get(key) ?? { sum: 0, sq: 0, n: 0, step: idx[0]! * shape[1]! + idx[1]! };
    const v = y.values[i]!;
    g.sum += v;
    g.sq += v * v;
    g.n++;
    groups.set(key, g);
  }
  return [...groups.values()].map((g) => ({ mean: g.sum / g.n, variance: g.sq / g.n - (g.sum / g.n) ** 2, step: g.step }));
}

describe('LayerNormalization', () => {
  for (const [shape, axis, paramShape] of LAYER_NORM_CASES) {
    it(`normalises ${JSON.stringify(shape)} over axis ${JSON.stringify(axis)} and passes the contract`, () => {
      const m = sl.build(sl.LayerNormalization({ axis }), { inputShape: shape.slice(2) });
      try {
        expect([m.blockSize, m.outputRatio.toString(), m.inputLatency, m.outputLatency, m.supportsStep]).toEqual([1, '1', 0, 0, true]);
        expect(m.receptiveField).toEqual([0, 0]);
        expect(m.outputShape()).toEqual(shape.slice(2));
        const w = m.getWeights();
        expect(Object.keys(w).sort()).toEqual(['bias', 'scale']);
        expect(w.scale!.shape).toEqual(paramShape);
        expect([...w.scale!.data]).toEqual(new Array(paramShape.reduce((a, b) => a * b)).fill(1));
        expect([...w.bias!.data].every((v) => v === 0)).toBe(true);

        // With the initial scale 1 and bias 0, every group has mean 0 and variance
        // v / (v + epsilon) for input variance v (the reference's check); invalid steps are
        // normalised too (never re-masked): they hold zeros, so variance 0 and output 0.
        const x = sl.randomSequence(shape, { seed: 5 });
        const y = m.layer(x);
        expect([...y.mask]).toEqual([...x.mask]);
        const axes = fullAxes(axis, shape.length);
        const before = groupStats(x, axes);
        groupStats(y, axes).forEach((g, i) => {
          const v = before[i]!.variance;
          expect(Math.abs(g.mean)).toBeLessThan(1e-6);
          expect(g.variance).toBeCloseTo(v / (v + 1e-6), 5);
          if (!x.mask[g.step]) expect(g.variance).toBe(0);
        });

        randomizeWeights(m);
        sl.verifyContract(m, { x: sl.randomSequence(shape, { seed: 3 }) });
        sl.verifyContract(m);
      } finally {
        m.dispose();
      }
    });
  }

  for (const config of [{ epsilon: 1.0 }, { useBias: false }, { useBias: false, useScale: false }, { reductionsInAtLeastFp32: false }]) {
    it(`passes the contract with ${JSON.stringify(config)}`, () => {
      const fields: { useBias?: boolean; useScale?: boolean } = config;
      const m = sl.build(sl.LayerNormalization({ axis: [-1, -2], ...config }), { inputShape: [4, 8] });
      try {
        const names = Object.keys(m.getWeights()).sort();
        expect(names).toEqual([...(fields.useBias === false ? [] : ['bias']), ...(fields.useScale === false ? [] : ['scale'])]);
        if (names.length) randomizeWeights(m);
        sl.verifyContract(m);
      } finally {
        m.dispose();
      }
    });
  }

  it('maps a constant step to the bias and keeps a NaN step to itself', () => {
    const m = sl.build(sl.LayerNormalization(), { inputShape: [3] });
    try {
      m.loadWeights({ scale: { dtype: 'F32', shape: [3], data: Float32Array.of(2, 3, 4) }, bias: { dtype: 'F32', shape: [3], data: Float32Array.of(-1, 0, 1) } });
      const x = sl.Sequence.fromValues([5, 5, 5, NaN, 1, 2, 1, 2, 3], [1, 3, 3]);
      const y = [...m.layer(x).values];
      expect(y.slice(0, 3)).toEqual([-1, 0, 1]);
      expect(y.slice(3, 6).every(Number.isNaN)).toBe(true);
      const s = 1 / Math.sqrt(2 / 3 + 1e-6);
      y.slice(6).forEach((v, i) => expect(v).toBeCloseTo([-s * 2 - 1, 0, s * 4 + 1][i]!, 5));
    } finally {
      m.dispose();
    }
  });
});

describe('RMSNormalization', () => {
  for (const [shape, axis, paramShape] of RMS_NORM_CASES) {
    it(`normalises ${JSON.stringify(shape)} over axis ${JSON.stringify(axis)} and passes the contract`, () => {
      const epsilon = 0.1;
      const m = sl.build(sl.RMSNormalization({ axis, epsilon }), { inputShape: shape.slice(2) });
      try {
        expect([m.blockSize, m.outputRatio.toString(), m.inputLatency, m.outputLatency]).toEqual([1, '1', 0, 0]);
        expect(m.receptiveField).toEqual([0, 0]);
        const w = m.getWeights();
        expect(Object.keys(w)).toEqual(['scale']);
        expect(w.scale!.shape).toEqual(paramShape);
        expect([...w.scale!.data].every((v) => v === 1)).toBe(true);

        // y = x / sqrt(mean(x²) + epsilon) per group (the reference's check).
        const x = sl.randomSequence(shape, { seed: 9 });
        const y = m.layer(x);
        const axes = fullAxes(axis, shape.length);
        const rms = groupStats(sl.Sequence.fromValues(x.values, x.shape), axes);
        const ratio = groupStats(sl.Sequence.fromValues(y.values.map((v, i) => v / (x.values[i]! || 1)), x.shape), axes);
        rms.forEach((g, i) => {
          if (g.variance + g.mean ** 2 === 0) return;
          expect(ratio[i]!.mean).toBeCloseTo(1 / Math.sqrt(g.variance + g.mean ** 2 + epsilon), 5);
        });

        randomizeWeights(m);
        sl.verifyContract(m);
      } finally {
        m.dispose();
      }
    });
  }

  for (const config of [{ epsilon: 1.0 }, { useScale: false }, { reductionsInAtLeastFp32: false }]) {
    it(`passes the contract with ${JSON.stringify(config)}`, () => {
      const m = sl.build(sl.RMSNormalization({ axis: [-1, -2], ...config }), { inputShape: [4, 8] });
      try {
        expect(Object.keys(m.getWeights())).toEqual(config.useScale === false ? [] : ['scale']);
        sl.verifyContract(m);
      } finally {
        m.dispose();
      }
    });
  }
});

describe('normalization oracle fixtures (torch layer_norm, NumPy RMSNorm)', () => {
  const { cases } = loadFixture('normalization');
  for (const c of cases) it(c.name, () => checkFixtureCase(c));
});

describe('normalization bad configs', () => {
  const bad = (config: sl.LayerConfig, inputShape: number[], message: RegExp, dtype?: sl.DType) => {
    let err: unknown;
    try {
      sl.build(config, { inputShape, inputDtype: dtype }).dispose();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(sl.SeqLayersError);
    expect((err as sl.SeqLayersError).code).toBe('BAD_CONFIG');
    expect((err as Error).message).toMatch(message);
  };

  for (const type of ['LayerNormalization', 'RMSNormalization']) {
    it(`${type} rejects the time axis (reference test_invalid_axis)`, () => {
      bad({ type, axis: [-1, -2] }, [5], new RegExp(`^\\[BAD_CONFIG\\] ${type} at config: axis: normalizing over the time axis is not allowed; expected channel axes in 2\\.\\.2 or -1\\.\\.-1, got axis \\[-1, -2\\] for input \\[batch, time, 5\\]`));
      bad({ type, axis: 1 }, [5, 6], /axis: normalizing over the time axis/);
    });
    it(`${type} rejects the batch axis`, () => {
      bad({ type, axis: 0 }, [5], /axis: normalizing over the batch axis is not allowed/);
      bad({ type, axis: -3 }, [5], /axis: normalizing over the batch axis is not allowed/);
    });
    it(`${type} rejects axes out of range`, () => {
      bad({ type, axis: 3 }, [5], /axis: expected channel axes in 2\.\.2 or -1\.\.-1, got axis 3 for input \[batch, time, 5\]/);
      bad({ type, axis: [-1, -5] }, [4, 5], /axis: expected channel axes in 2\.\.3 or -2\.\.-1, got axis \[-1, -5\]/);
      bad({ type }, [], /time axis is not allowed; expected a channel axis, and the input has none, got axis -1 for input \[batch, time\]/);
    });
    it(`${type} rejects malformed fields and int inputs`, () => {
      bad({ type, axis: 'last' }, [5], /config\.axis: expected an integer or a list of integers, got "last"/);
      bad({ type, axis: [] }, [5], /config\.axis: expected an integer or a list of integers, got \[\]/);
      bad({ type, epsilon: -1 }, [5], /config\.epsilon: expected a number >= 0, got -1/);
      bad({ type }, [5], /expected a float32 input, got int32/, 'int32');
    });
  }
  it('accepts the reference snake_case fields', () => {
    const m = sl.build({ type: 'LayerNormalization', axis: [-1], use_bias: false, reductions_in_at_least_fp32: true }, { inputShape: [4] });
    expect(Object.keys(m.getWeights())).toEqual(['scale']);
    m.dispose();
  });
});
