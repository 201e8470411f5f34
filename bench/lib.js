// Shared benchmark helpers: benchmark.js for sampling, medians and p99 from its samples,
// both kernel builds in one process, and the table / results.json writers.
import Benchmark from 'benchmark';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import * as sl from '../dist/index.js';

/** Runtimes for every build this host can run (relaxed needs --experimental-wasm-relaxed-simd on Node 20). */
export async function runtimes() {
  const out = { simd: await sl.createRuntime({ build: 'simd' }) };
  if (sl.relaxedSimdSupported()) out.relaxed = await sl.createRuntime({ build: 'relaxed' });
  return out;
}

/**
 * Times fn with benchmark.js and returns seconds per call: median, p99 and mean over its
 * samples (each sample averages many calls, so p99 here is of sample means).
 */
export function measure(name, fn, { minSamples = 20, maxTime = 1.5 } = {}) {
  let result;
  const bench = new Benchmark(name, fn, { minSamples, maxTime, initCount: 10 });
  bench.on('complete', () => (result = bench));
  bench.run({ async: false });
  if (bench.error) throw bench.error;
  const sample = [...result.stats.sample].sort((a, b) => a - b);
  const q = (p) => sample[Math.min(sample.length - 1, Math.floor(p * sample.length))];
  return { median: q(0.5), p99: q(0.99), mean: result.stats.mean, samples: sample.length };
}

/**
 * Times single calls (for per-step latency tails): warms up, then records `n` individual
 * call times with performance.now() resolution aggregated in batches of `batch` calls.
 */
export function latency(fn, { n = 2000, batch = 1, warmup = 500 } = {}) {
  for (let i = 0; i < warmup; i++) fn();
  const t = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    for (let j = 0; j < batch; j++) fn();
    t[i] = (performance.now() - t0) / 1000 / batch;
  }
  t.sort();
  return { median: t[n >> 1], p99: t[Math.floor(0.99 * n)], samples: n };
}

export function machine() {
  const cpus = os.cpus();
  return { cpu: cpus[0]?.model ?? 'unknown', cores: cpus.length, node: process.version, platform: `${os.platform()} ${os.arch()}` };
}

export function versions(names) {
  const out = { seqlayers: JSON.parse(readFileSync(new URL('../package.json', import.meta.url))).version };
  for (const n of names) {
    try {
      out[n] = JSON.parse(readFileSync(new URL(`../node_modules/${n}/package.json`, import.meta.url))).version;
    } catch {
      out[n] = 'not installed';
    }
  }
  return out;
}

const fmtTime = (s) => (s === undefined ? '-' : s < 1e-3 ? `${(s * 1e6).toFixed(2)} µs` : `${(s * 1e3).toFixed(3)} ms`);

/** Prints rows as a Markdown table and returns the text. */
export function table(rows) {
  const head = ['workload', 'seqlayers simd', 'seqlayers relaxed', 'GFLOP/s (best)', '% of peak', 'notes'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const r of rows) {
    lines.push(
      `| ${r.workload} | ${fmtTime(r.ours.simd?.median)} | ${fmtTime(r.ours.relaxed?.median)} | ${r.gflops?.toFixed(1) ?? '-'} | ${r.percentOfPeak !== undefined ? r.percentOfPeak.toFixed(0) + ' %' : '-'} | ${r.notes ?? ''} |`,
    );
  }
  const text = lines.join('\n');
  console.log(text);
  return text;
}

export function writeResults(results) {
  writeFileSync(new URL('./results.json', import.meta.url), JSON.stringify(results, null, 2) + '\n');
}

export { sl };
