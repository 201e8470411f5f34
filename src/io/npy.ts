// NumPy .npy files (format versions 1-3, numpy/lib/format.py): read any little-endian float,
// integer or bool array in C order as float32 (int32 kept for int32 arrays); write float32 or
// int32 arrays. Every malformed or unsupported file is a BAD_NPY error saying what was expected.
import { MAX_RANK } from '../config.js';
import { SeqLayersError, show } from '../errors.js';
import { asBytes } from '../util/bytes.js';
import { f16ToF32 } from '../weights/safetensors.js';

export interface NpyArray {
  readonly shape: readonly number[];
  readonly data: Float32Array | Int32Array;
}

const bad = (msg: string) => new SeqLayersError('BAD_NPY', `.npy: ${msg}`);
const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"

/** Readers of one element at a byte offset, by descr without the byte-order character (i4 and f4 data is copied whole; their widths count here). */
const READERS: Record<string, [bytes: number, read: (d: DataView, at: number) => number]> = {
  f4: [4, (d, at) => d.getFloat32(at, true)],
  f8: [8, (d, at) => d.getFloat64(at, true)],
  f2: [2, (d, at) => f16ToF32(d.getUint16(at, true))],
  i1: [1, (d, at) => d.getInt8(at)],
  u1: [1, (d, at) => d.getUint8(at)],
  b1: [1, (d, at) => d.getUint8(at)],
  i2: [2, (d, at) => d.getInt16(at, true)],
  u2: [2, (d, at) => d.getUint16(at, true)],
  i4: [4, (d, at) => d.getInt32(at, true)],
  u4: [4, (d, at) => d.getUint32(at, true)],
  i8: [8, (d, at) => Number(d.getBigInt64(at, true))],
  u8: [8, (d, at) => Number(d.getBigUint64(at, true))],
};

/** Parses a .npy file. int32 arrays stay Int32Array; every other dtype becomes float32. */
export function readNpy(input: Uint8Array | ArrayBuffer): NpyArray {
  const bytes = asBytes(input);
  if (!bytes) throw bad(`expected the bytes of a .npy file (Uint8Array or ArrayBuffer), got ${show(input)}`);
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) throw bad('expected the magic string "\\x93NUMPY" at the start: not a .npy file');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const major = bytes[6]!;
  if (major < 1 || major > 3) throw bad(`expected format version 1, 2 or 3, got ${major}.${bytes[7]}`);
  const headerLen = major === 1 ? dv.getUint16(8, true) : bytes.length >= 12 ? dv.getUint32(8, true) : Infinity;
  const start = major === 1 ? 10 : 12;
  if (start + headerLen > bytes.length) throw bad(`the header claims ${headerLen} bytes, but the file has ${bytes.length - start} after the preamble`);
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(start, start + headerLen));
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) throw bad(`expected a header dict with 'descr', 'fortran_order' and 'shape', got ${show(header.trim())}`);
  if (fortran === 'True') throw bad('expected C order (fortran_order False), got Fortran order');
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw bad(`expected a shape of non-negative integers, got (${shapeText})`);
  const order = descr[0], code = descr.slice(1);
  const reader = Object.hasOwn(READERS, code) ? READERS[code] : undefined;
  // '=' is native order, little-endian on every host this runs on; '>' only matters past one byte.
  if (!reader || !(order === '<' || order === '|' || order === '=' || (order === '>' && reader[0] === 1))) {
    throw bad(`expected a little-endian float, integer or bool dtype (e.g. '<f4', '<i2'), got ${show(descr)}`);
  }
  const [width, read] = reader;
  const count = shape.reduce((a, b) => a * b, 1);
  const body = start + headerLen;
  if (bytes.length - body !== count * width) throw bad(`shape ${show(shape)} of ${show(descr)} needs ${count * width} data bytes, the file has ${bytes.length - body}`);
  // int32 and float32 are copied as bytes: a number in between would quiet a signaling NaN.
  if (code === 'i4' || code === 'f4') {
    const copy = bytes.slice(body, body + count * width).buffer;
    return { shape, data: code === 'i4' ? new Int32Array(copy) : new Float32Array(copy) };
  }
  const data = new Float32Array(count);
  for (let i = 0; i < count; i++) data[i] = read(dv, body + i * width);
  return { shape, data };
}

/** Serialises a float32 or int32 array of `shape` (its values filling it, row-major) as a version 1.0 .npy file. */
export function writeNpy(shape: readonly number[], data: Float32Array | Int32Array): Uint8Array {
  if (!(data instanceof Float32Array || data instanceof Int32Array)) throw new SeqLayersError('BAD_ARGUMENT', `writeNpy: expected the values as a Float32Array or an Int32Array, got ${show(data)}`);
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0) || shape.length > MAX_RANK || shape.reduce((a, d) => a * d, 1) !== data.length) {
    throw new SeqLayersError('BAD_ARGUMENT', `writeNpy: expected a shape of at most 32 non-negative integers whose product is the ${data.length} values, got ${show(shape)}`);
  }
  const descr = data instanceof Int32Array ? '<i4' : '<f4';
  const dims = shape.length === 1 ? `${shape[0]},` : shape.join(', ');
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${dims}), }`;
  // numpy pads the header with spaces so the data starts 64-byte aligned, ending in '\n'.
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set(MAGIC);
  out[6] = 1;
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return out;
}
