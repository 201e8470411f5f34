// seqlayers/workers: a pool of worker_threads serving many streams, with backpressure, graceful
// close, and failover from snapshots when a worker dies or traps.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { SnapshotSchedule } from '../../src/workers/client.js';
import { blocksOf, loadDist, testModel } from './helpers.js';

let sl: Awaited<ReturnType<typeof loadDist>>;
let W: typeof import('../../dist/workers/node.js');
const FAULTS = new URL('./fixtures/fault-layers.js', import.meta.url).href;

beforeAll(async () => {
  sl = await loadDist();
  W = await import('../../dist/workers/node.js');
  await import(/* @vite-ignore */ FAULTS); // the same layers here, for the reference model
  await sl.init();
});

type Sequence = import('../../dist/index.js').Sequence;

/** In-thread stepping over the same blocks: what an uninterrupted stream returns, bit for bit. */
function reference(model: import('../../dist/index.js').Model, blocks: Sequence[]): Sequence {
  const state = model.initialState(blocks[0]!.batch);
  return sl.Sequence.concatenate(blocks.map((b) => model.step(b, state)));
}

const settled = <T>(p: Promise<T>) => p.then((value) => ({ value }), (error: Error & { code?: string }) => ({ error }));

/** Runs `body` with `seen` told of every message posted to a worker thread (a pool's traffic), first. */
async function watchingPosts(seen: (message: unknown) => void, body: () => Promise<void>): Promise<void> {
  const { Worker } = await import('node:worker_threads');
  const post = Worker.prototype.postMessage;
  Worker.prototype.postMessage = function (this: InstanceType<typeof Worker>, ...args: Parameters<typeof post>) {
    seen(args[0]);
    return post.apply(this, args);
  };
  try {
    await body();
  } finally {
    Worker.prototype.postMessage = post;
  }
}

/**
 * Makes each worker the pool starts from now on die the moment `s` attaches to it (while its
 * move is under way, deterministically), `n` times; returns the count of deaths so far.
 */
function killOnAttach(pool: import('../../dist/workers/node.js').ModelPool, s: import('../../dist/workers/node.js').ModelStream, n: number): () => number {
  let kills = 0;
  const push = pool.workers.push.bind(pool.workers);
  pool.workers.push = (...ws) => {
    for (const w of ws) {
      const add = w.streams.add.bind(w.streams);
      w.streams.add = (x) => {
        add(x);
        if (x === s && kills < n) {
          kills++;
          w.terminate();
        }
        return w.streams;
      };
    }
    return push(...ws);
  };
  return () => kills;
}

describe('seqlayers/workers: pool', () => {
  it('pins streams to the least loaded worker and serves them all exactly', async () => {
    const { model, config, inputShape, weights } = testModel(sl);
    const pool = await W.createPool({ config, inputShape, weights, workers: 2 });
    expect(weights.byteLength, 'a pool keeps its weights for replacement workers').toBeGreaterThan(0);
    const inputs = Array.from({ length: 6 }, (_, i) => blocksOf(sl.randomSequence([1, 48, 8], { randomLengths: false, seed: 10 + i }), 6));
    const streams = await Promise.all(inputs.map(() => pool.open()));
    expect(pool.workers.map((w) => w.streams.size)).toEqual([3, 3]);
    const outs = await Promise.all(
      streams.map(async (s, i) => {
        for (const b of inputs[i]!) await s.push(b);
        const o: Sequence[] = [];
        for (let k = 0; k < inputs[i]!.length; k++) o.push(...(await s.read()));
        await s.close();
        return sl.Sequence.concatenate(o);
      }),
    );
    outs.forEach((o, i) => sl.assertSequencesClose(o, reference(model, inputs[i]!), `stream ${i}`, 0, 0));
    await pool.close();
  });

  it('sends the steps made while earlier ones are answered together: far fewer messages than pushes, the same outputs', async () => {
    const { model, config, inputShape, weights } = testModel(sl);
    let messages = 0;
    await watchingPosts(() => messages++, async () => {
      const pool = await W.createPool({ config, inputShape, weights, workers: 1 });
      const inputs = Array.from({ length: 16 }, (_, i) => blocksOf(sl.randomSequence([1, 24, 8], { randomLengths: false, seed: 30 + i }), 1));
      const streams = await Promise.all(inputs.map(() => pool.open({ maxInFlight: 4 })));
      messages = 0;
      const outs = await Promise.all(
        streams.map(async (s, i) => {
          const o: Sequence[] = [];
          for (const b of inputs[i]!) await s.push(b);
          for (const _ of inputs[i]!) o.push(...(await s.read()));
          return sl.Sequence.concatenate(o);
        }),
      );
      const pushes = 16 * 24;
      expect(messages, `${messages} messages for ${pushes} pushes`).toBeLessThan(pushes / 4);
      outs.forEach((o, i) => sl.assertSequencesClose(o, reference(model, inputs[i]!), `stream ${i}`, 0, 0));
      await pool.close();
    });
  });

  it("asks for snapshots as snapshotEvery says: 'auto' (the default) once the pushes since the last hold the state's bytes", () => {
    const due = (schedule: SnapshotSchedule, pushes: number[], asked: number[] = []) => pushes.map((bytes, i) => schedule.due(bytes, asked.includes(i)));
    const auto = new SnapshotSchedule('auto');
    expect(due(auto, [300, 300]), 'until the stream knows its state size, every push').toEqual([true, true]);
    auto.sized(1000);
    expect(due(auto, [300, 300, 300, 300, 300, 2000, 300])).toEqual([false, false, false, true, false, true, false]);
    expect(due(auto, [300, 300, 300, 300], [1])).toEqual([false, true, false, false]);
    auto.sized(100); // the state shrank: a push of more bytes takes one each time
    expect(due(auto, [300, 300])).toEqual([true, true]);
    expect(due(new SnapshotSchedule(3), [1, 1, 1, 1, 1, 1, 1])).toEqual([false, false, true, false, false, true, false]);
    const lone = new SnapshotSchedule(0);
    expect(due(lone, [1, 1, 1], [2])).toEqual([false, false, true]);
    expect([auto.keepsLog, lone.keepsLog]).toEqual([true, false]);
  });

  it("with 'auto', a stream learns its state's size when it opens: its first pushes ask for no snapshot (fresh or resumed)", async () => {
    const { model, config, inputShape, weights } = testModel(sl);
    const { decodeStepBatch } = await import('../../dist/workers/protocol.js');
    const asked: boolean[] = [];
    const seen = (message: unknown) => {
      const batch = (message as { argumentList?: { value?: { head?: unknown } }[] }).argumentList?.[0]?.value;
      if (batch?.head) asked.push(...decodeStepBatch(batch as Parameters<typeof decodeStepBatch>[0]).map((c) => c.req.snapshot));
    };
    await watchingPosts(seen, async () => {
      const pool = await W.createPool({ config, inputShape, weights, workers: 1 });
      const frame = (seed: number) => sl.randomSequence([1, 1, 8], { randomLengths: false, seed });
      const frameBytes = 8 * 4 + 1;
      const pushesPerSnapshot = Math.ceil(model.initialState(1).bytes / frameBytes);
      expect(pushesPerSnapshot).toBeGreaterThan(3);
      const fresh = await pool.open();
      for (let i = 0; i < pushesPerSnapshot + 1; i++) await fresh.process(frame(i));
      expect(asked, 'a snapshot once the pushes hold the state bytes').toEqual(Array.from({ length: pushesPerSnapshot + 1 }, (_, i) => i === pushesPerSnapshot - 1));
      const resumed = await pool.open({ snapshot: await fresh.snapshot() });
      asked.length = 0;
      for (let i = 0; i < 3; i++) await resumed.process(frame(i));
      expect(asked).toEqual([false, false, false]);
      await pool.close();
    });
  });

  it("a stream keeps its own copy of the snapshots it resumes from: the caller's bytes, given or returned, are the caller's", async () => {
    const { model, config, inputShape, weights } = testModel(sl);
    const pool = await W.createPool({ config, inputShape, weights, workers: 2 });
    const blocks = blocksOf(sl.randomSequence([1, 12, 8], { randomLengths: false, seed: 8 }), 4);
    const home = (s: import('../../dist/workers/node.js').ModelStream) => pool.workers.find((w) => w.streams.has(s))!;
    const s = await pool.open({ snapshotEvery: 1000 }); // the explicit snapshot stays the base
    const out = [await s.process(blocks[0]!)];
    const snap = await s.snapshot();
    const bytes = snap.slice();
    snap.fill(0); // the caller reuses the array snapshot() gave
    out.push(await s.process(blocks[1]!));
    home(s).terminate();
    out.push(await s.process(blocks[2]!));
    sl.assertSequencesClose(sl.Sequence.concatenate(out), reference(model, blocks), 'resumed after the caller reused its snapshot', 0, 0);

    const t = await pool.open({ snapshot: bytes, snapshotEvery: 1000 });
    bytes.fill(0); // and the array it opened from
    const state = model.initialState(1);
    model.step(blocks[0]!, state);
    const rest = [await t.process(blocks[1]!)];
    home(t).terminate();
    rest.push(await t.process(blocks[2]!));
    sl.assertSequencesClose(sl.Sequence.concatenate(rest), sl.Sequence.concatenate(blocks.slice(1).map((b) => model.step(b, state))), 'opened from bytes the caller reused', 0, 0);

    // A detached snapshot is refused before anything is posted (its DataCloneError would read
    // as the worker's failure, and kill one worker after another).
    const gone = snap.slice();
    structuredClone(gone.buffer, { transfer: [gone.buffer] });
    const workers = [...pool.workers];
    await expect(pool.open({ snapshot: gone })).rejects.toThrow(/^\[BAD_INPUT\] open: the buffer of the snapshot was detached/);
    expect(pool.workers, 'no worker failed').toEqual(workers);
    await pool.close();
  });

  it("replacement workers start from the pool's own copies of the config and weights, whatever the caller then does with its own", async () => {
    const { model, config, inputShape, weights } = testModel(sl);
    const pool = await W.createPool({ config, inputShape, weights, workers: 1 });
    weights.fill(0); // another checkpoint loaded into the same array...
    structuredClone(weights.buffer, { transfer: [weights.buffer] }); // ...or the array handed on
    (config as { layers: unknown[] }).layers.length = 1;
    const blocks = blocksOf(sl.randomSequence([1, 12, 8], { randomLengths: false, seed: 6 }), 4);
    const s = await pool.open();
    const out = [await s.process(blocks[0]!)];
    pool.workers[0]!.terminate();
    out.push(await s.process(blocks[1]!), await s.process(blocks[2]!));
    sl.assertSequencesClose(sl.Sequence.concatenate(out), reference(model, blocks), 'served by the replacement', 0, 0);
    expect(s.failures.map((e) => e.code)).toEqual(['WORKER_FAILED']);
    await pool.close();
  });

  it("takes weights and snapshots as Node Buffers (e.g. from readFileSync), whose slice() is no copy: the caller's Buffers stay the caller's", async () => {
    const { model, config, inputShape, weights } = testModel(sl);
    const file = Buffer.from(weights); // a buffer of its own, as readFileSync gives
    const pool = await W.createPool({ config, inputShape, weights: file, workers: 2 });
    expect(file.equals(weights), "the caller's weights are intact, not transferred to a worker").toBe(true);
    const home = (s: import('../../dist/workers/node.js').ModelStream) => pool.workers.find((w) => w.streams.has(s))!;
    const blocks = blocksOf(sl.randomSequence([1, 12, 8], { randomLengths: false, seed: 9 }), 4);
    // A stream on each worker (the least loaded) serves exactly as in-thread stepping.
    const eachWorkerServes = async (what: string) => {
      const streams = [await pool.open(), await pool.open()];
      expect(new Set(streams.map(home)).size).toBe(2);
      for (const s of streams) sl.assertSequencesClose(await s.process(blocks[0]!), reference(model, [blocks[0]!]), what, 0, 0);
      await Promise.all(streams.map((s) => s.close()));
    };
    await eachWorkerServes('a worker started from Buffer weights');
    pool.workers[0]!.terminate();
    for (let i = 0; i < 2000 && pool.workers.length < 2; i++) await new Promise((r) => setTimeout(r, 5));
    await eachWorkerServes("a replacement started from the pool's copy of them");

    const s = await pool.open();
    await s.process(blocks[0]!);
    const snapshot = Buffer.from(await s.snapshot());
    await s.close();
    const t = await pool.open({ snapshot, snapshotEvery: 1000 }); // the snapshot stays the base
    snapshot.fill(0); // the caller reuses its Buffer
    home(t).terminate();
    sl.assertSequencesClose(await t.process(blocks[1]!), reference(model, blocks.slice(0, 2)).sliceTime(4, 8), 'resumed from its own copy of a Buffer snapshot', 0, 0);
    await pool.close();
    expect(file.equals(weights)).toBe(true);
  });

  it('applies backpressure: push() waits while maxInFlight pushes are unserved', async () => {
    const { config, inputShape, weights } = testModel(sl);
    const pool = await W.createPool({ config, inputShape, weights, workers: 1 });
    await expect(pool.open({ maxInFlight: 0 })).rejects.toThrow(/^\[BAD_ARGUMENT\] open: expected maxInFlight to be an integer >= 1, got 0/);
    await expect(pool.open({ snapshotEvery: 0 })).rejects.toThrow(/^\[BAD_ARGUMENT\] open: expected snapshotEvery to be 'auto' or an integer >= 1, got 0/);
    await expect(pool.open({ snapshotEvery: 'always' as 'auto' })).rejects.toThrow(/^\[BAD_ARGUMENT\] open: expected snapshotEvery to be 'auto' or an integer >= 1, got "always"/);
    const s = await pool.open({ maxInFlight: 2 });
    const x = sl.randomSequence([1, 4, 8]);
    await s.push(x);
    await s.push(x);
    let admitted = false;
    const third = s.push(x).then(() => (admitted = true));
    await Promise.resolve();
    expect(admitted, 'the third push waits: two are in flight').toBe(false);
    await s.read(); // the first push was served, so there is room
    await third;
    expect(admitted).toBe(true);
    await s.read();
    await s.read();
    await pool.close();
  });

  it('serves pushes waiting for room in call order, before a push called while they wait', async () => {
    const { config, inputShape, weights } = testModel(sl);
    const pool = await W.createPool({ config, inputShape, weights, workers: 1 });
    const worker = await W.startWorker({ config, inputShape, weights: weights.slice() });
    for (const host of [pool, worker]) {
      const s = await host.open({ maxInFlight: 1 });
      const blk = (t: number) => sl.randomSequence([1, t, 8], { randomLengths: false, seed: t });
      // 2 and 3 wait for room; 4 is pushed as soon as the output of 1 is read, while they wait.
      const pushes = [s.push(blk(1)), s.push(blk(2)), s.push(blk(3))];
      const reads = [s.read().then((y) => (pushes.push(s.push(blk(4))), y))];
      await Promise.all(pushes);
      for (let k = 0; k < 3; k++) reads.push(s.read());
      expect((await Promise.all(reads)).map((y) => y[0]!.time)).toEqual([1, 2, 3, 4]);
      await Promise.all(pushes);
    }
    await worker.close();
    await pool.close();
  });

  for (const snapshotEvery of [1, 3, 'auto'] as const) {
    it(`resumes the streams of a terminated worker from their snapshots (snapshotEvery ${snapshotEvery}): nothing lost or repeated`, async () => {
      const { model, config, inputShape, weights } = testModel(sl);
      const pool = await W.createPool({ config, inputShape, weights, workers: 2 });
      const inputs = [0, 1].map((i) => blocksOf(sl.randomSequence([2, 60, 8], { randomLengths: false, seed: 20 + i }), 4));
      const failures: string[] = [];
      const streams = await Promise.all(inputs.map(() => pool.open({ batch: 2, snapshotEvery, onFailure: (e) => failures.push(e.code) })));
      const victim = pool.workers[0]!;
      const outs: Sequence[][] = [[], []];
      // 7 pushes served, then 3 in flight when the worker dies, then the rest.
      for (const [i, s] of streams.entries()) for (const b of inputs[i]!.slice(0, 7)) outs[i]!.push(...(await s.process([b])));
      const pending = streams.map((s, i) => Promise.all(inputs[i]!.slice(7, 10).map((b) => s.push(b))));
      victim.terminate();
      await Promise.all(pending);
      for (const [i, s] of streams.entries()) for (const b of inputs[i]!.slice(10)) await s.push(b);
      for (const [i, s] of streams.entries()) for (let k = 7; k < inputs[i]!.length; k++) outs[i]!.push(...(await s.read()));
      outs.forEach((o, i) => sl.assertSequencesClose(sl.Sequence.concatenate(o), reference(model, inputs[i]!), `stream ${i}`, 0, 0));
      expect(failures, 'the stream pinned to the dead worker was told').toEqual(['WORKER_FAILED']);
      expect(streams.map((s) => s.failures.length).sort()).toEqual([0, 1]);
      expect(victim.failure?.code).toBe('WORKER_FAILED');
      await pool.close();
    });
  }

  it('constants cross to the workers (at build, at open, with each push or each block), and with a failover replay', async () => {
    // A conditioning vector with every push, segment ids with every block, a source projected at open.
    const text = sl.randomSequence([2, 5, 3], { seed: 3, lowLength: 2 });
    const speaker = { values: Float32Array.from({ length: 8 }, (_, i) => i / 4 - 1), shape: [2, 4] };
    const built = sl.build(sl.Serial([
      sl.Conditioning({ conditioningName: 'speaker', projection: 'linear', combination: 'add' }),
      sl.DotProductSelfAttentionV2({ numHeads: 2, unitsPerHead: 4, maxPastHorizon: 6, segmentIdsName: 'seg' }),
      sl.Flatten(),
      sl.DotProductAttention({ sourceName: 'text', numHeads: 2, unitsPerHead: 2 }),
    ]), { inputShape: [8], constants: { text, speaker }, seed: 3 });
    const config = JSON.parse(JSON.stringify(built.toConfig())), weights = sl.writeSafetensors(built.getWeights());
    const blocks = blocksOf(sl.randomSequence([2, 40, 8], { randomLengths: false, seed: 4 }), 4);
    const seg = blocksOf(sl.Sequence.fromValues(Int32Array.from({ length: 80 }, (_, i) => Math.floor((i % 40) / 7) + (i < 40 ? 0 : 10)), [2, 40], 'int32'), 4);
    const constantsOf = (i: number) => ({ speaker, seg: seg[i]! });
    const state = built.initialState(2, { constants: { text } });
    const expected = sl.Sequence.concatenate(blocks.map((b, i) => built.step(b, state, { constants: constantsOf(i) })));

    const pool = await W.createPool({ config, inputShape: [8], weights, workers: 2, constants: { text, speaker } });
    const s = await pool.open({ batch: 2, constants: { text }, snapshotEvery: 2 });
    const outs: Sequence[] = [];
    for (let i = 0; i < 3; i++) outs.push(await s.process(blocks[i]!, { constants: constantsOf(i) }));
    // Two blocks in one push, one object of constants each; then pushes in flight when the worker dies.
    outs.push(...(await s.process([blocks[3]!, blocks[4]!], { constants: [constantsOf(3), constantsOf(4)] })));
    const pending = [5, 6, 7].map((i) => s.push(blocks[i]!, { constants: constantsOf(i) }));
    pool.workers.find((w) => w.streams.has(s))!.terminate();
    await Promise.all(pending);
    for (const i of [8, 9]) await s.push(blocks[i]!, { constants: constantsOf(i) });
    for (let i = 5; i < 10; i++) outs.push(...(await s.read()));
    sl.assertSequencesClose(sl.Sequence.concatenate(outs), expected, 'pool stream with constants, through a failover', 0, 0);
    expect(s.failures.map((e) => e.code)).toEqual(['WORKER_FAILED']);
    // Bad constants: refused before anything is sent, or by the worker with its code; the stream goes on.
    await expect(s.push(blocks[0]!, { constants: [constantsOf(0), constantsOf(1)] })).rejects.toThrow('[BAD_ARGUMENT] push: expected constants for each of the 1 blocks, got a list of 2');
    await expect(s.push(blocks[0]!, { constants: { speaker: [1, 2, 3] } as never })).rejects.toThrow(/^\[BAD_INPUT\] push: constants\.speaker: expected a Sequence or an array \{ values: Float32Array or Int32Array, shape \} \(values filling the shape\), got \[1, 2, 3\]$/);
    await expect(s.process(blocks[0]!, { constants: { speaker } })).rejects.toThrow(/^\[MISSING_CONSTANT\].*constants\.seg/);
    const gone = { values: new Float32Array(8), shape: [2, 4] };
    structuredClone(gone.values.buffer, { transfer: [gone.values.buffer] });
    await expect(s.push(blocks[0]!, { constants: { speaker: gone, seg: seg[0]! } })).rejects.toThrow('[BAD_INPUT] push: constants.speaker: the buffer of its values was detached (transferred elsewhere, e.g. to a worker), expected one this thread owns; pass a copy');
    await expect(pool.open({ constants: 7 as never })).rejects.toThrow('[BAD_INPUT] open: expected constants as an object of Sequences and arrays by name, got 7');
    const again = await pool.open({ batch: 2, constants: { text } });
    sl.assertSequencesClose(await again.process(blocks[0]!, { constants: constantsOf(0) }), expected.sliceTime(0, 4), 'a second stream', 0, 0);
    built.dispose();
    await pool.close();
  });

  it('with one worker, a stream waits for the replacement and resumes there, even when that one dies too', async () => {
    const { model, config, inputShape, weights } = testModel(sl);
    const pool = await W.createPool({ config, inputShape, weights, workers: 1 });
    const blocks = blocksOf(sl.randomSequence([1, 64, 8], { randomLengths: false, seed: 40 }), 4);
    const s = await pool.open({ snapshotEvery: 2 });
    const outs: Sequence[] = [];
    for (const [i, b] of blocks.entries()) {
      if (i === 5 || i === 11) pool.workers[0]!.terminate(); // the first worker, then its replacement
      outs.push(await s.process(b));
    }
    expect(s.failures.map((e) => e.code)).toEqual(['WORKER_FAILED', 'WORKER_FAILED']);
    sl.assertSequencesClose(sl.Sequence.concatenate(outs), reference(model, blocks), 'resumed twice', 0, 0);
    await pool.close();
  });

  it('a stream whose worker dies again while it moves, and is failed, still closes', async () => {
    const { config, inputShape, weights } = testModel(sl);
    const pool = await W.createPool({ config, inputShape, weights, workers: 1 });
    const s = await pool.open();
    // Deaths 2 and 3 land during moves, and the third fails it.
    const kills = killOnAttach(pool, s, 2);
    const pending = settled(s.process(sl.randomSequence([1, 4, 8])));
    pool.workers[0]!.terminate();
    expect(((await pending) as { error: { code: string } }).error.code).toBe('WORKER_FAILED');
    expect(kills()).toBe(2);
    // White-box: a marker left set made close() await the same settled promise forever, a
    // microtask loop that blocks the thread (no timeout could fire), so check it first.
    expect(Reflect.get(s, 'resuming'), 'the failed stream has no move under way').toBeNull();
    await s.close();
    await expect(s.read()).rejects.toThrow(/^\[WORKER_FAILED\]/);
    await pool.close();
  });

  it('a one-block push refused mid-step (memory budget) leaves the stream usable: rebuilt from its snapshot and log', async () => {
    const { model, config, inputShape, weights } = testModel(sl);
    const maxMemoryBytes = 64 << 20;
    const pool = await W.createPool({ config, inputShape, weights, workers: 1, maxMemoryBytes });
    const good = [1, 2, 3, 4, 5].map((k) => sl.randomSequence([1, 4, 8], { randomLengths: false, seed: k }));
    // Its scratch activations exceed the budget after the first layer has stepped.
    const huge = sl.randomSequence([1, 1 << 19, 8], { randomLengths: false, seed: 9 });
    for (const snapshotEvery of [1, 3]) {
      const s = await pool.open({ snapshotEvery });
      const outs = [await s.process(good[0]!), await s.process(good[1]!)];
      const calls = [s.process(huge), ...good.slice(2).map((b) => s.process(b))];
      await expect(calls[0]).rejects.toThrow(/^\[MEMORY_BUDGET\]/);
      outs.push(...(await Promise.all(calls.slice(1))));
      sl.assertSequencesClose(sl.Sequence.concatenate(outs), reference(model, good), `snapshotEvery ${snapshotEvery}`, 0, 0);
      expect(s.failures).toEqual([]);
      await s.close();
    }
    await pool.close();
    // A lone worker's stream keeps no log to rebuild from: it fails with the cause.
    const worker = await W.startWorker({ config, inputShape, weights: weights.slice(), maxMemoryBytes });
    const s = await worker.open();
    await s.process(good[0]!);
    await expect(s.process(huge)).rejects.toThrow(/^\[MEMORY_BUDGET\]/);
    await expect(s.process(good[1]!)).rejects.toThrow(/^\[MEMORY_BUDGET\]/);
    // With pushes in flight behind the refused one, each push has one outcome: the replies the
    // worker still sends for them (the stream is gone there) are not outcomes too.
    const t = await worker.open({ maxInFlight: 8 });
    for (const b of [good[0]!, huge, good[1]!, good[2]!]) await t.push(b);
    const outcomes = [];
    for (let i = 0; i < 4; i++) outcomes.push(await t.read().then(() => 'ok', (e: Error) => e.message.slice(0, 15)));
    expect(outcomes).toEqual(['ok', '[MEMORY_BUDGET]', '[MEMORY_BUDGET]', '[MEMORY_BUDGET]']);
    await new Promise((r) => setTimeout(r, 100));
    await expect(t.read(), 'no fifth outcome: the stream failed with the refusal').rejects.toThrow(/^\[MEMORY_BUDGET\]/);
    await worker.close();
  });

  it('a replay refused with a coded error fails the stream and frees the state it opened on the new worker', async () => {
    // A 32 MiB state: one fits the budget, two (or a state and its copy) do not.
    const config = JSON.parse(JSON.stringify(sl.build(sl.Serial([sl.Delay({ length: 1 << 20 })]), { inputShape: [8] }).toConfig()));
    const pool = await W.createPool({ config, inputShape: [8], workers: 1, maxMemoryBytes: 64 << 20 });
    const x = sl.randomSequence([1, 1, 8], { randomLengths: false, seed: 1 });
    const s = await pool.open({ snapshotEvery: 1000 }); // the log holds both pushes
    await s.process(x);
    await s.process(x);
    pool.workers[0]!.terminate();
    // The replay of the two pushes, in one call, steps on a copy of the state: over the budget.
    await expect(s.process(x)).rejects.toThrow(/^\[MEMORY_BUDGET\] a copy of a state/);
    const t = await pool.open(); // room for its state: the failed stream's is gone
    await t.process(x);
    await t.close();
    await pool.close();
  });

  it('close() as the worker dies, or as its last push is refused mid-step, leaves no state behind: the stream is not moved or rebuilt', async () => {
    const { config, inputShape, weights } = testModel(sl);
    let opens = 0;
    await watchingPosts((message) => (message as { path?: string[] })?.path?.[0] === 'open' && opens++, async () => {
      const pool = await W.createPool({ config, inputShape, weights, workers: 2, maxMemoryBytes: 64 << 20 });
      const x = sl.randomSequence([1, 4, 8], { randomLengths: false, seed: 1 });
      const s = await pool.open();
      await s.process(x);
      const home = pool.workers.find((w) => w.streams.has(s))!;
      opens = 0;
      const closing = s.close();
      home.terminate();
      await closing;
      await new Promise((r) => setTimeout(r, 200)); // a move, had one started, would have opened it by now
      expect(opens, 'the closed stream was not opened on another worker').toBe(0);
      // (The replacement worker may still be starting on a loaded machine: no count of workers.)
      expect(pool.workers.reduce((n, w) => n + w.streams.size, 0), 'no stream left in the pool').toBe(0);
      expect(s.failures.map((e) => e.code)).toEqual(['WORKER_FAILED']);

      // The memory budget refuses the last push after the first layer stepped: the worker
      // discards the state, and a stream that goes on is rebuilt there; one being closed is not.
      const t = await pool.open();
      await t.process(x);
      opens = 0;
      const last = t.process(sl.randomSequence([1, 1 << 19, 8], { randomLengths: false, seed: 9 }));
      const closed = t.close();
      await expect(last).rejects.toThrow(/^\[MEMORY_BUDGET\]/);
      await closed;
      await new Promise((r) => setTimeout(r, 200));
      expect(opens, 'the closed stream was not rebuilt').toBe(0);
      await pool.close();
    });
  });

  it('an idle stream survives any number of unrelated worker deaths, each recovered from', async () => {
    const { model, config, inputShape, weights } = testModel(sl);
    const pool = await W.createPool({ config, inputShape, weights, workers: 2 });
    const x = sl.randomSequence([1, 4, 8], { randomLengths: false, seed: 3 });
    for (const snapshotEvery of [1, 2]) {
      const idle = await pool.open({ snapshotEvery });
      await idle.process(x); // then nothing in flight during the deaths
      const home = () => pool.workers.find((w) => w.alive && w.streams.has(idle));
      for (let k = 0; k < 4; k++) {
        home()!.terminate();
        for (let i = 0; i < 2000 && !home(); i++) await new Promise((r) => setTimeout(r, 5));
        expect(home(), `after death ${k + 1}, the stream moved to a live worker`).toBeDefined();
        // Calls to a worker are served in order: once a probe's open and close are answered,
        // so were the moved stream's open and replay (sent once that open is answered).
        await (await home()!.open()).close();
      }
      expect(idle.failures).toHaveLength(4);
      const state = model.initialState(1);
      model.step(x, state);
      sl.assertSequencesClose(await idle.process(x), model.step(x, state), `after 4 deaths (snapshotEvery ${snapshotEvery})`, 0, 0);
      await idle.close();
    }
    await pool.close();
  });

  it('an idle stream fails after three deaths in a row that each land while it moves: its reopening and replay may be their cause', async () => {
    const { config, inputShape, weights } = testModel(sl);
    const pool = await W.createPool({ config, inputShape, weights, workers: 1 });
    const x = sl.randomSequence([1, 4, 8], { randomLengths: false, seed: 3 });
    const s = await pool.open();
    await s.process(x); // then nothing in flight at the first death
    const kills = killOnAttach(pool, s, 2);
    pool.workers[0]!.terminate();
    for (let i = 0; i < 2000 && kills() < 2; i++) await new Promise((r) => setTimeout(r, 5)); // idle meanwhile
    expect(kills()).toBe(2);
    expect(s.failures, 'it survived the first two').toHaveLength(2);
    await expect(s.process(x)).rejects.toThrow(/^\[WORKER_FAILED\] the worker was terminated/);
    await s.close();
    await pool.close();
  });

  it('a worker that dies while pool.open() attaches a stream there: the stream opens on another', async () => {
    const { model, config, inputShape, weights } = testModel(sl);
    const pool = await W.createPool({ config, inputShape, weights, workers: 2 });
    const opening = pool.open();
    const victim = pool.workers.find((w) => w.streams.size === 1)!; // pinned synchronously
    victim.terminate();
    const s = await opening;
    expect(s.failures.map((e) => e.code)).toEqual(['WORKER_FAILED']);
    const x = sl.randomSequence([1, 4, 8], { randomLengths: false, seed: 5 });
    sl.assertSequencesClose(await s.process(x), reference(model, [x]), 'moved while opening', 0, 0);
    expect(pool.workers.reduce((n, w) => n + w.streams.size, 0), 'one stream in the pool').toBe(1);
    await s.close();
    expect(pool.workers.reduce((n, w) => n + w.streams.size, 0), 'none left after close').toBe(0);
    await pool.close();
  });

  it('an onFailure that throws does not stop the move; one that is not a function is refused (found in review)', async () => {
    const { model, config, inputShape, weights } = testModel(sl);
    const pool = await W.createPool({ config, inputShape, weights, workers: 2 });
    await expect(pool.open({ onFailure: 'log' as never })).rejects.toThrow(/^\[BAD_ARGUMENT\] open: expected onFailure to be a function, got "log"$/);
    let told = 0;
    const s = await pool.open({
      snapshotEvery: 1,
      onFailure: () => {
        told++;
        throw new Error('a bug in the caller');
      },
    });
    const blocks = blocksOf(sl.randomSequence([1, 12, 8], { randomLengths: false, seed: 8 }), 4);
    const outs = [await s.process(blocks[0]!)];
    pool.workers.find((w) => w.streams.has(s))!.terminate();
    for (const b of blocks.slice(1)) outs.push(await s.process(b));
    expect(told).toBe(1);
    expect(s.failures.map((e) => e.code)).toEqual(['WORKER_FAILED']);
    sl.assertSequencesClose(sl.Sequence.concatenate(outs), reference(model, blocks), 'moved despite its onFailure', 0, 0);
    await pool.close();
  });

  it('retires a worker whose layer traps in a kernel, and resumes its stream elsewhere', async () => {
    const flagFile = join(mkdtempSync(join(tmpdir(), 'seqlayers-trap-')), 'trapped');
    const { config, inputShape } = testModel(sl);
    const trapped = { type: 'Serial', layers: [{ type: 'TrapOnce', trigger: 100, flagFile }, ...config.layers] };
    const local = sl.build(trapped, { inputShape, seed: 7 });
    const weights = sl.writeSafetensors(local.getWeights());
    const pool = await W.createPool({ config: trapped, inputShape, weights, workers: 2, layerModules: [FAULTS] });
    const x = sl.randomSequence([1, 40, 8], { randomLengths: false, seed: 30 });
    x.values[3 * 8 * 8] = 1000; // block 3 starts with the trigger
    const blocks = blocksOf(x, 8);
    const failures: Error[] = [];
    const s = await pool.open({ onFailure: (e) => failures.push(e) });
    for (const b of blocks) await s.push(b);
    const outs: Sequence[] = [];
    for (const _ of blocks) outs.push(...(await s.read()));
    expect(failures).toHaveLength(1);
    expect(failures[0]!.message).toMatch(/^\[WORKER_FAILED\] .*RuntimeError: memory access out of bounds/);
    sl.assertSequencesClose(sl.Sequence.concatenate(outs), reference(local, blocks), 'resumed after the trap', 0, 0);
    await pool.close();
  });

  it('a push a layer fails on in every worker is refused; the other streams of a one-worker pool go on', async () => {
    const { config, inputShape } = testModel(sl);
    const poisoned = { type: 'Serial', layers: [{ type: 'Trap', trigger: 100 }, ...config.layers] };
    const local = sl.build(poisoned, { inputShape, seed: 7 });
    const weights = sl.writeSafetensors(local.getWeights());
    const pool = await W.createPool({ config: poisoned, inputShape, weights, workers: 1, layerModules: [FAULTS] });
    const blocks = (seed: number) => blocksOf(sl.randomSequence([1, 24, 8], { randomLengths: false, seed }), 4);
    const poison = sl.randomSequence([1, 4, 8], { randomLengths: false, seed: 3 });
    poison.values[0] = 1000;
    for (const snapshotEvery of [1, 2]) {
      const streams = await Promise.all([0, 1, 2].map(() => pool.open({ snapshotEvery, maxInFlight: 8 })));
      const a = streams[0]!;
      const [ia, ib, ic] = [blocks(20), blocks(21), blocks(22)];
      // a: two blocks, the poison, the rest; the others keep pushes in flight around it.
      const calls = [...ia.slice(0, 2), poison, ...ia.slice(2)].map((x) => settled(a.process(x)));
      const others = streams.slice(1).map((s, i) => Promise.all([ib, ic][i]!.map((x) => s.process(x))));
      const results = await Promise.all(calls);
      const refused = results[2] as { error: Error & { code?: string } };
      expect(refused.error.code).toBe('WORKER_FAILED');
      expect(refused.error.message).toMatch(/^\[WORKER_FAILED\] push refused: a layer failed on it in its worker, after 3 worker failures of the stream in a row without progress \(the last: .*memory access out of bounds/);
      const served = results.filter((_, i) => i !== 2).map((r) => (r as { value: Sequence }).value);
      sl.assertSequencesClose(sl.Sequence.concatenate(served), reference(local, ia), `snapshotEvery ${snapshotEvery}: the poisoned stream without the poison`, 0, 0);
      const [ob, oc] = await Promise.all(others);
      sl.assertSequencesClose(sl.Sequence.concatenate(ob!), reference(local, ib), 'a stream beside it', 0, 0);
      sl.assertSequencesClose(sl.Sequence.concatenate(oc!), reference(local, ic), 'another stream beside it', 0, 0);
      expect(a.failures).toHaveLength(3);
      // The poisoned stream goes on.
      const next = blocks(23);
      sl.assertSequencesClose(await a.process(next[0]!), reference(local, [...ia, next[0]!]).sliceTime(24, 28), 'after the refusal', 0, 0);
      await Promise.all(streams.map((s) => s.close()));
    }
    await pool.close();
  });

  it('close() with work in flight: every call gets its result or a coded error', async () => {
    const { config, inputShape, weights } = testModel(sl);
    const pool = await W.createPool({ config, inputShape, weights, workers: 2 });
    const streams = await Promise.all([0, 1, 2].map(() => pool.open({ maxInFlight: 2 })));
    const x = sl.randomSequence([1, 16, 8]);
    const calls = streams.flatMap((s) => [settled(s.process(x)), settled(s.process(x)), settled(s.push(x)), settled(s.process(x))]);
    const opening = settled(pool.open()); // still opening when the pool closes: refused, not a closed stream
    await pool.close();
    const opened = await opening;
    expect('error' in opened && opened.error.message).toMatch(/^\[CLOSED\] open: the pool was closed while the stream opened/);
    expect(pool.workers.every((w) => w.streams.size === 0)).toBe(true);
    const results = await Promise.all(calls);
    for (const r of results) if ('error' in r) expect(r.error.code).toBe('CLOSED');
    expect(results.filter((r) => 'value' in r).length, 'the pushes in flight were served').toBeGreaterThanOrEqual(6);
    await expect(pool.open()).rejects.toThrow(/^\[CLOSED\]/);
  });

  it('close() gives up on a hung worker after its timeout: calls, and a stream still opening, reject with CLOSED; nothing hangs', async () => {
    const { config, inputShape } = testModel(sl);
    const hanging = { type: 'Serial', layers: [{ type: 'HangOnce', trigger: 100, ms: 60_000 }, ...config.layers] };
    const pool = await W.createPool({ config: hanging, inputShape, workers: 1, layerModules: [FAULTS] });
    const s = await pool.open();
    const x = sl.randomSequence([1, 8, 8], { randomLengths: false });
    x.values[0] = 1000;
    const calls = [settled(s.process(x)), settled(s.process(sl.randomSequence([1, 8, 8])))];
    const opening = settled(pool.open()); // its open waits behind the hung step
    const t0 = Date.now();
    await pool.close({ timeoutMs: 300 });
    for (const r of await Promise.all(calls)) expect('error' in r && r.error.code).toBe('CLOSED');
    const opened = await opening;
    expect('error' in opened && opened.error.message).toMatch(/^\[CLOSED\] open: the pool was closed while the stream opened/);
    expect(Date.now() - t0).toBeLessThan(30_000);
  });

  it('a lone worker that dies fails its streams with WORKER_FAILED', async () => {
    const { config, inputShape, weights } = testModel(sl);
    const worker = await W.startWorker({ config, inputShape, weights });
    const s = await worker.open();
    const x = sl.randomSequence([1, 8, 8]);
    await s.push(x);
    const inFlight = settled(s.process(x));
    worker.terminate();
    expect(((await inFlight) as { error: { code: string } }).error.code).toBe('WORKER_FAILED');
    await expect(s.read()).rejects.toThrow(/^\[WORKER_FAILED\]/);
    await expect(s.push(x)).rejects.toThrow(/^\[WORKER_FAILED\]/);
    await worker.close();
  });
});
