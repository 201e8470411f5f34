// verifyContract: the test every layer passes (port of SequenceLayerTest.verify_contract in
// sequence_layers/jax/test_utils.py), exported so users can check their own layers.
//
// It checks, on a built model:
//  1. step() over any split of the input into multiples of blockSize equals layer(), values
//     and masks, after flushing with inputLatency invalid steps and dropping outputLatency
//     outputs (splits of 1, 2 and 3 blocks per step and a random split);
//  2. padding invariance: NaN at every invalid step never changes valid outputs (layer and step);
//  3. batch invariance: garbage batch items (NaN values, valid mask) change no other item;
//  4. honest metadata: output channel shape and dtype, output time of layer() (the root's
//     layerOutputTime) and of every step (time * outputRatio), latencies (through 1), and the
//     receptive field, measured by perturbing one input step at a time and seeing which
//     outputs move.
// Masks are compared exactly; values within |a - b| <= atol + rtol * |b|.
import type { Constants } from '../layer.js';
import { checkOptionKeys } from '../config.js';
import { Model } from '../model.js';
import { SeqLayersError, show } from '../errors.js';
import { Sequence, dtypeWidth } from '../sequence.js';
import { seededRandom } from '../util/hash.js';
import { normal, randomSequence } from './random.js';

export interface ContractOptions {
  /** The input; default a random [2, 4 * blockSize * 3 + 5, ...inputShape] sequence with random lengths. */
  x?: Sequence;
  constants?: Constants;
  /**
   * The Sequence constants are time-synchronised with x (the reference's pad_constants): the
   * padding-invariance checks pad them like x, and the receptive-field probe gets them at its
   * own length (random values, every step valid). A list names the ones that are (the others,
   * e.g. a cross attention's source, are not).
   */
  padConstants?: boolean | readonly string[];
  /**
   * step() gets every Sequence constant sliced to its block, in step with x (the reference's
   * stream_constants); a list names the ones to slice, the others are given whole (e.g.
   * segment ids streamed beside a whole source).
   */
  streamConstants?: boolean | readonly string[];
  /** Value tolerances (default 1e-5 each). */
  rtol?: number;
  atol?: number;
  seed?: number;
  /** For int32 inputs: values in [0, vocab) (default 16). */
  vocab?: number;
  testPaddingInvariance?: boolean;
  testBatching?: boolean;
  testReceptiveField?: boolean;
  /**
   * Accept a declared receptive field that contains the measured one (also what happens where
   * outputs are NaN or Inf on the probe's input: what is not finite shows no move).
   */
  receptiveFieldRelaxed?: boolean;
}

export interface ContractReport {
  /** layer(x).maskInvalid() */
  output: Sequence;
  /** The checks that ran. */
  checks: string[];
  /** The receptive field measured by perturbation (null: no output moved). */
  measuredReceptiveField?: readonly [number, number] | null;
}

/** A failed check of verifyContract or assertSequencesClose; bad arguments to them are SeqLayersErrors. */
class ContractError extends Error {}

/**
 * Runs step() over x in chunks of the given sizes (multiples of blockSize) and concatenates the
 * outputs. With streamConstants, each step gets the Sequence constants sliced to its chunk
 * (padded with invalid steps where they are shorter than x).
 */
export function stepByStep(model: Model, x: Sequence, chunks: number | readonly number[], constants?: Constants, streamConstants: boolean | readonly string[] = false): Sequence {
  const xs = x.padToMultiple(model.blockSize);
  const sizes: number[] = [];
  if (typeof chunks === 'number') for (let t = 0; t < xs.time; t += chunks) sizes.push(Math.min(chunks, xs.time - t));
  else sizes.push(...chunks);
  if (!sizes.length) return Sequence.zeros([x.batch, 0, ...model.outputSpec.shape], model.outputSpec.dtype);
  const state = model.initialState(x.batch, { constants });
  try {
    const outs: Sequence[] = [];
    let t = 0;
    for (const n of sizes) {
      const c = mapSequences(constants, (s) => s.padTime(0, Math.max(0, t + n - s.time), false).sliceTime(t, t + n), streamConstants);
      outs.push(model.step(xs.sliceTime(t, t + n), state, { constants: c }));
      t += n;
    }
    return Sequence.concatenate(outs);
  } finally {
    state.dispose();
  }
}

/**
 * Throws unless a and b agree: masks exactly, values within tolerance at valid steps (NaN where
 * both are NaN agrees, e.g. Log of a negative input in layer() and step() alike). Of different
 * lengths they agree when the longer one's extra steps are all invalid.
 */
export function assertSequencesClose(actual: Sequence, expected: Sequence, what: string, rtol = 1e-5, atol = 1e-5): void {
  for (const [name, s] of [['actual', actual], ['expected', expected]] as const) {
    if (!(s instanceof Sequence)) throw new SeqLayersError('BAD_ARGUMENT', `assertSequencesClose: expected ${name} to be a Sequence, got ${show(s)}`);
  }
  const fail = (msg: string): never => {
    throw new ContractError(`${what}: ${msg}`);
  };
  if (actual.batch !== expected.batch || actual.channelShape.join() !== expected.channelShape.join() || actual.dtype !== expected.dtype) {
    fail(`expected [${expected.batch}, *, ${expected.channelShape}] ${expected.dtype}, got [${actual.batch}, *, ${actual.channelShape}] ${actual.dtype}`);
  }
  const t = Math.max(actual.time, expected.time);
  const a = actual.padTime(0, t - actual.time, false).maskInvalid();
  const e = expected.padTime(0, t - expected.time, false).maskInvalid();
  const row = a.stepSize * dtypeWidth(a.dtype);
  for (let i = 0; i < a.mask.length; i++) {
    if (a.mask[i] !== e.mask[i]) {
      const [b, step] = [Math.floor(i / t), i % t];
      if (step >= Math.min(actual.time, expected.time)) {
        fail(`expected ${expected.time} steps, got ${actual.time}, and step ${step} of batch ${b}, past the shorter one's end, is valid (steps there must be invalid)`);
      }
      fail(`masks differ at batch ${b}, step ${step}: got ${a.mask[i]}, expected ${e.mask[i]} (lengths ${actual.time} vs ${expected.time})`);
    }
    if (!a.mask[i]) continue;
    for (let j = i * row; j < (i + 1) * row; j++) {
      const x = a.values[j]!, y = e.values[j]!;
      if (!(Math.abs(x - y) <= atol + rtol * Math.abs(y)) && !(x === y) && !(Number.isNaN(x) && Number.isNaN(y))) {
        fail(`values differ at batch ${Math.floor(i / t)}, step ${i % t}, element ${j - i * row}: got ${x}, expected ${y}`);
      }
    }
  }
}

/**
 * The constants with every Sequence among them that `which` selects (true: all; a list: those
 * named) replaced by f(it); undefined stays undefined.
 */
function mapSequences(constants: Constants | undefined, f: (s: Sequence) => Sequence, which: boolean | readonly string[] = true): Constants | undefined {
  if (!constants || which === false) return constants;
  return Object.fromEntries(Object.entries(constants).map(([k, c]) => [k, c instanceof Sequence && (which === true || which.includes(k)) ? f(c) : c]));
}

/** The constants of the probe's single batch item: item 0 of every entry whose leading axis is the batch. */
function firstItem(constants: Constants | undefined, batch: number): Constants | undefined {
  if (!constants || batch === 1) return constants;
  return Object.fromEntries(
    Object.entries(constants).map(([k, c]) => {
      if (c.shape[0] !== batch) return [k, c];
      if (c instanceof Sequence) return [k, c.slice(0, 1)];
      return [k, { values: c.values.subarray(0, c.values.length / batch), shape: [1, ...c.shape.slice(1)] }];
    }),
  );
}

/** Constants for the garbage-padded batch: items added like x's to every entry whose leading axis is the batch. */
function padConstantsWithGarbage(constants: Constants | undefined, batch: number): Constants | undefined {
  if (!constants) return constants;
  return Object.fromEntries(
    Object.entries(constants).map(([k, c]) => {
      if (c.shape[0] !== batch) return [k, c];
      if (c instanceof Sequence) return [k, padBatchWithGarbage(c)];
      const row = c.values.length / batch;
      const values = c.values instanceof Int32Array ? new Int32Array(row * (batch + 2)).fill(2147483647) : new Float32Array(row * (batch + 2)).fill(NaN);
      values.set(c.values as never, row);
      return [k, { values, shape: [batch + 2, ...c.shape.slice(1)] }];
    }),
  );
}

/** Adds a garbage item before and after the batch: NaN (or huge int) values, mask all valid. */
function padBatchWithGarbage(x: Sequence): Sequence {
  const g = Sequence.zeros([1, x.time, ...x.channelShape], x.dtype);
  g.values.fill(x.dtype === 'int32' ? 2147483647 : NaN);
  const parts = [g, x, g];
  const row = x.time * x.stepSize * dtypeWidth(x.dtype);
  const values = x.dtype === 'int32' ? new Int32Array(row * (x.batch + 2)) : new Float32Array(row * (x.batch + 2));
  const mask = new Uint8Array(x.time * (x.batch + 2));
  let at = 0;
  for (const p of parts) {
    values.set(p.values as never, at * row);
    mask.set(p.mask, at * x.time);
    at += p.batch;
  }
  return new Sequence(values, mask, [x.batch + 2, ...x.shape.slice(1)], x.dtype);
}

const stripGarbage = (y: Sequence) => y.slice(1, y.batch - 1);

function invalidToNaN(x: Sequence): Sequence {
  return x.maskInvalid(x.dtype === 'int32' ? 0 : NaN);
}

const CONTRACT_OPTIONS = Object.keys({
  x: true, constants: true, padConstants: true, streamConstants: true, rtol: true, atol: true, seed: true, vocab: true,
  testPaddingInvariance: true, testBatching: true, testReceptiveField: true, receptiveFieldRelaxed: true,
} satisfies Record<keyof ContractOptions, true>);

export function verifyContract(model: Model, opts: ContractOptions = {}): ContractReport {
  if (!(model instanceof Model)) throw new SeqLayersError('BAD_ARGUMENT', `verifyContract: expected a Model (from build()), got ${show(model)}`);
  checkOptionKeys(opts, 'verifyContract', CONTRACT_OPTIONS);
  const checks: string[] = [];
  const rtol = opts.rtol ?? 1e-5, atol = opts.atol ?? 1e-5;
  const constants = opts.constants;
  const block = model.blockSize;
  const x =
    opts.x ??
    randomSequence([2, 12 * block + 5, ...model.inputSpec.shape], {
      seed: opts.seed,
      dtype: model.inputSpec.dtype,
      ...(model.inputSpec.dtype === 'int32' ? { low: 0, high: opts.vocab ?? 16 } : {}),
    });
  const close = (a: Sequence, e: Sequence, what: string) => assertSequencesClose(a, e, what, rtol, atol);

  // Layer pass and honest output spec.
  const y = model.layer(x, { constants }).maskInvalid();
  const spec = model.outputSpec;
  if (y.channelShape.join() !== model.outputShape().join() || y.channelShape.join() !== spec.shape.join() || y.dtype !== spec.dtype) {
    throw new ContractError(`output spec: declared [${spec.shape}] ${spec.dtype}, layer() returned [${y.channelShape}] ${y.dtype}`);
  }
  if (y.time === 0 && x.time > 0 && model.supportsStep) throw new ContractError('layer() returned an empty output');
  const declaredTime = model.root.layerOutputTime(x.time);
  if (y.time !== declaredTime) throw new ContractError(`output length: layerOutputTime(${x.time}) declared ${declaredTime} steps, layer() returned ${y.time}`);
  checks.push('output spec');

  const padded = invalidToNaN(x.padTime(0, 4 * block, false));
  const paddedConstants = mapSequences(constants, (c) => invalidToNaN(c.padTime(0, 4 * block, false)), opts.padConstants ?? false);
  const garbageConstants = padConstantsWithGarbage(constants, x.batch);
  const stream = opts.streamConstants ?? false;
  if (opts.testPaddingInvariance !== false) {
    close(model.layer(padded, { constants: paddedConstants }), y, 'padding invariance (layer)');
    checks.push('padding invariance (layer)');
  }
  if (opts.testBatching !== false) {
    close(stripGarbage(model.layer(padBatchWithGarbage(x), { constants: garbageConstants })), y, 'batch invariance (layer)');
    checks.push('batch invariance (layer)');
  }

  if (model.supportsStep) {
    const flush = (s: Sequence) => s.padTime(0, model.inputLatency, false);
    const drop = (s: Sequence) => s.sliceTime(model.outputLatency);
    const xs = flush(x);
    const total = xs.padToMultiple(block).time;
    const random = seededRandom(opts.seed ?? 7);
    const split: number[] = [];
    for (let t = 0; t < total; ) {
      const n = Math.min(total - t, block * (1 + Math.floor(random() * 4)));
      split.push(n);
      t += n;
    }
    for (const [name, chunks] of [
      ['1 block per step', block],
      ['2 blocks per step', 2 * block],
      ['3 blocks per step', 3 * block],
      ['a random split', split],
    ] as const) {
      close(drop(stepByStep(model, xs, chunks, constants, stream)), y, `step with ${name} vs layer`);
    }
    checks.push('layer == step (1, 2, 3 blocks per step, random split)');
    if (opts.testPaddingInvariance !== false) {
      close(drop(stepByStep(model, flush(padded), block, paddedConstants, stream)), y, 'padding invariance (step)');
      checks.push('padding invariance (step)');
    }
    if (opts.testBatching !== false) {
      close(stripGarbage(drop(stepByStep(model, padBatchWithGarbage(xs), block, garbageConstants, stream))), y, 'batch invariance (step)');
      checks.push('batch invariance (step)');
    }
  }

  let measured: readonly [number, number] | null | undefined;
  if (opts.testReceptiveField !== false && model.inputSpec.dtype !== 'int32' && spec.dtype !== 'int32') {
    measured = checkReceptiveField(model, opts, firstItem(constants, x.batch));
    checks.push('receptive field');
  }
  return { output: y, checks, measuredReceptiveField: measured };
}

/**
 * Measures which relative input offsets move the outputs: perturbs input steps one at a time,
 * each up and down (all steps valid), and records p - floor(t_o / ratio) for every output t_o
 * that changed.
 */
function checkReceptiveField(model: Model, opts: ContractOptions, given?: Constants): readonly [number, number] | null {
  const declared = model.receptiveField;
  if (declared && declared[0] === -Infinity && declared[1] === Infinity) return declared;
  const ratio = model.outputRatio;
  const finite = declared ? [declared[0], declared[1]].filter(Number.isFinite) : [0];
  const span = finite.length ? Math.max(...finite.map(Math.abs)) : 0;
  const period = Math.max(model.receptiveFieldPerStep.size, ratio.num, ratio.den, model.blockSize);
  const probes = 2 * period;
  const margin = span + 2 * period + 8;
  const time = 2 * margin + probes;
  const gauss = normal(seededRandom(opts.seed ?? 99));
  // Time-synchronised constants at the probe's length: floats random, ints repeated, all valid.
  const constants = mapSequences(given, (c) => {
    const row = c.stepSize * dtypeWidth(c.dtype);
    const values = c.values instanceof Int32Array
      ? Int32Array.from({ length: c.batch * time * row }, (_, i) => c.values[(Math.floor(i / (time * row)) * c.time + (Math.floor(i / row) % time) % c.time) * row + (i % row)]!)
      : Float32Array.from({ length: c.batch * time * row }, gauss);
    return new Sequence(values, new Uint8Array(c.batch * time).fill(1), [c.batch, time, ...c.channelShape], c.dtype);
  }, opts.padConstants ?? false);
  const shape = [1, time, ...model.inputSpec.shape];
  const width = dtypeWidth(model.inputSpec.dtype); // complex64 inputs: (re, im) pairs, both perturbed
  const x = Sequence.fromValues(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) * width }, gauss), shape, model.inputSpec.dtype);
  const base = model.layer(x, { constants });
  const row = x.stepSize * width;
  const outRow = base.stepSize * dtypeWidth(base.dtype);
  let lo = Infinity, hi = -Infinity;
  // Each step is pushed up, then down: one direction alone misses what max, min or ReLU ignore.
  for (let probe = 0; probe < 2 * probes; probe++) {
    const p = margin + (probe >> 1), sign = probe & 1 ? -1 : 1;
    const v = x.values.slice() as Float32Array;
    for (let j = p * row; j < (p + 1) * row; j++) v[j] = v[j]! + sign * (1 + 2 * Math.abs(gauss()));
    const y = model.layer(new Sequence(v, x.mask, x.shape, x.dtype), { constants });
    // An output the push made non-finite (0 * Inf is NaN even where a weight is 0) measures nothing.
    if (hasNonFinite(y, base)) continue;
    for (let t = 0; t < Math.min(y.time, base.time); t++) {
      if (!y.mask[t] || !base.mask[t]) continue;
      let moved = false;
      // -0 and 0 are the same output (a zero weight times a perturbed input flips the sign); NaN stays NaN.
      for (let j = t * outRow; j < (t + 1) * outRow && !moved; j++) {
        const a = y.values[j]!, b = base.values[j]!;
        moved = a !== b && !(a !== a && b !== b);
      }
      if (moved) {
        const off = p - ratio.floorDiv(t);
        lo = Math.min(lo, off);
        hi = Math.max(hi, off);
      }
    }
  }
  const got: readonly [number, number] | null = lo <= hi ? [lo, hi] : null;
  const fmt = (r: readonly [number, number] | null) => (r ? `(${r[0]}, ${r[1]})` : 'null');
  const bad = () => new ContractError(`receptive field: declared ${fmt(declared)}, measured ${fmt(got)} by perturbation`);
  // An output that is NaN or Inf on the probe's input (e.g. Log of a negative, an overflowing
  // LSTM) cannot show what moves it: the measured field may then fall short, not outgrow.
  const relaxed = opts.receptiveFieldRelaxed || hasNonFinite(base);
  if (!declared || !got) {
    if (declared !== got && !(relaxed && !got)) throw bad();
    return got;
  }
  // Relaxed, the measured field must lie within the declared one; strict, it must also reach
  // each finite end (a finite probe cannot reach -Inf or +Inf, but an end of -Inf or a start
  // of +Inf is never within).
  if (got[0] < declared[0] || got[1] > declared[1]) throw bad();
  if (!relaxed && ((Number.isFinite(declared[0]) && got[0] !== declared[0]) || (Number.isFinite(declared[1]) && got[1] !== declared[1]))) throw bad();
  return got;
}

/**
 * Whether y has a NaN or Inf at a valid step; given `base`, only at a step valid in both where
 * base has a finite value (what a perturbation made non-finite).
 */
function hasNonFinite(y: Sequence, base?: Sequence): boolean {
  const row = y.stepSize * dtypeWidth(y.dtype);
  for (let t = 0; t < Math.min(y.time, base ? base.time : y.time); t++) {
    if (!y.mask[t] || (base && !base.mask[t])) continue;
    for (let j = t * row; j < (t + 1) * row; j++) if (!Number.isFinite(y.values[j]!) && (!base || Number.isFinite(base.values[j]!))) return true;
  }
  return false;
}

export { ContractError };
