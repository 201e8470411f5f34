// Convolutions over time. Port of sequence_layers/jax/convolution.py (BaseConv, Conv1D,
// DepthwiseConv1D) and of the padding arithmetic in sequence_layers/jax/utils.py.
//
// Exports: Conv1D, Conv1DLayer, DepthwiseConv1D, DepthwiseConv1DLayer, PADDING_MODES,
// PaddingMode, convolutionBufferWidth, convolutionDefs, convolutionExplicitPadding,
// convolutionOutputSize, effectiveKernelSize.
import { builder, defineLayer, f, type LayerConfig, type Resolved } from '../config.js';
import { show } from '../errors.js';
import { Fraction } from '../fraction.js';
import { lecunNormal, ones, zeros } from '../initializers.js';
import { Layer, type BuildContext, type Derived, type Param, type RunContext, type StateSpec, type WSeq } from '../layer.js';
import { rfMap } from '../receptive-field.js';
import type { Runtime } from '../runtime/runtime.js';
import { activationField, activationKernel, type UnaryKernel } from './simple.js';

// ---------------------------------------------------------------------------------------------
// Padding modes (PaddingMode in sequence_layers/abstract/types.py), shared with pooling and framing.

/** Time padding modes of convolution-like layers, spelled as in the reference. */
export const PADDING_MODES = [
  'valid', 'same', 'causal_valid', 'reverse_causal_valid', 'causal', 'reverse_causal', 'semicausal', 'semicausal_full',
] as const;
export type PaddingMode = (typeof PADDING_MODES)[number];

/** Modes whose output mask is the input mask subsampled (mask[:, ::s]); the others use a window rule. */
const SAME_LIKE: ReadonlySet<PaddingMode> = new Set(['same', 'causal', 'reverse_causal', 'semicausal']);
/** Modes a convolution can step (BaseConv.supports_step). */
const STEPPABLE: ReadonlySet<PaddingMode> = new Set(['causal_valid', 'reverse_causal_valid', 'causal', 'reverse_causal', 'semicausal']);

/** Span of a dilated kernel in input steps: (k - 1) * d + 1. */
export const effectiveKernelSize = (k: number, d: number) => (k - 1) * d + 1;

/** Zero padding [left, right] in time that realises a mode (convolution_explicit_padding). */
export function convolutionExplicitPadding(padding: PaddingMode, k: number, s: number, d: number): [number, number] {
  const eks = effectiveKernelSize(k, d);
  switch (padding) {
    case 'valid':
      return [0, 0];
    case 'same': {
      // The extra step of an even total goes right.
      const left = Math.floor((eks - 1) / 2);
      return [left, eks - 1 - left];
    }
    case 'causal_valid':
    case 'causal':
      return [eks - 1, 0];
    case 'reverse_causal_valid':
    case 'reverse_causal':
      return [0, eks - 1];
    case 'semicausal': {
      const left = Math.max(eks - s, 0);
      return [left, eks - 1 - left];
    }
    case 'semicausal_full':
      // Sums to more than eks - 1: the kernel slides until it no longer overlaps the input.
      return [Math.max(eks - s, 0), eks - 1];
  }
}

/** Layer-wise output time: ceil(max(0, T + left + right - (eks - 1)) / s) (convolution_padding_output_size). */
export function convolutionOutputSize(time: number, padding: PaddingMode, k: number, s: number, d: number): number {
  const [left, right] = convolutionExplicitPadding(padding, k, s, d);
  return Math.ceil(Math.max(0, time + left + right - (effectiveKernelSize(k, d) - 1)) / s);
}

/** Past input steps a streaming convolution keeps between blocks (BaseConv._buffer_width); 0 for modes that cannot step. */
export function convolutionBufferWidth(padding: PaddingMode, k: number, s: number, d: number): number {
  const eks = effectiveKernelSize(k, d);
  switch (padding) {
    case 'causal_valid':
    case 'causal':
      return eks - 1;
    case 'reverse_causal_valid':
    case 'reverse_causal':
      return Math.floor((eks - 1) / s) * s;
    case 'semicausal':
      return Math.max(eks - s, 0);
    default:
      return 0;
  }
}

// ---------------------------------------------------------------------------------------------
// Shared streaming logic (BaseConv)

/** The time-axis geometry every convolution config has. */
interface ConvGeometry {
  kernelSize: number;
  strides: number;
  dilationRate: number;
  padding: PaddingMode;
  activation?: string;
}

/** Reparameterises w [rows, cols] as scale[c] * w[:, c] / sqrt(sum_r w[r, c]^2 + 1e-12) into `out` (the reference's _weight_norm). */
function weightNorm(rt: Runtime, w: Param, scale: Param, out: Derived): void {
  const cols = scale.size, rows = w.size / cols;
  const wv = w.view(), sv = scale.view();
  const ov = rt.f32.subarray(out.ptr >> 2, (out.ptr >> 2) + w.size);
  for (let c = 0; c < cols; c++) {
    let ss = 0;
    for (let r = 0; r < rows; r++) ss += wv[r * cols + c]! ** 2;
    const g = sv[c]! / Math.sqrt(ss + 1e-12);
    for (let r = 0; r < rows; r++) ov[r * cols + c] = wv[r * cols + c]! * g;
  }
}

/**
 * Padding, masks, metadata and the step buffer of a convolution over time (the reference's
 * BaseConv); subclasses supply `convolve`. Inputs are masked to zero first when the kernel spans
 * more than one step; outputs at invalid steps are not zeroed.
 *
 * State when stepping with buffer width W > 0 (see convolutionBufferWidth): 'values'
 * [B, W, in] float32, the last W input steps, and 'mask' [B, W] uint8, initially valid for
 * causal_valid and reverse_causal_valid (their window rule treats the past as valid) and
 * invalid otherwise.
 */
abstract class BaseConvLayer extends Layer {
  protected readonly k: number;
  protected readonly s: number;
  protected readonly d: number;
  protected readonly eks: number;
  protected readonly padding: PaddingMode;
  /** Explicit [left, right] padding of the layer-wise convolution. */
  protected readonly pad: [number, number];
  /** Input channels. */
  protected readonly cin: number;
  private readonly bufferWidth: number;
  private readonly activation: UnaryKernel | null;

  constructor(config: LayerConfig & ConvGeometry, ctx: BuildContext) {
    super(config, ctx);
    const { shape, dtype } = ctx.input;
    if (shape.length !== 1) throw this.error('BAD_CONFIG', `expected a rank-1 input channel shape [channels], got ${show(shape)}`);
    if (dtype !== 'float32') throw this.error('BAD_CONFIG', `expected float32 input, got ${dtype}`);
    this.cin = shape[0]!;
    this.k = config.kernelSize;
    this.s = config.strides;
    this.d = config.dilationRate;
    this.padding = config.padding;
    this.eks = effectiveKernelSize(this.k, this.d);
    this.pad = convolutionExplicitPadding(this.padding, this.k, this.s, this.d);

    this.blockSize = this.s;
    this.outputRatio = new Fraction(1, this.s);
    this.supportsStep = STEPPABLE.has(this.padding);
    // Without past padding, the first output needs eks - 1 inputs beyond the current one.
    const future = this.padding === 'reverse_causal_valid' || this.padding === 'reverse_causal' || this.padding === 'semicausal_full';
    this.inputLatency = future ? this.eks - 1 : 0;
    // semicausal_full pads both ends, so its step output lines up with layer() at once.
    if (this.padding === 'semicausal_full') this.outputLatency = 0;
    const start = 0 - this.pad[0]; // not -pad: -0 would show up in the metadata
    this.receptiveFieldPerStep = rfMap([[start, start + this.eks - 1]]);
    this.bufferWidth = convolutionBufferWidth(this.padding, this.k, this.s, this.d);
    this.activation = activationKernel(config.activation);
  }

  /** y [batch, tOut, out] = the valid convolution of x [batch, tIn, in] (already padded), plus bias. */
  protected abstract convolve(ctx: RunContext, batch: number, tIn: number, tOut: number, x: number, y: number): void;

  /** A new output [batch, tOut, out]: convolve, then the activation in place. */
  private convolveAndActivate(ctx: RunContext, batch: number, tIn: number, tOut: number, x: number): number {
    const y = this.allocOutput(ctx, batch, tOut);
    this.convolve(ctx, batch, tIn, tOut, x, y);
    this.activation?.(ctx.rt.k, batch * tOut * this.output.shape[0]!, y, y);
    return y;
  }

  stateSpecs(batch: number): StateSpec[] {
    const w = this.bufferWidth;
    if (!this.supportsStep || w === 0) return [];
    const valid = this.padding === 'causal_valid' || this.padding === 'reverse_causal_valid';
    return [
      { name: 'values', dtype: 'float32', shape: [batch, w, this.cin] },
      { name: 'mask', dtype: 'uint8', shape: [batch, w], fill: valid ? 1 : 0 },
    ];
  }

  runLayer(x: WSeq, ctx: RunContext): WSeq {
    const { batch, time } = x;
    const [left, right] = this.pad;
    const tIn = time + left + right;
    const tOut = convolutionOutputSize(time, this.padding, this.k, this.s, this.d);
    let xin = this.maskedValues(ctx, x);
    if (left + right > 0) {
      const padded = ctx.alloc(batch * tIn * this.cin * 4);
      ctx.rt.k.seq_pad_time(batch, time, left, right, this.cin * 4, xin, padded, 0, 0);
      xin = padded;
    }
    const y = this.convolveAndActivate(ctx, batch, tIn, tOut, xin);
    const mask = SAME_LIKE.has(this.padding)
      ? this.selectMask(ctx, batch, time, tOut, 0, x.mask)
      : this.windowMask(ctx, batch, time, tOut, left, this.padding === 'causal_valid', this.padding === 'semicausal_full', x.mask);
    return this.result(y, mask, batch, tOut);
  }

  runStep(x: WSeq, ctx: RunContext): WSeq {
    const { batch, time } = x;
    const k = ctx.rt.k;
    const w = this.bufferWidth;
    const row = this.cin * 4;
    const tIn = w + time;
    let xin = this.maskedValues(ctx, x);
    let mask = x.mask;
    const state = w > 0 ? this.stateOf(ctx) : null;
    if (state) {
      // The buffer supplies the past: convolve [buffer ‖ block] without padding.
      const cat = ctx.alloc(batch * tIn * row), catMask = ctx.alloc(batch * tIn);
      k.seq_concat_time(batch, w, time, row, state[0]!.ptr, xin, cat);
      k.seq_concat_time(batch, w, time, 1, state[1]!.ptr, mask, catMask);
      xin = cat;
      mask = catMask;
    }
    const tOut = time / this.s;
    const y = this.convolveAndActivate(ctx, batch, tIn, tOut, xin);
    // Same-like modes take the mask of the step the output aligns with (the reference's one-tap
    // selector); the *_valid modes run their window rule over buffer and block.
    const yMask = SAME_LIKE.has(this.padding)
      ? this.selectMask(ctx, batch, tIn, tOut, this.pad[0], mask)
      : this.windowMask(ctx, batch, tIn, tOut, 0, false, false, mask);
    if (state) {
      k.seq_slice_time(batch, tIn, time, w, row, xin, state[0]!.ptr);
      k.seq_slice_time(batch, tIn, time, w, 1, mask, state[1]!.ptr);
    }
    return this.result(y, yMask, batch, tOut);
  }

  /** x's values with invalid steps zeroed (a select, so NaN never leaks), when the kernel spans more than one step. */
  private maskedValues(ctx: RunContext, x: WSeq): number {
    if (this.eks === 1) return x.values;
    const out = ctx.alloc(x.batch * x.time * this.cin * 4);
    ctx.rt.k.f32_mask_invalid(x.batch * x.time, this.cin, x.mask, x.values, out, 0);
    return out;
  }

  /** out[b, j] = mask[b, offset + j * s]. */
  private selectMask(ctx: RunContext, batch: number, tIn: number, tOut: number, offset: number, mask: number): number {
    if (this.s === 1 && offset === 0 && tIn === tOut) return mask;
    const out = ctx.alloc(batch * tOut);
    ctx.rt.k.mask_select(batch, tIn, tOut, this.s, offset, mask, out);
    return out;
  }

  /** AND (OR when useOr) of the mask over each output's window of input steps; padding reads padValid. */
  private windowMask(
    ctx: RunContext, batch: number, tIn: number, tOut: number, padLeft: number, padValid: boolean, useOr: boolean, mask: number,
  ): number {
    if (this.k === 1 && this.s === 1 && tIn === tOut) return mask;
    const out = ctx.alloc(batch * tOut);
    ctx.rt.k.mask_window(batch, tIn, tOut, this.k, this.s, this.d, padLeft, padValid ? 1 : 0, useOr, mask, out);
    return out;
  }
}

/** Fields common to Conv1D and DepthwiseConv1D. */
const convFields = {
  /** Taps of the kernel in time (required). */
  kernelSize: f.int(1),
  /** Input steps between outputs; also the block size (default 1). */
  strides: f.int(1).default(1),
  /** Input steps between kernel taps (default 1). */
  dilationRate: f.int(1).default(1),
  /** Time padding mode, one of PADDING_MODES (default 'valid'). */
  padding: f.oneOf(PADDING_MODES).default('valid'),
  /** Adds a learned bias per output channel (default true). */
  useBias: f.bool().default(true),
  /** Reparameterises the kernel as scale * kernel / ||kernel|| per output channel, adding param 'scale' (default false). */
  useWeightNorm: f.bool().default(false),
  /** Activation applied after the bias, by name (see ACTIVATION_NAMES in simple.ts); null or omitted: none. */
  activation: activationField(),
};

// ---------------------------------------------------------------------------------------------
// Conv1D

const conv1dFields = {
  /** Output channels (required). */
  filters: f.int(1),
  ...convFields,
  /** Channel groups: input and output channels split into this many independent convolutions (default 1). */
  groups: f.int(1).default(1),
};

const conv1dDef = defineLayer({ type: 'Conv1D', fields: conv1dFields, create: (c, ctx) => new Conv1DLayer(c, ctx) });

/** A 1-D strided or dilated convolution over time. */
export const Conv1D = builder(conv1dDef);

/**
 * Conv1D. Parameters: 'kernel' [kernelSize, in / groups, filters] (cross-correlation; output
 * channel o of group o / (filters / groups) reads that group's inputs), 'bias' [filters] when
 * useBias, 'scale' [filters] when useWeightNorm (initialised to 1 here; the reference initialises
 * it to the kernel's norm, which only matters for untrained models). The kernel is packed for
 * the GEMM in prepare().
 */
export class Conv1DLayer extends BaseConvLayer {
  readonly kernel: Param;
  readonly scale: Param | null;
  readonly bias: Param | null;
  private readonly filters: number;
  private readonly groups: number;
  /** The weight-normalised kernel, when useWeightNorm. */
  private readonly normed: Derived | null;
  private readonly packed: Derived;

  constructor(config: Resolved<typeof conv1dFields>, ctx: BuildContext) {
    super(config, ctx);
    const { filters, groups } = config;
    if (this.cin % groups !== 0) throw this.error('BAD_CONFIG', `expected input channels divisible by groups=${groups}, got ${this.cin}`);
    if (filters % groups !== 0) throw this.error('BAD_CONFIG', `expected filters divisible by groups=${groups}, got filters=${filters}`);
    this.filters = filters;
    this.groups = groups;
    this.output = { shape: [filters], dtype: 'float32' };
    const cg = this.cin / groups;
    this.kernel = this.param('kernel', [this.k, cg, filters], lecunNormal(this.k * cg));
    this.scale = config.useWeightNorm ? this.param('scale', [filters], ones) : null;
    this.bias = config.useBias ? this.param('bias', [filters], zeros) : null;
    this.normed = this.scale ? this.derive(this.kernel.size * 4) : null;
    this.packed = this.derive(4 * this.rt.k.f32_conv1d_packed_len(this.k, this.cin, filters, groups, this.d));
  }

  prepare(): void {
    let w = this.kernel.ptr;
    if (this.scale) {
      weightNorm(this.rt, this.kernel, this.scale, this.normed!);
      w = this.normed!.ptr;
    }
    this.rt.k.f32_conv1d_pack(this.k, this.cin, this.filters, this.groups, this.d, w, this.packed.ptr);
  }

  protected convolve(ctx: RunContext, batch: number, tIn: number, tOut: number, x: number, y: number): void {
    ctx.rt.k.f32_conv1d(
      batch, tIn, tOut, this.cin, this.filters, this.k, this.s, this.d, this.groups, x, this.packed.ptr, this.bias?.ptr ?? 0, y,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// DepthwiseConv1D

const depthwiseConv1dFields = {
  ...convFields,
  /** Output channels per input channel (default 1). */
  depthMultiplier: f.int(1).default(1),
};

const depthwiseConv1dDef = defineLayer({
  type: 'DepthwiseConv1D',
  fields: depthwiseConv1dFields,
  create: (c, ctx) => new DepthwiseConv1DLayer(c, ctx),
});

/** A 1-D depthwise strided or dilated convolution over time: each input channel has its own kernels. */
export const DepthwiseConv1D = builder(depthwiseConv1dDef);

/**
 * DepthwiseConv1D. Parameters: 'kernel' [kernelSize, 1, in * depthMultiplier] (output channel
 * c * depthMultiplier + j reads input channel c), 'bias' [in * depthMultiplier] when useBias,
 * 'scale' [in * depthMultiplier] when useWeightNorm (initialised to 1, as in Conv1D). The kernel
 * is used as stored (its layout is the kernel's); weight norm writes a normalised copy.
 */
export class DepthwiseConv1DLayer extends BaseConvLayer {
  readonly kernel: Param;
  readonly scale: Param | null;
  readonly bias: Param | null;
  private readonly multiplier: number;
  private readonly normed: Derived | null;

  constructor(config: Resolved<typeof depthwiseConv1dFields>, ctx: BuildContext) {
    super(config, ctx);
    this.multiplier = config.depthMultiplier;
    const out = this.cin * this.multiplier;
    this.output = { shape: [out], dtype: 'float32' };
    this.kernel = this.param('kernel', [this.k, 1, out], lecunNormal(this.k));
    this.scale = config.useWeightNorm ? this.param('scale', [out], ones) : null;
    this.bias = config.useBias ? this.param('bias', [out], zeros) : null;
    this.normed = this.scale ? this.derive(this.kernel.size * 4) : null;
  }

  prepare(): void {
    if (this.scale) weightNorm(this.rt, this.kernel, this.scale, this.normed!);
  }

  protected convolve(ctx: RunContext, batch: number, tIn: number, tOut: number, x: number, y: number): void {
    const w = this.normed ? this.normed.ptr : this.kernel.ptr;
    ctx.rt.k.f32_dwconv1d(batch, tIn, tOut, this.cin, this.multiplier, this.k, this.s, this.d, x, w, this.bias?.ptr ?? 0, y);
  }
}

export const convolutionDefs = [conv1dDef, depthwiseConv1dDef];
