// Conditioning (src/layers/conditioning.ts): the reference's test cases (conditioning_test.py)
// through verifyContract (conditioning Sequences padded and streamed with x, arrays broadcast
// over time) with random weights, parameter shapes, its hand-computed examples, oracle fixtures
// (tools/fixtures_position.py: a torch implementation of the reference's formulas), and bad
// configs and constants.
import { beforeAll, describe, expect, it } from 'vitest';
import * as sl from '../../src/index.js';
import { checkFixtureCase, loadFixture } from '../fixtures.js';
import { paramShapes, randomizeWeights } from './helpers.js';

beforeAll(async () => {
  await sl.init();
});

/** [projection, combination, x channel shape, c channel shape, expected output channel shape (, projection channel shape)]. */
type Projection = (typeof sl.CONDITIONING_PROJECTIONS)[number];
type Combination = (typeof sl.CONDITIONING_COMBINATIONS)[number];
type Row = [Projection, Combination, number[], number[], number[]] | [Projection, Combination, number[], number[], number[], number[]];

// conditioning_test.py test_conditioning_sequence (test_conditioning_tensor: the same without linear/mul).
const SEQUENCE: Row[] = [
  ['identity', 'add', [], [], []],
  ['identity', 'add', [], [5], [5]],
  ['identity', 'add', [], [2, 5], [2, 5]],
  ['identity', 'add', [2], [], [2]],
  ['identity', 'add', [2, 5], [], [2, 5]],
  ['identity', 'add', [5], [5], [5]],
  ['identity', 'add', [5], [2, 5], [2, 5]],
  ['identity', 'add', [2, 5], [5], [2, 5]],
  ['identity', 'add', [3, 1, 5], [2, 5], [3, 2, 5]],
  ['identity', 'add', [2, 5], [3, 1, 5], [3, 2, 5]],
  ['identity', 'concat', [], [], [2]],
  ['identity', 'concat', [], [5], [6]],
  ['identity', 'concat', [], [2, 5], [2, 6]],
  ['identity', 'concat', [2], [], [3]],
  ['identity', 'concat', [2, 5], [], [2, 6]],
  ['identity', 'concat', [5], [7], [12]],
  ['identity', 'concat', [5], [2, 7], [2, 12]],
  ['identity', 'concat', [2, 5], [7], [2, 12]],
  ['identity', 'concat', [3, 1, 5], [2, 7], [3, 2, 12]],
  ['identity', 'concat', [2, 5], [3, 1, 7], [3, 2, 12]],
  ['identity', 'concat_before', [], [], [2]],
  ['identity', 'concat_before', [], [5], [6]],
  ['identity', 'concat_before', [], [2, 5], [2, 6]],
  ['identity', 'concat_before', [2], [], [3]],
  ['identity', 'concat_before', [2, 5], [], [2, 6]],
  ['identity', 'concat_before', [5], [7], [12]],
  ['identity', 'concat_before', [5], [2, 7], [2, 12]],
  ['identity', 'concat_before', [2, 5], [7], [2, 12]],
  ['identity', 'concat_before', [3, 1, 5], [2, 7], [3, 2, 12]],
  ['identity', 'concat_before', [2, 5], [3, 1, 7], [3, 2, 12]],
  ['linear', 'add', [], [], []],
  ['linear', 'add', [], [5], []],
  ['linear', 'add', [], [2, 5], []],
  ['linear', 'add', [2], [], [2]],
  ['linear', 'add', [2, 5], [], [2, 5]],
  ['linear', 'add', [5], [7], [5]],
  ['linear', 'add', [7], [2, 5], [7]],
  ['linear', 'add', [2, 5], [7], [2, 5]],
  ['linear', 'add', [3, 1, 5], [2, 7], [3, 1, 5]],
  ['linear', 'add', [2, 7], [3, 1, 5], [2, 7]],
  ['linear', 'mul', [], [], []],
  ['linear', 'mul', [], [5], []],
  ['linear', 'mul', [], [2, 5], []],
  ['linear', 'mul', [2], [], [2]],
  ['linear', 'mul', [2, 5], [], [2, 5]],
  ['linear', 'mul', [5], [7], [5]],
  ['linear', 'mul', [7], [2, 5], [7]],
  ['linear', 'mul', [2, 5], [7], [2, 5]],
  ['linear', 'mul', [3, 1, 5], [2, 7], [3, 1, 5]],
  ['linear', 'mul', [2, 7], [3, 1, 5], [2, 7]],
  ['linear_affine', 'affine', [], [], []],
  ['linear_affine', 'affine', [], [5], []],
  ['linear_affine', 'affine', [], [2, 5], []],
  ['linear_affine', 'affine', [2], [], [2]],
  ['linear_affine', 'affine', [2, 5], [], [2, 5]],
  ['linear_affine', 'affine', [5], [7], [5]],
  ['linear_affine', 'affine', [7], [2, 5], [7]],
  ['linear_affine', 'affine', [2, 5], [7], [2, 5]],
  ['linear_affine', 'affine', [3, 1, 5], [2, 7], [3, 1, 5]],
  ['linear_affine', 'affine', [2, 7], [3, 1, 5], [2, 7]],
  ['linear', 'affine_shift', [], [], []],
  ['linear', 'affine_shift', [], [5], []],
  ['linear', 'affine_shift', [], [2, 5], []],
  ['linear', 'affine_shift', [2], [], [2]],
  ['linear', 'affine_shift', [2, 5], [], [2, 5]],
  ['linear', 'affine_shift', [5], [7], [5]],
  ['linear', 'affine_shift', [7], [2, 5], [7]],
  ['linear', 'affine_shift', [2, 5], [7], [2, 5]],
  ['linear', 'affine_shift', [3, 1, 5], [2, 7], [3, 1, 5]],
  ['linear', 'affine_shift', [2, 7], [3, 1, 5], [2, 7]],
  ['linear', 'affine_scale', [], [], []],
  ['linear', 'affine_scale', [], [5], []],
  ['linear', 'affine_scale', [], [2, 5], []],
  ['linear', 'affine_scale', [2], [], [2]],
  ['linear', 'affine_scale', [2, 5], [], [2, 5]],
  ['linear', 'affine_scale', [5], [7], [5]],
  ['linear', 'affine_scale', [7], [2, 5], [7]],
  ['linear', 'affine_scale', [2, 5], [7], [2, 5]],
  ['linear', 'affine_scale', [3, 1, 5], [2, 7], [3, 1, 5]],
  ['linear', 'affine_scale', [2, 7], [3, 1, 5], [2, 7]],
  ['linear', 'concat', [], [], [2]],
  ['linear', 'concat', [], [5], [2]],
  ['linear', 'concat', [], [2, 5], [2]],
  ['linear', 'concat', [2], [], [4]],
  ['linear', 'concat', [2, 5], [], [2, 10]],
  ['linear', 'concat', [5], [7], [10]],
  ['linear', 'concat', [7], [2, 5], [14]],
  ['linear', 'concat', [2, 5], [7], [2, 10]],
  ['linear', 'concat', [3, 1, 5], [2, 7], [3, 1, 10]],
  ['linear', 'concat', [2, 7], [3, 1, 5], [2, 14]],
  ['linear', 'concat_before', [], [], [2]],
  ['linear', 'concat_before', [], [5], [2]],
  ['linear', 'concat_before', [], [2, 5], [2]],
  ['linear', 'concat_before', [2], [], [4]],
  ['linear', 'concat_before', [2, 5], [], [2, 10]],
  ['linear', 'concat_before', [5], [7], [10]],
  ['linear', 'concat_before', [7], [2, 5], [14]],
  ['linear', 'concat_before', [2, 5], [7], [2, 10]],
  ['linear', 'concat_before', [3, 1, 5], [2, 7], [3, 1, 10]],
  ['linear', 'concat_before', [2, 7], [3, 1, 5], [2, 14]],
];

// test_projection_channel_shape: [..., projection channel shape, expected output channel shape].
const PROJECTION: Row[] = [
  ['linear', 'add', [], [], [], []],
  ['linear', 'add', [], [5], [], []],
  ['linear', 'add', [], [2, 5], [], []],
  ['linear', 'add', [2], [], [1], [2]],
  ['linear', 'add', [2, 5], [], [5], [2, 5]],
  ['linear', 'add', [5], [7], [1], [5]],
  ['linear', 'add', [7], [2, 5], [1], [7]],
  ['linear', 'add', [2, 5], [7], [2, 1], [2, 5]],
  ['linear', 'add', [3, 1, 5], [2, 7], [1, 1, 1], [3, 1, 5]],
  ['linear', 'add', [2, 7], [3, 1, 5], [1, 1], [2, 7]],
  ['linear_affine', 'affine', [], [], [], []],
  ['linear_affine', 'affine', [], [5], [], []],
  ['linear_affine', 'affine', [], [2, 5], [], []],
  ['linear_affine', 'affine', [2], [], [1], [2]],
  ['linear_affine', 'affine', [2, 5], [], [1, 1], [2, 5]],
  ['linear_affine', 'affine', [5], [7], [1], [5]],
  ['linear_affine', 'affine', [7], [2, 5], [1], [7]],
  ['linear_affine', 'affine', [2, 5], [7], [1, 1], [2, 5]],
  ['linear_affine', 'affine', [3, 1, 5], [2, 7], [1, 1, 1], [3, 1, 5]],
  ['linear_affine', 'affine', [2, 7], [3, 1, 5], [1, 1], [2, 7]],
  ['linear', 'concat', [], [], [2], [3]],
  ['linear', 'concat', [], [5], [2], [3]],
  ['linear', 'concat', [], [2, 5], [2], [3]],
  ['linear', 'concat', [2], [], [1], [3]],
  ['linear', 'concat', [2, 5], [], [2, 1], [2, 6]],
  ['linear', 'concat', [5], [7], [1], [6]],
  ['linear', 'concat', [7], [2, 5], [1], [8]],
  ['linear', 'concat', [2, 5], [7], [2, 1], [2, 6]],
  ['linear', 'concat', [3, 1, 5], [2, 7], [3, 1, 1], [3, 1, 6]],
  ['linear', 'concat', [2, 7], [3, 1, 5], [2, 1], [2, 8]],
  ['linear', 'concat_before', [], [], [2], [3]],
  ['linear', 'concat_before', [], [5], [2], [3]],
  ['linear', 'concat_before', [], [2, 5], [2], [3]],
  ['linear', 'concat_before', [2], [], [1], [3]],
  ['linear', 'concat_before', [2, 5], [], [2, 1], [2, 6]],
  ['linear', 'concat_before', [5], [7], [1], [6]],
  ['linear', 'concat_before', [7], [2, 5], [1], [8]],
  ['linear', 'concat_before', [2, 5], [7], [2, 1], [2, 6]],
  ['linear', 'concat_before', [3, 1, 5], [2, 7], [3, 1, 1], [3, 1, 6]],
  ['linear', 'concat_before', [2, 7], [3, 1, 5], [2, 1], [2, 8]],
  ['linear', 'affine_shift', [], [], [], []],
  ['linear', 'affine_shift', [], [5], [], []],
  ['linear', 'affine_shift', [], [2, 5], [], []],
  ['linear', 'affine_shift', [2], [], [1], [2]],
  ['linear', 'affine_shift', [2, 5], [], [1, 1], [2, 5]],
  ['linear', 'affine_shift', [5], [7], [1], [5]],
  ['linear', 'affine_shift', [7], [2, 5], [1], [7]],
  ['linear', 'affine_shift', [2, 5], [7], [1, 1], [2, 5]],
  ['linear', 'affine_shift', [3, 1, 5], [2, 7], [1, 1, 1], [3, 1, 5]],
  ['linear', 'affine_shift', [2, 7], [3, 1, 5], [1, 1], [2, 7]],
  ['linear', 'affine_scale', [], [], [], []],
  ['linear', 'affine_scale', [], [5], [], []],
  ['linear', 'affine_scale', [], [2, 5], [], []],
  ['linear', 'affine_scale', [2], [], [1], [2]],
  ['linear', 'affine_scale', [2, 5], [], [1, 1], [2, 5]],
  ['linear', 'affine_scale', [5], [7], [1], [5]],
  ['linear', 'affine_scale', [7], [2, 5], [1], [7]],
  ['linear', 'affine_scale', [2, 5], [7], [1, 1], [2, 5]],
  ['linear', 'affine_scale', [3, 1, 5], [2, 7], [1, 1, 1], [3, 1, 5]],
  ['linear', 'affine_scale', [2, 7], [3, 1, 5], [1, 1], [2, 7]],
];

// test_conditioning_sequence_streaming.
const STREAMING: Row[] = [
  ['identity', 'concat', [2, 5], [], [2, 6]],
  ['identity', 'concat_before', [2, 5], [], [2, 6]],
  ['linear', 'add', [5], [7], [5]],
  ['linear_affine', 'affine', [5], [7], [5]],
  ['linear', 'affine_scale', [5], [7], [5]],
  ['linear', 'affine_shift', [5], [7], [5]],
];

/** The expected parameters: dense.kernel [*Cc or [1], *P'], dense.bias [*P' or [1]]. */
function expectedParams(projection: string, c: number[], projected: number[]) {
  if (projection === 'identity') return {};
  const p = projected.length ? projected : [1];
  return { 'dense.kernel': [...(c.length ? c : [1]), ...p], 'dense.bias': p };
}

/** Builds the layer for x [2, 16, ...xShape] and the conditioning, checks shapes, randomises weights and verifies the contract. */
function check(config: sl.LayerConfig, xShape: number[], constant: sl.Sequence | sl.ConstantArray, expected: number[], params: object, opts: object = {}) {
  const constants = { test: constant };
  const m = sl.build(config, { inputShape: xShape, constants });
  try {
    expect(m.blockSize).toBe(1);
    expect(m.outputRatio.toString()).toBe('1');
    expect(m.receptiveField).toEqual([0, 0]);
    expect(m.outputShape()).toEqual(expected);
    expect(paramShapes(m)).toEqual(params);
    randomizeWeights(m);
    const x = sl.randomSequence([2, 16, ...xShape], { lowLength: 8, seed: 11 });
    sl.verifyContract(m, { x, constants, ...opts });
  } finally {
    m.dispose();
  }
}

const cSequence = (cShape: number[]) => sl.randomSequence([2, 16, ...cShape], { lowLength: 8, seed: 12 });
const cArray = (cShape: number[]): sl.ConstantArray => {
  const s = sl.randomSequence([2, 1, ...cShape], { randomLengths: false, seed: 13 });
  return { values: s.values, shape: [2, ...cShape] };
};
const label = (r: Row) => `${r[0]} ${r[1]}, x ${JSON.stringify(r[2])}, c ${JSON.stringify(r[3])}`;

describe('Conditioning on a Sequence', () => {
  for (const [projection, combination, xShape, cShape, expected] of SEQUENCE) {
    it(label([projection, combination, xShape, cShape, expected]), () => {
      const projected = projection === 'linear_affine' ? [2, ...xShape] : xShape;
      check(sl.Conditioning({ conditioningName: 'test', projection, combination }), xShape, cSequence(cShape), expected, expectedParams(projection, cShape, projected), { padConstants: true });
    });
  }
  for (const [projection, combination, xShape, cShape, expected] of STREAMING) {
    it(`streamed: ${label([projection, combination, xShape, cShape, expected])}`, () => {
      const projected = projection === 'linear_affine' ? [2, ...xShape] : xShape;
      check(sl.Conditioning({ conditioningName: 'test', projection, combination, streaming: true }), xShape, cSequence(cShape), expected, expectedParams(projection, cShape, projected), {
        padConstants: true, streamConstants: true,
      });
    });
  }
  for (const [projection, combination, xShape, cShape, pShape, expected] of PROJECTION as [Projection, Combination, number[], number[], number[], number[]][]) {
    it(`projectionChannelShape ${JSON.stringify(pShape)}: ${label([projection, combination, xShape, cShape, expected])}`, () => {
      const projected = projection === 'linear_affine' ? [2, ...pShape] : pShape;
      check(sl.Conditioning({ conditioningName: 'test', projection, combination, projectionChannelShape: pShape }), xShape, cSequence(cShape), expected, expectedParams(projection, cShape, projected), {
        padConstants: true,
      });
    });
  }
});

describe('Conditioning on an array (one vector per batch item)', () => {
  for (const [projection, combination, xShape, cShape, expected] of SEQUENCE.filter((r) => !(r[0] === 'linear' && r[1] === 'mul'))) {
    it(label([projection, combination, xShape, cShape, expected]), () => {
      const projected = projection === 'linear_affine' ? [2, ...xShape] : xShape;
      check(sl.Conditioning({ conditioningName: 'test', projection, combination }), xShape, cArray(cShape), expected, expectedParams(projection, cShape, projected));
    });
  }
});

describe("the reference's hand-computed examples", () => {
  const seq = (values: number[][][] | number[][][][], mask: number[][]) => {
    const flat = values.flat(3) as number[];
    const shape = [values.length, values[0]!.length, ...(Array.isArray(values[0]![0]![0]) ? [(values[0]![0] as number[][]).length, (values[0]![0]![0] as number[]).length] : [(values[0]![0] as number[]).length])];
    return new sl.Sequence(Float32Array.from(flat), Uint8Array.from(mask.flat()), shape);
  };
  const run = (combination: string, x: sl.Sequence, c: sl.Sequence | sl.ConstantArray) => {
    const constants = { test: c };
    // `combination` may be spelled in another case ('ADD'), which the config accepts.
    const m = sl.build(sl.Conditioning({ conditioningName: 'test', projection: 'identity', combination: combination as Combination }), { inputShape: [...x.channelShape], constants });
    const y = m.layer(x, { constants }).maskInvalid();
    const ys = sl.stepByStep(m, x, 1, constants).maskInvalid();
    m.dispose();
    expect(Array.from(ys.values)).toEqual(Array.from(y.values));
    expect(Array.from(ys.mask)).toEqual(Array.from(y.mask));
    return y;
  };
  const x3 = seq([[[1, 2, 3], [4, 5, 6], [0, 0, 0]], [[0, 0, 0], [2, 4, 6], [3, 5, 7]]], [[1, 1, 0], [0, 1, 1]]);

  it('adds a Sequence (masks AND-ed)', () => {
    const c = seq([
      [[[0, 0, 0], [0, 0, 0]], [[-1, -2, -3], [-5, -6, -7]], [[0, 0, 0], [0, 0, 0]]],
      [[[-4, -3, -2], [-8, -7, -6]], [[0, 0, 0], [0, 0, 0]], [[-2, -4, -6], [-1, -3, -5]]],
    ], [[0, 1, 0], [1, 0, 1]]);
    const y = run('ADD', x3, c);
    expect(y.shape).toEqual([2, 3, 2, 3]);
    expect(Array.from(y.mask)).toEqual([0, 1, 0, 0, 0, 1]);
    expect(Array.from(y.values)).toEqual([
      0, 0, 0, 0, 0, 0, 3, 3, 3, -1, -1, -1, 0, 0, 0, 0, 0, 0,
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 2,
    ]);
  });

  it('adds an array to every step', () => {
    const c = { values: Float32Array.from([-1, -2, -3, -5, -6, -7, -4, -3, -2, -8, -7, -6]), shape: [2, 2, 3] };
    const y = run('add', x3, c);
    expect(Array.from(y.mask)).toEqual([1, 1, 0, 0, 1, 1]);
    expect(Array.from(y.values)).toEqual([
      0, 0, 0, -4, -4, -4, 3, 3, 3, -1, -1, -1, 0, 0, 0, 0, 0, 0,
      0, 0, 0, 0, 0, 0, -2, 1, 4, -6, -3, 0, -1, 2, 5, -5, -2, 1,
    ]);
  });

  const x4 = seq([
    [[[0, 0, 0, 0], [0, 0, 0, 0]], [[1, 2, 3, 4], [5, 6, 7, 8]], [[0, 0, 0, 0], [0, 0, 0, 0]]],
    [[[4, 3, 2, 1], [8, 7, 6, 5]], [[0, 0, 0, 0], [0, 0, 0, 0]], [[2, 4, 6, 8], [1, 3, 5, 7]]],
  ], [[0, 1, 0], [1, 0, 1]]);
  const c2 = seq([[[-1, -2], [-3, -4], [-5, -6]], [[-1, -3], [-3, -5], [-7, -9]]], [[1, 1, 0], [0, 1, 1]]);
  const zeros12 = Array(12).fill(0);

  it('concatenates after x', () => {
    const y = run('concat', x4, c2);
    expect(y.shape).toEqual([2, 3, 2, 6]);
    expect(Array.from(y.mask)).toEqual([0, 1, 0, 0, 0, 1]);
    expect(Array.from(y.values)).toEqual([...zeros12, 1, 2, 3, 4, -3, -4, 5, 6, 7, 8, -3, -4, ...zeros12, ...zeros12, ...zeros12, 2, 4, 6, 8, -7, -9, 1, 3, 5, 7, -7, -9]);
  });

  it('concatenates before x', () => {
    const y = run('concat_before', x4, c2);
    expect(Array.from(y.values)).toEqual([...zeros12, -3, -4, 1, 2, 3, 4, -3, -4, 5, 6, 7, 8, ...zeros12, ...zeros12, ...zeros12, -7, -9, 2, 4, 6, 8, -7, -9, 1, 3, 5, 7]);
  });
});

describe('streaming and slicing', () => {
  it('slices a whole conditioning Sequence by its time index while stepping, invalid past its end', () => {
    const c = sl.randomSequence([2, 5, 3], { lowLength: 2, seed: 21 });
    const constants = { test: c };
    const m = sl.build(sl.Conditioning({ conditioningName: 'test', projection: 'linear', combination: 'add' }), { inputShape: [3], constants });
    randomizeWeights(m);
    const x = sl.randomSequence([2, 8, 3], { randomLengths: false, seed: 22 });
    const y = sl.stepByStep(m, x, 3, constants);
    // Past step 5 the conditioning is missing: invalid; before, as layer() on the first 5 steps.
    expect(Array.from(y.mask).filter((_, i) => i % 8 >= 5)).toEqual([0, 0, 0, 0, 0, 0]);
    const yl = m.layer(x.sliceTime(0, 5), { constants }).maskInvalid();
    sl.assertSequencesClose(y.sliceTime(0, 5).maskInvalid(), yl, 'step vs layer');
    expect(paramShapes(m)).toEqual({ 'dense.kernel': [3, 3], 'dense.bias': [3] });
    m.dispose();
  });

  it('broadcasts a conditioning with batch 1, or time 1 (then given whole to every step: streaming)', () => {
    const c1 = sl.randomSequence([1, 16, 4], { lowLength: 8, seed: 23 });
    const ct = sl.randomSequence([2, 1, 4], { randomLengths: false, seed: 24 });
    for (const [c, streaming] of [[c1, false], [ct, true]] as const) {
      const constants = { test: c };
      const m = sl.build(sl.Conditioning({ conditioningName: 'test', projection: 'identity', combination: 'mul', streaming }), { inputShape: [4], constants });
      const x = sl.randomSequence([2, 16, 4], { lowLength: 8, seed: 25 });
      sl.verifyContract(m, { x, constants, padConstants: !streaming });
      const y = m.layer(x, { constants });
      for (let b = 0; b < 2; b++) {
        for (let t = 0; t < 16; t++) {
          if (!y.mask[b * 16 + t]) continue;
          const ci = streaming ? b : t;
          for (let j = 0; j < 4; j++) expect(y.values[(b * 16 + t) * 4 + j]).toBe(Math.fround(x.values[(b * 16 + t) * 4 + j]! * c.values[ci * 4 + j]!));
        }
      }
      m.dispose();
    }
  });

  it('a one-step Sequence is seen by every step when it is not streamed, as in layer() (found by fuzzing: only step 0 was valid)', () => {
    const c = sl.randomSequence([2, 1, 2], { seed: 8, randomLengths: false });
    for (const combination of ['add', 'concat'] as const) {
      const m = sl.build(sl.Conditioning({ conditioningName: 'c', projection: 'linear', combination }), { inputShape: [4], constants: { c } });
      const x = sl.randomSequence([2, 6, 4], { seed: 9, randomLengths: false });
      sl.assertSequencesClose(sl.stepByStep(m, x, 2, { c }), m.layer(x, { constants: { c } }), `step, ${combination}`, 0, 0);
      sl.verifyContract(m, { x, constants: { c } });
      m.dispose();
    }
  });
});

describe('bad configs and constants', () => {
  const c = sl.randomSequence([2, 16, 5]);
  const constants = { test: c };
  const build = (config: object, inputShape: number[] = [5], opts: object = { constants }) => () => sl.build({ type: 'Conditioning', conditioning_name: 'test', ...config }, { inputShape, ...opts });

  it('rejects unknown projections and combinations, naming the field', () => {
    expect(build({ projection: 'cubic', combination: 'add' })).toThrow(/\[BAD_CONFIG\] config\.projection: expected one of "identity", "linear", "linear_affine" \(any case\), got "cubic"/);
    expect(build({ projection: 'linear', combination: 'sum' })).toThrow(/\[BAD_CONFIG\] config\.combination: expected one of "add", "concat", .*got "sum"/);
  });

  it('rejects combinations with the wrong projection', () => {
    expect(build({ projection: 'linear', combination: 'affine' })).toThrow(/\[BAD_CONFIG\] Conditioning at config: combination "affine": expected projection "linear_affine", got "linear"/);
    expect(build({ projection: 'identity', combination: 'affine_shift' })).toThrow(/combination "affine_shift": expected projection "linear", got "identity"/);
    expect(build({ projection: 'identity', combination: 'affine_scale' })).toThrow(/combination "affine_scale": expected projection "linear", got "identity"/);
    expect(build({ projection: 'linear_affine', combination: 'add' })).toThrow(/projection "linear_affine": expected combination "affine", got "add"/);
  });

  // conditioning_test.py test_conditioning_invalid_shapes.
  for (const [combination, xShape, cShape] of [['add', [5], [6]], ['add', [3, 4, 5], [2, 5]], ['concat', [2, 5], [3, 7]], ['concat_before', [2, 5], [3, 7]]] as const) {
    it(`rejects ${combination} of x ${JSON.stringify(xShape)} and c ${JSON.stringify(cShape)}`, () => {
      const cc = { test: sl.randomSequence([2, 16, ...cShape]) };
      expect(build({ projection: 'identity', combination }, [...xShape], { constants: cc })).toThrow(
        new RegExp(`\\[BAD_CONFIG\\] Conditioning at config: combination "${combination}": expected channel shapes that broadcast`),
      );
    });
  }

  it('needs the conditioning at build time (MISSING_CONSTANT naming the key)', () => {
    expect(build({ projection: 'identity', combination: 'add' }, [5], {})).toThrow(
      /\[MISSING_CONSTANT\] Conditioning at config: constants\.test: expected a Sequence \[batch, time, \.\.\.channels\] or an array \[batch, \.\.\.channels\].*got nothing \(constants given: none\)/,
    );
    expect(build({ projection: 'identity', combination: 'add' }, [5], { constants: { test: sl.randomSequence([2, 4, 5], { dtype: 'int32' }) } })).toThrow(
      /\[MISSING_CONSTANT\].*constants\.test: expected a float32 Sequence.*got a Sequence \[2, 4, 5\] int32/,
    );
  });

  it('rejects missing or mis-shaped conditioning at run time (layer and step)', () => {
    const m = sl.build(sl.Conditioning({ conditioningName: 'test', projection: 'identity', combination: 'add' }), { inputShape: [5], constants });
    const x = sl.randomSequence([2, 16, 5]);
    expect(() => m.layer(x)).toThrow(/\[MISSING_CONSTANT\] Conditioning at config: constants\.test: expected a Sequence \[2 or 1, 16 or 1, 5\] float32, got nothing/);
    expect(() => m.layer(x, { constants: { test: sl.randomSequence([2, 16, 4]) } })).toThrow(/constants\.test: expected a Sequence \[2 or 1, 16 or 1, 5\] float32, got a Sequence \[2, 16, 4\] float32/);
    expect(() => m.layer(x, { constants: { test: sl.randomSequence([2, 15, 5]) } })).toThrow(/got a Sequence \[2, 15, 5\] float32/);
    expect(() => m.layer(x, { constants: { test: sl.randomSequence([3, 16, 5]) } })).toThrow(/got a Sequence \[3, 16, 5\] float32/);
    expect(() => m.layer(x, { constants: { test: { values: new Float32Array(10), shape: [2, 5] } } })).toThrow(/expected a Sequence \[2 or 1, 16 or 1, 5\] float32, got an array \[2, 5\] float32/);
    const state = m.initialState(2, { constants });
    expect(() => m.step(x.sliceTime(0, 4), state, { constants: { test: sl.randomSequence([2, 16, 3]) } })).toThrow(/constants\.test: expected a Sequence \[2 or 1, time, 5\] float32, got a Sequence \[2, 16, 3\] float32/);
    state.dispose();
    m.dispose();
  });
});

describe('oracle fixtures (tools/fixtures_position.py)', () => {
  const { cases } = loadFixture('conditioning');
  for (const c of cases) it(c.name, () => checkFixtureCase(c));
});
