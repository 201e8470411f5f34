// Discrete Fourier transforms of any length over [outer, d, inner] tensors: the kernels of the
// FFT, IFFT, RFFT, IRFFT, STFT and InverseSTFT layers (src/layers/dsp.ts).
//
// Complex values are interleaved (re, im) f32 pairs (the complex64 layout of src/sequence.ts).
// A length-n transform follows a plan built once by f32_fft_plan_init (the layer's derived
// buffer), chosen by n:
//  - n a power of two: Stockham autosort, radix 4 with one radix-2 stage when log2 n is odd.
//    SIMD over two complex numbers per f32x4; no bit reversal (it ping-pongs two buffers).
//    Twiddles per stage, precomputed in f64 and rounded once.
//  - other n < DIRECT_MAX: the dense DFT matrix (n^2 complex, exact twiddles), SIMD over j.
//  - other n: Bluestein's chirp-z algorithm on a power-of-two transform of m >= 2n - 1; the chirp
//    c[j] = exp(-i pi j^2 / n) uses j^2 mod 2n (exact), and the transformed chirp is computed in f64.
// The inverse transform is conj(F(conj x)) / n on the same plan. Real transforms run the complex
// one with zero imaginary parts (simple and exact; the half-length packing trick would halve it).
//
// Measured error, max |X - X_ref| / ||x||_2 against an f64 DFT over lengths 1..80 and a sweep to
// 1024, uniform random input, both builds: powers of two 2.2e-7, dense matrix 3.9e-7, Bluestein
// 5.3e-7 (test/kernels/fft.test.ts holds every length to 1e-6).
import { madd } from './simd';

/** Lengths below this that are not powers of two use the dense DFT matrix. */
const DIRECT_MAX = 64;
const KIND_POW2 = 0;
const KIND_DIRECT = 1;
const KIND_BLUESTEIN = 2;
/** Header of a plan in floats: n, kind, m (i32 words), then padding that keeps the tables 16-byte aligned. */
const HEADER = 8;

// Transform modes of f32_fft.
/** Complex in, complex out. */
export const FFT_FORWARD = 0;
/** Complex in, complex out, inverse with 1/n. */
export const FFT_INVERSE = 1;
/** Real in, complex out (the first dOut <= n/2 + 1 bins matter). */
export const FFT_REAL_FORWARD = 2;
/** Hermitian half spectrum (complex) in, real out (numpy.fft.irfft). */
export const FFT_REAL_INVERSE = 3;
/** Real in, |X| out (float): a magnitude spectrogram. */
export const FFT_REAL_MAGNITUDE = 4;

@inline function isPow2(n: i32): bool {
  return (n & (n - 1)) == 0;
}

@inline function nextPow2(n: i32): i32 {
  let m = 1;
  while (m < n) m <<= 1;
  return m;
}

/** Floats of the Stockham twiddles of a power-of-two length m: three n/4-tables per radix-4 stage. */
function pow2TwiddleLen(m: i32): i32 {
  let len = 0;
  for (let n = m; n >= 4; n >>= 2) len += 6 * (n >> 2);
  return len;
}

/** Floats of the plan for length n (n >= 1). */
export function f32_fft_plan_len(n: i32): i32 {
  if (isPow2(n)) return HEADER + pow2TwiddleLen(n);
  if (n < DIRECT_MAX) return HEADER + 2 * n * n;
  const m = nextPow2(2 * n - 1);
  return HEADER + pow2TwiddleLen(m) + 2 * n + 2 * m;
}

/** Bytes of f64 scratch f32_fft_plan_init needs (0 unless Bluestein). */
export function f32_fft_plan_scratch_bytes(n: i32): i32 {
  if (isPow2(n) || n < DIRECT_MAX) return 0;
  return nextPow2(2 * n - 1) * 16;
}

/** Floats of work memory one f32_fft call needs: two buffers of the internal length. */
export function f32_fft_work_len(n: i32): i32 {
  const m = isPow2(n) || n < DIRECT_MAX ? n : nextPow2(2 * n - 1);
  return 4 * m;
}

/** exp(-2 pi i k / n) as (cos, -sin), from f64. */
@inline function storeTwiddle(p: usize, k: i64, n: i64): void {
  const a = (-2.0 * Math.PI * <f64>(k % n)) / <f64>n;
  store<f32>(p, <f32>Math.cos(a));
  store<f32>(p, <f32>Math.sin(a), 4);
}

function initPow2Twiddles(m: i32, tw: usize): void {
  let p = tw;
  for (let n = m, s = 1; n >= 4; n >>= 2, s <<= 2) {
    const n1 = n >> 2;
    for (let r = 1; r <= 3; r++) {
      for (let j = 0; j < n1; j++) {
        storeTwiddle(p, <i64>r * j * s, m);
        p += 8;
      }
    }
  }
}

/**
 * Writes the plan for length n to `plan` (f32_fft_plan_len(n) floats, 16-byte aligned);
 * `scratch` holds f32_fft_plan_scratch_bytes(n) bytes (8-aligned) or is 0 when that is 0.
 */
export function f32_fft_plan_init(n: i32, plan: usize, scratch: usize): void {
  store<i32>(plan, n);
  const tables = plan + (HEADER << 2);
  if (isPow2(n)) {
    store<i32>(plan, KIND_POW2, 4);
    store<i32>(plan, n, 8);
    initPow2Twiddles(n, tables);
    return;
  }
  if (n < DIRECT_MAX) {
    store<i32>(plan, KIND_DIRECT, 4);
    store<i32>(plan, 0, 8);
    for (let k = 0; k < n; k++) {
      for (let j = 0; j < n; j++) storeTwiddle(tables + (<usize>(k * n + j) << 3), <i64>j * k, n);
    }
    return;
  }
  const m = nextPow2(2 * n - 1);
  store<i32>(plan, KIND_BLUESTEIN, 4);
  store<i32>(plan, m, 8);
  initPow2Twiddles(m, tables);
  const chirp = tables + (<usize>pow2TwiddleLen(m) << 2);
  const bq = chirp + (<usize>n << 3);
  // c[j] = exp(-i pi j^2 / n), with j^2 reduced mod 2n in integers so large j stays exact.
  for (let j = 0; j < n; j++) {
    const a = (-Math.PI * <f64>((<i64>j * j) % (2 * <i64>n))) / <f64>n;
    store<f32>(chirp + (<usize>j << 3), <f32>Math.cos(a));
    store<f32>(chirp + (<usize>j << 3), <f32>Math.sin(a), 4);
  }
  // B = FFT_m(b) / m with b[j] = b[m - j] = conj(c[j]) for 0 <= j < n, zero between; in f64.
  memory.fill(scratch, 0, <usize>m << 4);
  for (let j = 0; j < n; j++) {
    const a = (Math.PI * <f64>((<i64>j * j) % (2 * <i64>n))) / <f64>n;
    const re = Math.cos(a), im = Math.sin(a);
    store<f64>(scratch + (<usize>j << 4), re);
    store<f64>(scratch + (<usize>j << 4), im, 8);
    if (j > 0) {
      store<f64>(scratch + (<usize>(m - j) << 4), re);
      store<f64>(scratch + (<usize>(m - j) << 4), im, 8);
    }
  }
  fft64(m, scratch);
  for (let k = 0; k < m; k++) {
    store<f32>(bq + (<usize>k << 3), <f32>(load<f64>(scratch + (<usize>k << 4)) / <f64>m));
    store<f32>(bq + (<usize>k << 3), <f32>(load<f64>(scratch + (<usize>k << 4), 8) / <f64>m), 4);
  }
}

/** In-place forward FFT of m (a power of two) f64 complex values: bit reversal, then radix 2. */
function fft64(m: i32, x: usize): void {
  for (let i = 1, j = 0; i < m; i++) {
    let bit = m >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      const pi = x + (<usize>i << 4), pj = x + (<usize>j << 4);
      const t = v128.load(pi);
      v128.store(pi, v128.load(pj));
      v128.store(pj, t);
    }
  }
  for (let len = 2; len <= m; len <<= 1) {
    const half = len >> 1;
    for (let k = 0; k < half; k++) {
      const a = (-2.0 * Math.PI * <f64>k) / <f64>len;
      const wr = Math.cos(a), wi = Math.sin(a);
      for (let i = k; i < m; i += len) {
        const pu = x + (<usize>i << 4), pv = pu + (<usize>half << 4);
        const vr = load<f64>(pv), vi = load<f64>(pv, 8);
        const tr = vr * wr - vi * wi, ti = vr * wi + vi * wr;
        const ur = load<f64>(pu), ui = load<f64>(pu, 8);
        store<f64>(pu, ur + tr);
        store<f64>(pu, ui + ti, 8);
        store<f64>(pv, ur - tr);
        store<f64>(pv, ui - ti, 8);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Complex arithmetic on two complex numbers per f32x4: [re0, im0, re1, im1].

/** Flips the sign of lanes 0 and 2 (the real parts). */
@inline function negRe(v: v128): v128 {
  return v128.xor(v, f32x4(-0.0, 0.0, -0.0, 0.0));
}

/** z * w lane pair by lane pair; wSwap = [w.im, w.re, ...] is precomputed by the caller. */
@inline function cmul(z: v128, w: v128, wSwap: v128): v128 {
  const re = f32x4.shuffle(z, z, 0, 0, 2, 2), im = f32x4.shuffle(z, z, 1, 1, 3, 3);
  return madd(re, w, negRe(f32x4.mul(im, wSwap)));
}

@inline function swapReIm(w: v128): v128 {
  return f32x4.shuffle(w, w, 1, 0, 3, 2);
}

/** i * z */
@inline function mulI(z: v128): v128 {
  return negRe(swapReIm(z));
}

/**
 * One radix-4 Stockham stage: n = 4 n1 points at stride s, src -> dst; tw holds W1, W2, W3
 * (n1 complex each). s >= 2 runs SIMD over q; s == 1 runs SIMD over pairs of p.
 */
function radix4(n1: i32, s: i32, src: usize, dst: usize, tw: usize): void {
  const tw2 = tw + (<usize>n1 << 3), tw3 = tw2 + (<usize>n1 << 3);
  if (s == 1) {
    const qb = <usize>n1 << 3;
    let p = 0;
    for (; p + 2 <= n1; p += 2) {
      const pb = <usize>p << 3;
      const a = v128.load(src + pb), b = v128.load(src + qb + pb);
      const c = v128.load(src + 2 * qb + pb), d = v128.load(src + 3 * qb + pb);
      const w1 = v128.load(tw + pb), w2 = v128.load(tw2 + pb), w3 = v128.load(tw3 + pb);
      const apc = f32x4.add(a, c), amc = f32x4.sub(a, c), bpd = f32x4.add(b, d), jbmd = mulI(f32x4.sub(b, d));
      const y0 = f32x4.add(apc, bpd);
      const y1 = cmul(f32x4.sub(amc, jbmd), w1, swapReIm(w1));
      const y2 = cmul(f32x4.sub(apc, bpd), w2, swapReIm(w2));
      const y3 = cmul(f32x4.add(amc, jbmd), w3, swapReIm(w3));
      const o = dst + (<usize>p << 5);
      v128.store(o, i64x2.shuffle(y0, y1, 0, 2));
      v128.store(o, i64x2.shuffle(y2, y3, 0, 2), 16);
      v128.store(o, i64x2.shuffle(y0, y1, 1, 3), 32);
      v128.store(o, i64x2.shuffle(y2, y3, 1, 3), 48);
    }
    if (p < n1) {
      const pb = <usize>p << 3;
      const a = v128.load64_zero(src + pb), b = v128.load64_zero(src + qb + pb);
      const c = v128.load64_zero(src + 2 * qb + pb), d = v128.load64_zero(src + 3 * qb + pb);
      const w1 = v128.load64_zero(tw + pb), w2 = v128.load64_zero(tw2 + pb), w3 = v128.load64_zero(tw3 + pb);
      const apc = f32x4.add(a, c), amc = f32x4.sub(a, c), bpd = f32x4.add(b, d), jbmd = mulI(f32x4.sub(b, d));
      const o = dst + (<usize>p << 5);
      v128.store(o, i64x2.shuffle(f32x4.add(apc, bpd), cmul(f32x4.sub(amc, jbmd), w1, swapReIm(w1)), 0, 2));
      v128.store(o, i64x2.shuffle(cmul(f32x4.sub(apc, bpd), w2, swapReIm(w2)), cmul(f32x4.add(amc, jbmd), w3, swapReIm(w3)), 0, 2), 16);
    }
    return;
  }
  const sb = <usize>s << 3;
  const qb = <usize>n1 * sb;
  for (let p = 0; p < n1; p++) {
    const pb = <usize>p << 3;
    const w1 = v128.load64_splat(tw + pb), w2 = v128.load64_splat(tw2 + pb), w3 = v128.load64_splat(tw3 + pb);
    const s1 = swapReIm(w1), s2 = swapReIm(w2), s3 = swapReIm(w3);
    const a0 = src + <usize>p * sb;
    const o0 = dst + <usize>(4 * p) * sb;
    for (let q = 0; q < s; q += 2) {
      const qo = <usize>q << 3;
      const a = v128.load(a0 + qo), b = v128.load(a0 + qb + qo);
      const c = v128.load(a0 + 2 * qb + qo), d = v128.load(a0 + 3 * qb + qo);
      const apc = f32x4.add(a, c), amc = f32x4.sub(a, c), bpd = f32x4.add(b, d), jbmd = mulI(f32x4.sub(b, d));
      v128.store(o0 + qo, f32x4.add(apc, bpd));
      v128.store(o0 + sb + qo, cmul(f32x4.sub(amc, jbmd), w1, s1));
      v128.store(o0 + 2 * sb + qo, cmul(f32x4.sub(apc, bpd), w2, s2));
      v128.store(o0 + 3 * sb + qo, cmul(f32x4.add(amc, jbmd), w3, s3));
    }
  }
}

/** The last radix-2 stage (its twiddles are 1): dst[q] = a + b, dst[q + s] = a - b. */
function radix2(s: i32, src: usize, dst: usize): void {
  const sb = <usize>s << 3;
  let q = 0;
  for (; q + 2 <= s; q += 2) {
    const qo = <usize>q << 3;
    const a = v128.load(src + qo), b = v128.load(src + sb + qo);
    v128.store(dst + qo, f32x4.add(a, b));
    v128.store(dst + sb + qo, f32x4.sub(a, b));
  }
  if (q < s) {
    const qo = <usize>q << 3;
    const a = v128.load64_zero(src + qo), b = v128.load64_zero(src + sb + qo);
    v128.store64_lane(dst + qo, f32x4.add(a, b), 0);
    v128.store64_lane(dst + sb + qo, f32x4.sub(a, b), 0);
  }
}

/** Forward power-of-two transform of x (m complex); y is the other buffer. Returns where the result is. */
function pow2Forward(m: i32, tw: usize, x: usize, y: usize): usize {
  let src = x, dst = y, t = tw;
  let n = m, s = 1;
  for (; n >= 4; n >>= 2, s <<= 2) {
    const n1 = n >> 2;
    radix4(n1, s, src, dst, t);
    t += <usize>(6 * n1) << 2;
    const tmp = src;
    src = dst;
    dst = tmp;
  }
  if (n == 2) {
    radix2(s, src, dst);
    return dst;
  }
  return src;
}

/** y[k] = sum_j M[k, j] x[j] for the dense n x n matrix M; SIMD over pairs of j. */
function directForward(n: i32, mat: usize, x: usize, y: usize): void {
  for (let k = 0; k < n; k++) {
    const row = mat + (<usize>(k * n) << 3);
    let acc = f32x4.splat(0);
    let j = 0;
    for (; j + 2 <= n; j += 2) {
      const w = v128.load(row + (<usize>j << 3));
      acc = f32x4.add(acc, cmul(v128.load(x + (<usize>j << 3)), w, swapReIm(w)));
    }
    if (j < n) {
      const w = v128.load64_zero(row + (<usize>j << 3));
      acc = f32x4.add(acc, cmul(v128.load64_zero(x + (<usize>j << 3)), w, swapReIm(w)));
    }
    v128.store64_lane(y + (<usize>k << 3), f32x4.add(acc, i64x2.shuffle(acc, acc, 1, 0)), 0);
  }
}

/** z[k] = conj(z[k] * w[k]) for k < n (Bluestein's pointwise product, before the second pass). */
function conjMul(n: i32, z: usize, w: usize): void {
  const conj = f32x4(0.0, -0.0, 0.0, -0.0);
  let k = 0;
  for (; k + 2 <= n; k += 2) {
    const o = <usize>k << 3;
    const wv = v128.load(w + o);
    v128.store(z + o, v128.xor(cmul(v128.load(z + o), wv, swapReIm(wv)), conj));
  }
  if (k < n) {
    const o = <usize>k << 3;
    const wv = v128.load64_zero(w + o);
    v128.store64_lane(z + o, v128.xor(cmul(v128.load64_zero(z + o), wv, swapReIm(wv)), conj), 0);
  }
}

/**
 * Forward transform of the n complex values at buf0 (which has room for the internal length);
 * buf1 is the second work buffer. Returns the address of the n results (buf0 or buf1).
 */
function forward(plan: usize, buf0: usize, buf1: usize): usize {
  const n = load<i32>(plan), kind = load<i32>(plan, 4), m = load<i32>(plan, 8);
  const tables = plan + (HEADER << 2);
  if (kind == KIND_POW2) return pow2Forward(n, tables, buf0, buf1);
  if (kind == KIND_DIRECT) {
    directForward(n, tables, buf0, buf1);
    return buf1;
  }
  // Bluestein: X = c . conj(F_m(conj(F_m(x c) . B))), B = F_m(conj c) / m.
  const chirp = tables + (<usize>pow2TwiddleLen(m) << 2);
  const bq = chirp + (<usize>n << 3);
  const conj = f32x4(0.0, -0.0, 0.0, -0.0);
  for (let j = 0; j < n; j++) {
    const o = <usize>j << 3;
    const c = v128.load64_zero(chirp + o);
    v128.store64_lane(buf0 + o, cmul(v128.load64_zero(buf0 + o), c, swapReIm(c)), 0);
  }
  memory.fill(buf0 + (<usize>n << 3), 0, <usize>(m - n) << 3);
  const a = pow2Forward(m, tables, buf0, buf1);
  conjMul(m, a, bq);
  const q = pow2Forward(m, tables, a, a == buf0 ? buf1 : buf0);
  for (let k = 0; k < n; k++) {
    const o = <usize>k << 3;
    const c = v128.load64_zero(chirp + o);
    v128.store64_lane(q + o, cmul(v128.xor(v128.load64_zero(q + o), conj), c, swapReIm(c)), 0);
  }
  return q;
}

/** Length of the transform a plan was built for. */
export function f32_fft_plan_n(plan: usize): i32 {
  return load<i32>(plan);
}

/**
 * Transforms every column of x [outer, dIn, inner] along its middle axis into y [outer, dOut, inner]
 * with the length-n plan `plan` (n = f32_fft_plan_n(plan)); `work` holds f32_fft_work_len(n) floats
 * (16-byte aligned). Modes (FFT_*):
 *  - FORWARD, INVERSE: complex x, complex y; INVERSE is the inverse DFT scaled by 1/n.
 *  - REAL_FORWARD: real x, complex y. REAL_MAGNITUDE: real x, real y = |X| (computed in f64).
 *  - REAL_INVERSE: x holds dIn complex bins of a Hermitian spectrum; bins past n/2 (or past dIn)
 *    are ignored (zero), the imaginary parts of bin 0 and (n even) bin n/2 are dropped, and
 *    y = Re(IDFT) is real, as numpy.fft.irfft(x, n).
 * Input placement (all but REAL_INVERSE): transform input j = x[i] * win[i] for i = j - inOff when
 * 0 <= i < dIn, else 0 (inOff < 0 drops leading inputs; win = 0 means no window).
 * Output placement: y[k] = result[k + outOff] for 0 <= k + outOff < n, else 0; for the inverse modes
 * y[k] is multiplied by win[k] when win != 0.
 * Not in place (y must not overlap x); never reads or writes past the last element of x, y or win.
 */
export function f32_fft(
  plan: usize, mode: i32, outer: i32, inner: i32, dIn: i32, inOff: i32, dOut: i32, outOff: i32,
  x: usize, win: usize, y: usize, work: usize,
): void {
  const n = load<i32>(plan), kind = load<i32>(plan, 4), m = load<i32>(plan, 8);
  const buf0 = work, buf1 = work + (<usize>(kind == KIND_BLUESTEIN ? m : n) << 3);
  const inverse = mode == FFT_INVERSE || mode == FFT_REAL_INVERSE;
  const realIn = mode == FFT_REAL_FORWARD || mode == FFT_REAL_MAGNITUDE;
  const outWidth: i32 = mode == FFT_REAL_INVERSE || mode == FFT_REAL_MAGNITUDE ? 1 : 2;
  const inWidth: i32 = realIn ? 1 : 2;
  const scale: f32 = inverse ? <f32>(1.0 / <f64>n) : 1;
  // The conjugation trick: IDFT(x) = conj(DFT(conj x)) / n.
  const imSign: f32 = inverse ? -1 : 1;
  const inStride = <usize>(inner * inWidth) << 2, outStride = <usize>(inner * outWidth) << 2;
  const half = n >> 1;
  const bins = min(dIn, half + 1);
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < inner; c++) {
      const xc = x + <usize>(o * dIn * inner + c) * (<usize>inWidth << 2);
      const yc = y + <usize>(o * dOut * inner + c) * (<usize>outWidth << 2);
      // Gather one column into buf0.
      if (mode == FFT_REAL_INVERSE) {
        for (let j = 0; j < n; j++) {
          const k = j <= half ? j : n - j;
          let re: f32 = 0, im: f32 = 0;
          if (k < bins) {
            re = load<f32>(xc + <usize>k * inStride);
            im = k == 0 || 2 * k == n ? 0 : load<f32>(xc + <usize>k * inStride, 4);
            if (j > half) im = -im;
          }
          store<f32>(buf0 + (<usize>j << 3), re);
          store<f32>(buf0 + (<usize>j << 3), -im, 4);
        }
      } else {
        for (let j = 0; j < n; j++) {
          const i = j - inOff;
          let re: f32 = 0, im: f32 = 0;
          if (i >= 0 && i < dIn) {
            const p = xc + <usize>i * inStride;
            re = load<f32>(p);
            if (!realIn) im = load<f32>(p, 4) * imSign;
            if (win && !inverse) {
              const w = load<f32>(win + (<usize>i << 2));
              re *= w;
              im *= w;
            }
          }
          store<f32>(buf0 + (<usize>j << 3), re);
          store<f32>(buf0 + (<usize>j << 3), im, 4);
        }
      }
      const r = forward(plan, buf0, buf1);
      // Scatter dOut outputs.
      for (let k = 0; k < dOut; k++) {
        const j = k + outOff;
        const p = yc + <usize>k * outStride;
        if (j < 0 || j >= n) {
          store<f32>(p, 0);
          if (outWidth == 2) store<f32>(p, 0, 4);
          continue;
        }
        const re = load<f32>(r + (<usize>j << 3)), im = load<f32>(r + (<usize>j << 3), 4);
        const w: f32 = win && inverse ? load<f32>(win + (<usize>k << 2)) * scale : scale;
        if (mode == FFT_REAL_MAGNITUDE) {
          store<f32>(p, <f32>Math.sqrt(<f64>re * <f64>re + <f64>im * <f64>im));
        } else if (mode == FFT_REAL_INVERSE) {
          store<f32>(p, re * w);
        } else {
          store<f32>(p, re * w);
          store<f32>(p, im * imSign * w, 4);
        }
      }
    }
  }
}
