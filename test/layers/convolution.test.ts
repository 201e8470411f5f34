// Conv1D and DepthwiseConv1D: metadata, the contract over every padding mode, stride, dilation
// and kernel size, masks from the reference's tests, oracle values from PyTorch, bad configs.
import { beforeAll, describe, expect, it } from 'vitest';
import * as sl from '../../src/index.js';
import { seededRandom } from '../../src/util/hash.js';
import { checkFixtureCase, loadFixture } from '../fixtures.js';

beforeAll(async () => {
  await sl.init();
});

/** Replaces every parameter by normal noise so zero-initialised biases cannot hide a bug (the reference's randomize_weights). */
function randomizeWeights(m: sl.Model, seed = 1): sl.Model {
  const g = sl.normal(seededRandom(seed));
  const w = m.getWeights();
  for (const t of Object.values(w)) {
    const data = t.data as Float32Array;
    for (let i = 0; i < data.length; i++) data[i] = g();
  }
  m.loadWeights(w);
  return m;
}

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
    reverse_causal_valid: [true, 2, 1, [0, 2], 2, 1],
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
  for (const [groups, filters] of [[2, 6], [4, 4], [4, 8]]) {
    for (const padding of MODES) {
      it(`groups=${groups} filters=${filters} ${padding}`, () => {
        for (const [k, s, d] of [[3, 1, 1], [3, 2, 2], [4, 3, 1]]) {
          const m = randomizeWeights(sl.build(sl.Conv1D({ filters, kernelSize: k, strides: s, dilationRate: d, padding, groups }), { inputShape: [4] }));
          checkContract(m);
          m.dispose();
        }
      });
    }
  }
});

describe('DepthwiseConv1D contract', () => {
  for (const dm of [1, 2]) {
    for (const padding of MODES) {
      it(`depthMultiplier=${dm} ${padding}`, () => {
        for (const [k, s, d] of [[1, 1, 1], [2, 2, 1], [3, 1, 2], [3, 3, 1], [5, 2, 2]]) {
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

describe('oracle: torch.nn.functional.conv1d', () => {
  const { cases } = loadFixture('convolution');
  for (const c of cases) it(c.name, () => checkFixtureCase(c));
});

describe('bad configs', () => {
  const buildError = (config: object, inputShape = [4]) => {
    try {
      sl.build(config, { inputShape });
    } catch (e) {
      return e as sl.SeqLayersError;
    }
    throw new Error('expected build to fail');
  };

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
});
