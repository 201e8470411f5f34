// Tester for the convolution kernels (assembly/conv.ts): a plain f64 reference, sizes around
// the 4-lane and 8-column tiles (channels and filters below, at and above them), every path of
// f32_conv1d (one GEMM when dilation 1 and one group, per item or for the batch when each item
// has one output step; per-tap/per-group GEMMs otherwise), f32_dwconv1d with depth multipliers
// 1 to 3 and channels around its 16-channel blocks, f32_conv3d and f32_conv2d_transpose with
// scratch smaller than the problem (several im2col / GEMM chunks), spatial taps falling outside
// the input (im2col runs below and above its inline-copy size), groups, unaligned pointers, and
// guard values around every output; the mask and resampling copies.
//
// Tolerance (both builds): |got - ref| <= (K + 1) * 2^-23 * (|bias| + sum |x * w|), K = taps per
// output, as in test/kernels/f32-gemm.test.ts (the relaxed build may fuse, which only lowers it).
import { beforeAll, describe, expect, it } from 'vitest';
import * as sl from '../../src/index.js';
import { seededRandom } from '../../src/util/hash.js';

let rt: sl.Runtime;
beforeAll(async () => {
  await sl.init();
  rt = sl.getRuntime();
});

const GUARD = 0x7fc0beef; // a NaN payload no kernel produces
const GUARDS = 4; // guard floats before and after the output

interface ConvCase {
  batch: number;
  tOut: number;
  cIn: number;
  /** Output channels (filters, or cIn * m for depthwise). */
  f: number;
  k: number;
  s: number;
  d: number;
  /** Groups (conv) or depth multiplier (depthwise). */
  g: number;
  bias: boolean;
  /** Byte offset of x and y from 16-byte alignment. */
  misalign: number;
}

/** Runs a case through f32_conv1d (or f32_dwconv1d) and returns a failure description, or null. */
function runCase(c: ConvCase, depthwise: boolean, seed: number): string | null {
  const { batch, tOut, cIn, f, k, s, d, g, misalign } = c;
  const random = seededRandom(seed);
  const rnd = () => 2 * random() - 1;
  const tIn = (tOut - 1) * s + (k - 1) * d + 1 + (seed % 2); // sometimes one spare step
  const xLen = batch * tIn * cIn, yLen = batch * tOut * f;
  const wLen = depthwise ? k * f : k * (cIn / g) * f;
  const x = Float64Array.from({ length: xLen }, rnd);
  const w = Float64Array.from({ length: wLen }, rnd);
  const bias = Float64Array.from({ length: f }, rnd);
  const heap = rt.heap;
  const px = heap.alloc(xLen * 4 + 16) + misalign;
  const pw = heap.alloc(wLen * 4);
  const pb = heap.alloc(f * 4);
  const packedLen = depthwise ? wLen : rt.k.f32_conv1d_packed_len(k, cIn, f, g, d);
  const pp = heap.alloc(Math.max(1, packedLen) * 4);
  const pyBase = heap.alloc((yLen + 2 * GUARDS) * 4 + 16);
  const py = pyBase + misalign + GUARDS * 4;
  try {
    const dv = new DataView(rt.memory.buffer);
    x.forEach((v, i) => dv.setFloat32(px + 4 * i, v, true));
    rt.f32.set(w, pw >> 2);
    rt.f32.set(bias, pb >> 2);
    for (let i = -GUARDS; i < yLen + GUARDS; i++) dv.setUint32(py + 4 * i, GUARD, true);
    const pbias = c.bias ? pb : 0;
    if (depthwise) {
      rt.k.f32_dwconv1d_pack(k, f, pw, pp);
      rt.k.f32_dwconv1d(batch, tIn, tOut, cIn, g, k, s, d, 0, 0, px, pp, pbias, py);
      const split = splitPast(c, tIn, x, pp, pbias, py);
      if (split) return split;
    } else {
      rt.k.f32_conv1d_pack(k, cIn, f, g, d, pw, pp);
      rt.k.f32_conv1d(batch, tIn, tOut, cIn, f, k, s, d, g, px, pp, pbias, py);
    }
    const out = new DataView(rt.memory.buffer);
    for (let i = -GUARDS; i < 0; i++) if (out.getUint32(py + 4 * i, true) !== GUARD) return `guard ${i} before y overwritten`;
    for (let i = yLen; i < yLen + GUARDS; i++) if (out.getUint32(py + 4 * i, true) !== GUARD) return `guard ${i - yLen} after y overwritten`;
    const cg = depthwise ? 1 : cIn / g, fg = depthwise ? g : f / g;
    for (let b = 0; b < batch; b++) {
      for (let t = 0; t < tOut; t++) {
        for (let o = 0; o < f; o++) {
          const group = Math.floor(o / fg);
          let ref = c.bias ? bias[o]! : 0, mag = Math.abs(ref);
          for (let j = 0; j < k; j++) {
            for (let ci = 0; ci < cg; ci++) {
              const xv = x[(b * tIn + t * s + j * d) * cIn + group * cg + ci]!;
              const wv = depthwise ? w[j * f + o]! : w[(j * cg + ci) * f + o]!;
              ref += xv * wv;
              mag += Math.abs(xv * wv);
            }
          }
          const got = out.getFloat32(py + 4 * ((b * tOut + t) * f + o), true);
          if (!(Math.abs(got - ref) <= (k * cg + 1) * 2 ** -23 * mag)) return `y[${b}, ${t}, ${o}] = ${got}, expected ${ref}`;
        }
      }
    }
    return null;
  } finally {
    for (const p of [px - misalign, pw, pb, pp, pyBase]) heap.release(p);
  }
}

/**
 * f32_dwconv1d with x's first steps read from a separate past (as a step reads its buffer from
 * the state) must give y's bits for every split; returns a failure description, or null.
 */
function splitPast(c: ConvCase, tIn: number, x: Float64Array, pp: number, pbias: number, py: number): string | null {
  const { batch, tOut, cIn, f, k, s, d, g } = c;
  const want = new Float32Array(rt.memory.buffer, py, batch * tOut * f).slice();
  for (const pastT of new Set([1, (tIn >> 1) || 1, tIn - 1, tIn])) {
    const rows = (from: number, to: number) => Float64Array.from({ length: batch * (to - from) * cIn }, (_, i) => {
      const b = Math.floor(i / ((to - from) * cIn)), r = i % ((to - from) * cIn);
      return x[b * tIn * cIn + from * cIn + r]!;
    });
    const scratch = new Scratch();
    try {
      const past = scratch.put(rows(0, pastT)), block = scratch.put(rows(pastT, tIn));
      const y = scratch.guarded(new Float32Array(batch * tOut * f));
      rt.k.f32_dwconv1d(batch, tIn, tOut, cIn, g, k, s, d, past, pastT, block, pp, pbias, y);
      const guards = scratch.guardsIntact(y, want.length);
      if (guards) return `past of ${pastT} steps: ${guards}`;
      const got = scratch.read(y, want.length);
      const i = got.findIndex((v, j) => !Object.is(v, want[j]));
      if (i >= 0) return `past of ${pastT} steps: y[${i}] = ${got[i]}, ${want[i]} in one piece`;
    } finally {
      scratch.release();
    }
  }
  return null;
}

describe('f32_conv1d', () => {
  it('matches the reference (one group, dilation 1), batches of one-step items included', () => {
    let seed = 1;
    for (const cIn of [1, 3, 8])
      for (const f of [1, 5, 8, 9, 17])
        for (const [k, s] of [[1, 1], [2, 1], [3, 2], [5, 3]] as const)
          for (const tOut of [1, 4, 7]) {
            const c = { batch: 1 + (seed % 3), tOut, cIn, f, k, s, d: 1, g: 1, bias: seed % 3 !== 0, misalign: (seed % 4) * 4 };
            expect(runCase(c, false, seed++), JSON.stringify(c)).toBeNull();
          }
  });

  it('matches the reference with dilation and groups (a GEMM per tap and group)', () => {
    let seed = 100;
    for (const [cIn, g] of [[1, 1], [4, 1], [4, 2], [4, 4], [6, 3], [8, 2]] as const)
      for (const fg of [1, 3, 8, 9])
        for (const [k, s, d] of [[1, 1, 2], [2, 1, 1], [3, 2, 2], [4, 3, 3]] as const) {
          const c = { batch: 2, tOut: 1 + (seed % 6), cIn, f: fg * g, k, s, d, g, bias: seed % 2 === 0, misalign: (seed % 4) * 4 };
          expect(runCase(c, false, seed++), JSON.stringify(c)).toBeNull();
        }
  });
});

describe('f32_dwconv1d', () => {
  it('matches the reference for channels around the 4-lane tile and 16-channel blocks, depth multipliers 1..3, with the past read apart bit for bit', () => {
    let seed = 200;
    for (const cIn of [1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 19, 35])
      for (const m of [1, 2, 3])
        for (const [k, s, d] of [[1, 1, 1], [3, 1, 2], [4, 2, 1], [5, 3, 2]] as const) {
          const c = { batch: 2, tOut: 1 + (seed % 5), cIn, f: cIn * m, k, s, d, g: m, bias: seed % 3 !== 0, misalign: (seed % 4) * 4 };
          expect(runCase(c, true, seed++), JSON.stringify(c)).toBeNull();
        }
  });
});

/** Scratch for one kernel call: typed input arrays copied in at (optionally misaligned) addresses, released after. */
class Scratch {
  private readonly blocks: number[] = [];
  /** Copies `data` (f32 or i32) into fresh memory `misalign` bytes past 16-byte alignment; returns its address. */
  put(data: ArrayLike<number>, kind: 'f32' | 'i32' = 'f32', misalign = 0): number {
    const base = rt.heap.alloc(Math.max(1, data.length) * 4 + 16);
    this.blocks.push(base);
    const p = base + misalign;
    const dv = new DataView(rt.memory.buffer);
    for (let i = 0; i < data.length; i++) {
      if (kind === 'f32') dv.setFloat32(p + 4 * i, data[i]!, true);
      else dv.setInt32(p + 4 * i, data[i]!, true);
    }
    return p;
  }
  /** n floats surrounded by GUARDS guard words; returns the address of the first float. */
  guarded(init: ArrayLike<number>, misalign = 0): number {
    const n = init.length;
    const p = this.put(new Float32Array(n + 2 * GUARDS), 'f32', misalign) + GUARDS * 4;
    const dv = new DataView(rt.memory.buffer);
    for (let i = -GUARDS; i < n + GUARDS; i++) {
      if (i < 0 || i >= n) dv.setUint32(p + 4 * i, GUARD, true);
      else dv.setFloat32(p + 4 * i, init[i]!, true);
    }
    return p;
  }
  /** A failure if a guard around the n floats at p was overwritten. */
  guardsIntact(p: number, n: number): string | null {
    const dv = new DataView(rt.memory.buffer);
    for (let i = -GUARDS; i < n + GUARDS; i++) {
      if ((i < 0 || i >= n) && dv.getUint32(p + 4 * i, true) !== GUARD) return `guard ${i < 0 ? i : i - n} ${i < 0 ? 'before' : 'after'} y overwritten`;
    }
    return null;
  }
  read(p: number, n: number): Float32Array {
    const dv = new DataView(rt.memory.buffer);
    return Float32Array.from({ length: n }, (_, i) => dv.getFloat32(p + 4 * i, true));
  }
  release(): void {
    for (const b of this.blocks) rt.heap.release(b);
  }
}

/** One spatial axis: input size, taps, stride, dilation, left padding, output size. */
interface Axis {
  n: number;
  k: number;
  s: number;
  d: number;
  pad: number;
  out: number;
}
const UNIT: Axis = { n: 1, k: 1, s: 1, d: 1, pad: 0, out: 1 };

interface NdCase {
  batch: number;
  cIn: number;
  f: number;
  g: number;
  /** Time: taps, stride, dilation; input and output lengths. */
  kt: number;
  st: number;
  dt: number;
  tIn: number;
  tOut: number;
  h: Axis;
  w: Axis;
  bias: boolean;
  /** Rows of scratch per chunk. */
  chunk: number;
  misalign: number;
}

const geometry = (c: NdCase) => [c.cIn, c.f, c.g, c.kt, c.st, c.dt, c.h.n, c.h.out, c.h.k, c.h.s, c.h.d, c.h.pad, c.w.n, c.w.out, c.w.k, c.w.s, c.w.d, c.w.pad];

/** f32_conv3d against an f64 reference; returns a failure description or null. */
function runConv3d(c: NdCase, seed: number): string | null {
  const random = seededRandom(seed);
  const rnd = () => 2 * random() - 1;
  const { batch, cIn, f, g, kt, st, dt, tIn, tOut, h, w } = c;
  const cg = cIn / g, fg = f / g, taps = kt * h.k * w.k;
  const x = Float64Array.from({ length: batch * tIn * h.n * w.n * cIn }, rnd);
  const wt = Float64Array.from({ length: taps * cg * f }, rnd);
  const bias = Float64Array.from({ length: f }, rnd);
  const yLen = batch * tOut * h.out * w.out * f;
  const mem = new Scratch();
  try {
    const px = mem.put(x, 'f32', c.misalign);
    const pw = mem.put(wt);
    const pb = mem.put(bias);
    const pp = mem.put(new Float32Array(rt.k.f32_conv3d_packed_len(taps, cIn, f, g)));
    const pg = mem.put(geometry(c), 'i32');
    const col = mem.put(new Float32Array(c.chunk * taps * cIn));
    const py = mem.guarded(new Float32Array(yLen), c.misalign);
    rt.k.f32_conv3d_pack(taps, cIn, f, g, pw, pp);
    rt.k.f32_conv3d(batch, tIn, tOut, pg, px, pp, c.bias ? pb : 0, col, c.chunk, py);
    const bad = mem.guardsIntact(py, yLen);
    if (bad) return bad;
    const y = mem.read(py, yLen);
    let at = 0;
    for (let b = 0; b < batch; b++)
      for (let t = 0; t < tOut; t++)
        for (let i = 0; i < h.out; i++)
          for (let j = 0; j < w.out; j++)
            for (let o = 0; o < f; o++, at++) {
              const gi = Math.floor(o / fg);
              let ref = c.bias ? bias[o]! : 0, mag = Math.abs(ref);
              for (let a = 0; a < kt; a++)
                for (let p = 0; p < h.k; p++)
                  for (let q = 0; q < w.k; q++) {
                    const ii = i * h.s + p * h.d - h.pad, jj = j * w.s + q * w.d - w.pad;
                    if (ii < 0 || ii >= h.n || jj < 0 || jj >= w.n) continue;
                    for (let ci = 0; ci < cg; ci++) {
                      const xv = x[(((b * tIn + t * st + a * dt) * h.n + ii) * w.n + jj) * cIn + gi * cg + ci]!;
                      const wv = wt[(((a * h.k + p) * w.k + q) * cg + ci) * f + o]!;
                      ref += xv * wv;
                      mag += Math.abs(xv * wv);
                    }
                  }
              if (!(Math.abs(y[at]! - ref) <= (taps * cg + 1) * 2 ** -23 * mag)) return `y[${b}, ${t}, ${i}, ${j}, ${o}] = ${y[at]}, expected ${ref}`;
            }
    return null;
  } finally {
    mem.release();
  }
}

/** f32_conv2d_transpose (accumulating into a random y) against an f64 reference. */
function runConvTranspose(c: NdCase, offT: number, seed: number): string | null {
  const random = seededRandom(seed);
  const rnd = () => 2 * random() - 1;
  const { batch, cIn, f, g, kt, st, dt, tIn, tOut, h } = c;
  const cg = cIn / g, fg = f / g, taps = kt * h.k;
  const x = Float64Array.from({ length: batch * tIn * h.n * cIn }, rnd);
  const wt = Float64Array.from({ length: taps * cg * f }, rnd);
  const yLen = batch * tOut * h.out * f;
  const y0 = Float32Array.from({ length: yLen }, rnd);
  const mem = new Scratch();
  try {
    const px = mem.put(x, 'f32', c.misalign);
    const pw = mem.put(wt);
    const pp = mem.put(new Float32Array(rt.k.f32_conv_transpose_packed_len(taps, cIn, f, g)));
    const pg = mem.put(geometry({ ...c, w: UNIT }), 'i32');
    const z = mem.put(new Float32Array(c.chunk * taps * f));
    const py = mem.guarded(y0, c.misalign);
    rt.k.f32_conv_transpose_pack(taps, cIn, f, g, pw, pp);
    rt.k.f32_conv2d_transpose(batch, tIn, tOut, offT, pg, px, pp, z, c.chunk, py);
    const bad = mem.guardsIntact(py, yLen);
    if (bad) return bad;
    const y = mem.read(py, yLen);
    const ref = Float64Array.from(y0), mag = Float64Array.from(y0, Math.abs);
    for (let b = 0; b < batch; b++)
      for (let t = 0; t < tIn; t++)
        for (let i = 0; i < h.n; i++)
          for (let a = 0; a < kt; a++)
            for (let p = 0; p < h.k; p++) {
              const ot = t * st + offT - a * dt, os = i * h.s + h.pad - p * h.d;
              if (ot < 0 || ot >= tOut || os < 0 || os >= h.out) continue;
              for (let o = 0; o < f; o++) {
                const gi = Math.floor(o / fg), at = ((b * tOut + ot) * h.out + os) * f + o;
                for (let ci = 0; ci < cg; ci++) {
                  const v = x[((b * tIn + t) * h.n + i) * cIn + gi * cg + ci]! * wt[((a * h.k + p) * cg + ci) * f + o]!;
                  ref[at]! += v;
                  mag[at]! += Math.abs(v);
                }
              }
            }
    for (let i = 0; i < yLen; i++) {
      if (!(Math.abs(y[i]! - ref[i]!) <= (taps * cg * Math.ceil(kt / st) + 2) * 2 ** -23 * mag[i]!)) return `y[${i}] = ${y[i]}, expected ${ref[i]}`;
    }
    return null;
  } finally {
    mem.release();
  }
}

describe('f32_conv3d', () => {
  it('matches the reference for Conv2D shapes: spatial padding, strides, dilation, groups, small im2col chunks', () => {
    let seed = 300;
    for (const [cIn, g] of [[1, 1], [3, 1], [4, 2], [8, 1]] as const)
      for (const fg of [1, 5, 8, 9])
        for (const [kt, st, dt, kh, sh, dh] of [[1, 1, 1, 1, 1, 1], [2, 1, 1, 3, 1, 1], [3, 2, 2, 3, 2, 1], [2, 3, 1, 2, 1, 3]] as const) {
          const hn = 2 + (seed % 6), ekh = (kh - 1) * dh + 1, pad = seed % ekh, right = (seed >> 1) % ekh;
          const out = Math.ceil(Math.max(1, hn + pad + right - (ekh - 1)) / sh);
          const tOut = 1 + (seed % 4);
          const c: NdCase = {
            batch: 2, cIn, f: fg * g, g, kt, st, dt, tIn: (tOut - 1) * st + (kt - 1) * dt + 1 + (seed % 2), tOut,
            h: { n: hn, k: kh, s: sh, d: dh, pad, out }, w: UNIT, bias: seed % 3 !== 0, chunk: 1 + (seed % 7), misalign: (seed % 4) * 4,
          };
          expect(runConv3d(c, seed++), JSON.stringify(c)).toBeNull();
        }
  });

  it('matches the reference for Conv3D shapes', () => {
    let seed = 400;
    for (const [cIn, g, f] of [[2, 1, 3], [4, 2, 6], [5, 1, 8]] as const)
      for (const [kh, kw, sh, sw, dh, dw] of [[1, 1, 1, 1, 1, 1], [3, 2, 1, 2, 1, 1], [2, 3, 2, 1, 2, 1]] as const) {
        const h = { n: 3 + (seed % 3), k: kh, s: sh, d: dh, pad: seed % 2, out: 0 };
        const w = { n: 2 + (seed % 4), k: kw, s: sw, d: dw, pad: (seed >> 1) % 2, out: 0 };
        for (const a of [h, w]) a.out = Math.ceil(Math.max(1, a.n + 2 * a.pad - (a.k - 1) * a.d) / a.s);
        const c: NdCase = { batch: 2, cIn, f, g, kt: 2, st: 1, dt: 1, tIn: 4, tOut: 3, h, w, bias: true, chunk: 1 + (seed % 9), misalign: (seed % 4) * 4 };
        expect(runConv3d(c, seed++), JSON.stringify(c)).toBeNull();
      }
  });
});

describe('f32_conv2d_transpose', () => {
  it('overlap-adds every tap of every input step (1-D: one spatial position)', () => {
    let seed = 500;
    for (const [cIn, g] of [[1, 1], [3, 1], [4, 2], [4, 4]] as const)
      for (const fg of [1, 3, 8, 9])
        for (const [k, s, d] of [[1, 1, 1], [1, 2, 1], [3, 2, 1], [4, 2, 1], [5, 3, 1], [3, 1, 2], [2, 2, 3]] as const) {
          const eks = (k - 1) * d + 1, tIn = 1 + (seed % 5);
          const offT = seed % eks; // tap 0 of step 0 lands at offT; lower taps fall before the output
          const tOut = (tIn - 1) * s + 1 + (seed % (eks + s));
          const c: NdCase = { batch: 2, cIn, f: fg * g, g, kt: k, st: s, dt: d, tIn, tOut, h: UNIT, w: UNIT, bias: false, chunk: 1 + (seed % 5), misalign: (seed % 4) * 4 };
          expect(runConvTranspose(c, offT, seed++), JSON.stringify({ ...c, offT })).toBeNull();
        }
  });

  it('overlap-adds over time and space (Conv2DTranspose shapes)', () => {
    let seed = 600;
    for (const [cIn, g, f] of [[2, 1, 3], [4, 2, 6], [3, 1, 9]] as const)
      for (const [kh, sh, dh, pad] of [[1, 1, 1, 0], [3, 2, 1, 2], [2, 3, 1, 1], [3, 1, 2, 4]] as const) {
        const n = 2 + (seed % 3);
        const h = { n, k: kh, s: sh, d: dh, pad, out: (n - 1) * sh + 1 + (seed % 3) };
        const c: NdCase = { batch: 2, cIn, f, g, kt: 3, st: 2, dt: 1, tIn: 3, tOut: 7, h, w: UNIT, bias: false, chunk: 1 + (seed % 4), misalign: (seed % 4) * 4 };
        expect(runConvTranspose(c, 2, seed++), JSON.stringify(c)).toBeNull();
      }
  });
});

describe('mask and resampling kernels', () => {
  /** Runs a u8 kernel on `input` and returns `n` output bytes. */
  function bytes(input: Uint8Array, n: number, run: (src: number, out: number) => void): number[] {
    const src = rt.heap.alloc(Math.max(1, input.length)), out = rt.heap.alloc(n + 1);
    try {
      rt.u8.set(input, src);
      rt.u8[out + n] = 77;
      run(src, out);
      expect(rt.u8[out + n], 'byte after the output').toBe(77);
      return [...rt.u8.slice(out, out + n)];
    } finally {
      rt.heap.release(src);
      rt.heap.release(out);
    }
  }

  it('mask_conv_transpose: AND / OR over the inputs reaching each output', () => {
    const mask = Uint8Array.from([1, 1, 0, 1, 1, 1, 1, 0]); // [2, 4]
    for (const [k, s, d, off, tOut] of [[3, 2, 1, 2, 9], [2, 2, 2, 2, 8], [4, 3, 1, 1, 11], [1, 1, 1, 0, 4]] as const) {
      for (const useOr of [false, true]) {
        const got = bytes(mask, 2 * tOut, (src, out) => rt.k.mask_conv_transpose(2, 4, tOut, k, s, d, off, useOr, src, out));
        const want: number[] = [];
        for (let b = 0; b < 2; b++)
          for (let o = 0; o < tOut; o++) {
            const reach: number[] = [];
            for (let t = 0; t < 4; t++) for (let j = 0; j < k; j++) if (t * s + off - j * d === o) reach.push(mask[b * 4 + t]!);
            want.push(useOr ? +reach.some(Boolean) : +reach.every(Boolean));
          }
        expect(got, JSON.stringify({ k, s, d, off, useOr })).toEqual(want);
      }
    }
  });

  it('mask_conv_transpose: random masks and geometries equal the gather over every output', () => {
    const random = seededRandom(31);
    const int = (n: number) => Math.floor(random() * n);
    for (let trial = 0; trial < 300; trial++) {
      const tIn = 1 + int(7), k = 1 + int(9), s = 1 + int(3), d = 1 + int(3), off = int(k * d + 2), tOut = 1 + int(tIn * s + k * d + 2);
      const mask = Uint8Array.from({ length: 2 * tIn }, () => +(random() < 0.7));
      for (const useOr of [false, true]) {
        const got = bytes(mask, 2 * tOut, (src, out) => rt.k.mask_conv_transpose(2, tIn, tOut, k, s, d, off, useOr, src, out));
        const want: number[] = [];
        for (let b = 0; b < 2; b++)
          for (let o = 0; o < tOut; o++) {
            const reach: number[] = [];
            for (let t = 0; t < tIn; t++) for (let j = 0; j < k; j++) if (t * s + off - j * d === o) reach.push(mask[b * tIn + t]!);
            want.push(useOr ? +reach.some(Boolean) : +reach.every(Boolean));
          }
        expect(got, JSON.stringify({ tIn, k, s, d, off, tOut, useOr })).toEqual(want);
      }
    }
  });

  it('seq_repeat_time and seq_stride_time move whole steps', () => {
    const src = Uint8Array.from({ length: 2 * 5 * 3 }, (_, i) => i + 1); // [2, 5, 3 bytes]
    expect(bytes(src, 2 * 10 * 3, (a, o) => rt.k.seq_repeat_time(2, 5, 2, 3, a, o))).toEqual(
      Array.from({ length: 60 }, (_, i) => src[Math.floor(i / 30) * 15 + Math.floor((i % 30) / 6) * 3 + (i % 3)]),
    );
    expect(bytes(src.subarray(0, 6), 18, (a, o) => rt.k.seq_repeat_time(2, 3, 3, 1, a, o))).toEqual([1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5, 6, 6, 6]);
    // Steps 0, 2, 4 of each item (ceil(5 / 2) = 3 outputs).
    expect(bytes(src, 2 * 3 * 3, (a, o) => rt.k.seq_stride_time(2, 5, 3, 2, 3, a, o))).toEqual([1, 2, 3, 7, 8, 9, 13, 14, 15, 16, 17, 18, 22, 23, 24, 28, 29, 30]);
  });
});
