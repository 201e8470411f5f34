// The relaxed build's main GEMM tile, 5x8, used by f32_gemm (f32-gemm-4x8.ts) for as many row
// quintets as leave a multiple of 4 rows to its 4x8 tiles (same blocking, same order of sums:
// an element of C is bit-identical whichever tile computes it).
//
// Why 5 rows: the relaxed madd is an FMA with a latency of 4 cycles (Zen 4) and 2 issue per
// cycle, so 4x8's 8 accumulator chains are just enough and every stall shows (86-91 % of the
// peak loop). Five rows make 10 chains. Loading five broadcasts (load32_splat) would need 10 +
// 2 + 5 = 17 registers, because V8 issues an iteration's loads before its arithmetic, and
// spill; here the A quintet is one 16-byte load (rows 0-3) plus one broadcast (row 4), and
// rows 0-3 are splatted by shuffles, which V8 places next to their madds: 10 accumulators + 2 B
// + 2 A + 1 splat = 15 registers, all V8 has. Measured (relaxed, Zen 4, 60 x 512 x 512 against
// 64 x 512 x 512 with 4x8, GFLOP/s): 4x8 53.7, 5x8 with A as [k][8] 56.0, as [k][5] 57.0, the
// peak loop 59.0. The plain build keeps 4x8: its shuffles compete with mul and add for the
// same ports (41.3 against 46.0), so this file is compiled into the relaxed build only.
import { madd } from '../simd';
import { accStart, accStore } from './tile';

/** One 5x8 tile over kc steps: packed A quintets at ap, the panel's slice at bk, C rows from c0 (ldcB bytes apart). */
@inline export function tile5x8(kc: i32, ap: usize, bk: usize, c0: usize, ldcB: usize, bias: usize, nr: i32, accumulate: bool): void {
  const c1 = c0 + ldcB, c2 = c1 + ldcB, c3 = c2 + ldcB, c4 = c3 + ldcB;
  let x0 = accStart(c0, bias, 0, nr, accumulate), y0 = accStart(c0, bias, 4, nr, accumulate);
  let x1 = accStart(c1, bias, 0, nr, accumulate), y1 = accStart(c1, bias, 4, nr, accumulate);
  let x2 = accStart(c2, bias, 0, nr, accumulate), y2 = accStart(c2, bias, 4, nr, accumulate);
  let x3 = accStart(c3, bias, 0, nr, accumulate), y3 = accStart(c3, bias, 4, nr, accumulate);
  let x4 = accStart(c4, bias, 0, nr, accumulate), y4 = accStart(c4, bias, 4, nr, accumulate);
  const end = ap + <usize>kc * 20;
  for (; ap < end; ap += 20) {
    const b0 = v128.load(bk), b1 = v128.load(bk, 16);
    bk += 32;
    const aq = v128.load(ap);
    let va = i32x4.shuffle(aq, aq, 0, 0, 0, 0);
    x0 = madd(va, b0, x0); y0 = madd(va, b1, y0);
    va = i32x4.shuffle(aq, aq, 1, 1, 1, 1);
    x1 = madd(va, b0, x1); y1 = madd(va, b1, y1);
    va = i32x4.shuffle(aq, aq, 2, 2, 2, 2);
    x2 = madd(va, b0, x2); y2 = madd(va, b1, y2);
    va = i32x4.shuffle(aq, aq, 3, 3, 3, 3);
    x3 = madd(va, b0, x3); y3 = madd(va, b1, y3);
    va = v128.load32_splat(ap, 16);
    x4 = madd(va, b0, x4); y4 = madd(va, b1, y4);
  }
  accStore(c0, x0, 0, nr); accStore(c0, y0, 4, nr);
  accStore(c1, x1, 0, nr); accStore(c1, y1, 4, nr);
  accStore(c2, x2, 0, nr); accStore(c2, y2, 4, nr);
  accStore(c3, x3, 0, nr); accStore(c3, y3, 4, nr);
  accStore(c4, x4, 0, nr); accStore(c4, y4, 4, nr);
}
