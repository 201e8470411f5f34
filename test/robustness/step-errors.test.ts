// A refused step leaves its state as it was: every error a layer can foresee (missing or
// mis-shaped constants, a full KV cache) is raised before any layer of the model writes, and an
// error no layer can foresee (a Lambda that throws) makes the state refuse further use rather
// than go on with some layers a block ahead of others. Also the boundary's checks of masks and
// of stepInto's output buffers.
import { beforeAll, describe, expect, it } from 'vitest';
import * as sl from '../../src/index.js';
import { crc32 } from '../../src/util/hash.js';
import { codedError as error } from '../errors.js';

beforeAll(() => sl.init());

const block = (v: number, time = 2, channels = 4) => sl.Sequence.fromValues(new Float32Array(time * channels).fill(v), [1, time, channels]);
const causalConv = () => sl.Conv1D({ filters: 4, kernelSize: 3, padding: 'causal' });

/** Steps `model` from a state that saw one good block, through `bad`; checks the refusal and that the state is unchanged and still equals a twin. */
function expectRefusedAndUnchanged(model: sl.Model, good: (s: sl.State) => sl.Sequence, bad: (s: sl.State) => unknown, code: string): void {
  const state = model.initialState(1), twin = model.initialState(1);
  good(state);
  good(twin);
  const before = state.toBytes();
  expect(error(() => bad(state)).code).toBe(code);
  expect(Buffer.from(state.toBytes()).equals(Buffer.from(before))).toBe(true);
  expect(good(state).values).toEqual(good(twin).values);
}

describe('a refused step leaves the state as it was', () => {
  it('MISSING_CONSTANT from a Conditioning after a causal conv (absent, then mis-shaped)', () => {
    const c = sl.Sequence.fromValues(new Float32Array(36).fill(0.5), [1, 12, 3]);
    const model = sl.build(sl.Serial([causalConv(), sl.Conditioning({ conditioningName: 'c', projection: 'linear', combination: 'add' })]), { inputShape: [4], constants: { c } });
    const good = (s: sl.State) => model.step(block(1), s, { constants: { c } });
    expectRefusedAndUnchanged(model, good, (s) => model.step(block(2), s), 'MISSING_CONSTANT');
    const wrong = sl.Sequence.fromValues(new Float32Array(24), [1, 12, 2]);
    expectRefusedAndUnchanged(model, good, (s) => model.step(block(2), s, { constants: { c: wrong } }), 'MISSING_CONSTANT');
  });

  it('MISSING_CONSTANT from rotary positions after a causal conv', () => {
    const model = sl.build(sl.Serial([causalConv(), sl.ApplyRotaryPositionalEncoding({ maxWavelength: 100, positionsName: 'pos', onlyAdvancePositionForValidTimesteps: false })]), { inputShape: [4] });
    const pos = { values: new Int32Array([3, 4]), shape: [1, 2] };
    const good = (s: sl.State) => model.step(block(1), s, { constants: { pos } });
    expectRefusedAndUnchanged(model, good, (s) => model.step(block(2), s), 'MISSING_CONSTANT');
  });

  it('CACHE_FULL from self-attention with a growing cache after a causal conv', () => {
    const model = sl.build(sl.Serial([causalConv(), sl.DotProductSelfAttention({ numHeads: 1, unitsPerHead: 4, maxPastHorizon: -1, maxCacheSteps: 4 })]), { inputShape: [4] });
    const state = model.initialState(1);
    model.step(block(1), state);
    model.step(block(2), state);
    const before = state.toBytes();
    const e = error(() => model.step(block(3), state));
    expect(e.code).toBe('CACHE_FULL');
    expect(Buffer.from(state.toBytes()).equals(Buffer.from(before))).toBe(true);
  });

  it('CACHE_FULL counts the steps the attention sees: after a downsampling, and inside a Residual', () => {
    const attention = () => sl.DotProductSelfAttention({ numHeads: 1, unitsPerHead: 4, maxPastHorizon: -1, maxCacheSteps: 4 });
    const downsampled = sl.build(sl.Serial([causalConv(), sl.Downsample1D({ rate: 2 }), attention()]), { inputShape: [4] });
    const residual = sl.build(sl.Residual([causalConv(), attention(), sl.Flatten()]), { inputShape: [4] });
    for (const [model, time] of [[downsampled, 4], [residual, 2]] as const) {
      const state = model.initialState(1);
      model.step(block(1, time), state);
      model.step(block(2, time), state);
      const before = state.toBytes();
      expect(error(() => model.step(block(3, time), state)).code).toBe('CACHE_FULL');
      expect(Buffer.from(state.toBytes()).equals(Buffer.from(before))).toBe(true);
    }
  });

  it('MISSING_CONSTANT from cross-attention after a causal conv', () => {
    const source = sl.Sequence.fromValues(new Float32Array(15).fill(0.25), [1, 5, 3]);
    const model = sl.build(sl.Serial([causalConv(), sl.StreamingDotProductAttention({ sourceName: 'src', numHeads: 1, unitsPerHead: 4, maxPastHorizon: 2, maxFutureHorizon: 0 })]), { inputShape: [4], constants: { src: source } });
    const src = sl.Sequence.fromValues(new Float32Array(6).fill(0.25), [1, 2, 3]);
    const good = (s: sl.State) => model.step(block(1), s, { constants: { src } });
    expectRefusedAndUnchanged(model, good, (s) => model.step(block(2), s), 'MISSING_CONSTANT');
  });
});

describe('an error no layer can foresee', () => {
  it('a Lambda that throws mid-model: the state then refuses step, stepInto, clone and toBytes, and a snapshot from before goes on', () => {
    let fail = false;
    const lambda = sl.Lambda({ fn: (v: Float32Array | Int32Array) => { if (fail) throw new Error('user function failed'); return v; } });
    const model = sl.build(sl.Serial([causalConv(), lambda, sl.LSTM({ units: 3 })]), { inputShape: [4] });
    const state = model.initialState(1), twin = model.initialState(1);
    model.step(block(1), state);
    model.step(block(1), twin);
    const snapshot = state.toBytes();
    fail = true;
    expect(() => model.step(block(2), state)).toThrow('user function failed');
    fail = false;
    for (const use of [() => model.step(block(2), state), () => model.stepInto(block(2), state, { values: new Float32Array(6), mask: new Uint8Array(2) }), () => state.clone(), () => state.toBytes()]) {
      const e = error(use);
      expect(e.code).toBe('BAD_STATE');
      expect(e.message).toContain('user function failed');
      expect(e.message).toContain('restoreState');
    }
    const restored = model.restoreState(snapshot);
    expect(model.step(block(2), restored).values).toEqual(model.step(block(2), twin).values);
  });
});

describe('boundary checks', () => {
  it('mask bytes other than 0 and 1 are BAD_INPUT in layer and step, naming the step', () => {
    const model = sl.build(sl.AddTimingSignal(), { inputShape: [4] });
    const x = block(1);
    x.mask[1] = 2;
    const out = { values: new Float32Array(2 * 4), mask: new Uint8Array(2) };
    for (const run of [() => model.layer(x), () => model.step(x, model.initialState(1)), () => model.stepInto(x, model.initialState(1), out)]) {
      const e = error(run);
      expect(e.code).toBe('BAD_INPUT');
      expect(e.message).toMatch(/expected mask bytes of 0 .* or 1 .*, got 2 at batch item 0, step 1/);
    }
  });

  it('stepInto refuses output buffers of the wrong types before stepping', () => {
    const model = sl.build(sl.Serial([causalConv(), sl.Dense({ features: 2 })]), { inputShape: [4] });
    const state = model.initialState(1);
    model.step(block(1), state);
    const before = state.toBytes();
    const bad = [
      { values: new Uint8Array(4), mask: new Uint8Array(2) },
      { values: new Float64Array(4), mask: new Uint8Array(2) },
      { values: [0, 0, 0, 0], mask: new Uint8Array(2) },
      { values: new Float32Array(4), mask: new Float32Array(2) },
      { values: new Int32Array(4), mask: new Uint8Array(2) },
    ];
    for (const out of bad) {
      const e = error(() => model.stepInto(block(2), state, out as unknown as sl.StepOutput));
      expect(e.code).toBe('BAD_ARGUMENT');
      expect(e.message).toContain('expected out.values of 4 float32');
    }
    expect(Buffer.from(state.toBytes()).equals(Buffer.from(before))).toBe(true);
  });
});

describe('arguments of the model API', () => {
  const model = () => sl.build(sl.Dense({ features: 2 }), { inputShape: [4] });

  it('build: sparse input shapes, unknown dtypes, non-integer seeds and foreign runtimes are BAD_ARGUMENT', () => {
    // eslint-disable-next-line no-sparse-arrays
    for (const [opts, text] of [
      [{ inputShape: [, 4] }, 'inputShape'], [{ inputShape: [4], inputDtype: 'float64' }, "inputDtype 'float32', 'int32', 'complex64'"],
      [{ inputShape: [4], seed: 'x' }, 'seed'], [{ inputShape: [4], seed: NaN }, 'seed'], [{ inputShape: [4], runtime: {} }, 'createRuntime'],
    ] as const) {
      const e = error(() => sl.build(sl.Dense({ features: 2 }), opts as unknown as sl.BuildOptions));
      expect(e.code).toBe('BAD_ARGUMENT');
      expect(e.message).toContain(text);
    }
  });

  it('loadWeights: a non-object, or data that does not match its dtype, is BAD_WEIGHTS and keeps the weights', () => {
    const m = model();
    const x = block(1, 2);
    const before = m.layer(x).values;
    const good = m.getWeights();
    const mismatched = (path: string, t: object) => ({ ...good, [path]: { ...good[path], ...t } });
    for (const [w, text] of [
      [null, 'expected named tensors'], [5, 'expected named tensors'], ['abc', 'expected named tensors'],
      [mismatched('kernel', { dtype: 'F16' }), 'as a Uint16Array, got'], [mismatched('kernel', { data: new Int32Array(8) }), 'as a Float32Array, got'],
      [mismatched('kernel', { data: 'ab' }), 'as a Float32Array, got'], [mismatched('kernel', { data: undefined }), 'as a Float32Array, got'],
    ] as const) {
      const e = error(() => m.loadWeights(w as unknown as sl.WeightsSource));
      expect(e.code).toBe('BAD_WEIGHTS');
      expect(e.message).toContain(text);
    }
    expect(m.layer(x).values).toEqual(before);
  });

  it('outputShape of something other than a list of positive integers is BAD_ARGUMENT', () => {
    for (const bad of [null, '4', 4, [0], [2.5], [, 4]]) expect(error(() => model().outputShape(bad as unknown as number[])).code).toBe('BAD_ARGUMENT');
  });

  it('outputShape of another shape builds the tree with the build constants, allocating nothing', () => {
    const source = sl.Sequence.fromValues(new Float32Array(5 * 3), [1, 5, 3]);
    const m = sl.build(sl.Serial([sl.Dense({ features: 4 }), sl.DotProductAttention({ sourceName: 'src', numHeads: 2, unitsPerHead: 2 })]), { inputShape: [4], constants: { src: source } });
    const used = sl.getRuntime().heap.inUse;
    expect(m.outputShape([6])).toEqual([2, 2]);
    expect(sl.getRuntime().heap.inUse).toBe(used);
    expect(error(() => sl.build(sl.Reshape({ outputShape: [2, 2] }), { inputShape: [4] }).outputShape([5])).code).toBe('BAD_CONFIG');
    m.dispose();
  });

  it('restoreState takes the snapshot as an ArrayBuffer too, and checks the batch before allocating', () => {
    const m = sl.build(sl.LSTM({ units: 3 }), { inputShape: [4] });
    const s = m.initialState(1);
    m.step(block(1), s);
    const bytes = s.toBytes();
    expect(m.restoreState(bytes.slice().buffer).toBytes()).toEqual(bytes);
    /** The snapshot with another batch size (bytes 12..16) and a fresh checksum. */
    const withBatch = (batch: number) => {
      const b = bytes.slice();
      const dv = new DataView(b.buffer);
      dv.setUint32(12, batch, true);
      dv.setUint32(b.length - 4, crc32(b.subarray(0, b.length - 4)), true);
      return b;
    };
    const inUse = m.rt.heap.inUse;
    for (const [batch, text] of [[0, 'a batch of 1 to 2147483647 items, got 0'], [2 ** 32 - 1, 'got 4294967295'], [1e6, 'holds at least']] as const) {
      const e = error(() => m.restoreState(withBatch(batch)));
      expect(e.code).toBe('BAD_SNAPSHOT');
      expect(e.message).toContain(text);
    }
    expect(m.rt.heap.inUse).toBe(inUse);
    // A model without state buffers cannot check a batch against the snapshot's size: the bound
    // is what a Sequence can hold.
    const stateless = sl.build(sl.Dense({ features: 2 }), { inputShape: [4] });
    const b = stateless.initialState(2).toBytes();
    new DataView(b.buffer).setUint32(12, 2 ** 32 - 1, true);
    new DataView(b.buffer).setUint32(b.length - 4, crc32(b.subarray(0, b.length - 4)), true);
    expect(() => stateless.restoreState(b)).toThrow(/^\[BAD_SNAPSHOT\] restoreState: expected a batch of 1 to 2147483647 items, got 4294967295/);
    // A snapshot cut inside a buffer (checksum refreshed) names what it ends in.
    const cut = bytes.slice(0, bytes.length - 8);
    new DataView(cut.buffer).setUint32(cut.length - 4, crc32(cut.subarray(0, cut.length - 4)), true);
    expect(() => m.restoreState(cut)).toThrow(/^\[BAD_SNAPSHOT\] restoreState: truncated snapshot: buffer "\w+" \[1, 3\] needs 12 bytes at byte \d+, the snapshot has \d+ before its checksum/);
  });

  it('a Sequence whose buffer was transferred away (detached), or whose fields were reassigned, is BAD_INPUT: input, constants, Sequence methods, bytes', () => {
    const detach = (a: ArrayBufferView) => void structuredClone(a.buffer, { transfer: [a.buffer as ArrayBuffer] });
    const model = sl.build(sl.Serial([causalConv(), sl.Dense({ features: 2 })]), { inputShape: [4] });
    const out = { values: new Float32Array(2 * 2), mask: new Uint8Array(2) };
    for (const part of ['values', 'mask'] as const) {
      const x = block(3);
      detach(x[part]);
      for (const [what, run] of [['layer', () => model.layer(x)], ['step', () => model.step(x, model.initialState(1))], ['stepInto', () => model.stepInto(x, model.initialState(1), out)]] as const) {
        expect(run).toThrow(`[BAD_INPUT] ${what}: the input: the buffer of its ${part} was detached (transferred elsewhere, e.g. to a worker), expected one this thread owns; pass a copy`);
      }
      expect(() => x.sliceTime(0, 1)).toThrow(`[BAD_INPUT] slice: the Sequence: the buffer of its ${part} was detached`);
      expect(() => sl.Sequence.concatenate([block(1), x])).toThrow(`[BAD_INPUT] Sequence.concatenate: the Sequence at index 1: the buffer of its ${part} was detached`);
    }
    const forged = block(3);
    (forged as { values: Float32Array }).values = new Float32Array(1);
    expect(() => model.step(forged, model.initialState(1))).toThrow('[BAD_INPUT] step: the input: shape [1, 2, 4] (float32) needs 8 values, got 1');
    expect(() => sl.Sequence.fromValues(['a', 'b'] as never, [1, 2])).toThrow('[BAD_INPUT] Sequence.fromValues: expected numbers, got "a" at index 0');
    for (const [name, read] of [['restoreState', (b: Uint8Array) => model.restoreState(b)], ['readSafetensors', sl.readSafetensors], ['readNpy', sl.readNpy]] as const) {
      const bytes = new Uint8Array(64);
      detach(bytes);
      expect(() => read(bytes), name).toThrow(/got Uint8Array\(detached\)/);
    }
  });

  it('a detached constant is refused before any layer writes: the state goes on (it was left interrupted)', () => {
    const seg = (v: number) => sl.Sequence.fromValues(new Int32Array(2).fill(v), [1, 2], 'int32');
    const model = sl.build(sl.Serial([causalConv(), sl.DotProductSelfAttentionV2({ numHeads: 1, unitsPerHead: 4, maxPastHorizon: 4, segmentIdsName: 'seg' })]), { inputShape: [4] });
    const good = (s: sl.State) => model.step(block(1), s, { constants: { seg: seg(1) } });
    const gone = seg(1);
    structuredClone(gone.values.buffer, { transfer: [gone.values.buffer] });
    expectRefusedAndUnchanged(model, good, (s) => model.step(block(2), s, { constants: { seg: gone } }), 'BAD_INPUT');
    const array = { values: new Int32Array(2), shape: [1, 2] };
    structuredClone(array.values.buffer, { transfer: [array.values.buffer] });
    expect(() => model.step(block(2), model.initialState(1), { constants: { seg: array } })).toThrow('[BAD_INPUT] step: constants.seg: the buffer of its values was detached');
  });

  it('a refused initialState (a mis-shaped source) keeps none of the memory it took', () => {
    const src = sl.Sequence.zeros([1, 5, 3]);
    const model = sl.build(sl.Serial([sl.LSTM({ units: 4 }), sl.DotProductAttention({ sourceName: 'src', numHeads: 1, unitsPerHead: 2 })]), { inputShape: [3], constants: { src } });
    const inUse = model.rt.heap.inUse;
    for (let i = 0; i < 5; i++) expect(error(() => model.initialState(1, { constants: { src: sl.Sequence.zeros([1, 5, 4]) } })).code).toBe('MISSING_CONSTANT');
    expect(model.rt.heap.inUse).toBe(inUse);
  });

  it('a Lambda whose function calls its own model is refused, and the model works afterwards', () => {
    let inner: (() => unknown) | null = null;
    const m = sl.build(sl.Serial([sl.Lambda({ fn: (v: Float32Array | Int32Array) => (inner?.(), v) }), sl.Dense({ features: 2 })]), { inputShape: [4] });
    const x = block(1);
    const expected = m.layer(x).values;
    for (const call of [() => m.layer(x), () => m.step(x, m.initialState(1)), () => m.initialState(1)]) {
      inner = call;
      const e = error(() => m.layer(x));
      expect(e.code).toBe('BAD_ARGUMENT');
      expect(e.message).toContain('one call at a time');
    }
    inner = null;
    expect(m.layer(x).values).toEqual(expected);
  });
});

describe('step counters near 2^31', () => {
  /** The state's int32 buffer `name` (one per model here). */
  const counter = (model: sl.Model, state: sl.State, name: string) => {
    const buf = state.slots.flat().find((b) => b.name === name)!;
    return { get: () => model.rt.i32[buf.ptr >> 2]!, set: (v: number) => model.rt.i32.fill(v, buf.ptr >> 2, (buf.ptr + buf.bytes) >> 2) };
  };

  it('a windowed attention ring stepped past 2^31 steps goes on as from the same phase, writing only its own buffers', () => {
    // past 3 + future 2: a ring of C = 5 keys and a query delay of F = 2, period lcm(5, 2) = 10.
    const model = sl.build(sl.LocalDotProductSelfAttention({ numHeads: 1, unitsPerHead: 4, maxPastHorizon: 3, maxFutureHorizon: 2, blockSize: 2 }), { inputShape: [4] });
    const bystander = sl.build(sl.LSTM({ units: 4 }), { inputShape: [4] });
    const other = bystander.initialState(1);
    bystander.step(block(0.5), other);
    const otherBytes = other.toBytes();
    const near = model.initialState(1);
    for (let i = 0; i < 4; i++) model.step(block(i), near);
    const far = near.clone();
    const step = counter(model, far, 'time_step');
    step.set(step.get() + 10 * Math.floor((2 ** 31 - 1 - step.get()) / 10) - 10); // same phase, 10 steps below 2^31
    for (let i = 0; i < 12; i++) {
      const x = sl.randomSequence([1, 2, 4], { seed: i });
      expect(model.step(x, far).values).toEqual(model.step(x, near).values);
      expect(step.get()).toBeGreaterThanOrEqual(5);
    }
    expect(Buffer.from(other.toBytes()).equals(Buffer.from(otherBytes))).toBe(true);
  });

  it('a time-varying layer step counter stops at 2^31 - 1 (past numSteps: NaN rows, as at any later step)', () => {
    const model = sl.build(sl.SequenceDense({ features: 2, numSteps: 3 }), { inputShape: [4] });
    const state = model.initialState(1);
    const step = counter(model, state, 'step');
    step.set(2 ** 31 - 3);
    for (let i = 0; i < 3; i++) {
      expect(model.step(block(1), state).values.every(Number.isNaN)).toBe(true);
      expect(step.get()).toBe(Math.min(2 ** 31 - 3 + 2 * (i + 1), 2 ** 31 - 1));
    }
  });
});
