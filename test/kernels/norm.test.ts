// Tester of assembly/norm.ts against scalar f64 references. Per-step norms (f32_layernorm,
// f32_rmsnorm, f32_l2norm) and f32_batchnorm: row lengths around the SIMD width, strided
// groups (inner > 1, partial lanes), unaligned pointers, in place, absent scale/bias, constant
// rows, large offsets, NaN rows. Group norms (f32_groupnorm, f32_groupnorm_cumulative): group
// lengths around the SIMD width, outer chunks, random masks with NaN at invalid steps, empty
// items, state carried across calls. Guard values around every output catch writes past the
// end. Runs on both builds (vitest projects).
import { beforeAll, describe, expect, it } from 'vitest';
import * as sl from '../../src/index.js';
import { seededRandom } from '../../src/util/hash.js';

let rt: sl.Runtime;
beforeAll(async () => {
  await sl.init();
  rt = sl.getRuntime();
});

type Kind = 'layer' | 'rms' | 'l2';

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
      const rstd = 1 / Math.sqrt((kind === 'l2' ? ss : ss / n) + eps);
      for (let k = 0; k < n; k++) y[at(k)] = (x[at(k)]! - mean) * rstd * (scale ? scale[k]! : 1) + (bias ? bias[k]! : 0);
    }
  }
  return y;
}

const GUARD = 4; // guard floats on each side of every buffer
const SENTINEL = -12345.5;

/** A buffer of `len` floats at `offset` bytes from 16-byte alignment, with GUARD sentinels on each side. */
function place(len: number, offset = 0) {
  const block = rt.heap.alloc((len + 2 * GUARD) * 4 + 16);
  const ptr = block + offset + GUARD * 4;
  rt.f32.fill(SENTINEL, (ptr >> 2) - GUARD, (ptr >> 2) + len + GUARD);
  return { block, ptr };
}

function expectGuards(ptr: number, len: number, what: string) {
  const m = rt.f32, p = ptr >> 2;
  for (let g = 1; g <= GUARD; g++) {
    expect(m[p - g], `guard before ${what}`).toBe(SENTINEL);
    expect(m[p + len + g - 1], `guard after ${what}`).toBe(SENTINEL);
  }
}

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
  const scale = o.scale && kind !== 'l2' ? Float32Array.from({ length: n }, () => 0.5 + random()) : null;
  const bias = o.bias && kind === 'layer' ? Float32Array.from({ length: n }, () => random() - 0.5) : null;
  const off = o.offset ?? 0;
  const bx = place(size, off), by = o.inPlace ? bx : place(size, off), bs = place(n, off), bb = place(n, off);
  const f32 = () => rt.f32;
  f32().set(x, bx.ptr >> 2);
  if (scale) f32().set(scale, bs.ptr >> 2);
  if (bias) f32().set(bias, bb.ptr >> 2);
  const sp = scale ? bs.ptr : 0, bp = bias ? bb.ptr : 0;
  if (kind === 'layer') rt.k.f32_layernorm(rows, n, inner, bx.ptr, sp, bp, eps, by.ptr);
  else if (kind === 'rms') rt.k.f32_rmsnorm(rows, n, inner, bx.ptr, sp, eps, by.ptr);
  else rt.k.f32_l2norm(rows, n, inner, bx.ptr, eps, by.ptr);
  expectGuards(by.ptr, size, 'y');
  const m = f32(), p = by.ptr >> 2;
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

/** Error bound, |y - ref| <= TOL * (1 + |ref|); measured max 5.6e-7 on both builds (RMS; see assembly/norm.ts). */
const TOL = 1e-6;
const LENGTHS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 17, 64, 127];
const INNERS = [1, 2, 3, 4, 5, 7, 9];

describe.each(['layer', 'rms', 'l2'] as const)('f32_%snorm', (kind) => {
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

describe('f32_batchnorm', () => {
  /** Runs y = (x - mean) * mul + bias on [rows, n, inner] and compares with f64 (guards, x untouched). */
  function check(rows: number, n: number, inner: number, o: { bias?: boolean; offset?: number; inPlace?: boolean } = {}) {
    const size = rows * n * inner;
    const x = gaussian(size, n * 31 + inner, 0.3, 2), mean = gaussian(n, n), mul = gaussian(n, n + 1, 1, 0.5), bias = gaussian(n, n + 2);
    const off = o.offset ?? 0;
    const bx = place(size, off), by = o.inPlace ? bx : place(size, off), bm = place(n, off), bs = place(n, off), bb = place(n, off);
    rt.f32.set(x, bx.ptr >> 2);
    rt.f32.set(mean, bm.ptr >> 2);
    rt.f32.set(mul, bs.ptr >> 2);
    rt.f32.set(bias, bb.ptr >> 2);
    rt.k.f32_batchnorm(rows, n, inner, bx.ptr, bm.ptr, bs.ptr, o.bias === false ? 0 : bb.ptr, by.ptr);
    expectGuards(by.ptr, size, 'y');
    const y = rt.f32.slice(by.ptr >> 2, (by.ptr >> 2) + size);
    if (!o.inPlace) expect(rt.f32.slice(bx.ptr >> 2, (bx.ptr >> 2) + size), 'x untouched').toEqual(x);
    for (const b of new Set([bx, by, bm, bs, bb])) rt.heap.release(b.block);
    const want = Float64Array.from(x, (v, i) => {
      const k = Math.floor(i / inner) % n;
      return (v - mean[k]!) * mul[k]! + (o.bias === false ? 0 : bias[k]!);
    });
    expectClose(y, want, TOL, `rows=${rows} n=${n} inner=${inner} ${JSON.stringify(o)}`);
  }

  it('matches the f64 reference for every row length and inner size around the SIMD width', () => {
    for (const n of LENGTHS) for (const inner of INNERS) check(n > 17 ? 1 : 3, n, inner);
  });

  it('reads and writes unaligned pointers, in place, with or without bias', () => {
    for (const offset of [4, 8, 12]) for (const inner of [1, 5]) for (const [bias, inPlace] of [[true, false], [false, true]] as const) check(2, 9, inner, { offset, bias, inPlace });
  });

  it('runs zero rows without touching memory', () => {
    check(0, 5, 3);
  });
});

/**
 * f64 reference of the group norms over x [batch, time, outer, groups, len] with mask
 * [batch, time]: whole-sequence statistics, or the reference's running sums (sum_v, count_v,
 * sum_vv in `state`, each [batch * groups], updated) when cumulative.
 */
function groupNormReference(
  cumulative: boolean, batch: number, time: number, outer: number, groups: number, len: number,
  x: Float32Array, mask: Uint8Array, scale: Float32Array | null, bias: Float32Array | null, eps: number, state: [Float64Array, Float64Array, Float64Array],
): Float64Array {
  const [sumV, countV, sumVV] = state;
  const y = new Float64Array(x.length);
  const at = (b: number, t: number, o: number, g: number, e: number) => (((b * time + t) * outer + o) * groups + g) * len + e;
  const elements = (b: number, t: number, g: number) => {
    const out: number[] = [];
    for (let o = 0; o < outer; o++) for (let e = 0; e < len; e++) out.push(x[at(b, t, o, g, e)]!);
    return out;
  };
  const write = (b: number, t: number, g: number, mean: number, v: number) => {
    for (let o = 0; o < outer; o++) {
      for (let e = 0; e < len; e++) {
        const i = at(b, t, o, g, e), k = g * len + e;
        y[i] = ((x[i]! - mean) / Math.sqrt(v + eps)) * (scale ? scale[k]! : 1) + (bias ? bias[k]! : 0);
      }
    }
  };
  for (let b = 0; b < batch; b++) {
    for (let g = 0; g < groups; g++) {
      if (!cumulative) {
        const vals: number[] = [];
        for (let t = 0; t < time; t++) if (mask[b * time + t]) vals.push(...elements(b, t, g));
        const count = Math.max(vals.length, 1);
        const mean = vals.reduce((a, v) => a + v, 0) / count;
        const v = vals.reduce((a, u) => a + (u - mean) ** 2, 0) / count;
        for (let t = 0; t < time; t++) write(b, t, g, mean, v);
        continue;
      }
      const s = b * groups + g;
      for (let t = 0; t < time; t++) {
        const valid = mask[b * time + t], vals = elements(b, t, g);
        if (valid) {
          sumV[s] = sumV[s]! + vals.reduce((a, v) => a + v, 0);
          countV[s] = countV[s]! + vals.length;
        }
        const count = Math.max(countV[s]!, 1), mean = sumV[s]! / count;
        if (valid) sumVV[s] = sumVV[s]! + vals.reduce((a, u) => a + (u - mean) ** 2, 0);
        write(b, t, g, mean, sumVV[s]! / count);
      }
    }
  }
  return y;
}

describe.each([false, true])('f32_groupnorm (cumulative %s)', (cumulative) => {
  interface GroupCase {
    batch: number; time: number; outer: number; groups: number; len: number;
    scale?: boolean; bias?: boolean; offset?: number; inPlace?: boolean; eps?: number; mean?: number;
    /** Every valid value (default random). */
    constant?: number;
  }

  /**
   * Runs the kernel over `splits` consecutive time ranges (state carried when cumulative) on
   * random values with a random mask (item 0 empty when batch > 1) and NaN at invalid steps;
   * returns the output and the f64 reference.
   */
  function run(c: GroupCase, splits: number[] = [c.time]) {
    const { batch, time, outer, groups, len } = c;
    const step = outer * groups * len, size = batch * time * step, ng = batch * groups;
    const random = seededRandom(time * 97 + step);
    const mask = Uint8Array.from({ length: batch * time }, (_, i) => (batch > 1 && i < time ? 0 : random() < 0.7 ? 1 : 0));
    const x = c.constant === undefined ? gaussian(size, step + time, c.mean ?? 0.5, 2) : new Float32Array(size).fill(c.constant);
    mask.forEach((m, i) => m || x.fill(NaN, i * step, (i + 1) * step));
    const scale = c.scale === false ? null : gaussian(groups * len, len, 1, 0.5);
    const bias = c.bias === false ? null : gaussian(groups * len, len + 1);
    const eps = c.eps ?? 1e-6, off = c.offset ?? 0;
    const bx = place(size, off), by = c.inPlace ? bx : place(size, off), bs = place(groups * len, off), bb = place(groups * len, off);
    const bst = place(3 * ng, off), bm = rt.heap.alloc(batch * time);
    rt.f32.set(x, bx.ptr >> 2);
    if (scale) rt.f32.set(scale, bs.ptr >> 2);
    if (bias) rt.f32.set(bias, bb.ptr >> 2);
    rt.f32.fill(0, bst.ptr >> 2, (bst.ptr >> 2) + 3 * ng);
    rt.u8.set(mask, bm);
    // Splits run on [batch, part, ...] slices: copy each part in and out of scratch buffers.
    let t0 = 0;
    const parts = splits.length > 1;
    for (const part of splits) {
      const px = parts ? place(batch * part * step) : bx, pm = parts ? rt.heap.alloc(batch * part) : bm;
      if (parts) {
        for (let b = 0; b < batch; b++) {
          rt.f32.set(x.subarray((b * time + t0) * step, (b * time + t0 + part) * step), (px.ptr >> 2) + b * part * step);
          rt.u8.set(mask.subarray(b * time + t0, b * time + t0 + part), pm + b * part);
        }
      }
      const sp = scale ? bs.ptr : 0, bp = bias ? bb.ptr : 0, py = parts ? px.ptr : by.ptr;
      if (cumulative) rt.k.f32_groupnorm_cumulative(batch, part, outer, groups, len, px.ptr, pm, sp, bp, eps, bst.ptr, bst.ptr + ng * 4, bst.ptr + 2 * ng * 4, py);
      else rt.k.f32_groupnorm(batch, part, outer, groups, len, px.ptr, pm, sp, bp, eps, py);
      if (parts) {
        expectGuards(px.ptr, batch * part * step, 'part');
        for (let b = 0; b < batch; b++) rt.f32.copyWithin((by.ptr >> 2) + (b * time + t0) * step, (px.ptr >> 2) + b * part * step, (px.ptr >> 2) + (b * part + part) * step);
        rt.heap.release(px.block);
        rt.heap.release(pm);
      }
      t0 += part;
    }
    expectGuards(by.ptr, size, 'y');
    expectGuards(bst.ptr, 3 * ng, 'state');
    const y = rt.f32.slice(by.ptr >> 2, (by.ptr >> 2) + size);
    const stateOut = rt.f32.slice(bst.ptr >> 2, (bst.ptr >> 2) + 3 * ng);
    if (!c.inPlace && !parts) expect(rt.f32.slice(bx.ptr >> 2, (bx.ptr >> 2) + size), 'x untouched').toEqual(x);
    for (const b of new Set([bx, by, bs, bb, bst])) rt.heap.release(b.block);
    rt.heap.release(bm);
    const state: [Float64Array, Float64Array, Float64Array] = [new Float64Array(ng), new Float64Array(ng), new Float64Array(ng)];
    const want = groupNormReference(cumulative, batch, time, outer, groups, len, x, mask, scale, bias, eps, state);
    return { y, want, mask, step, stateOut, state };
  }

  /** Compares valid steps only (invalid ones hold NaN inputs). */
  function expectValidClose(r: ReturnType<typeof run>, tol: number, what: string) {
    const y = new Float32Array(r.y), want = Float64Array.from(r.want);
    r.mask.forEach((m, i) => m || (y.fill(0, i * r.step, (i + 1) * r.step), want.fill(0, i * r.step, (i + 1) * r.step)));
    expectClose(y, want, tol, what);
  }

  it('matches the f64 reference for group lengths around the SIMD width, outer chunks and several groups', () => {
    for (const len of [1, 2, 3, 4, 5, 7, 8, 9, 17]) {
      for (const [outer, groups] of [[1, 1], [1, 3], [3, 2]] as const) {
        const c = { batch: 3, time: 7, outer, groups, len };
        expectValidClose(run(c), TOL, JSON.stringify(c));
      }
    }
  });

  it('reads and writes unaligned pointers, in place, with or without scale and bias', () => {
    for (const offset of [4, 8, 12]) {
      for (const [scale, bias, inPlace] of [[true, true, false], [false, false, true], [true, false, true], [false, true, false]] as const) {
        const c = { batch: 2, time: 5, outer: 2, groups: 2, len: 6, offset, scale, bias, inPlace };
        expectValidClose(run(c), TOL, JSON.stringify(c));
      }
    }
  });

  it('keeps accuracy on an offset input (10 + noise)', () => {
    const c = { batch: 2, time: 9, outer: 1, groups: 2, len: 16, mean: 10 };
    expectValidClose(run(c), TOL, JSON.stringify(c));
  });

  it('maps an all-zero input to the bias even with a tiny epsilon (zero variance)', () => {
    const r = run({ batch: 2, time: 6, outer: 2, groups: 2, len: 5, eps: 1e-32, constant: 0 });
    r.mask.forEach((m, i) => {
      if (m) expect([...r.y.subarray(i * r.step, (i + 1) * r.step)]).toEqual([...r.want.subarray(i * r.step, (i + 1) * r.step)].map(Math.fround));
    });
  });

  it('runs zero batch items or steps without touching memory', () => {
    run({ batch: 0, time: 3, outer: 1, groups: 2, len: 3 });
    run({ batch: 2, time: 0, outer: 1, groups: 2, len: 3 });
  });

  if (cumulative) {
    it('continues from its state: any split of the time axis gives the same bits as one call', () => {
      const c = { batch: 3, time: 12, outer: 2, groups: 3, len: 5 };
      const whole = run(c);
      expectValidClose(whole, TOL, 'whole');
      for (const splits of [[1, 11], [5, 7], [4, 4, 4], [1, 1, 1, 9]]) {
        const r = run(c, splits);
        expect([...r.y], `splits ${splits}`).toEqual([...whole.y]);
        expect([...r.stateOut], `state after ${splits}`).toEqual([...whole.stateOut]);
      }
      // The state holds the reference's running sums.
      const ref = whole.state.flatMap((a) => [...a]);
      whole.stateOut.forEach((v, i) => expect(Math.abs(v - ref[i]!)).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(ref[i]!))));
    });
  }
});
