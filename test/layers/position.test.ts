// AddTimingSignal and ApplyRotaryPositionalEncoding (src/layers/position.ts): the reference's
// test cases (position_test.py) through verifyContract, position counting with holes in the
// mask, oracle fixtures (tools/fixtures_position.py: the tensor2tensor formula in numpy, RoPE in
// torch) and bad configs.
import { beforeAll, describe, expect, it } from 'vitest';
import * as sl from '../../src/index.js';
import { checkFixtureCase, loadFixture } from '../fixtures.js';
import { paramShapes, randomizeWeights } from './helpers.js';

beforeAll(async () => {
  await sl.init();
});

/** verifyContract on random lengths and on random (non-contiguous) masks, at two lengths. */
function contract(model: sl.Model, randomMask: boolean): void {
  for (const time of [13, 14]) {
    const x = sl.randomSequence([8, time, ...model.inputSpec.shape], { randomMask, seed: time });
    sl.verifyContract(model, { x });
  }
  sl.verifyContract(model);
}

describe('AddTimingSignal', () => {
  const cases = [
    { minTimescale: 1, maxTimescale: 1e4, trainableScale: true, channels: [3], axes: null },
    { minTimescale: 1, maxTimescale: 1e4, trainableScale: false, channels: [3], axes: null },
    { minTimescale: 10, maxTimescale: 1e5, trainableScale: false, channels: [3], axes: 0 },
    { minTimescale: 1, maxTimescale: 1e4, trainableScale: true, channels: [5, 9], axes: [1] },
    { minTimescale: 1, maxTimescale: 1e4, trainableScale: true, channels: [5, 9, 3], axes: [1, 2] },
    { minTimescale: 1, maxTimescale: 1e4, trainableScale: true, channels: [5, 9], axes: [1], only: false },
  ];
  for (const { channels, only, ...c } of cases) {
    it(`${JSON.stringify(c)}, channels ${JSON.stringify(channels)}${only === false ? ', physical positions' : ''}`, () => {
      // axes null is the reference's None, which the config takes as the default.
      const config = { ...c, onlyAdvancePositionForValidTimesteps: only ?? true } as Parameters<typeof sl.AddTimingSignal>[0];
      const m = sl.build(sl.AddTimingSignal(config), { inputShape: channels });
      randomizeWeights(m);
      expect(m.blockSize).toBe(1);
      expect(m.outputRatio.toString()).toBe('1');
      expect(m.outputShape()).toEqual(channels);
      expect(m.receptiveField).toEqual(only === false ? [0, 0] : [-Infinity, 0]);
      expect(paramShapes(m)).toEqual(c.trainableScale ? { scale: [] } : {});
      contract(m, true);
      m.dispose();
    });
  }

  // position_test.py test_timing_signal_along_axes: equal along the broadcast axes, not along the signal's.
  for (const [channels, axes, normalized] of [
    [[2, 3], -1, [1]],
    [[2, 3, 5], [0, 2], [0, 2]],
  ] as const) {
    it(`varies along axes ${JSON.stringify(axes)} only (channels ${JSON.stringify(channels)})`, () => {
      const m = sl.build(sl.AddTimingSignal({ axes: axes as never }), { inputShape: [...channels] });
      const x = sl.Sequence.zeros([2, 3, ...channels]);
      const y = m.layer(x);
      const n = channels.reduce((a, b) => a * b, 1);
      const last = y.values.subarray(2 * n, 3 * n); // batch 0, step 2
      const strides = channels.map((_, i) => channels.slice(i + 1).reduce((a, b) => a * b, 1));
      const at = (idx: number[]) => last[idx.reduce((s, v, i) => s + v * strides[i]!, 0)]!;
      const coords = (i: number) => channels.map((d, k) => Math.floor(i / strides[k]!) % d);
      for (let i = 0; i < n; i++) {
        const idx = coords(i);
        // Moving along a broadcast axis keeps the value.
        channels.forEach((d, k) => {
          if ((normalized as readonly number[]).includes(k) || d < 2) return;
          const other = [...idx];
          other[k] = (idx[k]! + 1) % d;
          expect(at(other)).toBe(at(idx));
        });
      }
      // Moving along a signal axis changes it somewhere.
      const k = normalized[0]!;
      const differs = Array.from({ length: n }, (_, i) => coords(i)).some((idx) => {
        const other = [...idx];
        other[k] = (idx[k]! + 1) % channels[k]!;
        return at(other) !== at(idx);
      });
      expect(differs).toBe(true);
      m.dispose();
    });
  }

  it('gives the k-th valid step position k - 1, whatever the holes (layer and step)', () => {
    const m = sl.build(sl.AddTimingSignal(), { inputShape: [6] });
    const x = sl.randomSequence([3, 9, 6], { randomMask: true, seed: 3 });
    const y = m.layer(x);
    const zeros = sl.build(sl.AddTimingSignal(), { inputShape: [6] });
    for (let b = 0; b < 3; b++) {
      // The valid steps alone, contiguous: the same signal.
      const keep = [...Array(9).keys()].filter((t) => x.mask[b * 9 + t]);
      const xs = sl.Sequence.fromValues(Float32Array.from(keep.flatMap((t) => [...x.values.subarray((b * 9 + t) * 6, (b * 9 + t + 1) * 6)])), [1, keep.length, 6]);
      const ys = zeros.layer(xs);
      keep.forEach((t, j) => expect(Array.from(y.values.subarray((b * 9 + t) * 6, (b * 9 + t + 1) * 6))).toEqual(Array.from(ys.values.subarray(j * 6, (j + 1) * 6))));
    }
    m.dispose();
    zeros.dispose();
  });

  it('rejects bad configs, naming the field', () => {
    expect(() => sl.build(sl.AddTimingSignal({ axes: 2 }), { inputShape: [3, 4] })).toThrow(/\[BAD_CONFIG\] AddTimingSignal at config: axes: expected channel axes in \[-2, 1\].*got 2/);
    expect(() => sl.build(sl.AddTimingSignal({ axes: 'x' as never }), { inputShape: [3] })).toThrow(/\[BAD_CONFIG\] config\.axes: expected an integer or a list of integers/);
    expect(() => sl.build(sl.AddTimingSignal({ minTimescale: 0 }), { inputShape: [3] })).toThrow(/min_timescale and max_timescale: expected positive numbers, got 0 and 10000/);
    expect(() => sl.build(sl.AddTimingSignal(), { inputShape: [3], inputDtype: 'int32' })).toThrow(/expected a float32 input, got int32/);
  });
});

describe('ApplyRotaryPositionalEncoding', () => {
  for (const maxWavelength of [1e4, 1e5]) {
    for (const channels of [[4], [3, 6]]) {
      for (const only of [false, true]) {
        it(`maxWavelength ${maxWavelength}, channels ${JSON.stringify(channels)}, onlyAdvance ${only}`, () => {
          const m = sl.build(sl.ApplyRotaryPositionalEncoding({ maxWavelength, onlyAdvancePositionForValidTimesteps: only }), { inputShape: channels });
          expect(m.blockSize).toBe(1);
          expect(m.outputShape()).toEqual(channels);
          expect(m.receptiveField).toEqual(only ? [-Infinity, 0] : [0, 0]);
          expect(paramShapes(m)).toEqual({});
          contract(m, only);
          m.dispose();
        });
      }
    }
  }

  for (const axis of [2, -2, 3]) {
    it(`rotates along axis ${axis} of [batch, time, 4, 6, 2]`, () => {
      const m = sl.build(sl.ApplyRotaryPositionalEncoding({ maxWavelength: 100, axis }), { inputShape: [4, 6, 2] });
      contract(m, true);
      m.dispose();
    });
  }

  it('ignores invalid steps: the output equals processing the valid steps alone', () => {
    const m = sl.build(sl.ApplyRotaryPositionalEncoding({ maxWavelength: 1e5 }), { inputShape: [6] });
    const values = sl.randomSequence([3, 3, 6], { randomLengths: false, seed: 5 }).values as Float32Array;
    const x = new sl.Sequence(values, Uint8Array.from([0, 1, 1, 1, 0, 1, 1, 1, 0]), [3, 3, 6]).maskInvalid();
    const y = m.layer(x);
    for (let b = 0; b < 3; b++) {
      const keep = [0, 1, 2].filter((t) => x.mask[b * 3 + t]);
      const xs = sl.Sequence.fromValues(Float32Array.from(keep.flatMap((t) => [...x.values.subarray((b * 3 + t) * 6, (b * 3 + t + 1) * 6)])), [1, keep.length, 6]);
      const ys = m.layer(xs);
      keep.forEach((t, j) => expect(Array.from(y.values.subarray((b * 3 + t) * 6, (b * 3 + t + 1) * 6))).toEqual(Array.from(ys.values.subarray(j * 6, (j + 1) * 6))));
    }
    m.dispose();
  });

  it('reads positions from constants (streamed with the input)', () => {
    const cfg = sl.ApplyRotaryPositionalEncoding({ maxWavelength: 1e4, onlyAdvancePositionForValidTimesteps: false, positionsName: 'positions' });
    const half = sl.randomSequence([1, 5, 8], { randomLengths: false, seed: 9 });
    const x = half.concatenate(half);
    const positions = sl.Sequence.fromValues(Int32Array.from({ length: 10 }, (_, i) => i % 5), [1, 10], 'int32');
    const constants = { positions };
    const m = sl.build(cfg, { inputShape: [8] });
    expect(m.receptiveField).toEqual([0, 0]);
    const y = sl.verifyContract(m, { x, constants, streamConstants: true, padConstants: true }).output;
    // The positions repeat, so both halves agree.
    expect(Array.from(y.values.subarray(0, 40))).toEqual(Array.from(y.values.subarray(40, 80)));
    // Float positions and a batch-1 array broadcast the same way.
    const asArray = { positions: { values: Float32Array.from(positions.values), shape: [1, 10] } };
    expect(Array.from(m.layer(x, { constants: asArray }).values)).toEqual(Array.from(y.values));
    m.dispose();
  });

  it('rejects missing or mis-shaped positions with MISSING_CONSTANT', () => {
    const m = sl.build(sl.ApplyRotaryPositionalEncoding({ maxWavelength: 1e4, onlyAdvancePositionForValidTimesteps: false, positionsName: 'pos' }), { inputShape: [4] });
    const x = sl.randomSequence([2, 5, 4]);
    expect(() => m.layer(x)).toThrow(/\[MISSING_CONSTANT\] ApplyRotaryPositionalEncoding at config: constants\.pos: expected positions \[2 or 1, 5 or 1\].*got nothing \(constants given: none\)/);
    const bad = { pos: sl.Sequence.fromValues(new Int32Array(2 * 4), [2, 4], 'int32') };
    expect(() => m.layer(x, { constants: bad })).toThrow(/\[MISSING_CONSTANT\].*constants\.pos: expected positions \[2 or 1, 5 or 1\].*got a Sequence \[2, 4\] int32/);
    m.dispose();
  });

  it('rejects bad configs, naming the field', () => {
    expect(() => sl.build(sl.ApplyRotaryPositionalEncoding({ maxWavelength: 1e4 }), { inputShape: [5] })).toThrow(/\[BAD_CONFIG\] ApplyRotaryPositionalEncoding at config: axis: expected an even size along axis -1, got 5/);
    expect(() => sl.build(sl.ApplyRotaryPositionalEncoding({ maxWavelength: 1e4, axis: 1 }), { inputShape: [4] })).toThrow(/axis: expected a channel axis of \[batch, time, 4\].*got 1/);
    expect(() => sl.build(sl.ApplyRotaryPositionalEncoding({ maxWavelength: 1e4, positionsName: 'p' }), { inputShape: [4] })).toThrow(
      /only_advance_position_for_valid_timesteps: expected false with positions_name "p".*got true/,
    );
    expect(() => sl.build({ type: 'ApplyRotaryPositionalEncoding' }, { inputShape: [4] })).toThrow(/needs field "max_wavelength"/);
  });
});

describe('oracle fixtures (tools/fixtures_position.py)', () => {
  const { cases } = loadFixture('position');
  for (const c of cases) it(c.name, () => checkFixtureCase(c));
});
