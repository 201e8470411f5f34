// Runs in Chromium (served by the test): the seqlayers/workers session API in module Web Workers.
import * as sl from '/dist/index.js';
import { createPool, startWorker } from '/dist/workers/index.js';

export async function run({ config, inputShape }) {
  await sl.init();
  const model = sl.build(config, { inputShape, seed: 7 });
  const weights = sl.writeSafetensors(model.getWeights());
  const x = sl.randomSequence([1, 96, inputShape[0]], { randomLengths: false, seed: 4 });
  const blocks = [];
  for (let t = 0; t < x.time; t += 8) blocks.push(x.sliceTime(t, t + 8));
  const state = model.initialState(1);
  const local = sl.Sequence.concatenate(blocks.map((b) => model.step(b, state)));
  const diff = (a, b) => a.values.reduce((m, v, i) => Math.max(m, Math.abs(v - b.values[i])), 0);

  // One worker, weights transferred; one block, then three per round trip, then push/read.
  const worker = await startWorker({ config, inputShape, weights: weights.slice() });
  const s = await worker.open();
  const outs = [await s.process(blocks[0])];
  outs.push(...(await s.process(blocks.slice(1, 4))));
  for (const b of blocks.slice(4)) await s.push(b);
  for (let i = 4; i < blocks.length; i++) outs.push(...(await s.read()));
  const workerDiff = diff(sl.Sequence.concatenate(outs), local);

  let badInput = null;
  try {
    await s.process(sl.randomSequence([1, 4, inputShape[0] + 1]));
  } catch (e) {
    badInput = { isSeqLayersError: e instanceof sl.SeqLayersError, code: e.code, message: e.message };
  }

  // Per-call overhead: in-page step vs a round trip to the worker. performance.now() is coarse
  // in a page that is not cross-origin isolated, so time runs of calls and take the mean.
  const block = blocks[0];
  const time = async (n, f) => {
    for (let i = 0; i < 100; i++) await f();
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await f();
    return ((performance.now() - t0) * 1000) / n;
  };
  const st = model.initialState(1);
  const inPageUs = await time(1000, () => model.step(block, st));
  const roundTripUs = await time(1000, () => s.process(block));
  await worker.close();

  // A pool of two workers; one is terminated mid-stream and its stream resumes on the other.
  const pool = await createPool({ config, inputShape, weights, workers: 2 });
  const streams = await Promise.all([pool.open(), pool.open()]);
  const pooled = [[], []];
  for (const [i, st2] of streams.entries()) for (const b of blocks.slice(0, 5)) pooled[i].push(await st2.process(b));
  const inFlight = streams.map((st2) => Promise.all(blocks.slice(5, 8).map((b) => st2.push(b))));
  pool.workers[0].terminate();
  await Promise.all(inFlight);
  for (const st2 of streams) for (const b of blocks.slice(8)) await st2.push(b);
  for (const [i, st2] of streams.entries()) for (let k = 5; k < blocks.length; k++) pooled[i].push(...(await st2.read()));
  const poolDiff = Math.max(...pooled.map((o) => diff(sl.Sequence.concatenate(o), local)));
  const failures = streams.map((st2) => st2.failures.map((e) => e.code));
  await pool.close();

  return { workerDiff, badInput, inPageUs, roundTripUs, poolDiff, failures };
}
