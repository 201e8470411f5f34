// Tester of f32_mask_invalid (assembly/mask.ts): every pattern of valid and invalid rows over a
// few rows (runs of valid rows are copied in one go), rows of 1..9 floats, in place and not,
// NaN and Inf at invalid rows replaced, guard values around the output. Runs on both builds.
import { beforeAll, describe, expect, it } from 'vitest';
import * as sl from '../../src/index.js';

let rt: sl.Runtime;
beforeAll(async () => {
  await sl.init();
  rt = sl.getRuntime();
});

const SENTINEL = -12345.5;

describe('f32_mask_invalid', () => {
  it('copies valid rows and fills invalid ones, for every mask of 5 rows', () => {
    const rows = 5, fill = 0.25;
    for (const c of [1, 2, 3, 4, 5, 8, 9]) {
      for (let bits = 0; bits < 1 << rows; bits++) {
        for (const inPlace of [false, true]) {
          const n = rows * c;
          const x = Float32Array.from({ length: n }, (_, i) => (i % 7 === 3 ? NaN : i % 11 === 5 ? -Infinity : i + 0.5));
          const mask = Uint8Array.from({ length: rows }, (_, r) => (bits >> r) & 1);
          const px = rt.heap.alloc(n * 4), pm = rt.heap.alloc(rows), py = rt.heap.alloc((n + 8) * 4) + 16;
          rt.f32.set(x, px >> 2);
          rt.u8.set(mask, pm);
          rt.f32.fill(SENTINEL, (py >> 2) - 4, (py >> 2) + n + 4);
          const out = inPlace ? px : py;
          rt.k.f32_mask_invalid(rows, c, pm, px, out, fill);
          const y = rt.f32.slice(out >> 2, (out >> 2) + n);
          const want = x.map((v, i) => (mask[Math.floor(i / c)] ? v : fill));
          expect(Array.from(y), `c ${c}, mask ${mask.join('')}, in place ${inPlace}`).toEqual(Array.from(want));
          if (!inPlace) {
            for (let i = 1; i <= 4; i++) {
              expect(rt.f32[(py >> 2) - i]).toBe(SENTINEL);
              expect(rt.f32[(py >> 2) + n - 1 + i]).toBe(SENTINEL);
            }
          }
          rt.heap.release(px);
          rt.heap.release(pm);
          rt.heap.release(py - 16);
        }
      }
    }
  });
});
