// Lifecycle of models and states: a build or loadWeights refused halfway leaves nothing behind
// (no memory held, the previous weights in place), nothing is freed while a call still uses it,
// and a state's flags cannot be written from outside.
import { beforeAll, describe, expect, it } from 'vitest';
import * as sl from '../../src/index.js';
import { codedError as error } from '../errors.js';

beforeAll(async () => {
  await sl.init();
});

const KB = 1024;
const D = 256;
// EmbeddingTranspose's prepare() takes a transposed copy of its table (256 KiB here) from the
// heap: with the parameters allocated, a budget short of that copy refuses the prepare.
const embedding = sl.EmbeddingTranspose({ numEmbeddings: D, dimension: D });
const input = sl.randomSequence([1, 3, D], { randomLengths: false, seed: 5 });

describe('a prepare() refused over the memory budget', () => {
  it('fails the build and frees its parameters, so the next build is not refused for them (found in review)', async () => {
    // The smallest budget (in steps of 32 KiB) that takes the parameters but not the copy.
    let rt: sl.Runtime | undefined, before = 0;
    for (let budget = 512 * KB; !rt && budget < 2048 * KB; budget += 32 * KB) {
      const probe = await sl.createRuntime({ module: sl.getRuntime().module, maxMemoryBytes: budget });
      before = probe.heap.inUse;
      try {
        sl.build(embedding, { inputShape: [D], runtime: probe }).dispose();
      } catch (e) {
        if ((e as Error).message.includes('transposed embedding')) rt = probe;
      }
    }
    if (!rt) throw new Error('no budget refuses only the transposed copy');
    expect(rt.heap.inUse).toBe(before);
    for (let i = 0; i < 2; i++) {
      const e = error(() => sl.build(embedding, { inputShape: [D], runtime: rt }));
      expect(e.code).toBe('MEMORY_BUDGET');
      expect(e.message).toContain('transposed embedding'); // the prepare, not the parameters, each time
      expect(rt.heap.inUse).toBe(before);
    }
    sl.build(sl.Dense({ features: 4 }), { inputShape: [D], runtime: rt }).dispose();
    expect(rt.heap.inUse).toBe(before);
  });

  it('refuses loadWeights and leaves the previous weights and their packing in place (found in review)', async () => {
    // Dense packs its kernel in prepare() before EmbeddingTranspose's prepare is refused: both
    // the parameters and the packed copy must come back.
    const config = sl.Serial([sl.Dense({ features: D }), embedding]);
    const rt = await sl.createRuntime({ maxMemoryBytes: 4096 * KB });
    const m = sl.build(config, { inputShape: [D], runtime: rt, seed: 1 });
    const old = m.getWeights(), y0 = m.layer(input);
    const next = sl.build(config, { inputShape: [D], seed: 2 });
    const w2 = next.getWeights(), y2 = next.layer(input);
    const hog = rt.heap.alloc(rt.heap.maxBytes - rt.heap.inUse - 200 * KB, 'test hog'); // room for no transposed copy
    try {
      const e = error(() => m.loadWeights(w2));
      expect(e.code).toBe('MEMORY_BUDGET');
      expect(e.message).toContain('transposed embedding');
    } finally {
      rt.heap.release(hog);
    }
    for (const [k, t] of Object.entries(m.getWeights())) expect(t.data.every((v, i) => v === old[k]!.data[i]), k).toBe(true);
    expect(m.layer(input).values).toEqual(y0.values);
    m.loadWeights(w2); // with the memory back it loads, as a model built with them
    expect(m.layer(input).values).toEqual(y2.values);
  });
});

/** A Lambda function passing its input through that first runs `run.hook` once, keeping what it throws in `run.error`. */
function hookedFn() {
  const run: { hook: (() => void) | null; error: unknown } = { hook: null, error: undefined };
  const fn = (v: Float32Array | Int32Array) => {
    const h = run.hook;
    run.hook = null;
    try {
      h?.();
    } catch (e) {
      run.error = e;
    }
    return v;
  };
  return { fn, run };
}

describe('dispose during a call', () => {
  /** The hooked Lambda before an LSTM. */
  function hooked() {
    const { fn, run } = hookedFn();
    const model = sl.build(sl.Serial([sl.Lambda({ fn }), sl.LSTM({ units: 8 })]), { inputShape: [8], seed: 1 });
    return { model, run };
  }
  const x = sl.randomSequence([1, 4, 8], { randomLengths: false, seed: 3 });

  it('of the state being stepped is refused, and the step completes on intact buffers (found in review)', () => {
    const { model, run } = hooked();
    const state = model.initialState(1), twin = model.initialState(1), other = model.initialState(1);
    run.hook = () => {
      other.dispose(); // another state of the model: not in use, so freed
      state.dispose();
    };
    const y = model.step(x, state);
    expect(run.error).toBeInstanceOf(sl.SeqLayersError);
    expect((run.error as sl.SeqLayersError).code).toBe('BAD_ARGUMENT');
    expect((run.error as Error).message).toMatch(/dispose: a step on this state is running/);
    expect(other.disposed).toBe(true);
    expect(state.disposed).toBe(false);
    expect(y.values).toEqual(model.step(x, twin).values);
    expect(model.step(x, state).values).toEqual(model.step(x, twin).values);
    state.dispose(); // after the step, it frees
    expect(state.disposed).toBe(true);
  });

  it('of the model is refused, and the call completes with its parameters (found in review)', () => {
    const { model, run } = hooked();
    const y0 = model.layer(x);
    run.hook = () => model.dispose();
    const y = model.layer(x);
    expect((run.error as sl.SeqLayersError).code).toBe('BAD_ARGUMENT');
    expect((run.error as Error).message).toMatch(/dispose: this model is in the middle of a call/);
    expect(model.isDisposed).toBe(false);
    expect(y.values).toEqual(y0.values);
    const state = model.initialState(1);
    run.hook = () => model.dispose();
    model.step(x, state);
    expect(model.isDisposed).toBe(false);
    model.dispose();
    expect(model.isDisposed).toBe(true);
  });
});

describe('loadWeights during a call', () => {
  it("is refused: the call keeps the weights it started with (found in review)", () => {
    const { fn, run } = hookedFn();
    const model = sl.build(sl.Serial([sl.Dense({ features: 8 }), sl.Lambda({ fn }), sl.Dense({ features: 8 })]), { inputShape: [8], seed: 1 });
    const other = sl.build(sl.Serial([sl.Dense({ features: 8 }), sl.Lambda({ fn }), sl.Dense({ features: 8 })]), { inputShape: [8], seed: 2 });
    const x = sl.randomSequence([1, 4, 8], { randomLengths: false, seed: 3 });
    const y0 = model.layer(x);
    run.hook = () => model.loadWeights(other.getWeights());
    expect(model.layer(x).values).toEqual(y0.values);
    expect((run.error as sl.SeqLayersError).code).toBe('BAD_ARGUMENT');
    expect((run.error as Error).message).toMatch(/^\[BAD_ARGUMENT\] loadWeights: this model is in the middle of another call/);
    expect(model.layer(x).values).toEqual(y0.values);
    model.loadWeights(other.getWeights()); // after the call, it loads
    expect(model.layer(x).values).toEqual(other.layer(x).values);
    model.dispose();
    other.dispose();
  });
});

describe('State flags', () => {
  it('disposed and interrupted are read-only: a disposed state cannot be revived to step into freed buffers (found in review)', () => {
    const m = sl.build(sl.Conv1D({ filters: 1, kernelSize: 4, padding: 'causal' }), { inputShape: [1], seed: 1 });
    const a = m.initialState(1);
    expect(a.interrupted).toBeNull();
    a.dispose();
    const b = m.initialState(1); // may reuse a's buffers
    const before = b.toBytes();
    // @ts-expect-error disposed is read-only
    expect(() => (a.disposed = false)).toThrow(TypeError);
    // @ts-expect-error interrupted is read-only
    expect(() => (a.interrupted = null)).toThrow(TypeError);
    expect(a.disposed).toBe(true);
    expect(error(() => m.step(sl.Sequence.fromValues([5], [1, 1, 1]), a)).code).toBe('DISPOSED');
    expect(b.toBytes()).toEqual(before);
  });
});
