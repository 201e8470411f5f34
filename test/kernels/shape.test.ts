// Tester of assembly/shape.ts (f32_reduce, f32_to_i32, i32_to_f32, mask_broadcast_f32,
// mask_from_f32, f32_argmax) against plain scalar references: sizes around the SIMD width (every n and
// inner below and around 4 and 8, odd sizes, enough to run every loop more than once),
// unaligned pointers, NaN and infinities; guard values around every output catch writes past
// the end. Runs on both builds (vitest projects).
import { beforeAll, describe, expect, it } from 'vitest';
import * as sl from '../../src/index.js';
import { seededRandom } from '../../src/util/hash.js';

let rt: sl.Runtime;
beforeAll(async () => {
  await sl.init();
  rt = sl.getRuntime();
});

const GUARD = 4; // guard words on each side of every buffer
const SENTINEL = -12345.5;

/** A buffer of `len` words at `offset` bytes past 16-byte alignment, guard words filled with SENTINEL. */
function place(len: number, offset: number) {
  const block = rt.heap.alloc((len + 2 * GUARD) * 4 + 32); // room to align to 16, then offset up to 12
  const ptr = ((block + 15) & ~15) + offset + GUARD * 4;
  rt.f32.fill(SENTINEL, (ptr >> 2) - GUARD, (ptr >> 2) + len + GUARD);
  return { block, ptr };
}

function expectGuards(ptr: number, len: number): void {
  const m = rt.f32, p = ptr >> 2;
  for (let g = 1; g <= GUARD; g++) {
    expect(m[p - g], 'guard before the output').toBe(SENTINEL);
    expect(m[p + len + g - 1], 'guard after the output').toBe(SENTINEL);
  }
}

const OPS = { sum: 0, mean: 1, max: 2, min: 3 } as const;

/** f64 reference of f32_reduce over x [outer, n, inner]. */
function reduceReference(op: keyof typeof OPS, outer: number, n: number, inner: number, x: Float32Array): Float64Array {
  const y = new Float64Array(outer * inner);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      let s = op === 'max' ? -Infinity : op === 'min' ? Infinity : 0;
      for (let k = 0; k < n; k++) {
        const v = x[(o * n + k) * inner + i]!;
        s = op === 'max' ? (Number.isNaN(v) || Number.isNaN(s) ? NaN : Math.max(s, v)) : op === 'min' ? (Number.isNaN(v) || Number.isNaN(s) ? NaN : Math.min(s, v)) : s + v;
      }
      y[o * inner + i] = op === 'mean' ? s / n : s;
    }
  }
  return y;
}

function runReduce(op: keyof typeof OPS, outer: number, n: number, inner: number, x: Float32Array, offset = 0): Float32Array {
  const bx = place(x.length, offset), by = place(outer * inner, offset);
  rt.f32.set(x, bx.ptr >> 2);
  rt.k.f32_reduce(OPS[op], outer, n, inner, bx.ptr, by.ptr);
  expectGuards(by.ptr, outer * inner);
  expect(rt.f32.slice(bx.ptr >> 2, (bx.ptr >> 2) + x.length), 'x untouched').toEqual(x);
  const y = rt.f32.slice(by.ptr >> 2, (by.ptr >> 2) + outer * inner);
  rt.heap.release(bx.block);
  rt.heap.release(by.block);
  return y;
}

describe('f32_reduce', () => {
  const sizes = [1, 2, 3, 4, 5, 7, 8, 9, 12, 13, 16, 17, 31];
  for (const op of Object.keys(OPS) as (keyof typeof OPS)[]) {
    it(`${op}: every n and inner around the tile, unaligned pointers`, () => {
      const random = seededRandom(OPS[op] + 1);
      for (const n of sizes) {
        for (const inner of [1, 2, 3, 4, 5, 8, 9]) {
          const outer = 3;
          const x = Float32Array.from({ length: outer * n * inner }, () => random() * 8 - 4);
          const want = reduceReference(op, outer, n, inner, x);
          const y = runReduce(op, outer, n, inner, x, ((n + inner) % 4) * 4);
          for (let i = 0; i < y.length; i++) {
            // Reassociated f32 sums: |error| <= n * 2^-24 * sum|x| (the kernel's doc), sum|x| <= 4n.
            const tol = op === 'max' || op === 'min' ? 0 : (n * 4 * n * 2 ** -24) / (op === 'mean' ? n : 1);
            expect(Math.abs(y[i]! - want[i]!), `n=${n} inner=${inner} output ${i}`).toBeLessThanOrEqual(tol);
          }
        }
      }
    });
  }

  it('propagates NaN, keeps infinities, and gives identities for n = 0', () => {
    for (const inner of [1, 5]) {
      const x = new Float32Array(9 * inner).fill(1);
      x[4 * inner] = NaN;
      x[inner - 1] = -Infinity; // the last column's first element
      expect(Number.isNaN(runReduce('max', 1, 9, inner, x)[0]!)).toBe(true);
      expect(Number.isNaN(runReduce('min', 1, 9, inner, x)[0]!)).toBe(true);
      expect(Number.isNaN(runReduce('sum', 1, 9, inner, x)[0]!)).toBe(true);
      expect(runReduce('min', 1, 9, inner, x)[inner - 1]).toBe(inner === 1 ? NaN : -Infinity);
    }
    expect([...runReduce('sum', 2, 0, 1, new Float32Array(0))]).toEqual([0, 0]);
    expect(Number.isNaN(runReduce('mean', 1, 0, 1, new Float32Array(0))[0]!)).toBe(true);
    expect([...runReduce('max', 1, 0, 3, new Float32Array(0))]).toEqual([-Infinity, -Infinity, -Infinity]);
    expect([...runReduce('min', 1, 0, 2, new Float32Array(0))]).toEqual([Infinity, Infinity]);
  });
});

describe('casts', () => {
  it('f32_to_i32 truncates toward zero and saturates, i32_to_f32 rounds to nearest', () => {
    for (const n of [1, 3, 4, 5, 8, 11]) {
      const specials = [2.9, -2.9, NaN, Infinity, -Infinity, 3e9, -3e9, 0.5, -0.5, 1e-30, 123456.7];
      const x = Float32Array.from({ length: n }, (_, i) => specials[i % specials.length]!);
      const bx = place(n, 4), by = place(n, 8);
      rt.f32.set(x, bx.ptr >> 2);
      rt.k.f32_to_i32(n, bx.ptr, by.ptr);
      expectGuards(by.ptr, n);
      const sat = (v: number) => (Number.isNaN(v) ? 0 : Math.max(-2147483648, Math.min(2147483647, Math.trunc(v))) + 0); // + 0: int32 has no -0
      expect([...rt.i32.slice(by.ptr >> 2, (by.ptr >> 2) + n)]).toEqual([...x].map(sat));

      const ints = Int32Array.from({ length: n }, (_, i) => [16777217, -16777219, 2147483647, -2147483648, 7][i % 5]!);
      rt.i32.set(ints, bx.ptr >> 2);
      rt.f32.fill(SENTINEL, by.ptr >> 2, (by.ptr >> 2) + n);
      rt.k.i32_to_f32(n, bx.ptr, by.ptr);
      expectGuards(by.ptr, n);
      expect([...rt.f32.slice(by.ptr >> 2, (by.ptr >> 2) + n)]).toEqual([...ints].map((v) => Math.fround(v)));
      rt.heap.release(bx.block);
      rt.heap.release(by.block);
    }
  });
});

describe('mask conversions', () => {
  it('mask_broadcast_f32 and mask_from_f32', () => {
    for (const n of [0, 1, 3, 4, 5, 9]) {
      const rows = 5;
      const mask = Uint8Array.from([1, 0, 1, 1, 0]);
      const bm = rt.heap.alloc(16);
      rt.u8.set(mask, bm);
      const by = place(rows * n, 4);
      rt.k.mask_broadcast_f32(rows, n, bm, by.ptr);
      expectGuards(by.ptr, rows * n);
      const y = rt.f32.slice(by.ptr >> 2, (by.ptr >> 2) + rows * n);
      expect([...y]).toEqual([...mask].flatMap((m) => Array(n).fill(m)));
      const x = Float32Array.from([0, -0, 1, NaN, -2, 0.5, 0]);
      rt.f32.set(x, by.ptr >> 2);
      rt.u8.fill(7, bm, bm + 9);
      rt.k.mask_from_f32(x.length, by.ptr, bm);
      expect([...rt.u8.slice(bm, bm + 9)]).toEqual([0, 0, 1, 1, 1, 1, 0, 7, 7]);
      rt.heap.release(bm);
      rt.heap.release(by.block);
    }
  });
});

/** numpy's argmax of one row: the first largest, a NaN (the first one) counting as the largest. */
function argmaxReference(row: Float32Array): number {
  const nan = row.findIndex((v) => Number.isNaN(v));
  if (nan >= 0) return nan;
  let at = 0;
  for (let i = 1; i < row.length; i++) if (row[i]! > row[at]!) at = i;
  return at;
}

describe('f32_argmax', () => {
  it('gives the first largest (a NaN first) on every row, for lengths around the vector loops', () => {
    const rand = seededRandom(11);
    for (const n of [...Array(21).keys()].map((i) => i + 1).concat([31, 32, 33, 100, 1000])) {
      const rows: Float32Array[] = [];
      const pick = (vs: number[]) => vs[Math.floor(rand() * vs.length)]!;
      for (let kind = 0; kind < 12; kind++) {
        // Few distinct values, so ties are common; then ±0, infinities and NaN at random places.
        const row = Float32Array.from({ length: n }, () => pick([-3, -1, 0, 2, 2.5]));
        if (kind === 1) row.fill(-Infinity);
        if (kind === 2) row.fill(0).forEach((_, i) => (row[i] = rand() < 0.5 ? -0 : 0));
        if (kind >= 3) for (let e = 0; e < 1 + (kind % 3); e++) row[Math.floor(rand() * n)] = pick([NaN, Infinity, -Infinity, 7, -0]);
        rows.push(row);
      }
      const bx = place(rows.length * n, 4), by = place(rows.length, 8);
      rows.forEach((row, r) => rt.f32.set(row, (bx.ptr >> 2) + r * n));
      rt.k.f32_argmax(rows.length, n, bx.ptr, by.ptr);
      expectGuards(by.ptr, rows.length);
      const got = new Int32Array(rt.f32.buffer, by.ptr, rows.length);
      rows.forEach((row, r) => expect(got[r], `n ${n}, row ${[...row]}`).toBe(argmaxReference(row)));
      rt.heap.release(bx.block);
      rt.heap.release(by.block);
    }
  });
});
