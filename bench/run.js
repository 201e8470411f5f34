// `npm run bench [-- group ...]`: every benchmark group (or the named ones: gemm, overhead,
// streaming, throughput, coldstart) on both kernel builds and every anchor, in one process.
// Prints one table and writes bench/results.json; a run of every group also replaces the
// latest table in bench/README.md. Needs `npm run build` first (benchmarks run the built dist/).
import { readFileSync, writeFileSync } from 'node:fs';
import { ANCHOR_PACKAGES, loadAnchors } from './anchors/runtimes.js';
import { gemmRows } from './kernels/gemm.bench.js';
import { machine, runtimes, table, versions, writeResults } from './lib.js';
import { coldstartRows } from './models/coldstart.bench.js';
import { overheadRows } from './models/overhead.bench.js';
import { streamingRows } from './models/streaming.bench.js';
import { throughputRows } from './models/throughput.bench.js';

const GROUPS = { gemm: gemmRows, overhead: overheadRows, streaming: streamingRows, throughput: throughputRows, coldstart: coldstartRows };
const ANCHORS = ['onnxruntime-web', 'onnxruntime-node', 'tfjs-wasm'];

const asked = process.argv.slice(2);
for (const g of asked) if (!(g in GROUPS)) throw new Error(`unknown benchmark group ${JSON.stringify(g)}; groups: ${Object.keys(GROUPS).join(', ')}`);
const rts = await runtimes();
if (!rts.relaxed) console.warn('relaxed SIMD is not validated here: only the plain build runs (Node 20 needs --experimental-wasm-relaxed-simd)');
const { anchors, missing } = await loadAnchors();
for (const [name, why] of Object.entries(missing)) console.warn(`anchor ${name} skipped: ${why}`);
// BENCH_QUICK=1: a short smoke run that checks the harness and the anchors (rough numbers,
// printed only).
const timing = process.env.BENCH_QUICK ? { warmup: 0.05, rounds: 2, roundTime: 0.01, tailBudget: 0 } : undefined;
const ctx = { rts, anchors, timing };

const rows = [];
for (const [name, run] of Object.entries(GROUPS)) {
  if (asked.length && !asked.includes(name)) continue;
  console.error(`running ${name} ...`);
  rows.push(...(await run(ctx)));
}

const m = machine();
const v = versions(['benchmark', ...ANCHOR_PACKAGES]);
const heading = `${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.platform}, Node ${m.node} (V8 ${m.v8}), load average ${m.loadAverage.join(' ')} at the end`;
console.log(`\nseqlayers bench: ${heading}\n`);
const text = table(rows, ANCHORS);
if (!timing) writeResults({ machine: m, versions: v, groups: asked.length ? asked : Object.keys(GROUPS), missingAnchors: missing, rows, table: text });

// The latest complete run goes into bench/README.md, between its two markers.
if (!asked.length && !timing) {
  const readme = new URL('./README.md', import.meta.url);
  const [start, end] = ['<!-- results:start -->', '<!-- results:end -->'];
  const old = readFileSync(readme, 'utf8');
  const block = [start, '', `Machine: ${heading}.`, '', `Versions: ${Object.entries(v).map(([k, x]) => `${k} ${x}`).join(', ')}.`, '', text, '', end].join('\n');
  writeFileSync(readme, old.slice(0, old.indexOf(start)) + block + old.slice(old.indexOf(end) + end.length));
}
