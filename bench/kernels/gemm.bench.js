// f32 GEMM and GEMV (assembly/gemm/) on both builds, against limits measured in the same
// comparison: the madd peak loop of each build (f32_peak_madd) for GEMM, and the time to read
// the same packed weight bytes (f32_peak_read) for GEMV. Each GEMV shape runs twice: f32_gemm
// on its 8-column panels (a one-frame Conv1D's product) and f32_gemv on its own 28-column
// packing (the LSTM step, attention projections, every Dense one-row step). The target applies
// to the kernel the layers use for the shapes, f32_gemv. Then int8 weights (q8_gemv) against f32_gemv
// on the same weights, from cache-resident to memory-bound sizes. Shapes come from
// bench/shapes.json.
import { readFileSync } from 'node:fs';
import { compare, micros, pseudoRandom, round } from '../lib.js';

const SHAPES = JSON.parse(readFileSync(new URL('../shapes.json', import.meta.url)));
/** Peak-loop iterations per call (f32_peak_madd_flops() each: 64 plain, 96 relaxed), 20-35 µs per call. */
const PEAK_ITERS = 20_000;
/** Flops of one peak-loop call in the build `rt` runs. */
const peakFlops = (rt) => rt.k.f32_peak_madd_flops() * PEAK_ITERS;

/** A GEMM C[m, n] = A[m, k] · B[k, n] with B packed once (as Dense and Conv1D run it); returns { run, packedBytes, read, free }. */
function gemmCase(rt, m, n, k) {
  const { heap, k: kern } = rt;
  const packedLen = kern.f32_gemm_packed_len(k, n);
  const a = heap.alloc(m * k * 4), b = heap.alloc(k * n * 4), bp = heap.alloc(packedLen * 4), c = heap.alloc(m * n * 4);
  rt.f32.set(pseudoRandom(m * k, 1), a >> 2);
  rt.f32.set(pseudoRandom(k * n, 2), b >> 2);
  kern.f32_gemm_pack_b(k, n, b, n, bp);
  return {
    run: () => kern.f32_gemm(m, n, k, a, k, bp, c, n, 0, false),
    read: () => kern.f32_peak_read(packedLen, bp),
    packedBytes: packedLen * 4,
    free: () => [a, b, bp, c].forEach((p) => heap.release(p)),
  };
}

/** A GEMV y[n] = a[k] · B[k, n] with B packed for f32_gemv (as the LSTM step and attention projections run it). */
function gemvCase(rt, n, k) {
  const { heap, k: kern } = rt;
  const packedLen = kern.f32_gemv_packed_len(k, n);
  const a = heap.alloc(k * 4), b = heap.alloc(k * n * 4), bp = heap.alloc(packedLen * 4), y = heap.alloc(n * 4);
  rt.f32.set(pseudoRandom(k, 1), a >> 2);
  rt.f32.set(pseudoRandom(k * n, 2), b >> 2);
  kern.f32_gemv_pack_b(k, 0, k, n, b, n, bp);
  return {
    run: () => kern.f32_gemv(n, k, 0, k, a, 0, 0, bp, y, 0, false),
    read: () => kern.f32_peak_read(packedLen, bp),
    packedBytes: packedLen * 4,
    free: () => [a, b, bp, y].forEach((p) => heap.release(p)),
  };
}

/** The same product with int8 weights (q8_gemv, the layers' weightStorage 'int8'): input quantised per call, as a step runs it. */
function q8Case(rt, n, k) {
  const { heap, k: kern } = rt;
  const rows = (k + 1) & ~1, packedLen = kern.q8_gemv_packed_len(rows, n);
  const a = heap.alloc(k * 4), b = heap.alloc(k * n * 4), scales = heap.alloc(n * 4), xq = heap.alloc(rows * 2), bp = heap.alloc(packedLen), y = heap.alloc(n * 4);
  rt.f32.set(pseudoRandom(k, 1), a >> 2);
  rt.f32.set(pseudoRandom(k * n, 2), b >> 2);
  rt.f32.fill(0, scales >> 2, (scales >> 2) + n);
  kern.f32_column_absmax(k, n, b, n, scales);
  for (let j = 0; j < n; j++) rt.f32[(scales >> 2) + j] /= 127;
  kern.mem_fill(bp, 0, packedLen);
  kern.q8_gemv_pack_b(rows, 0, k, n, b, n, scales, bp);
  return {
    run: () => kern.q8_gemm(1, n, k, a, k, xq, bp, scales, 0, y, n),
    packedBytes: packedLen,
    free: () => [a, b, scales, xq, bp, y].forEach((p) => heap.release(p)),
  };
}

const gflops = (flops, t) => flops / t.median / 1e9;

export async function gemmRows(ctx) {
  const builds = Object.keys(ctx.rts);
  const rows = [];

  // The peak loops alone first: their row states what "% of peak" means below.
  const peaks = await compare(Object.fromEntries(builds.map((b) => [b, () => ctx.rts[b].k.f32_peak_madd(PEAK_ITERS)])), ctx.timing);
  rows.push({
    workload: 'WASM SIMD peak loop (madd chains with distinct products: plain 8 mul + 8 add, relaxed 12 FMA; 2 loads)',
    unit: 'µs/call',
    ours: Object.fromEntries(builds.map((b) => [b, { ...micros(peaks[b]), gflops: round(gflops(peakFlops(ctx.rts[b]), peaks[b])) }])),
    anchors: {},
    speedup: {},
    rate: builds.map((b) => `${b} ${gflops(peakFlops(ctx.rts[b]), peaks[b]).toFixed(1)} GFLOP/s`).join(', '),
  });

  for (const { shape: [m, n, k], from } of SHAPES.gemm) {
    const cases = Object.fromEntries(builds.map((b) => [b, gemmCase(ctx.rts[b], m, n, k)]));
    const contestants = {};
    for (const b of builds) {
      contestants[b] = cases[b].run;
      contestants[`${b} peak`] = () => ctx.rts[b].k.f32_peak_madd(PEAK_ITERS);
    }
    const t = await compare(contestants, ctx.timing);
    const flops = 2 * m * n * k;
    const g = Object.fromEntries(builds.map((b) => [b, gflops(flops, t[b])]));
    const pct = Object.fromEntries(builds.map((b) => [b, (100 * g[b]) / gflops(peakFlops(ctx.rts[b]), t[`${b} peak`])]));
    const gain = g.relaxed / g.plain;
    rows.push({
      workload: `GEMM ${m}×${n}×${k} (${from})`,
      unit: 'µs/call',
      ours: Object.fromEntries(builds.map((b) => [b, { ...micros(t[b]), gflops: round(g[b]), percentOfPeak: round(pct[b]) }])),
      anchors: {},
      speedup: {},
      rate: `${builds.map((b) => `${b} ${g[b].toFixed(1)} GFLOP/s = ${pct[b].toFixed(0)} % of peak`).join('; ')}${gain ? `; relaxed/plain ${gain.toFixed(2)}×` : ''}`,
      target: '≥95 % plain peak, ≥85 % relaxed peak, relaxed ≥1.2× plain',
      met: pct.plain >= 95 && (!ctx.rts.relaxed || (pct.relaxed >= 85 && gain >= 1.2)),
    });
    Object.values(cases).forEach((c) => c.free());
  }

  const gemvKernels = [
    ['f32_gemm', (rt, m, n, k) => gemmCase(rt, m, n, k)],
    ['f32_gemv', (rt, _m, n, k) => gemvCase(rt, n, k)],
  ];
  for (const [kernel, makeCase] of gemvKernels) for (const { shape: [m, n, k], from } of SHAPES.gemv) {
    const cases = Object.fromEntries(builds.map((b) => [b, makeCase(ctx.rts[b], m, n, k)]));
    const contestants = {};
    for (const b of builds) {
      contestants[b] = cases[b].run;
      contestants[`${b} read`] = cases[b].read;
    }
    const t = await compare(contestants, ctx.timing);
    const bytes = cases[builds[0]].packedBytes;
    const gbs = (x) => bytes / x.median / 1e9;
    const bound = Math.max(...builds.map((b) => gbs(t[`${b} read`])));
    const pct = Object.fromEntries(builds.map((b) => [b, (100 * gbs(t[b])) / bound]));
    rows.push({
      workload: `GEMV ${m}×${n}×${k} (${from}), ${kernel}`,
      unit: 'µs/call',
      ours: Object.fromEntries(builds.map((b) => [b, { ...micros(t[b]), gbPerSecond: round(gbs(t[b])), percentOfBound: round(pct[b]) }])),
      anchors: {},
      speedup: {},
      rate: `${builds.map((b) => `${b} ${gbs(t[b]).toFixed(1)} GB/s = ${pct[b].toFixed(0)} %`).join('; ')} of the ${bound.toFixed(1)} GB/s read bound (${(bytes / 2 ** 20).toFixed(1)} MiB)`,
      ...(kernel === 'f32_gemv' ? { target: '≥90 % of the read bound', met: Math.max(...Object.values(pct)) >= 90 } : {}),
    });
    Object.values(cases).forEach((c) => c.free());
  }

  // int8 weights against f32 on the same shapes, both builds interleaved in one comparison.
  for (const { shape: [m, n, k], from } of SHAPES.q8gemv) {
    const cases = {};
    for (const b of builds) {
      cases[b] = gemvCase(ctx.rts[b], n, k);
      cases[`${b} int8`] = q8Case(ctx.rts[b], n, k);
    }
    const t = await compare(Object.fromEntries(Object.entries(cases).map(([name, c]) => [name, c.run])), ctx.timing);
    const best = (suffix) => builds.reduce((x, b) => (t[`${b}${suffix}`].median < t[`${x}${suffix}`].median ? b : x));
    const bf = best(''), bq = best(' int8');
    const gw = (x) => (n * k) / x.median / 1e9;
    const gain = t[bf].median / t[`${bq} int8`].median;
    rows.push({
      workload: `GEMV ${m}×${n}×${k} (${from}), int8 weights (q8_gemv) vs f32_gemv`,
      unit: 'µs/call',
      ours: Object.fromEntries(builds.map((b) => [b, { ...micros(t[`${b} int8`]), gWeightsPerSecond: round(gw(t[`${b} int8`])), f32: micros(t[b]) }])),
      anchors: {},
      speedup: {},
      rate: `int8 ${gw(t[`${bq} int8`]).toFixed(1)} G weights/s (${(cases[`${bq} int8`].packedBytes / 2 ** 20).toFixed(2)} MiB) vs f32 ${gw(t[bf]).toFixed(1)} (${(cases[bf].packedBytes / 2 ** 20).toFixed(1)} MiB): ${gain.toFixed(2)}× (best build each)`,
    });
    Object.values(cases).forEach((c) => c.free());
  }
  return rows;
}
