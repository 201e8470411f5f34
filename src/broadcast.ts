// Right-aligned (numpy) broadcasting of channel shapes and its kernel plan: the shared
// mechanism behind Parallel/Residual combination and the broadcasting pointwise layers; and
// the strided copy (transposes, slices, gathers) built on the same kernel.
import { SeqLayersError, show } from './errors.js';
import type { RunContext } from './layer.js';

export const Op = { add: 0, mul: 1, sub: 2, max: 3, min: 4, copy: 5 } as const;
export type OpCode = (typeof Op)[keyof typeof Op];

/** Largest rank f32_strided_binary takes, the rows axis included. */
export const MAX_STRIDED_RANK = 8;

/** numpy broadcasting of shapes, or null when they do not broadcast. */
export function broadcastShapes(shapes: readonly (readonly number[])[]): number[] | null {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    let d = 1;
    for (const s of shapes) {
      const v = s[s.length - rank + i] ?? 1;
      if (v === 1) continue;
      if (d !== 1 && d !== v) return null;
      d = v;
    }
    out.push(d);
  }
  return out;
}

export function broadcastOrThrow(shapes: readonly (readonly number[])[], who: string): number[] {
  const s = broadcastShapes(shapes);
  if (!s) throw new SeqLayersError('BAD_CONFIG', `${who}: expected channel shapes that broadcast together, got ${shapes.map((x) => show(x)).join(' and ')}`);
  return s;
}

/** Element strides of `shape` viewed as `target` (0 on broadcast axes). */
export function broadcastStrides(shape: readonly number[], target: readonly number[]): number[] {
  const out = new Array<number>(target.length).fill(0);
  let stride = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    const t = target.length - shape.length + i;
    out[t] = shape[i] === 1 && target[t] !== 1 ? 0 : stride;
    stride *= shape[i]!;
  }
  return out;
}

export function contiguousStrides(shape: readonly number[]): number[] {
  const out = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    out[i] = s;
    s *= shape[i]!;
  }
  return out;
}

/** An operand of a BroadcastPlan: its channel shape, and whether it has one entry per row. */
export interface Operand {
  readonly shape: readonly number[];
  /** false: one value shared by every row (a parameter broadcast over all steps). */
  readonly perRow: boolean;
  /** Explicit element strides of the channel axes (default: broadcast of a contiguous `shape`). */
  readonly strides?: readonly number[];
  /** Explicit row stride in elements (default: the element count of `shape`, or 0 when not perRow). */
  readonly rowStride?: number;
}

/**
 * One precomputed call of f32_strided_binary over [rows, ...shape]: y = op(a, b), each operand
 * read through its own strides (broadcast axes have stride 0). Built once per layer at build
 * time; a call allocates nothing on the JS heap. With op 'copy' it is a strided copy of a.
 */
export class BroadcastPlan {
  private readonly rank: number;
  private readonly arrays: Int32Array; // [shape | sa | sb | sy]; the rows entry is set per call

  /**
   * @param shape output channel shape
   * @param y output strides (default contiguous)
   * @param who the layer, for the error when the kernel cannot take the broadcast
   */
  constructor(shape: readonly number[], a: Operand, b: Operand, y?: { strides: readonly number[]; rowStride: number }, who = 'broadcast') {
    const size = (s: readonly number[]) => s.reduce((p, d) => p * d, 1);
    const strides = (o: Operand) => [o.rowStride ?? (o.perRow ? size(o.shape) : 0), ...(o.strides ?? broadcastStrides(o.shape, shape))];
    const sy = y ? [y.rowStride, ...y.strides] : [size(shape), ...contiguousStrides(shape)];
    // Axes of size 1 are dropped (the rows axis stays, and one channel axis): a trailing one would
    // otherwise make the kernel's innermost row a single element, run once per element. A channel
    // axis that continues the one before it in every operand (outer stride = inner stride × inner
    // size, broadcast or not) joins it: the same elements in the same order, fewer loops.
    const full = [[1, ...shape], strides(a), strides(b), sy];
    const axes: number[][] = []; // [size, stride of a, of b, of y] per kernel axis, rows first
    for (let i = 0; i < full[0]!.length; i++) {
      const axis = full.map((v) => v[i]!);
      if (i > 0 && axis[0] === 1) continue;
      const outer = axes.length > 1 ? axes[axes.length - 1]! : null;
      if (outer && [1, 2, 3].every((k) => outer[k] === axis[k]! * axis[0]!)) axes[axes.length - 1] = [outer[0]! * axis[0]!, axis[1]!, axis[2]!, axis[3]!];
      else axes.push(axis);
    }
    if (axes.length === 1 && shape.length > 0) axes.push(full.map((v) => v[shape.length]!));
    if (axes.length > MAX_STRIDED_RANK) {
      throw new SeqLayersError('BAD_CONFIG', `${who}: expected channels that broadcast over at most ${MAX_STRIDED_RANK - 1} axes once those of size 1 are dropped and contiguous ones merged, got shape ${show(shape)} (${axes.length - 1} axes)`);
    }
    this.rank = axes.length;
    this.arrays = Int32Array.from([0, 1, 2, 3].flatMap((k) => axes.map((axis) => axis[k]!)));
  }

  run(ctx: RunContext, op: OpCode, rows: number, a: number, b: number, y: number): void {
    const rt = ctx.rt;
    const ptr = ctx.alloc(this.arrays.length * 4);
    this.arrays[0] = rows;
    rt.i32.set(this.arrays, ptr >> 2);
    const r = this.rank * 4;
    rt.k.f32_strided_binary(op, this.rank, ptr, a, ptr + r, b, ptr + 2 * r, y, ptr + 3 * r);
  }
}

/** One axis of a strided copy, in output order: `size` elements read at stride `src` and written at stride `dst` (elements). */
export interface CopyAxis {
  size: number;
  src: number;
  dst: number;
}

/** The copy that writes the axes of a contiguous `shape` in the order `perm` (output axis j = input axis perm[j]), contiguously. */
export function permutationAxes(shape: readonly number[], perm: readonly number[]): CopyAxis[] {
  const src = contiguousStrides(shape);
  const dst = contiguousStrides(perm.map((p) => shape[p]!));
  return perm.map((p, j) => ({ size: shape[p]!, src: src[p]!, dst: dst[j]! }));
}

/**
 * A precomputed strided copy of `rows` rows: y[r, i...] = x[offset + r * rowSrc + sum(i_k * src_k)],
 * written at r * rowDst + sum(i_k * dst_k): one f32_strided_binary call with OP_COPY. Axes
 * that stay contiguous on both sides are merged (often into one SIMD row), and so is the rows
 * axis when it continues the first axis. Strides count elements of `width` floats (2 for
 * complex64), so values move as 4-byte words and int32 passes bit-exactly. A call allocates
 * nothing on the JS heap. More than MAX_STRIDED_RANK axes left after merging: `fail`'s error.
 */
export class StridedCopy {
  /** True when the copy would reproduce its input exactly (the caller can skip it). */
  readonly identity: boolean;
  private readonly plan: BroadcastPlan | null; // null when an axis is empty
  private readonly rowFactor: number;
  private readonly offsetBytes: number;

  constructor(axes: readonly CopyAxis[], rowSrc: number, rowDst: number, fail: (message: string) => Error, offset = 0, width = 1) {
    this.offsetBytes = offset * width * 4;
    const dims = axes.filter((a) => a.size !== 1).map((a) => ({ size: a.size, src: a.src * width, dst: a.dst * width }));
    if (width > 1) dims.push({ size: width, src: 1, dst: 1 });
    const merged: CopyAxis[] = [];
    for (let i = dims.length - 1; i >= 0; i--) {
      const a = dims[i]!, inner = merged[0];
      if (inner && a.src === inner.size * inner.src && a.dst === inner.size * inner.dst) inner.size *= a.size;
      else merged.unshift({ ...a });
    }
    let rows = { src: rowSrc * width, dst: rowDst * width };
    const first = merged[0];
    // The rows axis continues the first axis when both row strides span it exactly.
    if (first && rows.src === first.size * first.src && rows.dst === first.size * first.dst) {
      this.rowFactor = first.size;
      rows = merged.shift()!;
    } else {
      this.rowFactor = 1;
    }
    const rank = merged.length + 1;
    if (rank > MAX_STRIDED_RANK) throw fail(`expected a copy of at most ${MAX_STRIDED_RANK} non-mergeable axes (rows included), got ${rank}`);
    const empty = axes.some((a) => a.size === 0);
    this.identity = !empty && offset === 0 && rank === 1 && rows.src === 1 && rows.dst === 1;
    const shape = merged.map((a) => a.size);
    this.plan = empty
      ? null
      : new BroadcastPlan(
          shape,
          { shape, perRow: true, strides: merged.map((a) => a.src), rowStride: rows.src },
          { shape: [], perRow: false },
          { strides: merged.map((a) => a.dst), rowStride: rows.dst },
        );
  }

  /** Copies `rows` rows from x to y (byte addresses; not overlapping). */
  run(ctx: RunContext, rows: number, x: number, y: number): void {
    if (!this.plan || rows === 0) return;
    const a = x + this.offsetBytes;
    this.plan.run(ctx, Op.copy, rows * this.rowFactor, a, a, y);
  }
}
