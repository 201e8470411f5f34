// The ONNX reader (src/onnx/model.ts, protobuf.ts): hand-encoded models covering every tensor
// encoding and where constants hide (initializers, Constant nodes, If branches), every kind of
// malformed input as a coded BAD_ONNX error, and seeded fuzzing (truncations, byte flips) of the
// real Silero file and of a small model: every outcome is a parse or a SeqLayersError.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import * as sl from '../src/index.js';
import { ConstantFolder } from '../src/onnx/fold.js';
import { expectCoded } from './errors.js';

// ---------------------------------------------------------------------------------------------
// A minimal protobuf writer: fields are byte arrays, messages their concatenation.

type Bytes = number[];
const varint = (v: number | bigint): Bytes => {
  let x = BigInt.asUintN(64, BigInt(v));
  const out: Bytes = [];
  do {
    const b = Number(x & 0x7fn);
    x >>= 7n;
    out.push(x ? b | 0x80 : b);
  } while (x);
  return out;
};
const tag = (field: number, wire: number) => varint(field * 8 + wire);
const vfield = (field: number, v: number | bigint) => [...tag(field, 0), ...varint(v)];
const lfield = (field: number, payload: Bytes) => [...tag(field, 2), ...varint(payload.length), ...payload];
const sfield = (field: number, s: string) => lfield(field, [...new TextEncoder().encode(s)]);
const f32le = (xs: number[]) => [...new Uint8Array(Float32Array.from(xs).buffer)];
const msg = (...fields: Bytes[]) => fields.flat();

/** TensorProto fields: dims, data_type, name, and the data fields given. */
const tensor = (name: string, dims: number[], dataType: number, ...data: Bytes[]) =>
  msg(...dims.map((d) => vfield(1, d)), vfield(2, dataType), sfield(8, name), ...data);
/** A Constant node producing `out` from a tensor attribute. */
const constantNode = (out: string, t: Bytes) => lfield(1, msg(sfield(2, out), sfield(4, 'Constant'), lfield(5, msg(sfield(1, 'value'), vfield(20, 4), lfield(5, t)))));
const attrNode = (out: string, attr: Bytes) => lfield(1, msg(sfield(2, out), sfield(4, 'Constant'), lfield(5, attr)));
const graph = (name: string, ...fields: Bytes[]) => msg(sfield(2, name), ...fields);
const model = (g: Bytes) => Uint8Array.from(msg(vfield(1, 8), sfield(2, 'test'), lfield(8, msg(vfield(2, 17))), lfield(7, g)));

/** A model with a constant of every kind, one of them in each branch of an If. */
function tinyModel(): Uint8Array {
  const thenBranch = graph('then', constantNode('t_int64', tensor('', [2], 7, lfield(7, [...varint(-3), ...varint(2n ** 63n - 1n)]))));
  const elseBranch = graph('else', constantNode('e_double', tensor('', [1], 11, lfield(10, [...new Uint8Array(Float64Array.of(0.1).buffer)]))));
  const ifNode = lfield(1, msg(sfield(1, 'cond'), sfield(2, 'y'), sfield(4, 'If'),
    lfield(5, msg(sfield(1, 'then_branch'), vfield(20, 5), lfield(6, thenBranch))),
    lfield(5, msg(sfield(1, 'else_branch'), vfield(20, 5), lfield(6, elseBranch)))));
  return model(graph('main',
    lfield(5, tensor('init_raw', [2, 2], 1, lfield(9, f32le([1, 2, 3, 4.5])))),
    lfield(5, tensor('init_half', [2], 10, lfield(9, [0x00, 0x3c, 0x00, 0xc0]))), // 1.0, -2.0 as float16
    constantNode('c_packed', tensor('', [3], 1, lfield(4, f32le([0.5, -1, 2])))),
    constantNode('c_unpacked', tensor('', [2], 1, [...tag(4, 5), ...f32le([7])], [...tag(4, 5), ...f32le([8])])),
    constantNode('c_int32', tensor('', [3], 6, lfield(5, [...varint(-1), ...varint(5), ...varint(300)]))),
    constantNode('c_bool', tensor('', [2], 9, lfield(5, [1, 0]))),
    constantNode('c_string', tensor('', [1], 8, lfield(6, [104, 105]))),
    attrNode('c_value_float', msg(sfield(1, 'value_float'), vfield(20, 1), [...tag(2, 5), ...f32le([2.5])])),
    attrNode('c_value_ints', msg(sfield(1, 'value_ints'), vfield(20, 7), lfield(8, [...varint(4), ...varint(-5)]))),
    ifNode,
    lfield(11, msg(sfield(1, 'cond'), lfield(2, msg(lfield(1, msg(vfield(1, 9), lfield(2, msg(lfield(1, vfield(1, 1)), lfield(1, sfield(2, 'N')))))))))),
  ));
}

const values = (t: sl.OnnxTensor | undefined) => Array.from(t!.data as ArrayLike<number | bigint>, (v) => (typeof v === 'bigint' ? v : Number(v)));

describe('readOnnx: hand-encoded models', () => {
  it('reads the header, inputs and every tensor encoding', () => {
    const m = sl.readOnnx(tinyModel());
    expect([m.irVersion, m.producerName, m.opsetImports]).toEqual([8, 'test', [{ domain: '', version: 17 }]]);
    expect(m.graph.inputs).toEqual([{ name: 'cond', elemType: 9, shape: [1, 'N'] }]);
    const c = sl.onnxConstants(m.graph);
    expect([...c.keys()].sort()).toEqual(
      ['c_bool', 'c_int32', 'c_packed', 'c_string', 'c_unpacked', 'c_value_float', 'c_value_ints', 'e_double', 'init_half', 'init_raw', 't_int64'],
    );
    expect(c.get('init_raw')!.dims).toEqual([2, 2]);
    expect(values(c.get('init_raw'))).toEqual([1, 2, 3, 4.5]);
    expect(values(c.get('init_half'))).toEqual([1, -2]);
    expect(values(c.get('c_packed'))).toEqual([0.5, -1, 2]);
    expect(values(c.get('c_unpacked'))).toEqual([7, 8]);
    expect(values(c.get('c_int32'))).toEqual([-1, 5, 300]);
    expect(values(c.get('c_bool'))).toEqual([1, 0]);
    expect(c.get('c_string')!.data).toBeNull();
    expect(values(c.get('c_value_float'))).toEqual([2.5]);
    expect(values(c.get('c_value_ints'))).toEqual([4n, -5n]);
    // Constants inside If branches, int64 exact to the last bit.
    expect(values(c.get('t_int64'))).toEqual([-3n, 2n ** 63n - 1n]);
    expect(values(c.get('e_double'))).toEqual([0.1]);
    expect(Array.from(sl.onnxFloat32(c.get('c_int32')!))).toEqual([-1, 5, 300]);
    expect(() => sl.onnxFloat32(c.get('c_string')!)).toThrow(/\[BAD_ONNX\] ONNX: tensor "c_string": STRING values cannot be read as numbers/);
    const ifNode = m.graph.nodes.find((n) => n.opType === 'If')!;
    expect(sl.describeOnnxNode(ifNode)).toBe('If(cond) -> y');
    expect(sl.onnxAttribute(ifNode, 'then_branch')!.g!.name).toBe('then');
  });

  it('reads the Silero v5 file: weights in Constant nodes inside the If branches, no initializers', () => {
    const bytes = readFileSync(createRequire(import.meta.url).resolve('@ricky0123/vad-web/dist/silero_vad_v5.onnx'));
    const m = sl.readOnnx(bytes);
    expect(m.producerName).toBe('spox');
    expect(m.graph.initializers).toEqual([]);
    const c = sl.onnxConstants(m.graph);
    expect(c.get('If_0_then_branch__Inline_0__stft.forward_basis_buffer')!.dims).toEqual([258, 1, 256]);
    expect(c.get('If_0_then_branch__Inline_0__decoder.rnn.weight_ih')!.dims).toEqual([512, 128]);
    expect(c.get('If_0_else_branch__Inline_0__stft.forward_basis_buffer')!.dims).toEqual([130, 1, 128]);
  });
});

describe('ConstantFolder: the plumbing exporters emit around weights and paddings', () => {
  const i64 = (name: string, vals: number[], dims = [vals.length]) => constantNode(name, tensor('', dims, 7, lfield(7, vals.flatMap((v) => varint(v)))));
  const node = (op: string, inputs: string[], output: string, ...attrs: Bytes[]) =>
    lfield(1, msg(...inputs.map((x) => sfield(1, x)), sfield(2, output), sfield(4, op), ...attrs.map((a) => lfield(5, a))));
  const intsAttr = (name: string, vals: number[]) => msg(sfield(1, name), vfield(20, 7), ...vals.map((v) => vfield(8, v)));
  const intAttr = (name: string, v: number) => msg(sfield(1, name), vfield(20, 2), vfield(3, v));
  const folder = new ConstantFolder(sl.readOnnx(model(graph('g',
    constantNode('m', tensor('', [2, 3], 1, lfield(4, f32le([0, 1, 2, 3, 4, 5])))),
    i64('starts', [-1]), i64('ends', [-(2 ** 53)]), i64('axes', [1]), i64('steps', [-2]),
    node('Slice', ['m', 'starts', 'ends', 'axes', 'steps'], 'reversed'),
    node('Transpose', ['m'], 't', intsAttr('perm', [1, 0])),
    i64('shape', [0, 1, -1], [3]), i64('dims', [2, 2]),
    node('Reshape', ['t', 'shape'], 'r'),
    node('Concat', ['m', 'm'], 'c', intAttr('axis', 0)),
    node('ConstantOfShape', ['dims'], 'zeros'),
    i64('axis0', [0]), node('Unsqueeze', ['m', 'axis0'], 'u'), node('Squeeze', ['u', 'axis0'], 'sq'),
    node('Cast', ['m'], 'bool', intAttr('to', 9)),
    node('Add', ['m', 'm'], 'sum'), node('Identity', ['input'], 'from_input'),
    node('Identity', ['loop_b'], 'loop_a'), node('Identity', ['loop_a'], 'loop_b'),
  ))).graph);
  const fold = (name: string) => {
    const f = folder.fold(name);
    return { dims: f.dims, values: Array.from(f.values) };
  };

  it('Slice (negative steps, clamped ends), Transpose, Reshape (-1 and 0), Concat, ConstantOfShape, Unsqueeze, Squeeze, Cast', () => {
    expect(fold('reversed')).toEqual({ dims: [2, 2], values: [2, 0, 5, 3] });
    expect(fold('t')).toEqual({ dims: [3, 2], values: [0, 3, 1, 4, 2, 5] });
    expect(fold('r')).toEqual({ dims: [3, 1, 2], values: [0, 3, 1, 4, 2, 5] });
    expect(fold('c').dims).toEqual([4, 3]);
    expect(fold('zeros')).toEqual({ dims: [2, 2], values: [0, 0, 0, 0] });
    expect(fold('sq')).toEqual(fold('m'));
    expect(fold('u').dims).toEqual([1, 2, 3]);
    expect(fold('bool').values).toEqual([0, 1, 1, 1, 1, 1]);
    expect(folder.ints('starts')).toEqual([-1]);
  });

  it('all values folded hold at most 4 x 2^22 elements (a Concat of many large ConstantOfShape: gigabytes from a few KB)', () => {
    const big = new ConstantFolder(sl.readOnnx(model(graph('g',
      i64('n', [2 ** 22]), ...[0, 1, 2, 3, 4].map((i) => node('ConstantOfShape', ['n'], `z${i}`)),
      node('Concat', ['z0', 'z1', 'z2', 'z3', 'z4'], 'all', intAttr('axis', 0)),
    ))).graph);
    expect(() => big.fold('all')).toThrow(/\[BAD_ONNX\] ONNX: value "z3" brings the values folded to 16777217 elements, more than folding takes in all \(16777216\)/);
  });

  it('a value two nodes define is a BAD_ONNX error naming both (a walk along the graph could go round forever)', () => {
    const dup = sl.readOnnx(model(graph('g', node('Identity', ['a'], 'x'), node('Relu', ['b'], 'x')))).graph;
    expect(() => new ConstantFolder(dup)).toThrow(/\[BAD_ONNX\] ONNX: the value "x" is defined twice: by Identity\(a\) -> x and by Relu\(b\) -> x/);
  });

  it('values that are not constant plumbing are BAD_ONNX errors naming them', () => {
    expect(() => folder.fold('sum')).toThrow(/\[BAD_ONNX\] ONNX: folding "sum": Add node "": this op is not folded \(only constant plumbing/);
    expect(() => folder.fold('from_input')).toThrow(/value "input" is not a constant \(a graph input, or undefined\), so it cannot be folded/);
    expect(() => folder.fold('loop_a')).toThrow(/is computed more than 64 ops deep \(or in a cycle\)/);
  });
});

describe('readOnnx: malformed input is a BAD_ONNX error', () => {
  const expectBad = (bytes: Bytes | Uint8Array, message: RegExp) => {
    let err: unknown;
    try {
      sl.readOnnx(bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes));
    } catch (e) {
      err = e;
    }
    expect(err, `no error for ${message}`).toBeInstanceOf(sl.SeqLayersError);
    expect((err as sl.SeqLayersError).code).toBe('BAD_ONNX');
    expect((err as Error).message).toMatch(message);
  };
  const g = (t: Bytes) => lfield(7, graph('g', lfield(5, t)));

  it('wire-format errors name the message, field and byte', () => {
    expectBad([0x08, 0x80], /ModelProto field 1 at byte 2: truncated varint/);
    expectBad([0x08, ...Array(10).fill(0xff), 0x01], /varint longer than 10 bytes/);
    expectBad([...tag(7, 2), 100, 1, 2], /ModelProto field 7 at byte 2: length 100 runs past the end of the message \(2 bytes left\)/);
    expectBad([...tag(5, 3)], /expected wire type 0, 1, 2 or 5, got 3 \(groups are not used by ONNX\)/);
    expectBad([...tag(5, 4)], /got 4 \(groups/);
    expectBad([...tag(5, 6)], /expected wire type 0, 1, 2 or 5, got 6/);
    expectBad([0x00, 0x00], /ModelProto at byte 0: expected a field number in \[1, 2\^29 - 1\], got 0/);
    expectBad(vfield(7, 1), /ModelProto field 7 at byte 1: expected graph with wire type 2, got wire type 0/);
    expectBad([...tag(9, 1), 1, 2, 3], /truncated 8-byte value/);
    expectBad(lfield(7, lfield(1, [...tag(2, 2), 5, 1])), /ModelProto > GraphProto > NodeProto #0 field 2 at byte \d+: length 5 runs past the end/);
  });

  it('tensor errors name the tensor and the numbers', () => {
    expectBad(g(tensor('w', [2, 3], 1, lfield(9, f32le([1, 2])))), /tensor "w": FLOAT dims hold 6 elements \(24 bytes\), raw_data has 8 bytes/);
    expectBad(g(tensor('w', [3], 1, lfield(4, f32le([1, 2])))), /tensor "w": FLOAT dims hold 3 elements, float_data has 2/);
    expectBad(g(tensor('w', [1 << 20, 1 << 20], 1)), /tensor "w": dims \[1048576, 1048576\] hold more than 536870912 elements/);
    expectBad(g(tensor('w', [-1], 1)), /tensor "w": expected non-negative dims, got \[-1\]/);
    expectBad(g(tensor('w', [1], 99)), /tensor "w": unknown data_type 99/);
    expectBad(g(tensor('w', [1], 1, vfield(14, 1))), /tensor "w": its data is stored in an external file/);
    expectBad(g(tensor('w', Array(40).fill(1), 1)), /initializer #0 field 1 at byte \d+: dims: expected at most 32 values, got more/);
    expectBad(g([...tag(4, 2), 3, 0, 0, 0]), /float_data of 3 bytes is not a whole number of floats/);
  });

  /**
   * A file of nested messages, outermost (ModelProto) first: each level's `fields`, then its field
   * `inner` holding the next level; the last level's holds `n` bytes repeating `fill`. Built as
   * one buffer, so tens of MB take no time.
   */
  const bigFile = (levels: [Bytes, number][], n: number, fill: Bytes = [0]) => {
    let head: Bytes = [];
    for (const [fields, inner] of [...levels].reverse()) head = msg(fields, tag(inner, 2), varint(head.length + n), head);
    const out = new Uint8Array(head.length + n);
    out.set(head);
    if (fill.some((b) => b !== 0)) for (let i = head.length; i < out.length; i++) out[i] = fill[(i - head.length) % fill.length]!;
    return out;
  };
  const inGraph = (...levels: [Bytes, number][]): [Bytes, number][] => [[[], 7], ...levels];

  it('typed fields hold at most 2^24 values (JS arrays past ~2^27 end the process; large tensors come in raw_data)', () => {
    const n = 2 ** 24 + 1;
    expectBad(bigFile(inGraph([sfield(2, 'g'), 5], [msg(vfield(1, n), vfield(2, 6), sfield(8, 'w')), 5]), n), /initializer #0 > int32_data at byte \d+: expected at most 16777216 values, got more/);
    expectBad(bigFile(inGraph([sfield(2, 'g'), 5], [msg(vfield(1, n), vfield(2, 1), sfield(8, 'w')), 4]), 4 * n), /float_data: expected at most 16777216 values \(larger tensors belong in raw_data\), got more/);
  });

  it('repeated fields are bounded while they are read: dims (a 140 MB packed field ended the process), attribute ints, and records in the whole model', () => {
    // 140 million one-byte dims: collected before the rank check, they made V8 abort ("invalid size").
    expectBad(bigFile(inGraph([sfield(2, 'g'), 5], [msg(vfield(2, 1), sfield(8, 'w')), 1]), 140_000_000), /initializer #0 > dims at byte \d+: expected at most 32 values, got more/);
    expectBad(bigFile(inGraph([sfield(2, 'g'), 1], [sfield(4, 'Foo'), 5], [sfield(1, 'a'), 8]), 2 ** 24 + 1), /NodeProto #0 > AttributeProto #0 > ints at byte \d+: expected at most 16777216 values, got more/);
    // Records (2 bytes each at least, hundreds of bytes of heap each) count over the whole model:
    // here the graph, its nodes, an input and the dims of the input's shape. 2^20 parse, one more does not.
    const shape = (nodes: number, dims: number) =>
      bigFile(inGraph([msg(sfield(2, 'g'), ...Array(nodes).fill(lfield(1, []))), 11], [sfield(1, 'x'), 2], [[], 1], [vfield(1, 1), 2]), 2 * dims, [0x0a, 0x00]);
    const dims = 2 ** 20 - 4;
    expect(sl.readOnnx(shape(2, dims)).graph.inputs[0]!.shape!.length).toBe(dims);
    expectBad(shape(3, dims), /TensorShapeProto field 1 at byte \d+: dim: expected at most 1048576 records in the whole model \(nodes, attributes, tensors, value infos, names, dims\), got more/);
  });

  it('structure errors: no graph, empty input, subgraphs nested too deep, duplicate names', () => {
    expectBad([], /expected the bytes of an .onnx file, got an empty buffer/);
    expectBad(vfield(1, 8), /ModelProto: expected a graph \(field 7\), found none: is this an .onnx file\?/);
    expect(() => sl.readOnnx('model.onnx' as unknown as Uint8Array)).toThrow(/\[BAD_ONNX\] ONNX: expected the bytes of an .onnx file \(Uint8Array or ArrayBuffer\), got "model.onnx"/);
    let nested = graph('leaf');
    for (let i = 0; i < 20; i++) nested = graph(`g${i}`, lfield(1, msg(sfield(4, 'If'), lfield(5, msg(sfield(1, 'then_branch'), lfield(6, nested))))));
    expectBad(lfield(7, nested), /subgraphs nest deeper than 16 levels/);
    const dup = model(graph('g', constantNode('x', tensor('', [], 1, lfield(4, f32le([1])))), constantNode('x', tensor('', [], 1, lfield(4, f32le([2]))))));
    expect(() => sl.onnxConstants(sl.readOnnx(dup).graph)).toThrow(/\[BAD_ONNX\] ONNX: the value "x" is defined twice/);
  });
});

describe('helpers over a parsed model: what readOnnx does not make is a BAD_ONNX error, not a TypeError', () => {
  const m = sl.readOnnx(tinyModel());
  const bad = (f: () => unknown, message: RegExp) => expectCoded('BAD_ONNX', f, message);

  it('onnxConstants checks the whole graph, subgraphs included, naming the field', () => {
    bad(() => sl.onnxConstants(null as never), /onnxConstants: graph: expected a graph \{nodes, initializers, inputs, outputs\} as readOnnx\(\) makes, got null/);
    bad(() => sl.onnxConstants({ inputs: [] } as never), /onnxConstants: graph: expected a graph .*, got \{"inputs":\[\]\}/);
    const withNode = (n: unknown) => ({ ...m.graph, nodes: [n] }) as never;
    bad(() => sl.onnxConstants(withNode({})), /graph\.nodes\[0\]: expected a node \{opType, inputs, outputs, attributes\}/);
    bad(() => sl.onnxConstants(withNode({ opType: 'If', inputs: [], outputs: [], attributes: [{ name: 'then_branch', g: {} }] })), /graph\.nodes\[0\]\.attributes\[0\]\.g: expected a graph/);
    bad(() => sl.onnxConstants(withNode({ opType: 'Constant', inputs: [], outputs: ['c'], attributes: [{ name: 'value', t: { name: '', dims: [3], dataType: 1, data: new Float32Array(2) } }] })),
      /graph\.nodes\[0\]\.attributes\[0\]\.t: dims \[3\] hold 3 elements, its data has 2/);
    const loop: { nodes: unknown[]; initializers: []; inputs: []; outputs: [] } = { nodes: [], initializers: [], inputs: [], outputs: [] };
    loop.nodes.push({ opType: 'If', inputs: [], outputs: [], attributes: [{ name: 'then_branch', g: loop }] });
    bad(() => sl.onnxConstants(loop as never), /subgraphs nest deeper than 16 levels \(or hold themselves\)/);
  });

  it('onnxAttribute, onnxFloat32 and describeOnnxNode name what arrived', () => {
    bad(() => sl.onnxAttribute(null as never, 'axis'), /onnxAttribute: expected a node from readOnnx\(\), got null/);
    bad(() => sl.onnxAttribute({} as never, 'axis'), /onnxAttribute: expected a node from readOnnx\(\), got \{\}/);
    bad(() => sl.onnxFloat32(null as never), /onnxFloat32: expected a tensor from readOnnx\(\), got null/);
    bad(() => sl.onnxFloat32({} as never), /onnxFloat32: expected a tensor from readOnnx\(\), got \{\}/);
    bad(() => sl.describeOnnxNode(null as never), /describeOnnxNode: node: expected a node/);
    bad(() => sl.describeOnnxNode({ opType: 'Conv', inputs: [1], outputs: [], attributes: [] } as never), /describeOnnxNode: node: expected a node \{opType, inputs, outputs, attributes\} \(names as strings\)/);
  });
});

describe('readOnnx and convertSileroVad: fuzzing', () => {
  /** Runs f on each input; every throw must be a SeqLayersError (a parse is fine too). */
  const survive = (inputs: Iterable<Uint8Array>, f: (b: Uint8Array) => unknown) => {
    let errors = 0, runs = 0;
    for (const b of inputs) {
      runs++;
      try {
        f(b);
      } catch (e) {
        if (!(e instanceof sl.SeqLayersError)) throw new Error(`uncoded error on input #${runs - 1}: ${(e as Error).stack}`);
        errors++;
      }
    }
    return { runs, errors };
  };
  function* mutations(base: Uint8Array, count: number, seed: number, truncate: boolean): Generator<Uint8Array> {
    let s = seed;
    const rand = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32);
    for (let i = 0; i < count; i++) {
      if (truncate) {
        yield base.subarray(0, Math.floor(rand() * base.length));
        continue;
      }
      const b = base.slice();
      const flips = 1 + Math.floor(rand() * 4);
      for (let j = 0; j < flips; j++) b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
      yield b;
    }
  }

  it('the small model: 3000 byte flips and every truncation', () => {
    const base = tinyModel();
    const flips = survive(mutations(base, 3000, 1, false), (b) => sl.onnxConstants(sl.readOnnx(b).graph));
    const cuts = survive(Array.from({ length: base.length }, (_, n) => base.subarray(0, n)), (b) => sl.readOnnx(b));
    expect(flips.errors).toBeGreaterThan(100);
    expect(cuts.errors).toBe(base.length); // a proper prefix never holds a whole graph field
  });

  it('the Silero v5 file: truncations and byte flips through the converter', () => {
    const base = new Uint8Array(readFileSync(createRequire(import.meta.url).resolve('@ricky0123/vad-web/dist/silero_vad_v5.onnx')));
    // Flips land mostly in weights; aim a third of them at the first 64 KB, where the graph
    // structure of the 8 kHz branch (nodes, attributes) lives.
    const head = base.subarray(0, 65536);
    const structural = [...mutations(head, 40, 7, false)].map((h) => {
      const b = base.slice();
      b.set(h);
      return b;
    });
    const r = survive([...mutations(base, 40, 3, true), ...mutations(base, 40, 5, false), ...structural], (b) => sl.convertSileroVad(b, { sampleRate: 8000 }));
    expect(r.runs).toBe(120);
    expect(r.errors).toBeGreaterThanOrEqual(40);
  });
});
