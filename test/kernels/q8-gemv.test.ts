// Tester for the int8 weight kernels (assembly/gemm/q8-gemv.ts), XNNPACK-style: a reference in
// f64 that quantises the same way (per-column weight scales max |col| / 127, per-row input
// scales max |row| / 32767, round half to even), sizes around the 32-column panel and the
// 512-row int32 block, stacked packings split between two inputs, unaligned pointers, and
// guards around y. The integer sums are exact, so the only rounding left is f32's in the block
// conversions and their sum: 1e-6 relative to the row's sum of |products| covers it.
import { beforeAll, describe, expect, it } from 'vitest';
import * as sl from '../../src/index.js';
import { seededRandom } from '../../src/util/hash.js';

let rt: sl.Runtime;
beforeAll(async () => {
  await sl.init();
  rt = sl.getRuntime();
});

const GUARD = 0x7fc0beef;
const f32 = Math.fround;
/** Round half to even, as f32.nearest. */
const rint = (v: number) => {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
};

/** Quantised row: int16 values and the scale q8_quantize uses. */
function quantizeRow(x: Float32Array): { q: number[]; s: number } {
  const s = f32(x.reduce((m, v) => Math.max(m, Math.abs(v)), 0) / 32767);
  return { q: Array.from(x, (v) => (s > 0 ? Math.max(-32767, Math.min(32767, rint(f32(v / s)))) : 0)), s };
}

/** Column scales of B [rows, n] (max |column| / 127, as f32) and its int8 values. */
function quantizeColumns(b: Float32Array, rows: number, n: number): { q: Int8Array; s: Float32Array } {
  const s = new Float32Array(n);
  for (let j = 0; j < n; j++) {
    let m = 0;
    for (let r = 0; r < rows; r++) m = Math.max(m, Math.abs(b[r * n + j]!));
    s[j] = f32(f32(m) / 127);
  }
  const q = new Int8Array(rows * n);
  for (let r = 0; r < rows; r++) for (let j = 0; j < n; j++) q[r * n + j] = s[j]! > 0 ? rint(f32(b[r * n + j]! / s[j]!)) : 0;
  return { q, s };
}

describe('q8_quantize', () => {
  it('matches the reference rounding, pads odd rows, and never traps on NaN or infinities', () => {
    const heap = rt.heap;
    const px = heap.alloc(64 * 4), pq = heap.alloc(66 * 2);
    try {
      for (const k of [1, 2, 7, 8, 9, 16, 33, 64]) {
        const random = seededRandom(k);
        const x = Float32Array.from({ length: k }, () => 8 * random() - 4);
        rt.f32.set(x, px >> 2);
        new Int16Array(rt.memory.buffer, pq, k + 1).fill(123);
        const s = rt.k.q8_quantize(k, px, pq);
        const want = quantizeRow(x);
        expect(s).toBe(want.s);
        expect(Array.from(new Int16Array(rt.memory.buffer, pq, k))).toEqual(want.q);
        if (k & 1) expect(new Int16Array(rt.memory.buffer, pq, k + 1)[k]).toBe(0);
      }
      rt.f32.fill(0, px >> 2, (px >> 2) + 9);
      expect(rt.k.q8_quantize(9, px, pq)).toBe(0);
      expect(Array.from(new Int16Array(rt.memory.buffer, pq, 10))).toEqual(new Array(10).fill(0));
      for (const bad of [NaN, Infinity, -Infinity]) {
        rt.f32[(px >> 2) + 3] = bad;
        rt.k.q8_quantize(9, px, pq); // garbage for this row, but no trap
      }
    } finally {
      heap.release(px);
      heap.release(pq);
    }
  });
});

describe('q8_gemv and q8_gemm', () => {
  // [W; U] stacked at rows 0 and round_up_even(k1), two inputs with their own scales, as the
  // LSTM step runs it; every n around the panel width, k across the 512-row int32 block.
  it('equal the f64 reference of the quantised product, two inputs, any n and k', () => {
    const heap = rt.heap, failures: string[] = [];
    let seed = 5;
    for (const n of [1, 3, 4, 5, 8, 27, 31, 32, 33, 60, 64, 65, 100]) {
      for (const [k1, k2] of [[1, 0], [2, 0], [7, 0], [3, 5], [16, 9], [255, 2], [256, 0], [300, 257], [511, 0], [512, 3], [600, 513]] as const) {
        const random = seededRandom(++seed), misalign = (seed % 4) * 4, guard = 4;
        const k1e = (k1 + 1) & ~1, rows = k1e + ((k2 + 1) & ~1);
        const b = Float32Array.from({ length: rows * n }, () => 2 * random() - 1);
        for (let r = k1; r < k1e; r++) for (let j = 0; j < n; j++) b[r * n + j] = 0; // the pad row
        const x1 = Float32Array.from({ length: k1 }, () => 6 * random() - 3);
        const x2 = Float32Array.from({ length: k2 }, () => 2 * random() - 1);
        const bias = Float32Array.from({ length: n }, () => random() - 0.5);
        const useBias = seed % 2 === 0;
        const { q, s } = quantizeColumns(b, rows, n);
        const pb = heap.alloc(rows * n * 4), ps = heap.alloc(n * 4), pbias = heap.alloc(n * 4), px = heap.alloc((k1 + k2) * 4 + 16);
        const packed = rt.k.q8_gemv_packed_len(rows, n), pp = heap.alloc(packed + 16) + misalign;
        const pq1 = heap.alloc(k1e * 2 + 16) + misalign, pq2 = heap.alloc(k2 * 2 + 18);
        const pyBase = heap.alloc((n + 2 * guard) * 4 + 16), py = pyBase + misalign + guard * 4;
        try {
          rt.f32.set(b, pb >> 2);
          rt.f32.set(bias, pbias >> 2);
          rt.f32.fill(0, ps >> 2, (ps >> 2) + n);
          rt.k.f32_column_absmax(k1, n, pb, n, ps);
          rt.k.f32_column_absmax(rows - k1, n, pb + k1 * n * 4, n, ps);
          for (let j = 0; j < n; j++) rt.f32[(ps >> 2) + j] = f32(rt.f32[(ps >> 2) + j]! / 127);
          expect(Array.from(rt.f32.subarray(ps >> 2, (ps >> 2) + n))).toEqual(Array.from(s));
          rt.k.mem_fill(pp, 0, packed);
          rt.k.q8_gemv_pack_b(rows, 0, k1, n, pb, n, ps, pp);
          rt.k.q8_gemv_pack_b(rows, k1e, k2, n, pb + k1e * n * 4, n, ps, pp);
          rt.f32.set(x1, px >> 2);
          rt.f32.set(x2, (px >> 2) + k1);
          const s1 = rt.k.q8_quantize(k1, px, pq1), s2 = k2 ? rt.k.q8_quantize(k2, px + k1 * 4, pq2) : 0;
          const dv = new DataView(rt.memory.buffer);
          for (let i = -guard; i < n + guard; i++) dv.setUint32(py + 4 * i, GUARD, true);
          rt.k.q8_gemv(n, rows, 0, k1, pq1, s1, k2, pq2, s2, pp, ps, useBias ? pbias : 0, py);

          const r1 = quantizeRow(x1), r2 = quantizeRow(x2);
          for (let i = -guard; i < n + guard; i++) {
            const got = dv.getFloat32(py + 4 * i, true);
            if (i < 0 || i >= n) {
              if (dv.getUint32(py + 4 * i, true) !== GUARD) failures.push(`n ${n}, k ${k1} + ${k2}: guard y[${i}] written`);
              continue;
            }
            let sum1 = 0, sum2 = 0, mag = 0;
            for (let r = 0; r < k1; r++) sum1 += r1.q[r]! * q[r * n + i]!;
            for (let r = 0; r < k2; r++) sum2 += r2.q[r]! * q[(k1e + r) * n + i]!;
            for (let r = 0; r < k1; r++) mag += Math.abs(r1.q[r]! * q[r * n + i]!) * r1.s;
            for (let r = 0; r < k2; r++) mag += Math.abs(r2.q[r]! * q[(k1e + r) * n + i]!) * r2.s;
            const want = s[i]! * (r1.s * sum1 + r2.s * sum2) + (useBias ? bias[i]! : 0);
            const tol = 1e-6 * (s[i]! * mag + Math.abs(want)) + 1e-30;
            if (!(Math.abs(got - want) <= tol)) {
              failures.push(`n ${n}, k ${k1} + ${k2}, bias ${useBias}: y[${i}] = ${got}, expected ${want} ± ${tol}`);
              break;
            }
          }
          if (k2 === 0) {
            // q8_gemm on two rows (the second one x1 again): each row equals q8_gemv's bits.
            const pa = heap.alloc(2 * k1 * 4), pc = heap.alloc(2 * n * 4), pqs = heap.alloc(k1e * 2);
            try {
              rt.f32.set(x1.map((v) => -v), pa >> 2);
              rt.f32.set(x1, (pa >> 2) + k1);
              rt.k.q8_gemm(2, n, k1, pa, k1, pqs, pp, ps, useBias ? pbias : 0, pc, n);
              const row1 = new Uint32Array(rt.memory.buffer, pc + n * 4, n), gemv = new Uint32Array(rt.memory.buffer, py, n);
              if (!row1.every((v, i) => v === gemv[i])) failures.push(`n ${n}, k ${k1}: q8_gemm's row differs from q8_gemv's bits`);
            } finally {
              for (const p of [pa, pc, pqs]) heap.release(p);
            }
          }
        } finally {
          for (const p of [pb, ps, pbias, px, pp - misalign, pq1 - misalign, pq2, pyBase]) heap.release(p);
        }
      }
    }
    expect(failures.slice(0, 3)).toEqual([]);
  });

  it('sums the largest products over whole 512-row blocks without int32 overflow', () => {
    // Every input +-1 (int16 32767) against every weight +-1 (int8 127): each block's sum is
    // 512 * 32767 * 127, within 1 % of 2^31; y = +-k, columns alternating in sign.
    const heap = rt.heap, n = 8, k = 1536;
    const b = Float32Array.from({ length: k * n }, (_, i) => (i % 2 ? -1 : 1));
    const pb = heap.alloc(k * n * 4), ps = heap.alloc(n * 4), px = heap.alloc(k * 4), pq = heap.alloc(k * 2), py = heap.alloc(n * 4);
    const pp = heap.alloc(rt.k.q8_gemv_packed_len(k, n));
    try {
      rt.f32.set(b, pb >> 2);
      rt.f32.fill(0, ps >> 2, (ps >> 2) + n);
      rt.k.f32_column_absmax(k, n, pb, n, ps);
      for (let j = 0; j < n; j++) rt.f32[(ps >> 2) + j] = f32(rt.f32[(ps >> 2) + j]! / 127);
      rt.k.mem_fill(pp, 0, rt.k.q8_gemv_packed_len(k, n));
      rt.k.q8_gemv_pack_b(k, 0, k, n, pb, n, ps, pp);
      for (const sign of [1, -1]) {
        rt.f32.fill(sign, px >> 2, (px >> 2) + k);
        rt.k.q8_gemv(n, k, 0, k, pq, rt.k.q8_quantize(k, px, pq), 0, 0, 0, pp, ps, 0, py);
        const y = Array.from(rt.f32.subarray(py >> 2, (py >> 2) + n));
        y.forEach((v, j) => expect(v / (sign * (j % 2 ? -k : k))).toBeCloseTo(1, 6));
      }
    } finally {
      for (const p of [pb, ps, px, pq, py, pp]) heap.release(p);
    }
  });

  it('stays within the weights’ rounding of the f32 product (the accuracy the README states)', () => {
    // One LSTM-sized product (1024 inputs, 2048 columns) from uniform weights and inputs: the
    // int8 result against f32, relative to the largest |y|.
    const heap = rt.heap, n = 2048, k = 1024, random = seededRandom(9);
    const b = Float32Array.from({ length: k * n }, () => 2 * random() - 1);
    const x = Float32Array.from({ length: k }, () => 2 * random() - 1);
    const pb = heap.alloc(k * n * 4), ps = heap.alloc(n * 4), px = heap.alloc(k * 4), pq = heap.alloc(k * 2), py = heap.alloc(n * 4);
    const pp = heap.alloc(rt.k.q8_gemv_packed_len(k, n));
    try {
      rt.f32.set(b, pb >> 2);
      rt.f32.set(x, px >> 2);
      rt.f32.fill(0, ps >> 2, (ps >> 2) + n);
      rt.k.f32_column_absmax(k, n, pb, n, ps);
      for (let j = 0; j < n; j++) rt.f32[(ps >> 2) + j] = f32(rt.f32[(ps >> 2) + j]! / 127);
      rt.k.q8_gemv_pack_b(k, 0, k, n, pb, n, ps, pp);
      rt.k.q8_gemv(n, k, 0, k, pq, rt.k.q8_quantize(k, px, pq), 0, 0, 0, pp, ps, 0, py);
      let err = 0, top = 0;
      for (let j = 0; j < n; j++) {
        let ref = 0;
        for (let r = 0; r < k; r++) ref += x[r]! * b[r * n + j]!;
        err = Math.max(err, Math.abs(rt.f32[(py >> 2) + j]! - ref));
        top = Math.max(top, Math.abs(ref));
      }
      expect(err / top).toBeGreaterThan(1e-4); // it is quantised
      expect(err / top).toBeLessThan(1e-2);
    } finally {
      for (const p of [pb, ps, px, pq, py, pp]) heap.release(p);
    }
  });
});
