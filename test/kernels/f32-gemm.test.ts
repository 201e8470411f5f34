// Tester for the packed GEMM kernels (assembly/gemm/), in the style of XNNPACK's
// gemm-microkernel-tester: a plain f64 reference, sizes around the tiles (5x8, 4x8, 2x16, 1x24), strides
// set to the next prime above the row length, rows of A that overlap (lda < k, as strided
// convolutions pass), unaligned pointers, and guard values around every output row. f32_gemv
// (GEMV packing) must equal f32_gemm's one-row result bit for bit.
//
// Tolerance (both builds): |got - ref| <= (k + 1) * 2^-23 * (|start| + sum_k |a * b|), twice the
// classical bound for k sequential rounded multiply-adds (gamma_{k+1} with u = 2^-24). The SIMD
// build rounds the product and the sum separately; the relaxed build may fuse them
// (relaxed_madd), which only lowers the error, so one bound serves both.
import { beforeAll, describe, expect, it } from 'vitest';
import * as sl from '../../src/index.js';
import { seededRandom } from '../../src/util/hash.js';

let rt: sl.Runtime;
beforeAll(async () => {
  await sl.init();
  rt = sl.getRuntime();
});

const GUARD = 0x7fc0beef; // a NaN payload no kernel produces
const isPrime = (v: number) => {
  for (let d = 2; d * d <= v; d++) if (v % d === 0) return false;
  return v >= 2;
};
/** Smallest prime > v (XNNPACK's next_prime, strictly above so a stride never equals the row). */
const nextPrime = (v: number) => {
  let p = v + 1;
  while (!isPrime(p)) p++;
  return p;
};

type GemmKernel = 'f32_gemm' | 'f32_gemm_2x16' | 'f32_gemm_1x24';

interface GemmCase {
  m: number;
  n: number;
  k: number;
  lda: number;
  ldc: number;
  bias: boolean;
  accumulate: boolean;
  /** Byte offset of A, C and the packed B from 16-byte alignment (0, 4, 8 or 12). */
  misalign: number;
}

/** Runs one case through `kernel` and returns a failure description, or null. */
function runCase(kernel: GemmKernel, c: GemmCase, seed: number): string | null {
  const { m, n, k, lda, ldc, misalign } = c;
  const random = seededRandom(seed);
  const rnd = () => 2 * random() - 1;
  const ldb = nextPrime(n);
  const aLen = (m - 1) * lda + k;
  const cLen = (m - 1) * ldc + n;
  const guard = 4; // guard floats before the first and after the last row
  const a = Float64Array.from({ length: aLen }, rnd);
  const b = Float64Array.from({ length: k * ldb }, rnd);
  const bias = Float64Array.from({ length: n }, rnd);
  const c0 = Float64Array.from({ length: cLen }, rnd);

  const packedLen = rt.k.f32_gemm_packed_len(k, n);
  const heap = rt.heap;
  const pa = heap.alloc(aLen * 4 + 16) + misalign;
  const pb = heap.alloc(k * ldb * 4);
  const pp = heap.alloc(packedLen * 4 + 16) + misalign;
  const pbias = heap.alloc(n * 4);
  const pcBase = heap.alloc((cLen + 2 * guard) * 4 + 16);
  const pc = pcBase + misalign + guard * 4;
  try {
    // A, C and the packed B may sit at unaligned addresses: write them through a DataView.
    const dv = new DataView(rt.memory.buffer);
    a.forEach((v, i) => dv.setFloat32(pa + 4 * i, v, true));
    rt.f32.set(b, pb >> 2);
    rt.f32.set(bias, pbias >> 2);
    for (let i = -guard; i < cLen + guard; i++) dv.setUint32(pc + 4 * i, GUARD, true);
    if (c.accumulate) {
      for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) dv.setFloat32(pc + 4 * (i * ldc + j), c0[i * ldc + j]!, true);
    }
    rt.k.f32_gemm_pack_b(k, n, pb, ldb, pp);
    rt.k[kernel](m, n, k, pa, lda, pp, pc, ldc, c.bias ? pbias : 0, c.accumulate);

    // Inputs are f32 in memory: the reference uses the rounded values.
    const f = (x: number) => Math.fround(x);
    for (let i = -guard; i < cLen + guard; i++) {
      const inside = i >= 0 && i < cLen && i % ldc < n;
      const bits = dv.getUint32(pc + 4 * i, true);
      if (inside) {
        const row = Math.floor(i / ldc), col = i % ldc;
        let ref = c.accumulate ? f(c0[i]!) : c.bias ? f(bias[col]!) : 0;
        let mag = Math.abs(ref);
        for (let kk = 0; kk < k; kk++) {
          const t = f(a[row * lda + kk]!) * f(b[kk * ldb + col]!);
          ref += t;
          mag += Math.abs(t);
        }
        const got = dv.getFloat32(pc + 4 * i, true);
        const tol = (k + 1) * 2 ** -23 * mag;
        if (!(Math.abs(got - ref) <= tol)) return `C[${row}, ${col}] = ${got}, reference ${ref} (tolerance ${tol})`;
      } else if (bits !== GUARD) {
        return `guard at offset ${i} of C (row stride ${ldc}) was overwritten`;
      }
    }
    return null;
  } finally {
    heap.release(pa - misalign);
    heap.release(pb);
    heap.release(pp - misalign);
    heap.release(pbias);
    heap.release(pcBase);
  }
}

// Up to 17 covers every partial panel below and just above two panels; 24 and 25 one 1x24 tile
// and a tail; 33, 41 and 49 run the 1x24 loop twice with a tail of 2, 0 and 1 panels.
const NS = [...Array.from({ length: 17 }, (_, i) => i + 1), 24, 25, 33, 41, 49];
const KS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 31, 64];

/** Every (n, k, bias, accumulate) for one m, with prime strides; returns the failures. */
function sweep(kernel: GemmKernel, m: number, stridedA: 'prime' | 'overlapping'): string[] {
  const failures: string[] = [];
  let seed = m * 1000;
  for (const n of NS) {
    for (const k of KS) {
      for (const [bias, accumulate] of [[false, false], [true, false], [false, true], [true, true]] as const) {
        const lda = stridedA === 'prime' ? nextPrime(k) : Math.max(1, k >> 1);
        const c: GemmCase = { m, n, k, lda, ldc: nextPrime(n), bias, accumulate, misalign: (seed % 4) * 4 };
        const err = runCase(kernel, c, ++seed);
        if (err) failures.push(`${JSON.stringify(c)}: ${err}`);
      }
    }
  }
  return failures;
}

describe('f32_gemm (5x8 tiles in the relaxed build, 4x8, then 2x16 for the rest)', () => {
  // Relaxed build: 5 and 10 are 5x8 only, 9 and 13 5x8 then 4x8, 6 and 7 4x8 then 2x16.
  for (const m of [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 13]) {
    it(`m = ${m}: every n, k, bias and accumulate, prime strides`, () => {
      expect(sweep('f32_gemm', m, 'prime').slice(0, 3)).toEqual([]);
    });
  }
  for (const m of [3, 5, 8, 9]) {
    it(`m = ${m}: rows of A overlap (lda = k / 2)`, () => {
      expect(sweep('f32_gemm', m, 'overlapping').slice(0, 3)).toEqual([]);
    });
  }
  it('m = 0 writes nothing', () => {
    const pc = rt.heap.alloc(16);
    rt.i32[pc >> 2] = GUARD;
    rt.k.f32_gemm(0, 9, 3, pc, 3, pc, pc, 9, 0, false);
    expect(rt.i32[pc >> 2]).toBe(GUARD);
    rt.heap.release(pc);
  });
});

describe('f32_gemm over several blocks of A (64 rows, 60 for 5x8, by 512 columns packed at a time)', () => {
  // Sizes that cross the row and depth blocks, with a depth tail that is not a multiple of 4
  // and a row count that leaves rows for the 2x16 tile (relaxed: 64 = 60 + 4, 68 = 60 + 8,
  // 133 = 125 + 8, 70 all 5x8); n <= 4 takes the narrow tiles (rows in the lanes: 4 and 2
  // quartets, then single quartets: 68 and 133 rows leave one, 84 leaves two).
  const cases: Array<[number, number, number]> = [[64, 9, 512], [68, 17, 513], [133, 11, 1030], [70, 25, 1027], [68, 1, 1030], [133, 2, 513], [84, 3, 1027], [133, 4, 600]];
  for (const [m, n, k] of cases) {
    it(`m = ${m}, n = ${n}, k = ${k}: bias and accumulate, prime and overlapping strides`, () => {
      const failures: string[] = [];
      let seed = m * n;
      for (const [bias, accumulate] of [[false, false], [true, false], [false, true], [true, true]] as const) {
        for (const lda of [nextPrime(k), k >> 1]) {
          const c: GemmCase = { m, n, k, lda, ldc: nextPrime(n), bias, accumulate, misalign: (seed % 4) * 4 };
          const err = runCase('f32_gemm', c, ++seed);
          if (err) failures.push(`${JSON.stringify(c)}: ${err}`);
        }
      }
      expect(failures.slice(0, 3)).toEqual([]);
    });
  }
});

describe('f32_gemm_2x16 (the few-rows path, called directly)', () => {
  for (let m = 1; m <= 5; m++) {
    it(`m = ${m}: every n, k, bias and accumulate`, () => {
      expect(sweep('f32_gemm_2x16', m, 'prime').slice(0, 3)).toEqual([]);
    });
  }
});

describe('f32_gemm_1x24 (the one-row path, called directly)', () => {
  for (let m = 1; m <= 3; m++) {
    it(`m = ${m}: every n, k, bias and accumulate`, () => {
      expect(sweep('f32_gemm_1x24', m, 'prime').slice(0, 3)).toEqual([]);
    });
  }
  it('rows of A overlap (lda = k / 2)', () => {
    expect(sweep('f32_gemm_1x24', 3, 'overlapping').slice(0, 3)).toEqual([]);
  });
});

describe('tiles agree bit for bit', () => {
  // Every tile sums start + a0*b0 + a1*b1 + ... in the same order, so a row of C does not
  // depend on how many rows were computed with it: step() (m = batch) equals layer() exactly.
  for (const [m, n, k] of [[11, 37, 29], [133, 19, 1030], [11, 3, 29], [133, 1, 1030], [70, 4, 600]] as const) it(`one call with m = ${m} equals ${m} calls with m = 1 and calls with m = 2 (k = ${k})`, () => {
    const random = seededRandom(7);
    const heap = rt.heap;
    const pa = heap.alloc(m * k * 4), pb = heap.alloc(k * n * 4), pbias = heap.alloc(n * 4);
    const pp = heap.alloc(rt.k.f32_gemm_packed_len(k, n) * 4);
    const pc1 = heap.alloc(m * n * 4), pc2 = heap.alloc(m * n * 4), pc3 = heap.alloc(m * n * 4);
    try {
      for (let i = 0; i < m * k; i++) rt.f32[(pa >> 2) + i] = 2 * random() - 1;
      for (let i = 0; i < k * n; i++) rt.f32[(pb >> 2) + i] = 2 * random() - 1;
      for (let i = 0; i < n; i++) rt.f32[(pbias >> 2) + i] = 2 * random() - 1;
      rt.k.f32_gemm_pack_b(k, n, pb, n, pp);
      rt.k.f32_gemm(m, n, k, pa, k, pp, pc1, n, pbias, false);
      for (let i = 0; i < m; i++) rt.k.f32_gemm(1, n, k, pa + i * k * 4, k, pp, pc2 + i * n * 4, n, pbias, false);
      for (let i = 0; i < m; i += 2) rt.k.f32_gemm(Math.min(2, m - i), n, k, pa + i * k * 4, k, pp, pc3 + i * n * 4, n, pbias, false);
      const c1 = rt.i32.slice(pc1 >> 2, (pc1 >> 2) + m * n);
      const c2 = rt.i32.slice(pc2 >> 2, (pc2 >> 2) + m * n);
      const c3 = rt.i32.slice(pc3 >> 2, (pc3 >> 2) + m * n);
      expect(c1).toEqual(c2);
      expect(c1).toEqual(c3);
    } finally {
      for (const p of [pa, pb, pbias, pp, pc1, pc2, pc3]) heap.release(p);
    }
  });
});

describe('f32_gemm_batch', () => {
  it('runs independent problems with their own A, B, bias and C offsets', () => {
    const batch = 3, m = 5, n = 11, k = 7;
    const lda = batch * k, ldc = batch * n; // the einsum layout [m, batch, k] -> [m, batch, n]
    const random = seededRandom(11);
    const rnd = () => 2 * random() - 1;
    const a = Float32Array.from({ length: m * lda }, rnd);
    const b = Float32Array.from({ length: batch * k * n }, rnd);
    const bias = Float32Array.from({ length: batch * n }, rnd);
    const packedLen = rt.k.f32_gemm_packed_len(k, n);
    const heap = rt.heap;
    const pa = heap.alloc(a.length * 4), pb = heap.alloc(b.length * 4), pbias = heap.alloc(bias.length * 4);
    const pp = heap.alloc(batch * packedLen * 4), pc = heap.alloc(m * ldc * 4);
    try {
      rt.f32.set(a, pa >> 2);
      rt.f32.set(b, pb >> 2);
      rt.f32.set(bias, pbias >> 2);
      for (let j = 0; j < batch; j++) rt.k.f32_gemm_pack_b(k, n, pb + j * k * n * 4, n, pp + j * packedLen * 4);
      rt.k.f32_gemm_batch(batch, m, n, k, pa, lda, k, pp, pc, ldc, n, pbias, false);
      const c = rt.f32.slice(pc >> 2, (pc >> 2) + m * ldc);
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < batch; j++) {
          for (let col = 0; col < n; col++) {
            let ref = bias[j * n + col]!, mag = Math.abs(ref);
            for (let kk = 0; kk < k; kk++) {
              const t = a[i * lda + j * k + kk]! * b[j * k * n + kk * n + col]!;
              ref += t;
              mag += Math.abs(t);
            }
            expect(Math.abs(c[i * ldc + j * n + col]! - ref)).toBeLessThanOrEqual((k + 1) * 2 ** -23 * mag);
          }
        }
      }
    } finally {
      for (const p of [pa, pb, pbias, pp, pc]) heap.release(p);
    }
  });
});

describe('f32_gemv (one row against the GEMV packing)', () => {
  // Rows [r0, r0 + k) of a packing with more rows around them, split between two A pointers (k1
  // rows of a1, then k2 of a2): equal bits to f32_gemm with m = 1 on the same rows and start
  // (which the sweeps above check against the f64 reference), guards around y untouched.
  it('every n, k split, row offset, bias and accumulate equals f32_gemm bit for bit', () => {
    const heap = rt.heap, failures: string[] = [];
    let seed = 77;
    for (const n of [...NS, 28, 29, 56, 57, 85]) {
      for (const k of [1, 2, 7, 16, 31]) {
        for (const k1 of new Set([k, k >> 1, k - 1].filter((v) => v >= 0))) {
          for (const [bias, accumulate] of [[false, false], [true, false], [false, true], [true, true]] as const) {
            const random = seededRandom(++seed), misalign = (seed % 4) * 4;
            const r0 = seed % 3, rows = r0 + k + 2, ldb = nextPrime(n), guard = 4;
            const pa = heap.alloc(k * 4 + 16), pa2 = heap.alloc(k * 4 + 16) + misalign, pb = heap.alloc(rows * ldb * 4), pbias = heap.alloc(n * 4);
            const pg = heap.alloc(rt.k.f32_gemm_packed_len(k, n) * 4), pv = heap.alloc(rt.k.f32_gemv_packed_len(rows, n) * 4 + 16) + misalign;
            const pref = heap.alloc(n * 4), pyBase = heap.alloc((n + 2 * guard) * 4 + 16), py = pyBase + misalign + guard * 4;
            try {
              const dv = new DataView(rt.memory.buffer);
              for (let i = 0; i < k; i++) rt.f32[(pa >> 2) + i] = 2 * random() - 1;
              for (let i = 0; i < k - k1; i++) dv.setFloat32(pa2 + 4 * i, rt.f32[(pa >> 2) + k1 + i]!, true);
              for (let i = 0; i < rows * ldb; i++) rt.f32[(pb >> 2) + i] = 2 * random() - 1;
              for (let i = 0; i < n; i++) rt.f32[(pbias >> 2) + i] = 2 * random() - 1;
              for (let i = -guard; i < n + guard; i++) dv.setUint32(py + 4 * i, GUARD, true);
              for (let i = 0; i < n; i++) {
                rt.f32[(pref >> 2) + i] = 2 * random() - 1;
                if (accumulate) dv.setFloat32(py + 4 * i, rt.f32[(pref >> 2) + i]!, true);
              }
              // Stacked in two calls, as an LSTM packs [W; U].
              rt.k.f32_gemv_pack_b(rows, 0, r0 + 1, n, pb, ldb, pv);
              rt.k.f32_gemv_pack_b(rows, r0 + 1, rows - r0 - 1, n, pb + (r0 + 1) * ldb * 4, ldb, pv);
              rt.k.f32_gemm_pack_b(k, n, pb + r0 * ldb * 4, ldb, pg);
              rt.k.f32_gemm(1, n, k, pa, k, pg, pref, n, bias ? pbias : 0, accumulate);
              rt.k.f32_gemv(n, rows, r0, k1, pa, k - k1, pa2, pv, py, bias ? pbias : 0, accumulate);
              for (let i = -guard; i < n + guard; i++) {
                const got = dv.getUint32(py + 4 * i, true);
                const want = i >= 0 && i < n ? rt.i32[(pref >> 2) + i]! >>> 0 : GUARD;
                if (got !== want) {
                  failures.push(`n ${n}, k ${k} = ${k1} + ${k - k1}, r0 ${r0}, bias ${bias}, accumulate ${accumulate}: y[${i}] bits ${got}, expected ${want}`);
                  break;
                }
              }
            } finally {
              for (const p of [pa, pa2 - misalign, pb, pbias, pg, pv - misalign, pref, pyBase]) heap.release(p);
            }
          }
        }
      }
    }
    expect(failures.slice(0, 3)).toEqual([]);
  });
});

describe('one-row sweeps over the same matrix alternate direction (tile.ts nextSweepBackward)', () => {
  // After a sweep of another matrix the next is forward, then back, then forward again: every
  // panel computes its own columns whole, so all three must give the same bits. n covers a
  // last group of 1 and 2 panels (f32_gemm's 1x24) and a narrow last panel (f32_gemv's 28).
  const k = 31;
  for (const n of [33, 41, 49, 57, 85]) {
    it(`n = ${n}: f32_gemm (m = 1) and f32_gemv, forward, backward, forward`, () => {
      const random = seededRandom(n), heap = rt.heap;
      const pa = heap.alloc(k * 4), pb = heap.alloc(k * n * 4), pbias = heap.alloc(n * 4);
      const pg = heap.alloc(rt.k.f32_gemm_packed_len(k, n) * 4), pv = heap.alloc(rt.k.f32_gemv_packed_len(k, n) * 4);
      const other = heap.alloc(rt.k.f32_gemv_packed_len(k, n) * 4), py = heap.alloc(n * 4);
      try {
        for (let i = 0; i < k; i++) rt.f32[(pa >> 2) + i] = 2 * random() - 1;
        for (let i = 0; i < k * n; i++) rt.f32[(pb >> 2) + i] = 2 * random() - 1;
        for (let i = 0; i < n; i++) rt.f32[(pbias >> 2) + i] = 2 * random() - 1;
        rt.k.f32_gemm_pack_b(k, n, pb, n, pg);
        rt.k.f32_gemv_pack_b(k, 0, k, n, pb, n, pv);
        rt.k.f32_gemv_pack_b(k, 0, k, n, pb, n, other);
        const run = (f: () => void) => {
          rt.i32.fill(GUARD, py >> 2, (py >> 2) + n);
          f();
          return rt.i32.slice(py >> 2, (py >> 2) + n);
        };
        const gemm = () => rt.k.f32_gemm(1, n, k, pa, k, pg, py, n, pbias, false);
        const gemv = () => rt.k.f32_gemv(n, k, 0, k, pa, 0, 0, pv, py, pbias, false);
        const elsewhere = () => rt.k.f32_gemv(n, k, 0, k, pa, 0, 0, other, py, 0, false);
        run(elsewhere);
        const want = run(gemm);
        expect([run(gemm), run(gemm)]).toEqual([want, want]);
        run(elsewhere);
        expect([run(gemv), run(gemv), run(gemv)]).toEqual([want, want, want]);
      } finally {
        for (const p of [pa, pb, pbias, pg, pv, other, py]) heap.release(p);
      }
    });
  }
});
