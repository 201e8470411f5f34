// Tester of assembly/recurrent.ts (f32_lstm, f32_gru, f32_rglru) against plain f64 references:
// batch, time, units and input sizes around the SIMD width and the GEMM panel (8 columns), a
// random non-contiguous mask (the state must stay frozen at invalid steps), a non-zero starting
// state, unaligned pointers, and guard values around every buffer the kernels write (outputs,
// state and scratch). Runs on both builds (vitest projects).
//
// Tolerance: 2e-5 absolute + 2e-5 relative, a few steps of float32 gates (the activations'
// measured errors are below 3e-7, see assembly/math.ts) over sums of at most 17 + 17 products.
import { beforeAll, describe, expect, it } from 'vitest';
import * as sl from '../../src/index.js';
import { seededRandom } from '../../src/util/hash.js';

let rt: sl.Runtime;
beforeAll(async () => {
  await sl.init();
  rt = sl.getRuntime();
});

const GUARD = 0x7fc0beef; // a NaN payload no kernel produces
const G = 4; // guard floats on each side of every written buffer
const TOL = 2e-5;

/** Buffers in WebAssembly memory at a given misalignment, with guards around the written ones. */
class Mem {
  private readonly blocks: number[] = [];
  private readonly guarded: { ptr: number; len: number; name: string }[] = [];
  constructor(private readonly misalign: number) {}
  private dv() {
    return new DataView(rt.memory.buffer);
  }
  /** Copies `values` (f32, or u8/i32 per `kind`) in; `name` marks a buffer the kernel writes. */
  put(values: ArrayLike<number>, kind: 'f32' | 'u8' | 'i32' = 'f32', name?: string): number {
    const width = kind === 'u8' ? 1 : 4;
    const block = rt.heap.alloc(values.length * width + (2 * G + 4) * 4);
    this.blocks.push(block);
    const ptr = block + this.misalign + G * 4;
    const dv = this.dv();
    if (name) {
      for (let i = -G; i < Math.ceil((values.length * width) / 4) + G; i++) dv.setUint32(ptr + 4 * i, GUARD, true);
      this.guarded.push({ ptr, len: Math.ceil((values.length * width) / 4), name });
    }
    for (let i = 0; i < values.length; i++) {
      if (kind === 'u8') dv.setUint8(ptr + i, values[i]!);
      else if (kind === 'i32') dv.setInt32(ptr + 4 * i, values[i]!, true);
      else dv.setFloat32(ptr + 4 * i, values[i]!, true);
    }
    return ptr;
  }
  /** Scratch of n floats, guarded. */
  scratch(n: number, name: string): number {
    return this.put(new Float32Array(n), 'f32', name);
  }
  f32(ptr: number, n: number): number[] {
    const dv = this.dv();
    return Array.from({ length: n }, (_, i) => dv.getFloat32(ptr + 4 * i, true));
  }
  i32(ptr: number, n: number): number[] {
    const dv = this.dv();
    return Array.from({ length: n }, (_, i) => dv.getInt32(ptr + 4 * i, true));
  }
  /** Names of buffers whose guards were overwritten. */
  brokenGuards(): string[] {
    const dv = this.dv();
    return this.guarded.filter(({ ptr, len }) => {
      for (let i = 1; i <= G; i++) if (dv.getUint32(ptr - 4 * i, true) !== GUARD || dv.getUint32(ptr + 4 * (len + i - 1), true) !== GUARD) return true;
      return false;
    }).map((g) => g.name);
  }
  /** A [k, n] matrix packed for f32_gemm. */
  packed(m: ArrayLike<number>, k: number, n: number, ld = n, offset = 0): number {
    const src = this.put(m);
    const out = this.put(new Float32Array(rt.k.f32_gemm_packed_len(k, n)));
    rt.k.f32_gemm_pack_b(k, n, src + offset * 4, ld, out);
    return out;
  }
  /** [W; U] ([k1, n] over [k2, n]) packed for f32_gemv. */
  gemvPacked(w: ArrayLike<number>, k1: number, u: ArrayLike<number>, k2: number, n: number): number {
    return this.gemvStacked([{ m: w, k: k1 }, { m: u, k: k2 }], n);
  }
  /** Matrices stacked by rows (each k rows of n columns from `off`, rows `ld` apart), packed for f32_gemv. */
  gemvStacked(parts: { m: ArrayLike<number>; k: number; ld?: number; off?: number }[], n: number): number {
    const rows = parts.reduce((s, p) => s + p.k, 0);
    const out = this.put(new Float32Array(rt.k.f32_gemv_packed_len(rows, n)));
    let r0 = 0;
    for (const { m, k, ld = n, off = 0 } of parts) {
      rt.k.f32_gemv_pack_b(rows, r0, k, n, this.put(m) + off * 4, ld, out);
      r0 += k;
    }
    return out;
  }
  free(): void {
    for (const b of this.blocks) rt.heap.release(b);
  }
}

/** Float32-exact random values in [-scale, scale). */
const randoms = (random: () => number, n: number, scale = 1) => Array.from({ length: n }, () => Math.fround((2 * random() - 1) * scale));
const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));
const relu = (v: number) => Math.max(v, 0);
/** y = x [1, k] · w [k, n] (row-major, row stride ld, first column `off`). */
const vecmat = (x: ArrayLike<number>, xo: number, k: number, w: ArrayLike<number>, n: number, ld = n, off = 0) =>
  Array.from({ length: n }, (_, j) => {
    let s = 0;
    for (let i = 0; i < k; i++) s += x[xo + i]! * w[i * ld + off + j]!;
    return s;
  });

/** Compares got with want (f64) within TOL; returns the first mismatch. */
function mismatch(what: string, got: number[], want: ArrayLike<number>): string | null {
  for (let i = 0; i < got.length; i++) {
    const g = got[i]!, w = want[i]!;
    if (!(Math.abs(g - w) <= TOL + TOL * Math.abs(w))) return `${what}[${i}]: got ${g}, want ${w}`;
  }
  return null;
}

interface Sizes {
  batch: number;
  time: number;
  din: number;
  units: number;
}
const SIZES: Sizes[] = [];
for (const batch of [1, 2, 3]) for (const time of [1, 4]) for (const units of [1, 3, 4, 5, 8, 9, 17]) for (const din of [1, 5]) SIZES.push({ batch, time, din, units });

/** x, mask (about 70% valid, step 0 of item 0 always valid) and a non-zero state. */
function inputs(random: () => number, s: Sizes) {
  const x = randoms(random, s.batch * s.time * s.din);
  const mask = Array.from({ length: s.batch * s.time }, (_, i) => (i === 0 || random() < 0.7 ? 1 : 0));
  return { x, mask };
}

describe('f32_lstm', () => {
  it.each(SIZES.map((s, i) => [i, s] as const))('case %i', (i, s) => {
    const { batch, time, din, units: u } = s;
    const random = seededRandom(100 + i);
    const { x, mask } = inputs(random, s);
    const w = randoms(random, din * 4 * u, 0.7), U = randoms(random, u * 4 * u, 0.7), b = randoms(random, 4 * u);
    const c0 = randoms(random, batch * u), h0 = randoms(random, batch * u);
    const useRelu = i % 5 === 0; // activation relu sometimes, to exercise the codes
    const act = useRelu ? relu : Math.tanh;
    const mem = new Mem((i % 4) * 4);
    try {
      const pc = mem.put(c0, 'f32', 'c'), ph = mem.put(h0, 'f32', 'h');
      const py = mem.scratch(batch * time * u, 'y'), pz = mem.scratch(batch * time * 4 * u, 'z');
      const useBias = i % 3 !== 1;
      rt.k.f32_lstm(
        batch, time, din, u, useRelu ? sl.ACT.relu : sl.ACT.tanh, 0, sl.ACT.sigmoid, 0,
        mem.put(x), mem.put(mask, 'u8'), mem.packed(w, din, 4 * u), mem.packed(U, u, 4 * u), mem.gemvPacked(w, din, U, u, 4 * u), useBias ? mem.put(b) : 0, pc, ph, pz, py,
      );
      // Reference.
      const c = [...c0], h = [...h0], y = new Float64Array(batch * time * u);
      for (let t = 0; t < time; t++) {
        for (let bb = 0; bb < batch; bb++) {
          const r = bb * time + t;
          const zx = vecmat(x, r * din, din, w, 4 * u), zh = vecmat(h, bb * u, u, U, 4 * u);
          const z = zx.map((v, j) => v + zh[j]! + (useBias ? b[j]! : 0));
          for (let j = 0; j < u; j++) {
            const cn = sigmoid(z[u + j]!) * c[bb * u + j]! + sigmoid(z[j]!) * act(z[2 * u + j]!);
            const hn = sigmoid(z[3 * u + j]!) * act(cn);
            y[r * u + j] = hn;
            if (mask[r]) {
              c[bb * u + j] = cn;
              h[bb * u + j] = hn;
            }
          }
        }
      }
      const fail = mismatch('y', mem.f32(py, y.length), y) ?? mismatch('c', mem.f32(pc, c.length), c) ?? mismatch('h', mem.f32(ph, h.length), h);
      expect(fail, JSON.stringify(s)).toBeNull();
      expect(mem.brokenGuards(), JSON.stringify(s)).toEqual([]);
    } finally {
      mem.free();
    }
  });
});

describe('f32_gru one-step blocks (the f32_gemv path)', () => {
  // T one-step calls of one item (GEMVs over each packing), one call over the T steps (input
  // GEMM, then h U per step) and item 0 of a batch of 2 sum in the same order: equal bits.
  it.each([[1, 1, true], [5, 3, false], [16, 8, true], [7, 29, false], [33, 30, true], [9, 12, false]] as const)('din %i, units %i, reset_after %s', (din, u, resetAfter) => {
    const T = 5, random = seededRandom(din * 100 + u);
    const x = randoms(random, 2 * T * din), w = randoms(random, din * 3 * u, 0.7), U = randoms(random, u * 3 * u, 0.7);
    const bx = randoms(random, 3 * u), bh = randoms(random, u);
    const mask = Array.from({ length: 2 * T }, (_, i) => (i % T === 2 ? 0 : 1));
    const h0 = randoms(random, 2 * u);
    const mem = new Mem(4);
    try {
      const wx = mem.packed(w, din, 3 * u), uzr = mem.packed(U, u, 2 * u, 3 * u), uh = mem.packed(U, u, u, 3 * u, 2 * u), g = gruGemv(mem, w, U, din, u);
      const pbx = mem.put(bx), pbh = resetAfter ? mem.put(bh) : 0;
      const run = (batch: number, time: number, xs: number[], ms: number[], h: number[]) => {
        const ph = mem.put(h), py = mem.scratch(batch * time * u, 'y');
        rt.k.f32_gru(
          batch, time, din, u, resetAfter, sl.ACT.tanh, 0, sl.ACT.sigmoid, 0, mem.put(xs), mem.put(ms, 'u8'), wx, pbx, uzr, uh, pbh, ph,
          mem.scratch(batch * time * 3 * u, 'z'), mem.scratch(batch * u, 'q'), py, ...g,
        );
        return { y: mem.f32(py, batch * time * u), h: mem.f32(ph, batch * u) };
      };
      const whole = run(1, T, x.slice(0, T * din), mask.slice(0, T), h0.slice(0, u));
      let h = h0.slice(0, u);
      const ys: number[] = [];
      for (let t = 0; t < T; t++) {
        const r = run(1, 1, x.slice(t * din, (t + 1) * din), [mask[t]!], h);
        ys.push(...r.y);
        h = r.h;
      }
      const pair = run(2, T, x, mask, h0);
      expect(ys).toEqual(whole.y);
      expect(h).toEqual(whole.h);
      expect(pair.y.slice(0, T * u)).toEqual(whole.y);
      expect(pair.h.slice(0, u)).toEqual(whole.h);
      expect(mem.brokenGuards()).toEqual([]);
    } finally {
      mem.free();
    }
  });
});

describe('f32_lstm one-step blocks (the fused f32_gemv path)', () => {
  // T one-step calls of one item (one GEMV over [x ‖ h] against [W; U]), one call over the T
  // steps (input GEMM, then h U per step) and item 0 of a batch of 2 sum in the same order:
  // equal bits.
  it.each([[1, 1], [5, 3], [16, 8], [7, 29], [33, 30]] as const)('din %i, units %i', (din, u) => {
    const T = 5, random = seededRandom(din * 100 + u);
    const x = randoms(random, 2 * T * din), w = randoms(random, din * 4 * u, 0.7), U = randoms(random, u * 4 * u, 0.7), b = randoms(random, 4 * u);
    const mask = Array.from({ length: 2 * T }, (_, i) => (i % T === 2 ? 0 : 1));
    const c0 = randoms(random, 2 * u), h0 = randoms(random, 2 * u);
    const mem = new Mem(4);
    try {
      const wx = mem.packed(w, din, 4 * u), wh = mem.packed(U, u, 4 * u), wxh = mem.gemvPacked(w, din, U, u, 4 * u), pb = mem.put(b);
      const run = (batch: number, time: number, xs: number[], ms: number[], c: number[], h: number[]) => {
        const pc = mem.put(c), ph = mem.put(h), py = mem.scratch(batch * time * u, 'y');
        rt.k.f32_lstm(batch, time, din, u, sl.ACT.tanh, 0, sl.ACT.sigmoid, 0, mem.put(xs), mem.put(ms, 'u8'), wx, wh, wxh, pb, pc, ph, mem.scratch(batch * time * 4 * u, 'z'), py);
        return { y: mem.f32(py, batch * time * u), c: mem.f32(pc, batch * u), h: mem.f32(ph, batch * u) };
      };
      const whole = run(1, T, x.slice(0, T * din), mask.slice(0, T), c0.slice(0, u), h0.slice(0, u));
      let c = c0.slice(0, u), h = h0.slice(0, u);
      const ys: number[] = [];
      for (let t = 0; t < T; t++) {
        const r = run(1, 1, x.slice(t * din, (t + 1) * din), [mask[t]!], c, h);
        ys.push(...r.y);
        c = r.c;
        h = r.h;
      }
      const pair = run(2, T, x, mask, c0, h0);
      expect(ys).toEqual(whole.y);
      expect([c, h]).toEqual([whole.c, whole.h]);
      expect(pair.y.slice(0, T * u)).toEqual(whole.y);
      expect([pair.c.slice(0, u), pair.h.slice(0, u)]).toEqual([whole.c, whole.h]);
      expect(mem.brokenGuards()).toEqual([]);
    } finally {
      mem.free();
    }
  });
});

/** The f32_gru one-step packings: [W_zr; U_zr], W_h and U_h for f32_gemv. */
function gruGemv(mem: Mem, w: ArrayLike<number>, U: ArrayLike<number>, din: number, u: number): [number, number, number] {
  return [
    mem.gemvStacked([{ m: w, k: din, ld: 3 * u }, { m: U, k: u, ld: 3 * u }], 2 * u),
    mem.gemvStacked([{ m: w, k: din, ld: 3 * u, off: 2 * u }], u),
    mem.gemvStacked([{ m: U, k: u, ld: 3 * u, off: 2 * u }], u),
  ];
}

describe('f32_gru', () => {
  it.each(SIZES.flatMap((s, i) => [[i, s, true], [i, s, false]] as const))('case %i reset_after=%s', (i, s, resetAfter) => {
    const { batch, time, din, units: u } = s;
    const random = seededRandom(200 + i);
    const { x, mask } = inputs(random, s);
    const w = randoms(random, din * 3 * u, 0.7), U = randoms(random, u * 3 * u, 0.7);
    const bIn = randoms(random, 3 * u), bRec = randoms(random, 3 * u);
    const h0 = randoms(random, batch * u);
    const mem = new Mem((i % 4) * 4);
    try {
      const ph = mem.put(h0, 'f32', 'h');
      const py = mem.scratch(batch * time * u, 'y'), pz = mem.scratch(batch * time * 3 * u, 'z'), pq = mem.scratch(batch * u, 'q');
      // The layer's bias arguments: reset_after folds the recurrent z, r biases into the input bias.
      const bx = resetAfter ? bIn.map((v, j) => Math.fround(v + (j < 2 * u ? bRec[j]! : 0))) : bIn;
      rt.k.f32_gru(
        batch, time, din, u, resetAfter, sl.ACT.tanh, 0, sl.ACT.sigmoid, 0, mem.put(x), mem.put(mask, 'u8'),
        mem.packed(w, din, 3 * u), mem.put(bx), mem.packed(U, u, 2 * u, 3 * u), mem.packed(U, u, u, 3 * u, 2 * u),
        resetAfter ? mem.put(bRec.slice(2 * u)) : 0, ph, pz, pq, py, ...gruGemv(mem, w, U, din, u),
      );
      const h = [...h0], y = new Float64Array(batch * time * u);
      for (let t = 0; t < time; t++) {
        const hOld = [...h];
        for (let bb = 0; bb < batch; bb++) {
          const r = bb * time + t;
          const xp = vecmat(x, r * din, din, w, 3 * u).map((v, j) => v + bIn[j]!);
          const hp = vecmat(hOld, bb * u, u, U, 3 * u).map((v, j) => v + (resetAfter ? bRec[j]! : 0));
          const zg = Array.from({ length: u }, (_, j) => sigmoid(xp[j]! + hp[j]!));
          const rg = Array.from({ length: u }, (_, j) => sigmoid(xp[u + j]! + hp[u + j]!));
          const rh = Array.from({ length: u }, (_, j) => rg[j]! * hOld[bb * u + j]!);
          const cand = resetAfter ? null : vecmat(rh, 0, u, U, u, 3 * u, 2 * u);
          for (let j = 0; j < u; j++) {
            const n = Math.tanh(xp[2 * u + j]! + (resetAfter ? rg[j]! * hp[2 * u + j]! : cand![j]!));
            const hn = zg[j]! * hOld[bb * u + j]! + (1 - zg[j]!) * n;
            y[r * u + j] = hn;
            if (mask[r]) h[bb * u + j] = hn;
          }
        }
      }
      const fail = mismatch('y', mem.f32(py, y.length), y) ?? mismatch('h', mem.f32(ph, h.length), h);
      expect(fail, JSON.stringify(s)).toBeNull();
      expect(mem.brokenGuards(), JSON.stringify(s)).toEqual([]);
    } finally {
      mem.free();
    }
  });
});

describe('f32_rglru', () => {
  const cases: (Sizes & { heads: number; start: number })[] = [];
  for (const batch of [1, 3]) {
    for (const time of [1, 5]) {
      for (const [units, heads] of [[1, 1], [3, 1], [3, 3], [4, 2], [8, 2], [9, 3], [17, 1], [16, 4]] as const) {
        for (const start of [0, 2, 2147483646]) cases.push({ batch, time, din: units, units, heads, start });
      }
    }
  }
  it.each(cases.map((s, i) => [i, s] as const))('case %i', (i, s) => {
    const { batch, time, units: u, heads, start } = s;
    const p = u / heads;
    const random = seededRandom(300 + i);
    const { x, mask } = inputs(random, s);
    const wIn = randoms(random, heads * p * p), wA = randoms(random, heads * p * p);
    const bIn = randoms(random, u), bA = randoms(random, u);
    const sp = Array.from({ length: u }, () => Math.fround(0.01 + random())); // softplus(a_param) > 0
    const h0 = randoms(random, batch * u);
    const pos0 = Array.from({ length: batch }, (_, bb) => (bb === 0 ? start : 0));
    const mem = new Mem((i % 4) * 4);
    const packHeads = (wts: number[]) => {
      const out = mem.put(new Float32Array(heads * rt.k.f32_gemm_packed_len(p, p)));
      const src = mem.put(wts);
      for (let hd = 0; hd < heads; hd++) rt.k.f32_gemm_pack_b(p, p, src + hd * p * p * 4, p, out + hd * rt.k.f32_gemm_packed_len(p, p) * 4);
      return out;
    };
    try {
      const ph = mem.put(h0, 'f32', 'h'), ppos = mem.put(pos0, 'i32', 'pos');
      const py = mem.scratch(batch * time * u, 'y'), pgx = mem.scratch(batch * time * u, 'gx'), pga = mem.scratch(batch * time * u, 'ga');
      rt.k.f32_rglru(batch, time, u, heads, mem.put(x), mem.put(mask, 'u8'), packHeads(wIn), mem.put(bIn), packHeads(wA), mem.put(bA), mem.put(sp), ph, ppos, pgx, pga, py);
      const h = [...h0], y = new Float64Array(batch * time * u);
      const gate = (wts: number[], bias: number[], r: number, j: number) => {
        const hd = Math.floor(j / p), jj = j % p;
        let v = bias[j]!;
        for (let k = 0; k < p; k++) v += x[r * u + hd * p + k]! * wts[(hd * p + k) * p + jj]!;
        return sigmoid(v);
      };
      for (let bb = 0; bb < batch; bb++) {
        for (let t = 0; t < time; t++) {
          const r = bb * time + t;
          for (let j = 0; j < u; j++) {
            const logA = -8 * gate(wA, bA, r, j) * sp[j]!;
            const xg = x[r * u + j]! * gate(wIn, bIn, r, j);
            const hn = pos0[bb]! + t === 0 ? xg : Math.exp(logA) * h[bb * u + j]! + Math.sqrt(1 - Math.exp(2 * logA)) * xg;
            y[r * u + j] = hn;
            if (mask[r]) h[bb * u + j] = hn;
          }
        }
      }
      const fail = mismatch('y', mem.f32(py, y.length), y) ?? mismatch('h', mem.f32(ph, h.length), h);
      expect(fail, JSON.stringify(s)).toBeNull();
      expect(mem.i32(ppos, batch)).toEqual(pos0.map((v) => Math.min(v + time, 2147483647)));
      expect(mem.brokenGuards(), JSON.stringify(s)).toEqual([]);
    } finally {
      mem.free();
    }
  });
});
