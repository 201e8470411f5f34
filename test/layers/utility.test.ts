// Utility layers of simple.ts: Argmax, Dropout, Emit/NamedEmit, Lambda, Logging, MaskInvalid.
import { beforeAll, describe, expect, it, vi } from 'vitest';
import * as sl from '../../src/index.js';

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
});

describe('Dropout and MaskInvalid', () => {
  it('Dropout is the identity at inference', () => {
    const m = sl.build(sl.Dropout({ rate: 0.5, broadcastDims: [2] }), { inputShape: [3] });
    sl.verifyContract(m);
    expect([...m.layer(sl.Sequence.fromValues([1, 2, 3], [1, 1, 3])).values]).toEqual([1, 2, 3]);
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
