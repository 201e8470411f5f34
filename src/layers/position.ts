// Position embeddings and timing signals. Port of sequence_layers/jax/position.py.
//
// Exports (sorted): AddTimingSignal, ApplyRotaryPositionalEncoding.
//
// Both layers give each step a position and add (timing signal) or apply (rotation) a function
// of it. By default positions count VALID steps: the k-th valid step of an item gets position
// k - 1 and an invalid step repeats the previous position, so a step's output depends on every
// earlier mask (receptive field (-inf, 0)); the count lives in an int32 state [batch, 1] that
// starts at -1. With onlyAdvancePositionForValidTimesteps = false the position is the physical
// step index (receptive field (0, 0), a plain step counter starting at 0). Positions are
// counted from the mask only, so values at invalid steps (NaN included) stay in their rows.
import { channelAxes, showFullShape } from '../axes.js';
import { BroadcastPlan, Op } from '../broadcast.js';
import { builder, defineLayer, f, ref, type LayerConfig, type Resolved } from '../config.js';
import { show } from '../errors.js';
import { ones } from '../initializers.js';
import {
  expectInput, product, SharedRunLayer, writeStepConstant, type BuildContext, type ConstantArray, type Constants, type Layer, type Derived, type Param, type RunContext, type StateSpec, type WSeq,
} from '../layer.js';
import { rfMap } from '../receptive-field.js';
import { Sequence } from '../sequence.js';

/** Receptive field of a layer whose positions count valid steps: every earlier mask matters. */
const VALID_COUNT_RF = rfMap([[-Infinity, 0]]);

/**
 * Base of the position layers: a float32 input, and step positions counted from the mask
 * (valid-count mode) or the step index, from a running int32 counter [batch, 1] when stepping.
 */
abstract class PositionLayer extends SharedRunLayer {
  constructor(config: LayerConfig, ctx: BuildContext, protected readonly validOnly: boolean) {
    super(config, ctx);
    expectInput(this, 'float32');
    if (validOnly) this.receptiveFieldPerStep = VALID_COUNT_RF;
    this.skipsWarmUp = !validOnly;
  }

  /** Whether this layer counts positions itself (false when they come from constants). */
  protected get counts(): boolean {
    return true;
  }

  /** Physical positions of the warm-up steps before it, counted from -steps so the first valid step is at 0. */
  private warmUp = 0;

  /** Not spared `steps` warm-up steps (see Layer.seesWarmUp): physical positions start at -steps. */
  seesWarmUp(steps: number): void {
    if (!this.validOnly) this.warmUp = steps;
  }

  stateSpecs(batch: number): StateSpec[] {
    return this.counts ? [{ name: 'position', dtype: 'int32', shape: [batch, 1], fill: this.validOnly ? -1 : -this.warmUp }] : [];
  }

  /** Positions f32 [batch, time] of x's steps (scratch); step() advances the state. */
  protected positions(x: WSeq, ctx: RunContext, step: boolean): number {
    const rt = ctx.rt;
    let counter: number;
    if (step) {
      counter = this.stateOf(ctx)[0]!.ptr;
    } else {
      counter = ctx.alloc(x.batch * 4);
      rt.i32.fill(this.validOnly ? -1 : 0, counter >> 2, (counter >> 2) + x.batch);
    }
    const pos = ctx.alloc(x.batch * x.time * 4);
    rt.k.seq_positions(x.batch, x.time, this.validOnly ? 1 : 0, x.mask, counter, pos);
    return pos;
  }
}

// ---------------------------------------------------------------------------------------------
// AddTimingSignal

const timingFields = {
  /** Shortest timescale of the sinusoids (default 1, in steps). */
  minTimescale: f.num().default(1),
  /** Longest timescale of the sinusoids (default 1e4, in steps). */
  maxTimescale: f.num().default(1e4),
  /** Multiply the signal by a learned scalar `scale` (default false). */
  trainableScale: f.bool().default(false),
  /** Channel axes the signal varies along (an int or a list; negative counts from the end); null = all (default). */
  axes: f.custom<number | number[]>('an integer or a list of integers', (v) =>
    Number.isInteger(v) || (Array.isArray(v) && v.every((a) => Number.isInteger(a))) ? (v as number | number[]) : undefined,
  ).opt(),
  /** Count only valid steps as positions (default true); false: the physical step index. */
  onlyAdvancePositionForValidTimesteps: f.bool().default(true),
  /** sharding (of `scale`): any, no effect (see `ref` in config.ts for these reference fields). */
  sharding: ref.sharding(),
  /** param_dtype, the dtype of `scale` and of the signal: "float32" only. */
  paramDtype: ref.paramDtype(),
};

/**
 * y = x + scale * signal(position), tensor2tensor's timing signal: over n = the number of
 * channel entries along `axes` (all by default), h = n / 2 timescales
 * inv_i = minTimescale * exp(-i * ln(maxTimescale / minTimescale) / max(h - 1, 1)), and
 * signal = [sin(pos * inv_0..h-1) ‖ cos(pos * inv_0..h-1)] (zero-padded to n when n is odd),
 * laid out over the `axes` entries and broadcast along the other channel axes.
 *
 * Parameters: `scale` [] (only when trainableScale; initialised to 1).
 * State: `position` int32 [batch, 1] (see the file comment).
 */
export class AddTimingSignalLayer extends PositionLayer {
  private readonly scale: Param | null;
  private readonly invTimescales: Derived;
  private readonly invValues: Float32Array;
  /** Entries of the signal per step. */
  private readonly n: number;
  private readonly add: BroadcastPlan;

  constructor(config: Resolved<typeof timingFields>, ctx: BuildContext) {
    super(config, ctx, config.onlyAdvancePositionForValidTimesteps);
    const { minTimescale, maxTimescale } = config;
    if (!(minTimescale > 0) || !(maxTimescale > 0)) {
      throw this.error('BAD_CONFIG', `min_timescale and max_timescale: expected positive numbers, got ${minTimescale} and ${maxTimescale}`);
    }
    const shape = this.input.shape;
    const target = alongAxes(this, shape, config.axes);
    this.n = product(target);
    const h = this.n >> 1;
    // As the reference computes them in float32 (numpy): f32(i) * f32(-increment), exp, * min.
    const increment = Math.fround(-Math.log(maxTimescale / minTimescale) / Math.max(h - 1, 1));
    this.invValues = Float32Array.from({ length: h }, (_, i) => Math.fround(minTimescale) * Math.fround(Math.exp(Math.fround(i * increment))));
    this.invTimescales = this.derive(Math.max(h, 1) * 4);
    this.scale = config.trainableScale ? this.param('scale', [], ones) : null;
    this.add = new BroadcastPlan(shape, { shape, perRow: true }, { shape: target, perRow: true });
  }

  prepare(): void {
    this.rt.f32.set(this.invValues, this.invTimescales.ptr >> 2);
  }

  protected run(x: WSeq, ctx: RunContext, step: boolean): WSeq {
    const k = ctx.rt.k;
    const rows = x.batch * x.time;
    const pos = this.positions(x, ctx, step);
    const signal = ctx.alloc(rows * this.n * 4);
    const scale = this.scale ? ctx.rt.f32[this.scale.ptr >> 2]! : 1;
    k.f32_timing_signal(rows, this.n, pos, this.invTimescales.ptr, scale, signal);
    const y = this.allocOutput(ctx, x.batch, x.time);
    this.add.run(ctx, Op.add, rows, x.values, signal, y);
    return this.result(y, x.mask, x.batch, x.time);
  }
}

/**
 * The reference's match_shape_along_axes: `shape` on the given channel axes, 1 elsewhere (all
 * of `shape` when axes is null).
 */
function alongAxes(layer: Layer, shape: readonly number[], axes: number | number[] | undefined): number[] {
  if (axes === undefined) return [...shape];
  const out = shape.map(() => 1);
  for (const a of typeof axes === 'number' ? [axes] : axes) {
    if (a < -shape.length || a >= shape.length) {
      throw layer.error('BAD_CONFIG', `axes: expected channel axes in [${-shape.length}, ${shape.length - 1}] for the input channel shape ${show(shape)}, got ${show(axes)}`);
    }
    const i = a < 0 ? a + shape.length : a;
    out[i] = shape[i]!;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// ApplyRotaryPositionalEncoding

const ropeFields = {
  /** Longest wavelength of the rotations: timescale_i = maxWavelength^(2i / d) (in steps). */
  maxWavelength: f.num(),
  /** The rotated axis, indexed over [batch, time, ...channels] (default -1, the last); must be a channel axis of even size. */
  axis: f.int(-64, 64).default(-1),
  /** Count only valid steps as positions (default true); false: the physical step index. Must be false with positionsName. */
  onlyAdvancePositionForValidTimesteps: f.bool().default(true),
  /** Compute the rotation in at least float32 (default true; inputs are float32 here, so it has no effect). */
  positionsInAtLeastFp32: f.bool().default(true),
  /** Read the positions [batch, time] (int32 or float32; batch and time may be 1) from this constants key instead of counting (default null). */
  positionsName: f.str().opt(),
};

/**
 * Rotary position embedding (RoPE) with split halves: along `axis` (size d), x1 = the first
 * d/2 entries and x2 = the rest, a_i = position / maxWavelength^(2i/d), and
 * y = [x1 cos a - x2 sin a ‖ x2 cos a + x1 sin a], the same angles for every other channel
 * axis. https://arxiv.org/abs/2104.09864
 *
 * No parameters. State: `position` int32 [batch, 1] (see the file comment), none with
 * positionsName (the positions then come with each call, streamed block by block).
 */
export class ApplyRotaryPositionalEncodingLayer extends PositionLayer {
  private readonly timescale: Derived;
  private readonly timescaleValues: Float32Array;
  private readonly pre: number;
  private readonly half: number;
  private readonly post: number;
  private readonly positionsName: string | undefined;

  constructor(config: Resolved<typeof ropeFields>, ctx: BuildContext) {
    super(config, ctx, config.onlyAdvancePositionForValidTimesteps);
    const shape = this.input.shape;
    this.positionsName = config.positionsName;
    this.checksStep = !this.counts;
    // Positions from the constants come with each block; nothing is counted.
    this.skipsWarmUp &&= this.counts;
    this.readsStepConstants = !this.counts;
    if (config.positionsName !== undefined && config.onlyAdvancePositionForValidTimesteps) {
      throw this.error('BAD_CONFIG', `only_advance_position_for_valid_timesteps: expected false with positions_name ${show(config.positionsName)} (the positions come from constants), got true`);
    }
    const [k] = channelAxes(this, config.axis, shape, (e) => `axis: expected a channel axis of ${showFullShape(shape)} (${e.range}), got ${e.value}`) as [number];
    const d = shape[k]!;
    if (d % 2 !== 0) throw this.error('BAD_CONFIG', `axis: expected an even size along axis ${config.axis}, got ${d} (input channel shape ${show(shape)})`);
    if (!(config.maxWavelength > 0)) throw this.error('BAD_CONFIG', `max_wavelength: expected a positive number, got ${config.maxWavelength}`);
    this.pre = product(shape.slice(0, k));
    this.half = d / 2;
    this.post = product(shape.slice(k + 1));
    // As the reference: exponents 2i/d in float32, then max_wavelength ** exponent.
    this.timescaleValues = Float32Array.from({ length: this.half }, (_, i) => Math.pow(config.maxWavelength, Math.fround(Math.fround(2 * i) / d)));
    this.timescale = this.derive(this.half * 4);
  }

  protected override get counts(): boolean {
    return this.positionsName === undefined;
  }

  prepare(): void {
    this.rt.f32.set(this.timescaleValues, this.timescale.ptr >> 2);
  }

  /** The positions constant for an input of batch x time steps, or MISSING_CONSTANT. */
  private positionsConstant(batch: number, time: number, constants: Constants): Sequence | ConstantArray {
    return this.stepConstant(constants, this.positionsName!, 'positions', batch, time);
  }

  validateStep(batch: number, time: number, ctx: RunContext): void {
    if (!this.counts) this.positionsConstant(batch, time, ctx.constants);
  }

  /** Positions [batch, time] from constants, as floats in scratch (batch or time may broadcast). */
  private givenPositions(x: WSeq, ctx: RunContext): number {
    const pos = ctx.alloc(x.batch * x.time * 4);
    // Once per call, at the boundary (ints convert natively in the typed-array copy).
    writeStepConstant(this.positionsConstant(x.batch, x.time, ctx.constants), x.batch, x.time, ctx.rt.f32, pos >> 2);
    return pos;
  }

  protected run(x: WSeq, ctx: RunContext, step: boolean): WSeq {
    const pos = this.counts ? this.positions(x, ctx, step) : this.givenPositions(x, ctx);
    const y = this.allocOutput(ctx, x.batch, x.time);
    ctx.rt.k.f32_rope(x.batch * x.time, this.pre, this.half, this.post, pos, this.timescale.ptr, x.values, y, ctx.alloc(Math.max(1, 2 * this.half) * 4));
    return this.result(y, x.mask, x.batch, x.time);
  }
}

const AddTimingSignalDef = defineLayer({ type: 'AddTimingSignal', fields: timingFields, create: (c, ctx) => new AddTimingSignalLayer(c, ctx) });
const ApplyRotaryPositionalEncodingDef = defineLayer({
  type: 'ApplyRotaryPositionalEncoding', fields: ropeFields, create: (c, ctx) => new ApplyRotaryPositionalEncodingLayer(c, ctx),
});

export const positionDefs = [AddTimingSignalDef, ApplyRotaryPositionalEncodingDef];

export const AddTimingSignal = builder(AddTimingSignalDef);
export const ApplyRotaryPositionalEncoding = builder(ApplyRotaryPositionalEncodingDef);
