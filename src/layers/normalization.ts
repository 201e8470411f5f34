// Normalization layers. Port of sequence_layers/jax/normalization.py.
//
// Exports (sorted): LayerNormalization, RMSNormalization.
//
// Both normalise each step on its own over some channel axes, so they are stateless, ratio 1,
// receptive field (0, 0), and steps equal layers trivially. As in the reference they never
// re-mask: invalid steps come out normalised (NaN stays in its own step).
import { BroadcastPlan, contiguousStrides, Op } from '../broadcast.js';
import { builder, defineLayer, f, type Resolved } from '../config.js';
import { show } from '../errors.js';
import { Layer, product, type BuildContext, type Param, type RunContext, type WSeq } from '../layer.js';
import { ones, zeros } from '../initializers.js';

// ---------------------------------------------------------------------------------------------
// Shared: reduction axes and the [outer, n, inner] view the kernels take.

/** The `axis` field of the normalization layers: one axis or a list (the reference's int | tuple). */
const axisField = () =>
  f.custom<number | number[]>('an integer or a list of integers', (v) =>
    (Number.isInteger(v) || (Array.isArray(v) && v.length > 0 && v.every(Number.isInteger)) ? (v as number | number[]) : undefined),
  );

/**
 * How a normalization runs over the channel shape C (viewed per step, batch and time folded
 * into rows). When the reduced axes are adjacent, C is [outer, n, inner] and the kernel runs
 * on the input directly; otherwise the reduced axes are first gathered to the end ([outer, n],
 * inner 1) by a strided copy and scattered back after.
 */
interface NormPlan {
  outer: number;
  n: number;
  inner: number;
  /** Strided copies to and from the gathered layout, or null when the axes are adjacent. */
  gather: BroadcastPlan | null;
  scatter: BroadcastPlan | null;
}

/** Largest number of alternating axis groups the gather copy handles (f32_strided_binary rank 8, minus rows). */
const MAX_GROUPS = 7;

/** Base of the layers normalising each step over channel axes with a [outer, n, inner] kernel. */
abstract class ChannelNormalization extends Layer {
  /** Sizes of the reduced axes, in axis order: the shape of scale and bias. */
  protected readonly reducedShape: number[];
  private readonly plan: NormPlan;

  constructor(config: Resolved<{ axis: ReturnType<typeof axisField> }>, ctx: BuildContext) {
    super(config, ctx);
    if (ctx.input.dtype !== 'float32') throw this.error('BAD_CONFIG', `expected a float32 input, got ${ctx.input.dtype}`);
    const shape = ctx.input.shape;
    const axes = this.channelAxes(config.axis, shape.length);
    this.reducedShape = axes.map((a) => shape[a]!);
    this.plan = planNorm(shape, axes, this);
  }

  /**
   * Channel-axis indices (0 = first channel axis) of `axis`, sorted and deduplicated. As in
   * the reference, negative axes count from the end and non-negative ones index the full
   * [batch, time, ...channels] rank, so 0 and 1 (batch, time) are rejected. The reference
   * range-checks only lists; a single integer is checked the same way here.
   */
  private channelAxes(axis: number | number[], channelRank: number): number[] {
    const rank = channelRank + 2;
    const expected = channelRank ? `expected channel axes in 2..${rank - 1} or -${channelRank}..-1` : 'expected a channel axis, and the input has none';
    const got = `got axis ${show(axis)} for input [batch, time${channelRank ? ', ' : ''}${this.input.shape.join(', ')}]`;
    const set = new Set<number>();
    for (const a of Array.isArray(axis) ? axis : [axis]) {
      const full = a < 0 ? a + rank : a;
      if (full === 0 || full === 1) {
        throw this.error('BAD_CONFIG', `axis: normalizing over the ${full === 0 ? 'batch' : 'time'} axis is not allowed; ${expected}, ${got}`);
      }
      if (full < 0 || full >= rank) throw this.error('BAD_CONFIG', `axis: ${expected}, ${got}`);
      set.add(full - 2);
    }
    return [...set].sort((a, b) => a - b);
  }

  /** Runs the kernel on `rows` groups of [n, inner] (in place allowed). */
  protected abstract normalize(ctx: RunContext, rows: number, n: number, inner: number, x: number, y: number): void;

  runLayer(x: WSeq, ctx: RunContext): WSeq {
    const { outer, n, inner, gather, scatter } = this.plan;
    const steps = x.batch * x.time;
    const y = this.allocOutput(ctx, x.batch, x.time);
    if (gather && scatter) {
      const t = this.allocOutput(ctx, x.batch, x.time);
      gather.run(ctx, Op.copy, steps, x.values, x.values, t);
      this.normalize(ctx, steps * outer, n, 1, t, t);
      scatter.run(ctx, Op.copy, steps, t, t, y);
    } else {
      this.normalize(ctx, steps * outer, n, inner, x.values, y);
    }
    return this.result(y, x.mask, x.batch, x.time);
  }
}

/** Builds the kernel view of channel shape `shape` reduced over the sorted channel axes `axes`. */
function planNorm(shape: readonly number[], axes: readonly number[], layer: Layer): NormPlan {
  // Merge neighbouring axes of the same kind into groups: [size, reduced?].
  const groups: { size: number; reduced: boolean }[] = [];
  shape.forEach((d, i) => {
    const reduced = axes.includes(i);
    const last = groups.at(-1);
    if (last && last.reduced === reduced) last.size *= d;
    else groups.push({ size: d, reduced });
  });
  const n = product(axes.map((a) => shape[a]!));
  const reducedGroups = groups.filter((g) => g.reduced).length;
  if (reducedGroups === 1) {
    const at = groups.findIndex((g) => g.reduced);
    const outer = product(groups.slice(0, at).map((g) => g.size));
    return { outer, n, inner: product(groups.slice(at + 1).map((g) => g.size)), gather: null, scatter: null };
  }
  if (groups.length > MAX_GROUPS) {
    throw layer.error('BAD_CONFIG', `axis: expected at most ${MAX_GROUPS} alternating groups of reduced and kept axes, got ${groups.length}`);
  }
  // Gathered order: kept groups, then reduced groups, each in axis order (so the reduced block
  // is row-major in the reference's parameter layout).
  const sizes = groups.map((g) => g.size);
  const order = [...groups.keys()].sort((a, b) => Number(groups[a]!.reduced) - Number(groups[b]!.reduced));
  const gatheredShape = order.map((i) => sizes[i]!);
  const gatheredStrides = contiguousStrides(gatheredShape);
  const stridesInGathered = new Array<number>(sizes.length);
  order.forEach((g, k) => (stridesInGathered[g] = gatheredStrides[k]!));
  const originalStrides = contiguousStrides(sizes);
  const total = product(sizes);
  const none = { shape: [], perRow: false };
  return {
    outer: total / n,
    n,
    inner: 1,
    gather: new BroadcastPlan(sizes, { shape: sizes, perRow: true }, none, { strides: stridesInGathered, rowStride: total }),
    scatter: new BroadcastPlan(gatheredShape, { shape: gatheredShape, perRow: true }, none, {
      strides: order.map((g) => originalStrides[g]!),
      rowStride: total,
    }),
  };
}

// ---------------------------------------------------------------------------------------------
// LayerNormalization

const layerNormalizationFields = {
  /** Channel axes to normalise over: an integer or a list; negative from the end, else in the full [batch, time, ...] rank (default -1). */
  axis: axisField().default(-1),
  /** Added to the variance before the square root (default 1e-6). */
  epsilon: f.num(0).default(1e-6),
  /** Add the learned `bias` after normalising (default true). */
  useBias: f.bool().default(true),
  /** Multiply by the learned `scale` after normalising (default true). */
  useScale: f.bool().default(true),
  /** Accepted for the reference's configs; statistics are always float32 here (default true). */
  reductionsInAtLeastFp32: f.bool().default(true),
};

/**
 * y = (x - mean) / sqrt(var + epsilon) * scale + bias, mean and (biased) variance over the
 * `axis` channel axes of each step.
 *
 * Parameters (the reference's, multiplied and added as is):
 * - `scale` [reduced dims] (the sizes of the axes in `axis`, in axis order), initialised to ones;
 * - `bias` [reduced dims], initialised to zeros.
 */
export class LayerNormalizationLayer extends ChannelNormalization {
  private readonly scale: Param | null;
  private readonly bias: Param | null;
  private readonly epsilon: number;

  constructor(config: Resolved<typeof layerNormalizationFields>, ctx: BuildContext) {
    super(config, ctx);
    this.epsilon = config.epsilon;
    this.scale = config.useScale ? this.param('scale', this.reducedShape, ones) : null;
    this.bias = config.useBias ? this.param('bias', this.reducedShape, zeros) : null;
  }

  protected normalize(ctx: RunContext, rows: number, n: number, inner: number, x: number, y: number): void {
    ctx.rt.k.f32_layernorm(rows, n, inner, x, this.scale?.ptr ?? 0, this.bias?.ptr ?? 0, this.epsilon, y);
  }
}

// ---------------------------------------------------------------------------------------------
// RMSNormalization

const rmsNormalizationFields = {
  /** Channel axes to normalise over: an integer or a list; negative from the end, else in the full [batch, time, ...] rank (default -1). */
  axis: axisField().default(-1),
  /** Added to the mean square before the square root (default 1e-6). */
  epsilon: f.num(0).default(1e-6),
  /** Multiply by the learned `scale` after normalising (default true). */
  useScale: f.bool().default(true),
  /** Accepted for the reference's configs; statistics are always float32 here (default true). */
  reductionsInAtLeastFp32: f.bool().default(true),
};

/**
 * y = x / sqrt(mean(x²) + epsilon) * scale over the `axis` channel axes of each step (T5's
 * layer norm without centring or bias).
 *
 * Parameters: `scale` [reduced dims] (the sizes of the axes in `axis`, in axis order),
 * initialised to ones and multiplied as is (not 1 + scale).
 */
export class RMSNormalizationLayer extends ChannelNormalization {
  private readonly scale: Param | null;
  private readonly epsilon: number;

  constructor(config: Resolved<typeof rmsNormalizationFields>, ctx: BuildContext) {
    super(config, ctx);
    this.epsilon = config.epsilon;
    this.scale = config.useScale ? this.param('scale', this.reducedShape, ones) : null;
  }

  protected normalize(ctx: RunContext, rows: number, n: number, inner: number, x: number, y: number): void {
    ctx.rt.k.f32_rmsnorm(rows, n, inner, x, this.scale?.ptr ?? 0, this.epsilon, y);
  }
}

const LayerNormalizationDef = defineLayer({
  type: 'LayerNormalization',
  fields: layerNormalizationFields,
  create: (c, ctx) => new LayerNormalizationLayer(c, ctx),
});
const RMSNormalizationDef = defineLayer({
  type: 'RMSNormalization',
  fields: rmsNormalizationFields,
  create: (c, ctx) => new RMSNormalizationLayer(c, ctx),
});

export const normalizationDefs = [LayerNormalizationDef, RMSNormalizationDef];

export const LayerNormalization = builder(LayerNormalizationDef);
export const RMSNormalization = builder(RMSNormalizationDef);
