import { beforeAll, describe, expect, it } from 'vitest';
import * as sl from '../src/index.js';

beforeAll(async () => {
  await sl.init();
});

describe('Serial', () => {
  it('composes children and passes the contract', () => {
    const m = sl.build(sl.Serial([sl.Relu(), sl.Identity(), sl.Relu()]), { inputShape: [5] });
    const r = sl.verifyContract(m);
    expect(r.checks).toContain('receptive field');
    expect(m.blockSize).toBe(1);
  });
  it('composes the receptive field over every output phase, not just the lcm of the children\'s', () => {
    // Found by contract fuzzing (the reference's receptive_field_per_step_of_serial_layers uses
    // lcm(len(per-step maps)) steps): after upsampling, a child's phases repeat more slowly than
    // its own map, so the composed field missed offsets. Output 22 of [Upsample 16, every 3rd,
    // Upsample 4] (ratio 64/3) reads input floor(3 * floor(22 / 4) / 16) = 0, one before
    // floor(22 * 3 / 64) = 1.
    const cases: [sl.LayerConfig[], number[], [number, number]][] = [
      [[sl.Upsample1D({ rate: 16 }), sl.MaxPooling1D({ poolSize: 1, strides: 3 }), sl.Upsample1D({ rate: 4 })], [4], [-1, 0]],
      [[sl.Upsample1D({ rate: 2 }), sl.Upsample1D({ rate: 2 }), sl.Lookahead({ length: 2 })], [4], [0, 1]],
      [[sl.InverseSTFT({ frameLength: 4, frameStep: 2, fftLength: 4 }), sl.Upsample1D({ rate: 2 })], [3], [-1, 0]],
    ];
    for (const [layers, inputShape, rf] of cases) {
      const m = sl.build(sl.Serial(layers), { inputShape, inputDtype: layers[0]!.type === 'InverseSTFT' ? 'complex64' : 'float32' });
      expect(m.receptiveField, JSON.stringify(layers)).toEqual(rf);
      expect(sl.verifyContract(m).measuredReceptiveField).toEqual(rf);
    }
  });
  it('is the identity when empty', () => {
    const m = sl.build(sl.Serial([]), { inputShape: [2] });
    sl.verifyContract(m);
    expect(m.receptiveField).toEqual([0, 0]);
  });
  it('share_scope puts shared layers\' parameters at its own path; one name declared twice is BAD_CONFIG', () => {
    const m = sl.build({ type: 'Serial', layers: [{ type: 'Conv1D', filters: 2, kernel_size: 2, padding: 'causal' }, { type: 'Dense', features: 2 }], share_scope: [true, false] }, { inputShape: [3] });
    expect(m.params().map((p) => [p.path, p.flaxPath])).toEqual([['kernel', 'params/kernel'], ['bias', 'params/bias'], ['layers.1.kernel', 'params/layers_1/kernel'], ['layers.1.bias', 'params/layers_1/bias']]);
    sl.verifyContract(m);
    m.dispose();
    const twice = { type: 'Serial', layers: [{ type: 'Dense', features: 3 }, { type: 'Dense', features: 3 }], share_scope: true };
    expect(() => sl.build(twice, { inputShape: [3] })).toThrow(
      '[BAD_CONFIG] config.layers[0] and config.layers[1] both declare parameter "kernel" (one scope holds each name once)',
    );
    // Two layers that flax would name alike: a layer named as another's list place.
    const named = sl.Serial([sl.Dense({ features: 3, name: 'layers_1' }), sl.Dense({ features: 3 })]);
    expect(() => sl.build(named, { inputShape: [3] })).toThrow('both declare parameter "params/layers_1/kernel" by their flax names');
  });
});

describe('accumulated latencies through nested combinators (the reference\'s get_accumulated_*_latency)', () => {
  const U = (rate: number) => sl.Upsample1D({ rate }), D = (rate: number) => sl.Downsample1D({ rate }), L = (length: number) => sl.Lookahead({ length });
  const meta = (c: sl.LayerConfig) => {
    const m = sl.build(c, { inputShape: [2] });
    return [m.inputLatency, m.outputLatency, m.blockSize];
  };

  it('a downsampling nested in a Serial, Residual, Parallel or wrapper checks the latency it receives (found by a differential test: it built, then step() differed from layer())', () => {
    // Each is refused by the reference too ("has a step-wise incoming output_latency=1 which is not divisible").
    const pool = sl.MaxPooling1D({ poolSize: 2, padding: 'reverse_causal_valid' }); // output latency 1
    const strided = sl.Conv1D({ filters: 2, kernelSize: 3, strides: 2, padding: 'semicausal' });
    for (const [inner, at] of [
      [sl.Serial([D(2), U(2)]), 'Downsample1D at config.layers[1].layers[0]'],
      [sl.Residual([strided, U(2)]), 'Conv1D at config.layers[1].layers[0]'],
      [sl.Parallel([sl.Serial([D(2), U(2)]), sl.Serial([D(2), U(2)])]), 'Downsample1D at config.layers[1].layers[0].layers[0]'],
      [sl.CheckpointGradient(sl.Serial([D(2), U(2)])), 'Downsample1D at config.layers[1].layer.layers[0]'],
    ] as const) {
      expect(() => sl.build(sl.Serial([pool, inner]), { inputShape: [2] })).toThrow(`[BAD_CONFIG] ${at}: expected an accumulated output latency divisible by the downsampling factor 2, got 1`);
    }
    expect(() => sl.build(sl.Serial([L(3), sl.Serial([U(3), D(2)])]), { inputShape: [2] })).toThrow('Downsample1D at config.layers[1].layers[1]: expected an accumulated output latency divisible by the downsampling factor 2, got 9');
  });

  it('nested and flat chains give the reference\'s latencies and block sizes', () => {
    // [input latency, output latency, block size] from the reference (sequence_layers.jax, bound modules).
    expect(meta(sl.Serial([sl.Serial([D(2), U(2)]), L(1)]))).toEqual([1, 1, 2]);
    expect(meta(sl.Serial([D(2), U(2), L(1)]))).toEqual([1, 1, 2]);
    expect(meta(sl.Serial([sl.Serial([U(3), D(2)]), L(1)]))).toEqual([1, 1, 2]);
    expect(meta(sl.Serial([sl.Serial([D(2), U(3)]), L(2)]))).toEqual([1, 2, 2]);
  });
});

describe('warm-up steps after a latency', () => {
  // In step() a latency first emits invalid warm-up steps that layer() does not have; a chain
  // withholds them from layers that count steps or take the past for valid padding. Each of
  // these stepped differently from layer() before (as they do in the reference).
  const delay = (length: number) => sl.Delay({ length, delayLayerOutput: false });
  const cases: [string, sl.LayerConfig, number[]][] = [
    ['causal_valid Conv1D after a Delay', sl.Serial([delay(1), sl.Conv1D({ filters: 2, kernelSize: 2, padding: 'causal_valid' }), sl.LSTM({ units: 3 })]), [2]],
    ['causal_valid Conv1D after an STFT', sl.Serial([sl.STFT({ frameLength: 8, frameStep: 4, fftLength: 8 }), sl.Abs(), sl.Conv1D({ filters: 2, kernelSize: 3, padding: 'causal_valid' })]), []],
    ['causal_valid Frame after a lookahead conv', sl.Serial([sl.Conv1D({ filters: 2, kernelSize: 3, padding: 'reverse_causal' }), sl.Frame({ frameLength: 3, frameStep: 1, padding: 'causal_valid' })]), [2]],
    ['SequenceDense after a Delay', sl.Serial([delay(2), sl.SequenceDense({ features: 2, numSteps: 40 })]), [2]],
    ['physical-step positions after a strided latency', sl.Serial([delay(2), sl.Conv1D({ filters: 4, kernelSize: 2, strides: 2, padding: 'causal' }), sl.AddTimingSignal({ onlyAdvancePositionForValidTimesteps: false })]), [2]],
    ['RGLRU after a Delay, nested', sl.Serial([delay(1), sl.Serial([sl.Relu(), sl.RGLRU({ units: 4, numHeads: 2 })])]), [4]],
    ['a Residual body with a latency', sl.Residual([delay(1), sl.SequenceDense({ features: 2, numSteps: 40 })], { shortcutLayers: [delay(1)] }), [2]],
    ['Repeat of a Delay and a causal_valid conv', sl.Repeat(sl.Serial([delay(1), sl.Conv1D({ filters: 2, kernelSize: 2, padding: 'causal_valid' })]), 3), [2]],
  ];
  for (const [name, config, shape] of cases) {
    it(`${name}: step = layer`, () => {
      const m = sl.build(config, { inputShape: shape, seed: 2 });
      sl.verifyContract(m);
      sl.verifyContract(m, { x: sl.randomSequence([2, 9 * m.blockSize + 3, ...shape], { randomMask: true, seed: 3 }) });
      m.dispose();
    });
  }

  it('a chain that cannot be spared a warm-up as a whole withholds it from its own layers, as the same layers flat (found in review)', () => {
    // Each inner chain holds a layer that reads step constants or a block size the warm-up
    // does not fill, so the outer chain cannot withhold from it; before, its RGLRU then
    // counted the warm-up, and step() departed from layer().
    const src = sl.randomSequence([2, 5, 3], { seed: 1 });
    const cross = sl.DotProductAttention({ sourceName: 'src', numHeads: 2, unitsPerHead: 2 });
    const rglru = sl.RGLRU({ units: 4, numHeads: 2 });
    const cases: [sl.LayerConfig, sl.Constants | undefined][] = [
      [sl.Serial([delay(2), sl.Serial([rglru, cross])]), { src }],
      [sl.Serial([delay(2), sl.Residual([cross, sl.Flatten(), rglru])]), { src }],
      [sl.Serial([delay(2), sl.Serial([rglru, sl.Blockwise(sl.Relu(), 4)])]), undefined],
      // A Blockwise stepping its child in layer() starts it with the warm-up step() has.
      [sl.Serial([delay(1), sl.Blockwise(sl.Serial([sl.Relu(), rglru]), 2)]), undefined],
      [sl.Serial([delay(1), sl.Serial([sl.Blockwise(sl.Serial([delay(1), rglru]), 3), cross])]), { src }],
    ];
    const x = sl.randomSequence([2, 13, 4], { seed: 3 });
    for (const [config, constants] of cases) {
      const m = sl.build(config, { inputShape: [4], seed: 2, constants });
      sl.verifyContract(m, { x, constants });
      m.dispose();
    }
  });

  it('counts the warm-up when a step grows the memory (found in review: the count went to a detached view)', async () => {
    const rt = await sl.createRuntime(); // fresh: its memory grows in the first step
    const m = sl.build(sl.Serial([delay(2), sl.Conv1D({ filters: 4, kernelSize: 3, padding: 'causal_valid' })]), { inputShape: [4], runtime: rt });
    const x = sl.randomSequence([1, 20_016, 4], { randomLengths: false, seed: 7 });
    const before = rt.memory.buffer.byteLength;
    const stepped = sl.stepByStep(m, x, [20_000, 8, 8]), lag = m.outputLatency;
    expect(rt.memory.buffer.byteLength).toBeGreaterThan(before);
    sl.assertSequencesClose(stepped.sliceTime(lag), m.layer(x).sliceTime(0, x.time - lag), 'step after growth vs layer', 0, 0);
    m.dispose();
  });

  it('a Conditioning indexes its sequence by the steps layer() has, not the warm-up', () => {
    const constants = { c: sl.randomSequence([2, 16, 4], { lowLength: 8, seed: 23 }) };
    const m = sl.build(sl.Serial([delay(3), sl.Conditioning({ conditioningName: 'c', projection: 'identity', combination: 'add' })]), { inputShape: [4], constants });
    sl.verifyContract(m, { x: sl.randomSequence([2, 16, 4], { lowLength: 8, seed: 25 }), constants, padConstants: true });
    m.dispose();
  });

  it('withholds nothing from layers reading constants that come with each block (found in review: they threw mid-step)', () => {
    const T = 4;
    const x = sl.randomSequence([1, T, 4], { randomLengths: false, seed: 1 });
    const pos = new sl.Sequence(Int32Array.from({ length: T }, (_, i) => i), new Uint8Array(T).fill(1), [1, T], 'int32');
    const cond = sl.randomSequence([1, T, 4], { randomLengths: false, seed: 2 });
    const cases: [sl.LayerConfig, sl.Constants][] = [
      [sl.Serial([delay(1), sl.ApplyRotaryPositionalEncoding({ maxWavelength: 1e4, onlyAdvancePositionForValidTimesteps: false, positionsName: 'pos' })]), { pos }],
      [sl.Serial([delay(1), sl.Serial([sl.Conditioning({ conditioningName: 'c', projection: 'identity', combination: 'add', streaming: true }), sl.RGLRU({ units: 4, numHeads: 2 })])]), { c: cond }],
      [sl.Serial([delay(1), sl.Serial([sl.StreamingDotProductAttention({ sourceName: 'c', numHeads: 1, unitsPerHead: 4, maxPastHorizon: 2, maxFutureHorizon: 0 }), sl.Flatten(), sl.RGLRU({ units: 4, numHeads: 2 })])]), { c: cond }],
    ];
    for (const [config, constants] of cases) {
      const m = sl.build(config, { inputShape: [4], constants });
      expect(m.root.stateSpecs(1)).toEqual([]);
      const state = m.initialState(1);
      for (let i = 0; i < 2; i++) expect(m.step(x, state, { constants }).time).toBe(T);
      m.dispose();
    }
  });

  it('a Lookahead that cannot be spared the warm-up passes over it by counting valid steps (found in review)', () => {
    const pos = { values: Int32Array.from([5]), shape: [1, 1] };
    const rope = sl.ApplyRotaryPositionalEncoding({ maxWavelength: 1e4, onlyAdvancePositionForValidTimesteps: false, positionsName: 'pos' });
    const cases: [sl.LayerConfig, sl.Constants | undefined][] = [
      // The block size 2 does not divide the Delay's 1 step (a chain in the Blockwise's place
      // would withhold the warm-up from its Lookahead).
      [sl.Serial([delay(1), sl.Blockwise(sl.Lookahead({ length: 1 }), 2), sl.LSTM({ units: 3 })]), undefined],
      [sl.Serial([delay(1), sl.Parallel([sl.Lookahead({ length: 1 }), sl.Blockwise(sl.Lookahead({ length: 1 }), 2)], { combination: 'add' }), sl.LSTM({ units: 3 })]), undefined],
    ];
    const x = sl.randomSequence([2, 13, 4], { seed: 3, randomLengths: false });
    for (const [config, constants] of cases) {
      const m = sl.build(config, { inputShape: [4], seed: 2, constants });
      sl.verifyContract(m, { x, constants });
      m.dispose();
    }
  });

  it('a cross attention taking its source at the first step is not withheld from (found in review: later steps had no source)', () => {
    const source = sl.randomSequence([1, 5, 3], { randomLengths: false, seed: 7 });
    const attention = sl.DotProductAttention({ sourceName: 'src', numHeads: 1, unitsPerHead: 4 });
    const m = sl.build(sl.Serial([delay(1), sl.Serial([attention, sl.Flatten(), sl.RGLRU({ units: 4, numHeads: 2 })])]), { inputShape: [4], constants: { src: source } });
    const state = m.initialState(1);
    const x = sl.randomSequence([1, 1, 4], { randomLengths: false, seed: 1 });
    m.step(x, state, { constants: { src: source } });
    for (let i = 0; i < 2; i++) expect(m.step(x, state).time).toBe(1);
    m.dispose();
  });

  it('a cross attention with relative positions starts its query count at minus the warm-up it is not spared', () => {
    const source = sl.randomSequence([2, 5, 3], { seed: 7 });
    const relative = [
      { type: 'T5RelativePositionEmbedding', numBuckets: 8, maxDistance: 16, numHeads: 2, bidirectional: true },
      { type: 'ShawRelativePositionEmbedding', maxBackward: 3, maxForward: 2, numHeads: 2, unitsPerHead: 4 },
    ] as const;
    const x = sl.randomSequence([2, 13, 4], { seed: 3 });
    for (const relativePositionEmbedding of relative) {
      const attention = sl.DotProductAttention({ sourceName: 'src', numHeads: 2, unitsPerHead: 4, relativePositionEmbedding });
      const m = sl.build(sl.Serial([delay(3), attention]), { inputShape: [4], constants: { src: source }, seed: 5 });
      sl.verifyContract(m, { x, constants: { src: source } });
      // Mid-warm-up, the count is negative; a snapshot holding it restores.
      const state = m.initialState(2, { constants: { src: source } });
      m.step(x.sliceTime(0, 1), state);
      const count = state.slots[m.root.children[1]!.slot]!.find((b) => b.name === 'time_step')!;
      expect(m.rt.i32[count.ptr >> 2]).toBe(-2);
      const again = m.restoreState(state.toBytes());
      sl.assertSequencesClose(m.step(x.sliceTime(1, 13), again), m.step(x.sliceTime(1, 13), state), 'restored mid-warm-up', 0, 0);
      m.dispose();
    }
  });

  it('a blockwise attention after a warm-up of whole blocks steps as layer(); after any other it cannot step, naming the Delay to insert', () => {
    const attention = sl.BlockwiseDotProductSelfAttention({ blockSize: 2, numHeads: 1, unitsPerHead: 2, maxPastHorizonBlocks: 1 });
    const x = sl.randomSequence([2, 14, 2], { seed: 3, randomMask: true });
    // Nested warm-ups count together (found in review: the inner one alone refused the model).
    const nested = [sl.Serial([delay(1), sl.Serial([delay(1), attention])]), sl.Serial([delay(1), sl.Serial([delay(1), delay(1), delay(1), attention])])];
    for (const config of [sl.Serial([delay(4), attention]), sl.Serial([sl.Lookahead({ length: 3 }), delay(1), attention]), ...nested]) {
      const m = sl.build(config, { inputShape: [2], seed: 2 });
      sl.verifyContract(m, { x });
      m.dispose();
    }
    const refused: [sl.LayerConfig, string][] = [
      [sl.Serial([delay(3), attention]), 'config.layers[1]'],
      [sl.Serial([sl.Lookahead({ length: 3 }), sl.Residual([sl.Relu(), attention, sl.Flatten()])]), 'config.layers[1].layers[1]'],
      [sl.Serial([delay(1), sl.Serial([delay(2), attention])]), 'config.layers[1].layers[1]'],
    ];
    for (const [config, where] of refused) {
      const m = sl.build(config, { inputShape: [2], seed: 2 });
      expect(m.supportsStep).toBe(false);
      sl.verifyContract(m, { x }); // layer() as the reference's
      expect(() => m.step(x, m.initialState(2))).toThrow(
        `this model cannot step (Serial at the root has supportsStep = false): BlockwiseDotProductSelfAttention at ${where} cannot step: ` +
          "a latency before it first emits 3 warm-up steps, not whole blocks of 2, so step() would shift its blocks from layer()'s; insert a Delay(1, delayLayerOutput: false) before it",
      );
      m.dispose();
    }
  });

  it('... and nested in a Residual and chains with latencies of their own (found by fuzzing)', () => {
    const source = sl.randomSequence([2, 5, 3], { seed: 7 });
    const attention = sl.DotProductAttention({
      sourceName: 'src', numHeads: 2, unitsPerHead: 4,
      relativePositionEmbedding: { type: 'T5RelativePositionEmbedding', numBuckets: 8, maxDistance: 16, numHeads: 2, bidirectional: true },
    });
    const decoder = sl.Residual([attention, sl.Flatten()]);
    const x = sl.randomSequence([2, 13, 8], { seed: 3 });
    for (const config of [sl.Serial([delay(2), decoder]), sl.Serial([sl.Lookahead({ length: 1 }), sl.Serial([delay(2), sl.Relu(), decoder])])]) {
      const m = sl.build(config, { inputShape: [8], constants: { src: source }, seed: 5 });
      sl.verifyContract(m, { x, constants: { src: source } });
      m.dispose();
    }
  });

  it('keeps a saturating step count only where a layer needs it, and snapshots mid-warm-up', () => {
    const plain = sl.build(sl.Serial([delay(3), sl.Conv1D({ filters: 2, kernelSize: 2, padding: 'causal' })]), { inputShape: [2] });
    expect(plain.root.stateSpecs(1)).toEqual([]);
    const m = sl.build(sl.Serial([delay(3), sl.SequenceDense({ features: 2, numSteps: 40 })]), { inputShape: [2], seed: 1 });
    expect(m.root.stateSpecs(1).map((s) => [s.name, s.dtype, s.shape])).toEqual([['steps', 'int32', [1]]]);
    const x = sl.randomSequence([1, 12, 2], { randomLengths: false, seed: 4 });
    const state = m.initialState(1);
    m.step(x.sliceTime(0, 2), state);
    const snapshot = state.toBytes();
    const a = m.step(x.sliceTime(2, 12), state);
    const b = m.step(x.sliceTime(2, 12), m.restoreState(snapshot));
    expect([...a.values]).toEqual([...b.values]);
    expect([...a.mask]).toEqual([...b.mask]);
    // The count stops at the warm-up's end (3 steps).
    const steps = state.slots[m.root.slot]![0]!;
    expect(steps.name).toBe('steps');
    expect(m.rt.i32[steps.ptr >> 2]).toBe(3);
    plain.dispose();
    m.dispose();
  });
});

describe('Parallel', () => {
  for (const combination of ['stack', 'concat', 'add', 'mean', 'product'] as const) {
    it(`combines with ${combination}`, () => {
      const m = sl.build(sl.Parallel([sl.Relu(), sl.Identity()], { combination }), { inputShape: [3] });
      sl.verifyContract(m);
      const x = sl.Sequence.fromValues([1, -2, 3], [1, 1, 3]);
      const y = [...m.layer(x).values];
      const expected = {
        stack: [1, 0, 3, 1, -2, 3],
        concat: [1, 0, 3, 1, -2, 3],
        add: [2, -2, 6],
        mean: [1, -1, 3],
        product: [1, -0, 9],
      }[combination];
      expect(y).toEqual(expected);
      expect(m.outputShape()).toEqual({ stack: [2, 3], concat: [6], add: [3], mean: [3], product: [3] }[combination]);
    });
  }
  it('accepts the reference enum spelling', () => {
    const m = sl.build({ type: 'Parallel', layers: [{ type: 'Relu' }], combination: 'CombinationMode.ADD' }, { inputShape: [2] });
    expect(m.toConfig().combination).toBe('add');
  });
});

describe('Residual', () => {
  it('adds the body to the input', () => {
    const m = sl.build(sl.Residual([sl.Relu()]), { inputShape: [2] });
    sl.verifyContract(m);
    const y = m.layer(sl.Sequence.fromValues([1, -2], [1, 1, 2]));
    expect([...y.values]).toEqual([2, -2]);
  });
  it('names the branch that needs a Delay for matching latencies, and following it builds (found in review: it always said the shortcut)', () => {
    const ahead = sl.Conv1D({ filters: 4, kernelSize: 3, padding: 'reverse_causal' }); // latency 2
    const dense = sl.Dense({ features: 4 });
    const delay = sl.Delay({ length: 2, delayLayerOutput: false });
    expect(() => sl.build(sl.Residual([dense], { shortcutLayers: [ahead] }), { inputShape: [4] })).toThrow(
      '[BAD_CONFIG] Residual at config: expected body and shortcut latencies to match, got input 0/2 and output 0/2; add a Delay(2, delayLayerOutput: false) at the end of the body (layers)',
    );
    expect(() => sl.build(sl.Residual([ahead]), { inputShape: [4] })).toThrow(
      'got input 2/0 and output 2/0; add a Delay(2, delayLayerOutput: false) at the end of the shortcut (shortcut_layers)',
    );
    sl.verifyContract(sl.build(sl.Residual([dense, delay], { shortcutLayers: [ahead] }), { inputShape: [4] }));
    sl.verifyContract(sl.build(sl.Residual([ahead], { shortcutLayers: [delay] }), { inputShape: [4] }));
    // Input latencies apart by another amount than output latencies: no one Delay evens both.
    expect(() => sl.build(sl.Residual([sl.Delay({ length: 2 })]), { inputShape: [4] })).toThrow(/got input 2\/0 and output 0\/0$/);
  });
});

describe('Repeat', () => {
  it("stacks its copies' emits on an axis after time, as the reference stacks them (found in review: only the last copy's came back)", async () => {
    const { TestScaleConfig } = await import('./core/test-layers.js');
    const m = sl.build(sl.Repeat(sl.Serial([TestScaleConfig, sl.NamedEmit({ emitName: 'scaled' })]), 3), { inputShape: [2] });
    m.loadWeights({ 'layer.layers.0.scale': { dtype: 'F32', shape: [3, 2], data: Float32Array.from([1, 2, 3, 4, 5, 6]) } });
    const x = sl.Sequence.fromValues([1, 1], [1, 1, 2]);
    for (const { emits } of [m.layerWithEmits(x), m.stepWithEmits(x, m.initialState(1))]) {
      expect(Object.keys(emits)).toEqual(['scaled']);
      expect(emits.scaled!.shape).toEqual([1, 1, 3, 2]);
      expect([...emits.scaled!.values]).toEqual([1, 2, 3, 8, 15, 48]);
    }
    // Nested Repeats stack [outer, inner], as their parameters.
    const nested = sl.build(sl.Repeat(sl.Repeat(sl.Serial([sl.Dense({ features: 2 }), sl.Emit()]), 2), 3), { inputShape: [2] });
    expect(nested.layerWithEmits(x).emits['layer.layer.layers.1']!.shape).toEqual([1, 1, 3, 2, 2]);
    m.dispose();
    nested.dispose();
  });

  it('refuses two emitters under one key (found in review: the first was overwritten)', () => {
    const dup = sl.Serial([sl.NamedEmit({ emitName: 'a' }), sl.Relu(), sl.NamedEmit({ emitName: 'a' })]);
    expect(() => sl.build(dup, { inputShape: [2] })).toThrow(
      '[BAD_CONFIG] NamedEmit at config.layers[2]: expected an emit key of its own, got "a", which NamedEmit at config.layers[0] emits under too',
    );
    expect(() => sl.build(sl.Serial([sl.Emit(), sl.NamedEmit({ emitName: 'layers.0' })]), { inputShape: [2] })).toThrow('BAD_CONFIG');
  });

  it('stacks parameters on a leading axis and applies each repeat in turn', async () => {
    const { TestScaleConfig } = await import('./core/test-layers.js');
    const m = sl.build(sl.Repeat(sl.Serial([TestScaleConfig, sl.Relu()]), 3), { inputShape: [2] });
    expect(m.params().map((p) => [p.path, p.shape])).toEqual([['layer.layers.0.scale', [3, 2]]]);
    m.loadWeights({ 'layer.layers.0.scale': { dtype: 'F32', shape: [3, 2], data: Float32Array.from([1, 2, 3, 4, 5, 6]) } });
    const y = m.layer(sl.Sequence.fromValues([1, 1], [1, 1, 2]));
    expect([...y.values]).toEqual([1 * 3 * 5, 2 * 4 * 6]);
    sl.verifyContract(m);
  });
  it('composes latency and receptive field n times', async () => {
    const { TestPairSumConfig } = await import('./core/test-layers.js');
    const m = sl.build(sl.Repeat(TestPairSumConfig(), 4), { inputShape: [2] });
    expect(m.receptiveField).toEqual([-4, 0]);
    sl.verifyContract(m);
  });
  it('nests, directly or through a Serial: one parameter [outer, inner, ...], run as the unrolled chain (found in review: it did not build)', () => {
    const inner = sl.Serial([sl.Conv1D({ filters: 2, kernelSize: 2, padding: 'causal' }), sl.Tanh()]);
    const unrolled = sl.build(sl.Serial(Array(6).fill(inner)), { inputShape: [2] });
    const x = sl.randomSequence([2, 9, 2], { seed: 3 });
    for (const [config, at, flaxAt] of [
      [sl.Repeat(sl.Repeat(inner, 2), 3), 'layer.layer', 'child_layer/child_layer'],
      [sl.Repeat(sl.Serial([sl.Repeat(inner, 2)]), 3), 'layer.layers.0.layer', 'child_layer/layers_0/child_layer'],
    ] as const) {
      const m = sl.build(config, { inputShape: [2], seed: 1 });
      expect(m.params().map((p) => [p.path, p.flaxPath, p.shape])).toEqual([
        [`${at}.layers.0.kernel`, `params/${flaxAt}/layers_0/kernel`, [3, 2, 2, 2, 2]],
        [`${at}.layers.0.bias`, `params/${flaxAt}/layers_0/bias`, [3, 2, 2]],
      ]);
      sl.verifyContract(m);
      // Repeat i, nested repeat j is the unrolled chain's layer 2i + j.
      const w = m.getWeights();
      const slices: Record<string, sl.Tensor> = {};
      for (const name of ['kernel', 'bias']) {
        const t = w[`${at}.layers.0.${name}`]!, size = t.data.length / 6;
        for (let k = 0; k < 6; k++) slices[`layers.${k}.layers.0.${name}`] = { dtype: 'F32', shape: t.shape.slice(2), data: t.data.slice(k * size, (k + 1) * size) };
      }
      unrolled.loadWeights(slices);
      sl.assertSequencesClose(m.layer(x), unrolled.layer(x), 'nested Repeat vs unrolled', 1e-6, 1e-6);
      for (const naming of ['seqlayers', 'flax'] as const) {
        const other = sl.build(config, { inputShape: [2], seed: 2 });
        other.loadWeights(m.getWeights({ naming }), { naming });
        sl.assertSequencesClose(other.layer(x), m.layer(x), `weights round trip (${naming})`, 0, 0);
      }
    }
  });
  it('rejects a child that changes the channel shape', () => {
    expect(() => sl.build(sl.Repeat(sl.Parallel([sl.Relu(), sl.Relu()]), 2), { inputShape: [2] })).toThrow(/\[BAD_CONFIG\] Repeat at config: expected the repeated layer to keep its input spec/);
  });
});

describe('Blockwise', () => {
  it('steps the child in blocks, in layer mode too', async () => {
    const { TestPairSumConfig } = await import('./core/test-layers.js');
    const m = sl.build(sl.Blockwise(sl.Serial([TestPairSumConfig(), sl.Relu()]), 4), { inputShape: [3] });
    expect(m.blockSize).toBe(4);
    const plain = sl.build(sl.Serial([TestPairSumConfig(), sl.Relu()]), { inputShape: [3] });
    const x = sl.randomSequence([2, 23, 3]);
    sl.assertSequencesClose(m.layer(x), plain.layer(x), 'blockwise layer', 0, 0);
    sl.verifyContract(m);
  });
  it('runs a child reading step constants whole in layer mode (found in review: each block got the whole sequence\'s)', () => {
    const T = 9;
    const pos = new sl.Sequence(Int32Array.from({ length: 2 * T }, (_, i) => i % T), new Uint8Array(2 * T).fill(1), [2, T], 'int32');
    const rope = sl.ApplyRotaryPositionalEncoding({ maxWavelength: 1e4, onlyAdvancePositionForValidTimesteps: false, positionsName: 'pos' });
    const m = sl.build(sl.Blockwise(rope, 2), { inputShape: [4] });
    const plain = sl.build(rope, { inputShape: [4] });
    const x = sl.randomSequence([2, T, 4], { randomLengths: false, seed: 1 });
    sl.assertSequencesClose(m.layer(x, { constants: { pos } }), plain.layer(x, { constants: { pos } }), 'blockwise layer', 0, 0);
    sl.verifyContract(m, { x, constants: { pos }, streamConstants: true, padConstants: true });
  });
  it('gives its child\'s layer() output, longer or shorter than the input (found in review: a Delay\'s last steps were cut, a Lookahead had one more)', () => {
    const x = sl.Sequence.fromValues(Float32Array.from([1, 2, 3, 4, 5, 6, 7]), [1, 7, 1]);
    const cases: [sl.LayerConfig, number[], number[]][] = [
      [sl.Delay({ length: 2 }), [0, 0, 1, 2, 3, 4, 5, 6, 7], [0, 0, 1, 1, 1, 1, 1, 1, 1]],
      [sl.Lookahead({ length: 2 }), [3, 4, 5, 6, 7], [1, 1, 1, 1, 1]],
      [sl.Lookahead({ length: 2, preserveLengthInLayer: true }), [3, 4, 5, 6, 7, 0, 0], [1, 1, 1, 1, 1, 0, 0]],
      [sl.Serial([sl.Delay({ length: 5 }), sl.Lookahead({ length: 1 })]), [0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7], [0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1]],
    ];
    for (const [child, values, mask] of cases) {
      const m = sl.build(sl.Blockwise(child, 4), { inputShape: [1] });
      const y = m.layer(x).maskInvalid();
      expect([...y.values], JSON.stringify(child)).toEqual(values);
      expect([...y.mask], JSON.stringify(child)).toEqual(mask);
      // Full-length items: padding invariance compares with a longer input, where a cut shows.
      sl.verifyContract(m, { x: sl.randomSequence([2, 13, 1], { randomLengths: false, seed: 2 }) });
    }
  });
  it('emits in layer mode what its child emits, the whole sequence (found in review: the last block and the flush)', () => {
    const x = sl.Sequence.fromValues(Float32Array.from([1, 2, 3, 4, 5, 6, 7]), [1, 7, 1]);
    const emit = sl.Blockwise(sl.Serial([{ type: 'Emit' }, sl.Relu()]), 4);
    const { emits } = sl.build(emit, { inputShape: [1] }).layerWithEmits(x);
    expect(Object.keys(emits)).toEqual(['layers.0']);
    expect([...emits['layers.0']!.values]).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect([...emits['layers.0']!.mask]).toEqual([1, 1, 1, 1, 1, 1, 1]);
    // An Emit after a latency too: the child's layer-mode emits exactly.
    const child = sl.Serial([sl.Conv1D({ filters: 2, kernelSize: 3, padding: 'reverse_causal' }), { type: 'NamedEmit', emitName: 'ahead' }, sl.Dense({ features: 1 })]);
    const xs = sl.randomSequence([2, 13, 1], { seed: 5 });
    const plain = sl.build(child, { inputShape: [1], seed: 4 }).layerWithEmits(xs);
    const blockwise = sl.build(sl.Blockwise(child, 4), { inputShape: [1], seed: 4 }).layerWithEmits(xs);
    sl.assertSequencesClose(blockwise.output, plain.output, 'output', 0, 0);
    expect(blockwise.emits['ahead']!.shape).toEqual(plain.emits['ahead']!.shape);
    sl.assertSequencesClose(blockwise.emits['ahead']!, plain.emits['ahead']!, 'emit', 0, 0);
    // The attention layers emit their probabilities (found in review: the last block's only).
    const source = sl.randomSequence([2, 6, 3], { seed: 6, randomLengths: false });
    for (const attention of [sl.DotProductSelfAttention({ numHeads: 1, unitsPerHead: 2, maxPastHorizon: -1 }), sl.GmmAttention({ sourceName: 'src', numHeads: 1, unitsPerHead: 2, numComponents: 2, monotonic: true })]) {
      const constants = { src: source };
      const opts = { inputShape: [1], seed: 4, constants };
      const whole = sl.build(attention, opts).layerWithEmits(xs, { constants });
      const blocks = sl.build(sl.Blockwise(attention, 4), opts).layerWithEmits(xs, { constants });
      sl.assertSequencesClose(blocks.output, whole.output, 'output', 0, 0);
      expect(Object.keys(blocks.emits)).toEqual(['']);
      expect(blocks.emits['']!.shape).toEqual(whole.emits['']!.shape);
      sl.assertSequencesClose(blocks.emits['']!, whole.emits['']!, 'probabilities', 0, 0);
    }
  });
  it('rejects a block size that is not a multiple of the child block size', () => {
    const child = sl.Blockwise(sl.Relu(), 3);
    expect(() => sl.build(sl.Blockwise(child, 4), { inputShape: [1] })).toThrow(/expected block_size to be a multiple of the child's block size 3, got 4/);
  });
});

describe('Bidirectional', () => {
  it('combines forward and time-reversed backward outputs, and cannot step', async () => {
    const { TestPairSumConfig } = await import('./core/test-layers.js');
    const m = sl.build(sl.Bidirectional(TestPairSumConfig(), TestPairSumConfig(), { combination: 'concat' }), { inputShape: [1] });
    expect(m.supportsStep).toBe(false);
    expect(m.receptiveField).toEqual([-1, 1]);
    const y = m.layer(sl.Sequence.fromValues([1, 2, 3], [1, 3, 1]));
    // forward: [1, 3, 5]; backward over [3, 2, 1] gives [3, 5, 3], reversed [3, 5, 3].
    expect([...y.values]).toEqual([1, 3, 3, 5, 5, 3]);
    sl.verifyContract(m);
    expect(() => m.step(sl.Sequence.zeros([1, 1, 1]), m.initialState(1))).toThrow(/NOT_STEPPABLE/);
  });
});

describe('ParallelChannels', () => {
  it("stacks its groups' emits on an axis after time, as the reference's tuple of them (found in review: they came back as batch items)", () => {
    const m = sl.build(sl.ParallelChannels(sl.Serial([sl.Dense({ features: 2 }), sl.Emit()]), 2), { inputShape: [4], seed: 1 });
    const x = sl.randomSequence([3, 5, 4], { seed: 2 });
    const { output, emits } = m.layerWithEmits(x);
    expect(Object.keys(emits)).toEqual(['layers.1']);
    sl.assertSequencesClose(emits['layers.1']!, output, 'emits vs the stacked output', 0, 0);
    const stepped = m.stepWithEmits(x, m.initialState(3)).emits['layers.1']!;
    sl.assertSequencesClose(stepped, output, 'step emits vs the stacked output', 0, 0);
    m.dispose();
  });

  for (const combination of ['stack', 'concat', 'add'] as const) {
    it(`runs one shared stateful child per channel group (${combination})`, async () => {
      const { TestPairSumConfig, TestScaleConfig } = await import('./core/test-layers.js');
      const m = sl.build(sl.ParallelChannels(sl.Serial([TestPairSumConfig(), TestScaleConfig]), 3, { combination }), { inputShape: [6] });
      expect(m.params().map((p) => [p.path, p.shape])).toEqual([['layers.1.scale', [2]]]);
      expect(m.outputShape()).toEqual({ stack: [3, 2], concat: [6], add: [2] }[combination]);
      sl.verifyContract(m);
    });
  }
  it('splits the last axis of a rank-2 channel shape (group i starts i * size/numGroups into each row)', () => {
    // Found by contract fuzzing: groups were read at i * (whole group size), so with leading
    // channel axes they took the wrong channels and read past the end of each row.
    const m = sl.build(sl.ParallelChannels(sl.Identity(), 2, { combination: 'stack' }), { inputShape: [2, 4] });
    const x = sl.Sequence.fromValues(Float32Array.from({ length: 16 }, (_, i) => i), [1, 2, 2, 4]);
    // Step t, row r: [8t + 4r .. 8t + 4r + 3]; group 0 holds the first two of each row, group 1 the last two.
    expect([...m.layer(x).values]).toEqual([0, 1, 4, 5, 2, 3, 6, 7, 8, 9, 12, 13, 10, 11, 14, 15]);
    expect(m.outputShape()).toEqual([2, 2, 2]);
    sl.verifyContract(m);
    const c = sl.build(sl.ParallelChannels(sl.Relu(), 2, { combination: 'concat' }), { inputShape: [3, 4] });
    const y = sl.randomSequence([2, 7, 3, 4], { seed: 4 });
    sl.assertSequencesClose(c.layer(y), sl.build(sl.Relu(), { inputShape: [3, 4] }).layer(y), 'concat of groups = the child on all channels', 0, 0);
    sl.verifyContract(c);
  });
});

describe('complex64 branches', () => {
  // Found by contract fuzzing: the combinators counted one float per complex value, so only
  // the first half of each step was combined and the rest of the output was uninitialised.
  const x = sl.randomSequence([2, 5, 2], { dtype: 'complex64', seed: 9 });
  const pairs = (y: sl.Sequence) => [...y.values].map((v) => Math.fround(v));
  /** x's values through f per (re, im) pair, as float32. */
  const each = (f: (re: number, im: number) => number[]) => {
    const out: number[] = [];
    for (let i = 0; i < x.values.length; i += 2) out.push(...f(x.values[i]!, x.values[i + 1]!).map(Math.fround));
    return out;
  };
  const close = (got: number[], want: number[]) => {
    expect(got.length).toBe(want.length);
    got.forEach((g, i) => expect(g).toBeCloseTo(want[i]!, 5));
  };
  /** Per step of x (2 complex values): the step's floats f(step) concatenated. */
  const perStep = (f: (step: number[]) => number[]) => {
    const out: number[] = [];
    for (let i = 0; i < x.values.length; i += 4) out.push(...f([...x.values.slice(i, i + 4)]));
    return out;
  };
  for (const combination of ['stack', 'concat', 'add', 'mean', 'product'] as const) {
    it(`Parallel combines complex values with ${combination}`, () => {
      const m = sl.build(sl.Parallel([sl.Identity(), sl.Identity()], { combination }), { inputShape: [2], inputDtype: 'complex64' });
      const want = {
        stack: perStep((s) => [...s, ...s]),
        concat: perStep((s) => [...s, ...s]),
        add: each((re, im) => [2 * re, 2 * im]),
        mean: each((re, im) => [re, im]),
        product: each((re, im) => [re * re - im * im, 2 * re * im]),
      }[combination];
      const y = m.layer(x);
      expect(y.dtype).toBe('complex64');
      close(pairs(y), want);
      sl.verifyContract(m, { x });
    });
  }
  it('Parallel multiplies three complex branches, broadcasting one', () => {
    const m = sl.build(sl.Parallel([sl.Identity(), sl.Identity(), sl.Slice({ slices: [[0, 1, null]] })], { combination: 'product' }), { inputShape: [2], inputDtype: 'complex64' });
    const want = perStep(([a, b, c, d]) => {
      // z0 = a + bi, z1 = c + di, each squared, times z0.
      const cube = (re: number, im: number) => [re * (re * re - im * im) - im * 2 * re * im, re * 2 * re * im + im * (re * re - im * im)];
      const [r0, i0] = cube(a!, b!);
      const [sr, si] = [c! * c! - d! * d!, 2 * c! * d!];
      return [r0!, i0!, sr * a! - si * b!, sr * b! + si * a!];
    });
    close(pairs(m.layer(x)), want);
    sl.verifyContract(m, { x });
  });
  it('Residual adds complex values', () => {
    const m = sl.build(sl.Residual([sl.Identity()]), { inputShape: [2], inputDtype: 'complex64' });
    close(pairs(m.layer(x)), each((re, im) => [2 * re, 2 * im]));
    sl.verifyContract(m, { x });
  });
  it('Bidirectional adds complex values', () => {
    const m = sl.build(sl.Bidirectional(sl.Identity(), sl.Identity(), { combination: 'add' }), { inputShape: [2], inputDtype: 'complex64' });
    close(pairs(m.layer(x)), each((re, im) => [2 * re, 2 * im]));
    sl.verifyContract(m, { x });
  });
  it('ParallelChannels splits and concatenates complex values', () => {
    const m = sl.build(sl.ParallelChannels(sl.Identity(), 2, { combination: 'concat' }), { inputShape: [2], inputDtype: 'complex64' });
    close(pairs(m.layer(x)), [...x.values]);
    sl.verifyContract(m, { x });
  });
});

describe('int32 branches', () => {
  // Found by contract fuzzing: add, mean and product ran float32 kernels over int32 bit patterns
  // (2^24 + 2^24 gave 25165824, every product gave 0). Integer arithmetic is refused instead.
  const ids = new sl.Sequence(Int32Array.from([2, 3, 1 << 24, 7]), Uint8Array.from([1, 1]), [1, 2, 2], 'int32');
  for (const combination of ['add', 'mean', 'product'] as const) {
    it(`Parallel refuses to ${combination} int32 branches`, () => {
      expect(() => sl.build(sl.Parallel([sl.Identity(), sl.Identity()], { combination }), { inputShape: [2], inputDtype: 'int32' })).toThrow(
        new RegExp(`\\[BAD_CONFIG\\] config: expected float32 or complex64 branch outputs to ${combination}, got int32`),
      );
    });
  }
  it('Residual refuses an int32 body', () => {
    expect(() => sl.build(sl.Residual([sl.Identity()]), { inputShape: [2], inputDtype: 'int32' })).toThrow(/\[BAD_CONFIG\] Residual at config: expected a float32 or complex64 body output to add, got int32/);
  });
  it('Bidirectional and ParallelChannels refuse to add int32', () => {
    expect(() => sl.build(sl.Bidirectional(sl.Identity(), sl.Identity(), { combination: 'add' }), { inputShape: [2], inputDtype: 'int32' })).toThrow(/BAD_CONFIG/);
    expect(() => sl.build(sl.ParallelChannels(sl.Identity(), 2, { combination: 'product' }), { inputShape: [2], inputDtype: 'int32' })).toThrow(/BAD_CONFIG/);
  });
  it('still stacks and concatenates int32 exactly', () => {
    const m = sl.build(sl.Parallel([sl.Identity(), sl.Identity()], { combination: 'concat' }), { inputShape: [2], inputDtype: 'int32' });
    expect([...m.layer(ids).values]).toEqual([2, 3, 2, 3, 1 << 24, 7, 1 << 24, 7]);
  });
});

describe('CheckpointGradient', () => {
  it('is its child at inference', () => {
    const m = sl.build(sl.CheckpointGradient(sl.Relu()), { inputShape: [2] });
    sl.verifyContract(m);
    expect([...m.layer(sl.Sequence.fromValues([-1, 1], [1, 1, 2])).values]).toEqual([0, 1]);
  });
});

describe('Blockwise memory', () => {
  it('runs a 1,000,000-step layer() with scratch bounded by the block, not the input length', async () => {
    const child = sl.Serial([
      sl.Conv1D({ filters: 16, kernelSize: 5, padding: 'causal' }),
      sl.Relu(),
      sl.Conv1D({ filters: 2, kernelSize: 3, padding: 'causal' }),
    ]);
    const x = sl.randomSequence([1, 1_000_000, 2], { randomLengths: false });
    const ioBytes = 2 * x.values.length * 4 + 2 * x.mask.length; // the input copy and the output
    const grow = async (config: sl.LayerConfig) => {
      const rt = await sl.createRuntime();
      const m = sl.build(config, { inputShape: [2], runtime: rt });
      const before = rt.memory.buffer.byteLength;
      const y = m.layer(x);
      return { y, growth: rt.memory.buffer.byteLength - before };
    };
    const blockwise = await grow(sl.Blockwise(child, 4096));
    const plain = await grow(child);
    console.log(`1M steps: memory growth ${(blockwise.growth / 2 ** 20).toFixed(1)} MiB blockwise vs ${(plain.growth / 2 ** 20).toFixed(1)} MiB plain (input + output ${(ioBytes / 2 ** 20).toFixed(1)} MiB)`);
    // The plain run holds every intermediate activation ([1M, 16] floats is 64 MB); blockwise
    // only the input, the output and one block's scratch (memory grows in steps of a quarter).
    expect(blockwise.growth).toBeLessThan(1.5 * ioBytes + (8 << 20));
    expect(plain.growth).toBeGreaterThan(blockwise.growth + (32 << 20));
    sl.assertSequencesClose(blockwise.y, plain.y, 'blockwise vs plain layer', 0, 0);
  });
});
