// Shared benchmark helpers: the interleaved sampler (medians and tails per call), both kernel
// builds in one process, the machine and versions, and the table / results.json writers.
//
// Why our own sampler rather than benchmark.js's: benchmark.js runs one function to the end
// before the next, so on a shared or throttling machine two runtimes see different machines.
// compare() interleaves the contestants round by round, warms each up first (V8 starts
// functions in its baseline compiler and tiers up later), and keeps per-call times (or
// per-batch means for calls too short for the clock) so the tail is a tail, not a mean: a p99
// where there are P99_SAMPLES samples or more, otherwise only the maximum of the n taken.
// benchmark.js still names the platform in results.json.
import Benchmark from 'benchmark';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import * as sl from '../dist/index.js';

/** Runtimes for both builds: 'plain' (SIMD) and 'relaxed' (needs --experimental-wasm-relaxed-simd on Node 20). */
export async function runtimes() {
  const out = { plain: await sl.createRuntime({ build: 'simd' }) };
  if (sl.relaxedSimdSupported()) out.relaxed = await sl.createRuntime({ build: 'relaxed' });
  return out;
}

/** Calls shorter than this are timed in batches (performance.now() costs ~0.05 µs and has µs-level jitter). */
const MIN_SAMPLE_S = 4e-6;
/**
 * Fewest samples with a p99 below their maximum: the nearest-rank p99, sample ceil(0.99 n)
 * in ascending order, is the largest one for every n < 100.
 */
export const P99_SAMPLES = 100;

/**
 * Times contestants side by side. `contestants` maps a name to a function (sync, or async
 * returning a Promise, awaited per call). Each is warmed up for `warmup` seconds, then `rounds`
 * rounds run every contestant for about `roundTime` seconds each, in a rotating order; a
 * contestant whose calls are too long for P99_SAMPLES samples in that time gets more per round
 * when P99_SAMPLES of them take at most `tailBudget` seconds. Returns { name: { median, p99,
 * max, mean, samples, batch } } in seconds per call; p99 is undefined below P99_SAMPLES samples
 * (max is then the only tail); `batch` > 1 means each sample is the mean of that many
 * consecutive calls.
 */
export async function compare(contestants, { warmup = 0.4, rounds = 15, roundTime = 0.04, tailBudget = 1.5 } = {}) {
  const names = Object.keys(contestants);
  const plan = {};
  for (const name of names) {
    const fn = contestants[name];
    const isAsync = fn() instanceof Promise ? (await fn(), true) : false;
    // Warm-up, also measuring the cost of one call: at least `warmup` seconds and 50 calls
    // (V8 tiers a function up after enough calls), or 5 calls for calls longer than that.
    let calls = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < warmup * 1e3 || calls < (performance.now() - t0 > 4 * warmup * 1e3 ? 5 : 50)) {
      if (isAsync) await fn();
      else fn();
      calls++;
    }
    const perCall = (performance.now() - t0) / 1e3 / calls;
    const batch = Math.max(1, Math.ceil(MIN_SAMPLE_S / perCall));
    let perRound = Math.max(1, Math.round(roundTime / (perCall * batch)));
    const forP99 = Math.ceil(P99_SAMPLES / rounds);
    if (perRound < forP99 && forP99 * rounds * perCall * batch <= tailBudget) perRound = forP99;
    plan[name] = { fn, isAsync, batch, perRound, times: [] };
  }
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < names.length; i++) {
      const p = plan[names[(i + r) % names.length]];
      const { fn, batch, times } = p;
      if (p.isAsync) {
        for (let s = 0; s < p.perRound; s++) {
          const t = performance.now();
          for (let j = 0; j < batch; j++) await fn();
          times.push((performance.now() - t) / 1e3 / batch);
        }
      } else {
        for (let s = 0; s < p.perRound; s++) {
          const t = performance.now();
          for (let j = 0; j < batch; j++) fn();
          times.push((performance.now() - t) / 1e3 / batch);
        }
      }
    }
  }
  const out = {};
  for (const name of names) {
    const { times, batch } = plan[name];
    const sorted = Float64Array.from(times).sort();
    const n = sorted.length;
    out[name] = {
      median: sorted[n >> 1],
      p99: n >= P99_SAMPLES ? sorted[Math.ceil(0.99 * n) - 1] : undefined,
      max: sorted[n - 1],
      mean: sorted.reduce((a, b) => a + b, 0) / n,
      samples: n,
      batch,
    };
  }
  return out;
}

/** Largest |a - b| over two arrays, relative to max |b| (or absolute when b is all zero). */
export function relDiff(a, b) {
  let d = 0, m = 0;
  for (let i = 0; i < b.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  if (a.length !== b.length) return Infinity;
  return m > 0 ? d / m : d;
}

/** Deterministic values in [-1, 1) (a sine hash: no state, same on every runtime). */
export function pseudoRandom(n, seed = 1) {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const s = Math.sin((i + 1) * 12.9898 + seed * 78.233) * 43758.5453;
    v[i] = 2 * (s - Math.floor(s)) - 1;
  }
  return v;
}

export function machine() {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    v8: process.versions.v8,
    platform: `${os.platform()} ${os.arch()}`,
    description: Benchmark.platform.description,
    loadAverage: os.loadavg().map((l) => Math.round(l * 100) / 100),
  };
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

/**
 * A result in results.json, in µs (unit 'µs/call' or 'µs/step') from compare()'s seconds: the
 * median, the p99 where there are P99_SAMPLES samples or more, the maximum, how many samples,
 * and the batch when each sample is the mean of several calls.
 */
export const micros = (t) =>
  t && {
    median: round(t.median * 1e6),
    ...(t.p99 === undefined ? {} : { p99: round(t.p99 * 1e6) }),
    max: round(t.max * 1e6),
    samples: t.samples,
    ...(t.batch > 1 ? { batch: t.batch } : {}),
  };
export const round = (v, digits = 3) => (v === undefined || v === null ? v : Number(v.toPrecision(digits + 1)));

export const fmt = (v) => (v === undefined ? '-' : v >= 1000 ? `${(v / 1000).toFixed(2)} ms` : `${v.toFixed(v < 10 ? 2 : 1)} µs`);
const fmtRatio = (v) => (v === undefined ? '-' : `${v.toFixed(v < 10 ? 2 : 1)}×`);

/** Prints the rows as one Markdown table and returns the text. */
export function table(rows, anchorNames) {
  const short = (a) => a.replace('onnxruntime', 'ort');
  const head = ['workload', 'ours plain', 'ours relaxed', ...anchorNames.map(short), ...anchorNames.map((a) => `vs ${short(a)}`), 'rate, notes', 'target'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  // The tail: the p99, or with fewer than P99_SAMPLES samples the largest, as "max/n".
  const cell = (t) => (t ? `${fmt(t.median)} (${t.p99 === undefined ? `max/${t.samples} ${fmt(t.max)}` : `p99 ${fmt(t.p99)}`})` : '-');
  for (const r of rows) {
    const target = r.target ? `${r.target} ${r.met === undefined ? '' : r.met ? '✓' : '✗'}` : '';
    lines.push(
      `| ${[
        r.workload,
        cell(r.ours.plain),
        cell(r.ours.relaxed),
        ...anchorNames.map((a) => cell(r.anchors[a])),
        ...anchorNames.map((a) => fmtRatio(r.speedup[a])),
        [r.rate, r.notes].filter(Boolean).join('; '),
        target,
      ].join(' | ')} |`,
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
