// Whole models from several families, streamed: the tech report's Transformer decoder block
// (Figure 1) built from a JSON config, and a long windowed-attention + LSTM stream.
import { beforeAll, describe, expect, it } from 'vitest';
import * as sl from '../../src/index.js';

beforeAll(async () => {
  await sl.init();
});

// A decoder-only Transformer as JSON with the reference's snake_case names: token embedding,
// N x [pre-norm causal self-attention + output projection, pre-norm gated-GELU FFN], final
// norm and vocabulary projection.
const d = 32, heads = 4, vocab = 50;
const decoder = {
  type: 'Serial',
  layers: [
    { type: 'Embedding', dimension: d, num_embeddings: vocab },
    {
      type: 'Repeat',
      num_repeats: 2,
      layer: {
        type: 'Serial',
        layers: [
          {
            type: 'Residual',
            layers: [
              { type: 'RMSNormalization' },
              { type: 'DotProductSelfAttention', num_heads: heads, units_per_head: d / heads, max_past_horizon: -1 },
              { type: 'DenseShaped', output_shape: [d] },
            ],
          },
          {
            type: 'Residual',
            layers: [
              { type: 'RMSNormalization' },
              { type: 'Dense', features: 4 * d },
              { type: 'GatedUnit', feature_activation: 'gelu', gate_activation: null },
              { type: 'Dense', features: d },
            ],
          },
        ],
      },
    },
    { type: 'RMSNormalization' },
    { type: 'Dense', features: vocab },
  ],
};

describe('Transformer decoder block (tech report Figure 1)', () => {
  it('builds from a snake_case config and streams token by token, equal to layer mode', () => {
    const m = sl.build(decoder, { inputShape: [], inputDtype: 'int32', seed: 3 });
    expect(m.outputShape()).toEqual([vocab]);
    expect(m.receptiveField).toEqual([-Infinity, 0]);
    expect(m.params().map((p) => p.path)).toContain('layers.1.layer.layers.0.layers.1.query_key_value_projection.kernel');
    const tokens = sl.randomSequence([2, 40], { dtype: 'int32', low: 0, high: vocab, lowLength: 20 });
    const whole = m.layer(tokens);
    const stepped = sl.stepByStep(m, tokens, 1);
    sl.assertSequencesClose(stepped, whole, 'token-by-token decode vs layer', 1e-5, 1e-5);
    sl.verifyContract(m, { vocab, testReceptiveField: false });
  });
});

describe('a 20,000-step stream', () => {
  it('through windowed self-attention and an LSTM equals layer mode, and memory stops growing after the first step', async () => {
    const rt = await sl.createRuntime();
    const m = sl.build(
      sl.Serial([
        sl.DotProductSelfAttention({ numHeads: 2, unitsPerHead: 8, maxPastHorizon: 32 }),
        sl.Flatten(),
        sl.LSTM({ units: 16 }),
      ]),
      { inputShape: [16], runtime: rt },
    );
    const steps = 20_000;
    const x = sl.randomSequence([1, steps, 16], { randomLengths: false });
    const whole = m.layer(x);
    const state = m.initialState(1);
    const out = { values: new Float32Array(16), mask: new Uint8Array(1) };
    const streamed = new Float32Array(steps * 16);
    const block = sl.Sequence.zeros([1, 1, 16]);
    let bytesAfterFirst = 0;
    for (let t = 0; t < steps; t++) {
      (block.values as Float32Array).set(x.values.subarray(t * 16, (t + 1) * 16));
      m.stepInto(block, state, out);
      streamed.set(out.values, t * 16);
      if (t === 0) bytesAfterFirst = rt.memory.buffer.byteLength;
    }
    expect(rt.memory.buffer.byteLength).toBe(bytesAfterFirst);
    let maxDiff = 0;
    for (let i = 0; i < streamed.length; i++) maxDiff = Math.max(maxDiff, Math.abs(streamed[i]! - whole.values[i]!));
    expect(maxDiff).toBeLessThanOrEqual(1e-5);
  });
});
