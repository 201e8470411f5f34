// `npm run bench`: kernels and models, both builds, in one run. Writes bench/results.json.
import { gemm, peak } from './kernels/gemm.bench.js';
import { machine, runtimes, sl, table, versions, writeResults, measure } from './lib.js';
import { config, inputShape, signal } from '../examples/demo-model.js';

const rts = await runtimes();
const rows = [];
const peaks = {};
for (const [build, rt] of Object.entries(rts)) peaks[build] = peak(rt);
rows.push({
  workload: 'WASM SIMD peak loop (madd)',
  unit: 's/call',
  ours: Object.fromEntries(Object.entries(peaks).map(([b, p]) => [b, p])),
  gflops: Math.max(...Object.values(peaks).map((p) => p.gflops)),
  notes: Object.entries(peaks).map(([b, p]) => `${b} ${p.gflops.toFixed(1)} GFLOP/s`).join(', '),
});

for (const [m, n, k] of [[512, 512, 512], [1, 512, 512]]) {
  const ours = {};
  for (const [build, rt] of Object.entries(rts)) ours[build] = gemm(rt, m, n, k);
  const best = Object.entries(ours).reduce((a, b) => (b[1].gflops > a[1].gflops ? b : a));
  rows.push({
    workload: `${m === 1 ? 'GEMV' : 'GEMM'} ${m}x${n}x${k}`,
    unit: 's/call',
    ours,
    gflops: best[1].gflops,
    percentOfPeak: (100 * best[1].gflops) / peaks[best[0]].gflops,
    notes: Object.entries(ours).map(([b, r]) => `${b} ${r.gflops.toFixed(1)} GFLOP/s = ${((100 * r.gflops) / peaks[b].gflops).toFixed(0)} % of ${b} peak`).join('; '),
  });
}

{
  const ours = {};
  for (const [build, rt] of Object.entries(rts)) {
    const model = sl.build(config, { inputShape, runtime: rt });
    const state = model.initialState(1);
    const x = signal(model.blockSize);
    const out = { values: new Float32Array(model.outputShape()[0] * model.blockSize), mask: new Uint8Array(model.blockSize) };
    ours[build] = measure(`demo step ${build}`, () => model.stepInto(x, state, out));
  }
  rows.push({ workload: 'demo model step (1 frame, stepInto)', unit: 's/step', ours });
}

console.log(`\nseqlayers bench on ${machine().cpu}, Node ${process.version}\n`);
const text = table(rows);
writeResults({ machine: machine(), versions: versions(['benchmark']), rows, table: text });
