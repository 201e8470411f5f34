// Kernel loading, build selection, and linear memory (growth mid-run, budget, reuse).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as sl from '../../src/index.js';
import type { RunContext, WSeq } from '../../src/index.js';
import { TestPairSumConfig, TestScaleConfig } from './test-layers.js';

/** Grows linear memory by `mb` MiB in the middle of a run (then frees it): old views detach. */
class GrowMemory extends sl.Layer {
  runLayer(x: WSeq, ctx: RunContext): WSeq {
    const before = ctx.rt.memory.buffer;
    const p = ctx.rt.heap.alloc((this.config.mb as number) << 20, 'test growth');
    ctx.rt.heap.release(p);
    if (ctx.rt.memory.buffer === before) throw new Error('memory did not grow');
    return x;
  }
}
sl.registerLayers([sl.defineLayer({ type: 'GrowMemory', fields: { mb: sl.f.int(1) }, create: (c, ctx) => new GrowMemory(c, ctx) })]);

describe('runtime', () => {
  it('init() is idempotent and reports the build it runs', async () => {
    const a = await sl.init();
    const b = await sl.init();
    expect(a.build).toBe(b.build);
    expect(a.build).toBe(sl.relaxedSimdSupported() ? 'relaxed' : 'simd');
    expect(sl.getRuntime().build).toBe(a.build);
  });

  it('accepts bytes or a compiled module of either build; the module says which it is', async () => {
    const bytes = readFileSync(new URL('../../build/kernels.wasm', import.meta.url));
    const rt = await sl.createRuntime({ module: await WebAssembly.compile(bytes) });
    expect(rt.build).toBe('simd');
    const fromBytes = await sl.createRuntime({ bytes });
    expect(fromBytes.build).toBe('simd');
    if (sl.relaxedSimdSupported()) {
      expect((await sl.createRuntime({ build: 'relaxed' })).build).toBe('relaxed');
    } else {
      await expect(sl.createRuntime({ build: 'relaxed' })).rejects.toThrow(/\[NOT_INITIALIZED\].*relaxed/);
    }
    await expect(sl.createRuntime({ bytes: new Uint8Array([0, 1, 2]) })).rejects.toThrow(/NOT_INITIALIZED/);
  });

  it('gives the same results when memory grows in the middle of a model run', async () => {
    const rt = await sl.createRuntime();
    const layers = [TestPairSumConfig(), TestScaleConfig];
    const plain = sl.build(sl.Serial(layers), { inputShape: [4], runtime: rt });
    const growing = sl.build(sl.Serial([layers[0]!, { type: 'GrowMemory', mb: 8 }, layers[1]!, { type: 'GrowMemory', mb: 16 }]), { inputShape: [4], runtime: rt });
    const x = sl.randomSequence([2, 50, 4]);
    const expected = plain.layer(x);
    const bytesBefore = rt.memory.buffer.byteLength;
    const got = growing.layer(x);
    expect(rt.memory.buffer.byteLength).toBeGreaterThan(bytesBefore);
    sl.assertSequencesClose(got, expected, 'after memory growth', 0, 0);
  });

  it('grows activations memory mid-run for long inputs, and not again for the same shape', async () => {
    const rt = await sl.createRuntime();
    const m = sl.build(sl.Serial([sl.Relu(), sl.Relu(), sl.Relu()]), { inputShape: [64], runtime: rt });
    const x = sl.randomSequence([1, 20_000, 64], { randomLengths: false });
    const y = m.layer(x);
    expect([...y.values.subarray(0, 64)]).toEqual([...x.values.subarray(0, 64)].map((v) => Math.max(v, 0)));
    const bytes = rt.memory.buffer.byteLength;
    m.layer(x);
    expect(rt.memory.buffer.byteLength).toBe(bytes);
  });

  it('enforces maxMemoryBytes before allocating, and reuses freed memory', async () => {
    const rt = await sl.createRuntime({ maxMemoryBytes: 4 << 20 });
    const big = { type: 'GrowMemory', mb: 64 };
    const m = sl.build(sl.Serial([big]), { inputShape: [1], runtime: rt });
    expect(() => m.layer(sl.Sequence.zeros([1, 1, 1]))).toThrow(/\[MEMORY_BUDGET\].*over the budget of 4194304 bytes/);
    // The runtime still works after the refusal.
    const ok = sl.build(TestScaleConfig, { inputShape: [3], runtime: rt });
    expect([...ok.layer(sl.Sequence.fromValues([1, 2, 3], [1, 1, 3])).values]).toEqual([2, 4, 6]);
    const used = rt.heap.inUse;
    ok.dispose();
    expect(rt.heap.inUse).toBeLessThan(used);
    const bytes = rt.memory.buffer.byteLength;
    for (let i = 0; i < 20; i++) sl.build(TestScaleConfig, { inputShape: [1000], runtime: rt }).dispose();
    expect(rt.memory.buffer.byteLength).toBe(bytes);
    await expect(sl.createRuntime({ maxMemoryBytes: 2 ** 33 })).rejects.toThrow(/maxMemoryBytes/);
  });
});
