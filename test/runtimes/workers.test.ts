// seqlayers/workers in Node worker_threads: one model in one worker, streams through it.
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT, blocksOf, loadDist, median, testModel } from './helpers.js';

let sl: Awaited<ReturnType<typeof loadDist>>;
let W: typeof import('../../dist/workers/node.js');

beforeAll(async () => {
  sl = await loadDist();
  W = await import('../../dist/workers/node.js');
  await sl.init();
});

/** OS threads of this process: a worker_thread that ended is gone from here. */
const threads = () => readdirSync('/proc/self/task').length;
const processListeners = () => process.eventNames().map((n) => `${String(n)}:${process.listenerCount(n)}`).sort();

async function expectCode(p: Promise<unknown>, code: string, text?: RegExp) {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e, `expected a ${code} error`).toBeInstanceOf(sl.SeqLayersError);
  expect((e as { code: string }).code).toBe(code);
  expect((e as Error).message.startsWith(`[${code}] `)).toBe(true);
  if (text) expect((e as Error).message).toMatch(text);
}

describe('seqlayers/workers: a model in a worker_thread', () => {
  it('streams exactly like in-thread stepping, with several blocks per call, and transfers the weights', async () => {
    const { model, config, inputShape, weights } = testModel(sl);
    const x = sl.randomSequence([1, 96, 8], { randomLengths: false, seed: 1 });
    const blocks = blocksOf(x, 8);
    const state = model.initialState(1);
    const local = sl.Sequence.concatenate(blocks.map((b) => model.step(b, state)));

    const worker = await W.startWorker({ config, inputShape, weights });
    expect(weights.byteLength, 'the weights were transferred, not copied').toBe(0);
    expect(worker.info).toMatchObject({ blockSize: 1, outputLatency: 0, outputShape: [4], outputRatio: [1, 1] });
    const s = await worker.open();
    const outs = [await s.process(blocks[0]!)];
    outs.push(...(await s.process(blocks.slice(1, 4)))); // three blocks, one round trip
    for (const b of blocks.slice(4)) await s.push(b);
    for (let i = 4; i < blocks.length; i++) outs.push(...(await s.read()));
    const got = sl.Sequence.concatenate(outs);
    sl.assertSequencesClose(got, local, 'worker stream vs in-thread step', 0, 0);
    sl.assertSequencesClose(got, model.layer(x), 'worker stream vs layer', 1e-5, 1e-5);
    await worker.close();
  });

  it('a push owns its blocks and constants once push() resolves: the caller may reuse its arrays while the push waits to be sent', async () => {
    const { model, config, inputShape, weights } = testModel(sl);
    const blocks = blocksOf(sl.randomSequence([1, 12, 8], { randomLengths: false, seed: 5 }), 1);
    const state = model.initialState(1);
    const local = sl.Sequence.concatenate(blocks.map((b) => model.step(b, state)));
    const worker = await W.startWorker({ config, inputShape, weights });
    const s = await worker.open({ maxInFlight: 12 });
    // One array, refilled for every push; the mask a Node Buffer, whose slice() is no copy.
    const mask = Buffer.alloc(1);
    const buffer = new sl.Sequence(new Float32Array(8), mask, [1, 1, 8]);
    for (const b of blocks) {
      buffer.values.set(b.values);
      mask.fill(1);
      await s.push(buffer); // the first pushes go at once; the rest wait for a batch's reply
      mask.fill(0);
    }
    buffer.values.fill(NaN);
    const outs: import('../../dist/index.js').Sequence[] = [];
    for (const _ of blocks) outs.push(...(await s.read()));
    sl.assertSequencesClose(sl.Sequence.concatenate(outs), local, 'pushes of one reused array', 0, 0);
    await worker.close();
  });

  it("takes weights by the reference's flax names (weightNaming 'flax')", async () => {
    const { model, config, inputShape } = testModel(sl);
    const flax = sl.writeSafetensors(model.getWeights({ naming: 'flax' }));
    await expectCode(W.startWorker({ config, inputShape, weights: flax.slice() }), 'BAD_WEIGHTS', /missing parameters/);
    await expectCode(W.startWorker({ config, inputShape, weights: flax.slice(), weightNaming: 'jax' as never }), 'BAD_ARGUMENT', /expected naming "seqlayers" or "flax", got "jax"/);
    const worker = await W.startWorker({ config, inputShape, weights: flax, weightNaming: 'flax' });
    const x = sl.randomSequence([1, 8, 8], { randomLengths: false, seed: 2 });
    const s = await worker.open();
    sl.assertSequencesClose(await s.process(x), model.step(x, model.initialState(1)), 'flax-named weights in a worker', 0, 0);
    await worker.close();
  });

  it('keeps error codes across the boundary; a refused push leaves the stream usable', async () => {
    const { config, inputShape, weights } = testModel(sl);
    await expectCode(W.startWorker({ config: { type: 'Conv1D', filters: 0, kernelSize: 3 }, inputShape }), 'BAD_CONFIG', /filters/);
    await expectCode(W.startWorker({ config, inputShape: [3], weights: weights.slice() }), 'BAD_WEIGHTS', /shape/);
    await expectCode(W.startWorker({ config, inputShape, weights: new Uint8Array([1, 2, 3]) }), 'BAD_SAFETENSORS');
    await expectCode(W.startWorker({ config, inputShape, layerModules: ['file:///nonexistent/layers.js'] }), 'BAD_ARGUMENT', /nonexistent/);
    await expectCode(W.startWorker({ config: sl.Lambda({ fn: (v: Float32Array | Int32Array) => v }), inputShape }), 'BAD_CONFIG', /config\.fn is a function/);
    await expectCode(W.startWorker({ config, inputShape, weights: { a: 1 } as unknown as Uint8Array }), 'BAD_ARGUMENT', /expected weights as the Uint8Array/);
    const given = weights.slice();
    await (await W.startWorker({ config, inputShape, weights: given })).close();
    await expectCode(W.startWorker({ config, inputShape, weights: given }), 'BAD_ARGUMENT', /transferred to an earlier worker/);
    await expectCode(W.createPool({ config, inputShape, weights: given, workers: 1 }), 'BAD_ARGUMENT', /transferred to an earlier worker/);

    const worker = await W.startWorker({ config, inputShape, weights });
    await expectCode(worker.open({ batch: 0 }), 'BAD_ARGUMENT', /batch/);
    await expectCode(worker.open({ snapshot: new Uint8Array(40) }), 'BAD_SNAPSHOT');
    await expectCode(worker.open(null as never), 'BAD_ARGUMENT', /^\[BAD_ARGUMENT\] open: expected options as an object, got null$/);
    const s = await worker.open();
    // Naming the stream in the message reads none of its worker proxy (a read is a remote call).
    expect(() => sl.build(config, { inputShape }).layer(s as never)).toThrow(/^\[BAD_INPUT\] layer: expected a Sequence, got ModelStream \{"worker":ModelWorker,/);
    await expectCode(s.process(sl.randomSequence([1, 4, 5])), 'BAD_INPUT', /expected input \[batch, time, 8\]/);
    await expectCode(s.process(undefined as never), 'BAD_INPUT', /expected a Sequence or an array of Sequences, got undefined$/);
    await expectCode(s.push([sl.randomSequence([1, 4, 8]), undefined] as never), 'BAD_INPUT', /got undefined at index 1$/);
    await expectCode(s.process(sl.randomSequence([2, 4, 8])), 'BAD_STATE', /batch/);
    // A push is all or nothing: a bad block after a good one leaves the stream where it was.
    const good = sl.randomSequence([1, 4, 8], { seed: 1 }), next = sl.randomSequence([1, 4, 8], { seed: 2 });
    const twin = await worker.open();
    await expectCode(s.process([good, sl.randomSequence([1, 4, 5])]), 'BAD_INPUT');
    const [y] = await s.process([next]);
    expect(y!.shape).toEqual([1, 4, 4]);
    expect(y!.values).toEqual((await twin.process([next]))[0]!.values);
    await twin.close();
    await s.close();
    await expectCode(s.push(sl.randomSequence([1, 4, 8])), 'CLOSED');
    await expectCode(s.read(), 'CLOSED');
    await worker.close();
    await expectCode(worker.open(), 'CLOSED');
  });

  it('refuses options without an input shape or with bad layerModules before any thread starts (found in review)', async () => {
    const { config, inputShape } = testModel(sl);
    const baseline = threads();
    // The shape was spread after the worker started: an uncoded TypeError, then the orphaned
    // worker's exit rejected an unwatched promise and ended the process.
    await expectCode(W.startWorker({ config } as never), 'BAD_ARGUMENT', /^\[BAD_ARGUMENT\] startWorker: expected inputShape to be a list of positive integers, got undefined$/);
    await expectCode(W.createPool({ config, workers: 1 } as never), 'BAD_ARGUMENT', /^\[BAD_ARGUMENT\] createPool: expected inputShape to be a list of positive integers, got undefined$/);
    await expectCode(W.startWorker({ config, inputShape: '8' as never }), 'BAD_ARGUMENT', /inputShape .* got "8"$/);
    await expectCode(W.startWorker({ config, inputShape, layerModules: 5 as never }), 'BAD_ARGUMENT', /expected layerModules to be a list of module URLs \(strings\), got 5$/);
    await expectCode(W.startWorker({ config, inputShape, layerModules: 'file:///x.js' as never }), 'BAD_ARGUMENT', /layerModules/);
    await expectCode(W.createPool(null as never), 'BAD_ARGUMENT', /^\[BAD_ARGUMENT\] createPool: expected options as an object, got null$/);
    // A config that structured clone cannot copy was an uncoded DataCloneError (createPool) or WORKER_FAILED (startWorker).
    const symbolic = { ...config, note: Symbol('x') };
    await expectCode(W.createPool({ config: symbolic, inputShape, workers: 1 }), 'BAD_CONFIG', /^\[BAD_CONFIG\] createPool: expected a config of JSON data, which crosses to a worker; this one cannot be copied \(/);
    await expectCode(W.startWorker({ config: symbolic, inputShape }), 'BAD_CONFIG', /startWorker: expected a config of JSON data/);
    // The options build checks, checked before a thread starts too (they were checked only inside it).
    await expectCode(W.startWorker({ config, inputShape, inputDtype: 'float64' as never }), 'BAD_ARGUMENT', /^\[BAD_ARGUMENT\] startWorker: expected inputDtype 'float32', .*, got "float64"$/);
    await expectCode(W.createPool({ config, inputShape, seed: 1.5, workers: 1 }), 'BAD_ARGUMENT', /^\[BAD_ARGUMENT\] createPool: expected seed to be an integer, got 1\.5$/);
    await expectCode(W.startWorker({ config, inputShape, weightNaming: 'jax' as never }), 'BAD_ARGUMENT', /startWorker: weightNaming/);
    await expectCode(W.startWorker({ config, inputShape, maxMemoryBytes: -1 }), 'BAD_ARGUMENT', /maxMemoryBytes must be in \(0, /);
    expect(threads(), 'no worker was started').toBe(baseline);
  });

  it('refuses unknown option names, naming the options (found in review)', async () => {
    const { config, inputShape, weights } = testModel(sl);
    await expectCode(W.startWorker({ config, inputShape, maxMemory: 1 } as never), 'BAD_ARGUMENT', /^\[BAD_ARGUMENT\] startWorker: unknown option "maxMemory"; the options are config, inputShape, .*, constants$/);
    await expectCode(W.createPool({ config, inputShape, worker: 1 } as never), 'BAD_ARGUMENT', /^\[BAD_ARGUMENT\] createPool: unknown option "worker" \(did you mean "workers"\?\); the options are .*, workers$/);
    const worker = await W.startWorker({ config, inputShape, weights });
    await expectCode(worker.open({ maxInflight: 1 } as never), 'BAD_ARGUMENT', /^\[BAD_ARGUMENT\] open: unknown option "maxInflight" \(did you mean "maxInFlight"\?\); the options are batch, snapshot, maxInFlight, snapshotEvery, onFailure, constants$/);
    const s = await worker.open();
    const x = sl.randomSequence([1, 4, 8], { randomLengths: false });
    await expectCode(s.process(x, { constant: {} } as never), 'BAD_ARGUMENT', /^\[BAD_ARGUMENT\] push: unknown option "constant" \(did you mean "constants"\?\); the options are constants$/);
    await expectCode(s.push(x, 5 as never), 'BAD_ARGUMENT', /push: expected options as an object, got 5$/);
    expect((await s.process(x, {})).shape, 'the stream goes on').toEqual([1, 4, 4]);
    await worker.close();
  });

  it('refuses a block whose buffer was transferred away with BAD_INPUT, before the worker sees it', async () => {
    const { config, inputShape, weights } = testModel(sl);
    const detached = () => {
      const x = sl.randomSequence([1, 4, 8], { randomLengths: false });
      structuredClone(x.values.buffer, { transfer: [x.values.buffer as ArrayBuffer] });
      return x;
    };
    const good = sl.randomSequence([1, 4, 8], { randomLengths: false, seed: 2 });
    const worker = await W.startWorker({ config, inputShape, weights: weights.slice() });
    const other = await worker.open();
    const s = await worker.open();
    await expectCode(s.process([good, detached()]), 'BAD_INPUT', /buffer of block 1 was detached/);
    expect(worker.failure, 'the worker is untouched').toBeNull();
    expect((await other.process(good)).shape).toEqual([1, 4, 4]);
    expect((await s.process(good)).values).toEqual((await (await worker.open()).process(good)).values);
    await worker.close();
    const pool = await W.createPool({ config, inputShape, weights, workers: 1 });
    await expectCode((await pool.open()).push(detached()), 'BAD_INPUT', /buffer of block 0 was detached/);
    await pool.close();
  });

  it('snapshots a stream and resumes it in another worker', async () => {
    const { model, config, inputShape, weights } = testModel(sl);
    const x = sl.randomSequence([2, 40, 8], { randomLengths: false, seed: 2 });
    const blocks = blocksOf(x, 4);
    const a = await W.startWorker({ config, inputShape, weights: weights.slice() });
    const b = await W.startWorker({ config, inputShape, weights });
    const s1 = await a.open({ batch: 2 });
    const outs = await s1.process(blocks.slice(0, 5));
    const s2 = await b.open({ batch: 2, snapshot: await s1.snapshot() });
    outs.push(...(await s2.process(blocks.slice(5))));
    const state = model.initialState(2);
    sl.assertSequencesClose(sl.Sequence.concatenate(outs), sl.Sequence.concatenate(blocks.map((blk) => model.step(blk, state))), 'moved stream', 0, 0);
    await Promise.all([a.close(), b.close()]);
  });

  it('close() drains calls in flight, releases the proxy and ends the worker: threads, handles and listeners back to baseline', async () => {
    const { config, inputShape, weights } = testModel(sl);
    const baseline = { threads: threads(), handles: process.getActiveResourcesInfo(), listeners: processListeners() };
    const worker = await W.startWorker({ config, inputShape, weights });
    expect(threads()).toBeGreaterThan(baseline.threads);
    const s = await worker.open();
    const inFlight = [s.process(sl.randomSequence([1, 16, 8])), s.process(sl.randomSequence([1, 16, 8]))];
    await worker.close();
    for (const y of await Promise.all(inFlight)) expect(y.shape).toEqual([1, 16, 4]);
    for (let i = 0; i < 50 && threads() > baseline.threads; i++) await new Promise((r) => setTimeout(r, 10));
    expect(threads()).toBe(baseline.threads);
    // Nothing new keeps the process alive (vitest's own timers may come and go).
    const count = (xs: string[]) => xs.reduce((m, k) => m.set(k, (m.get(k) ?? 0) + 1), new Map<string, number>());
    const before = count(baseline.handles);
    for (const [kind, n] of count(process.getActiveResourcesInfo())) expect(n, kind).toBeLessThanOrEqual(before.get(kind) ?? 0);
    expect(processListeners()).toEqual(baseline.listeners);
  });

  it('keeps no memory per call served by a live worker', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const heap = () => (gc(), gc(), process.memoryUsage().heapUsed);
    const { config, inputShape, weights } = testModel(sl);
    const worker = await W.startWorker({ config, inputShape, weights });
    const s = await worker.open();
    const x = sl.randomSequence([1, 1, 8], { randomLengths: false });
    for (let i = 0; i < 300; i++) await s.process(x);
    const n = 4000, before = heap();
    for (let i = 0; i < n; i++) await s.process(x);
    const perCall = (heap() - before) / n;
    // Each call used to leave a reaction on a never-settling promise: about 1.2 KB per call.
    expect(perCall, `heap bytes kept per call (${perCall.toFixed(0)})`).toBeLessThan(300);
    await worker.close();
  });

  it('runs the Node examples', async () => {
    for (const example of ['worker.js', 'pool.js', 'packed.js']) {
      const { stdout } = await promisify(execFile)(process.execPath, [join(ROOT, 'examples/runtimes/node', example)]);
      expect(stdout).toMatch(/equal to model\.layer\(\)/);
    }
  });

  it('measures the per-call overhead of a round trip (printed; no timing assertions)', async () => {
    const { model, config, inputShape, weights } = testModel(sl);
    const worker = await W.startWorker({ config, inputShape, weights });
    const s = await worker.open();
    const state = model.initialState(1);
    const block = sl.randomSequence([1, 8, 8], { randomLengths: false });
    const batch8 = Array.from({ length: 8 }, () => block);
    const time = async (n: number, f: () => unknown) => {
      const ts: number[] = [];
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        await f();
        ts.push((performance.now() - t0) * 1000);
      }
      return median(ts.slice(n >> 2));
    };
    const inThread = await time(2000, () => model.step(block, state));
    const oneBlock = await time(2000, () => s.process(block));
    const eightBlocks = (await time(500, () => s.process(batch8))) / 8;
    console.log(
      `[workers] per call, block of 8 steps x 8 channels (median µs): in-thread step ${inThread.toFixed(1)}, ` +
        `worker round trip ${oneBlock.toFixed(1)} (overhead ${(oneBlock - inThread).toFixed(1)}), ` +
        `8 blocks per round trip ${eightBlocks.toFixed(1)} per block (overhead ${(eightBlocks - inThread).toFixed(1)})`,
    );
    expect(oneBlock).toBeGreaterThan(0);
    await worker.close();
  });
});
