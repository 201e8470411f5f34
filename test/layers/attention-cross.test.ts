// Cross-attention layers (src/layers/attention/): DotProductAttention, StreamingDotProductAttention
// and StreamingLocalDotProductAttention through the reference's test cases
// (dot_product_attention_test.py, streaming_*_test.py) with verifyContract (constants streamed
// in lock-step for the streaming layers), the torch oracle fixtures, projection of the source
// at initialState or at the first step, snapshots, and bad constants and configs.
import { beforeAll, describe, expect, it } from 'vitest';
import * as sl from '../../src/index.js';
import { loadFixture } from '../fixtures.js';
import { checkAttentionCase } from './attention-helpers.js';
import { paramShapes, randomizeWeights } from './helpers.js';

beforeAll(async () => {
  await sl.init();
});

const fixture = loadFixture('attention');

describe('oracle fixtures (cross attention)', () => {
  for (const c of fixture.cases.filter((c) => c.constants)) it(c.name, () => checkAttentionCase(c));
});

/**
 * verifyContract with constants; then the receptive field on the first batch item (the
 * contract's probe is one item long, and the source must match the batch; its first item needs a
 * few valid steps: with one, the output is that value whatever x).
 */
function contract(model: sl.Model, x: sl.Sequence, constants: sl.Constants, streamed = false): void {
  const opts = { constants, streamConstants: streamed, padConstants: streamed };
  sl.verifyContract(model, { ...opts, x, testReceptiveField: false });
  const first = Object.fromEntries(Object.entries(constants).map(([k, c]) => [k, (c as sl.Sequence).slice(0, 1)]));
  const report = sl.verifyContract(model, { ...opts, constants: first, x: x.slice(0, 1), testBatching: false, testPaddingInvariance: false });
  expect(report.measuredReceptiveField).toEqual([0, 0]);
}

describe('DotProductAttention', () => {
  // The reference's parameters: (heads, units, sink embeddings, sink scalars).
  for (const [heads, units, sinks, scalars] of [[1, 2, 0, false], [3, 5, 0, false], [3, 5, 1, false], [3, 5, 0, true]] as const) {
    it(`heads ${heads}, units ${units}, sinks ${sinks}${scalars ? ', sink scalars' : ''}`, () => {
      const source = sl.randomSequence([2, 11, 2], { seed: 1, lowLength: 3 });
      const m = sl.build(sl.DotProductAttention({ sourceName: 'source', numHeads: heads, unitsPerHead: units, perDimScale: true, numSinkEmbeddings: sinks, useSinkScalars: scalars }), { inputShape: [3], constants: { source } });
      randomizeWeights(m);
      for (const time of [11, 12]) contract(m, sl.randomSequence([2, time, 3], { seed: time }), { source });
      expect([m.blockSize, m.inputLatency, m.outputLatency, m.supportsStep]).toEqual([1, 0, 0, true]);
      expect(m.outputShape()).toEqual([heads, units]);
      const shapes: Record<string, number[]> = { 'query_projection.kernel': [3, heads, units], 'key_value_projection.kernel': [2, 2, heads, units], per_dim_scale: [units] };
      if (sinks) Object.assign(shapes, { sink_key_embeddings: [sinks, heads, units], sink_value_embeddings: [sinks, heads, units] });
      if (scalars) shapes.sink_scalars = [heads];
      expect(paramShapes(m)).toEqual(shapes);
      m.dispose();
    });
  }

  for (const inputProjection of [{ type: 'SeparateQueryKeyValueProjection' }, { type: 'QueryAndKeyValueProjection' }, { type: 'QueryAndSharedKeyValueProjection' }] as const) {
    it(`projection ${inputProjection.type} with biases`, () => {
      const source = sl.randomSequence([2, 7, 4], { seed: 2, lowLength: 3 });
      const m = sl.build(sl.DotProductAttention({ sourceName: 'source', numHeads: 2, unitsPerHead: 3, inputProjection, useBias: true }), { inputShape: [3], constants: { source } });
      randomizeWeights(m);
      contract(m, sl.randomSequence([2, 9, 3], { seed: 3 }), { source });
      expect(paramShapes(m)['query_projection.bias']).toEqual([2, 3]);
      m.dispose();
    });
  }

  for (const rp of <sl.RelativePositionConfig[]>[
    { type: 'ShawRelativePositionEmbedding', maxBackward: 3, maxForward: 2, numHeads: 2, unitsPerHead: 3 },
    { type: 'T5RelativePositionEmbedding', numBuckets: 8, numHeads: 2, bidirectional: true, maxDistance: 6 },
  ]) {
    it(`${rp.type}: query positions count steps across step() calls`, () => {
      const source = sl.randomSequence([2, 9, 2], { seed: 4, lowLength: 3 });
      const m = sl.build(sl.DotProductAttention({ sourceName: 'source', numHeads: 2, unitsPerHead: 3, relativePositionEmbedding: rp }), { inputShape: [3], constants: { source } });
      randomizeWeights(m);
      contract(m, sl.randomSequence([2, 12, 3], { seed: 5 }), { source });
      m.dispose();
    });
  }

  it('query positions from the constants: counting ones give the counted outputs; others move the relative positions, in layer() and step()', () => {
    const rp: sl.RelativePositionConfig = { type: 'T5RelativePositionEmbedding', numBuckets: 8, numHeads: 2, bidirectional: true, maxDistance: 6 };
    const source = sl.randomSequence([2, 9, 2], { seed: 4, lowLength: 3 });
    const common = { sourceName: 'source', numHeads: 2, unitsPerHead: 3, relativePositionEmbedding: rp };
    const counted = sl.build(sl.DotProductAttention(common), { inputShape: [3], constants: { source } });
    const given = sl.build(sl.DotProductAttention({ ...common, queryPositionsName: 'qpos' }), { inputShape: [3], constants: { source } });
    randomizeWeights(counted);
    given.loadWeights(counted.getWeights());
    const x = sl.randomSequence([2, 7, 3], { seed: 5 });
    const positions = (f: (b: number, t: number) => number) => sl.Sequence.fromValues(Int32Array.from({ length: 14 }, (_, i) => f(Math.floor(i / 7), i % 7)), [2, 7], 'int32');
    const y = counted.layer(x, { constants: { source } }).maskInvalid();
    expect(Array.from(given.layer(x, { constants: { source, qpos: positions((_, t) => t) } }).maskInvalid().values)).toEqual(Array.from(y.values));
    // Positions 3 on: the counted outputs of a stream 3 steps in.
    const later = given.layer(x, { constants: { source, qpos: positions((_, t) => t + 3) } }).maskInvalid();
    const state = counted.initialState(2, { constants: { source } });
    counted.step(sl.randomSequence([2, 3, 3], { seed: 6, randomLengths: false }), state);
    sl.assertSequencesClose(later, counted.step(x, state).maskInvalid(), 'positions from 3', 0, 0);
    expect(Array.from(later.values)).not.toEqual(Array.from(y.values));
    // Any positions (per item, repeated, negative): the contract with them streamed by block, the source whole.
    const qpos = positions((b, t) => ((t * (b + 2)) % 5) - 2);
    sl.verifyContract(given, { x, constants: { source, qpos }, streamConstants: ['qpos'], padConstants: ['qpos'], testReceptiveField: false });
    expect(() => given.step(x.sliceTime(0, 2), given.initialState(2, { constants: { source } }))).toThrow(/^\[MISSING_CONSTANT\].*constants\.qpos: expected query positions \[2 or 1, 2 or 1\]/);
    counted.dispose();
    given.dispose();
  });

  for (const time of [5, 11]) {
    it(`recompute_kv_per_step (time ${time}) equals projecting once`, () => {
      const source = sl.randomSequence([2, 6, 2], { seed: 6, lowLength: 3 });
      const a = sl.build(sl.DotProductAttention({ sourceName: 'source', numHeads: 2, unitsPerHead: 3, recomputeKvPerStep: true }), { inputShape: [3], constants: { source } });
      const b = sl.build(sl.DotProductAttention({ sourceName: 'source', numHeads: 2, unitsPerHead: 3 }), { inputShape: [3], constants: { source } });
      randomizeWeights(a);
      b.loadWeights(a.getWeights());
      const x = sl.randomSequence([2, time, 3], { seed: time });
      contract(a, x, { source });
      expect(a.initialState(2, { constants: { source } }).slots[0]!.map((s) => s.name)).toEqual(['time_step']);
      expect(Array.from(sl.stepByStep(a, x, 2, { source }).values)).toEqual(Array.from(sl.stepByStep(b, x, 2, { source }).values));
      a.dispose();
      b.dispose();
    });
  }

  it('projects the source at the first step when initialState had no constants, and restores without them', () => {
    const source = sl.randomSequence([1, 5, 2], { seed: 7, randomLengths: false });
    const m = sl.build(sl.DotProductAttention({ sourceName: 'source', numHeads: 2, unitsPerHead: 3 }), { inputShape: [3], constants: { source } });
    randomizeWeights(m);
    const x = sl.randomSequence([1, 6, 3], { seed: 8, randomLengths: false });
    const y = m.layer(x, { constants: { source } });
    const state = m.initialState(1);
    expect(state.slots[0]!.find((b) => b.name === 'keys')!.shape).toEqual([1, 0, 2, 3]);
    const first = m.step(x.sliceTime(0, 2), state, { constants: { source } });
    expect(state.slots[0]!.find((b) => b.name === 'keys')!.shape).toEqual([1, 5, 2, 3]);
    const restored = m.restoreState(state.toBytes());
    const rest = m.step(x.sliceTime(2), restored);
    sl.assertSequencesClose(first.concatenate(rest), y, 'first-step projection, then a restored state without constants', 0, 0);
    expect(() => m.step(x.sliceTime(0, 1), m.initialState(1))).toThrow(expect.objectContaining({ code: 'MISSING_CONSTANT' }));
    state.dispose();
    restored.dispose();
    m.dispose();
  });
});

describe('MultiSourceDotProductAttention', () => {
  const text = sl.randomSequence([2, 7, 3], { seed: 1, lowLength: 3 });
  const speaker = sl.randomSequence([2, 4, 3], { seed: 2, lowLength: 1 });
  const style = sl.randomSequence([2, 5, 6], { seed: 3, lowLength: 2 });

  // The reference's test cases: (heads, units, separate key/value projections).
  for (const [heads, units, separate] of [[1, 2, false], [3, 5, false], [3, 5, true]] as const) {
    it(`${heads} heads of ${units}, ${separate ? 'separate' : 'shared'} key/value projections: the contract`, () => {
      const m = sl.build(sl.MultiSourceDotProductAttention({ sourceNames: ['text', 'speaker'], numHeads: heads, unitsPerHead: units, useSeparateKvProjections: separate }), { inputShape: [3], constants: { text, speaker } });
      randomizeWeights(m);
      for (const time of [1, 11]) contract(m, sl.randomSequence([2, time, 3], { seed: time }), { text, speaker });
      m.dispose();
    });
  }

  it('attends to every source in one softmax: the contract, and DotProductAttention over the sources laid end to end', () => {
    const m = sl.build(sl.MultiSourceDotProductAttention({ sourceNames: ['text', 'speaker'], numHeads: 2, unitsPerHead: 3, perDimScale: true }), { inputShape: [3], constants: { text, speaker } });
    randomizeWeights(m);
    for (const time of [9, 12]) contract(m, sl.randomSequence([2, time, 3], { seed: time }), { text, speaker });
    expect([m.blockSize, m.inputLatency, m.outputLatency, m.supportsStep]).toEqual([1, 0, 0, true]);
    expect(paramShapes(m)).toEqual({ 'query_projection.kernel': [3, 2, 3], 'key_value_projection.kernel': [3, 2, 2, 3], per_dim_scale: [3] });
    // One source of both, valid steps first: the same keys in the same order.
    const both = sl.Sequence.concatenate([text, speaker]);
    const one = sl.build(sl.DotProductAttention({ sourceName: 'both', numHeads: 2, unitsPerHead: 3, perDimScale: true }), { inputShape: [3], constants: { both } });
    one.loadWeights(m.getWeights());
    const x = sl.randomSequence([2, 6, 3], { seed: 4 });
    sl.assertSequencesClose(m.layer(x, { constants: { text, speaker } }), one.layer(x, { constants: { both } }), 'one source of both', 1e-6, 1e-6);
    m.dispose();
    one.dispose();
  });

  it('separate key/value projections per source, of other widths, with grouped-query heads', () => {
    const m = sl.build(sl.MultiSourceDotProductAttention({
      sourceNames: ['text', 'style'], numHeads: 4, numKvHeads: 2, unitsPerHead: 3, useSeparateKvProjections: true, useBias: true,
      inputProjection: { type: 'QueryAndSharedKeyValueProjection' },
    }), { inputShape: [3], constants: { text, style } });
    randomizeWeights(m);
    contract(m, sl.randomSequence([2, 10, 3], { seed: 5 }), { text, style });
    expect(paramShapes(m)).toEqual({
      'query_projection.kernel': [3, 4, 3], 'query_projection.bias': [4, 3],
      'text_projection.shared_key_value_projection.kernel': [3, 2, 3], 'text_projection.shared_key_value_projection.bias': [2, 3],
      'style_projection.shared_key_value_projection.kernel': [6, 2, 3], 'style_projection.shared_key_value_projection.bias': [2, 3],
    });
    expect(m.root.stateSpecs(2).map((s) => [s.name, s.shape])).toEqual([['keys', [2, 0, 2, 3]], ['values', [2, 0, 2, 3]], ['mask', [2, 0]], ['projected', [1]]]);
    // Sources given at initialState or with the first step: the same outputs; a snapshot keeps them.
    const x = sl.randomSequence([2, 4, 3], { seed: 6 });
    const early = m.initialState(2, { constants: { text, style } }), late = m.initialState(2);
    const a = m.step(x, early), b = m.step(x, late, { constants: { text, style } });
    sl.assertSequencesClose(a, b, 'sources at the first step', 0, 0);
    expect(late.slots[m.root.slot]![0]!.shape).toEqual([2, 12, 2, 3]);
    sl.assertSequencesClose(m.step(x, m.restoreState(late.toBytes())), m.step(x, late), 'restored', 0, 0);
    m.dispose();
  });

  it('segment ids: a query sees only the source steps of its own segment, in layer() and in step() with the ids block by block', () => {
    const config = { sourceNames: ['text', 'speaker'], numHeads: 2, unitsPerHead: 3 };
    const m = sl.build(sl.MultiSourceDotProductAttention({ ...config, querySegmentIdsName: 'q', sourceSegmentIdsNames: ['ts', 'ss'] }), { inputShape: [3], constants: { text, speaker } });
    const plain = sl.build(sl.MultiSourceDotProductAttention(config), { inputShape: [3], constants: { text, speaker } });
    randomizeWeights(m);
    plain.loadWeights(m.getWeights());
    const ids = (shape: [number, number], f: (i: number) => number) => ({ values: Int32Array.from({ length: shape[0] * shape[1] }, (_, i) => f(i)), shape });
    // Source ids as arrays [batch, source steps]; query ids as a Sequence [batch, time].
    const ts = ids([2, 7], (i) => (i * 5) % 3), ss = ids([2, 4], (i) => (i * 7) % 3);
    const x = sl.randomSequence([2, 9, 3], { seed: 8 });
    const q = sl.Sequence.fromValues(ids([2, 9], (i) => (i * 2) % 3).values, [2, 9], 'int32');
    const y = m.layer(x, { constants: { text, speaker, q, ts, ss } });
    // Segment k's queries: the model without segment ids over the sources' steps of segment k.
    const only = (s: sl.Sequence, id: { values: Int32Array }, k: number) => new sl.Sequence(s.values, s.mask.map((v, i) => (v && id.values[i] === k ? 1 : 0)), s.shape);
    for (let k = 0; k < 3; k++) {
      const yk = plain.layer(x, { constants: { text: only(text, ts, k), speaker: only(speaker, ss, k) } });
      const row = 2 * 3;
      for (let i = 0; i < 2 * 9; i++) {
        if (q.values[i] !== k || !x.mask[i]) continue;
        expect(Array.from(y.values.subarray(i * row, (i + 1) * row))).toEqual(Array.from(yk.values.subarray(i * row, (i + 1) * row)));
      }
    }
    const state = m.initialState(2, { constants: { text, speaker, ts, ss } });
    expect(m.root.stateSpecs(2).map((s) => s.name)).toEqual(['keys', 'values', 'mask', 'projected', 'segment_ids']);
    const blocks = [0, 2, 3, 7, 9].slice(1).map((end, i, ends) => [i ? ends[i - 1]! : 0, end] as const);
    const stepped = blocks.map(([a, b]) => m.step(x.sliceTime(a, b), state, { constants: { q: q.sliceTime(a, b) } }));
    sl.assertSequencesClose(sl.Sequence.concatenate(stepped), y, 'stepped with the query ids block by block', 0, 0);
    // The contract with the query ids streamed by block and the sources whole, and with one segment per item ([2, 1]).
    sl.verifyContract(m, { x, constants: { text, speaker, q, ts, ss }, streamConstants: ['q'], padConstants: ['q'], testReceptiveField: false });
    sl.verifyContract(m, { x, constants: { text, speaker, q: ids([2, 1], (i) => i), ts, ss }, testReceptiveField: false });
    plain.dispose();
    m.dispose();
  });

  it('segment ids: bad configs are BAD_CONFIG, missing or mis-shaped ids MISSING_CONSTANT', () => {
    const build = (extra: Record<string, unknown>) =>
      sl.build({ type: 'MultiSourceDotProductAttention', source_names: ['text', 'speaker'], num_heads: 1, units_per_head: 2, ...extra }, { inputShape: [3], constants: { text, speaker } });
    expect(() => build({ query_segment_ids_name: 'q' })).toThrow(/^\[BAD_CONFIG\] MultiSourceDotProductAttention at config: source_segment_ids_names: expected 1 or 2 names \(one per source\) with query_segment_ids_name "q", got none/);
    expect(() => build({ query_segment_ids_name: 'q', source_segment_ids_names: ['a', 'b', 'c'] })).toThrow(/source_segment_ids_names: expected 1 or 2 names.*got \["a","b","c"\]/);
    const m = build({ query_segment_ids_name: 'q', source_segment_ids_names: 'ids' });
    const x = sl.randomSequence([2, 3, 3], { seed: 9 });
    const q = { values: new Int32Array(2), shape: [2, 1] };
    expect(() => m.layer(x, { constants: { text, speaker, q } })).toThrow(/^\[MISSING_CONSTANT\].*constants\.ids: expected segment ids of source "text" \[2 or 1, 7 or 1\].*got nothing/);
    expect(() => m.layer(x, { constants: { text, speaker, q, ids: { values: new Int32Array(14), shape: [2, 7] } } })).toThrow(/constants\.ids: expected segment ids of source "speaker" \[2 or 1, 4 or 1\].*got an array \[2, 7\] int32/);
    expect(() => m.layer(x, { constants: { text, speaker, ids: { values: new Int32Array(2), shape: [2, 1] } } })).toThrow(/constants\.q: expected query segment ids \[2 or 1, 3 or 1\].*got nothing/);
    // One name for both sources, one id for all their steps: the same as no segment ids.
    const state = m.initialState(2, { constants: { text, speaker, ids: { values: new Int32Array(2), shape: [2, 1] } } });
    expect(() => m.step(x, state)).toThrow(/^\[MISSING_CONSTANT\].*constants\.q: expected query segment ids/);
    const plain = build({});
    plain.loadWeights(m.getWeights());
    sl.assertSequencesClose(m.step(x, state, { constants: { q } }), plain.layer(x, { constants: { text, speaker } }), 'one segment', 0, 0);
    plain.dispose();
    m.dispose();
  });

  it('a source of no steps given to initialState is kept: zeros, not a missing constant (found in review)', () => {
    const empty = sl.Sequence.zeros([2, 0, 3], 'float32');
    const cases: [sl.LayerConfig, string][] = [
      [sl.MultiSourceDotProductAttention({ sourceNames: ['empty'], numHeads: 2, unitsPerHead: 2 }), 'multi-source'],
      [sl.DotProductAttention({ sourceName: 'empty', numHeads: 2, unitsPerHead: 2 }), 'cross'],
    ];
    for (const [config, what] of cases) {
      const m = sl.build(config, { inputShape: [3], constants: { empty } });
      const state = m.initialState(2, { constants: { empty } });
      const y = m.step(sl.randomSequence([2, 2, 3], { randomLengths: false }), state);
      expect(Array.from(y.values).every((v) => v === 0), what).toBe(true);
      m.dispose();
    }
  });

  it('refuses sources it cannot attend to together, and a missing one', () => {
    const make = (c: Partial<Parameters<typeof sl.MultiSourceDotProductAttention>[0]>, constants: sl.Constants) =>
      sl.build(sl.MultiSourceDotProductAttention({ sourceNames: ['text', 'style'], numHeads: 1, unitsPerHead: 2, ...c }), { inputShape: [3], constants });
    expect(() => make({}, { text, style })).toThrow(
      '[BAD_CONFIG] MultiSourceDotProductAttention at config: expected sources of the same channels for a shared key/value projection, got [3,6] for ["text","style"]; set use_separate_kv_projections',
    );
    expect(() => make({ sourceNames: ['text', 'text'] }, { text })).toThrow('source_names: expected distinct names, got ["text","text"]');
    expect(() => make({ sourceNames: [] }, { text })).toThrow(/^\[BAD_CONFIG\] config.sourceNames: expected source names: a non-empty string or a non-empty list of them/);
    expect(() => make({ sourceNames: ['text', 'speaker'], inputProjection: { type: 'CombinedQueryKeyValueProjection' } }, { text, speaker })).toThrow(/CombinedQueryKeyValueProjection is not possible for cross attention/);
    const m = make({ sourceNames: ['text', 'speaker'] }, { text, speaker });
    const state = m.initialState(2);
    expect(() => m.step(sl.randomSequence([2, 1, 3]), state, { constants: { text } })).toThrow(/^\[MISSING_CONSTANT\] .*constants\["speaker"\]/);
    expect(m.step(sl.randomSequence([2, 1, 3]), state, { constants: { text, speaker } }).time).toBe(1); // the refusal left the state as it was
    m.dispose();
  });
});

describe('query, key and value networks in cross attention', () => {
  const rope = sl.ApplyRotaryPositionalEncoding({ maxWavelength: 1e4 });
  const networks = { queryNetwork: rope, keyNetwork: rope, valueNetwork: sl.RMSNormalization({}) };
  const text = sl.randomSequence([2, 7, 3], { seed: 1, lowLength: 3 });
  const speaker = sl.randomSequence([2, 4, 3], { seed: 2, lowLength: 1 });

  it('the contract with the networks, the source given at initialState or with the first step', () => {
    const cases: [sl.LayerConfig, sl.Constants][] = [
      [sl.DotProductAttention({ sourceName: 'text', numHeads: 2, unitsPerHead: 4, ...networks }), { text }],
      [sl.DotProductAttention({ sourceName: 'text', numHeads: 2, unitsPerHead: 4, recomputeKvPerStep: true, ...networks }), { text }],
      [sl.MultiSourceDotProductAttention({ sourceNames: ['text', 'speaker'], numHeads: 2, unitsPerHead: 4, useSeparateKvProjections: true, ...networks }), { text, speaker }],
    ];
    for (const [config, constants] of cases) {
      const m = sl.build(config, { inputShape: [3], constants });
      randomizeWeights(m);
      contract(m, sl.randomSequence([2, 9, 3], { seed: 3 }), constants);
      const x = sl.randomSequence([2, 4, 3], { seed: 4 });
      sl.assertSequencesClose(m.step(x, m.initialState(2), { constants }), m.step(x, m.initialState(2, { constants }), { constants }), 'source at the first step', 0, 0);
      expect(paramShapes(m)['value_network.scale']).toEqual([4]);
      m.dispose();
    }
  });

  it('after a latency: the query network is spared the warm-up, or starts its positions before it (found in review: physical RoPE)', () => {
    const physical = sl.ApplyRotaryPositionalEncoding({ maxWavelength: 1e4, onlyAdvancePositionForValidTimesteps: false });
    for (const queryNetwork of [rope, physical]) {
      for (const recomputeKvPerStep of [true, false]) {
        const attention = sl.DotProductAttention({ sourceName: 'text', numHeads: 2, unitsPerHead: 4, recomputeKvPerStep, ...networks, queryNetwork });
        for (const config of [sl.Serial([sl.Delay({ length: 2, delayLayerOutput: false }), attention]), sl.Serial([sl.Lookahead({ length: 2 }), sl.Residual([attention, sl.Flatten()], { shortcutLayers: [sl.Dense({ features: 8 })] })])]) {
          const m = sl.build(config, { inputShape: [3], constants: { text } });
          sl.verifyContract(m, { x: sl.randomSequence([2, 11, 3], { seed: 5, randomMask: true }), constants: { text } });
          m.dispose();
        }
      }
    }
  });

  it('key and value networks run over the source only: they need not step, and see no step constants (found in review)', () => {
    const same = sl.Serial([sl.Flatten(), sl.Conv1D({ filters: 8, kernelSize: 3, padding: 'same' }), sl.Reshape({ outputShape: [2, 4] })]);
    const m = sl.build(sl.DotProductAttention({ sourceName: 'text', numHeads: 2, unitsPerHead: 4, keyNetwork: same, valueNetwork: same }), { inputShape: [3], constants: { text } });
    expect(m.supportsStep).toBe(true);
    sl.verifyContract(m, { x: sl.randomSequence([2, 9, 3], { seed: 6 }), constants: { text }, testReceptiveField: false });
    m.dispose();
    const positions = new sl.Sequence(Float32Array.from({ length: 14 }, (_, i) => i % 7), new Uint8Array(14).fill(1), [2, 7]);
    const keyNetwork = sl.ApplyRotaryPositionalEncoding({ maxWavelength: 1e4, positionsName: 'source_positions', onlyAdvancePositionForValidTimesteps: false });
    const constants = { text, source_positions: positions };
    const r = sl.build(sl.MultiSourceDotProductAttention({ sourceNames: ['text'], numHeads: 2, unitsPerHead: 4, keyNetwork }), { inputShape: [3], constants });
    const x = sl.randomSequence([2, 3, 3], { randomLengths: false });
    sl.assertSequencesClose(r.step(x, r.initialState(2, { constants }), { constants }), r.layer(x, { constants }), 'step with source positions', 0, 0);
    r.dispose();
  });
});

describe('StreamingDotProductAttention and StreamingLocalDotProductAttention', () => {
  /** x with random lengths >= time / 2 and a source with x's mask, as the reference's test. */
  const inputs = (time: number, seed: number) => {
    const x = sl.randomSequence([2, time, 3], { seed, lowLength: Math.floor(time / 2) });
    const source = new sl.Sequence(sl.randomSequence([2, time, 2], { seed: seed + 1, randomLengths: false }).values, x.mask, [2, time, 2]).maskInvalid();
    return { x, source };
  };
  for (const local of [false, true]) {
    const name = local ? 'StreamingLocalDotProductAttention' : 'StreamingDotProductAttention';
    // The reference's parameters: (heads, units, past, future, sink embeddings, sink scalars).
    for (const [heads, units, past, future, sinks, scalars] of [[1, 2, 3, 0, 0, false], [3, 5, 3, 0, 0, false], [3, 5, 3, 2, 0, false], [3, 5, 3, 5, 0, false], [3, 5, 3, 5, 1, false], [3, 5, 3, 5, 0, true]] as const) {
      it(`${name}: heads ${heads}, units ${units}, past ${past}, future ${future}, sinks ${sinks}${scalars ? ', sink scalars' : ''}`, () => {
        const common = { sourceName: 'source', numHeads: heads, unitsPerHead: units, maxPastHorizon: past, maxFutureHorizon: future, perDimScale: true, numSinkEmbeddings: sinks, useSinkScalars: scalars };
        const config = local ? sl.StreamingLocalDotProductAttention({ ...common, blockSize: Math.max(1, future, past - 1) }) : sl.StreamingDotProductAttention(common);
        const m = sl.build(config, { inputShape: [3], constants: { source: inputs(1, 0).source } });
        randomizeWeights(m);
        for (const time of [11, 12]) {
          const { x, source } = inputs(time, time);
          contract(m, x, { source }, true);
        }
        expect([m.blockSize, m.inputLatency, m.outputLatency, m.supportsStep]).toEqual([1, future, future, true]);
        expect(paramShapes(m)['key_value_projection.kernel']).toEqual([2, 2, heads, units]);
        m.dispose();
      });
    }
  }

  it("StreamingLocalDotProductAttention emits layer()'s probabilities in the reference's blocks (found in review)", () => {
    const { x, source } = inputs(9, 4);
    const common = { sourceName: 'source', numHeads: 2, unitsPerHead: 3, maxPastHorizon: 1, maxFutureHorizon: 1 };
    const local = sl.build(sl.StreamingLocalDotProductAttention({ ...common, blockSize: 2 }), { inputShape: [3], constants: { source }, seed: 1 });
    const plain = sl.build(sl.StreamingDotProductAttention(common), { inputShape: [3], constants: { source }, seed: 1 });
    const blocked = local.layerWithEmits(x, { constants: { source } }).emits['']!;
    const byKey = plain.layerWithEmits(x, { constants: { source } }).emits['']!;
    expect(blocked.shape).toEqual([2, 9, 2, 1 + 2 + 1]);
    // Query 3 (valid; block [2, 4)): its columns are keys 1..4.
    const at = (r: sl.Sequence, w: number, b: number, t: number, h: number) => [...r.values.subarray(((b * 9 + t) * 2 + h) * w, ((b * 9 + t) * 2 + h + 1) * w)];
    expect(x.lengths()[0]).toBeGreaterThan(3);
    expect(at(blocked, 4, 0, 3, 1)).toEqual(at(byKey, 9, 0, 3, 1).slice(1, 5));
    local.dispose();
    plain.dispose();
  });

  it('without the query delay buffer: no latency, and step() on a delayed x equals layer()', () => {
    const future = 2;
    const m = sl.build(sl.StreamingDotProductAttention({ sourceName: 'source', numHeads: 2, unitsPerHead: 3, maxPastHorizon: 3, maxFutureHorizon: future, useQueryDelayBuffer: false }), { inputShape: [3], constants: { source: inputs(1, 0).source } });
    randomizeWeights(m);
    expect([m.inputLatency, m.outputLatency]).toEqual([0, 0]);
    const { x, source } = inputs(30, 3);
    const y = m.layer(x, { constants: { source } });
    const ys = sl.stepByStep(m, x.padTime(future, 0, false), 1, { source: source.padTime(0, future, false) }, true);
    sl.assertSequencesClose(ys.sliceTime(future), y, 'delayed x vs layer', 0, 0);
    m.dispose();
  });

  it('Transformer-XL relative positions (StreamingLocalDotProductAttention, no future horizon)', () => {
    const m = sl.build(sl.StreamingLocalDotProductAttention({
      sourceName: 'source', numHeads: 2, unitsPerHead: 3, blockSize: 2, maxPastHorizon: 3,
      relativePositionEmbedding: { type: 'TransformerXLRelativePositionEmbedding', numHeads: 2, unitsPerHead: 3, maxBackward: 3, maxForward: 0, positionBiasDim: 4 },
    }), { inputShape: [3], constants: { source: inputs(1, 0).source } });
    randomizeWeights(m);
    const { x, source } = inputs(12, 5);
    contract(m, x, { source }, true);
    m.dispose();
  });
});

describe('StreamingDotProductAttention networks', () => {
  const rope = sl.ApplyRotaryPositionalEncoding({ maxWavelength: 1e4 });
  const source = (time: number, seed: number, x: sl.Sequence) =>
    new sl.Sequence(sl.randomSequence([x.batch, time, 2], { seed, randomLengths: false }).values, x.mask, [x.batch, time, 2]).maskInvalid();

  for (const [local, future] of [[false, 0], [false, 2], [true, 1]] as const) {
    it(`${local ? 'StreamingLocalDotProductAttention' : 'StreamingDotProductAttention'}, future ${future}: RoPE queries and keys, RMSNorm values, stepped with their own state`, () => {
      const common = { sourceName: 'source', numHeads: 2, unitsPerHead: 4, maxPastHorizon: 3, maxFutureHorizon: future, queryNetwork: rope, keyNetwork: rope, valueNetwork: sl.RMSNormalization({}) };
      const config = local ? sl.StreamingLocalDotProductAttention({ ...common, blockSize: 2 }) : sl.StreamingDotProductAttention(common);
      const m = sl.build(config, { inputShape: [3], constants: { source: source(1, 0, sl.randomSequence([2, 1, 3])) } });
      randomizeWeights(m);
      for (const time of [7, 12]) {
        const x = sl.randomSequence([2, time, 3], { seed: time, lowLength: Math.floor(time / 2) });
        contract(m, x, { source: source(time, time + 1, x) }, true);
      }
      expect([m.inputLatency, m.outputLatency, m.supportsStep]).toEqual([future, future, true]);
      expect(paramShapes(m)['value_network.scale']).toEqual([4]);
      m.dispose();
    });
  }

  it('a key network moves the outputs; a query network that reads the past is the receptive field', () => {
    const common = { sourceName: 'source', numHeads: 1, unitsPerHead: 4, maxPastHorizon: 4 };
    const x = sl.randomSequence([1, 8, 3], { seed: 2, randomLengths: false });
    const constants = { source: source(8, 3, x) };
    const plain = sl.build(sl.StreamingDotProductAttention(common), { inputShape: [3], constants, seed: 1 });
    const roped = sl.build(sl.StreamingDotProductAttention({ ...common, keyNetwork: rope }), { inputShape: [3], constants, seed: 1 });
    roped.loadWeights(plain.getWeights());
    const a = plain.layer(x, { constants }), b = roped.layer(x, { constants });
    expect(a.values.slice(0, 4)).toEqual(b.values.slice(0, 4)); // step 0 sees only source step 0: no rotation
    expect(Array.from(a.values)).not.toEqual(Array.from(b.values));
    sl.assertSequencesClose(sl.stepByStep(roped, x, 3, constants, true), b, 'stepped', 0, 0);
    plain.dispose();
    roped.dispose();
    const causal = sl.Serial([sl.Flatten(), sl.Conv1D({ filters: 4, kernelSize: 3, padding: 'causal' }), sl.Reshape({ outputShape: [1, 4] })]);
    const m = sl.build(sl.StreamingDotProductAttention({ ...common, maxFutureHorizon: 1, queryNetwork: causal }), { inputShape: [3], constants });
    expect(m.receptiveField).toEqual([-2, 0]);
    const opts = { constants, streamConstants: true, padConstants: true };
    expect(sl.verifyContract(m, { ...opts, x }).measuredReceptiveField).toEqual([-2, 0]);
    m.dispose();
  });
});

describe("weightStorage 'int8'", () => {
  it('DotProductAttention: the query and the source projections, each its own int8 matrix', () => {
    const source = sl.randomSequence([2, 9, 40], { seed: 4, lowLength: 3 });
    const m = sl.build(sl.DotProductAttention({ sourceName: 'source', numHeads: 2, unitsPerHead: 5, useBias: true, weightStorage: 'int8' }), { inputShape: [33], constants: { source } });
    randomizeWeights(m);
    contract(m, sl.randomSequence([2, 10, 33], { seed: 5 }), { source });
    m.dispose();
  });
});

// verifyContract poisons a constant with NaN only with padConstants: a whole source then gets 4
// more invalid steps and NaN at every invalid one, in layer() and step(). (The streaming layers'
// sources are time-synchronised, so their contract above already pads them.)
describe('NaN at invalid source steps never reaches a valid output (found in review)', () => {
  const withLengths = (shape: [number, number, number], lengths: number[], seed: number) =>
    sl.Sequence.fromLengths(sl.randomSequence(shape, { seed, randomLengths: false }).values, shape, lengths);
  const text = withLengths([2, 7, 3], [4, 7], 1);
  const speaker = withLengths([2, 4, 3], [4, 1], 2);
  const common = { numHeads: 2, unitsPerHead: 3 };
  for (const [name, config, constants] of [
    ['DotProductAttention', sl.DotProductAttention({ ...common, sourceName: 'text', useBias: true }), { text }],
    ['DotProductAttention, recompute_kv_per_step', sl.DotProductAttention({ ...common, sourceName: 'text', recomputeKvPerStep: true }), { text }],
    ['MultiSourceDotProductAttention', sl.MultiSourceDotProductAttention({ ...common, sourceNames: ['text', 'speaker'] }), { text, speaker }],
    ['MultiSourceDotProductAttention, separate key/value projections', sl.MultiSourceDotProductAttention({ ...common, sourceNames: ['text', 'speaker'], useSeparateKvProjections: true }), { text, speaker }],
  ] as const) {
    it(name, () => {
      const m = sl.build(config, { inputShape: [3], constants });
      randomizeWeights(m);
      sl.verifyContract(m, { x: sl.randomSequence([2, 9, 3], { seed: 5 }), constants, padConstants: true, testReceptiveField: false });
      m.dispose();
    });
  }
});

describe('bad constants and configs', () => {
  const source = sl.randomSequence([2, 5, 2], { seed: 1 });
  const dpa = sl.DotProductAttention({ sourceName: 'source', numHeads: 2, unitsPerHead: 3 });

  it('MISSING_CONSTANT at build, naming the key and the expected shape', () => {
    expect(() => sl.build(dpa, { inputShape: [3] })).toThrow(expect.objectContaining({ code: 'MISSING_CONSTANT' }));
    expect(() => sl.build(dpa, { inputShape: [3] })).toThrow(/constants\["source"\] at build time to be a Sequence \[batch, time, channels\].*got no such constant/);
    expect(() => sl.build(dpa, { inputShape: [3], constants: { source: { values: new Float32Array(4), shape: [2, 2] } } })).toThrow(/got an array of shape \[2, 2\]/);
  });

  it('MISSING_CONSTANT in layer() and step(): absent, wrong channels, wrong batch, wrong block length', () => {
    const m = sl.build(dpa, { inputShape: [3], constants: { source } });
    const x = sl.randomSequence([2, 4, 3]);
    const code = expect.objectContaining({ code: 'MISSING_CONSTANT' });
    expect(() => m.layer(x)).toThrow(code);
    expect(() => m.layer(x)).toThrow(/expected constants\["source"\] to be a Sequence \[2, time, 2\] float32, got no such constant/);
    expect(() => m.layer(x, { constants: { source: sl.randomSequence([2, 5, 3]) } })).toThrow(/\[2, time, 2\] float32, got \[2, 5, 3\] float32/);
    expect(() => m.layer(x, { constants: { source: sl.randomSequence([1, 5, 2]) } })).toThrow(/\[2, time, 2\] float32, got \[1, 5, 2\] float32/);
    expect(() => m.initialState(2, { constants: { source: sl.randomSequence([2, 5, 4]) } })).toThrow(code);
    m.dispose();
    const s = sl.build(sl.StreamingDotProductAttention({ sourceName: 'source', numHeads: 2, unitsPerHead: 3, maxPastHorizon: 2 }), { inputShape: [3], constants: { source } });
    const state = s.initialState(2);
    expect(() => s.step(x, state, { constants: { source } })).toThrow(/expected constants\["source"\] to be a Sequence \[2, 4, 2\] float32, got \[2, 5, 2\] float32/);
    state.dispose();
    s.dispose();
  });

  it('BAD_CONFIG for configs the cross-attention layers cannot take', () => {
    const bad = (config: sl.LayerConfig, pattern: RegExp) => {
      expect(() => sl.build(config, { inputShape: [3], constants: { source } })).toThrow(expect.objectContaining({ code: 'BAD_CONFIG' }));
      expect(() => sl.build(config, { inputShape: [3], constants: { source } })).toThrow(pattern);
    };
    bad(sl.DotProductAttention({ sourceName: 'source', numHeads: 2, unitsPerHead: 3, inputProjection: { type: 'CombinedQueryKeyValueProjection', shareKvProjection: false } }), /CombinedQueryKeyValueProjection is not possible for cross attention/);
    bad(sl.DotProductAttention({ sourceName: 'source', numHeads: 2, unitsPerHead: 3, relativePositionEmbedding: { type: 'TransformerXLRelativePositionEmbedding', numHeads: 2, unitsPerHead: 3, maxBackward: 1, maxForward: 0, positionBiasDim: 4, useBias: true } }), /supports "ShawRelativePositionEmbedding" or "T5RelativePositionEmbedding"/);
    bad(sl.StreamingDotProductAttention({ sourceName: 'source', numHeads: 2, unitsPerHead: 3, maxPastHorizon: 0, maxFutureHorizon: 1 }), /max_past_horizon: expected >= 1, got 0/);
    bad(sl.StreamingDotProductAttention({ sourceName: 'source', numHeads: 2, unitsPerHead: 3, maxPastHorizon: 2, maxFutureHorizon: -1 }), /max_future_horizon: expected >= 0, got -1/);
    bad(sl.StreamingDotProductAttention({ sourceName: 'source', numHeads: 2, unitsPerHead: 3, maxPastHorizon: 2, relativePositionEmbedding: { type: 'ShawRelativePositionEmbedding', maxBackward: 1, maxForward: 0, numHeads: 2, unitsPerHead: 3 } }), /StreamingDotProductAttention supports none/);
  });
});
