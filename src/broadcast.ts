// Right-aligned (numpy) broadcasting of channel shapes and its kernel plan: the shared
// mechanism behind Parallel/Residual combination and the broadcasting pointwise layers.
import { SeqLayersError, show } from './errors.js';
import type { RunContext } from './layer.js';

export const Op = { add: 0, mul: 1, sub: 2, max: 3, min: 4, copy: 5 } as const;
export type OpCode = (typeof Op)[keyof typeof Op];

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
   */
  constructor(shape: readonly number[], a: Operand, b: Operand, y?: { strides: readonly number[]; rowStride: number }) {
    const size = (s: readonly number[]) => s.reduce((p, d) => p * d, 1);
    const strides = (o: Operand) => [o.rowStride ?? (o.perRow ? size(o.shape) : 0), ...(o.strides ?? broadcastStrides(o.shape, shape))];
    this.rank = shape.length + 1;
    const sy = y ? [y.rowStride, ...y.strides] : [size(shape), ...contiguousStrides(shape)];
    this.arrays = Int32Array.from([1, ...shape, ...strides(a), ...strides(b), ...sy]);
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
