// Kernel loading, build selection, and linear memory (growth mid-run, budget, reuse).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as sl from '../../src/index.js';
import type { RunContext, WSeq } from '../../src/index.js';
import { TestPairSumConfig, TestScaleConfig } from './test-layers.js';
import { codedError, codedRejection } from '../errors.js';

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

  it('refuses wrong init options with a coded error naming what was expected and what arrived', async () => {
    await sl.init();
    const running = sl.getRuntime();
    // A valid module that is not the kernels (no exports), and something that is not a module.
    const empty = new WebAssembly.Module(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]));
    const rejections: [Promise<unknown>, string, RegExp][] = [
      [sl.init({ module: empty }), 'NOT_INITIALIZED', /the module is not the seqlayers kernels: expected it to export \["memory", "heap_base", "relaxed_build"\], it exports \[\]/],
      [sl.init({ module: {} as never }), 'BAD_ARGUMENT', /expected a compiled WebAssembly.Module of the seqlayers kernels, got \{\}/],
      [sl.init({ build: 'fast' as never }), 'BAD_ARGUMENT', /init: expected build "auto", "simd" or "relaxed", got "fast"/],
      [sl.init({ maxMemoryBytes: NaN }), 'BAD_ARGUMENT', /maxMemoryBytes must be in \(0, \d+\], got NaN/],
      [sl.init({ maxMemoryBytes: '8' as never }), 'BAD_ARGUMENT', /maxMemoryBytes must be in .*, got "8"/],
      [sl.init({ maxMemory: 1 } as never), 'BAD_ARGUMENT', /init: unknown option "maxMemory"; the options are module, bytes, build, maxMemoryBytes/],
      [sl.init(null as never), 'BAD_ARGUMENT', /init: expected an options object, got null/],
      [sl.init({ bytes: 'kernels.wasm' as never }), 'BAD_ARGUMENT', /init: expected bytes to be the kernel file's bytes .*, got "kernels.wasm"/],
      [sl.createRuntime({ build: 'fast' as never }), 'BAD_ARGUMENT', /createRuntime: expected build .*, got "fast"/],
      [sl.compileKernels({ build: 1 as never }), 'BAD_ARGUMENT', /compileKernels: expected build .*, got 1/],
    ];
    for (const [p, code, message] of rejections) {
      const e = await codedRejection(p);
      expect(e.code, e.message).toBe(code);
      expect(e.message).toMatch(message);
    }
    const throws: [() => unknown, RegExp][] = [
      [() => sl.initSync({}), /initSync: expected \{ module: the kernels as a compiled WebAssembly.Module \} \(only the workerd and deno entries bring their own\), got \{\}/],
      [() => sl.initSync(null as never), /initSync: expected an options object, got null/],
      [() => sl.initSync({ module: null as never }), /expected a compiled WebAssembly.Module of the seqlayers kernels, got null/],
      [() => sl.initSync({ module: empty, build: 'simd' } as never), /initSync: unknown option "build"; the options are module, maxMemoryBytes/],
    ];
    for (const [f, message] of throws) {
      const e = codedError(f);
      expect(e.code, e.message).toBe('BAD_ARGUMENT');
      expect(e.message).toMatch(message);
    }
    expect(codedError(() => new sl.Runtime(empty)).code).toBe('NOT_INITIALIZED');
    // None of the refusals replaced the running runtime.
    expect(sl.getRuntime()).toBe(running);
  });

  it('a later init() without module or bytes changes nothing; one asking for other options is refused', async () => {
    const first = await sl.init();
    const running = sl.getRuntime();
    const again = await sl.init({ maxMemoryBytes: first.maxMemoryBytes, build: first.build });
    expect(again).toEqual(first);
    expect(await sl.init({ build: 'auto' })).toEqual(first);
    const other = first.build === 'simd' ? 'relaxed' : 'simd';
    for (const opts of [{ maxMemoryBytes: first.maxMemoryBytes / 2 }, { build: other }] as const) {
      await expect(sl.init(opts)).rejects.toThrow(expect.objectContaining({ code: 'BAD_ARGUMENT' }));
      await expect(sl.init(opts)).rejects.toThrow(`[BAD_ARGUMENT] init: a runtime already runs the ${first.build} build with maxMemoryBytes ${first.maxMemoryBytes}, got `);
    }
    expect(sl.getRuntime()).toBe(running);
  });

  it('an init() made while another is in flight behaves as if made after it (found in review)', async () => {
    const bytes = readFileSync(new URL('../../build/kernels.wasm', import.meta.url));
    const budget = 64 << 20;
    // The first replaces the runtime; the second shares it, the third asks for another budget.
    const [replaced, same, other] = await Promise.allSettled([sl.init({ bytes, maxMemoryBytes: budget }), sl.init(), sl.init({ maxMemoryBytes: 1 << 30 })]);
    expect(replaced).toEqual({ status: 'fulfilled', value: expect.objectContaining({ build: 'simd', maxMemoryBytes: budget }) });
    expect(same).toEqual(replaced);
    expect(other.status === 'rejected' && other.reason).toMatchObject({ code: 'BAD_ARGUMENT', message: expect.stringContaining(`a runtime already runs the simd build with maxMemoryBytes ${budget}`) });
    expect(sl.getRuntime().info().maxMemoryBytes).toBe(budget);
    await sl.init({ module: await sl.compileKernels() }); // back to the default runtime's options
  });

  it('refuses a budget below the kernels\' initial memory, naming it (found in review)', async () => {
    const initial = (await sl.createRuntime()).memory.buffer.byteLength;
    const e = await codedRejection(sl.createRuntime({ maxMemoryBytes: 1000 }));
    expect(e.code).toBe('BAD_ARGUMENT');
    expect(e.message).toBe(`[BAD_ARGUMENT] maxMemoryBytes must be at least the kernels' initial memory of ${initial} bytes, got 1000`);
    expect((await sl.createRuntime({ maxMemoryBytes: initial })).info().maxMemoryBytes).toBe(initial);
  });
});
