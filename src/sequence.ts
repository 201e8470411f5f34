// Sequence: values [batch, time, ...channels] with a mask [batch, time] (1 = valid step).
// Port of the reference's Sequence (sequence_layers/jax/types.py), immutable like it.
import { DETACHED, SeqLayersError, show } from './errors.js';
import { isDetachedView } from './util/bytes.js';

/** Element types. complex64 values are interleaved (re, im) float32 pairs. */
export type DType = 'float32' | 'int32' | 'complex64';
export type Values = Float32Array | Int32Array;

const product = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** Every element type a Sequence holds. */
export const DTYPES: readonly DType[] = ['float32', 'int32', 'complex64'];

/**
 * Most numbers a Sequence's values (or its mask) may hold: 2^31 - 1, more than a model can
 * take (WebAssembly memory is at most 2 GiB) and within what JS engines allocate.
 */
export const MAX_SEQUENCE_VALUES = 2 ** 31 - 1;

/** The index of the first value that is not a whole number in int32's range (what int32 steps and ids hold), or -1. */
export function firstNonInt32(values: ArrayLike<number>): number {
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!(Number.isInteger(v) && v >= -(2 ** 31) && v < 2 ** 31)) return i;
  }
  return -1;
}

/** Floats (or ints) stored per element: 2 for complex64. */
export const dtypeWidth = (d: DType) => (d === 'complex64' ? 2 : 1);

/** Allocates a typed array, turning the host's RangeError (out of memory) into a coded error. */
function allocate<T>(make: () => T, n: number, what: string): T {
  try {
    return make();
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    throw new SeqLayersError('BAD_INPUT', `${what}: could not allocate ${n} numbers, too large for this host (${e.message})`);
  }
}

function newValues(dtype: DType, n: number, what: string): Values {
  return allocate(() => (dtype === 'int32' ? new Int32Array(n) : new Float32Array(n * dtypeWidth(dtype))), n * dtypeWidth(dtype), what);
}

function newMask(n: number, what: string): Uint8Array {
  return allocate(() => new Uint8Array(n), n, what);
}

function checkDtype(dtype: unknown, what: string): asserts dtype is DType {
  if (!DTYPES.includes(dtype as DType)) throw new SeqLayersError('BAD_INPUT', `${what}: expected dtype "float32", "int32" or "complex64", got ${show(dtype)}`);
}

/** A shape of [batch, time, ...channels] non-negative integers whose values and mask fit in a Sequence. */
function checkShape(shape: readonly number[], what: string, dtype: DType = 'float32'): void {
  if (!Array.isArray(shape) || shape.length < 2 || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new SeqLayersError('BAD_INPUT', `${what}: expected a shape [batch, time, ...channels] of non-negative integers, got ${show(shape)}`);
  }
  const values = product(shape) * dtypeWidth(dtype), steps = shape[0]! * shape[1]!;
  if (!(values <= MAX_SEQUENCE_VALUES && steps <= MAX_SEQUENCE_VALUES)) {
    throw new SeqLayersError(
      'BAD_INPUT',
      `${what}: shape ${show(shape)} is too large: ${values} values and ${steps} mask steps, expected at most ${MAX_SEQUENCE_VALUES} of each`,
    );
  }
}

/** Plain number arrays become typed arrays of the dtype; anything else is left to the constructor's checks. */
function toValues(values: Values | number[], dtype: DType | undefined, what: string): Values {
  if (!Array.isArray(values)) return values;
  const i = values.findIndex((v) => typeof v !== 'number');
  if (i >= 0) throw new SeqLayersError('BAD_INPUT', `${what}: expected numbers, got ${show(values[i])} at index ${i}`);
  return dtype === 'int32' ? Int32Array.from(values) : Float32Array.from(values);
}

/** The arrays of a Sequence fill its shape: values of the dtype's type, a mask per step, neither detached. */
function checkParts(values: Values, mask: Uint8Array, shape: readonly number[], dt: DType, what: string): void {
  checkShape(shape, what, dt);
  if (!(dt === 'int32' ? values instanceof Int32Array : values instanceof Float32Array)) {
    throw new SeqLayersError(
      'BAD_INPUT',
      `${what}: dtype ${show(dt)} needs ${dt === 'int32' ? 'Int32Array' : 'Float32Array'} values, got ${show(values)}` +
        (Array.isArray(values) ? ' (Sequence.fromValues takes plain arrays)' : ''),
    );
  }
  const detached = isDetachedView(values) ? 'values' : mask instanceof Uint8Array && isDetachedView(mask) ? 'mask' : null;
  if (detached) throw new SeqLayersError('BAD_INPUT', `${what}: the buffer of its ${detached} ${DETACHED}; pass a copy`);
  const n = product(shape) * dtypeWidth(dt);
  if (values.length !== n) {
    throw new SeqLayersError('BAD_INPUT', `${what}: shape ${show(shape)} (${dt}) needs ${n} values, got ${values.length}`);
  }
  if (!(mask instanceof Uint8Array) || mask.length !== shape[0]! * shape[1]!) {
    throw new SeqLayersError('BAD_INPUT', `${what}: expected a Uint8Array mask of ${shape[0]! * shape[1]!} steps (batch x time), got ${show(mask)}`);
  }
}

/**
 * Refuses a Sequence whose arrays no longer fill its shape (BAD_INPUT naming `what` and then
 * `name` + `key`): a buffer transferred away since it was made, or a field reassigned (readonly
 * is only in the types). Allocates nothing when it passes (stepInto checks its input and
 * constants with it).
 */
export function checkIntact(x: Sequence, what: string, name: string, key = ''): void {
  if (isIntact(x)) return;
  checkDtype(x.dtype, `${what}: ${name}${key}`);
  checkParts(x.values, x.mask, x.shape, x.dtype, `${what}: ${name}${key}`);
}

function isIntact({ values, mask, shape, dtype }: Sequence): boolean {
  if (!Array.isArray(shape) || shape.length < 2) return false;
  let n = dtype === 'complex64' ? 2 : 1;
  for (let i = 0; i < shape.length; i++) {
    const d = shape[i];
    if (!Number.isInteger(d) || d! < 0) return false;
    n *= d!;
  }
  const typed = dtype === 'int32' ? values instanceof Int32Array : (dtype === 'float32' || dtype === 'complex64') && values instanceof Float32Array;
  return typed && values.length === n && mask instanceof Uint8Array && mask.length === shape[0]! * shape[1]! && !isDetachedView(values) && !isDetachedView(mask);
}

export class Sequence {
  /** [batch, time, ...channelShape] */
  readonly shape: readonly number[];
  readonly values: Values;
  /** [batch, time], 1 = valid, 0 = invalid. */
  readonly mask: Uint8Array;
  readonly dtype: DType;

  constructor(values: Values, mask: Uint8Array, shape: readonly number[], dtype?: DType) {
    if (dtype !== undefined) checkDtype(dtype, 'Sequence');
    const dt: DType = dtype ?? (values instanceof Int32Array ? 'int32' : 'float32');
    checkParts(values, mask, shape, dt, 'Sequence');
    this.shape = Object.freeze([...shape]);
    this.values = values;
    this.mask = mask;
    this.dtype = dt;
  }

  get batch(): number {
    return this.shape[0]!;
  }
  get time(): number {
    return this.shape[1]!;
  }
  get channelShape(): readonly number[] {
    return this.shape.slice(2);
  }
  /** Elements per time step (complex counts once). */
  get stepSize(): number {
    return product(this.shape.slice(2));
  }

  /** All steps valid. */
  static fromValues(values: Values | number[], shape: readonly number[], dtype?: DType): Sequence {
    if (dtype !== undefined) checkDtype(dtype, 'Sequence.fromValues');
    checkShape(shape, 'Sequence.fromValues', dtype);
    return new Sequence(toValues(values, dtype, 'Sequence.fromValues'), newMask(shape[0]! * shape[1]!, 'Sequence.fromValues').fill(1), shape, dtype);
  }

  /** Step t of item b is valid iff t < lengths[b]; lengths are clipped to [0, time]. */
  static fromLengths(values: Values | number[], shape: readonly number[], lengths: ArrayLike<number>, dtype?: DType): Sequence {
    if (dtype !== undefined) checkDtype(dtype, 'Sequence.fromLengths');
    checkShape(shape, 'Sequence.fromLengths', dtype);
    const [b, t] = shape as [number, number];
    if (lengths === null || typeof lengths !== 'object' || typeof lengths.length !== 'number') {
      throw new SeqLayersError('BAD_INPUT', `Sequence.fromLengths: expected ${b} lengths (an array, one per batch item), got ${show(lengths)}`);
    }
    if (lengths.length !== b) {
      throw new SeqLayersError('BAD_INPUT', `Sequence.fromLengths: expected ${b} lengths (one per batch item), got ${lengths.length}`);
    }
    for (let i = 0; i < b; i++) {
      if (typeof lengths[i] !== 'number' || Number.isNaN(lengths[i])) {
        throw new SeqLayersError('BAD_INPUT', `Sequence.fromLengths: expected lengths to be numbers, got ${show(lengths[i])} for batch item ${i}`);
      }
    }
    const mask = newMask(b * t, 'Sequence.fromLengths');
    for (let i = 0; i < b; i++) mask.fill(1, i * t, i * t + Math.max(0, Math.min(t, Math.floor(lengths[i]!))));
    return new Sequence(toValues(values, dtype, 'Sequence.fromLengths'), mask, shape, dtype);
  }

  /** All-zero values with the given mask validity. */
  static zeros(shape: readonly number[], dtype: DType = 'float32', valid = true): Sequence {
    checkDtype(dtype, 'Sequence.zeros');
    checkShape(shape, 'Sequence.zeros', dtype);
    return new Sequence(newValues(dtype, product(shape), 'Sequence.zeros'), newMask(shape[0]! * shape[1]!, 'Sequence.zeros').fill(valid ? 1 : 0), shape, dtype);
  }

  /** Number of valid steps per batch item (a count, as the reference). */
  lengths(): Int32Array {
    checkIntact(this, 'lengths', 'the Sequence');
    const out = new Int32Array(this.batch);
    const t = this.time;
    for (let b = 0; b < this.batch; b++) {
      let n = 0;
      for (let i = 0; i < t; i++) n += this.mask[b * t + i]!;
      out[b] = n;
    }
    return out;
  }

  /**
   * Values at invalid steps replaced by `maskValue` (default 0). A select, not a multiply,
   * so NaN and Inf at invalid steps disappear.
   */
  maskInvalid(maskValue = 0): Sequence {
    checkIntact(this, 'maskInvalid', 'the Sequence');
    const v = this.values.slice();
    const row = this.stepSize * dtypeWidth(this.dtype);
    for (let i = 0; i < this.mask.length; i++) if (!this.mask[i]) v.fill(maskValue, i * row, (i + 1) * row);
    return new Sequence(v, this.mask, this.shape, this.dtype);
  }

  /** Pads `left` and `right` steps in time, with mask `valid` and value `padValue`. */
  padTime(left: number, right: number, valid: boolean, padValue = 0): Sequence {
    if (!(Number.isInteger(left) && Number.isInteger(right) && left >= 0 && right >= 0)) {
      throw new SeqLayersError('BAD_ARGUMENT', `padTime: expected non-negative integer paddings, got ${left}, ${right}`);
    }
    checkIntact(this, 'padTime', 'the Sequence');
    const [b, t] = this.shape as [number, number];
    const row = this.stepSize * dtypeWidth(this.dtype);
    const t2 = left + t + right;
    checkShape([b, t2, ...this.channelShape], 'padTime', this.dtype);
    const v = newValues(this.dtype, b * t2 * this.stepSize, 'padTime');
    if (padValue !== 0) v.fill(padValue);
    const m = newMask(b * t2, 'padTime').fill(valid ? 1 : 0);
    for (let i = 0; i < b; i++) {
      v.set(this.values.subarray(i * t * row, (i + 1) * t * row), (i * t2 + left) * row);
      m.set(this.mask.subarray(i * t, (i + 1) * t), i * t2 + left);
    }
    return new Sequence(v, m, [b, t2, ...this.channelShape], this.dtype);
  }

  /** Right-pads invalid steps up to a multiple of n. */
  padToMultiple(n: number): Sequence {
    if (!(Number.isInteger(n) && n >= 1)) throw new SeqLayersError('BAD_ARGUMENT', `padToMultiple: expected a positive integer, got ${show(n)}`);
    const r = (n - (this.time % n)) % n;
    return r ? this.padTime(0, r, false) : this;
  }

  /** Items [b0, b1) and steps [t0, t1) (clamped like Python slices with non-negative bounds). */
  slice(b0: number, b1: number, t0 = 0, t1 = this.time): Sequence {
    if (![b0, b1, t0, t1].every((i) => typeof i === 'number' && !Number.isNaN(i))) {
      throw new SeqLayersError('BAD_ARGUMENT', `slice: expected numbers for the bounds [b0, b1) and [t0, t1), got ${show([b0, b1, t0, t1])}`);
    }
    checkIntact(this, 'slice', 'the Sequence');
    const [B, T] = this.shape as [number, number];
    const cb0 = clamp(b0, B), cb1 = Math.max(clamp(b1, B), cb0), ct0 = clamp(t0, T), ct1 = Math.max(clamp(t1, T), ct0);
    const row = this.stepSize * dtypeWidth(this.dtype);
    const nb = cb1 - cb0, nt = ct1 - ct0;
    const v = newValues(this.dtype, nb * nt * this.stepSize, 'slice');
    const m = newMask(nb * nt, 'slice');
    for (let i = 0; i < nb; i++) {
      const src = (cb0 + i) * T + ct0;
      v.set(this.values.subarray(src * row, (src + nt) * row), i * nt * row);
      m.set(this.mask.subarray(src, src + nt), i * nt);
    }
    return new Sequence(v, m, [nb, nt, ...this.channelShape], this.dtype);
  }

  /** Steps [t0, t1) of every item. */
  sliceTime(t0: number, t1 = this.time): Sequence {
    return this.slice(0, this.batch, t0, t1);
  }

  /** Concatenation in time. */
  concatenate(other: Sequence): Sequence {
    return Sequence.concatenate([this, other]);
  }

  /** Concatenates sequences in time; batch, channel shape and dtype must agree. */
  static concatenate(seqs: readonly Sequence[]): Sequence {
    if (!Array.isArray(seqs)) throw new SeqLayersError('BAD_ARGUMENT', `Sequence.concatenate: expected an array of Sequences, got ${show(seqs)}`);
    if (seqs.length === 0) throw new SeqLayersError('BAD_ARGUMENT', 'Sequence.concatenate: expected at least one sequence');
    seqs.forEach((s, i) => {
      if (!(s instanceof Sequence)) throw new SeqLayersError('BAD_INPUT', `Sequence.concatenate: expected a Sequence at index ${i}, got ${show(s)}`);
      checkIntact(s, 'Sequence.concatenate', `the Sequence at index ${i}`);
    });
    const first = seqs[0]!;
    const row = first.stepSize * dtypeWidth(first.dtype);
    for (const s of seqs) {
      if (s.batch !== first.batch || s.dtype !== first.dtype || show(s.channelShape) !== show(first.channelShape)) {
        throw new SeqLayersError('BAD_INPUT', `Sequence.concatenate: expected [${first.batch}, *, ${first.channelShape.join(', ')}] ${first.dtype}, got ${show(s.shape)} ${s.dtype}`);
      }
    }
    const B = first.batch;
    const T = seqs.reduce((a, s) => a + s.time, 0);
    checkShape([B, T, ...first.channelShape], 'Sequence.concatenate', first.dtype);
    const v = newValues(first.dtype, B * T * first.stepSize, 'Sequence.concatenate');
    const m = newMask(B * T, 'Sequence.concatenate');
    for (let b = 0; b < B; b++) {
      let t = 0;
      for (const s of seqs) {
        v.set(s.values.subarray(b * s.time * row, (b + 1) * s.time * row), (b * T + t) * row);
        m.set(s.mask.subarray(b * s.time, (b + 1) * s.time), b * T + t);
        t += s.time;
      }
    }
    return new Sequence(v, m, [B, T, ...first.channelShape], first.dtype);
  }

  /** Flips the physical time axis. */
  reverseTime(): Sequence {
    checkIntact(this, 'reverseTime', 'the Sequence');
    const [B, T] = this.shape as [number, number];
    const row = this.stepSize * dtypeWidth(this.dtype);
    const v = newValues(this.dtype, B * T * this.stepSize, 'reverseTime');
    const m = newMask(B * T, 'reverseTime');
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        const s = b * T + t, d = b * T + (T - 1 - t);
        v.set(this.values.subarray(s * row, (s + 1) * row), d * row);
        m[d] = this.mask[s]!;
      }
    }
    return new Sequence(v, m, this.shape, this.dtype);
  }
}

function clamp(i: number, n: number): number {
  return Math.max(0, Math.min(n, Math.trunc(i)));
}
