// The convolution family (src/layers/convolution.ts): Conv1D, DepthwiseConv1D, Conv2D, Conv3D,
// Conv1DTranspose, Conv2DTranspose, Downsample1D, Upsample1D, Upsample2D. Metadata, the contract
// over the padding modes, strides, dilations and kernel sizes the reference's tests sweep, masks
// from the reference's examples, oracle values from PyTorch, bad configs.
import { beforeAll, describe, expect, it } from 'vitest';
import * as sl from '../../src/index.js';
import { checkFixtureCase, loadFixture } from '../fixtures.js';
import { buildError, randomizeWeights } from './helpers.js';

beforeAll(async () => {
  await sl.init();
});

/** verifyContract on the default input and on one with a random non-contiguous mask. */
function checkContract(m: sl.Model): void {
  sl.verifyContract(m);
  const x = sl.randomSequence([2, 9 * m.blockSize + 4, ...m.inputSpec.shape], { randomMask: true, seed: 5 });
  sl.verifyContract(m, { x });
}

const MODES = sl.PADDING_MODES;
const STEPPABLE = ['causal_valid', 'reverse_causal_valid', 'causal', 'reverse_causal', 'semicausal'];

describe('padding metadata (inventory §1)', () => {
  // kernel 3, stride 2: [supportsStep, inputLatency, outputLatency, receptive field, buffer width, initial buffer mask]
  const table: Record<string, [boolean, number, number, [number, number], number, number]> = {
    valid: [false, 0, 0, [0, 2], 0, 0],
    same: [false, 0, 0, [-1, 1], 0, 0],
    causal_valid: [true, 0, 0, [-2, 0], 2, 1],
    reverse_causal_valid: [true, 2, 1, [0, 2], 2, 0], // the reference starts it valid (see the warm-up test below)
    causal: [true, 0, 0, [-2, 0], 2, 0],
    reverse_causal: [true, 2, 1, [0, 2], 2, 0],
    semicausal: [true, 0, 0, [-1, 1], 1, 0],
    semicausal_full: [false, 2, 0, [-1, 1], 0, 0],
  };
  for (const [padding, [steps, inLat, outLat, rf, width, fill]] of Object.entries(table)) {
    it(padding, () => {
      const m = sl.build(sl.Conv1D({ filters: 2, kernelSize: 3, strides: 2, padding: padding as sl.PaddingMode }), { inputShape: [3] });
      expect([m.supportsStep, m.inputLatency, m.outputLatency, m.receptiveField]).toEqual([steps, inLat, outLat, rf]);
      expect([m.blockSize, m.outputRatio.toString()]).toEqual([2, '1/2']);
      const specs = m.root.stateSpecs(4);
      if (width === 0) expect(specs).toEqual([]);
      else {
        expect(specs.map((s) => s.shape)).toEqual([[4, width, 3], [4, width]]);
        expect(specs[1]!.fill).toBe(fill);
      }
      m.dispose();
    });
  }

  it('reverse_causal with stride above the kernel span keeps no state', () => {
    // Inventory §1: k=3, s=4 → input latency 2, output latency 0, buffer width 0.
    const m = sl.build(sl.Conv1D({ filters: 2, kernelSize: 3, strides: 4, padding: 'reverse_causal' }), { inputShape: [3] });
    expect([m.inputLatency, m.outputLatency, m.root.stateSpecs(1)]).toEqual([2, 0, []]);
    sl.verifyContract(randomizeWeights(m));
    m.dispose();
  });

  it('matches the reference test expectations for every mode (latency (eks-1) // s for reverse_causal*)', () => {
    for (const padding of MODES) {
      for (const [k, s, d] of [[2, 3, 1], [3, 1, 3], [1, 1, 1]] as const) {
        const m = sl.build(sl.Conv1D({ filters: 2, kernelSize: k, strides: s, dilationRate: d, padding }), { inputShape: [3] });
        const eks = (k - 1) * d + 1;
        const lat = padding.startsWith('reverse_causal') || padding === 'semicausal_full' ? eks - 1 : 0;
        expect(m.supportsStep, padding).toBe(STEPPABLE.includes(padding));
        expect([m.inputLatency, m.outputLatency], padding).toEqual([lat, padding === 'semicausal_full' ? 0 : Math.floor(lat / s)]);
        m.dispose();
      }
    }
  });

  it('gives an empty output for valid padding on an input shorter than the kernel', () => {
    const m = sl.build(sl.Conv1D({ filters: 2, kernelSize: 5, strides: 2 }), { inputShape: [3] });
    expect(m.layer(sl.randomSequence([2, 4, 3])).shape).toEqual([2, 0, 2]);
    expect(m.layer(sl.randomSequence([2, 8, 3])).shape).toEqual([2, 2, 2]); // ceil((8 - 5 + 1) / 2)
    m.dispose();
  });

  it('declares parameters in the reference layout', () => {
    const m = sl.build(sl.Conv1D({ filters: 6, kernelSize: 3, groups: 2, useWeightNorm: true }), { inputShape: [4] });
    expect(m.params().map((p) => [p.path, p.shape])).toEqual([['kernel', [3, 2, 6]], ['scale', [6]], ['bias', [6]]]);
    expect(m.outputShape()).toEqual([6]);
    m.dispose();
    const dw = sl.build(sl.DepthwiseConv1D({ kernelSize: 5, depthMultiplier: 2, useBias: false }), { inputShape: [3] });
    expect(dw.params().map((p) => [p.path, p.shape])).toEqual([['kernel', [5, 1, 6]]]);
    expect(dw.outputShape()).toEqual([6]);
    dw.dispose();
  });
});

describe('Conv1D contract: padding × strides × dilation × kernel size', () => {
  for (const padding of MODES) {
    for (const s of [1, 2, 3]) {
      for (const d of [1, 2]) {
        it(`${padding} s=${s} d=${d} k=1..5`, () => {
          for (let k = 1; k <= 5; k++) {
            const m = randomizeWeights(sl.build(sl.Conv1D({ filters: 5, kernelSize: k, strides: s, dilationRate: d, padding }), { inputShape: [3] }));
            try {
              checkContract(m);
            } catch (e) {
              throw new Error(`kernel size ${k}: ${(e as Error).message}`);
            } finally {
              m.dispose();
            }
          }
        });
      }
    }
  }
});

describe('Conv1D groups', () => {
  for (const [groups, filters] of [[2, 6], [4, 4], [4, 8]] as const) {
    for (const padding of MODES) {
      it(`groups=${groups} filters=${filters} ${padding}`, () => {
        for (const [k, s, d] of [[3, 1, 1], [3, 2, 2], [4, 3, 1]] as const) {
          const m = randomizeWeights(sl.build(sl.Conv1D({ filters, kernelSize: k, strides: s, dilationRate: d, padding, groups }), { inputShape: [4] }));
          checkContract(m);
          m.dispose();
        }
      });
    }
  }
});

describe('Conv1D groups: the depthwise and per-group routes', () => {
  // groups = in runs the depthwise kernel (multiplier filters / in), other groups a GEMM per
  // tap and group: each must equal one group over the block-diagonal kernel (the one-GEMM
  // route), with a batch and mask holes.
  for (const [cin, groups, filters, d] of [[20, 20, 20, 1], [21, 21, 42, 2], [20, 10, 30, 1], [8, 4, 8, 2]] as const) {
    it(`in=${cin} groups=${groups} filters=${filters} dilation=${d}`, () => {
      const k = 3, cg = cin / groups, fg = filters / groups;
      const grouped = randomizeWeights(sl.build(sl.Conv1D({ filters, kernelSize: k, dilationRate: d, padding: 'causal', groups }), { inputShape: [cin] }));
      const dense = sl.build(sl.Conv1D({ filters, kernelSize: k, dilationRate: d, padding: 'causal' }), { inputShape: [cin] });
      const w = grouped.getWeights(), kernel = new Float32Array(k * cin * filters);
      for (let j = 0; j < k; j++)
        for (let c = 0; c < cg; c++)
          for (let o = 0; o < filters; o++) kernel[(j * cin + Math.floor(o / fg) * cg + c) * filters + o] = w.kernel!.data[(j * cg + c) * filters + o] as number;
      dense.loadWeights({ kernel: { ...w.kernel!, shape: [k, cin, filters], data: kernel }, bias: w.bias! });
      const x = sl.randomSequence([3, 11, cin], { randomMask: true, seed: 7 });
      const got = grouped.layer(x).values, want = dense.layer(x).values;
      for (let i = 0; i < want.length; i++) expect(Math.abs((got[i] as number) - (want[i] as number)), `at ${i}`).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(want[i] as number)));
      checkContract(grouped);
      grouped.dispose();
      dense.dispose();
    });
  }
});

describe("Conv1D weightStorage 'int8'", () => {
  it('keeps the contract in every steppable padding, with strides and dilations (windows gathered), layer = step bit for bit', () => {
    for (const padding of ['causal', 'causal_valid', 'reverse_causal', 'semicausal'] as const) {
      for (const [k, s, d] of [[3, 1, 1], [3, 2, 1], [2, 1, 2], [4, 3, 2], [1, 1, 1]] as const) {
        const m = randomizeWeights(sl.build(sl.Conv1D({ filters: 5, kernelSize: k, strides: s, dilationRate: d, padding, weightStorage: 'int8', useWeightNorm: d === 2 }), { inputShape: [3] }));
        for (const time of [1, 7, 13]) sl.verifyContract(m, { x: sl.randomSequence([2, time * s, 3], { seed: time, randomMask: true }), rtol: 0, atol: 0, testReceptiveField: false });
        m.dispose();
      }
    }
  });

  it('is within the int8 rounding of float32 (about 1 % of the output RMS), and refuses groups', () => {
    for (const [k, d, cin, filters] of [[3, 1, 256, 256], [5, 2, 64, 32]] as const) {
      const f32 = randomizeWeights(sl.build(sl.Conv1D({ filters, kernelSize: k, dilationRate: d, padding: 'causal' }), { inputShape: [cin] }));
      const q8 = sl.build(sl.Conv1D({ filters, kernelSize: k, dilationRate: d, padding: 'causal', weightStorage: 'int8' }), { inputShape: [cin], weights: f32.getWeights() });
      const x = sl.randomSequence([2, 20, cin], { seed: 3, randomLengths: false });
      const want = f32.layer(x).values, got = q8.layer(x).values;
      let err = 0, rms = 0;
      for (let i = 0; i < want.length; i++) {
        err += (got[i]! - want[i]!) ** 2;
        rms += want[i]! ** 2;
      }
      const relative = Math.sqrt(err / rms);
      expect(relative).toBeGreaterThan(1e-4); // int8 it is
      expect(relative).toBeLessThan(0.015);
      expect(sl.withWeightStorage(sl.Conv1D({ filters, kernelSize: k }), 'int8')).toMatchObject({ weightStorage: 'int8' });
      f32.dispose();
      q8.dispose();
    }
    expect(buildError(sl.Conv1D({ filters: 4, kernelSize: 3, groups: 2, weightStorage: 'int8' }), [4]).message).toMatch(/^\[BAD_CONFIG\] Conv1D at config: weight_storage: "int8" needs groups 1 \(one kernel matrix\), got groups 2; use "float32"$/);
  });

  it('gathers dilated windows right when that grows memory (found in review)', async () => {
    // The gather used a view of memory taken before allocating the windows: growth detached it.
    const cfg = sl.Conv1D({ filters: 8, kernelSize: 5, dilationRate: 2, padding: 'causal', weightStorage: 'int8' });
    const ref = randomizeWeights(sl.build(cfg, { inputShape: [8] }));
    const x = sl.randomSequence([1, 1000, 8], { seed: 3 });
    const want = ref.layer(x);
    for (const mode of ['layer', 'step'] as const) {
      const rt = await sl.createRuntime(); // fresh: the first call grows memory
      const m = sl.build(cfg, { inputShape: [8], runtime: rt, weights: ref.getWeights() });
      const before = rt.memory.buffer;
      const got = mode === 'layer' ? m.layer(x) : m.step(x, m.initialState(1));
      expect(rt.memory.buffer, mode).not.toBe(before);
      sl.assertSequencesClose(got, want, mode, 0, 0);
    }
    ref.dispose();
  });
});

describe('DepthwiseConv1D contract', () => {
  for (const dm of [1, 2]) {
    for (const padding of MODES) {
      it(`depthMultiplier=${dm} ${padding}`, () => {
        for (const [k, s, d] of [[1, 1, 1], [2, 2, 1], [3, 1, 2], [3, 3, 1], [5, 2, 2]] as const) {
          const m = randomizeWeights(sl.build(sl.DepthwiseConv1D({ kernelSize: k, strides: s, dilationRate: d, depthMultiplier: dm, padding }), { inputShape: [5] }));
          checkContract(m);
          m.dispose();
        }
      });
    }
  }
});

describe('weight norm', () => {
  it('passes the contract for Conv1D and DepthwiseConv1D', () => {
    for (const cfg of [
      sl.Conv1D({ filters: 3, kernelSize: 3, strides: 2, padding: 'causal', useWeightNorm: true }),
      sl.DepthwiseConv1D({ kernelSize: 3, depthMultiplier: 2, padding: 'reverse_causal_valid', useWeightNorm: true }),
    ]) {
      const m = randomizeWeights(sl.build(cfg, { inputShape: [4] }));
      checkContract(m);
      m.dispose();
    }
  });

  it('makes the kernel scale-invariant', () => {
    const m = randomizeWeights(sl.build(sl.Conv1D({ filters: 3, kernelSize: 2, padding: 'causal', useWeightNorm: true }), { inputShape: [2] }));
    const x = sl.randomSequence([1, 6, 2], { randomLengths: false });
    const y = m.layer(x);
    const w = m.getWeights();
    (w.kernel!.data as Float32Array).forEach((v, i, a) => (a[i] = v * 7));
    m.loadWeights(w);
    sl.assertSequencesClose(m.layer(x), y, 'scaled kernel');
    m.dispose();
  });

  it("kernel constraints: L2 with its own scale and epsilon, spectral with u and sigma, not with use_weight_norm (the reference's oracle: test/reference.test.ts)", () => {
    const constraint = { type: 'L2WeightNormalization', epsilon: 1e-3 };
    const m = randomizeWeights(sl.build({ type: 'Conv1D', filters: 3, kernel_size: 2, padding: 'causal', kernel_constraint: constraint }, { inputShape: [2] }));
    expect(m.params().map((p) => [p.path, p.flaxPath])).toEqual([
      ['kernel', 'params/kernel'], ['kernel_constraint.scale', 'params/kernel_constraint/scale'], ['bias', 'params/bias'],
    ]);
    checkContract(m);
    m.dispose();
    const bad = (config: object) => buildError(config, [2]).message;
    expect(bad({ type: 'Conv1D', filters: 3, kernel_size: 2, use_weight_norm: true, kernel_constraint: constraint }))
      .toBe('[BAD_CONFIG] Conv1D at config: use_weight_norm and kernel_constraint: expected one of them, got both (as the reference refuses)');
    expect(bad({ type: 'Conv1D', filters: 3, kernel_size: 2, kernel_constraint: { type: 'MaxNorm' } }))
      .toBe('[BAD_CONFIG] config.kernel_constraint.type: expected one of "SpectralWeightNormalization", "L2WeightNormalization", got "MaxNorm"');
    expect(bad({ type: 'Conv1D', filters: 3, kernel_size: 2, kernel_constraint: { type: 'SpectralWeightNormalization', collection_name: 'stats' } }))
      .toMatch(/^\[BAD_CONFIG\] config\.kernel_constraint\.collection_name: only "batch_stats" is supported/);
    // Spectral normalisation keeps u and sigma in batch_stats (as flax does).
    const sn = sl.build({ type: 'Conv1D', filters: 3, kernel_size: 2, kernel_constraint: { type: 'SpectralWeightNormalization' } }, { inputShape: [2] });
    expect(sn.params().map((p) => p.flaxPath)).toEqual(['params/kernel', 'batch_stats/kernel_constraint/u', 'batch_stats/kernel_constraint/sigma', 'params/bias']);
    checkContract(randomizeWeights(sn));
    sn.dispose();
  });
});

describe('activation', () => {
  it('applies the named activation after the bias, layer and step alike', () => {
    for (const cfg of [
      sl.Conv1D({ filters: 3, kernelSize: 3, strides: 2, padding: 'semicausal', activation: 'relu' }),
      sl.DepthwiseConv1D({ kernelSize: 2, depthMultiplier: 2, padding: 'causal', activation: 'tanh' }),
    ]) {
      const m = randomizeWeights(sl.build(cfg, { inputShape: [4] }));
      checkContract(m);
      m.dispose();
    }
  });
});

describe('masks (the reference\'s convolution_test.py examples)', () => {
  const T = true, F = false;
  // [mask, kernel size, stride, dilation, padding, expected]
  const cases: [boolean[], number, number, number, sl.PaddingMode, boolean[]][] = [
    [[T, T, T, F], 3, 2, 1, 'valid', [T]],
    [[T, T, T, T, T, T, F], 3, 3, 1, 'valid', [T, T]],
    [[T, T, T, T, T, T, F], 2, 3, 1, 'valid', [T, T]],
    [[T, F, T, F, T, F, T, F], 3, 1, 2, 'valid', [T, F, T, F]],
    [[T, T, T, F], 3, 2, 1, 'causal_valid', [T, T]],
    [[T, T, T, T, T, T, F], 3, 3, 1, 'causal_valid', [T, T, F]],
    [[T, T, T, T, T, T, F], 2, 3, 1, 'causal_valid', [T, T, F]],
    [[T, F, T, F, T, F, T, F], 3, 1, 2, 'causal_valid', [T, F, T, F, T, F, T, F]],
    [[T, T, T, F], 3, 2, 1, 'reverse_causal_valid', [T, F]],
    [[T, T, T, T, T, T, F], 3, 3, 1, 'reverse_causal_valid', [T, T, F]],
    [[T, T, T, T, T, T, F], 2, 3, 1, 'reverse_causal_valid', [T, T, F]],
    [[T, F, T, F, T, F, T, F], 3, 1, 2, 'reverse_causal_valid', [T, F, T, F, F, F, F, F]],
    ...(['same', 'causal', 'reverse_causal', 'semicausal'] as const).flatMap((p) => [
      [[T, T, T, F], 3, 2, 1, p, [T, T]],
      [[T, T, T, T, T, T, F], 3, 3, 1, p, [T, T, F]],
      [[T, T, T, T, T, T, F], 2, 3, 1, p, [T, T, F]],
      [[T, F, T, F, T, F, T, F], 3, 1, 2, p, [T, F, T, F, T, F, T, F]],
    ] as [boolean[], number, number, number, sl.PaddingMode, boolean[]][]),
    [[T, T, T, F], 3, 2, 1, 'semicausal_full', [T, T, F]],
    [[T, T, T, T, T, T, T, F, F], 3, 3, 1, 'semicausal_full', [T, T, T]],
    [[T, T, T, T, T, T, T, F, F], 2, 3, 1, 'semicausal_full', [T, T, T]],
    [[T, F, T, F, T, F, T, F], 3, 1, 2, 'semicausal_full', [T, F, T, F, T, F, T, F, T, F, T, F]],
  ];
  for (const [mask, k, s, d, padding, expected] of cases) {
    it(`${padding} k=${k} s=${s} d=${d} [${mask.map(Number).join('')}]`, () => {
      const m = sl.build(sl.Conv1D({ filters: 1, kernelSize: k, strides: s, dilationRate: d, padding }), { inputShape: [1] });
      const x = new sl.Sequence(new Float32Array(mask.length), Uint8Array.from(mask, Number), [1, mask.length, 1]);
      expect([...m.layer(x).mask].map(Boolean)).toEqual(expected);
      m.dispose();
    });
  }
});


describe('warm-up outputs of a lookahead padding are invalid in step()', () => {
  // Their windows reach before the sequence, where layer() has no output at all: a stateful
  // layer after them must not read them (the reference starts reverse_causal_valid's buffer
  // valid, so an LSTM after it streams differently from layer()).
  const cases: [string, sl.LayerConfig, number[]][] = [
    ['Conv1D reverse_causal_valid', sl.Conv1D({ filters: 3, kernelSize: 3, padding: 'reverse_causal_valid' }), [2]],
    ['Conv1D reverse_causal_valid, stride 2, k 4', sl.Conv1D({ filters: 3, kernelSize: 4, strides: 2, padding: 'reverse_causal_valid' }), [2]],
    ['MaxPooling1D reverse_causal_valid', sl.MaxPooling1D({ poolSize: 3, strides: 1, padding: 'reverse_causal_valid' }), [2]],
    ['Frame (default padding)', sl.Frame({ frameLength: 4, frameStep: 2 }), []],
    ['Frame explicit [1, 3]', sl.Frame({ frameLength: 5, frameStep: 2, padding: [1, 3] }), []],
    ['STFT (default padding)', sl.STFT({ frameLength: 8, frameStep: 4, fftLength: 8 }), []],
  ];
  for (const [name, layer, shape] of cases) {
    it(`${name}, then an LSTM: step = layer`, () => {
      const m = sl.build(sl.Serial([layer, sl.Abs(), sl.Flatten(), sl.LSTM({ units: 4 })]), { inputShape: shape, seed: 3 });
      checkContract(m);
      const y = sl.stepByStep(m, sl.randomSequence([1, 4 * m.blockSize * 4, ...shape], { seed: 1 }), m.blockSize);
      const warmUp = m.outputLatency;
      expect(warmUp).toBeGreaterThan(0);
      expect([...y.mask.subarray(0, warmUp)]).toEqual(new Array(warmUp).fill(0));
      m.dispose();
    });
  }
});
describe('oracle: torch.nn.functional.conv1d', () => {
  const { cases } = loadFixture('convolution');
  for (const c of cases) it(c.name, () => checkFixtureCase(c));
});

describe('oracle: torch conv2d, conv3d, conv_transpose1d/2d; NumPy resampling', () => {
  const { cases } = loadFixture('convolution2');
  for (const c of cases) it(c.name, () => checkFixtureCase(c));
});

// ---------------------------------------------------------------------------------------------
// Conv2D and Conv3D

describe('Conv2D and Conv3D', () => {
  it('declare the reference metadata, parameters and output shapes', () => {
    const m = sl.build(sl.Conv2D({ filters: 4, kernelSize: [3, 2], strides: [2, 3], timePadding: 'reverse_causal', spatialPadding: [2, 3], groups: 2 }), { inputShape: [7, 6] });
    expect([m.blockSize, m.outputRatio.toString(), m.inputLatency, m.outputLatency, m.receptiveField, m.supportsStep]).toEqual([2, '1/2', 2, 1, [0, 2], true]);
    expect(m.params().map((p) => [p.path, p.shape])).toEqual([['kernel', [3, 2, 3, 4]], ['bias', [4]]]);
    expect(m.outputShape()).toEqual([4, 4]); // ceil((7 + 5 - 1) / 3)
    expect(m.root.stateSpecs(1).map((s) => s.shape)).toEqual([[1, 2, 7, 6], [1, 2]]);
    m.dispose();
    const m3 = sl.build(sl.Conv3D({ filters: 2, kernelSize: 3, strides: [1, 2, 1], spatialPadding: ['valid', 'same'], useWeightNorm: true }), { inputShape: [7, 9, 3] });
    expect(m3.params().map((p) => [p.path, p.shape])).toEqual([['kernel', [3, 3, 3, 3, 2]], ['scale', [2]], ['bias', [2]]]);
    expect([m3.outputShape(), m3.supportsStep]).toEqual([[3, 9, 2], false]);
    m3.dispose();
  });

  // [kernel, stride, dilation] per axis as the reference's convolution2d_test.py picks them.
  const KSD = [[1, 1, 1], [2, 2, 1], [3, 2, 1], [2, 1, 3], [3, 1, 2]] as const;
  const SPATIAL: sl.SpatialPadding[] = ['same', 'valid', 'causal_valid', 'reverse_causal_valid', 'semicausal', [2, 3]];
  for (const timePadding of MODES) {
    it(`Conv2D time ${timePadding} × spatial paddings × kernels`, () => {
      for (const spatialPadding of SPATIAL) {
        for (const [k, s, d] of KSD) {
          const m = randomizeWeights(sl.build(sl.Conv2D({ filters: 2, kernelSize: k, strides: s, dilationRate: d, timePadding, spatialPadding }), { inputShape: [7, 3] }));
          try {
            checkContract(m);
          } catch (e) {
            throw new Error(`spatial ${JSON.stringify(spatialPadding)} k=${k} s=${s} d=${d}: ${(e as Error).message}`);
          } finally {
            m.dispose();
          }
        }
      }
    });
  }

  it('Conv3D pads a size-1 second spatial axis with zeros (its one-run im2col is for an unpadded unit axis)', () => {
    // The reference's values: x = 1, kernel 2, explicit padding on the second spatial axis.
    for (const [pads, want] of [[[1, 0], [0, 2]], [[0, 2], [2, 0, 0]]] as const) {
      const m = sl.build({ type: 'Conv3D', filters: 1, kernel_size: [1, 1, 1], time_padding: 'causal', spatial_padding: ['valid', pads], use_bias: false }, { inputShape: [1, 1, 1] });
      m.loadWeights({ kernel: { dtype: 'F32', shape: [1, 1, 1, 1, 1], data: new Float32Array([2]) } });
      expect([...m.layer(sl.Sequence.fromValues(new Float32Array([1]), [1, 1, 1, 1, 1])).values]).toEqual(want);
      m.dispose();
    }
  });

  it('Conv2D groups, weight norm, activation', () => {
    for (const cfg of [
      sl.Conv2D({ filters: 6, kernelSize: [3, 2], groups: 2, timePadding: 'causal', spatialPadding: 'causal' }),
      sl.Conv2D({ filters: 4, kernelSize: [2, 3], strides: [2, 1], groups: 4, timePadding: 'semicausal', useWeightNorm: true, activation: 'relu' }),
    ]) {
      const m = randomizeWeights(sl.build(cfg, { inputShape: [5, 4] }));
      checkContract(m);
      m.dispose();
    }
  });

  for (const timePadding of ['causal', 'reverse_causal_valid', 'same', 'semicausal'] as const) {
    it(`Conv3D time ${timePadding} × spatial paddings`, () => {
      for (const spatialPadding of [['same', 'same'], ['valid', 'causal'], ['reverse_causal', [2, 3]], ['semicausal', 'causal_valid']] as sl.SpatialPadding[][]) {
        for (const [k, s, d] of [[1, 1, 1], [2, 2, 1], [3, 1, 2]] as const) {
          const m = randomizeWeights(sl.build(sl.Conv3D({ filters: 2, kernelSize: k, strides: s, dilationRate: d, timePadding, spatialPadding }), { inputShape: [5, 4, 2] }));
          checkContract(m);
          m.dispose();
        }
      }
      const g = randomizeWeights(sl.build(sl.Conv3D({ filters: 4, kernelSize: [2, 3, 1], groups: 2, timePadding }), { inputShape: [3, 2, 4] }));
      checkContract(g);
      g.dispose();
    });
  }

  it('gives every position its own im2col row on long inputs (several scratch chunks)', () => {
    // 64 input channels and 3 x 3 taps: 576 floats per im2col row, 56 rows per chunk, 20 x 10 rows per item.
    const m = randomizeWeights(sl.build(sl.Conv2D({ filters: 3, kernelSize: 3, timePadding: 'causal' }), { inputShape: [10, 64] }));
    sl.verifyContract(m, { x: sl.randomSequence([2, 20, 10, 64]), testReceptiveField: false });
    m.dispose();
  });
});

// ---------------------------------------------------------------------------------------------
// Conv1DTranspose and Conv2DTranspose

/**
 * Per-phase receptive field of a transposed convolution found by enumerating which input steps
 * reach an output far from the edges (input t reaches output t * s + left - j * d through tap j).
 */
function enumeratedRF(k: number, s: number, d: number, left: number): ([number, number] | null)[] {
  const out: ([number, number] | null)[] = [];
  for (let i = 0; i < s; i++) {
    const q = 1000, o = q * s + i;
    let lo = Infinity, hi = -Infinity;
    for (let j = 0; j < k; j++) {
      const num = o - left + j * d;
      if (num % s === 0) {
        lo = Math.min(lo, num / s - q);
        hi = Math.max(hi, num / s - q);
      }
    }
    out.push(lo <= hi ? [lo, hi] : null);
  }
  return out;
}

/** x with its last step invalid in every batch item (see the 'valid' note below). */
function lastStepInvalid(x: sl.Sequence): sl.Sequence {
  const mask = x.mask.slice();
  for (let b = 0; b < x.batch; b++) mask[b * x.time + x.time - 1] = 0;
  return new sl.Sequence(x.values, mask, x.shape).maskInvalid();
}

/**
 * The contract for a transposed convolution. 'valid' with eks > s follows the reference's
 * mask: an output is valid when no invalid input reaches it, taps past the end of the input
 * counting as valid. So a full-length item keeps a valid tail that padding the input with
 * invalid steps would invalidate (the reference's own tests draw shorter lengths): those
 * checks run on inputs whose last step is invalid. That settles it for dilation 1, where every
 * output an appended step reaches is also reached by the last step. With dilation it need not
 * be, and outputs no input reaches are valid too (padding appends more of them), so padding
 * invariance is not checked there.
 */
function checkTransposeContract(m: sl.Model, padding: string, eks: number, s: number, d: number): void {
  const valid = padding === 'valid' && eks > s;
  const shape = [2, 9 * m.blockSize + 4, ...m.inputSpec.shape];
  const opts = { testPaddingInvariance: !(valid && d > 1) };
  for (const x of [sl.randomSequence(shape, { seed: 3 }), sl.randomSequence(shape, { randomMask: true, seed: 5 })]) {
    sl.verifyContract(m, { ...opts, x: valid ? lastStepInvalid(x) : x });
  }
}

describe('Conv1DTranspose', () => {
  it('declares the reference metadata and parameters', () => {
    for (const padding of sl.TRANSPOSE_PADDING_MODES) {
      const m = sl.build(sl.Conv1DTranspose({ filters: 2, kernelSize: 3, strides: 2, padding, groups: 1, useWeightNorm: true }), { inputShape: [3] });
      expect([m.blockSize, m.outputRatio.toString(), m.inputLatency, m.outputLatency, m.supportsStep]).toEqual([1, '2', 0, 0, padding === 'causal']);
      expect(m.params().map((p) => [p.path, p.shape])).toEqual([['kernel', [3, 3, 2]], ['scale', [2]], ['bias', [2]]]);
      expect(m.root.stateSpecs(4).map((s) => s.shape)).toEqual(padding === 'causal' ? [[4, 1, 2]] : []);
      m.dispose();
    }
    const g = sl.build(sl.Conv1DTranspose({ filters: 6, kernelSize: 4, strides: 3, groups: 2, padding: 'causal', useBias: false }), { inputShape: [4] });
    expect(g.params().map((p) => [p.path, p.shape])).toEqual([['kernel', [4, 2, 6]]]);
    g.dispose();
  });

  it('produces T*s steps (T*s + max(eks - s, 0) for valid)', () => {
    for (const [padding, k, s, d, t, want] of [
      ['valid', 3, 2, 1, 5, 11], ['valid', 1, 3, 1, 4, 12], ['valid', 3, 2, 2, 4, 11], ['same', 4, 2, 1, 5, 10],
      ['causal', 5, 3, 1, 4, 12], ['semicausal_full', 3, 2, 1, 5, 10], ['semicausal_full', 4, 2, 1, 5, 11],
    ] as const) {
      const m = sl.build(sl.Conv1DTranspose({ filters: 2, kernelSize: k, strides: s, dilationRate: d, padding }), { inputShape: [3] });
      expect(m.layer(sl.randomSequence([1, t, 3])).time, `${padding} k=${k} s=${s} d=${d}`).toBe(want);
      m.dispose();
    }
  });

  it('declares the reference per-step receptive field, holes included', () => {
    const rf = (padding: (typeof sl.TRANSPOSE_PADDING_MODES)[number], k: number, s: number, d = 1) => [...sl.transposeConvReceptiveFieldPerStep(k, s, d, padding).values()];
    // Inventory §6: k=1, s=2 leaves odd outputs without input; same k=4, s=2 looks one step ahead.
    expect(rf('causal', 1, 2)).toEqual([[0, 0], null]);
    expect(rf('same', 4, 2)).toEqual([[-1, 0], [0, 1]]);
    expect(rf('causal', 3, 2)).toEqual([[-1, 0], [0, 0]]);
    expect(rf('valid', 2, 3)).toEqual([[0, 0], [0, 0], null]);
    // For a dense kernel (dilation 1) the reference's formula is exact for every phase; with
    // dilation its union still is (the contract below measures it).
    for (const padding of sl.TRANSPOSE_PADDING_MODES) {
      for (let k = 1; k <= 6; k++) {
        for (let s = 1; s <= 4; s++) {
          if (padding === 'semicausal_full' && k <= s) continue;
          const left = sl.transposeConvExplicitPadding(padding, k, s, 1)[0];
          expect(rf(padding, k, s), `${padding} k=${k} s=${s}`).toEqual(enumeratedRF(k, s, 1, left));
        }
      }
    }
  });

  for (const padding of sl.TRANSPOSE_PADDING_MODES) {
    for (const s of [1, 2, 3]) {
      for (const d of [1, 2]) {
        it(`contract: ${padding} s=${s} d=${d} k=1..5${padding === 'causal' ? '' : ' (layer only)'}`, () => {
          for (let k = 1; k <= 5; k++) {
            const eks = (k - 1) * d + 1;
            if (padding === 'semicausal_full' && eks <= s) continue;
            const m = randomizeWeights(sl.build(sl.Conv1DTranspose({ filters: 3, kernelSize: k, strides: s, dilationRate: d, padding }), { inputShape: [2] }));
            try {
              checkTransposeContract(m, padding, eks, s, d);
            } catch (e) {
              throw new Error(`kernel size ${k}: ${(e as Error).message}`);
            } finally {
              m.dispose();
            }
          }
        });
      }
    }
  }

  it('contract with groups, weight norm and activation (bias and activation after the overlap-add)', () => {
    for (const cfg of [
      sl.Conv1DTranspose({ filters: 6, kernelSize: 4, strides: 2, groups: 2, padding: 'causal' }),
      sl.Conv1DTranspose({ filters: 4, kernelSize: 5, strides: 3, groups: 4, padding: 'causal', useWeightNorm: true, activation: 'tanh' }),
      sl.Conv1DTranspose({ filters: 9, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu' }),
    ]) {
      const m = randomizeWeights(sl.build(cfg, { inputShape: [4] }));
      checkContract(m);
      m.dispose();
    }
  });

  it('keeps a valid tail on a full-length input and follows the reference mask rules', () => {
    const T = true, F = false;
    // [padding, kernel size, stride, input mask, expected output mask]
    for (const [padding, k, s, mask, want] of [
      ['valid', 3, 2, [T, T, T, T], [T, T, T, T, T, T, T, T, T]],
      ['valid', 3, 2, [T, T, T, F], [T, T, T, T, T, T, F, F, F]],
      ['valid', 2, 3, [T, F, T], [T, T, T, F, F, F, T, T, T]], // eks <= s: the mask repeated
      ['semicausal_full', 3, 2, [T, T, T, F], [T, T, T, T, T, T, F, F]],
      ['same', 4, 2, [T, T, F], [T, T, T, T, F, F]],
    ] as const) {
      const m = sl.build(sl.Conv1DTranspose({ filters: 1, kernelSize: k, strides: s, padding }), { inputShape: [1] });
      const x = new sl.Sequence(new Float32Array(mask.length), Uint8Array.from(mask, Number), [1, mask.length, 1]);
      expect([...m.layer(x).mask].map(Boolean), `${padding} k=${k} s=${s}`).toEqual(want);
      m.dispose();
    }
  });

  it('runs inside a Serial with strided convolutions (the reference\'s upsample/downsample stacks)', () => {
    for (const [kt, st, kc, sc, conv] of [[3, 2, 3, 2, 'causal'], [4, 2, 2, 1, 'semicausal'], [2, 3, 5, 3, 'reverse_causal'], [5, 2, 2, 4, 'causal']] as const) {
      for (const order of ['up-down', 'down-up']) {
        const up = sl.Conv1DTranspose({ filters: 2, kernelSize: kt, strides: st, padding: 'causal' });
        const down = sl.Conv1D({ filters: 2, kernelSize: kc, strides: sc, padding: conv });
        const cfg = order === 'up-down' ? sl.Serial([up, down]) : sl.Serial([down, up]);
        let m: sl.Model;
        try {
          m = sl.build(cfg, { inputShape: [2] });
        } catch (e) {
          // The reference raises too when the accumulated output latency is not divisible by a downsampling stride.
          expect((e as sl.SeqLayersError).code).toBe('BAD_CONFIG');
          continue;
        }
        randomizeWeights(m);
        try {
          checkContract(m);
        } catch (e) {
          throw new Error(`${order} transpose k=${kt} s=${st}, conv ${conv} k=${kc} s=${sc}: ${(e as Error).message}`);
        } finally {
          m.dispose();
        }
      }
    }
  });
});

describe('Conv2DTranspose', () => {
  it('declares the reference metadata, parameters and spatial output size', () => {
    for (const [spatialPadding, want] of [['same', 14], ['causal', 14], ['valid', 15]] as const) {
      const m = sl.build(sl.Conv2DTranspose({ filters: 2, kernelSize: 3, strides: 2, timePadding: 'causal', spatialPadding }), { inputShape: [7, 3] });
      expect([m.outputShape(), m.outputRatio.toString(), m.blockSize, m.supportsStep]).toEqual([[want, 2], '2', 1, true]);
      expect(m.params().map((p) => [p.path, p.shape])).toEqual([['kernel', [3, 3, 3, 2]], ['bias', [2]]]);
      expect(m.root.stateSpecs(2).map((s) => s.shape)).toEqual([[2, 1, want, 2]]);
      m.dispose();
    }
  });

  // [kernel, stride] per axis as the reference's convolution2d_test.py picks them (dilation 1).
  for (const timePadding of sl.TRANSPOSE_PADDING_MODES) {
    it(`contract: time ${timePadding} × spatial valid/same/causal × kernels`, () => {
      for (const spatialPadding of ['valid', 'same', 'causal'] as const) {
        for (const [k, s] of [[1, 1], [1, 2], [2, 2], [2, 3], [3, 2], [3, 3], [3, 1], [4, 3]] as const) {
          if (timePadding === 'semicausal_full' && k <= s) continue;
          const m = randomizeWeights(sl.build(sl.Conv2DTranspose({ filters: 2, kernelSize: k, strides: s, timePadding, spatialPadding }), { inputShape: [4, 3] }));
          try {
            checkTransposeContract(m, timePadding, k, s, 1);
          } catch (e) {
            throw new Error(`spatial ${spatialPadding} k=${k} s=${s}: ${(e as Error).message}`);
          } finally {
            m.dispose();
          }
        }
      }
    });
  }

  it('contract with groups, dilation, weight norm and activation', () => {
    for (const cfg of [
      sl.Conv2DTranspose({ filters: 4, kernelSize: [3, 2], strides: [2, 2], groups: 2, timePadding: 'causal' }),
      sl.Conv2DTranspose({ filters: 3, kernelSize: [2, 3], strides: [1, 2], dilationRate: [2, 2], timePadding: 'causal', spatialPadding: 'valid', useWeightNorm: true, activation: 'swish' }),
    ]) {
      const m = randomizeWeights(sl.build(cfg, { inputShape: [3, 4] }));
      checkContract(m);
      m.dispose();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Downsample1D, Upsample1D, Upsample2D

describe('resampling', () => {
  it('Downsample1D keeps x[:, ::rate] with block rate and input latency rate - 1', () => {
    for (const [rate, shape] of [[2, [5]], [3, [5, 9]]] as const) {
      const m = sl.build(sl.Downsample1D({ rate }), { inputShape: shape });
      expect([m.blockSize, m.outputRatio.toString(), m.inputLatency, m.outputLatency, m.receptiveField, m.supportsStep, m.params()]).toEqual([rate, `1/${rate}`, rate - 1, 0, [0, 0], true, []]);
      const { output: y } = sl.verifyContract(m, { x: sl.randomSequence([2, 3 * rate + 1, ...shape]) });
      const x = sl.randomSequence([2, 3 * rate + 1, ...shape]);
      const step = x.stepSize;
      for (let b = 0; b < 2; b++)
        for (let t = 0; t < y.time; t++) {
          expect(y.mask[b * y.time + t]).toBe(x.mask[b * x.time + t * rate]);
          expect(y.values.slice((b * y.time + t) * step, (b * y.time + t + 1) * step)).toEqual(x.values.slice((b * x.time + t * rate) * step, (b * x.time + t * rate + 1) * step));
        }
      m.dispose();
    }
  });

  it('Upsample1D repeats every step rate times', () => {
    for (const [rate, shape] of [[2, [5]], [3, [5, 9]]] as const) {
      const m = sl.build(sl.Upsample1D({ rate }), { inputShape: shape });
      expect([m.blockSize, m.outputRatio.toString(), m.inputLatency, m.outputLatency, [...m.receptiveFieldPerStep.values()]]).toEqual([1, `${rate}`, 0, 0, Array(rate).fill([0, 0])]);
      const x = sl.randomSequence([2, 7, ...shape]);
      const { output: y } = sl.verifyContract(m, { x });
      const step = x.stepSize;
      for (let i = 0; i < y.mask.length; i++) {
        const src = Math.floor(i / rate);
        expect(y.mask[i]).toBe(x.mask[src]);
        expect(y.values.slice(i * step, (i + 1) * step)).toEqual(x.values.slice(src * step, (src + 1) * step));
      }
      m.dispose();
    }
  });

  it('Upsample2D repeats time by rate[0] and the first channel axis by rate[1]', () => {
    for (const rate of [[2, 1], [2, 3], [1, 3]] as const) {
      const m = sl.build(sl.Upsample2D({ rate: [...rate] }), { inputShape: [5, 9] });
      expect([m.outputShape(), m.outputRatio.toString(), m.blockSize, m.receptiveFieldPerStep.size]).toEqual([[5 * rate[1], 9], `${rate[0]}`, 1, rate[0]]);
      const x = sl.randomSequence([2, 3, 5, 9]);
      const { output: y } = sl.verifyContract(m, { x });
      const [b, t, s, c] = [2, 3, 5, 9];
      for (let i = 0; i < b * t * rate[0] * s * rate[1] * c; i++) {
        const ci = i % c, si = Math.floor(i / c) % (s * rate[1]), ti = Math.floor(i / (c * s * rate[1])) % (t * rate[0]), bi = Math.floor(i / (c * s * rate[1] * t * rate[0]));
        if (!y.mask[bi * t * rate[0] + ti]) continue;
        expect(y.values[i]).toBe(x.values[((bi * t + Math.floor(ti / rate[0])) * s + Math.floor(si / rate[1])) * c + ci]);
      }
      m.dispose();
    }
  });

  it('moves int32 values unchanged', () => {
    const x = sl.randomSequence([2, 6, 4, 2], { dtype: 'int32', low: -1000, high: 1000 });
    for (const cfg of [sl.Downsample1D({ rate: 2 }), sl.Upsample1D({ rate: 2 }), sl.Upsample2D({ rate: 2 })]) {
      const m = sl.build(cfg, { inputShape: [4, 2], inputDtype: 'int32' });
      expect(m.outputSpec.dtype).toBe('int32');
      sl.verifyContract(m, { x });
      m.dispose();
    }
  });
});

describe('bad configs', () => {
  it('rejects an unknown activation', () => {
    const e = buildError({ type: 'Conv1D', filters: 2, kernel_size: 3, activation: 'rellu' });
    expect(e.code).toBe('BAD_CONFIG');
    expect(e.message).toContain('config.activation: expected one of "relu"');
  });

  it('rejects an unknown padding mode', () => {
    const e = buildError({ type: 'Conv1D', filters: 2, kernel_size: 3, padding: 'causal_same' });
    expect(e.code).toBe('BAD_CONFIG');
    expect(e.message).toContain('config.padding: expected one of "valid", "same"');
    expect(e.message).toContain('got "causal_same"');
  });

  it('rejects kernel_size 0', () => {
    const e = buildError({ type: 'Conv1D', filters: 2, kernel_size: 0 });
    expect(e.code).toBe('BAD_CONFIG');
    expect(e.message).toBe('[BAD_CONFIG] config.kernel_size: expected an integer in [1, 16777216], got 0');
  });

  it('rejects filters or input channels not divisible by groups', () => {
    let e = buildError(sl.Conv1D({ filters: 5, kernelSize: 3, groups: 2 }));
    expect(e.code).toBe('BAD_CONFIG');
    expect(e.message).toBe('[BAD_CONFIG] Conv1D at config: expected filters divisible by groups=2, got filters=5');
    e = buildError(sl.Conv1D({ filters: 6, kernelSize: 3, groups: 3 }));
    expect(e.message).toContain('expected input channels divisible by groups=3, got 4');
  });

  it('rejects a channel shape of rank other than 1', () => {
    const e = buildError(sl.Serial([sl.DepthwiseConv1D({ kernelSize: 3 })]), [2, 3]);
    expect(e.code).toBe('BAD_CONFIG');
    expect(e.message).toContain('DepthwiseConv1D at config.layers[0]: expected a rank-1 input channel shape [channels], got [2, 3]');
  });

  it('cannot step a same-padded convolution', () => {
    const m = sl.build(sl.Conv1D({ filters: 2, kernelSize: 3, padding: 'same' }), { inputShape: [4] });
    const state = m.initialState(1);
    const x = sl.Sequence.zeros([1, 2, 4]);
    expect(() => m.step(x, state)).toThrowError(expect.objectContaining({ code: 'NOT_STEPPABLE' }));
    expect(() => m.step(x, state)).toThrow('this model cannot step (Conv1D at the root has supportsStep = false)');
    state.dispose();
    m.dispose();
  });
  it('rejects transposed-convolution paddings the reference rejects, naming the field', () => {
    let e = buildError(sl.Conv1DTranspose({ filters: 2, kernelSize: 3, padding: 'reverse_causal' }));
    expect(e.code).toBe('BAD_CONFIG');
    expect(e.message).toBe('[BAD_CONFIG] Conv1DTranspose at config: padding: expected one of "valid", "same", "causal", "semicausal_full", got "reverse_causal"');
    e = buildError(sl.Conv2DTranspose({ filters: 2, kernelSize: 3, timePadding: 'causal_valid' }), [4, 3]);
    expect(e.message).toContain('time_padding: expected one of "valid", "same", "causal", "semicausal_full", got "causal_valid"');
    e = buildError(sl.Conv2DTranspose({ filters: 2, kernelSize: 3, spatialPadding: [1, 1] }), [4, 3]);
    expect(e.message).toContain('spatial_padding: expected "valid", "same" or "causal" (the reference transposes no other spatial padding), got [1, 1]');
    e = buildError(sl.Conv1DTranspose({ filters: 2, kernelSize: 2, strides: 2, padding: 'semicausal_full' }));
    expect(e.message).toContain('padding: expected an effective kernel size above strides for "semicausal_full", got kernel_size 2, dilation_rate 1, strides 2');
  });

  it('cannot step a non-causal transposed convolution', () => {
    for (const padding of ['valid', 'same', 'semicausal_full'] as const) {
      const m = sl.build(sl.Conv1DTranspose({ filters: 2, kernelSize: 3, strides: 2, padding }), { inputShape: [4] });
      const state = m.initialState(1);
      expect(() => m.step(sl.Sequence.zeros([1, 2, 4]), state)).toThrowError(expect.objectContaining({ code: 'NOT_STEPPABLE' }));
      state.dispose();
      m.dispose();
    }
  });

  it('rejects a spatial kernel larger than a valid spatial input', () => {
    let e = buildError(sl.Conv2D({ filters: 2, kernelSize: [1, 5], spatialPadding: 'valid' }), [3, 2]);
    expect(e.code).toBe('BAD_CONFIG');
    expect(e.message).toBe(
      '[BAD_CONFIG] Conv2D at config: expected kernel_size[1] = 5 (5 steps with dilation_rate 1) to fit the space axis: 3 input positions + 0 padding (spatial_padding "valid"), got an empty output',
    );
    e = buildError(sl.Conv3D({ filters: 2, kernelSize: [1, 1, 3], dilationRate: [1, 1, 2], spatialPadding: ['same', [0, 1]] }), [3, 3, 2]);
    expect(e.message).toContain('expected kernel_size[2] = 3 (5 steps with dilation_rate 2) to fit the space2 axis: 3 input positions + 1 padding (spatial_padding [0, 1])');
  });

  it('rejects filters or input channels not divisible by groups in every convolution', () => {
    for (const [cfg, shape, msg] of [
      [sl.Conv2D({ filters: 3, kernelSize: 2, groups: 2 }), [4, 4], 'expected filters divisible by groups=2, got filters=3'],
      [sl.Conv3D({ filters: 4, kernelSize: 2, groups: 2 }), [3, 3, 3], 'expected input channels divisible by groups=2, got 3'],
      [sl.Conv1DTranspose({ filters: 2, kernelSize: 3, groups: 2 }), [3], 'expected input channels divisible by groups=2, got 3'],
      [sl.Conv2DTranspose({ filters: 2, kernelSize: [3, 2], groups: 2 }), [10, 3], 'expected input channels divisible by groups=2, got 3'],
      [sl.Conv1DTranspose({ filters: 5, kernelSize: 3, groups: 2 }), [4], 'expected filters divisible by groups=2, got filters=5'],
    ] as const) {
      const e = buildError(cfg, [...shape]);
      expect(e.code).toBe('BAD_CONFIG');
      expect(e.message).toContain(msg);
    }
  });

  it('rejects malformed per-axis sizes, spatial paddings and channel ranks', () => {
    let e = buildError({ type: 'Conv2D', filters: 2, kernel_size: [3, 3, 3] }, [4, 2]);
    expect(e.message).toBe('[BAD_CONFIG] config.kernel_size: expected an integer >= 1 or a list of 2, got [3, 3, 3]');
    e = buildError({ type: 'Conv2D', filters: 2, kernel_size: 3, spatial_padding: [1, -1] }, [4, 2]);
    expect(e.message).toContain('config.spatial_padding: expected one of "valid", "same",');
    expect(e.message).toContain('or [left, right] (non-negative integers), got [1, -1]');
    e = buildError({ type: 'Conv3D', filters: 2, kernel_size: 3, spatial_padding: 'same' }, [4, 4, 2]);
    expect(e.message).toContain('config.spatial_padding: expected a list of 2 entries, each one of');
    e = buildError(sl.Conv2D({ filters: 2, kernelSize: 3 }), [4]);
    expect(e.message).toBe('[BAD_CONFIG] Conv2D at config: expected a rank-2 input channel shape [space, channels], got [4]');
    e = buildError(sl.Conv3D({ filters: 2, kernelSize: 3 }), [4, 4]);
    expect(e.message).toContain('expected a rank-3 input channel shape [space1, space2, channels], got [4, 4]');
    e = buildError(sl.Upsample2D({ rate: 2 }), [4]);
    expect(e.message).toBe('[BAD_CONFIG] Upsample2D at config: expected a rank-2 input channel shape [space, channels], got [4]');
    e = buildError({ type: 'Downsample1D', rate: 0 }, [4]);
    expect(e.message).toBe('[BAD_CONFIG] config.rate: expected an integer in [1, 16777216], got 0');
  });
});

describe('upsampling factors are bounded', () => {
  it('refuses rates and transposed strides past MAX_RF_PHASES before building tables of that size', () => {
    for (const config of [
      { type: 'Upsample1D', rate: 1 << 24 },
      { type: 'Upsample2D', rate: [2, 1 << 20] },
      { type: 'Conv1DTranspose', filters: 1, kernelSize: 1, strides: 1 << 24 },
      { type: 'Conv2DTranspose', filters: 1, kernelSize: 1, strides: [1 << 24, 1] },
    ]) {
      expect(() => sl.build(config, { inputShape: config.type.includes('2D') ? [4, 1] : [1] })).toThrow(/\[BAD_CONFIG\].*(rate|strides): expected an integer in \[1, 65536\]/);
    }
  });
});
