// Self-attention layers (src/layers/attention/): DotProductSelfAttention and
// LocalDotProductSelfAttention through the reference's test cases (dot_product_self_attention_test.py,
// local_dot_product_self_attention_test.py) with verifyContract and random weights, parameter
// shapes, the torch oracle fixtures (tools/fixtures_attention.py, layer and step), emits, the KV
// cache (2,000 steps without memory growth, growing cache, CACHE_FULL, snapshots) and bad
// configs. Cross and streaming attention: attention-cross.test.ts.
import { beforeAll, describe, expect, it } from 'vitest';
import * as sl from '../../src/index.js';
import { loadFixture } from '../fixtures.js';
import { checkAttentionCase } from './attention-helpers.js';
import { paramShapes, randomizeWeights } from './helpers.js';

beforeAll(async () => {
  await sl.init();
});

const fixture = loadFixture('attention');

describe('oracle fixtures (self attention)', () => {
  for (const c of fixture.cases.filter((c) => !c.constants)) it(c.name, () => checkAttentionCase(c));
});

/** Builds with random weights and runs verifyContract over the reference's lengths. */
/** `a` with random weights and `b` with a's: the same outputs at x's valid steps, bit for bit. */
function expectSameOutputs(a: sl.LayerConfig, b: sl.LayerConfig, x: sl.Sequence): void {
  const inputShape = x.shape.slice(2);
  const [ma, mb] = [sl.build(a, { inputShape }), sl.build(b, { inputShape })];
  randomizeWeights(ma);
  mb.loadWeights(ma.getWeights());
  expect(Array.from(ma.layer(x).maskInvalid().values)).toEqual(Array.from(mb.layer(x).maskInvalid().values));
  ma.dispose();
  mb.dispose();
}

function contract(config: sl.LayerConfig, inputShape: number[], opts: { times?: number[]; randomMask?: boolean } = {}): sl.Model {
  const model = sl.build(config, { inputShape });
  randomizeWeights(model);
  for (const time of opts.times ?? [1, 3, 12]) {
    const x = sl.randomSequence([2, time, ...inputShape], { seed: time, randomMask: opts.randomMask });
    sl.verifyContract(model, { x });
  }
  sl.verifyContract(model);
  return model;
}

describe('DotProductSelfAttention', () => {
  // The reference's parameters: (heads, units, past, future, random mask, sink embeddings, sink scalars).
  const cases: [number, number, number, number, boolean, number, boolean][] = [
    [1, 2, 3, 0, false, 0, false], [1, 2, 3, 0, true, 0, false], [3, 5, 3, 0, false, 0, false], [3, 5, 3, 0, true, 0, false],
    [3, 5, 3, 2, false, 0, false], [3, 5, 3, 2, true, 0, false], [3, 5, 3, 5, false, 0, false], [3, 5, 3, 5, true, 0, false],
    [3, 5, -1, 2, false, 0, false], [3, 5, -1, 2, true, 0, false], [3, 5, 3, -1, false, 0, false], [3, 5, 3, -1, true, 0, false],
    [3, 5, -1, -1, false, 0, false], [3, 5, -1, -1, true, 0, false], [3, 5, 3, 2, false, 1, false], [3, 5, 3, 2, true, 1, false],
    [3, 5, 3, 2, false, 0, true], [3, 5, 3, 2, true, 0, true], [2, 3, 0, 2, true, 0, false], [2, 3, -1, 0, true, 0, false],
  ];
  for (const [heads, units, past, future, randomMask, sinks, scalars] of cases) {
    it(`heads ${heads}, units ${units}, past ${past}, future ${future}, random mask ${randomMask}, sinks ${sinks}${scalars ? ', sink scalars' : ''}`, () => {
      const m = contract(
        sl.DotProductSelfAttention({ numHeads: heads, unitsPerHead: units, maxPastHorizon: past, maxFutureHorizon: future, perDimScale: true, numSinkEmbeddings: sinks, useSinkScalars: scalars }),
        [1], { times: [1, 2, 3, 11, 12], randomMask },
      );
      expect(m.blockSize).toBe(1);
      expect(m.outputRatio.toString()).toBe('1');
      expect(m.outputShape()).toEqual([heads, units]);
      // The reference steps only with both horizons >= 0; an unlimited past steps here with a growing cache.
      expect(m.supportsStep).toBe(future >= 0);
      expect(m.inputLatency).toBe(Math.max(0, future));
      expect(m.outputLatency).toBe(Math.max(0, future));
      expect(m.receptiveField).toEqual([past < 0 ? -Infinity : -past, future < 0 ? Infinity : future]);
      const shapes: Record<string, number[]> = { 'query_key_value_projection.kernel': [1, 3, heads, units], per_dim_scale: [units] };
      if (sinks) Object.assign(shapes, { sink_key_embeddings: [sinks, heads, units], sink_value_embeddings: [sinks, heads, units] });
      if (scalars) shapes.sink_scalars = [heads];
      expect(paramShapes(m)).toEqual(shapes);
      m.dispose();
    });
  }

  // The reference's projection configs (MHA and GQA) crossed with the attention sinks.
  const projections: [sl.InputProjectionConfig, number, number | undefined][] = [
    [{ type: 'CombinedQueryKeyValueProjection', shareKvProjection: false }, 3, undefined],
    [{ type: 'CombinedQueryKeyValueProjection', shareKvProjection: true }, 3, undefined],
    [{ type: 'SeparateQueryKeyValueProjection' }, 3, undefined],
    [{ type: 'SeparateQueryKeyValueProjection' }, 6, 3],
    [{ type: 'QueryAndKeyValueProjection' }, 3, undefined],
    [{ type: 'QueryAndKeyValueProjection' }, 6, 3],
    [{ type: 'QueryAndSharedKeyValueProjection' }, 3, undefined],
    [{ type: 'QueryAndSharedKeyValueProjection' }, 6, 3],
  ];
  for (const [inputProjection, heads, kvHeads] of projections) {
    for (const sinks of ['none', 'embeddings', 'scalars'] as const) {
      it(`projection ${JSON.stringify(inputProjection)}, heads ${heads}/${kvHeads ?? heads}, sinks ${sinks}`, () => {
        const m = sl.build(sl.DotProductSelfAttention({
          numHeads: heads, numKvHeads: kvHeads, unitsPerHead: 5, inputProjection, maxPastHorizon: 7, maxFutureHorizon: 11, useBias: true,
          numSinkEmbeddings: sinks === 'embeddings' ? 2 : 0, useSinkScalars: sinks === 'scalars',
        }), { inputShape: [2] });
        randomizeWeights(m);
        sl.verifyContract(m, { x: sl.randomSequence([2, 16, 2], { seed: 3 }) });
        expect(m.supportsStep).toBe(true);
        expect(m.inputLatency).toBe(11);
        const kv = kvHeads ?? heads;
        const names = Object.keys(paramShapes(m));
        if (inputProjection.type === 'CombinedQueryKeyValueProjection') {
          const n = inputProjection.shareKvProjection ? 2 : 3;
          expect(paramShapes(m)['query_key_value_projection.kernel']).toEqual([2, n, heads, 5]);
          expect(paramShapes(m)['query_key_value_projection.bias']).toEqual([n, heads, 5]);
        } else {
          expect(paramShapes(m)['query_projection.kernel']).toEqual([2, heads, 5]);
          expect(paramShapes(m)['query_projection.bias']).toEqual([heads, 5]);
          if (inputProjection.type === 'SeparateQueryKeyValueProjection') {
            expect(paramShapes(m)['key_projection.kernel']).toEqual([2, kv, 5]);
            expect(paramShapes(m)['value_projection.bias']).toEqual([kv, 5]);
          } else if (inputProjection.type === 'QueryAndKeyValueProjection') {
            expect(paramShapes(m)['key_value_projection.kernel']).toEqual([2, 2, kv, 5]);
          } else {
            expect(paramShapes(m)['shared_key_value_projection.kernel']).toEqual([2, kv, 5]);
          }
        }
        if (sinks === 'embeddings') expect([paramShapes(m).sink_key_embeddings, paramShapes(m).sink_value_embeddings]).toEqual([[2, heads, 5], [2, kv, 5]]);
        expect(names.includes('sink_scalars')).toBe(sinks === 'scalars');
        m.dispose();
      });
    }
  }

  // The reference's Shaw and T5 relative position cases: (past, future, max_backward, max_forward).
  for (const [past, future, mb, mf] of [[-1, -1, 5, 5], [-1, 0, 8, 0], [-1, 0, 8, 8], [0, -1, 4, 4], [4, 4, 4, 4], [4, 4, 3, 2], [8, 0, 8, 0]] as const) {
    it(`Shaw relative positions: past ${past}, future ${future}, max_backward ${mb}, max_forward ${mf}`, () => {
      const m = contract(sl.DotProductSelfAttention({
        numHeads: 2, unitsPerHead: 3, maxPastHorizon: past, maxFutureHorizon: future,
        relativePositionEmbedding: { type: 'ShawRelativePositionEmbedding', maxBackward: mb, maxForward: mf, numHeads: 2, unitsPerHead: 3 },
      }), [2]);
      expect(m.supportsStep).toBe(future === 0);
      expect(paramShapes(m)['relative_position_embedding.embedding']).toEqual([mb + mf + 1, 2, 3]);
      m.dispose();
    });
  }
  for (const [past, future, bidirectional] of [[-1, -1, true], [-1, -1, false], [-1, 0, true], [-1, 0, false], [0, -1, true], [4, 4, true], [4, 4, false], [8, 0, false]] as const) {
    it(`T5 relative positions: past ${past}, future ${future}, bidirectional ${bidirectional}`, () => {
      const m = contract(sl.DotProductSelfAttention({
        numHeads: 2, unitsPerHead: 3, maxPastHorizon: past, maxFutureHorizon: future,
        relativePositionEmbedding: { type: 'T5RelativePositionEmbedding', numBuckets: 8, numHeads: 2, bidirectional, maxDistance: 16 },
      }), [2]);
      expect(paramShapes(m)['relative_position_embedding.embedding']).toEqual([8, 2]);
      m.dispose();
    });
  }

  it('T5 relative positions: max_distance defaults to 128, as the reference (found in review)', () => {
    // Keys up to 39 steps back: 16 buckets per direction, 8 exact, then log-spaced up to
    // max_distance (distance 39 is bucket 12 with 128, 14 with 64).
    const x = sl.randomSequence([1, 40, 3], { seed: 1, randomLengths: false });
    const outputs = (maxDistance?: number) => {
      const t5: sl.RelativePositionConfig = { type: 'T5RelativePositionEmbedding', numBuckets: 32, numHeads: 2, bidirectional: true };
      if (maxDistance !== undefined) t5.maxDistance = maxDistance;
      const m = randomizeWeights(sl.build(sl.DotProductSelfAttention({ numHeads: 2, unitsPerHead: 3, maxPastHorizon: -1, maxFutureHorizon: 0, relativePositionEmbedding: t5 }), { inputShape: [3] }));
      const y = Array.from(m.layer(x).values);
      m.dispose();
      return y;
    };
    const byDefault = outputs();
    expect(byDefault).toEqual(outputs(128));
    expect(byDefault).not.toEqual(outputs(64));
  });

  it('soft cap, per-dim key scale, query scale and zero_fully_masked keep the contract', () => {
    contract(sl.DotProductSelfAttention({
      numHeads: 2, unitsPerHead: 6, maxPastHorizon: 5, maxFutureHorizon: 1, attentionLogitsSoftCap: 1.5,
      perDimScale: true, perDimKeyScale: true, queryScale: 0.3, zeroFullyMasked: true,
    }), [3], { randomMask: true }).dispose();
  });

  it('emits the attention probabilities [batch, query, heads, sinks + keys], in layer and step mode', () => {
    const m = sl.build(sl.DotProductSelfAttention({ numHeads: 2, unitsPerHead: 3, maxPastHorizon: 2, numSinkEmbeddings: 1 }), { inputShape: [4] });
    randomizeWeights(m);
    const x = sl.randomSequence([1, 5, 4], { randomLengths: false });
    const { emits } = m.layerWithEmits(x);
    const p = emits['']!;
    expect(p.shape).toEqual([1, 5, 2, 1 + 5]);
    for (let t = 0; t < 5; t++) {
      for (let h = 0; h < 2; h++) {
        const row = p.values.subarray((t * 2 + h) * 6, (t * 2 + h + 1) * 6);
        expect(Array.from(row).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
        // Keys outside [t - 2, t] get nothing.
        for (let j = 0; j < 5; j++) if (j < t - 2 || j > t) expect(row[1 + j]).toBe(0);
      }
    }
    // Step mode: [sinks ‖ cache (2) ‖ block] per query.
    const state = m.initialState(1);
    m.step(x.sliceTime(0, 3), state);
    const s = m.stepWithEmits(x.sliceTime(3, 5), state).emits['']!;
    expect(s.shape).toEqual([1, 2, 2, 1 + 2 + 2]);
    const layerRow = p.values.subarray((3 * 2) * 6, (3 * 2 + 1) * 6); // query 3, head 0: keys 1..3
    const stepRow = s.values.subarray(0, 5); // query 0 of the block: cache = keys 1, 2; block = keys 3, 4
    expect([stepRow[0], stepRow[1], stepRow[2], stepRow[3], stepRow[4]]).toEqual([layerRow[0], layerRow[2], layerRow[3], layerRow[4], 0]);
    state.dispose();
    m.dispose();
  });
});

describe("weightStorage 'int8' (the query/key/value projections)", () => {
  // Values against NumPy + torch are in the oracle fixtures; here the contract, with inputs
  // wide enough for more than one 32-column panel and a projection with biases.
  for (const [name, config] of [
    ['DotProductSelfAttention, combined projection with biases', sl.DotProductSelfAttention({ numHeads: 4, unitsPerHead: 10, maxPastHorizon: 4, maxFutureHorizon: 1, useBias: true, weightStorage: 'int8' })],
    ['DotProductSelfAttention, grouped-query separate projections', sl.DotProductSelfAttention({ numHeads: 4, numKvHeads: 2, unitsPerHead: 8, maxPastHorizon: -1, maxFutureHorizon: 0, inputProjection: { type: 'SeparateQueryKeyValueProjection' }, weightStorage: 'int8' })],
    ['LocalDotProductSelfAttention', sl.LocalDotProductSelfAttention({ numHeads: 2, unitsPerHead: 6, blockSize: 3, maxPastHorizon: 3, maxFutureHorizon: 0, weightStorage: 'int8' })],
  ] as const) {
    it(name, () => contract(config, [37], { times: [1, 5, 12] }).dispose());
  }
});

describe('LocalDotProductSelfAttention', () => {
  const cases: [number, number, number, number, boolean, number, boolean][] = [
    [1, 2, 3, 0, false, 0, false], [1, 2, 3, 0, true, 0, false], [3, 5, 3, 0, false, 0, false], [3, 5, 3, 0, true, 0, false],
    [3, 5, 3, 2, false, 0, false], [3, 5, 3, 2, true, 0, false], [3, 5, 3, 5, false, 0, false], [3, 5, 3, 5, true, 0, false],
    [3, 5, 3, 2, false, 1, false], [3, 5, 3, 2, true, 1, false], [3, 5, 3, 2, false, 0, true], [3, 5, 3, 2, true, 0, true],
  ];
  for (const [heads, units, past, future, randomMask, sinks, scalars] of cases) {
    it(`heads ${heads}, units ${units}, past ${past}, future ${future}, random mask ${randomMask}, sinks ${sinks}${scalars ? ', sink scalars' : ''}`, () => {
      const blockSize = Math.max(1, future, past - 1);
      const m = contract(
        sl.LocalDotProductSelfAttention({ numHeads: heads, unitsPerHead: units, blockSize, maxPastHorizon: past, maxFutureHorizon: future, perDimScale: true, numSinkEmbeddings: sinks, useSinkScalars: scalars }),
        [1], { times: [1, 2, 3, 11, 12], randomMask },
      );
      expect(m.blockSize).toBe(1);
      expect(m.supportsStep).toBe(true);
      expect(m.inputLatency).toBe(future);
      m.dispose();
    });
  }

  it('equals DotProductSelfAttention with the same horizons and weights', () => {
    const common = { numHeads: 2, unitsPerHead: 4, maxPastHorizon: 4, maxFutureHorizon: 2, perDimScale: true };
    expectSameOutputs(sl.LocalDotProductSelfAttention({ ...common, blockSize: 3 }), sl.DotProductSelfAttention(common), sl.randomSequence([2, 17, 3], { seed: 9, lowLength: 1 }));
  });

  it("emits layer()'s probabilities in the reference's blocks: [batch, query, heads, sinks + past + block_size + future] (found in review)", () => {
    // Column sinks + c of query t is key (t - t % block_size) - past + c, as the reference's
    // local_dot_product_attention lays them out; DotProductSelfAttention's are by key index.
    const common = { numHeads: 2, unitsPerHead: 3, maxPastHorizon: 2, maxFutureHorizon: 1, numSinkEmbeddings: 1 };
    const x = sl.randomSequence([2, 9, 4], { seed: 5 });
    const local = sl.build(sl.LocalDotProductSelfAttention({ ...common, blockSize: 3 }), { inputShape: [4], seed: 1 });
    const dense = sl.build(sl.DotProductSelfAttention(common), { inputShape: [4], seed: 1 });
    const blocked = local.layerWithEmits(x).emits['']!, byKey = dense.layerWithEmits(x).emits['']!;
    expect(blocked.shape).toEqual([2, 9, 2, 1 + 2 + 3 + 1]);
    expect(byKey.shape).toEqual([2, 9, 2, 1 + 9]);
    for (let b = 0; b < 2; b++) {
      for (let t = 0; t < 9; t++) {
        for (let h = 0; h < 2; h++) {
          const row = (r: sl.Sequence, w: number) => [...r.values.subarray(((b * 9 + t) * 2 + h) * w, ((b * 9 + t) * 2 + h + 1) * w)];
          const got = row(blocked, 7), all = row(byKey, 10), first = t - (t % 3) - 2;
          const expected = [all[0]!, ...Array.from({ length: 6 }, (_, c) => (first + c >= 0 && first + c < 9 ? all[1 + first + c]! : 0))];
          expect(got).toEqual(expected);
        }
      }
    }
    local.dispose();
    dense.dispose();
  });

  // The reference's Transformer-XL cases: steppable only without a future horizon.
  for (const [heads, units, past, future, randomMask] of [[1, 2, 3, 0, false], [3, 5, 3, 0, false], [1, 2, 3, 0, true], [3, 5, 3, 0, true], [3, 5, 3, 2, false], [3, 5, 3, 2, true], [3, 5, 3, 5, false], [3, 5, 3, 5, true]] as const) {
    it(`Transformer-XL relative positions: heads ${heads}, units ${units}, past ${past}, future ${future}, random mask ${randomMask}`, () => {
      const m = contract(sl.LocalDotProductSelfAttention({
        numHeads: heads, unitsPerHead: units, blockSize: Math.max(1, future, past - 1), maxPastHorizon: past, maxFutureHorizon: future,
        relativePositionEmbedding: { type: 'TransformerXLRelativePositionEmbedding', numHeads: heads, unitsPerHead: units, maxBackward: past, maxForward: future, positionBiasDim: 8 },
      }), [1], { times: [1, 2, 3, 11, 12], randomMask });
      expect(m.supportsStep).toBe(future === 0);
      expect(m.inputLatency).toBe(future);
      expect(paramShapes(m)).toMatchObject({
        'relative_position_embedding.pos_proj.kernel': [8, heads, units], 'relative_position_embedding.u': [heads, units], 'relative_position_embedding.v': [heads, units],
      });
      m.dispose();
    });
  }
});

describe('BlockwiseDotProductSelfAttention', () => {
  // (block size, heads, units, past blocks, future blocks): the reference's test cases (block 4,
  // 3 heads of 5; an unlimited past steps here, with a growing cache), then other blocks.
  const reference = [[3, 0], [2, 1], [2, 3], [-1, 2], [2, -1], [-1, -1]].map(([p, f]) => [4, 3, 5, p, f]);
  const others = [[1, 0, 0], [1, 2, 0], [2, 1, 0], [3, 2, 1], [4, 0, 0], [2, 0, 2], [2, -1, 0], [3, -1, 1], [3, 1, -1]].map(([w, p, f]) => [w, 2, 3, p, f]);
  for (const [w, heads, units, past, future] of [...reference, ...others] as [number, number, number, number, number][]) {
    it(`block ${w}, ${heads} heads of ${units}, past ${past} blocks, future ${future} blocks`, () => {
      const m = contract(sl.BlockwiseDotProductSelfAttention({ blockSize: w, numHeads: heads, unitsPerHead: units, maxPastHorizonBlocks: past, maxFutureHorizonBlocks: future, perDimScale: true }),
        [2], { times: [w, 3 * w, 12 * w + 1], randomMask: true });
      expect(m.blockSize).toBe(w);
      expect(m.supportsStep).toBe(future >= 0);
      expect(m.inputLatency).toBe(Math.max(0, future * w));
      expect(m.outputLatency).toBe(Math.max(0, future * w));
      // Step i of a block: from `past` blocks before its block to `future` blocks after it.
      expect([...m.receptiveFieldPerStep.values()]).toEqual(Array.from({ length: w }, (_, i) => [past < 0 ? -Infinity : -past * w - i, future < 0 ? Infinity : future * w + w - 1 - i]));
      if (m.supportsStep && past >= 0) {
        expect(m.root.stateSpecs(1).map((s) => [s.name, s.shape])).toEqual([
          ['keys', [1, (past + future) * w, heads, units]], ['values', [1, (past + future) * w, heads, units]], ['mask', [1, (past + future) * w]], ['time_step', [1]],
          ...(future > 0 ? [['query_delay', [1, future * w, heads, units]], ['query_delay_mask', [1, future * w]]] : []),
        ]);
      }
      m.dispose();
    });
  }

  it('an unlimited past steps through cache growth whose capacity the block size does not divide', () => {
    // The cache starts at 256 steps and doubles; blocks of 3 then sit off the ring's grid.
    const m = sl.build(sl.BlockwiseDotProductSelfAttention({ blockSize: 3, numHeads: 1, unitsPerHead: 4, maxPastHorizonBlocks: -1, maxFutureHorizonBlocks: 1 }), { inputShape: [2], seed: 4 });
    const x = sl.randomSequence([1, 600, 2], { seed: 5, randomLengths: false });
    const y = m.layer(x);
    const stepped = sl.stepByStep(m, x.padTime(0, 3, false), 6).sliceTime(3, 603);
    sl.assertSequencesClose(stepped, y, 'stepped past 256 and 512 cached steps', 0, 0);
    m.dispose();
  });

  it('equals DotProductSelfAttention with the same horizons when blocks are one step', () => {
    expectSameOutputs(
      sl.BlockwiseDotProductSelfAttention({ blockSize: 1, numHeads: 2, unitsPerHead: 4, maxPastHorizonBlocks: 3, maxFutureHorizonBlocks: 2 }),
      sl.DotProductSelfAttention({ numHeads: 2, unitsPerHead: 4, maxPastHorizon: 3, maxFutureHorizon: 2 }),
      sl.randomSequence([2, 17, 3], { seed: 9, lowLength: 1 }),
    );
  });

  it('refuses horizons below -1 and step blocks off its grid', () => {
    const build = (c: Partial<Parameters<typeof sl.BlockwiseDotProductSelfAttention>[0]>) =>
      sl.build(sl.BlockwiseDotProductSelfAttention({ blockSize: 2, numHeads: 1, unitsPerHead: 2, maxPastHorizonBlocks: 1, ...c }), { inputShape: [2] });
    expect(() => build({ maxPastHorizonBlocks: -2 })).toThrow(/^\[BAD_CONFIG\] config.maxPastHorizonBlocks: expected an integer in \[-1, /);
    expect(() => build({ maxFutureHorizonBlocks: -2 })).toThrow(/^\[BAD_CONFIG\] config.maxFutureHorizonBlocks: expected an integer in \[-1, /);
    expect(() => build({ blockSize: 0 })).toThrow(/^\[BAD_CONFIG\] config.blockSize: expected an integer in \[1, /);
    expect(() => build({ maxPastHorizonBlocks: -1, maxCacheSteps: 1 })).toThrow('max_cache_steps: expected at least one block (2 steps), got 1: every step would be CACHE_FULL');
    const m = build({});
    const state = m.initialState(1);
    expect(() => m.step(sl.randomSequence([1, 3, 2]), state)).toThrow(/^\[BAD_INPUT\].*multiple of .*2/);
    m.dispose();
  });
});

describe('DotProductSelfAttentionV2', () => {
  // The reference's test cases (heads, units, past, future; an unlimited past steps here), and a future only.
  const cases = [[1, 2, 3, 0], [3, 5, 3, 0], [3, 5, 3, 2], [3, 5, 3, 5], [3, 5, -1, 2], [3, 5, 3, -1], [3, 5, -1, -1], [2, 3, 0, 2]] as const;
  for (const [heads, units, past, future] of cases) {
    it(`${heads} heads of ${units}, past ${past}, future ${future}: the contract, and DotProductSelfAttention's outputs`, () => {
      const common = { numHeads: heads, unitsPerHead: units, maxPastHorizon: past, maxFutureHorizon: future, perDimScale: true };
      const m = contract(sl.DotProductSelfAttentionV2(common), [2], { times: [1, 3, 12], randomMask: true });
      expect(m.supportsStep).toBe(future >= 0);
      expect(m.inputLatency).toBe(Math.max(0, future));
      m.dispose();
      expectSameOutputs(sl.DotProductSelfAttentionV2(common), sl.DotProductSelfAttention(common), sl.randomSequence([2, 13, 2], { seed: 6, lowLength: 1 }));
    });
  }

  it('refuses a window of no steps, as the reference', () => {
    expect(() => sl.build(sl.DotProductSelfAttentionV2({ numHeads: 1, unitsPerHead: 2, maxPastHorizon: 0 }), { inputShape: [2] }))
      .toThrow(/^\[BAD_CONFIG\] DotProductSelfAttentionV2 at config: max_past_horizon and max_future_horizon are both 0/);
  });
});

describe('segment ids and positions from the constants (DotProductSelfAttentionV2, BlockwiseDotProductSelfAttention)', () => {
  /** int32 ids [batch, time] as a Sequence (streamed with x by verifyContract). */
  const ids = (batch: number, time: number, f: (b: number, t: number) => number) =>
    sl.Sequence.fromValues(Int32Array.from({ length: batch * time }, (_, i) => f(Math.floor(i / time), i % time)), [batch, time], 'int32');
  /**
   * Utterances packed in one stream: segment b restarts at each boundary; positions count from
   * it. Boundaries on even steps keep blocks of 2 positions on the steps' blocks of 2.
   */
  const starts = [[0, 4, 6, 14], [0, 2, 10]];
  const segmentOf = (b: number, t: number) => starts[b]!.filter((s) => s <= t).length - 1;
  const positionOf = (b: number, t: number) => t - starts[b]![segmentOf(b, t)]!;
  const streamed = { streamConstants: true, padConstants: true };
  const layers = [
    ['DotProductSelfAttentionV2 past 3, future 0', { type: 'DotProductSelfAttentionV2', max_past_horizon: 3 }],
    ['DotProductSelfAttentionV2 past 2, future 2', { type: 'DotProductSelfAttentionV2', max_past_horizon: 2, max_future_horizon: 2 }],
    ['DotProductSelfAttentionV2 unlimited past', { type: 'DotProductSelfAttentionV2', max_past_horizon: -1 }],
    ['BlockwiseDotProductSelfAttention block 2, 1 past, 1 future', { type: 'BlockwiseDotProductSelfAttention', block_size: 2, max_past_horizon_blocks: 1, max_future_horizon_blocks: 1 }],
  ] as const;
  for (const [name, layer] of layers) {
    for (const [what, names] of [['segment ids', { segment_ids_name: 'seg' }], ['positions', { position_name: 'pos' }], ['both', { segment_ids_name: 'seg', position_name: 'pos' }]] as const) {
      it(`${name}, ${what}: the contract, step() carrying the ids in its cache`, () => {
        const m = sl.build({ ...layer, num_heads: 2, units_per_head: 3, ...names }, { inputShape: [4], seed: 3 });
        randomizeWeights(m);
        const x = sl.randomSequence([2, 16, 4], { seed: 4, randomMask: true });
        // Positions restart with segments only where segment ids keep the segments apart.
        const position = 'segment_ids_name' in names ? positionOf : (_: number, t: number) => t + 8;
        const constants = { seg: ids(2, 16, segmentOf), pos: ids(2, 16, position) };
        sl.verifyContract(m, { x, constants, ...streamed, testReceptiveField: false });
        const kept = m.root.stateSpecs(1).map((s) => s.name).filter((n) => /segment|position/.test(n));
        const delayed = 'max_future_horizon' in layer || 'max_future_horizon_blocks' in layer;
        expect(kept).toEqual([
          ...('segment_ids_name' in names ? ['segment_ids'] : []), ...('position_name' in names ? ['positions'] : []),
          ...(delayed && 'segment_ids_name' in names ? ['query_delay_segment_ids'] : []), ...(delayed && 'position_name' in names ? ['query_delay_positions'] : []),
        ]);
        m.dispose();
      });
    }
  }

  it('an unlimited past keeps the ids through cache growth (256 steps, doubling)', () => {
    const m = sl.build(sl.DotProductSelfAttentionV2({ numHeads: 1, unitsPerHead: 4, maxPastHorizon: -1, segmentIdsName: 'seg', positionName: 'pos' }), { inputShape: [2], seed: 4 });
    const x = sl.randomSequence([1, 600, 2], { seed: 5, randomLengths: false });
    const constants = { seg: ids(1, 600, (_, t) => Math.floor(t / 150)), pos: ids(1, 600, (_, t) => t % 150) };
    sl.assertSequencesClose(sl.stepByStep(m, x, 7, constants, true), m.layer(x, { constants }), 'stepped past 256 and 512 cached steps', 0, 0);
    // The id rings grow with the keys' (the same capacity, 1024 steps after 600).
    const state = m.initialState(1);
    for (let t = 0; t < 600; t += 100) m.step(x.sliceTime(t, t + 100), state, { constants: { seg: constants.seg.sliceTime(t, t + 100), pos: constants.pos.sliceTime(t, t + 100) } });
    const capacity = Object.fromEntries(state.slots[m.root.slot]!.map((b) => [b.name, b.shape[1]]));
    expect(capacity).toMatchObject({ keys: 1024, segment_ids: 1024, positions: 1024 });
    state.dispose();
    m.dispose();
  });

  it('packed utterances with segment ids (and positions restarting) give each utterance its own outputs', () => {
    for (const names of [{ segment_ids_name: 'seg' }, { segment_ids_name: 'seg', position_name: 'pos' }]) {
      const config = { type: 'DotProductSelfAttentionV2', num_heads: 2, units_per_head: 3, max_past_horizon: 4, max_future_horizon: 1, ...names };
      const packed = sl.build(config, { inputShape: [4], seed: 5 }), alone = sl.build({ type: 'DotProductSelfAttentionV2', num_heads: 2, units_per_head: 3, max_past_horizon: 4, max_future_horizon: 1 }, { inputShape: [4] });
      randomizeWeights(packed);
      alone.loadWeights(packed.getWeights());
      const x = sl.randomSequence([1, 13, 4], { seed: 6, randomLengths: false });
      const cut = [0, 5, 6, 13];
      const constants = { seg: ids(1, 13, (_, t) => cut.filter((s) => s <= t).length - 1), pos: ids(1, 13, (_, t) => t - cut.filter((s) => s <= t).at(-1)!) };
      const y = packed.layer(x, { constants });
      for (let u = 0; u + 1 < cut.length; u++) {
        const own = alone.layer(x.sliceTime(cut[u]!, cut[u + 1]!));
        sl.assertSequencesClose(y.sliceTime(cut[u]!, cut[u + 1]!), own, `utterance ${u}`, 1e-6, 1e-6);
      }
      packed.dispose();
      alone.dispose();
    }
  });

  it('positions counting the steps give the outputs of counted steps; a gap in them hides the keys beyond the horizon', () => {
    const common = { numHeads: 2, unitsPerHead: 3, maxPastHorizon: 2 };
    const x = sl.randomSequence([2, 9, 4], { seed: 7, lowLength: 1 });
    const counted = sl.build(sl.DotProductSelfAttentionV2(common), { inputShape: [4], seed: 8 });
    const given = sl.build(sl.DotProductSelfAttentionV2({ ...common, positionName: 'pos' }), { inputShape: [4], seed: 8 });
    randomizeWeights(counted);
    given.loadWeights(counted.getWeights());
    const y = counted.layer(x).maskInvalid();
    // Positions as floats, one row for the whole batch (broadcast).
    const arange = { pos: { values: Float32Array.from({ length: 9 }, (_, t) => t - 3), shape: [1, 9] } };
    expect(Array.from(given.layer(x, { constants: arange }).maskInvalid().values)).toEqual(Array.from(y.values));
    // A jump of 10 after step 4: steps 5.. see none of steps 0..4, as a fresh stream.
    const gap = { pos: ids(1, 9, (_, t) => (t < 5 ? t : t + 10)) };
    const fresh = counted.layer(x.sliceTime(5, 9)).maskInvalid();
    sl.assertSequencesClose(given.layer(x, { constants: gap }).maskInvalid().sliceTime(5, 9), fresh, 'after the gap', 1e-6, 1e-6);
    counted.dispose();
    given.dispose();
  });

  it('a missing or mis-shaped constant is MISSING_CONSTANT, in layer() and step() (V2 counts missing positions there), and a refused step leaves the state as it was', () => {
    const m = sl.build(sl.DotProductSelfAttentionV2({ numHeads: 1, unitsPerHead: 2, maxPastHorizon: 3, segmentIdsName: 'seg', positionName: 'pos' }), { inputShape: [2], seed: 1 });
    const x = sl.randomSequence([2, 4, 2], { seed: 2, randomLengths: false });
    const good = { seg: ids(2, 4, () => 0), pos: ids(2, 4, (_, t) => t) };
    expect(() => m.layer(x)).toThrow(/^\[MISSING_CONSTANT\] DotProductSelfAttentionV2 at config: constants\.seg: expected segment ids \[2 or 1, 4 or 1\] \(a Sequence without channel axes, or an array; int32 or float32\), got nothing \(constants given: none\)/);
    expect(() => m.layer(x, { constants: { seg: good.seg } })).toThrow(/constants\.pos: expected positions \[2 or 1, 4 or 1\].*got nothing \(constants given: "seg"\)/);
    expect(() => m.layer(x, { constants: { ...good, pos: ids(2, 3, () => 0) } })).toThrow(/\[MISSING_CONSTANT\].*constants\.pos: expected positions \[2 or 1, 4 or 1\].*got a Sequence \[2, 3\] int32/);
    const state = m.initialState(2);
    const first = m.step(x.sliceTime(0, 2), state, { constants: { seg: ids(2, 2, () => 0), pos: ids(2, 2, (_, t) => t) } });
    const snapshot = state.toBytes();
    expect(() => m.step(x.sliceTime(2, 4), state, { constants: { pos: ids(2, 2, (_, t) => t + 2) } })).toThrow(/^\[MISSING_CONSTANT\].*constants\.seg/);
    expect(() => m.step(x.sliceTime(2, 4), state, { constants: { seg: ids(2, 4, () => 0), pos: ids(2, 2, (_, t) => t + 2) } })).toThrow(/constants\.seg: expected segment ids \[2 or 1, 2 or 1\].*got a Sequence \[2, 4\] int32/);
    expect(state.toBytes()).toEqual(snapshot);
    const rest = m.step(x.sliceTime(2, 4), state, { constants: { seg: ids(2, 2, () => 0), pos: ids(2, 2, (_, t) => t + 2) } });
    sl.assertSequencesClose(first.concatenate(rest), m.layer(x, { constants: good }), 'after the refused steps', 1e-6, 1e-6);
    // V2's step() without positions counts steps since the initial state, as the reference's
    // (here: the same as positions counting steps); Blockwise's requires them.
    const counting = m.initialState(2), seg2 = { seg: ids(2, 2, () => 0) };
    sl.assertSequencesClose(m.step(x.sliceTime(0, 2), counting, { constants: seg2 }).concatenate(m.step(x.sliceTime(2, 4), counting, { constants: seg2 })), m.layer(x, { constants: good }), 'counted positions', 0, 0);
    const blockwise = sl.build(sl.BlockwiseDotProductSelfAttention({ blockSize: 2, numHeads: 1, unitsPerHead: 2, maxPastHorizonBlocks: 1, positionName: 'pos' }), { inputShape: [2] });
    expect(() => blockwise.step(x.sliceTime(0, 2), blockwise.initialState(2))).toThrow(/^\[MISSING_CONSTANT\] BlockwiseDotProductSelfAttention at config: constants\.pos: expected positions/);
    blockwise.dispose();
    expect(() => sl.build(sl.DotProductSelfAttentionV2({ numHeads: 1, unitsPerHead: 2, maxPastHorizon: 3, segmentIdsName: 7 as never }), { inputShape: [2] })).toThrow(/^\[BAD_CONFIG\].*segmentIdsName/);
    // Not constants at all (found by an audit: uncoded TypeErrors before), at every entry point.
    const expects = 'expected a Sequence or an array { values: Float32Array or Int32Array, shape } (values filling the shape)';
    for (const [bad, shown] of [[new Int32Array(8), 'Int32Array(8)'], [[0, 1], '[0, 1]'], [null, 'null'], ['seg', '"seg"'], [{ values: new Int32Array(3), shape: [2, 2] }, '{']] as const) {
      const constants = { ...good, seg: bad as never };
      const message = new RegExp(`^\\[BAD_INPUT\\] (layer|step|initialState|build): constants\\.seg: ${expects.replace(/[{}()]/g, '\\$&')}, got ${shown.replace(/[[\]{}()]/g, '\\$&')}`);
      expect(() => m.layer(x, { constants })).toThrow(message);
      expect(() => m.step(x.sliceTime(0, 2), m.initialState(2), { constants })).toThrow(message);
      expect(() => m.initialState(2, { constants })).toThrow(message);
      expect(() => sl.build(sl.Relu(), { inputShape: [2], constants })).toThrow(message);
    }
    expect(() => m.layer(x, { constants: 5 as never })).toThrow('[BAD_INPUT] layer: expected constants as an object of Sequences and arrays by name, got 5');
    m.dispose();
  });

  it('float32 ids must be whole numbers in int32 range (the kernel compares int32: 0.25 and 0.75 were one segment); whole ones equal int32 ids', () => {
    const m = sl.build(sl.DotProductSelfAttentionV2({ numHeads: 1, unitsPerHead: 2, maxPastHorizon: 3, segmentIdsName: 'seg', positionName: 'pos' }), { inputShape: [2], seed: 1 });
    const x = sl.randomSequence([2, 4, 2], { seed: 2, randomLengths: false });
    const f32 = (a: Int32Array | Float32Array, edit?: [number, number]) => {
      const values = Float32Array.from(a);
      if (edit) values[edit[0]] = edit[1];
      return { values, shape: [2, 4] };
    };
    const seg = ids(2, 4, (_, t) => (t < 2 ? 0 : 1)).values, pos = ids(2, 4, (_, t) => t).values;
    const want = m.layer(x, { constants: { seg: { values: seg, shape: [2, 4] }, pos: { values: pos, shape: [2, 4] } } });
    sl.assertSequencesClose(m.layer(x, { constants: { seg: f32(seg), pos: f32(pos) } }), want, 'float32 whole ids', 0, 0);
    for (const [name, edit, shown] of [['seg', [2, 0.75], '0.75 at \\[0, 2\\]'], ['seg', [5, NaN], 'NaN at \\[1, 1\\]'], ['pos', [7, 2 ** 31], '2147483648 at \\[1, 3\\]']] as const) {
      const constants = { seg: f32(seg, name === 'seg' ? [...edit] : undefined), pos: f32(pos, name === 'pos' ? [...edit] : undefined) };
      const what = name === 'seg' ? 'segment ids' : 'positions';
      const message = new RegExp(`^\\[BAD_INPUT\\] DotProductSelfAttentionV2 at config: constants\\.${name}: expected ${what} that are whole numbers in int32's range, got ${shown}$`);
      expect(() => m.layer(x, { constants })).toThrow(message);
      const state = m.initialState(2), before = state.toBytes();
      expect(() => m.step(x, state, { constants })).toThrow(message);
      expect(state.toBytes()).toEqual(before);
      state.dispose();
    }
    m.dispose();
  });
});

describe('query, key and value networks', () => {
  const rope = sl.ApplyRotaryPositionalEncoding({ maxWavelength: 1e4 });
  const networks = { queryNetwork: rope, keyNetwork: rope, valueNetwork: sl.RMSNormalization({}) };
  const layers: [string, sl.LayerConfig][] = [
    ['DotProductSelfAttention, future 2', sl.DotProductSelfAttention({ numHeads: 2, unitsPerHead: 4, maxPastHorizon: 3, maxFutureHorizon: 2, numKvHeads: 1, inputProjection: { type: 'SeparateQueryKeyValueProjection' }, ...networks })],
    ['LocalDotProductSelfAttention', sl.LocalDotProductSelfAttention({ numHeads: 2, unitsPerHead: 4, maxPastHorizon: 3, blockSize: 2, queryNetwork: rope })],
    ['DotProductSelfAttentionV2, unlimited past', sl.DotProductSelfAttentionV2({ numHeads: 2, unitsPerHead: 4, maxPastHorizon: -1, keyNetwork: rope })],
    ['BlockwiseDotProductSelfAttention', sl.BlockwiseDotProductSelfAttention({ blockSize: 2, numHeads: 2, unitsPerHead: 4, maxPastHorizonBlocks: 1, maxFutureHorizonBlocks: 1, ...networks })],
  ];
  for (const [name, config] of layers) {
    it(`${name}: the contract with the networks' own state`, () => {
      const m = contract(config, [3], { times: [2, 6, 12], randomMask: true });
      expect(m.supportsStep).toBe(true);
      m.dispose();
    });
  }

  it('a key network changes what the cache holds: RoPE on the keys moves the outputs, and step() keeps up', () => {
    const plain = sl.build(sl.DotProductSelfAttention({ numHeads: 1, unitsPerHead: 4, maxPastHorizon: 4 }), { inputShape: [3], seed: 1 });
    const roped = sl.build(sl.DotProductSelfAttention({ numHeads: 1, unitsPerHead: 4, maxPastHorizon: 4, keyNetwork: rope }), { inputShape: [3], seed: 1 });
    roped.loadWeights(plain.getWeights());
    const x = sl.randomSequence([1, 8, 3], { seed: 2, randomLengths: false });
    const a = plain.layer(x), b = roped.layer(x);
    expect(a.values[0]).toBe(b.values[0]); // position 0: no rotation
    expect(Array.from(a.values)).not.toEqual(Array.from(b.values));
    sl.assertSequencesClose(sl.stepByStep(roped, x, 3), b, 'stepped', 0, 0);
    expect(paramShapes(sl.build(sl.DotProductSelfAttention({ numHeads: 2, unitsPerHead: 4, maxPastHorizon: 4, valueNetwork: sl.RMSNormalization({}) }), { inputShape: [3] })))
      .toMatchObject({ 'value_network.scale': [4] });
    plain.dispose();
    roped.dispose();
  });

  it("a key network that reads the past widens the receptive field by its own", () => {
    const causal = sl.Serial([sl.Flatten(), sl.Conv1D({ filters: 8, kernelSize: 2, padding: 'causal' }), sl.Reshape({ outputShape: [2, 4] })]);
    const m = contract(sl.DotProductSelfAttention({ numHeads: 2, unitsPerHead: 4, maxPastHorizon: 3, maxFutureHorizon: 1, keyNetwork: causal }), [3], { times: [3, 12] });
    expect(m.receptiveField).toEqual([-4, 1]);
    expect(sl.verifyContract(m).measuredReceptiveField).toEqual([-4, 1]);
    m.dispose();
  });

  it('a network after a latency is spared the warm-up with its attention', () => {
    const m = sl.build(sl.Serial([sl.Delay({ length: 2, delayLayerOutput: false }), sl.DotProductSelfAttention({ numHeads: 1, unitsPerHead: 4, maxPastHorizon: 3, queryNetwork: rope, keyNetwork: rope })]), { inputShape: [3], seed: 3 });
    sl.verifyContract(m, { x: sl.randomSequence([2, 11, 3], { seed: 4, randomMask: true }) });
    m.dispose();
  });

  it('refuses networks that change the steps or the shape', () => {
    const bad: [sl.LayerConfig, RegExp][] = [
      [sl.Delay({ length: 1 }), /latency 1\/0/],
      [sl.Downsample1D({ rate: 2 }), /ratio 1\/2, block size 2/],
      [sl.Flatten(), /Flatten gives \[8\] float32/],
    ];
    for (const [queryNetwork, detail] of bad) {
      const e = (() => {
        try {
          sl.build(sl.DotProductSelfAttention({ numHeads: 2, unitsPerHead: 4, maxPastHorizon: 2, queryNetwork }), { inputShape: [3] });
        } catch (err) {
          return err as Error;
        }
        throw new Error('built');
      })();
      expect(e.message).toMatch(/^\[BAD_CONFIG\] DotProductSelfAttention at config: query_network: expected a layer that keeps the shape \[2,4\] float32, with one output step per input step, block size 1 and no latency; /);
      expect(e.message).toMatch(detail);
    }
    // A 'valid' convolution keeps the metadata of one step per step but drops steps in layer() (found in review: batch items were read across).
    const valid = sl.Serial([sl.Flatten(), sl.Conv1D({ filters: 4, kernelSize: 3, padding: 'valid' }), sl.Reshape({ outputShape: [1, 4] })]);
    const m = sl.build(sl.DotProductSelfAttention({ numHeads: 1, unitsPerHead: 4, maxPastHorizon: 8, keyNetwork: valid }), { inputShape: [3] });
    expect(() => m.layer(sl.randomSequence([2, 6, 3]))).toThrow('[BAD_CONFIG] DotProductSelfAttention at config: key_network: expected a network that keeps the number of steps, but Serial gave 4 for 6');
    m.dispose();
  });
});

describe('KV cache', () => {
  it('2,000 single steps of windowed attention equal layer() and never grow WebAssembly memory', () => {
    const m = sl.build(sl.DotProductSelfAttention({ numHeads: 2, unitsPerHead: 8, maxPastHorizon: 16, maxFutureHorizon: 2, numKvHeads: 1, inputProjection: { type: 'SeparateQueryKeyValueProjection' } }), { inputShape: [6] });
    randomizeWeights(m, 2, 0.5);
    const T = 2000, F = 2;
    const x = sl.randomSequence([1, T, 6], { seed: 4, randomLengths: false });
    const y = m.layer(x);
    const xs = x.padTime(0, F, false);
    const state = m.initialState(1);
    const out = { values: new Float32Array(2 * 8), mask: new Uint8Array(1) };
    const got = new Float32Array(T * 16);
    const memory = sl.getRuntime().memory;
    let bytes = 0;
    for (let t = 0; t < T + F; t++) {
      m.stepInto(xs.sliceTime(t, t + 1), state, out);
      if (t === 0) bytes = memory.buffer.byteLength;
      else expect(memory.buffer.byteLength).toBe(bytes);
      if (t >= F) got.set(out.values, (t - F) * 16);
    }
    expect(Array.from(got)).toEqual(Array.from(y.values));
    state.dispose();
    m.dispose();
  });

  it('grows with an unlimited past (256 steps, doubling), stays exact, and survives a snapshot', () => {
    const m = sl.build(sl.DotProductSelfAttention({ numHeads: 1, unitsPerHead: 4, maxPastHorizon: -1, maxFutureHorizon: 1, maxCacheSteps: 1000 }), { inputShape: [3] });
    randomizeWeights(m, 5, 0.5);
    const x = sl.randomSequence([2, 700, 3], { seed: 6, lowLength: 650 });
    const y = m.layer(x);
    const state = m.initialState(2);
    const keys = () => state.slots[0]!.find((b) => b.name === 'keys')!.shape[1];
    expect(keys()).toBe(256);
    const xs = x.padTime(0, 1, false);
    const outs = [m.step(xs.sliceTime(0, 300), state)];
    expect(keys()).toBe(512);
    const restored = m.restoreState(state.toBytes());
    expect(restored.slots[0]!.find((b) => b.name === 'keys')!.shape[1]).toBe(512);
    outs.push(m.step(xs.sliceTime(300, 701), restored));
    expect(restored.slots[0]!.find((b) => b.name === 'keys')!.shape[1]).toBe(1000);
    sl.assertSequencesClose(sl.Sequence.concatenate(outs).sliceTime(1), y, 'grown cache vs layer', 0, 0);
    state.dispose();
    restored.dispose();
    m.dispose();
  });

  it('fails with CACHE_FULL past max_cache_steps, before writing anything', () => {
    const m = sl.build(sl.DotProductSelfAttention({ numHeads: 1, unitsPerHead: 2, maxPastHorizon: -1, maxCacheSteps: 8 }), { inputShape: [2] });
    const x = sl.randomSequence([1, 12, 2], { randomLengths: false });
    const state = m.initialState(1);
    m.step(x.sliceTime(0, 6), state);
    const before = state.toBytes();
    expect(() => m.step(x.sliceTime(6, 9), state)).toThrow(expect.objectContaining({ code: 'CACHE_FULL' }));
    expect(() => m.step(x.sliceTime(6, 9), state)).toThrow(/holds 6 steps and a block of 3 needs 9, over max_cache_steps=8/);
    expect(state.toBytes()).toEqual(before);
    // The state is still usable for what fits.
    const y = m.step(x.sliceTime(6, 8), state);
    sl.assertSequencesClose(y, m.layer(x.sliceTime(0, 8)).sliceTime(6), 'after CACHE_FULL', 0, 0);
    state.dispose();
    m.dispose();
  });

  it('rejects a state from another model', () => {
    const cfg = sl.DotProductSelfAttention({ numHeads: 1, unitsPerHead: 2, maxPastHorizon: 2 });
    const a = sl.build(cfg, { inputShape: [2] });
    const b = sl.build(cfg, { inputShape: [2] });
    const state = a.initialState(1);
    const x = sl.randomSequence([1, 1, 2]);
    expect(() => b.step(x, state)).toThrow(expect.objectContaining({ code: 'BAD_STATE' }));
    const other = sl.build(sl.DotProductSelfAttention({ numHeads: 1, unitsPerHead: 2, maxPastHorizon: 3 }), { inputShape: [2] });
    expect(() => other.restoreState(state.toBytes())).toThrow(expect.objectContaining({ code: 'BAD_SNAPSHOT' }));
    state.dispose();
    for (const m of [a, b, other]) m.dispose();
  });
});

describe('bad configs', () => {
  const bad = (config: object, inputShape: number[], pattern: RegExp, code = 'BAD_CONFIG') => {
    let error: unknown;
    try {
      sl.build(config, { inputShape }).dispose();
    } catch (e) {
      error = e;
    }
    expect(error, JSON.stringify(config)).toMatchObject({ code });
    expect(String((error as Error).message)).toMatch(pattern);
  };
  const base = { type: 'DotProductSelfAttention', num_heads: 2, units_per_head: 3, max_past_horizon: 2 };

  it('names the field and what was expected', () => {
    bad({ ...base, max_past_horizon: undefined }, [4], /needs field "max_past_horizon"/);
    bad({ ...base, max_past_horizon: -2 }, [4], /max_past_horizon: expected an integer in \[-1, \d+\], got -2/);
    bad({ ...base, max_past_horizon: 0, max_future_horizon: 0 }, [4], /both 0/);
    bad({ ...base, num_heads: 0 }, [4], /num_heads: expected an integer in \[1, \d+\], got 0/);
    bad({ ...base, num_kv_heads: 4 }, [4], /num_heads: expected a multiple of num_kv_heads=4, got 2/);
    bad({ ...base, num_kv_heads: 1 }, [4], /CombinedQueryKeyValueProjection needs num_kv_heads = num_heads \(2\), got 1/);
    bad({ ...base, attention_logits_soft_cap: -1 }, [4], /attention_logits_soft_cap: expected a number >= 0 or null, got -1/);
    bad({ ...base, num_sink_embeddings: 1, use_sink_scalars: true }, [4], /not both/);
    bad({ ...base, zero_fully_masked: true, use_sink_scalars: true }, [4], /zero_fully_masked: incompatible with attention sinks/);
    bad(base, [4, 2], /expected a float32 input with channel shape \[channels\].*got \[4, 2\]/);
  });

  it('checks nested input_projection and relative_position_embedding configs', () => {
    bad({ ...base, input_projection: { type: 'Combined' } }, [4], /config\.input_projection\.type: expected one of "CombinedQueryKeyValueProjection"/);
    bad({ ...base, input_projection: { type: 'SeparateQueryKeyValueProjection', share_kv_projection: true } }, [4], /input_projection\.share_kv_projection: SeparateQueryKeyValueProjection has no field "share_kv_projection"/);
    bad({ ...base, input_projection: 'combined' }, [4], /input_projection: expected a config object/);
    bad({ ...base, relative_position_embedding: { type: 'ShawRelativePositionEmbedding', max_backward: 2, num_heads: 2, units_per_head: 3 } }, [4], /relative_position_embedding: ShawRelativePositionEmbedding needs field "max_forward"/);
    bad({ ...base, relative_position_embedding: { type: 'ShawRelativePositionEmbedding', max_backward: 2, max_forward: 0, num_heads: 3, units_per_head: 3 } }, [4], /num_heads: expected the layer's num_heads 2, got 3/);
    bad({ ...base, relative_position_embedding: { type: 'TransformerXLRelativePositionEmbedding', num_heads: 2, units_per_head: 3, max_backward: 2, max_forward: 0, position_bias_dim: 4 } }, [4], /DotProductSelfAttention supports "ShawRelativePositionEmbedding" or "T5RelativePositionEmbedding", got "TransformerXLRelativePositionEmbedding"/);
    // The reference's T5 buckets divide by log(max_distance / exact range): none below it, no exact bucket.
    const t5 = (numBuckets: number, bidirectional: boolean, maxDistance: number) => ({ ...base, relative_position_embedding: { type: 'T5RelativePositionEmbedding', num_buckets: numBuckets, num_heads: 2, bidirectional, max_distance: maxDistance } });
    bad(t5(64, false, 31), [4], /max_distance: expected at least the exact range, num_buckets \/ 2 = 32, got 31 \(the reference's buckets go negative beyond it; if no key is that far, any max_distance >= 32 gives the same biases\)/);
    bad(t5(64, true, 15), [4], /max_distance: expected at least the exact range, num_buckets \/ 4 = 16, got 15/);
    bad(t5(3, true, 8), [4], /num_buckets: expected at least 4 \(2 per direction, bidirectional\), got 3/);
    bad(t5(1, false, 8), [4], /num_buckets: expected at least 2 \(2 per direction\), got 1/);
    for (const ok of [t5(64, true, 16), t5(2, false, 1), t5(4, true, 1)]) sl.build(ok, { inputShape: [4] }).dispose();
    const local = { type: 'LocalDotProductSelfAttention', num_heads: 2, units_per_head: 3, max_past_horizon: 2, block_size: 2 };
    bad({ ...local, relative_position_embedding: { type: 'T5RelativePositionEmbedding', num_buckets: 4, num_heads: 2, bidirectional: true } }, [4], /supports "TransformerXLRelativePositionEmbedding", got "T5RelativePositionEmbedding"/);
    bad({ ...local, relative_position_embedding: { type: 'TransformerXLRelativePositionEmbedding', num_heads: 2, units_per_head: 3, max_backward: 3, max_forward: 0, position_bias_dim: 4 } }, [4], /max_backward = max_past_horizon \(2\)/);
    bad({ ...local, max_past_horizon: 0, max_future_horizon: 2 }, [4], /max_past_horizon: expected >= 1, got 0/);
    bad({ ...local, block_size: 0 }, [4], /block_size: expected an integer in \[1, \d+\], got 0/);
  });

  it('reads the reference spelling and round-trips the normalised config', () => {
    const m = sl.build({ ...base, input_projection: { type: 'CombinedQueryKeyValueProjection', share_kv_projection: true } }, { inputShape: [4] });
    expect(m.toConfig()).toMatchObject({ inputProjection: { type: 'CombinedQueryKeyValueProjection', shareKvProjection: true }, maxFutureHorizon: 0, maxCacheSteps: 4096 });
    expect(sl.toSnakeCase(m.toConfig())).toMatchObject({ input_projection: { type: 'CombinedQueryKeyValueProjection', share_kv_projection: true } });
    sl.build(m.toConfig(), { inputShape: [4] }).dispose();
    m.dispose();
  });
});

describe('input projection configs', () => {
  it('reject field names that exist on Object.prototype with a coded error', () => {
    expect(() =>
      sl.build(sl.DotProductSelfAttention({ numHeads: 1, unitsPerHead: 2, maxPastHorizon: 2, inputProjection: { type: 'CombinedQueryKeyValueProjection', constructor: 1 } as never }), { inputShape: [2] }),
    ).toThrow(/\[BAD_CONFIG\].*constructor/);
  });
});
