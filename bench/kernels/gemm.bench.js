// f32 GEMM and GEMV against the WASM SIMD peak loop measured in the same run.
import { measure } from '../lib.js';

const PEAK_ITERS = 200_000;

/** GFLOP/s of the madd peak loop (96 flops per iteration). */
export function peak(rt) {
  const t = measure('peak', () => rt.k.f32_peak_madd(PEAK_ITERS));
  return { ...t, gflops: (96 * PEAK_ITERS) / t.median / 1e9 };
}

/** C[m, n] = A[m, k] · B[k, n] with B packed once, as Dense and Conv1D use it. */
export function gemm(rt, m, n, k) {
  const { heap, k: kern } = rt;
  const a = heap.alloc(m * k * 4), b = heap.alloc(k * n * 4), bp = heap.alloc(kern.f32_gemm_packed_len(k, n) * 4), c = heap.alloc(m * n * 4);
  const f = rt.f32;
  for (let i = 0; i < m * k; i++) f[(a >> 2) + i] = Math.sin(i);
  for (let i = 0; i < k * n; i++) f[(b >> 2) + i] = Math.cos(i);
  kern.f32_gemm_pack_b(k, n, b, n, bp);
  const t = measure(`gemm ${m}x${n}x${k}`, () => kern.f32_gemm(m, n, k, a, k, bp, c, n, 0, false));
  for (const p of [a, b, bp, c]) heap.release(p);
  return { ...t, gflops: (2 * m * n * k) / t.median / 1e9 };
}
