// Activation, pointwise and simple parametric layers (src/layers/simple.ts): the reference's
// test cases (simple_test.py) through verifyContract, parameters and metadata, the oracle
// fixtures (tools/fixtures_simple.py), lookups outside the table, the activation helper, and
// bad configs.
import { beforeAll, describe, expect, it } from 'vitest';
import * as sl from '../../src/index.js';
import { ACT } from '../../src/layers/simple.js';
import { seededRandom } from '../../src/util/hash.js';
import { checkFixtureCase, loadFixture } from '../fixtures.js';
import { randomizeWeights } from './helpers.js';

beforeAll(async () => {
  await sl.init();
});

/** Builds `config` for `shape` (channels), optionally randomises weights, runs verifyContract, returns the model's output shape. */
function contract(config: sl.LayerConfig, shape: number[], { dtype, positive, random, ...opts }: sl.ContractOptions & { dtype?: sl.DType; positive?: boolean; random?: number } = {}): readonly number[] {
  const m = sl.build(config, { inputShape: shape, inputDtype: dtype });
  try {
    expect([m.blockSize, m.outputRatio.toString(), m.inputLatency, m.outputLatency, m.supportsStep]).toEqual([1, '1', 0, 0, true]);
    expect(m.receptiveField).toEqual([0, 0]);
    if (random !== undefined) randomizeWeights(m, 1, 0.5, random);
    const x = positive ? abs(sl.randomSequence([2, 17, ...shape], { seed: 11 })) : opts.x;
    const report = sl.verifyContract(m, { ...opts, x });
    return report.output.channelShape;
  } finally {
    m.dispose();
  }
}

function abs(x: sl.Sequence): sl.Sequence {
  return new sl.Sequence(x.values.map(Math.abs) as Float32Array, x.mask, x.shape);
}

/** Runs a model on an all-valid sequence of `values` [1, 1, ...shape] and returns the output values. */
function run1(config: sl.LayerConfig, shape: number[], values: number[], dtype: sl.DType = 'float32'): number[] {
  const m = sl.build(config, { inputShape: shape, inputDtype: dtype });
  try {
    return [...m.layer(sl.Sequence.fromValues(values, [1, 1, ...shape], dtype)).values];
  } finally {
    m.dispose();
  }
}

const badConfig = (config: sl.LayerConfig, shape: number[], message: RegExp, dtype?: sl.DType) =>
  expect(() => sl.build(config, { inputShape: shape, inputDtype: dtype })).toThrowError(
    expect.objectContaining({ code: 'BAD_CONFIG', message: expect.stringMatching(message) }),
  );

describe('activation codes', () => {
  it('mirror the ACT_* constants of assembly/activations.ts', () => {
    const k = sl.getRuntime().k as unknown as Record<string, WebAssembly.Global>;
    for (const [name, code] of Object.entries(ACT)) expect(k[`ACT_${name.toUpperCase()}`]!.value, name).toBe(code);
  });
});

describe('unary activations', () => {
  // The reference's PointwiseMathTest cases, on [4] and [5, 9] channels.
  const cases: [string, sl.LayerConfig, { positive?: boolean; random?: number }?][] = [
    ['Relu', sl.Relu()],
    ['Tanh', sl.Tanh()],
    ['Swish', sl.Swish()],
    ['Gelu', sl.Gelu()],
    ['Gelu exact', sl.Gelu({ approximate: false })],
    ['LeakyRelu', sl.LeakyRelu()],
    ['LeakyRelu 0.3', sl.LeakyRelu({ negativeSlope: 0.3 })],
    ['Abs', sl.Abs()],
    ['Power 2', sl.Power({ power: 2 })],
    ['Power 0.5', sl.Power({ power: 0.5 }), { positive: true }],
    ['Power 1.7', sl.Power({ power: 1.7 }), { positive: true }],
    ['PRelu', sl.PRelu(), { random: 0.2 }],
    ['Elu', sl.Elu()],
    ['Elu 0.5', sl.Elu({ alpha: 0.5 })],
    ['Exp', sl.Exp()],
    ['Log', sl.Log(), { positive: true }],
    ['Sigmoid', sl.Sigmoid()],
    ['Softplus', sl.Softplus()],
    ['Softmax', sl.Softmax()],
    ['Identity', sl.Identity()],
  ];
  for (const [name, config, opts] of cases) {
    for (const shape of [[4], [5, 9]]) {
      it(`${name} on ${JSON.stringify(shape)} passes the contract`, () => {
        expect(contract(config, shape, opts)).toEqual(shape);
      });
    }
  }

  it('compute the reference functions at chosen points', () => {
    const x = [-3, -0.5, 0, 0.5, 3];
    const close = (got: number[], want: number[]) => got.forEach((g, i) => expect(g).toBeCloseTo(want[i]!, 6));
    close(run1(sl.Relu(), [5], x), [0, 0, 0, 0.5, 3]);
    close(run1(sl.LeakyRelu({ negativeSlope: 0.1 }), [5], x), [-0.3, -0.05, 0, 0.5, 3]);
    close(run1(sl.Elu({ alpha: 2 }), [5], x), x.map((v) => (v > 0 ? v : 2 * Math.expm1(v))));
    close(run1(sl.Swish(), [5], x), x.map((v) => v / (1 + Math.exp(-v))));
    close(run1(sl.Power({ power: 3 }), [5], x), x.map((v) => v ** 3));
    close(run1(sl.Power({ power: -2 }), [5], [-2, -1, 0.5, 1, 4]), [0.25, 1, 4, 1, 1 / 16]);
    expect(run1(sl.Power({ power: 0.5 }), [3], [-1, 0, 4])).toEqual([NaN, 0, 2]);
    // An odd power keeps the sign of -0, past 64 too (found in review: (-0)^65 gave +0).
    for (const p of [3, 65, -3, -65]) expect(run1(sl.Power({ power: p }), [2], [-0, -1]).map((v) => Object.is(v, -0) ? '-0' : v)).toEqual([p > 0 ? '-0' : -Infinity, -1]);
    expect(run1(sl.Log(), [3], [-1, 0, 1])).toEqual([NaN, -Infinity, 0]);
  });

  it('PRelu keeps its slope in `negative_slope` []', () => {
    const m = sl.build(sl.PRelu({ negativeSlopeInit: 0.2 }), { inputShape: [3] });
    try {
      const w = m.getWeights();
      expect(Object.keys(w)).toEqual(['negative_slope']);
      expect(w.negative_slope!.shape).toEqual([]);
      expect(w.negative_slope!.data[0]).toBeCloseTo(0.2, 7);
      m.loadWeights({ negative_slope: { dtype: 'F32', shape: [], data: Float32Array.of(0.5) } });
      expect([...m.layer(sl.Sequence.fromValues([-2, 0, 2], [1, 1, 3])).values]).toEqual([-1, 0, 2]);
    } finally {
      m.dispose();
    }
  });

  it('Abs of complex64 is the float32 magnitude', () => {
    const shape = [3];
    expect(contract(sl.Abs(), shape, { dtype: 'complex64' })).toEqual(shape);
    const values = [3, 4, -1e30, 1e30, 0, -2];
    const m = sl.build(sl.Abs(), { inputShape: shape, inputDtype: 'complex64' });
    try {
      const y = m.layer(new sl.Sequence(Float32Array.from(values), Uint8Array.of(1), [1, 1, 3], 'complex64'));
      expect(y.dtype).toBe('float32');
      expect([...y.values]).toEqual([5, Math.fround(Math.hypot(1e30, 1e30)), 2]);
    } finally {
      m.dispose();
    }
  });
});

describe('Softmax', () => {
  // The reference's axis cases on [4, 3]; positive axes index [batch, time, ...channels].
  for (const axis of [-1, -2, 2, 3]) {
    it(`normalises axis ${axis} of [4, 3]`, () => {
      expect(contract(sl.Softmax({ axis }), [4, 3])).toEqual([4, 3]);
      const y = run1(sl.Softmax({ axis }), [4, 3], Array.from({ length: 12 }, (_, i) => i * 0.3));
      const along = axis === -1 || axis === 3 ? [3, 1, 4] : [4, 3, 1]; // [n, stride, groups]
      for (let g = 0; g < along[2]!; g++) {
        let s = 0;
        for (let j = 0; j < along[0]!; j++) s += y[(along[1] === 1 ? g * 3 : g) + j * along[1]!]!;
        expect(s).toBeCloseTo(1, 6);
      }
    });
  }
  it('keeps a NaN to its own step, and all -Inf but one gives a one-hot', () => {
    expect(run1(sl.Softmax(), [3], [NaN, 1, 2]).every(Number.isNaN)).toBe(true);
    expect(run1(sl.Softmax(), [3], [-Infinity, 5, -Infinity])).toEqual([0, 1, 0]);
  });
  for (const [shape, axis] of [[[4], -2], [[4], -3], [[4], 0], [[4], 1], [[], -1], [[4], 3]] as const) {
    it(`rejects axis ${axis} for channels ${JSON.stringify(shape)}`, () => {
      badConfig(sl.Softmax({ axis }), [...shape], new RegExp(`Softmax at config: expected axis to be a channel axis .*got axis=${axis}`));
    });
  }
});

describe('Snake', () => {
  for (const shape of [[5], [5, 9]]) {
    for (const separateBeta of [false, true]) {
      it(`separateBeta=${separateBeta} on ${JSON.stringify(shape)}: parameters and contract`, () => {
        const m = sl.build(sl.Snake({ separateBeta }), { inputShape: shape });
        try {
          const w = m.getWeights();
          expect(Object.keys(w).sort()).toEqual(separateBeta ? ['alpha_log', 'beta_log'] : ['alpha_log']);
          for (const t of Object.values(w)) {
            expect(t.shape).toEqual(shape);
            expect([...t.data].every((v) => v === 0)).toBe(true);
          }
        } finally {
          m.dispose();
        }
        contract(sl.Snake({ separateBeta }), shape, { random: 0 });
      });
    }
  }
});

describe('broadcasting constants', () => {
  const layers = [
    ['Scale', (v: number | unknown[]) => sl.Scale({ scale: v }), (x: number, c: number) => x * c],
    ['Add', (v: number | unknown[]) => sl.Add({ shift: v }), (x: number, c: number) => x + c],
    ['Maximum', (v: number | unknown[]) => sl.Maximum({ maximum: v }), Math.max],
    ['Minimum', (v: number | unknown[]) => sl.Minimum({ minimum: v }), Math.min],
    ['Mod', (v: number | unknown[]) => sl.Mod({ divisor: v }), (x: number, c: number) => x - Math.floor(x / c) * c],
  ] as const;
  const arange5 = [0.5, 1, 1.5, 2, 2.5];
  for (const [name, make, op] of layers) {
    describe(name, () => {
      it('takes a scalar (reference test_basic shapes)', () => {
        for (const shape of [[5], [5, 9]]) expect(contract(make(0.75), shape)).toEqual(shape);
        const x = [-2, -0.5, 0.25, 1, 3];
        run1(make(0.75), [5], x).forEach((y, i) => expect(y).toBeCloseTo(op(x[i]!, 0.75), 6));
      });
      it('takes an array over the last axis (test_ndarray shapes)', () => {
        for (const shape of [[5], [9, 5]]) expect(contract(make(arange5), shape)).toEqual(shape);
        const x = [3, -3, 0.7, -1.2, 9];
        run1(make(arange5), [5], x).forEach((y, i) => expect(y).toBeCloseTo(op(x[i]!, arange5[i]!), 6));
      });
      it('broadcasts [5, 1] against [5, 9] (test_broadcast)', () => {
        const c = Array.from({ length: 5 }, (_, i) => Array.from({ length: 9 }, (_, j) => 0.5 + i + j / 10));
        expect(contract(make(c), [5, 1])).toEqual([5, 9]);
        const y = run1(make(c), [5, 1], [1, 2, 3, 4, 5]);
        y.forEach((v, k) => expect(v).toBeCloseTo(op(1 + Math.floor(k / 9), c[Math.floor(k / 9)]![k % 9]!), 5));
      });
      it('rejects too many dimensions and shapes that do not broadcast', () => {
        const ones = (s: number[]): unknown => (s.length ? Array.from({ length: s[0]! }, () => ones(s.slice(1))) : 1);
        badConfig(make(ones([5, 5, 5]) as unknown[]), [5, 1], /at most 2 dimensions \(the input channel rank\), got shape \[5, 5, 5\]/);
        badConfig(make(ones([5]) as unknown[]), [5, 9], /of shape \[5\] to broadcast with the input channel shape \[5, 9\]/);
      });
    });
  }
  it('Mod takes the sign of the divisor and gives NaN for a zero divisor', () => {
    expect(run1(sl.Mod({ divisor: [3, -3, 3, -3, 0] }), [5], [-7, 7, 7, -7, 1])).toEqual([2, -2, 1, -1, NaN]);
    expect(run1(sl.Mod({ divisor: 0.1 }), [2], [1e6, -0.35]).map((v) => +v.toFixed(5))).toEqual([Math.fround(Math.fround(1e6) % Math.fround(0.1)), Math.fround(0.05)].map((v) => +v.toFixed(5)));
  });
  it('Mod is exact for every quotient, as jnp.mod (found in review: past |x / d| = 2^29 it left [0, d), 3e38 mod 3 gave 0)', () => {
    // JS % is the exact fmod of doubles; jnp.mod then adds d to a remainder of the other sign, in float32.
    const want = (x: number, d: number) => {
      const r = x % d;
      return Math.fround(r !== 0 && r < 0 !== d < 0 ? r + d : r);
    };
    const random = seededRandom(5);
    const xs = Float32Array.from({ length: 64 }, (_, i) => (random() - 0.5) * 10 ** ((i % 16) * 2.5 - 12));
    xs.set([3e38, -3e38, 1e12, 7, -7, 16777217, 2 ** 60, -(2 ** 100)], 0);
    for (const d of [0.7, 3, -3, 1e-3, 1e-30, -2.5e-20, 1e20, 2 ** -126]) {
      const got = run1(sl.Mod({ divisor: d }), [64], Array.from(xs));
      xs.forEach((x, i) => expect(got[i], `${x} mod ${Math.fround(d)}`).toBe(want(x, Math.fround(d))));
    }
  });
  it('rejects a ragged array', () => {
    badConfig({ type: 'Scale', scale: [[1, 2], [3]] }, [2], /config\.scale: expected a number or a \(rectangular\) nested list of numbers/);
  });
});

describe('Affine', () => {
  // The reference's float32 cases, on channels [4, 3].
  const cases: { shape?: number[]; useScale?: boolean; useBias?: boolean }[] = [
    {}, { shape: [4, 3], useBias: false }, { shape: [4, 3] }, { shape: [3], useBias: false }, { shape: [3] },
    { shape: [3], useScale: false }, { shape: [4, 3], useScale: false },
  ];
  for (const config of cases) {
    it(`${JSON.stringify(config)}: parameters and contract`, () => {
      const m = sl.build(sl.Affine(config), { inputShape: [4, 3] });
      try {
        const w = m.getWeights();
        const names = [...(config.useBias === false ? [] : ['bias']), ...(config.useScale === false ? [] : ['scale'])];
        expect(Object.keys(w).sort()).toEqual(names);
        for (const t of Object.values(w)) expect(t.shape).toEqual(config.shape ?? []);
        if (w.scale) expect([...w.scale.data].every((v) => v === 1)).toBe(true);
        if (w.bias) expect([...w.bias.data].every((v) => v === 0)).toBe(true);
      } finally {
        m.dispose();
      }
      expect(contract(sl.Affine(config), [4, 3], { random: 1 })).toEqual([4, 3]);
    });
  }
  it('rejects parameters of too many dimensions or that do not broadcast', () => {
    badConfig(sl.Affine({ shape: [3, 5, 1] }), [5, 1], /Affine at config: expected shape with at most 2 dimensions/);
    badConfig(sl.Affine({ shape: [5, 5] }), [5, 9], /expected shape of shape \[5, 5\] to broadcast with the input channel shape \[5, 9\]/);
  });
});

describe('gated units', () => {
  // The reference's GatedUnitTest configurations on [6] and [5, 10].
  const configs: [string, sl.LayerConfig][] = [
    ['bilinear', sl.GatedUnit({})],
    ['SwiGLU', sl.GatedUnit({ gateActivation: 'swish' })],
    ['GeGLU', sl.GatedUnit({ gateActivation: 'gelu' })],
    ['swish, tanh', sl.GatedUnit({ featureActivation: 'swish', gateActivation: 'tanh' })],
    ['GatedTanhUnit', sl.GatedTanhUnit()],
    ['GatedLinearUnit', sl.GatedLinearUnit()],
  ];
  for (const [name, config] of configs) {
    for (const shape of [[6], [5, 10]]) {
      it(`${name} on ${JSON.stringify(shape)} halves the last axis and passes the contract`, () => {
        expect(contract(config, shape)).toEqual([...shape.slice(0, -1), shape.at(-1)! / 2]);
      });
    }
  }
  it('multiplies feature and gate halves', () => {
    const sig = (v: number) => 1 / (1 + Math.exp(-v));
    run1(sl.GatedLinearUnit(), [4], [1, -2, 0.5, 3]).forEach((y, i) => expect(y).toBeCloseTo([1 * sig(0.5), -2 * sig(3)][i]!, 6));
    run1(sl.GatedTanhUnit(), [2], [1, -1]).forEach((y) => expect(y).toBeCloseTo(Math.tanh(1) * sig(-1), 6));
  });
  it('rejects an odd last axis, no channel axis, and unknown activation names', () => {
    badConfig(sl.GatedUnit({}), [5], /GatedUnit at config: expected the last channel axis to have an even size .*got channel shape \[5\]/);
    badConfig(sl.GatedLinearUnit(), [], /got channel shape \[\]/);
    badConfig({ type: 'GatedUnit', feature_activation: 'mish' }, [4], /config\.feature_activation: expected one of "relu", .* or null, got "mish"/);
  });
});

describe('OneHot', () => {
  // The reference's shapes, depth 4.
  for (const shape of [[3], [5, 9], [5, 9, 2]]) {
    it(`on ${JSON.stringify(shape)}`, () => {
      expect(contract(sl.OneHot({ depth: 4 }), shape, { dtype: 'int32', vocab: 4 })).toEqual([...shape, 4]);
    });
  }
  it('gives zeros outside [0, depth), also for the garbage id 2^31 - 1', () => {
    expect(run1(sl.OneHot({ depth: 3 }), [4], [2, -1, 3, 2147483647], 'int32')).toEqual([0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  });
  it('rejects a float input', () => {
    badConfig(sl.OneHot({ depth: 3 }), [2], /OneHot at config: expected a int32 input \(integer ids\), got float32/);
  });
});

describe('Embedding', () => {
  for (const shape of [[3], [5, 9], [5, 9, 2]]) {
    it(`on ${JSON.stringify(shape)}: parameter and contract`, () => {
      const m = sl.build(sl.Embedding({ dimension: 8, numEmbeddings: 5 }), { inputShape: shape, inputDtype: 'int32' });
      try {
        const w = m.getWeights();
        expect(Object.keys(w)).toEqual(['embedding']);
        expect(w.embedding!.shape).toEqual([5, 8]);
      } finally {
        m.dispose();
      }
      expect(contract(sl.Embedding({ dimension: 8, numEmbeddings: 5 }), shape, { dtype: 'int32', vocab: 5 })).toEqual([...shape, 8]);
    });
  }
  it('wraps ids in [-n, 0) and gives NaN rows outside [-n, n), never reading outside the table', () => {
    const m = sl.build(sl.Embedding({ dimension: 2, numEmbeddings: 3, embeddingParamName: 'table' }), { inputShape: [6], inputDtype: 'int32' });
    try {
      m.loadWeights({ table: { dtype: 'F32', shape: [3, 2], data: Float32Array.of(1, 2, 3, 4, 5, 6) } });
      const y = [...m.layer(sl.Sequence.fromValues([0, 2, -1, -3, 3, 2147483647], [1, 1, 6], 'int32')).values];
      expect(y.slice(0, 8)).toEqual([1, 2, 5, 6, 5, 6, 1, 2]);
      expect(y.slice(8).every(Number.isNaN)).toBe(true);
      const z = [...m.layer(sl.Sequence.fromValues([-4, -2147483648, 1, 1, 1, 1], [1, 1, 6], 'int32')).values];
      expect(z.slice(0, 4).every(Number.isNaN)).toBe(true);
    } finally {
      m.dispose();
    }
  });
  it('rejects a float input', () => {
    badConfig(sl.Embedding({ dimension: 4, numEmbeddings: 3 }), [2], /Embedding at config: expected a int32 input \(integer ids\), got float32/);
  });
});

describe('EmbeddingTranspose', () => {
  // The reference's test: embeddings [[1 x5], [-1 x5], [0..4]], query [0, 0, 0, 1, 1] -> [2, -2, 7] (+ bias 1).
  const table = Float32Array.of(1, 1, 1, 1, 1, -1, -1, -1, -1, -1, 0, 1, 2, 3, 4);
  for (const useBias of [false, true]) {
    for (const other of [[], [2, 3]]) {
      it(`useBias=${useBias}, other channels ${JSON.stringify(other)}`, () => {
        const shape = [...other, 5];
        const m = sl.build(sl.EmbeddingTranspose({ numEmbeddings: 3, dimension: 5, useBias }), { inputShape: shape });
        try {
          expect(Object.keys(m.getWeights()).sort()).toEqual(useBias ? ['bias', 'embedding'] : ['embedding']);
          m.loadWeights({ embedding: { dtype: 'F32', shape: [3, 5], data: table }, ...(useBias ? { bias: { dtype: 'F32', shape: [3], data: Float32Array.of(1, 1, 1) } } : {}) });
          const rows = other.reduce((a, b) => a * b, 1) * 2 * 3;
          const query = Array.from({ length: rows }, () => [0, 0, 0, 1, 1]).flat();
          const y = m.layer(sl.Sequence.fromValues(query, [2, 3, ...shape]));
          expect(y.channelShape).toEqual([...other, 3]);
          expect([...y.values]).toEqual(Array.from({ length: rows }, () => [2, -2, 7].map((v) => v + (useBias ? 1 : 0))).flat());
          sl.verifyContract(m);
        } finally {
          m.dispose();
        }
      });
    }
  }
  it('ties with an Embedding by loading the same table: logits of an embedded id are dot products with every row', () => {
    const emb = sl.build(sl.Embedding({ dimension: 5, numEmbeddings: 3 }), { inputShape: [], inputDtype: 'int32' });
    const out = sl.build(sl.EmbeddingTranspose({ numEmbeddings: 3, dimension: 5, useBias: false }), { inputShape: [5] });
    try {
      const w = { embedding: { dtype: 'F32' as const, shape: [3, 5], data: table } };
      emb.loadWeights(w);
      out.loadWeights(w);
      const y = out.layer(emb.layer(sl.Sequence.fromValues([0, 1, 2], [1, 3], 'int32')));
      expect([...y.values]).toEqual([5, -5, 10, -5, 5, -10, 10, -10, 30]);
    } finally {
      emb.dispose();
      out.dispose();
    }
  });
  it('one row (a decoder step) runs the GEMV packing: the same bits as the GEMM rows, with and without bias', () => {
    for (const useBias of [false, true]) {
      const m = sl.build(sl.EmbeddingTranspose({ numEmbeddings: 37, dimension: 19, useBias }), { inputShape: [19], seed: 3 });
      if (useBias) m.loadWeights({ ...m.getWeights(), bias: { dtype: 'F32', shape: [37], data: Float32Array.from({ length: 37 }, (_, i) => i / 7) } });
      const x = sl.randomSequence([1, 5, 19], { seed: 4, randomLengths: false });
      const state = m.initialState(1);
      const stepped = sl.Sequence.concatenate([0, 1, 2, 3, 4].map((t) => m.step(x.sliceTime(t, t + 1), state)));
      sl.assertSequencesClose(stepped, m.layer(x), 'one-row steps vs layer()', 0, 0);
      m.dispose();
    }
  });
  it("weightStorage 'int8': within 1 % of float32 (RMS), one-row steps equal layer() bit for bit, and withWeightStorage sets it", () => {
    const config = sl.EmbeddingTranspose({ numEmbeddings: 301, dimension: 64 });
    const f32 = sl.build(config, { inputShape: [64], seed: 5 });
    const int8 = sl.build(sl.withWeightStorage(config, 'int8'), { inputShape: [64], seed: 5 });
    expect(int8.toConfig()).toMatchObject({ weightStorage: 'int8' });
    const x = sl.randomSequence([2, 6, 64], { seed: 6 });
    const a = f32.layer(x), b = int8.layer(x);
    let err = 0, norm = 0;
    for (let i = 0; i < a.values.length; i++) if (a.mask[Math.floor(i / 301)]) (err += (a.values[i]! - b.values[i]!) ** 2), (norm += a.values[i]! ** 2);
    expect(Math.sqrt(err / norm)).toBeGreaterThan(0);
    expect(Math.sqrt(err / norm)).toBeLessThan(0.01);
    const one = x.slice(0, 1), state = int8.initialState(1);
    const stepped = sl.Sequence.concatenate([0, 1, 2, 3, 4, 5].map((t) => int8.step(one.sliceTime(t, t + 1), state)));
    sl.assertSequencesClose(stepped, int8.layer(one), 'int8 one-row steps vs layer()', 0, 0);
    sl.verifyContract(int8);
    f32.dispose();
    int8.dispose();
  });
  it('rejects an input whose last axis is not `dimension`', () => {
    badConfig(sl.EmbeddingTranspose({ numEmbeddings: 2, dimension: 5 }), [1, 3], /EmbeddingTranspose at config: expected the input's last channel axis to equal dimension=5, got channel shape \[1, 3\]/);
    badConfig(sl.EmbeddingTranspose({ numEmbeddings: 2, dimension: 1 }), [], /got channel shape \[\]/);
  });
});

describe('activationKernel (the helper Dense and Conv layers use)', () => {
  it('applies a named activation in place, and is null for none', () => {
    const rt = sl.getRuntime();
    const ptr = rt.heap.alloc(5 * 4);
    try {
      rt.f32.set([-2, -1, 0, 1, 2], ptr >> 2);
      sl.activationKernel('leaky_relu')!(rt.k, 5, ptr, ptr);
      expect([...rt.f32.slice(ptr >> 2, (ptr >> 2) + 5)]).toEqual([-0.02, -0.01, 0, 1, 2].map(Math.fround));
    } finally {
      rt.heap.release(ptr);
    }
    expect(sl.activationKernel(null)).toBeNull();
    expect(sl.activationKernel(undefined)).toBeNull();
    expect(() => sl.activationKernel('mish')).toThrowError(expect.objectContaining({ code: 'BAD_CONFIG', message: expect.stringMatching(/expected an activation name, one of "relu".*got "mish"/) }));
  });
  it('knows every name in ACTIVATION_NAMES', () => {
    for (const name of sl.ACTIVATION_NAMES) expect(sl.activationKernel(name), name).toBeTypeOf('function');
  });
});

describe('dtypes and JSON configs', () => {
  it('rejects non-float inputs to float layers', () => {
    badConfig(sl.Relu(), [3], /Relu at config: expected a float32 input, got int32/, 'int32');
    badConfig(sl.Abs(), [3], /Abs at config: expected a float32 or complex64 input, got int32/, 'int32');
    badConfig(sl.Scale({ scale: 2 }), [3], /expected a float32 input, got complex64/, 'complex64');
  });
  it('loads the reference spelling', () => {
    const m = sl.build({ type: 'Serial', layers: [{ type: 'LeakyRelu', negative_slope: 0.5 }, { type: 'GatedUnit', feature_activation: null, gate_activation: 'sigmoid' }, { type: 'Snake', separate_beta: true }] }, { inputShape: [4] });
    try {
      expect(m.outputShape()).toEqual([2]);
      expect(Object.keys(m.getWeights()).sort()).toEqual(['layers.2.alpha_log', 'layers.2.beta_log']);
    } finally {
      m.dispose();
    }
  });
});

describe('Power accuracy', () => {
  it('a non-integer or large power is within (1 + |p ln x|) 1.4e-7 relative, as its doc says (found in review: the error was undocumented)', () => {
    const bits = new Uint32Array(1), asFloat = new Float32Array(bits.buffer);
    // Every 40009th positive normal float by bit pattern: all binades.
    const xs = Float32Array.from({ length: 50_000 }, (_, i) => ((bits[0] = 0x00800000 + i * 40009), asFloat[0]!)).filter((v) => v < Infinity);
    for (const p of [1.7, -0.3, 2.5, 65, -100]) {
      const ys = run1(sl.Power({ power: p }), [xs.length], [...xs]);
      let worst = 0;
      xs.forEach((x, i) => {
        const r = Math.pow(x, p);
        if (Math.abs(r) >= 2 ** -126 && Math.abs(r) <= 3.4e38) worst = Math.max(worst, Math.abs(ys[i]! - r) / Math.abs(r) / (1 + Math.abs(p * Math.log(x))));
      });
      expect(worst, `power ${p}`).toBeLessThanOrEqual(1.4e-7);
    }
  });
});

// Lambda's other tests are in test/layers/utility.test.ts.
describe('Lambda on every dtype', () => {
  it('an array fn keeps complex64 and int32 input (found in review: fn v => v on complex64 failed to build)', () => {
    const cx = new sl.Sequence(Float32Array.of(1, 2, 3, 4, 5, 6, 7, 8), Uint8Array.of(1, 0), [1, 2, 2], 'complex64');
    const same = sl.build(sl.Lambda({ fn: (v: Float32Array | Int32Array) => v }), { inputShape: [2], inputDtype: 'complex64' });
    const y = same.layer(cx);
    expect([y.dtype, y.shape, [...y.values], [...y.mask]]).toEqual(['complex64', [1, 2, 2], [1, 2, 3, 4, 5, 6, 7, 8], [1, 0]]);
    expect(same.outputSpec.dtype).toBe('complex64');
    // Half as many floats: one per element, float32 (the real parts here).
    const re = sl.build(sl.Lambda({ fn: (v: Float32Array | Int32Array) => (v as Float32Array).filter((_, i) => i % 2 === 0) }), { inputShape: [2], inputDtype: 'complex64' });
    const r = re.layer(cx);
    expect([r.dtype, r.shape, [...r.values]]).toEqual(['float32', [1, 2, 2], [1, 3, 5, 7]]);
    const int = sl.build(sl.Lambda({ fn: (v: Float32Array | Int32Array) => v }), { inputShape: [2], inputDtype: 'int32' });
    const yi = int.layer(sl.Sequence.fromValues(Int32Array.of(1, -2, 3, 2 ** 31 - 1), [1, 2, 2], 'int32'));
    expect([yi.dtype, [...yi.values]]).toEqual(['int32', [1, -2, 3, 2 ** 31 - 1]]);
    for (const m of [same, re, int]) m.dispose();
  });
});

describe('oracle fixtures (tools/fixtures_simple.py)', () => {
  const { cases } = loadFixture('simple');
  for (const c of cases) it(c.name, () => checkFixtureCase(c));
});
