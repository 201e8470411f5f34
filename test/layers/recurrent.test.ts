// LSTM, GRU and RGLRU: metadata and parameters as the reference's recurrent_test.py asserts, the
// contract over sizes around the SIMD width (random lengths and random masks: the state is
// frozen at invalid steps), stepping == layer bit for bit, no memory growth while streaming,
// oracle values from PyTorch and NumPy (tools/fixtures_recurrent.py), bad configs.
import { beforeAll, describe, expect, it } from 'vitest';
import * as sl from '../../src/index.js';
import { checkFixtureCase, loadFixture } from '../fixtures.js';
import { buildError, heldBytes, paramShapes, randomizeWeights, rmsRelativeError } from './helpers.js';

beforeAll(async () => {
  await sl.init();
});

/**
 * verifyContract on the default input (random lengths), on one with a random non-contiguous
 * mask, and on a batch of one (the kernels' one-row GEMV paths).
 */
function checkContract(m: sl.Model): void {
  sl.verifyContract(m);
  const x = sl.randomSequence([2, 23, ...m.inputSpec.shape], { randomMask: true, seed: 5 });
  sl.verifyContract(m, { x });
  sl.verifyContract(m, { x: sl.randomSequence([1, 17, ...m.inputSpec.shape], { randomMask: true, seed: 6 }) });
}

describe('metadata and parameters (reference recurrent_test.py)', () => {
  it('LSTM: steppable, block 1, ratio 1, no latency, rf (-inf, 0), Keras parameter tree', () => {
    const m = sl.build(sl.LSTM({ units: 8, name: 'lstm' }), { inputShape: [3] });
    expect([m.supportsStep, m.blockSize, m.outputRatio.toString(), m.inputLatency, m.outputLatency]).toEqual([true, 1, '1', 0, 0]);
    expect(m.receptiveField).toEqual([-Infinity, 0]);
    expect(m.outputShape()).toEqual([8]);
    expect(paramShapes(m)).toEqual({ 'kernel.kernel': [3, 32], 'recurrent_kernel.kernel': [8, 32], bias: [32] });
    expect(m.root.stateSpecs(2).map((s) => [s.name, s.dtype, s.shape])).toEqual([['c', 'float32', [2, 8]], ['h', 'float32', [2, 8]]]);
    m.dispose();
  });

  it('LSTM init: unit forget bias, orthogonal recurrent kernel', () => {
    const m = sl.build(sl.LSTM({ units: 3 }), { inputShape: [2] });
    const w = m.getWeights();
    expect([...(w.bias!.data as Float32Array)]).toEqual([0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0]);
    // [3, 12] with orthonormal rows: K K^T = I.
    const k = w['recurrent_kernel.kernel']!.data as Float32Array;
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) {
        let dot = 0;
        for (let c = 0; c < 12; c++) dot += k[i * 12 + c]! * k[j * 12 + c]!;
        expect(dot).toBeCloseTo(i === j ? 1 : 0, 5);
      }
    }
    m.dispose();
  });

  it('GRU: parameter layout for both reset modes, use_bias=false', () => {
    let m = sl.build(sl.GRU({ units: 4 }), { inputShape: [5] });
    expect(paramShapes(m)).toEqual({ 'kernel.kernel': [5, 12], 'recurrent_kernel.kernel': [4, 12], bias: [2, 12] });
    expect(m.root.stateSpecs(3).map((s) => [s.name, s.shape])).toEqual([['h', [3, 4]]]);
    expect(m.receptiveField).toEqual([-Infinity, 0]);
    m.dispose();
    m = sl.build(sl.GRU({ units: 4, resetAfter: false }), { inputShape: [5] });
    expect(paramShapes(m)).toEqual({ 'kernel.kernel': [5, 12], 'recurrent_kernel.kernel': [4, 12], bias: [12] });
    m.dispose();
    m = sl.build(sl.GRU({ units: 4, useBias: false }), { inputShape: [5] });
    expect(paramShapes(m)).toEqual({ 'kernel.kernel': [5, 12], 'recurrent_kernel.kernel': [4, 12] });
    m.dispose();
  });

  it('RGLRU: the reference test (units 8, 2 heads) parameter tree and state', () => {
    const m = sl.build(sl.RGLRU({ units: 8, numHeads: 2, name: 'rglru' }), { inputShape: [8] });
    expect([m.supportsStep, m.blockSize, m.outputRatio.toString(), m.inputLatency, m.outputLatency]).toEqual([true, 1, '1', 0, 0]);
    expect(m.receptiveField).toEqual([-Infinity, 0]);
    expect(paramShapes(m)).toEqual({
      'input_gate.kernel': [2, 4, 4], 'input_gate.bias': [2, 4], 'a_gate.kernel': [2, 4, 4], 'a_gate.bias': [2, 4], a_param: [8],
    });
    expect(m.root.stateSpecs(2).map((s) => [s.name, s.dtype, s.shape])).toEqual([['h', 'float32', [2, 8]], ['start_index', 'int32', [2]]]);
    // a_param on the ring: |a| = e^(-softplus(a_param)) in [min_rad, 0.999].
    for (const v of m.getWeights().a_param!.data as Float32Array) {
      const a = Math.exp(-Math.log1p(Math.exp(v)));
      expect(a).toBeGreaterThanOrEqual(0.9 - 1e-6);
      expect(a).toBeLessThanOrEqual(0.999 + 1e-6);
    }
    m.dispose();
  });

  it('loads snake_case JSON configs with the reference field names', () => {
    const m = sl.build({ type: 'RGLRU', units: 4, num_heads: 2, scan_type: 'linear_native', only_real: true, min_rad: 0.5, gate_kernel_variance_scale: 2 }, { inputShape: [4] });
    expect(m.outputShape()).toEqual([4]);
    m.dispose();
    const l = sl.build({ type: 'LSTM', units: 2, recurrent_activation: 'sigmoid', use_bias: false }, { inputShape: [3] });
    expect(Object.keys(l.getWeights())).toEqual(['kernel.kernel', 'recurrent_kernel.kernel']);
    l.dispose();
  });
});

describe('contract', () => {
  // Units around the SIMD width (1, 3, 8, 33) and GEMM panel width, inputs 1, 5, 16; batch 2.
  const UNITS = [1, 3, 8, 33];
  const INPUTS = [1, 5, 16];
  const CELLS: [string, (units: number) => sl.LayerConfig][] = [
    ['LSTM', (units) => sl.LSTM({ units })],
    ['LSTM int8', (units) => sl.LSTM({ units, weightStorage: 'int8' })],
    ['GRU reset_after', (units) => sl.GRU({ units })],
    ['GRU reset before', (units) => sl.GRU({ units, resetAfter: false })],
    ['GRU int8 reset_after', (units) => sl.GRU({ units, weightStorage: 'int8' })],
    ['GRU int8 reset before', (units) => sl.GRU({ units, resetAfter: false, weightStorage: 'int8' })],
  ];
  for (const [name, config] of CELLS) {
    for (const units of UNITS) {
      it(`${name} units=${units}, inputs ${INPUTS.join(', ')}`, () => {
        for (const din of INPUTS) {
          const m = randomizeWeights(sl.build(config(units), { inputShape: [din] }), units + din, 0.5);
          checkContract(m);
          m.dispose();
        }
      });
    }
  }

  it("GRU int8: within a percent of float32 over 50 steps, both reset modes", () => {
    for (const resetAfter of [true, false]) {
      const f32 = randomizeWeights(sl.build(sl.GRU({ units: 96, resetAfter }), { inputShape: [40] }), 4, 0.1);
      const q8 = sl.build(sl.GRU({ units: 96, resetAfter, weightStorage: 'int8' }), { inputShape: [40], weights: f32.getWeights() });
      const x = sl.randomSequence([2, 50, 40], { randomLengths: false });
      const err = rmsRelativeError(f32.layer(x).values, q8.layer(x).values);
      expect(err).toBeGreaterThan(1e-4);
      expect(err).toBeLessThan(1e-2);
      f32.dispose();
      q8.dispose();
    }
  });

  it("LSTM int8: within a percent of float32 over 50 steps, a quarter of the weight packings, bad storage named", () => {
    const { m: f32, bytes: f32Bytes } = heldBytes(() => randomizeWeights(sl.build(sl.LSTM({ units: 128 }), { inputShape: [64] }), 4, 0.1));
    const { m: q8, bytes: q8Bytes } = heldBytes(() => sl.build(sl.LSTM({ units: 128, weightStorage: 'int8' }), { inputShape: [64] }));
    q8.loadWeights(f32.getWeights());
    const x = sl.randomSequence([2, 50, 64], { randomLengths: false });
    const err = rmsRelativeError(f32.layer(x).values, q8.layer(x).values);
    expect(err).toBeGreaterThan(1e-4);
    expect(err).toBeLessThan(1e-2);
    // Parameters (4 bytes a weight) plus packings: float32 12 bytes a weight, int8 5.
    expect(q8Bytes / f32Bytes).toBeCloseTo(5 / 12, 1);
    f32.dispose();
    q8.dispose();
    expect(buildError({ type: 'LSTM', units: 2, weight_storage: 'f16' }).message).toMatch(/\[BAD_CONFIG\] config\.weight_storage: expected one of "float32", "int8", got "f16"/);
  });

  it('LSTM and GRU with other activations and without bias', () => {
    for (const config of [
      sl.LSTM({ units: 5, activation: 'relu', recurrentActivation: 'sigmoid' }),
      sl.LSTM({ units: 6, useBias: false }),
      sl.GRU({ units: 5, activation: 'softplus', recurrentActivation: 'tanh' }),
      sl.GRU({ units: 6, useBias: false, resetAfter: false }),
    ]) {
      const m = randomizeWeights(sl.build(config, { inputShape: [4] }), 3, 0.5);
      checkContract(m);
      m.dispose();
    }
  });

  for (const [units, numHeads] of [[1, 1], [3, 1], [3, 3], [8, 2], [8, 8], [33, 3], [32, 4]] as const) {
    it(`RGLRU units=${units} num_heads=${numHeads}`, () => {
      const m = randomizeWeights(sl.build(sl.RGLRU({ units, numHeads }), { inputShape: [units] }), units, 0.5);
      checkContract(m);
      m.dispose();
    });
  }

  it('inside a Serial, between other layers, and repeated (stacked parameters)', () => {
    const m = randomizeWeights(sl.build(sl.Serial([sl.LSTM({ units: 6 }), sl.GRU({ units: 4 }), sl.RGLRU({ units: 4, numHeads: 2 })]), { inputShape: [3] }), 9, 0.5);
    checkContract(m);
    m.dispose();
    const r = randomizeWeights(sl.build(sl.Repeat(sl.GRU({ units: 4 }), 3), { inputShape: [4] }), 10, 0.5);
    checkContract(r);
    r.dispose();
  });

  it('Bidirectional LSTM: the frozen state makes the backward branch skip the end padding', () => {
    const m = randomizeWeights(sl.build(sl.Bidirectional(sl.LSTM({ units: 3 }), sl.LSTM({ units: 3 }), { combination: 'concat' }), { inputShape: [2] }), 6, 0.5);
    checkContract(m);
    m.dispose();
  });
});

describe('streaming', () => {
  /** Values at valid steps, compared bitwise (Object.is: NaN == NaN, 0 != -0). */
  function expectBitwiseEqual(a: sl.Sequence, b: sl.Sequence): void {
    expect([...a.mask]).toEqual([...b.mask]);
    const row = a.values.length / a.mask.length;
    let diffs = 0;
    for (let i = 0; i < a.mask.length; i++) {
      if (!a.mask[i]) continue;
      for (let j = i * row; j < (i + 1) * row; j++) if (!Object.is(a.values[j], b.values[j])) diffs++;
    }
    expect(diffs).toBe(0);
  }

  for (const config of [
    sl.LSTM({ units: 8 }), sl.LSTM({ units: 8, weightStorage: 'int8' }), sl.GRU({ units: 7 }), sl.GRU({ units: 7, resetAfter: false }),
    sl.GRU({ units: 7, weightStorage: 'int8' }), sl.GRU({ units: 7, resetAfter: false, weightStorage: 'int8' }), sl.RGLRU({ units: 6, numHeads: 2 }),
  ]) {
    it(`${config.type}${config.resetAfter === false ? ' reset before' : ''}${config.weightStorage === 'int8' ? ' int8' : ''}: 300 single steps equal layer() bit for bit`, () => {
      const din = config.type === 'RGLRU' ? 6 : 5;
      const m = randomizeWeights(sl.build(config, { inputShape: [din] }), 4, 0.5);
      const x = sl.randomSequence([2, 300, din], { seed: 11, lowLength: 200 });
      expectBitwiseEqual(sl.stepByStep(m, x, 1), m.layer(x));
      expectBitwiseEqual(sl.stepByStep(m, x, [7, 1, 100, 64, 128]), m.layer(x));
      m.dispose();
    });
  }

  it('the state is frozen at invalid steps, NaN values included', () => {
    for (const config of [sl.LSTM({ units: 5 }), sl.LSTM({ units: 5, weightStorage: 'int8' }), sl.GRU({ units: 5 }), sl.GRU({ units: 5, weightStorage: 'int8' }), sl.RGLRU({ units: 4, numHeads: 2 })]) {
      const din = config.type === 'RGLRU' ? 4 : 3;
      const m = randomizeWeights(sl.build(config, { inputShape: [din] }), 2, 0.5);
      const state = m.initialState(2);
      m.step(sl.randomSequence([2, 3, din], { seed: 3, randomLengths: false }), state);
      const before = state.toBytes();
      const invalid = new sl.Sequence(new Float32Array(2 * 4 * din).fill(NaN), new Uint8Array(8), [2, 4, din]);
      m.step(invalid, state);
      const after = state.toBytes();
      // RGLRU's start_index still advances (segment positions count every step, as in the reference).
      if (config.type !== 'RGLRU') expect(after).toEqual(before);
      else expect(after).not.toEqual(before);
      state.dispose();
      m.dispose();
    }
  });

  it('RGLRU: segment positions count every step (start_index), so step == layer across blocks', () => {
    const m = randomizeWeights(sl.build(sl.RGLRU({ units: 4, numHeads: 1 }), { inputShape: [4] }), 8, 0.5);
    const x = sl.randomSequence([1, 10, 4], { seed: 2, randomLengths: false });
    const state = m.initialState(1);
    const first = m.step(x.sliceTime(0, 5), state);
    const second = m.step(x.sliceTime(5, 10), state);
    expectBitwiseEqual(sl.Sequence.concatenate([first, second]), m.layer(x));
    // A fresh state resets at its first step: the same block from position 0 differs.
    const fresh = m.initialState(1);
    expect([...m.step(x.sliceTime(5, 10), fresh).values]).not.toEqual([...second.values]);
    state.dispose();
    fresh.dispose();
    m.dispose();
  });

  for (const weightStorage of ['float32', 'int8'] as const) {
    it(`a streaming LSTM (${weightStorage} weights) allocates no WebAssembly memory after its first step (1000 steps)`, () => {
      const m = randomizeWeights(sl.build(sl.LSTM({ units: 64, weightStorage }), { inputShape: [16] }), 5, 0.1);
      const rt = sl.getRuntime();
      const x = sl.randomSequence([2, 1, 16], { seed: 4, randomLengths: false });
      const state = m.initialState(2);
      m.step(x, state);
      const bytes = rt.memory.buffer.byteLength;
      for (let i = 0; i < 1000; i++) m.step(x, state);
      expect(rt.memory.buffer.byteLength).toBe(bytes);
      state.dispose();
      m.dispose();
    });
  }
});

describe('oracle values (tools/fixtures_recurrent.py: torch.nn.LSTM, torch.nn.GRU, NumPy)', () => {
  const { cases } = loadFixture('recurrent');
  for (const c of cases) it(c.name, () => checkFixtureCase(c));
});

describe('bad configs', () => {
  it('rejects units 0', () => {
    for (const type of ['LSTM', 'GRU']) {
      const e = buildError({ type, units: 0 });
      expect(e.code).toBe('BAD_CONFIG');
      expect(e.message).toBe('[BAD_CONFIG] config.units: expected an integer in [1, 16777216], got 0');
    }
    expect(buildError({ type: 'RGLRU', units: 0, num_heads: 1 }).message).toContain('config.units: expected an integer in [1, 16777216], got 0');
  });

  it('rejects an unknown activation, naming the field', () => {
    let e = buildError({ type: 'LSTM', units: 2, activation: 'hard_sigmoid' });
    expect(e.code).toBe('BAD_CONFIG');
    expect(e.message).toContain('config.activation: expected one of "relu", "tanh", "sigmoid"');
    expect(e.message).toContain('got "hard_sigmoid"');
    e = buildError({ type: 'GRU', units: 2, recurrent_activation: 'sigmod' });
    expect(e.code).toBe('BAD_CONFIG');
    expect(e.message).toContain('config.recurrent_activation: expected one of');
  });

  it('rejects inputs that are not float32 [channels]', () => {
    const e = buildError(sl.Serial([sl.LSTM({ units: 2 })]), [2, 3]);
    expect(e.code).toBe('BAD_CONFIG');
    expect(e.message).toBe('[BAD_CONFIG] LSTM at config.layers[0]: expected a float32 input with channel shape [channels], got [2, 3] float32');
  });

  it('RGLRU: heads must divide units, the input must have units channels, only the real variant', () => {
    let e = buildError(sl.RGLRU({ units: 8, numHeads: 3 }), [8]);
    expect(e.code).toBe('BAD_CONFIG');
    expect(e.message).toBe('[BAD_CONFIG] RGLRU at config: num_heads: expected a divisor of units=8, got 3');
    e = buildError(sl.RGLRU({ units: 8, numHeads: 2 }), [5]);
    expect(e.message).toBe('[BAD_CONFIG] RGLRU at config: expected input channel shape [units] = [8] (the gated input is added to the state), got [5]');
    e = buildError(sl.RGLRU({ units: 8, numHeads: 2, onlyReal: false }), [8]);
    expect(e.message).toBe('[BAD_CONFIG] RGLRU at config: only_real: expected true (the complex variant is not implemented), got false');
    e = buildError({ type: 'RGLRU', units: 8, num_heads: 2, scan_type: 'parallel' }, [8]);
    expect(e.message).toContain('config.scan_type: expected one of "auto", "linear_native", "associative_native", "linear_pallas", got "parallel"');
  });
});
