// Discrete Fourier transforms of any length over [outer, d, inner] tensors: the kernels of the
// FFT, IFFT, RFFT, IRFFT, STFT and InverseSTFT layers (src/layers/dsp.ts).
//
// Complex values are interleaved (re, im) f32 pairs (the complex64 layout of src/sequence.ts).
// A length-n transform follows a plan built once by f32_fft_plan_init (the layer's derived
// buffer), chosen by n:
//  - n a power of two, or n >= DIRECT_MAX a product of 2, 3 and 5 (400, 480, 1000): Stockham
//    autosort stages, radix 4 while 4 divides, then radix 5 and 3, and one radix 2 last. SIMD
//    over two complex numbers per f32x4; no bit reversal (it ping-pongs two buffers). Twiddles
//    per stage, precomputed in f64 and rounded once.
//  - other n < DIRECT_MAX: the dense DFT matrix (n^2 complex, exact twiddles), SIMD over j.
//  - other n: Bluestein's chirp-z algorithm on a power-of-two transform of m >= 2n - 1; the chirp
//    c[j] = exp(-i pi j^2 / n) uses j^2 mod 2n (exact), and the transformed chirp is computed in f64.
// The inverse transform is conj(F(conj x)) / n on the same plan. Real transforms of even n = 2M
// pack the samples as M complex values z[j] = x[2j] + i x[2j+1], transform those with the plan of
// length M (stored after the first) and separate the spectrum with one twiddle pass (splitPass);
// IRFFT runs the mirror. Odd n runs the complex transform with zero imaginary parts.
//
// Measured error, max |X - X_ref| / ||x||_2 against an f64 DFT over lengths 1..80 and a sweep to
// 1024, uniform random input, both builds: powers of two 2.2e-7 (3.7e-7 from length 2), dense
// matrix 3.9e-7, radix-3/5 stages 4.5e-7, Bluestein 5.3e-7 (5.8e-7 over 65..999); real transforms
// through the half length 4.8e-7 at most (test/kernels/fft.test.ts holds every length to 1e-6).
import { madd } from './simd';

/** Lengths below this that are not powers of two use the dense DFT matrix. */
const DIRECT_MAX = 64;
/** Stockham stages: powers of two, and lengths 2^a 3^b 5^c >= DIRECT_MAX. */
const KIND_STAGES = 0;
const KIND_DIRECT = 1;
const KIND_BLUESTEIN = 2;
/** Header of a plan in floats: n, kind, m, half-plan offset (i32 words), then padding that keeps the tables 16-byte aligned. */
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

/** Whether n is a product of 2, 3 and 5 only. */
function isSmooth(n: i32): bool {
  for (let p = 2; p <= 5; p++) while (n % p == 0) n /= p;
  return n == 1;
}

/** The plan kind of length n. */
function kindOf(n: i32): i32 {
  if (isPow2(n) || (n >= DIRECT_MAX && isSmooth(n))) return KIND_STAGES;
  return n < DIRECT_MAX ? KIND_DIRECT : KIND_BLUESTEIN;
}

/**
 * The radix of the Stockham stage that splits a sub-length `len` (2^a 3^b 5^c): 4 while it
 * divides, then 5, then 3, and a single 2 last (the only stage without twiddles: its n1 is 1).
 */
@inline function radixOf(len: i32): i32 {
  if ((len & 3) == 0) return 4;
  if (len % 5 == 0) return 5;
  if (len % 3 == 0) return 3;
  return 2;
}

@inline function nextPow2(n: i32): i32 {
  let m = 1;
  while (m < n) m <<= 1;
  return m;
}

/** Floats of the Stockham twiddles of length m: per radix-P stage of sub-length P n1, P - 1 n1-tables. */
function stageTwiddleLen(m: i32): i32 {
  let floats = 0;
  for (let len = m; len > 1; ) {
    const radix = radixOf(len), n1 = len / radix;
    if (radix != 2) floats += 2 * (radix - 1) * n1;
    len = n1;
  }
  return floats;
}

/** Floats of the plan of one complex transform of length n (a multiple of 4, so plans stay aligned). */
function corePlanLen(n: i32): i32 {
  let len = HEADER;
  const kind = kindOf(n);
  if (kind == KIND_STAGES) len += stageTwiddleLen(n);
  else if (kind == KIND_DIRECT) len += 2 * n * n;
  else {
    const m = nextPow2(2 * n - 1);
    len += stageTwiddleLen(m) + 2 * n + 2 * m;
  }
  return (len + 3) & ~3;
}

/** Floats of the split twiddles of an even length n: W_n^k for k <= n/4, padded to a vector. */
@inline function splitTwiddleLen(n: i32): i32 {
  return (2 * ((n >> 2) + 1) + 3) & ~3;
}

/** Floats of the plan for length n (n >= 1). */
export function f32_fft_plan_len(n: i32): i32 {
  const core = corePlanLen(n);
  return n & 1 ? core : core + corePlanLen(n >> 1) + splitTwiddleLen(n);
}

/** Bytes of f64 scratch f32_fft_plan_init needs (0 unless Bluestein; the half plan needs no more). */
export function f32_fft_plan_scratch_bytes(n: i32): i32 {
  if (kindOf(n) != KIND_BLUESTEIN) return 0;
  return nextPow2(2 * n - 1) * 16;
}

/** Floats of work memory one f32_fft call needs: two buffers of the internal length. */
export function f32_fft_work_len(n: i32): i32 {
  const m = kindOf(n) == KIND_BLUESTEIN ? nextPow2(2 * n - 1) : n;
  return 4 * m;
}

/** exp(-2 pi i k / n) as (cos, -sin), from f64. */
@inline function storeTwiddle(p: usize, k: i64, n: i64): void {
  const a = (-2.0 * Math.PI * <f64>(k % n)) / <f64>n;
  store<f32>(p, <f32>Math.cos(a));
  store<f32>(p, <f32>Math.sin(a), 4);
}

/** The twiddles of every stage of length m: W_m^(r j s) for r = 1..P-1, j < n1 (stride s so far). */
function initStageTwiddles(m: i32, tw: usize): void {
  let p = tw;
  for (let len = m, s = 1; len > 1; ) {
    const radix = radixOf(len), n1 = len / radix;
    if (radix != 2) {
      for (let r = 1; r < radix; r++) {
        for (let j = 0; j < n1; j++) {
          storeTwiddle(p, <i64>r * j * s, m);
          p += 8;
        }
      }
    }
    len = n1;
    s *= radix;
  }
}

/**
 * Writes the plan for length n to `plan` (f32_fft_plan_len(n) floats, 16-byte aligned);
 * `scratch` holds f32_fft_plan_scratch_bytes(n) bytes (8-aligned) or is 0 when that is 0.
 * Even n also gets the plan of length n/2 and the split twiddles of the real transforms; the
 * header's word 3 is then the byte offset of that half plan (0 for odd n).
 */
export function f32_fft_plan_init(n: i32, plan: usize, scratch: usize): void {
  initCorePlan(n, plan, scratch);
  if (n & 1) return;
  const halfAt = corePlanLen(n), half = plan + (<usize>halfAt << 2);
  store<i32>(plan, halfAt << 2, 12);
  initCorePlan(n >> 1, half, scratch);
  const tw = half + (<usize>corePlanLen(n >> 1) << 2);
  for (let k = 0; k <= n >> 2; k++) {
    const a = (-2.0 * Math.PI * <f64>k) / <f64>n;
    store<f32>(tw + (<usize>k << 3), <f32>Math.cos(a));
    store<f32>(tw + (<usize>k << 3), <f32>Math.sin(a), 4);
  }
}

/** Writes the complex-transform plan of length n (corePlanLen(n) floats) to `plan`. */
function initCorePlan(n: i32, plan: usize, scratch: usize): void {
  store<i32>(plan, n);
  store<i32>(plan, 0, 12);
  const tables = plan + (HEADER << 2);
  const kind = kindOf(n);
  if (kind == KIND_STAGES) {
    store<i32>(plan, KIND_STAGES, 4);
    store<i32>(plan, n, 8);
    initStageTwiddles(n, tables);
    return;
  }
  if (kind == KIND_DIRECT) {
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
  initStageTwiddles(m, tables);
  const chirp = tables + (<usize>stageTwiddleLen(m) << 2);
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

// Radix-3 and radix-5 butterflies: y_r = sum_j x_j W_P^(j r), then times the stage twiddle W^(r p).
const RADIX_CONSTANTS = memory.data<f32>([
  0.30901699437494745, -0.8090169943749475, 0.9510565162951535, 0.5877852522924731, // cos, cos, sin, sin of 2pi/5, 4pi/5
  -0.5, 0.8660254037844386, // cos, sin of 2pi/3
]);

@inline function K(i: i32): v128 {
  return v128.load32_splat(RADIX_CONSTANTS + (<usize>i << 2));
}

@inline function loadC(p: usize, full: bool): v128 {
  return full ? v128.load(p) : v128.load64_zero(p);
}

@inline function storeC(p: usize, v: v128, full: bool): void {
  if (full) v128.store(p, v);
  else v128.store64_lane(p, v, 0);
}

/** z times the twiddle at w (one complex, both pairs). */
@inline function twiddle(z: v128, w: usize): v128 {
  const t = v128.load64_splat(w);
  return cmul(z, t, swapReIm(t));
}

/** One radix-5 butterfly on two (full) or one complex column(s): inputs at a + j qb, outputs at o + r sb. */
@inline function butterfly5(a: usize, qb: usize, o: usize, sb: usize, w: usize, wb: usize, full: bool): void {
  const x0 = loadC(a, full), x1 = loadC(a + qb, full), x4 = loadC(a + 4 * qb, full);
  const t1 = f32x4.add(x1, x4), t3 = f32x4.sub(x1, x4);
  const x2 = loadC(a + 2 * qb, full), x3 = loadC(a + 3 * qb, full);
  const t2 = f32x4.add(x2, x3), t4 = f32x4.sub(x2, x3);
  storeC(o, f32x4.add(x0, f32x4.add(t1, t2)), full);
  const a1 = madd(K(1), t2, madd(K(0), t1, x0)), b1 = mulI(madd(K(3), t4, f32x4.mul(K(2), t3)));
  storeC(o + sb, twiddle(f32x4.sub(a1, b1), w), full);
  storeC(o + 4 * sb, twiddle(f32x4.add(a1, b1), w + 3 * wb), full);
  const a2 = madd(K(0), t2, madd(K(1), t1, x0)), b2 = mulI(f32x4.sub(f32x4.mul(K(3), t3), f32x4.mul(K(2), t4)));
  storeC(o + 2 * sb, twiddle(f32x4.sub(a2, b2), w + wb), full);
  storeC(o + 3 * sb, twiddle(f32x4.add(a2, b2), w + 2 * wb), full);
}

/** One radix-3 butterfly (see butterfly5). */
@inline function butterfly3(a: usize, qb: usize, o: usize, sb: usize, w: usize, wb: usize, full: bool): void {
  const x0 = loadC(a, full), x1 = loadC(a + qb, full), x2 = loadC(a + 2 * qb, full);
  const t1 = f32x4.add(x1, x2);
  storeC(o, f32x4.add(x0, t1), full);
  const a1 = madd(K(4), t1, x0), b1 = mulI(f32x4.mul(K(5), f32x4.sub(x1, x2)));
  storeC(o + sb, twiddle(f32x4.sub(a1, b1), w), full);
  storeC(o + 2 * sb, twiddle(f32x4.add(a1, b1), w + wb), full);
}

/**
 * One radix-3 or radix-5 Stockham stage: n = radix n1 points at stride s, src -> dst; tw holds
 * W^r (r = 1..radix-1, n1 complex each). SIMD over pairs of q, one complex for an odd s.
 */
function radixOdd(radix: i32, n1: i32, s: i32, src: usize, dst: usize, tw: usize): void {
  const sb = <usize>s << 3, qb = <usize>n1 * sb, wb = <usize>n1 << 3;
  for (let p = 0; p < n1; p++) {
    const a = src + <usize>p * sb, o = dst + <usize>(radix * p) * sb, w = tw + (<usize>p << 3);
    let q = 0;
    if (radix == 5) {
      for (; q + 2 <= s; q += 2) butterfly5(a + (<usize>q << 3), qb, o + (<usize>q << 3), sb, w, wb, true);
      if (q < s) butterfly5(a + (<usize>q << 3), qb, o + (<usize>q << 3), sb, w, wb, false);
    } else {
      for (; q + 2 <= s; q += 2) butterfly3(a + (<usize>q << 3), qb, o + (<usize>q << 3), sb, w, wb, true);
      if (q < s) butterfly3(a + (<usize>q << 3), qb, o + (<usize>q << 3), sb, w, wb, false);
    }
  }
}

/** Forward Stockham transform of x (m complex, a KIND_STAGES length); y is the other buffer. Returns where the result is. */
function stagesForward(m: i32, tw: usize, x: usize, y: usize): usize {
  let src = x, dst = y, t = tw;
  for (let len = m, s = 1; len > 1; ) {
    const radix = radixOf(len), n1 = len / radix;
    if (radix == 4) radix4(n1, s, src, dst, t);
    else if (radix == 2) radix2(s, src, dst);
    else radixOdd(radix, n1, s, src, dst, t);
    if (radix != 2) t += <usize>(2 * (radix - 1) * n1) << 2;
    const tmp = src;
    src = dst;
    dst = tmp;
    len = n1;
    s *= radix;
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
  if (kind == KIND_STAGES) return stagesForward(n, tables, buf0, buf1);
  if (kind == KIND_DIRECT) {
    directForward(n, tables, buf0, buf1);
    return buf1;
  }
  // Bluestein: X = c . conj(F_m(conj(F_m(x c) . B))), B = F_m(conj c) / m.
  const chirp = tables + (<usize>stageTwiddleLen(m) << 2);
  const bq = chirp + (<usize>n << 3);
  const conj = f32x4(0.0, -0.0, 0.0, -0.0);
  for (let j = 0; j < n; j++) {
    const o = <usize>j << 3;
    const c = v128.load64_zero(chirp + o);
    v128.store64_lane(buf0 + o, cmul(v128.load64_zero(buf0 + o), c, swapReIm(c)), 0);
  }
  memory.fill(buf0 + (<usize>n << 3), 0, <usize>(m - n) << 3);
  const a = stagesForward(m, tables, buf0, buf1);
  conjMul(m, a, bq);
  const q = stagesForward(m, tables, a, a == buf0 ? buf1 : buf0);
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

// ---------------------------------------------------------------------------------------------
// Real transforms of even length n = 2M through one complex transform of length M.

/**
 * The split pass between the packed half-length spectrum and the real one, over k = 0..M/2 with
 * its mirror M - k (W = W_n^k, tw):
 *  - forward: src = Z = FFT_M(x[2j] + i x[2j+1]); dst[k] = X[k] = E - i t and dst[M - k] =
 *    X[M - k] = conj(E + i t), with E = Z[k] / 2 + conj Z[M-k] / 2, t = W (Z[k] / 2 - conj Z[M-k] / 2).
 *  - inverse: src = X[0..M]; dst = conj(Z) with Z[k] = E + i u, u = conj(W) (X[k] / 2 - conj X[M-k] / 2),
 *    so that FFT_M(dst) = M conj(z) with z[j] = x[2j] + i x[2j+1] (dst[M] is written too).
 * Halving before adding keeps values up to the float32 maximum from overflowing (it gives the
 * same bits as halving after, when nothing overflows).
 */
function splitPass(m: i32, src: usize, dst: usize, tw: usize, inverse: bool): void {
  const twSign = inverse ? f32x4(0.0, -0.0, 0.0, -0.0) : f32x4.splat(0);
  let k = 0;
  // k = 0 alone (its mirror is M), then pairs of k; the last one or two k alone. Forward, bins
  // 0 and M are real: X[0] = Re Z[0] + Im Z[0], X[M] = Re Z[0] - Im Z[0], written as such (the
  // general formula made NaN of an Inf sample, as Inf - Inf, where numpy gives Inf).
  if (inverse) splitOne(m, 0, src, dst, tw, twSign, inverse);
  else {
    const re = load<f32>(src), im = load<f32>(src, 4);
    store<f32>(dst, re + im);
    store<f32>(dst, 0, 4);
    store<f32>(dst + (<usize>m << 3), re - im);
    store<f32>(dst + (<usize>m << 3), 0, 4);
  }
  for (k = 1; 2 * k + 2 <= m; k += 2) {
    const o = <usize>k << 3, om = <usize>(m - k - 1) << 3;
    const a = v128.load(src + o), bm = v128.load(src + om);
    const b = v128.xor(i64x2.shuffle(bm, bm, 1, 0), f32x4(0.0, -0.0, 0.0, -0.0));
    const t0 = v128.xor(v128.load(tw + o), twSign);
    const ha = f32x4.mul(a, f32x4.splat(0.5)), hb = f32x4.mul(b, f32x4.splat(0.5));
    const e = f32x4.add(ha, hb);
    const it = mulI(cmul(f32x4.sub(ha, hb), t0, swapReIm(t0)));
    const lo = f32x4.sub(e, it);
    const hi = v128.xor(f32x4.add(e, it), f32x4(0.0, -0.0, 0.0, -0.0));
    // lo holds indices k, k + 1; hi holds M - k, M - k - 1 (stored swapped).
    if (inverse) {
      v128.store(dst + o, hi);
      v128.store(dst + om, i64x2.shuffle(lo, lo, 1, 0));
    } else {
      v128.store(dst + o, lo);
      v128.store(dst + om, i64x2.shuffle(hi, hi, 1, 0));
    }
  }
  for (; 2 * k <= m; k++) splitOne(m, k, src, dst, tw, twSign, inverse);
}

/** One k of splitPass and its mirror M - k (for k = 0 only inverse: src[M] is X[M]). */
@inline function splitOne(m: i32, k: i32, src: usize, dst: usize, tw: usize, twSign: v128, inverse: bool): void {
  const o = <usize>k << 3, om = <usize>(m - k) << 3;
  const conj = f32x4(0.0, -0.0, 0.0, -0.0);
  const a = v128.load64_zero(src + o), b = v128.xor(v128.load64_zero(src + om), conj);
  const t0 = v128.xor(v128.load64_zero(tw + o), twSign);
  const ha = f32x4.mul(a, f32x4.splat(0.5)), hb = f32x4.mul(b, f32x4.splat(0.5));
  const e = f32x4.add(ha, hb);
  const it = mulI(cmul(f32x4.sub(ha, hb), t0, swapReIm(t0)));
  const lo = f32x4.sub(e, it), hi = v128.xor(f32x4.add(e, it), conj);
  v128.store64_lane(dst + o, inverse ? hi : lo, 0);
  v128.store64_lane(dst + om, inverse ? lo : hi, 0);
}

// ---------------------------------------------------------------------------------------------
// Moving columns in and out of the contiguous work buffers.

/** Zeroes count elements of `width` floats at p, `stride` bytes apart. */
function zeroElements(p: usize, count: i32, stride: usize, width: i32): void {
  if (count <= 0) return;
  if (stride == <usize>width << 2) {
    memory.fill(p, 0, <usize>count * stride);
    return;
  }
  for (let k = 0; k < count; k++) {
    if (width == 2) store<u64>(p + <usize>k * stride, 0);
    else store<u32>(p + <usize>k * stride, 0);
  }
}

/** Copies count elements of `width` floats from src (srcStride bytes apart) to dst (dstStride apart). */
function copyElements(dst: usize, dstStride: usize, src: usize, srcStride: usize, count: i32, width: i32): void {
  if (count <= 0) return;
  const bytes = <usize>width << 2;
  if (srcStride == bytes && dstStride == bytes) {
    memory.copy(dst, src, <usize>count * bytes);
    return;
  }
  for (let k = 0; k < count; k++) {
    if (width == 2) store<u64>(dst + <usize>k * dstStride, load<u64>(src + <usize>k * srcStride));
    else store<u32>(dst + <usize>k * dstStride, load<u32>(src + <usize>k * srcStride));
  }
}

/**
 * Complex values z[j], j0 <= j < j1, times (scale, imScale) lane by lane and by win[j - winOff]
 * when win != 0.
 */
function scaleComplex(z: usize, j0: i32, j1: i32, scale: f32, imScale: f32, win: usize, winOff: i32): void {
  const f = f32x4.replace_lane(f32x4.replace_lane(f32x4.splat(scale), 1, imScale), 3, imScale);
  let j = j0;
  for (; j + 2 <= j1; j += 2) {
    const p = z + (<usize>j << 3);
    let g = f;
    if (win) {
      const w = v128.load64_zero(win + (<usize>(j - winOff) << 2));
      g = f32x4.mul(g, f32x4.shuffle(w, w, 0, 0, 1, 1));
    }
    v128.store(p, f32x4.mul(v128.load(p), g));
  }
  if (j < j1) {
    const p = z + (<usize>j << 3);
    const g = win ? f32x4.mul(f, v128.load32_splat(win + (<usize>(j - winOff) << 2))) : f;
    v128.store64_lane(p, f32x4.mul(v128.load64_zero(p), g), 0);
  }
}

/** Real values v[j], j0 <= j < j1, times win[j - winOff]. */
function applyRealWindow(v: usize, j0: i32, j1: i32, win: usize, winOff: i32): void {
  let j = j0;
  for (; j + 4 <= j1; j += 4) {
    const p = v + (<usize>j << 2);
    v128.store(p, f32x4.mul(v128.load(p), v128.load(win + (<usize>(j - winOff) << 2))));
  }
  for (; j < j1; j++) {
    const p = v + (<usize>j << 2);
    store<f32>(p, load<f32>(p) * load<f32>(win + (<usize>(j - winOff) << 2)));
  }
}

/**
 * Packs complex z[j] (j0 <= j < j1) into reals in place: v[j] = |z[j]| (in f64) when magnitude,
 * else Re z[j] * scale. Safe in place: float j is written after floats 2j, 2j + 1 are read.
 */
function packReal(z: usize, j0: i32, j1: i32, magnitude: bool, scale: f32): void {
  let j = j0;
  for (; j + 2 <= j1; j += 2) {
    const v = v128.load(z + (<usize>j << 3));
    let r: v128;
    if (magnitude) {
      const lo = f64x2.promote_low_f32x4(v), hi = f64x2.promote_low_f32x4(i64x2.shuffle(v, v, 1, 0));
      const l2 = f64x2.mul(lo, lo), h2 = f64x2.mul(hi, hi);
      r = f32x4.demote_f64x2_zero(f64x2.sqrt(f64x2.add(i64x2.shuffle(l2, h2, 0, 2), i64x2.shuffle(l2, h2, 1, 3))));
    } else {
      r = f32x4.mul(f32x4.shuffle(v, v, 0, 2, 0, 2), f32x4.splat(scale));
    }
    v128.store64_lane(z + (<usize>j << 2), r, 0);
  }
  if (j < j1) {
    const re = load<f32>(z + (<usize>j << 3)), im = load<f32>(z + (<usize>j << 3), 4);
    store<f32>(z + (<usize>j << 2), magnitude ? <f32>Math.sqrt(<f64>re * <f64>re + <f64>im * <f64>im) : re * scale);
  }
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
 * Each column is copied into a contiguous buffer (one memory.copy when inner == 1), scaled and
 * windowed there with SIMD, transformed, finished in place (scale, window, magnitude) and copied out.
 */
export function f32_fft(
  plan: usize, mode: i32, outer: i32, inner: i32, dIn: i32, inOff: i32, dOut: i32, outOff: i32,
  x: usize, win: usize, y: usize, work: usize,
): void {
  const n = load<i32>(plan), kind = load<i32>(plan, 4), m = load<i32>(plan, 8), halfAt = load<i32>(plan, 12);
  const buf0 = work, buf1 = work + (<usize>(kind == KIND_BLUESTEIN ? m : n) << 3);
  const inverse = mode == FFT_INVERSE || mode == FFT_REAL_INVERSE;
  const realIn = mode == FFT_REAL_FORWARD || mode == FFT_REAL_MAGNITUDE;
  const realOut = mode == FFT_REAL_INVERSE || mode == FFT_REAL_MAGNITUDE;
  // Even n: real transforms run the complex transform of length n/2 and the split pass.
  const split = halfAt != 0 && (realIn || mode == FFT_REAL_INVERSE);
  const half = plan + <usize>halfAt, hm = n >> 1;
  const splitTw = split ? half + (<usize>corePlanLen(hm) << 2) : 0;
  const inWidth: i32 = realIn ? 1 : 2, outWidth: i32 = realOut ? 1 : 2;
  const inStride = <usize>(inner * inWidth) << 2, outStride = <usize>(inner * outWidth) << 2;
  // Transform inputs [j0, j1) come from x, outputs [k0, k1) go to y; the rest is zero.
  const j0 = min(max(inOff, 0), n), j1 = max(min(inOff + dIn, n), j0);
  const k0 = min(max(-outOff, 0), dOut), k1 = max(min(n - outOff, dOut), k0);
  const bins = min(dIn, (n >> 1) + 1);
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < inner; c++) {
      const xc = x + <usize>(o * dIn * inner + c) * (<usize>inWidth << 2);
      const yc = y + <usize>(o * dOut * inner + c) * (<usize>outWidth << 2);
      let r: usize;
      if (mode == FFT_REAL_INVERSE) {
        if (split) {
          // X[0..n/2] into buf1 (imaginary parts of bins 0 and n/2 dropped), conj(Z) into buf0.
          copyElements(buf1, 8, xc, inStride, bins, 2);
          zeroElements(buf1 + (<usize>bins << 3), hm + 1 - bins, 8, 2);
          store<f32>(buf1, 0, 4);
          store<f32>(buf1 + (<usize>hm << 3), 0, 4);
          splitPass(hm, buf1, buf0, splitTw, true);
          r = forward(half, buf0, buf1);
          // x[2j] = Re r[j] / M, x[2j + 1] = -Im r[j] / M, then the output window.
          scaleComplex(r, 0, hm, <f32>(2.0 / <f64>n), <f32>(-2.0 / <f64>n), 0, 0);
          if (win) applyRealWindow(r, k0 + outOff, k1 + outOff, win, outOff);
        } else {
          // Odd n: the Hermitian extension, conjugated for IDFT(x) = conj(DFT(conj x)) / n.
          for (let j = 0; j < n; j++) {
            const k = min(j, n - j);
            let re: f32 = 0, im: f32 = 0;
            if (k < bins) {
              re = load<f32>(xc + <usize>k * inStride);
              im = k == 0 ? 0 : load<f32>(xc + <usize>k * inStride, 4);
              if (j > k) im = -im;
            }
            store<f32>(buf0 + (<usize>j << 3), re);
            store<f32>(buf0 + (<usize>j << 3), -im, 4);
          }
          r = forward(plan, buf0, buf1);
          packReal(r, k0 + outOff, k1 + outOff, false, <f32>(1.0 / <f64>n));
          if (win) applyRealWindow(r, k0 + outOff, k1 + outOff, win, outOff);
        }
      } else {
        if (split) {
          // Real samples as n/2 complex values: z[j] = x[2j] + i x[2j + 1].
          zeroElements(buf0, j0, 4, 1);
          copyElements(buf0 + (<usize>j0 << 2), 4, xc + <usize>(j0 - inOff) * inStride, inStride, j1 - j0, 1);
          zeroElements(buf0 + (<usize>j1 << 2), n - j1, 4, 1);
          if (win) applyRealWindow(buf0, j0, j1, win, inOff);
          const z = forward(half, buf0, buf1);
          r = z == buf0 ? buf1 : buf0;
          splitPass(hm, z, r, splitTw, false);
          // Bins past n/2, when asked for: X[j] = conj(X[n - j]).
          for (let j = hm + 1; j < k1 + outOff; j++) {
            store<f32>(r + (<usize>j << 3), load<f32>(r + (<usize>(n - j) << 3)));
            store<f32>(r + (<usize>j << 3), -load<f32>(r + (<usize>(n - j) << 3), 4), 4);
          }
        } else {
          // Complex input, or real input of odd length with zero imaginary parts.
          if (realIn) memory.fill(buf0, 0, <usize>n << 3);
          else {
            zeroElements(buf0, j0, 8, 2);
            zeroElements(buf0 + (<usize>j1 << 3), n - j1, 8, 2);
          }
          copyElements(buf0 + (<usize>j0 << 3), 8, xc + <usize>(j0 - inOff) * inStride, inStride, j1 - j0, inWidth);
          // The conjugation trick: IDFT(x) = conj(DFT(conj x)) / n.
          if (inverse || win) scaleComplex(buf0, j0, j1, 1, inverse ? -1 : 1, inverse ? 0 : win, inOff);
          r = forward(plan, buf0, buf1);
          // Bin 0 of a real input (odd n here) is real, as numpy's rfft gives: an Inf sample
          // made its imaginary part NaN (Inf * 0).
          if (realIn) store<f32>(r, 0, 4);
        }
        if (inverse) scaleComplex(r, k0 + outOff, k1 + outOff, <f32>(1.0 / <f64>n), <f32>(-1.0 / <f64>n), win, outOff);
        if (realOut) packReal(r, k0 + outOff, k1 + outOff, true, 1);
      }
      // Outputs [k0, k1) from r[k + outOff] (real or complex, contiguous), zeros around them.
      zeroElements(yc, k0, outStride, outWidth);
      copyElements(yc + <usize>k0 * outStride, outStride, r + (<usize>(k0 + outOff) << (outWidth + 1)), <usize>outWidth << 2, k1 - k0, outWidth);
      zeroElements(yc + <usize>k1 * outStride, dOut - k1, outStride, outWidth);
    }
  }
}
