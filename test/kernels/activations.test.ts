// Tester of assembly/activations.ts and assembly/embedding.ts against plain f64 references:
// sizes around the SIMD width (1..9, 16, 17, 31) and past map's 16 floats per iteration (33,
// 50: its loop twice and three times, then a tail), pointer offsets of 0, 4, 8 and 12 bytes,
// in place where the kernel allows it, and guard values around every output that catch a
// write past either end. The accuracy of the approximations themselves is measured in
// math.test.ts; here they are checked to 1e-6. Runs on both builds.
import { beforeAll, describe, expect, it } from 'vitest';
import * as sl from '../../src/index.js';
import { ACT } from '../../src/layers/simple.js';
import { seededRandom } from '../../src/util/hash.js';

let rt: sl.Runtime;
beforeAll(async () => {
  await sl.init();
  rt = sl.getRuntime();
});

const SIZES = [1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 17, 31, 33, 50];
const OFFSETS = [0, 4, 8, 12];
const GUARD = 4;
const SENTINEL = -12345.5;

interface Buf {
  block: number;
  ptr: number;
  len: number;
}

/** Copies values into fresh memory at byte offset `off` from 16-byte alignment, with guards around. */
function place(values: ArrayLike<number>, off: number, int = false): Buf {
  const len = values.length;
  const block = rt.heap.alloc((len + 2 * GUARD) * 4 + 16);
  const ptr = block + off + GUARD * 4;
  rt.f32.fill(SENTINEL, (ptr >> 2) - GUARD, (ptr >> 2) + len + GUARD);
  if (int) rt.i32.set(Array.from(values), ptr >> 2);
  else rt.f32.set(Array.from(values), ptr >> 2);
  return { block, ptr, len };
}

/** The values of b, after checking its guards are untouched; frees b. */
function take(b: Buf, what: string): Float32Array {
  const f = rt.f32, at = b.ptr >> 2;
  for (let i = 1; i <= GUARD; i++) {
    expect(f[at - i], `${what}: guard before`).toBe(SENTINEL);
    expect(f[at + b.len - 1 + i], `${what}: guard after`).toBe(SENTINEL);
  }
  const out = f.slice(at, at + b.len);
  rt.heap.release(b.block);
  return out;
}

const free = (...bs: Buf[]) => bs.forEach((b) => rt.heap.release(b.block));

function randoms(n: number, seed: number, scale = 3): number[] {
  const g = sl.normal(seededRandom(seed));
  return Array.from({ length: n }, () => Math.fround(scale * g()));
}

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, what: string, tol = 1e-6): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!, w = want[i]!;
    if (Number.isNaN(w)) expect(g, `${what}[${i}]`).toBeNaN();
    else if (!Number.isFinite(w)) expect(g, `${what}[${i}]`).toBe(w);
    else if (!(Math.abs(g - w) <= tol * Math.max(1, Math.abs(w)))) expect.fail(`${what}[${i}]: got ${g}, want ${w}`);
  }
}

const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));
const REF: Record<number, (v: number, p: number) => number> = {
  [ACT.identity]: (v) => v,
  [ACT.relu]: (v) => Math.max(v, 0),
  [ACT.tanh]: Math.tanh,
  [ACT.sigmoid]: sigmoid,
  [ACT.swish]: (v) => v * sigmoid(v),
  [ACT.elu]: (v, p) => (v > 0 ? v : p * Math.expm1(v)),
  [ACT.leaky_relu]: (v, p) => (v >= 0 ? v : p * v),
  [ACT.softplus]: (v) => Math.max(v, 0) + Math.log1p(Math.exp(-Math.abs(v))),
  [ACT.abs]: Math.abs,
};

describe('f32_vactivation', () => {
  for (const [act, ref] of Object.entries(REF)) {
    it(`act ${act}: every size and offset, in place and not`, () => {
      for (const n of SIZES) {
        for (const off of OFFSETS) {
          const x = randoms(n, n + off);
          const want = x.map((v) => ref(v, 0.3));
          const xb = place(x, off), yb = place(new Array(n).fill(0), (off + 4) % 16);
          rt.k.f32_vactivation(+act, n, xb.ptr, 0.3, yb.ptr);
          expectClose(take(yb, `n=${n}`), want, `act ${act}, n=${n}, offset ${off}`);
          rt.k.f32_vactivation(+act, n, xb.ptr, 0.3, xb.ptr);
          expectClose(take(xb, `n=${n} in place`), want, `act ${act} in place, n=${n}`);
        }
      }
    });
  }
});

describe('f32_gated_unit', () => {
  it('every half size, rows 1 and 3', () => {
    for (const rows of [1, 3]) {
      for (const h of SIZES) {
        const x = randoms(rows * 2 * h, h);
        const want: number[] = [];
        for (let r = 0; r < rows; r++) for (let j = 0; j < h; j++) want.push(Math.tanh(x[r * 2 * h + j]!) * (x[r * 2 * h + h + j]! >= 0 ? x[r * 2 * h + h + j]! : 0.1 * x[r * 2 * h + h + j]!));
        const xb = place(x, 4), yb = place(new Array(rows * h).fill(0), 8);
        rt.k.f32_gated_unit(rows, h, ACT.tanh, 0, ACT.leaky_relu, 0.1, xb.ptr, yb.ptr);
        expectClose(take(yb, `h=${h}`), want, `rows=${rows}, h=${h}`);
        free(xb);
      }
    }
  });
});

describe('f32_softmax', () => {
  it('every axis length and inner size, in place and not', () => {
    for (const outer of [1, 2]) {
      // 12, 13 and 29: the exp loop's three vectors at a time, then single vectors and lanes.
      for (const n of [1, 2, 3, 5, 8, 9, 12, 13, 29]) {
        for (const inner of [1, 2, 3, 4, 5, 9]) {
          const x = randoms(outer * n * inner, n * 10 + inner);
          const want = x.slice();
          for (let o = 0; o < outer; o++) {
            for (let i = 0; i < inner; i++) {
              const at = (k: number) => (o * n + k) * inner + i;
              let m = -Infinity, s = 0;
              for (let k = 0; k < n; k++) m = Math.max(m, x[at(k)]!);
              for (let k = 0; k < n; k++) s += Math.exp(x[at(k)]! - m);
              for (let k = 0; k < n; k++) want[at(k)] = Math.exp(x[at(k)]! - m) / s;
            }
          }
          const what = `outer=${outer}, n=${n}, inner=${inner}`;
          const xb = place(x, 12), yb = place(new Array(x.length).fill(0), 0);
          rt.k.f32_softmax(outer, n, inner, xb.ptr, yb.ptr);
          expectClose(take(yb, what), want, what);
          rt.k.f32_softmax(outer, n, inner, xb.ptr, xb.ptr);
          expectClose(take(xb, `${what} in place`), want, `${what} in place`);
        }
      }
    }
  });
});

describe('f32_snake', () => {
  it('every channel count, rows 1 and 2, in place', () => {
    for (const rows of [1, 2]) {
      for (const n of SIZES) {
        const x = randoms(rows * n, n), alpha = randoms(n, 2 * n, 1).map(Math.exp), inv = randoms(n, 3 * n, 1).map((v) => Math.fround(1 / Math.exp(v)));
        const want = x.map((v, i) => v + Math.sin(alpha[i % n]! * v) ** 2 * inv[i % n]!);
        const xb = place(x, 4), ab = place(alpha, 8), bb = place(inv, 12);
        rt.k.f32_snake(rows, n, xb.ptr, ab.ptr, bb.ptr, xb.ptr);
        // sin(alpha x) is accurate to 1e-7 absolute; 1/beta up to 12 scales that.
        expectClose(take(xb, `n=${n}`), want, `rows=${rows}, n=${n}`, 3e-6);
        free(ab, bb);
      }
    }
  });
});

describe('f32_vpow', () => {
  for (const p of [0, 1, 2, 3, -3, 0.5, 1.7, -0.3, 65, 66]) {
    it(`power ${p}`, () => {
      for (const n of SIZES) {
        const x = randoms(n, n, 1.2);
        x[0] = 0;
        const xb = place(x, 8), yb = place(new Array(n).fill(0), 4);
        rt.k.f32_vpow(n, xb.ptr, p, yb.ptr);
        const y = take(yb, `n=${n}`);
        x.forEach((v, i) => {
          // Math.pow has C semantics (NaN for a negative base and a non-integer power). The
          // bound is the kernel's doc: repeated squaring for integers up to 64, else e^(p log|x|).
          const want = Math.fround(Math.pow(v, p));
          const tol = Number.isInteger(p) && Math.abs(p) <= 64 ? 6e-7 : (1 + Math.abs(p * Math.log(Math.abs(v)))) * 1.5e-7;
          if (!Number.isFinite(want) || want === 0) expect(y[i], `${v}^${p}`).toBe(want);
          else expect(Math.abs(y[i]! - want) / Math.abs(want), `${v}^${p} = ${y[i]}, want ${want}`).toBeLessThanOrEqual(tol);
        });
        free(xb);
      }
    });
  }
});

describe('f32_vpow with p = 0.5', () => {
  it('is the correctly rounded square root, with pow special values', () => {
    const x = Float32Array.from([...randoms(37, 5, 4).map(Math.abs), 0, -0, Infinity, -Infinity, NaN, -1, -1e-30, 1e-40, 3.4e38]);
    const xb = place(x, 4), yb = place(new Array(x.length).fill(0), 8);
    rt.k.f32_vpow(x.length, xb.ptr, 0.5, yb.ptr);
    const y = take(yb, 'p = 0.5');
    // Math.pow(-0, 0.5) = +0 and Math.pow(-Infinity, 0.5) = +Infinity (C pow), unlike sqrt.
    x.forEach((v, i) => expect(Object.is(y[i], Math.fround(Math.pow(v, 0.5))), `${v}^0.5 = ${y[i]}`).toBe(true));
    free(xb);
  });
});

describe('map (activations, snake, power): whole vectors and tails', () => {
  // Every length up to 50 against the first elements of a 50-float run: an element falls in a
  // loop over whole vectors in one and in the tail in the other, and must come out with the
  // same bits, extreme values included (layer() and step() split a sequence differently).
  const N = 50;
  const x = randoms(N, 99, 4);
  x.splice(3, 9, NaN, Infinity, -Infinity, 0, -0, 3e38, -3e38, 1e-40, -1e-40);
  x.splice(20, 4, NaN, -0, 1e-40, -Infinity);
  const alpha = randoms(N, 98, 1).map(Math.exp), inv = randoms(N, 97, 1).map((v) => Math.fround(1 / Math.exp(v)));
  const kernels: Record<string, (n: number, xp: number, yp: number, ap: number, bp: number) => void> = {
    snake: (n, xp, yp, ap, bp) => rt.k.f32_snake(1, n, xp, ap, bp, yp),
  };
  for (const p of [2, 0.5, 3, -2, 1.7, 65]) kernels[`power ${p}`] = (n, xp, yp) => rt.k.f32_vpow(n, xp, p, yp);
  for (const act of Object.values(ACT)) kernels[`act ${act}`] = (n, xp, yp) => rt.k.f32_vactivation(act, n, xp, 0.3, yp);
  const run = (f: (typeof kernels)[string], n: number) => {
    const xb = place(x.slice(0, n), 4), yb = place(new Array(n).fill(0), 8), ab = place(alpha, 12), bb = place(inv, 0);
    f(n, xb.ptr, yb.ptr, ab.ptr, bb.ptr);
    free(xb, ab, bb);
    return new Uint32Array(take(yb, `n=${n}`).buffer);
  };
  for (const [name, f] of Object.entries(kernels)) {
    it(name, () => {
      const whole = run(f, N);
      for (let n = 1; n < N; n++) expect([...run(f, n)], `${name}, n=${n}`).toEqual([...whole.subarray(0, n)]);
    });
  }
});

describe('f32_vmod_rows', () => {
  it('every channel count, rows 1 and 2, in place', () => {
    for (const rows of [1, 2]) {
      for (const n of SIZES) {
        const x = randoms(rows * n, n, 10), d = randoms(n, n + 1, 3);
        const want = x.map((v, i) => {
          const c = d[i % n]!;
          const r = v % c;
          return r !== 0 && r < 0 !== c < 0 ? Math.fround(r + c) : r;
        });
        const xb = place(x, 12), db = place(d, 4);
        rt.k.f32_vmod_rows(rows, n, xb.ptr, db.ptr, xb.ptr);
        expectClose(take(xb, `n=${n}`), want, `rows=${rows}, n=${n}`, 0);
        free(db);
      }
    }
  });
  it('special values', () => {
    const x = [5, -5, Infinity, NaN, 5, -5, 0, -0, 7];
    const d = [Infinity, Infinity, 3, 3, 0, -Infinity, 3, 3, -7];
    const xb = place(x, 0), db = place(d, 0), yb = place(new Array(9).fill(0), 0);
    rt.k.f32_vmod_rows(1, 9, xb.ptr, db.ptr, yb.ptr);
    expect([...take(yb, 'specials')]).toEqual([5, Infinity, NaN, NaN, NaN, -5, 0, -0, 0]);
    free(xb, db);
  });
});

describe('f32_vcabs', () => {
  it('every size', () => {
    for (const n of SIZES) {
      const x = randoms(2 * n, n);
      const xb = place(x, 4), yb = place(new Array(n).fill(0), 8);
      rt.k.f32_vcabs(n, xb.ptr, yb.ptr);
      expect([...take(yb, `n=${n}`)]).toEqual(Array.from({ length: n }, (_, i) => Math.fround(Math.hypot(x[2 * i]!, x[2 * i + 1]!))));
      free(xb);
    }
  });
});

describe('f32_one_hot and f32_embedding_lookup', () => {
  it('every size, ids in and out of range', () => {
    for (const n of SIZES) {
      for (const depth of [1, 3, 4, 5]) {
        const random = seededRandom(n * 7 + depth);
        const ids = Array.from({ length: n }, () => Math.floor(random() * (2 * depth + 2)) - depth - 1);
        ids[0] = 2147483647;
        const ib = place(ids, 4, true);
        const yb = place(new Array(n * depth).fill(7), 8);
        rt.k.f32_one_hot(n, depth, ib.ptr, yb.ptr);
        expect([...take(yb, 'one_hot')]).toEqual(ids.flatMap((id) => Array.from({ length: depth }, (_, j) => (id === j ? 1 : 0))));

        const table = randoms(depth * 3, depth);
        const tb = place(table, 12), eb = place(new Array(n * 3).fill(7), 0);
        rt.k.f32_embedding_lookup(n, depth, 3, ib.ptr, tb.ptr, eb.ptr);
        const want = ids.flatMap((id) => {
          const row = id < 0 ? id + depth : id;
          return row >= 0 && row < depth ? table.slice(row * 3, row * 3 + 3) : [NaN, NaN, NaN];
        });
        expectClose(take(eb, 'embedding'), want, `n=${n}, v=${depth}`, 0);
        free(ib, tb);
      }
    }
  });
});
