// Convolutions as packed GEMMs: 1-D over time (Conv1D), depthwise (DepthwiseConv1D, and Conv1D
// with one input channel per group), N-d by im2col (Conv2D, Conv3D), transposed by a GEMM per
// input step plus an overlap-add
// (Conv1DTranspose, Conv2DTranspose); and the step copies of the resampling layers.
//
// 1-D layouts: x [B, tIn, cIn] already padded in time (callers apply the padding mode), kernel in the
// reference layout w [k, cIn / g, f] (cross-correlation, HIO), y [B, tOut, f] with
// y[b, t, o] = bias[o] + sum_j sum_c x[b, t*s + j*d, group(o)*cg + c] * w[j, c, o].
import { f32_gemm, f32_gemm_batch } from './gemm/f32-gemm-4x8';
import { f32_gemm_pack_b, f32_gemm_packed_len } from './gemm/pack';
import { addInto, madd } from './simd';

// With dilation 1 and one group, the im2col row of output t is the contiguous run
// x[b, t*s : t*s + k, :] (k * cIn floats), so the whole convolution is ONE GEMM over A = x with
// row stride s * cIn and K = k * cIn: no copy. Otherwise one GEMM per (tap, group), accumulated
// (Conv1D sends one input channel per group to f32_dwconv1d instead).
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
    // One output step per item (a streaming step): ONE GEMM with a row per item (rows tIn * cIn
    // apart), so the weights stream once for the whole batch.
    if (tOut == 1) {
      f32_gemm(batch, f, k * cIn, x, tIn * cIn, wp, y, f, bias, false);
      return;
    }
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

// Depthwise kernels go in blocks of DW_BLOCK output channels (the last block narrower), each
// [k, block] contiguous: the taps of a block are then one run instead of k rows C*m apart (rows
// 2 KiB apart fall in two sets of the L1 cache and evict each other).
const DW_BLOCK = 16;

/** Packs w [k, cm] (the reference's [k, 1, C*m]) for f32_dwconv1d: k * cm floats at out. */
export function f32_dwconv1d_pack(k: i32, cm: i32, w: usize, out: usize): void {
  for (let o0 = 0; o0 < cm; o0 += DW_BLOCK) {
    const nb = min(DW_BLOCK, cm - o0);
    for (let i = 0; i < k; i++) {
      memory.copy(out + (<usize>(o0 * k + i * nb) << 2), w + (<usize>(i * cm + o0) << 2), <usize>nb << 2);
    }
  }
}

/**
 * Depthwise with depth multiplier m: y[b, t, c*m + j] = bias[c*m + j] + sum_i x[b, t*s + i*d, c] * w[i, c*m + j].
 * x [B, tIn, C] already padded in time, its first `pastT` steps read from `past` [B, pastT, C]
 * and the others from `block` [B, tIn - pastT, C] (a step reads its buffered past where the
 * state keeps it; pastT = 0 reads block only); wp = w [k, C*m] (the reference's [k, 1, C*m])
 * packed by f32_dwconv1d_pack; bias [C*m] or 0; y [B, tOut, C*m]. Needs tIn >= (tOut - 1) * s + (k - 1) * d + 1.
 * SIMD over 4 output channels (four independent chains per block when m = 1; inputs gathered lane
 * by lane when m > 1), scalar tail; not in place; never reads or writes past the last element.
 * Each output sums bias, then the taps in order, whatever its block, so a step and a whole
 * sequence give the same bits: an output whose taps reach into the past reads them there, then
 * the block's, in the same chains.
 */
export function f32_dwconv1d(
  batch: i32, tIn: i32, tOut: i32, c: i32, m: i32, k: i32, s: i32, d: i32,
  past: usize, pastT: i32, block: usize, wp: usize, bias: usize, y: usize,
): void {
  const rowIn = <usize>c << 2, rowOut = <usize>(c * m) << 2;
  // Outputs t < reach read taps from the past (t * s < pastT); the others the block alone.
  const reach = min(tOut, (pastT + s - 1) / s);
  for (let b = 0; b < batch; b++) {
    const pb = past + <usize>(b * pastT) * rowIn, xb = block + <usize>(b * (tIn - pastT)) * rowIn, yb = y + <usize>(b * tOut) * rowOut;
    if (reach) dwOutputsFromPast(reach, c, m, k, s, d, pb, pastT, xb, wp, bias, yb);
    dwOutputs(tOut - reach, c, m, k, s, d, xb + <usize>(reach * s - pastT) * rowIn, wp, bias, yb + <usize>reach * rowOut);
  }
}

// The output steps of one batch item, in two functions: V8 allocates registers per function,
// and in one function the split's values, live across the loops, cost the block-only outputs
// (all of layer()) a quarter of their speed at k = 3.

/** tOut output steps from x alone (output t's taps at x[t * s + i * d]). */
function dwOutputs(tOut: i32, c: i32, m: i32, k: i32, s: i32, d: i32, x: usize, wp: usize, bias: usize, y: usize): void {
  const rowIn = <usize>c << 2, rowOut = <usize>(c * m) << 2;
  for (let t = 0; t < tOut; t++) {
    const xt = x + <usize>(t * s) * rowIn;
    dwOutputStep(c, m, k, d, xt, 0, xt, wp, bias, y + <usize>t * rowOut);
  }
}

/** The first tOut output steps, whose taps begin in the past [pastT, C] and go on in the block x. */
function dwOutputsFromPast(tOut: i32, c: i32, m: i32, k: i32, s: i32, d: i32, past: usize, pastT: i32, x: usize, wp: usize, bias: usize, y: usize): void {
  const rowIn = <usize>c << 2, rowOut = <usize>(c * m) << 2;
  for (let t = 0; t < tOut; t++) {
    const r = t * s, split = min(k, (pastT - r + d - 1) / d);
    dwOutputStep(c, m, k, d, past + <usize>r * rowIn, split, x + <usize>(r + split * d - pastT) * rowIn, wp, bias, y + <usize>t * rowOut);
  }
}

/** One output step: taps [0, split) from xp on, taps [split, k) from xs on; y [C*m]. */
@inline function dwOutputStep(c: i32, m: i32, k: i32, d: i32, xp: usize, split: i32, xs: usize, wp: usize, bias: usize, y: usize): void {
  const cm = c * m, tapIn = <usize>d * (<usize>c << 2);
  for (let o0 = 0; o0 < cm; o0 += DW_BLOCK) {
    const nb = min(DW_BLOCK, cm - o0), tapW = <usize>nb << 2;
    const wb = wp + (<usize>(o0 * k) << 2), ob0 = <usize>o0 << 2;
    if (m == 1 && nb == DW_BLOCK) {
      dwTaps16(xp + ob0, split, xs + ob0, k, wb, tapIn, tapW, bias ? bias + ob0 : 0, y + ob0);
      continue;
    }
    // 4 output channels at a time; lane j reads input channel (o + j) / m.
    let o = o0;
    for (; o + 4 <= o0 + nb; o += 4) {
      const ob = <usize>o << 2;
      const i0 = <usize>(o / m) << 2, i1 = <usize>((o + 1) / m) << 2, i2 = <usize>((o + 2) / m) << 2, i3 = <usize>((o + 3) / m) << 2;
      dwTaps4(xp, split, xs, i0, i1, i2, i3, m, k, wb + ob - ob0, tapIn, tapW, bias ? bias + ob : 0, y + ob);
    }
    // Tail: one output channel at a time.
    for (; o < o0 + nb; o++) {
      const ob = <usize>o << 2, ib = <usize>(o / m) << 2;
      dwTaps1(xp + ib, split, xs + ib, k, wb + ob - ob0, tapIn, tapW, bias ? bias + ob : 0, y + ob);
    }
  }
}

// The k taps of f32_dwconv1d for one output, in order: taps [0, split) from x = xp on, then
// from x = xs on, x stepping by tapIn and the weights w by tapW; the sums start from the bias
// (or 0 when bias is 0) and are stored at y.

/** 16 output channels of depth multiplier 1: four independent chains. */
@inline function dwTaps16(xp: usize, split: i32, xs: usize, k: i32, w: usize, tapIn: usize, tapW: usize, bias: usize, y: usize): void {
  let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
  if (bias) {
    a0 = v128.load(bias); a1 = v128.load(bias, 16);
    a2 = v128.load(bias, 32); a3 = v128.load(bias, 48);
  }
  let x = xp, i = 0;
  for (let n = split; ; n = k) {
    for (; i < n; i++) {
      a0 = madd(v128.load(x), v128.load(w), a0);
      a1 = madd(v128.load(x, 16), v128.load(w, 16), a1);
      a2 = madd(v128.load(x, 32), v128.load(w, 32), a2);
      a3 = madd(v128.load(x, 48), v128.load(w, 48), a3);
      x += tapIn;
      w += tapW;
    }
    if (n == k) break;
    x = xs;
  }
  v128.store(y, a0); v128.store(y, a1, 16);
  v128.store(y, a2, 32); v128.store(y, a3, 48);
}

/** 4 output channels whose lanes read input bytes i0..i3 of a row (gathered when m > 1). */
@inline function dwTaps4(xp: usize, split: i32, xs: usize, i0: usize, i1: usize, i2: usize, i3: usize, m: i32, k: i32, w: usize, tapIn: usize, tapW: usize, bias: usize, y: usize): void {
  let acc = bias ? v128.load(bias) : f32x4.splat(0);
  let x = xp, i = 0;
  for (let n = split; ; n = k) {
    for (; i < n; i++) {
      let xv: v128;
      if (m == 1) {
        xv = v128.load(x + i0);
      } else {
        xv = f32x4.splat(load<f32>(x + i0));
        xv = f32x4.replace_lane(xv, 1, load<f32>(x + i1));
        xv = f32x4.replace_lane(xv, 2, load<f32>(x + i2));
        xv = f32x4.replace_lane(xv, 3, load<f32>(x + i3));
      }
      acc = madd(xv, v128.load(w), acc);
      x += tapIn;
      w += tapW;
    }
    if (n == k) break;
    x = xs;
  }
  v128.store(y, acc);
}

/** One output channel. */
@inline function dwTaps1(xp: usize, split: i32, xs: usize, k: i32, w: usize, tapIn: usize, tapW: usize, bias: usize, y: usize): void {
  let acc: f32 = bias ? load<f32>(bias) : 0;
  let x = xp, i = 0;
  for (let n = split; ; n = k) {
    for (; i < n; i++) {
      acc += load<f32>(x) * load<f32>(w);
      x += tapIn;
      w += tapW;
    }
    if (n == k) break;
    x = xs;
  }
  store<f32>(y, acc);
}

// ---------------------------------------------------------------------------------------------
// N-d convolutions (Conv2D, Conv3D) and transposed convolutions (Conv1DTranspose,
// Conv2DTranspose) as packed GEMMs.
//
// Their sizes travel in a geometry record of i32 entries that a layer writes once:
//   [0] cIn, [1] f, [2] g (groups),
//   [3] kt, [4] st, [5] dt                                 time: taps, stride, dilation,
//   [6] h, [7] hOut, [8] kh, [9] sh, [10] dh, [11] ph      spatial axis 1 and
//   [12] w, [13] wOut, [14] kw, [15] sw, [16] dw, [17] pw  spatial axis 2: input and output
//                                                          size, taps, stride, dilation, left pad
// (a missing spatial axis is h = hOut = kh = sh = dh = 1, ph = 0; the transposed kernel reads
// entries 0..11 only). Only the batch and time sizes change between calls: they are arguments.

@inline function geo(geom: usize, i: i32): i32 {
  return load<i32>(geom + (<usize>i << 2));
}

// im2col moves runs of a few floats (a channel group, a row's taps): below SMALL_COPY bytes
// they are inline loads and stores, as memory.copy and memory.fill are calls out of the module
// (~360 of them per frame of a one-channel Conv2D [40, 1] k3x3).
const SMALL_COPY: usize = 64;

/** Copies `bytes` (a multiple of 4) from src to dst, not overlapping; never touches bytes past either run. */
@inline function copyFloats(dst: usize, src: usize, bytes: usize): void {
  if (bytes > SMALL_COPY) {
    memory.copy(dst, src, bytes);
    return;
  }
  let i: usize = 0;
  for (; i + 16 <= bytes; i += 16) v128.store(dst + i, v128.load(src + i));
  for (; i < bytes; i += 4) store<u32>(dst + i, load<u32>(src + i));
}

/** Zeroes `bytes` (a multiple of 4) at dst. */
@inline function zeroFloats(dst: usize, bytes: usize): void {
  if (bytes > SMALL_COPY) {
    memory.fill(dst, 0, bytes);
    return;
  }
  let i: usize = 0;
  for (; i + 16 <= bytes; i += 16) v128.store(dst + i, i32x4.splat(0));
  for (; i < bytes; i += 4) store<u32>(dst + i, 0);
}

/** Floats needed by f32_conv3d_pack: g blocks [taps * cIn/g, f/g]. */
export function f32_conv3d_packed_len(taps: i32, cIn: i32, f: i32, g: i32): i32 {
  return g * f32_gemm_packed_len(taps * (cIn / g), f / g);
}

/**
 * Packs w [taps, cIn/g, f] (the reference layout [kt, kh, kw, cIn/g, f] with the taps
 * flattened) for f32_conv3d: group gi gets rows (tap, c) and its f/g output columns.
 */
export function f32_conv3d_pack(taps: i32, cIn: i32, f: i32, g: i32, w: usize, out: usize): void {
  const kg = taps * (cIn / g), fg = f / g;
  const blockBytes = <usize>f32_gemm_packed_len(kg, fg) << 2;
  for (let gi = 0; gi < g; gi++) f32_gemm_pack_b(kg, fg, w + (<usize>(gi * fg) << 2), f, out + <usize>gi * blockBytes);
}

/**
 * y = conv3d(x, w) + bias (bias 0 = none) with g groups, a stride and dilation per axis, valid
 * in time (callers pad time by the padding mode), spatial padding implicit (taps outside the
 * input read zeros):
 *   y[b, t, i, j, o] = bias[o] + sum over taps (a, p, q) and c < cIn/g of
 *     x[b, t*st + a*dt, i*sh + p*dh - ph, j*sw + q*dw - pw, group(o)*cg + c] * w[a, p, q, c, o].
 * x [B, tIn, h, w, cIn]; y [B, tOut, hOut, wOut, f]; wp packed by f32_conv3d_pack; geometry at
 * `geom` (see above). Conv2D is the case w = wOut = kw = 1.
 *
 * im2col: output positions are gathered, colRows at a time, into col [colRows, g, taps, cg]
 * (scratch of colRows * taps * cIn floats), then one f32_gemm_batch over the groups writes
 * their rows of y. Not in place; never reads or writes past the last element of x or y.
 */
export function f32_conv3d(
  batch: i32, tIn: i32, tOut: i32, geom: usize, x: usize, wp: usize, bias: usize, col: usize, colRows: i32, y: usize,
): void {
  const cIn = geo(geom, 0), f = geo(geom, 1), g = geo(geom, 2);
  const kt = geo(geom, 3), st = geo(geom, 4), dt = geo(geom, 5);
  const h = geo(geom, 6), hOut = geo(geom, 7), kh = geo(geom, 8), sh = geo(geom, 9), dh = geo(geom, 10), ph = geo(geom, 11);
  const w = geo(geom, 12), wOut = geo(geom, 13), kw = geo(geom, 14), sw = geo(geom, 15), dw = geo(geom, 16), pw = geo(geom, 17);
  const cg = cIn / g, fg = f / g, taps = kt * kh * kw, kg = taps * cg;
  const cgBytes = <usize>cg << 2, rowBytes = <usize>(g * kg) << 2;
  const total = batch * tOut * hOut * wOut;
  // One group, one (undilated) spatial axis: a row's taps at one time offset are consecutive
  // positions, one run of x (Conv2D's usual case; Silero's front end reads 256 taps of one
  // channel, which one copy per tap made the model's largest cost after the GEMMs). The second
  // axis must be a unit one with one output position: a Conv3D padding a size-1 axis has more,
  // and those read padding.
  const contiguousTaps = g == 1 && w == 1 && kw == 1 && pw == 0 && wOut == 1 && dh == 1;
  for (let r0 = 0; r0 < total; r0 += colRows) {
    const n = min(colRows, total - r0);
    for (let r = r0; r < r0 + n; r++) {
      const j = r % wOut, rest = r / wOut, i = rest % hOut, bt = rest / hOut, t = bt % tOut, b = bt / tOut;
      let dst = col + <usize>(r - r0) * rowBytes;
      for (let gi = 0; gi < g; gi++) {
        for (let a = 0; a < kt; a++) {
          const xt = x + (<usize>((b * tIn + t * st + a * dt) * h) * w * cIn + <usize>(gi * cg)) * 4;
          if (contiguousTaps) {
            // The kh taps are one run of x: copy its part inside the input, zeros around it.
            // Taps [lo, hi) fall inside the input (positions i0 + p in [0, h)); 0 <= lo <= hi <= kh.
            const i0 = i * sh - ph, lo = min(kh, max(0, -i0)), hi = max(lo, min(kh, h - i0));
            zeroFloats(dst, <usize>lo * cgBytes);
            copyFloats(dst + <usize>lo * cgBytes, xt + (<usize>((i0 + lo) * cIn) << 2), <usize>(hi - lo) * cgBytes);
            zeroFloats(dst + <usize>hi * cgBytes, <usize>(kh - hi) * cgBytes);
            dst += <usize>kh * cgBytes;
            continue;
          }
          for (let p = 0; p < kh; p++) {
            const ii = i * sh + p * dh - ph;
            for (let q = 0; q < kw; q++) {
              const jj = j * sw + q * dw - pw;
              if (ii >= 0 && ii < h && jj >= 0 && jj < w) copyFloats(dst, xt + (<usize>(ii * w + jj) * cIn << 2), cgBytes);
              else zeroFloats(dst, cgBytes);
              dst += cgBytes;
            }
          }
        }
      }
    }
    f32_gemm_batch(g, n, fg, kg, col, g * kg, kg, wp, y + (<usize>r0 * f << 2), f, fg, bias, false);
  }
}

/** Floats needed by f32_conv_transpose_pack: g blocks [cIn/g, taps * f/g]. */
export function f32_conv_transpose_packed_len(taps: i32, cIn: i32, f: i32, g: i32): i32 {
  return g * f32_gemm_packed_len(cIn / g, taps * (f / g));
}

/**
 * Packs w [taps, cIn/g, f] (the reference layout [kt, (kh,) cIn/g, f], taps flattened) for
 * f32_conv2d_transpose: group gi gets B [cIn/g, taps * f/g] with column (tap, o) =
 * w[tap, c, gi * f/g + o], so one product per input step yields every tap's contribution.
 */
export function f32_conv_transpose_pack(taps: i32, cIn: i32, f: i32, g: i32, w: usize, out: usize): void {
  const cg = cIn / g, fg = f / g, n = taps * fg;
  const panels = (n + 7) >> 3;
  let o = out;
  for (let gi = 0; gi < g; gi++) {
    for (let p = 0; p < panels; p++) {
      for (let c = 0; c < cg; c++) {
        for (let lane = 0; lane < 8; lane++) {
          const col = (p << 3) + lane;
          let v: f32 = 0;
          if (col < n) v = load<f32>(w + (<usize>(((col / fg) * cg + c) * f + gi * fg + col % fg) << 2));
          store<f32>(o, v);
          o += 4;
        }
      }
    }
  }
}

/**
 * y += transposed conv2d(x, w) over time and one spatial axis, without bias:
 *   y[b, t*st + offT - a*dt, i*sh + ph - p*dh, group(o)*fg + o'] += sum_c x[b, t, i, group*cg + c] * w[a, p, c, o]
 * for every input step t < tIn, position i < h and tap (a, p), dropping targets outside
 * [0, tOut) x [0, hOut). This is the reference's input-dilated cross-correlation with left
 * padding offT (time) and ph (space), without the zeros: per input step, one GEMM row
 * x[b, t, i, :] . B [cIn, taps * f] gives every tap's contribution (z [zRows, g, taps, f/g],
 * zRows input positions at a time, scratch of zRows * taps * f floats), which is then
 * overlap-added into y.
 *
 * x [B, tIn, h, cIn]; y [B, tOut, hOut, f] holds the start values (zeros, or a streaming tail);
 * wp packed by f32_conv_transpose_pack; geometry at `geom` (w = wOut = kw = 1). Each element of
 * y sums its contributions in increasing (t, i) order whatever zRows, so a stream that carries
 * y's tail across blocks gets the same bits as one call over the whole input. Not in place;
 * never reads or writes past the last element of x or y.
 */
export function f32_conv2d_transpose(
  batch: i32, tIn: i32, tOut: i32, offT: i32, geom: usize, x: usize, wp: usize, z: usize, zRows: i32, y: usize,
): void {
  const cIn = geo(geom, 0), f = geo(geom, 1), g = geo(geom, 2);
  const kt = geo(geom, 3), st = geo(geom, 4), dt = geo(geom, 5);
  const h = geo(geom, 6), hOut = geo(geom, 7), kh = geo(geom, 8), sh = geo(geom, 9), dh = geo(geom, 10), ph = geo(geom, 11);
  const cg = cIn / g, fg = f / g, taps = kt * kh, ng = taps * fg;
  const zRowBytes = <usize>(taps * f) << 2;
  const total = batch * tIn * h;
  for (let r0 = 0; r0 < total; r0 += zRows) {
    const n = min(zRows, total - r0);
    f32_gemm_batch(g, n, ng, cg, x + (<usize>r0 * cIn << 2), cIn, cg, wp, z, taps * f, ng, 0, false);
    for (let r = r0; r < r0 + n; r++) {
      const i = r % h, bt = r / h, t = bt % tIn, b = bt / tIn;
      const zr = z + <usize>(r - r0) * zRowBytes;
      for (let a = 0; a < kt; a++) {
        const ot = t * st + offT - a * dt;
        if (ot < 0 || ot >= tOut) continue;
        for (let p = 0; p < kh; p++) {
          const os = i * sh + ph - p * dh;
          if (os < 0 || os >= hOut) continue;
          const yo = y + (<usize>((b * tOut + ot) * hOut + os) * f << 2);
          for (let gi = 0; gi < g; gi++) {
            addInto(yo + (<usize>(gi * fg) << 2), zr + (<usize>((gi * taps + a * kh + p) * fg) << 2), fg);
          }
        }
      }
    }
  }
}

/**
 * Mask of a transposed convolution over time by the reference's "transposed conv of the
 * mask" rules: out[b, o] = AND (OR when useOr) of mask[b, t] over every input step t < tIn
 * and tap a < k with o = t*s + offset - a*d. An output no input reaches is valid for AND
 * (no invalid input touches it) and invalid for OR. Computed as a scatter: out starts at the
 * rule's identity and each input that decides (invalid for AND, valid for OR) marks the k
 * outputs it reaches, O(tIn k) like the convolution itself (a gather over every output's taps
 * was O(tOut k), quadratic in k when the input is short).
 */
export function mask_conv_transpose(
  batch: i32, tIn: i32, tOut: i32, k: i32, s: i32, d: i32, offset: i32, useOr: bool, mask: usize, out: usize,
): void {
  const identity: u8 = useOr ? 0 : 1;
  for (let b = 0; b < batch; b++) {
    const mi = mask + <usize>(b * tIn), mo = out + <usize>(b * tOut);
    memory.fill(mo, identity, <usize>tOut);
    for (let t = 0; t < tIn; t++) {
      if ((load<u8>(mi + <usize>t) != 0) != useOr) continue;
      // Targets o = t*s + offset - a*d fall as a grows: skip those past the end, stop below 0.
      const top = t * s + offset;
      let a = top >= tOut ? (top - tOut + d) / d : 0;
      for (let o = top - a * d; a < k && o >= 0; a++, o -= d) store<u8>(mo + <usize>o, 1 - identity);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Resampling over time (Downsample1D, Upsample1D, Upsample2D and the masks of transposed
// convolutions): byte copies of whole steps, so they serve values of any dtype and masks.

/** out[b, t*rate + r] = src[b, t] for r < rate: src [B, T, row] -> out [B, T*rate, row]; no overlap. */
export function seq_repeat_time(batch: i32, t: i32, rate: i32, rowBytes: i32, src: usize, out: usize): void {
  const row = <usize>rowBytes;
  let o = out, i = src;
  for (let n = 0; n < batch * t; n++) {
    if (rowBytes == 1) {
      memory.fill(o, load<u8>(i), <usize>rate);
      o += <usize>rate;
    } else {
      for (let r = 0; r < rate; r++) {
        memory.copy(o, i, row);
        o += row;
      }
    }
    i += row;
  }
}

/** out[b, j] = src[b, j*rate] for j < tOut: src [B, tIn, row] -> out [B, tOut, row]; needs (tOut - 1) * rate < tIn; no overlap. */
export function seq_stride_time(batch: i32, tIn: i32, tOut: i32, rate: i32, rowBytes: i32, src: usize, out: usize): void {
  const row = <usize>rowBytes;
  for (let b = 0; b < batch; b++) {
    const ib = src + <usize>(b * tIn) * row, ob = out + <usize>(b * tOut) * row;
    for (let j = 0; j < tOut; j++) memory.copy(ob + <usize>j * row, ib + <usize>(j * rate) * row, row);
  }
}
