// seqlayers/audio outside the browser: the quantum-to-block adapter the processor runs (latency,
// exactness, no allocation per quantum), and what the worklet's module graph may use.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { DIST, loadDist } from './helpers.js';

let sl: Awaited<ReturnType<typeof loadDist>>;
let audio: typeof import('../../dist/audio/index.js');

beforeAll(async () => {
  sl = await loadDist();
  audio = await import('../../dist/audio/index.js');
  await sl.init();
});

const gcd = (a: number, b: number): number => (b ? gcd(b, a % b) : a);

describe('seqlayers/audio: BlockAdapter', () => {
  const cases = [
    { name: 'block size 1, blocks of one quantum', block: 1, blockFrames: undefined, quantum: 128, channels: 1 },
    { name: 'blocks of 160 frames', block: 1, blockFrames: 160, quantum: 128, channels: 1 },
    { name: 'blocks of 48 frames (several steps per quantum)', block: 1, blockFrames: 48, quantum: 128, channels: 2 },
    { name: 'block size 5 (blocks of 130 frames)', block: 5, blockFrames: undefined, quantum: 128, channels: 1 },
    { name: 'a 256-frame render quantum, blocks of 100', block: 1, blockFrames: 100, quantum: 256, channels: 1 },
  ];
  for (const c of cases) {
    it(`plays layer() delayed by its latency: ${c.name}`, () => {
      const inner = sl.Serial([sl.Conv1D({ filters: 6, kernelSize: 4, padding: 'causal' }), sl.Relu(), sl.Dense({ features: c.channels })]);
      const model = sl.build(c.block > 1 ? sl.Blockwise(inner, c.block) : inner, { inputShape: [c.channels], seed: 5 });
      const adapter = new audio.BlockAdapter(model, { quantum: c.quantum, blockFrames: c.blockFrames });
      const n = adapter.blockFrames;
      expect(n % c.block).toBe(0);
      expect(adapter.latency).toBe(n - gcd(n, c.quantum));
      const quanta = 40;
      const x = sl.randomSequence([1, quanta * c.quantum, c.channels], { randomLengths: false, seed: 9 });
      const expected = model.layer(x).values;
      const played = new Float32Array(quanta * c.quantum * c.channels);
      const input = Array.from({ length: c.channels }, () => new Float32Array(c.quantum));
      const output = Array.from({ length: c.channels }, () => new Float32Array(c.quantum));
      for (let q = 0; q < quanta; q++) {
        for (let t = 0; t < c.quantum; t++) for (let ch = 0; ch < c.channels; ch++) input[ch]![t] = x.values[(q * c.quantum + t) * c.channels + ch]!;
        adapter.process(input, output);
        for (let t = 0; t < c.quantum; t++) for (let ch = 0; ch < c.channels; ch++) played[(q * c.quantum + t) * c.channels + ch] = output[ch]![t]!;
      }
      const lat = adapter.latency * c.channels;
      expect(played.subarray(0, lat).every((v) => v === 0), 'silence first').toBe(true);
      let err = 0;
      for (let i = lat; i < played.length; i++) err = Math.max(err, Math.abs(played[i]! - expected[i - lat]!));
      expect(err).toBeLessThan(1e-5);
      adapter.dispose();
    });
  }

  it('plays a model with output latency (a lookahead convolution) as silence until its first valid frame', () => {
    for (const padding of ['reverse_causal', 'reverse_causal_valid'] as const) {
      const model = sl.build(sl.Serial([sl.Conv1D({ filters: 1, kernelSize: 5, padding }), sl.Dense({ features: 1 })]), { inputShape: [1], seed: 5 });
      const adapter = new audio.BlockAdapter(model, { quantum: 128, blockFrames: 48 });
      expect(adapter.latency).toBe(48 - gcd(48, 128) + 4);
      const x = sl.randomSequence([1, 10 * 128, 1], { randomLengths: false, seed: 3 });
      const expected = model.layer(x).values;
      const played = new Float32Array(x.time);
      const output = [new Float32Array(128)];
      for (let q = 0; q < 10; q++) {
        adapter.process([(x.values as Float32Array).subarray(q * 128, (q + 1) * 128)], output);
        played.set(output[0]!, q * 128);
      }
      const lat = adapter.latency;
      expect(played.subarray(0, lat).every((v) => v === 0), `${padding}: silence first`).toBe(true);
      let err = 0;
      for (let i = lat; i < played.length; i++) err = Math.max(err, Math.abs(played[i]! - expected[i - lat]!));
      expect(err, padding).toBeLessThan(1e-5);
      adapter.dispose();
      model.dispose();
    }
  });

  it('plays a model with constants (a conditioning vector), replaced between quanta by setConstants; missing ones are refused', () => {
    const speaker = { values: Float32Array.from([0.5, -1, 2]), shape: [1, 3] };
    const model = sl.build(sl.Serial([
      sl.Conditioning({ conditioningName: 'speaker', projection: 'linear', combination: 'add' }),
      sl.Conv1D({ filters: 2, kernelSize: 3, padding: 'causal' }), sl.Dense({ features: 1 }),
    ]), { inputShape: [1], seed: 4, constants: { speaker } });
    const adapter = new audio.BlockAdapter(model, { quantum: 128, constants: { speaker } });
    const x = sl.randomSequence([1, 6 * 128, 1], { randomLengths: false, seed: 2 });
    const expected = model.layer(x, { constants: { speaker } }).values;
    const output = [new Float32Array(128)];
    for (let q = 0; q < 6; q++) {
      adapter.process([(x.values as Float32Array).subarray(q * 128, (q + 1) * 128)], output);
      for (let t = 0; t < 128; t++) expect(Math.abs(output[0]![t]! - expected[q * 128 + t]!)).toBeLessThan(1e-5);
    }
    adapter.dispose();
    expect(() => new audio.BlockAdapter(model, { quantum: 128 })).toThrow(/^\[MISSING_CONSTANT\] Conditioning at config\.layers\[0\]: constants\.speaker/);

    // setConstants between quanta: the next blocks step with them; refused ones change nothing.
    const other = { values: Float32Array.from([-1, 0.5, 3]), shape: [1, 3] };
    const switching = new audio.BlockAdapter(model, { quantum: 128, constants: { speaker } });
    const state = model.initialState(1, { constants: { speaker } });
    for (let q = 0; q < 6; q++) {
      if (q === 3) {
        expect(() => switching.setConstants({ voice: other })).toThrow(/^\[MISSING_CONSTANT\].*constants\.speaker/);
        expect(() => switching.setConstants({ speaker: { values: new Float32Array(2), shape: [1, 2] } })).toThrow(/^\[MISSING_CONSTANT\].*constants\.speaker/);
        switching.setConstants({ speaker: other });
      }
      switching.process([(x.values as Float32Array).subarray(q * 128, (q + 1) * 128)], output);
      const want = model.step(x.sliceTime(q * 128, (q + 1) * 128), state, { constants: { speaker: q < 3 ? speaker : other } }).values;
      for (let t = 0; t < 128; t++) expect(output[0]![t]).toBe(want[t]);
    }
    switching.dispose();
    model.dispose();
  });

  it('rejects models that cannot play as audio, with BAD_CONFIG', () => {
    const strided = sl.build(sl.Conv1D({ filters: 1, kernelSize: 2, strides: 2, padding: 'causal' }), { inputShape: [1] });
    expect(() => new audio.BlockAdapter(strided, { quantum: 128 })).toThrow(/^\[BAD_CONFIG\] audio: expected output ratio 1/);
    const model = sl.build(sl.Relu(), { inputShape: [2, 2] });
    expect(() => new audio.BlockAdapter(model, { quantum: 128 })).toThrow(/^\[BAD_CONFIG\] audio: expected a model input of \[channels\]/);
  });

  it('refuses every call once it or its model was disposed, with DISPOSED, playing nothing more from its FIFO (found in review)', () => {
    const model = sl.build(sl.Conv1D({ filters: 1, kernelSize: 3, padding: 'causal' }), { inputShape: [1], seed: 1 });
    const adapter = new audio.BlockAdapter(model, { quantum: 128, blockFrames: 512 });
    const orphan = new audio.BlockAdapter(model, { quantum: 128, blockFrames: 512 });
    const quantum = () => [new Float32Array(128).fill(1)];
    adapter.process(quantum(), [new Float32Array(128)]);
    orphan.process(quantum(), [new Float32Array(128)]);
    adapter.dispose();
    const out = [new Float32Array(128).fill(7)];
    expect(() => adapter.process(quantum(), out)).toThrow(/^\[DISPOSED\] audio: process: this adapter was disposed$/);
    expect(out[0]!.every((v) => v === 7), 'nothing played').toBe(true);
    expect(() => adapter.setConstants({})).toThrow(/^\[DISPOSED\] audio: setConstants: this adapter was disposed$/);
    adapter.dispose();
    model.dispose();
    expect(() => orphan.process(quantum(), out)).toThrow(/^\[DISPOSED\] audio: process: the model of this adapter was disposed$/);
    expect(out[0]!.every((v) => v === 7), 'nothing played').toBe(true);
    orphan.dispose();
  });

  it('refuses bad options and quanta with codes before taking a frame, and keeps its own constants (found by a bad-input audit; MAX_QUANTUM exported and option errors BAD_ARGUMENT found in review)', async () => {
    const speaker = { values: Float32Array.from([0.5, -1, 2]), shape: [1, 3] };
    const model = sl.build(sl.Serial([
      sl.Conditioning({ conditioningName: 'speaker', projection: 'linear', combination: 'add' }),
      sl.LSTM({ units: 3 }), sl.Dense({ features: 1 }),
    ]), { inputShape: [1], seed: 4, constants: { speaker } });
    for (const quantum of [NaN, 128.5, -128, Infinity, '128', 2 ** 31, undefined]) {
      expect(() => new audio.BlockAdapter(model, { quantum: quantum as number, blockFrames: 8, constants: { speaker } })).toThrow(/^\[BAD_ARGUMENT\] audio: expected quantum \(frames per render quantum\) to be an integer from 1 to 65536, got /);
    }
    // Options are arguments (BAD_ARGUMENT), not the model's config (found in review).
    expect(() => new audio.BlockAdapter(model, { quantum: audio.MAX_QUANTUM + 1, blockFrames: 8, constants: { speaker } })).toThrow(/^\[BAD_ARGUMENT\] audio: expected quantum .* from 1 to 65536, got 65537$/);
    const blocky = sl.build(sl.Blockwise(sl.Relu(), 4), { inputShape: [1] });
    expect(() => new audio.BlockAdapter(blocky, { quantum: 128, blockFrames: 10 })).toThrow(/^\[BAD_ARGUMENT\] audio: expected blockFrames to be a positive multiple of the block size 4, got 10$/);
    blocky.dispose();
    expect(() => new audio.BlockAdapter(model, null as never)).toThrow(/^\[BAD_ARGUMENT\] audio: expected options/);
    expect(() => new audio.BlockAdapter({} as never, { quantum: 128 })).toThrow(/^\[BAD_ARGUMENT\] audio: expected a Model/);
    await expect(audio.createModelNode({} as never, undefined as never)).rejects.toThrow(/^\[BAD_ARGUMENT\] createModelNode: expected options/);
    await expect(audio.createModelNode({} as never, { config: sl.Relu(), inputShape: 5 as never })).rejects.toThrow(/^\[BAD_ARGUMENT\] createModelNode: expected inputShape as \[channels\], got 5/);

    const mine = { speaker: { values: speaker.values.slice(), shape: [1, 3] } };
    const adapter = new audio.BlockAdapter(model, { quantum: 128, blockFrames: 48, constants: mine });
    const twin = new audio.BlockAdapter(model, { quantum: 128, blockFrames: 48, constants: { speaker } });
    const quantum = (q: number) => [Float32Array.from({ length: 128 }, (_, i) => Math.sin(0.1 * (q * 128 + i)))];
    const gone = new Float32Array(128);
    structuredClone(gone.buffer, { transfer: [gone.buffer] });
    const out = [new Float32Array(128)], twinOut = [new Float32Array(128)];
    for (let q = 0; q < 8; q++) {
      if (q === 2) {
        // A short quantum (its missing frames read as NaN before) poisoned an LSTM for good.
        for (const [input, output, text] of [
          [[new Float32Array(64)], out, 'input channel 0 as Float32Arrays of 128 frames (one render quantum), got Float32Array(64)'],
          [[gone], out, 'input channel 0 as Float32Arrays of 128 frames (one render quantum), got Float32Array(detached)'],
          [[new Int16Array(128)], out, 'input channel 0 as Float32Arrays of 128 frames (one render quantum), got Int16Array(128)'],
          [quantum(q), [new Float32Array(1000)], 'output channel 0 as Float32Arrays of 128 frames (one render quantum), got Float32Array(1000)'],
          [quantum(q), [], 'the output channels as Float32Arrays'],
        ] as const) {
          expect(() => adapter.process(input as never, output as never)).toThrow(`[BAD_INPUT] audio: expected ${text}`);
        }
        // Edited or transferred, the caller's constants are the caller's.
        mine.speaker.values[0] = 1e6;
        structuredClone(mine.speaker.values.buffer, { transfer: [mine.speaker.values.buffer] });
      }
      adapter.process(quantum(q), out);
      twin.process(quantum(q), twinOut);
      expect(out[0]).toEqual(twinOut[0]);
      expect(out[0]!.every(Number.isFinite)).toBe(true);
    }
    const other = { values: Float32Array.from([-1, 0.5, 3]), shape: [1, 3] };
    adapter.setConstants({ speaker: other });
    twin.setConstants({ speaker: { values: other.values.slice(), shape: [1, 3] } });
    other.values.fill(1e6);
    adapter.process(quantum(8), out);
    twin.process(quantum(8), twinOut);
    expect(out[0]).toEqual(twinOut[0]);
    adapter.dispose();
    twin.dispose();
    model.dispose();
  });

  it('createModelNode refuses more than 32 channels in or out (Web Audio\'s limit) and codes the browser\'s own refusal (found in review: a raw DOMException, a crashed renderer)', async () => {
    const context = { audioWorklet: { addModule: async () => {} } } as never;
    await expect(audio.createModelNode(context, { config: sl.Dense({ features: 1 }), inputShape: [33] }))
      .rejects.toThrow(/^\[BAD_ARGUMENT\] createModelNode: expected inputShape \[channels\] with 1 to 32 channels \(Web Audio's limit per node\), got \[33\]$/);
    await expect(audio.createModelNode(context, { config: sl.Dense({ features: 33 }) }))
      .rejects.toThrow(/^\[BAD_CONFIG\] createModelNode: expected a model output of 1 to 32 channels \(Web Audio's limit per node\), got \[33\]$/);
    const scope = globalThis as Record<string, unknown>;
    scope.AudioWorkletNode = class {
      constructor() {
        throw new DOMException('The number of channels provided (32) is outside the range [1, 8].', 'NotSupportedError');
      }
    };
    try {
      await expect(audio.createModelNode(context, { config: sl.Dense({ features: 32 }), inputShape: [32] })).rejects.toThrow(
        '[BAD_ARGUMENT] createModelNode: expected the browser to make the AudioWorkletNode (32 input channels, 32 output channels), got NotSupportedError: The number of channels provided (32) is outside the range [1, 8].',
      );
    } finally {
      delete scope.AudioWorkletNode;
    }
  });

  it('allocates nothing on the JS heap per quantum (stepInto included)', () => {
    const probe = join(dirname(new URL(import.meta.url).pathname), 'fixtures/alloc-probe.js');
    const out = execFileSync(process.execPath, ['--expose-gc', '--max-semi-space-size=256', probe], { encoding: 'utf8' });
    const { bytesPerQuantum } = JSON.parse(out) as { bytesPerQuantum: number };
    console.log(`[audio] JS heap allocated per quantum in steady state: ${bytesPerQuantum.toFixed(2)} bytes`);
    // A single small object per call would be >= 16 bytes; what remains is one-off JIT noise.
    expect(bytesPerQuantum).toBeLessThan(4);
  });
});

describe('seqlayers/audio: the processor in a stand-in worklet scope', () => {
  it('reports a processor made without processorOptions as BAD_ARGUMENT through its port, and builds from good ones', async () => {
    const made: { port: MessagePort; main: MessagePort }[] = [];
    let Processor!: new (options: unknown) => { process(i: Float32Array[][], o: Float32Array[][]): boolean };
    const scope = globalThis as Record<string, unknown>;
    scope.AudioWorkletProcessor = class {
      port: MessagePort;
      constructor() {
        const { port1, port2 } = new MessageChannel();
        this.port = port1;
        made.push({ port: port1, main: port2 });
      }
    };
    scope.registerProcessor = (_: string, ctor: typeof Processor) => (Processor = ctor);
    try {
      await import('../../dist/audio/processor.js');
      const firstMessage = (options: unknown) => {
        const p = new Processor(options);
        const { port, main } = made.at(-1)!;
        return new Promise<Record<string, unknown>>((resolve) => (main.onmessage = (ev) => resolve(ev.data))).finally(() => {
          port.close();
          main.close();
        }).then((m) => ({ m, p }));
      };
      for (const options of [undefined, {}, { processorOptions: 5 }]) {
        const { m, p } = await firstMessage(options);
        expect(m).toEqual({ type: 'error', message: expect.stringMatching(/^\[BAD_ARGUMENT\] seqlayers-model: expected processorOptions as createModelNode\(\) passes them .*, got (undefined|5)$/) });
        expect(p.process([[new Float32Array(128)]], [[new Float32Array(128)]])).toBe(false);
      }
      const module = await sl.compileKernels();
      const { m, p } = await firstMessage({ processorOptions: { module, config: sl.Relu(), inputShape: [1] } });
      expect(m).toMatchObject({ type: 'ready', latency: 0 });
      const out = [new Float32Array(128)];
      expect(p.process([[Float32Array.from({ length: 128 }, (_, i) => i - 64)]], [out])).toBe(true);
      expect(out[0]!.every((v, i) => v === Math.max(0, i - 64))).toBe(true);
    } finally {
      delete scope.AudioWorkletProcessor;
      delete scope.registerProcessor;
    }
  });
});

describe('seqlayers/audio: the worklet module graph', () => {
  // What AudioWorkletGlobalScope lacks (deployment.md §1.4), and Node's module system.
  const FORBIDDEN = /\b(TextDecoder|TextEncoder|performance|setTimeout|setInterval|queueMicrotask|atob|btoa|importScripts|crypto|require|Buffer)\b|\bfetch\(|\bimport\(|\bprocess\./;
  // Host loading in runtime.js: init()/compileKernels() fetch or read the kernels when given
  // no module. The processor never calls them (it instantiates the module it is given).
  const ALLOWED: Record<string, RegExp> = { 'runtime/runtime.js': /\bfetch\(url\)|\bimport\(\s*NODE_FS\)/g };

  it('imports only relative modules, and none of them uses what the worklet scope lacks', () => {
    const seen = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const code = readFileSync(file, 'utf8');
      for (const m of code.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s*'([^']+)'|^\s*import\s*'([^']+)'/gm)) {
        const spec = (m[1] ?? m[2])!;
        expect(spec.startsWith('.'), `${relative(DIST, file)} imports ${spec}`).toBe(true);
        visit(resolve(dirname(file), spec));
      }
      const name = relative(DIST, file);
      const body = code
        .replace(/\/\*[\s\S]*?\*\//g, '')
        .replace(/(^|\s)\/\/.*$/gm, '$1')
        .replace(ALLOWED[name] ?? /$^/, '');
      const hit = FORBIDDEN.exec(body);
      expect(hit?.[0], `${name} uses ${hit?.[0]}`).toBeUndefined();
    };
    visit(join(DIST, 'audio/processor.js'));
    expect(seen.size).toBeGreaterThan(10);
    expect([...seen].some((f) => f.endsWith('workers/client.js')), 'no Comlink in the worklet').toBe(false);
  });
});
