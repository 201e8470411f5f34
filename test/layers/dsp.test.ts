// DSP layers: metadata and the contract over the parameterisations of the reference's
// dsp_test.py, oracle values (tools/fixtures_dsp.py: numpy, scipy, torch), reconstruction
// properties (Frame -> OverlapAdd, STFT -> InverseSTFT, layer-wise and streamed over 10 s of
// audio), windows, and bad configs.
import { beforeAll, describe, expect, it } from 'vitest';
import * as sl from '../../src/index.js';
import { seededRandom } from '../../src/util/hash.js';
import { checkFixtureCase, loadFixture } from '../fixtures.js';

beforeAll(async () => {
  await sl.init();
});

/** Builds cfg for the channel shape and dtype, runs verifyContract on x (default: the contract's own input), disposes. */
function contract(cfg: sl.LayerConfig, shape: number[], opts: { dtype?: sl.DType; x?: sl.Sequence; relaxed?: boolean } = {}): sl.ContractReport {
  const m = sl.build(cfg, { inputShape: shape, inputDtype: opts.dtype });
  try {
    return sl.verifyContract(m, { x: opts.x, receptiveFieldRelaxed: opts.relaxed });
  } catch (e) {
    throw new Error(`${JSON.stringify(cfg)} on [${shape}] ${opts.dtype ?? 'float32'}: ${(e as Error).message}`);
  } finally {
    m.dispose();
  }
}

/** 1/s as Fraction.toString() spells it. */
const inverse = (s: number) => (s === 1 ? '1' : `1/${s}`);

/** [supportsStep, blockSize, outputRatio, inputLatency, outputLatency, receptiveField, outputShape] */
function meta(cfg: sl.LayerConfig, shape: number[], dtype?: sl.DType) {
  const m = sl.build(cfg, { inputShape: shape, inputDtype: dtype });
  const r = [m.supportsStep, m.blockSize, m.outputRatio.toString(), m.inputLatency, m.outputLatency, m.receptiveField, m.outputShape()] as const;
  expect(m.params(), 'DSP layers have no parameters').toEqual([]);
  m.dispose();
  return r;
}

/** Expects building cfg to fail with `code` and a message containing `text`. */
function expectError(cfg: unknown, shape: number[], code: string, text: string, dtype?: sl.DType): void {
  let err: unknown;
  try {
    sl.build(cfg as sl.LayerConfig, { inputShape: shape, inputDtype: dtype }).dispose();
  } catch (e) {
    err = e;
  }
  expect(err, `${JSON.stringify(cfg)} should fail`).toBeInstanceOf(sl.SeqLayersError);
  expect((err as sl.SeqLayersError).code).toBe(code);
  expect((err as Error).message).toContain(text);
}

/**
 * x with its last step invalid in every item. The reference's 'valid' overlap-add mask (AND over
 * the frames covering a sample) makes the tail of an item that is valid up to the very end turn
 * invalid once invalid steps are appended, so such inputs fail padding invariance there as in the
 * reference (its OverlapAdd test notes failures at some lengths, b/423622422).
 */
function endsInvalid(x: sl.Sequence): sl.Sequence {
  const mask = x.mask.slice();
  for (let b = 0; b < x.batch; b++) mask[(b + 1) * x.time - 1] = 0;
  return new sl.Sequence(x.values, mask, x.shape, x.dtype).maskInvalid();
}

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string) => {
  expect(a.length, what).toBe(b.length);
  for (let i = 0; i < a.length; i++) if (!(Math.abs(a[i]! - b[i]!) <= tol)) expect.fail(`${what}: element ${i} is ${a[i]}, expected ${b[i]}`);
};

describe('oracle fixtures (numpy, scipy, torch; tools/fixtures_dsp.py)', () => {
  const fixture = loadFixture('dsp');
  for (const c of fixture.cases) it(c.name, () => checkFixtureCase(c));
});

describe('Delay and Lookahead', () => {
  for (const length of [0, 1, 4]) {
    for (const delayLayerOutput of [true, false]) {
      it(`Delay length=${length} delayLayerOutput=${delayLayerOutput}`, () => {
        const cfg = sl.Delay({ length, delayLayerOutput });
        expect(meta(cfg, [3, 5])).toEqual([true, 1, '1', length, delayLayerOutput ? 0 : length, delayLayerOutput ? [-length, -length] : [0, 0], [3, 5]]);
        const y = contract(cfg, [3, 5], { x: sl.randomSequence([2, 11, 3, 5]) }).output;
        expect(y.time).toBe(delayLayerOutput ? 11 + length : 11);
      });
    }
    it(`Lookahead length=${length}`, () => {
      const cfg = sl.Lookahead({ length });
      expect(meta(cfg, [3, 5])).toEqual([true, 1, '1', 0, length, [length, length], [3, 5]]);
      expect(contract(cfg, [3, 5], { x: sl.randomSequence([2, 11, 3, 5]) }).output.time).toBe(11 - length);
    });
  }

  it('Lookahead preserve_length_in_layer keeps the length', () => {
    expect(contract(sl.Lookahead({ length: 2, preserveLengthInLayer: true }), [3, 5], { x: sl.randomSequence([2, 11, 3, 5]) }).output.time).toBe(11);
  });

  it('Delay and Lookahead move complex and int32 values unchanged', () => {
    contract(sl.Delay({ length: 2 }), [3], { dtype: 'complex64' });
    contract(sl.Lookahead({ length: 2 }), [3], { dtype: 'complex64' });
    const m = sl.build(sl.Delay({ length: 2 }), { inputShape: [2], inputDtype: 'int32' });
    const x = sl.Sequence.fromValues(Int32Array.from([1, 2, 3, 4, 5, 6]), [1, 3, 2], 'int32');
    expect([...m.layer(x).values]).toEqual([0, 0, 0, 0, 1, 2, 3, 4, 5, 6]);
    m.dispose();
  });

  it('Lookahead step() masks the first `length` steps, valid or not, as layer() drops them', () => {
    // The reference masks the first `length` valid steps: leading invalid steps then shifted
    // step() against layer() (expected [0, 0, 0, 0, 0, 0, 1, 1] below).
    const m = sl.build(sl.Lookahead({ length: 3 }), { inputShape: [1] });
    const state = m.initialState(1);
    const x = new sl.Sequence(Float32Array.from({ length: 8 }, (_, i) => i), Uint8Array.from([0, 1, 0, 1, 1, 0, 1, 1]), [1, 8, 1]);
    expect([...m.step(x.sliceTime(0, 3), state).mask, ...m.step(x.sliceTime(3), state).mask]).toEqual([0, 0, 0, 1, 1, 0, 1, 1]);
    sl.verifyContract(m, { x });
    state.dispose();
    m.dispose();
  });
});

describe('Window', () => {
  for (const [frameStep, multiplier] of [[20, 2], [15, 3], [10, 4]] as const) {
    it(`Frame -> hamming -> inverse hamming -> OverlapAdd -> Lookahead reconstructs (step ${frameStep}, x${multiplier})`, () => {
      // The reference's test_window: analysis and synthesis windows that overlap-add to one.
      const frameLength = frameStep * multiplier;
      const time = 11 * frameStep + frameLength;
      const cfg = sl.Serial([
        sl.Frame({ frameLength, frameStep, padding: 'semicausal' }),
        sl.Window({ axis: 2, windowFn: 'hamming' }),
        sl.Window({ axis: 2, windowFn: sl.inverseStftWindowFn(frameStep, 'hamming') }),
        sl.OverlapAdd({ frameLength, frameStep, padding: 'causal' }),
        sl.Lookahead({ length: frameLength - frameStep }),
      ]);
      const m = sl.build(cfg, { inputShape: [] });
      const x = sl.randomSequence([2, time], { lowLength: 2 * frameLength });
      const y = m.layer(x);
      const lengths = y.lengths();
      const trimmed = x.sliceTime(0, time - frameLength + frameStep);
      const expected = sl.Sequence.fromLengths(trimmed.values, trimmed.shape, lengths);
      sl.assertSequencesClose(y, expected, 'reconstruction', 1e-5, 1e-5);
      m.dispose();
    });
  }

  it('passes the contract on float32 and complex64, for names, values and no window', () => {
    contract(sl.Window({ axis: 2 }), [6, 3]);
    contract(sl.Window({ axis: -1, windowFn: 'hamming_symmetric' }), [3, 5], { dtype: 'complex64' });
    contract(sl.Window({ axis: 3, windowFn: [1, -2, 0.5] }), [2, 3]);
    contract(sl.Window({ axis: 2, windowFn: null }), [4]);
  });

  for (const axis of [0, 1, -2, -3, 3]) {
    it(`rejects axis ${axis} on a [batch, time, 1] input`, () => {
      expectError(sl.Window({ axis, windowFn: 'hamming' }), [1], 'BAD_CONFIG', 'axis: ');
    });
  }
});

describe('windows', () => {
  it('hann and hamming are periodic for even lengths and symmetric for odd ones (tf.signal)', () => {
    close(sl.windowValues('hann', 4), [0, 0.5, 1, 0.5], 1e-15, 'hann(4)');
    close(sl.windowValues('hann_symmetric', 4), [0, 0.75, 0.75, 0], 1e-15, 'hann_symmetric(4)');
    close(sl.windowValues('hann', 5), [0, 0.5, 1, 0.5, 0], 1e-15, 'hann(5)');
    close(sl.windowValues('hamming', 4), [0.08, 0.54, 1, 0.54], 1e-15, 'hamming(4)');
    close(sl.windowValues('hann', 1), [1], 0, 'hann(1)');
  });

  it('the inverse-STFT window makes analysis x synthesis overlap-add to one', () => {
    for (const [fl, fs] of [[400, 160], [512, 128], [8, 3], [7, 7]] as const) {
      const a = sl.windowValues('hann', fl);
      const s = sl.windowValues(sl.inverseStftWindowFn(fs, 'hann'), fl);
      for (let phase = 0; phase < fs; phase++) {
        let sum = 0;
        for (let k = phase; k < fl; k += fs) sum += a[k]! * s[k]!;
        // A phase with no non-zero analysis tap stays 0 (e.g. the first sample of a periodic Hann at step = length).
        if (sum !== 0) expect(sum).toBeCloseTo(1, 12);
      }
    }
  });
});

const MODES = sl.PADDING_MODES;
const STEPPABLE = new Set(['causal_valid', 'semicausal', 'reverse_causal_valid', 'causal', 'reverse_causal', 'explicit_semicausal']);

describe('Frame (reference test_frame: lengths x steps x channel shapes x paddings)', () => {
  for (const [fl, fs] of [[1, 1], [2, 1], [1, 2], [2, 2], [3, 2], [2, 3]] as const) {
    for (const padding of [...MODES, 'explicit_semicausal'] as const) {
      it(`frame_length=${fl} frame_step=${fs} ${padding}`, () => {
        const overlap = Math.max(0, fl - fs);
        const pad: sl.FramePadding = padding === 'explicit_semicausal' ? [overlap, fl - 1 - overlap] : padding;
        const cfg = sl.Frame({ frameLength: fl, frameStep: fs, padding: pad });
        const latency =
          padding === 'reverse_causal_valid' || padding === 'reverse_causal' ? fl - 1
          : padding === 'explicit_semicausal' ? fl - 1 - overlap
          : padding === 'semicausal_full' ? fs - 1
          : 0;
        for (const shape of [[], [4], [5, 9]]) {
          const [steps, block, ratio, inLat, outLat, , outShape] = meta(cfg, shape);
          expect([steps, block, ratio, inLat, outLat, outShape]).toEqual([STEPPABLE.has(padding), fs, inverse(fs), latency, Math.floor(latency / fs), [fl, ...shape]]);
          for (let time = 20 * fs - 1; time <= 20 * fs + 1; time++) {
            contract(cfg, shape, { x: sl.randomSequence([2, time, ...shape], { lowLength: time >> 1, seed: time }) });
          }
        }
      });
    }
  }

  it('explicit padding: streaming buffer fl - 1 - (future mod fs), initially invalid whatever explicit_padding_is_same_like', () => {
    for (const sameLike of [false, true]) {
      const m = sl.build(sl.Frame({ frameLength: 5, frameStep: 3, padding: [2, 2], explicitPaddingIsSameLike: sameLike }), { inputShape: [2] });
      const specs = m.root.stateSpecs(4);
      expect(specs.map((s) => s.shape)).toEqual([[4, 2, 2], [4, 2]]);
      expect(specs[1]!.fill ?? 0).toBe(0);
      sl.verifyContract(m);
      m.dispose();
    }
  });

  it('long frames over a mask with holes: valid runs copied, invalid steps (NaN) and padding zero', () => {
    // seq_frame scans mask bytes eight at a time: runs shorter and longer than 8, at every phase.
    const fl = 37, fs = 5, past = 10, time = 140, channels = 2;
    const valid = new Uint8Array(time);
    for (let t = 0, run = 0, on = 1; t < time; run++, on ^= 1) {
      const len = [1, 3, 8, 9, 17, 2, 30, 7, 16][run % 9]!;
      valid.fill(on, t, Math.min(t + len, time));
      t += len;
    }
    const values = sl.randomSequence([1, time, channels], { randomLengths: false }).values as Float32Array;
    for (let t = 0; t < time; t++) if (!valid[t]) values.fill(NaN, t * channels, (t + 1) * channels);
    const m = sl.build(sl.Frame({ frameLength: fl, frameStep: fs, padding: [past, fl - 1 - past] }), { inputShape: [channels] });
    const y = m.layer(new sl.Sequence(values, valid, [1, time, channels]));
    expect(y.time).toBeGreaterThan(20);
    for (let j = 0; j < y.time; j++) {
      for (let i = 0; i < fl; i++) {
        const t = j * fs + i - past;
        for (let c = 0; c < channels; c++) {
          const want = t >= 0 && t < time && valid[t] ? values[t * channels + c]! : 0;
          expect(y.values[(j * fl + i) * channels + c], `frame ${j} tap ${i}`).toBe(want);
        }
      }
    }
    m.dispose();
  });

  it('frames complex64 and int32 values', () => {
    contract(sl.Frame({ frameLength: 3, frameStep: 2, padding: 'causal' }), [2], { dtype: 'complex64' });
    const m = sl.build(sl.Frame({ frameLength: 2, frameStep: 1, padding: 'causal' }), { inputShape: [], inputDtype: 'int32' });
    expect([...m.layer(sl.Sequence.fromValues(Int32Array.from([7, 8, 9]), [1, 3], 'int32')).values]).toEqual([0, 7, 7, 8, 8, 9]);
    m.dispose();
  });
});

describe('OverlapAdd (reference test_overlap_add)', () => {
  for (const [fl, fs] of [[1, 1], [2, 1], [2, 2], [3, 2], [5, 2]] as const) {
    for (const padding of ['causal', 'valid', 'semicausal_full'] as const) {
      it(`frame_length=${fl} frame_step=${fs} ${padding}`, () => {
        const cfg = sl.OverlapAdd({ frameLength: fl, frameStep: fs, padding });
        for (const inner of [[], [3], [5, 9]]) {
          const [steps, block, ratio, inLat, outLat, , outShape] = meta(cfg, [fl, ...inner]);
          expect([steps, block, ratio, inLat, outLat, outShape]).toEqual([padding === 'causal', 1, `${fs}`, 0, 0, inner]);
          const y = contract(cfg, [fl, ...inner], { x: endsInvalid(sl.randomSequence([2, 34, fl, ...inner])) }).output;
          // layer() lengths as the reference's: the valid tail kept; semicausal_full cut to its
          // transposed-convolution mask, (T - 1) * fs + 1 steps, when frames overlap.
          const want = padding === 'valid' ? 33 * fs + fl : padding === 'semicausal_full' && fl > fs ? 33 * fs + 1 : 34 * fs;
          expect(y.time, 'layer() output length').toBe(want);
        }
        contract(cfg, [fl], { dtype: 'complex64', x: endsInvalid(sl.randomSequence([2, 29, fl], { dtype: 'complex64' })) });
      });
    }
  }

  it('semicausal_full declares each output phase its own receptive field, so a following Lookahead or Delay keeps it exact', () => {
    // The reference declares (0, 1) for every phase of (5, 4) and measures (0, 1) and (-1, 0) for
    // the two stacks; one field for every phase, shifted by a layer after it, gave (0, 2) and (-1, 1).
    const oa = sl.OverlapAdd({ frameLength: 5, frameStep: 4, padding: 'semicausal_full' });
    for (const [next, want] of [[sl.Lookahead({ length: 1 }), [0, 1]], [sl.Delay({ length: 1 }), [-1, 0]]] as const) {
      const m = sl.build(sl.Serial([oa, next]), { inputShape: [5] });
      expect(m.receptiveField).toEqual(want);
      sl.verifyContract(m, { seed: 1 });
      m.dispose();
    }
  });

  for (const [fl, fs] of [[1, 1], [2, 1], [2, 2], [3, 2], [7, 3]] as const) {
    it(`Frame(semicausal_full) -> OverlapAdd(semicausal_full) is perfect up to the frame count (${fl}, ${fs})`, () => {
      const x = sl.randomSequence([2, 35]);
      const frame = sl.build(sl.Frame({ frameLength: fl, frameStep: fs, padding: 'semicausal_full' }), { inputShape: [] });
      const ola = sl.build(sl.OverlapAdd({ frameLength: fl, frameStep: fs, padding: 'semicausal_full' }), { inputShape: [fl] });
      const z = ola.layer(frame.layer(x));
      expect(z.time).toBeGreaterThanOrEqual(x.time);
      const zl = z.lengths(), xl = x.lengths();
      for (let b = 0; b < 2; b++) {
        expect(zl[b]).toBeGreaterThanOrEqual(xl[b]!);
        for (let t = x.time; t < z.time; t++) expect(z.mask[b * z.time + t]).toBe(0);
        for (let t = 0; t < x.time; t++) {
          const zi = b * z.time + t, xi = b * x.time + t;
          // Where both are valid the sum of the overlapping rectangular frames is (overlaps) * x; with fl = fs it is x.
          if (x.mask[xi] !== z.mask[zi]) expect(z.values[zi]).toBe(0);
        }
      }
      frame.dispose();
      ola.dispose();
    });
  }
});

describe('FFT, IFFT, RFFT, IRFFT (reference tests)', () => {
  const layouts = [[[3, 32], -1], [[3, 5, 32], -1], [[3, 5, 32], -2]] as const;
  for (const [shape, axis] of layouts) {
    for (const padding of ['center', 'right'] as const) {
      it(`[2, ${shape}] axis=${axis} ${padding}`, () => {
        const ch = shape.slice(1);
        const a = ch.length + axis;
        for (const n of [31, 32, 33]) {
          const x = sl.randomSequence([2, ...shape], { dtype: 'complex64', lowLength: 1 });
          const fft = sl.FFT({ fftLength: n, axis, padding });
          expect(meta(fft, ch, 'complex64')).toEqual([true, 1, '1', 0, 0, [0, 0], ch.map((d, i) => (i === a ? n : d))]);
          contract(fft, ch, { dtype: 'complex64', x });
          for (const frameLength of [31, 32, 33, undefined]) {
            // As the reference's test_ifft: fft_length is the axis's length, the default output length too.
            const ifft = sl.IFFT({ fftLength: ch[a], frameLength, axis, padding });
            expect(meta(ifft, ch, 'complex64')[6]).toEqual(ch.map((d, i) => (i === a ? (frameLength ?? d) : d)));
            contract(ifft, ch, { dtype: 'complex64', x });
          }
          const rfft = sl.RFFT({ fftLength: n, axis, padding });
          expect(meta(rfft, ch)[6]).toEqual(ch.map((d, i) => (i === a ? Math.floor(n / 2) + 1 : d)));
          contract(rfft, ch, { x: sl.randomSequence([2, ...shape]) });
        }
      });
    }
  }

  for (const [shape, axis] of [[[3, 17], -1], [[3, 5, 17], -1], [[3, 5, 17], -2]] as const) {
    it(`IRFFT [2, ${shape}] axis=${axis}`, () => {
      const ch = shape.slice(1);
      const a = ch.length + axis;
      const x = sl.randomSequence([2, ...shape], { dtype: 'complex64' });
      for (const frameLength of [31, 32, 33, undefined]) {
        for (const fftLength of [32, undefined]) {
          for (const padding of ['center', 'right'] as const) {
            const cfg = sl.IRFFT({ fftLength, frameLength, axis, padding });
            const [, , , , , , out] = meta(cfg, ch, 'complex64');
            expect(out).toEqual(ch.map((d, i) => (i === a ? (frameLength ?? fftLength ?? 2 * (d - 1)) : d)));
            contract(cfg, ch, { dtype: 'complex64', x });
          }
        }
      }
    });
  }

  // test_fft_inverse: A B A = A and B A B = B for the forward A and backward B transforms.
  for (const [shape, axis] of [[[3, 31], -1], [[3, 5, 32], -1], [[3, 5, 33], -2]] as const) {
    for (const real of [true, false]) {
      it(`${real ? 'RFFT/IRFFT' : 'FFT/IFFT'} are pseudo-inverses [2, ${shape}] axis=${axis}`, () => {
        const ch = shape.slice(1);
        const d = ch[ch.length + axis]!;
        const dtype: sl.DType = real ? 'float32' : 'complex64';
        const x = sl.randomSequence([2, ...shape], { dtype });
        for (const n of [31, 32, 33]) {
          for (const padding of ['center', 'right'] as const) {
            const A = sl.build(real ? sl.RFFT({ fftLength: n, axis, padding }) : sl.FFT({ fftLength: n, axis, padding }), { inputShape: ch, inputDtype: dtype });
            const B = sl.build(real ? sl.IRFFT({ fftLength: n, frameLength: d, axis, padding }) : sl.IFFT({ fftLength: n, frameLength: d, axis, padding }), {
              inputShape: A.outputShape(),
              inputDtype: 'complex64',
            });
            const yA = A.layer(x), yBA = B.layer(yA), yABA = A.layer(yBA), yBABA = B.layer(yABA);
            sl.assertSequencesClose(yABA, yA, `ABA = A (n=${n}, ${padding})`, 1e-3, 1e-5);
            sl.assertSequencesClose(yBABA, yBA, `BABA = BA (n=${n}, ${padding})`, 1e-3, 1e-5);
            A.dispose();
            B.dispose();
          }
        }
      });
    }
  }

  it('real transforms of values near the float32 maximum stay finite where the result is (found by a differential test)', () => {
    // The half-length split pass added before halving: a 3e38 sample overflowed to Inf.
    for (const n of [8, 16, 64, 96]) {
      const m = sl.build(sl.RFFT({}), { inputShape: [n] });
      const x = new Float32Array(n);
      x[1] = 3e38;
      const y = m.layer(sl.Sequence.fromValues(x, [1, 1, n])).values;
      expect(y.every(Number.isFinite), `RFFT of a 3e38 spike, n ${n}`).toBe(true);
      expect(Math.hypot(y[2]!, y[3]!)).toBeCloseTo(3e38, -32); // |X[1]| = 3e38
      m.dispose();
    }
    const inverse = sl.build(sl.IRFFT({ fftLength: 4 }), { inputShape: [3], inputDtype: 'complex64' });
    const X = Float32Array.of(1e38, 0, 1e38, 0, 0, 0); // x[0] = (X0 + 2 Re X1 + X2) / 4 = 7.5e37
    const y = inverse.layer(sl.Sequence.fromValues(X, [1, 1, 3], 'complex64')).values;
    expect(y[0]).toBeCloseTo(7.5e37, -31);
    expect(y.every(Number.isFinite)).toBe(true);
    inverse.dispose();
  });

  it('RFFT of a frame holding Inf: bins 0 and n/2 are real (Inf, 0), as numpy gives (found by an extreme-value differential test)', () => {
    // Odd n (the complex transform), halves that are powers of two, Stockham stages (400).
    for (const n of [4, 5, 8, 64, 400]) {
      const m = sl.build(sl.RFFT({}), { inputShape: [n] });
      const x = Float32Array.from({ length: n }, (_, i) => (i % 3) - 1);
      x[2] = Infinity;
      const y = m.layer(sl.Sequence.fromValues(x, [1, 1, n])).values;
      expect([y[0], y[1]], `bin 0 of n ${n}`).toEqual([Infinity, 0]);
      if (n % 2 === 0) expect([y[n], y[n + 1]], `bin n/2 of n ${n}`).toEqual([Infinity, 0]);
      m.dispose();
    }
  });
});

describe('STFT (reference test_stft)', () => {
  const paddings = ['causal_valid', 'valid', 'same', 'reverse_causal_valid', 'causal', 'reverse_causal'] as const;
  for (const timePadding of paddings) {
    it(`${timePadding}: frame_length 1..4 x frame_step 1..2 x fft_length 2..3 x fft padding x magnitude`, () => {
      for (let fl = 1; fl <= 4; fl++) {
        for (const fs of [1, 2]) {
          for (const n of [2, 3]) {
            for (const fftPadding of ['center', 'right'] as const) {
              for (const outputMagnitude of [true, false]) {
                const cfg = sl.STFT({ frameLength: fl, frameStep: fs, fftLength: n, timePadding, fftPadding, outputMagnitude });
                const latency = timePadding.startsWith('reverse_causal') ? fl - 1 : 0;
                const [steps, block, ratio, inLat, outLat, , shape] = meta(cfg, []);
                expect([steps, block, ratio, inLat, outLat, shape]).toEqual([STEPPABLE.has(timePadding), fs, inverse(fs), latency, Math.floor(latency / fs), [Math.floor(n / 2) + 1]]);
                contract(cfg, [], { x: sl.randomSequence([2, 20], { seed: fl * 10 + n }) });
              }
            }
          }
        }
      }
    });
  }

  it('receptive field keeps only non-zero, untrimmed window taps (inventory: fl=4, fs=2, reverse_causal -> (1, 3))', () => {
    const rf = (c: Parameters<typeof sl.STFT>[0]) => meta(sl.STFT(c), [])[5];
    expect(rf({ frameLength: 4, frameStep: 2, fftLength: 4 })).toEqual([1, 3]);
    expect(rf({ frameLength: 4, frameStep: 2, fftLength: 4, windowFn: 'hamming' })).toEqual([0, 3]);
    expect(rf({ frameLength: 5, frameStep: 2, fftLength: 8, timePadding: 'causal' })).toEqual([-3, -1]); // symmetric: both ends zero
    expect(rf({ frameLength: 8, frameStep: 2, fftLength: 4, timePadding: 'causal', fftPadding: 'center', windowFn: null })).toEqual([-5, -2]);
    expect(rf({ frameLength: 1, frameStep: 1, fftLength: 4 })).toEqual([0, 0]);
    for (const cfg of [
      sl.STFT({ frameLength: 8, frameStep: 3, fftLength: 5, timePadding: 'causal', fftPadding: 'center' }),
      sl.STFT({ frameLength: 6, frameStep: 2, fftLength: 8, timePadding: 'semicausal', windowFn: 'hann_symmetric' }),
    ]) {
      contract(cfg, []);
    }
  });

  it('a window with no non-zero tap in the transform has no receptive field', () => {
    const m = sl.build(sl.STFT({ frameLength: 2, frameStep: 1, fftLength: 1, windowFn: [0, 1] }), { inputShape: [] });
    expect(m.receptiveField).toBeNull();
    m.dispose();
  });

  for (const shape of [[1], [2], [2, 3]]) {
    it(`multichannel ${JSON.stringify(shape)}: each channel transforms independently`, () => {
      const cfg = sl.STFT({ frameLength: 8, frameStep: 3, fftLength: 8, timePadding: 'causal', outputMagnitude: true });
      const x = sl.randomSequence([2, 20, ...shape], { lowLength: 10 });
      const y = contract(cfg, shape, { x }).output;
      const c = shape.reduce((a, b) => a * b, 1);
      const single = sl.build(cfg, { inputShape: [] });
      for (let ch = 0; ch < c; ch++) {
        const xc = new Float32Array(2 * 20).map((_, i) => x.values[i * c + ch]!);
        const yc = single.layer(new sl.Sequence(xc, x.mask, [2, 20])).maskInvalid();
        for (let i = 0; i < yc.values.length; i++) expect(y.values[i * c + ch]).toBeCloseTo(yc.values[i]!, 5);
      }
      single.dispose();
    });
  }
});

describe('InverseSTFT (reference test_inverse_stft)', () => {
  for (const timePadding of ['causal', 'valid'] as const) {
    it(`${timePadding}: frame_length 1..4 x frame_step 1..2 x fft_length 2..3 x fft padding`, () => {
      for (let fl = 1; fl <= 4; fl++) {
        for (const fs of [1, 2]) {
          if (fl < fs) continue;
          for (const n of [2, 3]) {
            for (const fftPadding of ['center', 'right'] as const) {
              const cfg = sl.InverseSTFT({ frameLength: fl, frameStep: fs, fftLength: n, windowFn: sl.inverseStftWindowFn(fs, 'hann'), timePadding, fftPadding });
              const bins = Math.floor(n / 2) + 1;
              const [steps, block, ratio, inLat, outLat, , shape] = meta(cfg, [bins], 'complex64');
              expect([steps, block, ratio, inLat, outLat, shape]).toEqual([timePadding === 'causal', 1, `${fs}`, 0, 0, []]);
              contract(cfg, [bins], { dtype: 'complex64', x: endsInvalid(sl.randomSequence([2, 20, bins], { dtype: 'complex64', seed: fl * 10 + n })) });
            }
          }
        }
      }
    });
  }

  it('per-step receptive fields follow the live window taps, in every padding mode', () => {
    for (const [fl, fs, n] of [[8, 3, 8], [6, 2, 4], [5, 5, 8], [9, 4, 6]] as const) {
      for (const timePadding of ['causal', 'valid', 'semicausal_full'] as const) {
        for (const fftPadding of ['center', 'right'] as const) {
          const bins = Math.floor(n / 2) + 1;
          const x = endsInvalid(sl.randomSequence([2, 17, bins], { dtype: 'complex64' }));
          contract(sl.InverseSTFT({ frameLength: fl, frameStep: fs, fftLength: n, timePadding, fftPadding }), [bins], { dtype: 'complex64', x });
        }
      }
    }
    // Periodic Hann of 4 at step 2 has w[0] = 0: output 2q (phase 0) gets tap 0 of frame q, which
    // is zero, and tap 2 of frame q - 1, so it sees only the previous frame.
    const m = sl.build(sl.InverseSTFT({ frameLength: 4, frameStep: 2, fftLength: 4 }), { inputShape: [3], inputDtype: 'complex64' });
    expect([...m.receptiveFieldPerStep]).toEqual([[0, [-1, -1]], [1, [-1, 0]]]);
    m.dispose();
  });

  for (const shape of [[1], [2], [2, 3]]) {
    it(`multichannel ${JSON.stringify(shape)}`, () => {
      const cfg = sl.InverseSTFT({ frameLength: 8, frameStep: 3, fftLength: 8, windowFn: sl.inverseStftWindowFn(3, 'hann') });
      const x = sl.randomSequence([2, 20, 5, ...shape], { dtype: 'complex64', lowLength: 10 });
      const y = contract(cfg, [5, ...shape], { dtype: 'complex64', x }).output;
      const c = shape.reduce((a, b) => a * b, 1);
      const single = sl.build(cfg, { inputShape: [5], inputDtype: 'complex64' });
      for (let ch = 0; ch < c; ch++) {
        const xc = new Float32Array(2 * 20 * 5 * 2).map((_, i) => x.values[(i >> 1) * c * 2 + ch * 2 + (i & 1)]!);
        const yc = single.layer(new sl.Sequence(xc, x.mask, [2, 20, 5], 'complex64')).maskInvalid();
        for (let i = 0; i < yc.values.length; i++) expect(y.values[i * c + ch]).toBeCloseTo(yc.values[i]!, 5);
      }
      single.dispose();
    });
  }

  for (const [fl, fs, n] of [[32, 16, 32], [32, 8, 32], [32, 8, 64], [50, 15, 64]] as const) {
    for (const fftPadding of ['center', 'right'] as const) {
      it(`STFT -> InverseSTFT with semicausal_full is perfect (${fl}, ${fs}, ${n}, ${fftPadding})`, () => {
        const time = 2 * Math.ceil(fl / fs) * fl + 3;
        const x = sl.randomSequence([2, time]);
        const forward = sl.build(sl.STFT({ frameLength: fl, frameStep: fs, fftLength: n, timePadding: 'semicausal_full', fftPadding }), { inputShape: [] });
        const backward = sl.build(
          sl.InverseSTFT({ frameLength: fl, frameStep: fs, fftLength: n, windowFn: sl.inverseStftWindowFn(fs, 'hann'), timePadding: 'semicausal_full', fftPadding }),
          { inputShape: forward.outputShape(), inputDtype: 'complex64' },
        );
        const xh = backward.layer(forward.layer(x));
        expect(xh.time).toBeGreaterThan(time);
        for (let b = 0; b < 2; b++) {
          for (let t = 0; t < xh.time; t++) {
            const inX = t < time && x.mask[b * time + t], inH = xh.mask[b * xh.time + t];
            const got = inH ? xh.values[b * xh.time + t]! : 0;
            if (inX && inH) expect(Math.abs(got - x.values[b * time + t]!)).toBeLessThan(1e-5);
            else if (inH) expect(Math.abs(got)).toBeLessThan(1e-6);
          }
        }
        forward.dispose();
        backward.dispose();
      });
    }
  }
});

describe('STFT -> InverseSTFT streaming round trip', () => {
  it('reconstructs 10 s of 16 kHz audio stepped in 10 ms blocks within 1e-5, delayed by frame_length - 1 samples', () => {
    // Frame 400 / step 160 / FFT 512, periodic Hann analysis and its inverse-STFT synthesis
    // window, so analysis x synthesis overlap-adds to exactly one at every sample: the
    // reference's InverseSTFT does not normalise by the window sum, the window does. Causal
    // framing makes frame t end at sample t * 160, so output sample r carries input r - 399.
    const fl = 400, fs = 160, n = 512, rate = 16000, T = 10 * rate;
    const cfg = sl.Serial([
      sl.STFT({ frameLength: fl, frameStep: fs, fftLength: n, timePadding: 'causal' }),
      sl.InverseSTFT({ frameLength: fl, frameStep: fs, fftLength: n, windowFn: sl.inverseStftWindowFn(fs, 'hann'), timePadding: 'causal' }),
    ]);
    const m = sl.build(cfg, { inputShape: [] });
    expect([m.blockSize, m.outputRatio.toString(), m.inputLatency, m.outputLatency, m.supportsStep]).toEqual([160, '1', 0, 0, true]);
    const random = seededRandom(3);
    const x = new Float32Array(T);
    for (let i = 0; i < T; i++) x[i] = 0.5 * Math.sin((2 * Math.PI * 440 * i) / rate) + 0.3 * Math.sin((2 * Math.PI * 3001 * i) / rate) + 0.2 * (random() - 0.5);
    const state = m.initialState(1);
    const y = new Float32Array(T);
    const block = 160;
    for (let t = 0; t < T; t += block) {
      const out = m.step(sl.Sequence.fromValues(x.subarray(t, t + block), [1, block]), state);
      expect(out.mask.every((v) => v === 1)).toBe(true);
      y.set(out.values, t);
    }
    state.dispose();
    let err = 0;
    for (let r = fl - 1; r < T; r++) err = Math.max(err, Math.abs(y[r]! - x[r - (fl - 1)]!));
    expect(err).toBeLessThan(1e-5);
    // The stream equals layer() over the whole signal.
    const yl = m.layer(sl.Sequence.fromValues(x, [1, T]));
    close(yl.values, y, 1e-6, 'layer vs step');
    m.dispose();
  });
});

describe('LinearToMelSpectrogram', () => {
  it('passes the contract (reference test) and builds the tf.signal matrix', () => {
    const cfg = sl.LinearToMelSpectrogram({ numMelBins: 8, sampleRate: 400, lowerEdgeHertz: 1, upperEdgeHertz: 200 });
    expect(meta(cfg, [5])).toEqual([true, 1, '1', 0, 0, [0, 0], [8]]);
    contract(cfg, [5], { x: sl.randomSequence([2, 3, 5]) });
    contract(sl.LinearToMelSpectrogram({ numMelBins: 13, sampleRate: 16000, lowerEdgeHertz: 20, upperEdgeHertz: 8000 }), [3, 257]);
    const w = sl.linearToMelWeightMatrix(4, 9, 16000, 0, 8000);
    // The DC bin is zeroed; each band is a triangle of peak <= 1 over the bins.
    expect([...w.subarray(0, 4)]).toEqual([0, 0, 0, 0]);
    for (const v of w) expect(v >= 0 && v <= 1).toBe(true);
  });
});

describe('configs', () => {
  it('accepts the reference JSON spelling, windows included', () => {
    const json = {
      type: 'Serial',
      layers: [
        { type: 'STFT', frame_length: 8, frame_step: 2, fft_length: 8, time_padding: 'causal', window_fn: 'hamming' },
        { type: 'InverseSTFT', frame_length: 8, frame_step: 2, fft_length: 8, window_fn: { inverse_stft_window_fn: { frame_step: 2, forward_window_fn: 'hamming' } } },
      ],
    };
    const m = sl.build(json as unknown as sl.LayerConfig, { inputShape: [] });
    expect(m.supportsStep).toBe(true);
    // The pair reconstructs x[r - 7] exactly, so most of the composed receptive field cancels:
    // the declared one must contain what perturbation measures.
    sl.verifyContract(m, { receptiveFieldRelaxed: true });
    m.dispose();
  });
});

describe('bad configs', () => {
  it('name the field and what was expected', () => {
    expectError(sl.OverlapAdd({ frameLength: 2, frameStep: 3 }), [2], 'BAD_CONFIG', 'frame_step: expected at most frame_length = 2');
    expectError(sl.InverseSTFT({ frameLength: 2, frameStep: 3, fftLength: 4 }), [3], 'BAD_CONFIG', 'frame_step: expected at most frame_length = 2', 'complex64');
    expectError(sl.OverlapAdd({ frameLength: 3, frameStep: 1 }), [4], 'BAD_CONFIG', 'expected an input channel shape [frame_length = 3, ...], got [4]');
    expectError(sl.Frame({ frameLength: 4, frameStep: 2, padding: [1, 1] }), [], 'BAD_CONFIG', 'padding: expected explicit [past, future] padding summing to frame_length - 1 = 3, got [1, 1]');
    expectError({ type: 'Frame', frame_length: 4, frame_step: 2, padding: 'sideways' }, [], 'BAD_CONFIG', 'config.padding: expected one of "valid"');
    expectError(sl.FFT({ axis: 1 }), [4], 'BAD_CONFIG', 'axis: the batch and time axes (0, 1) cannot be used, got 1');
    expectError(sl.RFFT({ axis: -3 }), [4], 'BAD_CONFIG', 'axis: the batch and time axes (0, 1) cannot be used, got -3');
    expectError(sl.IRFFT({ axis: 3 }), [4], 'BAD_CONFIG', 'axis: expected a channel axis in 2..2 or -1..-1, got 3', 'complex64');
    expectError(sl.FFT({}), [4], 'BAD_CONFIG', 'expected complex64 input, got float32 (use RFFT for real input, or Cast to complex64)');
    expectError(sl.RFFT({}), [4], 'BAD_CONFIG', 'expected float32 input, got complex64', 'complex64');
    expectError(sl.IRFFT({}), [1], 'BAD_CONFIG', 'fft_length: expected a transform length >= 1; the input has 1 bin(s)', 'complex64');
    expectError({ type: 'FFT', fft_length: 0 }, [4], 'BAD_CONFIG', 'config.fft_length: expected an integer in [1,');
    expectError(sl.STFT({ frameLength: 4, frameStep: 2, fftLength: 4, windowFn: [1, 2, 3] }), [], 'BAD_CONFIG', 'window_fn: expected 4 window values, got 3');
    expectError({ type: 'STFT', frame_length: 4, frame_step: 2, fft_length: 4, window_fn: 'kaiser' }, [], 'BAD_CONFIG', 'config.window_fn: expected one of "hann"');
    expectError({ type: 'Window', axis: 2, window_fn: { inverse_stft_window_fn: { frame_step: 0 } } }, [4], 'BAD_CONFIG', 'config.window_fn: expected');
    expectError(sl.InverseSTFT({ frameLength: 4, frameStep: 2, fftLength: 4 }), [3], 'BAD_CONFIG', 'expected complex64 input (an STFT), got float32');
    expectError({ type: 'InverseSTFT', frame_length: 4, frame_step: 2, fft_length: 4, time_padding: 'same' }, [3], 'BAD_CONFIG', 'config.time_padding: expected one of "causal", "valid", "semicausal_full"', 'complex64');
    expectError(sl.Delay({ length: -1 }), [2], 'BAD_CONFIG', 'config.length: expected an integer in [0,');
    expectError(sl.Lookahead({ length: -1 }), [2], 'BAD_CONFIG', 'config.length: expected an integer in [0,');
    const mel = { numMelBins: 8, sampleRate: 400, lowerEdgeHertz: 1, upperEdgeHertz: 200 };
    expectError(sl.LinearToMelSpectrogram({ ...mel, upperEdgeHertz: 250 }), [5], 'BAD_CONFIG', 'upper_edge_hertz: expected at most the Nyquist frequency 200 (sample_rate / 2), got 250');
    expectError(sl.LinearToMelSpectrogram({ ...mel, lowerEdgeHertz: 300 }), [5], 'BAD_CONFIG', 'upper_edge_hertz: expected above lower_edge_hertz = 300, got 200');
    expectError(sl.LinearToMelSpectrogram({ ...mel, lowerEdgeHertz: -1 }), [5], 'BAD_CONFIG', 'lower_edge_hertz: expected >= 0, got -1');
    expectError(sl.LinearToMelSpectrogram({ ...mel, sampleRate: 0 }), [5], 'BAD_CONFIG', 'sample_rate: expected a positive rate, got 0');
    expectError(sl.LinearToMelSpectrogram(mel), [5], 'BAD_CONFIG', 'expected float32 input (magnitudes), got complex64', 'complex64');
  });

  it('stepping a mode that cannot step is NOT_STEPPABLE', () => {
    for (const [cfg, shape, dtype] of [
      [sl.Frame({ frameLength: 3, frameStep: 1, padding: 'valid' }), [], 'float32'],
      [sl.Frame({ frameLength: 3, frameStep: 1, padding: 'semicausal_full' }), [], 'float32'],
      [sl.STFT({ frameLength: 4, frameStep: 2, fftLength: 4, timePadding: 'same' }), [], 'float32'],
      [sl.OverlapAdd({ frameLength: 3, frameStep: 1, padding: 'valid' }), [3], 'float32'],
      [sl.InverseSTFT({ frameLength: 4, frameStep: 2, fftLength: 4, timePadding: 'valid' }), [3], 'complex64'],
    ] as const) {
      const m = sl.build(cfg, { inputShape: [...shape], inputDtype: dtype });
      const state = m.initialState(1);
      expect(() => m.step(sl.Sequence.zeros([1, 2 * m.blockSize, ...shape], dtype), state)).toThrow(/NOT_STEPPABLE/);
      state.dispose();
      m.dispose();
    }
  });
});
