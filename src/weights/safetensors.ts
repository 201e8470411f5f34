// safetensors reader and writer (https://github.com/huggingface/safetensors), with the checks
// of the upstream reader: header at most 100 MB, tensors covering the byte buffer contiguously
// from 0 with no gaps or overlaps, exact byte counts, no duplicate names. Little-endian.
import { SeqLayersError, show } from '../errors.js';
import { asBytes } from '../util/bytes.js';

export type SafeDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U64' | 'U32' | 'U16' | 'U8' | 'BOOL' | 'F8_E4M3' | 'F8_E5M2';

const DTYPE_BYTES: Record<SafeDType, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U64: 8, U32: 4, U16: 2, U8: 1, BOOL: 1, F8_E4M3: 1, F8_E5M2: 1,
};

export type TensorData = Float64Array | Float32Array | Int32Array | Int16Array | Int8Array | BigInt64Array | BigUint64Array | Uint32Array | Uint16Array | Uint8Array;

/** A named tensor: row-major data of `shape` (F16/BF16 keep their raw bits in a Uint16Array). */
export interface Tensor {
  readonly dtype: SafeDType;
  readonly shape: readonly number[];
  readonly data: TensorData;
}

export interface SafetensorsFile {
  readonly tensors: Map<string, Tensor>;
  readonly metadata: Record<string, string>;
}

/** The upstream reader's limit on the JSON header. */
export const MAX_HEADER_BYTES = 100_000_000;
const MAX_JSON_DEPTH = 64;

const bad = (msg: string) => new SeqLayersError('BAD_SAFETENSORS', msg);

/** Parses a safetensors file. Every failure is a BAD_SAFETENSORS error saying what was wrong. */
export function readSafetensors(input: Uint8Array | ArrayBuffer): SafetensorsFile {
  // A plain Uint8Array view even for a Node Buffer, whose slice() (below) would not copy.
  const bytes = asBytes(input);
  if (!bytes) throw bad(`expected the bytes of a .safetensors file (Uint8Array or ArrayBuffer), got ${show(input)}`);
  if (bytes.length < 8) throw bad(`expected at least 8 bytes (the header length), got ${bytes.length}`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = dv.getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) throw bad(`header length ${n} is over the limit of ${MAX_HEADER_BYTES} bytes`);
  const headerLen = Number(n);
  if (8 + headerLen > bytes.length) throw bad(`header length ${headerLen} runs past the end of the ${bytes.length}-byte file`);
  const header = parseJson(decodeUtf8(bytes.subarray(8, 8 + headerLen)));
  if (!isObject(header)) throw bad(`expected the header to be a JSON object, got ${show(header)}`);
  const dataStart = 8 + headerLen;
  const bufferLen = bytes.length - dataStart;

  let metadata: Record<string, string> = {};
  const entries: { name: string; dtype: SafeDType; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (!isObject(info) || !Object.values(info).every((v) => typeof v === 'string')) {
        throw bad(`expected __metadata__ to map strings to strings, got ${show(info)}`);
      }
      metadata = info as Record<string, string>;
      continue;
    }
    if (!isObject(info)) throw bad(`tensor ${show(name)}: expected {dtype, shape, data_offsets}, got ${show(info)}`);
    const { dtype, shape, data_offsets: offsets } = info as Record<string, unknown>;
    const extra = Object.keys(info).filter((k) => k !== 'dtype' && k !== 'shape' && k !== 'data_offsets');
    if (extra.length) throw bad(`tensor ${show(name)}: unknown keys ${show(extra)}`);
    if (typeof dtype !== 'string' || !Object.prototype.hasOwnProperty.call(DTYPE_BYTES, dtype)) {
      throw bad(`tensor ${show(name)}: expected a dtype among ${Object.keys(DTYPE_BYTES).join(', ')}, got ${show(dtype)}`);
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw bad(`tensor ${show(name)}: expected a shape of non-negative integers, got ${show(shape)}`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) || offsets[0] > offsets[1]) {
      throw bad(`tensor ${show(name)}: expected data_offsets [begin, end] with 0 <= begin <= end, got ${show(offsets)}`);
    }
    const want = shape.reduce((a: number, b: number) => a * b, 1) * DTYPE_BYTES[dtype as SafeDType];
    if (offsets[1] - offsets[0] !== want) {
      throw bad(`tensor ${show(name)}: shape ${show(shape)} of ${dtype} needs ${want} bytes, but data_offsets ${show(offsets)} hold ${offsets[1] - offsets[0]}`);
    }
    entries.push({ name, dtype: dtype as SafeDType, shape, begin: offsets[0], end: offsets[1] });
  }
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  for (const e of entries) {
    if (e.begin !== at) {
      throw bad(
        e.begin < at
          ? `tensor ${show(e.name)} at bytes [${e.begin}, ${e.end}) overlaps the previous tensor ending at ${at}`
          : `tensor ${show(e.name)} starts at byte ${e.begin}, leaving a gap after byte ${at}`,
      );
    }
    at = e.end;
  }
  if (at !== bufferLen) throw bad(`the tensors cover ${at} bytes of data but the file holds ${bufferLen} after the header`);

  const tensors = new Map<string, Tensor>();
  for (const e of entries) {
    const raw = bytes.slice(dataStart + e.begin, dataStart + e.end); // copy: aligned and detached from the file
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data: view(e.dtype, raw.buffer) });
  }
  return { tensors, metadata };
}

function view(dtype: SafeDType, buf: ArrayBuffer): TensorData {
  switch (dtype) {
    case 'F64': return new Float64Array(buf);
    case 'F32': return new Float32Array(buf);
    case 'F16': case 'BF16': case 'U16': return new Uint16Array(buf);
    case 'I64': return new BigInt64Array(buf);
    case 'U64': return new BigUint64Array(buf);
    case 'I32': return new Int32Array(buf);
    case 'U32': return new Uint32Array(buf);
    case 'I16': return new Int16Array(buf);
    case 'I8': return new Int8Array(buf);
    default: return new Uint8Array(buf);
  }
}

/** A tensor's values as float32 (F32, F64, F16, BF16 and integer types). */
export function toFloat32(t: Tensor): Float32Array {
  const d = t.data;
  if (d instanceof Float32Array) return d;
  if (t.dtype === 'F16') return Float32Array.from(d as Uint16Array, f16ToF32);
  if (t.dtype === 'BF16') {
    const bits = new Uint32Array((d as Uint16Array).length);
    for (let i = 0; i < bits.length; i++) bits[i] = (d as Uint16Array)[i]! << 16;
    return new Float32Array(bits.buffer);
  }
  if (d instanceof BigInt64Array || d instanceof BigUint64Array) return Float32Array.from(d, (v) => Number(v));
  if (t.dtype.startsWith('F8')) throw bad(`F8 tensors cannot be read as float32 yet`);
  return Float32Array.from(d as ArrayLike<number>);
}

export function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/**
 * Writes tensors as a safetensors file: header padded with spaces to a multiple of 8, tensors
 * ordered by descending element size then name, so each is naturally aligned.
 */
export function writeSafetensors(tensors: Record<string, Tensor> | Map<string, Tensor>, metadata?: Record<string, string>): Uint8Array {
  if (!(tensors instanceof Map) && !isObject(tensors)) {
    throw bad(`writeSafetensors: expected tensors as an object or a Map of names to {dtype, shape, data}, got ${show(tensors)}`);
  }
  if (metadata !== undefined && (!isObject(metadata) || !Object.values(metadata).every((v) => typeof v === 'string'))) {
    throw bad(`writeSafetensors: expected metadata to map strings to strings, got ${show(metadata)}`);
  }
  const list = [...(tensors instanceof Map ? tensors.entries() : Object.entries(tensors))];
  for (const [name, t] of list) {
    const what = `writeSafetensors: tensor ${show(name)}`;
    if (name === '__metadata__') throw bad(`a tensor cannot be named __metadata__`);
    if (!isObject(t)) throw bad(`${what}: expected {dtype, shape, data}, got ${show(t)}`);
    if (typeof t.dtype !== 'string' || !Object.prototype.hasOwnProperty.call(DTYPE_BYTES, t.dtype)) {
      throw bad(`${what}: expected a dtype among ${Object.keys(DTYPE_BYTES).join(', ')}, got ${show(t.dtype)}`);
    }
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw bad(`${what}: expected a shape of non-negative integers, got ${show(t.shape)}`);
    }
    if (!ArrayBuffer.isView(t.data) || t.data instanceof DataView) throw bad(`${what}: expected data as a typed array, got ${show(t.data)}`);
    const want = t.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[t.dtype];
    if (t.data.byteLength !== want) throw bad(`${what}: shape ${show(t.shape)} of ${t.dtype} needs ${want} bytes, got ${t.data.byteLength}`);
  }
  list.sort(([na, a], [nb, b]) => DTYPE_BYTES[b.dtype] - DTYPE_BYTES[a.dtype] || (na < nb ? -1 : na > nb ? 1 : 0));
  // No prototype: a tensor named "__proto__" is a key like any other.
  const header: Record<string, unknown> = Object.create(null);
  if (metadata) header.__metadata__ = metadata;
  let at = 0;
  for (const [name, t] of list) {
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [at, at + t.data.byteLength] };
    at += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (utf8Length(json) % 8)) % 8);
  const head = encodeUtf8(json);
  const out = new Uint8Array(8 + head.length + at);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let p = 8 + head.length;
  for (const [, t] of list) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), p);
    p += t.data.byteLength;
  }
  return out;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

// UTF-8 by hand: AudioWorklets have no TextDecoder/TextEncoder.
function decodeUtf8(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; ) {
    const c = b[i]!;
    let cp: number, n: number;
    if (c < 0x80) [cp, n] = [c, 1];
    else if (c >= 0xc2 && c < 0xe0) [cp, n] = [c & 0x1f, 2];
    else if (c >= 0xe0 && c < 0xf0) [cp, n] = [c & 0x0f, 3];
    else if (c >= 0xf0 && c < 0xf5) [cp, n] = [c & 0x07, 4];
    else throw bad(`the header is not valid UTF-8 (byte ${c} at ${i})`);
    if (i + n > b.length) throw bad(`the header is not valid UTF-8 (truncated sequence at ${i})`);
    for (let k = 1; k < n; k++) {
      const cc = b[i + k]!;
      if ((cc & 0xc0) !== 0x80) throw bad(`the header is not valid UTF-8 (byte ${cc} at ${i + k})`);
      cp = (cp << 6) | (cc & 0x3f);
    }
    if ((n === 3 && (cp < 0x800 || (cp >= 0xd800 && cp < 0xe000))) || (n === 4 && (cp < 0x10000 || cp > 0x10ffff))) {
      throw bad(`the header is not valid UTF-8 (bad code point at ${i})`);
    }
    s += String.fromCodePoint(cp);
    i += n;
  }
  return s;
}

function utf8Length(s: string): number {
  return encodeUtf8(s).length;
}

function encodeUtf8(s: string): Uint8Array {
  const out: number[] = [];
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (cp < 0x80) out.push(cp);
    else if (cp < 0x800) out.push(0xc0 | (cp >> 6), 0x80 | (cp & 0x3f));
    else if (cp < 0x10000) out.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
    else out.push(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3f), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
  }
  return Uint8Array.from(out);
}

/**
 * A strict JSON parser for headers: JSON.parse silently keeps the last of duplicate keys and
 * can overflow the stack on deep nesting; the upstream reader rejects both.
 */
function parseJson(text: string): unknown {
  let i = 0;
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const fail = (what: string): never => {
    throw bad(`the header is not valid JSON: ${what} at character ${i}`);
  };
  const value = (depth: number): unknown => {
    if (depth > MAX_JSON_DEPTH) fail(`nesting deeper than ${MAX_JSON_DEPTH}`);
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const obj: Record<string, unknown> = Object.create(null);
      ws();
      if (text[i] === '}') {
        i++;
        return obj;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('expected a key');
        const k = string();
        if (Object.prototype.hasOwnProperty.call(obj, k)) throw bad(`duplicate name ${show(k)} in the header`);
        ws();
        if (text[i++] !== ':') fail('expected ":"');
        obj[k] = value(depth + 1);
        ws();
        const d = text[i++];
        if (d === '}') return obj;
        if (d !== ',') fail('expected "," or "}"');
      }
    }
    if (c === '[') {
      i++;
      const arr: unknown[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        return arr;
      }
      for (;;) {
        arr.push(value(depth + 1));
        ws();
        const d = text[i++];
        if (d === ']') return arr;
        if (d !== ',') fail('expected "," or "]"');
      }
    }
    if (c === '"') return string();
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 64));
    if (m) {
      i += m[0].length;
      return Number(m[0]);
    }
    for (const [lit, v] of [['true', true], ['false', false], ['null', null]] as const) {
      if (text.startsWith(lit, i)) {
        i += lit.length;
        return v;
      }
    }
    return fail('unexpected character');
  };
  const string = (): string => {
    const start = i;
    i++;
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    if (i >= text.length) fail('unterminated string');
    i++;
    try {
      return JSON.parse(text.slice(start, i)) as string;
    } catch {
      return fail('bad string escape');
    }
  };
  const v = value(0);
  ws();
  if (i !== text.length) fail('trailing characters');
  return v;
}
