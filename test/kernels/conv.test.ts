// Tester for the 1-D convolution kernels (assembly/conv.ts): a plain f64 reference, sizes around
// the 4-lane and 8-column tiles (channels and filters below, at and above them), every path of
// f32_conv1d (one GEMM when dilation 1 and one group, per-tap/per-group GEMMs otherwise),
// depth multipliers 1 to 3, unaligned pointers, and guard values around every output.
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
  const packedLen = depthwise ? 0 : rt.k.f32_conv1d_packed_len(k, cIn, f, g, d);
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
      rt.k.f32_dwconv1d(batch, tIn, tOut, cIn, g, k, s, d, px, pw, pbias, py);
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

describe('f32_conv1d', () => {
  it('matches the reference on the one-GEMM path (groups 1, dilation 1)', () => {
    let seed = 1;
    for (const cIn of [1, 3, 8])
      for (const f of [1, 5, 8, 9, 17])
        for (const [k, s] of [[1, 1], [2, 1], [3, 2], [5, 3]] as const)
          for (const tOut of [1, 4, 7]) {
            const c = { batch: 2, tOut, cIn, f, k, s, d: 1, g: 1, bias: seed % 3 !== 0, misalign: (seed % 4) * 4 };
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
  it('matches the reference for channels around the 4-lane tile and depth multipliers 1..3', () => {
    let seed = 200;
    for (let cIn = 1; cIn <= 9; cIn++)
      for (const m of [1, 2, 3])
        for (const [k, s, d] of [[1, 1, 1], [3, 1, 2], [4, 2, 1], [5, 3, 2]] as const) {
          const c = { batch: 2, tOut: 1 + (seed % 5), cIn, f: cIn * m, k, s, d, g: m, bias: seed % 3 !== 0, misalign: (seed % 4) * 4 };
          expect(runCase(c, true, seed++), JSON.stringify(c)).toBeNull();
        }
  });
});
