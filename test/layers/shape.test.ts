import { beforeAll, describe, expect, it } from 'vitest';
import * as sl from '../../src/index.js';
import { checkFixtureCase, loadFixture, type FixtureCase } from '../fixtures.js';

beforeAll(async () => {
  await sl.init();
});

const { cases } = loadFixture('shape');
const isGlobal = (c: FixtureCase) => c.config.type.startsWith('Global');

/** Builds `config` for `inputShape` and expects a BAD_CONFIG error whose message matches `message`. */
function expectBadConfig(config: sl.LayerConfig, inputShape: number[], message: RegExp, inputDtype?: sl.DType): void {
  let err: unknown;
  try {
    sl.build(config, { inputShape, inputDtype }).dispose();
  } catch (e) {
    err = e;
  }
  expect(err, `${JSON.stringify(config)} on ${JSON.stringify(inputShape)}`).toBeInstanceOf(sl.SeqLayersError);
  expect((err as sl.SeqLayersError).code).toBe('BAD_CONFIG');
  expect((err as Error).message).toMatch(message);
}

describe('oracle fixtures (NumPy)', () => {
  for (const c of cases) it(c.name, () => checkFixtureCase(c));
});

describe('contract', () => {
  // One verifyContract per distinct config and input shape of the fixtures (random inputs for
  // the steppable layers; the fixture's own input for the global ones, whose input time is fixed).
  const seen = new Set<string>();
  for (const c of cases) {
    const key = JSON.stringify([c.config, c.input.shape.slice(2), c.input_dtype]);
    if (seen.has(key)) continue;
    seen.add(key);
    it(c.name, () => {
      const [b, t, ...channels] = c.input.shape as [number, number, ...number[]];
      const model = sl.build(c.config, { inputShape: channels, inputDtype: c.input_dtype });
      try {
        if (isGlobal(c)) {
          const values = Float32Array.from(c.input.values);
          const x = sl.Sequence.fromLengths(values, [b, t, ...channels], c.lengths!).maskInvalid();
          sl.verifyContract(model, { x, testPaddingInvariance: false });
          expect(model.supportsStep).toBe(false);
          expect(model.receptiveField).toEqual([-Infinity, Infinity]);
        } else {
          // An empty output depends on nothing; the reference still declares (0, 0) for it.
          const empty = c.output.values.length === 0;
          const r = sl.verifyContract(model, { testReceptiveField: !empty });
          expect(model.supportsStep).toBe(true);
          expect(model.blockSize).toBe(1);
          expect(model.outputRatio.toString()).toBe('1');
          if (c.input_dtype === 'float32' && r.checks.includes('receptive field')) expect(model.receptiveField).toEqual([0, 0]);
        }
        expect(model.outputShape()).toEqual(c.output.shape.slice(2));
        expect(model.params()).toEqual([]);
      } finally {
        model.dispose();
      }
    });
  }
});

describe('views and copies', () => {
  /** Runs the root layer on a fake input descriptor: layers that cost nothing return it untouched. */
  function returnsInput(config: sl.LayerConfig, inputShape: number[]): boolean {
    const model = sl.build(config, { inputShape });
    try {
      const x: sl.WSeq = { values: 1 << 20, mask: 1 << 21, batch: 2, time: 3 };
      return model.root.runLayer(x, new sl.RunContext(model.rt)) === x;
    } finally {
      model.dispose();
    }
  }

  it('reuses the input buffers for reshapes and identity copies', () => {
    expect(returnsInput(sl.Reshape({ outputShape: [2, 3] }), [6])).toBe(true);
    expect(returnsInput(sl.Flatten(), [2, 3])).toBe(true);
    expect(returnsInput(sl.ExpandDims({ axis: 0 }), [2, 3])).toBe(true);
    expect(returnsInput(sl.Squeeze(), [1, 3])).toBe(true);
    expect(returnsInput(sl.Transpose(), [4])).toBe(true);
    expect(returnsInput(sl.Transpose({ axes: [2, 4, 3] }), [5, 1, 1])).toBe(true);
    expect(returnsInput(sl.SwapAxes({ axis1: 2, axis2: 2 }), [3, 4])).toBe(true);
    expect(returnsInput(sl.EinopsRearrange({ pattern: '(c d) -> c d', axesLengths: { c: 2 } }), [6])).toBe(true);
    expect(returnsInput(sl.Slice({ slices: [[null, null, null], null] }), [6])).toBe(true);
    expect(returnsInput(sl.Sum({ axis: [] }), [6])).toBe(true);
    expect(returnsInput(sl.Cast({ dtype: 'float32' }), [6])).toBe(true);
  });

  it('moves int32 values bit-exactly, NaN bit patterns included', () => {
    const special = [-1, 0x7f800001, 0x7fc00001, -0x80000000, 0x7fffffff, 1, 0, -0x7fffff];
    const values = Int32Array.from({ length: 2 * 3 * 4 * 5 }, (_, i) => special[i % special.length]! + (i % 3) * 0x100);
    const x = sl.Sequence.fromLengths(values, [2, 3, 4, 5], [3, 2], 'int32');
    const at = (b: number, t: number, i: number, j: number) => values[((b * 3 + t) * 4 + i) * 5 + j]!;
    const layers: [sl.LayerConfig, (b: number, t: number, o: number[]) => number, number[]][] = [
      [sl.Transpose(), (b, t, [j, i]) => at(b, t, i!, j!), [5, 4]],
      [sl.Slice({ slices: [[null, null, -1], [4, 0, -2]] }), (b, t, [i, j]) => at(b, t, 3 - i!, 4 - 2 * j!), [4, 2]],
      [sl.EinopsRearrange({ pattern: 'c d -> d c' }), (b, t, [j, i]) => at(b, t, i!, j!), [5, 4]],
    ];
    for (const [config, expected, outShape] of layers) {
      const model = sl.build(config, { inputShape: [4, 5], inputDtype: 'int32' });
      const y = model.layer(x);
      expect(y.dtype).toBe('int32');
      expect(y.channelShape).toEqual(outShape);
      const got: number[] = [], want: number[] = [];
      for (let b = 0; b < 2; b++) for (let t = 0; t < 3; t++) for (let p = 0; p < outShape[0]!; p++) for (let q = 0; q < outShape[1]!; q++) {
        got.push(y.values[((b * 3 + t) * outShape[0]! + p) * outShape[1]! + q]!);
        want.push(expected(b, t, [p, q]));
      }
      expect(got).toEqual(want);
      sl.verifyContract(model);
      model.dispose();
    }
  });

  it('moves complex64 values as (re, im) pairs', () => {
    const model = sl.build(sl.SwapAxes({ axis1: 2, axis2: 3 }), { inputShape: [2, 3], inputDtype: 'complex64' });
    const v = Float32Array.from({ length: 12 }, (_, i) => i);
    const y = model.layer(sl.Sequence.fromValues(v, [1, 1, 2, 3], 'complex64'));
    // element (i, j) of [2, 3] is (v[2(3i + j)], v[2(3i + j) + 1]); the output is [3, 2].
    expect([...y.values]).toEqual([0, 1, 6, 7, 2, 3, 8, 9, 4, 5, 10, 11]);
    sl.verifyContract(model);
    for (const config of [sl.Slice({ slices: [1, [null, null, -1]] }), sl.EinopsRearrange({ pattern: 'a b -> (b a)' }), sl.Flatten()]) {
      sl.verifyContract(sl.build(config, { inputShape: [2, 3], inputDtype: 'complex64' }));
    }
    model.dispose();
  });

  it('accepts the reference JSON spelling', () => {
    const m = sl.build({ type: 'EinopsRearrange', pattern: '(c d) -> d c', axes_lengths: { c: 2 } }, { inputShape: [6] });
    expect(m.outputShape()).toEqual([3, 2]);
    const s = sl.build({ type: 'Slice', slices: [[1], [1, null], -1] }, { inputShape: [4, 5, 6] });
    expect(s.outputShape()).toEqual([1, 4]);
    expect(s.toConfig().slices).toEqual([[null, 1, null], [1, null, null], -1]);
    expect(sl.build({ type: 'Reshape', output_shape: [2, 3] }, { inputShape: [6] }).outputShape()).toEqual([2, 3]);
  });
});

describe('Cast', () => {
  const run = (from: sl.DType, to: 'float32' | 'int32' | 'complex64', values: number[]) => {
    const model = sl.build(sl.Cast({ dtype: to }), { inputShape: [values.length / (from === 'complex64' ? 2 : 1)], inputDtype: from });
    const v = from === 'int32' ? Int32Array.from(values) : Float32Array.from(values);
    const y = model.layer(sl.Sequence.fromValues(v, [1, 1, values.length / (from === 'complex64' ? 2 : 1)], from));
    expect(y.dtype).toBe(to);
    sl.verifyContract(model);
    model.dispose();
    return [...y.values];
  };

  it('float32 -> int32 truncates toward zero and saturates (NaN -> 0)', () => {
    expect(run('float32', 'int32', [1.9, -1.9, 0.5, -0.5, NaN, Infinity, -Infinity, 3e9, -3e9])).toEqual([1, -1, 0, 0, 0, 2147483647, -2147483648, 2147483647, -2147483648]);
  });
  it('int32 -> float32 rounds to nearest', () => {
    expect(run('int32', 'float32', [3, -7, 16777217, 2147483647])).toEqual([3, -7, 16777216, 2147483648]);
  });
  it('to and from complex64', () => {
    expect(run('float32', 'complex64', [1.5, -2, 3, 4, 5])).toEqual([1.5, 0, -2, 0, 3, 0, 4, 0, 5, 0]);
    expect(run('int32', 'complex64', [7, -8])).toEqual([7, 0, -8, 0]);
    expect(run('complex64', 'float32', [1.5, 9, -2, 9, 3, 9, 4, 9, 5, 9])).toEqual([1.5, -2, 3, 4, 5]);
    expect(run('complex64', 'int32', [1.5, 9, -2.5, 9])).toEqual([1, -2]);
  });
  it('rejects other dtypes', () => {
    expectBadConfig({ type: 'Cast', dtype: 'float16' }, [3], /dtype: expected one of "float32", "int32", "complex64", got "float16"/);
  });
});

describe('reductions', () => {
  it('propagate NaN in Max and Min, and reduce every channel axis with axis null', () => {
    for (const [type, want] of [['Max', NaN], ['Min', NaN], ['Sum', NaN]] as const) {
      const m = sl.build({ type, axis: null }, { inputShape: [2, 3] });
      expect(m.outputShape()).toEqual([]);
      expect([...m.layer(sl.Sequence.fromValues([1, 2, NaN, 4, 5, 6], [1, 1, 2, 3])).values]).toEqual([want]);
      m.dispose();
    }
    const mean = sl.build(sl.Mean({ axis: [2, -1], keepdims: true }), { inputShape: [2, 5, 3] });
    expect(mean.outputShape()).toEqual([1, 5, 1]);
    // Long rows exercise the SIMD loops (8, 4 and scalar tails) on both paths.
    for (const shape of [[37], [5, 13], [19, 6]]) {
      for (const type of ['Sum', 'Mean', 'Max', 'Min']) sl.verifyContract(sl.build({ type, axis: -1 }, { inputShape: shape }));
      for (const type of ['Sum', 'Max']) sl.verifyContract(sl.build({ type, axis: 2 }, { inputShape: shape }));
    }
  });

  it('reject batch, time, out-of-range and repeated axes, and non-float inputs', () => {
    for (const type of ['Mean', 'Min', 'Max', 'Sum']) {
      for (const axis of [0, 1, -2, -3]) expectBadConfig({ type, axis }, [5], /axis: the batch and time axes \(0, 1\) cannot be used/);
      expectBadConfig({ type, axis: 3 }, [5], /axis: expected channel axes in 2\.\.2 or -1\.\.-1, got 3 for input \[batch, time, 5\]/);
      expectBadConfig({ type, axis: [2, -1] }, [5], /axis: expected distinct axes/);
      expectBadConfig({ type }, [5], /expected a float32 input, got int32/, 'int32');
    }
  });
});

describe('bad configs', () => {
  it('Reshape: element count', () => {
    expectBadConfig(sl.Reshape({ outputShape: [4] }), [5], /Reshape at config: output_shape: expected a shape with 5 elements \(input \[batch, time, 5\]\), got \[4\] with 4/);
  });
  it('ExpandDims and Squeeze: axes', () => {
    expectBadConfig(sl.ExpandDims({ axis: 3 }), [4, 5], /axis: expected channel axes in -3\.\.2/);
    expectBadConfig(sl.ExpandDims({ axis: [0, -4] }), [4, 5], /axis: expected channel axes/);
    expectBadConfig(sl.Squeeze({ axis: 1 }), [1], /axis: the batch and time axes/);
    expectBadConfig(sl.Squeeze({ axis: 2 }), [3, 1], /axis: expected axes of size 1, got 2 for input \[batch, time, 3, 1\] \(axis 2 has size 3\)/);
    expectBadConfig(sl.Squeeze({ axis: 4 }), [1, 1], /axis: expected channel axes in 2\.\.3/);
  });
  it('Slice: entries', () => {
    expectBadConfig(sl.Slice({ slices: [[null, null, null], [null, null, null]] }), [3], /slices: expected 1 non-null entries/);
    expectBadConfig(sl.Slice({ slices: [[null, null, null], null, [null, null, null]] }), [3], /slices: expected 1 non-null entries/);
    expectBadConfig(sl.Slice({ slices: [[0, 2, 0]] }), [3], /slices: expected a non-zero step, got \[0, 2, 0\]/);
    expectBadConfig(sl.Slice({ slices: [3] }), [3], /slices: index 3 is out of range for channel axis 0 of size 3/);
    expectBadConfig({ type: 'Slice', slices: ['a'] }, [3], /slices: expected a list whose entries are/);
  });
  it('Transpose, SwapAxes, MoveAxis: axes', () => {
    for (const [shape, axes] of [[[], [2]], [[4, 5, 6], [2, 2, 3]], [[4, 5], [5, 4]], [[4, 5], [0, 1]]] as [number[], number[]][]) {
      expectBadConfig(sl.Transpose({ axes }), shape, /axes: expected a permutation of/);
    }
    expectBadConfig(sl.SwapAxes({ axis1: 0, axis2: 3 }), [4], /axis1: the batch and time axes/);
    expectBadConfig(sl.SwapAxes({ axis1: 2, axis2: 1 }), [4], /axis2: the batch and time axes/);
    expectBadConfig(sl.SwapAxes({ axis1: 2, axis2: 3 }), [], /axis1: expected channel axes in 2\.\.1/);
    expectBadConfig(sl.SwapAxes({ axis1: -4, axis2: 2 }), [4, 5, 6], /axis1: the batch and time axes/);
    expectBadConfig(sl.SwapAxes({ axis1: 3, axis2: -5 }), [4, 5, 6], /axis2: the batch and time axes/);
    expectBadConfig(sl.MoveAxis({ source: 0, destination: 3 }), [4], /source: the batch and time axes/);
    expectBadConfig(sl.MoveAxis({ source: 2, destination: 1 }), [4], /destination: the batch and time axes/);
    expectBadConfig(sl.MoveAxis({ source: [2], destination: [3, 4] }), [4, 5, 6], /destination: expected as many axes as source \(1\)/);
    expectBadConfig(sl.MoveAxis({ source: -3, destination: 2 }), [4], /source: the batch and time axes/);
    expectBadConfig(sl.MoveAxis({ source: [3, 2], destination: [2, -5] }), [4, 5, 6], /destination: the batch and time axes/);
    expectBadConfig(sl.MoveAxis({ source: [2, 2], destination: [3, 4] }), [4, 5, 6], /source: expected distinct axes/);
  });
  it('EinopsRearrange: "..." for the axes no name covers, and "1" for an axis of size 1, as einops (found in review: refused)', () => {
    // Each pattern against the same rearrangement spelled out (checked against einops 0.8.2).
    const same: [string, string, number[], Record<string, number>?][] = [
      ['... c -> c ...', 'a b c -> c a b', [2, 3, 4]],
      ['... (h d) -> ... h d', 'a (h d) -> a h d', [2, 6], { h: 3 }],
      ['... -> (...)', 'a b c -> (a b c)', [2, 3, 4]],
      ['a ... b -> b (... a)', 'a c d b -> b (c d a)', [2, 3, 4, 5]],
      ['a ... -> ... a', 'a -> a', [3]],
      ['... a -> 1 a ...', 'b a -> () a b', [2, 3]],
      ['a 1 b -> (a b) 1', 'a () b -> (a b) ()', [2, 1, 4]],
      ['a (1 b) -> b a', 'a b -> b a', [3, 4]],
    ];
    const x = (shape: number[]) => sl.randomSequence([2, 3, ...shape], { seed: 4 });
    for (const [pattern, spelled, shape, axesLengths] of same) {
      const a = sl.build(sl.EinopsRearrange({ pattern, axesLengths }), { inputShape: shape });
      const b = sl.build(sl.EinopsRearrange({ pattern: spelled, axesLengths }), { inputShape: shape });
      sl.assertSequencesClose(a.layer(x(shape)), b.layer(x(shape)), pattern, 0, 0);
      sl.verifyContract(a);
    }
  });

  it('EinopsRearrange: patterns and axes_lengths', () => {
    const bad = (pattern: string, message: RegExp, axesLengths?: Record<string, number>, shape = [4, 5]) =>
      expectBadConfig(sl.EinopsRearrange({ pattern, axesLengths }), shape, message);
    bad('(c d) time -> c d time', /pattern: "batch" and "time" are reserved and may not appear, got "\(c d\) time -> c d time"/, { c: 2 });
    bad('(c d) batch -> c d batch', /pattern: "batch" and "time" are reserved/, { c: 2 });
    bad('(c d) batch - c d batch', /pattern: expected one "->"/, { c: 2 });
    bad('c d -> c e', /pattern: expected the same axes on both sides, \["d", "e"\] appear on one side only/);
    bad('c d -> (c d)', /axes_lengths: \["x"\] is not an axis of pattern "c d -> \(c d\)"/, { x: 2 });
    bad('(c d) e -> c d e', /axes_lengths: expected sizes for all but one of \["c", "d"\]/);
    bad('(c d) e -> c d e', /axes_lengths: input axis 0 "\(c d\)" of pattern "\(c d\) e -> c d e": input size 4 is not a multiple of 3/, { c: 3 });
    bad('c d -> c d', /axes_lengths: input axis 0 "c" of pattern "c d -> c d" has size 3, the input has 4/, { c: 3 });
    bad('c d e -> c d e', /pattern: expected 2 input axes \(input \[batch, time, 4, 5\]\), got 3/);
    bad('c ... -> c', /pattern: expected "\.\.\." once on both sides or on neither/);
    bad('(c ...) -> c ...', /pattern: expected "\.\.\." outside parentheses on the input side/);
    bad('c ... ... -> c ...', /pattern: expected "\.\.\." once on both sides or on neither/);
    bad('c d -> c c d', /pattern: expected each axis once per side, "c" repeats/);
    bad('(c (d)) -> c d', /pattern: expected no nested parentheses/, undefined, [20]);
  });
});

describe('global layers', () => {
  it('GlobalReshape: element count, input time, and no stepping', () => {
    expectBadConfig(sl.GlobalReshape({ outputShape: [4] }), [5], /output_shape: expected a multiple of 5 elements \(input \[batch, time, 5\]\), got \[4\] with 4/);
    const m = sl.build(sl.GlobalReshape({ outputShape: [3, 10] }), { inputShape: [5] });
    expect(() => m.layer(sl.Sequence.zeros([1, 5, 5]))).toThrow(/\[BAD_INPUT\] GlobalReshape at config: expected input time 6/);
    const state = m.initialState(1);
    expect(() => m.step(sl.Sequence.zeros([1, 6, 5]), state)).toThrow(expect.objectContaining({ code: 'NOT_STEPPABLE' }));
    m.dispose();
  });

  it('move int32 values bit-exactly, invalid steps zeroed by GlobalEinopsRearrange', () => {
    const values = Int32Array.from([-1, 0x7f800001, 5, -0x80000000, 0x7fc00001, 7, 8, 9]);
    const x = sl.Sequence.fromLengths(values, [1, 4, 2], [3], 'int32');
    const g = sl.build(sl.GlobalEinopsRearrange({ pattern: '(a b) c -> a (b c)', axesLengths: { b: 2 }, ceilMode: true }), { inputShape: [2], inputDtype: 'int32' });
    const y = g.layer(x);
    expect([...y.mask]).toEqual([1, 1]);
    expect([...y.values]).toEqual([-1, 0x7f800001, 5, -0x80000000, 0x7fc00001, 7, 0, 0]);
    const r = sl.build(sl.GlobalReshape({ outputShape: [2, 4] }), { inputShape: [2], inputDtype: 'int32' });
    const z = r.layer(x);
    expect([...z.mask]).toEqual([1, 0]);
    expect([...z.values].slice(0, 4)).toEqual([...values].slice(0, 4));
    g.dispose();
    r.dispose();
  });

  it('GlobalEinopsRearrange: reserved names, length-dependent channels, input time, and no stepping', () => {
    expectBadConfig(sl.GlobalEinopsRearrange({ pattern: '(c d) batch -> c d batch', axesLengths: { c: 2 } }), [4], /pattern: "batch" is reserved/);
    expectBadConfig(sl.GlobalEinopsRearrange({ pattern: '(c d) batch - c d batch', axesLengths: { c: 2 } }), [4], /pattern: expected one "->"/);
    expectBadConfig(sl.GlobalEinopsRearrange({ pattern: 't c -> c t' }), [3], /pattern: the output channels may not depend on the input length, but \["t"\]/);
    expectBadConfig(sl.GlobalEinopsRearrange({ pattern: 't c d -> (t c) d' }), [3], /pattern: expected 2 input axes/);
    // "..." first covers time too, which the output channels may not take.
    expectBadConfig(sl.GlobalEinopsRearrange({ pattern: '... c -> c (...)' }), [3, 4], /pattern: the output channels may not depend on the input length, but \["\.\.\."\]/);
    expectBadConfig(sl.GlobalEinopsRearrange({ pattern: '(t ...) -> t ...' }), [3], /pattern: expected "\.\.\." outside parentheses on the input side/);
    const m = sl.build(sl.Serial([sl.Relu(), sl.GlobalEinopsRearrange({ pattern: '(t k) c -> t (k c)', axesLengths: { k: 2 } })]), { inputShape: [3] });
    expect(m.outputShape()).toEqual([6]);
    expect(() => m.layer(sl.Sequence.zeros([1, 5, 3]))).toThrow(/\[BAD_INPUT\] GlobalEinopsRearrange at config\.layers\[1\]: expected input time a multiple of 2/);
    expect(m.layer(sl.Sequence.zeros([2, 8, 3])).shape).toEqual([2, 4, 6]);
    expect(m.layer(sl.Sequence.zeros([1, 2, 3])).shape).toEqual([1, 1, 6]);
    const state = m.initialState(1);
    expect(() => m.step(sl.Sequence.zeros([1, 2, 3]), state)).toThrow(/\[NOT_STEPPABLE\] step: this model cannot step/);
    m.dispose();
  });
});
