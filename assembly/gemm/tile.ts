// Accumulator start and store for the GEMM tiles: one tile row covers 8 or 16 columns of C as
// f32x4 vectors; the last vectors of a row may be partial (the last panel of an n that is not
// a multiple of 8) or absent. Every tile sums in the same order (start value, then k = 0, 1, ...
// with one madd each), so a given element of C is bit-identical whichever tile computes it:
// step() (few rows) matches layer() (many rows) exactly. Also the panel widths of the one-row
// packings (f32-gemv.ts, q8-gemv.ts) and the sweep direction of the one-row kernels.
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

/**
 * Largest packed matrix (bytes) whose repeated one-row sweeps alternate direction. A row reads
 * the whole matrix once, so when the matrix is a little larger than L2, rows swept in one
 * direction miss on every line (the least recently used goes first); sweeping back reads first
 * what the last row read last, still in L2. Measured (Zen 4, 1 MiB L2, relaxed build, one row
 * repeated, µs forward -> alternating): f32_gemm's 1x24 1 MiB 14.0 -> 13.2, 1.5 MiB 21.5 ->
 * 20.4, 2 MiB 28.2 -> 27.2, 4 and 8 MiB level; f32_gemv 1 MiB 14.0 -> 13.2, 1.5 MiB level, 2 MiB
 * 24.8 -> 26.7 (its one stream per panel restarts the hardware prefetcher at every backward
 * jump). Between sweeps of other matrices (a model's layers in turn) going back only costs: the
 * Silero-sized chunk went 36.4 -> 37.2 µs when every sweep alternated.
 */
const SWEEP_MAX_BYTES: usize = 3 << 19;

/** The matrix of the last one-row sweep (0: none, or larger than SWEEP_MAX_BYTES) and its direction. */
let lastSweep: usize = 0;
let lastSweepBackward = false;

/**
 * Whether the next one-row sweep over the packed matrix at `b` (`bytes` bytes) visits its
 * panels last to first: when the previous one-row sweep read the same matrix, at most
 * SWEEP_MAX_BYTES, the opposite direction of that sweep; otherwise forward. Every panel
 * computes its own columns whole, so the direction changes no result bit.
 */
@inline export function nextSweepBackward(b: usize, bytes: usize): bool {
  if (bytes > SWEEP_MAX_BYTES) b = 0;
  lastSweepBackward = b != 0 && b == lastSweep && !lastSweepBackward;
  lastSweep = b;
  return lastSweepBackward;
}
