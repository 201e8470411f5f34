// Normalization layers. Port of sequence_layers/jax/normalization.py.
//
// Exports (sorted): BatchNormalization, GroupNormalization, L2Normalize, LayerNormalization,
// RMSNormalization.
//
// All but GroupNormalization normalise each step on its own over some channel axes (with
// statistics of that step, or stored ones for BatchNormalization), so they are stateless,
// ratio 1, receptive field (0, 0), and steps equal layers trivially. GroupNormalization
// pools its statistics over time: over the whole sequence (not steppable), or cumulatively
// up to each step (streaming state). As in the reference none of them re-masks: invalid
// steps come out normalised too (NaN stays in its own step).
import { channelAxes, reductionGroups, showInput } from '../axes.js';
import { permutationAxes, StridedCopy } from '../broadcast.js';
import { builder, defineLayer, f, ref, type Resolved } from '../config.js';
import { expectInput, joinFlaxPath, Layer, product, type BuildContext, type Derived, type Param, type RunContext, type StateSpec, type WSeq } from '../layer.js';
import { ones, zeros } from '../initializers.js';
import { rfMap } from '../receptive-field.js';

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
  gather: StridedCopy | null;
  scatter: StridedCopy | null;
}

/**
 * Checks the input is float32 and returns the channel-axis indices (0 = first channel axis)
 * of `axis`, sorted and deduplicated (the reference's _validate_and_normalize_axes). The
 * reference range-checks only lists; a single integer is checked the same way here.
 */
function normalizationAxes(layer: Layer, axis: number | number[]): number[] {
  const { shape } = layer.input;
  expectInput(layer, 'float32');
  const axes = channelAxes(layer, axis, shape, (e) => {
    const refused = e.problem === 'range' ? '' : `normalizing over the ${e.problem} axis is not allowed; `;
    const expected = shape.length ? `expected channel axes in ${e.range}` : 'expected a channel axis, and the input has none';
    return `axis: ${refused}${expected}, got axis ${e.value} for ${e.input}`;
  });
  return [...new Set(axes)].sort((a, b) => a - b);
}

/** Base of the layers normalising each step over channel axes with a [outer, n, inner] kernel. */
abstract class ChannelNormalization extends Layer {
  /** Sizes of the reduced axes, in axis order: the shape of scale and bias. */
  protected readonly reducedShape: number[];
  private readonly plan: NormPlan;

  constructor(config: Resolved<{ axis: ReturnType<typeof axisField> }>, ctx: BuildContext) {
    super(config, ctx);
    const axes = normalizationAxes(this, config.axis);
    this.reducedShape = axes.map((a) => ctx.input.shape[a]!);
    this.plan = planNorm(ctx.input.shape, axes, this);
  }

  /** Runs the kernel on `rows` groups of [n, inner] (in place allowed). */
  protected abstract normalize(ctx: RunContext, rows: number, n: number, inner: number, x: number, y: number): void;

  runLayer(x: WSeq, ctx: RunContext): WSeq {
    const { outer, n, inner, gather, scatter } = this.plan;
    const steps = x.batch * x.time;
    const y = this.allocOutput(ctx, x.batch, x.time);
    if (gather && scatter) {
      const t = this.allocOutput(ctx, x.batch, x.time);
      gather.run(ctx, steps, x.values, t);
      this.normalize(ctx, steps * outer, n, 1, t, t);
      scatter.run(ctx, steps, t, y);
    } else {
      this.normalize(ctx, steps * outer, n, inner, x.values, y);
    }
    return this.result(y, x.mask, x.batch, x.time);
  }
}

/** Builds the kernel view of channel shape `shape` reduced over the sorted channel axes `axes`. */
function planNorm(shape: readonly number[], axes: readonly number[], layer: Layer): NormPlan {
  const groups = reductionGroups(shape, axes);
  const n = product(axes.map((a) => shape[a]!));
  const reducedGroups = groups.filter((g) => g.reduced).length;
  if (reducedGroups === 1) {
    const at = groups.findIndex((g) => g.reduced);
    const outer = product(groups.slice(0, at).map((g) => g.size));
    return { outer, n, inner: product(groups.slice(at + 1).map((g) => g.size)), gather: null, scatter: null };
  }
  // Gathered order: kept groups, then reduced groups, each in axis order (so the reduced block
  // is row-major in the reference's parameter layout); the scatter is the inverse permutation.
  const sizes = groups.map((g) => g.size);
  const order = [...groups.keys()].sort((a, b) => Number(groups[a]!.reduced) - Number(groups[b]!.reduced));
  const total = product(sizes);
  const fail = (message: string) => layer.error('BAD_CONFIG', `axis: alternating groups of reduced and kept axes: ${message}`);
  return {
    outer: total / n,
    n,
    inner: 1,
    gather: new StridedCopy(permutationAxes(sizes, order), total, total, fail),
    scatter: new StridedCopy(permutationAxes(order.map((g) => sizes[g]!), [...groups.keys()].map((g) => order.indexOf(g))), total, total, fail),
  };
}

/**
 * Fields of the reference's LayerNormalization, RMSNormalization, BatchNormalization and
 * GroupNormalization Configs that concern training or JAX, accepted so reference JSON loads
 * unchanged (see `ref` in config.ts for what each takes). All but RMSNormalization also have
 * bias_init (null only).
 */
const normReferenceFields = {
  /** scale_init: null only (the reference's default, ones). */
  scaleInit: ref.init(),
  /** sharding (of scale and bias): any, no effect. */
  sharding: ref.sharding(),
  /** param_dtype: "float32" only. */
  paramDtype: ref.paramDtype(),
  /**
   * guard_against_excess_precision: any boolean, no effect. In the reference it rounds the input
   * with jax.lax.reduce_precision to its own dtype's exponent and mantissa widths (for float32:
   * 8 and 23 bits), which leaves float32 values unchanged; it exists for XLA fusions of the
   * backward pass. Inputs are float32 here.
   */
  guardAgainstExcessPrecision: f.bool().opt(),
};

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
  /** bias_init: null only (the reference's default, zeros). */
  biasInit: ref.init(),
  ...normReferenceFields,
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
  ...normReferenceFields,
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

// ---------------------------------------------------------------------------------------------
// L2Normalize

const l2NormalizeFields = {
  /** Channel axes to normalise over: an integer or a list; negative from the end, else in the full [batch, time, ...] rank (default -1). */
  axis: axisField().default(-1),
  /** Added to the sum of squares before the square root (default 1e-12). */
  epsilon: f.num(0).default(1e-12),
};

/** y = x / sqrt(sum(x²) + epsilon) over the `axis` channel axes of each step. No parameters. */
export class L2NormalizeLayer extends ChannelNormalization {
  private readonly epsilon: number;

  constructor(config: Resolved<typeof l2NormalizeFields>, ctx: BuildContext) {
    super(config, ctx);
    this.epsilon = config.epsilon;
  }

  protected normalize(ctx: RunContext, rows: number, n: number, inner: number, x: number, y: number): void {
    ctx.rt.k.f32_l2norm(rows, n, inner, x, this.epsilon, y);
  }
}

// ---------------------------------------------------------------------------------------------
// BatchNormalization

const batchNormalizationFields = {
  /** The channel axis holding the features: negative from the end, else in the full [batch, time, ...] rank (default -1). */
  axis: f.int().default(-1),
  /** Decay of the moving statistics; training only, accepted for the reference's configs (default 0.99). */
  momentum: f.num(0, 1).default(0.99),
  /** Added to the variance before the square root (default 1e-3). */
  epsilon: f.num(0).default(1e-3),
  /** Add the learned `bias` after normalising (default true). */
  useBias: f.bool().default(true),
  /** Multiply by the learned `scale` after normalising (default true). */
  useScale: f.bool().default(true),
  /** How training computes the batch variance; accepted for the reference's configs (default true). */
  useFastVariance: f.bool().default(true),
  /** bias_init: null only (the reference's default, zeros). */
  biasInit: ref.init(),
  ...normReferenceFields,
};

/**
 * Inference-mode batch normalization with the stored statistics (the reference's layer with
 * training=False): y = (x - mean) * (scale / sqrt(var + epsilon)) + bias per feature of the
 * `axis` channel axis. Training (updating the statistics) is not supported.
 *
 * Parameters, each [C] (C = the size of `axis`); the statistics are parameters here, loaded
 * with loadWeights like the others:
 * - `scale` (ones), `bias` (zeros): Flax's `params/<child>/scale`, `params/<child>/bias`;
 * - `mean` (zeros), `var` (ones): Flax's `batch_stats/<child>/mean`, `batch_stats/<child>/var`;
 * where <child> is the nn.BatchNorm the reference creates under this layer's module, named
 * config.name (or `BatchNorm_0` when unnamed). A converted checkpoint drops the collection and
 * child names: `<layer path>.scale`, `.bias`, `.mean`, `.var`.
 */
export class BatchNormalizationLayer extends ChannelNormalization {
  private readonly scale: Param | null;
  private readonly bias: Param | null;
  private readonly mean: Param;
  private readonly variance: Param;
  /** scale / sqrt(var + epsilon) [C], from the parameters in prepare(). */
  private readonly mul: Derived;
  private readonly epsilon: number;

  constructor(config: Resolved<typeof batchNormalizationFields>, ctx: BuildContext) {
    super(config, ctx);
    this.epsilon = config.epsilon;
    // The reference wraps flax's nn.BatchNorm, named as the layer (name=config.name; Flax's
    // BatchNorm_0 when unnamed): its parameters and statistics (the batch_stats collection) sit there.
    const child = config.name ?? 'BatchNorm_0';
    const flax = (collection: string, name: string) => `${collection}/${joinFlaxPath(this.flaxPath, `${child}/${name}`)}`;
    this.scale = config.useScale ? this.param('scale', this.reducedShape, ones, flax('params', 'scale')) : null;
    this.bias = config.useBias ? this.param('bias', this.reducedShape, zeros, flax('params', 'bias')) : null;
    this.mean = this.param('mean', this.reducedShape, zeros, flax('batch_stats', 'mean'));
    this.variance = this.param('var', this.reducedShape, ones, flax('batch_stats', 'var'));
    this.mul = this.derive(product(this.reducedShape) * 4);
  }

  prepare(): void {
    // In f32 as Flax: mul = rsqrt(var + eps), then mul *= scale.
    const v = this.variance.view(), s = this.scale?.view();
    const mul = this.rt.f32.subarray(this.mul.ptr >> 2, (this.mul.ptr >> 2) + v.length);
    const eps = Math.fround(this.epsilon);
    for (let k = 0; k < v.length; k++) {
      const r = Math.fround(1 / Math.sqrt(Math.fround(v[k]! + eps)));
      mul[k] = s ? r * s[k]! : r;
    }
  }

  protected normalize(ctx: RunContext, rows: number, n: number, inner: number, x: number, y: number): void {
    ctx.rt.k.f32_batchnorm(rows, n, inner, x, this.mean.ptr, this.mul.ptr, this.bias?.ptr ?? 0, y);
  }
}

// ---------------------------------------------------------------------------------------------
// GroupNormalization

const groupNormalizationFields = {
  /** Number of groups the `axis` channel axis is split into; must divide its size. */
  numGroups: f.int(1),
  /** The channel axis to group: negative from the end, else in the full [batch, time, ...] rank (default -1). */
  axis: f.int().default(-1),
  /** Added to the variance before the square root (default 1e-6). */
  epsilon: f.num(0).default(1e-6),
  /** Statistics over the valid steps up to each step (causal, steppable) instead of the whole sequence (default false). */
  cumulative: f.bool().default(false),
  /** Add the learned `bias` after normalising (default true). */
  useBias: f.bool().default(true),
  /** Multiply by the learned `scale` after normalising (default true). */
  useScale: f.bool().default(true),
  /** bias_init: null only (the reference's default, zeros). */
  biasInit: ref.init(),
  ...normReferenceFields,
};

/**
 * Group normalization (https://arxiv.org/abs/1803.08494) over sequences: the `axis` channel
 * axis (size A) is split into numGroups groups of A / numGroups, and each group of each batch
 * item is normalised with the mean and (biased) variance of its elements over the other
 * channel axes and over time, counting VALID steps only:
 *   y = (x - mean) / sqrt(var + epsilon) * scale + bias, at every step (invalid ones too).
 * - cumulative false: statistics of the whole sequence. Not steppable; receptive field (-inf, inf).
 * - cumulative true: statistics of the valid steps up to and including each step, from running
 *   sums (the reference's estimate: each step's squared deviations are taken from its running
 *   mean). Steppable; receptive field (-inf, 0). State, each float32 [batch, numGroups]:
 *   `sum_v`, `count_v`, `sum_vv` (the reference's accumulators, whose shape adds singleton
 *   axes: [batch, 1, ..., numGroups, 1, ...]); updated in place by every step.
 *
 * Parameters (the reference's): `scale` [A], initialised to ones; `bias` [A], zeros.
 */
export class GroupNormalizationLayer extends Layer {
  private readonly scale: Param | null;
  private readonly bias: Param | null;
  /** scale and bias repeated over the axes after `axis` ([A, inner]), when inner > 1. */
  private readonly broadcast: { scale: Derived | null; bias: Derived | null } | null;
  private readonly epsilon: number;
  private readonly cumulative: boolean;
  /** Kernel view of one step: [outer, groups, len] with len = group size × inner. */
  private readonly outer: number;
  private readonly groups: number;
  private readonly len: number;
  private readonly inner: number;
  /** Addresses of scale and bias in the kernel's [groups, len] layout (0 for none), set in prepare(). */
  private scalePtr = 0;
  private biasPtr = 0;

  constructor(config: Resolved<typeof groupNormalizationFields>, ctx: BuildContext) {
    super(config, ctx);
    const shape = ctx.input.shape;
    const [axis] = normalizationAxes(this, config.axis) as [number];
    const size = shape[axis]!;
    if (size % config.numGroups !== 0) {
      throw this.error('BAD_CONFIG', `num_groups: expected a divisor of ${size} (the size of axis ${config.axis} of ${showInput(shape)}), got ${config.numGroups}`);
    }
    this.epsilon = config.epsilon;
    this.cumulative = config.cumulative;
    this.outer = product(shape.slice(0, axis));
    this.inner = product(shape.slice(axis + 1));
    this.groups = config.numGroups;
    this.len = (size / config.numGroups) * this.inner;
    this.scale = config.useScale ? this.param('scale', [size], ones) : null;
    this.bias = config.useBias ? this.param('bias', [size], zeros) : null;
    const repeated = (p: Param | null) => (p ? this.derive(size * this.inner * 4) : null);
    this.broadcast = this.inner > 1 ? { scale: repeated(this.scale), bias: repeated(this.bias) } : null;
    this.supportsStep = config.cumulative;
    this.receptiveFieldPerStep = rfMap([[-Infinity, config.cumulative ? 0 : Infinity]]);
  }

  prepare(): void {
    const b = this.broadcast;
    if (b) {
      for (const [p, d] of [[this.scale, b.scale], [this.bias, b.bias]] as const) {
        if (!p || !d) continue;
        const src = p.view(), dst = this.rt.f32.subarray(d.ptr >> 2, (d.ptr >> 2) + src.length * this.inner);
        src.forEach((v, a) => dst.fill(v, a * this.inner, (a + 1) * this.inner));
      }
    }
    this.scalePtr = (b ? b.scale : this.scale)?.ptr ?? 0;
    this.biasPtr = (b ? b.bias : this.bias)?.ptr ?? 0;
  }

  stateSpecs(batch: number): StateSpec[] {
    if (!this.cumulative) return [];
    const shape = [batch, this.groups];
    return ['sum_v', 'count_v', 'sum_vv'].map((name) => ({ name, dtype: 'float32', shape }));
  }

  runLayer(x: WSeq, ctx: RunContext): WSeq {
    if (!this.cumulative) {
      const y = this.allocOutput(ctx, x.batch, x.time);
      ctx.rt.k.f32_groupnorm(x.batch, x.time, this.outer, this.groups, this.len, x.values, x.mask, this.scalePtr, this.biasPtr, this.epsilon, y);
      return this.result(y, x.mask, x.batch, x.time);
    }
    // A whole sequence is one step from zeroed sums.
    const n = x.batch * this.groups;
    const sums = ctx.alloc(3 * n * 4);
    ctx.rt.k.f32_fill(3 * n, 0, sums);
    return this.cumulate(x, ctx, sums, sums + n * 4, sums + 2 * n * 4);
  }

  runStep(x: WSeq, ctx: RunContext): WSeq {
    const s = this.stateOf(ctx); // sum_v, count_v, sum_vv
    return this.cumulate(x, ctx, s[0]!.ptr, s[1]!.ptr, s[2]!.ptr);
  }

  private cumulate(x: WSeq, ctx: RunContext, sumV: number, countV: number, sumVV: number): WSeq {
    const y = this.allocOutput(ctx, x.batch, x.time);
    ctx.rt.k.f32_groupnorm_cumulative(x.batch, x.time, this.outer, this.groups, this.len, x.values, x.mask, this.scalePtr, this.biasPtr, this.epsilon, sumV, countV, sumVV, y);
    return this.result(y, x.mask, x.batch, x.time);
  }
}

const BatchNormalizationDef = defineLayer({
  type: 'BatchNormalization',
  fields: batchNormalizationFields,
  create: (c, ctx) => new BatchNormalizationLayer(c, ctx),
});
const GroupNormalizationDef = defineLayer({
  type: 'GroupNormalization',
  fields: groupNormalizationFields,
  create: (c, ctx) => new GroupNormalizationLayer(c, ctx),
});
const L2NormalizeDef = defineLayer({
  type: 'L2Normalize',
  fields: l2NormalizeFields,
  create: (c, ctx) => new L2NormalizeLayer(c, ctx),
});
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

export const normalizationDefs = [BatchNormalizationDef, GroupNormalizationDef, L2NormalizeDef, LayerNormalizationDef, RMSNormalizationDef];

export const BatchNormalization = builder(BatchNormalizationDef);
export const GroupNormalization = builder(GroupNormalizationDef);
export const L2Normalize = builder(L2NormalizeDef);
export const LayerNormalization = builder(LayerNormalizationDef);
export const RMSNormalization = builder(RMSNormalizationDef);
