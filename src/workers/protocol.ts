// What crosses the boundary between a caller and a model worker: sequences and constants as
// plain objects, coded errors as messages, and the shapes of the worker's calls. Shared by both
// sides.
import { SeqLayersError, type ErrorCode } from '../errors.js';
import { compileKernels, getRuntime, type KernelBuild } from '../runtime/runtime.js';
import type { LayerConfig } from '../config.js';
import { checkConstants, type Constants } from '../layer.js';
import type { WeightNaming } from '../model.js';
import { Sequence, type DType, type Values } from '../sequence.js';

/** A Sequence as structured clone carries it (class instances lose their prototype). */
export interface WireSequence {
  values: Values;
  mask: Uint8Array;
  shape: number[];
  dtype: DType;
}

// A typed array that views part of a larger buffer would be cloned with all of that buffer.
const tight = <T extends Values | Uint8Array>(a: T): T => (a.byteOffset === 0 && a.byteLength === a.buffer.byteLength ? a : (a.slice() as T));

/** A Sequence for the wire; `copy` detaches it from the caller's arrays (kept for replays). */
export function toWire(x: Sequence, copy = false): WireSequence {
  return {
    values: copy ? x.values.slice() : tight(x.values),
    mask: copy ? x.mask.slice() : tight(x.mask),
    shape: [...x.shape],
    dtype: x.dtype,
  };
}

export function fromWire(w: WireSequence): Sequence {
  return new Sequence(w.values, w.mask, w.shape, w.dtype);
}

/** Whether a buffer was detached (transferred away): only an empty one can be, and a view on it cannot be made. */
export function isDetached(b: ArrayBufferLike): boolean {
  if (b.byteLength !== 0) return false;
  try {
    new Uint8Array(b);
    return false;
  } catch {
    return true;
  }
}

/**
 * Constants as structured clone carries them: each Sequence as a WireSequence, each array
 * ({ values, shape }) as it is.
 */
export type WireConstants = Record<string, ({ kind: 'sequence' } & WireSequence) | { kind: 'array'; values: Float32Array | Int32Array; shape: number[] }>;

/**
 * Constants for the wire; `copy` detaches them from the caller's arrays (kept for replays).
 * Refused as checkConstants refuses them (BAD_INPUT naming `what` and the key), and a detached
 * buffer too: it cannot be cloned, and the DataCloneError would read as the worker's failure.
 */
export function constantsToWire(c: Constants, what: string, copy = false): WireConstants {
  const out: WireConstants = {};
  for (const [k, v] of Object.entries(c ?? {})) {
    const arrays = [(v as { values?: unknown })?.values, (v as { mask?: unknown })?.mask].filter(ArrayBuffer.isView);
    if (arrays.some((a) => isDetached(a.buffer))) throw new SeqLayersError('BAD_INPUT', `${what}: constants.${k}: its buffer was detached (transferred elsewhere, e.g. to a worker); pass a copy`);
  }
  for (const [k, v] of Object.entries(checkConstants(c, what))) {
    if (v instanceof Sequence) out[k] = { kind: 'sequence', ...toWire(v, copy) };
    else out[k] = { kind: 'array', values: copy ? v.values.slice() : tight(v.values), shape: [...v.shape] };
  }
  return out;
}

export function constantsFromWire(w: WireConstants): Constants {
  return Object.fromEntries(Object.entries(w).map(([k, v]) => [k, v.kind === 'sequence' ? fromWire(v) : { values: v.values, shape: v.shape }]));
}

/** The buffers of wire sequences, for a transfer list. */
export function buffersOf(seqs: readonly WireSequence[]): ArrayBuffer[] {
  return seqs.flatMap((s) => [s.values.buffer as ArrayBuffer, s.mask.buffer as ArrayBuffer]);
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

/** The worker's API (see service.ts). */
export interface ServiceApi {
  init(o: ServiceInit): Promise<ModelInfo>;
  /** A new stream: a snapshot restored, or a fresh state (given `constants`, e.g. sources to project now). */
  open(batch: number, snapshot?: Uint8Array, constants?: WireConstants): number;
  step(stream: number, blocks: WireSequence[], req: StepRequest): StepReply;
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
