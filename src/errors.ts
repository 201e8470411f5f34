import { isDetached, isDetachedView } from './util/bytes.js';

/**
 * The stable code of a SeqLayersError. It also leads the message ("[BAD_INPUT] ..."), so it
 * survives a worker boundary where custom properties are lost.
 *
 * - `NOT_INITIALIZED`: init() was not called, or the kernels could not load.
 * - `BAD_CONFIG`: a config value, type or field is wrong.
 * - `BAD_INPUT`: a Sequence does not fit the model (shape, dtype, block size).
 * - `BAD_STATE`: a state from another model or of another batch size, or one an error
 *   interrupted mid-step (a disposed state is `DISPOSED`).
 * - `BAD_WEIGHTS`: missing, extra or mis-shaped parameters.
 * - `BAD_SAFETENSORS`: a safetensors file that breaks the format.
 * - `BAD_ONNX`: an ONNX file that breaks the protobuf or ONNX format, or a graph a converter
 *   does not recognise.
 * - `BAD_WAV`: a WAV file that is malformed or in an encoding the reader does not take.
 * - `BAD_NPY`: a NumPy .npy file that is malformed or of a dtype the reader does not take.
 * - `BAD_SNAPSHOT`: a state snapshot that is corrupted or belongs elsewhere.
 * - `NOT_STEPPABLE`: step() on a layer that cannot step.
 * - `MEMORY_BUDGET`: an allocation past maxMemoryBytes.
 * - `DISPOSED`: use of a disposed model or state.
 * - `MISSING_CONSTANT`: a constants entry a layer needs is absent or mis-shaped.
 * - `CACHE_FULL`: a growing cache reached its configured maximum.
 * - `WORKER_FAILED`: a worker died, or a layer failed inside it with an uncoded error (a
 *   kernel trap).
 * - `CLOSED`: a stream, worker or pool was closed before the call could be served.
 * - `BAD_ARGUMENT`: any other wrong argument at the public API.
 */
export type ErrorCode =
  | 'NOT_INITIALIZED'
  | 'BAD_CONFIG'
  | 'BAD_INPUT'
  | 'BAD_STATE'
  | 'BAD_WEIGHTS'
  | 'BAD_SAFETENSORS'
  | 'BAD_ONNX'
  | 'BAD_WAV'
  | 'BAD_NPY'
  | 'BAD_SNAPSHOT'
  | 'NOT_STEPPABLE'
  | 'MEMORY_BUDGET'
  | 'DISPOSED'
  | 'MISSING_CONSTANT'
  | 'CACHE_FULL'
  | 'WORKER_FAILED'
  | 'CLOSED'
  | 'BAD_ARGUMENT';

/** The one error class of seqlayers: a stable `code` (see ErrorCode) and a message naming what was expected and what arrived. */
export class SeqLayersError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(`[${code}] ${message}`);
    this.name = 'SeqLayersError';
    this.code = code;
  }
}

/** Array elements show() lists before it elides the rest. */
const SHOW_ITEMS = 16;

/**
 * Formats a value for an error message: strings quoted, arrays bracketed (long ones elided),
 * binary data by type and size, functions and class instances by name (an instance's own fields
 * follow, briefly). It reads only own data properties and calls no method or getter of what it
 * shows: a value may be anything a caller passed, e.g. a proxy to another thread, which answers
 * every property read with a remote call.
 */
export function show(v: unknown): string {
  if (Array.isArray(v)) {
    const items = v.slice(0, SHOW_ITEMS).map(show);
    return `[${items.join(', ')}${v.length > SHOW_ITEMS ? `, ... (${v.length} items)` : ''}]`;
  }
  const text = brief(v, 0, true);
  if (typeof v !== 'object' || v === null) return text;
  const short = text.length > 80 ? text.slice(0, 77) + '...' : text;
  const name = className(v);
  return !name ? short : text === '{}' ? name : `${name} ${short}`;
}

/** Nesting show() walks into plain objects and arrays. */
const SHOW_DEPTH = 3;

/** The constructor name of a class instance (not a plain object, array or binary data), else ''. */
function className(v: unknown): string {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || ArrayBuffer.isView(v) || isBuffer(v) || v instanceof Map || v instanceof Set) return '';
  const proto = Object.getPrototypeOf(v) as { constructor?: unknown } | null;
  if (!proto || proto === Object.prototype) return '';
  const ctor = Object.getOwnPropertyDescriptor(proto, 'constructor')?.value as { name?: unknown } | undefined;
  const n = typeof ctor === 'function' ? Object.getOwnPropertyDescriptor(ctor, 'name')?.value : undefined;
  return typeof n === 'string' && n ? n : 'Object';
}

const isBuffer = (v: object) => v instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && v instanceof SharedArrayBuffer);

/** `v` as JSON-like text; `fields`: an instance's own fields (else instances are only named). */
function brief(v: unknown, depth: number, fields = false): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === undefined || v === null || typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'symbol') return v.toString();
  if (typeof v === 'function') return Function.prototype.toString.call(v).split('\n')[0]!.slice(0, 80);
  if (ArrayBuffer.isView(v)) {
    if (isDetachedView(v)) return `${v.constructor.name}(detached)`;
    return v instanceof DataView ? `DataView(${v.byteLength} bytes)` : `${v.constructor.name}(${(v as unknown as ArrayLike<number>).length})`;
  }
  if (isBuffer(v as object)) return `${(v as ArrayBuffer).constructor.name}(${isDetached(v as ArrayBuffer) ? 'detached' : `${(v as ArrayBuffer).byteLength} bytes`})`;
  if (v instanceof Map || v instanceof Set) return `${v.constructor.name}(${v.size})`;
  if (Array.isArray(v)) {
    if (depth >= SHOW_DEPTH) return '[...]';
    return `[${v.slice(0, SHOW_ITEMS).map((x) => brief(x, depth + 1)).join(',')}${v.length > SHOW_ITEMS ? `,... (${v.length} items)` : ''}]`;
  }
  const name = className(v);
  if (name && !fields) return name;
  if (depth >= SHOW_DEPTH) return '{...}';
  const entries = Object.entries(Object.getOwnPropertyDescriptors(v)).filter(([, d]) => d.enumerable);
  const shown = entries.slice(0, SHOW_ITEMS).map(([k, d]) => `${JSON.stringify(k)}:${'value' in d ? brief(d.value, depth + 1) : '(getter)'}`);
  return `{${shown.join(',')}${entries.length > SHOW_ITEMS ? ',...' : ''}}`;
}

export function fail(code: ErrorCode, message: string): never {
  throw new SeqLayersError(code, message);
}

/** How errors describe an array whose buffer was transferred away (detached), e.g. posted to a worker. */
export const DETACHED = 'was detached (transferred elsewhere, e.g. to a worker), expected one this thread owns';
