// The public boundary: checks, errors that leave models and states usable, weights, states.
import { beforeAll, describe, expect, it } from 'vitest';
import * as sl from '../../src/index.js';
import { codedError as error } from '../errors.js';
import { crc32 } from '../../src/util/hash.js';
import { TestPairSumConfig, TestScaleConfig } from './test-layers.js';

beforeAll(async () => {
  await sl.init();
});

const cfg = sl.Serial([TestPairSumConfig(), TestScaleConfig]);
const x = (b: number, t: number, c = 3) => sl.randomSequence([b, t, c], { randomLengths: false, seed: b * 100 + t });


describe('Model boundary checks', () => {
  it('rejects a wrong channel shape, dtype or block, then still works', () => {
    const m = sl.build(cfg, { inputShape: [3] });
    const s = m.initialState(2);
    const e1 = error(() => m.layer(x(2, 4, 5)));
    expect(e1.code).toBe('BAD_INPUT');
    expect(e1.message).toMatch(/expected input \[batch, time, 3\] float32, got \[2, 4, 5\] float32/);
    expect(error(() => m.step(sl.Sequence.zeros([2, 1, 3], 'int32'), s)).code).toBe('BAD_INPUT');
    expect(error(() => m.step(x(3, 2), s)).message).toMatch(/state holds 2 batch items, the input has 3/);
    const other = sl.build(cfg, { inputShape: [3] });
    expect(error(() => m.step(x(2, 2), other.initialState(2))).code).toBe('BAD_STATE');
    expect(error(() => m.step(x(2, 2), {} as sl.State)).code).toBe('BAD_STATE');
    // Everything still works after the errors.
    const y = m.step(x(2, 4), s);
    expect(y.shape).toEqual([2, 4, 3]);
  });

  it('checks that step input time is a multiple of blockSize', () => {
    const m = sl.build({ type: 'Serial', layers: [] }, { inputShape: [3] });
    Object.defineProperty(m.root, 'blockSize', { value: 4 });
    expect(error(() => m.step(x(1, 6), m.initialState(1))).message).toMatch(/multiple of blockSize=4, got time=6/);
  });

  it('stepInto writes into caller buffers and checks their sizes', () => {
    const m = sl.build(cfg, { inputShape: [3] });
    const s1 = m.initialState(1), s2 = m.initialState(1);
    const out = { values: new Float32Array(6), mask: new Uint8Array(2) };
    for (let i = 0; i < 3; i++) {
      const xb = x(1, 2).sliceTime(0, 2);
      expect(m.stepInto(xb, s1, out)).toBe(2);
      const ref = m.step(xb, s2);
      expect([...out.values]).toEqual([...ref.values]);
      expect([...out.mask]).toEqual([...ref.mask]);
    }
    expect(error(() => m.stepInto(x(1, 2), s1, { values: new Float32Array(5), mask: new Uint8Array(2) })).code).toBe('BAD_ARGUMENT');
  });

  it('stepInto copies the right output when another call moves its scratch', () => {
    const m = sl.build(cfg, { inputShape: [3] });
    // Room in the memory first, so that the scratch moves within the same buffer.
    sl.build(sl.Dense({ features: 2048 }), { inputShape: [2048], runtime: m.rt }).dispose();
    const buffer = m.rt.memory.buffer;
    const other = sl.build(sl.Dense({ features: 64 }), { inputShape: [64], runtime: m.rt });
    const s1 = m.initialState(1), s2 = m.initialState(1);
    const out = { values: new Float32Array(6), mask: new Uint8Array(2) };
    for (let i = 0; i < 4; i++) {
      // 4 MB of scratch: the arena takes more chunks, then keeps one chunk of their total size.
      if (i === 2) other.layer(sl.randomSequence([1, 8192, 64], { randomLengths: false }));
      const xb = x(1, 2 + i).sliceTime(i, i + 2);
      m.stepInto(xb, s1, out);
      expect([...out.values]).toEqual([...m.step(xb, s2).values]);
    }
    expect(m.rt.memory.buffer).toBe(buffer);
  });

  it('stepInto copies the right output when blocks change length and when memory grows', () => {
    const m = sl.build(cfg, { inputShape: [3] });
    const s1 = m.initialState(1), s2 = m.initialState(1);
    const input = sl.randomSequence([1, 40, 3], { randomLengths: false, seed: 4 });
    let t = 0;
    for (const len of [2, 2, 5, 1, 1, 7, 2, 9, 2]) {
      if (len === 7) {
        // A model this size grows the memory, which detaches every view of the old buffer.
        const before = m.rt.memory.buffer;
        const big = sl.build(sl.Dense({ features: 4096 }), { inputShape: [4096], runtime: m.rt });
        expect(m.rt.memory.buffer).not.toBe(before);
        big.dispose();
      }
      const xb = input.sliceTime(t, t + len);
      t += len;
      const out = { values: new Float32Array(len * 3), mask: new Uint8Array(len) };
      expect(m.stepInto(xb, s1, out)).toBe(len);
      const ref = m.step(xb, s2);
      expect([...out.values]).toEqual([...ref.values]);
      expect([...out.mask]).toEqual([...ref.mask]);
    }
  });
});

describe('State', () => {
  it('clones, disposes and refuses use after dispose', () => {
    const m = sl.build(cfg, { inputShape: [3] });
    const s = m.initialState(1);
    m.step(x(1, 3), s);
    const c = s.clone();
    const a = m.step(x(1, 2), s), b = m.step(x(1, 2), c);
    expect([...a.values]).toEqual([...b.values]);
    s.dispose();
    expect(error(() => m.step(x(1, 2), s)).code).toBe('DISPOSED');
    expect(error(() => s.clone()).code).toBe('DISPOSED');
    m.dispose();
    expect(error(() => m.layer(x(1, 2))).code).toBe('DISPOSED');
    expect(error(() => c.toBytes()).code).toBe('DISPOSED');
  });

  it('snapshots: a stream split across toBytes/restoreState equals the uninterrupted stream', () => {
    const m = sl.build(cfg, { inputShape: [3] });
    const input = x(2, 10);
    const whole = sl.stepByStep(m, input, 1);
    const s = m.initialState(2);
    const first = m.step(input.sliceTime(0, 4), s);
    const bytes = s.toBytes();
    s.dispose();
    const twin = sl.build(cfg, { inputShape: [3] }); // another instance of the same architecture
    const restored = twin.restoreState(bytes);
    const rest = twin.step(input.sliceTime(4), restored);
    sl.assertSequencesClose(first.concatenate(rest), whole, 'snapshot stream', 0, 0);
  });

  it('restores a snapshot of format version 1, as saved by earlier releases, and writes it back byte for byte', () => {
    // Serial([Conv1D(3, kernel 3, causal), LSTM(2)]) over 2 channels after 5 steps, written by
    // seqlayers 0.1.0 (names of odd length leave the later fields unaligned). Snapshots are
    // kept (a Durable Object's storage, a pool's failover), so the format must not drift.
    const v1 = 'U0xTVAEAAAA/VgkUAQAAAAQAAAABAAAAAAAAAAYAAAB2AGEAbAB1AGUAcwADAAAAAQAAAAIAAAACAAAARjAoP5VGfT8yAdM++EQLvwEAAAACAAAABAAAAG0AYQBzAGsAAgAAAAEAAAACAAAAAQEAAAIAAAAAAAAAAQAAAGMAAgAAAAEAAAACAAAAba6CvabzBL4CAAAAAAAAAAEAAABoAAIAAAABAAAAAgAAAAp37bzoJqy92gQr1w==';
    const bytes = Uint8Array.from(atob(v1), (ch) => ch.charCodeAt(0));
    const m = sl.build(sl.Serial([sl.Conv1D({ filters: 3, kernelSize: 3, padding: 'causal' }), sl.LSTM({ units: 2 })]), { inputShape: [2] });
    const state = m.restoreState(bytes);
    expect(state.toBytes()).toEqual(bytes);
    expect(m.step(sl.Sequence.fromValues(Float32Array.of(0.5, -0.25), [1, 1, 2]), state).shape).toEqual([1, 1, 2]);
  });

  it('rejects corrupted, truncated and foreign snapshots', () => {
    const m = sl.build(cfg, { inputShape: [3] });
    const s = m.initialState(1);
    m.step(x(1, 2), s);
    const bytes = s.toBytes();
    const flipped = bytes.slice();
    flipped[30] = flipped[30]! ^ 1;
    expect(error(() => m.restoreState(flipped)).message).toMatch(/checksum mismatch/);
    expect(error(() => m.restoreState(bytes.subarray(0, 20))).code).toBe('BAD_SNAPSHOT');
    expect(error(() => m.restoreState(new Uint8Array(40))).message).toMatch(/bad magic/);
    const foreign = sl.build(cfg, { inputShape: [4] });
    expect(error(() => foreign.restoreState(bytes)).message).toMatch(/belongs to another model/);
    expect(m.restoreState(bytes).batch).toBe(1);
  });

  it('refuses a crafted snapshot (valid checksum) whose index state is out of range', () => {
    const m = sl.build(sl.SequenceDense({ features: 2, numSteps: 4 }), { inputShape: [3] });
    const s = m.initialState(1);
    m.step(x(1, 2), s);
    const bytes = s.toBytes();
    const dv = new DataView(bytes.buffer);
    // The only buffer is the int32 step counter [1]: its value is the 4 bytes before the CRC.
    expect(dv.getInt32(bytes.length - 8, true)).toBe(2);
    dv.setInt32(bytes.length - 8, -5, true);
    dv.setUint32(bytes.length - 4, crc32(bytes.subarray(0, bytes.length - 4)), true);
    expect(error(() => m.restoreState(bytes)).message).toMatch(/\[BAD_SNAPSHOT\].*"step" holds -5, below its smallest valid value 0/);
  });

  it('refuses a crafted snapshot (valid checksum) whose KV cache is shorter than a new one, e.g. empty (found in review: the next step looped forever)', () => {
    // Four steps of cache at most: a new state's cache holds all four, so the snapshot with an
    // empty cache is still longer than a new state's bytes.
    const m = sl.build(sl.DotProductSelfAttention({ numHeads: 1, unitsPerHead: 1, maxPastHorizon: -1, maxCacheSteps: 4 }), { inputShape: [1] });
    const s = m.initialState(1);
    expect(s.slots.flat().filter((b) => b.growable).map((b) => b.shape[1])).toEqual([4, 4, 4]);
    for (const length of [0, 2]) {
      const bufs = s.slots.flatMap((bs, slot) => bs.map((b) => ({ slot, b, shape: b.growable ? b.shape.map((d, k) => (k === 1 ? length : d)) : [...b.shape] })));
      const fields: number[] = [0x54534c53, 1, m.fingerprint, 1, bufs.length];
      const parts: Uint8Array[] = [];
      const flush = () => (parts.push(new Uint8Array(Uint32Array.from(fields).buffer)), (fields.length = 0));
      for (const { slot, b, shape } of bufs) {
        fields.push(slot, ['float32', 'int32', 'uint8'].indexOf(b.dtype), b.name.length);
        flush();
        parts.push(new Uint8Array(Uint16Array.from(b.name, (c) => c.charCodeAt(0)).buffer));
        fields.push(shape.length, ...shape);
        flush();
        const n = shape.reduce((a, d) => a * d, 1) * (b.dtype === 'uint8' ? 1 : 4);
        parts.push(new Uint8Array(n + ((4 - (n % 4)) % 4)));
      }
      flush();
      const bytes = new Uint8Array(parts.reduce((a, p) => a + p.length, 0) + 4);
      parts.reduce((at, p) => (bytes.set(p, at), at + p.length), 0);
      new DataView(bytes.buffer).setUint32(bytes.length - 4, crc32(bytes.subarray(0, bytes.length - 4)), true);
      expect(error(() => m.restoreState(bytes)).message).toMatch(
        new RegExp(`\\[BAD_SNAPSHOT\\] restoreState: buffer "keys": expected a length \\(axis 1\\) of at least 4, .* got \\[1, ${length}, 1, 1\\]`),
      );
    }
  });

  it('refuses bytes between the last buffer and the checksum (found in review)', () => {
    const m = sl.build(cfg, { inputShape: [3] });
    const s = m.initialState(1);
    m.step(x(1, 2), s);
    const bytes = s.toBytes();
    const padded = new Uint8Array(bytes.length + 8);
    padded.set(bytes.subarray(0, bytes.length - 4));
    padded.fill(7, bytes.length - 4, bytes.length + 4);
    new DataView(padded.buffer).setUint32(padded.length - 4, crc32(padded.subarray(0, padded.length - 4)), true);
    expect(error(() => m.restoreState(padded)).message).toMatch(/\[BAD_SNAPSHOT\] restoreState: expected the checksum right after the last buffer \(byte \d+\), got 8 more bytes before it/);
    expect(m.restoreState(bytes).toBytes()).toEqual(bytes);
  });
});

describe('weights', () => {
  it('loads strictly by path and round-trips through safetensors', () => {
    const m = sl.build(cfg, { inputShape: [3] });
    expect(m.params().map((p) => p.path)).toEqual(['layers.1.scale']);
    const w = { 'layers.1.scale': { dtype: 'F32' as const, shape: [3], data: Float32Array.from([1, 10, 100]) } };
    m.loadWeights(sl.readSafetensors(sl.writeSafetensors(w)));
    const y = m.layer(sl.Sequence.fromValues([1, 1, 1], [1, 1, 3]));
    expect([...y.values]).toEqual([1, 10, 100]);
    expect([...m.getWeights()['layers.1.scale']!.data]).toEqual([1, 10, 100]);
  });

  it('builds straight from weights, skipping random initialisation; bad weights free everything', () => {
    const w = { 'layers.1.scale': { dtype: 'F32' as const, shape: [3], data: Float32Array.from([1, 10, 100]) } };
    const m = sl.build(cfg, { inputShape: [3], weights: sl.readSafetensors(sl.writeSafetensors(w)) });
    expect([...m.getWeights()['layers.1.scale']!.data]).toEqual([1, 10, 100]);
    const heap = sl.getRuntime().heap;
    const used = heap.inUse;
    expect(error(() => sl.build(cfg, { inputShape: [3], weights: {} })).code).toBe('BAD_WEIGHTS');
    expect(heap.inUse).toBe(used);
  });

  it('names what is missing, extra or mis-shaped, and loads nothing then', () => {
    const m = sl.build(cfg, { inputShape: [3] });
    const ok = Float32Array.from([1, 2, 3]);
    expect(error(() => m.loadWeights({})).message).toMatch(/missing parameters \["layers.1.scale"\] \(all of them\); no tensors were given$/);
    expect(error(() => m.loadWeights({ 'layers.0.scale': { dtype: 'F32', shape: [3], data: ok } })).message).toMatch(/; the tensors given are named \["layers.0.scale"\]$/);
    // safetensors bytes where their tensors go (workers take the bytes, build and loadWeights the tensors)
    const bytes = sl.writeSafetensors(m.getWeights());
    for (const e of [error(() => m.loadWeights(bytes as never)), error(() => sl.build(cfg, { inputShape: [3], weights: bytes as never }))]) {
      expect(e.message).toBe(`[BAD_WEIGHTS] loadWeights: expected named tensors (a Map or record of {dtype, shape, data}, or readSafetensors' result), got Uint8Array(${bytes.length}): read the bytes of a .safetensors file with readSafetensors(bytes) first`);
    }
    expect(error(() => m.loadWeights({ 'layers.1.scale': { dtype: 'F32', shape: [4], data: new Float32Array(4) } })).message).toMatch(
      /"layers.1.scale": expected shape \[3\], got \[4\]/,
    );
    const extra = { 'layers.1.scale': { dtype: 'F32' as const, shape: [3], data: ok }, 'layers.9.kernel': { dtype: 'F32' as const, shape: [1], data: ok.subarray(0, 1) } };
    expect(error(() => m.loadWeights(extra)).message).toMatch(/unexpected tensors \["layers.9.kernel"\]/);
    expect(error(() => m.loadWeights({ 'layers.1.scale': { dtype: 'I32', shape: [3], data: Int32Array.from([1, 2, 3]) } })).code).toBe('BAD_WEIGHTS');
    expect([...m.getWeights()['layers.1.scale']!.data]).toEqual([2, 2, 2]); // untouched
    m.loadWeights(extra, { allowExtra: true });
    expect([...m.getWeights()['layers.1.scale']!.data]).toEqual([1, 2, 3]);
  });
});

describe('configs', () => {
  it('round-trip through toConfig and accept the reference snake_case', () => {
    const m = sl.build({ type: 'Parallel', layers: [{ type: 'Relu' }, { type: 'Identity', name: 'id' }], combination: 'concat' }, { inputShape: [2] });
    const again = sl.build(m.toConfig(), { inputShape: [2] });
    expect(again.toConfig()).toEqual(m.toConfig());
    expect(sl.toSnakeCase({ type: 'X', kernelSize: 3, layers: [{ type: 'Y', useBias: true }] })).toEqual({ type: 'X', kernel_size: 3, layers: [{ type: 'Y', use_bias: true }] });
  });

  it('toConfig keeps -Infinity and a Lambda function (JSON turned them into null and nothing), and is a copy', () => {
    const m = sl.build(sl.Serial([sl.Pad({ padding: [0, 1], axis: -1, constantValue: -Infinity }), sl.Lambda({ fn: ((x: Float32Array) => x.map((v) => v * 2)) as sl.LambdaArrayFn })]), { inputShape: [2] });
    const config = m.toConfig();
    const again = sl.build(config, { inputShape: [2] });
    const x = sl.Sequence.fromValues(Float32Array.of(1, 2), [1, 1, 2]);
    expect([...again.layer(x).values]).toEqual([2, 4, -Infinity]);
    expect([...again.layer(x).values]).toEqual([...m.layer(x).values]);
    (config.layers as sl.LayerConfig[])[0]!.constantValue = 5;
    expect(m.toConfig()).not.toEqual(config);
    m.dispose();
    again.dispose();
  });

  it('names the path of an unknown type or field', () => {
    expect(error(() => sl.build({ type: 'Serial', layers: [{ type: 'Relu' }, { type: 'Rleu' }] }, { inputShape: [2] })).message).toMatch(
      /config\.layers\[1\]\.type: unknown layer type "Rleu"\. Did you mean "Relu"\?/,
    );
    expect(error(() => sl.build({ type: 'Serial', layers: [{ type: 'Relu', kernel_size: 3 }] }, { inputShape: [2] })).message).toMatch(
      /config\.layers\[0\]\.kernel_size: Relu has no field "kernel_size"/,
    );
    expect(error(() => sl.build({ type: 'Parallel', layers: [], combination: 'sum' }, { inputShape: [2] })).message).toMatch(
      /config\.combination: expected one of "stack", "concat", "add", "mean", "product", got "sum"/,
    );
    expect(error(() => sl.build({ type: 'Serial' }, { inputShape: [2] })).message).toMatch(/Serial needs field "layers"/);
    expect(error(() => sl.build({ layers: [] }, { inputShape: [2] })).code).toBe('BAD_CONFIG');
    expect(error(() => sl.build(sl.Relu(), { inputShape: [0] })).code).toBe('BAD_ARGUMENT');
  });

  it('rejects configs nested absurdly deep (or cyclic objects)', () => {
    let c: sl.LayerConfig = { type: 'Relu' };
    for (let i = 0; i < 100; i++) c = { type: 'Serial', layers: [c] };
    expect(error(() => sl.build(c, { inputShape: [1] })).message).toMatch(/nest deeper than 64/);
    const cyclic: sl.LayerConfig = { type: 'Serial', layers: [] };
    (cyclic.layers as unknown[]).push(cyclic);
    expect(error(() => sl.build(cyclic, { inputShape: [1] })).code).toBe('BAD_CONFIG');
  });
});
