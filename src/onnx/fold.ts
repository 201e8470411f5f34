// Constant folding over an ONNX graph: evaluates a value computed only from constants
// (initializers and Constant nodes) through the shape-plumbing ops exporters emit around
// weights and paddings: Identity, Cast, ConstantOfShape, Concat, Reshape, Transpose, Slice,
// Unsqueeze, Squeeze. Converters use it to read, e.g., the pads of a Pad node or an LSTM's
// weights after PyTorch's gate reordering, from the graph itself instead of trusting names.
// Anything else (a graph input, another op) is a BAD_ONNX error naming the value and the op.
import { show } from '../errors.js';
import { describeOnnxNode, onnxAttribute, onnxConstants, onnxFloat32, type OnnxGraph, type OnnxNode, type OnnxTensor } from './model.js';
import { badOnnx } from './protobuf.js';

/** A folded value: row-major numbers of shape `dims` (64-bit integers as numbers, exact within ±2^53). */
export interface Folded {
  readonly dims: readonly number[];
  readonly values: Float64Array;
}

/** Values may be produced at most this many ops deep: deeper (or a cycle) is a hostile file. */
const MAX_FOLD_DEPTH = 64;
/** Folded values hold at most this many elements (weights of small models; nothing larger is plumbing). */
const MAX_FOLD_ELEMENTS = 1 << 22;
/** All values a folder keeps hold at most this many elements (many inputs of one Concat, each at the limit: a hostile file). */
const MAX_FOLDED_TOTAL = 4 * MAX_FOLD_ELEMENTS;

/** Evaluates constant values of a graph and of all its subgraphs (names are unique model-wide). */
export class ConstantFolder {
  private readonly constants: Map<string, OnnxTensor>;
  private readonly producers = new Map<string, OnnxNode>();
  private readonly cache = new Map<string, Folded>();
  /** Elements of the values in `cache`. */
  private cached = 0;

  constructor(graph: OnnxGraph) {
    this.constants = onnxConstants(graph);
    const visit = (g: OnnxGraph) => {
      for (const n of g.nodes) {
        for (const o of n.outputs) {
          if (!o) continue;
          // Two producers of one value would let a walk along the graph go round in circles.
          const other = this.producers.get(o);
          if (other) throw badOnnx(`the value ${show(o)} is defined twice: by ${describeOnnxNode(other)} and by ${describeOnnxNode(n)}`);
          this.producers.set(o, n);
        }
        for (const a of n.attributes) for (const sub of a.g ? [a.g] : a.graphs ?? []) visit(sub);
      }
    };
    visit(graph);
  }

  /** The node that produces `name`, if any. */
  producer(name: string): OnnxNode | undefined {
    return this.producers.get(name);
  }

  /** The constant tensor named `name` (an initializer or a Constant node's output), if any. */
  constant(name: string): OnnxTensor | undefined {
    return this.constants.get(name);
  }

  /** The value of `name`, folded. */
  fold(name: string, depth = 0): Folded {
    const hit = this.cache.get(name);
    if (hit) return hit;
    if (depth > MAX_FOLD_DEPTH) throw badOnnx(`value ${show(name)} is computed more than ${MAX_FOLD_DEPTH} ops deep (or in a cycle)`);
    const c = this.constants.get(name);
    let v: Folded;
    if (c) v = { dims: c.dims, values: Float64Array.from(numbersOf(c)) };
    else {
      const node = this.producers.get(name);
      if (!node) throw badOnnx(`value ${show(name)} is not a constant (a graph input, or undefined), so it cannot be folded`);
      v = this.evaluate(node, name, depth);
    }
    if (v.values.length > MAX_FOLD_ELEMENTS) throw badOnnx(`value ${show(name)} holds ${v.values.length} elements, more than folding takes (${MAX_FOLD_ELEMENTS})`);
    this.cached += v.values.length;
    if (this.cached > MAX_FOLDED_TOTAL) throw badOnnx(`value ${show(name)} brings the values folded to ${this.cached} elements, more than folding takes in all (${MAX_FOLDED_TOTAL})`);
    this.cache.set(name, v);
    return v;
  }

  /** A folded value as a list of integers (shapes, axes, pads). */
  ints(name: string): number[] {
    const v = this.fold(name);
    return Array.from(v.values, (x) => {
      if (Number.isNaN(x)) throw badOnnx(`value ${show(name)}: expected integers, got NaN`);
      return Math.trunc(x);
    });
  }

  private evaluate(node: OnnxNode, name: string, depth: number): Folded {
    const arg = (i: number): Folded | null => (node.inputs[i] ? this.fold(node.inputs[i]!, depth + 1) : null);
    const need = (i: number): Folded => arg(i) ?? fail(`input ${i} is missing`);
    const ints = (f: Folded | null) => (f ? Array.from(f.values, Math.trunc) : null);
    const fail = (msg: string): never => {
      throw badOnnx(`folding ${show(name)}: ${node.opType} node ${show(node.name)}: ${msg}`);
    };
    const attrInts = (k: string) => onnxAttribute(node, k)?.ints;
    switch (node.opType) {
      case 'Identity':
        return need(0);
      case 'Cast': {
        const x = need(0), to = onnxAttribute(node, 'to')?.i;
        // FLOAT rounds to float32, integer types truncate, BOOL is v != 0; others keep the value.
        const map = to === 1 ? Math.fround : to === 9 ? (v: number) => (v ? 1 : 0) : to !== undefined && [2, 3, 4, 5, 6, 7, 12, 13].includes(to) ? Math.trunc : (v: number) => v;
        return { dims: x.dims, values: x.values.map(map) };
      }
      case 'ConstantOfShape': {
        const dims = ints(need(0))!;
        const t = onnxAttribute(node, 'value')?.t;
        const fill = t ? numbersOf(t)[0] ?? 0 : 0;
        return { dims, values: new Float64Array(checkedSize(dims, fail)).fill(fill) };
      }
      case 'Concat': {
        const parts = node.inputs.map((_, i) => need(i));
        const rank = parts[0]?.dims.length ?? 0;
        const axis = normAxis(onnxAttribute(node, 'axis')?.i ?? fail('expected an axis attribute'), rank, fail);
        for (const p of parts) {
          if (p.dims.length !== rank || p.dims.some((d, i) => i !== axis && d !== parts[0]!.dims[i])) {
            fail(`inputs of shapes ${parts.map((q) => show(q.dims)).join(', ')} do not concatenate on axis ${axis}`);
          }
        }
        const dims = parts[0]!.dims.map((d, i) => (i === axis ? parts.reduce((s, p) => s + p.dims[axis]!, 0) : d));
        const outer = product(dims.slice(0, axis));
        const out = new Float64Array(checkedSize(dims, fail));
        let at = 0;
        for (let o = 0; o < outer; o++) {
          for (const p of parts) {
            const n = product(p.dims.slice(axis));
            out.set(p.values.subarray(o * n, (o + 1) * n), at);
            at += n;
          }
        }
        return { dims, values: out };
      }
      case 'Reshape': {
        const x = need(0);
        const want = ints(need(1))!;
        const allowZero = onnxAttribute(node, 'allowzero')?.i === 1;
        const dims = want.map((d, i) => (d === 0 && !allowZero ? x.dims[i] ?? fail(`shape ${show(want)} copies axis ${i} the input lacks`) : d));
        const unknown = dims.indexOf(-1);
        if (unknown >= 0) {
          const rest = product(dims.filter((_, i) => i !== unknown));
          if (rest === 0 || x.values.length % rest) fail(`cannot infer -1 in ${show(want)} for ${x.values.length} elements`);
          dims[unknown] = x.values.length / rest;
        }
        if (dims.some((d) => d < 0) || product(dims) !== x.values.length) fail(`cannot reshape ${show(x.dims)} to ${show(want)}`);
        return { dims, values: x.values };
      }
      case 'Transpose': {
        const x = need(0);
        const perm = attrInts('perm') ?? [...x.dims.keys()].reverse();
        if (perm.length !== x.dims.length || new Set(perm).size !== perm.length || perm.some((p) => p < 0 || p >= x.dims.length)) {
          fail(`perm ${show(perm)} does not permute ${x.dims.length} axes`);
        }
        const strides = stridesOf(x.dims);
        return gather(x, perm.map((p) => x.dims[p]!), perm.map((p) => strides[p]!), 0, fail);
      }
      case 'Slice': {
        const x = need(0), rank = x.dims.length;
        const starts = ints(need(1))!, ends = ints(need(2))!;
        const axes = (ints(arg(3)) ?? starts.map((_, i) => i)).map((a) => normAxis(a, rank, fail));
        const steps = ints(arg(4)) ?? starts.map(() => 1);
        if (ends.length !== starts.length || axes.length !== starts.length || steps.length !== starts.length) fail('starts, ends, axes and steps differ in length');
        const dims = [...x.dims], strides = stridesOf(x.dims);
        const stepStrides = [...strides];
        let offset = 0;
        axes.forEach((a, i) => {
          const n = x.dims[a]!, step = steps[i]!;
          if (step === 0) fail('a step of 0');
          // ONNX Slice clamping (after adding n to negatives): both to [0, n] for positive steps;
          // start to [0, n - 1] and end to [-1, n - 1] for negative ones.
          const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v < 0 ? v + n : v, lo), hi);
          const start = step > 0 ? clamp(starts[i]!, 0, n) : clamp(starts[i]!, 0, n - 1);
          const end = step > 0 ? clamp(ends[i]!, 0, n) : clamp(ends[i]!, -1, n - 1);
          const len = Math.max(0, Math.ceil((end - start) / step));
          dims[a] = len;
          stepStrides[a] = strides[a]! * step;
          if (len > 0) offset += start * strides[a]!;
        });
        return gather(x, dims, stepStrides, offset, fail);
      }
      case 'Unsqueeze': {
        const x = need(0);
        const axes = ints(arg(1)) ?? attrInts('axes') ?? fail('expected axes');
        const rank = x.dims.length + axes.length;
        const at = new Set(axes.map((a) => normAxis(a, rank, fail)));
        const dims: number[] = [];
        let j = 0;
        for (let i = 0; i < rank; i++) dims.push(at.has(i) ? 1 : x.dims[j++]!);
        return { dims, values: x.values };
      }
      case 'Squeeze': {
        const x = need(0);
        const given = ints(arg(1)) ?? attrInts('axes');
        const axes = new Set(given ? given.map((a) => normAxis(a, x.dims.length, fail)) : x.dims.flatMap((d, i) => (d === 1 ? [i] : [])));
        for (const a of axes) if (x.dims[a] !== 1) fail(`axis ${a} has size ${x.dims[a]}, not 1`);
        return { dims: x.dims.filter((_, i) => !axes.has(i)), values: x.values };
      }
      default:
        return fail('this op is not folded (only constant plumbing: Identity, Cast, ConstantOfShape, Concat, Reshape, Transpose, Slice, Unsqueeze, Squeeze)');
    }
  }
}

const product = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

function stridesOf(dims: readonly number[]): number[] {
  const out = new Array<number>(dims.length);
  let s = 1;
  for (let i = dims.length - 1; i >= 0; i--) {
    out[i] = s;
    s *= dims[i]!;
  }
  return out;
}

function normAxis(a: number, rank: number, fail: (m: string) => never): number {
  const v = a < 0 ? a + rank : a;
  if (!(v >= 0 && v < rank)) fail(`axis ${a} is out of range for rank ${rank}`);
  return v;
}

function checkedSize(dims: readonly number[], fail: (m: string) => never): number {
  if (dims.some((d) => !Number.isSafeInteger(d) || d < 0)) fail(`expected a shape of non-negative integers, got ${show(dims)}`);
  const n = product(dims);
  if (n > MAX_FOLD_ELEMENTS) fail(`shape ${show(dims)} holds more than ${MAX_FOLD_ELEMENTS} elements`);
  return n;
}

/** out[i...] = x[offset + sum(i_k * strides_k)] for every index of `dims` (row-major). */
function gather(x: Folded, dims: readonly number[], strides: readonly number[], offset: number, fail: (m: string) => never): Folded {
  const n = checkedSize(dims, fail);
  const out = new Float64Array(n);
  const idx = new Array<number>(dims.length).fill(0);
  let src = offset;
  for (let i = 0; i < n; i++) {
    out[i] = x.values[src]!;
    for (let d = dims.length - 1; d >= 0; d--) {
      src += strides[d]!;
      if (++idx[d]! < dims[d]!) break;
      src -= strides[d]! * dims[d]!;
      idx[d] = 0;
    }
  }
  return { dims, values: out };
}

/** A tensor's values as numbers: floats exact, 64-bit integers exact within ±2^53. */
function numbersOf(t: OnnxTensor): ArrayLike<number> {
  const d = t.data;
  if (d instanceof BigInt64Array || d instanceof BigUint64Array) return Array.from(d, Number);
  if (d instanceof Float64Array || d instanceof Int32Array || d instanceof Uint32Array) return d;
  return onnxFloat32(t);
}
