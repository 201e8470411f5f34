// Taking a file's bytes at the public boundary (readSafetensors, readOnnx, readWav, readNpy).

/**
 * A plain Uint8Array over `input` when it holds bytes (a Uint8Array, e.g. a Node Buffer, or an
 * ArrayBuffer / SharedArrayBuffer), sharing its memory; null for anything else, so the caller
 * can raise its own coded error naming what arrived. The view is a plain Uint8Array even for a
 * Buffer, whose slice() would not copy.
 */
export function asBytes(input: unknown): Uint8Array | null {
  if (input instanceof Uint8Array) return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  if (input instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && input instanceof SharedArrayBuffer)) return new Uint8Array(input);
  return null;
}
