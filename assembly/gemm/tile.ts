// Accumulator start and store for the GEMM tiles: one tile row covers 8 or 16 columns of C as
// f32x4 vectors; the last vectors of a row may be partial (the last panel of an n that is not
// a multiple of 8) or absent. Every tile sums in the same order (start value, then k = 0, 1, ...
// with one madd each), so a given element of C is bit-identical whichever tile computes it:
// step() (few rows) matches layer() (many rows) exactly. Also the panel widths of the one-row
// packings (f32-gemv.ts, q8-gemv.ts).
import { loadLanes, storeLanes } from '../simd';

/**
 * Start of the accumulator for columns [col, col + 4) of one tile row, given nr valid columns
 * from the row's first column: C when accumulating, else bias (0 = none), else zero. Lanes at
 * or past nr are zero and never read.
 */
@inline export function accStart(c: usize, bias: usize, col: i32, nr: i32, accumulate: bool): v128 {
  if (accumulate) return loadLanes(c + (<usize>col << 2), nr - col);
  if (bias) return loadLanes(bias + (<usize>col << 2), nr - col);
  return f32x4.splat(0);
}

/** Stores the lanes of v that fall below nr valid columns at columns [col, col + 4) of a row. */
@inline export function accStore(c: usize, v: v128, col: i32, nr: i32): void {
  storeLanes(c + (<usize>col << 2), v, nr - col);
}

/**
 * Width of panel p when n columns are cut into panels of `width` (a multiple of 4): `width`, or
 * for the last panel the rest rounded up to 4 (so at most 3 zero columns are packed and read).
 */
@inline export function panelWidth(n: i32, p: i32, width: i32): i32 {
  return min(width, (n - p * width + 3) & ~3);
}

/** Elements of a [rows, n] matrix packed as column panels of `width` (see panelWidth). */
@inline export function panelledLen(rows: i32, n: i32, width: i32): i32 {
  const panels = (n + width - 1) / width;
  return rows * ((panels - 1) * width + panelWidth(n, panels - 1, width));
}
