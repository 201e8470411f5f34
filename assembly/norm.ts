// Layer and RMS normalisation over the middle axis of a [rows, n, inner] view: the kernels of
// LayerNormalization and RMSNormalization (src/layers/normalization.ts).
//
// x, y: [rows, n, inner] row-major, contiguous; every (row, i) with i < inner is one group of n
//   values at element stride `inner` that is normalised on its own.
// scale, bias: [n] shared by every group, or 0 for none (scale 1, bias 0).
// Any rows >= 0, n >= 1, inner >= 1; no alignment assumed; may run in place (x == y); never
// reads or writes outside x, y, scale, bias.
//
// inner == 1 (the last channel axis) runs SIMD along each row with horizontal sums; inner > 1
// runs four groups side by side (one per lane), so a non-last axis costs no transpose.
//
// Statistics are f32. The mean uses the corrected two-pass algorithm (Chan, Golub & LeVeque
// 1983): pass 1 gives m = sum(x) / n, pass 2 accumulates d = x - m and d², then
// dm = sum(d) / n and var = sum(d²) / n - dm², which cancels most of the rounding error of m.
// The mean stays split as m + dm, and pass 3 computes (x - m) - dm: x - m is exact for x near
// m (Sterbenz), whereas rounding m + dm to f32 would cost half an ulp of the offset (5e-4 at
// 1e4, i.e. 5e-3 relative on a spread of 0.1). A constant row gives var = 0 exactly (output =
// bias). A NaN or Inf only reaches its own group. Measured error against an f64 reference:
// |y - ref| <= 5.6e-7 * (1 + |ref|) on both builds, offset rows included
// (test/kernels/norm.test.ts).
import { hsum, loadLanes, madd, storeLanes } from './simd';

/** y = (x - mean) / sqrt(var + eps) * scale + bias, over the n axis of each group. */
export function f32_layernorm(rows: i32, n: i32, inner: i32, x: usize, scale: usize, bias: usize, eps: f32, y: usize): void {
  if (inner == 1) for (let r = 0; r < rows; r++) normRow(true, n, x + (<usize>r * n << 2), scale, bias, eps, y + (<usize>r * n << 2));
  else normColumns(true, rows, n, inner, x, scale, bias, eps, y);
}

/** y = x / sqrt(mean(x²) + eps) * scale, over the n axis of each group. */
export function f32_rmsnorm(rows: i32, n: i32, inner: i32, x: usize, scale: usize, eps: f32, y: usize): void {
  if (inner == 1) for (let r = 0; r < rows; r++) normRow(false, n, x + (<usize>r * n << 2), scale, 0, eps, y + (<usize>r * n << 2));
  else normColumns(false, rows, n, inner, x, scale, 0, eps, y);
}

/** One contiguous row of n. `center`: layer norm (mean and variance), else RMS. */
@inline function normRow(center: bool, n: i32, x: usize, scale: usize, bias: usize, eps: f32, y: usize): void {
  const fn = <f32>n;
  // Pass 1: sum(x) (layer norm) or sum(x²) (RMS); two accumulators, then one vector, then scalars.
  let a0 = f32x4.splat(0), a1 = a0;
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const v0 = v128.load(x + (<usize>i << 2)), v1 = v128.load(x + (<usize>i << 2), 16);
    a0 = center ? f32x4.add(a0, v0) : madd(v0, v0, a0);
    a1 = center ? f32x4.add(a1, v1) : madd(v1, v1, a1);
  }
  for (; i + 4 <= n; i += 4) {
    const v = v128.load(x + (<usize>i << 2));
    a0 = center ? f32x4.add(a0, v) : madd(v, v, a0);
  }
  let s = hsum(f32x4.add(a0, a1));
  for (; i < n; i++) {
    const v = load<f32>(x + (<usize>i << 2));
    s += center ? v : v * v;
  }

  // The mean is m + dm (see the file comment); 0 for RMS.
  let m: f32 = 0, dm: f32 = 0, rstd: f32;
  if (center) {
    // Pass 2: residuals around m, to correct it and get the variance.
    m = s / fn;
    const vm = f32x4.splat(m);
    let sd = f32x4.splat(0), sdd = sd;
    i = 0;
    for (; i + 4 <= n; i += 4) {
      const d = f32x4.sub(v128.load(x + (<usize>i << 2)), vm);
      sd = f32x4.add(sd, d);
      sdd = madd(d, d, sdd);
    }
    let d1 = hsum(sd), d2 = hsum(sdd);
    for (; i < n; i++) {
      const d = load<f32>(x + (<usize>i << 2)) - m;
      d1 += d;
      d2 += d * d;
    }
    dm = d1 / fn;
    // max() keeps a rounding-negative variance out of sqrt; NaN still propagates.
    rstd = 1 / Mathf.sqrt(max<f32>(d2 / fn - dm * dm, 0) + eps);
  } else {
    rstd = 1 / Mathf.sqrt(s / fn + eps);
  }

  // Pass 3: y = ((x - m) - dm) * (rstd * scale) + bias.
  const vm = f32x4.splat(m), vdm = f32x4.splat(dm), vr = f32x4.splat(rstd), zero = f32x4.splat(0);
  i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const vs = scale ? f32x4.mul(vr, v128.load(scale + o)) : vr;
    const vb = bias ? v128.load(bias + o) : zero;
    const v = v128.load(x + o);
    v128.store(y + o, madd(center ? f32x4.sub(f32x4.sub(v, vm), vdm) : v, vs, vb));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const sc = scale ? rstd * load<f32>(scale + o) : rstd;
    const b: f32 = bias ? load<f32>(bias + o) : 0;
    store<f32>(y + o, (load<f32>(x + o) - m - dm) * sc + b);
  }
}

/** Groups along a strided axis: four neighbouring groups per vector, partial lanes at the end. */
@inline function normColumns(center: bool, rows: i32, n: i32, inner: i32, x: usize, scale: usize, bias: usize, eps: f32, y: usize): void {
  const stride = <usize>inner << 2;
  const vn = f32x4.splat(<f32>n), one = f32x4.splat(1), zero = f32x4.splat(0), veps = f32x4.splat(eps);
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize>r * n * stride, yr = y + <usize>r * n * stride;
    for (let c = 0; c < inner; c += 4) {
      const lanes = min(inner - c, 4);
      const xc = xr + (<usize>c << 2), yc = yr + (<usize>c << 2);
      // Pass 1: per-lane sum(x) or sum(x²); unused lanes load zeros.
      let s = zero;
      for (let k = 0; k < n; k++) {
        const v = loadLanes(xc + <usize>k * stride, lanes);
        s = center ? f32x4.add(s, v) : madd(v, v, s);
      }
      let m = zero, dm = zero, rstd: v128;
      if (center) {
        // Pass 2: residuals around m (see the file comment).
        m = f32x4.div(s, vn);
        let sd = zero, sdd = zero;
        for (let k = 0; k < n; k++) {
          const d = f32x4.sub(loadLanes(xc + <usize>k * stride, lanes), m);
          sd = f32x4.add(sd, d);
          sdd = madd(d, d, sdd);
        }
        dm = f32x4.div(sd, vn);
        const v = f32x4.max(f32x4.sub(f32x4.div(sdd, vn), f32x4.mul(dm, dm)), zero);
        rstd = f32x4.div(one, f32x4.sqrt(f32x4.add(v, veps)));
      } else {
        rstd = f32x4.div(one, f32x4.sqrt(f32x4.add(f32x4.div(s, vn), veps)));
      }
      // Pass 3: y = ((x - m) - dm) * (rstd * scale[k]) + bias[k].
      for (let k = 0; k < n; k++) {
        const o = <usize>k << 2;
        const vs = scale ? f32x4.mul(rstd, f32x4.splat(load<f32>(scale + o))) : rstd;
        const vb = bias ? f32x4.splat(load<f32>(bias + o)) : zero;
        const v = loadLanes(xc + <usize>k * stride, lanes);
        storeLanes(yc + <usize>k * stride, madd(center ? f32x4.sub(f32x4.sub(v, m), dm) : v, vs, vb), lanes);
      }
    }
  }
}
