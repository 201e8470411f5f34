// Convolutions over time. Port of sequence_layers/jax/convolution.py (BaseConv, Conv1D,
// DepthwiseConv1D, Conv2D, Conv3D, Conv1DTranspose, Conv2DTranspose) and of the padding
// arithmetic in sequence_layers/jax/utils.py. The resamplers Downsample1D, Upsample1D and
// Upsample2D live in the reference's simple.py; they are here, beside the strided and
// transposed convolutions they are the parameter-free siblings of.
//
// Exports: Conv1D, Conv1DLayer, Conv1DTranspose, Conv1DTransposeLayer, Conv2D, Conv2DLayer,
// Conv2DTranspose, Conv2DTransposeLayer, Conv3D, Conv3DLayer, ConvMask, DepthwiseConv1D,
// DepthwiseConv1DLayer, Downsample1D, Downsample1DLayer, PADDING_MODES, PaddingMode, SAME_LIKE,
// STEPPABLE, SpatialPadding, TRANSPOSE_PADDING_MODES, Upsample1D, Upsample1DLayer, Upsample2D,
// Upsample2DLayer, bufferBlock, convolutionBufferWidth, convolutionDefs,
// convolutionExplicitPadding, convolutionOutputSize, effectiveKernelSize, perAxis, perAxisField,
// shiftIn, spatialExplicitPadding, spatialPaddingField, spatialPaddingsField,
// transposeConvExplicitPadding, transposeConvOutputSize, transposeConvReceptiveFieldPerStep,
// windowSpan.
import { builder, defineLayer, f, MAX_DIM, ref, type LayerConfig, type Resolved } from '../config.js';
import { show } from '../errors.js';
import { Fraction } from '../fraction.js';
import { gaussian, lecunNormal, ones, zeros } from '../initializers.js';
import { expectInput, joinFlaxPath, Layer, product, stepBytes, type BuildContext, type Derived, type Initializer, type Param, type RunContext, type StateBuffer, type StateSpec, type WSeq } from '../layer.js';
import { MAX_RF_PHASES, rfMap, type ReceptiveField, type ReceptiveFieldPerStep } from '../receptive-field.js';
import type { Runtime } from '../runtime/runtime.js';
import { activationField, activationKernel, type UnaryKernel } from './simple.js';
import { Q8Weights, weightStorageField } from './weight-storage.js';

// ---------------------------------------------------------------------------------------------
// Padding modes (PaddingMode in sequence_layers/abstract/types.py), shared with pooling and framing.

/** Time padding modes of convolution-like layers, spelled as in the reference. */
export const PADDING_MODES = [
  'valid', 'same', 'causal_valid', 'reverse_causal_valid', 'causal', 'reverse_causal', 'semicausal', 'semicausal_full',
] as const;
export type PaddingMode = (typeof PADDING_MODES)[number];

/** Modes whose output mask is the input mask subsampled (mask[:, ::s]); the others use a window rule. */
export const SAME_LIKE: ReadonlySet<PaddingMode> = new Set(['same', 'causal', 'reverse_causal', 'semicausal']);
/** Modes a convolution can step (BaseConv.supports_step). */
export const STEPPABLE: ReadonlySet<PaddingMode> = new Set(['causal_valid', 'reverse_causal_valid', 'causal', 'reverse_causal', 'semicausal']);

/** Span of a dilated kernel in input steps: (k - 1) * d + 1. */
export const effectiveKernelSize = (k: number, d: number) => (k - 1) * d + 1;

/** Input steps [first, last] an output reads relative to its own step, given the left padding and the span eks. */
export function windowSpan(left: number, eks: number): [number, number] {
  const start = 0 - left; // not -left: -0 would show up in the metadata
  return [start, start + eks - 1];
}

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

/**
 * The output mask of a convolution-like layer over time (the reference's compute_conv_mask), for
 * one padding and geometry: same-like modes (and explicit paddings) subsample the input mask,
 * the others AND (semicausal_full: OR) it over each output's window of k taps. Shared by the
 * convolutions, the poolings and framing. Returns the input mask itself when nothing changes.
 */
export class ConvMask {
  private readonly sameLike: boolean;
  private readonly padValid: boolean;
  private readonly useOr: boolean;

  /** `left`: the layer-wise left padding; `mode`: the padding mode, null for explicit amounts. */
  constructor(private readonly k: number, private readonly s: number, private readonly d: number, private readonly left: number, mode: PaddingMode | null) {
    this.sameLike = mode === null || SAME_LIKE.has(mode);
    this.padValid = mode === 'causal_valid';
    this.useOr = mode === 'semicausal_full';
  }

  /** Layer mode: the mask [batch, tOut] of x's mask [batch, time] padded by the mode (causal_valid's padding counting as valid). */
  layer(ctx: RunContext, batch: number, time: number, tOut: number, mask: number): number {
    if (this.sameLike) return this.select(ctx, batch, time, tOut, 0, mask);
    return this.window(ctx, batch, time, tOut, this.left, this.padValid, this.useOr, mask);
  }

  /**
   * Step mode, over [buffer ‖ block] (unpadded): same-like outputs take the mask of the step they
   * align with (the reference's one-tap selector at the left padding); the *_valid modes run
   * their window rule.
   */
  step(ctx: RunContext, batch: number, tIn: number, tOut: number, mask: number): number {
    if (this.sameLike) return this.select(ctx, batch, tIn, tOut, this.left, mask);
    return this.window(ctx, batch, tIn, tOut, 0, false, false, mask);
  }

  /**
   * step() over [past ‖ block] given apart (past [batch, w], block [batch, time]): same-like
   * outputs aligned within the block (causal and semicausal modes) read the block's mask alone.
   */
  stepWithPast(ctx: RunContext, batch: number, past: number, w: number, block: number, time: number, tOut: number): number {
    if (this.sameLike && this.left >= w) return this.select(ctx, batch, time, tOut, this.left - w, block);
    const mask = ctx.alloc(batch * (w + time));
    ctx.rt.k.seq_concat_time(batch, w, time, 1, past, block, mask);
    return this.step(ctx, batch, w + time, tOut, mask);
  }

  /** out[b, j] = mask[b, offset + j * s]. */
  private select(ctx: RunContext, batch: number, tIn: number, tOut: number, offset: number, mask: number): number {
    if (this.s === 1 && offset === 0 && tIn === tOut) return mask;
    const out = ctx.alloc(batch * tOut);
    ctx.rt.k.mask_select(batch, tIn, tOut, this.s, offset, mask, out);
    return out;
  }

  /** AND (OR when useOr) of the mask over each output's window; padding reads padValid. */
  private window(ctx: RunContext, batch: number, tIn: number, tOut: number, padLeft: number, padValid: boolean, useOr: boolean, mask: number): number {
    if (this.k === 1 && this.s === 1 && tIn === tOut) return mask;
    const out = ctx.alloc(batch * tOut);
    ctx.rt.k.mask_window(batch, tIn, tOut, this.k, this.s, this.d, padLeft, padValid ? 1 : 0, useOr, mask, out);
    return out;
  }
}

/**
 * One streaming block of a buffered convolution-like layer: writes to `out` scratch copies of
 * [buffer ‖ block], values (`row` bytes per step) and mask, from the state [values [B, W, ...],
 * mask [B, W]] and the block; the state then keeps the last W steps of them.
 */
export function bufferBlock(
  ctx: RunContext, state: readonly StateBuffer[], batch: number, w: number, time: number, row: number, values: number, mask: number,
  out: { values: number; mask: number },
): void {
  const k = ctx.rt.k, tIn = w + time;
  const [sv, sm] = state as [StateBuffer, StateBuffer];
  out.values = ctx.alloc(batch * tIn * row);
  out.mask = ctx.alloc(batch * tIn);
  k.seq_concat_time(batch, w, time, row, sv.ptr, values, out.values);
  k.seq_concat_time(batch, w, time, 1, sm.ptr, mask, out.mask);
  shiftIn(ctx, state, batch, w, time, row, values, mask);
}

/** The buffer state [values [B, W, ...], mask [B, W]] keeps the last W steps of [buffer ‖ block], in place. */
export function shiftIn(ctx: RunContext, state: readonly StateBuffer[], batch: number, w: number, time: number, row: number, values: number, mask: number): void {
  const [sv, sm] = state as [StateBuffer, StateBuffer];
  ctx.rt.k.seq_shift_in(batch, w, time, row, sv.ptr, values);
  ctx.rt.k.seq_shift_in(batch, w, time, 1, sm.ptr, mask);
}

/** Spatial padding of Conv2D and Conv3D: a mode, or explicit [left, right] amounts. */
export type SpatialPadding = PaddingMode | readonly [number, number];

/** Zero padding [left, right] of a spatial axis (explicit amounts are taken as they are). */
export function spatialExplicitPadding(padding: SpatialPadding, k: number, s: number, d: number): [number, number] {
  return typeof padding === 'string' ? convolutionExplicitPadding(padding, k, s, d) : [padding[0], padding[1]];
}

/** Python's a % n (non-negative for n > 0). */
const mod = (a: number, n: number) => ((a % n) + n) % n;

// ---------------------------------------------------------------------------------------------
// Transposed convolution arithmetic (convolution.py: transpose_conv_explicit_padding,
// transpose_conv_receptive_field_per_step). A transposed convolution is the cross-correlation
// of the input dilated by the stride (s - 1 zeros between steps), padded as below: input step
// t reaches output t * s + left - j * d through tap j.

/** Time padding modes of transposed convolutions; only 'causal' can step. */
export const TRANSPOSE_PADDING_MODES = ['valid', 'same', 'causal', 'semicausal_full'] as const;
type TransposePaddingMode = (typeof TRANSPOSE_PADDING_MODES)[number];

/** Padding [left, right] of the dilated input that realises a transposed-convolution mode. */
export function transposeConvExplicitPadding(padding: TransposePaddingMode, k: number, s: number, d: number): [number, number] {
  const eks = effectiveKernelSize(k, d);
  switch (padding) {
    case 'valid':
      return [eks - 1, s - 1 + Math.max(eks - s, 0)];
    case 'causal':
      return [eks - 1, s - 1];
    case 'same': {
      const total = eks + s - 2;
      const left = s > eks - 1 ? eks - 1 : Math.ceil(total / 2);
      return [left, total - left];
    }
    case 'semicausal_full':
      return [eks - s, eks - 1];
  }
}

/**
 * Output length of a transposed convolution over `size` steps: (size - 1) * s + 1 + left +
 * right - (eks - 1), i.e. size * s for same and causal and size * s + max(eks - s, 0) for
 * valid; 0 for an empty input.
 */
export function transposeConvOutputSize(size: number, padding: TransposePaddingMode, k: number, s: number, d: number): number {
  if (size === 0) return 0;
  const [left, right] = transposeConvExplicitPadding(padding, k, s, d);
  return Math.max(0, (size - 1) * s + 1 + left + right - (effectiveKernelSize(k, d) - 1));
}

/**
 * Receptive field per output phase (s entries) of a transposed convolution, as the reference
 * computes it: phase i sees inputs [start, end] relative to floor(t_o / s), or null when no
 * tap reaches it (a kernel shorter than the stride). The reference derives it for a dense
 * kernel; with dilation the union over phases is still exact.
 */
export function transposeConvReceptiveFieldPerStep(k: number, s: number, d: number, padding: TransposePaddingMode): ReceptiveFieldPerStep {
  const [left] = transposeConvExplicitPadding(padding, k, s, d);
  // Taps of the kernel that fall before the first input in the first step.
  const shiftLeft = effectiveKernelSize(k, d) - left - 1;
  const start = 1 - Math.ceil((left + 1) / s);
  const end = Math.ceil(shiftLeft / s) - 1;
  const out: ReceptiveField[] = [];
  for (let i = 0; i < s; i++) {
    const a = mod(left + 1, s) === 0 || i < mod(left + 1, s) ? start : start + 1;
    const b = i < mod(-shiftLeft, s) ? end : end + 1;
    out.push(a <= b ? [a, b] : null);
  }
  return rfMap(out);
}

// ---------------------------------------------------------------------------------------------
// Shared streaming logic (BaseConv)

/** The time-axis geometry of a convolution over time. */
interface TimeGeometry {
  kernelSize: number;
  strides: number;
  dilationRate: number;
  padding: PaddingMode;
}

/**
 * The reference's kernel reparameterisations of w [..., cols] (rows x cols as a matrix), into
 * the copy `normed`:
 * - 'l2': w[..., c] * scale[c] / sqrt(sum w[..., c]^2 + epsilon) per output column c.
 *   use_weight_norm (its _weight_norm) learns `scale` at the layer; an L2WeightNormalization
 *   kernel_constraint in its own module, `kernel_constraint.scale`, with its epsilon.
 * - 'spectral' (a SpectralWeightNormalization kernel_constraint): w / sigma, sigma the largest
 *   singular value as `iterations` power iterations from the stored `u` [1, cols] estimate it
 *   at every call of the reference at inference (v = l2(u W^T), u = l2(v W), sigma = v W u^T;
 *   l2 with epsilon). `u` and `sigma` are in the batch_stats collection; sigma is only kept.
 */
type KernelNorm =
  | { kind: 'l2'; scale: Param; epsilon: number; normed: Derived }
  | { kind: 'spectral'; u: Param; iterations: number; epsilon: number; normed: Derived };

/** The kernel_constraint field's value (the reference's WeightNormalization configs). */
type KernelConstraint =
  | { type: 'L2WeightNormalization'; epsilon: number; name?: string }
  | { type: 'SpectralWeightNormalization'; nPowerIteration: number; epsilon: number; name?: string };

/** Declares the KernelNorm of a kernel with `cols` output columns, when use_weight_norm or a kernel_constraint asks for one. */
function kernelNorm(
  layer: Layer, declare: ParamDeclare, derive: (bytes: number) => Derived, kernel: Param, cols: number,
  c: { useWeightNorm: boolean; kernelConstraint?: KernelConstraint },
): KernelNorm | null {
  const k = c.kernelConstraint;
  if (c.useWeightNorm && k) throw layer.error('BAD_CONFIG', 'use_weight_norm and kernel_constraint: expected one of them, got both (as the reference refuses)');
  if (!k) return c.useWeightNorm ? { kind: 'l2', scale: declare('scale', [cols], ones), epsilon: 1e-12, normed: derive(kernel.size * 4) } : null;
  // The constraint is a flax module of its own: `kernel_constraint`, or its name.
  const flax = (collection: string, name: string) => (k.name ? `${collection}/${joinFlaxPath(layer.flaxPath, k.name)}/${name}` : undefined);
  const normed = derive(kernel.size * 4);
  if (k.type === 'L2WeightNormalization') {
    return { kind: 'l2', scale: declare('kernel_constraint.scale', [cols], ones, flax('params', 'scale')), epsilon: k.epsilon, normed };
  }
  const stats = (name: string) => flax('batch_stats', name) ?? `batch_stats/${joinFlaxPath(layer.flaxPath, `kernel_constraint/${name}`)}`;
  const u = declare('kernel_constraint.u', [1, cols], gaussian(1), stats('u'));
  declare('kernel_constraint.sigma', [], ones, stats('sigma'));
  return { kind: 'spectral', u, iterations: k.nPowerIteration, epsilon: k.epsilon, normed };
}

/** Writes the KernelNorm of w into its `normed` copy; returns the copy's pointer. */
function normaliseKernel(rt: Runtime, w: Param, n: KernelNorm): number {
  const wv = w.view(), ov = rt.f32.subarray(n.normed.ptr >> 2, (n.normed.ptr >> 2) + w.size);
  if (n.kind === 'spectral') {
    const cols = n.u.size, rows = w.size / cols;
    const l2 = (x: Float64Array) => {
      let ss = 0;
      for (const e of x) ss += e * e;
      const g = 1 / Math.sqrt(ss + n.epsilon);
      return x.map((e) => e * g);
    };
    let u = Float64Array.from(n.u.view()), v = new Float64Array(rows);
    for (let i = 0; i < n.iterations; i++) {
      v = l2(Float64Array.from({ length: rows }, (_, r) => u.reduce((acc, uc, c) => acc + uc * wv[r * cols + c]!, 0)));
      u = l2(Float64Array.from({ length: cols }, (_, c) => v.reduce((acc, vr, r) => acc + vr * wv[r * cols + c]!, 0)));
    }
    let sigma = 0;
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) sigma += v[r]! * wv[r * cols + c]! * u[c]!;
    const g = sigma !== 0 ? 1 / sigma : 1;
    for (let i = 0; i < w.size; i++) ov[i] = wv[i]! * g;
    return n.normed.ptr;
  }
  const cols = n.scale.size, rows = w.size / cols, sv = n.scale.view();
  for (let c = 0; c < cols; c++) {
    let ss = 0;
    for (let r = 0; r < rows; r++) ss += wv[r * cols + c]! ** 2;
    const g = sv[c]! / Math.sqrt(ss + n.epsilon);
    for (let r = 0; r < rows; r++) ov[r * cols + c] = wv[r * cols + c]! * g;
  }
  return n.normed.ptr;
}

/**
 * Checks a float32 input of channel shape [...spatial, channels] and returns its channels.
 * `spatial` names the axes before the channels, for the message.
 */
function convInputChannels(layer: Layer, spatial: readonly string[]): number {
  const { shape } = layer.input;
  const want = [...spatial, 'channels'];
  if (shape.length !== want.length) {
    throw layer.error('BAD_CONFIG', `expected a rank-${want.length} input channel shape [${want.join(', ')}], got ${show(shape)}`);
  }
  expectInput(layer, 'float32');
  return shape[shape.length - 1]!;
}

/** Config fields of the convolutions with filters and groups (all but DepthwiseConv1D). */
interface FilterConfig {
  filters: number;
  groups: number;
  useBias: boolean;
  useWeightNorm: boolean;
  kernelConstraint?: KernelConstraint;
}

/** Layer.param as the convolutions pass it on (name, shape, init, flax path). */
type ParamDeclare = (name: string, shape: readonly number[], init: Initializer, flaxName?: string) => Param;

/** Parameters of a convolution with filters: 'kernel' [...taps, in / groups, filters], its KernelNorm's scale and 'bias' [filters]. */
interface ConvParams {
  kernel: Param;
  norm: KernelNorm | null;
  bias: Param | null;
}

/**
 * Checks groups against the input channels and filters, then declares 'kernel' (LeCun normal
 * over its fan-in), the KernelNorm's scale (initialised to 1, where the reference's weight norm
 * starts from the kernel's norm, which only matters for untrained models) and 'bias' (when useBias).
 */
function convParams(
  layer: Layer, declare: ParamDeclare, derive: (bytes: number) => Derived,
  taps: readonly number[], cin: number, c: FilterConfig,
): ConvParams {
  const { filters, groups } = c;
  if (cin % groups !== 0) throw layer.error('BAD_CONFIG', `expected input channels divisible by groups=${groups}, got ${cin}`);
  if (filters % groups !== 0) throw layer.error('BAD_CONFIG', `expected filters divisible by groups=${groups}, got filters=${filters}`);
  const cg = cin / groups;
  const kernel = declare('kernel', [...taps, cg, filters], lecunNormal(product(taps) * cg));
  const norm = kernelNorm(layer, declare, derive, kernel, filters, c);
  const bias = c.useBias ? declare('bias', [filters], zeros) : null;
  return { kernel, norm, bias };
}

/** The kernel to compute with: with a KernelNorm, the normalised copy (recomputed here), else the kernel. */
function effectiveKernel(rt: Runtime, p: ConvParams): number {
  return p.norm ? normaliseKernel(rt, p.kernel, p.norm) : p.kernel.ptr;
}

/**
 * Padding, masks, metadata and the step buffer of a convolution over time (the reference's
 * BaseConv); subclasses supply `convolve`. Inputs [batch, time, ...spatial, in] are masked to
 * zero first when the kernel spans more than one step; outputs at invalid steps are not zeroed.
 *
 * State when stepping with buffer width W > 0 (see convolutionBufferWidth): 'values'
 * [B, W, ...spatial, in] float32, the last W input steps, and 'mask' [B, W] uint8, initially
 * valid for causal_valid (its window rule treats the past as valid padding) and invalid
 * otherwise. Departing from the reference, which starts reverse_causal_valid's mask valid too:
 * there the buffer only feeds the warm-up outputs (the input latency), which have no layer()
 * counterpart, so a stateful layer after it would read them in step() only.
 */
abstract class BaseConvLayer extends Layer {
  protected readonly k: number;
  protected readonly s: number;
  protected readonly d: number;
  protected readonly eks: number;
  protected readonly padding: PaddingMode;
  /** Explicit [left, right] padding of the layer-wise convolution. */
  protected readonly pad: [number, number];
  /** Input channels (the last input axis). */
  protected readonly cin: number;
  /** Floats per input step: spatial positions times channels. */
  private readonly stepIn: number;
  private readonly bufferWidth: number;
  private readonly activation: UnaryKernel | null;
  private readonly masks: ConvMask;

  /** `time` is the time axis of the config; `spatial` names the input axes between time and channels. */
  constructor(config: LayerConfig & { activation?: string }, ctx: BuildContext, time: TimeGeometry, spatial: readonly string[] = []) {
    super(config, ctx);
    this.cin = convInputChannels(this, spatial);
    this.stepIn = product(this.input.shape);
    this.k = time.kernelSize;
    this.s = time.strides;
    this.d = time.dilationRate;
    this.padding = time.padding;
    this.eks = effectiveKernelSize(this.k, this.d);
    this.pad = convolutionExplicitPadding(this.padding, this.k, this.s, this.d);

    this.blockSize = this.s;
    this.outputRatio = new Fraction(1, this.s);
    this.supportsStep = STEPPABLE.has(this.padding);
    // Without past padding, the first output needs eks - 1 inputs beyond the current one.
    const future = this.padding === 'reverse_causal_valid' || this.padding === 'reverse_causal' || this.padding === 'semicausal_full';
    this.inputLatency = future ? this.eks - 1 : 0;
    this.skipsWarmUp = this.padding === 'causal_valid';
    // semicausal_full pads both ends, so its step output lines up with layer() at once.
    if (this.padding === 'semicausal_full') this.outputLatency = 0;
    this.receptiveFieldPerStep = rfMap([windowSpan(this.pad[0], this.eks)]);
    this.bufferWidth = convolutionBufferWidth(this.padding, this.k, this.s, this.d);
    this.activation = activationKernel(config.activation);
    this.masks = new ConvMask(this.k, this.s, this.d, this.pad[0], this.padding);
  }

  /** y [batch, tOut, ...outShape] = the convolution of x [batch, tIn, ...inShape] (padded in time, valid there), plus bias. */
  protected abstract convolve(ctx: RunContext, batch: number, tIn: number, tOut: number, x: number, y: number): void;

  /**
   * The same product over [past ‖ block], reading the past [batch, w, ...inShape] where the state
   * keeps it and the block [batch, time, ...inShape] where it is; false (nothing done) when the
   * product needs them as one copy.
   */
  protected convolveWithPast(_ctx: RunContext, _batch: number, _past: number, _w: number, _block: number, _time: number, _tOut: number, _y: number): boolean {
    return false;
  }

  /** A new output [batch, tOut, ...outShape]: convolve, then the activation in place. */
  private convolveAndActivate(ctx: RunContext, batch: number, tIn: number, tOut: number, x: number): number {
    const y = this.allocOutput(ctx, batch, tOut);
    this.convolve(ctx, batch, tIn, tOut, x, y);
    this.activation?.(ctx.rt.k, batch * tOut * product(this.output.shape), y, y);
    return y;
  }

  stateSpecs(batch: number): StateSpec[] {
    const w = this.bufferWidth;
    if (!this.supportsStep || w === 0) return [];
    return [
      { name: 'values', dtype: 'float32', shape: [batch, w, ...this.input.shape] },
      { name: 'mask', dtype: 'uint8', shape: [batch, w], fill: this.padding === 'causal_valid' ? 1 : 0 },
    ];
  }

  layerOutputTime(time: number): number {
    return convolutionOutputSize(time, this.padding, this.k, this.s, this.d);
  }

  runLayer(x: WSeq, ctx: RunContext): WSeq {
    const { batch, time } = x;
    const [left, right] = this.pad;
    const tIn = time + left + right;
    const tOut = this.layerOutputTime(time);
    let xin = this.maskedValues(ctx, x);
    if (left + right > 0) {
      const padded = ctx.alloc(batch * tIn * this.stepIn * 4);
      ctx.rt.k.seq_pad_time(batch, time, left, right, this.stepIn * 4, xin, padded, 0, 0);
      xin = padded;
    }
    const y = this.convolveAndActivate(ctx, batch, tIn, tOut, xin);
    return this.result(y, this.masks.layer(ctx, batch, time, tOut, x.mask), batch, tOut);
  }

  runStep(x: WSeq, ctx: RunContext): WSeq {
    const { batch, time } = x;
    const w = this.bufferWidth, tIn = w + time, tOut = time / this.s, row = this.stepIn * 4;
    const values = this.maskedValues(ctx, x);
    if (w === 0) return this.result(this.convolveAndActivate(ctx, batch, time, tOut, values), this.masks.step(ctx, batch, time, tOut, x.mask), batch, tOut);
    // The buffer supplies the past: convolve [buffer ‖ block] without padding, then keep its last w steps.
    const state = this.stateOf(ctx), k = ctx.rt.k;
    const yMask = this.masks.stepWithPast(ctx, batch, state[1]!.ptr, w, x.mask, time, tOut);
    const y = this.allocOutput(ctx, batch, tOut);
    if (!this.convolveWithPast(ctx, batch, state[0]!.ptr, w, values, time, tOut, y)) {
      const joined = ctx.alloc(batch * tIn * row);
      k.seq_concat_time(batch, w, time, row, state[0]!.ptr, values, joined);
      this.convolve(ctx, batch, tIn, tOut, joined, y);
    }
    this.activation?.(k, batch * tOut * product(this.output.shape), y, y);
    shiftIn(ctx, state, batch, w, time, row, values, x.mask);
    return this.result(y, yMask, batch, tOut);
  }

  /** x's values with invalid steps zeroed (a select, so NaN never leaks), when the kernel spans more than one step. */
  private maskedValues(ctx: RunContext, x: WSeq): number {
    if (this.eks === 1) return x.values;
    const out = ctx.alloc(x.batch * x.time * this.stepIn * 4);
    ctx.rt.k.f32_mask_invalid(x.batch * x.time, this.stepIn, x.mask, x.values, out, 0);
    return out;
  }
}

/** Fields both kernel constraints (the reference's WeightNormalization configs) have. */
const weightNormalizationFields = {
  /** Added to the sums of squares (default 1e-12). */
  epsilon: f.num(0).default(1e-12),
  /** The constraint module's name: its variables' flax paths then use it instead of `kernel_constraint`. */
  name: f.str().opt(),
  /** sharding: any, no effect. */
  sharding: ref.sharding(),
  /** reductions_in_at_least_fp32: any boolean, no effect (float32 here). */
  reductionsInAtLeastFp32: f.bool().opt(),
  /** param_dtype: "float32" only. */
  paramDtype: ref.paramDtype(),
};

/**
 * Fields every reference convolution Config has that concern training or JAX, accepted so
 * reference JSON loads unchanged (see `ref` in config.ts for what each takes).
 */
const convReferenceFields = {
  /** compute_dtype: null or "float32" only. */
  computeDtype: ref.computeDtype(),
  /** param_dtype: "float32" only. */
  paramDtype: ref.paramDtype(),
  /** precision: any, no effect (float32 products). */
  precision: ref.precision(),
  /** kernel_init: null only (the reference's default). */
  kernelInit: ref.init(),
  /**
   * A reparameterisation of the kernel (default null: none; not with use_weight_norm; see
   * KernelNorm): {"type": "L2WeightNormalization", "epsilon": 1e-12} normalises each output
   * column and scales it by a learned `kernel_constraint.scale` [filters];
   * {"type": "SpectralWeightNormalization", "n_power_iteration": 1, "epsilon": 1e-12} divides
   * the kernel by its largest singular value, estimated from the stored `kernel_constraint.u`.
   */
  kernelConstraint: f.subConfig<KernelConstraint>({
    SpectralWeightNormalization: {
      ...weightNormalizationFields,
      /** Power iterations per call (default 1, >= 1). */
      nPowerIteration: f.int(1).default(1),
      /** u_init: null only. */
      uInit: ref.init(),
      /** error_on_non_matrix: false only (a convolution kernel is reshaped to [rows, filters], as the reference's default). */
      errorOnNonMatrix: f.only([false], 'a convolution kernel has more than two axes'),
      /** collection_name: "batch_stats" only (where u and sigma are). */
      collectionName: f.only(['batch_stats'], 'u and sigma are read from batch_stats'),
    },
    L2WeightNormalization: {
      ...weightNormalizationFields,
      /** scale_init: null only. */
      scaleInit: ref.init(),
    },
  }).opt(),
  /** kernel_sharding: any, no effect. */
  kernelSharding: ref.sharding(),
  /** bias_init: null only (the reference's default). */
  biasInit: ref.init(),
  /** bias_sharding: any, no effect. */
  biasSharding: ref.sharding(),
};

/**
 * array_factory of DepthwiseConv1D and Conv2D (ConvArrayConstraintFactory: modules that
 * compress the kernel, input or output, e.g. to quantise them): only its default, spelled null
 * or with its three factories null.
 */
const arrayFactoryField = () =>
  f.only([null, { weight_factory: null, input_factory: null, output_factory: null }], 'array constraints (e.g. quantisation) are not implemented');

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
  ...convReferenceFields,
};

// ---------------------------------------------------------------------------------------------
// Conv1D

const conv1dFields = {
  /** Output channels (required). */
  filters: f.int(1),
  ...convFields,
  /** Channel groups: input and output channels split into this many independent convolutions (default 1). */
  groups: f.int(1).default(1),
  /**
   * How the kernel is stored for the product: 'float32' (default) or 'int8' (one group only;
   * not in the reference): see WeightStorage. A one-frame step of 256 -> 256 channels with
   * kernel 3 measured 10.8 -> 8.5 µs (relaxed build, medians in one process); whole sequences
   * run about as fast as float32 (one row at a time against the GEMM's tiles).
   */
  weightStorage: weightStorageField(),
};

const conv1dDef = defineLayer({ type: 'Conv1D', fields: conv1dFields, create: (c, ctx) => new Conv1DLayer(c, ctx), storesInt8: (c) => c.groups === 1 });

/** A 1-D strided or dilated convolution over time. */
export const Conv1D = builder(conv1dDef);

/**
 * How Conv1D's product runs: f32_conv1d's GEMMs (one over x itself with one group and no
 * dilation, else one per tap and group), the depthwise kernel when each group has one input
 * channel (a depthwise convolution written PyTorch-style: at 512 channels a GEMM per tap and
 * group stepped a frame in 35.8 us, the depthwise kernel in 1.1 us), or with weightStorage
 * 'int8' q8 GEMM rows over the windows.
 */
type Conv1DProduct = { kind: 'gemm' | 'depthwise'; packed: Derived } | { kind: 'int8'; q8: Q8Weights };

/**
 * Conv1D. Parameters: 'kernel' [kernelSize, in / groups, filters] (cross-correlation; output
 * channel o of group o / (filters / groups) reads that group's inputs), 'bias' [filters] when
 * useBias, 'scale' [filters] when useWeightNorm (initialised to 1 here; the reference initialises
 * it to the kernel's norm, which only matters for untrained models). The kernel is packed in
 * prepare() for one of the products of Conv1DProduct.
 */
export class Conv1DLayer extends BaseConvLayer {
  readonly weights: ConvParams;
  private readonly filters: number;
  private readonly groups: number;
  private readonly product: Conv1DProduct;

  constructor(config: Resolved<typeof conv1dFields>, ctx: BuildContext) {
    super(config, ctx, config);
    const { filters, groups } = config;
    this.weights = convParams(this, (...a) => this.param(...a), (b) => this.derive(b), [this.k], this.cin, config);
    this.filters = filters;
    this.groups = groups;
    this.output = { shape: [filters], dtype: 'float32' };
    if (config.weightStorage === 'int8' && groups !== 1) {
      throw this.error('BAD_CONFIG', `weight_storage: "int8" needs groups 1 (one kernel matrix), got groups ${groups}; use "float32"`);
    }
    const derive = (bytes: number) => this.derive(bytes);
    if (config.weightStorage === 'int8') {
      this.product = { kind: 'int8', q8: new Q8Weights({ rt: this.rt, derive }, [this.k * this.cin], filters) };
    } else if (groups === this.cin && groups > 1) {
      this.product = { kind: 'depthwise', packed: derive(4 * this.weights.kernel.size) };
    } else {
      this.product = { kind: 'gemm', packed: derive(4 * this.rt.k.f32_conv1d_packed_len(this.k, this.cin, filters, groups, this.d)) };
    }
  }

  prepare(): void {
    const kernel = effectiveKernel(this.rt, this.weights), p = this.product, k = this.rt.k;
    switch (p.kind) {
      case 'int8':
        return p.q8.pack(this.rt, [kernel]);
      case 'gemm':
        return k.f32_conv1d_pack(this.k, this.cin, this.filters, this.groups, this.d, kernel, p.packed.ptr);
      case 'depthwise':
        // [k, 1, filters] is the depthwise kernel [k, in * m] with m = filters / in.
        return k.f32_dwconv1d_pack(this.k, this.filters, kernel, p.packed.ptr);
    }
  }

  protected convolve(ctx: RunContext, batch: number, tIn: number, tOut: number, x: number, y: number): void {
    const bias = this.weights.bias?.ptr ?? 0, p = this.product, k = ctx.rt.k;
    switch (p.kind) {
      case 'gemm':
        return k.f32_conv1d(batch, tIn, tOut, this.cin, this.filters, this.k, this.s, this.d, this.groups, x, p.packed.ptr, bias, y);
      case 'depthwise':
        this.convolveWithPast(ctx, batch, 0, 0, x, tIn, tOut, y);
        return;
      case 'int8':
        return this.convolveInt8(ctx, p.q8, batch, tIn, tOut, x, bias, y);
    }
  }

  protected override convolveWithPast(ctx: RunContext, batch: number, past: number, w: number, block: number, time: number, tOut: number, y: number): boolean {
    const p = this.product;
    if (p.kind !== 'depthwise') return false;
    ctx.rt.k.f32_dwconv1d(batch, w + time, tOut, this.cin, this.filters / this.cin, this.k, this.s, this.d, past, w, block, p.packed.ptr, this.weights.bias?.ptr ?? 0, y);
    return true;
  }

  private convolveInt8(ctx: RunContext, q8: Q8Weights, batch: number, tIn: number, tOut: number, x: number, bias: number, y: number): void {
    // int8: one row of the product per output step, its window x[t s + j d] for j < k. Without
    // dilation the windows are runs of x, s * in floats apart; with it they are gathered first.
    const { k, s, d, cin } = this, row = k * cin;
    for (let b = 0; b < batch; b++) {
      const xb = x + b * tIn * cin * 4, yb = y + b * tOut * this.filters * 4;
      if (d === 1) {
        q8.gemm(ctx, tOut, xb, bias, yb, s * cin);
        continue;
      }
      const windows = ctx.alloc(Math.max(1, tOut * row) * 4);
      // The view is taken after the allocation: growing memory detaches the views taken before.
      const f32 = ctx.rt.f32;
      for (let t = 0; t < tOut; t++) {
        for (let j = 0; j < k; j++) {
          const from = (xb >> 2) + (t * s + j * d) * cin;
          f32.copyWithin((windows >> 2) + t * row + j * cin, from, from + cin);
        }
      }
      q8.gemm(ctx, tOut, windows, bias, yb);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// DepthwiseConv1D

const depthwiseConv1dFields = {
  ...convFields,
  /** Output channels per input channel (default 1). */
  depthMultiplier: f.int(1).default(1),
  /** array_factory: its default only (see arrayFactoryField). */
  arrayFactory: arrayFactoryField(),
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
 * is packed in prepare() (f32_dwconv1d_pack: blocks of output channels with their taps
 * contiguous), after weight norm's normalised copy.
 */
export class DepthwiseConv1DLayer extends BaseConvLayer {
  readonly kernel: Param;
  readonly norm: KernelNorm | null;
  readonly bias: Param | null;
  private readonly multiplier: number;
  private readonly packed: Derived;

  constructor(config: Resolved<typeof depthwiseConv1dFields>, ctx: BuildContext) {
    super(config, ctx, config);
    this.multiplier = config.depthMultiplier;
    const out = this.cin * this.multiplier;
    this.output = { shape: [out], dtype: 'float32' };
    this.kernel = this.param('kernel', [this.k, 1, out], lecunNormal(this.k));
    this.norm = kernelNorm(this, (...a) => this.param(...a), (b) => this.derive(b), this.kernel, out, config);
    this.bias = config.useBias ? this.param('bias', [out], zeros) : null;
    this.packed = this.derive(4 * this.kernel.size);
  }

  prepare(): void {
    const w = this.norm ? normaliseKernel(this.rt, this.kernel, this.norm) : this.kernel.ptr;
    this.rt.k.f32_dwconv1d_pack(this.k, this.cin * this.multiplier, w, this.packed.ptr);
  }

  protected convolve(ctx: RunContext, batch: number, tIn: number, tOut: number, x: number, y: number): void {
    this.convolveWithPast(ctx, batch, 0, 0, x, tIn, tOut, y);
  }

  protected override convolveWithPast(ctx: RunContext, batch: number, past: number, w: number, block: number, time: number, tOut: number, y: number): boolean {
    ctx.rt.k.f32_dwconv1d(batch, w + time, tOut, this.cin, this.multiplier, this.k, this.s, this.d, past, w, block, this.packed.ptr, this.bias?.ptr ?? 0, y);
    return true;
  }
}

// ---------------------------------------------------------------------------------------------
// Conv2D and Conv3D

/** One integer for every axis, or a list with one per axis (the reference's int | tuple). */
export const perAxisField = (axes: number, max = MAX_DIM) =>
  f.custom<number | number[]>(`an integer ${max === MAX_DIM ? '>= 1' : `in [1, ${max}]`} or a list of ${axes}`, (v) =>
    (Number.isInteger(v) && (v as number) >= 1 && (v as number) <= max) ||
    (Array.isArray(v) && v.length === axes && v.every((x) => Number.isInteger(x) && x >= 1 && x <= max))
      ? (v as number | number[])
      : undefined,
  );

/** A per-axis field's value as one entry per axis. */
export const perAxis = (v: number | number[], axes: number): number[] => (Array.isArray(v) ? v : Array<number>(axes).fill(v));

/** What a spatial_padding field accepts, for config messages. */
const SPATIAL_PADDING_TEXT = `one of ${PADDING_MODES.map((m) => JSON.stringify(m)).join(', ')} or [left, right] (non-negative integers)`;

/** A spatial padding (mode or [left, right]) from a config value, or undefined when it is not one. */
function checkSpatialPadding(v: unknown): SpatialPadding | undefined {
  if (PADDING_MODES.includes(v as PaddingMode)) return v as PaddingMode;
  return Array.isArray(v) && v.length === 2 && v.every((x) => Number.isInteger(x) && x >= 0 && x <= MAX_DIM) ? [v[0], v[1]] : undefined;
}

/** The spatial_padding field of the layers with one spatial axis: a mode or [left, right] (default 'same'). */
export const spatialPaddingField = () => f.custom<SpatialPadding>(SPATIAL_PADDING_TEXT, checkSpatialPadding).default('same');

/** The spatial_padding field of the layers with two spatial axes: one mode or [left, right] each (default ['same', 'same']). */
export const spatialPaddingsField = () =>
  f
    .custom<SpatialPadding[]>(`a list of 2 entries, each ${SPATIAL_PADDING_TEXT}`, (v) => {
      if (!Array.isArray(v) || v.length !== 2) return undefined;
      const p = v.map(checkSpatialPadding);
      return p.every((e) => e !== undefined) ? (p as SpatialPadding[]) : undefined;
    })
    .default(['same', 'same']);

/** Fields of Conv2D, Conv3D and Conv2DTranspose over `axes` axes (time first). */
function spatialConvFields(axes: number) {
  return {
    /** Output channels (required). */
    filters: f.int(1),
    /** Taps per axis, time first: one integer for every axis or a list of `axes` (required). */
    kernelSize: perAxisField(axes),
    /** Steps between outputs per axis (default 1); the time stride is also the block size (ratio for transposed ones). */
    strides: perAxisField(axes).default(1),
    /** Steps between kernel taps per axis (default 1). */
    dilationRate: perAxisField(axes).default(1),
    /** Time padding mode, one of PADDING_MODES (TRANSPOSE_PADDING_MODES for Conv2DTranspose; default 'valid'). */
    timePadding: f.oneOf(PADDING_MODES).default('valid'),
    /** Channel groups: input and output channels split into this many independent convolutions (default 1). */
    groups: f.int(1).default(1),
    /** Adds a learned bias per output channel (default true). */
    useBias: f.bool().default(true),
    /** Reparameterises the kernel as scale * kernel / ||kernel|| per output channel, adding param 'scale' (default false). */
    useWeightNorm: f.bool().default(false),
    /** Activation applied after the bias, by name (see ACTIVATION_NAMES in simple.ts); null or omitted: none. */
    activation: activationField(),
    ...convReferenceFields,
  };
}

const conv2dFields = {
  ...spatialConvFields(2),
  /** Padding of the spatial axis: a mode of PADDING_MODES or explicit [left, right] amounts (default 'same'). */
  spatialPadding: spatialPaddingField(),
  /** array_factory: its default only (see arrayFactoryField). */
  arrayFactory: arrayFactoryField(),
};

const conv3dFields = {
  ...spatialConvFields(3),
  /** Padding of the two spatial axes, one entry each: a mode of PADDING_MODES or explicit [left, right] (default ['same', 'same']). */
  spatialPadding: spatialPaddingsField(),
};

/** Floats of im2col (or GEMM output) scratch per kernel call: bounds the arena on long inputs while keeping GEMMs tall. */
const SCRATCH_FLOATS = 1 << 15;

/**
 * Conv2D and Conv3D: a convolution over time (as Conv1D, buffered when stepping) and one or
 * two spatial axes (padded by spatial_padding, whole in every step). Runs as im2col plus one
 * GEMM per group (f32_conv3d; Conv2D is its case with a unit last axis). Parameters:
 * 'kernel' [kt, ...spatial taps, in / groups, filters] (cross-correlation), 'bias' [filters],
 * 'scale' [filters] when useWeightNorm; packed in prepare().
 */
abstract class SpatialConvLayer extends BaseConvLayer {
  readonly weights: ConvParams;
  private readonly filters: number;
  private readonly groups: number;
  private readonly taps: number;
  /** Output positions per output step. */
  private readonly positions: number;
  /** Output positions per im2col chunk. */
  private readonly colRows: number;
  /** The geometry record of f32_conv3d, copied to `geom` in prepare(). */
  private readonly geometry: Int32Array;
  private readonly geom: Derived;
  private readonly packed: Derived;

  constructor(
    config: LayerConfig & FilterConfig & { activation?: string },
    ctx: BuildContext,
    sizes: { kernelSize: number[]; strides: number[]; dilationRate: number[]; timePadding: PaddingMode },
    spatialPadding: readonly SpatialPadding[],
    names: readonly string[],
  ) {
    const { kernelSize: k, strides: s, dilationRate: d } = sizes;
    super(config, ctx, { kernelSize: k[0]!, strides: s[0]!, dilationRate: d[0]!, padding: sizes.timePadding }, names);
    const { filters, groups } = config;
    this.weights = convParams(this, (...a) => this.param(...a), (b) => this.derive(b), k, this.cin, config);
    this.filters = filters;
    this.groups = groups;
    const geometry = [this.cin, filters, groups, k[0]!, s[0]!, d[0]!];
    const outShape: number[] = [];
    for (let a = 1; a <= 2; a++) {
      if (a > spatialPadding.length) {
        geometry.push(1, 1, 1, 1, 1, 0);
        continue;
      }
      const size = this.input.shape[a - 1]!, padding = spatialPadding[a - 1]!;
      const [left, right] = spatialExplicitPadding(padding, k[a]!, s[a]!, d[a]!);
      const eks = effectiveKernelSize(k[a]!, d[a]!);
      const out = Math.ceil(Math.max(0, size + left + right - (eks - 1)) / s[a]!);
      if (out === 0) {
        throw this.error(
          'BAD_CONFIG',
          `expected kernel_size[${a}] = ${k[a]} (${eks} steps with dilation_rate ${d[a]}) to fit the ${names[a - 1]} axis: ` +
            `${size} input positions + ${left + right} padding (spatial_padding ${show(padding)}), got an empty output`,
        );
      }
      geometry.push(size, out, k[a]!, s[a]!, d[a]!, left);
      outShape.push(out);
    }
    this.output = { shape: [...outShape, filters], dtype: 'float32' };
    this.positions = product(outShape);
    this.taps = product(k);
    this.colRows = Math.max(4, Math.floor(SCRATCH_FLOATS / (this.taps * this.cin)));
    this.geometry = Int32Array.from(geometry);
    this.geom = this.derive(this.geometry.byteLength);
    this.packed = this.derive(4 * this.rt.k.f32_conv3d_packed_len(this.taps, this.cin, filters, groups));
  }

  prepare(): void {
    this.rt.i32.set(this.geometry, this.geom.ptr >> 2);
    this.rt.k.f32_conv3d_pack(this.taps, this.cin, this.filters, this.groups, effectiveKernel(this.rt, this.weights), this.packed.ptr);
  }

  protected convolve(ctx: RunContext, batch: number, tIn: number, tOut: number, x: number, y: number): void {
    const rows = batch * tOut * this.positions;
    if (rows === 0) return;
    const n = Math.min(this.colRows, rows);
    const col = ctx.alloc(n * this.taps * this.cin * 4);
    ctx.rt.k.f32_conv3d(batch, tIn, tOut, this.geom.ptr, x, this.packed.ptr, this.weights.bias?.ptr ?? 0, col, n, y);
  }
}

/** Per-axis sizes of a spatial convolution's config (time first). */
function spatialSizes(config: Resolved<ReturnType<typeof spatialConvFields>>, axes: number) {
  return {
    kernelSize: perAxis(config.kernelSize, axes),
    strides: perAxis(config.strides, axes),
    dilationRate: perAxis(config.dilationRate, axes),
    timePadding: config.timePadding,
  };
}

const conv2dDef = defineLayer({ type: 'Conv2D', fields: conv2dFields, create: (c, ctx) => new Conv2DLayer(c, ctx) });

/** A 2-D convolution over time and one spatial axis: input channel shape [space, in] -> [spaceOut, filters]. */
export const Conv2D = builder(conv2dDef);

/**
 * Conv2D. Parameters: 'kernel' [kt, ks, in / groups, filters], 'bias' [filters], 'scale'
 * [filters] when useWeightNorm. The time axis behaves as Conv1D's (time_padding, buffer
 * [B, W, space, in] when stepping); spaceOut = ceil((space + padding - (eks - 1)) / stride).
 */
export class Conv2DLayer extends SpatialConvLayer {
  constructor(config: Resolved<typeof conv2dFields>, ctx: BuildContext) {
    super(config, ctx, spatialSizes(config, 2), [config.spatialPadding], ['space']);
  }
}

const conv3dDef = defineLayer({ type: 'Conv3D', fields: conv3dFields, create: (c, ctx) => new Conv3DLayer(c, ctx) });

/** A 3-D convolution over time and two spatial axes: [space1, space2, in] -> [space1Out, space2Out, filters]. */
export const Conv3D = builder(conv3dDef);

/**
 * Conv3D. Parameters: 'kernel' [kt, k1, k2, in / groups, filters], 'bias' [filters], 'scale'
 * [filters] when useWeightNorm. Time as Conv1D; each spatial axis as Conv2D's.
 */
export class Conv3DLayer extends SpatialConvLayer {
  constructor(config: Resolved<typeof conv3dFields>, ctx: BuildContext) {
    super(config, ctx, spatialSizes(config, 3), config.spatialPadding, ['space1', 'space2']);
  }
}

// ---------------------------------------------------------------------------------------------
// Conv1DTranspose and Conv2DTranspose

/** One axis of a transposed convolution: taps, stride, dilation and padding. */
interface TransposeAxis<P = TransposePaddingMode> {
  k: number;
  s: number;
  d: number;
  padding: P;
}

/**
 * A transposed convolution over time and at most one spatial axis (the reference's
 * Conv1DTranspose / Conv2DTranspose): one GEMM row per input position gives every tap's
 * contribution, which f32_conv2d_transpose overlap-adds into the output; bias and activation
 * come after, so a stream can carry the unfinished sums. Inputs are masked to zero when the
 * time kernel has more than one tap; outputs at invalid steps are not zeroed.
 *
 * Layer: output time transposeConvOutputSize (T * s, or T * s + max(eks - s, 0) for 'valid');
 * the mask is the input mask repeated s times when eks <= s or for 'same' and 'causal', else
 * the reference's transposed-conv rule ('valid': no invalid input reaches the output;
 * 'semicausal_full': some valid input does). As in the reference, 'valid' treats taps past the
 * end of the input as valid, so a full-length item keeps a valid tail of eks - s steps (and,
 * with dilation, outputs no input reaches are valid): appending invalid steps to such an input
 * can invalidate outputs, the one place these layers are not padding-invariant.
 *
 * Step ('causal' only): each block runs the 'valid' transposed convolution, adds the stored
 * tail, emits s * T steps and keeps the next W = max(0, eks - s). State 'tail'
 * [B, W, ...spatialOut, filters] float32 (zeros initially; none when W = 0).
 */
abstract class BaseConvTransposeLayer extends Layer {
  readonly weights: ConvParams;
  private readonly time: TransposeAxis;
  private readonly eks: number;
  /** Left padding of the dilated input in layer mode (the time offset of tap 0). */
  private readonly left: number;
  private readonly cin: number;
  private readonly filters: number;
  private readonly groups: number;
  private readonly taps: number;
  /** Spatial input positions per step. */
  private readonly positionsIn: number;
  /** Floats per output step. */
  private readonly stepOut: number;
  /** Input positions per GEMM chunk. */
  private readonly zRows: number;
  private readonly bufferWidth: number;
  private readonly activation: UnaryKernel | null;
  private readonly geometry: Int32Array;
  private readonly geom: Derived;
  private readonly packed: Derived;

  /** `timeField` names the time padding field in messages; `spatial` is the spatial axis, if any. */
  constructor(
    config: LayerConfig & FilterConfig & { activation?: string },
    ctx: BuildContext,
    time: TransposeAxis<PaddingMode>,
    timeField: string,
    spatial: TransposeAxis<SpatialPadding> | null,
  ) {
    super(config, ctx);
    this.cin = convInputChannels(this, spatial ? ['space'] : []);
    const padding = time.padding as TransposePaddingMode;
    if (!TRANSPOSE_PADDING_MODES.includes(padding)) {
      throw this.error('BAD_CONFIG', `${timeField}: expected one of ${TRANSPOSE_PADDING_MODES.map((m) => show(m)).join(', ')}, got ${show(time.padding)}`);
    }
    this.eks = effectiveKernelSize(time.k, time.d);
    if (padding === 'semicausal_full' && this.eks <= time.s && !(this.eks === 1 && time.s === 1)) {
      // The reference would then pair T * s mask steps with T * s + eks + 1 - 2s values: only
      // a pointwise kernel (eks = s = 1) runs there.
      throw this.error(
        'BAD_CONFIG',
        `${timeField}: expected an effective kernel size above strides for "semicausal_full", got kernel_size ${time.k}, dilation_rate ${time.d}, strides ${time.s}`,
      );
    }
    this.time = { ...time, padding };
    this.left = transposeConvExplicitPadding(padding, time.k, time.s, time.d)[0];
    const { filters, groups } = config;
    this.filters = filters;
    this.groups = groups;
    const geometry = [this.cin, filters, groups, time.k, time.s, time.d];
    if (spatial) {
      const sp = spatial.padding;
      if (sp !== 'valid' && sp !== 'same' && sp !== 'causal') {
        throw this.error('BAD_CONFIG', `spatial_padding: expected "valid", "same" or "causal" (the reference transposes no other spatial padding), got ${show(sp)}`);
      }
      const size = this.input.shape[0]!;
      const out = transposeConvOutputSize(size, sp, spatial.k, spatial.s, spatial.d);
      geometry.push(size, out, spatial.k, spatial.s, spatial.d, transposeConvExplicitPadding(sp, spatial.k, spatial.s, spatial.d)[0]);
      this.output = { shape: [out, filters], dtype: 'float32' };
    } else {
      geometry.push(1, 1, 1, 1, 1, 0);
      this.output = { shape: [filters], dtype: 'float32' };
    }
    const taps = spatial ? [time.k, spatial.k] : [time.k];
    this.weights = convParams(this, (...a) => this.param(...a), (b) => this.derive(b), taps, this.cin, config);
    this.taps = product(taps);
    this.positionsIn = geometry[6]!;
    this.stepOut = product(this.output.shape);
    this.zRows = Math.max(4, Math.floor(SCRATCH_FLOATS / (this.taps * filters)));
    this.geometry = Int32Array.from(geometry);
    this.geom = this.derive(this.geometry.byteLength);
    this.packed = this.derive(4 * this.rt.k.f32_conv_transpose_packed_len(this.taps, this.cin, filters, groups));

    this.outputRatio = new Fraction(time.s);
    this.supportsStep = padding === 'causal';
    this.receptiveFieldPerStep = transposeConvReceptiveFieldPerStep(time.k, time.s, time.d, padding);
    this.bufferWidth = Math.max(0, this.eks - time.s);
    this.activation = activationKernel(config.activation);
  }

  prepare(): void {
    this.rt.i32.set(this.geometry, this.geom.ptr >> 2);
    this.rt.k.f32_conv_transpose_pack(this.taps, this.cin, this.filters, this.groups, effectiveKernel(this.rt, this.weights), this.packed.ptr);
  }

  stateSpecs(batch: number): StateSpec[] {
    if (!this.supportsStep || this.bufferWidth === 0) return [];
    return [{ name: 'tail', dtype: 'float32', shape: [batch, this.bufferWidth, ...this.output.shape] }];
  }

  layerOutputTime(time: number): number {
    const { k, s, d, padding } = this.time;
    return transposeConvOutputSize(time, padding, k, s, d);
  }

  runLayer(x: WSeq, ctx: RunContext): WSeq {
    const { batch, time } = x;
    const { k, s, d, padding } = this.time;
    const tOut = this.layerOutputTime(time);
    const y = this.allocOutput(ctx, batch, tOut);
    ctx.rt.k.f32_fill(batch * tOut * this.stepOut, 0, y);
    this.overlapAdd(ctx, x, tOut, this.left, y);
    this.finish(ctx, batch * tOut, y);
    let mask: number;
    if (this.eks <= s || padding === 'same' || padding === 'causal') mask = repeatedMask(ctx, x, s);
    else {
      mask = ctx.alloc(batch * tOut);
      ctx.rt.k.mask_conv_transpose(batch, time, tOut, k, s, d, this.left, padding === 'semicausal_full', x.mask, mask);
    }
    return this.result(y, mask, batch, tOut);
  }

  runStep(x: WSeq, ctx: RunContext): WSeq {
    const { batch, time } = x;
    const k = ctx.rt.k;
    const w = this.bufferWidth, n = this.time.s * time, row = this.stepOut * 4;
    // The block's 'valid' output: n steps ready now, w more to be finished by later blocks.
    const ext = w > 0 ? ctx.alloc(batch * (n + w) * row) : this.allocOutput(ctx, batch, n);
    const tail = w > 0 ? this.stateOf(ctx)[0]! : null;
    if (tail) k.seq_pad_time(batch, w, 0, n, row, tail.ptr, ext, 0, 0);
    else k.f32_fill(batch * n * this.stepOut, 0, ext);
    this.overlapAdd(ctx, x, n + w, this.eks - 1, ext);
    let y = ext;
    if (tail) {
      y = this.allocOutput(ctx, batch, n);
      k.seq_slice_time(batch, n + w, 0, n, row, ext, y);
      k.seq_slice_time(batch, n + w, n, w, row, ext, tail.ptr);
    }
    this.finish(ctx, batch * n, y);
    return this.result(y, repeatedMask(ctx, x, this.time.s), batch, n);
  }

  /** y [B, tOut, ...] += the transposed convolution of x (masked first), tap 0 of input step t landing at t * s + offset. */
  private overlapAdd(ctx: RunContext, x: WSeq, tOut: number, offset: number, y: number): void {
    const rows = x.batch * x.time * this.positionsIn;
    if (rows === 0 || tOut === 0) return;
    let xv = x.values;
    if (this.time.k > 1) {
      xv = ctx.alloc(rows * this.cin * 4);
      ctx.rt.k.f32_mask_invalid(x.batch * x.time, this.positionsIn * this.cin, x.mask, x.values, xv, 0);
    }
    const n = Math.min(this.zRows, rows);
    const z = ctx.alloc(n * this.taps * this.filters * 4);
    ctx.rt.k.f32_conv2d_transpose(x.batch, x.time, tOut, offset, this.geom.ptr, xv, this.packed.ptr, z, n, y);
  }

  /** Bias and activation in place over `steps` output steps. */
  private finish(ctx: RunContext, steps: number, y: number): void {
    const bias = this.weights.bias;
    if (bias) ctx.rt.k.f32_vadd_rows(steps * (this.stepOut / this.filters), this.filters, y, bias.ptr, y);
    this.activation?.(ctx.rt.k, steps * this.stepOut, y, y);
  }
}

const transposeFields = {
  /** Output channels (required). */
  filters: f.int(1),
  /** Taps of the kernel in time (required). */
  kernelSize: f.int(1),
  /** Output steps per input step: the output ratio (default 1; at most MAX_RF_PHASES, the period of its receptive field). */
  strides: f.int(1, MAX_RF_PHASES).default(1),
  /** Output steps between kernel taps (default 1). */
  dilationRate: f.int(1).default(1),
  /** Time padding, one of TRANSPOSE_PADDING_MODES (default 'valid'); only 'causal' can step. */
  padding: f.oneOf(PADDING_MODES).default('valid'),
  /** Channel groups: input and output channels split into this many independent convolutions (default 1). */
  groups: f.int(1).default(1),
  /** Adds a learned bias per output channel, after the overlap-add (default true). */
  useBias: f.bool().default(true),
  /** Reparameterises the kernel as scale * kernel / ||kernel|| per output channel, adding param 'scale' (default false). */
  useWeightNorm: f.bool().default(false),
  /** Activation applied after the bias, by name (see ACTIVATION_NAMES in simple.ts); null or omitted: none. */
  activation: activationField(),
  ...convReferenceFields,
};

const conv1dTransposeDef = defineLayer({ type: 'Conv1DTranspose', fields: transposeFields, create: (c, ctx) => new Conv1DTransposeLayer(c, ctx) });

/** A 1-D transposed convolution over time: upsamples by `strides`. */
export const Conv1DTranspose = builder(conv1dTransposeDef);

/**
 * Conv1DTranspose. Parameters: 'kernel' [kernelSize, in / groups, filters], 'bias' [filters],
 * 'scale' [filters] when useWeightNorm. Input step t reaches output t * s + left - j * d
 * through tap j (left = transposeConvExplicitPadding(...)[0]): the reference's kernel is not
 * flipped. To load a Keras Conv1DTranspose kernel [k, filters, in], flip it in time and swap
 * its last two axes: kernel[j, c, o] = keras[k - 1 - j, o, c] (same padding names). A PyTorch
 * ConvTranspose1d weight [in, out / groups, k] maps to kernel[j, c, g * out/groups + o] =
 * torch[g * in/groups + c, o, k - 1 - j]; torch's `padding` p equals left = eks - 1 - p
 * ('valid' and 'causal' are p = 0; 'valid' keeps torch's full output length).
 */
export class Conv1DTransposeLayer extends BaseConvTransposeLayer {
  constructor(config: Resolved<typeof transposeFields>, ctx: BuildContext) {
    super(config, ctx, { k: config.kernelSize, s: config.strides, d: config.dilationRate, padding: config.padding }, 'padding', null);
  }
}

const conv2dTransposeFields = {
  ...spatialConvFields(2),
  /** Steps between inputs per axis in the output (default 1); the time stride is the output ratio (at most MAX_RF_PHASES). */
  strides: perAxisField(2, MAX_RF_PHASES).default(1),
  /** Padding of the spatial axis: 'valid', 'same' or 'causal' (default 'same'); the reference cannot transpose others. */
  spatialPadding: spatialPaddingField(),
};

const conv2dTransposeDef = defineLayer({ type: 'Conv2DTranspose', fields: conv2dTransposeFields, create: (c, ctx) => new Conv2DTransposeLayer(c, ctx) });

/** A 2-D transposed convolution over time and one spatial axis: upsamples time by strides[0]. */
export const Conv2DTranspose = builder(conv2dTransposeDef);

/**
 * Conv2DTranspose. Parameters: 'kernel' [kt, ks, in / groups, filters], 'bias' [filters],
 * 'scale' [filters] when useWeightNorm (not flipped; see Conv1DTransposeLayer for loading
 * Keras or PyTorch kernels, flipping both tap axes). time_padding as Conv1DTranspose's
 * padding; spaceOut = space * s (same, causal) or space * s + max(eks - s, 0) (valid).
 */
export class Conv2DTransposeLayer extends BaseConvTransposeLayer {
  constructor(config: Resolved<typeof conv2dTransposeFields>, ctx: BuildContext) {
    const [kt, ks] = perAxis(config.kernelSize, 2) as [number, number];
    const [st, ss] = perAxis(config.strides, 2) as [number, number];
    const [dt, ds] = perAxis(config.dilationRate, 2) as [number, number];
    super(config, ctx, { k: kt, s: st, d: dt, padding: config.timePadding }, 'time_padding', { k: ks, s: ss, d: ds, padding: config.spatialPadding });
  }
}

// ---------------------------------------------------------------------------------------------
// Downsample1D, Upsample1D, Upsample2D (simple.py in the reference): stateless; they move whole
// steps as bytes, so any dtype passes.

const downsample1dFields = {
  /** Keeps every rate-th step, starting with the first (required); also the block size. */
  rate: f.int(1),
};

const downsample1dDef = defineLayer({ type: 'Downsample1D', fields: downsample1dFields, create: (c, ctx) => new Downsample1DLayer(c, ctx) });

/** Keeps x[:, ::rate], values and mask. */
export const Downsample1D = builder(downsample1dDef);

/**
 * Downsample1D: output time ceil(T / rate). Steps in blocks of rate, each keeping its first
 * step, as layer() does. Input latency rate - 1, as the reference declares: the flush
 * completes a partial last block (output latency floor((rate - 1) / rate) = 0).
 */
export class Downsample1DLayer extends Layer {
  private readonly rate: number;

  constructor(config: Resolved<typeof downsample1dFields>, ctx: BuildContext) {
    super(config, ctx);
    this.rate = config.rate;
    this.blockSize = this.rate;
    this.outputRatio = new Fraction(1, this.rate);
    this.inputLatency = this.rate - 1;
  }

  runLayer(x: WSeq, ctx: RunContext): WSeq {
    const { batch, time } = x;
    if (this.rate === 1) return this.result(x.values, x.mask, batch, time);
    const tOut = Math.ceil(time / this.rate);
    const y = this.allocOutput(ctx, batch, tOut), mask = ctx.alloc(batch * tOut);
    ctx.rt.k.seq_stride_time(batch, time, tOut, this.rate, stepBytes(this.input), x.values, y);
    ctx.rt.k.seq_stride_time(batch, time, tOut, this.rate, 1, x.mask, mask);
    return this.result(y, mask, batch, tOut);
  }
}

const upsample1dFields = {
  /** Repeats every step this many times (required; at most MAX_RF_PHASES); the output ratio. */
  rate: f.int(1, MAX_RF_PHASES),
};

const upsample1dDef = defineLayer({ type: 'Upsample1D', fields: upsample1dFields, create: (c, ctx) => new Upsample1DLayer(c, ctx) });

/** Repeats each step `rate` times, values and mask. */
export const Upsample1D = builder(upsample1dDef);

/** Upsample1D: output time T * rate; receptive field (0, 0) for each of the rate output phases. */
export class Upsample1DLayer extends Layer {
  private readonly rate: number;

  constructor(config: Resolved<typeof upsample1dFields>, ctx: BuildContext) {
    super(config, ctx);
    this.rate = config.rate;
    this.outputRatio = new Fraction(this.rate);
    this.receptiveFieldPerStep = rfMap(Array.from({ length: this.rate }, () => [0, 0] as const));
  }

  runLayer(x: WSeq, ctx: RunContext): WSeq {
    const { batch, time } = x;
    if (this.rate === 1) return this.result(x.values, x.mask, batch, time);
    const y = this.allocOutput(ctx, batch, time * this.rate);
    ctx.rt.k.seq_repeat_time(batch, time, this.rate, stepBytes(this.input), x.values, y);
    return this.result(y, repeatedMask(ctx, x, this.rate), batch, time * this.rate);
  }
}

/** x's mask with every step repeated `rate` times (x's own when rate is 1). */
function repeatedMask(ctx: RunContext, x: WSeq, rate: number): number {
  if (rate === 1) return x.mask;
  const out = ctx.alloc(x.batch * x.time * rate);
  ctx.rt.k.seq_repeat_time(x.batch, x.time, rate, 1, x.mask, out);
  return out;
}

const upsample2dFields = {
  /** Repeats of each step in time and of each position of the first channel axis: one integer for both or [time, space] (required). */
  rate: perAxisField(2, MAX_RF_PHASES),
};

const upsample2dDef = defineLayer({ type: 'Upsample2D', fields: upsample2dFields, create: (c, ctx) => new Upsample2DLayer(c, ctx) });

/** Repeats time by rate[0] and the first channel axis by rate[1]: [space, channels] -> [space * rate[1], channels]. */
export const Upsample2D = builder(upsample2dDef);

/** Upsample2D: output time T * rate[0]; receptive field (0, 0) for each of the rate[0] output phases. */
export class Upsample2DLayer extends Layer {
  private readonly rate: [number, number];

  constructor(config: Resolved<typeof upsample2dFields>, ctx: BuildContext) {
    super(config, ctx);
    const shape = this.input.shape;
    if (shape.length !== 2) throw this.error('BAD_CONFIG', `expected a rank-2 input channel shape [space, channels], got ${show(shape)}`);
    this.rate = perAxis(config.rate, 2) as [number, number];
    this.output = { shape: [shape[0]! * this.rate[1], shape[1]!], dtype: this.input.dtype };
    this.outputRatio = new Fraction(this.rate[0]);
    this.receptiveFieldPerStep = rfMap(Array.from({ length: this.rate[0] }, () => [0, 0] as const));
  }

  runLayer(x: WSeq, ctx: RunContext): WSeq {
    const { batch, time } = x;
    const [rTime, rSpace] = this.rate;
    const space = this.input.shape[0]!;
    let values = x.values;
    if (rSpace > 1) {
      // Spatial positions are the steps of a [batch * time, space, channels] view.
      values = rTime === 1 ? this.allocOutput(ctx, batch, time) : ctx.alloc(batch * time * stepBytes(this.output));
      ctx.rt.k.seq_repeat_time(batch * time, space, rSpace, stepBytes(this.input) / space, x.values, values);
    }
    if (rTime === 1) return this.result(values, x.mask, batch, time);
    const y = this.allocOutput(ctx, batch, time * rTime);
    ctx.rt.k.seq_repeat_time(batch, time, rTime, stepBytes(this.output), values, y);
    return this.result(y, repeatedMask(ctx, x, rTime), batch, time * rTime);
  }
}

export const convolutionDefs = [
  conv1dDef, depthwiseConv1dDef, conv2dDef, conv3dDef, conv1dTransposeDef, conv2dTransposeDef, downsample1dDef, upsample1dDef, upsample2dDef,
];
