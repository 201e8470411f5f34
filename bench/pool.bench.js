// `node bench/pool.bench.js`: throughput of a worker_threads pool serving many streams of the
// demo model (causal Conv1D x2 + Dense x2 over 80 features), 1 worker vs 2 workers.
// Each stream is 20 s of 10 ms frames pushed 20 frames per call; all streams run concurrently.
import os from 'node:os';
import * as sl from '../dist/index.js';
import { createPool } from '../dist/workers/node.js';
import { config, inputShape, signal } from '../examples/demo-model.js';

const STREAMS = 16;
const FRAMES = 2000;
const FRAMES_PER_PUSH = 20;
const ROUNDS = 5;

await sl.init();
const model = sl.build(config, { inputShape, seed: 0 });
const weights = sl.writeSafetensors(model.getWeights());
const x = signal(FRAMES);
const blocks = [];
for (let t = 0; t < FRAMES; t += FRAMES_PER_PUSH) blocks.push(x.sliceTime(t, t + FRAMES_PER_PUSH));

async function run(pool) {
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: STREAMS }, async () => {
      const s = await pool.open({ maxInFlight: 2 });
      for (const b of blocks) await s.push(b);
      for (const _ of blocks) await s.read();
      await s.close();
    }),
  );
  return (performance.now() - t0) / 1000;
}

console.log(`pool throughput on ${os.cpus()[0]?.model} (${os.availableParallelism()} cores), Node ${process.version}`);
console.log(`${STREAMS} concurrent streams x ${FRAMES} frames of ${inputShape[0]} features, ${FRAMES_PER_PUSH} frames per push\n`);
// Both pools stay up and their rounds alternate, so a busy machine slows both alike.
const pools = {};
for (const n of [1, 2]) pools[n] = await createPool({ config: model.toConfig(), inputShape, weights, workers: n });
const times = { 1: [], 2: [] };
for (const n of [1, 2]) await run(pools[n]); // warm-up
for (let r = 0; r < ROUNDS; r++) for (const n of [1, 2]) times[n].push(await run(pools[n]));
await Promise.all(Object.values(pools).map((p) => p.close()));

const rate = {};
for (const n of [1, 2]) {
  const sorted = times[n].sort((a, b) => a - b);
  const median = sorted[sorted.length >> 1];
  rate[n] = STREAMS / median;
  console.log(
    `${n} worker${n > 1 ? 's' : ' '}: ${rate[n].toFixed(1)} streams/s, ${((STREAMS * FRAMES) / median / 1000).toFixed(1)}k frames/s ` +
      `(median of ${ROUNDS}: ${median.toFixed(3)} s; best ${sorted[0].toFixed(3)} s)`,
  );
}
console.log(`speed-up 2 vs 1: ${(rate[2] / rate[1]).toFixed(2)}x (median rounds)`);
