// Position-driven kernels: step positions counted from masks, the sinusoidal timing signal
// (AddTimingSignal), rotary embeddings (ApplyRotaryPositionalEncoding), the per-step helpers of
// the time-varying layers (SequenceEmbedding ids, MaskedDense's input buffer, rows past
// num_steps) and the Gaussian-mixture attention of GmmAttention (weights over source positions).
//
// sin, cos, exp and softplus come from assembly/math.ts (errors stated there). Every element's
// result depends only on its own inputs, never on where it sits in a buffer or block, so
// layer() and step() agree exactly. No kernel reads or writes past the sizes it is given.
import { cosV, expIsZero, expV, log1pV, sinV } from './math';
import { loadLanes, madd, storeLanes } from './simd';

// ---------------------------------------------------------------------------------------------
// Positions

/**
 * Positions of the steps of x [batch, time] from a running per-item counter (i32 [batch],
 * updated in place), as floats pos [batch, time]:
 *  - validOnly = 1: counter += mask[b, t] at each step and pos = max(counter, 0). Starting from
 *    -1, the k-th valid step gets position k - 1 and invalid steps repeat the previous one (the
 *    reference's max(0, cumsum(mask) - 1) in layer(), state + cumsum(mask) in step()).
 *  - validOnly = 0: pos = counter + t, and counter += time at the end (physical positions).
 */
export function seq_positions(batch: i32, time: i32, validOnly: i32, mask: usize, counter: usize, pos: usize): void {
  for (let b = 0; b < batch; b++) {
    const cp = counter + (<usize>b << 2);
    let c = load<i32>(cp);
    const row = <usize>b * <usize>time;
    for (let t = 0; t < time; t++) {
      const i = row + <usize>t;
      if (validOnly) {
        c += <i32>load<u8>(mask + i);
        store<f32>(pos + (i << 2), <f32>max(c, 0));
      } else {
        store<f32>(pos + (i << 2), <f32>(c + t));
      }
    }
    store<i32>(cp, validOnly ? c : c + time);
  }
}

// ---------------------------------------------------------------------------------------------
// AddTimingSignal

/**
 * tensor2tensor's timing signal: y[r, i] = scale * sin(pos[r] * invTs[i]) for i < h,
 * scale * cos(pos[r] * invTs[i - h]) for h <= i < 2h, and 0 at i = 2h when n is odd
 * (h = n >> 1). pos [rows], invTs [h], y [rows, n]. The product pos * invTs is rounded to f32
 * as the reference's scaled_time. Abs error 9e-8 * scale while |pos * invTs| <= 1e4 (measured
 * 8.7e-8 for sin and 8.6e-8 for cos by test/kernels/position.test.ts).
 */
export function f32_timing_signal(rows: i32, n: i32, pos: usize, invTs: usize, scale: f32, y: usize): void {
  const h = n >> 1;
  const vs = f32x4.splat(scale);
  for (let r = 0; r < rows; r++) {
    const yr = y + ((<usize>r * <usize>n) << 2);
    sinCosRow(false, h, v128.load32_splat(pos + (<usize>r << 2)), invTs, vs, yr, yr + (<usize>h << 2));
    if (n & 1) store<f32>(yr + ((<usize>(n - 1)) << 2), 0);
  }
}

/** The angles of sinCosRow: p / t for rotary embeddings (true division), else p * t. */
@inline function angle(rotary: bool, p: v128, t: v128): v128 {
  return rotary ? f32x4.div(p, t) : f32x4.mul(p, t);
}

/** v * scale for the timing signal; rotary sines and cosines are not scaled. */
@inline function scaled(rotary: bool, v: v128, scale: v128): v128 {
  return rotary ? v : f32x4.mul(v, scale);
}

/**
 * The sines and cosines of a row of angles a = angle(rotary, p, t[i]) for i < h: s[i] =
 * scaled(sin a), c[i] = scaled(cos a). Two vectors per iteration, all four results computed
 * before any store: V8 then computes the reduction and polynomials that a vector's sin and cos
 * share once (sin and cos cost 14 % more than sin alone), which a store in between prevented,
 * and the two vectors overlap. Measured (Zen 4, µs per row, relaxed / plain build, the former
 * loop of one vector with stores in between -> this): AddTimingSignal over 512 channels 1.17
 * -> 0.51 / 1.32 -> 0.59 (one vector with the stores after: 0.61 relaxed; three vectors: within
 * 5 % of two, which leave no tail for head sizes 64 and 128); rotary embeddings of 8 heads x 64
 * 0.37 -> 0.28 / 0.37 -> 0.29.
 */
@inline function sinCosRow(rotary: bool, h: i32, p: v128, t: usize, scale: v128, s: usize, c: usize): void {
  let i = 0;
  for (; i + 8 <= h; i += 8) {
    const o = <usize>i << 2;
    const a = angle(rotary, p, v128.load(t + o)), b = angle(rotary, p, v128.load(t + o, 16));
    const sa = scaled(rotary, sinV(a), scale), ca = scaled(rotary, cosV(a), scale);
    const sb = scaled(rotary, sinV(b), scale), cb = scaled(rotary, cosV(b), scale);
    v128.store(s + o, sa);
    v128.store(s + o, sb, 16);
    v128.store(c + o, ca);
    v128.store(c + o, cb, 16);
  }
  // The last 1-7 angles, a vector at a time through the same operations (partial vectors by
  // lanes), so a channel's result does not depend on where it falls.
  for (; i < h; i += 4) {
    const o = <usize>i << 2, m = min(4, h - i);
    const a = angle(rotary, p, loadLanes(t + o, m));
    const sa = scaled(rotary, sinV(a), scale), ca = scaled(rotary, cosV(a), scale);
    storeLanes(s + o, sa, m);
    storeLanes(c + o, ca, m);
  }
}

// ---------------------------------------------------------------------------------------------
// ApplyRotaryPositionalEncoding

/**
 * Split-half rotary embedding. x, y [rows, pre, 2h, post] (the rotated axis has 2h entries);
 * with a = pos[r] / timescale[i] (true division, as the reference) for i < h:
 *   y[.., i, ..]     = x1 cos a - x2 sin a,   y[.., h + i, ..] = x2 cos a + x1 sin a,
 * where x1 = x[.., i, ..] and x2 = x[.., h + i, ..]. pos [rows], timescale [h]; tmp: 2h floats
 * of scratch. Not in place. Vectorised over i when post = 1, else over post. Abs error of
 * sin/cos: 9e-8 while |a| <= 1e4.
 *
 * A row's sines and cosines go to tmp first, then every q (e.g. every head) reads them: kept in
 * registers across the loop over q instead, they cost ~90 cycles per rotation, what computing
 * them does (1.32 µs per row of 8 heads x 64 against 0.35 through memory).
 */
export function f32_rope(rows: i32, pre: i32, half: i32, post: i32, pos: usize, timescale: usize, x: usize, y: usize, tmp: usize): void {
  const axisB = <usize>(2 * half * post) << 2;
  const halfB = <usize>(half * post) << 2;
  const sines = tmp, cosines = tmp + (<usize>half << 2);
  for (let r = 0; r < rows; r++) {
    sinCosRow(true, half, v128.load32_splat(pos + (<usize>r << 2)), timescale, f32x4.splat(1), sines, cosines);
    for (let q = 0; q < pre; q++) {
      const base = (<usize>r * <usize>pre + <usize>q) * axisB;
      const x1 = x + base, x2 = x1 + halfB, y1 = y + base, y2 = y1 + halfB;
      if (post == 1) {
        // Whole vectors without loadLanes' branches (8 heads x 64: 0.29 -> 0.17 µs per row,
        // relaxed), then the partial one.
        let i = 0;
        for (; i + 4 <= half; i += 4) {
          const o = <usize>i << 2;
          rotate(v128.load(sines + o), v128.load(cosines + o), x1 + o, x2 + o, y1 + o, y2 + o, 4);
        }
        if (i < half) {
          const m = half - i, o = <usize>i << 2;
          rotate(loadLanes(sines + o, m), loadLanes(cosines + o, m), x1 + o, x2 + o, y1 + o, y2 + o, m);
        }
      } else {
        for (let i = 0; i < half; i++) {
          const s = v128.load32_splat(sines + (<usize>i << 2)), c = v128.load32_splat(cosines + (<usize>i << 2));
          const row = (<usize>(i * post)) << 2;
          for (let j = 0; j < post; j += 4) {
            const o = row + (<usize>j << 2);
            rotate(s, c, x1 + o, x2 + o, y1 + o, y2 + o, min(4, post - j));
          }
        }
      }
    }
  }
}

/** The rotation of m (1..4) lane pairs: y1 = x1 c - x2 s, y2 = x2 c + x1 s. */
@inline function rotate(s: v128, c: v128, x1: usize, x2: usize, y1: usize, y2: usize, m: i32): void {
  const a = loadLanes(x1, m), b = loadLanes(x2, m);
  storeLanes(y1, f32x4.sub(f32x4.mul(a, c), f32x4.mul(b, s)), m);
  storeLanes(y2, f32x4.add(f32x4.mul(b, c), f32x4.mul(a, s)), m);
}

// ---------------------------------------------------------------------------------------------
// Time-varying layers (SequenceDense, MaskedDense, SequenceEmbedding)

/**
 * Table ids of SequenceEmbedding: out[b, t, j] = x[b, t, j] + offsets[s] with s = t0 + t, when
 * s < numSteps and 0 <= x < limits[s]; otherwise `size` (one past the table, which
 * f32_embedding_lookup turns into a row of NaN). x, out i32 [batch, time, c]; offsets, limits
 * i32 [numSteps]. May run in place.
 */
export function seq_step_ids(
  batch: i32, time: i32, c: i32, t0: i32, numSteps: i32, offsets: usize, limits: usize, size: i32, x: usize, out: usize,
): void {
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < time; t++) {
      const s = t0 + t;
      const inRange = s >= 0 && s < numSteps;
      const off = inRange ? load<i32>(offsets + (<usize>s << 2)) : 0;
      const lim = inRange ? load<i32>(limits + (<usize>s << 2)) : 0;
      const row = ((<usize>b * <usize>time + <usize>t) * <usize>c) << 2;
      for (let j = 0; j < c; j++) {
        const v = load<i32>(x + row + (<usize>j << 2));
        store<i32>(out + row + (<usize>j << 2), v >= 0 && v < lim ? v + off : size);
      }
    }
  }
}

/**
 * dst[b, t0 + j, :] = mask[b, j] ? src[b, j, :] : 0 for j < n: valid rows of src placed into a
 * longer buffer (MaskedDense's inputs by absolute step), invalid ones zeroed with a select (so
 * NaN never gets in). src [batch, tSrc, c] (n <= tSrc), mask [batch, tSrc], dst [batch, tDst, c]
 * (t0 + n <= tDst). No overlap.
 */
export function f32_place_masked(batch: i32, n: i32, tSrc: i32, tDst: i32, t0: i32, c: i32, mask: usize, src: usize, dst: usize): void {
  const rowB = <usize>c << 2;
  for (let b = 0; b < batch; b++) {
    for (let j = 0; j < n; j++) {
      const i = <usize>b * <usize>tSrc + <usize>j;
      const out = dst + (<usize>b * <usize>tDst + <usize>(t0 + j)) * rowB;
      if (load<u8>(mask + i)) memory.copy(out, src + i * rowB, rowB);
      else memory.fill(out, 0, rowB);
    }
  }
}

/** y[b, t, :] = value for t0 <= t < t0 + n, over y [batch, time, c] (e.g. NaN rows past num_steps). */
export function f32_fill_steps(batch: i32, time: i32, t0: i32, n: i32, c: i32, value: f32, y: usize): void {
  const v = f32x4.splat(value);
  const len = n * c;
  for (let b = 0; b < batch; b++) {
    const p = y + ((<usize>b * <usize>time + <usize>t0) * <usize>c << 2);
    for (let i = 0; i < len; i += 4) storeLanes(p + (<usize>i << 2), v, min(4, len - i));
  }
}

// ---------------------------------------------------------------------------------------------
// GmmAttention

const TWO_PI: f32 = 6.283185307179586;

/** softplus x = max(x, 0) + log1p(e^-|x|) (jax.nn.softplus), one float through the vector code. */
@inline function softplus(x: f32): f32 {
  const v = f32x4.splat(x);
  return f32x4.extract_lane(f32x4.add(f32x4.pmax(v, f32x4.splat(0)), log1pV(expV(f32x4.neg(f32x4.abs(v))))), 0);
}

/** All-ones lanes where the n (1..4) mask bytes at p are non-zero, zero lanes elsewhere. */
@inline function validLanes(p: usize, n: i32): v128 {
  let v = i32x4.splat(load<u8>(p));
  if (n > 1) v = i32x4.replace_lane(v, 1, load<u8>(p, 1));
  if (n > 2) v = i32x4.replace_lane(v, 2, load<u8>(p, 2));
  if (n > 3) v = i32x4.replace_lane(v, 3, load<u8>(p, 3));
  return i32x4.ne(v, i32x4.splat(0));
}

// GmmAttention's context: rows y[r, :] = sum_s w[r, s] source[s, :] (source [srcTime, srcDim],
// w rows srcTime apart, y rows srcDim apart). Two rows share each load of the source, 16
// channels at a time: eight independent multiply-add chains (one chain per 4 channels waited on
// each multiply-add). Every channel sums its source steps in order.
function gmmContext2(w: usize, srcTime: i32, src: usize, srcDim: i32, y: usize): void {
  const w1 = w + (<usize>srcTime << 2), y1 = y + (<usize>srcDim << 2), row = <usize>srcDim << 2;
  let d = 0;
  for (; d + 16 <= srcDim; d += 16) {
    let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, c0 = a0, c1 = a0, c2 = a0, c3 = a0;
    let sr = src + (<usize>d << 2);
    for (let s = 0; s < srcTime; s++) {
      const u = v128.load32_splat(w + (<usize>s << 2)), v = v128.load32_splat(w1 + (<usize>s << 2));
      const x0 = v128.load(sr), x1 = v128.load(sr, 16), x2 = v128.load(sr, 32), x3 = v128.load(sr, 48);
      a0 = madd(u, x0, a0);
      a1 = madd(u, x1, a1);
      a2 = madd(u, x2, a2);
      a3 = madd(u, x3, a3);
      c0 = madd(v, x0, c0);
      c1 = madd(v, x1, c1);
      c2 = madd(v, x2, c2);
      c3 = madd(v, x3, c3);
      sr += row;
    }
    const yd = y + (<usize>d << 2), yd1 = y1 + (<usize>d << 2);
    v128.store(yd, a0);
    v128.store(yd, a1, 16);
    v128.store(yd, a2, 32);
    v128.store(yd, a3, 48);
    v128.store(yd1, c0);
    v128.store(yd1, c1, 16);
    v128.store(yd1, c2, 32);
    v128.store(yd1, c3, 48);
  }
  for (; d < srcDim; d += 4) {
    const nd = min(4, srcDim - d);
    let a = f32x4.splat(0), c = a;
    for (let s = 0; s < srcTime; s++) {
      const x = loadLanes(src + ((<usize>s * <usize>srcDim + <usize>d) << 2), nd);
      a = madd(v128.load32_splat(w + (<usize>s << 2)), x, a);
      c = madd(v128.load32_splat(w1 + (<usize>s << 2)), x, c);
    }
    storeLanes(y + (<usize>d << 2), a, nd);
    storeLanes(y1 + (<usize>d << 2), c, nd);
  }
}

/** gmmContext2 for one row (an odd head count's last head), 4 channels at a time. */
function gmmContext1(w: usize, srcTime: i32, src: usize, srcDim: i32, y: usize): void {
  for (let d = 0; d < srcDim; d += 4) {
    const nd = min(4, srcDim - d);
    let a = f32x4.splat(0);
    for (let s = 0; s < srcTime; s++) {
      a = madd(v128.load32_splat(w + (<usize>s << 2)), loadLanes(src + ((<usize>s * <usize>srcDim + <usize>d) << 2), nd), a);
    }
    storeLanes(y + (<usize>d << 2), a, nd);
  }
}

/**
 * w[s] = smask[s] ? sum_m coef[m] exp(-(s - mean[m])^2 / denom[m]) : 0 for s < srcTime, the
 * components summed in order, four positions at a time. A component far from four positions
 * (its exponent at most -104 in every lane: exp is +0 there) adds +0 to non-negative sums
 * when its coef is finite (non-negative, as softmax times a square root is), so it is
 * skipped: a narrow mixture computes exp near its means only, with the same bits.
 */
function gmmWeights(comps: i32, coef: usize, mean: usize, denom: usize, srcTime: i32, smask: usize, w: usize): void {
  for (let s = 0; s < srcTime; s += 4) {
    const ns = min(4, srcTime - s), p = f32x4.add(f32x4.splat(<f32>s), f32x4(0, 1, 2, 3));
    let acc = f32x4.splat(0);
    for (let m = 0; m < comps; m++) {
      const mo = <usize>m << 2, c = load<f32>(coef + mo);
      const d = f32x4.sub(p, f32x4.splat(load<f32>(mean + mo)));
      const x = f32x4.div(f32x4.neg(f32x4.mul(d, d)), f32x4.splat(load<f32>(denom + mo)));
      if (expIsZero(x) && isFinite(c)) continue;
      acc = f32x4.add(acc, f32x4.mul(f32x4.splat(c), expV(x)));
    }
    storeLanes(w + (<usize>s << 2), v128.and(acc, validLanes(smask + <usize>s, ns)), ns);
  }
}

/**
 * Gaussian-mixture attention (the reference's GmmAttention.attention). For every query step
 * (b, t) and head h, from logits [batch, time, heads, comps, 3] = (prior, offset, scale):
 *   prior_m  = softmax_m(prior logits)
 *   var_m    = softplus(scale + scaleBias)^2
 *   offset_m = softplus(o) - softplus(o - maxOffset) if maxOffset > 0 else softplus(o), o = offset + offsetBias
 *   mean_m   = position[b, h, m] += offset_m (monotonic; position [batch, heads, comps] is
 *              updated in place, step after step) or offset_m (position = 0)
 *   w[s]     = smask[b, s] ? sum_m prior_m sqrt(2π var_m + 1e-8) exp(-(s - mean_m)^2 / (2 var_m + 1e-9)) : 0
 *   y[b, t, h, :] = sum_s w[s] source[b, s, :]
 * (prior times the square root, not divided: the reference's normalisation, ported as is).
 * source [batch, srcTime, srcDim] must be 0 at invalid steps (0 * NaN would leak); smask u8
 * [batch, srcTime]; w [batch, time, heads, srcTime] (the emitted probabilities); y [batch,
 * time, heads, srcDim]; tmp: 3 * comps floats of scratch. w and y must not overlap the inputs.
 */
export function f32_gmm_attention(
  batch: i32, time: i32, heads: i32, comps: i32, srcTime: i32, srcDim: i32,
  logits: usize, offsetBias: f32, scaleBias: f32, maxOffset: f32, position: usize,
  source: usize, smask: usize, tmp: usize, w: usize, y: usize,
): void {
  const coef = tmp, mean = tmp + (<usize>comps << 2), denom = mean + (<usize>comps << 2);
  for (let b = 0; b < batch; b++) {
    const src = source + ((<usize>b * <usize>srcTime * <usize>srcDim) << 2);
    const sm = smask + <usize>b * <usize>srcTime;
    for (let t = 0; t < time; t++) {
      for (let h = 0; h < heads; h++) {
        const bth = (<usize>b * <usize>time + <usize>t) * <usize>heads + <usize>h;
        const lg = logits + ((bth * <usize>comps * 3) << 2);
        // Mixture parameters of this query and head.
        let mx: f32 = -Infinity;
        for (let m = 0; m < comps; m++) mx = max(mx, load<f32>(lg + (<usize>(3 * m) << 2)));
        let sum: f32 = 0;
        for (let m = 0; m < comps; m++) {
          const e = f32x4.extract_lane(expV(f32x4.splat(load<f32>(lg + (<usize>(3 * m) << 2)) - mx)), 0);
          store<f32>(coef + (<usize>m << 2), e);
          sum += e;
        }
        const pos = position ? position + (((<usize>b * <usize>heads + <usize>h) * <usize>comps) << 2) : 0;
        for (let m = 0; m < comps; m++) {
          const mo = <usize>m << 2;
          const o = load<f32>(lg + (<usize>(3 * m + 1) << 2)) + offsetBias;
          const sd = softplus(load<f32>(lg + (<usize>(3 * m + 2) << 2)) + scaleBias);
          const variance = sd * sd;
          const offset = maxOffset > 0 ? softplus(o) - softplus(o - maxOffset) : softplus(o);
          let mu = offset;
          if (pos) {
            mu = load<f32>(pos + mo) + offset;
            store<f32>(pos + mo, mu);
          }
          store<f32>(mean + mo, mu);
          store<f32>(coef + mo, (load<f32>(coef + mo) / sum) * sqrt<f32>(TWO_PI * variance + 1e-8));
          store<f32>(denom + mo, 2 * variance + 1e-9);
        }
        gmmWeights(comps, coef, mean, denom, srcTime, sm, w + ((bth * <usize>srcTime) << 2));
      }
      // Context vectors y[b, t, h, :] = w[b, t, h, :] · source[b], two heads at a time.
      const bt = <usize>b * <usize>time + <usize>t;
      const wbt = w + ((bt * <usize>heads * <usize>srcTime) << 2), ybt = y + ((bt * <usize>heads * <usize>srcDim) << 2);
      let h = 0;
      for (; h + 2 <= heads; h += 2) {
        gmmContext2(wbt + ((<usize>h * <usize>srcTime) << 2), srcTime, src, srcDim, ybt + ((<usize>h * <usize>srcDim) << 2));
      }
      if (h < heads) gmmContext1(wbt + ((<usize>h * <usize>srcTime) << 2), srcTime, src, srcDim, ybt + ((<usize>h * <usize>srcDim) << 2));
    }
  }
}
