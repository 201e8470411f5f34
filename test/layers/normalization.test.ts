// The normalization layers (src/layers/normalization.ts): the reference's test cases
// (normalization_test.py) through verifyContract, parameters, normalised statistics, streaming
// state, oracle fixtures (tools/fixtures_normalization.py) and bad configs.
import { beforeAll, describe, expect, it } from 'vitest';
import * as sl from '../../src/index.js';
import { seededRandom } from '../../src/util/hash.js';
import { checkFixtureCase, loadFixture } from '../fixtures.js';
import { randomizeWeights } from './helpers.js';

beforeAll(async () => {
  await sl.init();
});

/** Random weights around 1 (so ones/zeros cannot hide a bug, and scales stay away from zero). */
const randomizeNearOne = (model: sl.Model) => randomizeWeights(model, 1, 0.5, 1);

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

        randomizeNearOne(m);
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
        if (names.length) randomizeNearOne(m);
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

describe('LayerNormalization past float32', () => {
  // Found by an extreme-value differential test: Inf - Inf made the variance NaN.
  it('maps a step whose variance overflows to the bias, as the reference (rows and strided columns)', () => {
    const bias = { dtype: 'F32' as const, shape: [3], data: Float32Array.of(-1, 0, 1) };
    const rows = sl.build(sl.LayerNormalization(), { inputShape: [3] });
    rows.loadWeights({ scale: { dtype: 'F32', shape: [3], data: Float32Array.of(2, 3, 4) }, bias });
    expect([...rows.layer(sl.Sequence.fromValues([1, 2, 3e38, -3e38, 5, 3e38], [1, 2, 3])).values]).toEqual([-1, 0, 1, -1, 0, 1]);
    const columns = sl.build(sl.LayerNormalization({ axis: -2 }), { inputShape: [3, 2] });
    columns.loadWeights({ scale: { dtype: 'F32', shape: [3], data: Float32Array.of(2, 3, 4) }, bias });
    const y = columns.layer(sl.Sequence.fromValues([1, 7, 2, 8, 3e38, 9], [1, 1, 3, 2])).values;
    expect([y[0], y[2], y[4]]).toEqual([-1, 0, 1]); // the column holding 3e38
    expect(y.every(Number.isFinite)).toBe(true);
    rows.dispose();
    columns.dispose();
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

        randomizeNearOne(m);
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

describe('L2Normalize', () => {
  /** Full-rank shape and axis: the reference's cases plus non-adjacent axes. */
  const cases: [number[], number | number[]][] = [
    [[2, 10, 3], [-1]],
    [[2, 3, 5, 9], [-1]],
    [[2, 3, 5, 9], [-2]],
    [[2, 3, 5, 9], [-1, -2]],
    [[2, 3, 2, 3, 4], [2, 4]],
  ];
  for (const [shape, axis] of cases) {
    it(`normalises ${JSON.stringify(shape)} over axis ${JSON.stringify(axis)} and passes the contract`, () => {
      const epsilon = 1e-12;
      const m = sl.build(sl.L2Normalize({ axis, epsilon }), { inputShape: shape.slice(2) });
      try {
        expect([m.blockSize, m.outputRatio.toString(), m.inputLatency, m.outputLatency, m.supportsStep]).toEqual([1, '1', 0, 0, true]);
        expect(m.receptiveField).toEqual([0, 0]);
        expect(m.outputShape()).toEqual(shape.slice(2));
        expect(Object.keys(m.getWeights())).toEqual([]);

        // y = x / sqrt(sum(x²) + epsilon) per group (the reference's check): the sum of
        // squares of every output group is ss / (ss + epsilon).
        const x = sl.randomSequence(shape, { seed: 4 });
        const { output: y } = sl.verifyContract(m, { x });
        const axes = fullAxes(axis, shape.length);
        const sumSquares = (s: sl.Sequence) => {
          const stats = groupStats(s, axes), size = s.values.length / stats.length;
          return stats.map((g) => (g.variance + g.mean ** 2) * size);
        };
        const before = sumSquares(x), after = sumSquares(y);
        before.forEach((ss, i) => expect(after[i]!).toBeCloseTo(ss === 0 ? 0 : ss / (ss + epsilon), 5));
        sl.verifyContract(m);
      } finally {
        m.dispose();
      }
    });
  }

  it('epsilon defaults to 1e-12, as the reference (found in review)', () => {
    // Sum of squares 5.25e-12: with epsilon 1e-12, y = x / sqrt(6.25e-12) = x / 2.5e-6.
    const x = sl.Sequence.fromValues(Float32Array.from([1e-6, -2e-6, 5e-7, 3, 4, 0]), [1, 2, 3]);
    const outputs = (config: sl.LayerConfig) => {
      const m = sl.build(config, { inputShape: [3] });
      const y = Array.from(m.layer(x).values);
      m.dispose();
      return y;
    };
    const byDefault = outputs(sl.L2Normalize({}));
    [0.4, -0.8, 0.2, 0.6, 0.8, 0].forEach((v, i) => expect(byDefault[i]).toBeCloseTo(v, 6));
    expect(byDefault).toEqual(outputs(sl.L2Normalize({ epsilon: 1e-12 })));
  });

  it('passes the contract with epsilon 1 and maps zeros to zeros', () => {
    const m = sl.build(sl.L2Normalize({ axis: [-1, -2], epsilon: 1.0 }), { inputShape: [4, 8] });
    try {
      sl.verifyContract(m);
      expect([...m.layer(sl.Sequence.fromValues(new Float32Array(32), [1, 1, 4, 8])).values].every((v) => v === 0)).toBe(true);
    } finally {
      m.dispose();
    }
  });
});

/** Loads random scale/bias and positive variances into a BatchNormalization model; returns them. */
function randomBatchNormWeights(m: sl.Model, seed: number): Record<string, Float32Array> {
  const g = sl.normal(seededRandom(seed));
  const w = m.getWeights();
  const out: Record<string, Float32Array> = {};
  for (const [name, t] of Object.entries(w)) {
    const data = t.data as Float32Array;
    data.forEach((_, i) => (data[i] = name === 'var' ? 0.2 + Math.abs(g()) : name === 'scale' ? 1 + 0.5 * g() : g()));
    out[name] = data.slice();
  }
  m.loadWeights(w);
  return out;
}

describe('BatchNormalization', () => {
  /** Full-rank shape, axis, parameter shape: the reference's cases plus a positive middle axis. */
  const cases: [number[], number, number[]][] = [
    [[4, 10, 3], -1, [3]],
    [[4, 3, 5, 9], -2, [5]],
    [[2, 5, 2, 3, 4], 3, [3]],
  ];
  for (const [shape, axis, paramShape] of cases) {
    it(`normalises ${JSON.stringify(shape)} over axis ${axis} with stored statistics and passes the contract`, () => {
      const epsilon = 1e-3;
      const m = sl.build(sl.BatchNormalization({ axis, epsilon }), { inputShape: shape.slice(2) });
      try {
        expect([m.blockSize, m.outputRatio.toString(), m.inputLatency, m.outputLatency, m.supportsStep]).toEqual([1, '1', 0, 0, true]);
        expect(m.receptiveField).toEqual([0, 0]);
        expect(m.outputShape()).toEqual(shape.slice(2));
        const w = m.getWeights();
        expect(Object.keys(w).sort()).toEqual(['bias', 'mean', 'scale', 'var']);
        const init = { scale: 1, bias: 0, mean: 0, var: 1 } as Record<string, number>;
        for (const [name, t] of Object.entries(w)) {
          expect(t.shape).toEqual(paramShape);
          expect([...t.data].every((v) => v === init[name]), name).toBe(true);
        }

        // y = scale * (x - mean) / sqrt(epsilon + var) + bias (the reference's check).
        const p = randomBatchNormWeights(m, 11);
        const x = sl.randomSequence(shape, { seed: 6 });
        const { output: y } = sl.verifyContract(m, { x });
        const full = (axis + shape.length) % shape.length;
        const inner = shape.slice(full + 1).reduce((a, b) => a * b, 1);
        const steps = shape[0]! * shape[1]!, row = x.values.length / steps;
        for (let i = 0; i < x.values.length; i++) {
          if (!x.mask[Math.floor(i / row)]) continue;
          const k = Math.floor(i / inner) % shape[full]!;
          const want = (p.scale![k]! * (x.values[i]! - p.mean![k]!)) / Math.sqrt(epsilon + p.var![k]!) + p.bias![k]!;
          expect(y.values[i]).toBeCloseTo(want, 5);
        }
        sl.verifyContract(m);
      } finally {
        m.dispose();
      }
    });
  }

  for (const config of [{ epsilon: 1.0 }, { useBias: false }, { useBias: false, useScale: false }, { useFastVariance: false }, { momentum: 0.5 }]) {
    it(`passes the contract with ${JSON.stringify(config)}`, () => {
      const fields: { useBias?: boolean; useScale?: boolean } = config;
      const m = sl.build(sl.BatchNormalization({ axis: -2, ...config }), { inputShape: [5, 9] });
      try {
        const names = Object.keys(m.getWeights()).sort();
        expect(names).toEqual([...(fields.useBias === false ? [] : ['bias']), 'mean', ...(fields.useScale === false ? [] : ['scale']), 'var']);
        randomBatchNormWeights(m, 2);
        sl.verifyContract(m);
      } finally {
        m.dispose();
      }
    });
  }

  it('accepts the channel axis 2 and the reference snake_case fields', () => {
    const m = sl.build({ type: 'BatchNormalization', axis: 2, use_bias: false, use_fast_variance: false }, { inputShape: [5] });
    expect(Object.keys(m.getWeights()).sort()).toEqual(['mean', 'scale', 'var']);
    m.dispose();
  });
});

/** Per (batch item, group): mean and variance of the valid steps' elements of y (channel shape C, grouped `axis`). */
function validGroupStats(y: sl.Sequence, axis: number, groups: number): { mean: number; variance: number; count: number }[] {
  const c = y.channelShape, full = (axis + c.length + 2) % (c.length + 2);
  const inner = c.slice(full - 1).reduce((a, b) => a * b, 1), size = c[full - 2]!;
  const row = y.stepSize;
  const stats = Array.from({ length: y.batch * groups }, () => ({ sum: 0, sq: 0, count: 0 }));
  for (let s = 0; s < y.batch * y.time; s++) {
    if (!y.mask[s]) continue;
    for (let j = 0; j < row; j++) {
      const g = Math.floor((Math.floor(j / inner) % size) / (size / groups));
      const v = y.values[s * row + j]!;
      const st = stats[Math.floor(s / y.time) * groups + g]!;
      st.sum += v;
      st.sq += v * v;
      st.count++;
    }
  }
  return stats.map((st) => ({ mean: st.sum / st.count, variance: st.sq / st.count - (st.sum / st.count) ** 2, count: st.count }));
}

describe('GroupNormalization', () => {
  /** Full-rank shape, axis, num_groups, parameter shape: the reference's cases plus outer and inner axes around the grouped one. */
  const cases: [number[], number, number, number[]][] = [
    [[8, 6, 6], -1, 3, [6]],
    [[8, 6, 5, 6], -2, 5, [5]],
    [[8, 6, 5, 6], -2, 1, [5]],
    [[4, 7, 3, 4, 2], 3, 2, [4]],
    [[4, 7, 8], -1, 8, [8]],
  ];
  for (const cumulative of [false, true]) {
    for (const [shape, axis, numGroups, paramShape] of cases) {
      it(`${cumulative ? 'cumulatively ' : ''}normalises ${JSON.stringify(shape)} over axis ${axis} in ${numGroups} groups and passes the contract`, () => {
        const m = sl.build(sl.GroupNormalization({ numGroups, axis, cumulative }), { inputShape: shape.slice(2) });
        try {
          expect([m.blockSize, m.outputRatio.toString(), m.inputLatency, m.outputLatency, m.supportsStep]).toEqual([1, '1', 0, 0, cumulative]);
          expect(m.receptiveField).toEqual([-Infinity, cumulative ? 0 : Infinity]);
          expect(m.outputShape()).toEqual(shape.slice(2));
          const w = m.getWeights();
          expect(Object.keys(w).sort()).toEqual(['bias', 'scale']);
          expect(w.scale!.shape).toEqual(paramShape);
          expect([...w.scale!.data].every((v) => v === 1) && [...w.bias!.data].every((v) => v === 0)).toBe(true);

          const x = sl.randomSequence(shape, { seed: 8 });
          if (!cumulative) {
            // Each group has mean 0 and variance v / (v + epsilon) over its valid steps, for
            // input variance v (the reference checks variance 1 within 1e-4; a group of one
            // element stays 0); an empty item has no statistics to check.
            const before = validGroupStats(x, axis, numGroups);
            validGroupStats(m.layer(x), axis, numGroups).forEach((g, i) => {
              if (!g.count) return;
              const v = before[i]!.variance;
              expect(Math.abs(g.mean)).toBeLessThan(1e-6);
              expect(g.variance).toBeCloseTo(v / (v + 1e-6), 5);
            });
            const state = m.initialState(x.batch);
            expect(() => m.step(x, state)).toThrow(/NOT_STEPPABLE/);
            state.dispose();
          }
          randomizeNearOne(m);
          sl.verifyContract(m, { x });
          sl.verifyContract(m, { x: sl.randomSequence(shape, { seed: 2, randomMask: true }) });
          sl.verifyContract(m);
        } finally {
          m.dispose();
        }
      });
    }
  }

  for (const config of [{ epsilon: 1.0 }, { cumulative: true }, { useBias: false }, { useBias: false, useScale: false }]) {
    it(`passes the contract with ${JSON.stringify(config)}`, () => {
      const fields: { useBias?: boolean; useScale?: boolean } = config;
      const m = sl.build(sl.GroupNormalization({ numGroups: 5, axis: -2, ...config }), { inputShape: [5, 4] });
      try {
        const names = Object.keys(m.getWeights()).sort();
        expect(names).toEqual([...(fields.useBias === false ? [] : ['bias']), ...(fields.useScale === false ? [] : ['scale'])]);
        if (names.length) randomizeNearOne(m);
        sl.verifyContract(m, { x: sl.randomSequence([8, 6, 5, 4], { seed: 1 }) });
      } finally {
        m.dispose();
      }
    });
  }

  it('keeps the running sums of valid steps in its state, updated in place', () => {
    const m = sl.build(sl.GroupNormalization({ numGroups: 2, cumulative: true }), { inputShape: [3, 4] });
    const state = m.initialState(2);
    try {
      const x = sl.Sequence.fromLengths(sl.randomSequence([2, 6, 3, 4], { seed: 3, randomLengths: false }).values, [2, 6, 3, 4], [6, 2]);
      const [sumV, countV, sumVV] = state.slots[0]!;
      expect([sumV, countV, sumVV].map((b) => [b!.name, b!.shape])).toEqual([['sum_v', [2, 2]], ['count_v', [2, 2]], ['sum_vv', [2, 2]]]);
      m.step(x.sliceTime(0, 4), state);
      m.step(x.sliceTime(4, 6), state);
      const read = (b: typeof sumV) => [...m.rt.f32.subarray(b!.ptr >> 2, (b!.ptr >> 2) + 4)];
      // 3 × 2 elements per group and step, over 6 and 2 valid steps.
      expect(read(countV)).toEqual([36, 36, 12, 12]);
      const want = [0, 1, 2, 3].map((i) => {
        const [b, g] = [Math.floor(i / 2), i % 2];
        let sum = 0;
        for (let t = 0; t < (b ? 2 : 6); t++) for (let c = 0; c < 12; c++) if (Math.floor((c % 4) / 2) === g) sum += x.values[(b * 6 + t) * 12 + c]!;
        return sum;
      });
      read(sumV).forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 4));
      expect(read(sumVV).every((v) => v > 0)).toBe(true);
    } finally {
      state.dispose();
      m.dispose();
    }
  });

  it('maps an empty sequence to the bias, and all-zero inputs to finite values', () => {
    for (const cumulative of [false, true]) {
      const m = sl.build(sl.GroupNormalization({ numGroups: 4, cumulative, epsilon: 1e-32 }), { inputShape: [8] });
      try {
        randomizeNearOne(m);
        const bias = [...m.getWeights().bias!.data];
        // Zero-length item: count floored at 1, so mean and variance 0 (the reference's test
        // checks the masked output is unchanged; unmasked, every step is bias).
        const empty = new sl.Sequence(new Float32Array(24), new Uint8Array(3), [1, 3, 8]);
        const y = m.layer(empty);
        expect([...y.values]).toEqual([...bias, ...bias, ...bias]);
        // All-zero valid input with a tiny epsilon stays finite (the reference's stability test).
        const zeros = m.layer(sl.Sequence.fromValues(new Float32Array(24), [1, 3, 8]));
        expect([...zeros.values]).toEqual([...bias, ...bias, ...bias]);
      } finally {
        m.dispose();
      }
    }
  });
});

describe('normalization oracle fixtures (torch layer_norm, batch_norm, group_norm; NumPy RMS, L2, cumulative group norm)', () => {
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

  for (const type of ['L2Normalize', 'LayerNormalization', 'RMSNormalization']) {
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
  for (const type of ['BatchNormalization', 'GroupNormalization']) {
    const base = type === 'GroupNormalization' ? { type, num_groups: 1 } : { type };
    it(`${type} rejects the batch and time axes and axes out of range (reference test_invalid_axis)`, () => {
      bad({ ...base, axis: 0 }, [5], new RegExp(`^\\[BAD_CONFIG\\] ${type} at config: axis: normalizing over the batch axis is not allowed; expected channel axes in 2\\.\\.2 or -1\\.\\.-1, got axis 0 for input \\[batch, time, 5\\]`));
      bad({ ...base, axis: 1 }, [5], /axis: normalizing over the time axis is not allowed/);
      bad({ ...base, axis: -4 }, [5, 6], /axis: normalizing over the batch axis is not allowed/);
      bad({ ...base, axis: 4 }, [5, 6], /axis: expected channel axes in 2\.\.3 or -2\.\.-1, got axis 4 for input \[batch, time, 5, 6\]/);
      bad({ ...base, axis: [-1] }, [5], /config\.axis: expected an integer <= 16777216, got \[-1\]/);
      bad(base, [5], /expected a float32 input, got int32/, 'int32');
      sl.build({ ...base, axis: 2 }, { inputShape: [5] }).dispose();
    });
  }

  it('GroupNormalization rejects channels not divisible by num_groups (reference test_invalid_groups)', () => {
    bad({ type: 'GroupNormalization', num_groups: 2 }, [5], /^\[BAD_CONFIG\] GroupNormalization at config: num_groups: expected a divisor of 5 \(the size of axis -1 of input \[batch, time, 5\]\), got 2$/);
    bad({ type: 'GroupNormalization', numGroups: 4, axis: 2 }, [6, 8], /num_groups: expected a divisor of 6 \(the size of axis 2 of input \[batch, time, 6, 8\]\), got 4/);
    bad({ type: 'GroupNormalization', num_groups: 0 }, [4], /config\.num_groups: expected an integer in \[1, 16777216\], got 0/);
    bad({ type: 'GroupNormalization' }, [4], /config: GroupNormalization needs field "num_groups"/);
  });

  it('BatchNormalization rejects a momentum outside [0, 1] and a negative epsilon', () => {
    bad({ type: 'BatchNormalization', momentum: 1.5 }, [4], /config\.momentum: expected a number in \[0, 1\], got 1\.5/);
    bad({ type: 'BatchNormalization', epsilon: -1 }, [4], /config\.epsilon: expected a number >= 0, got -1/);
  });

  it('accepts the reference snake_case fields', () => {
    const m = sl.build({ type: 'LayerNormalization', axis: [-1], use_bias: false, reductions_in_at_least_fp32: true }, { inputShape: [4] });
    expect(Object.keys(m.getWeights())).toEqual(['scale']);
    m.dispose();
  });
});
