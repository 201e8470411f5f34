// GEMM tiles for products of at most 4 columns (a Conv1D down to one channel, as a vocoder's
// last convolution, or a Dense with a few features), used by f32_gemm (f32-gemm-4x8.ts) for its
// rows in multiples of 4. The 4x8 and 5x8 tiles put 8 columns in the lanes, so with n = 1 seven
// of every eight madds are wasted on the panel's zero columns: a Conv1D k=7 128 -> 1 over 1024
// steps ran at 4 GFLOP/s. Here the lanes hold four rows instead, from the block of A packed as
// row quartets ([rows / 4][kc][4], pack.ts packA), and each column of B is a broadcast: acc =
// madd(a[4 rows][k], splat(b[k][col]), acc). A multiplication is exact whichever operand comes
// first, so every element is still start + k = 0, 1, ... in turn, bit-identical to the other
// tiles (tile.ts).
//
// Tiles of q quartets by n columns, at most 8 accumulators: 4 x 1 and 4 x 2 (4 and 8 chains
// over 16 rows), 2 x 3 and 2 x 4 (6 and 8 chains over 8 rows); remaining quartets one at a time.
import { madd } from '../simd';

/** Columns up to which f32_gemm runs rows in the lanes (tiles below) instead of 8 columns. */
export const NARROW_N = 4;

/** Quartets of rows per tile for n columns (see the header). */
@inline function quartets(n: i32): i32 {
  return n <= 2 ? 4 : 2;
}

/** Column col of four rows of C from c (rows ldcB bytes apart): C when accumulating, else bias[col] (0 = none), else zero. */
@inline function columnStart(c: usize, ldcB: usize, bias: usize, col: i32, accumulate: bool): v128 {
  const o = <usize>col << 2;
  if (accumulate) {
    let v = f32x4.splat(load<f32>(c + o));
    v = f32x4.replace_lane(v, 1, load<f32>(c + ldcB + o));
    v = f32x4.replace_lane(v, 2, load<f32>(c + 2 * ldcB + o));
    return f32x4.replace_lane(v, 3, load<f32>(c + 3 * ldcB + o));
  }
  if (bias) return v128.load32_splat(bias + o);
  return f32x4.splat(0);
}

/** Stores the lanes of v as column col of four rows of C from c. */
@inline function columnStore(c: usize, ldcB: usize, v: v128, col: i32): void {
  const o = <usize>col << 2;
  store<f32>(c + o, f32x4.extract_lane(v, 0));
  store<f32>(c + ldcB + o, f32x4.extract_lane(v, 1));
  store<f32>(c + 2 * ldcB + o, f32x4.extract_lane(v, 2));
  store<f32>(c + 3 * ldcB + o, f32x4.extract_lane(v, 3));
}

/**
 * One tile of q quartets (rows 4q from c0) by n columns over kc steps (q, n constants at every
 * call): packed quartets at ap, kc * 16 bytes apart; the panel's slice at bk (8 floats a step).
 */
@inline function tile(q: i32, n: i32, kc: i32, ap: usize, bk: usize, c0: usize, ldcB: usize, bias: usize, accumulate: bool): void {
  const qB = <usize>kc << 4, c1 = c0 + 4 * ldcB, c2 = c1 + 4 * ldcB, c3 = c2 + 4 * ldcB;
  const zero = f32x4.splat(0);
  // x: column 0 of quartets 0-3, y: column 1 of quartets 0-3, z and w: columns 2 and 3 of quartets 0-1.
  let x0 = columnStart(c0, ldcB, bias, 0, accumulate), x1 = zero, x2 = zero, x3 = zero;
  let y0 = zero, y1 = zero, y2 = zero, y3 = zero, z0 = zero, z1 = zero, w0 = zero, w1 = zero;
  if (q > 1) x1 = columnStart(c1, ldcB, bias, 0, accumulate);
  if (q > 2) {
    x2 = columnStart(c2, ldcB, bias, 0, accumulate);
    x3 = columnStart(c3, ldcB, bias, 0, accumulate);
  }
  if (n > 1) {
    y0 = columnStart(c0, ldcB, bias, 1, accumulate);
    if (q > 1) y1 = columnStart(c1, ldcB, bias, 1, accumulate);
    if (q > 2) {
      y2 = columnStart(c2, ldcB, bias, 1, accumulate);
      y3 = columnStart(c3, ldcB, bias, 1, accumulate);
    }
  }
  if (n > 2) {
    z0 = columnStart(c0, ldcB, bias, 2, accumulate);
    if (q > 1) z1 = columnStart(c1, ldcB, bias, 2, accumulate);
  }
  if (n > 3) {
    w0 = columnStart(c0, ldcB, bias, 3, accumulate);
    if (q > 1) w1 = columnStart(c1, ldcB, bias, 3, accumulate);
  }
  const end = ap + qB;
  for (; ap < end; ap += 16) {
    const a0 = v128.load(ap);
    let a1 = zero, a2 = zero, a3 = zero;
    if (q > 1) a1 = v128.load(ap + qB);
    if (q > 2) {
      a2 = v128.load(ap + 2 * qB);
      a3 = v128.load(ap + 3 * qB);
    }
    let b = v128.load32_splat(bk);
    x0 = madd(a0, b, x0);
    if (q > 1) x1 = madd(a1, b, x1);
    if (q > 2) {
      x2 = madd(a2, b, x2);
      x3 = madd(a3, b, x3);
    }
    if (n > 1) {
      b = v128.load32_splat(bk, 4);
      y0 = madd(a0, b, y0);
      if (q > 1) y1 = madd(a1, b, y1);
      if (q > 2) {
        y2 = madd(a2, b, y2);
        y3 = madd(a3, b, y3);
      }
    }
    if (n > 2) {
      b = v128.load32_splat(bk, 8);
      z0 = madd(a0, b, z0);
      if (q > 1) z1 = madd(a1, b, z1);
    }
    if (n > 3) {
      b = v128.load32_splat(bk, 12);
      w0 = madd(a0, b, w0);
      if (q > 1) w1 = madd(a1, b, w1);
    }
    bk += 32;
  }
  columnStore(c0, ldcB, x0, 0);
  if (q > 1) columnStore(c1, ldcB, x1, 0);
  if (q > 2) {
    columnStore(c2, ldcB, x2, 0);
    columnStore(c3, ldcB, x3, 0);
  }
  if (n > 1) {
    columnStore(c0, ldcB, y0, 1);
    if (q > 1) columnStore(c1, ldcB, y1, 1);
    if (q > 2) {
      columnStore(c2, ldcB, y2, 1);
      columnStore(c3, ldcB, y3, 1);
    }
  }
  if (n > 2) {
    columnStore(c0, ldcB, z0, 2);
    if (q > 1) columnStore(c1, ldcB, z1, 2);
  }
  if (n > 3) {
    columnStore(c0, ldcB, w0, 3);
    if (q > 1) columnStore(c1, ldcB, w1, 3);
  }
}

/** The rows of one packed block (rows a multiple of 4) by n <= NARROW_N columns (n a constant at each call). */
@inline function rowsOf(n: i32, rows: i32, kc: i32, ap: usize, bk: usize, c: usize, ldcB: usize, bias: usize, accumulate: bool): void {
  const q = quartets(n), quartetsB = <usize>kc << 4;
  let i = 0;
  for (; i + 4 * q <= rows; i += 4 * q) tile(q, n, kc, ap + <usize>(i >> 2) * quartetsB, bk, c + <usize>i * ldcB, ldcB, bias, accumulate);
  for (; i < rows; i += 4) tile(1, n, kc, ap + <usize>(i >> 2) * quartetsB, bk, c + <usize>i * ldcB, ldcB, bias, accumulate);
}

/**
 * C rows [0, rows) (a multiple of 4) of a product of n <= NARROW_N columns over kc steps, from A
 * packed as quartets at ap (packA with r = 4), B's panel slice at bk; arguments as the 4x8
 * tiles', strides in bytes.
 */
export function narrowRows(n: i32, rows: i32, kc: i32, ap: usize, bk: usize, c: usize, ldcB: usize, bias: usize, accumulate: bool): void {
  if (n == 1) rowsOf(1, rows, kc, ap, bk, c, ldcB, bias, accumulate);
  else if (n == 2) rowsOf(2, rows, kc, ap, bk, c, ldcB, bias, accumulate);
  else if (n == 3) rowsOf(3, rows, kc, ap, bk, c, ldcB, bias, accumulate);
  else rowsOf(4, rows, kc, ap, bk, c, ldcB, bias, accumulate);
}
