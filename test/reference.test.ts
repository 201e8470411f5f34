// Models made, initialised and run by the reference itself (Google's SequenceLayers in JAX, via
// tools/fixtures_reference.py): their flax parameters load by their flax names
// (loadWeights(..., { naming: 'flax' })) and layer() gives the reference's output; then the
// contract (step() = layer() over block splits, padding and batch invariance) on the same input.
import { beforeAll, describe, expect, it } from 'vitest';
import * as sl from '../src/index.js';
import { checkFixtureCase, fixtureConstants, fixtureModel, loadFixture } from './fixtures.js';

beforeAll(async () => {
  await sl.init();
});

const fixture = loadFixture('reference');

describe('reference (JAX) models with their flax parameters', () => {
  for (const c of fixture.cases) {
    it(c.name, () => {
      checkFixtureCase(c);
      const { model, x } = fixtureModel(c);
      try {
        // A source streamed in lock-step with x takes its blocks with the steps; conditioning
        // Sequences are as long as x (padded with it).
        const json = JSON.stringify(c.config);
        const streamed = /"type":"Streaming\w*"|"streaming":true/.test(json);
        const opts = { constants: fixtureConstants(c), streamConstants: streamed, padConstants: streamed || json.includes('"Conditioning"') };
        if (model.supportsStep) sl.verifyContract(model, { ...opts, x, testReceptiveField: false });
      } finally {
        model.dispose();
      }
    });
  }

  it('getWeights names them back as flax does (without the collection); a seqlayers name is not a flax one', () => {
    const c = fixture.cases[0]!;
    const { model } = fixtureModel(c);
    const flax = model.getWeights({ naming: 'flax' });
    // The fixture holds flax's variables by collection ('params/encoder/kernel'); the params alone load too.
    expect(Object.keys(flax).map((k) => `params/${k}`).sort()).toEqual(Object.keys(c.weights).sort());
    model.loadWeights(flax, { naming: 'flax' });
    expect(() => model.loadWeights(model.getWeights(), { naming: 'flax' })).toThrow(/^\[BAD_WEIGHTS\] missing parameters \["encoder\/kernel"/);
    expect(() => model.loadWeights(flax, { naming: 'jax' as never })).toThrow('[BAD_ARGUMENT] loadWeights: expected naming "seqlayers" or "flax", got "jax"');
    model.dispose();
    expect(() => sl.build(c.config, { inputShape: [3], weightNaming: 'keras' as never })).toThrow('[BAD_ARGUMENT] build: weightNaming: expected naming "seqlayers" or "flax", got "keras"');
    const built = sl.build(c.config, { inputShape: [3], weights: flax, weightNaming: 'flax' });
    expect(built.getWeights({ naming: 'flax' })['encoder/kernel']!.data).toEqual(flax['encoder/kernel']!.data);
    built.dispose();
  });
});
