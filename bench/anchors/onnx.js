// ONNX models for the anchors, written in code: a protobuf writer for the few messages an
// inference graph needs (ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto,
// ValueInfoProto) and a small graph builder. Field numbers are those of onnx/onnx.proto; only
// float32 and int64 tensors are written. The weights are ours (model.getWeights()), converted
// to ONNX layouts by the builders in graphs.js.

// Wire types of the protobuf encoding.
const VARINT = 0, LEN = 2, I32 = 5;

/** Appends protobuf fields to a growing byte list. */
class Writer {
  constructor() {
    this.bytes = [];
  }
  varint(v) {
    // int64 fields: negative values take ten bytes (two's complement), so go through BigInt.
    let x = BigInt.asUintN(64, BigInt(v));
    while (x >= 0x80n) {
      this.bytes.push(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    this.bytes.push(Number(x));
  }
  tag(field, wire) {
    this.varint((field << 3) | wire);
  }
  int(field, v) {
    this.tag(field, VARINT);
    this.varint(v);
  }
  float(field, v) {
    this.tag(field, I32);
    const b = new Uint8Array(new Float32Array([v]).buffer);
    this.bytes.push(...b);
  }
  raw(field, u8) {
    this.tag(field, LEN);
    this.varint(u8.length);
    for (let i = 0; i < u8.length; i++) this.bytes.push(u8[i]);
  }
  string(field, s) {
    this.raw(field, new TextEncoder().encode(s));
  }
  message(field, write) {
    const w = new Writer();
    write(w);
    this.raw(field, w.bytes);
  }
  packedInts(field, values) {
    const w = new Writer();
    for (const v of values) w.varint(v);
    this.raw(field, w.bytes);
  }
}

// TensorProto.DataType and AttributeProto.AttributeType values.
const FLOAT = 1, INT64 = 7;
const ATTR = { FLOAT: 1, INT: 2, STRING: 3, FLOATS: 6, INTS: 7 };

/** An attribute that must be written as a float even when its value is an integer. */
export const float = (v) => ({ float: v });

function writeAttribute(w, name, v) {
  w.string(1, name);
  if (typeof v === 'string') {
    w.raw(4, new TextEncoder().encode(v));
    w.int(20, ATTR.STRING);
  } else if (Array.isArray(v)) {
    w.packedInts(8, v);
    w.int(20, ATTR.INTS);
  } else if (typeof v === 'object') {
    w.float(2, v.float);
    w.int(20, ATTR.FLOAT);
  } else if (Number.isInteger(v)) {
    w.int(3, v);
    w.int(20, ATTR.INT);
  } else {
    w.float(2, v);
    w.int(20, ATTR.FLOAT);
  }
}

function writeTensor(w, name, dims, data) {
  w.packedInts(1, dims);
  w.int(2, data instanceof BigInt64Array ? INT64 : FLOAT);
  w.string(8, name);
  w.raw(9, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
}

function writeValueInfo(w, name, dims) {
  w.string(1, name);
  w.message(2, (type) =>
    type.message(1, (tensor) => {
      tensor.int(1, FLOAT);
      tensor.message(2, (shape) => {
        for (const d of dims) shape.message(1, (dim) => (typeof d === 'string' ? dim.string(2, d) : dim.int(1, d)));
      });
    }),
  );
}

/**
 * A graph under construction. Inputs and outputs are float32 with fixed dims (a string dim is a
 * symbolic size); initializers are float32 (Float32Array) or int64 (BigInt64Array or a plain
 * array of integers, stored as int64).
 */
export class OnnxGraph {
  constructor() {
    this.inputs = [];
    this.outputs = [];
    this.inits = [];
    this.nodes = [];
    this.count = 0;
  }
  input(name, dims) {
    this.inputs.push({ name, dims });
    return name;
  }
  output(name, dims) {
    this.outputs.push({ name, dims });
    return name;
  }
  /** A constant tensor; returns its name. */
  init(name, dims, data) {
    const values = data instanceof Float32Array || data instanceof BigInt64Array ? data : BigInt64Array.from(data, BigInt);
    this.inits.push({ name, dims, data: values });
    return name;
  }
  /** An int64 vector constant (shapes, axes, slice bounds); returns its name. */
  ints(values) {
    return this.init(`c${this.count++}`, [values.length], values);
  }
  /** Adds a node; returns its output names (`outputs` a count or a list of names). */
  node(op, inputs, attrs = {}, outputs = 1) {
    const outs = typeof outputs === 'number' ? Array.from({ length: outputs }, () => `t${this.count++}`) : outputs;
    this.nodes.push({ op, inputs, outputs: outs, attrs });
    return outs;
  }
  /** One-output node; returns its output name. */
  op(op, inputs, attrs = {}, output) {
    return this.node(op, inputs, attrs, output ? [output] : 1)[0];
  }
  /** The ModelProto bytes (IR version 8, default-domain opset `opset`). */
  toModel(opset = 17) {
    const w = new Writer();
    w.int(1, 8); // ir_version
    w.string(2, 'seqlayers-bench'); // producer_name
    w.message(7, (g) => {
      for (const n of this.nodes) {
        g.message(1, (node) => {
          for (const i of n.inputs) node.string(1, i);
          for (const o of n.outputs) node.string(2, o);
          node.string(4, n.op);
          for (const [k, v] of Object.entries(n.attrs)) node.message(5, (a) => writeAttribute(a, k, v));
        });
      }
      g.string(2, 'main');
      for (const t of this.inits) g.message(5, (tensor) => writeTensor(tensor, t.name, t.dims, t.data));
      for (const i of this.inputs) g.message(11, (v) => writeValueInfo(v, i.name, i.dims));
      for (const o of this.outputs) g.message(12, (v) => writeValueInfo(v, o.name, o.dims));
    });
    w.message(8, (o) => o.int(2, opset)); // opset_import, default domain
    return Uint8Array.from(w.bytes);
  }
}
