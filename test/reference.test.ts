// Models made, initialised and run by the reference itself (Google's SequenceLayers in JAX, via
// tools/fixtures_reference.py): their flax parameters load by their flax names
// (loadWeights(..., { naming: 'flax' })) and layer() gives the reference's output; the metadata
// (block size, output ratio, latencies, steppability, receptive field) is the reference's but
// for the departures listed below; then the contract (step() = layer() over block splits,
// padding and batch invariance) on the same input, and step() against the reference's own
// where the fixture has it (segment ids and positions streamed with the steps).
import { beforeAll, describe, expect, it } from 'vitest';
import * as sl from '../src/index.js';
import { checkFixtureCase, fixtureConstants, fixtureModel, loadFixture } from './fixtures.js';

beforeAll(async () => {
  await sl.init();
});

const fixture = loadFixture('reference');

/**
 * Where our metadata departs from the reference's on purpose, by case and field: the reason.
 * Every other field of every case must equal the reference's.
 */
const DEPARTURES: Record<string, Partial<Record<string, string>>> = {
  'DotProductSelfAttention: per-dim scale, sinks, T5, RoPE query network, RMSNorm key network': {
    receptive_field: "the reference leaves its networks out of the field; a RoPE counting valid steps reads every earlier mask (-inf), as the reference's RoPE declares itself",
  },
  'DotProductSelfAttentionV2: GQA, RoPE key network': { receptive_field: 'as above: the key network reads every earlier mask' },
  'sweep DotProductSelfAttention unlimited past': { supports_step: 'an unlimited past steps here with a growing KV cache (max_cache_steps); the reference cannot step it' },
  // Metadata the reference declares and its own layers do not have (found by random differential
  // testing; its gradient probe, test_utils._gradient_receptive_field, measures ours).
  'departure: Repeat of a reverse_causal Conv1D, 3 repeats (latencies)': {
    input_latency: "3 repeats of a latency-1 layer have latency 3; the reference declares twice the child's whatever num_repeats (its scan traces the body twice), and its own step() flushed by that is not its layer()",
    output_latency: 'as input_latency',
  },
  'departure: STFT then InverseSTFT semicausal_full (receptive field)': {
    receptive_field: 'the reference declares [-5, -1], leaving out the input step itself, on which its own gradient probe measures the output depends ([0, 0]: the pair reconstructs its input); ours, [-2, 2], is derived for the trimmed output and contains it',
  },
  'departure: Conv1DTranspose, Delay and two Upsample1D (receptive field)': {
    receptive_field: 'the reference declares [-1, -1]; its own gradient probe measures [-1, 0], as ours declares',
  },
};

/** A [batch, time] Sequence: one id or position per step (streamed with the steps). */
const perStep = (c: sl.Sequence | sl.ConstantArray): c is sl.Sequence => c instanceof sl.Sequence && c.shape.length === 2;

/** Our model's metadata in the fixture's terms. */
function metadataOf(m: sl.Model): Record<string, unknown> {
  const rf = m.receptiveField;
  return {
    block_size: m.blockSize,
    output_ratio: [m.outputRatio.num, m.outputRatio.den],
    input_latency: m.inputLatency,
    output_latency: m.outputLatency,
    supports_step: m.supportsStep,
    receptive_field: rf && rf.map((v) => (Number.isFinite(v) ? v : v > 0 ? 'inf' : '-inf')),
  };
}

describe('reference (JAX) models with their flax parameters', () => {
  for (const c of fixture.cases) {
    it(c.name, () => {
      checkFixtureCase(c);
      const { model, x } = fixtureModel(c);
      try {
        const ours = metadataOf(model), departures = DEPARTURES[c.name] ?? {};
        for (const [field, want] of Object.entries(c.metadata!)) {
          if (departures[field]) expect(ours[field], `${field} departs: ${departures[field]}`).not.toEqual(want);
          else expect(ours[field], field).toEqual(want);
        }
        // A source streamed in lock-step with x takes its blocks with the steps; conditioning
        // Sequences are as long as x (padded with it).
        const json = JSON.stringify(c.config);
        const streamed = /"type":"Streaming\w*"|"streaming":true/.test(json);
        const constants = fixtureConstants(c);
        const opts = { constants, streamConstants: streamed, padConstants: streamed || json.includes('"Conditioning"') };
        if (c.step_output) {
          // Segment ids and positions ([batch, time] Sequences) come with the steps, sources whole.
          const want = new sl.Sequence(Float32Array.from(c.step_output.values), x.mask, c.step_output.shape);
          const ids = Object.keys(constants!).filter((k) => perStep(constants![k]!)), latency = model.outputLatency;
          const stepped = sl.stepByStep(model, x.padTime(0, latency, false), c.step_output.block, constants, ids).sliceTime(latency, latency + x.time);
          sl.assertSequencesClose(stepped, want, "the reference's step()", c.rtol, c.atol);
          sl.verifyContract(model, { ...opts, x, streamConstants: ids, padConstants: ids, testReceptiveField: false });
        } else if (model.supportsStep) sl.verifyContract(model, { ...opts, x, testReceptiveField: false });
      } finally {
        model.dispose();
      }
    });
  }

  it('getWeights names them back as flax does; the params alone (no collection) load too; a seqlayers name is not a flax one', () => {
    const batchNorm = fixture.cases.find((c) => c.name.includes('BatchNormalization'))!;
    const { model: bn } = fixtureModel(batchNorm);
    expect(Object.keys(bn.getWeights({ naming: 'flax' })).sort()).toEqual(Object.keys(batchNorm.weights).sort());
    expect(Object.keys(batchNorm.weights)).toContain('batch_stats/layers_3/BatchNorm_0/mean');
    bn.dispose();
    const c = fixture.cases[0]!;
    const { model } = fixtureModel(c);
    const flax = model.getWeights({ naming: 'flax' });
    expect(Object.keys(flax).sort()).toEqual(Object.keys(c.weights).sort());
    model.loadWeights(Object.fromEntries(Object.entries(flax).map(([k, t]) => [k.replace(/^params\//, ''), t])), { naming: 'flax' });
    expect(() => model.loadWeights(model.getWeights(), { naming: 'flax' })).toThrow(/^\[BAD_WEIGHTS\] missing parameters \["params\/encoder\/kernel"/);
    // Each naming's names given to the other: the error says which to pass.
    expect(() => model.loadWeights(model.getWeights(), { naming: 'flax' })).toThrow(/; the tensors given are named like seqlayers paths \("layers\.0\.kernel"\): leave naming out$/);
    expect(() => model.loadWeights(flax)).toThrow(/; the tensors given are named like flax variables \("params\/.*"\): pass naming 'flax' \(build: weightNaming: 'flax'; CLI: --weight-naming flax\)$/);
    expect(() => model.loadWeights(flax, { naming: 'jax' as never })).toThrow('[BAD_ARGUMENT] loadWeights: expected naming "seqlayers" or "flax", got "jax"');
    model.dispose();
    expect(() => sl.build(c.config, { inputShape: [3], weightNaming: 'keras' as never })).toThrow('[BAD_ARGUMENT] build: weightNaming: expected naming "seqlayers" or "flax", got "keras"');
    const built = sl.build(c.config, { inputShape: [3], weights: flax, weightNaming: 'flax' });
    expect(built.getWeights({ naming: 'flax' })['params/encoder/kernel']!.data).toEqual(flax['params/encoder/kernel']!.data);
    built.dispose();
  });

  it("a named BatchNormalization's statistics sit under its name twice: the reference names its nn.BatchNorm name=config.name", () => {
    const unnamed = fixture.cases.find((c) => c.name.includes('BatchNormalization'))!;
    const layers = [...(unnamed.config.layers as object[])];
    layers[3] = { ...layers[3], name: 'bn' };
    const weights = Object.fromEntries(Object.entries(unnamed.weights).map(([k, w]) => [k.replace('/layers_3/BatchNorm_0/', '/bn/bn/'), w]));
    const named = { ...unnamed, config: { ...unnamed.config, layers }, weights };
    expect(Object.keys(weights)).toContain('batch_stats/bn/bn/mean');
    checkFixtureCase(named);
    const { model } = fixtureModel(named);
    expect(Object.keys(model.getWeights({ naming: 'flax' })).sort()).toEqual(Object.keys(weights).sort());
    model.dispose();
  });
});
