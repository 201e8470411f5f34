// Padding of a channel axis: constant, reflect, symmetric, edge and wrap, with numpy's
// (jnp.pad's) mode names and semantics. The reference has no such layer; it is the per-step
// counterpart of jnp.pad over one channel axis, used e.g. to reflect-pad each frame of a Frame
// layer before a convolution over the frame's samples (an STFT whose edge frames are padded
// inside each block, as Silero VAD does).
//
// Exports (sorted): PAD_MODES, Pad, PadLayer, PadMode, paddingDefs.
//
// Stateless, ratio 1, receptive field (0, 0): every output step is its own input step padded,
// so layer() equals step() trivially and invalid steps stay in their rows. The mask passes
// through. Costs: one strided copy (f32_strided_binary with OP_COPY) for the input and one per
// padded side; copies move 4-byte words, so int32 values pass bit-exactly and complex64 values
// move as (re, im) pairs.
import { BroadcastPlan, Op, type Operand } from '../broadcast.js';
import { builder, defineLayer, f, MAX_DIM, type Resolved } from '../config.js';
import { show } from '../errors.js';
import { Layer, product, type BuildContext, type Derived, type RunContext, type WSeq } from '../layer.js';
import { dtypeWidth, firstNonInt32 } from '../sequence.js';

/** Padding modes, as numpy.pad names them. */
export const PAD_MODES = ['constant', 'reflect', 'symmetric', 'edge', 'wrap'] as const;
export type PadMode = (typeof PAD_MODES)[number];

const padFields = {
  /** The channel axis to pad: a full-rank index (2 = first channel axis; negative from the end; default -1). */
  axis: f.int(-MAX_DIM).default(-1),
  /** Elements added [before, after] the axis (required; non-negative integers). */
  padding: f.custom<[number, number]>('[before, after] (non-negative integers)', (v) =>
    Array.isArray(v) && v.length === 2 && v.every((x) => Number.isInteger(x) && x >= 0 && x <= MAX_DIM) ? [v[0], v[1]] : undefined,
  ),
  /**
   * How the new elements are filled (default 'constant'), as numpy.pad: 'constant' with
   * constantValue; 'reflect' mirrors without repeating the edge ([a b c] → b | a b c | b; padding
   * at most size - 1); 'symmetric' mirrors with the edge (a | a b c | c; at most size); 'edge'
   * repeats the edge element; 'wrap' continues periodically (c | a b c | a; at most size).
   */
  mode: f.oneOf(PAD_MODES).default('constant'),
  /** The fill of mode 'constant' (default 0; the real part for complex64, imaginary part 0; for int32 input a whole number in int32's range). */
  constantValue: f.num().default(0),
};

const PadDef = defineLayer({ type: 'Pad', fields: padFields, create: (c, ctx) => new PadLayer(c, ctx) });

/** Pads one channel axis of every step: `Pad({ axis: -1, padding: [0, 64], mode: 'reflect' })`. */
export const Pad = builder(PadDef);

/** One strided copy into the output: source offset (elements), its stride along the padded axis, and the output offset. */
interface Side {
  plan: BroadcastPlan;
  /** First source element (of x, or of the constant row for mode 'constant'). */
  src: number;
  /** First output element. */
  dst: number;
  /** Reads the constant row instead of x. */
  constant: boolean;
}

/**
 * Pad: channel shape [..., n, ...] → [..., before + n + after, ...] along `axis`. No parameters;
 * mode 'constant' keeps one row of the fill value (a derived buffer) to copy from. Any dtype.
 */
export class PadLayer extends Layer {
  private readonly sides: Side[] = [];
  private readonly fill: Derived | null;
  private readonly fillValue: number;
  /** Elements (4-byte words) of one padded step's inner block (after the axis). */
  private readonly inner: number;

  constructor(config: Resolved<typeof padFields>, ctx: BuildContext) {
    super(config, ctx);
    const shape = ctx.input.shape;
    const rank = shape.length + 2;
    const full = config.axis < 0 ? config.axis + rank : config.axis;
    if (shape.length === 0) throw this.error('BAD_CONFIG', 'expected an input with a channel axis to pad, got channel shape []');
    if (full < 2 || full >= rank) {
      throw this.error('BAD_CONFIG', `axis: expected a channel axis in 2..${rank - 1} or ${-rank + 2}..-1 of input [batch, time${shape.map((d) => `, ${d}`).join('')}], got ${config.axis}`);
    }
    const a = full - 2;
    const n = shape[a]!;
    const [before, after] = config.padding;
    const mode = config.mode;
    // numpy repeats reflections for longer pads; one reflection is all a layer needs, and a
    // longer pad is more likely a mistake than an intent.
    const most = { constant: Infinity, reflect: n - 1, symmetric: n, edge: n > 0 ? Infinity : 0, wrap: n }[mode];
    if (before > most || after > most) {
      throw this.error(
        'BAD_CONFIG',
        `padding: mode ${show(mode)} pads an axis of size ${n} by at most ${most} on each side, got ${show(config.padding)}`,
      );
    }
    // int32 steps hold whole numbers in int32's range, as everywhere else (numpy.pad refuses a
    // fill its dtype cannot hold too); truncating or wrapping would pad with another number.
    if (mode === 'constant' && ctx.input.dtype === 'int32' && firstNonInt32([config.constantValue]) >= 0) {
      throw this.error('BAD_CONFIG', `constant_value: expected a whole number in int32's range for int32 input, got ${config.constantValue}`);
    }
    const outer = product(shape.slice(0, a));
    const inner = product(shape.slice(a + 1)) * dtypeWidth(ctx.input.dtype);
    const m = before + n + after;
    this.output = { shape: shape.map((d, i) => (i === a ? m : d)), dtype: ctx.input.dtype };
    this.inner = inner;
    this.fillValue = config.constantValue;
    this.fill = mode === 'constant' && before + after > 0 ? this.derive(inner * 4) : null;

    const rowIn = outer * n * inner, rowOut = outer * m * inner;
    // Output view [rows, outer, len, inner]; a source reads the axis at `step` (negative reverses it).
    const side = (len: number, dst: number, src: number, step: number, constant: boolean): void => {
      if (len === 0 || outer === 0 || inner === 0) return;
      const source: Operand = constant
        ? { shape: [outer, len, inner], perRow: false, strides: [0, 0, 1], rowStride: 0 }
        : { shape: [outer, len, inner], perRow: true, strides: [n * inner, step * inner, 1], rowStride: rowIn };
      const plan = new BroadcastPlan([outer, len, inner], source, source, { strides: [m * inner, inner, 1], rowStride: rowOut });
      this.sides.push({ plan, src: src * inner, dst: dst * inner, constant });
    };
    side(n, before, 0, 1, false);
    switch (mode) {
      case 'constant':
        side(before, 0, 0, 0, true);
        side(after, before + n, 0, 0, true);
        break;
      case 'reflect':
        side(before, 0, before, -1, false);
        side(after, before + n, n - 2, -1, false);
        break;
      case 'symmetric':
        side(before, 0, before - 1, -1, false);
        side(after, before + n, n - 1, -1, false);
        break;
      case 'edge':
        side(before, 0, 0, 0, false);
        side(after, before + n, n - 1, 0, false);
        break;
      case 'wrap':
        side(before, 0, n - before, 1, false);
        side(after, before + n, 0, 1, false);
        break;
    }
  }

  prepare(): void {
    if (!this.fill) return;
    const at = this.fill.ptr >> 2;
    if (this.input.dtype === 'int32') this.rt.i32.fill(this.fillValue, at, at + this.inner);
    else if (this.input.dtype === 'complex64') {
      // (value, 0) pairs.
      for (let i = 0; i < this.inner; i++) this.rt.f32[at + i] = i % 2 === 0 ? this.fillValue : 0;
    } else this.rt.f32.fill(this.fillValue, at, at + this.inner);
  }

  runLayer(x: WSeq, ctx: RunContext): WSeq {
    const rows = x.batch * x.time;
    const y = this.allocOutput(ctx, x.batch, x.time);
    if (rows > 0) {
      for (const s of this.sides) {
        const src = (s.constant ? this.fill!.ptr : x.values) + 4 * s.src;
        s.plan.run(ctx, Op.copy, rows, src, src, y + 4 * s.dst);
      }
    }
    return this.result(y, x.mask, x.batch, x.time);
  }
}

export const paddingDefs = [PadDef];
