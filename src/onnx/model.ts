// ONNX model files (onnx/onnx.proto): ModelProto → GraphProto → nodes, initializers and
// attributes (subgraphs of If/Loop/Scan included), TensorProto with raw_data or the typed
// repeated fields. Enough to read a model's weights and its graph structure; not an ONNX
// runtime. Every malformed file is a BAD_ONNX error (see protobuf.ts), never a crash or a hang.
import { MAX_RANK } from '../config.js';
import { show } from '../errors.js';
import { asBytes } from '../util/bytes.js';
import { f16ToF32 } from '../weights/safetensors.js';
import { badOnnx, ProtoReader, WIRE } from './protobuf.js';

/** TensorProto.DataType names by number (onnx.proto). */
export const ONNX_DTYPES = [
  'UNDEFINED', 'FLOAT', 'UINT8', 'INT8', 'UINT16', 'INT16', 'INT32', 'INT64', 'STRING', 'BOOL', 'FLOAT16', 'DOUBLE', 'UINT32',
  'UINT64', 'COMPLEX64', 'COMPLEX128', 'BFLOAT16', 'FLOAT8E4M3FN', 'FLOAT8E4M3FNUZ', 'FLOAT8E5M2', 'FLOAT8E5M2FNUZ', 'UINT4', 'INT4',
] as const;

/** Decoded tensor data: floats as Float32Array (FLOAT16/BFLOAT16 widened), DOUBLE as Float64Array, 64-bit integers as BigInt arrays, smaller integers and BOOL as Int32Array. */
export type OnnxData = Float32Array | Float64Array | Int32Array | Uint32Array | BigInt64Array | BigUint64Array;

/** A TensorProto. `data` is null for element types this reader does not decode (strings, complex, 8- and 4-bit floats/ints). */
export interface OnnxTensor {
  readonly name: string;
  readonly dims: readonly number[];
  /** TensorProto.DataType number; ONNX_DTYPES[dataType] is its name. */
  readonly dataType: number;
  readonly data: OnnxData | null;
}

/** An AttributeProto; only the field its `type` names is set. */
export interface OnnxAttribute {
  readonly name: string;
  /** AttributeProto.AttributeType: 1 FLOAT, 2 INT, 3 STRING, 4 TENSOR, 5 GRAPH, 6 FLOATS, 7 INTS, 8 STRINGS, 9 TENSORS, 10 GRAPHS. */
  readonly type: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: OnnxTensor;
  g?: OnnxGraph;
  floats?: number[];
  ints?: number[];
  strings?: Uint8Array[];
  tensors?: OnnxTensor[];
  graphs?: OnnxGraph[];
}

export interface OnnxNode {
  readonly name: string;
  readonly opType: string;
  readonly domain: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attributes: readonly OnnxAttribute[];
}

/** A graph input or output: its element type and shape (numbers, symbolic names, or null for unknown), or shape null for non-tensor types. */
export interface OnnxValueInfo {
  readonly name: string;
  readonly elemType: number;
  readonly shape: readonly (number | string | null)[] | null;
}

export interface OnnxGraph {
  readonly name: string;
  readonly nodes: readonly OnnxNode[];
  readonly initializers: readonly OnnxTensor[];
  readonly inputs: readonly OnnxValueInfo[];
  readonly outputs: readonly OnnxValueInfo[];
}

export interface OnnxModel {
  readonly irVersion: number;
  readonly producerName: string;
  readonly producerVersion: string;
  readonly opsetImports: readonly { domain: string; version: number }[];
  readonly graph: OnnxGraph;
}

/** Subgraphs nest at most this deep (If inside Loop inside If ...): deeper is taken as a hostile file. */
export const MAX_GRAPH_DEPTH = 16;
/** Tensors may hold at most this many elements (the 2 GB protobuf limit in 4-byte floats). */
export const MAX_TENSOR_ELEMENTS = 2 ** 29;
/**
 * A tensor's typed fields (float_data, int32_data, int64_data, ...) and an attribute's floats or
 * ints may hold at most this many values: they are collected in JS arrays, which V8 cannot grow
 * much further without ending the process. Larger tensors come in raw_data, as exporters write them.
 */
const MAX_TYPED_VALUES = 2 ** 24;
/**
 * A model may hold at most this many records in all: subgraphs, nodes, attributes, tensors,
 * value infos, opset imports, node input and output names, attribute strings and shape dims. Each
 * becomes a JS object or string of tens to hundreds of bytes from as little as 2 bytes of file,
 * so without a bound 48 MB of empty nodes exhaust the heap (2^20 of them take ~0.3 GB). Counted
 * over the whole model, as subgraphs would multiply any per-graph bound. Silero v5 holds ~3000.
 */
const MAX_RECORDS = 2 ** 20;

/** Records one readOnnx call has kept so far (MAX_RECORDS). */
interface Tally {
  records: number;
}

/** Counts one more record read by `r` (`what` names it), refusing the one past MAX_RECORDS. */
function tally(r: ProtoReader, t: Tally, what: string): void {
  if (++t.records > MAX_RECORDS) throw r.error(`${what}: expected at most ${MAX_RECORDS} records in the whole model (nodes, attributes, tensors, value infos, names, dims), got more`);
}

/** Parses an ONNX model file (a serialized ModelProto). */
export function readOnnx(input: Uint8Array | ArrayBuffer): OnnxModel {
  // A plain Uint8Array view even for a Node Buffer (whose slice() would not copy).
  const bytes = asBytes(input);
  if (!bytes) throw badOnnx(`expected the bytes of an .onnx file (Uint8Array or ArrayBuffer), got ${show(input)}`);
  if (bytes.length === 0) throw badOnnx('expected the bytes of an .onnx file, got an empty buffer');
  const r = new ProtoReader(bytes, 'ModelProto');
  const t: Tally = { records: 0 };
  let irVersion = 0, producerName = '', producerVersion = '';
  const opsetImports: { domain: string; version: number }[] = [];
  let graph: OnnxGraph | null = null;
  while (!r.done) {
    r.tag();
    switch (r.field) {
      case 1:
        r.expect(WIRE.VARINT, 'ir_version');
        irVersion = r.int64();
        break;
      case 2:
        r.expect(WIRE.LEN, 'producer_name');
        producerName = r.string();
        break;
      case 3:
        r.expect(WIRE.LEN, 'producer_version');
        producerVersion = r.string();
        break;
      case 7:
        r.expect(WIRE.LEN, 'graph');
        tally(r, t, 'graph');
        graph = readGraph(r.message('GraphProto'), 0, t);
        break;
      case 8: {
        r.expect(WIRE.LEN, 'opset_import');
        tally(r, t, 'opset_import');
        const s = r.message('OperatorSetIdProto');
        let domain = '', version = 0;
        while (!s.done) {
          s.tag();
          if (s.field === 1 && s.wire === WIRE.LEN) domain = s.string();
          else if (s.field === 2 && s.wire === WIRE.VARINT) version = s.int64();
          else s.skip();
        }
        opsetImports.push({ domain, version });
        break;
      }
      default:
        r.skip();
    }
  }
  if (!graph) throw badOnnx('ModelProto: expected a graph (field 7), found none: is this an .onnx file?');
  return { irVersion, producerName, producerVersion, opsetImports, graph };
}

function readGraph(r: ProtoReader, depth: number, t: Tally): OnnxGraph {
  if (depth > MAX_GRAPH_DEPTH) throw r.error(`subgraphs nest deeper than ${MAX_GRAPH_DEPTH} levels`);
  let name = '';
  const nodes: OnnxNode[] = [], initializers: OnnxTensor[] = [], inputs: OnnxValueInfo[] = [], outputs: OnnxValueInfo[] = [];
  while (!r.done) {
    r.tag();
    switch (r.field) {
      case 1:
        r.expect(WIRE.LEN, 'node');
        tally(r, t, 'node');
        nodes.push(readNode(r.message(`NodeProto #${nodes.length}`), depth, t));
        break;
      case 2:
        r.expect(WIRE.LEN, 'name');
        name = r.string();
        break;
      case 5:
        r.expect(WIRE.LEN, 'initializer');
        tally(r, t, 'initializer');
        initializers.push(readTensor(r.message(`initializer #${initializers.length}`)));
        break;
      case 11:
        r.expect(WIRE.LEN, 'input');
        tally(r, t, 'input');
        inputs.push(readValueInfo(r.message(`input #${inputs.length}`), t));
        break;
      case 12:
        r.expect(WIRE.LEN, 'output');
        tally(r, t, 'output');
        outputs.push(readValueInfo(r.message(`output #${outputs.length}`), t));
        break;
      default:
        r.skip();
    }
  }
  return { name, nodes, initializers, inputs, outputs };
}

function readNode(r: ProtoReader, depth: number, t: Tally): OnnxNode {
  let name = '', opType = '', domain = '';
  const inputs: string[] = [], outputs: string[] = [], attributes: OnnxAttribute[] = [];
  while (!r.done) {
    r.tag();
    switch (r.field) {
      case 1:
        r.expect(WIRE.LEN, 'input');
        tally(r, t, 'input');
        inputs.push(r.string());
        break;
      case 2:
        r.expect(WIRE.LEN, 'output');
        tally(r, t, 'output');
        outputs.push(r.string());
        break;
      case 3:
        r.expect(WIRE.LEN, 'name');
        name = r.string();
        break;
      case 4:
        r.expect(WIRE.LEN, 'op_type');
        opType = r.string();
        break;
      case 5:
        r.expect(WIRE.LEN, 'attribute');
        tally(r, t, 'attribute');
        attributes.push(readAttribute(r.message(`AttributeProto #${attributes.length}`), depth, t));
        break;
      case 7:
        r.expect(WIRE.LEN, 'domain');
        domain = r.string();
        break;
      default:
        r.skip();
    }
  }
  return { name, opType, domain, inputs, outputs, attributes };
}

function readAttribute(r: ProtoReader, depth: number, t: Tally): OnnxAttribute {
  const a: { -readonly [K in keyof OnnxAttribute]: OnnxAttribute[K] } = { name: '', type: 0 };
  const list = <T>(k: 'floats' | 'ints' | 'strings' | 'tensors' | 'graphs'): T[] => ((a[k] ??= []) as T[]);
  while (!r.done) {
    r.tag();
    switch (r.field) {
      case 1:
        r.expect(WIRE.LEN, 'name');
        a.name = r.string();
        break;
      case 20:
        r.expect(WIRE.VARINT, 'type');
        a.type = r.int64();
        break;
      case 2:
        r.expect(WIRE.I32, 'f');
        a.f = r.float();
        break;
      case 3:
        r.expect(WIRE.VARINT, 'i');
        a.i = r.int64();
        break;
      case 4:
        r.expect(WIRE.LEN, 's');
        a.s = r.lenBytes();
        break;
      case 5:
        r.expect(WIRE.LEN, 't');
        tally(r, t, 't');
        a.t = readTensor(r.message('TensorProto'));
        break;
      case 6:
        r.expect(WIRE.LEN, 'g');
        tally(r, t, 'g');
        a.g = readGraph(r.message(`GraphProto of attribute ${show(a.name)}`), depth + 1, t);
        break;
      case 7:
        r.repeated(list<number>('floats'), (s) => s.float(), WIRE.I32, 'floats', MAX_TYPED_VALUES);
        break;
      case 8:
        r.repeated(list<number>('ints'), (s) => s.int64(), WIRE.VARINT, 'ints', MAX_TYPED_VALUES);
        break;
      case 9:
        r.expect(WIRE.LEN, 'strings');
        tally(r, t, 'strings');
        list<Uint8Array>('strings').push(r.lenBytes());
        break;
      case 10:
        r.expect(WIRE.LEN, 'tensors');
        tally(r, t, 'tensors');
        list<OnnxTensor>('tensors').push(readTensor(r.message('TensorProto')));
        break;
      case 11:
        r.expect(WIRE.LEN, 'graphs');
        tally(r, t, 'graphs');
        list<OnnxGraph>('graphs').push(readGraph(r.message(`GraphProto of attribute ${show(a.name)}`), depth + 1, t));
        break;
      default:
        r.skip();
    }
  }
  return a;
}

function readValueInfo(r: ProtoReader, t: Tally): OnnxValueInfo {
  let name = '', elemType = 0;
  let shape: (number | string | null)[] | null = null;
  while (!r.done) {
    r.tag();
    if (r.field === 1 && r.wire === WIRE.LEN) name = r.string();
    else if (r.field === 2 && r.wire === WIRE.LEN) {
      const type = r.message('TypeProto');
      while (!type.done) {
        type.tag();
        if (type.field !== 1 || type.wire !== WIRE.LEN) {
          type.skip();
          continue;
        }
        const tensor = type.message('TypeProto.Tensor');
        while (!tensor.done) {
          tensor.tag();
          if (tensor.field === 1 && tensor.wire === WIRE.VARINT) elemType = tensor.int64();
          else if (tensor.field === 2 && tensor.wire === WIRE.LEN) shape = readShape(tensor.message('TensorShapeProto'), t);
          else tensor.skip();
        }
      }
    } else r.skip();
  }
  return { name, elemType, shape };
}

function readShape(r: ProtoReader, t: Tally): (number | string | null)[] {
  const dims: (number | string | null)[] = [];
  while (!r.done) {
    r.tag();
    if (r.field !== 1 || r.wire !== WIRE.LEN) {
      r.skip();
      continue;
    }
    tally(r, t, 'dim');
    const d = r.message('Dimension');
    let dim: number | string | null = null;
    while (!d.done) {
      d.tag();
      if (d.field === 1 && d.wire === WIRE.VARINT) dim = d.int64();
      else if (d.field === 2 && d.wire === WIRE.LEN) dim = d.string();
      else d.skip();
    }
    dims.push(dim);
  }
  return dims;
}

/** Bytes per element in raw_data, for the element types this reader decodes. */
const RAW_BYTES: Partial<Record<number, number>> = { 1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 16: 2 };

function readTensor(r: ProtoReader): OnnxTensor {
  const dims: number[] = [];
  let dataType = 0, name = '';
  let raw: Uint8Array | null = null;
  // The typed repeated fields, as read: floats, varint integers, doubles.
  const floatData: number[] = [], intData: number[] = [], doubleData: number[] = [];
  let bigData: bigint[] | null = null;
  const room = (values: { length: number }, more: number, field: string) => {
    if (values.length + more > MAX_TYPED_VALUES) throw r.error(`${field}: expected at most ${MAX_TYPED_VALUES} values (larger tensors belong in raw_data), got more`);
  };
  let external = false;
  while (!r.done) {
    r.tag();
    switch (r.field) {
      case 1:
        r.repeated(dims, (s) => s.int64(), WIRE.VARINT, 'dims', MAX_RANK);
        break;
      case 2:
        r.expect(WIRE.VARINT, 'data_type');
        dataType = r.int64();
        break;
      case 4:
        if (r.wire === WIRE.LEN) {
          // Packed floats: copied as a block rather than one call per element (weights live here).
          const b = r.lenBytes();
          if (b.length % 4) throw r.error(`float_data of ${b.length} bytes is not a whole number of floats`);
          room(floatData, b.length / 4, 'float_data');
          const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
          for (let i = 0; i < b.length; i += 4) floatData.push(dv.getFloat32(i, true));
        } else r.repeated(floatData, (s) => s.float(), WIRE.I32, 'float_data', MAX_TYPED_VALUES);
        break;
      case 5:
        r.repeated(intData, (s) => s.int64(), WIRE.VARINT, 'int32_data', MAX_TYPED_VALUES);
        break;
      case 7:
      case 11: {
        // int64_data and uint64_data: kept exact as bigints.
        const signed = r.field === 7, big = (bigData ??= []);
        const one = (s: ProtoReader) => {
          room(big, 1, signed ? 'int64_data' : 'uint64_data');
          const start = s.pos;
          s.varint();
          big.push(varintBig(s.bytes, start, s.pos, signed));
        };
        if (r.wire === WIRE.LEN) {
          const sub = r.message(signed ? 'int64_data' : 'uint64_data');
          while (!sub.done) one(sub);
        } else {
          r.expect(WIRE.VARINT, signed ? 'int64_data' : 'uint64_data');
          one(r);
        }
        break;
      }
      case 8:
        r.expect(WIRE.LEN, 'name');
        name = r.string();
        break;
      case 9:
        r.expect(WIRE.LEN, 'raw_data');
        raw = r.lenBytes();
        break;
      case 10:
        if (r.wire === WIRE.LEN) {
          const b = r.lenBytes();
          if (b.length % 8) throw r.error(`double_data of ${b.length} bytes is not a whole number of doubles`);
          room(doubleData, b.length / 8, 'double_data');
          const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
          for (let i = 0; i < b.length; i += 8) doubleData.push(dv.getFloat64(i, true));
        } else {
          r.expect(WIRE.I64, 'double_data');
          room(doubleData, 1, 'double_data');
          const b = r.bytes, at = r.pos;
          r.skip();
          doubleData.push(new DataView(b.buffer, b.byteOffset + at, 8).getFloat64(0, true));
        }
        break;
      case 14:
        r.expect(WIRE.VARINT, 'data_location');
        external = r.int64() === 1;
        break;
      default:
        r.skip();
    }
  }
  const label = `tensor ${show(name)}`;
  let count = 1;
  for (const d of dims) {
    if (!Number.isSafeInteger(d) || d < 0) throw badOnnx(`${label}: expected non-negative dims, got ${show(dims)}`);
    count *= d;
    if (count > MAX_TENSOR_ELEMENTS) throw badOnnx(`${label}: dims ${show(dims)} hold more than ${MAX_TENSOR_ELEMENTS} elements`);
  }
  if (external) throw badOnnx(`${label}: its data is stored in an external file, which this reader does not load`);
  if (dataType < 0 || dataType >= ONNX_DTYPES.length) throw badOnnx(`${label}: unknown data_type ${dataType}`);
  const data = decodeData(label, dataType, count, raw, floatData, intData, doubleData, bigData);
  return { name, dims, dataType, data };
}

/** A varint from bytes [start, end) as an exact bigint (signed: int64 two's complement). */
function varintBig(b: Uint8Array, start: number, end: number, signed: boolean): bigint {
  let v = 0n;
  for (let i = end - 1; i >= start; i--) v = (v << 7n) | BigInt(b[i]! & 0x7f);
  v &= (1n << 64n) - 1n;
  return signed ? BigInt.asIntN(64, v) : v;
}

function decodeData(
  label: string, dataType: number, count: number, raw: Uint8Array | null,
  floatData: number[], intData: number[], doubleData: number[], bigData: bigint[] | null,
): OnnxData | null {
  const dtype = ONNX_DTYPES[dataType]!;
  const elem = RAW_BYTES[dataType];
  if (elem === undefined) return null;
  const check = (n: number, what: string) => {
    if (n !== count) throw badOnnx(`${label}: ${dtype} dims hold ${count} elements, ${what} has ${n}`);
  };
  if (raw) {
    if (raw.length !== count * elem) throw badOnnx(`${label}: ${dtype} dims hold ${count} elements (${count * elem} bytes), raw_data has ${raw.length} bytes`);
    // Copy to an aligned buffer: raw_data sits at any offset of the file.
    const copy = new Uint8Array(raw.length);
    copy.set(raw);
    const buf = copy.buffer;
    const dv = new DataView(buf);
    switch (dataType) {
      case 1: return new Float32Array(buf);
      case 11: return new Float64Array(buf);
      case 7: return new BigInt64Array(buf);
      case 13: return new BigUint64Array(buf);
      case 12: return new Uint32Array(buf);
      case 6: return new Int32Array(buf);
      case 10: return Float32Array.from(new Uint16Array(buf), f16ToF32);
      case 16: return Float32Array.from(new Uint16Array(buf), (h) => bfloatToFloat(h));
      case 2: case 9: return Int32Array.from(new Uint8Array(buf));
      case 3: return Int32Array.from(new Int8Array(buf));
      case 4: return Int32Array.from({ length: count }, (_, i) => dv.getUint16(2 * i, true));
      default: return Int32Array.from({ length: count }, (_, i) => dv.getInt16(2 * i, true));
    }
  }
  switch (dataType) {
    case 1:
      check(floatData.length, 'float_data');
      return Float32Array.from(floatData);
    case 11:
      check(doubleData.length, 'double_data');
      return Float64Array.from(doubleData);
    case 7:
    case 13: {
      const v = bigData ?? [];
      check(v.length, dataType === 7 ? 'int64_data' : 'uint64_data');
      return dataType === 7 ? BigInt64Array.from(v) : BigUint64Array.from(v, (x) => BigInt.asUintN(64, x));
    }
    case 12: {
      const v = bigData ?? [];
      check(v.length, 'uint64_data');
      return Uint32Array.from(v, (x) => Number(BigInt.asUintN(32, x)));
    }
    case 10:
    case 16:
      check(intData.length, 'int32_data');
      return Float32Array.from(intData, (h) => (dataType === 10 ? f16ToF32(h & 0xffff) : bfloatToFloat(h & 0xffff)));
    default:
      check(intData.length, 'int32_data');
      return Int32Array.from(intData);
  }
}

const f32Bits = new Float32Array(1);
const u32Bits = new Uint32Array(f32Bits.buffer);
/** bfloat16 bits to a number (the top half of a float32). */
function bfloatToFloat(h: number): number {
  u32Bits[0] = h << 16;
  return f32Bits[0]!;
}

// ---------------------------------------------------------------------------------------------
// Helpers over a parsed model

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;
const isList = (v: unknown, item: (x: unknown) => boolean) => Array.isArray(v) && v.every(item);
const isString = (v: unknown) => typeof v === 'string';
const isNumber = (v: unknown) => typeof v === 'number';
const isBytes = (v: unknown) => v instanceof Uint8Array;

/**
 * Checks that `g` is shaped as readOnnx's graphs are, subgraphs included: lists where readOnnx
 * makes lists, names as strings, tensors whose data fills their dims. A hand-made or edited
 * model is then a BAD_ONNX error naming the field (`where` names `g`), not a TypeError inside a
 * helper or a converter.
 */
export function checkOnnxGraph(g: unknown, where: string, depth = 0): asserts g is OnnxGraph {
  if (depth > MAX_GRAPH_DEPTH) throw badOnnx(`${where}: subgraphs nest deeper than ${MAX_GRAPH_DEPTH} levels (or hold themselves)`);
  if (!isObject(g) || !Array.isArray(g.nodes) || !Array.isArray(g.initializers) || !Array.isArray(g.inputs) || !Array.isArray(g.outputs)) {
    throw badOnnx(`${where}: expected a graph {nodes, initializers, inputs, outputs} as readOnnx() makes, got ${show(g)}`);
  }
  g.nodes.forEach((n, i) => checkNode(n, `${where}.nodes[${i}]`, depth));
  g.initializers.forEach((t, i) => checkTensor(t, `${where}.initializers[${i}]`));
  for (const k of ['inputs', 'outputs'] as const) {
    (g[k] as unknown[]).forEach((v, i) => {
      if (!isObject(v) || !isString(v.name)) throw badOnnx(`${where}.${k}[${i}]: expected a value info {name, elemType, shape}, got ${show(v)}`);
    });
  }
}

function checkNode(n: unknown, where: string, depth: number): asserts n is OnnxNode {
  if (!isObject(n) || !isString(n.opType) || !isList(n.inputs, isString) || !isList(n.outputs, isString) || !Array.isArray(n.attributes)) {
    throw badOnnx(`${where}: expected a node {opType, inputs, outputs, attributes} (names as strings) as readOnnx() makes, got ${show(n)}`);
  }
  n.attributes.forEach((a: unknown, i) => {
    const at = `${where}.attributes[${i}]`;
    const ok = isObject(a) && isString(a.name) &&
      [a.f, a.i].every((v) => v === undefined || isNumber(v)) && (a.s === undefined || isBytes(a.s)) &&
      [a.floats, a.ints].every((v) => v === undefined || isList(v, isNumber)) && (a.strings === undefined || isList(a.strings, isBytes)) &&
      [a.tensors, a.graphs].every((v) => v === undefined || Array.isArray(v));
    if (!ok) throw badOnnx(`${at}: expected an attribute {name, type, ...} with numbers in f, i, floats and ints and bytes in s and strings, as readOnnx() makes, got ${show(a)}`);
    if (a.t !== undefined) checkTensor(a.t, `${at}.t`);
    if (a.g !== undefined) checkOnnxGraph(a.g, `${at}.g`, depth + 1);
    (a.tensors as unknown[] | undefined)?.forEach((t, j) => checkTensor(t, `${at}.tensors[${j}]`));
    (a.graphs as unknown[] | undefined)?.forEach((sub, j) => checkOnnxGraph(sub, `${at}.graphs[${j}]`, depth + 1));
  });
}

function checkTensor(t: unknown, where: string): asserts t is OnnxTensor {
  const d = isObject(t) ? t.data : undefined;
  if (!isObject(t) || !isString(t.name) || !isNumber(t.dataType) || !isList(t.dims, (x) => Number.isSafeInteger(x) && (x as number) >= 0) || !(d === null || ArrayBuffer.isView(d))) {
    throw badOnnx(`${where}: expected a tensor {name, dims, dataType, data} (dims of non-negative integers, data a typed array or null) as readOnnx() makes, got ${show(t)}`);
  }
  const count = (t.dims as number[]).reduce((a, b) => a * b, 1);
  const length = (d as { length?: unknown } | null)?.length;
  if (d !== null && length !== count) throw badOnnx(`${where}: dims ${show(t.dims)} hold ${count} elements, its data has ${show(length)}`);
}

/** The attribute `name` of a node, or undefined. */
export function onnxAttribute(node: OnnxNode, name: string): OnnxAttribute | undefined {
  if (!isObject(node) || !Array.isArray(node.attributes)) throw badOnnx(`onnxAttribute: expected a node from readOnnx(), got ${show(node)}`);
  return node.attributes.find((a) => a?.name === name);
}

/**
 * The constant tensors of a graph and all its subgraphs (If branches, Loop bodies), keyed by the
 * value name they define: initializers, and the outputs of Constant nodes (attribute `value`,
 * `value_float(s)` or `value_int(s)`). Names are unique in a valid model (SSA, no shadowing); a
 * second definition of a name is a BAD_ONNX error.
 */
export function onnxConstants(graph: OnnxGraph): Map<string, OnnxTensor> {
  checkOnnxGraph(graph, 'onnxConstants: graph');
  const out = new Map<string, OnnxTensor>();
  const add = (name: string, t: OnnxTensor) => {
    if (out.has(name)) throw badOnnx(`the value ${show(name)} is defined twice`);
    out.set(name, t.name === name ? t : { ...t, name });
  };
  const visit = (g: OnnxGraph) => {
    for (const t of g.initializers) add(t.name, t);
    for (const n of g.nodes) {
      if (n.opType === 'Constant' && (n.domain === '' || n.domain === 'ai.onnx') && n.outputs[0]) {
        const t = constantValue(n);
        if (t) add(n.outputs[0], t);
      }
      for (const a of n.attributes) {
        if (a.g) visit(a.g);
        for (const sub of a.graphs ?? []) visit(sub);
      }
    }
  };
  visit(graph);
  return out;
}

/** The tensor a Constant node produces, or null for the kinds that hold no numbers (strings, sparse). */
function constantValue(n: OnnxNode): OnnxTensor | null {
  for (const a of n.attributes) {
    switch (a.name) {
      case 'value':
        if (a.t) return a.t;
        break;
      case 'value_float':
        if (a.f !== undefined) return { name: '', dims: [], dataType: 1, data: Float32Array.of(a.f) };
        break;
      case 'value_floats':
        return { name: '', dims: [a.floats?.length ?? 0], dataType: 1, data: Float32Array.from(a.floats ?? []) };
      case 'value_int':
        if (a.i !== undefined) return { name: '', dims: [], dataType: 7, data: BigInt64Array.of(BigInt(a.i)) };
        break;
      case 'value_ints':
        return { name: '', dims: [a.ints?.length ?? 0], dataType: 7, data: BigInt64Array.from(a.ints ?? [], (v) => BigInt(v)) };
    }
  }
  return null;
}

/** A tensor's values as float32 (floats narrowed, integers converted); BAD_ONNX for undecoded types. */
export function onnxFloat32(t: OnnxTensor): Float32Array {
  if (!isObject(t) || !(t.data === null || ArrayBuffer.isView(t.data))) throw badOnnx(`onnxFloat32: expected a tensor from readOnnx(), got ${show(t)}`);
  const d = t.data;
  if (!d) throw badOnnx(`tensor ${show(t.name)}: ${ONNX_DTYPES[t.dataType]} values cannot be read as numbers`);
  if (d instanceof Float32Array) return d;
  if (d instanceof BigInt64Array || d instanceof BigUint64Array) return Float32Array.from(d, (v) => Number(v));
  return Float32Array.from(d);
}

/** A one-line description of a node: 'Conv(a, b) -> y {strides: [2]}'. */
export function describeOnnxNode(n: OnnxNode): string {
  checkNode(n, 'describeOnnxNode: node', 0);
  const attrs = n.attributes
    .filter((a) => a.g === undefined && a.graphs === undefined)
    .map((a) => `${a.name}: ${a.t ? `tensor ${show(a.t.dims)} ${ONNX_DTYPES[a.t.dataType]}` : show(a.f ?? a.i ?? a.floats ?? a.ints ?? (a.s ? new TextDecoder().decode(a.s) : a.strings?.length))}`);
  return `${n.opType}(${n.inputs.join(', ')}) -> ${n.outputs.join(', ')}${attrs.length ? ` {${attrs.join(', ')}}` : ''}`;
}
