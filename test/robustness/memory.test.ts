// Memory budget: a model, a state or a call that would exceed maxMemoryBytes fails before
// allocating (nothing taken, memory not grown), naming the size asked for and the budget; absurd
// sizes are coded errors; disposed models and states give their memory back for reuse.
import { describe, expect, it, vi } from 'vitest';
import * as sl from '../../src/index.js';
import { codedError as error } from '../errors.js';
import { DEFAULT_MAX_MEMORY_BYTES } from '../../src/runtime/memory.js';

const MB = 1 << 20;


/** Heap bytes in use and linear memory size, to show a refusal took nothing. */
const usage = (rt: sl.Runtime) => ({ inUse: rt.heap.inUse, memory: rt.memory.buffer.byteLength });

const convLstm = (units: number) => sl.Serial([sl.Conv1D({ filters: 8, kernelSize: 3, padding: 'causal' }), sl.LSTM({ units }), sl.Dense({ features: 4 })]);

describe('memory budget', () => {
  it('defaults to 1 GiB (DEFAULT_MAX_MEMORY_BYTES in src/runtime/memory.ts), set by init/createRuntime({ maxMemoryBytes })', async () => {
    expect(DEFAULT_MAX_MEMORY_BYTES).toBe(2 ** 30);
    expect((await sl.createRuntime()).info().maxMemoryBytes).toBe(2 ** 30);
    expect((await sl.createRuntime({ maxMemoryBytes: 32 * MB })).info().maxMemoryBytes).toBe(32 * MB);
    await expect(sl.createRuntime({ maxMemoryBytes: 0 })).rejects.toThrow(/\[BAD_ARGUMENT\] maxMemoryBytes/);
  });

  it('refuses a model over the budget before allocating, naming the bytes asked for and the budget', async () => {
    const rt = await sl.createRuntime({ maxMemoryBytes: 16 * MB });
    const kept = sl.build(convLstm(8), { inputShape: [4], runtime: rt }); // something already in use
    const before = usage(rt);
    const e = error(() => sl.build(sl.Dense({ features: 4096 }), { inputShape: [2048], runtime: rt })); // 32 MiB of kernel
    expect(e.code).toBe('MEMORY_BUDGET');
    expect(e.message).toMatch(/need (\d+) bytes, over the (\d+) bytes left in the budget of 16777216/);
    expect(Number(/need (\d+) bytes/.exec(e.message)![1])).toBeGreaterThanOrEqual(4096 * 2048 * 4);
    expect(usage(rt)).toEqual(before);
    // The runtime and the model already in it still work.
    expect(kept.layer(sl.randomSequence([1, 5, 4])).shape).toEqual([1, 5, 4]);
  });

  it('refuses a state over the budget before allocating any of its buffers', async () => {
    const rt = await sl.createRuntime({ maxMemoryBytes: 16 * MB });
    // Two LSTMs whose states (h and c, 1 KiB per item) for 12,000 items take 12 MiB each: the first fits, both do not.
    const m = sl.build(sl.Serial([sl.LSTM({ units: 128 }), sl.LSTM({ units: 128 })]), { inputShape: [4], runtime: rt });
    const small = m.initialState(2);
    const before = usage(rt);
    const e = error(() => m.initialState(12_000));
    expect(e.code).toBe('MEMORY_BUDGET');
    expect(e.message).toMatch(/state of 12000 items needs (\d+) bytes, over the (\d+) bytes left in the budget of 16777216/);
    expect(usage(rt)).toEqual(before);
    // Cloning and restoring are refused the same way, and leave `small` usable.
    const big = m.initialState(5000);
    const withBig = usage(rt);
    expect(error(() => big.clone()).code).toBe('MEMORY_BUDGET');
    expect(usage(rt)).toEqual(withBig);
    expect(error(() => m.restoreState(big.toBytes())).code).toBe('MEMORY_BUDGET');
    expect(usage(rt)).toEqual(withBig);
    big.dispose();
    expect(m.step(sl.randomSequence([2, 3, 4]), small).shape).toEqual([2, 3, 128]);
  });

  it('refuses a call whose activations exceed the budget, and stays usable', async () => {
    const rt = await sl.createRuntime({ maxMemoryBytes: 24 * MB });
    const m = sl.build(sl.Serial([sl.Dense({ features: 64 }), sl.Relu()]), { inputShape: [64], runtime: rt });
    const e = error(() => m.layer(sl.Sequence.zeros([1, 60_000, 64])));
    expect(e.code).toBe('MEMORY_BUDGET');
    expect(e.message).toMatch(/allocating \d+ bytes for scratch activations .* over the budget of 25165824 bytes/);
    expect(m.layer(sl.Sequence.zeros([1, 100, 64])).shape).toEqual([1, 100, 64]);
  });

  it('serves a call that fits the budget: the scratch arena does not double its chunks past it', async () => {
    const rt = await sl.createRuntime({ maxMemoryBytes: 24 * MB });
    const m = sl.build(sl.Relu(), { inputShape: [256], runtime: rt });
    // 8 MiB of values in, 8 KiB of mask, 8 MiB out: a doubling arena would ask for 8 + 16 MiB.
    const x = sl.Sequence.zeros([1, 8192, 256]);
    expect(m.layer(x).shape).toEqual([1, 8192, 256]);
    const memory = rt.memory.buffer.byteLength;
    for (let i = 0; i < 3; i++) m.layer(x);
    expect(rt.memory.buffer.byteLength).toBe(memory);
  });

  it('absurd sizes are coded errors (BAD_CONFIG past the per-dimension limit, MEMORY_BUDGET below it), never a RangeError or an OOM crash', async () => {
    const rt = await sl.createRuntime({ maxMemoryBytes: 64 * MB });
    const cases: [object, number[], RegExp][] = [
      [sl.Dense({ features: 1e9 }), [4], /\[BAD_CONFIG\] config\.features: expected an integer in \[1, 16777216\], got 1000000000/],
      [sl.Conv1D({ filters: 1e9, kernelSize: 3 }), [4], /\[BAD_CONFIG\] config\.filters/],
      [sl.LSTM({ units: 1e8 }), [4], /\[BAD_CONFIG\] config\.units/],
      [sl.LSTM({ units: 1e7 }), [4], /\[MEMORY_BUDGET\] the model's parameters need \d+ bytes/],
      [sl.Dense({ features: 2 ** 24 }), [2 ** 24], /\[MEMORY_BUDGET\] Dense at config: its kernel and bias need \d+ bytes, over the \d+ bytes left in the budget of 67108864/],
      [sl.Conv1D({ filters: 2 ** 24, kernelSize: 2 ** 24 }), [16], /\[MEMORY_BUDGET\]/],
      [sl.Relu(), [2 ** 20, 2 ** 20], /\[BAD_CONFIG\] config: expected an input of at most 16777216 values per step, got channel shape \[1048576, 1048576\]/],
    ];
    const before = usage(rt);
    for (const [config, inputShape, message] of cases) {
      expect(error(() => sl.build(config, { inputShape, runtime: rt })).message).toMatch(message);
      expect(usage(rt)).toEqual(before);
    }
    // A layer whose output is absurd: the next layer is refused before it sizes anything from it.
    const oneHot = sl.Serial([sl.OneHot({ depth: 2 ** 24 }), sl.Relu()]);
    expect(error(() => sl.build(oneHot, { inputShape: [4096], inputDtype: 'int32', runtime: rt })).message).toMatch(
      /\[BAD_CONFIG\] config\.layers\[1\]: expected an input of at most 16777216 values per step, got channel shape \[4096, 16777216\]/,
    );
  });

  it('states of sizes the config allows, times an absurd batch, are MEMORY_BUDGET errors', async () => {
    const rt = await sl.createRuntime({ maxMemoryBytes: 64 * MB });
    const m = sl.build(convLstm(16), { inputShape: [4], runtime: rt });
    const before = usage(rt);
    for (const batch of [1e7, 2 ** 31, 2 ** 40]) expect(error(() => m.initialState(batch)).code).toBe('MEMORY_BUDGET');
    expect(usage(rt)).toEqual(before);
  });
});

describe('memory reuse', () => {
  it('build and dispose 1,000 times: linear memory stops growing', async () => {
    const rt = await sl.createRuntime({ maxMemoryBytes: 64 * MB });
    const x = sl.randomSequence([2, 6, 4], { seed: 1 });
    const sizes: number[] = [];
    for (let i = 0; i < 1000; i++) {
      // Models of varying size, with states, some disposed before their model and some after.
      const m = sl.build(convLstm(8 + (i % 7) * 8), { inputShape: [4], runtime: rt, seed: i });
      const s = m.initialState(2);
      m.step(x, s);
      if (i % 2) s.dispose();
      m.dispose();
      if (!(i % 2)) s.dispose();
      if (i % 100 === 99) sizes.push(rt.memory.buffer.byteLength);
    }
    expect(new Set(sizes.slice(1)).size, `memory sizes every 100 builds: ${sizes}`).toBe(1);
  });

  it('a state disposed after its model still returns its buffers', async () => {
    const rt = await sl.createRuntime({ maxMemoryBytes: 64 * MB });
    const before = rt.heap.inUse;
    const m = sl.build(convLstm(32), { inputShape: [4], runtime: rt });
    const s = m.initialState(16);
    m.dispose();
    s.dispose();
    expect(rt.heap.inUse).toBe(before);
    expect(error(() => s.toBytes()).code).toBe('DISPOSED');
  });

  it('states created and disposed 1,000 times reuse the same memory', async () => {
    const rt = await sl.createRuntime({ maxMemoryBytes: 64 * MB });
    const m = sl.build(convLstm(32), { inputShape: [4], runtime: rt });
    const x = sl.randomSequence([4, 3, 4], { seed: 2 });
    const live: sl.State[] = [];
    let memory = 0;
    for (let i = 0; i < 1000; i++) {
      const s = m.initialState(4);
      m.step(x, s);
      live.push(s.clone());
      s.dispose();
      if (live.length > 5) live.splice(i % 5, 1)[0]!.dispose(); // free out of order
      if (i === 100) memory = rt.memory.buffer.byteLength;
    }
    expect(rt.memory.buffer.byteLength).toBe(memory);
  });
});

describe('scratch arena', () => {
  const dense64 = (rt: sl.Runtime) => sl.build(sl.Dense({ features: 64 }), { inputShape: [64], runtime: rt });
  // 1500 x 1500 weights (about 27 MB with their packed copy): fits a 64 MiB budget only when
  // little else is held.
  const big = (rt: sl.Runtime) => sl.build(sl.Dense({ features: 1500 }), { inputShape: [1500], runtime: rt }).dispose();

  it('a call refused for its activations gives back the scratch it took: the budget is whole again', async () => {
    const rt = await sl.createRuntime({ maxMemoryBytes: 64 * MB });
    const m = dense64(rt);
    big(rt);
    m.layer(sl.Sequence.zeros([1, 10, 64])); // the arena now holds a chunk from a call that succeeded
    const before = usage(rt);
    for (let i = 0; i < 3; i++) {
      // 51 MB in and 51 MB out: the input fits, the output does not.
      const e = error(() => m.layer(sl.Sequence.zeros([1, 200_000, 64])));
      expect(e.code).toBe('MEMORY_BUDGET');
      expect(rt.heap.inUse).toBe(before.inUse);
    }
    big(rt); // refused with MEMORY_BUDGET while the refused call's 51 MB stayed in use
    expect(m.layer(sl.Sequence.zeros([1, 10, 64])).shape).toEqual([1, 10, 64]);
  });

  it('the scratch kept from a large call that succeeded is taken back when a build needs the budget', async () => {
    const rt = await sl.createRuntime({ maxMemoryBytes: 64 * MB });
    const m = dense64(rt);
    const x = sl.randomSequence([1, 100, 64], { seed: 3, randomLengths: false });
    const y = m.layer(x);
    expect(m.layer(sl.Sequence.zeros([1, 100_000, 64])).shape).toEqual([1, 100_000, 64]); // about 51 MB of scratch
    const held = usage(rt);
    expect(held.inUse).toBeGreaterThan(48 * MB);
    // A build that cannot fit even then is refused and changes nothing (the idle scratch stays).
    expect(error(() => sl.build(sl.Dense({ features: 4096 }), { inputShape: [4096], runtime: rt })).code).toBe('MEMORY_BUDGET');
    expect(usage(rt)).toEqual(held);
    // An allocation that fits once the idle scratch is given back is served: straight from the
    // heap (as a growing KV cache allocates) ...
    rt.heap.release(rt.heap.alloc(40 * MB, 'test buffer'));
    expect(rt.heap.inUse).toBeLessThan(MB);
    // ... or after a budget check (as a build does).
    m.layer(sl.Sequence.zeros([1, 100_000, 64]));
    expect(rt.heap.inUse).toBeGreaterThan(48 * MB);
    big(rt);
    expect(rt.heap.inUse).toBeLessThan(MB);
    sl.assertSequencesClose(m.layer(x), y, 'after the scratch was taken back', 0, 0);
  });

  it('steady-state stepInto takes nothing from the heap, before and after a refused call', async () => {
    const rt = await sl.createRuntime({ maxMemoryBytes: 32 * MB });
    const m = sl.build(convLstm(32), { inputShape: [4], runtime: rt });
    const state = m.initialState(2);
    const x = sl.randomSequence([2, 4, 4], { seed: 4, randomLengths: false });
    const out = { values: new Float32Array(2 * 4 * 4), mask: new Uint8Array(2 * 4) };
    const alloc = vi.spyOn(rt.heap, 'alloc');
    try {
      m.stepInto(x, state, out); // warm-up: the arena takes its chunk
      alloc.mockClear();
      const memory = rt.memory.buffer.byteLength;
      for (let i = 0; i < 50; i++) m.stepInto(x, state, out);
      expect(alloc).not.toHaveBeenCalled();
      expect(rt.memory.buffer.byteLength).toBe(memory);
      // The refused call took chunks (and grew memory) for its input; it keeps none of them, and
      // the chunk the steps use stays.
      expect(error(() => m.layer(sl.Sequence.zeros([2, 400_000, 4]))).code).toBe('MEMORY_BUDGET');
      alloc.mockClear();
      for (let i = 0; i < 50; i++) m.stepInto(x, state, out);
      expect(alloc).not.toHaveBeenCalled();
    } finally {
      alloc.mockRestore();
    }
  });
});
