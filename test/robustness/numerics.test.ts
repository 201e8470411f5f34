// Numerical hygiene: NaN and ±Inf in valid input steps propagate as the math says (to exactly the
// outputs whose receptive field holds them, and through a recurrent state to every later step of
// that stream), never into other batch items or other streams; a poisoned state is reset by a new
// initialState (or an earlier snapshot) without rebuilding the model.
import { describe, expect, it } from 'vitest';
import * as sl from '../../src/index.js';
import { SOAK_INPUT_SHAPE, soakConfig } from '../../tools/soak.js';

const C = SOAK_INPUT_SHAPE[0]!;

/** x with `value` written into every channel of (item, step). */
function poison(x: sl.Sequence, item: number, step: number, value: number): sl.Sequence {
  const values = x.values.slice();
  const c = x.stepSize;
  values.fill(value, (item * x.time + step) * c, (item * x.time + step + 1) * c);
  return new sl.Sequence(values, x.mask.slice(), x.shape, x.dtype);
}

/** Per (item, step): 'same' (bitwise equal to `clean`), 'bad' (every value non-finite) or 'other'. */
function compare(y: sl.Sequence, clean: sl.Sequence): ('same' | 'bad' | 'other')[][] {
  const c = y.stepSize;
  return Array.from({ length: y.batch }, (_, b) =>
    Array.from({ length: y.time }, (_, t) => {
      const i = b * y.time + t;
      if (y.mask[i] !== clean.mask[i]) return 'other';
      if (!y.mask[i]) return 'same';
      const got = y.values.subarray(i * c, (i + 1) * c), want = clean.values.subarray(i * c, (i + 1) * c);
      if (got.every((v, k) => Object.is(v, want[k]))) return 'same';
      return got.every((v) => !Number.isFinite(v)) ? 'bad' : 'other';
    }),
  );
}

const row = (n: number, bad: (t: number) => boolean) => Array.from({ length: n }, (_, t) => (bad(t) ? 'bad' : 'same'));

describe('numerical hygiene', () => {
  it('NaN and Inf at valid steps poison exactly the receptive field in a windowed model (conv + local attention), in layer and step mode', async () => {
    const rt = await sl.createRuntime({ maxMemoryBytes: 64 << 20 });
    // Output t sees inputs t-6..t: the conv's 3 taps and 4 past keys.
    const cfg = sl.Serial([
      sl.Conv1D({ filters: 8, kernelSize: 3, padding: 'causal' }),
      sl.LocalDotProductSelfAttention({ numHeads: 2, unitsPerHead: 4, maxPastHorizon: 4, blockSize: 4 }),
      sl.Flatten(),
      sl.Dense({ features: 4 }),
    ]);
    const m = sl.build(cfg, { inputShape: [C], runtime: rt, seed: 4 });
    expect(m.receptiveField).toEqual([-6, 0]);
    const T = 32;
    const clean = sl.randomSequence([3, T, C], { seed: 1, randomLengths: false });
    let x = poison(clean, 0, 5, NaN);
    x = poison(x, 1, 9, Infinity);
    x = poison(x, 1, 20, -Infinity);
    const expected = [row(T, (t) => t >= 5 && t <= 11), row(T, (t) => (t >= 9 && t <= 15) || (t >= 20 && t <= 26)), row(T, () => false)];
    expect(compare(m.layer(x), m.layer(clean))).toEqual(expected);
    expect(compare(sl.stepByStep(m, x, 3), sl.stepByStep(m, clean, 3))).toEqual(expected);
    // NaN at invalid steps changes nothing at all (the padding-invariance contract).
    const masked = poison(clean, 2, 30, NaN);
    masked.mask[2 * T + 30] = 0;
    const ref = new sl.Sequence(clean.values, masked.mask, clean.shape);
    expect(compare(sl.stepByStep(m, masked, 4), sl.stepByStep(m, ref, 4)).flat().every((v) => v === 'same')).toBe(true);
  });

  it('a recurrent layer carries NaN to every later step of its stream, and nowhere else (other items, other streams)', async () => {
    const rt = await sl.createRuntime({ maxMemoryBytes: 64 << 20 });
    const m = sl.build(soakConfig(sl), { inputShape: SOAK_INPUT_SHAPE, runtime: rt, seed: 5 });
    const T = 24;
    const clean = sl.randomSequence([3, T, C], { seed: 2, randomLengths: false });
    const x = poison(poison(clean, 0, 5, NaN), 1, 9, Infinity);
    const expected = [row(T, (t) => t >= 5), row(T, (t) => t >= 9), row(T, () => false)];
    expect(compare(m.layer(x), m.layer(clean))).toEqual(expected);
    // Step mode, with a clean stream of the same model interleaved block by block.
    const poisoned = m.initialState(3), other = m.initialState(3);
    const outs: sl.Sequence[] = [], others: sl.Sequence[] = [];
    for (let t = 0; t < T; t += 4) {
      outs.push(m.step(x.sliceTime(t, t + 4), poisoned));
      others.push(m.step(clean.sliceTime(t, t + 4), other));
    }
    const cleanSteps = sl.stepByStep(m, clean, 4);
    expect(compare(sl.Sequence.concatenate(outs), cleanSteps)).toEqual(expected);
    expect(compare(sl.Sequence.concatenate(others), cleanSteps).flat().every((v) => v === 'same')).toBe(true);
  });

  it('a poisoned state is reset by initialState() or an earlier snapshot, without rebuilding the model', async () => {
    const rt = await sl.createRuntime({ maxMemoryBytes: 64 << 20 });
    const m = sl.build(soakConfig(sl), { inputShape: SOAK_INPUT_SHAPE, runtime: rt, seed: 6 });
    const x = sl.randomSequence([2, 16, C], { seed: 3, randomLengths: false });
    const layerBefore = m.layer(x);
    const cleanRun = sl.stepByStep(m, x, 4);
    const s = m.initialState(2);
    m.step(x.sliceTime(0, 4), s);
    const snapshot = s.toBytes();
    m.step(sl.Sequence.fromValues(new Float32Array(2 * 4 * C).fill(NaN), [2, 4, C]), s);
    expect(m.step(x.sliceTime(4, 8), s).values.every(Number.isNaN)).toBe(true); // poisoned for good
    // The parameters were not touched.
    expect(compare(m.layer(x), layerBefore).flat().every((v) => v === 'same')).toBe(true);
    // A fresh state streams exactly like before.
    s.dispose();
    const fresh = m.initialState(2);
    const outs = [0, 4, 8, 12].map((t) => m.step(x.sliceTime(t, t + 4), fresh));
    expect(compare(sl.Sequence.concatenate(outs), cleanRun).flat().every((v) => v === 'same')).toBe(true);
    // So does the snapshot taken before the NaN, from where it was taken.
    const restored = m.restoreState(snapshot);
    const rest = [4, 8, 12].map((t) => m.step(x.sliceTime(t, t + 4), restored));
    expect(compare(sl.Sequence.concatenate(rest), cleanRun.sliceTime(4)).flat().every((v) => v === 'same')).toBe(true);
  });
});
