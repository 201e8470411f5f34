// Conditioning a sequence on another one (or on a per-item array). Port of
// sequence_layers/jax/conditioning.py.
//
// Exports (sorted): Conditioning, CONDITIONING_COMBINATIONS, CONDITIONING_PROJECTIONS.
//
// y = Combine(x, Project(c)) step by step, with c from the constants under conditioningName:
// a Sequence [batch, time, ...Cc] time-synchronised with x, or an array [batch, ...Cc] (one
// vector per item, broadcast over time). c's batch and time may also be 1 (broadcast). The
// layer is stateless except for a non-streamed Sequence while stepping: the full conditioning
// is given with every step and the layer slices the block it needs with an int32 time index
// [batch] in its state (steps past its end are invalid). With streaming, each step gets just
// its block of c. The output mask is x's AND c's. Ratio 1, receptive field (0, 0).
import { broadcastShapes, broadcastStrides, contiguousStrides, MAX_STRIDED_RANK, Op, type OpCode } from '../broadcast.js';
import { builder, defineLayer, f, normalizeConfig, ref, type Resolved } from '../config.js';
import { show } from '../errors.js';
import { describeConstant, expectInput, Layer, MAX_STEP_COUNT, product, sizeOrOne, setSeq, SharedRunLayer, type BuildContext, type ConstantArray, type Constants, type Derived, type RunContext, type StateSpec, type WSeq } from '../layer.js';
import { Sequence } from '../sequence.js';
import { DenseShaped } from './dense.js';

/** Projections of the conditioning: none, DenseShaped to P, DenseShaped to [2, ...P] (scale, shift). */
export const CONDITIONING_PROJECTIONS = ['identity', 'linear', 'linear_affine'] as const;
/** How the projected conditioning combines with x (broadcasting channel shapes as numpy). */
export const CONDITIONING_COMBINATIONS = ['add', 'concat', 'affine', 'affine_shift', 'affine_scale', 'mul', 'concat_before'] as const;
type Projection = (typeof CONDITIONING_PROJECTIONS)[number];
type Combination = (typeof CONDITIONING_COMBINATIONS)[number];

/** An enum field that accepts the reference's names in either case ("LINEAR" or "linear"). */
const enumField = <const V extends string>(values: readonly V[]) =>
  f.custom<V>(`one of ${values.map((v) => JSON.stringify(v)).join(', ')} (any case)`, (v) =>
    typeof v === 'string' && values.includes(v.toLowerCase() as V) ? (v.toLowerCase() as V) : undefined,
  );

const conditioningFields = {
  /** Constants key of the conditioning: a Sequence [batch, time, ...Cc] or an array [batch, ...Cc] (float32). */
  conditioningName: f.str(),
  /** 'identity', 'linear' (DenseShaped to projectionChannelShape) or 'linear_affine' (to [2, ...projectionChannelShape]). */
  projection: enumField(CONDITIONING_PROJECTIONS),
  /** 'add', 'mul', 'concat', 'concat_before' (c first), 'affine' (needs linear_affine), 'affine_shift' or 'affine_scale' (need linear). */
  combination: enumField(CONDITIONING_COMBINATIONS),
  /** Channel shape the linear projections map to; null = x's channel shape (default). */
  projectionChannelShape: f.intList(1).opt(),
  /** The conditioning Sequence arrives block by block with each step (default false: whole, sliced by the layer). */
  streaming: f.bool().default(false),
  /** Added to the scale of 'affine' and 'affine_scale' (default 1, so zero-initialised weights start near identity). */
  affineScaleOffset: f.num().default(1),
  /** compute_dtype: null or "float32" only (see `ref` in config.ts for these reference fields; they configure the linear projection). */
  computeDtype: ref.computeDtype(),
  /** param_dtype: "float32" only. */
  paramDtype: ref.paramDtype(),
  /** kernel_init: null only (the reference's default). */
  kernelInit: ref.init(),
  /** kernel_sharding: any, no effect. */
  kernelSharding: ref.sharding(),
  /** bias_init: null only (the reference's default). */
  biasInit: ref.init(),
  /** bias_sharding: any, no effect. */
  biasSharding: ref.sharding(),
};

/** An operand of a SeqBroadcast: channel strides in the iteration shape, and elements per step. */
interface SeqOperand {
  readonly strides: readonly number[];
  readonly row: number;
}

/**
 * y = op(a, b) over [batch, time, ...shape] in one f32_strided_binary call, where an operand
 * may be constant along batch or time (a conditioning array has no time axis; a Sequence may
 * have batch or time 1). Channel strides are fixed at build time; the batch and time sizes and
 * strides are filled in per call (no JS allocation).
 */
class SeqBroadcast {
  private readonly rank: number;
  private readonly arrays: Int32Array; // [shape | sa | sb | sy], each [batch, time, ...channels]
  private readonly rows: readonly [number, number, number];

  constructor(shape: readonly number[], a: SeqOperand, b: SeqOperand, y: SeqOperand) {
    this.rank = shape.length + 2;
    this.arrays = Int32Array.from([0, 0, ...shape, 0, 0, ...a.strides, 0, 0, ...b.strides, 0, 0, ...y.strides]);
    this.rows = [a.row, b.row, y.row];
  }

  /**
   * Runs over [batch, time, ...shape]; a and b have [aBatch, aTime] and [bBatch, bTime] steps
   * (each batch or 1, time or 1), y all of them.
   */
  run(ctx: RunContext, op: OpCode, batch: number, time: number, a: number, aBatch: number, aTime: number, b: number, bBatch: number, bTime: number, y: number): void {
    const r = this.rank, arr = this.arrays;
    arr[0] = batch;
    arr[1] = time;
    this.setStrides(1, this.rows[0], aBatch, aTime, time);
    this.setStrides(2, this.rows[1], bBatch, bTime, time);
    this.setStrides(3, this.rows[2], batch, time, time);
    const ptr = ctx.alloc(arr.length * 4);
    ctx.rt.i32.set(arr, ptr >> 2);
    ctx.rt.k.f32_strided_binary(op, r, ptr, a, ptr + r * 4, b, ptr + 2 * r * 4, y, ptr + 3 * r * 4);
  }

  /** The batch and time strides of operand i (1 a, 2 b, 3 y): steps `row` floats, nb items and nt steps (1: broadcast). */
  private setStrides(i: number, row: number, nb: number, nt: number, time: number): void {
    const at = i * this.rank;
    this.arrays[at] = nb === 1 ? 0 : nt === 1 ? row : time * row;
    this.arrays[at + 1] = nt === 1 ? 0 : row;
  }
}

/** The conditioning of one call in scratch: values [batch, time, ...Cc], and its mask [x.batch, x.time] (0 = all valid). */
interface Loaded {
  values: number;
  mask: number;
  batch: number;
  time: number;
}

/** An operand of a combination step: the input, the output, the projected conditioning, or the scale offset (one float). */
type Operand = 'x' | 'y' | 'c' | 'offset';

/** A step of the combination: out = op(a, b), b read `bOffset` floats into its steps. */
interface CombineStep {
  readonly plan: SeqBroadcast;
  readonly op: OpCode;
  readonly a: Operand;
  readonly b: Operand;
  readonly bOffset: number;
  /** Written at this offset in floats into an output step (concat), or null: in place into a (the scale offset). */
  readonly yOffset: number | null;
}

/**
 * y = Combine(x, Project(c)) per step (see the file comment). Projections: 'identity';
 * 'linear' = DenseShaped(P) with P = projectionChannelShape (default x's channel shape);
 * 'linear_affine' = DenseShaped([2, ...P]) (index 0 = scale, 1 = shift). Combinations, with
 * numpy broadcasting of channel shapes: 'add' and 'affine_shift' x + c, 'mul' x * c,
 * 'affine_scale' x * (c + affineScaleOffset), 'affine' x * (scale + affineScaleOffset) + shift,
 * 'concat' [x ‖ c] and 'concat_before' [c ‖ x] along the last axis (the other axes broadcast;
 * a scalar channel shape counts as [1]).
 *
 * Parameters (linear projections only): `dense.kernel` [*Cc, *P'] and `dense.bias` [*P'] with
 * P' the projected shape (an empty Cc or P' counts as [1], as DenseShaped). State: `time_index`
 * int32 [batch] for a non-streamed conditioning Sequence, else none.
 * The conditioning must be in build()'s constants (its shape sets the output shape).
 */
export class ConditioningLayer extends SharedRunLayer {
  private readonly name: string;
  private readonly kind: 'sequence' | 'array';
  private readonly streaming: boolean;
  /** Channel shape of the conditioning, and of the projected conditioning. */
  private readonly cShape: readonly number[];
  private readonly pShape: readonly number[];
  private readonly dense: Layer | null;
  private readonly steps: CombineStep[] = [];
  private readonly scaleOffset: Derived;
  private readonly offsetValue: number;
  /** The conditioning of the current call (reused descriptor), and as the projection sees it. */
  private readonly loaded: Loaded = { values: 0, mask: 0, batch: 0, time: 0 };
  private readonly conditioning: WSeq = { values: 0, mask: 0, batch: 0, time: 0 };

  constructor(config: Resolved<typeof conditioningFields>, ctx: BuildContext) {
    super(config, ctx);
    const { projection, combination } = config;
    checkModes(this, projection, combination);
    expectInput(this, 'float32');
    this.name = config.conditioningName;
    this.streaming = config.streaming;
    this.offsetValue = config.affineScaleOffset;

    const c = this.constant(this.buildConstants, this.name, 'a Sequence [batch, time, ...channels] or an array [batch, ...channels], float32, in build() constants (its shape sets the output shape)');
    if (!isFloat(c) || c.shape.length < 1) {
      throw this.error('MISSING_CONSTANT', `constants.${this.name}: expected a float32 Sequence [batch, time, ...channels] or a float32 array [batch, ...channels], got ${describeConstant(c)}`);
    }
    this.kind = c instanceof Sequence ? 'sequence' : 'array';
    this.skipsWarmUp = this.kind === 'sequence' && !this.streaming; // it counts steps into the sequence
    this.readsStepConstants = this.kind === 'sequence' && this.streaming;
    this.cShape = c instanceof Sequence ? c.channelShape : c.shape.slice(1);

    const xShape = this.input.shape;
    const p = config.projectionChannelShape ?? xShape;
    this.pShape = projection === 'identity' ? this.cShape : projection === 'linear' ? p : [2, ...p];
    this.dense = projection === 'identity'
      ? null
      : this.child(normalizeConfig(DenseShaped({ outputShape: [...this.pShape] }), `${this.where}.dense`), 'dense', { shape: this.cShape, dtype: 'float32' });
    this.scaleOffset = this.derive(4);
    this.checksStep = true;
    this.output = { shape: this.plan(combination, xShape), dtype: 'float32' };
  }

  /** Builds the combination steps and returns the output channel shape. */
  private plan(combination: Combination, xShape: readonly number[]): number[] {
    const pShape = this.pShape;
    const cRow = product(pShape);
    const fail = (x: readonly number[], c: readonly number[]) =>
      this.error('BAD_CONFIG', `combination ${show(combination)}: expected channel shapes that broadcast, got x ${show(x)} and the projected conditioning ${show(c)}`);
    const step = (s: Omit<CombineStep, 'bOffset'> & Partial<CombineStep>) => this.steps.push({ bOffset: 0, ...s });
    const operand = (shape: readonly number[], out: readonly number[], row: number, strides?: readonly number[]): SeqOperand => ({
      strides: strides ?? broadcastStrides(shape, out), row,
    });
    const outputOf = (c: readonly number[]) => {
      const out = broadcastShapes([xShape, c]);
      if (!out) throw fail(xShape, c);
      checkRank(this, out);
      return out;
    };
    // scale += offset in place (the projection's own scratch output) for the affine combinations.
    const addOffset = (shape: readonly number[]) => {
      const view = operand(shape, shape, cRow, contiguousStrides(shape));
      step({ plan: new SeqBroadcast(shape, view, operand([], shape, 0), view), op: Op.add, a: 'c', b: 'offset', yOffset: null });
    };
    switch (combination) {
      case 'add':
      case 'affine_shift':
      case 'mul':
      case 'affine_scale': {
        const out = outputOf(pShape);
        if (combination === 'affine_scale') addOffset(pShape);
        const op = combination === 'mul' || combination === 'affine_scale' ? Op.mul : Op.add;
        step({ plan: new SeqBroadcast(out, operand(xShape, out, product(xShape)), operand(pShape, out, cRow), operand(out, out, product(out))), op, a: 'x', b: 'c', yOffset: 0 });
        return out;
      }
      case 'affine': {
        const half = pShape.slice(1);
        const out = outputOf(half);
        const h = product(half);
        addOffset(half); // the scale: index 0 of the projection's leading axis
        const full = operand(out, out, product(out));
        step({ plan: new SeqBroadcast(out, operand(xShape, out, product(xShape)), operand(half, out, cRow), full), op: Op.mul, a: 'x', b: 'c', yOffset: 0 });
        step({ plan: new SeqBroadcast(out, full, operand(half, out, cRow), full), op: Op.add, a: 'y', b: 'c', bOffset: h, yOffset: 0 });
        return out;
      }
      case 'concat':
      case 'concat_before': {
        // A scalar channel shape concatenates as [1].
        const xs = xShape.length ? xShape : [1], cs = pShape.length ? pShape : [1];
        const outer = broadcastShapes([xs.slice(0, -1), cs.slice(0, -1)]);
        if (!outer) throw fail(xs.slice(0, -1), cs.slice(0, -1));
        const xi = xs.at(-1)!, ci = cs.at(-1)!;
        const out = [...outer, xi + ci];
        checkRank(this, out);
        const yStrides = contiguousStrides(out);
        // Two broadcasting copies into the output, side by side along its last axis.
        const part = (a: 'x' | 'c', at: number) => {
          const [shape, row, inner] = a === 'x' ? [xs, product(xShape), xi] : [cs, cRow, ci];
          const target = [...outer, inner];
          step({
            plan: new SeqBroadcast(target, operand(shape, target, row), operand([], target, 0), { strides: yStrides, row: product(out) }),
            op: Op.copy, a, b: 'offset', yOffset: at,
          });
        };
        if (combination === 'concat') {
          part('x', 0);
          part('c', xi);
        } else {
          part('c', 0);
          part('x', ci);
        }
        return out;
      }
    }
  }

  stateSpecs(batch: number): StateSpec[] {
    return this.kind === 'sequence' && !this.streaming ? [{ name: 'time_index', dtype: 'int32', shape: [batch], min: 0 }] : [];
  }

  prepare(): void {
    this.rt.f32[this.scaleOffset.ptr >> 2] = this.offsetValue;
  }

  /** What the constant must look like for an input of batch x time steps (for messages). */
  private expects(batch: number, time: number, sliced: boolean): string {
    const dims = (d: readonly string[]) => `[${[...d, ...this.cShape.map(String)].join(', ')}]`;
    const b = sizeOrOne(batch);
    if (this.kind === 'array') return `an array ${dims([b])} float32`;
    return `a Sequence ${dims([b, sliced ? 'time' : sizeOrOne(time)])} float32`;
  }

  /**
   * The conditioning of a call on batch x time input steps, or MISSING_CONSTANT. `sliced`: a
   * whole Sequence read block by block while stepping (any length).
   */
  private conditioningFor(batch: number, time: number, constants: Constants, sliced: boolean): Sequence | ConstantArray {
    // The expected shape is spelled out only for a message (this runs at every step).
    const c = Object.hasOwn(constants, this.name) ? constants[this.name]! : this.constant(constants, this.name, this.expects(batch, time, sliced));
    const seq = c instanceof Sequence;
    const cb = c.shape[0]!, ct = seq ? c.time : 1;
    if (
      seq !== (this.kind === 'sequence') || !isFloat(c) || (cb !== 1 && cb !== batch) || (!sliced && ct !== 1 && ct !== time) ||
      !shapeFrom(c.shape, seq ? 2 : 1, this.cShape)
    ) {
      throw this.error('MISSING_CONSTANT', `constants.${this.name}: expected ${this.expects(batch, time, sliced)}, got ${describeConstant(c)}`);
    }
    return c;
  }

  validateStep(batch: number, time: number, ctx: RunContext): void {
    this.conditioningFor(batch, time, ctx.constants, this.kind === 'sequence' && !this.streaming);
  }

  /** Copies the conditioning of this call into scratch (once per call, at the JS boundary). */
  private load(x: WSeq, ctx: RunContext, step: boolean): Loaded {
    const rt = ctx.rt;
    const whole = step && this.kind === 'sequence' && !this.streaming;
    const c = this.conditioningFor(x.batch, x.time, ctx.constants, whole);
    const seq = c instanceof Sequence;
    const cb = c.shape[0]!, ct = seq ? c.time : 1;
    // Read block by block, except a Sequence of one step, which every step sees (as in layer()).
    const sliced = whole && ct !== 1;
    const row = product(this.cShape);
    if (!sliced) {
      const values = ctx.alloc(c.values.length * 4);
      rt.f32.set(c.values, values >> 2);
      if (!seq) return setSeq(this.loaded, values, 0, cb, 1);
      // The mask as [x.batch, x.time] for mask_and (broadcast items or steps repeated).
      const mask = ctx.alloc(x.batch * x.time);
      if (cb === x.batch && ct === x.time) rt.u8.set(c.mask, mask);
      else {
        for (let b = 0; b < x.batch; b++) {
          const src = cb === 1 ? 0 : b;
          if (ct === 1) rt.u8.fill(c.mask[src]!, mask + b * x.time, mask + (b + 1) * x.time);
          else rt.u8.set(c.mask.subarray(src * ct, (src + 1) * ct), mask + b * x.time);
        }
      }
      return setSeq(this.loaded, values, mask, cb, ct);
    }
    // Non-streamed Sequence while stepping (so c is a Sequence): the block [index, index + time) of each item.
    const cm = (c as Sequence).mask;
    const index = this.stateOf(ctx)[0]!.ptr >> 2;
    const values = ctx.alloc(x.batch * x.time * row * 4);
    const mask = ctx.alloc(x.batch * x.time);
    for (let b = 0; b < x.batch; b++) {
      const src = cb === 1 ? 0 : b;
      const start = rt.i32[index + b]!;
      const n = Math.max(0, Math.min(x.time, ct - start));
      const from = src * ct + start;
      // A small block by plain loops: subarray views would allocate at every step.
      const dv = (values >> 2) + b * x.time * row, dm = mask + b * x.time, cv = c.values as Float32Array;
      if (n * row > 1024) rt.f32.set(cv.subarray(from * row, (from + n) * row), dv);
      else for (let k = 0; k < n * row; k++) rt.f32[dv + k] = cv[from * row + k]!;
      for (let k = 0; k < n; k++) rt.u8[dm + k] = cm[from + k]!;
      // Steps past the end of the conditioning: invalid (and zero).
      rt.f32.fill(0, (values >> 2) + (b * x.time + n) * row, (values >> 2) + (b + 1) * x.time * row);
      rt.u8.fill(0, mask + b * x.time + n, mask + (b + 1) * x.time);
      rt.i32[index + b] = Math.min(start + x.time, MAX_STEP_COUNT);
    }
    return setSeq(this.loaded, values, mask, x.batch, x.time);
  }

  protected run(x: WSeq, ctx: RunContext, step: boolean): WSeq {
    const c = this.load(x, ctx, step);
    let cv = c.values;
    if (this.dense) {
      cv = this.dense.runLayer(setSeq(this.conditioning, c.values, c.mask, c.batch, c.time), ctx).values;
    }
    const y = this.allocOutput(ctx, x.batch, x.time);
    for (const s of this.steps) {
      const a = this.pointer(s.a, x, y, cv), b = this.pointer(s.b, x, y, cv) + 4 * s.bOffset;
      const ab = s.a === 'c' ? c.batch : x.batch, at = s.a === 'c' ? c.time : x.time;
      if (s.yOffset === null) s.plan.run(ctx, s.op, c.batch, c.time, a, ab, at, b, 1, 1, a);
      else s.plan.run(ctx, s.op, x.batch, x.time, a, ab, at, b, s.b === 'c' ? c.batch : 1, s.b === 'c' ? c.time : 1, y + 4 * s.yOffset);
    }
    let mask = x.mask;
    if (c.mask) {
      mask = ctx.alloc(x.batch * x.time);
      ctx.rt.k.mask_and(x.batch * x.time, x.mask, c.mask, mask);
    }
    return this.result(y, mask, x.batch, x.time);
  }

  private pointer(o: Operand, x: WSeq, y: number, c: number): number {
    return o === 'x' ? x.values : o === 'y' ? y : o === 'c' ? c : this.scaleOffset.ptr;
  }
}

const isFloat = (c: Sequence | ConstantArray) => (c instanceof Sequence ? c.dtype === 'float32' : c.values instanceof Float32Array);

/** Whether shape[from:] equals `expected` (without slicing). */
function shapeFrom(shape: readonly number[], from: number, expected: readonly number[]): boolean {
  if (shape.length - from !== expected.length) return false;
  for (let i = 0; i < expected.length; i++) if (shape[from + i] !== expected[i]) return false;
  return true;
}

/** The reference's _validate: which projection each combination needs. */
function checkModes(layer: Layer, projection: Projection, combination: Combination): void {
  const need = (p: Projection) => {
    if (projection !== p) throw layer.error('BAD_CONFIG', `combination ${show(combination)}: expected projection ${show(p)}, got ${show(projection)}`);
  };
  if (combination === 'affine') need('linear_affine');
  if (combination === 'affine_shift' || combination === 'affine_scale') need('linear');
  if (projection === 'linear_affine' && combination !== 'affine') {
    throw layer.error('BAD_CONFIG', `projection "linear_affine": expected combination "affine", got ${show(combination)}`);
  }
}

/** f32_strided_binary takes batch, time and MAX_STRIDED_RANK - 2 channel axes. */
function checkRank(layer: Layer, out: readonly number[]): void {
  const most = MAX_STRIDED_RANK - 2;
  if (out.length > most) throw layer.error('BAD_CONFIG', `expected an output channel shape of at most ${most} axes, got ${show(out)}`);
}

const ConditioningDef = defineLayer({ type: 'Conditioning', fields: conditioningFields, create: (c, ctx) => new ConditioningLayer(c, ctx) });

export const conditioningDefs = [ConditioningDef];

export const Conditioning = builder(ConditioningDef);
