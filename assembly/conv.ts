// 1-D convolutions over time as packed GEMMs, and depthwise convolution.
//
// Layouts: x [B, tIn, cIn] already padded in time (callers apply the padding mode), kernel in the
// reference layout w [k, cIn / g, f] (cross-correlation, HIO), y [B, tOut, f] with
// y[b, t, o] = bias[o] + sum_j sum_c x[b, t*s + j*d, group(o)*cg + c] * w[j, c, o].
import { f32_gemm } from './gemm/f32-gemm-4x8';
import { f32_gemm_pack_b, f32_gemm_packed_len } from './gemm/pack';
import { madd } from './simd';

// With dilation 1 and one group, the im2col row of output t is the contiguous run
// x[b, t*s : t*s + k, :] (k * cIn floats), so the whole convolution is ONE GEMM over A = x with
// row stride s * cIn and K = k * cIn: no copy. Otherwise one GEMM per (tap, group), accumulated.
@inline function isContiguous(g: i32, d: i32): bool {
  return g == 1 && d == 1;
}

/** Floats needed by f32_conv1d_pack for these sizes. */
export function f32_conv1d_packed_len(k: i32, cIn: i32, f: i32, g: i32, d: i32): i32 {
  if (isContiguous(g, d)) return f32_gemm_packed_len(k * cIn, f);
  return k * g * f32_gemm_packed_len(cIn / g, f / g);
}

/** Packs w [k, cIn/g, f] for f32_conv1d. */
export function f32_conv1d_pack(k: i32, cIn: i32, f: i32, g: i32, d: i32, w: usize, out: usize): void {
  if (isContiguous(g, d)) {
    f32_gemm_pack_b(k * cIn, f, w, f, out);
    return;
  }
  const cg = cIn / g, fg = f / g;
  const blockBytes = <usize>f32_gemm_packed_len(cg, fg) << 2;
  for (let j = 0; j < k; j++) {
    for (let gi = 0; gi < g; gi++) {
      const src = w + (<usize>(j * cg * f + gi * fg) << 2);
      f32_gemm_pack_b(cg, fg, src, f, out + <usize>(j * g + gi) * blockBytes);
    }
  }
}

/**
 * y = conv1d(x, w) + bias (bias 0 = none): valid padding, stride s, dilation d, g groups.
 * x [B, tIn, cIn] with tIn >= (tOut - 1) * s + (k - 1) * d + 1; wp packed by f32_conv1d_pack;
 * y [B, tOut, f], not overlapping x. Never reads or writes past the last element of x or y.
 */
export function f32_conv1d(
  batch: i32, tIn: i32, tOut: i32, cIn: i32, f: i32, k: i32, s: i32, d: i32, g: i32,
  x: usize, wp: usize, bias: usize, y: usize,
): void {
  if (tOut <= 0) return;
  const xStride = <usize>(tIn * cIn) << 2, yStride = <usize>(tOut * f) << 2;
  if (isContiguous(g, d)) {
    for (let b = 0; b < batch; b++) {
      f32_gemm(tOut, f, k * cIn, x + <usize>b * xStride, s * cIn, wp, y + <usize>b * yStride, f, bias, false);
    }
    return;
  }
  const cg = cIn / g, fg = f / g;
  const blockBytes = <usize>f32_gemm_packed_len(cg, fg) << 2;
  for (let b = 0; b < batch; b++) {
    const xb = x + <usize>b * xStride, yb = y + <usize>b * yStride;
    for (let j = 0; j < k; j++) {
      for (let gi = 0; gi < g; gi++) {
        f32_gemm(
          tOut, fg, cg,
          xb + (<usize>(j * d * cIn + gi * cg) << 2), s * cIn,
          wp + <usize>(j * g + gi) * blockBytes,
          yb + (<usize>(gi * fg) << 2), f,
          j == 0 && bias ? bias + (<usize>(gi * fg) << 2) : 0,
          j > 0,
        );
      }
    }
  }
}

/**
 * Depthwise with depth multiplier m: y[b, t, c*m + j] = bias[c*m + j] + sum_i x[b, t*s + i*d, c] * w[i, c*m + j].
 * x [B, tIn, C] already padded in time; w [k, C*m] (the reference's [k, 1, C*m]); bias [C*m] or 0;
 * y [B, tOut, C*m]. Needs tIn >= (tOut - 1) * s + (k - 1) * d + 1. SIMD over 4 output channels
 * (their inputs gathered lane by lane when m > 1), scalar tail; not in place; never reads or
 * writes past the last element.
 */
export function f32_dwconv1d(
  batch: i32, tIn: i32, tOut: i32, c: i32, m: i32, k: i32, s: i32, d: i32,
  x: usize, w: usize, bias: usize, y: usize,
): void {
  const cm = c * m;
  const rowIn = <usize>c << 2, rowOut = <usize>cm << 2;
  for (let b = 0; b < batch; b++) {
    const xb = x + <usize>(b * tIn) * rowIn, yb = y + <usize>(b * tOut) * rowOut;
    for (let t = 0; t < tOut; t++) {
      const xt = xb + <usize>(t * s) * rowIn, yt = yb + <usize>t * rowOut;
      let o = 0;
      // Main loop: 4 output channels.
      for (; o + 4 <= cm; o += 4) {
        const ob = <usize>o << 2;
        let acc = bias ? v128.load(bias + ob) : f32x4.splat(0);
        for (let i = 0; i < k; i++) {
          const xr = xt + <usize>(i * d) * rowIn;
          let xv: v128;
          if (m == 1) {
            xv = v128.load(xr + ob);
          } else {
            xv = f32x4.splat(load<f32>(xr + (<usize>(o / m) << 2)));
            xv = f32x4.replace_lane(xv, 1, load<f32>(xr + (<usize>((o + 1) / m) << 2)));
            xv = f32x4.replace_lane(xv, 2, load<f32>(xr + (<usize>((o + 2) / m) << 2)));
            xv = f32x4.replace_lane(xv, 3, load<f32>(xr + (<usize>((o + 3) / m) << 2)));
          }
          acc = madd(xv, v128.load(w + <usize>i * rowOut + ob), acc);
        }
        v128.store(yt + ob, acc);
      }
      // Tail: one output channel at a time.
      for (; o < cm; o++) {
        const ob = <usize>o << 2, ib = <usize>(o / m) << 2;
        let acc: f32 = bias ? load<f32>(bias + ob) : 0;
        for (let i = 0; i < k; i++) acc += load<f32>(xt + <usize>(i * d) * rowIn + ib) * load<f32>(w + <usize>i * rowOut + ob);
        store<f32>(yt + ob, acc);
      }
    }
  }
}
