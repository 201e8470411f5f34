// DSP layers: delays, framing, overlap-add, windows, Fourier transforms, STFTs and mel
// spectrograms. Port of sequence_layers/jax/dsp.py and of the helpers it uses in signal.py
// (windows, frame, overlap_and_add, inverse_stft_window_fn, linear_to_mel_weight_matrix).
//
// Exports (sorted): Delay, DelayLayer, FFT, FFTLayer, Frame, FrameLayer, FramePadding, IFFT,
// IFFTLayer, IRFFT, IRFFTLayer, InverseSTFT, InverseSTFTLayer, InverseStftWindow, LinearToMelSpectrogram,
// LinearToMelSpectrogramLayer, Lookahead, LookaheadLayer, OverlapAdd, OverlapAddLayer, RFFT,
// RFFTLayer, STFT, STFTLayer, WINDOW_NAMES, Window, WindowFn, WindowLayer, WindowName, dspDefs,
// inverseStftWindowFn, linearToMelWeightMatrix, windowValues.
//
// Complex values: a complex64 sequence stores every element as an interleaved (re, im) pair of
// float32 (dtypeWidth 2 in src/sequence.ts), so [batch, time, bins] complex64 is [batch, time,
// bins, 2] floats. RFFT and STFT turn float32 into complex64, IRFFT and InverseSTFT complex64 into
// float32, FFT and IFFT keep complex64 (as the reference: FFT of a real signal is RFFT, or a Cast
// to complex64 first).
//
// Windows (`window_fn`): the reference passes a callable; here it is data: a name of
// WINDOW_NAMES ('hann' and 'hamming' are periodic, as tf.signal's defaults, and symmetric for odd
// lengths; the '_symmetric' variants are periodic=False), an explicit list of values, the
// inverse-STFT window {inverse_stft_window_fn: {frame_step, forward_window_fn}} (see
// inverseStftWindowFn), or null for none. Windows are computed in f64 and rounded once.
//
// Kernels: framing and overlap-add are assembly/dsp.ts (one call per block, plus the buffer
// copies every streaming layer does); transforms are assembly/fft.ts (one call per block for all
// frames, window and padding fused in); overlap-add masks reuse mask_conv_transpose and
// seq_repeat_time (assembly/conv.ts); the mel matrix runs through the packed GEMM.
import { axesMessage, channelAxes } from '../axes.js';
import { BroadcastPlan, Op } from '../broadcast.js';
import { builder, defineLayer, f, type Resolved } from '../config.js';
import { SeqLayersError, show } from '../errors.js';
import { Fraction } from '../fraction.js';
import { Layer, product, stepBytes, type BuildContext, type ChannelSpec, type Derived, type RunContext, type StateBuffer, type StateSpec, type WSeq } from '../layer.js';
import { rfMap, type ReceptiveField, type ReceptiveFieldPerStep } from '../receptive-field.js';
import type { Runtime } from '../runtime/runtime.js';
import { dtypeWidth } from '../sequence.js';
import {
  bufferBlock, ConvMask, PADDING_MODES, STEPPABLE, convolutionBufferWidth, convolutionExplicitPadding, convolutionOutputSize,
  shiftIn, transposeConvReceptiveFieldPerStep, windowSpan, type PaddingMode,
} from './convolution.js';

// ---------------------------------------------------------------------------------------------
// Shared: windows, state shapes, axes, FFT plans.

/** Named windows (signal.hann_window and signal.hamming_window, periodic or not). */
export const WINDOW_NAMES = ['hann', 'hamming', 'hann_symmetric', 'hamming_symmetric'] as const;
export type WindowName = (typeof WINDOW_NAMES)[number];

/** signal.inverse_stft_window_fn(frame_step, forward_window_fn) as config data. */
export interface InverseStftWindow {
  readonly inverseStftWindowFn: { readonly frameStep: number; readonly forwardWindowFn: WindowName | readonly number[] };
}

/** A window: a name, explicit values, or the inverse-STFT window of a forward window. */
export type WindowFn = WindowName | readonly number[] | InverseStftWindow;

/**
 * The window that makes InverseSTFT invert an STFT with `forwardWindowFn` and hop `frameStep`
 * (Griffin and Lim's equation 7, as tf.signal.inverse_stft_window_fn): the forward window
 * divided by the sum of the squared forward windows overlapping each sample.
 */
export function inverseStftWindowFn(frameStep: number, forwardWindowFn: WindowName | readonly number[] = 'hann'): InverseStftWindow {
  return { inverseStftWindowFn: { frameStep, forwardWindowFn } };
}

const isNumberList = (v: unknown): v is number[] => Array.isArray(v) && v.every((x) => typeof x === 'number' && Number.isFinite(x));
const isWindowName = (v: unknown): v is WindowName => WINDOW_NAMES.includes(v as WindowName);

/** Reads `snake` or its camelCase spelling from a nested config object. */
function either(o: Record<string, unknown>, snake: string, camel: string): unknown {
  return o[snake] ?? o[camel];
}

/** A window as config data (undefined when v is none of the accepted forms; null: no window). */
function checkWindow(v: unknown): WindowFn | null | undefined {
  if (v === null) return null;
  if (isWindowName(v) || isNumberList(v)) return v;
  if (typeof v !== 'object' || Array.isArray(v)) return undefined;
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  const inner = either(o, 'inverse_stft_window_fn', 'inverseStftWindowFn');
  if (keys.length !== 1 || !inner || typeof inner !== 'object' || Array.isArray(inner)) return undefined;
  const i = inner as Record<string, unknown>;
  const frameStep = either(i, 'frame_step', 'frameStep');
  const forward = either(i, 'forward_window_fn', 'forwardWindowFn') ?? 'hann';
  const known = new Set(['frame_step', 'frameStep', 'forward_window_fn', 'forwardWindowFn']);
  if (!Number.isInteger(frameStep) || (frameStep as number) < 1 || Object.keys(i).some((k) => !known.has(k))) return undefined;
  if (!isWindowName(forward) && !isNumberList(forward)) return undefined;
  return inverseStftWindowFn(frameStep as number, forward);
}

/** The `window_fn` field: default periodic Hann, null for none. */
const windowField = () =>
  f.custom<WindowFn | null>(
    `one of ${WINDOW_NAMES.map((n) => JSON.stringify(n)).join(', ')}, a list of numbers, ` +
      '{"inverse_stft_window_fn": {"frame_step": n, "forward_window_fn": name}} or null',
    checkWindow,
  ).default('hann');

/** tf.signal's raised cosine a - b cos(2 pi k / N): N = L for periodic even lengths, L - 1 otherwise. */
function raisedCosine(length: number, periodic: boolean, a: number, b: number): Float64Array {
  if (length === 1) return Float64Array.of(1);
  const denom = length + (periodic && length % 2 === 0 ? 1 : 0) - 1;
  // A plain loop: Float64Array.from with a mapping callback took ~1 s at 2^24 samples.
  const w = new Float64Array(length);
  for (let k = 0; k < length; k++) w[k] = a - b * Math.cos((2 * Math.PI * k) / denom);
  return w;
}

/** The values of window `fn` for `length` samples (f64), or what is wrong with it (`field` names the config field). */
function computeWindow(fn: WindowFn, length: number, field: string): Float64Array | string {
  if (typeof fn === 'string') {
    const periodic = !fn.endsWith('_symmetric');
    return fn.startsWith('hann') ? raisedCosine(length, periodic, 0.5, 0.5) : raisedCosine(length, periodic, 0.54, 0.46);
  }
  if (!('inverseStftWindowFn' in fn)) {
    return fn.length === length ? Float64Array.from(fn) : `${field}: expected ${length} window values, got ${fn.length}`;
  }
  const { frameStep, forwardWindowFn } = fn.inverseStftWindowFn;
  const forward = computeWindow(forwardWindowFn, length, `${field}.forward_window_fn`);
  if (typeof forward === 'string') return forward;
  // Sum of squares of every forward window sample that lands on the same phase of the hop.
  const phase = new Float64Array(frameStep);
  forward.forEach((w, k) => (phase[k % frameStep]! += w * w));
  return forward.map((w, k) => {
    const sum = phase[k % frameStep]!;
    return sum === 0 ? 0 : w / sum;
  });
}

/** The values of window `fn` for `length` samples (f64); BAD_CONFIG when explicit values do not have `length` entries. */
export function windowValues(fn: WindowFn, length: number): Float64Array {
  const w = computeWindow(fn, length, 'window_fn');
  if (typeof w === 'string') throw new SeqLayersError('BAD_CONFIG', w);
  return w;
}

/** The window of a layer's `window_fn` field for `length` samples (null: none); errors name the layer. */
function layerWindow(layer: Layer, fn: WindowFn | null, length: number): Float64Array | null {
  if (fn === null) return null;
  const w = computeWindow(fn, length, 'window_fn');
  if (typeof w === 'string') throw layer.error('BAD_CONFIG', w);
  return w;
}

/** A float table computed at build time, copied into WebAssembly memory in prepare(). */
class Table {
  constructor(
    private readonly values: Float64Array,
    private readonly buf: Derived,
  ) {}
  static of(values: Float64Array | null, derive: (bytes: number) => Derived): Table | null {
    return values ? new Table(values, derive(values.length * 4)) : null;
  }
  get ptr(): number {
    return this.buf.ptr;
  }
  write(rt: Runtime): void {
    rt.f32.set(this.values, this.buf.ptr >> 2);
  }
}

/** The state spec of `steps` past steps of `spec` per item (complex values as trailing (re, im) pairs). */
function stepsState(name: string, spec: ChannelSpec, batch: number, steps: number): StateSpec {
  if (spec.dtype === 'int32') return { name, dtype: 'int32', shape: [batch, steps, ...spec.shape] };
  return { name, dtype: 'float32', shape: [batch, steps, ...spec.shape, ...(spec.dtype === 'complex64' ? [2] : [])] };
}

/** An axis index (negative: from the end). */
const axisField = () => f.custom<number>('an integer', (v) => (Number.isInteger(v) ? (v as number) : undefined));

/** FFT paddings: where a shorter axis gets its zeros, and which part of a longer one is kept. */
const FFT_PADDINGS = ['right', 'center'] as const;
type FftPadding = (typeof FFT_PADDINGS)[number];

/**
 * Shift that places an axis of length d into one of length n (the reference's
 * _pad_or_truncate_for_fft): dst[j] = src[j - shift]. 'right' pads or keeps at the end;
 * 'center' splits the padding (extra zero on the right) or trims floor((d - n) / 2) from the left.
 */
function placement(d: number, n: number, padding: FftPadding): number {
  if (padding === 'right') return 0;
  return d <= n ? Math.floor((n - d) / 2) : -Math.floor((d - n) / 2);
}

/** Transform modes of f32_fft (FFT_* in assembly/fft.ts). */
const FFT_MODE = { forward: 0, inverse: 1, realForward: 2, realInverse: 3, realMagnitude: 4 } as const;
type FftMode = (typeof FFT_MODE)[keyof typeof FFT_MODE];

/** A length-n transform plan (stage twiddles or Bluestein chirp; for even n also the half-length plan of the real transforms) in a derived buffer, built in prepare(). */
class FftPlan {
  private readonly buf: Derived;
  constructor(
    rt: Runtime,
    readonly n: number,
    derive: (bytes: number) => Derived,
  ) {
    this.buf = derive(rt.k.f32_fft_plan_len(n) * 4);
  }

  prepare(rt: Runtime): void {
    const scratch = rt.k.f32_fft_plan_scratch_bytes(this.n);
    rt.arena.begin();
    try {
      rt.k.f32_fft_plan_init(this.n, this.buf.ptr, scratch ? rt.arena.alloc(scratch) : 0);
    } finally {
      rt.arena.end();
    }
  }

  /** f32_fft over x [outer, dIn, inner] -> y [outer, dOut, inner] (see assembly/fft.ts). */
  run(ctx: RunContext, mode: FftMode, outer: number, inner: number, dIn: number, inOff: number, dOut: number, outOff: number, x: number, win: number, y: number): void {
    const work = ctx.alloc(ctx.rt.k.f32_fft_work_len(this.n) * 4);
    ctx.rt.k.f32_fft(this.buf.ptr, mode, outer, inner, dIn, inOff, dOut, outOff, x, win, y, work);
  }
}

// ---------------------------------------------------------------------------------------------
// Delay

const delayFields = {
  /** Steps of delay, >= 0 (required); 0 is a no-op. */
  length: f.int(0),
  /** Delay layer() outputs too (they get `length` invalid steps in front); false: only step() delays (default true). */
  delayLayerOutput: f.bool().default(true),
};

const DelayDef = defineLayer({ type: 'Delay', fields: delayFields, create: (c, ctx) => new DelayLayer(c, ctx) });

/** Delays its input by `length` steps (inserting invalid steps in front). */
export const Delay = builder(DelayDef);

/**
 * Delay. No parameters. layer() prepends `length` invalid zero steps (delayLayerOutput) or returns
 * its input; step() always delays. State (length > 0): 'values' [B, length, ...C] (the last
 * `length` inputs, initially zeros) and 'mask' [B, length] (initially invalid).
 */
export class DelayLayer extends Layer {
  private readonly length: number;
  private readonly delayLayerOutput: boolean;

  constructor(config: Resolved<typeof delayFields>, ctx: BuildContext) {
    super(config, ctx);
    this.length = config.length;
    this.delayLayerOutput = config.delayLayerOutput;
    this.inputLatency = this.length;
    this.outputLatency = this.delayLayerOutput ? 0 : this.length;
    const rf = this.delayLayerOutput ? -this.length : 0;
    this.receptiveFieldPerStep = rfMap([[rf, rf]]);
  }

  stateSpecs(batch: number): StateSpec[] {
    if (!this.length) return [];
    return [stepsState('values', this.input, batch, this.length), { name: 'mask', dtype: 'uint8', shape: [batch, this.length] }];
  }

  layerOutputTime(time: number): number {
    return this.delayLayerOutput ? time + this.length : time;
  }

  runLayer(x: WSeq, ctx: RunContext): WSeq {
    if (!this.length || !this.delayLayerOutput) return x;
    const { batch, time } = x;
    const row = stepBytes(this.input), t = this.layerOutputTime(time);
    const values = this.allocOutput(ctx, batch, t), mask = ctx.alloc(batch * t);
    ctx.rt.k.seq_pad_time(batch, time, this.length, 0, row, x.values, values, 0, 0);
    ctx.rt.k.seq_pad_time(batch, time, this.length, 0, 1, x.mask, mask, 0, 0);
    return this.result(values, mask, batch, t);
  }

  runStep(x: WSeq, ctx: RunContext): WSeq {
    if (!this.length) return x;
    const { batch, time } = x;
    const k = ctx.rt.k, state = this.stateOf(ctx), length = this.length;
    const [sv, sm] = state as [StateBuffer, StateBuffer];
    const row = stepBytes(this.input);
    // The output is the first `time` steps of [buffer ‖ block]: within the buffer when the
    // block is no longer than the delay, else through one copy of both.
    let from = sv.ptr, fromMask = sm.ptr, n = length;
    if (time > length) {
      n = length + time;
      from = ctx.alloc(batch * n * row);
      fromMask = ctx.alloc(batch * n);
      k.seq_concat_time(batch, length, time, row, sv.ptr, x.values, from);
      k.seq_concat_time(batch, length, time, 1, sm.ptr, x.mask, fromMask);
    }
    const values = this.allocOutput(ctx, batch, time), mask = ctx.alloc(batch * time);
    k.seq_slice_time(batch, n, 0, time, row, from, values);
    k.seq_slice_time(batch, n, 0, time, 1, fromMask, mask);
    shiftIn(ctx, state, batch, length, time, row, x.values, x.mask);
    return this.result(values, mask, batch, time);
  }
}

// ---------------------------------------------------------------------------------------------
// Lookahead

const lookaheadFields = {
  /** Steps to look ahead, >= 0 (required); 0 is a no-op. */
  length: f.int(0),
  /** layer() pads `length` invalid steps at the end so the output keeps the input's length (default false). */
  preserveLengthInLayer: f.bool().default(false),
};

const LookaheadDef = defineLayer({ type: 'Lookahead', fields: lookaheadFields, create: (c, ctx) => new LookaheadLayer(c, ctx) });

/** Drops the first `length` steps of its input. */
export const Lookahead = builder(LookaheadDef);

/**
 * Lookahead. No parameters. layer() drops the first `length` steps (output `length` shorter,
 * unless preserveLengthInLayer pads invalid steps back at the end); step() keeps every step but
 * marks the first `length` of each item invalid, so its output lags by `length`
 * (outputLatency). State (length > 0): 'countdown' [B] int32, initially length + 1, decremented
 * at each step; a step keeps its mask once it reached 0. The reference counts valid steps only,
 * so that it passes over a latency's warm-up; then leading invalid steps of the sequence itself
 * (a mask, a Delay before it) shift it in step() but not in layer(). Here it counts every step
 * and chains withhold the warm-up from it (skipsWarmUp), except where they cannot
 * (seesWarmUp): then it counts valid steps, as the reference.
 */
export class LookaheadLayer extends Layer {
  private readonly length: number;
  private readonly preserve: boolean;
  /** Count only valid steps (set by seesWarmUp). */
  private countsValidOnly = false;

  constructor(config: Resolved<typeof lookaheadFields>, ctx: BuildContext) {
    super(config, ctx);
    this.length = config.length;
    this.preserve = config.preserveLengthInLayer;
    this.outputLatency = this.length;
    this.receptiveFieldPerStep = rfMap([[this.length, this.length]]);
    this.skipsWarmUp = this.length > 0;
  }

  /** Not spared a latency's warm-up (steps > 0): pass over it as the reference does, counting valid steps only. */
  seesWarmUp(steps: number): void {
    this.countsValidOnly = steps > 0;
  }

  stateSpecs(batch: number): StateSpec[] {
    return this.length ? [{ name: 'countdown', dtype: 'int32', shape: [batch], fill: this.length + 1 }] : [];
  }

  layerOutputTime(time: number): number {
    const kept = Math.max(0, time - this.length);
    return this.preserve ? kept + this.length : kept;
  }

  runLayer(x: WSeq, ctx: RunContext): WSeq {
    if (!this.length) return x;
    const { batch, time } = x;
    const k = ctx.rt.k;
    const row = stepBytes(this.input);
    const kept = Math.max(0, time - this.length), t = this.layerOutputTime(time);
    let values = this.allocOutput(ctx, batch, kept), mask = ctx.alloc(batch * kept);
    k.seq_slice_time(batch, time, time - kept, kept, row, x.values, values);
    k.seq_slice_time(batch, time, time - kept, kept, 1, x.mask, mask);
    if (this.preserve) {
      const pv = this.allocOutput(ctx, batch, t), pm = ctx.alloc(batch * t);
      k.seq_pad_time(batch, kept, 0, this.length, row, values, pv, 0, 0);
      k.seq_pad_time(batch, kept, 0, this.length, 1, mask, pm, 0, 0);
      [values, mask] = [pv, pm];
    }
    return this.result(values, mask, batch, t);
  }

  runStep(x: WSeq, ctx: RunContext): WSeq {
    if (!this.length) return x;
    const mask = ctx.alloc(x.batch * x.time);
    ctx.rt.k.mask_countdown(x.batch, x.time, this.countsValidOnly, x.mask, this.stateOf(ctx)[0]!.ptr, mask);
    return this.result(x.values, mask, x.batch, x.time);
  }
}

// ---------------------------------------------------------------------------------------------
// Window

const windowFields = {
  /** The axis the window runs along, on the full [batch, time, ...channels] rank (required; not batch or time). */
  axis: axisField(),
  /** The window (see WindowFn): a name, explicit values, an inverse-STFT window, or null for none (default 'hann'). */
  windowFn: windowField(),
};

const WindowDef = defineLayer({ type: 'Window', fields: windowFields, create: (c, ctx) => new WindowLayer(c, ctx) });

/** Multiplies the values by a window along one channel axis (as STFT and InverseSTFT do). */
export const Window = builder(WindowDef);

/**
 * Window. No parameters; the window is computed at build time for the axis size. Stateless,
 * shape and dtype preserved (float32 or complex64, whose (re, im) pairs are both scaled).
 * One f32_strided_binary call.
 */
export class WindowLayer extends Layer {
  private readonly window: Table | null;
  private readonly plan: BroadcastPlan;
  private readonly rows: number;

  constructor(config: Resolved<typeof windowFields>, ctx: BuildContext) {
    super(config, ctx);
    const { shape, dtype } = this.input;
    if (dtype === 'int32') throw this.error('BAD_CONFIG', `expected float32 or complex64 input, got ${dtype}`);
    const [a] = channelAxes(this, config.axis, shape, axesMessage('axis', 'a channel axis')) as [number];
    const n = shape[a]!;
    this.rows = product(shape.slice(0, a));
    const inner = product(shape.slice(a + 1)) * dtypeWidth(dtype);
    this.window = Table.of(layerWindow(this, config.windowFn, n), (b) => this.derive(b));
    this.plan = new BroadcastPlan([n, inner], { shape: [n, inner], perRow: true }, { shape: [n, 1], perRow: false });
  }

  prepare(): void {
    this.window?.write(this.rt);
  }

  runLayer(x: WSeq, ctx: RunContext): WSeq {
    if (!this.window) return x;
    const y = this.allocOutput(ctx, x.batch, x.time);
    this.plan.run(ctx, Op.mul, x.batch * x.time * this.rows, x.values, this.window.ptr, y);
    return this.result(y, x.mask, x.batch, x.time);
  }
}

// ---------------------------------------------------------------------------------------------
// Frame (and the framing half of STFT)

/** Frame padding: a mode, or explicit [past, future] amounts summing to frame_length - 1. */
export type FramePadding = PaddingMode | readonly [number, number];

/** Values, mask and length of a sequence a helper produced (reused between calls). */
interface SeqOut {
  values: number;
  mask: number;
  time: number;
}

/**
 * Framing as a convolution with kernel frame_length and stride frame_step (the reference's
 * Frame): the same output length, masks, latency, receptive field and streaming buffer as
 * Conv1D with that padding (see convolution.ts), except semicausal_full's input latency
 * (frame_step - 1) and explicit paddings (steppable, masks of the same-like modes).
 * Shared by Frame and STFT. Output frames [B, tOut, frameLength, ...C]; invalid input steps
 * read as zeros when frameLength > 1.
 */
class Framer {
  /** Layer-wise [left, right] zero padding. */
  readonly pad: readonly [number, number];
  readonly steppable: boolean;
  readonly inputLatency: number;
  /** Output latency when it differs from floor(inputLatency / frameStep). */
  readonly outputLatency: number | undefined;
  readonly receptiveField: readonly [number, number];
  /** Past input steps kept between steps. */
  readonly width: number;
  /** causal_valid takes the steps before the sequence for valid padding (see Layer.skipsWarmUp). */
  readonly skipsWarmUp: boolean;
  private readonly mode: PaddingMode | null;
  private readonly row: number;
  private readonly masks: ConvMask;
  private readonly out: SeqOut = { values: 0, mask: 0, time: 0 };
  /** The input of the current step: [buffer ‖ block] when buffered (reused by every step). */
  private readonly block = { values: 0, mask: 0 };

  constructor(
    readonly frameLength: number,
    readonly frameStep: number,
    padding: FramePadding,
    readonly input: ChannelSpec,
  ) {
    const fl = frameLength, fs = frameStep;
    this.row = stepBytes(input);
    if (typeof padding === 'string') {
      this.mode = padding;
      this.pad = convolutionExplicitPadding(padding, fl, fs, 1);
      this.steppable = STEPPABLE.has(padding);
      this.width = convolutionBufferWidth(padding, fl, fs, 1);
      this.inputLatency =
        padding === 'reverse_causal_valid' || padding === 'reverse_causal' ? fl - 1 : padding === 'semicausal_full' ? fs - 1 : 0;
      // Padding on both ends lines the step outputs up with layer() at once.
      this.outputLatency = padding === 'semicausal_full' ? 0 : undefined;
    } else {
      this.mode = null;
      this.pad = [padding[0], padding[1]];
      this.steppable = true;
      this.width = fl - 1 - (padding[1] % fs);
      this.inputLatency = Math.max(0, fl - 1 - padding[0]);
      this.outputLatency = undefined;
    }
    this.receptiveField = windowSpan(this.pad[0], fl);
    this.masks = new ConvMask(fl, fs, 1, this.pad[0], this.mode);
    this.skipsWarmUp = this.mode === 'causal_valid';
  }

  /** Layer-wise output length (convolution_padding_output_size; explicit pairs give ceil(T / s)). */
  outputTime(time: number): number {
    return this.mode ? convolutionOutputSize(time, this.mode, this.frameLength, this.frameStep, 1) : Math.ceil(time / this.frameStep);
  }

  stateSpecs(batch: number): StateSpec[] {
    if (!this.steppable || !this.width) return [];
    return [
      stepsState('values', this.input, batch, this.width),
      { name: 'mask', dtype: 'uint8', shape: [batch, this.width], fill: this.mode === 'causal_valid' ? 1 : 0 },
    ];
  }

  layer(ctx: RunContext, x: WSeq, valuesOut: number): SeqOut {
    const { batch, time } = x;
    const fl = this.frameLength;
    const tOut = this.outputTime(time);
    ctx.rt.k.seq_frame(batch, time, tOut, fl, this.frameStep, this.pad[0], this.row, x.values, fl > 1 ? x.mask : 0, valuesOut);
    return this.framed(valuesOut, this.masks.layer(ctx, batch, time, tOut, x.mask), tOut);
  }

  /** One block; `state` is the [values, mask] buffer pair (absent when width is 0). */
  step(ctx: RunContext, x: WSeq, state: readonly StateBuffer[] | undefined, valuesOut: number): SeqOut {
    const { batch, time } = x;
    const fl = this.frameLength, fs = this.frameStep, w = this.width;
    const tIn = w + time, tOut = time / fs;
    const block = this.block;
    block.values = x.values;
    block.mask = x.mask;
    // Raw values are kept: they are masked when framed.
    if (w) bufferBlock(ctx, state!, batch, w, time, this.row, x.values, x.mask, block);
    ctx.rt.k.seq_frame(batch, tIn, tOut, fl, fs, 0, this.row, block.values, fl > 1 ? block.mask : 0, valuesOut);
    return this.framed(valuesOut, this.masks.step(ctx, batch, tIn, tOut, block.mask), tOut);
  }

  private framed(values: number, mask: number, time: number): SeqOut {
    this.out.values = values;
    this.out.mask = mask;
    this.out.time = time;
    return this.out;
  }
}

const isPair = (v: unknown): v is [number, number] => Array.isArray(v) && v.length === 2 && v.every((x) => Number.isInteger(x) && x >= 0);

const frameFields = {
  /** Samples per frame (required). */
  frameLength: f.int(1),
  /** Samples between frame starts; also the block size (required). */
  frameStep: f.int(1),
  /** A padding mode of PADDING_MODES, or explicit [past, future] amounts summing to frame_length - 1 (default 'reverse_causal_valid'). */
  padding: f
    .custom<FramePadding>(`one of ${PADDING_MODES.map((m) => JSON.stringify(m)).join(', ')} or a [past, future] pair of integers >= 0`, (v) =>
      PADDING_MODES.includes(v as PaddingMode) || isPair(v) ? (v as FramePadding) : undefined,
    )
    .default('reverse_causal_valid'),
  /**
   * The reference's choice of the initial step mask with explicit padding (default false). Any
   * value is accepted and has no effect here: that mask only reaches the warm-up outputs, which
   * have no layer() counterpart and start invalid either way.
   */
  explicitPaddingIsSameLike: f.bool().default(false),
};

const FrameDef = defineLayer({ type: 'Frame', fields: frameFields, create: (c, ctx) => new FrameLayer(c, ctx) });

/** Overlapping frames of the input: [B, T, ...C] -> [B, T', frame_length, ...C]. */
export const Frame = builder(FrameDef);

/** Checks a padding pair against frame_length - 1 (the reference supports no other explicit padding). */
function checkFramePadding(layer: Layer, field: string, padding: FramePadding, frameLength: number): void {
  if (typeof padding !== 'string' && padding[0] + padding[1] !== frameLength - 1) {
    throw layer.error('BAD_CONFIG', `${field}: expected explicit [past, future] padding summing to frame_length - 1 = ${frameLength - 1}, got ${show(padding)}`);
  }
}

/**
 * Frame. No parameters. Ratio 1/frame_step, block frame_step; steppable for causal_valid,
 * reverse_causal_valid, causal, reverse_causal, semicausal and explicit pairs. State: 'values'
 * [B, W, ...C] (raw past inputs; W as Conv1D's buffer, or frame_length - 1 - (future mod
 * frame_step) for explicit pairs) and 'mask' [B, W] (initially valid for causal_valid only: see
 * BaseConvLayer for where this departs from the reference).
 */
export class FrameLayer extends Layer {
  private readonly framer: Framer;

  constructor(config: Resolved<typeof frameFields>, ctx: BuildContext) {
    super(config, ctx);
    checkFramePadding(this, 'padding', config.padding, config.frameLength);
    const fr = (this.framer = new Framer(config.frameLength, config.frameStep, config.padding, this.input));
    this.output = { shape: [config.frameLength, ...this.input.shape], dtype: this.input.dtype };
    this.blockSize = config.frameStep;
    this.outputRatio = new Fraction(1, config.frameStep);
    this.supportsStep = fr.steppable;
    this.inputLatency = fr.inputLatency;
    if (fr.outputLatency !== undefined) this.outputLatency = fr.outputLatency;
    this.skipsWarmUp = fr.skipsWarmUp;
    this.receptiveFieldPerStep = rfMap([fr.receptiveField]);
  }

  stateSpecs(batch: number): StateSpec[] {
    return this.framer.stateSpecs(batch);
  }

  layerOutputTime(time: number): number {
    return this.framer.outputTime(time);
  }

  runLayer(x: WSeq, ctx: RunContext): WSeq {
    const tOut = this.layerOutputTime(x.time);
    const y = this.framer.layer(ctx, x, this.allocOutput(ctx, x.batch, tOut));
    return this.result(y.values, y.mask, x.batch, y.time);
  }

  runStep(x: WSeq, ctx: RunContext): WSeq {
    const state = this.framer.width ? this.stateOf(ctx) : undefined;
    const y = this.framer.step(ctx, x, state, this.allocOutput(ctx, x.batch, x.time / this.blockSize));
    return this.result(y.values, y.mask, x.batch, y.time);
  }
}

// ---------------------------------------------------------------------------------------------
// OverlapAdd (and the synthesis half of InverseSTFT)

const OVERLAP_ADD_PADDINGS = ['causal', 'valid', 'semicausal_full'] as const;
type OverlapAddPadding = (typeof OVERLAP_ADD_PADDINGS)[number];

/**
 * Overlap-add of frames [B, T, frameLength, ...C] into [B, T', ...C] (signal.overlap_and_add):
 * output sample r sums tap r + skip - t * frameStep of every valid frame t (skip = frame_length -
 * frame_step for semicausal_full, which drops the front the matching Frame padded, else 0).
 * causal: T' = T * frame_step, the tail left for later steps is trimmed; valid: T' = (T - 1) *
 * frame_step + frame_length; semicausal_full: (T - 1) * frame_step + 1 when frame_length >
 * frame_step (the reference cuts its T * frame_step values to its shorter transposed-convolution
 * mask; the frame_step - 1 samples dropped would be invalid), else T * frame_step. Masks follow
 * the reference's transposed-convolution rules (mask repeated for causal and when frame_length
 * == frame_step; valid: no invalid frame overlaps; semicausal_full: some valid frame overlaps
 * the window [r, r + frame_length)).
 * Shared by OverlapAdd and InverseSTFT. Steps only in causal mode, with the tail
 * [B, frame_length - frame_step, ...C] as state.
 */
class OverlapAdder {
  readonly tail: number;
  private readonly skip: number;
  private readonly out: SeqOut = { values: 0, mask: 0, time: 0 };

  constructor(
    readonly frameLength: number,
    readonly frameStep: number,
    readonly padding: OverlapAddPadding,
    /** Floats per output step. */
    private readonly c: number,
  ) {
    this.tail = frameLength - frameStep;
    this.skip = padding === 'semicausal_full' ? this.tail : 0;
  }

  outputTime(time: number): number {
    if (time === 0) return 0;
    const fl = this.frameLength, fs = this.frameStep;
    if (this.padding === 'valid') return (time - 1) * fs + fl;
    // The reference's semicausal_full mask, a transposed convolution padded (fl - fs, fl - 1) and
    // trimmed by fl - fs, has (T - 1) * fs + 1 steps; its values are cut to that length.
    if (this.padding === 'semicausal_full' && fl > fs) return (time - 1) * fs + 1;
    return time * fs;
  }

  layer(ctx: RunContext, batch: number, time: number, x: number, mask: number, y: number): SeqOut {
    const k = ctx.rt.k;
    const fl = this.frameLength, fs = this.frameStep;
    const tOut = this.outputTime(time);
    k.f32_overlap_add(batch, time, fl, fs, this.c, this.skip, tOut, x, mask, 0, 0, y);
    let yMask = mask;
    if (this.padding === 'causal' || fl === fs) {
      if (fs !== 1) {
        yMask = ctx.alloc(batch * tOut);
        k.seq_repeat_time(batch, time, fs, 1, mask, yMask);
      }
    } else {
      yMask = ctx.alloc(batch * tOut);
      // valid: frames t with t * fs in [r - fl + 1, r]; semicausal_full (after the trim): in [r, r + fl - 1].
      const valid = this.padding === 'valid';
      k.mask_conv_transpose(batch, time, tOut, fl, fs, 1, valid ? fl - 1 : 0, !valid, mask, yMask);
    }
    return this.result(y, yMask, tOut);
  }

  /** One block (causal only): frames plus the stored tail, the next tail back into `tail`. */
  step(ctx: RunContext, batch: number, time: number, x: number, mask: number, tail: StateBuffer | undefined, y: number): SeqOut {
    const k = ctx.rt.k;
    const fs = this.frameStep, w = this.tail, row = this.c * 4;
    const t = time * fs;
    if (!tail) k.f32_overlap_add(batch, time, this.frameLength, fs, this.c, 0, t, x, mask, 0, 0, y);
    else {
      const all = ctx.alloc(batch * (t + w) * row);
      k.f32_overlap_add(batch, time, this.frameLength, fs, this.c, 0, t + w, x, mask, tail.ptr, w, all);
      k.seq_slice_time(batch, t + w, 0, t, row, all, y);
      k.seq_slice_time(batch, t + w, t, w, row, all, tail.ptr);
    }
    let yMask = mask;
    if (fs !== 1) {
      yMask = ctx.alloc(batch * t);
      k.seq_repeat_time(batch, time, fs, 1, mask, yMask);
    }
    return this.result(y, yMask, t);
  }

  stateSpecs(batch: number, output: ChannelSpec): StateSpec[] {
    return this.padding === 'causal' && this.tail ? [stepsState('tail', output, batch, this.tail)] : [];
  }

  private result(values: number, mask: number, time: number): SeqOut {
    this.out.values = values;
    this.out.mask = mask;
    this.out.time = time;
    return this.out;
  }
}

/**
 * Receptive field per output phase of an overlap-add whose taps k with live[k] carry signal:
 * output q * frame_step + i sums tap i + skip - d * frame_step of frame q + d, so phase i sees the
 * offsets d of its live taps (null when none).
 */
function overlapAddReceptiveField(frameStep: number, skip: number, live: ArrayLike<boolean>): ReceptiveFieldPerStep {
  const out: ReceptiveField[] = [];
  for (let i = 0; i < frameStep; i++) {
    // Only taps k ≡ i + skip (mod frame_step) land on phase i: O(frame_length) in all.
    let lo = Infinity, hi = -Infinity;
    for (let k = (((i + skip) % frameStep) + frameStep) % frameStep; k < live.length; k += frameStep) {
      if (!live[k]) continue;
      const d = (i + skip - k) / frameStep;
      lo = Math.min(lo, d);
      hi = Math.max(hi, d);
    }
    out.push(lo <= hi ? [lo, hi] : null);
  }
  return rfMap(out);
}

/** Checks OverlapAdd's frame_length >= frame_step (the reference does not support shorter frames). */
function checkOverlap(layer: Layer, frameLength: number, frameStep: number): void {
  if (frameLength < frameStep) {
    throw layer.error('BAD_CONFIG', `frame_step: expected at most frame_length = ${frameLength} (frames shorter than the step are not supported), got ${frameStep}`);
  }
}

const overlapAddFields = {
  /** Samples per frame; the input's first channel axis (required). */
  frameLength: f.int(1),
  /** Samples between frame starts, <= frame_length; the output ratio (required). */
  frameStep: f.int(1),
  /** 'causal' (steppable; drops the unfinished tail), 'valid' (keeps it) or 'semicausal_full' (drops the front a semicausal_full Frame added; (T - 1) * frame_step + 1 steps when frame_length > frame_step, as the reference) (default 'valid'). */
  padding: f.oneOf(OVERLAP_ADD_PADDINGS).default('valid'),
};

const OverlapAddDef = defineLayer({ type: 'OverlapAdd', fields: overlapAddFields, create: (c, ctx) => new OverlapAddLayer(c, ctx) });

/** Overlap-adds frames: [B, T, frame_length, ...C] -> [B, T', ...C], T' = T * frame_step (causal), + the tail (valid), or (T - 1) * frame_step + 1 (semicausal_full with frame_length > frame_step). */
export const OverlapAdd = builder(OverlapAddDef);

/**
 * OverlapAdd. No parameters. Ratio frame_step, block 1, latency 0; steppable in causal mode only,
 * with state 'tail' [B, frame_length - frame_step, ...C] (output samples still waiting for
 * later frames). layer() output lengths as the reference's (see OverlapAdder): longer than
 * T * frame_step for valid, shorter for semicausal_full. Receptive field: the transposed
 * convolution's (semicausal_full: per output phase, within the reference's (0,
 * ceil(frame_length / frame_step) - 1)). float32 or complex64.
 */
export class OverlapAddLayer extends Layer {
  private readonly ola: OverlapAdder;

  constructor(config: Resolved<typeof overlapAddFields>, ctx: BuildContext) {
    super(config, ctx);
    const { frameLength: fl, frameStep: fs, padding } = config;
    checkOverlap(this, fl, fs);
    const { shape, dtype } = this.input;
    if (shape[0] !== fl) throw this.error('BAD_CONFIG', `expected an input channel shape [frame_length = ${fl}, ...], got ${show(shape)}`);
    if (dtype === 'int32') throw this.error('BAD_CONFIG', `expected float32 or complex64 input, got ${dtype}`);
    this.output = { shape: shape.slice(1), dtype };
    this.ola = new OverlapAdder(fl, fs, padding, product(this.output.shape) * dtypeWidth(dtype));
    this.outputRatio = new Fraction(fs, 1);
    this.supportsStep = padding === 'causal';
    // semicausal_full drops the first fl - fs outputs: per phase, as InverseSTFT's (the reference
    // declares one coarse field for every phase, which a following layer widens).
    this.receptiveFieldPerStep =
      padding === 'semicausal_full' ? overlapAddReceptiveField(fs, fl - fs, Array<boolean>(fl).fill(true)) : transposeConvReceptiveFieldPerStep(fl, fs, 1, padding);
  }

  stateSpecs(batch: number): StateSpec[] {
    return this.ola.stateSpecs(batch, this.output);
  }

  layerOutputTime(time: number): number {
    return this.ola.outputTime(time);
  }

  runLayer(x: WSeq, ctx: RunContext): WSeq {
    const y = this.ola.layer(ctx, x.batch, x.time, x.values, x.mask, this.allocOutput(ctx, x.batch, this.layerOutputTime(x.time)));
    return this.result(y.values, y.mask, x.batch, y.time);
  }

  runStep(x: WSeq, ctx: RunContext): WSeq {
    const tail = this.ola.tail ? this.stateOf(ctx)[0] : undefined;
    const y = this.ola.step(ctx, x.batch, x.time, x.values, x.mask, tail, this.allocOutput(ctx, x.batch, x.time * this.ola.frameStep));
    return this.result(y.values, y.mask, x.batch, y.time);
  }
}

// ---------------------------------------------------------------------------------------------
// FFT, IFFT, RFFT, IRFFT

const fftFields = {
  /** Transform length (default: the axis size). The input is padded or trimmed to it per `padding`; IFFT checks it and transforms the input's own length, as the reference's. */
  fftLength: f.int(1).opt(),
  /** The transformed axis on the full [batch, time, ...channels] rank (default -1; not batch or time). */
  axis: axisField().default(-1),
  /** Where zeros go when the axis is shorter than the transform, and what is kept when longer: 'right' or 'center' (default 'right'). */
  padding: f.oneOf(FFT_PADDINGS).default('right'),
};

const inverseFftFields = {
  ...fftFields,
  /** Output length along the axis: the result is padded or trimmed to it per `padding` (default: the transform length). */
  frameLength: f.int(1).opt(),
};

type FftKind = 'FFT' | 'IFFT' | 'RFFT' | 'IRFFT';
type FftConfig = Resolved<typeof fftFields> & { frameLength?: number };

/**
 * The four transforms along one channel axis (the reference's FFTBase): no parameters, stateless,
 * ratio 1, receptive field (0, 0). Values at invalid steps stay in their own rows. One f32_fft
 * call per block over all [batch * time * leading axes] x [trailing axes] columns.
 */
abstract class FourierLayer extends Layer {
  private readonly plan: FftPlan;
  private readonly mode: FftMode;
  private readonly outer: number;
  private readonly inner: number;
  private readonly dIn: number;
  private readonly dOut: number;
  private readonly inOff: number;
  private readonly outOff: number;

  constructor(config: FftConfig, ctx: BuildContext, kind: FftKind) {
    super(config, ctx);
    const { shape, dtype } = this.input;
    const [a] = channelAxes(this, config.axis, shape, axesMessage('axis', 'a channel axis')) as [number];
    const d = shape[a]!;
    const real = kind === 'RFFT';
    const want = real ? 'float32' : 'complex64';
    if (dtype !== want) {
      const hint = kind === 'FFT' ? ' (use RFFT for real input, or Cast to complex64)' : '';
      throw this.error('BAD_CONFIG', `expected ${want} input, got ${dtype}${hint}`);
    }
    // The reference's IFFT transforms the input's own length: its fft_length is checked, not used.
    const n = kind === 'IFFT' ? d : (config.fftLength ?? (kind === 'IRFFT' ? 2 * (d - 1) : d));
    if (n < 1) throw this.error('BAD_CONFIG', `fft_length: expected a transform length >= 1; the input has ${d} bin(s), so give fft_length explicitly`);
    const forward = kind === 'FFT' || kind === 'RFFT';
    const length = forward ? (real ? Math.floor(n / 2) + 1 : n) : (config.frameLength ?? n);
    this.mode = kind === 'FFT' ? FFT_MODE.forward : kind === 'IFFT' ? FFT_MODE.inverse : real ? FFT_MODE.realForward : FFT_MODE.realInverse;
    // Forward transforms place the input in the transform; inverse ones take numpy's input
    // (padded or cut on the right) and place the result in frame_length.
    this.inOff = forward ? placement(d, n, config.padding) : 0;
    this.outOff = forward ? 0 : -placement(n, length, config.padding);
    this.dIn = d;
    this.dOut = length;
    this.outer = product(shape.slice(0, a));
    this.inner = product(shape.slice(a + 1));
    this.output = { shape: shape.map((s, i) => (i === a ? length : s)), dtype: kind === 'IRFFT' ? 'float32' : 'complex64' };
    this.plan = new FftPlan(this.rt, n, (b) => this.derive(b));
  }

  prepare(): void {
    this.plan.prepare(this.rt);
  }

  runLayer(x: WSeq, ctx: RunContext): WSeq {
    const y = this.allocOutput(ctx, x.batch, x.time);
    this.plan.run(ctx, this.mode, x.batch * x.time * this.outer, this.inner, this.dIn, this.inOff, this.dOut, this.outOff, x.values, 0, y);
    return this.result(y, x.mask, x.batch, x.time);
  }
}

const FFTDef = defineLayer({ type: 'FFT', fields: fftFields, create: (c, ctx) => new FFTLayer(c, ctx) });
const IFFTDef = defineLayer({ type: 'IFFT', fields: inverseFftFields, create: (c, ctx) => new IFFTLayer(c, ctx) });
const RFFTDef = defineLayer({ type: 'RFFT', fields: fftFields, create: (c, ctx) => new RFFTLayer(c, ctx) });
const IRFFTDef = defineLayer({ type: 'IRFFT', fields: inverseFftFields, create: (c, ctx) => new IRFFTLayer(c, ctx) });

/** DFT along a channel axis: complex64 [.., d, ..] -> complex64 [.., fft_length, ..]. */
export const FFT = builder(FFTDef);
/** Inverse DFT (1/n) over the axis's own length: complex64 -> complex64 [.., frame_length or the input's length, ..] (fft_length is checked, not used, as in the reference). */
export const IFFT = builder(IFFTDef);
/** Real DFT: float32 [.., d, ..] -> complex64 [.., fft_length // 2 + 1, ..]. */
export const RFFT = builder(RFFTDef);
/** Inverse real DFT (numpy.fft.irfft): complex64 bins -> float32 [.., frame_length or fft_length (default 2 (bins - 1)), ..]. */
export const IRFFT = builder(IRFFTDef);

/** FFT (see FourierLayer). Input complex64; the axis is padded or trimmed to fft_length. */
export class FFTLayer extends FourierLayer {
  constructor(config: Resolved<typeof fftFields>, ctx: BuildContext) {
    super(config, ctx, 'FFT');
  }
}

/** IFFT (see FourierLayer). Input complex64 of length d, transformed with n = d (numpy's ifft(x)), then padded or trimmed to frame_length. */
export class IFFTLayer extends FourierLayer {
  constructor(config: Resolved<typeof inverseFftFields>, ctx: BuildContext) {
    super(config, ctx, 'IFFT');
  }
}

/** RFFT (see FourierLayer). Input float32. */
export class RFFTLayer extends FourierLayer {
  constructor(config: Resolved<typeof fftFields>, ctx: BuildContext) {
    super(config, ctx, 'RFFT');
  }
}

/** IRFFT (see FourierLayer). Input complex64 bins; imaginary parts of DC and Nyquist are ignored, as numpy. */
export class IRFFTLayer extends FourierLayer {
  constructor(config: Resolved<typeof inverseFftFields>, ctx: BuildContext) {
    super(config, ctx, 'IRFFT');
  }
}

// ---------------------------------------------------------------------------------------------
// STFT

const stftFields = {
  /** Samples per frame (required). */
  frameLength: f.int(1),
  /** Samples between frames; the block size (required). */
  frameStep: f.int(1),
  /** Transform length; frames are padded or trimmed to it per fft_padding (required). */
  fftLength: f.int(1),
  /** Analysis window (see WindowFn; default periodic 'hann'; null: none). */
  windowFn: windowField(),
  /** Framing padding mode (see Frame; default 'reverse_causal_valid', which looks frame_length - 1 samples ahead). */
  timePadding: f.oneOf(PADDING_MODES).default('reverse_causal_valid'),
  /** 'right' or 'center' placement of frames in the transform (default 'right', as tf.signal.stft). */
  fftPadding: f.oneOf(FFT_PADDINGS).default('right'),
  /** Output |STFT| as float32 instead of the complex64 STFT (default false). */
  outputMagnitude: f.bool().default(false),
};

const STFTDef = defineLayer({ type: 'STFT', fields: stftFields, create: (c, ctx) => new STFTLayer(c, ctx) });

/** Short-time Fourier transform: float32 [B, T, ...C] -> [B, T', fft_length // 2 + 1, ...C]. */
export const STFT = builder(STFTDef);

/**
 * STFT: Frame, window, RFFT (tf.signal.stft with 'right' fft padding). No parameters. Metadata and
 * state are the Frame's with time_padding; the receptive field keeps only frame taps the
 * window does not zero and the FFT does not trim (periodic Hann has w[0] = 0, so frame_length 4,
 * step 2, reverse_causal gives (1, 3)). Output complex64 (float32 magnitudes with
 * output_magnitude). Per block: one seq_frame and one f32_fft call.
 */
export class STFTLayer extends Layer {
  private readonly framer: Framer;
  private readonly plan: FftPlan;
  private readonly window: Table | null;
  private readonly bins: number;
  private readonly inOff: number;
  private readonly magnitude: boolean;

  constructor(config: Resolved<typeof stftFields>, ctx: BuildContext) {
    super(config, ctx);
    const { frameLength: fl, frameStep: fs, fftLength: n } = config;
    if (this.input.dtype !== 'float32') throw this.error('BAD_CONFIG', `expected float32 input, got ${this.input.dtype}`);
    const fr = (this.framer = new Framer(fl, fs, config.timePadding, this.input));
    this.blockSize = fs;
    this.outputRatio = new Fraction(1, fs);
    this.supportsStep = fr.steppable;
    this.inputLatency = fr.inputLatency;
    if (fr.outputLatency !== undefined) this.outputLatency = fr.outputLatency;
    this.skipsWarmUp = fr.skipsWarmUp;
    this.bins = Math.floor(n / 2) + 1;
    this.inOff = placement(fl, n, config.fftPadding);
    this.magnitude = config.outputMagnitude;
    this.output = { shape: [this.bins, ...this.input.shape], dtype: this.magnitude ? 'float32' : 'complex64' };
    const window = layerWindow(this, config.windowFn, fl);
    this.window = Table.of(window, (b) => this.derive(b));
    this.plan = new FftPlan(this.rt, n, (b) => this.derive(b));
    // The first and last frame taps that reach the transform with a non-zero weight.
    const start = fr.receptiveField[0];
    const live = (i: number) => (!window || window[i] !== 0) && i + this.inOff >= 0 && i + this.inOff < n;
    let first = 0, last = fl - 1;
    while (first < fl && !live(first)) first++;
    while (last > first && !live(last)) last--;
    this.receptiveFieldPerStep = rfMap([first < fl ? [start + first, start + last] : null]);
  }

  prepare(): void {
    this.window?.write(this.rt);
    this.plan.prepare(this.rt);
  }

  stateSpecs(batch: number): StateSpec[] {
    return this.framer.stateSpecs(batch);
  }

  layerOutputTime(time: number): number {
    return this.framer.outputTime(time);
  }

  runLayer(x: WSeq, ctx: RunContext): WSeq {
    const framed = this.framer.layer(ctx, x, this.frames(ctx, x.batch, this.layerOutputTime(x.time)));
    return this.transform(ctx, x.batch, framed);
  }

  runStep(x: WSeq, ctx: RunContext): WSeq {
    const state = this.framer.width ? this.stateOf(ctx) : undefined;
    return this.transform(ctx, x.batch, this.framer.step(ctx, x, state, this.frames(ctx, x.batch, x.time / this.blockSize)));
  }

  private frames(ctx: RunContext, batch: number, time: number): number {
    return ctx.alloc(batch * time * this.framer.frameLength * stepBytes(this.input));
  }

  private transform(ctx: RunContext, batch: number, framed: SeqOut): WSeq {
    const y = this.allocOutput(ctx, batch, framed.time);
    const mode = this.magnitude ? FFT_MODE.realMagnitude : FFT_MODE.realForward;
    const fl = this.framer.frameLength;
    this.plan.run(ctx, mode, batch * framed.time, product(this.input.shape), fl, this.inOff, this.bins, 0, framed.values, this.window?.ptr ?? 0, y);
    return this.result(y, framed.mask, batch, framed.time);
  }
}

// ---------------------------------------------------------------------------------------------
// InverseSTFT

const inverseStftFields = {
  /** Samples per frame (required). */
  frameLength: f.int(1),
  /** Samples between frames, <= frame_length; the output ratio (required). */
  frameStep: f.int(1),
  /** Transform length; the input has fft_length // 2 + 1 bins (required). */
  fftLength: f.int(1),
  /** Synthesis window (see WindowFn; default 'hann'; inverseStftWindowFn(frame_step) inverts a Hann STFT). */
  windowFn: windowField(),
  /** Overlap-add padding: 'causal' (steppable), 'valid' or 'semicausal_full' (see OverlapAdd; default 'causal'). */
  timePadding: f.oneOf(OVERLAP_ADD_PADDINGS).default('causal'),
  /** 'right' or 'center' placement of the transform in the frame (default 'right', as tf.signal.inverse_stft). */
  fftPadding: f.oneOf(FFT_PADDINGS).default('right'),
};

const InverseSTFTDef = defineLayer({ type: 'InverseSTFT', fields: inverseStftFields, create: (c, ctx) => new InverseSTFTLayer(c, ctx) });

/** Inverse STFT: complex64 [B, T, bins, ...C] -> float32 [B, T', ...C], T' as OverlapAdd's for time_padding. */
export const InverseSTFT = builder(InverseSTFTDef);

/**
 * InverseSTFT: IRFFT to frame_length (padded or trimmed per fft_padding), window, OverlapAdd
 * (tf.signal.inverse_stft with 'right' fft padding, but without its final trim in causal mode).
 * No parameters. Ratio frame_step, block 1, latency 0; steppable when causal, with the
 * OverlapAdd tail [B, frame_length - frame_step, ...C] as state. The receptive field is per output
 * phase and counts only frame taps with a non-zero window inside the transform (the reference's
 * rule; for semicausal_full it is derived for the trimmed output). Per block: one f32_fft and one
 * f32_overlap_add call.
 */
export class InverseSTFTLayer extends Layer {
  private readonly ola: OverlapAdder;
  private readonly plan: FftPlan;
  private readonly window: Table | null;
  private readonly outOff: number;

  constructor(config: Resolved<typeof inverseStftFields>, ctx: BuildContext) {
    super(config, ctx);
    const { frameLength: fl, frameStep: fs, fftLength: n, timePadding } = config;
    checkOverlap(this, fl, fs);
    const { shape, dtype } = this.input;
    if (dtype !== 'complex64') throw this.error('BAD_CONFIG', `expected complex64 input (an STFT), got ${dtype}`);
    if (shape.length < 1) throw this.error('BAD_CONFIG', `expected an input channel shape [bins, ...], got ${show(shape)}`);
    this.output = { shape: shape.slice(1), dtype: 'float32' };
    this.outOff = -placement(n, fl, config.fftPadding);
    const window = layerWindow(this, config.windowFn, fl);
    this.window = Table.of(window, (b) => this.derive(b));
    this.plan = new FftPlan(this.rt, n, (b) => this.derive(b));
    this.ola = new OverlapAdder(fl, fs, timePadding, product(this.output.shape));
    this.outputRatio = new Fraction(fs, 1);
    this.supportsStep = timePadding === 'causal';
    const live = Array.from({ length: fl }, (_, k) => (!window || window[k] !== 0) && k + this.outOff >= 0 && k + this.outOff < n);
    this.receptiveFieldPerStep = overlapAddReceptiveField(fs, timePadding === 'semicausal_full' ? fl - fs : 0, live);
  }

  prepare(): void {
    this.window?.write(this.rt);
    this.plan.prepare(this.rt);
  }

  stateSpecs(batch: number): StateSpec[] {
    return this.ola.stateSpecs(batch, this.output);
  }

  layerOutputTime(time: number): number {
    return this.ola.outputTime(time);
  }

  runLayer(x: WSeq, ctx: RunContext): WSeq {
    const frames = this.synthesize(ctx, x);
    const y = this.ola.layer(ctx, x.batch, x.time, frames, x.mask, this.allocOutput(ctx, x.batch, this.layerOutputTime(x.time)));
    return this.result(y.values, y.mask, x.batch, y.time);
  }

  runStep(x: WSeq, ctx: RunContext): WSeq {
    const frames = this.synthesize(ctx, x);
    const tail = this.ola.tail ? this.stateOf(ctx)[0] : undefined;
    const y = this.ola.step(ctx, x.batch, x.time, frames, x.mask, tail, this.allocOutput(ctx, x.batch, x.time * this.ola.frameStep));
    return this.result(y.values, y.mask, x.batch, y.time);
  }

  /** Windowed frames [B, T, frame_length, ...C] from the spectra. */
  private synthesize(ctx: RunContext, x: WSeq): number {
    const fl = this.ola.frameLength, inner = product(this.output.shape);
    const frames = ctx.alloc(x.batch * x.time * fl * inner * 4);
    this.plan.run(ctx, FFT_MODE.realInverse, x.batch * x.time, inner, this.input.shape[0]!, 0, fl, this.outOff, x.values, this.window?.ptr ?? 0, frames);
    return frames;
  }
}

// ---------------------------------------------------------------------------------------------
// LinearToMelSpectrogram

const HTK_MEL_BREAK_HZ = 700;
const HTK_MEL_HIGH_Q = 1127;
const hertzToMel = (hz: number) => HTK_MEL_HIGH_Q * Math.log(1 + hz / HTK_MEL_BREAK_HZ);

/**
 * tf.signal.linear_to_mel_weight_matrix [bins, mel] (row-major, f64): HTK mel scale
 * 1127 ln(1 + f / 700), triangles linear in mel between num_mel_bins + 2 evenly spaced edges,
 * spectrogram bin k at k * (sample_rate / 2) / (bins - 1) Hz, the DC bin zeroed.
 */
export function linearToMelWeightMatrix(numMelBins: number, numSpectrogramBins: number, sampleRate: number, lowerEdgeHertz: number, upperEdgeHertz: number): Float64Array {
  const out = new Float64Array(numSpectrogramBins * numMelBins);
  const lo = hertzToMel(lowerEdgeHertz), hi = hertzToMel(upperEdgeHertz);
  const edge = (i: number) => lo + ((hi - lo) * i) / (numMelBins + 1);
  for (let k = 1; k < numSpectrogramBins; k++) {
    // numpy.linspace(0, nyquist, bins)[k]
    const mel = hertzToMel(((sampleRate / 2) * k) / (numSpectrogramBins - 1));
    for (let m = 0; m < numMelBins; m++) {
      const lower = (mel - edge(m)) / (edge(m + 1) - edge(m));
      const upper = (edge(m + 2) - mel) / (edge(m + 2) - edge(m + 1));
      out[k * numMelBins + m] = Math.max(0, Math.min(lower, upper));
    }
  }
  return out;
}

const melFields = {
  /** Mel bands in the output (required). */
  numMelBins: f.int(1),
  /** Sample rate of the signal the spectrum came from, Hz (required). */
  sampleRate: f.num(),
  /** Lower edge of the lowest band, Hz, >= 0 (required). */
  lowerEdgeHertz: f.num(),
  /** Upper edge of the highest band, Hz, <= sample_rate / 2 (required). */
  upperEdgeHertz: f.num(),
};

const LinearToMelSpectrogramDef = defineLayer({
  type: 'LinearToMelSpectrogram',
  fields: melFields,
  create: (c, ctx) => new LinearToMelSpectrogramLayer(c, ctx),
});

/** Linear-frequency magnitudes [.., bins] -> mel bands [.., num_mel_bins] (tf.signal's HTK matrix). */
export const LinearToMelSpectrogram = builder(LinearToMelSpectrogramDef);

/**
 * LinearToMelSpectrogram. No parameters: the [bins, num_mel_bins] matrix of
 * linearToMelWeightMatrix is computed when the model is built (after its memory budget check)
 * and packed for the GEMM (one f32_gemm call
 * per block over every [.., bins] row). Input float32, uncompressed magnitudes on the last axis.
 * Stateless, ratio 1, receptive field (0, 0).
 */
export class LinearToMelSpectrogramLayer extends Layer {
  /** The weight matrix, made in the first prepare() (after the model's memory budget check, which a huge one fails). */
  private matrix: Float64Array | null = null;
  private readonly makeMatrix: () => Float64Array;
  private readonly packed: Derived;
  private readonly bins: number;
  private readonly mel: number;

  constructor(config: Resolved<typeof melFields>, ctx: BuildContext) {
    super(config, ctx);
    const { numMelBins, sampleRate, lowerEdgeHertz: lo, upperEdgeHertz: hi } = config;
    const { shape, dtype } = this.input;
    if (dtype !== 'float32') throw this.error('BAD_CONFIG', `expected float32 input (magnitudes), got ${dtype}`);
    if (shape.length < 1) throw this.error('BAD_CONFIG', `expected an input channel shape [..., bins], got ${show(shape)}`);
    if (!(sampleRate > 0)) throw this.error('BAD_CONFIG', `sample_rate: expected a positive rate, got ${sampleRate}`);
    if (lo < 0) throw this.error('BAD_CONFIG', `lower_edge_hertz: expected >= 0, got ${lo}`);
    if (!(lo < hi)) throw this.error('BAD_CONFIG', `upper_edge_hertz: expected above lower_edge_hertz = ${lo}, got ${hi}`);
    if (hi > sampleRate / 2) throw this.error('BAD_CONFIG', `upper_edge_hertz: expected at most the Nyquist frequency ${sampleRate / 2} (sample_rate / 2), got ${hi}`);
    this.bins = shape[shape.length - 1]!;
    this.mel = numMelBins;
    this.makeMatrix = () => linearToMelWeightMatrix(numMelBins, this.bins, sampleRate, lo, hi);
    this.output = { shape: [...shape.slice(0, -1), numMelBins], dtype: 'float32' };
    this.packed = this.derive(this.rt.k.f32_gemm_packed_len(this.bins, this.mel) * 4);
  }

  prepare(): void {
    const rt = this.rt;
    const matrix = (this.matrix ??= this.makeMatrix());
    rt.arena.begin();
    try {
      const tmp = rt.arena.alloc(matrix.length * 4);
      rt.f32.set(matrix, tmp >> 2);
      rt.k.f32_gemm_pack_b(this.bins, this.mel, tmp, this.mel, this.packed.ptr);
    } finally {
      rt.arena.end();
    }
  }

  runLayer(x: WSeq, ctx: RunContext): WSeq {
    const y = this.allocOutput(ctx, x.batch, x.time);
    const rows = x.batch * x.time * (product(this.input.shape) / this.bins);
    ctx.rt.k.f32_gemm(rows, this.mel, this.bins, x.values, this.bins, this.packed.ptr, y, this.mel, 0, false);
    return this.result(y, x.mask, x.batch, x.time);
  }
}

export const dspDefs = [
  DelayDef, LookaheadDef, WindowDef, FrameDef, OverlapAddDef, FFTDef, IFFTDef, RFFTDef, IRFFTDef, STFTDef, InverseSTFTDef,
  LinearToMelSpectrogramDef,
];
