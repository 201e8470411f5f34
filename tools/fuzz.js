#!/usr/bin/env node
// Fuzzing of everything seqlayers reads from untrusted hands: safetensors bytes, layer configs,
// state snapshots, ONNX files and the ONNX importer (convertSileroVad). Every input must end in a
// SeqLayersError with a code or in a valid result. A failure is any other exception (a
// WebAssembly.RuntimeError is a kernel trap), a broken invariant (weights partly loaded after a
// refused file, memory kept by a refused build, a parse that does not round-trip, another
// state's memory changed) or a case slower than `slowMs`. The `contract` target draws valid
// configs instead (single layers and short stacks) and fails on any verifyContract violation.
//
//   node tools/fuzz.js [--cases N] [--seed S] [--only safetensors,configs,contract,snapshots,onnx,importer]
//                      [--case I] [--trace]
//
// runs against dist/ (`npm run build` first) and prints, per target, how many cases it tried and
// how they ended; test/robustness/fuzz.test.ts runs a bounded count of the same generators
// against src/. Cases are reproducible: case I of a target and seed is the same input in both,
// and a failure prints the arguments that rerun it alone (--trace prints each case first, to find
// a hang).
//
// The generators take an `api` object rather than importing seqlayers themselves, so the same
// code serves the built package and the sources: { sl, layerDef, seededRandom, crc32 }.

/** The fuzz targets, in the order they run. */
export const TARGETS = ['safetensors', 'configs', 'contract', 'snapshots', 'onnx', 'importer'];

/** A broken invariant or an uncoded exception: the thing fuzzing looks for. */
export class FuzzFailure extends Error {}

/** Uniform helpers over a seeded [0, 1) generator. */
class Rng {
  constructor(random) {
    this.random = random;
  }
  /** An integer in [0, n). */
  int(n) {
    return Math.floor(this.random() * n);
  }
  /** An integer in [a, b]. */
  range(a, b) {
    return a + this.int(b - a + 1);
  }
  pick(list) {
    return list[this.int(list.length)];
  }
  chance(p) {
    return this.random() < p;
  }
  bytes(n) {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
}

/** The seed of case `i` of a run seeded with `seed` (so one case reruns alone). */
const caseSeed = (seed, i) => (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) + Math.imul(i + 1, 0xc2b2ae35)) >>> 0;

/**
 * Runs `fn`; a coded SeqLayersError becomes { code }, a result { value }, anything else a
 * FuzzFailure naming it (a WebAssembly.RuntimeError is reported as a kernel trap).
 */
function attempt(api, fn) {
  try {
    return { value: fn() };
  } catch (e) {
    if (e instanceof FuzzFailure) throw e;
    if (e instanceof api.sl.SeqLayersError && typeof e.code === 'string' && e.message.startsWith(`[${e.code}] `)) return { code: e.code, error: e };
    const kind = e instanceof WebAssembly.RuntimeError ? 'WebAssembly trap' : `uncoded ${e?.constructor?.name ?? typeof e}`;
    throw new FuzzFailure(`${kind}: ${e?.stack ?? e}`);
  }
}

function check(ok, what) {
  if (!ok) throw new FuzzFailure(what);
}

const sameBits = (a, b) => {
  if (a.byteLength !== b.byteLength) return false;
  const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength), y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
};

/** A short description of a value for failure reports (configs may be cyclic or deep). */
function describe(v, depth = 0) {
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'function') return 'function';
  if (typeof v === 'symbol') return String(v);
  if (v === null || typeof v !== 'object') return typeof v === 'string' ? JSON.stringify(v.slice(0, 40)) : String(v);
  if (ArrayBuffer.isView(v)) return `${v.constructor.name}(${v.length})`;
  if (depth > 3) return Array.isArray(v) ? '[...]' : '{...}';
  if (Array.isArray(v)) return `[${v.slice(0, 6).map((x) => describe(x, depth + 1)).join(', ')}${v.length > 6 ? ', ...' : ''}]`;
  const keys = Object.keys(v);
  return `{${keys.slice(0, 8).map((k) => `${k}: ${describe(v[k], depth + 1)}`).join(', ')}${keys.length > 8 ? ', ...' : ''}}`;
}

/**
 * Runs `cases` cases of one target. `makeCase(rng, i)` returns { what, run } where run() returns
 * 'valid' or the error code the input ended in, and throws FuzzFailure on anything else.
 */
function runCases(api, target, opts, makeCase) {
  const { cases = 1000, seed = 1, slowMs = 5000, maxFailures = 10, only, trace } = opts;
  const report = { target, cases: 0, valid: 0, errors: {}, failures: [], ms: 0, slowestMs: 0 };
  const t0 = performance.now();
  for (let i = only ?? 0; i < (only !== undefined ? only + 1 : cases); i++) {
    const rng = new Rng(api.seededRandom(caseSeed(seed, i)));
    const c0 = performance.now();
    let what = '(case not generated)';
    try {
      const c = makeCase(rng, i);
      what = c.what;
      if (trace) trace(`${target} case ${i}: ${what}`);
      const outcome = c.run();
      if (outcome === 'valid') report.valid++;
      else report.errors[outcome] = (report.errors[outcome] ?? 0) + 1;
    } catch (e) {
      report.failures.push({ case: i, seed, what, error: e instanceof FuzzFailure ? e.message : `uncoded ${e?.stack ?? e}` });
    }
    const ms = performance.now() - c0;
    report.slowestMs = Math.max(report.slowestMs, ms);
    if (ms > slowMs) report.failures.push({ case: i, seed, what, error: `took ${ms.toFixed(0)} ms (over ${slowMs} ms)` });
    report.cases++;
    if (report.failures.length >= maxFailures) break;
  }
  report.ms = performance.now() - t0;
  return report;
}

/** One line per report, then one per failure (with what reproduces it). */
export function formatReport(r) {
  const codes = Object.entries(r.errors).sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c} ${n}`).join(', ');
  const lines = [
    `${r.target}: ${r.cases} cases in ${(r.ms / 1000).toFixed(2)} s (slowest ${r.slowestMs.toFixed(0)} ms): valid ${r.valid}${codes ? `, ${codes}` : ''}; ${r.failures.length} failures`,
  ];
  for (const f of r.failures) lines.push(`  FAIL case ${f.case} (--only ${r.target} --seed ${f.seed} --case ${f.case}) ${f.what}\n    ${f.error.split('\n').slice(0, 6).join('\n    ')}`);
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Shared mutations

/** Values of the wrong type or an absurd size, for config fields and JSON headers. */
function weirdValue(rng) {
  switch (rng.int(12)) {
    case 0: return rng.pick([null, undefined, true, false]);
    case 1: return rng.pick([0, -1, -0, 1.5, 0.1, 1e9, 2 ** 31, 2 ** 32, 2 ** 53, -(2 ** 31), 1e300, 1e-300]);
    case 2: return rng.pick([NaN, Infinity, -Infinity]);
    case 3: return rng.pick(['', 'x', 'constructor', '__proto__', 'toString', 'hasOwnProperty', 'relu', 'causal', 'same', '\u0000', 'é'.repeat(3), 'Conv1D'.repeat(200_000)]);
    case 4: return rng.pick([[], [1], [0], [-1], [1e9], [1, 2, 3], [[1]], [null], ['a'], [2, 2]]);
    case 5: return rng.pick([{}, { type: 'Relu' }, { type: 'Nope' }, { a: 1 }, { type: 'constructor' }, { type: '__proto__' }]);
    case 6: return deepArray(rng.pick([100, 300, 5000, 100_000]));
    case 7: return deepObject(rng.pick([100, 300, 5000, 100_000]));
    case 8: return cyclic(rng);
    case 9: return rng.pick([1n, 2n ** 70n, Symbol('s')]);
    case 10: return rng.pick([(x) => x, Math.max, Object, Array]);
    default: return rng.pick([new Float32Array(3), new Map(), new Date(0), Object.create(null)]);
  }
}

function deepArray(depth) {
  let v = 1;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

function deepObject(depth) {
  let v = { type: 'Relu' };
  for (let i = 0; i < depth; i++) v = { type: 'Serial', layers: [v] };
  return v;
}

/** An object that contains itself: a config cycle, a list cycle, or a diamond that explodes when walked as a tree. */
function cyclic(rng) {
  switch (rng.int(3)) {
    case 0: {
      const c = { type: 'Serial', layers: [] };
      c.layers.push(c);
      return c;
    }
    case 1: {
      const a = [1];
      a.push(a);
      return a;
    }
    default: {
      // 2^60 paths through 60 shared nodes: a walk that does not bound its work never ends.
      let v = { type: 'Relu' };
      for (let i = 0; i < 60; i++) v = { type: 'Parallel', layers: [v, v], combination: 'add' };
      return v;
    }
  }
}

/** A structural copy that keeps functions (Lambda) and shares nothing mutable. */
function clone(v) {
  if (Array.isArray(v)) return v.map(clone);
  if (v && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, clone(x)]));
  return v;
}

// ---------------------------------------------------------------------------------------------
// safetensors

const ST_DTYPES = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U64: 8, U32: 4, U16: 2, U8: 1, BOOL: 1, F8_E4M3: 1, F8_E5M2: 1 };
const TYPED = { F64: Float64Array, F32: Float32Array, F16: Uint16Array, BF16: Uint16Array, I64: BigInt64Array, I32: Int32Array, I16: Int16Array, I8: Int8Array, U64: BigUint64Array, U32: Uint32Array, U16: Uint16Array, U8: Uint8Array, BOOL: Uint8Array, F8_E4M3: Uint8Array, F8_E5M2: Uint8Array };
const NAMES = ['w', 'layers.0.kernel', '', 'ü', '__proto__', 'constructor', 'toString', '\u{1d518}', 'a"b', 'a\\b', 'x'.repeat(300)];

const utf8 = new TextEncoder();
const product = (s) => s.reduce((a, b) => a * b, 1);

/** Random tensors (any dtype, rank 0-3, sizes 0-3) keyed by unique names. */
function randomTensors(rng) {
  const tensors = new Map();
  const n = rng.int(5);
  for (let i = 0; i < n; i++) {
    const dtype = rng.pick(Object.keys(ST_DTYPES));
    const shape = Array.from({ length: rng.int(4) }, () => rng.int(4));
    const bytes = rng.bytes(product(shape) * ST_DTYPES[dtype]);
    tensors.set(rng.chance(0.5) ? rng.pick(NAMES) : `t${i}`, { dtype, shape, data: new TYPED[dtype](bytes.buffer) });
  }
  return tensors;
}

/** The parts of a safetensors file: header object (insertion-ordered) and data bytes. */
function splitSafetensors(bytes) {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return { header: JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))), data: bytes.subarray(8 + n) };
}

function joinSafetensors(headerText, data) {
  const head = typeof headerText === 'string' ? utf8.encode(headerText) : headerText;
  const out = new Uint8Array(8 + head.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  out.set(data, 8 + head.length);
  return out;
}

/** Edits of the JSON header that keep it JSON: wrong offsets, dtypes, shapes, keys. Returns header text. */
function mutateHeader(rng, header) {
  const isEntry = (v) => v && typeof v === 'object' && Array.isArray(v.data_offsets) && v.data_offsets.length === 2;
  const names = Object.keys(header).filter((k) => k !== '__metadata__' && isEntry(header[k]));
  const name = names.length ? rng.pick(names) : null;
  const info = name !== null ? header[name] : null;
  const kind = rng.int(info ? 14 : 4);
  switch (kind) {
    case 0: header.__metadata__ = rng.pick([{ a: 1 }, { a: {} }, [], 'x', null, { b: 'ok' }, { __proto__: 'x' }]); break;
    case 1: header[rng.pick(NAMES)] = rng.pick([1, 'x', null, [], {}, { dtype: 'F32', shape: [], data_offsets: [0, 4] }]); break;
    case 2: return JSON.stringify(rng.pick([[], 'x', 1, null, true]));
    case 3: header.__metadata__ = { deep: JSON.stringify(deepArray(rng.range(10, 200))) }; break; // a string: fine
    case 4: info.data_offsets = rng.pick([[0, 1e9], [-4, 0], [0.5, 4.5], [4, 0], ['0', '4'], [0], [0, 4, 8], null, [2 ** 53, 2 ** 53 + 4], [0, 2 ** 64]]); break;
    case 5: { // overlap or gap: shift one range
      const d = rng.pick([-8, -4, -1, 1, 4, 8]);
      info.data_offsets = [info.data_offsets[0] + d, info.data_offsets[1] + d];
      break;
    }
    case 6: { // swap two ranges: out of order, and overlapping when their sizes differ
      const other = header[rng.pick(names)];
      [info.data_offsets, other.data_offsets] = [other.data_offsets, info.data_offsets];
      break;
    }
    case 7: info.dtype = rng.pick(['f32', 'F128', '', 1, null, 'BOOL', 'I64', 'F8_E4M3', 'U64', '__proto__', 'toString', 'F16']); break;
    case 8: info.shape = rng.pick([[-1], [1.5], [2 ** 53], [1e20, 1e20], '3', [[1]], null, {}, [], [2 ** 31, 2 ** 31], [0, 1e300]]); break;
    case 9: info[rng.pick(['extra', 'dtype2', '__proto__', 'offsets'])] = 1; break;
    case 10: delete info[rng.pick(['dtype', 'shape', 'data_offsets'])]; break;
    case 11: header[name] = weirdJson(rng); break;
    case 12: { // a tensor nested deep inside the header
      header[name] = { dtype: 'F32', shape: deepArray(rng.range(50, 2000)), data_offsets: info.data_offsets };
      break;
    }
    default: { // the same name twice (JSON.parse would keep the last one silently)
      const text = JSON.stringify(header);
      const dup = `${JSON.stringify(name)}:${JSON.stringify(info)}`;
      return text.length > 2 ? `{${dup},${text.slice(1)}` : text;
    }
  }
  return JSON.stringify(header);
}

/** A JSON value that is strange for a tensor entry. */
function weirdJson(rng) {
  return rng.pick([null, true, 0, -1, 1.5, 1e300, '', 'x', [], [1], [[1]], {}, { a: 1 }, { dtype: 'F32' }, { shape: [] }, deepArray(rng.range(10, 100))]);
}

/** Byte-level edits of the header text: bad UTF-8, control characters, bad escapes, bad numbers. */
function mutateHeaderText(rng, text) {
  const at = rng.int(text.length + 1);
  const insert = rng.pick([
    [0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82], [0x00], [0x0a], [0x5c, 0x78], [0x22],
    utf8.encode('1e400'), utf8.encode('-0'), utf8.encode('01'), utf8.encode('}'), utf8.encode(']]]]'), utf8.encode('\\u12'),
    utf8.encode('[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[['),
    [0xef, 0xbb, 0xbf], utf8.encode('  '), utf8.encode('null'),
  ]);
  const b = utf8.encode(text);
  const out = new Uint8Array(b.length + insert.length);
  out.set(b.subarray(0, at));
  out.set(insert, at);
  out.set(b.subarray(at), at + insert.length);
  if (rng.chance(0.3)) out[rng.int(out.length)] = rng.int(256); // and maybe one random byte
  return out;
}

/** One mutation of a whole file (some on the header, some on the bytes). */
function mutateSafetensors(rng, bytes) {
  let parts = null;
  try {
    parts = splitSafetensors(bytes); // null when an earlier mutation broke the header
    if (!parts.header || typeof parts.header !== 'object' || Array.isArray(parts.header)) parts = null;
  } catch {
    // only byte-level mutations apply
  }
  switch (rng.int(parts ? 8 : 3)) {
    case 0: return { how: 'truncated', bytes: bytes.subarray(0, rng.int(bytes.length)) };
    case 1: { // random byte flips anywhere
      const out = bytes.slice();
      const n = rng.range(1, 4);
      for (let i = 0; i < n; i++) out[rng.int(out.length)] ^= 1 << rng.int(8);
      return { how: `${n} byte flips`, bytes: out };
    }
    case 2: { // the header length: huge, "negative", off by one
      if (bytes.length < 8) return { how: 'truncated', bytes: bytes.subarray(0, rng.int(bytes.length + 1)) };
      const out = bytes.slice();
      const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
      const v = rng.pick([0n, 1n, BigInt(n - 1), BigInt(n + 1), BigInt(bytes.length), 2n ** 31n, 2n ** 32n, 2n ** 53n, 2n ** 63n, 2n ** 64n - 1n, 100_000_001n, BigInt(rng.int(2 ** 30))]);
      new DataView(out.buffer).setBigUint64(0, v, true);
      return { how: `header length ${v}`, bytes: out };
    }
    case 3: { // the data section grows or shrinks
      const { header, data } = parts;
      const d = rng.chance(0.5) ? cat(data, rng.bytes(rng.range(1, 9))) : data.subarray(0, Math.max(0, data.length - rng.range(1, 9)));
      return { how: 'data length changed', bytes: joinSafetensors(JSON.stringify(header), d) };
    }
    case 4:
    case 5: {
      const { header, data } = parts;
      const text = mutateHeader(rng, header);
      return { how: `header edited: ${text.slice(0, 100)}`, bytes: joinSafetensors(text, data) };
    }
    case 6: {
      const { header, data } = parts;
      return { how: 'header text corrupted', bytes: joinSafetensors(mutateHeaderText(rng, JSON.stringify(header)), data) };
    }
    default: return { how: 'random bytes', bytes: rng.bytes(rng.int(64)) };
  }
}

/** Checks a parsed file is self-consistent and survives writeSafetensors → readSafetensors. */
function checkParsed(api, file) {
  for (const [name, t] of file.tensors) {
    check(t.data.byteLength === product(t.shape) * ST_DTYPES[t.dtype], `tensor ${JSON.stringify(name)}: ${t.data.byteLength} bytes for shape ${JSON.stringify(t.shape)} ${t.dtype}`);
  }
  const again = api.sl.readSafetensors(api.sl.writeSafetensors(file.tensors, file.metadata));
  check(again.tensors.size === file.tensors.size, 'a valid file does not round-trip (tensor count)');
  for (const [name, t] of file.tensors) {
    const u = again.tensors.get(name);
    check(u && u.dtype === t.dtype && u.shape.join() === t.shape.join() && sameBits(u.data, t.data), `tensor ${JSON.stringify(name)} does not round-trip`);
  }
}

/**
 * safetensors: random files and files of a model's own weights (F32, F64, BF16), mutated; read,
 * and for the model's files loaded: after a refused load the previous weights are intact, after
 * an accepted one they are the file's values, and the model still runs.
 */
export function fuzzSafetensors(api, rt, opts = {}) {
  const { sl } = api;
  const model = sl.build(sl.Serial([sl.Conv1D({ filters: 3, kernelSize: 2, padding: 'causal' }), sl.LSTM({ units: 4 }), sl.Dense({ features: 2 })]), { inputShape: [2], runtime: rt });
  const x = sl.randomSequence([2, 5, 2], { seed: 1 });
  try {
    return runCases(api, 'safetensors', opts, (rng) => {
      const forModel = rng.chance(0.5);
      const weights = forModel ? modelWeightsAs(rng, model) : null;
      const valid = sl.writeSafetensors(weights ?? randomTensors(rng));
      const n = rng.chance(0.2) ? 2 : 1;
      let bytes = valid, how = [];
      for (let i = 0; i < n; i++) {
        const m = mutateSafetensors(rng, bytes);
        bytes = m.bytes;
        how.push(m.how);
      }
      if (rng.chance(0.05)) {
        bytes = valid;
        how = ['unchanged'];
      }
      return {
        what: `${forModel ? "the model's weights" : 'random tensors'}, ${how.join('; ')} (${bytes.length} bytes)`,
        run: () => {
          const read = attempt(api, () => sl.readSafetensors(bytes));
          if (read.code) return read.code;
          checkParsed(api, read.value);
          if (!forModel) return 'valid';
          const before = model.getWeights();
          const load = attempt(api, () => model.loadWeights(read.value));
          const after = model.getWeights();
          for (const [path, t] of Object.entries(after)) {
            const want = load.code ? before[path].data : sl.toFloat32(read.value.tensors.get(path));
            check(sameBits(t.data, want), `${path}: ${load.code ? `changed by a refused load (${load.code})` : 'not the loaded values'}`);
          }
          const run = attempt(api, () => model.layer(x));
          return load.code ?? run.code ?? 'valid';
        },
      };
    });
  } finally {
    model.dispose();
  }
}

/** A model's weights as a mix of F32, F64 and BF16 tensors (what a trainer may save). */
function modelWeightsAs(rng, model) {
  const out = new Map();
  for (const [path, t] of Object.entries(model.getWeights())) {
    const values = t.data.map(() => (rng.random() - 0.5) * 2);
    const dtype = rng.pick(['F32', 'F64', 'BF16']);
    const data = dtype === 'F32' ? values : dtype === 'F64' ? Float64Array.from(values) : Uint16Array.from(new Uint32Array(values.buffer), (b) => b >>> 16);
    out.set(path, { dtype, shape: t.shape, data });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Layer configs

const INPUT_SHAPES = [[4], [4, 4], [4, 4, 4], [6], [2, 3]];

/**
 * Seeds that field-by-field synthesis would not find: layers needing a particular pattern,
 * constants, or a combination of values. Each builds and runs as given.
 */
const SEED_OVERRIDES = {
  EinopsRearrange: [{ pattern: 'h w -> w h' }, [4, 3]],
  GlobalEinopsRearrange: [{ pattern: 't c -> (t c)' }, [4]],
  EinsumDense: [{ equation: '...a,ab->...b', outputShape: [3] }, [4]],
  Slice: [{ slices: [[0, 2]] }, [4]],
  Lambda: [{ fn: (v) => v }, [4]],
  MoveAxis: [{ source: 2, destination: 3 }, [4, 3]],
  SwapAxes: [{ axis1: 2, axis2: 3 }, [4, 3]],
  Reshape: [{ outputShape: [2, 2] }, [4]],
  GlobalReshape: [{ outputShape: [8] }, [4]],
  DenseShaped: [{ outputShape: [3] }, [4]],
  Conditioning: [{ conditioningName: 'cond', projection: 'linear', combination: 'add' }, [4]],
  DotProductAttention: [{ sourceName: 'src', numHeads: 2, unitsPerHead: 2 }, [4]],
  MultiSourceDotProductAttention: [{ sourceNames: ['src'], numHeads: 2, unitsPerHead: 2 }, [4]],
  StreamingDotProductAttention: [{ sourceName: 'src', numHeads: 2, unitsPerHead: 2, maxPastHorizon: 2 }, [4]],
  StreamingLocalDotProductAttention: [{ sourceName: 'src', numHeads: 2, unitsPerHead: 2, maxPastHorizon: 2, blockSize: 2 }, [4]],
  GmmAttention: [{ sourceName: 'src', numHeads: 2, unitsPerHead: 2, numComponents: 2, monotonic: true }, [4]],
  LinearToMelSpectrogram: [{ numMelBins: 4, sampleRate: 16000, lowerEdgeHertz: 0, upperEdgeHertz: 8000 }, [9]],
  STFT: [{ frameLength: 4, frameStep: 2, fftLength: 4 }, []],
  InverseSTFT: [{ frameLength: 4, frameStep: 2, fftLength: 4 }, [3], 'complex64'],
  FFT: [{}, [4], 'complex64'],
  IFFT: [{}, [4], 'complex64'],
  IRFFT: [{}, [3], 'complex64'],
  Frame: [{ frameLength: 4, frameStep: 2 }, []],
  OverlapAdd: [{ frameLength: 4, frameStep: 2 }, [4]],
  Embedding: [{ dimension: 3, numEmbeddings: 5 }, [], 'int32'],
  OneHot: [{ depth: 5 }, [], 'int32'],
  SequenceEmbedding: [{ dimension: 3, numEmbeddingsPerStep: 5, numSteps: 8 }, [], 'int32'],
  Window: [{ axis: -1 }, [4]],
  Pad: [{ padding: [1, 1] }, [4]],
  ExpandDims: [{ axis: -1 }, [4]],
};

/**
 * Constants every built config gets: `src`, a cross-attention source [batch, time, 3] (the
 * streaming attentions read it in step with the input, so it has the input's length and step()
 * gets each block's slice), and `cond`, a conditioning vector [batch, 4].
 */
function fuzzConstants(sl, batch, time, t0 = 0, t1 = time) {
  const perStep = (f) => sl.Sequence.fromValues(Int32Array.from({ length: batch * time }, (_, i) => f(Math.floor(i / time), i % time)), [batch, time], 'int32').sliceTime(t0, t1);
  return {
    src: sl.randomSequence([batch, time, 3], { seed: 7, randomLengths: false }).sliceTime(t0, t1),
    cond: { values: Float32Array.from({ length: batch * 4 }, (_, i) => i / 8), shape: [batch, 4] },
    // Segment ids and positions of the self attentions: segments of 5 steps, positions counting
    // steps; MultiSource's source segment ids (of src's steps, whole: an array).
    seg: perStep((b, t) => Math.floor((t + 3 * b) / 5)),
    pos: perStep((_, t) => t),
    srcseg: { values: Int32Array.from({ length: batch * time }, (_, i) => Math.floor((i % time) / 4)), shape: [batch, time] },
  };
}

/** Candidate values for a required field, from the text of what it expects. */
function candidates(expects) {
  const oneOf = /^one of (.*?)(?: \(any case\))?(?: or null)?$/.exec(expects);
  if (oneOf) return [...oneOf[1].matchAll(/"([^"]*)"/g)].map((m) => m[1]);
  if (/^a list of layer configs/.test(expects)) return [[{ type: 'Relu' }, { type: 'Identity' }]];
  if (/^a layer config/.test(expects)) return [{ type: 'Relu' }];
  if (/^an integer or a list/.test(expects)) return [-1, 1];
  if (/^an integer/.test(expects)) return [2, 1, 4];
  if (/^a list of (positive )?integers/.test(expects)) return [[4], [2, 2]];
  if (/^a number/.test(expects)) return [1, 2];
  if (/^true or false/.test(expects)) return [false, true];
  if (/^a string/.test(expects)) return ['cond', 'src'];
  return [1];
}

/**
 * A config of `type` that builds and runs on a small input: the override, or the first
 * combination of candidate values (per required field) and input shape that does.
 */
function findSeed(api, rt, type) {
  const { sl } = api;
  const def = api.layerDef(type);
  const tries = [];
  if (SEED_OVERRIDES[type]) {
    const [fields, inputShape, dtype = 'float32'] = SEED_OVERRIDES[type];
    tries.push({ config: { type, ...fields }, inputShape, dtype });
  } else {
    const required = Object.entries(def.fields).filter(([, f]) => !f.optional);
    let combos = [{}];
    for (const [name, field] of required) combos = combos.flatMap((c) => candidates(field.expects).map((v) => ({ ...c, [name]: v }))).slice(0, 24);
    for (const c of combos) for (const inputShape of INPUT_SHAPES) tries.push({ config: { type, ...c }, inputShape, dtype: 'float32' });
  }
  for (const t of tries) {
    try {
      runConfig(api, rt, t.config, t.inputShape, t.dtype, null);
      // Normalised: every field present, defaults and nested sub-configs too, so all get mutated.
      return { ...t, config: sl.normalizeConfig(t.config) };
    } catch {
      // try the next combination
    }
  }
  return null;
}

/** Builds `config`, runs layer() and step() block by block on a small input, disposes everything. */
function runConfig(api, rt, config, inputShape, dtype, rng) {
  const { sl } = api;
  const model = sl.build(config, { inputShape, inputDtype: dtype, runtime: rt, constants: fuzzConstants(sl, 2, 5) });
  try {
    const bs = model.blockSize;
    const perStep = product(inputShape) * (dtype === 'complex64' ? 2 : 1);
    if (bs * 2 * perStep * 2 > 1 << 20) return 'valid'; // built; too big to run in a fuzz case
    const time = bs * (rng ? rng.range(1, 3) : 2);
    const ints = dtype === 'int32' ? { low: rng?.chance(0.2) ? -3 : 0, high: rng?.chance(0.2) ? 2 ** 31 - 1 : 5 } : {};
    const x = sl.randomSequence([2, time, ...inputShape], { seed: 3, dtype, ...ints });
    if (rng && dtype !== 'int32' && rng.chance(0.2)) x.values[rng.int(x.values.length)] = rng.pick([NaN, Infinity, -Infinity, 3e38]);
    const stream = JSON.stringify(config).includes('"type":"Streaming'); // a config that built is JSON data
    model.layer(x, { constants: fuzzConstants(sl, 2, time) });
    if (model.supportsStep) {
      const state = model.initialState(2, { constants: fuzzConstants(sl, 2, stream ? bs : time) });
      try {
        for (let t = 0; t < time; t += bs) model.step(x.sliceTime(t, t + bs), state, { constants: stream ? fuzzConstants(sl, 2, time, t, t + bs) : fuzzConstants(sl, 2, time) });
      } finally {
        state.dispose();
      }
    }
    return 'valid';
  } finally {
    model.dispose();
  }
}

/** A value a field accepts, or nearly: another option, a small integer near its minimum, a flipped flag. */
function plausibleValue(rng, field) {
  const e = field.expects;
  if (/^one of /.test(e)) return rng.pick(candidates(e));
  if (/^true or false/.test(e)) return rng.chance(0.5);
  const min = Number(/(?:>= |in \[)(-?\d+)/.exec(e)?.[1] ?? 0);
  if (/^an integer/.test(e)) return rng.chance(0.8) ? min + rng.int(6) : rng.pick([min - 1, 7, 16, 33]);
  if (/^a number/.test(e)) return rng.pick([0, 0.5, 1, 2, -1, 1e-6]);
  return rng.pick(candidates(e));
}

/**
 * Paths (lists of keys) to every config and field in a tree, each object visited once and at
 * most 8 configs deep (earlier mutations may have made it cyclic, shared or very deep).
 */
function configPaths(config, path = [], out = [], seen = new Set()) {
  if (seen.has(config) || path.length > 16) return out;
  seen.add(config);
  out.push(path);
  for (const [k, v] of Object.entries(config)) {
    if (k === 'type') continue;
    out.push([...path, k]);
    const isConfig = (c) => c && typeof c === 'object' && !Array.isArray(c) && 'type' in c;
    if (Array.isArray(v)) v.slice(0, 8).forEach((c, i) => isConfig(c) && configPaths(c, [...path, k, i], out, seen));
    else if (isConfig(v)) configPaths(v, [...path, k], out, seen);
  }
  return out;
}

const getAt = (root, path) => path.reduce((o, k) => o?.[k], root);

/** One mutation of a config tree (in place; returns the new root and what was done). */
function mutateConfig(rng, api, root, types) {
  const paths = configPaths(root);
  const path = rng.pick(paths);
  const parent = path.length ? getAt(root, path.slice(0, -1)) : null;
  const key = path[path.length - 1];
  const target = getAt(root, path);
  const isConfig = target && typeof target === 'object' && !Array.isArray(target) && 'type' in target;
  const describeAt = `${path.join('.') || '(root)'}`;
  if (isConfig && rng.chance(0.4)) { // a plausible value for one of its fields: explores valid configs
    const fields = Object.entries(api.layerDef(target.type)?.fields ?? {});
    if (fields.length) {
      const [name, field] = rng.pick(fields);
      target[name] = plausibleValue(rng, field);
      return { root, how: `${describeAt}.${name} := ${describe(target[name])}` };
    }
  }
  switch (rng.int(isConfig ? 10 : 6)) {
    case 0: { // a wrong type or an absurd value
      const v = weirdValue(rng);
      if (parent) parent[key] = v;
      else return { root: v, how: `root := ${describe(v)}` };
      return { root, how: `${describeAt} := ${describe(v)}` };
    }
    case 1: { // numbers scaled to absurd sizes, or just past a limit
      // (Sizes between 2^16 and 2^23 are left out: within the budget they are valid, and the
      // work they ask for, which is not a fault, would dominate the run.)
      if (typeof target !== 'number' || !parent) return mutateConfig(rng, api, root, types);
      const v = rng.pick([target * 1e9, 2 ** 24, 2 ** 24 + 1, 4096, 0, -target, target + 1, target - 1, 1e8]);
      parent[key] = v;
      return { root, how: `${describeAt} := ${v}` };
    }
    case 2: { // a list entry added, removed or changed
      if (!Array.isArray(target) || !parent) return mutateConfig(rng, api, root, types);
      if (target.length && rng.chance(0.5)) target.splice(rng.int(target.length), 1);
      else target.push(rng.chance(0.5) ? rng.pick([1, -1, 2 ** 24, 0]) : weirdValue(rng));
      return { root, how: `${describeAt} edited: ${describe(target)}` };
    }
    case 3: { // a field removed
      if (!parent) return mutateConfig(rng, api, root, types);
      delete parent[key];
      return { root, how: `${describeAt} removed` };
    }
    case 4: { // a string field changed
      if (typeof target !== 'string' || !parent) return mutateConfig(rng, api, root, types);
      parent[key] = rng.pick(['', target.toUpperCase(), `${target}x`, 'constructor', '__proto__', 'b t c -> b (t c)', '...,->', 'a b -> b a', 'b t (c d) -> b t c d']);
      return { root, how: `${describeAt} := ${describe(parent[key])}` };
    }
    case 5: { // an unknown field, a field given twice in both spellings, or an inherited name
      const host = isConfig ? target : root;
      const k = rng.pick(['unknown', 'constructor', '__proto__', 'toString', 'hasOwnProperty', 'kernel_size', 'kernelSize', 'units', 'name', 'type2']);
      Object.defineProperty(host, k, { value: weirdValue(rng), enumerable: true, configurable: true, writable: true });
      const camelKey = Object.keys(host).find((f) => /[A-Z]/.test(f));
      if (camelKey && rng.chance(0.3)) host[camelKey.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)] = host[camelKey];
      return { root, how: `${describeAt}.${k} added` };
    }
    case 6: { // another or an unknown layer type with the same fields
      const t = rng.chance(0.8) ? rng.pick(types) : rng.pick(['Nope', 'relu', 'Conv1d', '', 'constructor', '__proto__', 'Conv1D'.repeat(200_000)]);
      target.type = t;
      return { root, how: `${describeAt}.type := ${JSON.stringify(t)}` };
    }
    case 7: { // wrapped in combinators, deep or not
      const levels = rng.pick([1, 2, 62, 63, 64, 65, 100, 1000]);
      let v = target;
      for (let i = 0; i < levels; i++) v = rng.chance(0.5) ? { type: 'Serial', layers: [v] } : { type: 'Residual', layers: [v] };
      if (parent) parent[key] = v;
      else root = v;
      return { root, how: `${describeAt} wrapped ${levels} levels deep` };
    }
    case 8: { // a cycle through a layer field
      if (Array.isArray(target.layers)) target.layers.push(target);
      else if ('layer' in target) target.layer = target;
      else {
        const host = { type: 'Serial', layers: [target] };
        host.layers.push(host);
        if (parent) parent[key] = host;
        else root = host;
      }
      return { root, how: `${describeAt} contains itself` };
    }
    default: { // a field of this type set to a value meant for another field
      const fields = Object.keys(api.layerDef(target.type)?.fields ?? {});
      if (!fields.length) return mutateConfig(rng, api, root, types);
      const f = rng.pick(fields);
      target[f] = rng.pick([1, 2 ** 24, 'same', 'causal', true, [1, 1], { type: 'Relu' }, [{ type: 'Relu' }], -1, 0.5]);
      return { root, how: `${describeAt}.${f} := ${describe(target[f])}` };
    }
  }
}

/**
 * Configs: valid seeds of every registered layer type, mutated (wrong value types, absurd sizes,
 * unknown fields and types, deep nesting, cycles), with odd input shapes now and then. Each
 * case builds the config and runs layer() and step() on a small input (with NaN or Inf now
 * and then, and out-of-range ids for int32 inputs). A refused build must leave the heap as it
 * was; a built model must free its memory on dispose.
 */
export function fuzzConfigs(api, rt, opts = {}) {
  return withSeeds(api, rt, (seeds, missing) => ({ ...fuzzSeededConfigs(api, rt, opts, seeds), seeded: seeds.size, unseeded: missing }));
}

/** fn(seeds, missing): a seed config (findSeed) of every registered type, with Logging layers silenced meanwhile. */
function withSeeds(api, rt, fn) {
  const seeds = new Map();
  const missing = [];
  const log = console.log;
  console.log = () => {}; // Logging layers print every call
  try {
    for (const type of api.sl.registeredTypes()) {
      const s = findSeed(api, rt, type);
      if (s) seeds.set(type, s);
      else missing.push(type);
    }
    return fn(seeds, missing);
  } finally {
    console.log = log;
  }
}

function fuzzSeededConfigs(api, rt, opts, seeds) {
  const { sl } = api;
  const types = sl.registeredTypes();
  const seeded = [...seeds.keys()];
  return runCases(api, 'configs', opts, (rng, i) => {
    const seed = seeds.get(seeded[i % seeded.length]);
    let config = clone(seed.config);
    let inputShape = seed.inputShape, dtype = seed.dtype;
    const hows = [];
    const n = rng.range(1, 3);
    for (let k = 0; k < n; k++) {
      if (config === null || typeof config !== 'object' || Array.isArray(config) || ArrayBuffer.isView(config)) break; // no fields left to mutate
      const m = mutateConfig(rng, api, config, types);
      config = m.root;
      hows.push(m.how);
    }
    if (rng.chance(0.1)) {
      inputShape = rng.chance(0.5) ? rng.pick([[1], [3], [5, 2], [2, 3, 2], [7]]) : rng.pick([[1e9], [], [0], [2.5], Array(40).fill(2), [2 ** 24, 2 ** 24], [-1]]);
      hows.push(`inputShape ${describe(inputShape)}`);
    }
    if (rng.chance(0.03)) {
      dtype = rng.pick(['int32', 'complex64', 'float64', 'x']);
      hows.push(`inputDtype ${dtype}`);
    }
    return {
      what: `${seed.config.type}: ${hows.join('; ')}`,
      run: () => {
        // Build (and dispose) twice: the first may leave the scratch arena a larger chunk, which
        // it keeps by design; the second must then take nothing for good, refused or not.
        const buildAndDispose = () => attempt(api, () => sl.build(config, { inputShape, inputDtype: dtype, runtime: rt, constants: fuzzConstants(sl, 2, 5) }).dispose());
        const b = buildAndDispose();
        const before = rt.heap.inUse;
        const again = buildAndDispose();
        check(again.code === b.code, `the same build ended in ${b.code ?? 'a model'}, then in ${again.code ?? 'a model'}`);
        check(rt.heap.inUse === before, `${b.code ? `a refused build (${b.code})` : 'build + dispose'} kept ${rt.heap.inUse - before} bytes of WebAssembly memory`);
        if (b.code) return b.code;
        const r = attempt(api, () => runConfig(api, rt, config, inputShape, dtype, rng));
        return r.code ?? 'valid';
      },
    };
  });
}

// ---------------------------------------------------------------------------------------------
// The layer contract on random valid configs

/** Layer families the contract cases favour (4 in 5 picks); the rest come from every registered type. */
const CONTRACT_FAMILIES = [
  ['Conv1D', 'DepthwiseConv1D', 'Conv2D', 'Conv3D', 'Conv1DTranspose', 'Conv2DTranspose'],
  ['AveragePooling1D', 'MaxPooling1D', 'MinPooling1D', 'AveragePooling2D', 'MaxPooling2D', 'MinPooling2D', 'AveragePooling3D', 'MaxPooling3D', 'MinPooling3D'],
  ['Downsample1D', 'Upsample1D', 'Upsample2D', 'Delay', 'Lookahead'],
  ['Frame', 'OverlapAdd', 'STFT', 'InverseSTFT', 'FFT', 'IFFT', 'RFFT', 'IRFFT', 'LinearToMelSpectrogram', 'Window'],
  ['DotProductSelfAttention', 'LocalDotProductSelfAttention', 'BlockwiseDotProductSelfAttention', 'DotProductSelfAttentionV2', 'StreamingDotProductAttention', 'StreamingLocalDotProductAttention', 'GmmAttention', 'DotProductAttention', 'MultiSourceDotProductAttention'],
  ['LSTM', 'GRU', 'RGLRU'],
  ['LayerNormalization', 'RMSNormalization', 'BatchNormalization', 'GroupNormalization', 'L2Normalize'],
  ['AddTimingSignal', 'ApplyRotaryPositionalEncoding'],
  ['SequenceDense', 'MaskedDense', 'SequenceEmbedding'],
];

/** Query/key/value networks the contract cases give attention layers (each keeps the [heads, units] shape and one step per step). */
const ATTENTION_NETWORKS = [
  (rng) => ({ type: 'ApplyRotaryPositionalEncoding', maxWavelength: rng.pick([10, 1e4]), onlyAdvancePositionForValidTimesteps: rng.chance(0.5) }),
  () => ({ type: 'RMSNormalization' }),
  () => ({ type: 'LayerNormalization' }),
  () => ({ type: 'Serial', layers: [{ type: 'RMSNormalization' }, { type: 'Tanh' }] }),
];

/** Config fields a contract case sets to plausible values (fields of other kinds keep the seed's). */
const SIMPLE_FIELD = /^(one of |true or false|an integer|a number)/;


/**
 * Contract: random VALID configs, single layers of every type and 2-4 layer Serial, Residual
 * and Parallel stacks of the families above (strides, dilations, paddings, resampling,
 * framing, attention horizons, recurrence, normalisation, positions, time-varying layers),
 * built with random weights and checked by verifyContract on a random input: 1-3 items,
 * random lengths or a random mask, any length. A ContractError or an uncoded exception is a
 * failure; a coded error (a cache too small for the input, a reshape needing another length)
 * is an outcome, and so are the cases left unchecked: 'nonfinite' (NaN or Inf at valid
 * outputs, e.g. an exploding recurrence with random weights) and 'empty' (an input shorter
 * than the layer needs). Receptive fields are checked relaxed (declared must contain
 * measured): random configs make dependences vanish (zero weights, a zero scale, an empty mel band).
 */
export function fuzzContract(api, rt, opts = {}) {
  return withSeeds(api, rt, (seeds) => {
    const log = console.log;
    console.log = () => {};
    try {
      return runCases(api, 'contract', opts, (rng) => {
        const c = contractCase(api, rt, rng, seeds);
        const input = c && `[${c.batch}, ${c.steps} + ${c.blocks} blocks, ${c.inputShape}] ${c.dtype}, ${c.mask} mask, weights x${c.weightScale}`;
        return { what: c ? `${JSON.stringify(c.config)} on ${input}` : '(no valid config drawn)', run: () => (c ? runContractCase(api, rt, c) : 'none') };
      });
    } finally {
      console.log = log;
    }
  });
}

/** A built config's output spec and steppability, or null when it does not build. */
function builtSpec(api, rt, config, inputShape, dtype) {
  try {
    const m = api.sl.build(config, { inputShape, inputDtype: dtype, runtime: rt, constants: fuzzConstants(api.sl, 2, 5) });
    const params = m.params().reduce((n, p) => n + product(p.shape), 0);
    const spec = { shape: [...m.outputSpec.shape], dtype: m.outputSpec.dtype, steps: m.supportsStep, params };
    m.dispose();
    return spec;
  } catch (e) {
    if (e instanceof api.sl.SeqLayersError) return null;
    throw e;
  }
}

/**
 * A single layer that builds: a seed of a favoured family (or any type) with up to 4 fields
 * set to plausible values, on `inputShape` (or the seed's, now and then another). `inner`:
 * it follows another layer.
 */
function contractLayer(api, rt, rng, seeds, inputShape, dtype, inner) {
  const types = [...seeds.keys()];
  for (let t = 0; t < 30; t++) {
    const type = rng.chance(0.8) ? rng.pick(rng.pick(CONTRACT_FAMILIES)) : rng.pick(types);
    const seed = seeds.get(type);
    if (!seed) continue;
    let config = clone(seed.config);
    const fields = Object.entries(api.layerDef(type).fields).filter(([, f]) => SIMPLE_FIELD.test(f.expects));
    for (let k = fields.length ? rng.int(5) : 0; k > 0; k--) {
      const [name, field] = rng.pick(fields);
      config[name] = plausibleValue(rng, field);
    }
    if ('relativePositionEmbedding' in config && rng.chance(0.3)) {
      const h = config.numHeads, u = config.unitsPerHead;
      config.relativePositionEmbedding = rng.pick([
        { type: 'ShawRelativePositionEmbedding', maxBackward: rng.int(4), maxForward: rng.int(4), numHeads: h, unitsPerHead: u },
        { type: 'T5RelativePositionEmbedding', numBuckets: rng.range(1, 8), numHeads: h, bidirectional: rng.chance(0.5), maxDistance: rng.range(1, 16) },
        { type: 'TransformerXLRelativePositionEmbedding', numHeads: h, unitsPerHead: u, maxBackward: rng.int(4), maxForward: rng.int(4), positionBiasDim: rng.range(1, 4) },
      ]);
    }
    // Query/key/value networks where the layer takes them: per-step layers over [heads, units].
    const fieldsOf = api.layerDef(type).fields;
    for (const name of ['queryNetwork', 'keyNetwork', 'valueNetwork']) {
      if (fieldsOf[name]?.expects.startsWith('a layer config') && rng.chance(0.2)) config[name] = rng.pick(ATTENTION_NETWORKS)(rng);
    }
    // Without the query delay buffer the caller delays x against the source (documented).
    if (config.useQueryDelayBuffer === false) config.useQueryDelayBuffer = true;
    const json = JSON.stringify(config);
    // A streamed source is in step with the model's input, so only a first layer can read it.
    if (inner && /"type":"Streaming|"streaming":true/.test(json)) continue;
    const shape = inputShape ?? (rng.chance(0.25) ? rng.pick([[1], [3], [5], [2, 3], [4, 4], [8]]) : seed.inputShape);
    const dt = inputShape ? dtype : seed.dtype;
    const spec = builtSpec(api, rt, config, shape, dt);
    // Small enough that a case stays in milliseconds (a 33^3 Conv3D kernel does not).
    if (!spec || !spec.steps || product(spec.shape) > 256 || spec.params > 20_000) continue;
    return { config, inputShape: shape, dtype: dt, spec };
  }
  return null;
}

/** Sometimes (1 in 5) a share_scope for a combinator of n layers: true, or one flag each (names declared twice fall back to a plain stack). */
function sharedScope(rng, n) {
  if (!rng.chance(0.2)) return {};
  return { shareScope: rng.chance(0.5) ? true : Array.from({ length: n }, () => rng.chance(0.5)) };
}

/** A contract case: a single layer (2 in 5) or a Serial, Residual, Parallel or nested stack of 2-4 layers, and its input. */
function contractCase(api, rt, rng, seeds) {
  const first = contractLayer(api, rt, rng, seeds, undefined, undefined, false);
  if (!first) return null;
  const { inputShape, dtype } = first;
  let config = first.config;
  if (rng.chance(0.6)) {
    const kind = rng.pick(['Serial', 'Residual', 'Parallel', 'nested']);
    const n = rng.range(2, 4);
    if (kind === 'Parallel') {
      // Branches with the first one's output, so that every combination applies.
      const layers = [first.config];
      for (let t = 0; t < 20 && layers.length < n; t++) {
        const b = contractLayer(api, rt, rng, seeds, inputShape, dtype, false);
        if (b && b.spec.shape.join() === first.spec.shape.join() && b.spec.dtype === first.spec.dtype) layers.push(b.config);
      }
      config = { type: 'Parallel', layers, combination: rng.pick(['stack', 'concat', 'add', 'mean', 'product']), ...sharedScope(rng, layers.length) };
    } else {
      const layers = [first.config];
      let spec = first.spec;
      while (layers.length < n) {
        const l = contractLayer(api, rt, rng, seeds, spec.shape, spec.dtype, true);
        if (!l) break;
        layers.push(l.config);
        spec = l.spec;
      }
      const nested = [...layers];
      if (kind === 'nested') {
        const at = rng.int(layers.length);
        nested[at] = { type: rng.pick(['Serial', 'Residual']), layers: [layers[at]] };
      }
      config = { type: kind === 'Residual' ? 'Residual' : 'Serial', layers: nested, ...sharedScope(rng, nested.length) };
      // A Residual or nested Residual whose shapes or latencies do not line up stays a plain Serial.
      if (!builtSpec(api, rt, config, inputShape, dtype)) config = { type: 'Serial', layers };
    }
    if (!builtSpec(api, rt, config, inputShape, dtype)) config = first.config;
  }
  // Segment ids and positions from the constants, on a layer alone (after a latency, the ids of
  // the steps given would not be those of the steps it gets when stepping).
  if (config === first.config && rng.chance(0.5)) {
    if (/^(DotProductSelfAttentionV2|BlockwiseDotProductSelfAttention)$/.test(config.type)) {
      config = { ...config, ...rng.pick([{ segmentIdsName: 'seg' }, { positionName: 'pos' }, { segmentIdsName: 'seg', positionName: 'pos' }]) };
    } else if (config.type === 'MultiSourceDotProductAttention') {
      config = { ...config, querySegmentIdsName: 'seg', sourceSegmentIdsNames: 'srcseg' };
    } else if (config.type === 'DotProductAttention' && config.relativePositionEmbedding) {
      config = { ...config, queryPositionsName: 'pos' };
    }
  }
  return {
    config, inputShape, dtype,
    batch: rng.range(1, 3),
    // time = steps + blocks * blockSize: partial blocks, and inputs shorter than a latency
    steps: rng.int(12) + 1,
    blocks: rng.int(4),
    mask: rng.pick(['lengths', 'lengths', 'random', 'all valid']),
    seed: rng.int(1e6),
    weightScale: rng.pick([0, 0.3, 0.5, 1]),
  };
}

/** Builds a contract case with random weights and runs verifyContract on it: 'valid', a code, or a FuzzFailure. */
function runContractCase(api, rt, c) {
  const { sl } = api;
  const json = JSON.stringify(c.config);
  // Streamed constants: every Sequence beside a streamed source; else the ids and positions (seg,
  // pos) beside whole sources.
  const streaming = /"type":"Streaming|"streaming":true/.test(json);
  const ids = /"(segmentIdsName|positionName|querySegmentIdsName|queryPositionsName)"/.test(json);
  const stream = streaming || (ids ? ['seg', 'pos'] : false);
  // A streamed source reaches step() a block at a time: layers reading all of it cannot share it.
  if (streaming && /"type":"(DotProductAttention|MultiSourceDotProductAttention|GmmAttention)"|"streaming":false/.test(json)) return 'shared source';
  const built = attempt(api, () => sl.build(c.config, { inputShape: c.inputShape, inputDtype: c.dtype, runtime: rt, constants: fuzzConstants(sl, 2, 5), seed: c.seed }));
  if (built.code) throw new FuzzFailure(`a config that built while drawing it failed to build: ${built.error.message}`);
  const model = built.value;
  try {
    const block = model.blockSize, time = c.steps + c.blocks * block;
    const ints = c.dtype === 'int32';
    let vocab = 16;
    for (const m of json.matchAll(/"(?:numEmbeddings|depth|numEmbeddingsPerStep)":(\d+)/g)) vocab = Math.min(vocab, Number(m[1]));
    const x = sl.randomSequence([c.batch, time, ...c.inputShape], {
      seed: c.seed, dtype: c.dtype,
      ...(ints ? { low: 0, high: vocab } : {}),
      ...(c.mask === 'random' ? { randomMask: true } : c.mask === 'all valid' ? { randomLengths: false } : {}),
    });
    if (c.weightScale) {
      const g = sl.normal(api.seededRandom(c.seed));
      const w = model.getWeights();
      for (const t of Object.values(w)) t.data.forEach((_, i, d) => (d[i] = c.weightScale * g()));
      model.loadWeights(w);
    }
    const constants = fuzzConstants(sl, c.batch, stream ? time : Math.max(time, 8));
    const run = attempt(api, () => model.layer(x, { constants }));
    if (run.code) return run.code;
    if (run.value.time === 0) return 'empty';
    if (!allFinite(run.value)) return 'nonfinite';
    // The receptive-field probe compares outputs on a longer, all-valid input: it needs them
    // finite too, and its cost grows with the square of the phases (large resampling ratios
    // are left out).
    const probe = sl.randomSequence([1, 64 + 8 * block, ...c.inputShape], { seed: 5, dtype: c.dtype, randomLengths: false, ...(ints ? { low: 0, high: vocab } : {}) });
    const probed = attempt(api, () => model.layer(probe, { constants: fuzzConstants(sl, 1, stream ? probe.time : Math.max(time, 8)) }));
    // A 'valid' transposed convolution or overlap-add keeps a valid tail that appended invalid
    // steps invalidate, as the reference's mask does (see their tests): no padding invariance.
    const validTail = /"type":"(Conv1DTranspose|Conv2DTranspose|OverlapAdd|InverseSTFT)"/.test(json) && /"(time)?[pP]adding":"valid"/.test(json);
    const checked = attempt(api, () =>
      sl.verifyContract(model, {
        x, constants, seed: c.seed % 1000,
        streamConstants: stream, padConstants: stream,
        testPaddingInvariance: !validTail,
        // (Positions from the constants repeat on the probe's longer input: they would alias.)
        testReceptiveField: !/"(positionName|queryPositionsName)"/.test(json) && !probed.code && allFinite(probed.value) && Math.max(model.receptiveFieldPerStep.size, model.outputRatio.num, model.outputRatio.den) <= 32,
        receptiveFieldRelaxed: true,
      }),
    );
    return checked.code ?? 'valid';
  } finally {
    model.dispose();
  }
}

/** No NaN or Inf at a valid step of y. */
function allFinite(y) {
  const row = y.values.length / Math.max(1, y.mask.length);
  for (let i = 0; i < y.mask.length; i++) {
    if (!y.mask[i]) continue;
    for (let j = i * row; j < (i + 1) * row; j++) if (!Number.isFinite(y.values[j])) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// State snapshots

/**
 * Field offsets of a snapshot (see encodeState in src/model.ts): magic, version, fingerprint,
 * batch, count, then per buffer slot, dtype, name length, name (UTF-16), rank, shape, bytes
 * padded to 4; a CRC-32 last.
 */
function snapshotLayout(bytes) {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fields = [{ at: 12, what: 'batch' }, { at: 16, what: 'count' }];
  const data = [];
  let p = 20;
  const count = dv.getUint32(16, true);
  for (let i = 0; i < count; i++) {
    fields.push({ at: p, what: 'slot' }, { at: p + 4, what: 'dtype' }, { at: p + 8, what: 'name length' });
    const nameLen = dv.getUint32(p + 8, true);
    if (nameLen) fields.push({ at: p + 12, what: 'name', u16: true });
    p += 12 + 2 * nameLen;
    const rank = dv.getUint32(p, true);
    fields.push({ at: p, what: 'rank' });
    const dtype = dv.getUint32(p - 12 - 2 * nameLen + 4, true);
    const shape = [];
    for (let d = 0; d < rank; d++) {
      fields.push({ at: p + 4 + 4 * d, what: `shape[${d}]` });
      shape.push(dv.getUint32(p + 4 + 4 * d, true));
    }
    p += 4 + 4 * rank;
    const n = product(shape) * (dtype === 2 ? 1 : 4);
    data.push({ at: p, bytes: n, dtype: ['float32', 'int32', 'uint8'][dtype] });
    p += n + ((4 - (n % 4)) % 4);
  }
  return { fields, data };
}

function withCrc(api, bytes) {
  new DataView(bytes.buffer, bytes.byteOffset).setUint32(bytes.length - 4, api.crc32(bytes.subarray(0, bytes.length - 4)), true);
  return bytes;
}

/**
 * Snapshots: states of conv + LSTM / GRU + attention models (a windowed KV cache, and a growing
 * one) after a few steps, cut, flipped, with a wrong checksum, given to another model, or with
 * structural fields, positions or values rewritten and the checksum recomputed (so the
 * decoder's own checks and the layers' use of restored positions are reached). A refused
 * snapshot must free what it allocated; a restored state must step without changing the
 * weights or another live state (writes into free memory are not seen).
 */
export function fuzzSnapshots(api, rt, opts = {}) {
  const { sl } = api;
  const conv = sl.Conv1D({ filters: 4, kernelSize: 3, padding: 'causal' });
  const models = [
    sl.build(sl.Serial([conv, sl.LSTM({ units: 4 }), sl.LocalDotProductSelfAttention({ numHeads: 2, unitsPerHead: 2, maxPastHorizon: 3, blockSize: 2 })]), { inputShape: [3], runtime: rt }),
    sl.build(sl.Serial([conv, sl.DotProductSelfAttention({ numHeads: 1, unitsPerHead: 2, maxPastHorizon: -1, maxCacheSteps: 600 })]), { inputShape: [3], runtime: rt }),
    sl.build(sl.Serial([conv, sl.GRU({ units: 3 })]), { inputShape: [3], runtime: rt }),
  ];
  const snapshots = models.map((m, i) => {
    const batch = i + 1;
    const s = m.initialState(batch);
    m.step(sl.randomSequence([batch, i === 1 ? 305 : 5, 3], { seed: i }), s); // 305: the growing cache past its first 256 steps
    const bytes = s.toBytes();
    s.dispose();
    return bytes;
  });
  const x = sl.randomSequence([3, 4, 3], { seed: 9 });
  // Witnesses: every model's weights and a live state of each. A restored state that writes
  // outside its own buffers (a crafted position or size) would change them.
  const witnesses = models.map((m, i) => {
    const s = m.initialState(i + 1);
    m.step(sl.randomSequence([i + 1, 3, 3], { seed: 40 + i }), s);
    return s;
  });
  const memoryOfOthers = () => [...models.flatMap((m) => Object.values(m.getWeights()).map((t) => t.data)), ...witnesses.map((s) => s.toBytes())];
  const others = memoryOfOthers();
  try {
    return runCases(api, 'snapshots', opts, (rng) => {
      const which = rng.int(models.length);
      let model = models[which];
      const valid = snapshots[which];
      let bytes = valid.slice(), how;
      switch (rng.int(9)) {
        case 0: how = 'truncated'; bytes = valid.slice(0, rng.int(valid.length)); break;
        case 1: {
          const n = rng.range(1, 3);
          for (let i = 0; i < n; i++) bytes[rng.int(bytes.length)] ^= 1 << rng.int(8);
          how = `${n} bit flips`;
          break;
        }
        case 2: how = 'wrong checksum'; bytes[bytes.length - 1 - rng.int(4)] ^= 1 + rng.int(255); break;
        case 3: how = 'another model'; model = models[(which + 1 + rng.int(models.length - 1)) % models.length]; break;
        case 4: how = 'bytes appended, checksum recomputed'; bytes = withCrc(api, cat(valid.subarray(0, valid.length - 4), rng.bytes(rng.range(1, 8)), [0, 0, 0, 0])); break;
        case 5:
        case 6: { // a structural field rewritten, checksum recomputed
          const { fields } = snapshotLayout(valid);
          const f = rng.pick(fields);
          const v = rng.pick([0, 1, 2, 3, 7, 16, 17, 255, 65535, 2 ** 31, 2 ** 32 - 1, rng.int(2 ** 32)]);
          const dv = new DataView(bytes.buffer);
          if (f.u16) dv.setUint16(f.at, v & 0xffff, true);
          else dv.setUint32(f.at, v >>> 0, true);
          withCrc(api, bytes);
          how = `${f.what} := ${v}, checksum recomputed`;
          break;
        }
        case 7: { // integer or mask contents (positions, counters) rewritten, checksum recomputed
          const { data } = snapshotLayout(valid);
          const d = rng.pick(data.filter((b) => b.dtype !== 'float32' && b.bytes));
          const dv = new DataView(bytes.buffer);
          if (d.dtype === 'uint8') bytes[d.at + rng.int(d.bytes)] = rng.pick([2, 255, 128]);
          else dv.setInt32(d.at + 4 * rng.int(d.bytes / 4), rng.pick([-1, -5, 2 ** 31 - 1, -(2 ** 31), 1e6, 7, 3]), true);
          withCrc(api, bytes);
          how = `${d.dtype} contents rewritten, checksum recomputed`;
          break;
        }
        default: { // float contents rewritten (any float is a valid state value), checksum recomputed
          const { data } = snapshotLayout(valid);
          const d = rng.pick(data.filter((b) => b.dtype === 'float32' && b.bytes));
          const dv = new DataView(bytes.buffer);
          dv.setFloat32(d.at + 4 * rng.int(d.bytes / 4), rng.pick([NaN, Infinity, -Infinity, 1e38, -0]), true);
          withCrc(api, bytes);
          how = 'float contents rewritten, checksum recomputed';
        }
      }
      return {
        what: `snapshot of model ${which}: ${how} (${bytes.length} bytes)`,
        run: () => {
          const before = rt.heap.inUse;
          const r = attempt(api, () => model.restoreState(bytes));
          if (r.code) {
            check(rt.heap.inUse === before, `a refused snapshot (${r.code}) kept ${rt.heap.inUse - before} bytes`);
            return r.code;
          }
          const state = r.value;
          try {
            const s = attempt(api, () => model.step(x.slice(0, state.batch), state));
            check(memoryOfOthers().every((b, i) => sameBits(b, others[i])), 'stepping the restored state changed the weights or another state');
            return s.code ?? 'valid';
          } finally {
            state.dispose();
          }
        },
      };
    });
  } finally {
    for (const s of witnesses) s.dispose();
    for (const m of models) m.dispose();
  }
}

// ---------------------------------------------------------------------------------------------
// ONNX

/** Concatenates byte lists (Uint8Arrays or arrays of bytes, nested lists flattened). */
function cat(...parts) {
  const flat = parts.flat(Infinity);
  const out = new Uint8Array(flat.reduce((n, p) => n + (typeof p === 'number' ? 1 : p.length), 0));
  let at = 0;
  for (const p of flat) {
    if (typeof p === 'number') out[at++] = p;
    else {
      out.set(p, at);
      at += p.length;
    }
  }
  return out;
}

/** Protobuf encoding, enough to write ONNX test files (each function returns bytes). */
const pb = {
  varint(v) {
    const out = [];
    let n = BigInt.asUintN(64, BigInt(v));
    do {
      const b = Number(n & 0x7fn);
      n >>= 7n;
      out.push(n ? b | 0x80 : b);
    } while (n);
    return Uint8Array.from(out);
  },
  tag: (field, wire) => pb.varint(field * 8 + wire),
  int: (field, v) => cat(pb.tag(field, 0), pb.varint(v)),
  bytes: (field, ...b) => {
    const body = cat(b);
    return cat(pb.tag(field, 2), pb.varint(body.length), body);
  },
  str: (field, s) => pb.bytes(field, utf8.encode(s)),
  f32: (field, v) => cat(pb.tag(field, 5), new Uint8Array(Float32Array.of(v).buffer)),
};
const raw = (typed) => new Uint8Array(typed.buffer);

/** A small ONNX model using every part the reader decodes: nodes, attributes of each kind, subgraphs, initializers in raw and typed fields, value infos. */
function onnxSeed(rng) {
  const tensor = (name, dims, dataType, ...body) => pb.bytes(5, pb.str(8, name), dims.map((d) => pb.int(1, d)), pb.int(2, dataType), body);
  const floats = (n) => Float32Array.from({ length: n }, () => rng.random());
  // ValueInfoProto { name, type: TypeProto { tensor_type: { elem_type, shape: { dim: [dim_value | dim_param] } } } }
  const valueInfo = (field, name, dims) =>
    pb.bytes(field, pb.str(1, name), pb.bytes(2, pb.bytes(1, pb.int(1, 1), pb.bytes(2, dims.map((d) => pb.bytes(1, typeof d === 'string' ? pb.str(2, d) : pb.int(1, d)))))));
  const attr = (name, type, ...value) => pb.bytes(5, pb.str(1, name), pb.int(20, type), value);
  const graph = (depth) => {
    const parts = [
      pb.str(2, `g${depth}`),
      tensor('w', [2, 3], 1, pb.bytes(9, raw(floats(6)))),
      tensor('b', [3], 1, pb.bytes(4, raw(floats(3)))),
      tensor('i', [2], 7, pb.int(7, -5), pb.int(7, 2 ** 40)),
      tensor('h', [2], 10, pb.int(5, 0x3c00), pb.int(5, 0xc000)),
      tensor('d', [1], 11, pb.bytes(10, raw(Float64Array.of(0.5)))),
      pb.bytes(1, pb.str(1, 'x'), pb.str(1, 'w'), pb.str(2, 'y'), pb.str(3, 'mm'), pb.str(4, 'MatMul')),
      pb.bytes(1, pb.str(2, 'c'), pb.str(4, 'Constant'), attr('value_floats', 6, pb.bytes(7, raw(floats(2))))),
      pb.bytes(1, pb.str(1, 'y'), pb.str(2, 'z'), pb.str(4, 'Gemm'), attr('alpha', 1, pb.f32(2, 0.5)), attr('perm', 7, pb.bytes(8, pb.varint(1), pb.varint(0))), attr('mode', 3, pb.str(4, 'constant'))),
      valueInfo(11, 'x', ['batch', 2]),
      valueInfo(12, 'z', ['batch', 3]),
    ];
    if (depth < 2) parts.push(pb.bytes(1, pb.str(1, 'z'), pb.str(2, 'o'), pb.str(4, 'If'), attr('then_branch', 5, pb.bytes(6, graph(depth + 1))), attr('else_branch', 5, pb.bytes(6, graph(depth + 1)))));
    return cat(parts);
  };
  return cat(pb.int(1, 8), pb.str(2, 'fuzz'), pb.bytes(8, pb.int(2, 17)), pb.bytes(7, graph(0)));
}

const nested = new Map();
/** A model whose graph nests `depth` If subgraphs (built once per depth: building is quadratic). */
function nestedGraphs(depth) {
  if (!nested.has(depth)) {
    let g = pb.str(2, 'leaf');
    for (let i = 0; i < depth; i++) g = pb.bytes(1, pb.str(4, 'If'), pb.bytes(5, pb.str(1, 'then_branch'), pb.int(20, 5), pb.bytes(6, g)));
    nested.set(depth, cat(pb.int(1, 8), pb.bytes(7, g)));
  }
  return nested.get(depth);
}

/** Mutations of an ONNX file: cuts, flips, huge lengths and varints, fields of every wire type, deep nesting. */
function mutateOnnx(rng, bytes) {
  const at = rng.int(bytes.length + 1);
  const insert = (...b) => cat(bytes.subarray(0, at), b, bytes.subarray(at));
  switch (rng.int(7)) {
    case 0: return { how: 'truncated', bytes: bytes.subarray(0, at) };
    case 1: {
      const out = bytes.slice();
      const n = rng.range(1, 4);
      for (let i = 0; i < n; i++) out[rng.int(out.length)] ^= 1 << rng.int(8);
      return { how: `${n} bit flips`, bytes: out };
    }
    case 2: return { how: 'a huge length', bytes: insert(pb.tag(rng.range(1, 20), 2), pb.varint(rng.pick([2 ** 31, 2 ** 53, 2n ** 64n - 1n, bytes.length]))) };
    case 3: return { how: 'an overlong varint', bytes: insert(pb.tag(rng.range(1, 20), 0), Array(rng.range(10, 12)).fill(0xff), 1) };
    case 4: return { how: 'a field of a random wire type', bytes: insert(pb.varint(rng.int(2 ** 16)), rng.bytes(rng.int(12))) };
    case 5: { // graphs nested in graphs, past any sane depth
      const depth = rng.pick([15, 17, 100, 3000]);
      return { how: `subgraphs ${depth} deep`, bytes: nestedGraphs(depth) };
    }
    default: { // tensors whose dims disagree with their data, or are absurd
      const dims = rng.pick([[2 ** 40], [2 ** 29, 2], [-1], [3], [0], Array(40).fill(1)]);
      const t = pb.bytes(5, pb.str(8, 'bad'), dims.map((d) => pb.int(1, d)), pb.int(2, rng.pick([1, 7, 10, 11, 16, 8, 99, -1])), pb.bytes(9, rng.bytes(rng.pick([0, 4, 12]))));
      return { how: `tensor dims ${describe(dims)}`, bytes: cat(pb.int(1, 8), pb.bytes(7, t)) };
    }
  }
}

/**
 * ONNX: generated models (and the files given in opts.onnxFiles), mutated; readOnnx, then the
 * helpers that walk a parsed model (onnxConstants, onnxFloat32 of every constant).
 */
export function fuzzOnnx(api, _rt, opts = {}) {
  const { readOnnx, onnxConstants, onnxFloat32 } = api.sl;
  const files = opts.onnxFiles ?? [];
  const seeds = Array.from({ length: 8 }, (_, i) => onnxSeed(new Rng(api.seededRandom(i))));
  return runCases(api, 'onnx', opts, (rng) => {
    const base = files.length && rng.chance(0.05) ? rng.pick(files) : rng.pick(seeds);
    let bytes = base, how = 'unchanged';
    if (!rng.chance(0.05)) ({ bytes, how } = mutateOnnx(rng, base));
    return {
      what: `${base === bytes ? 'valid' : how} (${bytes.length} bytes)`,
      run: () => {
        const r = attempt(api, () => readOnnx(bytes));
        if (r.code) return r.code;
        const walk = attempt(api, () => {
          for (const t of onnxConstants(r.value.graph).values()) if (t.data) onnxFloat32(t);
        });
        return walk.code ?? 'valid';
      },
    };
  });
}

// ---------------------------------------------------------------------------------------------
// ONNX importer (convertSileroVad)

/** A copy of a parsed ONNX model's structure (graphs, nodes, attributes, tensors); tensor data is shared. */
function cloneOnnx(v) {
  if (ArrayBuffer.isView(v) || v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(cloneOnnx);
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, cloneOnnx(x)]));
}

/** The graph and every subgraph under it. */
function graphsOf(g, out = []) {
  out.push(g);
  for (const n of g.nodes) for (const a of n.attributes) for (const sub of [a.g, ...(a.graphs ?? [])]) if (sub) graphsOf(sub, out);
  return out;
}

/** One edit of a parsed graph: nodes dropped, retyped, rewired or duplicated, attributes and tensors changed. */
function mutateGraph(rng, model) {
  const graphs = graphsOf(model.graph).filter((x) => x.nodes.length || x.initializers.length);
  // Half the edits go to graphs holding tensors (the branches the converter reads).
  const withTensors = graphs.filter((x) => x.initializers.length || x.nodes.some((n) => n.opType === 'Constant'));
  const g = rng.pick(withTensors.length && rng.chance(0.5) ? withTensors : graphs);
  const tensors = [...g.initializers, ...g.nodes.flatMap((n) => n.attributes.filter((a) => a.t).map((a) => a.t))];
  const node = g.nodes.length ? rng.pick(g.nodes) : null;
  const where = `graph ${JSON.stringify(g.name)}`;
  switch (rng.int(node ? 9 : 2) + (node ? 0 : 4)) {
    case 0: g.nodes.splice(g.nodes.indexOf(node), 1); return `${where}: node ${node.opType} removed`;
    case 1: node.opType = rng.pick(['Conv', 'Relu', 'LSTM', 'Pad', 'If', 'Constant', 'Sigmoid', 'Slice', 'Concat', 'Nope', '']); return `${where}: a node made ${node.opType}`;
    case 2: {
      const names = g.nodes.flatMap((n) => n.outputs);
      if (!node.inputs.length) return mutateGraph(rng, model);
      const j = rng.int(node.inputs.length);
      node.inputs[j] = rng.pick(['', 'nope', ...names.slice(0, 20), node.outputs[0] ?? '']);
      return `${where}: ${node.opType} input ${j} := ${JSON.stringify(node.inputs[j])}`;
    }
    case 3: {
      if (!node.attributes.length) return mutateGraph(rng, model);
      const a = rng.pick(node.attributes);
      const edit = rng.int(5);
      if (edit === 0) node.attributes.splice(node.attributes.indexOf(a), 1);
      else if (edit === 1) a.i = rng.pick([-1, 0, 2 ** 31, 1e9, 3, 2 ** 53]);
      else if (edit === 2) a.ints = rng.pick([[], [0], [-1, -1], [1e9, 1], [1, 2, 3, 4, 5, 6, 7, 8]]);
      else if (edit === 3) a.f = rng.pick([NaN, Infinity, -1, 0]);
      else a.type = rng.pick([0, 1, 2, 4, 5, 99]);
      return `${where}: ${node.opType} attribute ${JSON.stringify(a.name)} edited (${edit})`;
    }
    case 4:
    case 5: {
      if (!tensors.length) return mutateGraph(rng, model);
      const t = rng.pick(tensors);
      const edit = rng.int(5);
      if (edit === 0) t.dims = rng.pick([[], [0], [1], [...t.dims].reverse(), [...t.dims, 1], t.dims.map((d) => d + 1), [2 ** 20, 2 ** 9]]);
      else if (edit === 1 && t.data) t.data = t.data.subarray(0, Math.max(0, t.data.length - 1));
      else if (edit === 2) t.data = null;
      else if (edit === 3) t.dataType = rng.pick([1, 7, 11, 10, 0, 8]);
      else if (t.data instanceof Float32Array) t.data = t.data.map((v, i) => (i % 3 ? v : rng.pick([NaN, Infinity, 1e38])));
      return `${where}: tensor ${JSON.stringify(t.name)} edited (${edit})`;
    }
    case 6: g.nodes.splice(rng.int(g.nodes.length + 1), 0, cloneOnnx(node)); return `${where}: node ${node.opType} duplicated`;
    case 7: if (g.initializers.length) { g.initializers.splice(rng.int(g.initializers.length), 1); return `${where}: an initializer removed`; } return mutateGraph(rng, model);
    default: {
      const inputs = model.graph.inputs;
      if (inputs.length && rng.chance(0.5)) inputs.splice(rng.int(inputs.length), 1);
      else node.inputs.push(node.outputs[0] ?? 'x'); // a node reading its own output
      return `${where}: graph inputs or a self-loop edited`;
    }
  }
}

/**
 * The ONNX importer: the Silero VAD v5 graph (opts.sileroFile), edited at the graph level so the
 * converter's own checks are reached (byte-level damage stops in readOnnx, fuzzed above), then
 * converted at 16 or 8 kHz; a converted model must build, load its weights and step. Skipped
 * (0 cases) without the file.
 */
export function fuzzImporter(api, rt, opts = {}) {
  const { sl } = api;
  if (!opts.sileroFile) return { target: 'importer', cases: 0, valid: 0, errors: {}, failures: [], ms: 0, slowestMs: 0 };
  const base = sl.readOnnx(opts.sileroFile);
  const converted = { 16000: sl.convertSileroVad(base, { sampleRate: 16000 }), 8000: sl.convertSileroVad(base, { sampleRate: 8000 }) };
  // A conversion equal to the unedited one was built and run by the unchanged cases already.
  const unchanged = (vad, sampleRate) => {
    const ref = converted[sampleRate];
    return JSON.stringify(vad.config) === JSON.stringify(ref.config) && Object.entries(vad.weights).every(([k, t]) => ref.weights[k] && sameBits(t.data, ref.weights[k].data));
  };
  return runCases(api, 'importer', opts, (rng) => {
    const model = cloneOnnx(base);
    const hows = [];
    const n = rng.chance(0.1) ? 0 : rng.range(1, 3);
    for (let i = 0; i < n; i++) hows.push(mutateGraph(rng, model));
    const sampleRate = rng.chance(0.7) ? 16000 : 8000;
    return {
      what: `Silero VAD at ${sampleRate} Hz: ${hows.join('; ') || 'unchanged'}`,
      run: () => {
        const c = attempt(api, () => sl.convertSileroVad(model, { sampleRate }));
        if (c.code) return c.code;
        const vad = c.value;
        if (n && unchanged(vad, sampleRate)) return 'valid';
        const run = attempt(api, () => {
          const m = sl.build(vad.config, { inputShape: vad.inputShape, runtime: rt });
          try {
            m.loadWeights(vad.weights);
            const s = m.initialState(1);
            m.step(sl.randomSequence([1, vad.chunk, 1], { seed: 5, randomLengths: false }), s);
            s.dispose();
          } finally {
            m.dispose();
          }
        });
        return run.code ?? 'valid';
      },
    };
  });
}

// ---------------------------------------------------------------------------------------------
// Command line (see the top of the file)

const FUZZERS = { safetensors: fuzzSafetensors, configs: fuzzConfigs, contract: fuzzContract, snapshots: fuzzSnapshots, onnx: fuzzOnnx, importer: fuzzImporter };

/** Runs the fuzzers of `targets` with one runtime; returns their reports. */
export function fuzzAll(api, rt, targets = TARGETS, opts = {}) {
  return targets.map((t) => FUZZERS[t](api, rt, opts));
}

async function main() {
  const args = process.argv.slice(2);
  const arg = (name, dflt) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : dflt;
  };
  const cases = Number(arg('cases', 2000)), seed = Number(arg('seed', Date.now() % 1e6));
  const only = arg('case') !== undefined ? Number(arg('case')) : undefined;
  const trace = args.includes('--trace') ? (line) => process.stdout.write(`${line}\n`) : undefined;
  const targets = arg('only', TARGETS.join(',')).split(',');
  const dist = new URL('../dist/', import.meta.url);
  const sl = await import(new URL('index.js', dist).href);
  const { layerDef } = await import(new URL('config.js', dist).href);
  const { seededRandom, crc32 } = await import(new URL('util/hash.js', dist).href);
  const api = { sl, layerDef, seededRandom, crc32 };
  const fs = await import('node:fs');
  const file = (name) => {
    const url = new URL(`../node_modules/@ricky0123/vad-web/dist/${name}`, import.meta.url);
    return fs.existsSync(url) ? new Uint8Array(fs.readFileSync(url)) : undefined;
  };
  const onnxFiles = [file('silero_vad_legacy.onnx')].filter(Boolean);
  const sileroFile = file('silero_vad_v5.onnx');
  const rt = await sl.createRuntime({ maxMemoryBytes: 256 << 20 });
  console.log(`fuzzing ${targets.join(', ')}: ${only !== undefined ? `case ${only}` : `${cases} cases each`}, seed ${seed}, kernel build ${rt.build}`);
  let failed = 0, total = 0;
  for (const t of targets) {
    const [r] = fuzzAll(api, rt, [t], { cases, seed, only, onnxFiles, sileroFile, trace, maxFailures: 50 });
    console.log(formatReport(r));
    if (r.unseeded?.length) console.log(`  (no seed config found for ${r.unseeded.join(', ')})`);
    failed += r.failures.length;
    total += r.cases;
  }
  console.log(`${total} cases tried, ${failed} failures`);
  process.exitCode = failed ? 1 : 0;
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) await main();
