// Normalisation kernels of src/layers/normalization.ts.
//
// Per-step normalisation over the middle axis of a [rows, n, inner] view: f32_layernorm,
// f32_rmsnorm, f32_l2norm (LayerNormalization, RMSNormalization, L2Normalize), and the affine
// map of BatchNormalization at inference, f32_batchnorm.
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
// bias). A NaN or Inf only reaches its own group.
//
// Group normalisation over time and channel groups of valid steps: f32_groupnorm and
// f32_groupnorm_cumulative (GroupNormalization); see their doc blocks.
//
// Measured error against f64 references, |y - ref| / (1 + |ref|), on both builds
// (test/kernels/norm.test.ts, offset inputs included): layer 2.0e-7, RMS 5.6e-7, L2 7.2e-8,
// batch 1.5e-7, group 3.6e-7, cumulative group 5.7e-7 (its f32 running sums lose accuracy
// as a stream grows, as the reference's do).
import { hsum, loadLanes, madd, storeLanes } from './simd';

// What normRow and normColumns compute (constants, folded away once inlined): layer norm
// (mean and variance), RMS norm (mean square), L2 norm (sum of squares).
const LAYER = 0, RMS = 1, L2 = 2;

/** y = (x - mean) / sqrt(var + eps) * scale + bias, over the n axis of each group. */
export function f32_layernorm(rows: i32, n: i32, inner: i32, x: usize, scale: usize, bias: usize, eps: f32, y: usize): void {
  if (inner == 1) for (let r = 0; r < rows; r++) normRow(LAYER, n, x + (<usize>r * n << 2), scale, bias, eps, y + (<usize>r * n << 2));
  else normColumns(LAYER, rows, n, inner, x, scale, bias, eps, y);
}

/** y = x / sqrt(mean(x²) + eps) * scale, over the n axis of each group. */
export function f32_rmsnorm(rows: i32, n: i32, inner: i32, x: usize, scale: usize, eps: f32, y: usize): void {
  if (inner == 1) for (let r = 0; r < rows; r++) normRow(RMS, n, x + (<usize>r * n << 2), scale, 0, eps, y + (<usize>r * n << 2));
  else normColumns(RMS, rows, n, inner, x, scale, 0, eps, y);
}

/** y = x / sqrt(sum(x²) + eps), over the n axis of each group (no scale or bias). */
export function f32_l2norm(rows: i32, n: i32, inner: i32, x: usize, eps: f32, y: usize): void {
  if (inner == 1) for (let r = 0; r < rows; r++) normRow(L2, n, x + (<usize>r * n << 2), 0, 0, eps, y + (<usize>r * n << 2));
  else normColumns(L2, rows, n, inner, x, 0, 0, eps, y);
}

/** One contiguous row of n; `kind` is LAYER, RMS or L2. */
@inline function normRow(kind: i32, n: i32, x: usize, scale: usize, bias: usize, eps: f32, y: usize): void {
  const center = kind == LAYER, fn = <f32>n;
  // Pass 1: sum(x) (layer norm) or sum(x²) (RMS, L2); two accumulators, then one vector, then scalars.
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

  // The mean is m + dm (see the file comment); 0 for RMS and L2.
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
    // max() keeps a rounding-negative variance out of sqrt; NaN still propagates. A variance
    // past float32 stays Inf (rstd 0, y = bias, as the reference): dm * dm may overflow too.
    const v = d2 / fn;
    rstd = 1 / Mathf.sqrt((v == Infinity ? v : max<f32>(v - dm * dm, 0)) + eps);
  } else {
    rstd = 1 / Mathf.sqrt((kind == RMS ? s / fn : s) + eps);
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
@inline function normColumns(kind: i32, rows: i32, n: i32, inner: i32, x: usize, scale: usize, bias: usize, eps: f32, y: usize): void {
  const center = kind == LAYER, stride = <usize>inner << 2;
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
        const mean2 = f32x4.div(sdd, vn);
        const v = v128.bitselect(mean2, f32x4.max(f32x4.sub(mean2, f32x4.mul(dm, dm)), zero), f32x4.eq(mean2, f32x4.splat(Infinity)));
        rstd = f32x4.div(one, f32x4.sqrt(f32x4.add(v, veps)));
      } else {
        rstd = f32x4.div(one, f32x4.sqrt(f32x4.add(kind == RMS ? f32x4.div(s, vn) : s, veps)));
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

/**
 * y[r, k, i] = (x[r, k, i] - mean[k]) * mul[k] + bias[k]: BatchNormalization at inference,
 * with mul = scale / sqrt(var + eps) precomputed (Flax's order: centre, then one multiply).
 * x, y [rows, n, inner]; mean, mul, bias [n], bias 0 for none. Same sizes, alignment and
 * in-place rules as above.
 */
export function f32_batchnorm(rows: i32, n: i32, inner: i32, x: usize, mean: usize, mul: usize, bias: usize, y: usize): void {
  const zero = f32x4.splat(0);
  if (inner == 1) {
    // SIMD along the channels of each row.
    for (let r = 0; r < rows; r++) {
      const xr = x + (<usize>r * n << 2), yr = y + (<usize>r * n << 2);
      let k = 0;
      for (; k + 4 <= n; k += 4) {
        const o = <usize>k << 2;
        const vb = bias ? v128.load(bias + o) : zero;
        v128.store(yr + o, madd(f32x4.sub(v128.load(xr + o), v128.load(mean + o)), v128.load(mul + o), vb));
      }
      for (; k < n; k++) {
        const o = <usize>k << 2;
        const b: f32 = bias ? load<f32>(bias + o) : 0;
        store<f32>(yr + o, (load<f32>(xr + o) - load<f32>(mean + o)) * load<f32>(mul + o) + b);
      }
    }
    return;
  }
  // SIMD along the contiguous inner axis, channel constants splatted.
  for (let r = 0; r < rows; r++) {
    for (let k = 0; k < n; k++) {
      const o = <usize>k << 2, at = (<usize>r * n + k) * inner << 2;
      const m = load<f32>(mean + o), s = load<f32>(mul + o), b: f32 = bias ? load<f32>(bias + o) : 0;
      const vm = f32x4.splat(m), vs = f32x4.splat(s), vb = f32x4.splat(b);
      let i = 0;
      for (; i + 4 <= inner; i += 4) {
        const p = at + (<usize>i << 2);
        v128.store(y + p, madd(f32x4.sub(v128.load(x + p), vm), vs, vb));
      }
      for (; i < inner; i++) {
        const p = at + (<usize>i << 2);
        store<f32>(y + p, (load<f32>(x + p) - m) * s + b);
      }
    }
  }
}

// Group normalisation (the reference's GroupNormalization with _masked_moments and
// _cumulative_masked_moments_streaming). One step of one batch item is [outer, groups, len]:
// group g is the `outer` chunks of `len` contiguous floats at (o * groups + g) * len (outer
// = channel axes before the grouped axis, len = group size × the axes after it). Statistics
// of a group come from its elements at VALID steps only (mask[b, t] != 0; invalid values,
// NaN included, are never read for them), with count = max(valid elements, 1):
//   mean = sum(x) / count, var = sum((x - mean)²) / count,
//   y = (x - mean) * (1 / sqrt(var + eps)) * scale + bias   at every step, invalid ones too.
// x, y [batch, time, outer, groups, len]; mask u8 [batch, time]; scale, bias [groups, len]
// (the grouped axis and the axes after it, scale broadcast over those by the caller) or 0
// for none. No alignment assumed; may run in place; never touches memory outside x, y,
// mask, scale, bias and the state.

/** Sum of group elements of one step: `outer` chunks of `len` floats at p, p + stride, ... */
@inline function chunkSum(outer: i32, len: i32, stride: usize, p: usize): f32 {
  let a = f32x4.splat(0), s: f32 = 0;
  for (let o = 0; o < outer; o++) {
    const q = p + <usize>o * stride;
    let e = 0;
    for (; e + 4 <= len; e += 4) a = f32x4.add(a, v128.load(q + (<usize>e << 2)));
    for (; e < len; e++) s += load<f32>(q + (<usize>e << 2));
  }
  return hsum(a) + s;
}

/** Sum of (x - mean)² over the group elements of one step. */
@inline function chunkSquares(outer: i32, len: i32, stride: usize, p: usize, mean: f32): f32 {
  const vm = f32x4.splat(mean);
  let a = f32x4.splat(0), s: f32 = 0;
  for (let o = 0; o < outer; o++) {
    const q = p + <usize>o * stride;
    let e = 0;
    for (; e + 4 <= len; e += 4) {
      const d = f32x4.sub(v128.load(q + (<usize>e << 2)), vm);
      a = madd(d, d, a);
    }
    for (; e < len; e++) {
      const d = load<f32>(q + (<usize>e << 2)) - mean;
      s += d * d;
    }
  }
  return hsum(a) + s;
}

/** y = ((x - mean) * rstd) * scale[e] + bias[e] over the group elements of one step (the reference's order). */
@inline function chunkNormalize(outer: i32, len: i32, stride: usize, x: usize, y: usize, mean: f32, rstd: f32, scale: usize, bias: usize): void {
  const vm = f32x4.splat(mean), vr = f32x4.splat(rstd), one = f32x4.splat(1), zero = f32x4.splat(0);
  for (let o = 0; o < outer; o++) {
    const xo = x + <usize>o * stride, yo = y + <usize>o * stride;
    let e = 0;
    for (; e + 4 <= len; e += 4) {
      const p = <usize>e << 2;
      const vs = scale ? v128.load(scale + p) : one, vb = bias ? v128.load(bias + p) : zero;
      v128.store(yo + p, madd(f32x4.mul(f32x4.sub(v128.load(xo + p), vm), vr), vs, vb));
    }
    for (; e < len; e++) {
      const p = <usize>e << 2;
      const s: f32 = scale ? load<f32>(scale + p) : 1, b: f32 = bias ? load<f32>(bias + p) : 0;
      store<f32>(yo + p, (load<f32>(xo + p) - mean) * rstd * s + b);
    }
  }
}

/**
 * Non-cumulative group normalisation: one mean and variance per (batch item, group) over all
 * its valid steps (two passes: mean, then squared deviations from it; sums across steps in
 * f64), applied to every step. Layout and formula in the comment above.
 */
export function f32_groupnorm(
  batch: i32, time: i32, outer: i32, groups: i32, len: i32,
  x: usize, mask: usize, scale: usize, bias: usize, eps: f32, y: usize,
): void {
  const chunk = <usize>len << 2, stride = <usize>groups * chunk, step = <usize>outer * stride;
  const perStep = <f64>outer * len;
  for (let b = 0; b < batch; b++) {
    const mb = mask + <usize>b * time;
    for (let g = 0; g < groups; g++) {
      const xg = (<usize>b * time) * step + <usize>g * chunk;
      let sum: f64 = 0, count: f64 = 0;
      for (let t = 0; t < time; t++) {
        if (!load<u8>(mb + <usize>t)) continue;
        sum += chunkSum(outer, len, stride, x + xg + <usize>t * step);
        count += perStep;
      }
      count = max(count, 1);
      const mean = <f32>(sum / count);
      let squares: f64 = 0;
      for (let t = 0; t < time; t++) {
        if (load<u8>(mb + <usize>t)) squares += chunkSquares(outer, len, stride, x + xg + <usize>t * step, mean);
      }
      const rstd: f32 = 1 / Mathf.sqrt(<f32>(squares / count) + eps);
      const sg = scale ? scale + <usize>g * chunk : 0, bg = bias ? bias + <usize>g * chunk : 0;
      for (let t = 0; t < time; t++) {
        const o = xg + <usize>t * step;
        chunkNormalize(outer, len, stride, x + o, y + o, mean, rstd, sg, bg);
      }
    }
  }
}

/**
 * Cumulative group normalisation: the statistics of step t cover the valid steps up to and
 * including t, from running sums kept in f32 state [batch, groups] and updated in place:
 *   sumV += sum(x_t), countV += elements of x_t, mean_t = sumV / max(countV, 1),
 *   sumVV += sum((x_t - mean_t)²), var_t = sumVV / max(countV, 1)   (valid steps only).
 * As in the reference, each step's squared deviations are taken from that step's running
 * mean (not re-centred later), so var_t is the reference's estimate rather than the exact
 * variance. Zeroed state starts a sequence; a stream continues block after block with
 * results identical to one call over the whole sequence. Layout in the comment above.
 */
export function f32_groupnorm_cumulative(
  batch: i32, time: i32, outer: i32, groups: i32, len: i32,
  x: usize, mask: usize, scale: usize, bias: usize, eps: f32,
  sumV: usize, countV: usize, sumVV: usize, y: usize,
): void {
  const chunk = <usize>len << 2, stride = <usize>groups * chunk, step = <usize>outer * stride;
  const perStep = <f32>outer * <f32>len;
  for (let b = 0; b < batch; b++) {
    const mb = mask + <usize>b * time;
    for (let g = 0; g < groups; g++) {
      const at = (<usize>b * groups + g) << 2;
      let sv = load<f32>(sumV + at), cv = load<f32>(countV + at), svv = load<f32>(sumVV + at);
      const xg = (<usize>b * time) * step + <usize>g * chunk;
      const sg = scale ? scale + <usize>g * chunk : 0, bg = bias ? bias + <usize>g * chunk : 0;
      for (let t = 0; t < time; t++) {
        const o = xg + <usize>t * step;
        const valid = load<u8>(mb + <usize>t) != 0;
        if (valid) {
          sv += chunkSum(outer, len, stride, x + o);
          cv += perStep;
        }
        const count = max<f32>(cv, 1), mean = sv / count;
        if (valid) svv += chunkSquares(outer, len, stride, x + o, mean);
        const rstd: f32 = 1 / Mathf.sqrt(svv / count + eps);
        chunkNormalize(outer, len, stride, x + o, y + o, mean, rstd, sg, bg);
      }
      store<f32>(sumV + at, sv);
      store<f32>(countV + at, cv);
      store<f32>(sumVV + at, svv);
    }
  }
}
