// Taking bytes and arrays at the public boundary (readSafetensors, readOnnx, readWav, readNpy; detached buffers; private copies).

/**
 * A plain Uint8Array over `input` when it holds bytes (a Uint8Array, e.g. a Node Buffer, or an
 * ArrayBuffer / SharedArrayBuffer), sharing its memory; null for anything else (a detached buffer too), so the caller
 * can raise its own coded error naming what arrived. The view is a plain Uint8Array even for a
 * Buffer, whose slice() would not copy.
 */
export function asBytes(input: unknown): Uint8Array | null {
  if (input instanceof Uint8Array) return isDetachedView(input) ? null : new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  if (input instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && input instanceof SharedArrayBuffer)) return isDetached(input) ? null : new Uint8Array(input);
  return null;
}

/**
 * Whether a view's buffer was detached: only an empty view can be on one, so a view with bytes
 * never reads its `buffer` (which makes V8 give a small on-heap array a buffer of its own, a
 * cost on every step).
 */
export function isDetachedView(v: ArrayBufferView): boolean {
  return v.byteLength === 0 && isDetached(v.buffer);
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
 * A copy of `a` in a buffer of its own, as a plain array of its element type. Not a.slice(): a
 * Node Buffer (a Uint8Array, e.g. from readFileSync) overrides slice() to return a view of the
 * same memory, so the "copy" would change with, or be transferred away with, the caller's bytes.
 */
export function copyArray<T extends Float32Array | Int32Array | Uint8Array>(a: T): T {
  if (a instanceof Float32Array) return new Float32Array(a) as T;
  if (a instanceof Int32Array) return new Int32Array(a) as T;
  return new Uint8Array(a) as T;
}
