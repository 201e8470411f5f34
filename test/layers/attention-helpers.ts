// Shared by the attention tests: the oracle fixture check with constants.
import * as sl from '../../src/index.js';
import { checkFixtureCase, fixtureConstants, fixtureModel, type FixtureCase } from '../fixtures.js';

/**
 * Checks a fixture case against its oracle: layer() (checkFixtureCase), then step() in blocks of
 * 1 and 3 steps, flushed by the input latency (streaming layers get their source block by block).
 */
export function checkAttentionCase(c: FixtureCase): void {
  checkFixtureCase(c);
  const { model, x } = fixtureModel(c);
  try {
    if (!model.supportsStep) return;
    const constants = fixtureConstants(c);
    const expected = new sl.Sequence(Float32Array.from(c.output.values), x.mask, c.output.shape);
    const streamed = c.config.type.startsWith('Streaming');
    for (const blocks of [1, 3]) {
      const chunk = blocks * model.blockSize;
      const y = sl.stepByStep(model, x.padTime(0, model.inputLatency, false), chunk, constants, streamed).sliceTime(model.outputLatency, model.outputLatency + x.time);
      sl.assertSequencesClose(y, expected, `${c.name} (step, ${chunk} per call)`, c.rtol, c.atol);
    }
  } finally {
    model.dispose();
  }
}
