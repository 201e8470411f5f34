// Receptive-field arithmetic: Serial composition and Parallel's per-step union, checked against
// hand-derived fields and against verifyContract's measurement by perturbation.
import { beforeAll, describe, expect, it } from 'vitest';
import * as sl from '../../src/index.js';
import { Fraction } from '../../src/fraction.js';
import { rfAggregate, rfMap, rfSerial } from '../../src/receptive-field.js';

beforeAll(async () => {
  await sl.init();
});

const fields = (rf: sl.ReceptiveFieldPerStep) => [...rf.values()];

describe('rfSerial', () => {
  // Upsampling by 2 where odd outputs see no input, then an unbounded layer: the unbounded
  // side must run to infinity while the bounded side comes from a whole period of the
  // layer before, not from the one step at its end (found by contract fuzzing).
  const upsampled = { receptiveFieldPerStep: rfMap([[0, 0], null]), outputRatio: new Fraction(2, 1) };
  it('keeps the finite end when an unbounded past follows null phases', () => {
    const past = { receptiveFieldPerStep: rfMap([[-Infinity, 0]]), outputRatio: Fraction.ONE };
    expect(fields(rfSerial([upsampled, past]))).toEqual([[-Infinity, 0], [-Infinity, 0]]);
  });
  it('keeps the finite start when an unbounded future follows null phases', () => {
    const future = { receptiveFieldPerStep: rfMap([[0, Infinity]]), outputRatio: Fraction.ONE };
    expect(fields(rfSerial([upsampled, future]))).toEqual([[0, Infinity], [1, Infinity]]);
  });
  it('is null when an unbounded layer follows one that sees no input', () => {
    const none = { receptiveFieldPerStep: rfMap([null]), outputRatio: Fraction.ONE };
    const global = { receptiveFieldPerStep: rfMap([[-Infinity, Infinity]]), outputRatio: Fraction.ONE };
    const past = { receptiveFieldPerStep: rfMap([[-Infinity, 0]]), outputRatio: Fraction.ONE };
    expect(fields(rfSerial([none, global]))).toEqual([null]);
    expect(fields(rfSerial([none, past]))).toEqual([null]);
  });
  it('matches the measured field of ConvT(s2) -> LSTM -> Conv1D(k2, s2, reverse causal) (found by contract fuzzing)', () => {
    const m = sl.build(sl.Serial([
      sl.Conv1DTranspose({ filters: 1, kernelSize: 1, strides: 2 }),
      sl.LSTM({ units: 2 }),
      sl.Conv1D({ filters: 1, kernelSize: 2, strides: 2, padding: 'reverse_causal' }),
    ]), { inputShape: [1], seed: 1 });
    expect(m.receptiveField).toEqual([-Infinity, 0]);
    expect(sl.verifyContract(m).measuredReceptiveField![1]).toBe(0);
    m.dispose();
  });
  it('matches the measured field of ConvT(s2) -> future-only attention -> Conv1D(k2, s2, causal)', () => {
    const m = sl.build(sl.Serial([
      sl.Conv1DTranspose({ filters: 1, kernelSize: 1, strides: 2 }),
      sl.DotProductSelfAttention({ numHeads: 1, unitsPerHead: 2, maxPastHorizon: 0, maxFutureHorizon: -1 }),
      sl.Flatten(),
      sl.Conv1D({ filters: 1, kernelSize: 2, strides: 2, padding: 'causal' }),
    ]), { inputShape: [1], seed: 1 });
    expect(m.receptiveField).toEqual([0, Infinity]);
    expect(sl.verifyContract(m).measuredReceptiveField![0]).toBe(0);
    m.dispose();
  });
});

describe('rfAggregate', () => {
  it('unions branches with different phase counts step by step (found by contract fuzzing)', () => {
    // Phase 1 of the 2-phase branch must meet the 1-phase branch's only entry too.
    expect(fields(rfAggregate([rfMap([[0, 0], [-1, -1]]), rfMap([[-2, -1]])]))).toEqual([[-2, 0], [-2, -1]]);
    expect(fields(rfAggregate([rfMap([[0, 0], null]), rfMap([null, null, [3, 3]])]))).toEqual([[0, 0], null, [0, 3], null, [0, 0], [3, 3]]);
  });
  it('declares what perturbing a Parallel of a 2-phase and a 1-phase branch measures', () => {
    // Only odd lengths give both branches the same length, so verifyContract cannot probe it.
    const m = sl.build(sl.Parallel([
      sl.Serial([sl.Downsample1D({ rate: 2 }), sl.Upsample1D({ rate: 2 })]),
      sl.Serial([sl.Delay({ length: 1, delayLayerOutput: true }), sl.Conv1D({ filters: 2, kernelSize: 2, padding: 'causal' })]),
    ], { combination: 'add' }), { inputShape: [2], seed: 1 });
    expect(fields(m.receptiveFieldPerStep)).toEqual([[-2, 0], [-2, -1]]);
    const x = sl.randomSequence([1, 13, 2], { seed: 2, randomLengths: false });
    const y = m.layer(x);
    const pushed = x.values.slice() as Float32Array;
    pushed[2 * 5]! += 1;
    const moved = m.layer(new sl.Sequence(pushed, x.mask, x.shape, x.dtype));
    const outputs = Array.from({ length: y.time }, (_, t) => t).filter((t) => [0, 1].some((j) => y.values[2 * t + j] !== moved.values[2 * t + j]));
    // Output 7 (phase 1) sees input 5 through the Delay and the Conv1D: offset -2.
    expect(outputs).toEqual([6, 7]);
    m.dispose();
  });
  it('refuses a union that would repeat over more than MAX_RF_PHASES steps', () => {
    const a = rfMap(Array.from({ length: 257 }, () => [0, 0] as const));
    const b = rfMap(Array.from({ length: 263 }, () => [0, 0] as const));
    expect(() => rfAggregate([a, b])).toThrow(/repeats every 67591/);
  });
});
