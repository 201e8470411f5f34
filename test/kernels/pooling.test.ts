// Tester of assembly/pooling.ts (f32_pool3d, i32_pool3d) against a plain scalar reference that
// combines taps in the kernel's documented order (so results match bit for bit): channel counts
// around the SIMD width and of several vectors plus a lane tail, 1-D, 2-D and 3-D windows with
// strides, dilations and padding on every axis, windows wholly in padding, unaligned pointers,
// garbage (NaN, huge) at invalid steps, NaN at valid steps, sums of -0, int32 sums of negative
// values, masked divisors of zero. Guard words around every output catch writes past the end.
// Runs on both builds (vitest projects).
import { beforeAll, describe, expect, it } from 'vitest';
import * as sl from '../../src/index.js';
import { seededRandom } from '../../src/util/hash.js';

let rt: sl.Runtime;
beforeAll(async () => {
  await sl.init();
  rt = sl.getRuntime();
});

const OPS = { max: 0, min: 1, average: 2, maskedAverage: 3 } as const;
type Op = keyof typeof OPS;

/** One pooled axis: input size, output size, taps, stride, dilation, left padding. */
type Axis = [number, number, number, number, number, number];
interface Geometry {
  kt: number;
  st: number;
  dt: number;
  h: Axis;
  w: Axis;
  c: number;
}
const NO_AXIS: Axis = [1, 1, 1, 1, 1, 0];

const GUARD = 4;
const SENTINEL = -12345.5;

/** A buffer of `len` words at `offset` bytes past 16-byte alignment, guard words filled with SENTINEL. */
function place(len: number, offset: number) {
  const block = rt.heap.alloc((len + 2 * GUARD) * 4 + 32);
  const ptr = ((block + 15) & ~15) + offset + GUARD * 4;
  rt.f32.fill(SENTINEL, (ptr >> 2) - GUARD, (ptr >> 2) + len + GUARD);
  return { block, ptr };
}

/** The kernel's formula, scalar, in its tap order (a, u, v); `int` switches to int32 arithmetic. */
function reference(op: Op, int: boolean, batch: number, tIn: number, tOut: number, padLeft: number, g: Geometry, x: ArrayLike<number>, mask: Uint8Array): number[] {
  const [h, hOut, kh, sh, dh, ph] = g.h, [w, wOut, kw, sw, dw, pw] = g.w;
  const f = int ? (v: number) => v | 0 : Math.fround;
  const identity = op === 'max' ? (int ? -2147483648 : -Infinity) : op === 'min' ? (int ? 2147483647 : Infinity) : 0;
  const y: number[] = [];
  for (let b = 0; b < batch; b++) {
    for (let j = 0; j < tOut; j++) {
      const taps = [...Array(g.kt).keys()].map((a) => j * g.st + a * g.dt - padLeft).filter((i) => i >= 0 && i < tIn && mask[b * tIn + i]);
      const divisor = op === 'maskedAverage' ? taps.length * kh * kw : g.kt * kh * kw;
      for (let p = 0; p < hOut; p++) {
        for (let q = 0; q < wOut; q++) {
          for (let e = 0; e < g.c; e++) {
            let acc = identity;
            for (const i of taps) {
              for (let u = 0; u < kh; u++) {
                const ii = p * sh + u * dh - ph;
                if (ii < 0 || ii >= h) continue;
                for (let v = 0; v < kw; v++) {
                  const jj = q * sw + v * dw - pw;
                  if (jj < 0 || jj >= w) continue;
                  const val = x[(((b * tIn + i) * h + ii) * w + jj) * g.c + e]!;
                  acc = op === 'max' ? Math.max(acc, val) : op === 'min' ? Math.min(acc, val) : f(acc + val);
                }
              }
            }
            if (op === 'average' || op === 'maskedAverage') acc = divisor === 0 ? 0 : int ? Math.floor(acc / divisor) : f(acc / divisor);
            y.push(acc);
          }
        }
      }
    }
  }
  return y;
}

/** Runs the kernel on x at `offset` bytes past alignment; checks guards and that x is untouched. */
function run(op: Op, int: boolean, batch: number, tIn: number, tOut: number, padLeft: number, g: Geometry, x: Float32Array | Int32Array, mask: Uint8Array, offset: number): number[] {
  const n = batch * tOut * g.h[1] * g.w[1] * g.c;
  const bx = place(x.length, offset), by = place(n, (offset + 4) % 16);
  const bm = rt.heap.alloc(mask.length + 1), bg = rt.heap.alloc(64);
  (int ? rt.i32 : rt.f32).set(x as never, bx.ptr >> 2);
  rt.u8.set(mask, bm);
  rt.i32.set([g.kt, g.st, g.dt, ...g.h, ...g.w, g.c], bg >> 2);
  (int ? rt.k.i32_pool3d : rt.k.f32_pool3d)(OPS[op], batch, tIn, tOut, padLeft, bg, bx.ptr, bm, by.ptr);
  const m = rt.f32, p = by.ptr >> 2;
  for (let i = 1; i <= GUARD; i++) {
    expect(m[p - i], 'guard before the output').toBe(SENTINEL);
    expect(m[p + n + i - 1], 'guard after the output').toBe(SENTINEL);
  }
  expect((int ? rt.i32 : rt.f32).slice(bx.ptr >> 2, (bx.ptr >> 2) + x.length), 'x untouched').toEqual(x);
  const y = [...(int ? rt.i32 : rt.f32).slice(p, p + n)];
  for (const ptr of [bx.block, by.block, bm, bg]) rt.heap.release(ptr);
  return y;
}

/** Output size of an axis of `size` with taps k, stride s, dilation d and [left, right] padding. */
const outSize = (size: number, k: number, s: number, d: number, left: number, right: number) =>
  Math.max(0, Math.floor((size + left + right - (k - 1) * d - 1) / s) + 1);

function axis(size: number, k: number, s: number, d: number, left: number, right: number): Axis {
  return [size, outSize(size, k, s, d, left, right), k, s, d, left];
}

/** Random inputs with garbage (NaN for floats, extremes for ints) at invalid steps. */
function inputs(random: () => number, int: boolean, batch: number, tIn: number, g: Geometry) {
  const row = g.h[0] * g.w[0] * g.c;
  const mask = Uint8Array.from({ length: batch * tIn }, () => (random() < 0.75 ? 1 : 0));
  const x = int ? new Int32Array(batch * tIn * row) : new Float32Array(batch * tIn * row);
  for (let i = 0; i < x.length; i++) {
    const valid = mask[Math.floor(i / row)];
    x[i] = int ? (valid ? Math.floor(random() * 2000) - 1000 : random() < 0.5 ? 2147483647 : -2147483648) : valid ? random() * 8 - 4 : NaN;
  }
  return { x, mask };
}

describe('f32_pool3d and i32_pool3d', () => {
  for (const int of [false, true]) {
    for (const op of Object.keys(OPS) as Op[]) {
      it(`${int ? 'i32' : 'f32'} ${op}: channels around the tile, 1-D to 3-D windows, padding, unaligned`, () => {
        const random = seededRandom(OPS[op] + (int ? 10 : 1));
        const shapes: [number, number, number, number, Axis, Axis][] = [
          // kt, st, dt, padLeft, h, w
          [3, 1, 1, 2, NO_AXIS, NO_AXIS],
          [2, 2, 2, 0, NO_AXIS, NO_AXIS],
          [4, 3, 1, 1, axis(5, 2, 1, 1, 0, 1), NO_AXIS],
          [2, 1, 1, 1, axis(6, 3, 2, 1, 1, 1), NO_AXIS],
          [3, 2, 1, 0, axis(4, 2, 1, 2, 1, 1), axis(5, 3, 2, 1, 2, 0)],
          [1, 1, 1, 0, axis(3, 1, 1, 1, 0, 0), axis(4, 2, 2, 1, 0, 0)],
          // Windows wholly in spatial padding (first and last outputs): valid steps, no valid tap.
          [2, 1, 1, 1, axis(3, 2, 1, 1, 2, 2), axis(2, 2, 1, 3, 3, 3)],
        ];
        for (const [kt, st, dt, padLeft, h, w] of shapes) {
          for (const c of [1, 2, 3, 4, 5, 7, 8, 9, 16, 19]) {
            const g: Geometry = { kt, st, dt, h, w, c };
            const batch = 2, tIn = 9;
            const tOut = outSize(tIn, kt, st, dt, padLeft, (kt - 1) * dt - padLeft);
            const { x, mask } = inputs(random, int, batch, tIn, g);
            const got = run(op, int, batch, tIn, tOut, padLeft, g, x, mask, (c * 4) % 16);
            expect(got, `kt=${kt} st=${st} dt=${dt} pad=${padLeft} h=${h} w=${w} c=${c}`).toEqual(reference(op, int, batch, tIn, tOut, padLeft, g, x, mask));
          }
        }
      });
    }
  }

  it('propagates NaN at valid steps through max and min, never from invalid ones', () => {
    const g: Geometry = { kt: 3, st: 1, dt: 1, h: NO_AXIS, w: NO_AXIS, c: 5 };
    const x = Float32Array.from({ length: 4 * 5 }, (_, i) => i);
    x[5 + 2] = NaN; // step 1, channel 2, valid
    x.fill(NaN, 15, 20); // step 3, invalid
    const mask = Uint8Array.from([1, 1, 1, 0]);
    for (const op of ['max', 'min'] as const) {
      const y = run(op, false, 1, 4, 2, 0, g, x, mask, 4);
      expect(y.map(Number.isNaN)).toEqual([false, false, true, false, false, false, false, true, false, false]);
      expect(y[3]).toBe(op === 'max' ? 13 : 3);
      expect(y[8]).toBe(op === 'max' ? 13 : 8); // step 3 skipped
    }
  });

  it('gives the identity where no tap is valid and 0 for an empty masked average', () => {
    const g: Geometry = { kt: 2, st: 1, dt: 1, h: NO_AXIS, w: NO_AXIS, c: 3 };
    const mask = Uint8Array.from([0, 0, 0]);
    const xf = new Float32Array(9).fill(NaN), xi = new Int32Array(9).fill(7);
    expect(run('max', false, 1, 3, 2, 0, g, xf, mask, 0)).toEqual(Array(6).fill(-Infinity));
    expect(run('min', false, 1, 3, 2, 0, g, xf, mask, 0)).toEqual(Array(6).fill(Infinity));
    expect(run('average', false, 1, 3, 2, 0, g, xf, mask, 0)).toEqual(Array(6).fill(0));
    expect(run('maskedAverage', false, 1, 3, 2, 0, g, xf, mask, 0)).toEqual(Array(6).fill(0));
    expect(run('max', true, 1, 3, 2, 0, g, xi, mask, 0)).toEqual(Array(6).fill(-2147483648));
    expect(run('min', true, 1, 3, 2, 0, g, xi, mask, 0)).toEqual(Array(6).fill(2147483647));
    expect(run('maskedAverage', true, 1, 3, 2, 0, g, xi, mask, 0)).toEqual(Array(6).fill(0));
  });

  it('sums from +0: a window of -0 averages to +0, as the identity start gives', () => {
    const g: Geometry = { kt: 2, st: 1, dt: 1, h: NO_AXIS, w: NO_AXIS, c: 6 };
    const x = new Float32Array(3 * 6).fill(-0);
    const mask = Uint8Array.from([1, 1, 1]);
    for (const op of ['average', 'maskedAverage'] as const) expect(run(op, false, 1, 3, 2, 0, g, x, mask, 0)).toEqual(Array(12).fill(0));
    expect(run('max', false, 1, 3, 2, 0, g, x, mask, 0)).toEqual(Array(12).fill(-0));
  });

  it('floor-divides int32 averages and wraps their sums', () => {
    const g: Geometry = { kt: 3, st: 3, dt: 1, h: NO_AXIS, w: NO_AXIS, c: 1 };
    const x = Int32Array.from([-1, -1, -2, 5, 0, 0, 2147483647, 1, 0]);
    const mask = Uint8Array.from([1, 1, 1, 1, 1, 1, 1, 1, 1]);
    // -4 / 3 -> -2; 5 / 3 -> 1; (2^31 - 1 + 1) wraps to -2^31, / 3 -> floor(-715827882.67)
    expect(run('average', true, 1, 9, 3, 0, g, x, mask, 0)).toEqual([-2, 1, -715827883]);
    mask[2] = 0;
    expect(run('maskedAverage', true, 1, 9, 3, 0, g, x, mask, 0)).toEqual([-1, 1, -715827883]);
  });
});
