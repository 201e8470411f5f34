// GmmAttention (src/layers/attention/gmm-attention.ts): the reference's test cases
// (attention/gmm_attention_test.py) through verifyContract with random weights, parameter
// shapes, the emitted weights, oracle fixtures (tools/fixtures_position.py: the reference's
// formulas in torch) and bad configs and constants.
import { beforeAll, describe, expect, it } from 'vitest';
import * as sl from '../../src/index.js';
import { checkFixtureCase, loadFixture } from '../fixtures.js';
import { paramShapes, randomizeWeights } from './helpers.js';

beforeAll(async () => {
  await sl.init();
});

const config = (numHeads: number, unitsPerHead: number, monotonic: boolean, numComponents = 7) =>
  sl.GmmAttention({ sourceName: 'source', numHeads, unitsPerHead, numComponents, monotonic, initOffsetBias: 1, initScaleBias: 1 });

describe('GmmAttention', () => {
  const source = sl.randomSequence([2, 11, 5], { seed: 3 });
  const constants = { source };

  for (const [heads, units, monotonic] of [[1, 2, true], [1, 2, false], [3, 5, true], [3, 5, false]] as const) {
    it(`heads ${heads}, units ${units}, monotonic ${monotonic}`, () => {
      const m = sl.build(config(heads, units, monotonic), { inputShape: [3], constants });
      expect(m.blockSize).toBe(1);
      expect(m.outputRatio.toString()).toBe('1');
      expect(m.outputShape()).toEqual([heads, 5]);
      expect(m.receptiveField).toEqual(monotonic ? [-Infinity, 0] : [0, 0]);
      expect(paramShapes(m)).toEqual({ 'hidden.kernel': [3, heads, units], 'output.kernel': [heads, units, 7, 3], 'output.bias': [heads, 7, 3] });
      randomizeWeights(m, 1, 0.5);
      for (const time of [11, 12]) {
        sl.verifyContract(m, { x: sl.randomSequence([2, time, 3], { seed: time }), constants });
      }
      m.dispose();
    });
  }

  it('saturates offsets with maxOffset, and runs without an output bias', () => {
    const m = sl.build(sl.GmmAttention({ sourceName: 'source', numHeads: 2, unitsPerHead: 3, numComponents: 4, monotonic: true, maxOffset: 1.5, outputUseBias: false }), {
      inputShape: [3], constants,
    });
    expect(paramShapes(m)).toEqual({ 'hidden.kernel': [3, 2, 3], 'output.kernel': [2, 3, 4, 3] });
    randomizeWeights(m, 1, 0.5);
    sl.verifyContract(m, { x: sl.randomSequence([2, 9, 3]), constants });
    m.dispose();
  });

  // 37 source channels: the context's 16-channel tiles and their tail; 3 heads: a pair and one.
  for (const channels of [2, 37]) it(`emits the attention weights [batch, time, heads, source_time] (layer and step); they vanish at invalid source steps (source channels ${channels})`, () => {
    const src = sl.randomSequence([2, 11, channels], { seed: 4, lowLength: 5 });
    const c = { source: src };
    const m = sl.build(sl.GmmAttention({ sourceName: 'source', numHeads: 3, unitsPerHead: 5, numComponents: 5, monotonic: true, initOffsetBias: 1, initScaleBias: 1 }), {
      inputShape: [3], constants: c,
    });
    randomizeWeights(m, 1, 0.5);
    const x = sl.randomSequence([2, 7, 3], { seed: 5 });
    const { output, emits } = m.layerWithEmits(x, { constants: c });
    const w = emits[''];
    expect(w!.shape).toEqual([2, 7, 3, 11]);
    // y = w · source for every query step and head.
    for (let b = 0; b < 2; b++) {
      for (let t = 0; t < 7; t++) {
        for (let h = 0; h < 3; h++) {
          for (let s = 0; s < 11; s++) if (!src.mask[b * 11 + s]) expect(w!.values[((b * 7 + t) * 3 + h) * 11 + s]).toBe(0);
          for (let d = 0; d < channels; d++) {
            let sum = 0;
            for (let s = 0; s < 11; s++) sum += w!.values[((b * 7 + t) * 3 + h) * 11 + s]! * src.values[(b * 11 + s) * channels + d]!;
            expect(output.values[((b * 7 + t) * 3 + h) * channels + d]).toBeCloseTo(sum, 4);
          }
        }
      }
    }
    const state = m.initialState(2, { constants: c });
    const step = m.stepWithEmits(x.sliceTime(0, 3), state, { constants: c });
    expect(step.emits['']!.shape).toEqual([2, 3, 3, 11]);
    expect(Array.from(step.emits['']!.values)).toEqual(Array.from(w!.values.subarray(0, 3 * 3 * 11)).concat(Array.from(w!.values.subarray(7 * 3 * 11, 10 * 3 * 11))));
    state.dispose();
    m.dispose();
  });

  // verifyContract's padding invariance poisons a constant only with padConstants: here the
  // source gets 4 more invalid steps and NaN at every invalid one (layer() and step()).
  for (const monotonic of [true, false]) it(`NaN at invalid source steps never reaches a valid output, monotonic ${monotonic} (found in review)`, () => {
    const src = sl.randomSequence([2, 11, 5], { seed: 3, lowLength: 3 });
    expect(Array.from(src.mask).includes(0)).toBe(true);
    const c = { source: src };
    const m = sl.build(config(3, 5, monotonic), { inputShape: [3], constants: c });
    randomizeWeights(m, 1, 0.5);
    sl.verifyContract(m, { x: sl.randomSequence([2, 9, 3], { seed: 6 }), constants: c, padConstants: ['source'], testReceptiveField: false });
    m.dispose();
  });

  it('moves its means forward when monotonic: the weighted source position never decreases', () => {
    const src = sl.Sequence.fromValues(Float32Array.from({ length: 40 }, (_, i) => i), [1, 40, 1]);
    const c = { source: src };
    const m = sl.build(sl.GmmAttention({ sourceName: 'source', numHeads: 1, unitsPerHead: 4, numComponents: 1, monotonic: true }), { inputShape: [2], constants: c });
    randomizeWeights(m, 7, 0.5);
    const { emits } = m.layerWithEmits(sl.randomSequence([1, 12, 2], { randomLengths: false, seed: 8 }), { constants: c });
    const w = emits['']!.values;
    let last = -Infinity;
    for (let t = 0; t < 12; t++) {
      let num = 0, den = 0;
      for (let s = 0; s < 40; s++) {
        num += s * w[t * 40 + s]!;
        den += w[t * 40 + s]!;
      }
      expect(num / den).toBeGreaterThanOrEqual(last - 1e-4);
      last = num / den;
    }
    m.dispose();
  });

  // The kernel skips a component's exp where it is +0 at four positions at once (far from a
  // narrow component's mean); a NaN coefficient must still reach those positions.
  it('weighs positions far from a narrow mixture by exactly 0, and a NaN prior by NaN everywhere', () => {
    const src = sl.randomSequence([1, 40, 2], { randomLengths: false, seed: 9 });
    const c = { source: src };
    const m = sl.build(sl.GmmAttention({ sourceName: 'source', numHeads: 1, unitsPerHead: 2, numComponents: 2, monotonic: false, initScaleBias: -6 }), { inputShape: [2], constants: c });
    randomizeWeights(m, 7, 0.1);
    const x = sl.randomSequence([1, 3, 2], { randomLengths: false, seed: 10 });
    const far = m.layerWithEmits(x, { constants: c }).emits['']!.values;
    expect(far.filter((w) => w === 0).length).toBeGreaterThan(far.length / 2);
    const weights = m.getWeights();
    weights['output.bias']!.data[0] = NaN; // [head 0, component 0, prior]
    m.loadWeights(weights);
    const poisoned = m.layerWithEmits(x, { constants: c });
    expect(Array.from(poisoned.emits['']!.values).every(Number.isNaN)).toBe(true);
    expect(Array.from(poisoned.output.values).every(Number.isNaN)).toBe(true);
    m.dispose();
  });

  it('rejects bad configs, naming the field', () => {
    expect(() => sl.build(config(2, 3, true), { inputShape: [3] })).toThrow(/\[MISSING_CONSTANT\] GmmAttention at config: expected constants\["source"\] at build time to be a Sequence/);
    expect(() => sl.build(config(2, 3, true), { inputShape: [3, 2], constants })).toThrow(/\[BAD_CONFIG\] GmmAttention at config: expected a float32 input with channel shape \[channels\].*got \[3, 2\] float32/);
    expect(() => sl.build(config(2, 3, true, 0), { inputShape: [3], constants })).toThrow(/config\.numComponents: expected an integer in \[1, /);
    expect(() => sl.build(sl.GmmAttention({ sourceName: '', numHeads: 1, unitsPerHead: 1, numComponents: 1, monotonic: false }), { inputShape: [3], constants })).toThrow(
      /source_name: expected a non-empty constants key/,
    );
    expect(() => sl.build({ type: 'GmmAttention', source_name: 's', num_heads: 1, units_per_head: 1, num_components: 1 }, { inputShape: [3] })).toThrow(/needs field "monotonic"/);
  });

  it('rejects a missing or mis-shaped source at run time', () => {
    const m = sl.build(config(2, 3, false), { inputShape: [3], constants });
    const x = sl.randomSequence([2, 4, 3]);
    expect(() => m.layer(x)).toThrow(/\[MISSING_CONSTANT\] GmmAttention at config: expected constants\["source"\] to be a Sequence \[2, time, 5\] float32, got no such constant/);
    expect(() => m.layer(x, { constants: { source: sl.randomSequence([2, 11, 4]) } })).toThrow(/expected constants\["source"\] to be a Sequence \[2, time, 5\] float32, got \[2, 11, 4\] float32/);
    expect(() => m.layer(x, { constants: { source: sl.randomSequence([3, 11, 5]) } })).toThrow(/got \[3, 11, 5\] float32/);
    m.dispose();
  });
});

describe('oracle fixtures (tools/fixtures_position.py)', () => {
  const { cases } = loadFixture('gmm_attention');
  for (const c of cases) it(c.name, () => checkFixtureCase(c));
});
