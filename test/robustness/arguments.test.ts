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
