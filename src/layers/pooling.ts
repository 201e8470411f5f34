// Pooling over time and up to two channel axes. Port of sequence_layers/jax/pooling.py
// (BasePooling, its max, min and average bases, and the 1-D, 2-D and 3-D mixins). The padding
// arithmetic is the convolutions' (convolution.ts).
//
// Exports: AveragePooling1D, AveragePooling2D, AveragePooling3D, MaxPooling1D, MaxPooling2D,
// MaxPooling3D, MinPooling1D, MinPooling2D, MinPooling3D, PoolingLayer, poolingDefs.
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
 * [B, W] uint8, initially invalid (the reference starts reverse_causal_valid's valid; see
 * BaseConvLayer). The values of invalid steps are kept as they came: the kernel never reads them.
 */
export class PoolingLayer extends Layer {
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
      { name: 'mask', dtype: 'uint8', shape: [batch, w], fill: 0 },
    ];
  }

  layerOutputTime(time: number): number {
    return convolutionOutputSize(time, this.padding, this.k, this.s, this.d);
  }

  runLayer(x: WSeq, ctx: RunContext): WSeq {
    const { batch, time } = x;
    const tOut = this.layerOutputTime(time);
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
// The nine layers: a reduction and a geometry each. None has parameters; see PoolingLayer.

function poolingDef<F extends typeof pooling1dFields | typeof pooling2dFields | typeof pooling3dFields>(
  type: string, fields: F, reduction: Reduction, geometry: (c: Resolved<F>) => PoolGeometry,
) {
  return defineLayer({
    type,
    fields,
    create: (c, ctx) => new PoolingLayer(c, ctx, reduction, (c as { maskedAverage?: boolean }).maskedAverage ?? false, geometry(c)),
  });
}

const maxPooling1dDef = poolingDef('MaxPooling1D', pooling1dFields, 'max', geometry1d);
const minPooling1dDef = poolingDef('MinPooling1D', pooling1dFields, 'min', geometry1d);
const averagePooling1dDef = poolingDef('AveragePooling1D', averagePooling1dFields, 'average', geometry1d);
const maxPooling2dDef = poolingDef('MaxPooling2D', pooling2dFields, 'max', geometry2d);
const minPooling2dDef = poolingDef('MinPooling2D', pooling2dFields, 'min', geometry2d);
const averagePooling2dDef = poolingDef('AveragePooling2D', averagePooling2dFields, 'average', geometry2d);
const maxPooling3dDef = poolingDef('MaxPooling3D', pooling3dFields, 'max', geometry3d);
const minPooling3dDef = poolingDef('MinPooling3D', pooling3dFields, 'min', geometry3d);
const averagePooling3dDef = poolingDef('AveragePooling3D', averagePooling3dFields, 'average', geometry3d);

/** Max over a window in time (invalid steps and padding count as -inf; int32: int min): channel shape unchanged. */
export const MaxPooling1D = builder(maxPooling1dDef);
/** Min over a window in time (invalid steps and padding count as +inf; int32: int max): channel shape unchanged. */
export const MinPooling1D = builder(minPooling1dDef);
/** Average over a window in time: sum / poolSize, or / (valid taps) with maskedAverage; invalid steps and padding count as 0. */
export const AveragePooling1D = builder(averagePooling1dDef);
/** Max over time and the first channel axis: [space, ...rest] -> [spaceOut, ...rest], spaceOut = ceil((space + padding - (eks - 1)) / stride). */
export const MaxPooling2D = builder(maxPooling2dDef);
/** Min over time and the first channel axis, shaped as MaxPooling2D. */
export const MinPooling2D = builder(minPooling2dDef);
/** Average over time and the first channel axis; spatial padding counts as 0 and in the divisor, also with maskedAverage. */
export const AveragePooling2D = builder(averagePooling2dDef);
/** Max over time and the first two channel axes: [space1, space2, ...rest] -> [space1Out, space2Out, ...rest]. */
export const MaxPooling3D = builder(maxPooling3dDef);
/** Min over time and the first two channel axes, shaped as MaxPooling3D. */
export const MinPooling3D = builder(minPooling3dDef);
/** Average over time and the first two channel axes, as AveragePooling2D on each. */
export const AveragePooling3D = builder(averagePooling3dDef);

export const poolingDefs = [
  maxPooling1dDef, minPooling1dDef, averagePooling1dDef, maxPooling2dDef, minPooling2dDef, averagePooling2dDef,
  maxPooling3dDef, minPooling3dDef, averagePooling3dDef,
];
