// `npm run bench:pool`: a worker_threads pool serving 16 concurrent streams of the demo model
// (causal Conv1D x2 + Dense x2 over 80 features), with 1 and 2 workers, pushes of 20 frames
// and of one frame (a live stream pushing each frame as it comes). Per push: the wall time
// (all streams' pushes over the round's time), the CPU time of every thread of the process,
// and the same blocks stepped in this thread for comparison. Snapshots as the default
// (snapshotEvery 'auto') takes them. Medians of 5 rounds.
import os from 'node:os';
import * as sl from '../dist/index.js';
import { createPool } from '../dist/workers/node.js';
import { config, inputShape, signal } from '../examples/demo-model.js';

const STREAMS = 16;
const FRAMES = 2000;
const ROUNDS = 5;

await sl.init();
const model = sl.build(config, { inputShape, seed: 0 });
const weights = sl.writeSafetensors(model.getWeights());
const x = signal(FRAMES);
const median = (a) => a.sort((p, q) => p - q)[a.length >> 1];

/** Every stream's blocks through one state after another in this thread: µs per push. */
function inThread(blocks) {
  const times = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = performance.now();
    for (let s = 0; s < STREAMS; s++) {
      const state = model.initialState(1);
      for (const b of blocks) model.step(b, state);
      state.dispose();
    }
    times.push(performance.now() - t0);
  }
  return (median(times) * 1e3) / (STREAMS * blocks.length);
}

/** All streams at once through the pool: µs of wall and of CPU per push. */
async function throughPool(pool, blocks) {
  const round = () =>
    Promise.all(
      Array.from({ length: STREAMS }, async () => {
        const s = await pool.open({ maxInFlight: 2 });
        for (const b of blocks) await s.push(b);
        for (const _ of blocks) await s.read();
        await s.close();
      }),
    );
  await round(); // warm-up
  const wall = [], cpu = [];
  for (let r = 0; r < ROUNDS; r++) {
    const c0 = process.cpuUsage(), t0 = performance.now();
    await round();
    const c = process.cpuUsage(c0);
    wall.push(performance.now() - t0);
    cpu.push((c.user + c.system) / 1e3);
  }
  const pushes = STREAMS * blocks.length;
  return { wall: (median(wall) * 1e3) / pushes, cpu: (median(cpu) * 1e3) / pushes };
}

console.log(`pool on ${os.cpus()[0]?.model} (${os.availableParallelism()} cores), Node ${process.version}, kernels: ${sl.getRuntime().build}`);
console.log(`${STREAMS} concurrent streams x ${FRAMES} frames of ${inputShape[0]} features, maxInFlight 2, snapshots 'auto'\n`);
console.log('frames per push | workers | µs per push: wall | CPU (all threads) | this thread, stepped | frames/s');
const pools = {};
for (const n of [1, 2]) pools[n] = await createPool({ config: model.toConfig(), inputShape, weights, workers: n });
for (const framesPerPush of [20, 1]) {
  const blocks = [];
  for (let t = 0; t < FRAMES; t += framesPerPush) blocks.push(x.sliceTime(t, t + framesPerPush));
  const own = inThread(blocks);
  for (const n of [1, 2]) {
    const { wall, cpu } = await throughPool(pools[n], blocks);
    const rate = (framesPerPush / wall) * 1e6;
    console.log(`${String(framesPerPush).padStart(15)} | ${String(n).padStart(7)} | ${wall.toFixed(1).padStart(17)} | ${cpu.toFixed(1).padStart(17)} | ${own.toFixed(1).padStart(20)} | ${(rate / 1e3).toFixed(1)}k`);
  }
}
await Promise.all(Object.values(pools).map((p) => p.close()));
