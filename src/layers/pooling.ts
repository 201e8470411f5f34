// Pooling over time and up to two channel axes. Port of sequence_layers/jax/pooling.py
// (BasePooling, its max, min and average bases, and the 1-D, 2-D and 3-D mixins). The padding
// arithmetic is the convolutions' (convolution.ts).
//
// Exports: AveragePooling1D, AveragePooling1DLayer, AveragePooling2D, AveragePooling2DLayer,
// AveragePooling3D, AveragePooling3DLayer, MaxPooling1D, MaxPooling1DLayer, MaxPooling2D,
// MaxPooling2DLayer, MaxPooling3D, MaxPooling3DLayer, MinPooling1D, MinPooling1DLayer,
// MinPooling2D, MinPooling2DLayer, MinPooling3D, MinPooling3DLayer, poolingDefs.
import { builder, defineLayer, f, type LayerConfig, type Resolved } from '../config.js';
import { show } from '../errors.js';
import { Fraction } from '../fraction.js';
import { Layer, product, stepBytes, type BuildContext, type Derived, type RunContext, type StateSpec, type WSeq } from '../layer.js';
import { rfMap } from '../receptive-field.js';
import {
  bufferBlock, ConvMask, convolutionBufferWidth, convolutionExplicitPadding, convolutionOutputSize, effectiveKernelSize, PADDING_MODES, perAxis,
  perAxisField, spatialExplicitPadding, spatialPaddingField, spatialPaddingsField, windowSpan, type PaddingMode, type SpatialPadding,
} from './convolution.js';

/** Time paddings a pooling can step (BasePooling.supports_step): unlike a convolution, not causal_valid. */
const POOL_STEPPABLE: ReadonlySet<PaddingMode> = new Set(['reverse_causal_valid', 'causal', 'reverse_causal', 'semicausal']);

/** Reductions of f32_pool3d and i32_pool3d (POOL_* in assembly/pooling.ts). */
const PoolOp = { max: 0, min: 1, average: 2, maskedAverage: 3 } as const;

type Reduction = 'max' | 'min' | 'average';

/** The reduction's identity: what padding and invalid steps count as, and the initial state values. */
function padValue(reduction: Reduction, dtype: 'float32' | 'int32'): number {
  if (reduction === 'average') return 0;
  if (dtype === 'int32') return reduction === 'max' ? -2147483648 : 2147483647;
  return reduction === 'max' ? -Infinity : Infinity;
}

/** Window size, stride and dilation per axis (time first), the time padding and one padding per spatial axis. */
interface PoolGeometry {
  poolSize: readonly number[];
  strides: readonly number[];
  dilationRate: readonly number[];
  timePadding: PaddingMode;
  spatialPadding: readonly SpatialPadding[];
}

/** Names of the pooled channel axes, for messages. */
const SPATIAL_NAMES = [[], ['space'], ['space1', 'space2']] as const;

/**
 * Shared pooling logic (the reference's BasePooling). Input [batch, time, ...C] float32 or
 * int32, C = [...spatial, ...rest] where the first 0, 1 or 2 axes are pooled; output
 * [batch, tOut, ...spatialOut, ...rest] of the input dtype. Invalid steps and padding count as
 * the reduction's identity (-inf / +inf, int min / max for int32, 0 for averages); averages
 * divide by the number of taps prod(poolSize) (not the dilated span) or, with maskedAverage,
 * by (valid time taps) * prod(spatial pool sizes), 0 / 0 giving 0 (int32 floor-divides).
 * Outputs at invalid steps are not zeroed. The time axis has the metadata and masks of a
 * convolution with the same padding, except that causal_valid cannot step.
 *
 * No parameters. State when stepping with buffer width W > 0 (convolutionBufferWidth): 'values'
 * [B, W, ...C] of the input dtype, the last W input steps (initially the identity), and 'mask'
 * [B, W] uint8, initially valid for reverse_causal_valid and invalid otherwise. The values of
 * invalid steps are kept as they came: the kernel never reads them.
 */
abstract class BasePoolingLayer extends Layer {
  private readonly op: number;
  private readonly fill: number;
  private readonly k: number;
  private readonly s: number;
  private readonly d: number;
  private readonly padding: PaddingMode;
  /** Explicit [left, right] time padding of the layer-wise pooling. */
  private readonly pad: [number, number];
  private readonly bufferWidth: number;
  private readonly masks: ConvMask;
  /** The input of the current step: [buffer ‖ block] when buffered (reused by every step). */
  private readonly block = { values: 0, mask: 0 };
  /** The geometry record of f32_pool3d / i32_pool3d, copied to `geom` in prepare(). */
  private readonly geometry: Int32Array;
  private readonly geom: Derived;

  constructor(config: LayerConfig, ctx: BuildContext, reduction: Reduction, maskedAverage: boolean, g: PoolGeometry) {
    super(config, ctx);
    const { shape, dtype } = this.input;
    if (dtype !== 'float32' && dtype !== 'int32') throw this.error('BAD_CONFIG', `expected float32 or int32 input, got ${dtype}`);
    const axes = g.spatialPadding.length;
    const names = SPATIAL_NAMES[axes]!;
    if (shape.length < axes) {
      throw this.error('BAD_CONFIG', `expected an input channel shape [${[...names, '...channels'].join(', ')}] (rank >= ${axes}), got ${show(shape)}`);
    }
    this.op = reduction !== 'average' ? PoolOp[reduction] : maskedAverage ? PoolOp.maskedAverage : PoolOp.average;
    this.fill = padValue(reduction, dtype);
    const [k, s, d] = [g.poolSize[0]!, g.strides[0]!, g.dilationRate[0]!];
    [this.k, this.s, this.d, this.padding] = [k, s, d, g.timePadding];
    this.pad = convolutionExplicitPadding(this.padding, k, s, d);

    const geometry = [k, s, d];
    const spatialOut: number[] = [];
    for (let a = 1; a <= 2; a++) {
      if (a > axes) {
        geometry.push(1, 1, 1, 1, 1, 0);
        continue;
      }
      const [ka, sa, da, padding] = [g.poolSize[a]!, g.strides[a]!, g.dilationRate[a]!, g.spatialPadding[a - 1]!];
      const size = shape[a - 1]!;
      const [left, right] = spatialExplicitPadding(padding, ka, sa, da);
      const eks = effectiveKernelSize(ka, da);
      const out = Math.ceil(Math.max(0, size + left + right - (eks - 1)) / sa);
      if (out === 0) {
        throw this.error(
          'BAD_CONFIG',
          `expected pool_size[${a}] = ${ka} (${eks} steps with dilation_rate ${da}) to fit the ${names[a - 1]} axis: ` +
            `${size} input positions + ${left + right} padding (spatial_padding ${show(padding)}), got an empty output`,
        );
      }
      geometry.push(size, out, ka, sa, da, left);
      spatialOut.push(out);
    }
    geometry.push(product(shape.slice(axes)));
    this.geometry = Int32Array.from(geometry);
    this.geom = this.derive(this.geometry.byteLength);
    this.output = { shape: [...spatialOut, ...shape.slice(axes)], dtype };

    this.blockSize = s;
    this.outputRatio = new Fraction(1, s);
    this.supportsStep = POOL_STEPPABLE.has(this.padding);
    const eks = effectiveKernelSize(k, d);
    // Without past padding, the first output needs eks - 1 inputs beyond the current one.
    this.inputLatency = this.padding === 'reverse_causal_valid' || this.padding === 'reverse_causal' ? eks - 1 : 0;
    this.receptiveFieldPerStep = rfMap([windowSpan(this.pad[0], eks)]);
    this.bufferWidth = this.supportsStep ? convolutionBufferWidth(this.padding, k, s, d) : 0;
    this.masks = new ConvMask(k, s, d, this.pad[0], this.padding);
  }

  prepare(): void {
    this.rt.i32.set(this.geometry, this.geom.ptr >> 2);
  }

  stateSpecs(batch: number): StateSpec[] {
    const w = this.bufferWidth;
    if (w === 0) return [];
    return [
      { name: 'values', dtype: this.input.dtype as 'float32' | 'int32', shape: [batch, w, ...this.input.shape], fill: this.fill },
      { name: 'mask', dtype: 'uint8', shape: [batch, w], fill: this.padding === 'reverse_causal_valid' ? 1 : 0 },
    ];
  }

  runLayer(x: WSeq, ctx: RunContext): WSeq {
    const { batch, time } = x;
    const tOut = convolutionOutputSize(time, this.padding, this.k, this.s, this.d);
    const y = this.allocOutput(ctx, batch, tOut);
    this.pool(ctx, batch, time, tOut, this.pad[0], x.values, x.mask, y);
    return this.result(y, this.masks.layer(ctx, batch, time, tOut, x.mask), batch, tOut);
  }

  runStep(x: WSeq, ctx: RunContext): WSeq {
    const { batch, time } = x;
    const w = this.bufferWidth;
    const block = this.block;
    block.values = x.values;
    block.mask = x.mask;
    // The buffer supplies the past: pool [buffer ‖ block] without time padding.
    if (w > 0) bufferBlock(ctx, this.stateOf(ctx), batch, w, time, stepBytes(this.input), x.values, x.mask, block);
    const tIn = w + time, tOut = time / this.s;
    const y = this.allocOutput(ctx, batch, tOut);
    this.pool(ctx, batch, tIn, tOut, 0, block.values, block.mask, y);
    return this.result(y, this.masks.step(ctx, batch, tIn, tOut, block.mask), batch, tOut);
  }

  /** y [batch, tOut, ...] = the pooling of x [batch, tIn, ...] with `padLeft` steps of time padding. */
  private pool(ctx: RunContext, batch: number, tIn: number, tOut: number, padLeft: number, x: number, mask: number, y: number): void {
    const k = ctx.rt.k;
    const kernel = this.input.dtype === 'int32' ? k.i32_pool3d : k.f32_pool3d;
    kernel(this.op, batch, tIn, tOut, padLeft, this.geom.ptr, x, mask, y);
  }
}

// ---------------------------------------------------------------------------------------------
// Configs (Pooling1DMixin, Pooling2DMixin, Pooling3DMixin)

const pooling1dFields = {
  /** Window taps in time (required). */
  poolSize: f.int(1),
  /** Input steps between outputs; also the block size (default 1). */
  strides: f.int(1).default(1),
  /** Input steps between window taps (default 1). */
  dilationRate: f.int(1).default(1),
  /** Time padding mode, one of PADDING_MODES (default 'valid'); steps with reverse_causal_valid, causal, reverse_causal or semicausal. */
  padding: f.oneOf(PADDING_MODES).default('valid'),
};

/** Fields of the 2-D and 3-D poolings over `axes` axes (time first), spatial_padding aside. */
function spatialPoolingFields(axes: number) {
  return {
    /** Window taps per axis, time first: one integer for every axis or a list of `axes` (required). */
    poolSize: perAxisField(axes),
    /** Steps between outputs per axis (default 1); the time stride is also the block size. */
    strides: perAxisField(axes).default(1),
    /** Steps between window taps per axis (default 1). */
    dilationRate: perAxisField(axes).default(1),
    /** Time padding mode, one of PADDING_MODES (default 'valid'); steps with reverse_causal_valid, causal, reverse_causal or semicausal. */
    timePadding: f.oneOf(PADDING_MODES).default('valid'),
  };
}

const pooling2dFields = {
  ...spatialPoolingFields(2),
  /** Padding of the pooled channel axis: a mode of PADDING_MODES or explicit [left, right] amounts (default 'same'). */
  spatialPadding: spatialPaddingField(),
};

const pooling3dFields = {
  ...spatialPoolingFields(3),
  /** Padding of the two pooled channel axes, one entry each: a mode of PADDING_MODES or explicit [left, right] (default ['same', 'same']). */
  spatialPadding: spatialPaddingsField(),
};

const maskedAverageField = {
  /** Divide by the number of valid time taps times the spatial window instead of the whole window (default false). */
  maskedAverage: f.bool().default(false),
};
const averagePooling1dFields = { ...pooling1dFields, ...maskedAverageField };
const averagePooling2dFields = { ...pooling2dFields, ...maskedAverageField };
const averagePooling3dFields = { ...pooling3dFields, ...maskedAverageField };

const geometry1d = (c: Resolved<typeof pooling1dFields>): PoolGeometry => ({
  poolSize: [c.poolSize], strides: [c.strides], dilationRate: [c.dilationRate], timePadding: c.padding, spatialPadding: [],
});
const spatialGeometry = (c: Resolved<ReturnType<typeof spatialPoolingFields>>, axes: number, spatialPadding: readonly SpatialPadding[]): PoolGeometry => ({
  poolSize: perAxis(c.poolSize, axes), strides: perAxis(c.strides, axes), dilationRate: perAxis(c.dilationRate, axes), timePadding: c.timePadding, spatialPadding,
});
const geometry2d = (c: Resolved<typeof pooling2dFields>) => spatialGeometry(c, 2, [c.spatialPadding]);
const geometry3d = (c: Resolved<typeof pooling3dFields>) => spatialGeometry(c, 3, c.spatialPadding);

// ---------------------------------------------------------------------------------------------
// The nine layers. None has parameters; see BasePoolingLayer for semantics and state.

const maxPooling1dDef = defineLayer({ type: 'MaxPooling1D', fields: pooling1dFields, create: (c, ctx) => new MaxPooling1DLayer(c, ctx) });
/** Max over a window in time: channel shape unchanged. */
export const MaxPooling1D = builder(maxPooling1dDef);
/** MaxPooling1D: invalid steps and padding count as -inf (int32: int min). */
export class MaxPooling1DLayer extends BasePoolingLayer {
  constructor(c: Resolved<typeof pooling1dFields>, ctx: BuildContext) {
    super(c, ctx, 'max', false, geometry1d(c));
  }
}

const minPooling1dDef = defineLayer({ type: 'MinPooling1D', fields: pooling1dFields, create: (c, ctx) => new MinPooling1DLayer(c, ctx) });
/** Min over a window in time: channel shape unchanged. */
export const MinPooling1D = builder(minPooling1dDef);
/** MinPooling1D: invalid steps and padding count as +inf (int32: int max). */
export class MinPooling1DLayer extends BasePoolingLayer {
  constructor(c: Resolved<typeof pooling1dFields>, ctx: BuildContext) {
    super(c, ctx, 'min', false, geometry1d(c));
  }
}

const averagePooling1dDef = defineLayer({ type: 'AveragePooling1D', fields: averagePooling1dFields, create: (c, ctx) => new AveragePooling1DLayer(c, ctx) });
/** Average over a window in time: channel shape unchanged. */
export const AveragePooling1D = builder(averagePooling1dDef);
/** AveragePooling1D: sum / poolSize, or / (valid taps) with maskedAverage; invalid steps and padding count as 0. */
export class AveragePooling1DLayer extends BasePoolingLayer {
  constructor(c: Resolved<typeof averagePooling1dFields>, ctx: BuildContext) {
    super(c, ctx, 'average', c.maskedAverage, geometry1d(c));
  }
}

const maxPooling2dDef = defineLayer({ type: 'MaxPooling2D', fields: pooling2dFields, create: (c, ctx) => new MaxPooling2DLayer(c, ctx) });
/** Max over a window in time and the first channel axis: [space, ...rest] -> [spaceOut, ...rest]. */
export const MaxPooling2D = builder(maxPooling2dDef);
/** MaxPooling2D: spaceOut = ceil((space + padding - (eks - 1)) / stride) per spatial_padding. */
export class MaxPooling2DLayer extends BasePoolingLayer {
  constructor(c: Resolved<typeof pooling2dFields>, ctx: BuildContext) {
    super(c, ctx, 'max', false, geometry2d(c));
  }
}

const minPooling2dDef = defineLayer({ type: 'MinPooling2D', fields: pooling2dFields, create: (c, ctx) => new MinPooling2DLayer(c, ctx) });
/** Min over a window in time and the first channel axis: [space, ...rest] -> [spaceOut, ...rest]. */
export const MinPooling2D = builder(minPooling2dDef);
/** MinPooling2D: spaceOut as MaxPooling2D's. */
export class MinPooling2DLayer extends BasePoolingLayer {
  constructor(c: Resolved<typeof pooling2dFields>, ctx: BuildContext) {
    super(c, ctx, 'min', false, geometry2d(c));
  }
}

const averagePooling2dDef = defineLayer({ type: 'AveragePooling2D', fields: averagePooling2dFields, create: (c, ctx) => new AveragePooling2DLayer(c, ctx) });
/** Average over a window in time and the first channel axis: [space, ...rest] -> [spaceOut, ...rest]. */
export const AveragePooling2D = builder(averagePooling2dDef);
/** AveragePooling2D: spatial padding counts as 0 and in the divisor, also with maskedAverage. */
export class AveragePooling2DLayer extends BasePoolingLayer {
  constructor(c: Resolved<typeof averagePooling2dFields>, ctx: BuildContext) {
    super(c, ctx, 'average', c.maskedAverage, geometry2d(c));
  }
}

const maxPooling3dDef = defineLayer({ type: 'MaxPooling3D', fields: pooling3dFields, create: (c, ctx) => new MaxPooling3DLayer(c, ctx) });
/** Max over a window in time and the first two channel axes: [space1, space2, ...rest] -> [space1Out, space2Out, ...rest]. */
export const MaxPooling3D = builder(maxPooling3dDef);
/** MaxPooling3D: each spatial axis as MaxPooling2D's. */
export class MaxPooling3DLayer extends BasePoolingLayer {
  constructor(c: Resolved<typeof pooling3dFields>, ctx: BuildContext) {
    super(c, ctx, 'max', false, geometry3d(c));
  }
}

const minPooling3dDef = defineLayer({ type: 'MinPooling3D', fields: pooling3dFields, create: (c, ctx) => new MinPooling3DLayer(c, ctx) });
/** Min over a window in time and the first two channel axes: [space1, space2, ...rest] -> [space1Out, space2Out, ...rest]. */
export const MinPooling3D = builder(minPooling3dDef);
/** MinPooling3D: each spatial axis as MaxPooling2D's. */
export class MinPooling3DLayer extends BasePoolingLayer {
  constructor(c: Resolved<typeof pooling3dFields>, ctx: BuildContext) {
    super(c, ctx, 'min', false, geometry3d(c));
  }
}

const averagePooling3dDef = defineLayer({ type: 'AveragePooling3D', fields: averagePooling3dFields, create: (c, ctx) => new AveragePooling3DLayer(c, ctx) });
/** Average over a window in time and the first two channel axes: [space1, space2, ...rest] -> [space1Out, space2Out, ...rest]. */
export const AveragePooling3D = builder(averagePooling3dDef);
/** AveragePooling3D: as AveragePooling2D over both spatial axes. */
export class AveragePooling3DLayer extends BasePoolingLayer {
  constructor(c: Resolved<typeof averagePooling3dFields>, ctx: BuildContext) {
    super(c, ctx, 'average', c.maskedAverage, geometry3d(c));
  }
}

export const poolingDefs = [
  maxPooling1dDef, minPooling1dDef, averagePooling1dDef, maxPooling2dDef, minPooling2dDef, averagePooling2dDef,
  maxPooling3dDef, minPooling3dDef, averagePooling3dDef,
];
