// SequenceDense, MaskedDense and SequenceEmbedding (src/layers/time-varying.ts): the reference's
// test cases (time_varying_test.py) through verifyContract with random weights, parameter
// shapes, NaN past num_steps, causality, oracle fixtures (tools/fixtures_position.py: per-step
// numpy einsums and gathers) and bad configs.
import { beforeAll, describe, expect, it } from 'vitest';
import * as sl from '../../src/index.js';
import { seededRandom } from '../../src/util/hash.js';
import { checkFixtureCase, loadFixture } from '../fixtures.js';
import { paramShapes, randomizeWeights } from './helpers.js';

beforeAll(async () => {
  await sl.init();
});

describe('SequenceDense', () => {
  for (const useBias of [true, false]) {
    for (const randomMask of [false, true]) {
      it(`useBias ${useBias}, ${randomMask ? 'random mask' : 'random lengths'} (time 4, numSteps 8: verifyContract pads to 8)`, () => {
        const m = sl.build(sl.SequenceDense({ features: 6, numSteps: 8, useBias }), { inputShape: [5] });
        randomizeWeights(m);
        expect(m.blockSize).toBe(1);
        expect(m.outputShape()).toEqual([6]);
        expect(m.receptiveField).toEqual([0, 0]);
        expect(paramShapes(m)).toEqual(useBias ? { kernel: [8, 5, 6], bias: [8, 6] } : { kernel: [8, 5, 6] });
        const x = sl.randomSequence([2, 4, 5], { randomMask });
        sl.verifyContract(m, { x, testReceptiveField: false });
        m.dispose();
      });
    }
  }

  it('passes verifyContract with enough steps for the receptive-field probe, and an activation', () => {
    const m = sl.build(sl.SequenceDense({ features: 3, numSteps: 40, activation: 'tanh' }), { inputShape: [4] });
    randomizeWeights(m);
    sl.verifyContract(m);
    m.dispose();
  });

  it('projects step t with kernel[t] + bias[t], and gives NaN past numSteps (layer and step)', () => {
    const m = sl.build(sl.SequenceDense({ features: 8, numSteps: 8 }), { inputShape: [1] });
    randomizeWeights(m);
    const w = m.getWeights();
    const kernel = w.kernel!.data as Float32Array, bias = w.bias!.data as Float32Array;
    const x = sl.Sequence.fromValues(Float32Array.from({ length: 9 }, (_, i) => i + 1), [1, 9, 1]);
    for (const y of [m.layer(x), sl.stepByStep(m, x, 1), sl.stepByStep(m, x, 3)]) {
      for (let t = 0; t < 8; t++) {
        for (let o = 0; o < 8; o++) expect(y.values[t * 8 + o]).toBeCloseTo((t + 1) * kernel[t * 8 + o]! + bias[t * 8 + o]!, 5);
      }
      for (let o = 0; o < 8; o++) expect(y.values[64 + o]).toBeNaN();
    }
    m.dispose();
  });

  it('rejects inputs that are not [channels] float32', () => {
    expect(() => sl.build(sl.SequenceDense({ features: 3, numSteps: 4 }), { inputShape: [2, 3] })).toThrow(
      /\[BAD_CONFIG\] SequenceDense at config: expected a float32 input with channel shape \[channels\] \(the reference needs rank 3\), got \[2, 3\] float32/,
    );
    expect(() => sl.build(sl.SequenceDense({ features: 3, numSteps: 0 }), { inputShape: [2] })).toThrow(/config\.numSteps: expected an integer in \[1, 16777216\], got 0/);
  });
});

describe('MaskedDense', () => {
  for (const useBias of [true, false]) {
    for (const randomMask of [false, true]) {
      it(`useBias ${useBias}, ${randomMask ? 'random mask' : 'random lengths'} (time 4, numSteps 8)`, () => {
        const m = sl.build(sl.MaskedDense({ features: 6, numSteps: 8, useBias }), { inputShape: [5] });
        randomizeWeights(m);
        expect(m.outputShape()).toEqual([6]);
        expect(m.receptiveField).toEqual([-7, 0]);
        expect(paramShapes(m)).toEqual(useBias ? { kernel: [8, 8, 5, 6], bias: [8, 6] } : { kernel: [8, 8, 5, 6] });
        const x = sl.randomSequence([2, 4, 5], { randomMask });
        // NaN padding is fine here: invalid steps enter the buffer as zeros. The receptive field
        // cannot be probed (the probe is longer than numSteps); the causality test covers it.
        sl.verifyContract(m, { x, testReceptiveField: false });
        m.dispose();
      });
    }
  }

  it('is causal: y[t] depends on x[s] exactly for s <= t, within its batch item', () => {
    const n = 3;
    const m = sl.build(sl.MaskedDense({ features: 5, numSteps: n }), { inputShape: [4] });
    randomizeWeights(m);
    const x = sl.randomSequence([2, n, 4], { randomLengths: false });
    const y = m.layer(x);
    for (let b = 0; b < 2; b++) {
      for (let s = 0; s < n; s++) {
        const v = (x.values as Float32Array).slice();
        for (let i = 0; i < 4; i++) v[(b * n + s) * 4 + i]! += 1;
        const z = m.layer(new sl.Sequence(v, x.mask, x.shape));
        for (let bb = 0; bb < 2; bb++) {
          for (let t = 0; t < n; t++) {
            const moved = [0, 1, 2, 3, 4].some((o) => z.values[(bb * n + t) * 5 + o] !== y.values[(bb * n + t) * 5 + o]);
            expect(moved, `y[${bb}, ${t}] vs x[${b}, ${s}]`).toBe(bb === b && s <= t);
          }
        }
      }
    }
    m.dispose();
  });

  it('gives NaN past numSteps', () => {
    const m = sl.build(sl.MaskedDense({ features: 2, numSteps: 3 }), { inputShape: [2] });
    const x = sl.randomSequence([1, 5, 2], { randomLengths: false });
    for (const y of [m.layer(x), sl.stepByStep(m, x, 2)]) {
      expect(Array.from(y.values.subarray(0, 6)).every(Number.isFinite)).toBe(true);
      expect(Array.from(y.values.subarray(6)).every(Number.isNaN)).toBe(true);
    }
    m.dispose();
  });

  it('a NaN at a later valid step reaches no earlier output, in layer() or in a longer block (found by fuzzing: 0 * NaN)', () => {
    const m = sl.build(sl.MaskedDense({ features: 2, numSteps: 4 }), { inputShape: [1], seed: 1 });
    const x = sl.randomSequence([1, 4, 1], { randomLengths: false, seed: 2 });
    x.values[3] = NaN;
    for (const y of [m.layer(x), sl.stepByStep(m, x, 4), sl.stepByStep(m, x, 1)]) {
      expect(Array.from(y.values.subarray(0, 6)).every(Number.isFinite)).toBe(true);
      expect(Array.from(y.values.subarray(6)).every(Number.isNaN)).toBe(true);
    }
    m.dispose();
  });
});

describe('SequenceEmbedding', () => {
  for (const shape of [[3, 4], [1, 2, 3], [2, 3, 5, 9]]) {
    for (const round of [undefined, 128]) {
      it(`ids ${JSON.stringify(shape)}, round ${round ?? 'none'}`, () => {
        const m = sl.build(sl.SequenceEmbedding({ dimension: 8, numEmbeddingsPerStep: 5, numSteps: 7, roundNumEmbeddingsToMultipleOf: round }), {
          inputShape: shape.slice(2), inputDtype: 'int32',
        });
        randomizeWeights(m);
        expect(m.outputShape()).toEqual([...shape.slice(2), 8]);
        expect(paramShapes(m)).toEqual({ embedding: [round ? 128 : 35, 8] });
        const x = sl.randomSequence(shape, { dtype: 'int32', low: 0, high: 4 });
        const y = sl.verifyContract(m, { x }).output;
        // y[b, t] = embedding[5 t + x[b, t]].
        const table = m.getWeights().embedding!.data as Float32Array;
        const c = shape.slice(2).reduce((a, b) => a * b, 1);
        for (let i = 0; i < x.values.length; i++) {
          const t = Math.floor(i / c) % shape[1]!;
          if (!x.mask[Math.floor(i / c)]) continue;
          const row = 5 * t + x.values[i]!;
          expect(Array.from(y.values.subarray(i * 8, i * 8 + 8))).toEqual(Array.from(table.subarray(row * 8, row * 8 + 8)));
        }
        m.dispose();
      });
    }
  }

  for (const round of [undefined, 20]) {
    it(`per-step counts, round ${round ?? 'none'}`, () => {
      const per = [3, 5, 7, 11, 13, 17, 19, 23];
      const m = sl.build(sl.SequenceEmbedding({ dimension: 8, numEmbeddingsPerStep: per, numSteps: 8, roundNumEmbeddingsToMultipleOf: round }), {
        inputShape: [3, 4], inputDtype: 'int32',
      });
      randomizeWeights(m);
      expect(paramShapes(m)).toEqual({ embedding: [round ? 100 : 98, 8] });
      // Ids drawn per step in [0, per[t]); 4 steps so verifyContract's padding stays within numSteps.
      const random = seededRandom(4);
      const values = Int32Array.from({ length: 2 * 4 * 12 }, (_, i) => Math.floor(random() * per[Math.floor(i / 12) % 4]!));
      sl.verifyContract(m, { x: sl.Sequence.fromLengths(values, [2, 4, 3, 4], [4, 3], 'int32') });
      m.dispose();
    });
  }

  it('gives NaN for ids out of their step range and for steps past numSteps (time_varying_test.test_out_of_range)', () => {
    const per = [3, 5, 7, 11, 13, 17, 19, 23];
    const m = sl.build(sl.SequenceEmbedding({ dimension: 8, numEmbeddingsPerStep: per, numSteps: 8 }), { inputShape: [4], inputDtype: 'int32' });
    const rows = [[-1, 0, 2, 3], [-1, 0, 4, 5], [-1, 0, 6, 7], [-1, 0, 10, 11], [-1, 0, 12, 13], [-1, 0, 16, 17], [-1, 0, 18, 19], [-1, 0, 22, 23], [0, 0, 0, 0]];
    const x = sl.Sequence.fromValues(Int32Array.from(rows.flat()), [1, 9, 4], 'int32');
    const table = m.getWeights().embedding!.data as Float32Array;
    const offsets = [0, 3, 8, 15, 26, 39, 56, 75];
    for (const y of [m.layer(x), sl.stepByStep(m, x, 1)]) {
      for (let t = 0; t < 8; t++) {
        for (const j of [0, 3]) expect(Array.from(y.values.subarray((t * 4 + j) * 8, (t * 4 + j + 1) * 8)).every(Number.isNaN)).toBe(true);
        for (const j of [1, 2]) {
          const row = offsets[t]! + rows[t]![j]!;
          expect(Array.from(y.values.subarray((t * 4 + j) * 8, (t * 4 + j + 1) * 8))).toEqual(Array.from(table.subarray(row * 8, row * 8 + 8)));
        }
      }
      expect(Array.from(y.values.subarray(8 * 32)).every(Number.isNaN)).toBe(true);
    }
    m.dispose();
  });

  it('rejects bad configs, naming the field', () => {
    expect(() => sl.build(sl.SequenceEmbedding({ dimension: 8, numEmbeddingsPerStep: [3, 4], numSteps: 3 }), { inputShape: [], inputDtype: 'int32' })).toThrow(
      /\[BAD_CONFIG\] SequenceEmbedding at config: num_embeddings_per_step: expected one count per step \(3\), got 2: \[3, 4\]/,
    );
    expect(() => sl.build(sl.SequenceEmbedding({ dimension: 8, numEmbeddingsPerStep: 0, numSteps: 3 }), { inputShape: [], inputDtype: 'int32' })).toThrow(
      /config\.numEmbeddingsPerStep: expected an integer >= 1 or a list of them, got 0/,
    );
    expect(() => sl.build(sl.SequenceEmbedding({ dimension: 8, numEmbeddingsPerStep: 3, numSteps: 3 }), { inputShape: [] })).toThrow(/expected an int32 input \(ids\), got float32/);
  });
});

describe('oracle fixtures (tools/fixtures_position.py)', () => {
  const { cases } = loadFixture('time_varying');
  for (const c of cases) it(c.name, () => checkFixtureCase(c));
});
