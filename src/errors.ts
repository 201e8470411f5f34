/**
 * The one error class of seqlayers. `code` is stable and also leads the message
 * ("[BAD_INPUT] ..."), so it survives a worker boundary where custom properties are lost.
 */
export type ErrorCode =
  | 'NOT_INITIALIZED' // init() was not called, or the kernels could not load
  | 'BAD_CONFIG' // a config value, type or field is wrong
  | 'BAD_INPUT' // a Sequence does not fit the model (shape, dtype, block size)
  | 'BAD_STATE' // a state from another model or batch size, or a disposed one
  | 'BAD_WEIGHTS' // missing, extra or mis-shaped parameters
  | 'BAD_SAFETENSORS' // a safetensors file that breaks the format
  | 'BAD_ONNX' // an ONNX file that breaks the protobuf or ONNX format, or a graph a converter does not recognise
  | 'BAD_WAV' // a WAV file that is malformed or in an encoding the reader does not take
  | 'BAD_NPY' // a NumPy .npy file that is malformed or of a dtype the reader does not take
  | 'BAD_SNAPSHOT' // a state snapshot that is corrupted or belongs elsewhere
  | 'NOT_STEPPABLE' // step() on a layer that cannot step
  | 'MEMORY_BUDGET' // an allocation past maxMemoryBytes
  | 'DISPOSED' // use of a disposed model or state
  | 'MISSING_CONSTANT' // a constants entry a layer needs is absent or mis-shaped
  | 'CACHE_FULL' // a growing cache reached its configured maximum
  | 'WORKER_FAILED' // a worker died, or a layer failed inside it with an uncoded error (a kernel trap)
  | 'CLOSED' // a stream, worker or pool was closed before the call could be served
  | 'BAD_ARGUMENT'; // any other wrong argument at the public API

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
 * binary data by type and size, functions and class instances by name.
 */
export function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) {
    const items = v.slice(0, SHOW_ITEMS).map(show);
    return `[${items.join(', ')}${v.length > SHOW_ITEMS ? `, ... (${v.length} items)` : ''}]`;
  }
  if (v === undefined) return 'undefined';
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'symbol' || typeof v === 'function') return v.toString().split('\n')[0]!.slice(0, 80);
  if (ArrayBuffer.isView(v)) {
    return v instanceof DataView ? `DataView(${v.byteLength} bytes)` : `${v.constructor.name}(${(v as unknown as ArrayLike<number>).length})`;
  }
  if (v instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && v instanceof SharedArrayBuffer)) {
    return `${v.constructor.name}(${v.byteLength} bytes)`;
  }
  if (v instanceof Map || v instanceof Set) return `${v.constructor.name}(${v.size})`;
  // A class instance (not a plain object) is named: a Sequence must not look like {"shape": ...}.
  const proto = Object.getPrototypeOf(v) as { constructor?: { name?: string } } | null;
  const name = (proto && proto !== Object.prototype && proto.constructor?.name) || '';
  try {
    const s = JSON.stringify(v);
    const text = s.length > 80 ? s.slice(0, 77) + '...' : s;
    return name ? `${name} ${text}` : text;
  } catch {
    return name || String(v); // circular
  }
}

export function fail(code: ErrorCode, message: string): never {
  throw new SeqLayersError(code, message);
}
