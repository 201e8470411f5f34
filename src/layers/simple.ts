// Activations, pointwise and simple parametric layers. Port of sequence_layers/jax/simple.py.
//
// Exports (sorted): Abs, ACT, activationField, activationKernel, activationOf, ACTIVATION_NAMES,
// Add, Affine, Elu, Embedding, EmbeddingTranspose, Exp, GatedLinearUnit, GatedTanhUnit,
// GatedUnit, Gelu, Identity, LeakyRelu, Log, Maximum, Minimum, Mod, OneHot, Pointwise, Power,
// PRelu, Relu, Scale, Sigmoid, Snake, Softmax, Softplus, Swish, Tanh, UnaryKernel; the utility
// layers Argmax, Dropout, Emit, NamedEmit, Lambda, Logging, MaskInvalid; the identities at
// inference AddNoise, ApplySharding, CheckpointName, GradientClipping, OptimizationBarrier,
// StopGradient; and the <Name>Layer classes of the layers that are more than a kernel call.
//
// Every layer here is stateless with ratio 1 and receptive field (0, 0): each output step is a
// function of its own input step, so invalid steps (NaN included) stay in their own rows and
// layer() equals step() trivially. The mask passes through unchanged. Where the reference
// marks an output "unmasked" (e.g. Exp: f(0) != 0), values at invalid steps are simply not
// defined, as there.
import { channelAxes } from '../axes.js';
import { BroadcastPlan, broadcastShapes, broadcastStrides, Op, type OpCode } from '../broadcast.js';
import { builder, defineLayer, f, MAX_DIM, ref, type Fields, type LayerConfig, type LayerDef, type Resolved } from '../config.js';
import { SeqLayersError, show } from '../errors.js';
import { constant, lecunNormal, ones, zeros } from '../initializers.js';
import { expectInput, fromWasm, Layer, product, toWasm, type BuildContext, type Derived, type Param, type RunContext, type WSeq } from '../layer.js';
import type { Kernels } from '../runtime/kernels.js';
import { Sequence } from '../sequence.js';
import { Q8Weights, weightStorageField } from './weight-storage.js';

// ---------------------------------------------------------------------------------------------
// Shared: activations by name, the pointwise base, broadcast constants.

/** Activation codes of assembly/activations.ts (ACT_*): the `act` argument of f32_vactivation. */
export const ACT = {
  identity: 0, relu: 1, tanh: 2, sigmoid: 3, swish: 4, gelu: 5, gelu_exact: 6, elu: 7,
  leaky_relu: 8, softplus: 9, exp: 10, log: 11, abs: 12, erf: 13, sin: 14,
} as const;

/** A kernel over n contiguous floats, (k, n, x, y); x === y (in place) is allowed. */
export type UnaryKernel = (k: Kernels, n: number, x: number, y: number) => void;

/** f32_vactivation with a fixed code and parameter. */
const unary = (act: number, p = 0): UnaryKernel => (k, n, x, y) => k.f32_vactivation(act, n, x, p, y);

/**
 * Activations by name, as the reference passes them (jax.nn functions with their defaults):
 * [code, parameter]. 'gelu' is jax.nn.gelu's default tanh approximation; 'gelu_exact' is the
 * erf form (jax.nn.gelu(approximate=False), torch's default).
 */
const ACTIVATIONS: Readonly<Record<string, readonly [number, number]>> = {
  relu: [ACT.relu, 0],
  tanh: [ACT.tanh, 0],
  sigmoid: [ACT.sigmoid, 0],
  swish: [ACT.swish, 0],
  silu: [ACT.swish, 0],
  gelu: [ACT.gelu, 0],
  gelu_exact: [ACT.gelu_exact, 0],
  elu: [ACT.elu, 1],
  leaky_relu: [ACT.leaky_relu, 0.01],
  softplus: [ACT.softplus, 0],
};

/** The names activationField and activationKernel accept. */
export const ACTIVATION_NAMES: readonly string[] = Object.keys(ACTIVATIONS);
const namesText = ACTIVATION_NAMES.map((n) => JSON.stringify(n)).join(', ');

/**
 * A config field holding an optional activation by name (one of ACTIVATION_NAMES; null or
 * omitted: none). Dense and Conv layers use it for their `activation` field.
 */
export const activationField = () =>
  f.custom<string>(`one of ${namesText}`, (v) => (typeof v === 'string' && Object.hasOwn(ACTIVATIONS, v) ? v : undefined)).opt();

/** [f32_vactivation code, parameter] of a named activation (ACT.identity for none); BAD_CONFIG for an unknown name. */
export function activationOf(name: string | null | undefined): readonly [number, number] {
  if (name === null || name === undefined) return [ACT.identity, 0];
  const a = Object.hasOwn(ACTIVATIONS, name) ? ACTIVATIONS[name] : undefined;
  if (!a) throw new SeqLayersError('BAD_CONFIG', `expected an activation name, one of ${namesText} (or null), got ${show(name)}`);
  return a;
}

/**
 * The kernel applying a named activation, or null for none (null/undefined). Resolve it once
 * at build time and call it after the matmul, in place on the layer's own output:
 *
 *   this.act = activationKernel(config.activation);          // constructor
 *   this.act?.(ctx.rt.k, rows * features, y, y);              // runLayer: one kernel call
 *
 * Throws BAD_CONFIG for an unknown name (activationField already rejects it with its path).
 */
export function activationKernel(name: string | null | undefined): UnaryKernel | null {
  const [act, p] = activationOf(name);
  return act === ACT.identity ? null : unary(act, p);
}

/** Throws BAD_CONFIG unless the layer's input has the given dtype. */
/**
 * A stateless layer applying one elementwise kernel to all values of a float32 input; the
 * mask passes through. An activation is a kernel plus a definition line.
 */
export class Pointwise extends Layer {
  constructor(
    config: ConstructorParameters<typeof Layer>[0],
    ctx: ConstructorParameters<typeof Layer>[1],
    private readonly kernel: UnaryKernel,
  ) {
    super(config, ctx);
    expectInput(this, 'float32');
  }

  runLayer(x: WSeq, ctx: RunContext): WSeq {
    const y = this.allocOutput(ctx, x.batch, x.time);
    this.kernel(ctx.rt.k, x.batch * x.time * product(this.input.shape), x.values, y);
    return this.result(y, x.mask, x.batch, x.time);
  }
}

/** Defines a pointwise layer whose kernel depends only on its config. */
function pointwise<F extends Fields>(type: string, fields: F, kernel: (c: Resolved<F>) => UnaryKernel): LayerDef<F> {
  return defineLayer({ type, fields, create: (c, ctx) => new Pointwise(c, ctx, kernel(c)) });
}

/** A number or a rectangular nested list of numbers, flattened row-major. */
function parseArray(v: unknown): { shape: number[]; values: number[] } | undefined {
  if (typeof v === 'number') return { shape: [], values: [v] };
  if (!Array.isArray(v) || v.length === 0) return undefined;
  const parts = v.map(parseArray);
  const first = parts[0];
  if (!first || parts.some((p) => !p || p.shape.join() !== first.shape.join())) return undefined;
  return { shape: [v.length, ...first.shape], values: parts.flatMap((p) => p!.values) };
}

/** A constant broadcast against the channel shape (the reference's scalar-or-array fields). */
const arrayField = () =>
  f.custom<number | unknown[]>('a number or a (rectangular) nested list of numbers', (v) => (parseArray(v) ? (v as number | unknown[]) : undefined));

/** values of `shape` repeated to `target` (numpy broadcasting), row-major. */
function expandTo(values: readonly number[], shape: readonly number[], target: readonly number[]): Float32Array {
  const strides = broadcastStrides(shape, target);
  const out = new Float32Array(product(target));
  for (let i = 0; i < out.length; i++) {
    let rest = i, at = 0;
    for (let d = target.length - 1; d >= 0; d--) {
      at += (rest % target[d]!) * strides[d]!;
      rest = Math.floor(rest / target[d]!);
    }
    out[i] = values[at]!;
  }
  return out;
}

/** Output channel shape of broadcasting a parameter of `shape` against the input (StatelessPointwiseBroadcasting). */
function broadcastOutput(layer: Layer, field: string, shape: readonly number[]): number[] {
  const input = layer.input.shape;
  if (shape.length > input.length) {
    throw layer.error('BAD_CONFIG', `expected ${field} with at most ${input.length} dimensions (the input channel rank), got shape ${show(shape)}`);
  }
  const out = broadcastShapes([input, shape]);
  if (!out) throw layer.error('BAD_CONFIG', `expected ${field} of shape ${show(shape)} to broadcast with the input channel shape ${show(input)}`);
  return out;
}

/**
 * y = op(x, c) for a constant c from the config field `field` (Scale, Add, Maximum, Minimum,
 * Mod), broadcast against the channel shape with numpy rules; the output channel shape is
 * broadcast(C, shape of c). One f32_strided_binary call (Mod: f32_vmod_rows, after a
 * broadcasting copy of x when the output is larger than the input).
 */
class ConstantOpLayer extends Layer {
  private readonly c: Derived;
  private readonly cValues: Float32Array;
  private readonly plan: BroadcastPlan | null;

  constructor(config: Resolved<Fields>, ctx: BuildContext, field: string, value: unknown, private readonly op: OpCode | 'mod') {
    super(config, ctx);
    expectInput(this, 'float32');
    const { shape, values } = parseArray(value)!;
    const out = broadcastOutput(this, field, shape);
    this.output = { shape: out, dtype: 'float32' };
    const perRow = { shape: ctx.input.shape, perRow: true };
    if (op === 'mod') {
      // f32_vmod_rows takes the divisor per output channel.
      this.cValues = expandTo(values, shape, out);
      this.plan = product(out) === product(ctx.input.shape) ? null : new BroadcastPlan(out, perRow, perRow);
    } else {
      this.cValues = Float32Array.from(values);
      this.plan = new BroadcastPlan(out, perRow, { shape, perRow: false });
    }
    this.c = this.derive(this.cValues.length * 4);
  }

  prepare(): void {
    this.rt.f32.set(this.cValues, this.c.ptr >> 2);
  }

  runLayer(x: WSeq, ctx: RunContext): WSeq {
    const rows = x.batch * x.time;
    const y = this.allocOutput(ctx, x.batch, x.time);
    if (this.op === 'mod') {
      if (this.plan) this.plan.run(ctx, Op.copy, rows, x.values, x.values, y);
      ctx.rt.k.f32_vmod_rows(rows, this.cValues.length, this.plan ? y : x.values, this.c.ptr, y);
    } else {
      this.plan!.run(ctx, this.op, rows, x.values, this.c.ptr, y);
    }
    return this.result(y, x.mask, x.batch, x.time);
  }
}

// ---------------------------------------------------------------------------------------------
// Scale, Affine, Add, Maximum, Mod, Minimum

const scaleFields = {
  /** The factor: a number, or a nested list broadcastable to the channel shape. */
  scale: arrayField(),
};
/** y = x * scale (broadcast; output shape broadcast(C, shape of scale)). No parameters. */
const ScaleDef = defineLayer({ type: 'Scale', fields: scaleFields, create: (c, ctx) => new ConstantOpLayer(c, ctx, 'scale', c.scale, Op.mul) });

const affineFields = {
  /** Add the learned `bias` (default true). */
  useBias: f.bool().default(true),
  /** Multiply by the learned `scale` (default true). */
  useScale: f.bool().default(true),
  /** Shape of scale and bias, broadcast against the channel shape (default [], one scalar each). */
  shape: f.intList(1).default([]),
  /** param_dtype: "float32" only (see `ref` in config.ts for these reference fields). */
  paramDtype: ref.paramDtype(),
  /** scale_init: null only. */
  scaleInit: ref.init(),
  /** bias_init: null only. */
  biasInit: ref.init(),
  /** scale_sharding: any, no effect. */
  scaleSharding: ref.sharding(),
  /** bias_sharding: any, no effect. */
  biasSharding: ref.sharding(),
};

/**
 * y = x * scale + bias with learned parameters broadcast against the channel shape (output
 * shape broadcast(C, shape)).
 *
 * Parameters: `scale` [shape] (when useScale; initialised to ones), `bias` [shape] (when
 * useBias; zeros).
 */
export class AffineLayer extends Layer {
  private readonly scale: Param | null;
  private readonly bias: Param | null;
  private readonly first: BroadcastPlan;
  private readonly second: BroadcastPlan | null;

  constructor(config: Resolved<typeof affineFields>, ctx: BuildContext) {
    super(config, ctx);
    expectInput(this, 'float32');
    const out = broadcastOutput(this, 'shape', config.shape);
    this.output = { shape: out, dtype: 'float32' };
    this.scale = config.useScale ? this.param('scale', config.shape, ones) : null;
    this.bias = config.useBias ? this.param('bias', config.shape, zeros) : null;
    const param = { shape: config.shape, perRow: false };
    this.first = new BroadcastPlan(out, { shape: ctx.input.shape, perRow: true }, param);
    this.second = this.scale && this.bias ? new BroadcastPlan(out, { shape: out, perRow: true }, param) : null;
  }

  runLayer(x: WSeq, ctx: RunContext): WSeq {
    const rows = x.batch * x.time;
    const y = this.allocOutput(ctx, x.batch, x.time);
    if (this.scale) this.first.run(ctx, Op.mul, rows, x.values, this.scale.ptr, y);
    else this.first.run(ctx, this.bias ? Op.add : Op.copy, rows, x.values, this.bias?.ptr ?? x.values, y);
    this.second?.run(ctx, Op.add, rows, y, this.bias!.ptr, y);
    return this.result(y, x.mask, x.batch, x.time);
  }
}
const AffineDef = defineLayer({ type: 'Affine', fields: affineFields, create: (c, ctx) => new AffineLayer(c, ctx) });

const addFields = {
  /** The shift: a number, or a nested list broadcastable to the channel shape. */
  shift: arrayField(),
};
/** y = x + shift (broadcast; output shape broadcast(C, shape of shift)). No parameters. */
const AddDef = defineLayer({ type: 'Add', fields: addFields, create: (c, ctx) => new ConstantOpLayer(c, ctx, 'shift', c.shift, Op.add) });

const maximumFields = {
  /** The lower clip: a number, or a nested list broadcastable to the channel shape. */
  maximum: arrayField(),
};
/** y = max(x, maximum) (NaN propagates; broadcast as Scale). No parameters. */
const MaximumDef = defineLayer({ type: 'Maximum', fields: maximumFields, create: (c, ctx) => new ConstantOpLayer(c, ctx, 'maximum', c.maximum, Op.max) });

const modFields = {
  /** The divisor: a number, or a nested list broadcastable to the channel shape. */
  divisor: arrayField(),
};
/**
 * y = x mod divisor with the sign of the divisor (jnp.mod; broadcast as Scale), exact for every
 * float32 x and divisor; a zero divisor gives NaN. No parameters.
 */
const ModDef = defineLayer({ type: 'Mod', fields: modFields, create: (c, ctx) => new ConstantOpLayer(c, ctx, 'divisor', c.divisor, 'mod') });

const minimumFields = {
  /** The upper clip: a number, or a nested list broadcastable to the channel shape. */
  minimum: arrayField(),
};
/** y = min(x, minimum) (NaN propagates; broadcast as Scale). No parameters. */
const MinimumDef = defineLayer({ type: 'Minimum', fields: minimumFields, create: (c, ctx) => new ConstantOpLayer(c, ctx, 'minimum', c.minimum, Op.min) });

// ---------------------------------------------------------------------------------------------
// Abs

/** |x|; a complex64 input gives its float32 magnitude (computed in f64: no overflow). */
export class AbsLayer extends Layer {
  constructor(config: Resolved<{}>, ctx: BuildContext) {
    super(config, ctx);
    if (ctx.input.dtype === 'int32') throw this.error('BAD_CONFIG', `expected a float32 or complex64 input, got int32`);
    this.output = { shape: ctx.input.shape, dtype: 'float32' };
  }

  runLayer(x: WSeq, ctx: RunContext): WSeq {
    const n = x.batch * x.time * product(this.input.shape);
    const y = this.allocOutput(ctx, x.batch, x.time);
    if (this.input.dtype === 'complex64') ctx.rt.k.f32_vcabs(n, x.values, y);
    else ctx.rt.k.f32_vactivation(ACT.abs, n, x.values, 0, y);
    return this.result(y, x.mask, x.batch, x.time);
  }
}
const AbsDef = defineLayer({ type: 'Abs', fields: {}, create: (c, ctx) => new AbsLayer(c, ctx) });

// ---------------------------------------------------------------------------------------------
// GatedUnit, GatedLinearUnit, GatedTanhUnit

const gatedUnitFields = {
  /** Activation of the first half (the feature), by name (see ACTIVATION_NAMES); null: none. */
  featureActivation: activationField(),
  /** Activation of the second half (the gate), by name; null: none. */
  gateActivation: activationField(),
};

/**
 * Splits the last channel axis in halves a (first) and b (second) and returns
 * featureActivation(a) * gateActivation(b): the last axis halves (it must be even). One
 * f32_gated_unit call. No parameters.
 */
export class GatedUnitLayer extends Layer {
  private readonly half: number;
  private readonly feature: readonly [number, number];
  private readonly gate: readonly [number, number];

  constructor(config: Resolved<{}>, ctx: BuildContext, feature: string | undefined, gate: string | undefined) {
    super(config, ctx);
    expectInput(this, 'float32');
    const shape = ctx.input.shape;
    const last = shape.at(-1);
    if (last === undefined || last % 2 !== 0) {
      throw this.error('BAD_CONFIG', `expected the last channel axis to have an even size (split into feature and gate halves), got channel shape ${show(shape)}`);
    }
    this.half = last / 2;
    this.output = { shape: [...shape.slice(0, -1), this.half], dtype: 'float32' };
    this.feature = activationOf(feature);
    this.gate = activationOf(gate);
  }

  runLayer(x: WSeq, ctx: RunContext): WSeq {
    const rows = (x.batch * x.time * product(this.input.shape)) / (2 * this.half);
    const y = this.allocOutput(ctx, x.batch, x.time);
    const [fa, fp] = this.feature, [ga, gp] = this.gate;
    ctx.rt.k.f32_gated_unit(rows, this.half, fa, fp, ga, gp, x.values, y);
    return this.result(y, x.mask, x.batch, x.time);
  }
}
const GatedUnitDef = defineLayer({
  type: 'GatedUnit',
  fields: gatedUnitFields,
  create: (c, ctx) => new GatedUnitLayer(c, ctx, c.featureActivation, c.gateActivation),
});
/** GatedUnit(null, 'sigmoid'): a * sigmoid(b). */
const GatedLinearUnitDef = defineLayer({ type: 'GatedLinearUnit', fields: {}, create: (c, ctx) => new GatedUnitLayer(c, ctx, undefined, 'sigmoid') });
/** GatedUnit('tanh', 'sigmoid'): tanh(a) * sigmoid(b). */
const GatedTanhUnitDef = defineLayer({ type: 'GatedTanhUnit', fields: {}, create: (c, ctx) => new GatedUnitLayer(c, ctx, 'tanh', 'sigmoid') });

// ---------------------------------------------------------------------------------------------
// Identity

/** Returns its input. */
export class IdentityLayer extends Layer {
  runLayer(x: WSeq): WSeq {
    return x;
  }
}
const IdentityDef = defineLayer({ type: 'Identity', fields: {}, create: (c, ctx) => new IdentityLayer(c, ctx) });

// ---------------------------------------------------------------------------------------------
// Snake

const snakeFields = {
  /** Learn beta separately (`beta_log`); false: beta = alpha. Required, as in the reference. */
  separateBeta: f.bool(),
  /** param_dtype: "float32" only. */
  paramDtype: ref.paramDtype(),
};

/**
 * Snake (BigVGAN form): y = x + sin²(alpha x) / (beta + 1e-12) per channel, with alpha =
 * exp(alpha_log) and beta = exp(beta_log) (or alpha). One f32_snake call.
 *
 * Parameters: `alpha_log` [*C], `beta_log` [*C] (when separateBeta); both initialised to zeros.
 * alpha and 1 / (beta + 1e-12) are derived in prepare().
 */
export class SnakeLayer extends Layer {
  private readonly alphaLog: Param;
  private readonly betaLog: Param | null;
  private readonly alpha: Derived;
  private readonly invBeta: Derived;

  constructor(config: Resolved<typeof snakeFields>, ctx: BuildContext) {
    super(config, ctx);
    expectInput(this, 'float32');
    const shape = ctx.input.shape;
    this.alphaLog = this.param('alpha_log', shape, zeros);
    this.betaLog = config.separateBeta ? this.param('beta_log', shape, zeros) : null;
    this.alpha = this.derive(product(shape) * 4);
    this.invBeta = this.derive(product(shape) * 4);
  }

  prepare(): void {
    const alphaLog = this.alphaLog.view(), betaLog = (this.betaLog ?? this.alphaLog).view();
    const f32 = this.rt.f32;
    for (let i = 0; i < alphaLog.length; i++) {
      f32[(this.alpha.ptr >> 2) + i] = Math.exp(alphaLog[i]!);
      f32[(this.invBeta.ptr >> 2) + i] = 1 / (Math.exp(betaLog[i]!) + 1e-12);
    }
  }

  runLayer(x: WSeq, ctx: RunContext): WSeq {
    const n = product(this.input.shape);
    const y = this.allocOutput(ctx, x.batch, x.time);
    ctx.rt.k.f32_snake(x.batch * x.time, n, x.values, this.alpha.ptr, this.invBeta.ptr, y);
    return this.result(y, x.mask, x.batch, x.time);
  }
}
const SnakeDef = defineLayer({ type: 'Snake', fields: snakeFields, create: (c, ctx) => new SnakeLayer(c, ctx) });

// ---------------------------------------------------------------------------------------------
// Tanh, Relu, LeakyRelu, PRelu, Elu, Exp, Log, Power, Sigmoid, Softplus

/** tanh x. */
const TanhDef = pointwise('Tanh', {}, () => unary(ACT.tanh));
/** max(x, 0). */
const ReluDef = pointwise('Relu', {}, () => unary(ACT.relu));

const leakyReluFields = {
  /** Slope for x < 0 (default 0.01). */
  negativeSlope: f.num().default(0.01),
};
/** x >= 0 ? x : negativeSlope * x. */
const LeakyReluDef = pointwise('LeakyRelu', leakyReluFields, (c) => unary(ACT.leaky_relu, c.negativeSlope));

const preluFields = {
  /** Initial value of the learned slope (default 0.01). */
  negativeSlopeInit: f.num().default(0.01),
  /** param_dtype: "float32" only. */
  paramDtype: ref.paramDtype(),
};

/**
 * x >= 0 ? x : negative_slope * x with a learned slope.
 *
 * Parameters: `negative_slope` [] (a scalar; initialised to negativeSlopeInit).
 */
export class PReluLayer extends Layer {
  private readonly slope: Param;

  constructor(config: Resolved<typeof preluFields>, ctx: BuildContext) {
    super(config, ctx);
    expectInput(this, 'float32');
    this.slope = this.param('negative_slope', [], constant(config.negativeSlopeInit));
  }

  runLayer(x: WSeq, ctx: RunContext): WSeq {
    const y = this.allocOutput(ctx, x.batch, x.time);
    const slope = ctx.rt.f32[this.slope.ptr >> 2]!;
    ctx.rt.k.f32_vactivation(ACT.leaky_relu, x.batch * x.time * product(this.input.shape), x.values, slope, y);
    return this.result(y, x.mask, x.batch, x.time);
  }
}
const PReluDef = defineLayer({ type: 'PRelu', fields: preluFields, create: (c, ctx) => new PReluLayer(c, ctx) });

const eluFields = {
  /** Scale of the negative part (default 1). */
  alpha: f.num().default(1),
};
/** x > 0 ? x : alpha (e^x - 1). */
const EluDef = pointwise('Elu', eluFields, (c) => unary(ACT.elu, c.alpha));
/** e^x. */
const ExpDef = pointwise('Exp', {}, () => unary(ACT.exp));
/** Natural log (log 0 = -Inf, negative x = NaN). */
const LogDef = pointwise('Log', {}, () => unary(ACT.log));

const powerFields = {
  /** The exponent (default 1). */
  power: f.num().default(1),
};
/**
 * x^power (C pow semantics: negative x gives NaN unless power is an integer). power 2 and
 * 0.5 are correctly rounded, other integers up to 64 in magnitude within log2|power| + 1 ulp
 * (repeated squaring). Other powers are e^(power ln|x|) in float32, whose relative error grows
 * with the exponent: at most (1 + |power ln x|) 1.4e-7, so up to 1e-5 (about 150 ulp) for
 * results near the ends of float32's range, where |power ln x| nears 88.
 */
const PowerDef = pointwise('Power', powerFields, (c) => (k, n, x, y) => k.f32_vpow(n, x, c.power, y));
/** 1 / (1 + e^-x). */
const SigmoidDef = pointwise('Sigmoid', {}, () => unary(ACT.sigmoid));
/** log(1 + e^x). */
const SoftplusDef = pointwise('Softplus', {}, () => unary(ACT.softplus));

// ---------------------------------------------------------------------------------------------
// Softmax

const softmaxFields = {
  /** Axis of [batch, time, ...channels] to normalise over; must be a channel axis (default -1). */
  axis: f.int(-MAX_DIM).default(-1),
};

/** e^x / Σ e^x over one channel axis (one f32_softmax call). No parameters. */
export class SoftmaxLayer extends Layer {
  private readonly outer: number;
  private readonly n: number;
  private readonly inner: number;

  constructor(config: Resolved<typeof softmaxFields>, ctx: BuildContext) {
    super(config, ctx);
    expectInput(this, 'float32');
    const shape = ctx.input.shape;
    const [c] = channelAxes(this, config.axis, shape, (e) => `expected axis to be a channel axis of the ${e.input} (${shape.length ? e.range : 'there is none'}), got axis=${e.value}`) as [number];
    this.outer = product(shape.slice(0, c));
    this.n = shape[c]!;
    this.inner = product(shape.slice(c + 1));
  }

  runLayer(x: WSeq, ctx: RunContext): WSeq {
    const y = this.allocOutput(ctx, x.batch, x.time);
    ctx.rt.k.f32_softmax(x.batch * x.time * this.outer, this.n, this.inner, x.values, y);
    return this.result(y, x.mask, x.batch, x.time);
  }
}
const SoftmaxDef = defineLayer({ type: 'Softmax', fields: softmaxFields, create: (c, ctx) => new SoftmaxLayer(c, ctx) });

// ---------------------------------------------------------------------------------------------
// Swish, Gelu

/** x * sigmoid(x). */
const SwishDef = pointwise('Swish', {}, () => unary(ACT.swish));

const geluFields = {
  /** Use the tanh approximation (default true, as jax.nn.gelu); false: the exact erf form. */
  approximate: f.bool().default(true),
};
/** x Φ(x): 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³))), or 0.5 x (1 + erf(x / √2)) when not approximate. */
const GeluDef = pointwise('Gelu', geluFields, (c) => unary(c.approximate ? ACT.gelu : ACT.gelu_exact));

// ---------------------------------------------------------------------------------------------
// OneHot, Embedding, EmbeddingTranspose

const oneHotFields = {
  /** Length of the one-hot vectors (ids in [0, depth); others give all zeros). */
  depth: f.int(1),
  /** compute_dtype, the output dtype: "float32" only, the reference's default. */
  computeDtype: f.only(['float32'], 'OneHot outputs float32 here'),
};

/**
 * int32 ids [*C] -> float32 one-hot vectors [*C, depth] (jax.nn.one_hot: an id outside
 * [0, depth) gives zeros; id 0 gives a non-zero vector, so masking is not preserved).
 */
export class OneHotLayer extends Layer {
  constructor(config: Resolved<typeof oneHotFields>, ctx: BuildContext) {
    super(config, ctx);
    expectInput(this, 'int32', ' (integer ids)');
    this.output = { shape: [...ctx.input.shape, config.depth], dtype: 'float32' };
  }

  runLayer(x: WSeq, ctx: RunContext): WSeq {
    const y = this.allocOutput(ctx, x.batch, x.time);
    ctx.rt.k.f32_one_hot(x.batch * x.time * product(this.input.shape), this.output.shape.at(-1)!, x.values, y);
    return this.result(y, x.mask, x.batch, x.time);
  }
}
const OneHotDef = defineLayer({ type: 'OneHot', fields: oneHotFields, create: (c, ctx) => new OneHotLayer(c, ctx) });

const embeddingFields = {
  /** Size of each embedding vector. */
  dimension: f.int(1),
  /** Rows of the table: ids are expected in [0, numEmbeddings). */
  numEmbeddings: f.int(1),
  /** Name of the table parameter (default 'embedding'). */
  embeddingParamName: f.str().default('embedding'),
  /** compute_dtype: null or "float32" only (see `ref` in config.ts for these reference fields). */
  computeDtype: ref.computeDtype(),
  /** param_dtype: "float32" only. */
  paramDtype: ref.paramDtype(),
  /** embedding_init: null only. */
  embeddingInit: ref.init(),
  /** embedding_sharding: any, no effect. */
  embeddingSharding: ref.sharding(),
};

/**
 * int32 ids [*C] -> rows of the table [*C, dimension] (jnp.take): ids in [-numEmbeddings, 0)
 * count from the end, ids outside [-numEmbeddings, numEmbeddings) give a row of NaN (never an
 * out-of-bounds read). One f32_embedding_lookup call.
 *
 * Parameters: `embedding` (or embeddingParamName) [numEmbeddings, dimension], initialised
 * normal with std 1/√dimension (flax's default_embed_init).
 */
export class EmbeddingLayer extends Layer {
  private readonly table: Param;

  constructor(config: Resolved<typeof embeddingFields>, ctx: BuildContext) {
    super(config, ctx);
    expectInput(this, 'int32', ' (integer ids)');
    this.output = { shape: [...ctx.input.shape, config.dimension], dtype: 'float32' };
    this.table = this.param(config.embeddingParamName, [config.numEmbeddings, config.dimension], lecunNormal(config.dimension));
  }

  runLayer(x: WSeq, ctx: RunContext): WSeq {
    const [v, d] = this.table.shape as [number, number];
    const y = this.allocOutput(ctx, x.batch, x.time);
    ctx.rt.k.f32_embedding_lookup(x.batch * x.time * product(this.input.shape), v, d, x.values, this.table.ptr, y);
    return this.result(y, x.mask, x.batch, x.time);
  }
}
const EmbeddingDef = defineLayer({ type: 'Embedding', fields: embeddingFields, create: (c, ctx) => new EmbeddingLayer(c, ctx) });

const embeddingTransposeFields = {
  /** Rows of the embedding table: the output size. */
  numEmbeddings: f.int(1),
  /** Size of each embedding vector: the input's last channel axis. */
  dimension: f.int(1),
  /** Add the learned `bias` (default true). */
  useBias: f.bool().default(true),
  /** bias_init: null only (see `ref` in config.ts for these reference fields). */
  biasInit: ref.init(),
  /** bias_sharding: any, no effect. */
  biasSharding: ref.sharding(),
  /** compute_dtype: null (the embedding's) or "float32" only. */
  computeDtype: ref.computeDtype(),
  /** param_dtype: null (the embedding's, the reference's default) or "float32" only. */
  paramDtype: f.only([null, 'float32'], 'parameters are float32 here'),
  /** How the table is held for the product (not in the reference; see WEIGHT_STORAGES). */
  weightStorage: weightStorageField(),
};

/**
 * Logits against an embedding table: y = x · embeddingᵀ + bias over the last channel axis,
 * [*C, dimension] -> [*C, numEmbeddings] (the reference's Embedding.attend). The reference
 * binds an Embedding module to share its table; here the layer holds its own `embedding`
 * parameter, and tying means loading the same tensor into both layers. One packed GEMM (one
 * row: a GEMV), or with weightStorage 'int8' the table as int8 with a scale per embedding.
 *
 * Parameters: `embedding` [numEmbeddings, dimension] (std 1/√dimension normal), `bias`
 * [numEmbeddings] (when useBias; zeros). The transposed table is packed in prepare().
 */
export class EmbeddingTransposeLayer extends Layer {
  private readonly table: Param;
  private readonly bias: Param | null;
  /** The float32 packings: GEMM panels, and the GEMV's for one-row products (as Dense keeps, see DensePlan.gemvLen); null with int8. */
  private readonly f32: { packed: Derived; gemv: Derived } | null;
  private readonly q8: Q8Weights | null;

  constructor(config: Resolved<typeof embeddingTransposeFields>, ctx: BuildContext) {
    super(config, ctx);
    expectInput(this, 'float32');
    const shape = ctx.input.shape;
    if (shape.at(-1) !== config.dimension) {
      throw this.error('BAD_CONFIG', `expected the input's last channel axis to equal dimension=${config.dimension}, got channel shape ${show(shape)}`);
    }
    const { numEmbeddings: v, dimension: d } = config;
    this.output = { shape: [...shape.slice(0, -1), v], dtype: 'float32' };
    this.table = this.param('embedding', [v, d], lecunNormal(d));
    this.bias = config.useBias ? this.param('bias', [v], zeros) : null;
    const int8 = config.weightStorage === 'int8';
    this.q8 = int8 ? new Q8Weights({ rt: this.rt, derive: (bytes) => this.derive(bytes) }, [d], v) : null;
    this.f32 = int8 ? null : { packed: this.derive(ctx.rt.k.f32_gemm_packed_len(d, v) * 4), gemv: this.derive(ctx.rt.k.f32_gemv_packed_len(d, v) * 4) };
  }

  prepare(): void {
    // The packings take a row-major [k, n] matrix: transpose the table to [dimension, v] first.
    const [v, d] = this.table.shape as [number, number];
    const heap = this.rt.heap;
    const t = heap.alloc(v * d * 4, 'transposed embedding');
    try {
      const e = this.table.view(), f32 = this.rt.f32, at = t >> 2;
      for (let i = 0; i < v; i++) for (let j = 0; j < d; j++) f32[at + j * v + i] = e[i * d + j]!;
      if (this.q8) this.q8.pack(this.rt, [t]);
      else {
        this.rt.k.f32_gemm_pack_b(d, v, t, v, this.f32!.packed.ptr);
        this.rt.k.f32_gemv_pack_b(d, 0, d, v, t, v, this.f32!.gemv.ptr);
      }
    } finally {
      heap.release(t);
    }
  }

  runLayer(x: WSeq, ctx: RunContext): WSeq {
    const [v, d] = this.table.shape as [number, number];
    const rows = (x.batch * x.time * product(this.input.shape)) / d;
    const y = this.allocOutput(ctx, x.batch, x.time), bias = this.bias?.ptr ?? 0;
    // The same sums in the same order either way (f32_gemv matches f32_gemm bit for bit; q8_gemm
    // computes each row on its own).
    if (this.q8) this.q8.gemm(ctx, rows, x.values, bias, y);
    else if (rows === 1) ctx.rt.k.f32_gemv(v, d, 0, d, x.values, 0, 0, this.f32!.gemv.ptr, y, bias, false);
    else ctx.rt.k.f32_gemm(rows, v, d, x.values, d, this.f32!.packed.ptr, y, v, bias, false);
    return this.result(y, x.mask, x.batch, x.time);
  }
}
const EmbeddingTransposeDef = defineLayer({
  type: 'EmbeddingTranspose',
  fields: embeddingTransposeFields,
  create: (c, ctx) => new EmbeddingTransposeLayer(c, ctx),
});

// ---------------------------------------------------------------------------------------------
// Utility layers: Argmax, Dropout, Emit, Lambda, Logging, MaskInvalid

/** Index of the largest value on the last channel axis (int32; the axis is removed). */
export class ArgmaxLayer extends Layer {
  private readonly n: number;
  constructor(config: LayerConfig, ctx: BuildContext) {
    super(config, ctx);
    expectInput(this, 'float32');
    const shape = ctx.input.shape;
    if (!shape.length || !shape[shape.length - 1]) throw this.error('BAD_CONFIG', `expected an input whose last channel axis has at least one value to pick, got channel shape ${show(shape)}`);
    this.n = shape[shape.length - 1]!;
    this.output = { shape: shape.slice(0, -1), dtype: 'int32' };
  }
  runLayer(x: WSeq, ctx: RunContext): WSeq {
    const y = this.allocOutput(ctx, x.batch, x.time);
    ctx.rt.k.f32_argmax(x.batch * x.time * product(this.output.shape), this.n, x.values, y);
    return this.result(y, x.mask, x.batch, x.time);
  }
}
const ArgmaxDef = defineLayer({ type: 'Argmax', fields: {}, create: (c, ctx) => new ArgmaxLayer(c, ctx) });

const dropoutFields = {
  /** Fraction of values dropped in training; inference (all seqlayers does) keeps everything. */
  rate: f.num(0, 1).default(0),
  /** Axes sharing one dropout decision in training; accepted for config compatibility. */
  broadcastDims: f.intList().default([]),
  /** The reference's RNG collection name; accepted for config compatibility. */
  rngCollection: f.str().default('dropout'),
};
/** Dropout is the identity at inference. */
const DropoutDef = defineLayer({ type: 'Dropout', fields: dropoutFields, create: (c, ctx) => new IdentityLayer(c, ctx) });

/**
 * The reference's layers that act in training or in the compiler only: the identity at
 * inference, their fields accepted so reference configs load (AddNoise only as training_only).
 */
const inferenceIdentity = <F extends Fields>(type: string, fields: F) => defineLayer({ type, fields, create: (c, ctx) => new IdentityLayer(c, ctx) });
const AddNoiseDef = inferenceIdentity('AddNoise', {
  /** The noise distribution ({"type": "Uniform", "minval", "maxval"}, Normal or TruncatedNormal with "mean" and "stddev"); unused at inference. */
  sampler: f.any<unknown>('a noise sampler'),
  /** true only: noise in training, the identity at inference (noise at inference is not implemented). */
  trainingOnly: f.only([true], 'noise at inference is not implemented'),
  /** The reference's RNG collection name; accepted for config compatibility. */
  rngCollection: f.str().default('params'),
});
/** Clips gradients in training; the identity here. */
const GradientClippingDef = inferenceIdentity('GradientClipping', { clipValue: f.num() });
/** Stops gradients in training; the identity here. */
const StopGradientDef = inferenceIdentity('StopGradient', {});
/** Names values for rematerialisation policies in training; the identity here. */
const CheckpointNameDef = inferenceIdentity('CheckpointName', { checkpointName: f.str() });
/** An XLA optimisation barrier; the identity here. */
const OptimizationBarrierDef = inferenceIdentity('OptimizationBarrier', { applyToMask: f.bool().default(false) });
/** A sharding annotation for XLA; the identity here. */
const ApplyShardingDef = inferenceIdentity('ApplySharding', { valuesSharding: ref.sharding(), maskSharding: ref.sharding() });

/**
 * An identity that emits its input: layerWithEmits/stepWithEmits return it under the layer's
 * path (Emit) or under `emit_name` (NamedEmit).
 */
export class EmitLayer extends Layer {
  private readonly key: string;
  constructor(config: LayerConfig, ctx: BuildContext) {
    super(config, ctx);
    this.key = typeof config.emitName === 'string' ? config.emitName : ctx.path || ctx.where;
    this.writesEmits = true;
  }
  get emitKey(): string {
    return this.key;
  }
  runLayer(x: WSeq, ctx: RunContext): WSeq {
    if (ctx.emits) ctx.emit(this.key, fromWasm(ctx.rt, x, this.input));
    return x;
  }
}
const EmitDef = defineLayer({ type: 'Emit', fields: {}, create: (c, ctx) => new EmitLayer(c, ctx) });
const NamedEmitDef = defineLayer({
  type: 'NamedEmit',
  fields: { /** Key of the emitted sequence. */ emitName: f.str() },
  create: (c, ctx) => new EmitLayer(c, ctx),
});

/**
 * Lambda's function on plain arrays: values [batch, time, ...channels] in, values (and a new
 * shape) out. Int32Array values are int32; Float32Array values are float32, or complex64
 * (interleaved re, im) when the input is complex64 and they hold two floats per element.
 */
export type LambdaArrayFn = (values: Float32Array | Int32Array, shape: readonly number[]) => Float32Array | Int32Array | { values: Float32Array | Int32Array; shape: readonly number[] };
/** Lambda's function on sequences (sequence_input): may also change the mask. */
export type LambdaSequenceFn = (x: Sequence) => Sequence;

const lambdaFields = {
  /** A pointwise-in-time JS function (a LambdaArrayFn, or a LambdaSequenceFn with sequence_input). Not JSON: such configs cannot cross a worker boundary. */
  fn: f.custom<LambdaArrayFn | LambdaSequenceFn>('a function', (v) => (typeof v === 'function' ? (v as LambdaArrayFn) : undefined)),
  /** fn takes and returns a Sequence instead of arrays. */
  sequenceInput: f.bool().default(false),
  /** The reference's hint that fn may unmask its input; accepted (outputs are never assumed masked here). */
  maskRequired: f.bool().default(true),
  /** Accepted for config compatibility; the output spec is found by calling fn on one zero step. */
  expectedInputSpec: f.any<unknown>('a channel spec or null').opt(),
};

/**
 * A user's JS function as a stateless layer. It must not mix time steps or batch items (its
 * receptive field is (0, 0)) and must keep batch and time. It runs on a copy of the values in
 * JS, so it is an escape hatch, not a fast path. The output spec comes from calling fn once
 * on a single zero step at build time.
 */
export class LambdaLayer extends Layer {
  constructor(config: Resolved<typeof lambdaFields>, ctx: BuildContext) {
    super(config, ctx);
    const probe = this.apply(Sequence.zeros([1, 1, ...ctx.input.shape], ctx.input.dtype));
    this.output = { shape: probe.channelShape, dtype: probe.dtype };
  }

  private apply(x: Sequence): Sequence {
    const c = this.config as Resolved<typeof lambdaFields>;
    let y: Sequence;
    if (c.sequenceInput) {
      y = (c.fn as LambdaSequenceFn)(x);
      if (!(y instanceof Sequence)) throw this.error('BAD_INPUT', `expected fn to return a Sequence, got ${show(y)}`);
    } else {
      const r = (c.fn as LambdaArrayFn)(x.values, x.shape);
      const [values, shape] = ArrayBuffer.isView(r) ? [r, x.shape] : [r?.values, r?.shape];
      if (!(values instanceof Float32Array || values instanceof Int32Array) || !Array.isArray(shape)) {
        throw this.error('BAD_INPUT', `expected fn to return a Float32Array/Int32Array or { values, shape }, got ${show(r)}`);
      }
      if (shape[0] !== x.batch || shape[1] !== x.time) {
        throw this.error('BAD_INPUT', `expected fn to keep batch and time [${x.batch}, ${x.time}], got [${shape[0]}, ${shape[1]}]`);
      }
      const complex = x.dtype === 'complex64' && values instanceof Float32Array && values.length === 2 * product(shape);
      y = new Sequence(values, x.mask, shape, complex ? 'complex64' : undefined);
    }
    if (y.batch !== x.batch || y.time !== x.time) {
      throw this.error('BAD_INPUT', `expected fn to keep batch and time [${x.batch}, ${x.time}], got [${y.batch}, ${y.time}]`);
    }
    return y;
  }

  runLayer(x: WSeq, ctx: RunContext): WSeq {
    const y = this.apply(fromWasm(ctx.rt, x, this.input));
    if (y.dtype !== this.output.dtype || y.channelShape.join() !== this.output.shape.join()) {
      throw this.error('BAD_INPUT', `fn returned [${y.channelShape}] ${y.dtype} where it returned [${this.output.shape}] ${this.output.dtype} at build time`);
    }
    const w = toWasm(ctx.rt, y);
    return this.result(w.values, w.mask, w.batch, w.time);
  }
}
const LambdaDef = defineLayer({ type: 'Lambda', fields: lambdaFields, create: (c, ctx) => new LambdaLayer(c, ctx) });

const loggingFields = {
  /** Text that starts every log line. */
  prefix: f.str().default(''),
  /** Also print the values (not just shapes). */
  dumpTensors: f.bool().default(false),
  /** The reference's format string of layer()'s log line: any string, no effect (this layer prints its own fixed line). */
  layerFormatStr: f.str().opt(),
  /** The reference's format string of get_initial_state()'s log line: any string, no effect (nothing is logged there). */
  getInitialStateFormatStr: f.str().opt(),
  /** The reference's format string of step()'s log line: any string, no effect (this layer prints its own fixed line). */
  stepFormatStr: f.str().opt(),
};

/** An identity that logs each layer/step call (shape, and values with dump_tensors) with console.log. */
export class LoggingLayer extends Layer {
  private log(what: string, x: WSeq, ctx: RunContext): void {
    const c = this.config as Resolved<typeof loggingFields>;
    const shape = `[${[x.batch, x.time, ...this.input.shape].join(', ')}] ${this.input.dtype}`;
    const values = c.dumpTensors ? ` values=${show(Array.from(fromWasm(ctx.rt, x, this.input).values))} mask=${show(Array.from(ctx.rt.u8.subarray(x.mask, x.mask + x.batch * x.time)))}` : '';
    console.log(`${c.prefix} ${what}(): x=${shape}${values}`);
  }
  runLayer(x: WSeq, ctx: RunContext): WSeq {
    this.log('layer', x, ctx);
    return x;
  }
  runStep(x: WSeq, ctx: RunContext): WSeq {
    this.log('step', x, ctx);
    return x;
  }
}
const LoggingDef = defineLayer({ type: 'Logging', fields: loggingFields, create: (c, ctx) => new LoggingLayer(c, ctx) });

/** Zeroes the values of invalid steps (a select, so NaN there disappears). */
export class MaskInvalidLayer extends Layer {
  runLayer(x: WSeq, ctx: RunContext): WSeq {
    const y = this.allocOutput(ctx, x.batch, x.time);
    const width = product(this.input.shape) * (this.input.dtype === 'complex64' ? 2 : 1);
    ctx.rt.k.f32_mask_invalid(x.batch * x.time, width, x.mask, x.values, y, 0);
    return this.result(y, x.mask, x.batch, x.time);
  }
}
const MaskInvalidDef = defineLayer({ type: 'MaskInvalid', fields: {}, create: (c, ctx) => new MaskInvalidLayer(c, ctx) });

// ---------------------------------------------------------------------------------------------
// Registration and builders (reference order).

export const simpleDefs: LayerDef<any>[] = [
  ScaleDef, AffineDef, AddDef, MaximumDef, ModDef, MinimumDef, AbsDef, GatedUnitDef, GatedLinearUnitDef,
  GatedTanhUnitDef, IdentityDef, SnakeDef, TanhDef, ReluDef, LeakyReluDef, PReluDef, EluDef, ExpDef, LogDef,
  PowerDef, SigmoidDef, SoftplusDef, SoftmaxDef, SwishDef, GeluDef, OneHotDef, EmbeddingDef, EmbeddingTransposeDef,
  ArgmaxDef, DropoutDef, EmitDef, NamedEmitDef, LambdaDef, LoggingDef, MaskInvalidDef,
  AddNoiseDef, GradientClippingDef, StopGradientDef, CheckpointNameDef, OptimizationBarrierDef, ApplyShardingDef,
];

export const Scale = builder(ScaleDef);
export const Affine = builder(AffineDef);
export const Add = builder(AddDef);
export const Maximum = builder(MaximumDef);
export const Mod = builder(ModDef);
export const Minimum = builder(MinimumDef);
export const Abs = builder(AbsDef);
export const GatedUnit = builder(GatedUnitDef);
export const GatedLinearUnit = builder(GatedLinearUnitDef);
export const GatedTanhUnit = builder(GatedTanhUnitDef);
export const Identity = builder(IdentityDef);
export const Snake = builder(SnakeDef);
export const Tanh = builder(TanhDef);
export const Relu = builder(ReluDef);
export const LeakyRelu = builder(LeakyReluDef);
export const PRelu = builder(PReluDef);
export const Elu = builder(EluDef);
export const Exp = builder(ExpDef);
export const Log = builder(LogDef);
export const Power = builder(PowerDef);
export const Sigmoid = builder(SigmoidDef);
export const Softplus = builder(SoftplusDef);
export const Softmax = builder(SoftmaxDef);
export const Swish = builder(SwishDef);
export const Gelu = builder(GeluDef);
export const OneHot = builder(OneHotDef);
export const Embedding = builder(EmbeddingDef);
export const EmbeddingTranspose = builder(EmbeddingTransposeDef);
export const Argmax = builder(ArgmaxDef);
export const Dropout = builder(DropoutDef);
export const Emit = builder(EmitDef);
export const NamedEmit = builder(NamedEmitDef);
export const Lambda = builder(LambdaDef);
export const Logging = builder(LoggingDef);
export const MaskInvalid = builder(MaskInvalidDef);
export const AddNoise = builder(AddNoiseDef);
export const GradientClipping = builder(GradientClippingDef);
export const StopGradient = builder(StopGradientDef);
export const CheckpointName = builder(CheckpointNameDef);
export const OptimizationBarrier = builder(OptimizationBarrierDef);
export const ApplySharding = builder(ApplyShardingDef);
