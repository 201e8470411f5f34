// Tester of assembly/norm.ts (f32_layernorm, f32_rmsnorm) against a scalar f64 reference:
// row lengths around the SIMD width, strided groups (inner > 1, partial lanes), unaligned
// pointers, in place, absent scale/bias, constant rows, large offsets, NaN rows; guard values
// around every output catch writes past the end. Runs on both builds (vitest projects).
import { beforeAll, describe, expect, it } from 'vitest';
import * as sl from '../../src/index.js';
import { seededRandom } from '../../src/util/hash.js';

let rt: sl.Runtime;
beforeAll(async () => {
  await sl.init();
  rt = sl.getRuntime();
});

type Kind = 'layer' | 'rms';

/** Plain f64 reference over x [rows, n, inner]; scale/bias [n] or null. */
function reference(kind: Kind, rows: number, n: number, inner: number, x: ArrayLike<number>, scale: ArrayLike<number> | null, bias: ArrayLike<number> | null, eps: number): Float64Array {
  const y = new Float64Array(rows * n * inner);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < inner; i++) {
      const at = (k: number) => (r * n + k) * inner + i;
      let mean = 0;
      if (kind === 'layer') {
        for (let k = 0; k < n; k++) mean += x[at(k)]!;
        mean /= n;
      }
      let ss = 0;
      for (let k = 0; k < n; k++) ss += (x[at(k)]! - mean) ** 2;
      const rstd = 1 / Math.sqrt(ss / n + eps);
      for (let k = 0; k < n; k++) y[at(k)] = (x[at(k)]! - mean) * rstd * (scale ? scale[k]! : 1) + (bias ? bias[k]! : 0);
    }
  }
  return y;
}

const GUARD = 4; // guard floats on each side of every buffer
const SENTINEL = -12345.5;

interface RunOptions {
  scale?: boolean;
  bias?: boolean;
  /** Byte offset of every pointer from 16-byte alignment (0, 4, 8, 12). */
  offset?: number;
  inPlace?: boolean;
  eps?: number;
}

/** Copies x (and random scale/bias) into memory, runs the kernel, checks guards, returns y. */
function runKernel(kind: Kind, rows: number, n: number, inner: number, x: Float32Array, o: RunOptions = {}) {
  const random = seededRandom(n * 131 + inner);
  const size = rows * n * inner;
  const eps = o.eps ?? 1e-6;
  const scale = o.scale ? Float32Array.from({ length: n }, () => 0.5 + random()) : null;
  const bias = o.bias && kind === 'layer' ? Float32Array.from({ length: n }, () => random() - 0.5) : null;
  const off = o.offset ?? 0;
  const place = (len: number) => {
    const block = rt.heap.alloc((len + 2 * GUARD) * 4 + 16);
    return { block, ptr: block + off + GUARD * 4 };
  };
  const bx = place(size), by = o.inPlace ? bx : place(size), bs = place(n), bb = place(n);
  const f32 = () => rt.f32;
  for (const b of new Set([bx, by])) f32().fill(SENTINEL, (b.ptr >> 2) - GUARD, (b.ptr >> 2) + size + GUARD);
  f32().set(x, bx.ptr >> 2);
  if (scale) f32().set(scale, bs.ptr >> 2);
  if (bias) f32().set(bias, bb.ptr >> 2);
  const sp = scale ? bs.ptr : 0, bp = bias ? bb.ptr : 0;
  if (kind === 'layer') rt.k.f32_layernorm(rows, n, inner, bx.ptr, sp, bp, eps, by.ptr);
  else rt.k.f32_rmsnorm(rows, n, inner, bx.ptr, sp, eps, by.ptr);
  const m = f32(), p = by.ptr >> 2;
  for (let g = 1; g <= GUARD; g++) {
    expect(m[p - g], 'guard before y').toBe(SENTINEL);
    expect(m[p + size + g - 1], 'guard after y').toBe(SENTINEL);
  }
  const y = m.slice(p, p + size);
  if (!o.inPlace) expect(m.slice(bx.ptr >> 2, (bx.ptr >> 2) + size), 'x untouched').toEqual(x);
  for (const b of new Set([bx, by, bs, bb])) rt.heap.release(b.block);
  return { y, want: reference(kind, rows, n, inner, x, scale, bias, eps) };
}

function expectClose(y: Float32Array, want: Float64Array, tol: number, what: string) {
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(y[i]! - want[i]!);
    if (!(err <= tol * (1 + Math.abs(want[i]!)))) expect.fail(`${what}: element ${i} is ${y[i]}, reference ${want[i]} (error ${err})`);
  }
}

function gaussian(len: number, seed: number, mean = 0, std = 1): Float32Array {
  const g = sl.normal(seededRandom(seed));
  return Float32Array.from({ length: len }, () => mean + std * g());
}

/** Error bound, |y - ref| <= TOL * (1 + |ref|); measured max 5.6e-7 on both builds (the offset case 1.5e-7). */
const TOL = 1e-6;
const LENGTHS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 17, 64, 127];
const INNERS = [1, 2, 3, 4, 5, 7, 9];

describe.each(['layer', 'rms'] as const)('f32_%snorm', (kind) => {
  it('matches the f64 reference for every row length around the SIMD width', () => {
    for (const n of LENGTHS) {
      for (const rows of [1, 3]) {
        const x = gaussian(rows * n, n + rows);
        const { y, want } = runKernel(kind, rows, n, 1, x, { scale: true, bias: true });
        expectClose(y, want, TOL, `n=${n} rows=${rows}`);
      }
    }
  });

  it('normalises strided groups (inner > 1, partial lanes)', () => {
    for (const n of [1, 2, 5, 8, 17]) {
      for (const inner of INNERS) {
        const x = gaussian(2 * n * inner, 7 * n + inner, 0.5, 2);
        const { y, want } = runKernel(kind, 2, n, inner, x, { scale: true, bias: true });
        expectClose(y, want, TOL, `n=${n} inner=${inner}`);
      }
    }
  });

  it('reads and writes unaligned pointers, in place, with or without scale and bias', () => {
    for (const offset of [4, 8, 12]) {
      for (const inner of [1, 3]) {
        for (const [scale, bias, inPlace] of [[true, true, false], [false, false, false], [true, false, true], [false, true, true]] as const) {
          const x = gaussian(3 * 17 * inner, offset + inner);
          const { y, want } = runKernel(kind, 3, 17, inner, x, { offset, scale, bias, inPlace });
          expectClose(y, want, TOL, `offset=${offset} inner=${inner} scale=${scale} bias=${bias} inPlace=${inPlace}`);
        }
      }
    }
  });

  it('keeps accuracy on rows with a large offset (1e4 + small noise)', () => {
    for (const n of [3, 16, 127, 1000]) {
      for (const inner of [1, 5]) {
        const x = gaussian(2 * n * inner, n, 1e4, 0.1);
        const { y, want } = runKernel(kind, 2, n, inner, x, { scale: true, bias: true });
        expectClose(y, want, TOL, `n=${n} inner=${inner}`);
      }
    }
  });

  it('maps a constant row to the bias (zero variance)', () => {
    for (const n of LENGTHS) {
      for (const inner of [1, 6]) {
        for (const c of [0, 0.1, 3.7, -1234.567]) {
          const x = new Float32Array(2 * n * inner).fill(c);
          const { y, want } = runKernel(kind, 2, n, inner, x, { scale: true, bias: true });
          if (kind === 'layer') expect([...y], `n=${n} inner=${inner} c=${c}`).toEqual([...want].map(Math.fround));
          else expectClose(y, want, TOL, `n=${n} inner=${inner} c=${c}`);
        }
      }
    }
  });

  it('keeps a NaN row (or column) to itself', () => {
    for (const inner of [1, 5]) {
      const n = 9;
      const x = gaussian(3 * n * inner, inner);
      const clean = runKernel(kind, 3, n, inner, x, { scale: true, bias: true }).y;
      const bad = x.slice();
      bad[(n + 4) * inner + inner - 1] = NaN; // row 1, element 4, last group
      const { y } = runKernel(kind, 3, n, inner, bad, { scale: true, bias: true });
      for (let i = 0; i < y.length; i++) {
        const inGroup = Math.floor(i / (n * inner)) === 1 && i % inner === inner - 1;
        if (inGroup) expect(y[i], `element ${i}`).toBeNaN();
        else expect(y[i], `element ${i}`).toBe(clean[i]);
      }
    }
  });

  it('runs zero rows without touching memory', () => {
    const { y } = runKernel(kind, 0, 5, 3, new Float32Array(0));
    expect(y.length).toBe(0);
  });
});
