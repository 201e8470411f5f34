// Shape and type layers: reshapes, slices, transposes, einops rearranges, casts and channel
// reductions. Port of the shape part of sequence_layers/jax/simple.py (inventory §11).
//
// Exports (sorted): Cast, EinopsRearrange, ExpandDims, Flatten, GlobalEinopsRearrange,
// GlobalReshape, Max, Mean, Min, MoveAxis, Reshape, Slice, Squeeze, Sum, SwapAxes, Transpose.
//
// All are stateless and keep the mask, except GlobalReshape and GlobalEinopsRearrange, which
// mix time into channels: they cannot step and derive a new mask. Costs: Reshape, Flatten,
// ExpandDims and Squeeze only relabel the channel shape (the input buffers are returned as
// they are); Slice, Transpose, SwapAxes, MoveAxis and EinopsRearrange are one strided copy
// (f32_strided_binary with OP_COPY, after merging axes that stay contiguous, and nothing at
// all when that copy is the identity); reductions are one f32_reduce call per run of
// neighbouring reduced axes. Copies move 4-byte words without arithmetic, so int32 values
// pass bit-exactly and complex64 values move as (re, im) pairs.
import { axesMessage, channelAxes, reductionGroups, showInput } from '../axes.js';
import { contiguousStrides, permutationAxes, StridedCopy, type CopyAxis } from '../broadcast.js';
import { builder, defineLayer, f, type Resolved } from '../config.js';
import { show } from '../errors.js';
import { expectInput, Layer, product, type BuildContext, type RunContext, type WSeq } from '../layer.js';
import { rfMap } from '../receptive-field.js';
import { dtypeWidth, type DType } from '../sequence.js';

// ---------------------------------------------------------------------------------------------
// Shared: config fields.

type Axes = number | number[];

const isInt = Number.isInteger as (v: unknown) => v is number;

/** An integer or a list of integers (the reference's `int | Sequence[int]`). */
const axesField = () =>
  f.custom<Axes>('an integer or a list of integers', (v) => (isInt(v) || (Array.isArray(v) && v.every(isInt)) ? (v as Axes) : undefined));

const asList = (a: Axes): number[] => (Array.isArray(a) ? a : [a]);

/** A config error of `layer` (what StridedCopy calls when a copy has too many axes). */
const badConfig = (layer: Layer) => (message: string) => layer.error('BAD_CONFIG', message);

// ---------------------------------------------------------------------------------------------
// Layers that only relabel the channel shape: the values keep their row-major order.

/** Base of the layers whose output is their input with another channel shape (no copy). */
abstract class ChannelView extends Layer {
  /** Sets the output channel shape (the subclass constructor calls it once the config is checked). */
  protected reshapeTo(shape: readonly number[]): void {
    this.output = { shape, dtype: this.input.dtype };
  }

  runLayer(x: WSeq): WSeq {
    return x;
  }
}

// Reshape

const reshapeFields = {
  /** New channel shape; same number of elements as the input's; no -1 (required). */
  outputShape: f.intList(0),
};

/** Reshapes the channel shape (row-major order kept); the input buffers are reused. */
export class ReshapeLayer extends ChannelView {
  constructor(config: Resolved<typeof reshapeFields>, ctx: BuildContext) {
    super(config, ctx);
    const n = product(ctx.input.shape), m = product(config.outputShape);
    if (n !== m) {
      throw this.error('BAD_CONFIG', `output_shape: expected a shape with ${n} elements (${showInput(ctx.input.shape)}), got ${show(config.outputShape)} with ${m}`);
    }
    this.reshapeTo(config.outputShape);
  }
}

// Flatten

/** Flattens the channel shape to [prod(channels)]; the input buffers are reused. */
export class FlattenLayer extends ChannelView {
  constructor(config: Resolved<{}>, ctx: BuildContext) {
    super(config, ctx);
    this.reshapeTo([product(ctx.input.shape)]);
  }
}

// ExpandDims

const expandDimsFields = {
  /** Channel axes (0 = first channel axis) at which to insert size-1 axes; an integer or a list (required). Negative a means a + rank + 1. */
  axis: axesField(),
};

/**
 * Inserts size-1 channel axes; the input buffers are reused. As in the reference, a negative
 * axis a counts as a + rank + 1 on its own (rank = input channel rank), so axis [0, -2] on
 * [4, 5] gives [1, 1, 4, 5], not numpy's [1, 4, 1, 5].
 */
export class ExpandDimsLayer extends ChannelView {
  constructor(config: Resolved<typeof expandDimsFields>, ctx: BuildContext) {
    super(config, ctx);
    const rank = ctx.input.shape.length;
    const dims = [...new Set(asList(config.axis).map((a) => (a < 0 ? a + rank + 1 : a)))].sort((a, b) => a - b);
    if (dims.some((d) => d < 0 || d > rank)) {
      throw this.error('BAD_CONFIG', `axis: expected channel axes in ${-rank - 1}..${rank} for ${showInput(ctx.input.shape)}, got ${show(config.axis)}`);
    }
    const shape = [...ctx.input.shape];
    for (const d of dims) shape.splice(d, 0, 1);
    this.reshapeTo(shape);
  }
}

// Squeeze

const squeezeFields = {
  /** Axes to remove, indexed in the full [batch, time, ...channels] rank (2 = first channel axis; negative from the end); null (default) removes every size-1 channel axis. */
  axis: axesField().opt(),
};

/** Removes size-1 channel axes; the input buffers are reused. */
export class SqueezeLayer extends ChannelView {
  constructor(config: Resolved<typeof squeezeFields>, ctx: BuildContext) {
    super(config, ctx);
    const shape = ctx.input.shape;
    const axes = config.axis === undefined ? shape.flatMap((d, i) => (d === 1 ? [i] : [])) : channelAxes(this, config.axis, shape, axesMessage('axis'));
    const got = `got ${show(config.axis)} for ${showInput(shape)}`;
    if (new Set(axes).size !== axes.length) throw this.error('BAD_CONFIG', `axis: expected distinct axes, ${got}`);
    const wide = axes.find((a) => shape[a] !== 1);
    if (wide !== undefined) throw this.error('BAD_CONFIG', `axis: expected axes of size 1, ${got} (axis ${wide + 2} has size ${shape[wide]})`);
    this.reshapeTo(shape.filter((_, i) => !axes.includes(i)));
  }
}

// ---------------------------------------------------------------------------------------------
// Layers that move values: one strided copy per call.

/** Base of the layers that copy a strided view of each step's channels into a new layout. */
abstract class ChannelCopy extends Layer {
  private copy!: StridedCopy;

  /**
   * Sets the copy (the subclass constructor calls it once the config is checked). `axes`: the
   * output axes in order, as (size, input stride, output stride); `offset`: first input element;
   * `shape`: the output channel shape (default the axes' sizes).
   */
  protected copyFrom(axes: readonly CopyAxis[], offset = 0, shape: readonly number[] = axes.map((a) => a.size)): void {
    this.output = { shape, dtype: this.input.dtype };
    this.copy = new StridedCopy(axes, product(this.input.shape), product(shape), badConfig(this), offset, dtypeWidth(this.input.dtype));
  }

  runLayer(x: WSeq, ctx: RunContext): WSeq {
    if (this.copy.identity) return x;
    const y = this.allocOutput(ctx, x.batch, x.time);
    this.copy.run(ctx, x.batch * x.time, x.values, y);
    return this.result(y, x.mask, x.batch, x.time);
  }
}

// Slice

/** One entry of Slice.slices: [start, stop, step] (each null for the default), an index, or null (new axis). */
export type SliceEntry = [number | null, number | null, number | null] | number | null;

const isIntOrNull = (v: unknown) => v === null || isInt(v);

const slicesField = () =>
  f.custom<SliceEntry[]>('a list whose entries are [start, stop, step] (1 to 3 integers or nulls, as Python slice(...)), an integer index, or null (new axis)', (v) => {
    if (!Array.isArray(v)) return undefined;
    const out: SliceEntry[] = [];
    for (const s of v) {
      if (s === null || isInt(s)) out.push(s);
      else if (Array.isArray(s) && s.length >= 1 && s.length <= 3 && s.every(isIntOrNull)) {
        // Python's slice(stop), slice(start, stop), slice(start, stop, step).
        const [a, b, c] = s as (number | null)[];
        out.push(s.length === 1 ? [null, a!, null] : [a!, b!, s.length === 3 ? c! : null]);
      } else return undefined;
    }
    return out;
  });

const sliceFields = {
  /** Per channel axis: [start, stop, step] (nulls for defaults, negatives from the end, as numpy), an integer index (drops the axis), or null (inserts a size-1 axis). Non-null entries must match the channel rank (required). */
  slices: slicesField(),
};

/** Python's slice.indices(n) and the slice length. */
function sliceIndices(start: number | null, stop: number | null, step: number, n: number): { start: number; length: number } {
  const adjust = (i: number | null, dflt: number) => {
    if (i === null) return dflt;
    if (i < 0) return Math.max(i + n, step < 0 ? -1 : 0);
    return Math.min(i, step < 0 ? n - 1 : n);
  };
  const a = adjust(start, step < 0 ? n - 1 : 0);
  const b = adjust(stop, step < 0 ? -1 : n);
  const length = step < 0 ? (b < a ? Math.floor((a - b - 1) / -step) + 1 : 0) : a < b ? Math.floor((b - a - 1) / step) + 1 : 0;
  return { start: a, length };
}

/**
 * numpy basic slicing of the channel axes: x[:, :, *slices]. Negative steps are allowed.
 * JSON spelling of `slices`: `[[0, null, 2], 1, null]` is numpy's `[0::2, 1, np.newaxis]`.
 */
export class SliceLayer extends ChannelCopy {
  constructor(config: Resolved<typeof sliceFields>, ctx: BuildContext) {
    super(config, ctx);
    const shape = ctx.input.shape;
    const indexed = config.slices.filter((s) => s !== null).length;
    if (indexed !== shape.length) {
      throw this.error('BAD_CONFIG', `slices: expected ${shape.length} non-null entries (one per channel axis of ${showInput(shape)}), got ${indexed} in ${show(config.slices)}`);
    }
    const strides = contiguousStrides(shape);
    const axes: CopyAxis[] = [];
    let offset = 0, at = 0;
    for (const s of config.slices) {
      if (s === null) {
        axes.push({ size: 1, src: 0, dst: 0 });
        continue;
      }
      const n = shape[at]!;
      if (typeof s === 'number') {
        const i = s < 0 ? s + n : s;
        if (i < 0 || i >= n) throw this.error('BAD_CONFIG', `slices: index ${s} is out of range for channel axis ${at} of size ${n}`);
        offset += i * strides[at]!;
      } else {
        const step = s[2] ?? 1;
        if (step === 0) throw this.error('BAD_CONFIG', `slices: expected a non-zero step, got ${show(s)}`);
        const { start, length } = sliceIndices(s[0], s[1], step, n);
        axes.push({ size: length, src: step * strides[at]!, dst: 0 });
        if (length > 0) offset += start * strides[at]!;
      }
      at++;
    }
    const dst = contiguousStrides(axes.map((a) => a.size));
    axes.forEach((a, j) => (a.dst = dst[j]!));
    this.copyFrom(axes, offset);
  }
}

// Transpose

const transposeFields = {
  /** Permutation of the channel axes in full-rank indices (2..rank-1, as the reference); null (default) reverses them. */
  axes: f.intList().opt(),
};

/** Permutes the channel axes (jnp.transpose with batch and time fixed). */
export class TransposeLayer extends ChannelCopy {
  constructor(config: Resolved<typeof transposeFields>, ctx: BuildContext) {
    super(config, ctx);
    const rank = ctx.input.shape.length;
    const perm = config.axes === undefined ? [...Array(rank).keys()].reverse() : config.axes.map((a) => a - 2);
    if (perm.length !== rank || ![...perm].sort((a, b) => a - b).every((a, i) => a === i)) {
      throw this.error('BAD_CONFIG', `axes: expected a permutation of [${[...Array(rank).keys()].map((i) => i + 2).join(', ')}] (the channel axes of ${showInput(ctx.input.shape)}), got ${show(config.axes)}`);
    }
    this.copyFrom(permutationAxes(ctx.input.shape, perm));
  }
}

// SwapAxes

const swapAxesFields = {
  /** First axis, full-rank index (2 = first channel axis; negative from the end) (required). */
  axis1: f.int(),
  /** Second axis, full-rank index (required). */
  axis2: f.int(),
};

/** Swaps two channel axes (jnp.swapaxes). */
export class SwapAxesLayer extends ChannelCopy {
  constructor(config: Resolved<typeof swapAxesFields>, ctx: BuildContext) {
    super(config, ctx);
    const [a] = channelAxes(this, config.axis1, ctx.input.shape, axesMessage('axis1'));
    const [b] = channelAxes(this, config.axis2, ctx.input.shape, axesMessage('axis2'));
    const perm = [...ctx.input.shape.keys()];
    [perm[a!], perm[b!]] = [b!, a!];
    this.copyFrom(permutationAxes(ctx.input.shape, perm));
  }
}

// MoveAxis

const moveAxisFields = {
  /** Axes to move, full-rank indices (negative from the end); an integer or a list (required). */
  source: axesField(),
  /** Where they go, full-rank indices; as many as `source` (required). */
  destination: axesField(),
};

/** Moves channel axes to new positions, the others keeping their order (jnp.moveaxis). */
export class MoveAxisLayer extends ChannelCopy {
  constructor(config: Resolved<typeof moveAxisFields>, ctx: BuildContext) {
    super(config, ctx);
    const shape = ctx.input.shape;
    const s = channelAxes(this, config.source, shape, axesMessage('source'));
    const d = channelAxes(this, config.destination, shape, axesMessage('destination'));
    if (s.length !== d.length) {
      throw this.error('BAD_CONFIG', `destination: expected as many axes as source (${s.length}), got ${show(config.destination)}`);
    }
    if (new Set(s).size !== s.length) throw this.error('BAD_CONFIG', `source: expected distinct axes, got ${show(config.source)}`);
    if (new Set(d).size !== d.length) throw this.error('BAD_CONFIG', `destination: expected distinct axes, got ${show(config.destination)}`);
    // numpy's rule: the other axes keep their order, then each moved axis is inserted at its destination, in destination order.
    const perm = [...shape.keys()].filter((i) => !s.includes(i));
    for (const [to, from] of d.map((t, i) => [t, s[i]!] as const).sort((x, y) => x[0] - y[0])) perm.splice(to, 0, from);
    this.copyFrom(permutationAxes(shape, perm));
  }
}

// ---------------------------------------------------------------------------------------------
// einops patterns: `(c d) e -> d e c`. Names and parenthesised groups (a group may be empty,
// "()", or "1", for a size-1 axis); every name on both sides exactly once; sizes come from the
// input shape and `axes_lengths`, with at most one unknown name per input group. One "..." per
// side stands for the input axes no name covers (not in parentheses on the input side), as in
// einops: channel axes for EinopsRearrange, and for GlobalEinopsRearrange time too when "..."
// comes first.

/** A parsed pattern: each side a list of groups, each group a list of axis names. */
interface Pattern {
  left: string[][];
  right: string[][];
}

const NAME = /^[A-Za-z][A-Za-z0-9_]*$/;

const axesLengthsField = () =>
  f
    .custom<Record<string, number>>('an object of axis names to positive integers', (v) =>
      v !== null && typeof v === 'object' && !Array.isArray(v) && Object.values(v).every((n) => isInt(n) && n >= 1) ? (v as Record<string, number>) : undefined,
    )
    .opt();

/**
 * Parses and checks `pattern` (and that `axes_lengths` names only its axes); `reserved` names
 * are rejected. "..." stands for the axes of the input's `rank` that the input side's other
 * groups leave, one group each (flattened into a group in parentheses).
 */
function parsePattern(layer: Layer, pattern: string, axesLengths: Record<string, number>, reserved: readonly string[], rank: number): Pattern {
  const bad = (msg: string) => layer.error('BAD_CONFIG', `pattern: ${msg}, got ${show(pattern)}`);
  const sides = pattern.split('->');
  if (sides.length !== 2) throw bad('expected one "->" between the input and output axes');
  const tokens = sides.map((side) => side.replace(/[()]/g, ' $& ').trim().split(/\s+/).filter(Boolean));
  const ellipses = tokens.map((t) => t.filter((tok) => tok === '...').length);
  if (ellipses.some((n) => n > 1) || ellipses[0] !== ellipses[1]) throw bad('expected "..." once on both sides or on neither');
  // The axes "..." stands for: the input's beyond the input side's other groups.
  let depth = 0, leftGroups = 0;
  for (const t of tokens[0]!) {
    if (t === '(') leftGroups += depth++ ? 0 : 1;
    else if (t === ')') depth--;
    else if (!depth && t !== '...') leftGroups++;
  }
  const spread = ellipses[0] ? Array.from({ length: Math.max(0, rank - leftGroups) }, (_, i) => `…${i}`) : [];
  const [left, right] = tokens.map((side, s) => {
    const groups: string[][] = [];
    let open: string[] | null = null;
    for (const tok of side) {
      if (tok === '(') {
        if (open) throw bad('expected no nested parentheses');
        open = [];
      } else if (tok === ')') {
        if (!open) throw bad('expected ")" to close a "("');
        groups.push(open);
        open = null;
      } else if (tok === '...') {
        if (open && s === 0) throw bad('expected "..." outside parentheses on the input side');
        if (open) open.push(...spread);
        else groups.push(...spread.map((n) => [n]));
      } else if (tok === '1') {
        if (!open) groups.push([]); // an axis of size 1, as "()"; in a group, a factor of 1
      } else if (!NAME.test(tok)) {
        throw bad(`expected axis names (letters, digits, "_"), found ${show(tok)}`);
      } else if (reserved.includes(tok)) {
        throw bad(`${reserved.map((r) => show(r)).join(' and ')} ${reserved.length > 1 ? 'are' : 'is'} reserved and may not appear`);
      } else if (open) open.push(tok);
      else groups.push([tok]);
    }
    if (open) throw bad('expected ")" to close every "("');
    return groups;
  }) as [string[][], string[][]];
  const names = (side: string[][]) => side.flat();
  for (const side of [left, right]) {
    const seen = names(side);
    const dup = seen.find((n, i) => seen.indexOf(n) !== i);
    if (dup) throw bad(`expected each axis once per side, ${show(dup)} repeats`);
  }
  const l = new Set(names(left)), r = new Set(names(right));
  const onlyLeft = [...l].filter((n) => !r.has(n)), onlyRight = [...r].filter((n) => !l.has(n));
  if (onlyLeft.length || onlyRight.length) throw bad(`expected the same axes on both sides, ${show([...onlyLeft, ...onlyRight])} appear on one side only`);
  const unknown = Object.keys(axesLengths).filter((n) => !l.has(n));
  if (unknown.length) throw layer.error('BAD_CONFIG', `axes_lengths: ${show(unknown)} ${unknown.length > 1 ? 'are not axes' : 'is not an axis'} of pattern ${show(pattern)}`);
  return { left, right };
}

/** Sizes of the names in `groups` whose sizes are `dims`, using `known`; undefined for a group's single unknown name when its dim is undefined. */
function resolveSizes(layer: Layer, groups: readonly string[][], dims: readonly (number | undefined)[], known: Record<string, number>, pattern: string): Map<string, number> {
  const sizes = new Map(Object.entries(known));
  groups.forEach((g, i) => {
    const dim = dims[i];
    const unknown = g.filter((n) => !sizes.has(n));
    const p = product(g.filter((n) => sizes.has(n)).map((n) => sizes.get(n)!));
    const where = `input axis ${i} ${show(g.length === 1 ? g[0] : `(${g.join(' ')})`)}`;
    if (unknown.length > 1) throw layer.error('BAD_CONFIG', `axes_lengths: expected sizes for all but one of ${show(unknown)} in ${where} of pattern ${show(pattern)}`);
    if (dim === undefined) return;
    if (unknown.length === 0 && p !== dim) throw layer.error('BAD_CONFIG', `axes_lengths: ${where} of pattern ${show(pattern)} has size ${p}, the input has ${dim}`);
    if (unknown.length === 1) {
      if (dim % p !== 0) throw layer.error('BAD_CONFIG', `axes_lengths: ${where} of pattern ${show(pattern)}: input size ${dim} is not a multiple of ${p}`);
      sizes.set(unknown[0]!, dim / p);
    }
  });
  return sizes;
}

/** The copy that rearranges elementary axes from the left's order to the right's. */
function rearrangeAxes(p: Pattern, sizes: ReadonlyMap<string, number>): CopyAxis[] {
  const left = p.left.flat(), right = p.right.flat();
  const src = contiguousStrides(left.map((n) => sizes.get(n)!));
  const dst = contiguousStrides(right.map((n) => sizes.get(n)!));
  return right.map((n, j) => ({ size: sizes.get(n)!, src: src[left.indexOf(n)]!, dst: dst[j]! }));
}

const groupSizes = (groups: readonly string[][], sizes: ReadonlyMap<string, number>) => groups.map((g) => product(g.map((n) => sizes.get(n)!)));

// EinopsRearrange

const einopsRearrangeFields = {
  /** einops pattern over the channel axes only, e.g. "(c d) e -> d e c"; "batch" and "time" are reserved (required). */
  pattern: f.str(),
  /** Sizes of pattern axes that the input shape leaves ambiguous, e.g. {"c": 2} (default none). */
  axesLengths: axesLengthsField(),
};

/** einops.rearrange of each step's channels ("batch time" prepended to both sides). */
export class EinopsRearrangeLayer extends ChannelCopy {
  constructor(config: Resolved<typeof einopsRearrangeFields>, ctx: BuildContext) {
    super(config, ctx);
    const known = config.axesLengths ?? {};
    const shape = ctx.input.shape;
    const p = parsePattern(this, config.pattern, known, ['batch', 'time'], shape.length);
    if (p.left.length !== shape.length) {
      throw this.error('BAD_CONFIG', `pattern: expected ${shape.length} input axes (${showInput(shape)}), got ${p.left.length} in ${show(config.pattern)}`);
    }
    const sizes = resolveSizes(this, p.left, shape, known, config.pattern);
    this.copyFrom(rearrangeAxes(p, sizes), 0, groupSizes(p.right, sizes));
  }
}

// ---------------------------------------------------------------------------------------------
// Cast

const DTYPES = ['float32', 'int32', 'complex64'] as const;

const castFields = {
  /** Target element type: "float32", "int32" or "complex64" (required). */
  dtype: f.oneOf(DTYPES),
};

/**
 * Casts the values (astype): float32 -> int32 truncates toward zero and saturates (NaN -> 0);
 * int32 -> float32 rounds to nearest; to complex64 adds a zero imaginary part; from complex64
 * keeps the real part (numpy discards the imaginary part, with a warning).
 */
export class CastLayer extends Layer {
  private readonly toComplex: StridedCopy;
  private readonly fromComplex: StridedCopy;

  constructor(config: Resolved<typeof castFields>, ctx: BuildContext) {
    super(config, ctx);
    this.output = { shape: ctx.input.shape, dtype: config.dtype };
    // Real <-> interleaved complex: one axis over every element, stride 1 on one side and 2 on the other.
    this.toComplex = new StridedCopy([], 1, 2, badConfig(this));
    this.fromComplex = new StridedCopy([], 2, 1, badConfig(this));
  }

  runLayer(x: WSeq, ctx: RunContext): WSeq {
    const from: DType = this.input.dtype, to: DType = this.output.dtype;
    if (from === to) return x;
    const k = ctx.rt.k;
    const n = x.batch * x.time * product(this.input.shape);
    const y = this.allocOutput(ctx, x.batch, x.time);
    if (to === 'complex64') {
      let real = x.values;
      if (from === 'int32') k.i32_to_f32(n, x.values, (real = ctx.alloc(n * 4)));
      k.f32_fill(2 * n, 0, y);
      this.toComplex.run(ctx, n, real, y);
    } else if (from === 'complex64') {
      const real = to === 'float32' ? y : ctx.alloc(n * 4);
      this.fromComplex.run(ctx, n, x.values, real);
      if (to === 'int32') k.f32_to_i32(n, real, y);
    } else if (to === 'int32') {
      k.f32_to_i32(n, x.values, y);
    } else {
      k.i32_to_f32(n, x.values, y);
    }
    return this.result(y, x.mask, x.batch, x.time);
  }
}

// ---------------------------------------------------------------------------------------------
// Channel reductions: Sum, Mean, Max, Min.

/** Reduction ops of f32_reduce (REDUCE_* in assembly/shape.ts). */
const Reduce = { sum: 0, mean: 1, max: 2, min: 3 } as const;
type ReduceOp = (typeof Reduce)[keyof typeof Reduce];

const reduceFields = {
  /** Axes to reduce: full-rank indices (2 = first channel axis; negative from the end), an integer or a list; null reduces every channel axis (default -1). */
  axis: f
    .custom<Axes | null>('an integer, a list of integers or null', (v) => (v === null || isInt(v) || (Array.isArray(v) && v.every(isInt)) ? (v as Axes | null) : undefined))
    .default(-1),
  /** Keep reduced axes as size 1 (default false). */
  keepdims: f.bool().default(false),
};

/**
 * Reduces each step's values over channel axes (jnp.sum/mean/max/min; max and min propagate
 * NaN). float32 only. Runs one f32_reduce call per run of neighbouring reduced axes, innermost
 * first; a mean of equal-sized means is the mean.
 */
export class ReduceLayer extends Layer {
  /** Kernel calls in order: [outer, n, inner] per step (outer is multiplied by batch * time). */
  private readonly calls: { outer: number; n: number; inner: number }[] = [];

  constructor(config: Resolved<typeof reduceFields>, ctx: BuildContext, private readonly op: ReduceOp) {
    super(config, ctx);
    const shape = ctx.input.shape;
    expectInput(this, 'float32');
    const axes = config.axis === null ? [...shape.keys()] : channelAxes(this, config.axis, shape, axesMessage('axis'));
    if (new Set(axes).size !== axes.length) throw this.error('BAD_CONFIG', `axis: expected distinct axes, got ${show(config.axis)}`);
    // An empty max or min has no value (numpy and jnp raise; a sum is 0, a mean NaN).
    if ((op === Reduce.max || op === Reduce.min) && axes.some((a) => shape[a] === 0)) {
      throw this.error('BAD_CONFIG', `axis: expected reduced axes of size >= 1 (the ${op === Reduce.max ? 'max' : 'min'} of nothing is undefined), got channel shape ${show(shape)}`);
    }
    this.output = {
      shape: config.keepdims ? shape.map((d, i) => (axes.includes(i) ? 1 : d)) : shape.filter((_, i) => !axes.includes(i)),
      dtype: 'float32',
    };
    // Runs of neighbouring axes of the same kind, then one call per reduced run, innermost first.
    const groups = reductionGroups(shape, axes);
    for (let g = groups.length - 1; g >= 0; g--) {
      if (!groups[g]!.reduced) continue;
      const sizes = groups.map((x) => x.size);
      this.calls.push({ outer: product(sizes.slice(0, g)), n: sizes[g]!, inner: product(sizes.slice(g + 1)) });
      groups.splice(g, 1);
    }
  }

  runLayer(x: WSeq, ctx: RunContext): WSeq {
    const calls = this.calls;
    if (calls.length === 0) return x;
    const rows = x.batch * x.time;
    let src = x.values;
    for (let i = 0; i < calls.length; i++) {
      const c = calls[i]!;
      const dst = i === calls.length - 1 ? this.allocOutput(ctx, x.batch, x.time) : ctx.alloc(rows * c.outer * c.inner * 4);
      ctx.rt.k.f32_reduce(this.op, rows * c.outer, c.n, c.inner, src, dst);
      src = dst;
    }
    return this.result(src, x.mask, x.batch, x.time);
  }
}

// ---------------------------------------------------------------------------------------------
// Global layers: time folded into channels and back. Not steppable; receptive field (-inf, inf).

/**
 * The output mask of a global rearrangement, as the reference derives it: the step mask
 * broadcast to every element, moved like the values (`move`, a copy of batch rows of floats;
 * null for a plain reshape), then per output step all (or any, `anyValid`) of its elements valid.
 */
function globalMask(
  ctx: RunContext, x: WSeq, stepElements: number, tOut: number, outElements: number, anyValid: boolean, move: StridedCopy | null,
): number {
  const k = ctx.rt.k;
  const rowsIn = x.batch * x.time, rowsOut = x.batch * tOut;
  let m = ctx.alloc(rowsIn * stepElements * 4);
  k.mask_broadcast_f32(rowsIn, stepElements, x.mask, m);
  if (move) {
    const moved = ctx.alloc(rowsIn * stepElements * 4);
    move.run(ctx, x.batch, m, moved);
    m = moved;
  }
  const reduced = ctx.alloc(rowsOut * 4);
  k.f32_reduce(anyValid ? Reduce.max : Reduce.min, rowsOut, outElements, 1, m, reduced);
  const mask = ctx.alloc(rowsOut);
  k.mask_from_f32(rowsOut, reduced, mask);
  return mask;
}

/** (-inf, inf): every output may depend on every input step. */
const GLOBAL_RF = rfMap([[-Infinity, Infinity]]);

// GlobalReshape

const globalReshapeFields = {
  /** [time_out, ...channels_out]: the new shape after the batch axis; no -1 (required). */
  outputShape: f.intList(0),
};

/**
 * Reshapes [batch, time, ...channels] to [batch, ...output_shape] (row-major, values reused as
 * they are). The input time is fixed by the element count. An output step is valid only if
 * every input element reshaped into it comes from a valid step. Not steppable.
 */
export class GlobalReshapeLayer extends Layer {
  /** The one input length whose element count matches output_shape. */
  private readonly inputTime: number;
  private readonly outputTime: number;

  constructor(config: Resolved<typeof globalReshapeFields>, ctx: BuildContext) {
    super(config, ctx);
    const out = config.outputShape;
    if (out.length === 0) throw this.error('BAD_CONFIG', 'output_shape: expected [time_out, ...channels_out], got []');
    this.output = { shape: out.slice(1), dtype: ctx.input.dtype };
    this.outputTime = out[0]!;
    const step = product(ctx.input.shape), total = product(out);
    if (total % step !== 0) {
      throw this.error('BAD_CONFIG', `output_shape: expected a multiple of ${step} elements (${showInput(ctx.input.shape)}), got ${show(out)} with ${total}`);
    }
    this.inputTime = total / step;
    this.supportsStep = false;
    this.receptiveFieldPerStep = GLOBAL_RF;
  }

  layerOutputTime(_time: number): number {
    return this.outputTime;
  }

  runLayer(x: WSeq, ctx: RunContext): WSeq {
    if (x.time !== this.inputTime) {
      throw this.error('BAD_INPUT', `expected input time ${this.inputTime} (output_shape ${show(this.config.outputShape)} holds ${this.inputTime} steps of ${product(this.input.shape)} elements), got ${x.time}`);
    }
    const mask = globalMask(ctx, x, product(this.input.shape), this.outputTime, product(this.output.shape), false, null);
    return this.result(x.values, mask, x.batch, this.outputTime);
  }
}

// GlobalEinopsRearrange

const globalEinopsRearrangeFields = {
  /** einops pattern over time and channels, e.g. "(t k) c -> t (k c)" or "t ... -> t (...)"; the first axis on each side is time; "batch" is reserved (required). */
  pattern: f.str(),
  /** Sizes of pattern axes the input shape leaves ambiguous (default none). */
  axesLengths: axesLengthsField(),
  /** An output step is valid if any (true) or only if all (false, default) of its input steps are valid. */
  ceilMode: f.bool().default(false),
};

/**
 * einops.rearrange over [time, ...channels] ("batch" prepended), on values with invalid steps
 * zeroed first. The output time is the first output group; the output channel shape may not
 * depend on the input length. Not steppable.
 */
export class GlobalEinopsRearrangeLayer extends Layer {
  private readonly pattern: Pattern;
  /** Sizes known at build time (channel axes, axes_lengths). */
  private readonly sizes: Map<string, number>;
  /** The copies for the last input length seen: values (dtype width) and mask (floats). */
  private plan: { time: number; tOut: number; values: StridedCopy; mask: StridedCopy } | null = null;
  private readonly ceilMode: boolean;

  constructor(config: Resolved<typeof globalEinopsRearrangeFields>, ctx: BuildContext) {
    super(config, ctx);
    this.ceilMode = config.ceilMode;
    const known = config.axesLengths ?? {};
    const shape = ctx.input.shape;
    const p = (this.pattern = parsePattern(this, config.pattern, known, ['batch'], shape.length + 1));
    if (p.left.length !== shape.length + 1 || p.right.length === 0) {
      throw this.error('BAD_CONFIG', `pattern: expected ${shape.length + 1} input axes (time, then the channels of ${showInput(shape)}) and at least one output axis, got ${show(config.pattern)}`);
    }
    this.sizes = resolveSizes(this, p.left, [undefined, ...shape], known, config.pattern);
    const timeVaries = p.left[0]!.filter((n) => !this.sizes.has(n));
    // Axes "..." stands for are named …i inside the pattern; a message names them "...".
    const leaked = [...new Set(p.right.slice(1).flat().filter((n) => timeVaries.includes(n)).map((n) => (n.startsWith('…') ? '...' : n)))];
    if (leaked.length) {
      throw this.error('BAD_CONFIG', `pattern: the output channels may not depend on the input length, but ${show(leaked)} (sized by the input time) is in them; give its size in axes_lengths or move it to the first output group, got ${show(config.pattern)}`);
    }
    this.output = { shape: groupSizes(p.right.slice(1), this.sizes), dtype: ctx.input.dtype };
    this.supportsStep = false;
    this.receptiveFieldPerStep = GLOBAL_RF;
  }

  private planFor(time: number) {
    if (this.plan?.time === time) return this.plan;
    const sizes = new Map(this.sizes);
    const group = this.pattern.left[0]!;
    const unknown = group.filter((n) => !sizes.has(n));
    const p = product(group.filter((n) => sizes.has(n)).map((n) => sizes.get(n)!));
    if (unknown.length ? time % p !== 0 : time !== p) {
      throw this.error('BAD_INPUT', `expected input time ${unknown.length ? 'a multiple of ' : ''}${p} (time axis ${show(`(${group.join(' ')})`)} of pattern ${show(this.config.pattern)}), got ${time}`);
    }
    if (unknown.length) sizes.set(unknown[0]!, time / p);
    const axes = rearrangeAxes(this.pattern, sizes);
    const n = time * product(this.input.shape);
    return (this.plan = {
      time,
      tOut: groupSizes([this.pattern.right[0]!], sizes)[0]!,
      values: new StridedCopy(axes, n, n, badConfig(this), 0, dtypeWidth(this.input.dtype)),
      mask: new StridedCopy(axes, n, n, badConfig(this)),
    });
  }

  layerOutputTime(time: number): number {
    return this.planFor(time).tOut;
  }

  runLayer(x: WSeq, ctx: RunContext): WSeq {
    const plan = this.planFor(x.time);
    const k = ctx.rt.k;
    const stepElements = product(this.input.shape);
    const stepFloats = stepElements * dtypeWidth(this.input.dtype);
    // Zero the invalid steps (bit pattern 0 is also int32 0), then rearrange.
    const masked = ctx.alloc(x.batch * x.time * stepFloats * 4);
    k.f32_mask_invalid(x.batch * x.time, stepFloats, x.mask, x.values, masked, 0);
    const y = this.allocOutput(ctx, x.batch, plan.tOut);
    plan.values.run(ctx, x.batch, masked, y);
    const mask = globalMask(ctx, x, stepElements, plan.tOut, product(this.output.shape), this.ceilMode, plan.mask);
    return this.result(y, mask, x.batch, plan.tOut);
  }
}

// ---------------------------------------------------------------------------------------------
// Registration and builders (the reference's names).

const reduce = (type: string, op: ReduceOp) => defineLayer({ type, fields: reduceFields, create: (c, ctx) => new ReduceLayer(c, ctx, op) });

const CastDef = defineLayer({ type: 'Cast', fields: castFields, create: (c, ctx) => new CastLayer(c, ctx) });
const EinopsRearrangeDef = defineLayer({ type: 'EinopsRearrange', fields: einopsRearrangeFields, create: (c, ctx) => new EinopsRearrangeLayer(c, ctx) });
const ExpandDimsDef = defineLayer({ type: 'ExpandDims', fields: expandDimsFields, create: (c, ctx) => new ExpandDimsLayer(c, ctx) });
const FlattenDef = defineLayer({ type: 'Flatten', fields: {}, create: (c, ctx) => new FlattenLayer(c, ctx) });
const GlobalEinopsRearrangeDef = defineLayer({ type: 'GlobalEinopsRearrange', fields: globalEinopsRearrangeFields, create: (c, ctx) => new GlobalEinopsRearrangeLayer(c, ctx) });
const GlobalReshapeDef = defineLayer({ type: 'GlobalReshape', fields: globalReshapeFields, create: (c, ctx) => new GlobalReshapeLayer(c, ctx) });
const MaxDef = reduce('Max', Reduce.max);
const MeanDef = reduce('Mean', Reduce.mean);
const MinDef = reduce('Min', Reduce.min);
const MoveAxisDef = defineLayer({ type: 'MoveAxis', fields: moveAxisFields, create: (c, ctx) => new MoveAxisLayer(c, ctx) });
const ReshapeDef = defineLayer({ type: 'Reshape', fields: reshapeFields, create: (c, ctx) => new ReshapeLayer(c, ctx) });
const SliceDef = defineLayer({ type: 'Slice', fields: sliceFields, create: (c, ctx) => new SliceLayer(c, ctx) });
const SqueezeDef = defineLayer({ type: 'Squeeze', fields: squeezeFields, create: (c, ctx) => new SqueezeLayer(c, ctx) });
const SumDef = reduce('Sum', Reduce.sum);
const SwapAxesDef = defineLayer({ type: 'SwapAxes', fields: swapAxesFields, create: (c, ctx) => new SwapAxesLayer(c, ctx) });
const TransposeDef = defineLayer({ type: 'Transpose', fields: transposeFields, create: (c, ctx) => new TransposeLayer(c, ctx) });

export const shapeDefs = [
  CastDef, EinopsRearrangeDef, ExpandDimsDef, FlattenDef, GlobalEinopsRearrangeDef, GlobalReshapeDef, MaxDef, MeanDef,
  MinDef, MoveAxisDef, ReshapeDef, SliceDef, SqueezeDef, SumDef, SwapAxesDef, TransposeDef,
];

export const Cast = builder(CastDef);
export const EinopsRearrange = builder(EinopsRearrangeDef);
export const ExpandDims = builder(ExpandDimsDef);
export const Flatten = builder(FlattenDef);
export const GlobalEinopsRearrange = builder(GlobalEinopsRearrangeDef);
export const GlobalReshape = builder(GlobalReshapeDef);
export const Max = builder(MaxDef);
export const Mean = builder(MeanDef);
export const Min = builder(MinDef);
export const MoveAxis = builder(MoveAxisDef);
export const Reshape = builder(ReshapeDef);
export const Slice = builder(SliceDef);
export const Squeeze = builder(SqueezeDef);
export const Sum = builder(SumDef);
export const SwapAxes = builder(SwapAxesDef);
export const Transpose = builder(TransposeDef);
