// Arguments at the public API that are almost right: misspelled option keys, a bare array where
// a tensor goes, test helpers given what they do not compare. Each is a coded error naming what
// was given and what was expected, and changes nothing.
import { beforeAll, describe, expect, it } from 'vitest';
import * as sl from '../../src/index.js';
import { codedError as error } from '../errors.js';

beforeAll(async () => {
  await sl.init();
});

const dense = sl.Dense({ features: 2 });
const x = sl.Sequence.fromValues(new Float32Array(2), [1, 1, 2]);

describe('option keys', () => {
  it('an unknown key is BAD_ARGUMENT naming it, the key meant and the options (found in review: { seeds: 7 } built with seed 0)', () => {
    const m = sl.build(dense, { inputShape: [2], seed: 1 });
    const w = m.getWeights();
    const s = m.initialState(1);
    const out = { values: new Float32Array(2), mask: new Uint8Array(1) };
    const cases: [() => unknown, RegExp][] = [
      [() => sl.build(dense, { inputShape: [2], seeds: 7 } as never), /^\[BAD_ARGUMENT\] build: unknown option "seeds" \(did you mean "seed"\?\); the options are inputShape, inputDtype, seed, weights, weightNaming, runtime, constants$/],
      [() => sl.build(dense, { input_shape: [80] } as never), /build: unknown option "input_shape" \(did you mean "inputShape"\?\)/],
      [() => m.layer(x, { constant: {} } as never), /^\[BAD_ARGUMENT\] layer: unknown option "constant" \(did you mean "constants"\?\); the options are constants$/],
      [() => m.layerWithEmits(x, { constant: {} } as never), /layer: unknown option "constant"/],
      [() => m.initialState(1, { constant: {} } as never), /initialState: unknown option "constant"/],
      [() => m.step(x, s, { constant: {} } as never), /step: unknown option "constant"/],
      [() => m.stepWithEmits(x, s, { constant: {} } as never), /step: unknown option "constant"/],
      [() => m.stepInto(x, s, out, { constant: {} } as never), /stepInto: unknown option "constant"/],
      [() => m.step(x, s, 5 as never), /step: expected an options object, got 5/],
      [() => m.loadWeights(w, { allow_extra: true } as never), /^\[BAD_ARGUMENT\] loadWeights: unknown option "allow_extra" \(did you mean "allowExtra"\?\); the options are allowExtra, naming$/],
      [() => m.getWeights({ nameing: 'flax' } as never), /getWeights: unknown option "nameing" \(did you mean "naming"\?\)/],
      [() => sl.verifyContract(m, { xx: 1 } as never), /^\[BAD_ARGUMENT\] verifyContract: unknown option "xx" \(did you mean "x"\?\); the options are x, constants, /],
    ];
    for (const [call, message] of cases) {
      const e = error(call);
      expect(e.code).toBe('BAD_ARGUMENT');
      expect(e.message).toMatch(message);
    }
    // Nothing moved: the state steps as a new one, and inherited keys are no options.
    expect(m.step(x, s, Object.create({ stray: 1 }) as sl.RunOptions).values).toEqual(m.step(x, m.initialState(1)).values);
  });
});

describe('loadWeights', () => {
  it('a bare array where a tensor goes is named as such (found in review: "expected shape [2, 2], got undefined")', () => {
    const m = sl.build(dense, { inputShape: [2] });
    const w = m.getWeights();
    const e = error(() => m.loadWeights({ kernel: new Float32Array(4), bias: new Float32Array(2) } as never));
    expect(e.code).toBe('BAD_WEIGHTS');
    expect(e.message).toBe('[BAD_WEIGHTS] parameter "kernel": expected a tensor { dtype, shape, data }, got Float32Array(4)');
    expect(m.getWeights()).toEqual(w);
  });
});

describe('assertSequencesClose', () => {
  const S = sl.Sequence;
  it('refuses what is not a Sequence with BAD_ARGUMENT (found in review: an uncoded TypeError)', () => {
    const e = error(() => sl.assertSequencesClose([1] as never, S.fromValues([1], [1, 1, 1]), 'x'));
    expect(e.code).toBe('BAD_ARGUMENT');
    expect(e.message).toBe('[BAD_ARGUMENT] assertSequencesClose: expected actual to be a Sequence, got [1]');
    expect(error(() => sl.assertSequencesClose(S.fromValues([1], [1, 1, 1]), null as never, 'x')).message).toMatch(/expected expected to be a Sequence, got null/);
  });

  it('names the lengths when the longer one has valid steps past the shorter (found in review: "masks differ at step 2")', () => {
    expect(() => sl.assertSequencesClose(S.fromValues([1, 2], [1, 2, 1]), S.fromValues([1, 2, 3], [1, 3, 1]), 'x')).toThrow(
      /^x: expected 3 steps, got 2, and step 2 of batch 0, past the shorter one's end, is valid \(steps there must be invalid\)$/,
    );
    // Invalid extra steps still agree, and a mask difference within both is named as before.
    sl.assertSequencesClose(S.fromValues([1, 2], [1, 2, 1]), S.fromLengths([1, 2, 3], [1, 3, 1], [2]), 'x');
    expect(() => sl.assertSequencesClose(S.fromLengths([1, 2], [1, 2, 1], [1]), S.fromValues([1, 2], [1, 2, 1]), 'x')).toThrow(/masks differ at batch 0, step 1/);
  });
});
