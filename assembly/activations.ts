// Activation kernels and the fused pointwise layers built on them (gated units, softmax, snake,
// power, mod). Elementary functions come from assembly/math.ts; their measured errors are there.
//
// Every kernel here reads x and writes y as contiguous f32 arrays, never past element n (tails
// run the vector code on a partial vector through loadLanes/storeLanes, so an element's result
// does not depend on where it sits in the buffer). No alignment is assumed.
import { erfV, expm1V, expNegHalfSquareV, expV, log1pV, logV, millsV, sigmoidV, sinV, tailArgV, tanhV } from './math';
import { hmax, hsum, loadLanes, storeLanes } from './simd';

// Activation codes, the `act` argument of f32_vactivation and f32_gated_unit. src/layers/simple.ts
// mirrors them (ACT) and test/layers/simple.test.ts checks the two agree. Errors are the ones
// test/kernels/math.test.ts measures ("abs" is relative where |y| > 1); see math.ts for the
// functions underneath.
export const ACT_IDENTITY = 0;
export const ACT_RELU = 1;
/** Abs error 1.5e-7, relative 1.6e-7. */
export const ACT_TANH = 2;
/** Abs error 8.9e-8, relative 1.7e-7. */
export const ACT_SIGMOID = 3;
/** x * sigmoid(x) (also called silu). Relative error 2e-7 where |y| >= 1e-30. */
export const ACT_SWISH = 4;
/**
 * The tanh approximation 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³))) (jax.nn.gelu's default).
 * Abs error 1.4e-7.
 */
export const ACT_GELU = 5;
/**
 * x Φ(x) = x erfc(-x / √2) / 2 (jax.nn.gelu(approximate=False)), with full relative accuracy
 * in the left tail too: relative error 4.3e-7 (6 ulp) where y is normal, within two subnormal
 * steps below; abs error 1.1e-7.
 */
export const ACT_GELU_EXACT = 6;
/** x > 0 ? x : p (e^x - 1), p = alpha. Relative error of e^x - 1: 1.2e-7. */
export const ACT_ELU = 7;
/** x >= 0 ? x : p x, p = negative slope. */
export const ACT_LEAKY_RELU = 8;
/** log(1 + e^x), computed as max(x, 0) + log1p(e^-|x|). Relative error 1.7e-7. */
export const ACT_SOFTPLUS = 9;
/** Relative error 8.3e-8. */
export const ACT_EXP = 10;
/** Relative error 8e-8 where |log x| >= 0.1, abs 3.9e-8 near 1. */
export const ACT_LOG = 11;
export const ACT_ABS = 12;
/** Abs error 1.2e-7, relative 2.2e-7. */
export const ACT_ERF = 13;
/** Abs error 9e-8 for |x| <= 1e4. */
export const ACT_SIN = 14;

// gelu(x) = x sigmoid(2 √(2/π) (x + 0.044715 x³)), since (1 + tanh u) / 2 = sigmoid(2u).
const GELU_C1: f32 = 1.5957691216057308; // 2 √(2/π)
const GELU_C3: f32 = 0.07135481627159271; // 2 √(2/π) 0.044715

/** act(v) lane-wise; p is the parameter of ELU (alpha) and leaky ReLU (slope). */
@inline function activate(act: i32, v: v128, p: v128): v128 {
  const zero = f32x4.splat(0);
  switch (act) {
    case ACT_RELU: return f32x4.max(v, zero);
    case ACT_TANH: return tanhV(v);
    case ACT_SIGMOID: return sigmoidV(v);
    case ACT_SWISH: return f32x4.mul(v, sigmoidV(v));
    case ACT_GELU: {
      const u = f32x4.mul(v, f32x4.add(f32x4.splat(GELU_C1), f32x4.mul(f32x4.splat(GELU_C3), f32x4.mul(v, v))));
      return f32x4.mul(v, sigmoidV(u));
    }
    case ACT_GELU_EXACT: {
      // Φ(-|x|) = e w, so x Φ(x) is x (1 - e w) for x > 0 and e (x w) for x <= 0: no 1 - Φ
      // cancels, and x w is formed first so that Φ(x) may be subnormal where x Φ(x) is not
      // (x in [-13.15, -12.5]). -Inf gives NaN, as the reference's -Inf * 0.
      const a = tailArgV(v), e = expNegHalfSquareV(a), w = millsV(a);
      const right = f32x4.mul(v, f32x4.sub(f32x4.splat(1), f32x4.mul(e, w)));
      return v128.bitselect(f32x4.mul(e, f32x4.mul(v, w)), right, f32x4.le(v, zero));
    }
    case ACT_ELU: return v128.bitselect(v, f32x4.mul(p, expm1V(v)), f32x4.gt(v, zero));
    case ACT_LEAKY_RELU: return v128.bitselect(v, f32x4.mul(p, v), f32x4.ge(v, zero));
    // pmax(v, 0) = v < 0 ? 0 : v: one instruction, and a NaN v passes through.
    case ACT_SOFTPLUS: return f32x4.add(f32x4.pmax(v, zero), log1pV(expV(f32x4.neg(f32x4.abs(v)))));
    case ACT_EXP: return expV(v);
    case ACT_LOG: return logV(v);
    case ACT_ABS: return f32x4.abs(v);
    case ACT_ERF: return erfV(v);
    case ACT_SIN: return sinV(v);
    default: return v;
  }
}

/**
 * activate() for an act known only at run time: one out-of-line copy of the switch, for the
 * tails and the gated unit (inlining it everywhere would multiply the module size).
 */
function activateAny(act: i32, v: v128, p: v128): v128 {
  return activate(act, v, p);
}

// Operations of map besides the activations, for the kernels below (internal: TS never passes them).
/** Snake: x + sin²(a x) b, with a = alpha and b = 1 / beta read per element. */
const OP_SNAKE = 100;
/** x x, Power(2): powInt(x, 2) is 1 (x x), and that factor 1 changes no bit (not even a NaN's). */
const OP_SQUARE = 101;
/** Power(0.5): the square root, with pow's special values. */
const OP_SQRT = 102;
/** Power(p) for a non-integer p: e^(p log|x|), NaN for a negative x. */
const OP_POW = 103;

/**
 * op on the m (1..4) floats at x: an activation (p its parameter) or an OP_* (p the power; a,
 * b snake's other operands).
 */
@inline function apply(op: i32, x: usize, a: usize, b: usize, p: v128, m: i32): v128 {
  const v = loadLanes(x, m);
  switch (op) {
    case OP_SNAKE: {
      const s = sinV(f32x4.mul(v, loadLanes(a, m)));
      return f32x4.add(v, f32x4.mul(f32x4.mul(s, s), loadLanes(b, m)));
    }
    case OP_SQUARE: return f32x4.mul(v, v);
    case OP_SQRT: return nanBelowZero(f32x4.sqrt(f32x4.abs(v)), v);
    case OP_POW: return nanBelowZero(expV(f32x4.mul(p, logV(f32x4.abs(v)))), v);
    default: return activate(op, v, p);
  }
}

/**
 * y = op(x) over n floats, for a constant op (the switches fold away after inlining): an
 * activation or an OP_* above (a, b: snake's alpha and 1 / beta, n floats each). Four vectors
 * per iteration: one vector's chain (an exp or a sin is ~50 cycles of dependent operations) is
 * too long for the FP scheduler to overlap enough iterations, so independent vectors side by
 * side keep more units busy. Measured over 1536 floats (Zen 4, µs, relaxed / plain build, one
 * vector -> three): tanh 2.62 -> 1.87 / 3.22 -> 2.30, sigmoid 2.59 -> 1.95 / 3.20 -> 2.41,
 * gelu 3.15 -> 2.37 / 4.16 -> 2.74 (two vectors: 2.05 sigmoid relaxed); three -> four: tanh
 * 1.88 -> 1.66 / 2.31 -> 1.97, sigmoid 1.96 -> 1.75 / 2.41 -> 2.06, gelu 2.38 -> 2.07 / 2.74
 * -> 2.33 (exp and sin within 5 %; elu 1.29 -> 1.36 / 1.82 -> 1.58). Snake over 512 channels,
 * one vector -> four: 1.32 -> 0.90 / 1.45 -> 1.01 (relaxed: two 1.01, three 0.98, six 0.98).
 */
@inline function map(op: i32, n: i32, x: usize, p: f32, y: usize, a: usize = 0, b: usize = 0): void {
  const vp = f32x4.splat(p);
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const o = <usize>i << 2;
    const r0 = apply(op, x + o, a + o, b + o, vp, 4), r1 = apply(op, x + o + 16, a + o + 16, b + o + 16, vp, 4);
    const r2 = apply(op, x + o + 32, a + o + 32, b + o + 32, vp, 4), r3 = apply(op, x + o + 48, a + o + 48, b + o + 48, vp, 4);
    v128.store(y + o, r0);
    v128.store(y + o, r1, 16);
    v128.store(y + o, r2, 32);
    v128.store(y + o, r3, 48);
  }
  // The last 1-15 floats, a vector at a time through the same operations (partial vectors by
  // lanes), so an element's result does not depend on where it falls. Activations run out of
  // line (one copy of their switch for every tail).
  for (; i < n; i += 4) {
    const o = <usize>i << 2, m = n - i;
    storeLanes(y + o, op < OP_SNAKE ? activateAny(op, loadLanes(x + o, m), vp) : apply(op, x + o, a + o, b + o, vp, m), m);
  }
}

/**
 * y = act(x) over n floats (x, y [n]; may run in place). p: ELU alpha or leaky-ReLU slope
 * (ignored by the others). The one kernel behind every unary activation layer and the
 * `activation` field of Dense/Conv layers. Any n >= 0.
 */
export function f32_vactivation(act: i32, n: i32, x: usize, p: f32, y: usize): void {
  // One specialised loop per activation: the dispatch happens once, not per vector.
  switch (act) {
    case ACT_RELU: map(ACT_RELU, n, x, p, y); break;
    case ACT_TANH: map(ACT_TANH, n, x, p, y); break;
    case ACT_SIGMOID: map(ACT_SIGMOID, n, x, p, y); break;
    case ACT_SWISH: map(ACT_SWISH, n, x, p, y); break;
    case ACT_GELU: map(ACT_GELU, n, x, p, y); break;
    case ACT_GELU_EXACT: map(ACT_GELU_EXACT, n, x, p, y); break;
    case ACT_ELU: map(ACT_ELU, n, x, p, y); break;
    case ACT_LEAKY_RELU: map(ACT_LEAKY_RELU, n, x, p, y); break;
    case ACT_SOFTPLUS: map(ACT_SOFTPLUS, n, x, p, y); break;
    case ACT_EXP: map(ACT_EXP, n, x, p, y); break;
    case ACT_LOG: map(ACT_LOG, n, x, p, y); break;
    case ACT_ABS: map(ACT_ABS, n, x, p, y); break;
    case ACT_ERF: map(ACT_ERF, n, x, p, y); break;
    case ACT_SIN: map(ACT_SIN, n, x, p, y); break;
    default: if (x != y) memory.copy(y, x, <usize>n << 2);
  }
}

/**
 * Gated unit: y[r, j] = fa(x[r, j]) * ga(x[r, h + j]) for r < rows, j < h, with activations
 * fa, ga (codes above; ACT_IDENTITY for none) and their parameters fp, gp.
 * x [rows, 2h], y [rows, h]; not in place. Any rows, h >= 1.
 */
export function f32_gated_unit(rows: i32, h: i32, fa: i32, fp: f32, ga: i32, gp: f32, x: usize, y: usize): void {
  const vf = f32x4.splat(fp), vg = f32x4.splat(gp);
  for (let r = 0; r < rows; r++) {
    const a = x + (<usize>(r * 2 * h) << 2), b = a + (<usize>h << 2), yr = y + (<usize>(r * h) << 2);
    let j = 0;
    for (; j + 4 <= h; j += 4) {
      const o = <usize>j << 2;
      v128.store(yr + o, f32x4.mul(activateAny(fa, v128.load(a + o), vf), activateAny(ga, v128.load(b + o), vg)));
    }
    if (j < h) {
      const o = <usize>j << 2, m = h - j;
      storeLanes(yr + o, f32x4.mul(activateAny(fa, loadLanes(a + o, m), vf), activateAny(ga, loadLanes(b + o, m), vg)), m);
    }
  }
}

/**
 * e = exp(x - m) over n4 floats (a multiple of 4) from x to y (may be the same buffer),
 * returning Σe in four lanes, each lane summed in element order. Three vectors per iteration,
 * for the reason map's are (a NaN max makes every e NaN, as the caller's softmax wants).
 */
@inline export function expShiftedSum(n4: i32, x: usize, y: usize, m: v128): v128 {
  let s = f32x4.splat(0);
  let i = 0;
  for (; i + 12 <= n4; i += 12) {
    const o = <usize>i << 2;
    const e0 = expV(f32x4.sub(v128.load(x + o), m)), e1 = expV(f32x4.sub(v128.load(x + o, 16), m)), e2 = expV(f32x4.sub(v128.load(x + o, 32), m));
    v128.store(y + o, e0);
    v128.store(y + o, e1, 16);
    v128.store(y + o, e2, 32);
    s = f32x4.add(f32x4.add(f32x4.add(s, e0), e1), e2);
  }
  for (; i < n4; i += 4) {
    const o = <usize>i << 2;
    const e = expV(f32x4.sub(v128.load(x + o), m));
    v128.store(y + o, e);
    s = f32x4.add(s, e);
  }
  return s;
}

/**
 * Softmax over the middle axis of x [outer, n, inner]: y = e^(x - max) / Σ e^(x - max).
 * inner = 1 runs along contiguous rows; inner > 1 runs 4 columns at a time. A NaN makes its
 * whole slice NaN (as the reference). y has x's layout; may run in place. Any sizes >= 1.
 */
export function f32_softmax(outer: i32, n: i32, inner: i32, x: usize, y: usize): void {
  if (inner == 1) {
    for (let r = 0; r < outer; r++) softmaxRow(n, x + (<usize>(r * n) << 2), y + (<usize>(r * n) << 2));
    return;
  }
  const strideB = <usize>inner << 2;
  for (let o = 0; o < outer; o++) {
    const base = <usize>(o * n * inner) << 2;
    for (let j = 0; j < inner; j += 4) {
      const lanes = min(4, inner - j);
      const xc = x + base + (<usize>j << 2), yc = y + base + (<usize>j << 2);
      let m = f32x4.splat(<f32>-Infinity);
      for (let k = 0; k < n; k++) m = f32x4.max(m, loadLanes(xc + <usize>k * strideB, lanes));
      let s = f32x4.splat(0);
      for (let k = 0; k < n; k++) {
        const e = expV(f32x4.sub(loadLanes(xc + <usize>k * strideB, lanes), m));
        storeLanes(yc + <usize>k * strideB, e, lanes);
        s = f32x4.add(s, e);
      }
      for (let k = 0; k < n; k++) {
        const p = yc + <usize>k * strideB;
        storeLanes(p, f32x4.div(loadLanes(p, lanes), s), lanes);
      }
    }
  }
}

@inline function softmaxRow(n: i32, x: usize, y: usize): void {
  let vm = f32x4.splat(<f32>-Infinity);
  let i = 0;
  for (; i + 4 <= n; i += 4) vm = f32x4.max(vm, v128.load(x + (<usize>i << 2)));
  let m = hmax(vm);
  for (; i < n; i++) m = max(m, load<f32>(x + (<usize>i << 2)));
  const mv = f32x4.splat(m);
  i = n & ~3;
  let s = hsum(expShiftedSum(i, x, y, mv));
  if (i < n) {
    const o = <usize>i << 2;
    storeLanes(y + o, expV(f32x4.sub(loadLanes(x + o, n - i), mv)), n - i);
    for (; i < n; i++) s += load<f32>(y + (<usize>i << 2));
  }
  const sv = f32x4.splat(s);
  for (i = 0; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(y + o, f32x4.div(v128.load(y + o), sv));
  }
  for (; i < n; i++) store<f32>(y + (<usize>i << 2), load<f32>(y + (<usize>i << 2)) / s);
}

/**
 * Snake: y = x + sin²(alpha x) * invBeta over rows of n channels, alpha and invBeta [n]
 * (invBeta = 1 / (beta + 1e-12), precomputed). x, y [rows, n]; may run in place.
 */
export function f32_snake(rows: i32, n: i32, x: usize, alpha: usize, invBeta: usize, y: usize): void {
  for (let r = 0; r < rows; r++) {
    const row = <usize>(r * n) << 2;
    map(OP_SNAKE, n, x + row, 0, y + row, alpha, invBeta);
  }
}

/** Integer exponents up to this size use repeated squaring (exact up to rounding per product). */
const POW_INT_MAX: f32 = 64;

/**
 * y = x^p (C pow semantics: negative x gives NaN unless p is an integer, x^0 = 1).
 * Integer |p| <= 64 uses repeated squaring (error <= log2|p| + 1 ulp), p = 0.5 the square
 * root (correctly rounded); other p use e^(p log|x|) (relative error about (1 + |p log x|)
 * 1.2e-7). x, y [n]; may run in place.
 */
export function f32_vpow(n: i32, x: usize, p: f32, y: usize): void {
  // Through map when one operation serves every element. Over 1032 floats (Zen 4, µs, relaxed
  // build, a vector per iteration with loadLanes -> map): p = 2 0.80 -> 0.09 (one multiply
  // instead of powInt's loop), p = 0.5 0.65 -> 0.37, p = 1.7 5.5 -> 2.8. One if/else chain:
  // with a return after each map, Binaryen merged two maps into one that switched on op per
  // vector (2.4 times slower at p = 2).
  if (p == 2) map(OP_SQUARE, n, x, p, y);
  else if (p == 0.5) map(OP_SQRT, n, x, p, y);
  else if (floor(p) != p) map(OP_POW, n, x, p, y);
  else powInteger(n, x, p, y);
}

/** f32_vpow for an integer p (or ±Inf) other than 2. */
function powInteger(n: i32, x: usize, p: f32, y: usize): void {
  if (abs(p) <= POW_INT_MAX) {
    // Whole vectors without loadLanes' branches (p = 3 over 1032 floats: 0.72 -> 0.37 µs), then
    // the partial one through the same products.
    const e = <i32>p;
    let i = 0;
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      v128.store(y + o, powInt(v128.load(x + o), e));
    }
    if (i < n) {
      const o = <usize>i << 2;
      storeLanes(y + o, powInt(loadLanes(x + o, n - i), e), n - i);
    }
    return;
  }
  // e^(p log|x|), with x's sign when p is odd (-0 included: (-0)^65 = -0, (-0)^-65 = -Inf).
  const odd = abs(p) < 16777216 && (<i32>p & 1) != 0;
  const vp = f32x4.splat(p), sign = i32x4.splat(0x80000000);
  for (let i = 0; i < n; i += 4) {
    const o = <usize>i << 2, m = min(4, n - i);
    const v = loadLanes(x + o, m);
    const r = expV(f32x4.mul(vp, logV(f32x4.abs(v))));
    storeLanes(y + o, odd ? v128.bitselect(v, r, sign) : r, m);
  }
}

/** r, but NaN where x < 0 (pow of a negative base to a non-integer power), except x = -Inf. */
@inline function nanBelowZero(r: v128, x: v128): v128 {
  const neg = v128.and(f32x4.lt(x, f32x4.splat(0)), f32x4.ne(x, f32x4.splat(<f32>-Infinity)));
  return v128.bitselect(f32x4.splat(<f32>NaN), r, neg);
}

@inline function powInt(v: v128, e: i32): v128 {
  let r = f32x4.splat(1), b = v;
  for (let k = abs(e); k != 0; k >>= 1) {
    if (k & 1) r = f32x4.mul(r, b);
    b = f32x4.mul(b, b);
  }
  return e < 0 ? f32x4.div(f32x4.splat(1), r) : r;
}

/**
 * y = x mod d with the sign of d (numpy/jnp.mod), d [n] per channel, x, y [rows, n]; may run
 * in place. Exact, as jnp.mod: computed in f64, in one step while |x / d| < 2^29 and by
 * fmodFar past it. d = 0 or x = ±Inf give NaN.
 */
export function f32_vmod_rows(rows: i32, n: i32, x: usize, d: usize, y: usize): void {
  for (let r = 0; r < rows; r++) {
    const xr = x + (<usize>(r * n) << 2), yr = y + (<usize>(r * n) << 2);
    let j = 0;
    // Two floats per step (f64x2); a lone last float goes through the same code.
    for (; j + 2 <= n; j += 2) {
      const o = <usize>j << 2;
      v128.store64_lane(yr + o, mod2(v128.load64_zero(xr + o), v128.load64_zero(d + o)), 0);
    }
    if (j < n) {
      const o = <usize>j << 2;
      v128.store32_lane(yr + o, mod2(v128.load32_zero(xr + o), v128.load32_zero(d + o)), 0);
    }
  }
}

/** Quotients below this keep fmod's one step exact: q b then fits f64's 53 bits (24 of b's). */
const FMOD_ONE_STEP: f64 = 536870912; // 2^29

/**
 * fmod(a, b) for f32 values held in f64, |a / b| >= 2^29 (finite, b != 0): reduced by b 2^k,
 * k so that each quotient stays under 2^29 (every step exact), then by b. Up to ten steps
 * over f32's exponent range.
 */
function fmodFar(a: f64, b: f64): f64 {
  const sb = abs(b);
  let r = abs(a);
  while (r / sb >= FMOD_ONE_STEP) {
    const k = <i64>((reinterpret<u64>(r) >> 52) - (reinterpret<u64>(sb) >> 52)) - 28;
    const big = sb * reinterpret<f64>(<u64>(max<i64>(k, 0) + 1023) << 52);
    r -= trunc<f64>(r / big) * big;
  }
  r -= trunc<f64>(r / sb) * sb;
  return copysign<f64>(r, a);
}

/** jnp.mod on the two low lanes (f32 in and out, f64 inside). */
@inline function mod2(xv: v128, dv: v128): v128 {
  const a = f64x2.promote_low_f32x4(xv), b = f64x2.promote_low_f32x4(dv);
  // fmod: exact when the quotient has at most 29 bits (q b is then exact in f64); its result
  // has the sign of x, also when it is zero (x - q b would give +0 for x = -0).
  const q = f64x2.div(a, b);
  let r = f64x2.sub(a, f64x2.mul(f64x2.trunc(q), b));
  r = v128.bitselect(a, r, i64x2.splat(<i64>1 << 63));
  // Larger finite quotients, lane by lane (|x| near 3e38 or |d| near 1e-38: rare).
  const far = f64x2.ge(f64x2.abs(q), f64x2.splat(FMOD_ONE_STEP));
  if (v128.any_true(v128.and(far, f64x2.lt(f64x2.abs(q), f64x2.splat(Infinity))))) {
    const a0 = f64x2.extract_lane(a, 0), b0 = f64x2.extract_lane(b, 0), a1 = f64x2.extract_lane(a, 1), b1 = f64x2.extract_lane(b, 1);
    if (abs(a0 / b0) >= FMOD_ONE_STEP && abs(a0 / b0) < Infinity) r = f64x2.replace_lane(r, 0, fmodFar(a0, b0));
    if (abs(a1 / b1) >= FMOD_ONE_STEP && abs(a1 / b1) < Infinity) r = f64x2.replace_lane(r, 1, fmodFar(a1, b1));
  }
  // fmod(x, ±Inf) = x for finite x (the product above is 0 * Inf = NaN).
  const inf = f64x2.splat(Infinity);
  r = v128.bitselect(a, r, v128.and(f64x2.eq(f64x2.abs(b), inf), f64x2.lt(f64x2.abs(a), inf)));
  // jnp.mod: a non-zero remainder takes the sign of the divisor.
  const zero = f64x2.splat(0);
  const fix = v128.and(f64x2.ne(r, zero), v128.xor(f64x2.lt(r, zero), f64x2.lt(b, zero)));
  return f32x4.demote_f64x2_zero(v128.bitselect(f64x2.add(r, b), r, fix));
}

/**
 * Magnitude of complex numbers: y[i] = |x[2i] + i x[2i+1]| for n complex values (interleaved
 * re, im); computed in f64, so no overflow or underflow. x [n, 2], y [n]; not in place.
 */
export function f32_vcabs(n: i32, x: usize, y: usize): void {
  let i = 0;
  for (; i + 2 <= n; i += 2) {
    const v = v128.load(x + (<usize>i << 3));
    const lo = f64x2.promote_low_f32x4(v), hi = f64x2.promote_low_f32x4(i64x2.shuffle(v, v, 1, 0));
    v128.store64_lane(y + (<usize>i << 2), cabs2(lo, hi), 0);
  }
  if (i < n) {
    const lo = f64x2.promote_low_f32x4(v128.load64_zero(x + (<usize>i << 3)));
    v128.store32_lane(y + (<usize>i << 2), cabs2(lo, lo), 0);
  }
}

/** [|a0 + i a1|, |b0 + i b1|] in the two low f32 lanes. */
@inline function cabs2(a: v128, b: v128): v128 {
  const a2 = f64x2.mul(a, a), b2 = f64x2.mul(b, b);
  const s = f64x2.add(i64x2.shuffle(a2, b2, 0, 2), i64x2.shuffle(a2, b2, 1, 3));
  return f32x4.demote_f64x2_zero(f64x2.sqrt(s));
}
