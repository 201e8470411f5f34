// Max/Min/AveragePooling1D, 2D and 3D: metadata against the reference's pooling_test.py
// formulas, the contract over pool sizes, strides, dilations and every padding (sampled for 2-D
// and 3-D), channel shapes and int32 inputs, the reference's masked-average examples, oracle
// values from PyTorch and NumPy (tools/fixtures_pooling.py), bad configs.
import { beforeAll, describe, expect, it } from 'vitest';
import * as sl from '../../src/index.js';
import { checkFixtureCase, loadFixture } from '../fixtures.js';

beforeAll(async () => {
  await sl.init();
});

const MODES = sl.PADDING_MODES;
const STEPPABLE = ['reverse_causal_valid', 'causal', 'reverse_causal', 'semicausal'];

/** The reference's pool types: [name, builder per dimensionality, extra config]. */
const TYPES = [
  ['min', [sl.MinPooling1D, sl.MinPooling2D, sl.MinPooling3D], {}],
  ['max', [sl.MaxPooling1D, sl.MaxPooling2D, sl.MaxPooling3D], {}],
  ['average', [sl.AveragePooling1D, sl.AveragePooling2D, sl.AveragePooling3D], { maskedAverage: false }],
  ['masked average', [sl.AveragePooling1D, sl.AveragePooling2D, sl.AveragePooling3D], { maskedAverage: true }],
] as const;

/** (pool size, stride, dilation) of pooling_test.py: 1x1, even and odd pools around the stride, pools around the dilation. */
const PARAMS = [
  [1, 1, 1], [2, 1, 1], [2, 2, 1], [2, 3, 1], [3, 2, 1], [3, 3, 1], [3, 4, 1],
  [1, 1, 2], [2, 1, 2], [3, 1, 2], [1, 1, 3], [2, 1, 3], [3, 1, 3],
] as const;

type Dims = 1 | 2 | 3;

/** A pooling config of `dims` dimensions with the same size, stride and dilation on every axis. */
function config(type: number, dims: Dims, [k, s, d]: readonly number[], time: sl.PaddingMode, spatial: sl.SpatialPadding = 'same'): sl.LayerConfig {
  const [, builders, extra] = TYPES[type]!;
  const base = { poolSize: k!, strides: s!, dilationRate: d!, ...extra };
  if (dims === 1) return (builders[0] as typeof sl.AveragePooling1D)({ ...base, padding: time });
  if (dims === 2) return (builders[1] as typeof sl.AveragePooling2D)({ ...base, timePadding: time, spatialPadding: spatial });
  return (builders[2] as typeof sl.AveragePooling3D)({ ...base, timePadding: time, spatialPadding: [spatial, spatial] });
}

/**
 * verifyContract on inputs around 3 blocks long with random lengths and on a random
 * non-contiguous mask; receptive fields must match exactly (the probe pushes each step up and
 * down, which moves a min or a max wherever that step is in its window).
 */
function checkContract(m: sl.Model): void {
  const int = m.inputSpec.dtype === 'int32';
  for (const [t, seed] of [[3 * m.blockSize - 1, 1], [3 * m.blockSize + 1, 2]] as const) {
    const x = sl.randomSequence([2, t + 9, ...m.inputSpec.shape], { seed, dtype: m.inputSpec.dtype, ...(int ? { low: -50, high: 50 } : {}) });
    sl.verifyContract(m, { x, testReceptiveField: seed === 1 });
  }
  const x = sl.randomSequence([2, 4 * m.blockSize + 7, ...m.inputSpec.shape], { randomMask: true, seed: 5, dtype: m.inputSpec.dtype });
  sl.verifyContract(m, { x, testReceptiveField: false });
}

/** Builds, checks the metadata against pooling_test.py's formulas, runs the contract. */
function sweep(type: number, dims: Dims, params: readonly number[], time: sl.PaddingMode, shape: number[], spatial: sl.SpatialPadding = 'same', dtype: sl.DType = 'float32'): void {
  const [k, s, d] = params as [number, number, number];
  const m = sl.build(config(type, dims, params, time, spatial), { inputShape: shape, inputDtype: dtype });
  try {
    const eks = (k - 1) * d + 1;
    const latency = time === 'reverse_causal_valid' || time === 'reverse_causal' ? eks - 1 : 0;
    expect([m.blockSize, m.outputRatio.toString(), m.supportsStep]).toEqual([s, s === 1 ? '1' : `1/${s}`, STEPPABLE.includes(time)]);
    expect([m.inputLatency, m.outputLatency]).toEqual([latency, Math.floor(latency / s)]);
    expect(m.params()).toEqual([]);
    expect(m.outputSpec.dtype).toBe(dtype);
    const spatialOut = shape.slice(0, dims - 1).map((n) => {
      const [left, right] = typeof spatial === 'string' ? sl.convolutionExplicitPadding(spatial, k, s, d) : spatial;
      return Math.ceil(Math.max(0, n + left + right - (eks - 1)) / s);
    });
    expect(m.outputShape()).toEqual([...spatialOut, ...shape.slice(dims - 1)]);
    checkContract(m);
  } catch (e) {
    throw new Error(`${TYPES[type]![0]} ${dims}-D (k, s, d) = (${params}) ${time}/${show(spatial)} [${shape}] ${dtype}: ${(e as Error).message}`);
  } finally {
    m.dispose();
  }
}

const show = (v: unknown) => JSON.stringify(v);

describe('metadata (inventory §1, §14)', () => {
  // pool 3, stride 2: [supportsStep, inputLatency, outputLatency, receptive field, buffer width, initial buffer mask]
  const table: Record<string, [boolean, number, number, [number, number], number, number]> = {
    valid: [false, 0, 0, [0, 2], 0, 0],
    same: [false, 0, 0, [-1, 1], 0, 0],
    causal_valid: [false, 0, 0, [-2, 0], 0, 0],
    reverse_causal_valid: [true, 2, 1, [0, 2], 2, 0], // the reference starts it valid (see convolution.test.ts: warm-up outputs)
    causal: [true, 0, 0, [-2, 0], 2, 0],
    reverse_causal: [true, 2, 1, [0, 2], 2, 0],
    semicausal: [true, 0, 0, [-1, 1], 1, 0],
    semicausal_full: [false, 0, 0, [-1, 1], 0, 0],
  };
  for (const [padding, [steps, inLat, outLat, rf, width, maskFill]] of Object.entries(table)) {
    it(padding, () => {
      for (const [type, pad] of [['max', -Infinity], ['min', Infinity], ['average', 0]] as const) {
        const cfg = { poolSize: 3, strides: 2, padding: padding as sl.PaddingMode };
        const m = sl.build(type === 'max' ? sl.MaxPooling1D(cfg) : type === 'min' ? sl.MinPooling1D(cfg) : sl.AveragePooling1D(cfg), { inputShape: [3, 2] });
        expect([m.supportsStep, m.inputLatency, m.outputLatency, m.receptiveField]).toEqual([steps, inLat, outLat, rf]);
        expect([m.blockSize, m.outputRatio.toString(), m.outputShape()]).toEqual([2, '1/2', [3, 2]]);
        const specs = m.root.stateSpecs(4);
        if (width === 0) expect(specs).toEqual([]);
        else {
          expect(specs.map((s) => [s.name, s.dtype, s.shape, s.fill])).toEqual([['values', 'float32', [4, width, 3, 2], pad], ['mask', 'uint8', [4, width], maskFill]]);
          const state = m.initialState(1);
          state.dispose();
        }
        m.dispose();
      }
    });
  }

  it('fills an int32 state with int min / int max / 0', () => {
    for (const [b, fill] of [[sl.MaxPooling1D, -2147483648], [sl.MinPooling1D, 2147483647], [sl.AveragePooling1D, 0]] as const) {
      const m = sl.build(b({ poolSize: 2, padding: 'causal' }), { inputShape: [3], inputDtype: 'int32' });
      expect(m.root.stateSpecs(1).map((s) => [s.dtype, s.fill])).toEqual([['int32', fill], ['uint8', 0]]);
      m.dispose();
    }
  });

  it('keeps no state when the stride covers the window (reverse_causal, pool 3, stride 4)', () => {
    const m = sl.build(sl.MaxPooling1D({ poolSize: 3, strides: 4, padding: 'reverse_causal' }), { inputShape: [3] });
    expect([m.inputLatency, m.outputLatency, m.root.stateSpecs(1)]).toEqual([2, 0, []]);
    m.dispose();
  });

  it('accepts the reference JSON spelling', () => {
    const m = sl.build({ type: 'AveragePooling3D', pool_size: [2, 3, 1], strides: 2, time_padding: 'causal', spatial_padding: ['valid', [1, 0]], masked_average: true }, { inputShape: [5, 4, 2] });
    expect([m.blockSize, m.outputShape()]).toEqual([2, [2, 3, 2]]); // ceil((5 - 2) / 2), ceil((4 + 1) / 2)
    m.dispose();
  });
});

describe('1-D contract: type × padding × (pool size, stride, dilation)', () => {
  TYPES.forEach(([name], type) => {
    for (const padding of MODES) {
      it(`${name} ${padding}`, () => {
        for (const p of PARAMS) sweep(type, 1, p, padding, [3]);
      });
    }
  });
});

describe('2-D and 3-D contract', () => {
  // 2-D: the whole product. 3-D: every other parameter triple, shifted so that every triple
  // meets every time padding across the four types.
  TYPES.forEach(([name], type) => {
    for (const [i, padding] of MODES.entries()) {
      it(`${name} ${padding}`, () => {
        PARAMS.forEach((p, j) => {
          sweep(type, 2, p, padding, [9, 2]);
          if ((i + j + type) % 2 === 0) sweep(type, 3, p, padding, [5, 4, 2]);
        });
      });
    }
  });

  it('every spatial padding, with time reverse_causal', () => {
    TYPES.forEach((_, type) => {
      for (const spatial of [...MODES, [1, 2], [0, 3]] as sl.SpatialPadding[]) {
        sweep(type, 2, [3, 2, 1], 'reverse_causal', [9], spatial);
        if (type % 2 === 0) sweep(type, 3, [3, 2, 1], 'reverse_causal', [5, 6], spatial);
      }
    });
  });

  it('channel shapes', () => {
    TYPES.forEach((_, type) => {
      for (const shape of [[], [3], [3, 5]]) sweep(type, 1, [3, 2, 1], 'reverse_causal', shape);
      for (const shape of [[9], [9, 5], [9, 5, 3]]) sweep(type, 2, [3, 2, 1], 'reverse_causal', shape, 'reverse_causal');
      for (const shape of [[6, 5], [6, 5, 5], [6, 5, 3, 2]]) sweep(type, 3, [3, 2, 1], 'reverse_causal', shape, 'reverse_causal');
    });
  });

  it('different sizes per axis', () => {
    const m = sl.build(sl.MaxPooling3D({ poolSize: [2, 3, 1], strides: [1, 2, 1], dilationRate: [2, 1, 1], timePadding: 'causal', spatialPadding: ['valid', [0, 1]] }), { inputShape: [7, 3, 4] });
    expect(m.outputShape()).toEqual([3, 4, 4]);
    checkContract(m);
    m.dispose();
  });
});

describe('int32 inputs (test_dtypes)', () => {
  TYPES.forEach(([name], type) => {
    it(name, () => {
      sweep(type, 1, [3, 2, 1], 'reverse_causal', [3], 'same', 'int32');
      sweep(type, 2, [3, 2, 1], 'reverse_causal', [9], 'reverse_causal', 'int32');
      sweep(type, 3, [3, 2, 1], 'reverse_causal', [5, 5], 'reverse_causal', 'int32');
      sweep(type, 1, [2, 1, 2], 'semicausal', [5], 'same', 'int32');
    });
  });
});

describe("masked average (the reference's test_masked_average)", () => {
  const values1d = [[1, 2, 3, 4, 5, 6], [3, 4, 5, 6, 7, 8], [5, 6, 7, 8, 9, 0], [2, 3, 0, 6, 2, 1], [0, 6, 2, 1, 7, 8]];
  const values2d = [
    [[1, 2], [2, 3], [5, 6], [7, 8], [9, 3], [4, 2]],
    [[2, 3], [5, 6], [7, 8], [9, 3], [3, 1], [2, 7]],
    [[5, 2], [7, 3], [0, 3], [3, 1], [2, 6], [1, 2]],
    [[7, 3], [0, 3], [3, 1], [2, 6], [1, 2], [3, 4]],
    [[0, 3], [3, 1], [2, 6], [1, 2], [3, 4], [5, 7]],
  ];
  const lengths = [0, 3, 4, 5, 6];
  const mask = [0, 0, 1, 0, 1, 1, 1, 1, 1, 1];

  function run(cfg: sl.LayerConfig, values: number[], shape: number[]): sl.Sequence {
    const m = sl.build(cfg, { inputShape: shape.slice(2) });
    try {
      return m.layer(sl.Sequence.fromLengths(Float32Array.from(values), shape, lengths)).maskInvalid();
    } finally {
      m.dispose();
    }
  }
  const close = (got: sl.Sequence, want: number[]) => {
    expect([...got.mask]).toEqual(mask);
    want.forEach((v, i) => expect(got.values[i]).toBeCloseTo(v, 5));
  };

  for (const masked of [true, false]) {
    it(`1-D maskedAverage=${masked}`, () => {
      const y = run(sl.AveragePooling1D({ poolSize: 3, strides: 3, padding: 'reverse_causal', maskedAverage: masked }), values1d.flat(), [5, 6]);
      close(y, [0, 0, 12 / 3, 0, 18 / 3, masked ? 8 : 8 / 3, 5 / 3, masked ? 8 / 2 : 8 / 3, 8 / 3, 16 / 3]);
    });

    // 2-D: pool (3, 2), stride (3, 2), reverse_causal in time and space; 3-D: the same values
    // stacked on a last axis of 2, pooled by 2 there too.
    const want2d = [
      0, 0,
      (2 + 5 + 7 + 3 + 6 + 8) / 6, 0,
      (5 + 7 + 0 + 2 + 3 + 3) / 6, (3 + 1) / (masked ? 2 : 6),
      (7 + 0 + 3 + 3 + 3 + 1) / 6, (2 + 1 + 6 + 2) / (masked ? 4 : 6),
      (0 + 3 + 2 + 3 + 1 + 6) / 6, (1 + 3 + 5 + 2 + 4 + 7) / 6,
    ];
    it(`2-D maskedAverage=${masked}`, () => {
      const cfg = sl.AveragePooling2D({ poolSize: [3, 2], strides: [3, 2], timePadding: 'reverse_causal', spatialPadding: 'reverse_causal', maskedAverage: masked });
      const y = run(cfg, values2d.flat(2), [5, 6, 2]);
      expect(y.shape).toEqual([5, 2, 1]);
      close(y, want2d);
    });
    it(`3-D maskedAverage=${masked}`, () => {
      const cfg = sl.AveragePooling3D({
        poolSize: [3, 2, 2], strides: [3, 2, 2], timePadding: 'reverse_causal', spatialPadding: ['reverse_causal', 'reverse_causal'], maskedAverage: masked,
      });
      const y = run(cfg, values2d.flat(2).flatMap((v) => [v, v]), [5, 6, 2, 2]);
      expect(y.shape).toEqual([5, 2, 1, 1]);
      close(y, want2d);
    });
  }
});

describe('oracle: torch max_pool/avg_pool 1d, 2d, 3d; NumPy masks, masked averages, int32', () => {
  const { cases } = loadFixture('pooling');
  for (const c of cases) it(c.name, () => checkFixtureCase(c));
});

describe('bad configs', () => {
  const build = (cfg: unknown, shape: number[] = [3], dtype: sl.DType = 'float32') => () => sl.build(cfg as sl.LayerConfig, { inputShape: shape, inputDtype: dtype });
  const fails = (fn: () => unknown, code: string, text: string) => {
    expect(fn).toThrow(sl.SeqLayersError);
    expect(fn).toThrow(`[${code}]`);
    expect(fn).toThrow(text);
  };

  it('pool_size, strides and dilation_rate must be >= 1', () => {
    fails(build({ type: 'MaxPooling1D', pool_size: 0 }), 'BAD_CONFIG', 'config.pool_size: expected an integer in [1, 16777216], got 0');
    fails(build({ type: 'AveragePooling1D', pool_size: 2, strides: 0 }), 'BAD_CONFIG', 'config.strides: expected an integer in [1, 16777216], got 0');
    fails(build({ type: 'MaxPooling2D', pool_size: [2, 0] }, [4]), 'BAD_CONFIG', 'config.pool_size: expected an integer >= 1 or a list of 2, got [2, 0]');
    fails(build({ type: 'MinPooling3D', pool_size: [2, 2] }, [4, 4]), 'BAD_CONFIG', 'config.pool_size: expected an integer >= 1 or a list of 3');
    fails(build({ type: 'MinPooling1D' }), 'BAD_CONFIG', 'needs field "pool_size"');
  });

  it('unknown paddings', () => {
    fails(build({ type: 'MaxPooling1D', pool_size: 2, padding: 'full' }), 'BAD_CONFIG', 'config.padding: expected one of "valid", "same"');
    fails(build({ type: 'MaxPooling2D', pool_size: 2, time_padding: 'causal', spatial_padding: 'left' }, [4]), 'BAD_CONFIG', 'config.spatial_padding: expected one of');
    fails(build({ type: 'MaxPooling2D', pool_size: 2, spatial_padding: [1, -1] }, [4]), 'BAD_CONFIG', 'config.spatial_padding: expected one of');
    fails(build({ type: 'AveragePooling3D', pool_size: 2, spatial_padding: ['same'] }, [4, 4]), 'BAD_CONFIG', 'config.spatial_padding: expected a list of 2 entries');
    fails(build({ type: 'MaxPooling1D', pool_size: 2, masked_average: true }), 'BAD_CONFIG', 'MaxPooling1D has no field "masked_average"');
  });

  it('causal_valid, same, valid and semicausal_full cannot step', () => {
    for (const padding of ['causal_valid', 'same', 'valid', 'semicausal_full'] as const) {
      const m = sl.build(sl.MaxPooling1D({ poolSize: 3, padding }), { inputShape: [2] });
      expect(m.supportsStep).toBe(false);
      const state = m.initialState(1);
      fails(() => m.step(sl.randomSequence([1, 2, 2]), state), 'NOT_STEPPABLE', 'this model cannot step (MaxPooling1D at the root has supportsStep = false)');
      state.dispose();
      m.dispose();
    }
  });

  it('input shapes and dtypes', () => {
    fails(build(sl.MaxPooling2D({ poolSize: 2 }), []), 'BAD_CONFIG', 'MaxPooling2D at config: expected an input channel shape [space, ...channels] (rank >= 1), got []');
    fails(build(sl.MaxPooling3D({ poolSize: 2 }), [4]), 'BAD_CONFIG', 'expected an input channel shape [space1, space2, ...channels] (rank >= 2), got [4]');
    fails(build(sl.MaxPooling1D({ poolSize: 2 }), [2], 'complex64'), 'BAD_CONFIG', 'expected float32 or int32 input, got complex64');
    fails(
      build(sl.AveragePooling2D({ poolSize: [2, 5], spatialPadding: 'valid' }), [4, 2]), 'BAD_CONFIG',
      'expected pool_size[1] = 5 (5 steps with dilation_rate 1) to fit the space axis: 4 input positions + 0 padding (spatial_padding "valid"), got an empty output',
    );
  });
});
