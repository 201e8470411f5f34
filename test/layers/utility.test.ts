// Utility layers of simple.ts: Argmax, Dropout and the other identities at inference, Emit/NamedEmit,
// Lambda, Logging, MaskInvalid.
import { beforeAll, describe, expect, it, vi } from 'vitest';
import * as sl from '../../src/index.js';
import { buildError } from './helpers.js';

beforeAll(async () => {
  await sl.init();
});

describe('Argmax', () => {
  it('takes the first largest index on the last axis, as int32 (NaN counts as largest)', () => {
    const m = sl.build(sl.Argmax(), { inputShape: [2, 3] });
    expect(m.outputSpec).toEqual({ shape: [2], dtype: 'int32' });
    const y = m.layer(sl.Sequence.fromValues([1, 5, 5, -1, NaN, 2], [1, 1, 2, 3]));
    expect([...y.values]).toEqual([1, 1]);
    expect(y.values).toBeInstanceOf(Int32Array);
    sl.verifyContract(m);
  });
  it('needs a channel axis', () => {
    expect(() => sl.build(sl.Argmax(), { inputShape: [] as number[] })).toThrow(/BAD_ARGUMENT|BAD_CONFIG/);
  });
  it('an empty last axis (and an empty Max or Min) is BAD_CONFIG, not index 0 or -Inf (found in review)', () => {
    const empty = sl.Slice({ slices: [[2, 2, null]] });
    expect(() => sl.build(sl.Serial([empty, sl.Argmax()]), { inputShape: [3] })).toThrow(
      '[BAD_CONFIG] Argmax at config.layers[1]: expected an input whose last channel axis has at least one value to pick, got channel shape [0]',
    );
    for (const [Reduce, what] of [[sl.Max, 'max'], [sl.Min, 'min']] as const) {
      expect(() => sl.build(sl.Serial([empty, Reduce({ axis: -1 })]), { inputShape: [3] })).toThrow(
        `[BAD_CONFIG] ${what === 'max' ? 'Max' : 'Min'} at config.layers[1]: axis: expected reduced axes of size >= 1 (the ${what} of nothing is undefined), got channel shape [0]`,
      );
    }
    // A sum of nothing is 0, as numpy's.
    const sum = sl.build(sl.Serial([empty, sl.Sum({ axis: -1 })]), { inputShape: [3] });
    expect([...sum.layer(sl.Sequence.fromValues([1, 2, 3], [1, 1, 3])).values]).toEqual([0]);
  });
});

describe('Dropout and MaskInvalid', () => {
  it('Dropout is the identity at inference', () => {
    const m = sl.build(sl.Dropout({ rate: 0.5, broadcastDims: [2] }), { inputShape: [3] });
    sl.verifyContract(m);
    expect([...m.layer(sl.Sequence.fromValues([1, 2, 3], [1, 1, 3])).values]).toEqual([1, 2, 3]);
  });
  it("the reference's training and compiler layers are the identity at inference, their fields checked", () => {
    const configs = [
      { type: 'StopGradient' },
      { type: 'GradientClipping', clip_value: 0.5 },
      { type: 'CheckpointName', checkpoint_name: 'encoder_out' },
      { type: 'OptimizationBarrier', apply_to_mask: true },
      { type: 'ApplySharding', values_sharding: ['data', null, 'model'], mask_sharding: null },
      { type: 'AddNoise', sampler: { type: 'Normal', mean: 0, stddev: 1 }, training_only: true },
    ];
    const x = sl.randomSequence([2, 5, 3], { seed: 1 });
    for (const config of configs) {
      const m = sl.build(config, { inputShape: [3] });
      sl.verifyContract(m);
      expect([...m.layer(x).values], config.type).toEqual([...x.values]);
      m.dispose();
    }
    const bad = (config: object) => buildError(config, [3]).message;
    expect(bad({ type: 'AddNoise', sampler: { type: 'Uniform', minval: 0, maxval: 1 }, training_only: false })).toBe(
      '[BAD_CONFIG] config.training_only: only true is supported (noise at inference is not implemented), got false',
    );
    expect(bad({ type: 'GradientClipping' })).toMatch(/^\[BAD_CONFIG\] config: GradientClipping needs field "clip_value"/);
    expect(bad({ type: 'CheckpointName', checkpoint_name: 3 })).toMatch(/config\.checkpoint_name: expected a string, got 3/);
  });
  it('MaskInvalid zeroes invalid steps, NaN included', () => {
    const m = sl.build(sl.MaskInvalid(), { inputShape: [2] });
    sl.verifyContract(m);
    const x = new sl.Sequence(Float32Array.from([1, 2, NaN, Infinity]), Uint8Array.from([1, 0]), [1, 2, 2]);
    expect([...m.layer(x).values]).toEqual([1, 2, 0, 0]);
  });
});

describe('Emit', () => {
  it('emits its input under its path (Emit) or its name (NamedEmit), in layer and step', () => {
    const m = sl.build(sl.Serial([sl.Relu(), sl.Emit(), sl.Tanh(), sl.NamedEmit({ emitName: 'after_tanh' })]), { inputShape: [2] });
    const x = sl.Sequence.fromValues([-1, 1], [1, 1, 2]);
    const { output, emits } = m.layerWithEmits(x);
    expect(Object.keys(emits).sort()).toEqual(['after_tanh', 'layers.1']);
    expect([...emits['layers.1']!.values]).toEqual([0, 1]);
    expect([...emits.after_tanh!.values]).toEqual([...output.values]);
    const stepped = m.stepWithEmits(x, m.initialState(1));
    expect([...stepped.emits['layers.1']!.values]).toEqual([0, 1]);
    expect(m.layer(x).shape).toEqual([1, 1, 2]);
    sl.verifyContract(m);
  });
});

describe('Lambda', () => {
  it('runs a JS function on arrays, finding the output spec at build time', () => {
    const m = sl.build(sl.Lambda({ fn: (v: Float32Array | Int32Array, shape: readonly number[]) => ({ values: Float32Array.from(v, (a) => 2 * a), shape }) }), { inputShape: [3] });
    sl.verifyContract(m);
    expect([...m.layer(sl.Sequence.fromValues([1, 2, 3], [1, 1, 3])).values]).toEqual([2, 4, 6]);
  });
  it('may change the channel shape, or take sequences', () => {
    const sum = sl.build(sl.Lambda({ fn: (v: Float32Array | Int32Array, s: readonly number[]) => {
      const out = new Float32Array(s[0]! * s[1]!);
      for (let i = 0; i < out.length; i++) out[i] = v[2 * i]! + v[2 * i + 1]!;
      return { values: out, shape: [s[0]!, s[1]!, 1] };
    } }), { inputShape: [2] });
    expect(sum.outputShape()).toEqual([1]);
    sl.verifyContract(sum);
    const seq = sl.build(sl.Lambda({ sequenceInput: true, fn: (x: sl.Sequence) => x.maskInvalid(0) }), { inputShape: [2] });
    sl.verifyContract(seq);
  });
  it('rejects functions that change batch or time, or return something else', () => {
    expect(() => sl.build(sl.Lambda({ fn: (v: Float32Array | Int32Array, s: readonly number[]) => ({ values: v, shape: [s[0]!, 2 * s[1]!, 1] }) }), { inputShape: [2] })).toThrow(
      /Lambda at config: expected fn to keep batch and time \[1, 1\], got \[1, 2\]/,
    );
    expect(() => sl.build(sl.Lambda({ fn: (() => 'nope') as never }), { inputShape: [2] })).toThrow(/\[BAD_INPUT\].*expected fn to return/);
    expect(() => sl.build({ type: 'Lambda', fn: 'x => x' }, { inputShape: [2] })).toThrow(/config.fn: expected a function/);
  });
});

describe('Logging', () => {
  it('logs calls and passes its input through', () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    const m = sl.build(sl.Logging({ prefix: 'probe', dumpTensors: true }), { inputShape: [1] });
    m.layer(sl.Sequence.fromValues([7], [1, 1, 1]));
    m.step(sl.Sequence.fromValues([8], [1, 1, 1]), m.initialState(1));
    expect(log.mock.calls.map((c) => c[0])).toEqual(['probe layer(): x=[1, 1, 1] float32 values=[7] mask=[1]', 'probe step(): x=[1, 1, 1] float32 values=[8] mask=[1]']);
    log.mockRestore();
  });
});
