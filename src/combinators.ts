// Combinators: layers made of layers. Port of sequence_layers/jax/combinators.py.
import { BroadcastPlan, broadcastOrThrow, broadcastStrides, contiguousStrides, Op } from './broadcast.js';
import { defineLayer, f, type LayerConfig, type Resolved } from './config.js';
import { Fraction, lcm } from './fraction.js';
import { createStates, Layer, product, releaseStates, stepBytes, type BuildContext, type ChannelSpec, type RunContext, type StateBuffer, type StateSpec, type WSeq } from './layer.js';
import { checkRfPhases, rfAggregate, rfAt, rfSerial, rfUnion, type ReceptiveField } from './receptive-field.js';
import { SeqLayersError, show } from './errors.js';
import { dtypeWidth, Sequence, type DType } from './sequence.js';

// ---------------------------------------------------------------------------------------------
// Metadata of children run one after another (serial_block_size & co. in the reference's utils).

interface Meta {
  blockSize: number;
  outputRatio: Fraction;
  inputLatency: number;
  accumulatedInputLatency(l: number): number;
  accumulatedOutputLatency(l: number): number;
}

export function serialBlockSize(layers: readonly Meta[]): number {
  let block = Fraction.ONE;
  let ratio = Fraction.ONE;
  for (const l of layers) {
    const seen = block.mul(ratio); // inputs child l receives per `block` outer inputs
    if (seen.den !== 1) throw new SeqLayersError('BAD_CONFIG', `serial block size: ${block} outer steps give ${seen} inner steps, not an integer`);
    block = new Fraction(lcm(seen.num, l.blockSize)).div(ratio);
    ratio = ratio.mul(l.outputRatio);
  }
  return block.num / block.den;
}

/** The input latency of layers in series, with `latency` more after them (right to left). */
export function serialInputLatency(layers: readonly Meta[], latency = 0): number {
  return layers.reduceRight((l, layer) => layer.accumulatedInputLatency(l), latency);
}

/**
 * The output latency of layers in series, given `latency` steps before them (left to right):
 * each layer checks the latency it receives, nested ones too (a downsampling needs it divisible).
 */
export function serialOutputLatency(layers: readonly Meta[], latency = 0): number {
  return layers.reduce((l, layer) => layer.accumulatedOutputLatency(l), latency);
}

/** Layer.layerOutputTime of layers in series. */
function serialLayerOutputTime(layers: readonly Layer[], time: number): number {
  return layers.reduce((t, l) => l.layerOutputTime(t), time);
}

// ---------------------------------------------------------------------------------------------
// Warm-up steps of layers in series.

const skipsWarmUp = (l: Layer): boolean => l.skipsWarmUp || l.children.some(skipsWarmUp);
const readsStepConstants = (l: Layer): boolean => l.readsStepConstants || l.children.some(readsStepConstants);
const writesEmits = (l: Layer): boolean => l.writesEmits || l.children.some(writesEmits);
/** The emit keys of the layers under and at `l` that write emits. */
const emitKeys = (l: Layer): string[] => [...(l.writesEmits ? [l.emitKey] : []), ...l.children.flatMap(emitKeys)];

/**
 * n emits of one key stacked on a channel axis after time, [batch, time, n, ...channels]: a
 * Repeat's copies and ParallelChannels' groups (the reference's scan stacks them too, then
 * unstacks them into a list of one emit per copy: the same values); a shorter part (an emitter
 * withheld from the warm-up reports only the steps it ran) is padded in front with invalid
 * steps, and a step is valid where every part's is.
 */
function stackEmits(parts: readonly (Sequence | undefined)[]): Sequence {
  const first = parts.find((p) => p)!, { batch, dtype } = first, time = Math.max(...parts.map((p) => p?.time ?? 0));
  const n = parts.length, row = first.values.length / Math.max(1, first.batch * first.time);
  const values = new (first.values.constructor as Float32ArrayConstructor | Int32ArrayConstructor)(batch * time * n * row);
  const mask = new Uint8Array(batch * time).fill(1);
  parts.forEach((p, i) => {
    const lead = time - (p?.time ?? 0);
    for (let b = 0; b < batch; b++) {
      for (let t = 0; t < time; t++) {
        const s = t - lead, valid = p && s >= 0 ? p.mask[b * p.time + s]! : 0;
        if (!valid) mask[b * time + t] = 0;
        if (p && s >= 0) values.set(p.values.subarray((b * p.time + s) * row, (b * p.time + s + 1) * row), ((b * time + t) * n + i) * row);
      }
    }
  });
  return new Sequence(values, mask, [batch, time, n, ...first.channelShape], dtype);
}

/**
 * In step(), a latency in a chain (a Delay, a lookahead convolution, Frame) first emits
 * outputLatency invalid warm-up steps that layer() does not have. Layers that ignore invalid
 * steps do not mind them; a layer that counts steps or takes the steps before the sequence for
 * valid padding (Layer.skipsWarmUp, or one of its descendants) would step differently from
 * layer(), so the chain withholds them from it and puts invalid steps in their place in its
 * output. This departs from the reference, where such stacks step differently from layer().
 * A chain that needs it keeps one more state, 'steps' [1] int32: its input steps so far, up to
 * `horizon`.
 */
class WarmUp {
  private constructor(
    private readonly layers: readonly Layer[],
    /** Per layer: the leading input steps to withhold (0: none). */
    private readonly withheld: readonly number[],
    /** Per layer: its input steps per chain input step. */
    private readonly ratios: readonly Fraction[],
    /** Chain input steps after which nothing is withheld. */
    readonly horizon: number,
  ) {}

  /**
   * The warm-up of `layers` run in series, or null when no layer needs any step withheld.
   * `entry`: the warm-up steps its input starts with, from a latency before the chain that
   * could not withhold them from the chain as a whole (see Layer.seesWarmUp).
   */
  static of(layers: readonly Layer[], entry = 0): WarmUp | null {
    const withheld: number[] = [], ratios: Fraction[] = [];
    let latency = entry, ratio = Fraction.ONE, horizon = 0;
    for (const l of layers) {
      // A layer stepping in blocks can only be spared whole blocks (its block size divides its
      // whole input), and one reading constants given with a step call none; otherwise it
      // sees the warm-up (Layer.seesWarmUp). One spared it hears so (0 steps), in case an
      // earlier call, with less of the warm-up, had it see some.
      const needs = latency > 0 && skipsWarmUp(l);
      const w = needs && !readsStepConstants(l) && latency % l.blockSize === 0 ? latency : 0;
      if (needs) l.seesWarmUp(w ? 0 : latency);
      withheld.push(w);
      ratios.push(ratio);
      if (w) horizon = Math.max(horizon, Math.ceil((w * ratio.den) / ratio.num));
      latency = l.accumulatedOutputLatency(latency);
      ratio = ratio.mul(l.outputRatio);
    }
    return horizon ? new WarmUp(layers, withheld, ratios, horizon) : null;
  }

  /** The state this adds to the chain's owner. */
  stateSpec(): StateSpec {
    return { name: 'steps', dtype: 'int32', shape: [1], min: 0 };
  }

  /**
   * Steps the layers over x (a block of the chain's input), withholding warm-up steps; `steps`
   * is the state above; `enter(i)`, if given, runs before layer i.
   */
  runStep(x: WSeq, ctx: RunContext, steps: StateBuffer, enter?: (i: number) => void): WSeq {
    const seen = ctx.rt.i32[steps.ptr >> 2]!, n = x.time;
    if (seen >= this.horizon) {
      for (let i = 0; i < this.layers.length; i++) {
        enter?.(i);
        x = this.layers[i]!.runStep(x, ctx);
      }
      return x;
    }
    for (let i = 0; i < this.layers.length; i++) {
      const l = this.layers[i]!;
      enter?.(i);
      const skip = Math.min(Math.max(this.withheld[i]! - this.ratios[i]!.floorMul(seen), 0), x.time);
      x = skip ? withholding(l, x, skip, ctx) : l.runStep(x, ctx);
    }
    // A fresh view: the layers' scratch may have grown the memory (found in review).
    ctx.rt.i32[steps.ptr >> 2] = Math.min(seen + n, this.horizon);
    return x;
  }
}

/**
 * l.runStep on x without its first `skip` steps, whose place in the output (skip times the
 * output ratio) holds invalid zero steps.
 */
function withholding(l: Layer, x: WSeq, skip: number, ctx: RunContext): WSeq {
  const k = ctx.rt.k, { batch, time } = x;
  const outRow = stepBytes(l.output), head = l.outputRatio.floorMul(skip);
  const rest = time - skip;
  let tail: WSeq | null = null;
  if (rest) {
    const inRow = stepBytes(l.input);
    const xs = { values: ctx.alloc(batch * rest * inRow), mask: ctx.alloc(batch * rest), batch, time: rest };
    k.seq_slice_time(batch, time, skip, rest, inRow, x.values, xs.values);
    k.seq_slice_time(batch, time, skip, rest, 1, x.mask, xs.mask);
    tail = l.runStep(xs, ctx);
  }
  const tailTime = tail ? tail.time : 0, outTime = head + tailTime;
  const values = ctx.alloc(batch * outTime * outRow), mask = ctx.alloc(batch * outTime);
  // Each item: `head` invalid zero steps, then its tail steps.
  k.seq_pad_time(batch, tailTime, head, 0, outRow, tail ? tail.values : 0, values, 0, 0);
  k.seq_pad_time(batch, tailTime, head, 0, 1, tail ? tail.mask : 0, mask, 0, 0);
  return { values, mask, batch, time: outTime };
}

/** A layer that runs its children one after another (Serial, Repeat). */
abstract class ChainLayer extends Layer {
  /** Set by subclasses once their children are built. */
  protected warmUp: WarmUp | null = null;

  runLayer(x: WSeq, ctx: RunContext): WSeq {
    for (const l of this.children) x = l.runLayer(x, ctx);
    return x;
  }

  stateSpecs(_batch: number): StateSpec[] {
    return this.warmUp ? [this.warmUp.stateSpec()] : [];
  }

  runStep(x: WSeq, ctx: RunContext): WSeq {
    if (this.warmUp) return this.warmUp.runStep(x, ctx, this.stateOf(ctx)[0]!);
    for (const l of this.children) x = l.runStep(x, ctx);
    return x;
  }

  validateStep(batch: number, time: number, ctx: RunContext): void {
    validateSeries(this.children, batch, time, ctx);
  }

  accumulatedInputLatency(l: number): number {
    return serialInputLatency(this.children, l);
  }

  accumulatedOutputLatency(l: number): number {
    return serialOutputLatency(this.children, l);
  }

  layerOutputTime(time: number): number {
    return serialLayerOutputTime(this.children, time);
  }

  /** The chain withholds the warm-up its input starts with from its children as it does its own. */
  seesWarmUp(steps: number): void {
    this.warmUp = WarmUp.of(this.children, steps);
  }
}

/** Layer.validateStep of layers run in series: each sees a block times its predecessors' output ratios. */
function validateSeries(layers: readonly Layer[], batch: number, time: number, ctx: RunContext): void {
  for (const l of layers) {
    l.validateStep(batch, time, ctx);
    time = l.outputRatio.floorMul(time);
  }
}

/** Sets a layer's metadata to that of its children run in series. */
function setSerialMetadata(self: Layer, layers: readonly Layer[]): void {
  self.outputRatio = layers.reduce((r, l) => r.mul(l.outputRatio), Fraction.ONE);
  self.blockSize = serialBlockSize(layers);
  self.inputLatency = serialInputLatency(layers);
  self.outputLatency = serialOutputLatency(layers);
  self.supportsStep = layers.every((l) => l.supportsStep);
  self.receptiveFieldPerStep = rfSerial(layers, `${self.type} at ${self.where}`);
}

// ---------------------------------------------------------------------------------------------
// Serial

/**
 * share_scope of Serial, Parallel and Residual (the reference's): true, or a list of booleans
 * with one per layer, puts those layers' parameters at the combinator's own path (seqlayers and
 * flax names alike) instead of under `layers.<i>` (default false). Two parameters that then
 * share a name are a BAD_CONFIG error, as flax refuses them.
 */
const shareScopeField = () =>
  f.custom<boolean | boolean[]>('true, false or a list of booleans (one per layer)', (v) =>
    typeof v === 'boolean' ? v : Array.isArray(v) && v.every((b) => typeof b === 'boolean') ? [...v] : undefined).default(false);

/** share_scope (shareScopeField) as one flag per layer of `n`. */
function sharedScopes(self: Layer, share: boolean | boolean[], n: number): boolean[] {
  if (typeof share === 'boolean') return Array<boolean>(n).fill(share);
  if (share.length !== n) throw self.error('BAD_CONFIG', `share_scope: expected a boolean or a list of ${n} (one per layer), got ${share.length} booleans`);
  return share;
}

const serialFields = {
  /** Child layers, applied in order. */
  layers: f.layers(),
  /** Put the layers' parameters at this layer's path (see shareScopeField; default false). */
  shareScope: shareScopeField(),
};

export class SerialLayer extends ChainLayer {
  constructor(config: Resolved<typeof serialFields>, ctx: BuildContext) {
    super(config, ctx);
    const shared = sharedScopes(this, config.shareScope, config.layers.length);
    let spec = ctx.input;
    config.layers.forEach((c, i) => {
      spec = this.child(c, `layers.${i}`, spec, shared[i]).output;
    });
    this.output = spec;
    setSerialMetadata(this, this.children);
    this.warmUp = WarmUp.of(this.children);
  }
}

// ---------------------------------------------------------------------------------------------
// Combination of several branches (CombinationMode in the reference's utils)

export const COMBINATIONS = ['stack', 'concat', 'add', 'mean', 'product'] as const;
export type Combination = (typeof COMBINATIONS)[number];

/** A combination mode; the reference's enum spellings ('STACK', 'CombinationMode.STACK') load too. */
export const combinationField = () =>
  f
    .custom<Combination>(`one of ${COMBINATIONS.map((c) => JSON.stringify(c)).join(', ')}`, (v) => {
      const s = typeof v === 'string' ? v.replace(/^CombinationMode\./, '').toLowerCase() : v;
      return COMBINATIONS.includes(s as Combination) ? (s as Combination) : undefined;
    })
    .default('stack');

/** Output channel shape of combining branches of these channel shapes. */
export function combinedShape(mode: Combination, shapes: readonly (readonly number[])[], who: string): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const padded = shapes.map((s) => [...Array(rank - s.length).fill(1), ...s] as number[]);
  switch (mode) {
    case 'stack':
      return [shapes.length, ...broadcastOrThrow(padded, who)];
    case 'concat': {
      const outer = broadcastOrThrow(padded.map((s) => s.slice(0, -1)), who);
      const last = padded.reduce((a, s) => a + (s.length ? s[s.length - 1]! : 1), 0);
      return [...outer, last];
    }
    default:
      return broadcastOrThrow(padded, who);
  }
}

/**
 * Combines branch outputs [rows, ...shape_i] into [rows, ...outShape] with one strided kernel
 * call per branch; masks are AND-ed. Plans are made once at build time. complex64 values are
 * (re, im) float pairs: the plans see them as a trailing axis of 2, and a product multiplies
 * them as complex numbers (six strided calls per branch after the first, through scratch).
 */
export class Combiner {
  readonly outShape: number[];
  private readonly plans: BroadcastPlan[] = [];
  private readonly offsets: number[] = [];
  /** Floats per value: 2 for complex64. */
  private readonly width: number;
  /** complex64 product: y * x_i into real scratch [rows, ...outShape], then the (re, im) pairs of y written back. */
  private readonly complexProduct: { mul: BroadcastPlan[]; sub: BroadcastPlan; addTo: BroadcastPlan; copyTo: BroadcastPlan } | null = null;

  constructor(
    readonly mode: Combination,
    shapes: readonly (readonly number[])[],
    who: string,
    dtype: DType = 'float32',
  ) {
    this.outShape = combinedShape(mode, shapes, who);
    if (dtype === 'int32' && mode !== 'stack' && mode !== 'concat') {
      // The kernels add and multiply float32 bit patterns: int32 sums and products come out wrong.
      throw new SeqLayersError('BAD_CONFIG', `${who}: expected float32 or complex64 branch outputs to ${mode}, got int32 (integer arithmetic is not implemented: stack or concat them, or Cast them first)`);
    }
    const w = (this.width = dtypeWidth(dtype));
    // A channel shape as the kernels see it: complex values gain a trailing (re, im) axis.
    const floats = (shape: readonly number[]) => (w > 1 ? [...shape, w] : [...shape]);
    const out = this.outShape;
    const rows = product(out) * w;
    const perRow = (shape: readonly number[]) => ({ shape: floats(shape), perRow: true });
    if (mode === 'stack') {
      const inner = floats(out.slice(1));
      shapes.forEach((s, i) => {
        this.plans.push(new BroadcastPlan(inner, perRow(s), perRow(s), { strides: contiguousStrides(inner), rowStride: rows }, who));
        this.offsets.push(i * product(inner));
      });
    } else if (mode === 'concat') {
      const strides = contiguousStrides(floats(out));
      let at = 0;
      for (const s of shapes) {
        const last = s.length ? s[s.length - 1]! : 1;
        const target = floats([...out.slice(0, -1), last]);
        const own = s.length ? s : [1];
        this.plans.push(new BroadcastPlan(target, perRow(own), perRow(own), { strides, rowStride: rows }, who));
        this.offsets.push(at * w);
        at += last;
      }
    } else if (mode === 'product' && w > 1) {
      // Branch 0 is copied in as (re, im) pairs; each later branch multiplies through views of
      // the real and imaginary parts (element strides doubled, the imaginary part 4 bytes on).
      this.plans.push(new BroadcastPlan(floats(out), perRow(shapes[0]!), perRow(shapes[0]!), undefined, who));
      this.offsets.push(0);
      const n = product(out), pairs = contiguousStrides(out).map((d) => d * w);
      const yView = { shape: out, perRow: true, strides: pairs, rowStride: n * w };
      const real = { shape: out, perRow: true };
      this.complexProduct = {
        mul: shapes.map((s) => new BroadcastPlan(out, yView, { shape: s, perRow: true, strides: broadcastStrides(s, out).map((d) => d * w), rowStride: product(s) * w }, undefined, who)),
        sub: new BroadcastPlan(out, real, real, undefined, who),
        addTo: new BroadcastPlan(out, real, real, { strides: pairs, rowStride: n * w }, who),
        copyTo: new BroadcastPlan(out, real, real, { strides: pairs, rowStride: n * w }, who),
      };
    } else {
      shapes.forEach((s, i) => {
        this.plans.push(i === 0 ? new BroadcastPlan(floats(out), perRow(s), perRow(s), undefined, who) : new BroadcastPlan(floats(out), perRow(out), perRow(s), undefined, who));
        this.offsets.push(0);
      });
    }
  }

  /** y = combine(inputs) over `rows` rows; y must hold rows * product(outShape) values. */
  run(ctx: RunContext, rows: number, inputs: readonly number[], y: number): void {
    const mode = this.mode;
    const cp = this.complexProduct;
    for (let i = 0; i < inputs.length; i++) {
      const x = inputs[i]!;
      if (mode === 'stack' || mode === 'concat' || i === 0) {
        this.plans[i]!.run(ctx, Op.copy, rows, x, x, y + 4 * this.offsets[i]!);
      } else if (cp) {
        // (a + bi)(c + di) = (ac - bd) + (ad + bc)i, with y = a + bi and x = c + di.
        const bytes = rows * product(this.outShape) * 4;
        const ac = ctx.alloc(bytes), bd = ctx.alloc(bytes), ad = ctx.alloc(bytes), bc = ctx.alloc(bytes);
        const mul = cp.mul[i]!;
        mul.run(ctx, Op.mul, rows, y, x, ac);
        mul.run(ctx, Op.mul, rows, y + 4, x + 4, bd);
        mul.run(ctx, Op.mul, rows, y, x + 4, ad);
        mul.run(ctx, Op.mul, rows, y + 4, x, bc);
        cp.sub.run(ctx, Op.sub, rows, ac, bd, ac);
        cp.addTo.run(ctx, Op.add, rows, ad, bc, y + 4);
        cp.copyTo.run(ctx, Op.copy, rows, ac, ac, y);
      } else {
        this.plans[i]!.run(ctx, mode === 'product' ? Op.mul : Op.add, rows, y, x, y);
      }
    }
    if (mode === 'mean') {
      const n = rows * product(this.outShape) * this.width;
      ctx.rt.k.f32_vscale_shift(n, y, 1 / inputs.length, 0, y);
    }
  }
}

/** mask = AND of the given masks into a new scratch mask of n steps. */
function andMasks(ctx: RunContext, masks: readonly number[], n: number): number {
  if (masks.length === 1) return masks[0]!;
  const out = ctx.alloc(n);
  ctx.rt.k.mask_and(n, masks[0]!, masks[1]!, out);
  for (let i = 2; i < masks.length; i++) ctx.rt.k.mask_and(n, out, masks[i]!, out);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Parallel

const parallelFields = {
  /** Branches, all fed the same input. */
  layers: f.layers(),
  /** How branch outputs are combined: stack (new first channel axis), concat (last axis), add, mean, product. */
  combination: combinationField(),
  /** Put the branches' parameters at this layer's path (see shareScopeField; default false). */
  shareScope: shareScopeField(),
};

export class ParallelLayer extends Layer {
  private readonly combiner: Combiner | null;
  private readonly ptrs: number[];
  private readonly masks: number[];

  constructor(config: Resolved<typeof parallelFields>, ctx: BuildContext) {
    super(config, ctx);
    const mode = config.combination;
    const shared = sharedScopes(this, config.shareScope, config.layers.length);
    config.layers.forEach((c, i) => this.child(c, `layers.${i}`, ctx.input, shared[i]));
    const ls = this.children;
    this.ptrs = ls.map(() => 0);
    this.masks = ls.map(() => 0);
    if (!ls.length) {
      this.combiner = null;
      return;
    }
    const first = ls[0]!;
    for (const l of ls) {
      if (!l.outputRatio.equals(first.outputRatio)) {
        throw this.error('BAD_CONFIG', `expected every branch to have the same output ratio, got ${ls.map((b) => b.outputRatio.toString()).join(', ')}`);
      }
      if (l.inputLatency !== first.inputLatency || l.outputLatency !== first.outputLatency) {
        throw this.error('BAD_CONFIG', `expected every branch to have the same input/output latency, got ${ls.map((b) => `${b.inputLatency}/${b.outputLatency}`).join(', ')}`);
      }
      if (l.output.dtype !== first.output.dtype) throw this.error('BAD_CONFIG', `expected every branch to output the same dtype, got ${ls.map((b) => b.output.dtype).join(', ')}`);
    }
    this.combiner = new Combiner(mode, ls.map((l) => l.output.shape), this.where, first.output.dtype);
    this.output = { shape: this.combiner.outShape, dtype: first.output.dtype };
    this.outputRatio = first.outputRatio;
    this.blockSize = ls.reduce((b, l) => lcm(b, l.blockSize), 1);
    this.inputLatency = first.inputLatency;
    this.outputLatency = first.outputLatency;
    this.supportsStep = ls.every((l) => l.supportsStep);
    this.receptiveFieldPerStep = rfAggregate(ls.map((l) => l.receptiveFieldPerStep));
  }

  accumulatedInputLatency(l: number): number {
    return this.sameInEveryBranch('input', l, (b) => b.accumulatedInputLatency(l));
  }

  layerOutputTime(time: number): number {
    return this.children[0]?.layerOutputTime(time) ?? time;
  }

  accumulatedOutputLatency(l: number): number {
    return this.sameInEveryBranch('output', l, (b) => b.accumulatedOutputLatency(l));
  }

  /** A latency every branch must agree on, given `l` (the reference's check, nested branches included). */
  private sameInEveryBranch(which: string, l: number, of: (branch: Layer) => number): number {
    if (!this.children.length) return l;
    const each = this.children.map(of);
    if (each.some((v) => v !== each[0])) throw this.error('BAD_CONFIG', `expected every branch to have the same accumulated ${which} latency from ${l}, got ${each.join(', ')}`);
    return each[0]!;
  }

  private combine(x: WSeq, ctx: RunContext, stepping: boolean): WSeq {
    if (!this.combiner) return x;
    let time = 0;
    const ls = this.children;
    for (let i = 0; i < ls.length; i++) {
      const y = stepping ? ls[i]!.runStep(x, ctx) : ls[i]!.runLayer(x, ctx);
      if (i === 0) time = y.time;
      else if (y.time !== time) throw this.error('BAD_INPUT', `branches produced different lengths (${time} and ${y.time} steps)`);
      this.ptrs[i] = y.values;
      this.masks[i] = y.mask;
    }
    const out = this.allocOutput(ctx, x.batch, time);
    this.combiner.run(ctx, x.batch * time, this.ptrs, out);
    return this.result(out, andMasks(ctx, this.masks, x.batch * time), x.batch, time);
  }

  runLayer(x: WSeq, ctx: RunContext): WSeq {
    return this.combine(x, ctx, false);
  }

  runStep(x: WSeq, ctx: RunContext): WSeq {
    return this.combine(x, ctx, true);
  }
}

// ---------------------------------------------------------------------------------------------
// Residual

const residualFields = {
  /** The body, applied in series. */
  layers: f.layers(),
  /** The shortcut, applied in series (null: identity). */
  shortcutLayers: f.layers().opt(),
  /** Put the body's layers' parameters at this layer's path (see shareScopeField; default false; not the shortcut's, as in the reference). */
  shareScope: shareScopeField(),
};

export class ResidualLayer extends Layer {
  private readonly body: Layer[];
  private readonly shortcut: Layer[];
  private bodyWarmUp: WarmUp | null;
  private shortcutWarmUp: WarmUp | null;

  constructor(config: Resolved<typeof residualFields>, ctx: BuildContext) {
    super(config, ctx);
    const shared = sharedScopes(this, config.shareScope, config.layers.length);
    const chain = (configs: readonly LayerConfig[], field: string, flaxPrefix: string): Layer[] => {
      let spec: ChannelSpec = ctx.input;
      return configs.map((c, i) => {
        const l = this.child(c, `${field}.${i}`, spec, field === 'layers' && shared[i], `${flaxPrefix}layers_${i}`);
        spec = l.output;
        return l;
      });
    };
    this.body = chain(config.layers, 'layers', '');
    // The reference wraps the shortcut in a Serial, its module `shortcut_layer`.
    this.shortcut = chain(config.shortcutLayers ?? [], 'shortcut_layers', 'shortcut_layer/');
    const bodySpec = this.body.at(-1)?.output ?? ctx.input;
    const spec = this.shortcut.at(-1)?.output ?? ctx.input;
    if (bodySpec.dtype !== spec.dtype || bodySpec.shape.join() !== spec.shape.join()) {
      throw this.error('BAD_CONFIG', `expected the body and the shortcut to output the same channel shape, got ${show(bodySpec.shape)} and ${show(spec.shape)}`);
    }
    if (bodySpec.dtype === 'int32') {
      throw this.error('BAD_CONFIG', 'expected a float32 or complex64 body output to add, got int32 (integer arithmetic is not implemented: Cast it first)');
    }
    this.output = bodySpec;
    const s = this.shortcut;
    const bodyRatio = this.body.reduce((r, l) => r.mul(l.outputRatio), Fraction.ONE);
    const shortRatio = s.reduce((r, l) => r.mul(l.outputRatio), Fraction.ONE);
    if (!bodyRatio.equals(shortRatio)) throw this.error('BAD_CONFIG', `expected body and shortcut output ratios to match, got ${bodyRatio} and ${shortRatio}`);
    const lat = [serialInputLatency(this.body), serialInputLatency(s)];
    const outLat = [serialOutputLatency(this.body), serialOutputLatency(s)];
    if (lat[0] !== lat[1] || outLat[0] !== outLat[1]) {
      throw this.error('BAD_CONFIG', `expected body and shortcut latencies to match, got input ${lat[0]}/${lat[1]} and output ${outLat[0]}/${outLat[1]}${this.delayHint(lat, outLat)}`);
    }
    this.outputRatio = bodyRatio;
    this.blockSize = lcm(serialBlockSize(this.body), serialBlockSize(s));
    this.inputLatency = lat[0]!;
    this.outputLatency = outLat[0]!;
    this.supportsStep = [...this.body, ...s].every((l) => l.supportsStep);
    const rfBody = rfSerial(this.body, `${this.type} at ${this.where}`);
    const rfShort = rfSerial(s, `${this.type} at ${this.where}`);
    const steps = checkRfPhases(lcm(rfBody.size, rfShort.size), `${this.type} at ${this.where}`);
    const rf = new Map<number, ReceptiveField>();
    for (let k = 0; k < steps; k++) {
      const u = rfUnion(rfAt(rfBody, bodyRatio, k), rfAt(rfShort, bodyRatio, k));
      const o = bodyRatio.floorDiv(k);
      rf.set(k, u && [u[0] - o, u[1] - o]);
    }
    this.receptiveFieldPerStep = rf;
    this.bodyWarmUp = WarmUp.of(this.body);
    this.shortcutWarmUp = WarmUp.of(s);
  }

  /**
   * For latencies [body, shortcut] that differ: the Delay that evens them out at the end of the
   * branch with less output latency (layer() unchanged, step() lagging as the other branch), or
   * '' when no one Delay does (the input latencies differ by another amount).
   */
  private delayHint(lat: readonly number[], outLat: readonly number[]): string {
    const lagging = outLat[0]! < outLat[1]! ? 0 : 1;
    const n = outLat[1 - lagging]! - outLat[lagging]!;
    if (n === 0 || serialInputLatency(lagging ? this.shortcut : this.body, n) !== lat[1 - lagging]) return '';
    const branch = lagging ? 'the shortcut (shortcut_layers)' : 'the body (layers)';
    return `; add a Delay(${n}, delayLayerOutput: false) at the end of ${branch}`;
  }

  accumulatedInputLatency(l: number): number {
    return this.sameInBoth('input', l, serialInputLatency(this.body, l), serialInputLatency(this.shortcut, l));
  }

  layerOutputTime(time: number): number {
    return serialLayerOutputTime(this.body, time);
  }

  accumulatedOutputLatency(l: number): number {
    return this.sameInBoth('output', l, serialOutputLatency(this.body, l), serialOutputLatency(this.shortcut, l));
  }

  private sameInBoth(which: string, l: number, body: number, shortcut: number): number {
    if (body !== shortcut) throw this.error('BAD_CONFIG', `expected body and shortcut to have the same accumulated ${which} latency from ${l}, got ${body} and ${shortcut}`);
    return body;
  }

  /** The body and the shortcut each withhold the warm-up their input starts with, as a chain does. */
  seesWarmUp(steps: number): void {
    this.bodyWarmUp = WarmUp.of(this.body, steps);
    this.shortcutWarmUp = WarmUp.of(this.shortcut, steps);
  }

  stateSpecs(_batch: number): StateSpec[] {
    const specs: StateSpec[] = [];
    if (this.bodyWarmUp) specs.push({ ...this.bodyWarmUp.stateSpec(), name: 'body_steps' });
    if (this.shortcutWarmUp) specs.push({ ...this.shortcutWarmUp.stateSpec(), name: 'shortcut_steps' });
    return specs;
  }

  validateStep(batch: number, time: number, ctx: RunContext): void {
    validateSeries(this.body, batch, time, ctx);
    validateSeries(this.shortcut, batch, time, ctx);
  }

  /** One chain of layers over x: layer(), or step() withholding warm-up steps (its state at `slot`) when it needs to. */
  private chain(layers: readonly Layer[], warmUp: WarmUp | null, slot: number, x: WSeq, ctx: RunContext, stepping: boolean): WSeq {
    if (stepping && warmUp) return warmUp.runStep(x, ctx, this.stateOf(ctx)[slot]!);
    for (const l of layers) x = stepping ? l.runStep(x, ctx) : l.runLayer(x, ctx);
    return x;
  }

  private apply(x: WSeq, ctx: RunContext, stepping: boolean): WSeq {
    const y = this.chain(this.body, this.bodyWarmUp, 0, x, ctx, stepping);
    const yv = y.values, ym = y.mask, yt = y.time;
    const s = this.chain(this.shortcut, this.shortcutWarmUp, this.bodyWarmUp ? 1 : 0, x, ctx, stepping);
    if (s.time !== yt) throw this.error('BAD_INPUT', `body and shortcut produced different lengths (${yt} and ${s.time} steps)`);
    const rows = x.batch * yt;
    const n = rows * product(this.output.shape) * dtypeWidth(this.output.dtype);
    const out = this.allocOutput(ctx, x.batch, yt);
    ctx.rt.k.f32_vadd(n, yv, s.values, out);
    const mask = ctx.alloc(rows);
    ctx.rt.k.mask_and(rows, ym, s.mask, mask);
    return this.result(out, mask, x.batch, yt);
  }

  runLayer(x: WSeq, ctx: RunContext): WSeq {
    return this.apply(x, ctx, false);
  }

  runStep(x: WSeq, ctx: RunContext): WSeq {
    return this.apply(x, ctx, true);
  }
}

// ---------------------------------------------------------------------------------------------
// Wrappers: a child whose metadata passes through (the reference's WrapperMixin).

/** Copies every metadata property of `child` onto `self`, its accumulated latencies too. */
function inheritMetadata(self: Layer, child: Layer): void {
  self.accumulatedInputLatency = (l) => child.accumulatedInputLatency(l);
  self.accumulatedOutputLatency = (l) => child.accumulatedOutputLatency(l);
  self.layerOutputTime = (t) => child.layerOutputTime(t);
  self.output = child.output;
  self.outputRatio = child.outputRatio;
  self.blockSize = child.blockSize;
  self.inputLatency = child.inputLatency;
  self.outputLatency = child.outputLatency;
  self.supportsStep = child.supportsStep;
  self.receptiveFieldPerStep = child.receptiveFieldPerStep;
}

const checkpointGradientFields = {
  /** The wrapped layer. */
  layer: f.layer(),
  /** Training-only (rematerialisation); accepted for config compatibility, no effect here. */
  preventCse: f.bool().default(true),
  /** Training-only JAX checkpoint policy name; accepted, no effect here. */
  policy: f.any<unknown>('a policy name or null').opt(),
  /** Put the child's parameters at this layer's path instead of under `layer`. */
  shareScope: f.bool().default(false),
};

/** Gradient checkpointing is a training concern: at inference this is the wrapped layer. */
export class CheckpointGradientLayer extends Layer {
  private readonly inner: Layer;
  constructor(config: Resolved<typeof checkpointGradientFields>, ctx: BuildContext) {
    super(config, ctx);
    this.inner = this.child(config.layer, 'layer', ctx.input, config.shareScope, 'child_layer');
    inheritMetadata(this, this.inner);
  }
  runLayer(x: WSeq, ctx: RunContext): WSeq {
    return this.inner.runLayer(x, ctx);
  }
  runStep(x: WSeq, ctx: RunContext): WSeq {
    return this.inner.runStep(x, ctx);
  }
}

// ---------------------------------------------------------------------------------------------
// Repeat

const repeatFields = {
  /** The layer to repeat; it must keep its channel shape, dtype and an output ratio of 1. */
  layer: f.layer(),
  /** How many times (each repeat has its own parameters, stacked on a leading axis). */
  numRepeats: f.int(1, 4096),
  /** Training-only options of the reference, accepted for config compatibility. */
  remat: f.bool().default(false),
  preventCse: f.bool().default(false),
  policy: f.any<unknown>('a policy name or null').opt(),
  unrollLayer: f.bool().default(false),
  unrollStep: f.bool().default(false),
};

/**
 * The child applied numRepeats times in series. Parameters are stored as the reference does:
 * one tensor per child parameter with a leading [numRepeats] axis (e.g. `layer.kernel`
 * [n, in, out]); each repeat reads its slice.
 */
export class RepeatLayer extends ChainLayer {
  /** The emit keys of one copy of the child (each copy emits under them; see stackEmits). */
  private readonly copyEmitKeys: string[];

  constructor(config: Resolved<typeof repeatFields>, ctx: BuildContext) {
    super(config, ctx);
    const n = config.numRepeats;
    const repeats: Layer[] = [];
    for (let i = 0; i < n; i++) repeats.push(this.child(config.layer, 'layer', ctx.input, false, 'child_layer'));
    const first = repeats[0]!;
    if (!first.outputRatio.equals(Fraction.ONE)) throw this.error('BAD_CONFIG', `expected the repeated layer to have output ratio 1, got ${first.outputRatio}`);
    if (first.output.dtype !== ctx.input.dtype || first.output.shape.join() !== ctx.input.shape.join()) {
      throw this.error('BAD_CONFIG', `expected the repeated layer to keep its input spec [${ctx.input.shape}] ${ctx.input.dtype}, got [${first.output.shape}] ${first.output.dtype}`);
    }
    const subtree = (l: Layer): Layer[] => [l, ...l.children.flatMap(subtree)];
    const params = repeats.map((r) => subtree(r).flatMap((l) => l.params));
    // A nested Repeat's slices are views of its stacked parameter already: that one is stacked.
    const own = params.map((ps) => ps.filter((p) => !p.viewOf));
    own[0]!.forEach((p0, j) => {
      const slices = own.map((ps) => ps[j]!);
      const stacked = this.param(p0.path.slice(this.path ? this.path.length + 1 : 0), [n, ...p0.shape], (out, random) =>
        slices.forEach((p, i) => p.init(out.subarray(i * p0.size, (i + 1) * p0.size), random)),
      p0.flaxPath);
      slices.forEach((p, i) => {
        const offset = i * p0.size;
        // Views into the slice now point into `stacked` directly, so no view is of a view.
        for (const v of params[i]!) if (v.viewOf?.param === p) v.viewOf = { param: stacked, offset: offset + v.viewOf.offset };
        p.viewOf = { param: stacked, offset };
      });
    });
    setSerialMetadata(this, repeats);
    this.warmUp = WarmUp.of(repeats);
    this.copyEmitKeys = emitKeys(first);
  }

  runLayer(x: WSeq, ctx: RunContext): WSeq {
    if (!ctx.emits || !this.copyEmitKeys.length) return super.runLayer(x, ctx);
    return this.stackingEmits(ctx, (enter) => {
      this.children.forEach((l, i) => {
        enter(i);
        x = l.runLayer(x, ctx);
      });
      return x;
    });
  }

  runStep(x: WSeq, ctx: RunContext): WSeq {
    if (!ctx.emits || !this.copyEmitKeys.length) return super.runStep(x, ctx);
    return this.stackingEmits(ctx, (enter) => {
      if (this.warmUp) return this.warmUp.runStep(x, ctx, this.stateOf(ctx)[0]!, enter);
      this.children.forEach((l, i) => {
        enter(i);
        x = l.runStep(x, ctx);
      });
      return x;
    });
  }

  /** Runs the copies, each emitting in its own scope, then stacks their emits: [batch, time, numRepeats, ...]. */
  private stackingEmits(ctx: RunContext, run: (enter: (i: number) => void) => WSeq): WSeq {
    const scope = ctx.emitScope;
    let y: WSeq;
    try {
      y = run((i) => (ctx.emitScope = `${scope}\0${i}`));
    } finally {
      ctx.emitScope = scope;
    }
    for (const key of this.copyEmitKeys) {
      const parts = this.children.map((_, i) => {
        const k = `${key}${scope}\0${i}`, e = ctx.emits![k];
        delete ctx.emits![k];
        return e;
      });
      if (parts.some((p) => p)) ctx.emit(key, stackEmits(parts));
    }
    return y;
  }
}

// ---------------------------------------------------------------------------------------------
// Blockwise

const blockwiseFields = {
  /** The wrapped layer (its parameters sit at this layer's path). */
  childLayer: f.layer(),
  /** Steps per block; a multiple of the child's block size. */
  blockSize: f.int(1),
};

/**
 * Runs the child in blocks of `blockSize` steps, stepping it in layer mode too, so scratch
 * memory is bounded by the block size however long the input (the child must support step and
 * read no step constants; otherwise layer mode runs the child whole, as it does when emits are
 * asked of an Emit inside, whose layer-mode emit is of the whole sequence). Stepping goes
 * straight to the child.
 */
export class BlockwiseLayer extends Layer {
  private readonly inner: Layer;
  private readonly xb: WSeq = { values: 0, mask: 0, batch: 0, time: 0 };
  private readonly state = { slots: [] as StateBuffer[][] };

  constructor(config: Resolved<typeof blockwiseFields>, ctx: BuildContext) {
    super(config, ctx);
    this.inner = this.child(config.childLayer, 'child_layer', ctx.input, true);
    inheritMetadata(this, this.inner);
    if (config.blockSize % this.inner.blockSize !== 0) {
      throw this.error('BAD_CONFIG', `expected block_size to be a multiple of the child's block size ${this.inner.blockSize}, got ${config.blockSize}`);
    }
    this.blockSize = config.blockSize;
  }

  /** Warm-up steps its stepped input starts with, not spared it by the chain it sits in (Layer.seesWarmUp). */
  private warmUp = 0;

  seesWarmUp(steps: number): void {
    this.warmUp = steps;
    this.inner.seesWarmUp(steps);
  }

  runStep(x: WSeq, ctx: RunContext): WSeq {
    return this.inner.runStep(x, ctx);
  }

  runLayer(x: WSeq, ctx: RunContext): WSeq {
    const inner = this.inner;
    // A child reading step constants would get the whole sequence's with each block; an Emit
    // would emit each block's steps, stepping's warm-up and flush included.
    if (!inner.supportsStep || readsStepConstants(inner) || (ctx.emits && writesEmits(inner))) return inner.runLayer(x, ctx);
    const rt = ctx.rt, k = rt.k;
    const block = this.blockSize;
    const inRow = stepBytes(this.input), outRow = stepBytes(this.output);
    // The child steps as it does in step(): over the warm-up it is not spared (invalid steps),
    // the input, its input latency's flush, and invalid steps until outTime are out. Its
    // layer() output is its step outputs [skip, skip + outTime), invalid steps after it (the
    // contract: nothing valid comes after the flush).
    const lead = this.warmUp;
    const skip = inner.accumulatedOutputLatency(lead);
    const outTime = inner.layerOutputTime(x.time);
    const values = this.allocOutput(ctx, x.batch, outTime);
    const mask = ctx.alloc(x.batch * outTime);
    const outer = ctx.state;
    const slots = createStates(inner, x.batch, ctx);
    this.state.slots = slots;
    ctx.state = this.state;
    const xb = this.xb;
    xb.batch = x.batch;
    xb.time = block;
    let produced = 0; // step outputs so far, including the `skip` dropped ones
    try {
      for (let t = 0; t < lead + x.time + inner.inputLatency || produced < skip + outTime; t += block) {
        rt.arena.mark();
        // This block: `before` invalid steps, input steps [from, from + n), invalid steps.
        const before = Math.min(Math.max(lead - t, 0), block), from = Math.max(t - lead, 0);
        const n = Math.max(0, Math.min(block - before, x.time - from));
        xb.values = ctx.alloc(x.batch * block * inRow);
        xb.mask = ctx.alloc(x.batch * block);
        if (n === block) {
          k.seq_slice_time(x.batch, x.time, from, n, inRow, x.values, xb.values);
          k.seq_slice_time(x.batch, x.time, from, n, 1, x.mask, xb.mask);
        } else {
          const tv = ctx.alloc(x.batch * n * inRow), tm = ctx.alloc(x.batch * n);
          k.seq_slice_time(x.batch, x.time, from, n, inRow, x.values, tv);
          k.seq_slice_time(x.batch, x.time, from, n, 1, x.mask, tm);
          k.seq_pad_time(x.batch, n, before, block - before - n, inRow, tv, xb.values, 0, 0);
          k.seq_pad_time(x.batch, n, before, block - before - n, 1, tm, xb.mask, 0, 0);
        }
        const y = inner.runStep(xb, ctx);
        // Keep outputs [skip, skip + outTime) of the whole step output stream.
        const keepFrom = Math.max(skip - produced, 0);
        const keepTo = Math.min(y.time, skip + outTime - produced), kept = keepTo - keepFrom;
        if (kept > 0) {
          const sv = ctx.alloc(x.batch * kept * outRow), sm = ctx.alloc(x.batch * kept);
          k.seq_slice_time(x.batch, y.time, keepFrom, kept, outRow, y.values, sv);
          k.seq_slice_time(x.batch, y.time, keepFrom, kept, 1, y.mask, sm);
          k.seq_place_time(x.batch, kept, outTime, produced + keepFrom - skip, outRow, sv, values);
          k.seq_place_time(x.batch, kept, outTime, produced + keepFrom - skip, 1, sm, mask);
        }
        produced += y.time;
        rt.arena.release();
      }
    } finally {
      releaseStates(rt, slots);
      ctx.state = outer;
    }
    return this.result(values, mask, x.batch, outTime);
  }
}

// ---------------------------------------------------------------------------------------------
// Bidirectional

const bidirectionalFields = {
  /** Processes the sequence as it is. */
  forward: f.layer(),
  /** Processes the sequence reversed in (physical) time; its output is reversed back. */
  backward: f.layer(),
  /** How the two outputs are combined. */
  combination: combinationField(),
};

/**
 * forward(x) combined with reverse(backward(reverse(x))). Reversal flips the physical time
 * axis, padding included (so causal layers in the backward branch see the padding first, as in
 * the reference). Not steppable: the backward branch needs the end of the sequence.
 */
export class BidirectionalLayer extends Layer {
  private readonly fwd: Layer;
  private readonly bwd: Layer;
  private readonly combiner: Combiner;
  private readonly ptrs = [0, 0];
  private readonly masks = [0, 0];

  constructor(config: Resolved<typeof bidirectionalFields>, ctx: BuildContext) {
    super(config, ctx);
    this.fwd = this.child(config.forward, 'forward', ctx.input);
    this.bwd = this.child(config.backward, 'backward', ctx.input);
    if (!this.fwd.outputRatio.equals(this.bwd.outputRatio)) {
      throw this.error('BAD_CONFIG', `expected forward and backward to have the same output ratio, got ${this.fwd.outputRatio} and ${this.bwd.outputRatio}`);
    }
    if (this.fwd.output.dtype !== this.bwd.output.dtype) throw this.error('BAD_CONFIG', `expected forward and backward to output the same dtype, got ${this.fwd.output.dtype} and ${this.bwd.output.dtype}`);
    this.combiner = new Combiner(config.combination, [this.fwd.output.shape, this.bwd.output.shape], this.where, this.fwd.output.dtype);
    this.output = { shape: this.combiner.outShape, dtype: this.fwd.output.dtype };
    this.outputRatio = this.fwd.outputRatio;
    this.supportsStep = false;
    const pf = this.fwd.receptiveFieldPerStep, pb = this.bwd.receptiveFieldPerStep;
    const n = checkRfPhases(lcm(pf.size, pb.size), `${this.type} at ${this.where}`);
    const rf = new Map<number, ReceptiveField>();
    for (let s = 0; s < n; s++) {
      const b = pb.get((n - s) % pb.size) ?? null;
      rf.set(s, rfUnion(pf.get(s % pf.size) ?? null, b && [-b[1], -b[0]]));
    }
    this.receptiveFieldPerStep = rf;
  }

  layerOutputTime(time: number): number {
    return this.fwd.layerOutputTime(time);
  }

  private reverse(ctx: RunContext, x: WSeq, row: number): [number, number] {
    const v = ctx.alloc(x.batch * x.time * row), m = ctx.alloc(x.batch * x.time);
    ctx.rt.k.seq_reverse_time(x.batch, x.time, row, x.values, v);
    ctx.rt.k.seq_reverse_time(x.batch, x.time, 1, x.mask, m);
    return [v, m];
  }

  runLayer(x: WSeq, ctx: RunContext): WSeq {
    const yf = this.fwd.runLayer(x, ctx);
    const [fv, fm, time] = [yf.values, yf.mask, yf.time];
    const [rv, rm] = this.reverse(ctx, x, stepBytes(this.input));
    const yb = this.bwd.runLayer({ values: rv, mask: rm, batch: x.batch, time: x.time }, ctx);
    if (yb.time !== time) throw this.error('BAD_INPUT', `forward and backward produced different lengths (${time} and ${yb.time} steps)`);
    const [bv, bm] = this.reverse(ctx, yb, stepBytes(this.bwd.output));
    const rows = x.batch * time;
    const out = this.allocOutput(ctx, x.batch, time);
    this.ptrs[0] = fv;
    this.ptrs[1] = bv;
    this.combiner.run(ctx, rows, this.ptrs, out);
    this.masks[0] = fm;
    this.masks[1] = bm;
    return this.result(out, andMasks(ctx, this.masks, rows), x.batch, time);
  }
}

// ---------------------------------------------------------------------------------------------
// ParallelChannels

const parallelChannelsFields = {
  /** The layer applied to each group of channels, with shared parameters (at this layer's path). */
  childLayer: f.layer(),
  /** Number of groups the last channel axis is split into. */
  numGroups: f.int(1),
  /** How the group outputs are combined. */
  combination: combinationField(),
};

/**
 * Splits the last channel axis into numGroups groups, runs ONE child (shared parameters) on
 * each, and combines the results. The groups are folded into the batch ([G * B] items, group
 * major), so the child runs once per call and its state holds G * B items per stream batch B.
 */
export class ParallelChannelsLayer extends Layer {
  private readonly inner: Layer;
  private readonly split: BroadcastPlan;
  private readonly combiner: Combiner;
  private readonly groupSize: number;
  /** Where group i starts within an input row: i * groupStride values (the group's width on the last axis). */
  private readonly groupStride: number;
  /** Floats per input value (2 for complex64). */
  private readonly width: number;
  private readonly ptrs: number[];
  private readonly masks: number[];
  private readonly xg: WSeq = { values: 0, mask: 0, batch: 0, time: 0 };
  /** The emit keys under the child: its emits are stacked by group ([batch, time, numGroups, ...]). */
  private readonly innerEmitKeys: string[];

  constructor(config: Resolved<typeof parallelChannelsFields>, ctx: BuildContext) {
    super(config, ctx);
    const shape = ctx.input.shape;
    const g = config.numGroups;
    const last = shape[shape.length - 1];
    if (last === undefined || last % g !== 0) {
      throw this.error('BAD_CONFIG', `expected the last channel dimension to be divisible by num_groups=${g}, got channel shape ${show(shape)}`);
    }
    const groupShape = [...shape.slice(0, -1), last / g];
    this.groupSize = product(groupShape);
    this.groupStride = last / g;
    this.inner = this.child(config.childLayer, 'child_layer', { shape: groupShape, dtype: ctx.input.dtype }, true);
    this.childBatchFactor = g;
    // complex64 values are (re, im) float pairs: a trailing axis of 2 for the split.
    const w = (this.width = dtypeWidth(ctx.input.dtype));
    const floats = (s: readonly number[]) => (w > 1 ? [...s, w] : [...s]);
    this.split = new BroadcastPlan(floats(groupShape), { shape: floats(groupShape), perRow: true, strides: contiguousStrides(floats(shape)), rowStride: product(shape) * w }, { shape: floats(groupShape), perRow: true });
    this.combiner = new Combiner(config.combination, Array(g).fill(this.inner.output.shape), this.where, this.inner.output.dtype);
    inheritMetadata(this, this.inner);
    this.output = { shape: this.combiner.outShape, dtype: this.inner.output.dtype };
    this.ptrs = Array(g).fill(0);
    this.masks = Array(g).fill(0);
    this.innerEmitKeys = emitKeys(this.inner);
  }

  private apply(x: WSeq, ctx: RunContext, stepping: boolean): WSeq {
    const g = this.ptrs.length, rows = x.batch * x.time;
    const k = ctx.rt.k;
    const xg = this.xg;
    const w = this.width;
    xg.values = ctx.alloc(g * rows * this.groupSize * w * 4);
    xg.mask = ctx.alloc(g * rows);
    xg.batch = g * x.batch;
    xg.time = x.time;
    for (let i = 0; i < g; i++) {
      this.split.run(ctx, Op.copy, rows, x.values + 4 * w * i * this.groupStride, 0, xg.values + 4 * w * i * rows * this.groupSize);
      k.mem_copy(xg.mask + i * rows, x.mask, rows);
    }
    const y = stepping ? this.inner.runStep(xg, ctx) : this.inner.runLayer(xg, ctx);
    // The child's emits hold the groups as batch items: each group on a channel axis instead.
    if (ctx.emits) {
      for (const key of this.innerEmitKeys) {
        const e = ctx.emitted(key);
        if (e) ctx.emit(key, stackEmits(Array.from({ length: g }, (_, i) => e.slice(i * x.batch, (i + 1) * x.batch))));
      }
    }
    const outRows = x.batch * y.time, size = stepBytes(this.inner.output);
    for (let i = 0; i < g; i++) {
      this.ptrs[i] = y.values + i * outRows * size;
      this.masks[i] = y.mask + i * outRows;
    }
    const out = this.allocOutput(ctx, x.batch, y.time);
    this.combiner.run(ctx, outRows, this.ptrs, out);
    return this.result(out, andMasks(ctx, this.masks, outRows), x.batch, y.time);
  }

  runLayer(x: WSeq, ctx: RunContext): WSeq {
    return this.apply(x, ctx, false);
  }

  runStep(x: WSeq, ctx: RunContext): WSeq {
    return this.apply(x, ctx, true);
  }
}

export const combinatorDefs = [
  defineLayer({ type: 'Serial', fields: serialFields, create: (c, ctx) => new SerialLayer(c, ctx) }),
  defineLayer({ type: 'Parallel', fields: parallelFields, create: (c, ctx) => new ParallelLayer(c, ctx) }),
  defineLayer({ type: 'Residual', fields: residualFields, create: (c, ctx) => new ResidualLayer(c, ctx) }),
  defineLayer({ type: 'Repeat', fields: repeatFields, create: (c, ctx) => new RepeatLayer(c, ctx) }),
  defineLayer({ type: 'Blockwise', fields: blockwiseFields, create: (c, ctx) => new BlockwiseLayer(c, ctx) }),
  defineLayer({ type: 'Bidirectional', fields: bidirectionalFields, create: (c, ctx) => new BidirectionalLayer(c, ctx) }),
  defineLayer({ type: 'ParallelChannels', fields: parallelChannelsFields, create: (c, ctx) => new ParallelChannelsLayer(c, ctx) }),
  defineLayer({ type: 'CheckpointGradient', fields: checkpointGradientFields, create: (c, ctx) => new CheckpointGradientLayer(c, ctx) }),
];

/** `Serial([a, b, c])`: the layers applied in order. */
export function Serial(layers: LayerConfig[], opts: { name?: string } = {}): LayerConfig {
  return { type: 'Serial', layers, ...opts };
}

/** `Parallel([a, b], { combination: 'add' })`: every branch sees the input; outputs combined. */
export function Parallel(layers: LayerConfig[], opts: { combination?: Combination; name?: string } = {}): LayerConfig {
  return { type: 'Parallel', layers, ...opts };
}

/** `Residual([a, b])`: body(x) + x, or body(x) + shortcut(x) with `shortcutLayers`. */
export function Residual(layers: LayerConfig[], opts: { shortcutLayers?: LayerConfig[]; name?: string } = {}): LayerConfig {
  return { type: 'Residual', layers, ...opts };
}

/** `Repeat(layer, 4)`: the layer applied 4 times, each with its own (stacked) parameters. */
export function Repeat(layer: LayerConfig, numRepeats: number, opts: { name?: string } = {}): LayerConfig {
  return { type: 'Repeat', layer, numRepeats, ...opts };
}

/** `Blockwise(layer, 256)`: the layer run in blocks of 256 steps, in layer mode too (bounded memory). */
export function Blockwise(childLayer: LayerConfig, blockSize: number, opts: { name?: string } = {}): LayerConfig {
  return { type: 'Blockwise', childLayer, blockSize, ...opts };
}

/** `Bidirectional(forward, backward, { combination })`: not steppable. */
export function Bidirectional(forward: LayerConfig, backward: LayerConfig, opts: { combination?: Combination; name?: string } = {}): LayerConfig {
  return { type: 'Bidirectional', forward, backward, ...opts };
}

/** `ParallelChannels(layer, numGroups, { combination })`: one shared layer over channel groups. */
export function ParallelChannels(childLayer: LayerConfig, numGroups: number, opts: { combination?: Combination; name?: string } = {}): LayerConfig {
  return { type: 'ParallelChannels', childLayer, numGroups, ...opts };
}

/** `CheckpointGradient(layer)`: identity wrapper (gradient checkpointing is a training concern). */
export function CheckpointGradient(layer: LayerConfig, opts: { name?: string } = {}): LayerConfig {
  return { type: 'CheckpointGradient', layer, ...opts };
}
