// Tester for the transform kernel (assembly/fft.ts) against a plain f64 DFT: every length 1..64
// (powers of two, the dense-matrix path below 64, odd and prime lengths) and longer ones (Stockham
// stages of radix 4, 5, 3 and 2 for 2^a 3^b 5^c, Bluestein for the others), forward and inverse; the real modes over every length 1..70
// and longer ones (even lengths take the half-length transform and split pass, whose half is
// itself a power of two, a dense matrix or Bluestein); then every mode with input and output
// placement (padding, trimming, centre offsets, bins past n/2), strided columns (inner > 1),
// windows, and guard values around the output.
//
// Tolerance (both builds): max |X - X_ref| <= 1e-6 * ||x||_2 (inverse: divided by sqrt(n), as the
// 1/n scale); measured worst 3.7e-7 for powers of two, 3.9e-7 for the dense matrix, 4.5e-7 for
// radix-3/5 stages and 5.8e-7 for Bluestein (see assembly/fft.ts).
import { beforeAll, describe, expect, it } from 'vitest';
import * as sl from '../../src/index.js';
import { seededRandom } from '../../src/util/hash.js';

let rt: sl.Runtime;
beforeAll(async () => {
  await sl.init();
  rt = sl.getRuntime();
});

const MODE = { forward: 0, inverse: 1, realForward: 2, realInverse: 3, realMagnitude: 4 } as const;
const GUARD = 0x7fc0beef; // a NaN payload no kernel produces
const GUARDS = 4;
const TOL = 1e-6;

/** X[k] = sum_j x[j] exp(-+2 pi i jk / n) (divided by n when inverse), in f64. */
function dft(re: Float64Array, im: Float64Array, inverse: boolean): [Float64Array, Float64Array] {
  const n = re.length;
  const outRe = new Float64Array(n), outIm = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    let sr = 0, si = 0;
    for (let j = 0; j < n; j++) {
      const a = ((inverse ? 2 : -2) * Math.PI * ((j * k) % n)) / n;
      sr += re[j]! * Math.cos(a) - im[j]! * Math.sin(a);
      si += re[j]! * Math.sin(a) + im[j]! * Math.cos(a);
    }
    outRe[k] = inverse ? sr / n : sr;
    outIm[k] = inverse ? si / n : si;
  }
  return [outRe, outIm];
}

/** A plan for length n in fresh heap memory; returns [plan, work] pointers and a release function. */
function makePlan(n: number): { plan: number; work: number; release: () => void } {
  const heap = rt.heap;
  const plan = heap.alloc(rt.k.f32_fft_plan_len(n) * 4);
  const scratchBytes = rt.k.f32_fft_plan_scratch_bytes(n);
  const scratch = scratchBytes ? heap.alloc(scratchBytes) : 0;
  rt.k.f32_fft_plan_init(n, plan, scratch);
  if (scratch) heap.release(scratch);
  const work = heap.alloc(rt.k.f32_fft_work_len(n) * 4);
  return { plan, work, release: () => (heap.release(plan), heap.release(work)) };
}

interface Run {
  n: number;
  mode: number;
  outer: number;
  inner: number;
  dIn: number;
  inOff: number;
  dOut: number;
  outOff: number;
  window: boolean;
  seed: number;
}

/**
 * Runs f32_fft on random input and compares every output with the f64 reference, built from
 * the kernel's documented placement rules. Returns a failure description or null.
 */
function check(r: Run): string | null {
  const { n, mode, outer, inner, dIn, inOff, dOut, outOff } = r;
  const random = seededRandom(r.seed);
  const realIn = mode === MODE.realForward || mode === MODE.realMagnitude;
  const realOut = mode === MODE.realInverse || mode === MODE.realMagnitude;
  const inverse = mode === MODE.inverse || mode === MODE.realInverse;
  const inW = realIn ? 1 : 2, outW = realOut ? 1 : 2;
  const xLen = outer * dIn * inner * inW, yLen = outer * dOut * inner * outW;
  const x = Float32Array.from({ length: xLen }, () => 2 * random() - 1);
  const winLen = inverse ? dOut : dIn;
  const win = Float32Array.from({ length: winLen }, () => random());
  const { plan, work, release } = makePlan(n);
  const heap = rt.heap;
  const px = heap.alloc(xLen * 4 + 16), pw = heap.alloc(winLen * 4 + 16);
  const pyBase = heap.alloc((yLen + 2 * GUARDS) * 4 + 16), py = pyBase + GUARDS * 4;
  try {
    rt.f32.set(x, px >> 2);
    rt.f32.set(win, pw >> 2);
    const dv = new DataView(rt.memory.buffer);
    for (let i = -GUARDS; i < yLen + GUARDS; i++) dv.setUint32(py + 4 * i, GUARD, true);
    rt.k.f32_fft(plan, mode, outer, inner, dIn, inOff, dOut, outOff, px, r.window ? pw : 0, py, work);
    const out = new DataView(rt.memory.buffer);
    for (let i = -GUARDS; i < 0; i++) if (out.getUint32(py + 4 * i, true) !== GUARD) return `guard ${i} before y overwritten`;
    for (let i = yLen; i < yLen + GUARDS; i++) if (out.getUint32(py + 4 * i, true) !== GUARD) return `guard ${i - yLen} after y overwritten`;
    const y = rt.f32.subarray(py >> 2, (py >> 2) + yLen);
    for (let o = 0; o < outer; o++) {
      for (let c = 0; c < inner; c++) {
        const at = (i: number) => ((o * dIn + i) * inner + c) * inW;
        const re = new Float64Array(n), im = new Float64Array(n);
        if (mode === MODE.realInverse) {
          // Hermitian extension of the first min(dIn, n/2 + 1) bins.
          for (let j = 0; j < n; j++) {
            const k = j <= n / 2 ? j : n - j;
            if (k >= Math.min(dIn, Math.floor(n / 2) + 1)) continue;
            re[j] = x[at(k)]!;
            im[j] = k === 0 || 2 * k === n ? 0 : (j > n / 2 ? -1 : 1) * x[at(k) + 1]!;
          }
        } else {
          for (let j = 0; j < n; j++) {
            const i = j - inOff;
            if (i < 0 || i >= dIn) continue;
            const w = r.window && !inverse ? win[i]! : 1;
            re[j] = x[at(i)]! * w;
            im[j] = realIn ? 0 : x[at(i) + 1]! * w;
          }
        }
        let norm = 0;
        for (let j = 0; j < n; j++) norm += re[j]! ** 2 + im[j]! ** 2;
        const [Re, Im] = dft(re, im, inverse);
        const tol = TOL * Math.sqrt(norm) * (inverse ? 1 / Math.sqrt(n) : 1) + 1e-30;
        for (let k = 0; k < dOut; k++) {
          const j = k + outOff;
          const w = r.window && inverse ? win[k]! : 1;
          let eRe = j >= 0 && j < n ? Re[j]! * w : 0, eIm = j >= 0 && j < n ? Im[j]! * w : 0;
          if (mode === MODE.realMagnitude) [eRe, eIm] = [Math.hypot(eRe, eIm), 0];
          const yi = ((o * dOut + k) * inner + c) * outW;
          const gRe = y[yi]!, gIm = realOut ? 0 : y[yi + 1]!;
          const err = Math.hypot(gRe - (realOut ? eRe : eRe), gIm - (realOut ? 0 : eIm));
          if (!(err <= tol * Math.max(1, w))) return `n=${n} mode=${mode} column (${o}, ${c}) output ${k}: got (${gRe}, ${gIm}), expected (${eRe}, ${eIm}), error ${err} > ${tol}`;
        }
      }
    }
    return null;
  } finally {
    heap.release(px);
    heap.release(pw);
    heap.release(pyBase);
    release();
  }
}

// Above 64: Stockham stages for 2^a 3^b 5^c (radix 4, 5, 3, 2; 150 and 243 start with a radix-5
// or radix-3 stage over single columns, odd strides), Bluestein for the others (65, 255).
const LENGTHS = [...Array.from({ length: 64 }, (_, i) => i + 1), 65, 96, 100, 128, 150, 243, 255, 256, 375, 400, 480, 1000, 1024];

describe('f32_fft against an f64 DFT', () => {
  it('forward and inverse complex transforms of every length 1..64 and longer smooth, prime-factor and power-of-two lengths', () => {
    for (const n of LENGTHS) {
      for (const mode of [MODE.forward, MODE.inverse]) {
        const failure = check({ n, mode, outer: 2, inner: 1, dIn: n, inOff: 0, dOut: n, outOff: 0, window: false, seed: n * 7 + mode });
        expect(failure).toBeNull();
      }
    }
  });

  it('real forward, real inverse and magnitude modes of every length 1..70 and longer even and odd lengths', () => {
    // Even n runs the half-length transform and the split pass (halves that are powers of two,
    // dense matrices up to n = 126, Stockham stages (100, 150, 200, 243, 500) or Bluestein (65, 127));
    // odd n the complex transform.
    for (const n of [...Array.from({ length: 70 }, (_, i) => i + 1), 100, 128, 130, 200, 254, 255, 256, 300, 400, 486, 512, 1000, 1024]) {
      const bins = Math.floor(n / 2) + 1;
      for (const [mode, dIn, dOut] of [[MODE.realForward, n, bins], [MODE.realMagnitude, n, bins], [MODE.realInverse, bins, n]] as const) {
        expect(check({ n, mode, outer: 3, inner: 1, dIn, inOff: 0, dOut, outOff: 0, window: false, seed: n })).toBeNull();
      }
    }
  });

  it('pads, trims and centres the input and output, with windows and strided columns', () => {
    const runs: Run[] = [];
    for (const n of [16, 31, 96, 130, 150]) {
      for (const [dIn, inOff] of [[n, 0], [n - 5, 2], [n - 5, 0], [n + 6, -3], [n + 6, 0]] as const) {
        for (const mode of [MODE.forward, MODE.realForward, MODE.realMagnitude]) {
          const dOut = mode === MODE.forward ? n : Math.floor(n / 2) + 1;
          runs.push({ n, mode, outer: 2, inner: 3, dIn, inOff, dOut, outOff: 0, window: true, seed: n + dIn });
        }
      }
      for (const [dOut, outOff] of [[n, 0], [n + 4, -2], [n + 4, 0], [n - 3, 1], [n - 3, 0]] as const) {
        runs.push({ n, mode: MODE.inverse, outer: 2, inner: 2, dIn: n, inOff: 0, dOut, outOff, window: true, seed: n + dOut });
        runs.push({ n, mode: MODE.realInverse, outer: 2, inner: 2, dIn: Math.floor(n / 2) + 1, inOff: 0, dOut, outOff, window: true, seed: dOut });
      }
      // RFFT bins past n/2 (the conjugate mirror) and before 0.
      runs.push({ n, mode: MODE.realForward, outer: 2, inner: 1, dIn: n, inOff: 0, dOut: n + 3, outOff: -2, window: false, seed: 5 });
      runs.push({ n, mode: MODE.realForward, outer: 1, inner: 2, dIn: n, inOff: 0, dOut: n - 1, outOff: 1, window: true, seed: 6 });
      // IRFFT with fewer bins than n/2 + 1 (zeros) and more (ignored); IFFT with a shorter or longer input (numpy's n).
      runs.push({ n, mode: MODE.realInverse, outer: 1, inner: 1, dIn: 3, inOff: 0, dOut: n, outOff: 0, window: false, seed: 1 });
      runs.push({ n, mode: MODE.realInverse, outer: 1, inner: 1, dIn: n, inOff: 0, dOut: n, outOff: 0, window: false, seed: 2 });
      runs.push({ n, mode: MODE.inverse, outer: 1, inner: 3, dIn: n - 4, inOff: 0, dOut: n, outOff: 0, window: false, seed: 3 });
      runs.push({ n, mode: MODE.inverse, outer: 1, inner: 3, dIn: n + 4, inOff: 0, dOut: n, outOff: 0, window: false, seed: 4 });
    }
    for (const r of runs) expect(check(r), JSON.stringify(r)).toBeNull();
  });

  it('plans: sizes and the recorded length', () => {
    for (const n of [1, 7, 64, 65, 1000]) {
      const { plan, release } = makePlan(n);
      expect(rt.k.f32_fft_plan_n(plan)).toBe(n);
      release();
    }
    // Powers of two and short lengths need no f64 scratch; Bluestein lengths do.
    expect([rt.k.f32_fft_plan_scratch_bytes(1024), rt.k.f32_fft_plan_scratch_bytes(63), rt.k.f32_fft_plan_scratch_bytes(65)]).toEqual([0, 0, 256 * 16]);
  });
});
