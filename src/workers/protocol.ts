// What crosses the boundary between a caller and a model worker: sequences and constants as
// plain objects, coded errors as messages, and the shapes of the worker's calls. Shared by both
// sides.
import { SeqLayersError, show, type ErrorCode } from '../errors.js';
import { compileKernels, getRuntime, type KernelBuild } from '../runtime/runtime.js';
import type { LayerConfig } from '../config.js';
import { checkConstants, type Constants } from '../layer.js';
import type { WeightNaming } from '../model.js';
import { DTYPES, Sequence, type DType, type Values } from '../sequence.js';
import { copyArray } from '../util/bytes.js';

/** A Sequence as structured clone carries it (class instances lose their prototype). */
export interface WireSequence {
  values: Values;
  mask: Uint8Array;
  shape: readonly number[];
  dtype: DType;
}

// A typed array that views part of a larger buffer would be cloned with all of that buffer.
const tight = <T extends Values | Uint8Array>(a: T): T => (a.byteOffset === 0 && a.byteLength === a.buffer.byteLength ? a : copyArray(a));

/** A Sequence for the wire; `copy` detaches it from the caller's arrays (kept for replays). */
export function toWire(x: Sequence, copy = false): WireSequence {
  return {
    values: copy ? copyArray(x.values) : tight(x.values),
    mask: copy ? copyArray(x.mask) : tight(x.mask),
    shape: [...x.shape],
    dtype: x.dtype,
  };
}

export function fromWire(w: WireSequence): Sequence {
  return new Sequence(w.values, w.mask, w.shape, w.dtype);
}

/**
 * Constants as structured clone carries them: each Sequence as a WireSequence, each array
 * ({ values, shape }) as it is.
 */
export type WireConstants = Record<string, ({ kind: 'sequence' } & WireSequence) | { kind: 'array'; values: Float32Array | Int32Array; shape: number[] }>;

/**
 * Constants for the wire; `copy` detaches them from the caller's arrays (kept for replays).
 * Refused as checkConstants refuses them (BAD_INPUT naming `what` and the key), a detached
 * buffer too (it cannot be cloned: the DataCloneError would read as the worker's failure).
 */
export function constantsToWire(c: Constants, what: string, copy = false): WireConstants {
  const out: WireConstants = {};
  for (const [k, v] of Object.entries(checkConstants(c, what))) {
    if (v instanceof Sequence) out[k] = { kind: 'sequence', ...toWire(v, copy) };
    else out[k] = { kind: 'array', values: copy ? copyArray(v.values) : tight(v.values), shape: [...v.shape] };
  }
  return out;
}

export function constantsFromWire(w: WireConstants): Constants {
  const bad = (got: unknown) => new SeqLayersError('BAD_INPUT', `constants: expected an object of { kind: "sequence" or "array", values, shape } by name, got ${show(got)}`);
  if (typeof w !== 'object' || w === null) throw bad(w);
  return Object.fromEntries(
    Object.entries(w).map(([k, v]) => {
      if (v?.kind !== 'sequence' && v?.kind !== 'array') throw bad(v);
      return [k, v.kind === 'sequence' ? fromWire(v) : { values: v.values, shape: v.shape }];
    }),
  );
}

/** Everything a worker needs to build the model. */
export interface ServiceInit {
  /** Compiled kernels (the same module for every worker of a pool, so results are bit-identical). */
  module: WebAssembly.Module;
  config: LayerConfig | object;
  inputShape: number[];
  inputDtype?: DType;
  /** safetensors bytes; absent = the seeded random initialisation. */
  weights?: Uint8Array;
  weightNaming?: WeightNaming;
  seed?: number;
  maxMemoryBytes?: number;
  /** Module URLs imported before building (custom layers register themselves there). */
  layerModules?: string[];
  /** Build-time constants (e.g. a cross attention's source, whose channels its projection needs). */
  constants?: WireConstants;
}

/** The model's metadata, as the worker reports it after building. */
export interface ModelInfo {
  blockSize: number;
  /** Output steps per input step, as [numerator, denominator]. */
  outputRatio: [number, number];
  inputLatency: number;
  outputLatency: number;
  outputShape: number[];
  build: 'simd' | 'relaxed';
  /** Bytes of WebAssembly memory in the worker after building. */
  memoryBytes: number;
}

export interface StepRequest {
  /** Take a state snapshot after these blocks and return it. */
  snapshot: boolean;
  /** Step for the state only and return no outputs (replaying blocks already answered). */
  discard: boolean;
  /** The constants of each block (null: none), when any block has some. */
  constants?: (WireConstants | null)[];
}

/** One stream's blocks to step (a push, or a replay after a move). */
export interface StepCall {
  stream: number;
  blocks: WireSequence[];
  req: StepRequest;
}

export interface StepReply {
  outputs: WireSequence[];
  snapshot?: Uint8Array;
  /**
   * Set (to the error's message) when a coded error refused a one-block push after its layers
   * had begun writing the state (e.g. MEMORY_BUDGET for scratch memory): the state was
   * interrupted, so the worker discarded it and closed the stream there. No outputs.
   */
  lost?: string;
}

/** A step call's result: its reply, or the message of the (coded) error that refused it. */
export type StepOutcome = { reply: StepReply } | { error: string };

/**
 * Typed arrays packed into one buffer, so a message carries one transfer: structured clone
 * costs about a microsecond per object it walks, and a batch of steps holds hundreds.
 */
export interface PackedArrays {
  /** Per array: its type (an index into ARRAY_TYPES), byte offset in `data` (8-aligned) and length. */
  index: number[];
  data: ArrayBuffer;
}

/**
 * Step calls in one message (ModelWorker sends the steps made while earlier ones were
 * answered together). `head` lists per call its stream, block count and flags (1 snapshot, 2
 * discard, 4 constants), and per block its dtype (index into DTYPES), rank and shape; `arrays`
 * each block's values then mask; `constants` those of the calls flagged 4, in order.
 */
export interface StepBatch {
  head: number[];
  arrays: PackedArrays;
  constants: (WireConstants | null)[][];
}

/**
 * The outcomes of a StepBatch, in its order. `head` lists per call 0 (answered: then its output
 * count, 1 if a snapshot follows, and per output dtype, rank and shape), 1 (lost) or 2
 * (refused); `arrays` each output's values then mask, then the snapshot; `messages` the lost
 * and refused calls' error messages, in order.
 */
export interface StepBatchReply {
  head: number[];
  arrays: PackedArrays;
  messages: string[];
}

type Packable = Float32Array | Int32Array | Uint8Array;
const ARRAY_TYPES = [Float32Array, Int32Array, Uint8Array] as const;

function packArrays(arrays: readonly Packable[]): PackedArrays {
  const index: number[] = [];
  let bytes = 0;
  for (const a of arrays) {
    index.push(ARRAY_TYPES.findIndex((T) => a instanceof T), bytes, a.length);
    bytes += (a.byteLength + 7) & ~7;
  }
  const data = new ArrayBuffer(bytes);
  // Copied through a view of the array's own type: reading a small array's .buffer would make
  // V8 move it off its heap first.
  arrays.forEach((a, i) => new ARRAY_TYPES[index[3 * i]!]!(data, index[3 * i + 1], a.length).set(a));
  return { index, data };
}

/** Writes sequences' shapes to a head and their arrays to a list, for packArrays. */
class PackWriter {
  readonly head: number[] = [];
  readonly arrays: Packable[] = [];
  sequence(s: WireSequence): void {
    this.head.push(DTYPES.indexOf(s.dtype), s.shape.length, ...s.shape);
    this.arrays.push(s.values, s.mask);
  }
}

/** Reads back what a PackWriter wrote. `copy`: each array gets a buffer of its own, else views into the packed buffer. */
class PackReader {
  private h = 0;
  private a = 0;
  constructor(
    private readonly head: readonly number[],
    private readonly arrays: PackedArrays,
    private readonly copy: boolean,
  ) {}
  get done(): boolean {
    return this.h >= this.head.length;
  }
  number(): number {
    return this.head[this.h++]!;
  }
  array<T extends Packable>(): T {
    const i = 3 * this.a++, { index, data } = this.arrays;
    const v = new ARRAY_TYPES[index[i]!]!(data, index[i + 1], index[i + 2]);
    return (this.copy ? v.slice() : v) as T;
  }
  sequence(): WireSequence {
    const dtype = DTYPES[this.number()]!, rank = this.number();
    const shape = this.head.slice(this.h, (this.h += rank));
    return { values: this.array<Values>(), mask: this.array<Uint8Array>(), shape, dtype };
  }
}

/** Packs step calls into one message (its arrays are copies: transfer `arrays.data`). */
export function encodeStepBatch(calls: readonly StepCall[]): StepBatch {
  const w = new PackWriter(), constants: (WireConstants | null)[][] = [];
  for (const { stream, blocks, req } of calls) {
    w.head.push(stream, blocks.length, (req.snapshot ? 1 : 0) | (req.discard ? 2 : 0) | (req.constants ? 4 : 0));
    for (const b of blocks) w.sequence(b);
    if (req.constants) constants.push(req.constants);
  }
  return { head: w.head, arrays: packArrays(w.arrays), constants };
}

/** The calls of a StepBatch; their arrays are views into its buffer. */
export function decodeStepBatch(b: StepBatch): StepCall[] {
  const r = new PackReader(b.head, b.arrays, false), calls: StepCall[] = [];
  let c = 0;
  while (!r.done) {
    const stream = r.number(), n = r.number(), flags = r.number();
    const blocks = Array.from({ length: n }, () => r.sequence());
    calls.push({ stream, blocks, req: { snapshot: (flags & 1) !== 0, discard: (flags & 2) !== 0, constants: flags & 4 ? b.constants[c++] : undefined } });
  }
  return calls;
}

/** Packs the outcomes of a batch's calls into one message (transfer `arrays.data`). */
export function encodeStepOutcomes(outcomes: readonly StepOutcome[]): StepBatchReply {
  const w = new PackWriter(), messages: string[] = [];
  for (const o of outcomes) {
    if ('error' in o || o.reply.lost !== undefined) {
      w.head.push('error' in o ? 2 : 1);
      messages.push('error' in o ? o.error : o.reply.lost!);
      continue;
    }
    const { outputs, snapshot } = o.reply;
    w.head.push(0, outputs.length, snapshot ? 1 : 0);
    for (const y of outputs) w.sequence(y);
    if (snapshot) w.arrays.push(snapshot);
  }
  return { head: w.head, arrays: packArrays(w.arrays), messages };
}

/** The outcomes of a StepBatchReply, each array with a buffer of its own (they go to the caller). */
export function decodeStepOutcomes(b: StepBatchReply): StepOutcome[] {
  const r = new PackReader(b.head, b.arrays, true), out: StepOutcome[] = [];
  let m = 0;
  while (!r.done) {
    const kind = r.number();
    if (kind === 2) out.push({ error: b.messages[m++]! });
    else if (kind === 1) out.push({ reply: { outputs: [], lost: b.messages[m++]! } });
    else {
      const n = r.number(), hasSnapshot = r.number() === 1;
      const outputs = Array.from({ length: n }, () => r.sequence());
      out.push({ reply: { outputs, snapshot: hasSnapshot ? r.array<Uint8Array>() : undefined } });
    }
  }
  return out;
}

/** The worker's API (see service.ts). */
export interface ServiceApi {
  init(o: ServiceInit): Promise<ModelInfo>;
  /**
   * A new stream: a snapshot restored, or a fresh state (given `constants`, e.g. sources to
   * project now). Returns its id and the bytes its state buffers hold.
   */
  open(batch: number, snapshot?: Uint8Array, constants?: WireConstants): { stream: number; stateBytes: number };
  /** Steps a batch's calls in order; each has its outcome (a coded error refuses that call alone). */
  steps(batch: StepBatch): StepBatchReply;
  close(stream: number): void;
  dispose(): void;
}

/**
 * The kernel module to hand to a worker or worklet: `module` if given; else, unless a build is
 * asked for, the module of the caller's own runtime after init() (the same build, so results
 * match bit for bit, and on Deno or workerd the module their entry imported); else compiled here.
 */
export async function kernelsFor(opts: { module?: WebAssembly.Module; build?: 'auto' | KernelBuild }): Promise<WebAssembly.Module> {
  if (opts.module) return opts.module;
  if (!opts.build) {
    try {
      return getRuntime().module;
    } catch {
      // not initialised: compile
    }
  }
  return compileKernels({ build: opts.build });
}

const CODED = /^\[([A-Z_]+)\] ([\s\S]*)$/;

/**
 * The caller-side error for something thrown across a worker boundary: a SeqLayersError with
 * the code from the message's "[CODE]" prefix (class and properties do not survive the trip),
 * or WORKER_FAILED for an uncoded error.
 */
export function reviveError(e: unknown): SeqLayersError {
  if (e instanceof SeqLayersError) return e;
  const message = e instanceof Error ? e.message : String(e);
  const m = CODED.exec(message);
  if (m) return new SeqLayersError(m[1] as ErrorCode, m[2]!);
  return new SeqLayersError('WORKER_FAILED', `${e instanceof Error ? e.name : 'error'}: ${message}`);
}
