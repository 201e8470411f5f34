// Silero VAD v5/v6, converted from the published ONNX files (npm @ricky0123/vad-web), against
// onnxruntime-node running the same files the way their users stream them: a 64-sample context
// prepended to each 512-sample chunk, the state fed back, sr = 16000. Audio: the committed
// espeak-ng recording test/fixtures/vad/speech.wav (speech, silence, speech).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import * as sl from '../src/index.js';

const require = createRequire(import.meta.url);
const onnxPath = (v: string) => require.resolve(`@ricky0123/vad-web/dist/silero_vad_${v}.onnx`);
const TOLERANCE = 1e-4;

beforeAll(async () => {
  await sl.init();
});

const wav = sl.readWav(readFileSync(new URL('./fixtures/vad/speech.wav', import.meta.url)));
const audio = wav.channels[0]!;

/** Speech probabilities from onnxruntime-node, streamed as Silero's users do (the last chunk zero-padded). */
async function ortProbabilities(bytes: Uint8Array, x: Float32Array, sampleRate: 16000 | 8000): Promise<Float32Array> {
  const chunk = sampleRate === 16000 ? 512 : 256, context = chunk / 8;
  const session = await ort.InferenceSession.create(bytes);
  let state = new ort.Tensor('float32', new Float32Array(2 * 128), [2, 1, 128]);
  const sr = new ort.Tensor('int64', BigInt64Array.of(BigInt(sampleRate)), []);
  const n = Math.ceil(x.length / chunk);
  const out = new Float32Array(n);
  const window = new Float32Array(context + chunk);
  for (let i = 0; i < n; i++) {
    window.copyWithin(0, chunk); // the previous chunk's last `context` samples
    window.fill(0, context);
    window.set(x.subarray(i * chunk, (i + 1) * chunk), context);
    const r = await session.run({ input: new ort.Tensor('float32', window.slice(), [1, context + chunk]), state, sr });
    state = r.stateN as typeof state;
    out[i] = (r.output!.data as Float32Array)[0]!;
  }
  await session.release();
  return out;
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Runs of chunks with probability >= 0.5 as [first, last] chunk indices, bridging pauses under 320 ms (10 chunks). */
function segments(p: ArrayLike<number>): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < p.length; i++) {
    if (p[i]! < 0.5) continue;
    const last = out.at(-1);
    if (last && last[1] >= i - 10) last[1] = i;
    else out.push([i, i]);
  }
  return out;
}

for (const version of ['v5', 'v6']) {
  describe(`Silero VAD ${version}`, () => {
    const bytes = new Uint8Array(readFileSync(onnxPath(version)));
    const vad = sl.convertSileroVad(bytes);
    let model: sl.Model;
    let reference: Float32Array;

    beforeAll(async () => {
      model = sl.build(vad.config, { inputShape: vad.inputShape });
      model.loadWeights(vad.weights);
      reference = await ortProbabilities(bytes, audio, 16000);
    });

    it('converts to library layers with documented names and shapes', () => {
      expect((vad.config.layers as sl.LayerConfig[]).map((l) => l.type)).toEqual([
        'Frame', 'Pad', 'Conv2D', 'Reshape', 'Power', 'Sum', 'Power', 'Conv2D', 'Conv2D', 'Conv2D', 'Conv2D', 'Reshape', 'LSTM', 'Relu', 'Dense', 'Sigmoid',
      ]);
      const shapes = Object.fromEntries(Object.entries(vad.weights).map(([k, t]) => [k, t.shape]));
      expect(shapes).toEqual({
        'layers.2.kernel': [1, 256, 1, 258],
        'layers.7.kernel': [1, 3, 129, 128], 'layers.7.bias': [128],
        'layers.8.kernel': [1, 3, 128, 64], 'layers.8.bias': [64],
        'layers.9.kernel': [1, 3, 64, 64], 'layers.9.bias': [64],
        'layers.10.kernel': [1, 3, 64, 128], 'layers.10.bias': [128],
        'layers.12.kernel.kernel': [128, 512], 'layers.12.recurrent_kernel.kernel': [128, 512], 'layers.12.bias': [512],
        'layers.14.kernel': [128, 1], 'layers.14.bias': [1],
      });
      expect([vad.sampleRate, vad.chunk, vad.context]).toEqual([16000, 512, 64]);
      expect(model.blockSize).toBe(512);
      expect(model.outputRatio.toString()).toBe('1/512');
      expect([model.inputLatency, model.outputLatency]).toEqual([0, 0]);
      expect(model.receptiveField).toEqual([-Infinity, 511]);
      expect(model.outputShape()).toEqual([1]);
      // The weights survive a safetensors round trip.
      const file = sl.readSafetensors(sl.writeSafetensors(vad.weights, vad.metadata));
      expect(file.metadata.chunk).toBe('512');
      model.loadWeights(file);
    });

    it(`layer mode over the whole file matches onnxruntime-node within ${TOLERANCE}`, () => {
      const y = model.layer(sl.Sequence.fromValues(audio, [1, audio.length, 1]));
      expect(y.time).toBe(reference.length);
      expect([...y.mask].every((m) => m === 1)).toBe(true);
      expect(maxDiff(y.values, reference)).toBeLessThanOrEqual(TOLERANCE);
    });

    it(`streamed in 512-sample blocks (and 3-block steps) matches onnxruntime-node within ${TOLERANCE}`, () => {
      const x = sl.Sequence.fromValues(audio, [1, audio.length, 1]);
      for (const blocks of [1, 3]) {
        const y = sl.stepByStep(model, x, 512 * blocks);
        expect(maxDiff(y.values, reference), `${blocks} block(s) per step`).toBeLessThanOrEqual(TOLERANCE);
      }
    });

    it('finds the two spoken phrases, as onnxruntime does', () => {
      const ours = segments(model.layer(sl.Sequence.fromValues(audio, [1, audio.length, 1])).values);
      expect(ours).toEqual(segments(reference));
      expect(ours.length).toBe(2);
      // The recording's silence between the phrases lasts 1.2 s (37 chunks).
      expect(ours[1]![0] - ours[0]![1]).toBeGreaterThan(30);
    });
  });
}

describe('Silero VAD v5, 8 kHz branch', () => {
  it(`matches onnxruntime-node with sr = 8000 (256-sample chunks, 32 of context) within ${TOLERANCE}`, async () => {
    const bytes = new Uint8Array(readFileSync(onnxPath('v5')));
    const vad = sl.convertSileroVad(bytes, { sampleRate: 8000 });
    expect([vad.sampleRate, vad.chunk, vad.context]).toEqual([8000, 256, 32]);
    expect(vad.weights['layers.2.kernel']!.shape).toEqual([1, 128, 1, 130]);
    const x8 = audio.filter((_, i) => i % 2 === 0); // equivalence only needs the same samples on both sides
    const model = sl.build(vad.config, { inputShape: vad.inputShape });
    model.loadWeights(vad.weights);
    const reference = await ortProbabilities(bytes, x8, 8000);
    const x = sl.Sequence.fromValues(x8, [1, x8.length, 1]);
    expect(maxDiff(model.layer(x).values, reference)).toBeLessThanOrEqual(TOLERANCE);
    expect(maxDiff(sl.stepByStep(model, x, 256).values, reference)).toBeLessThanOrEqual(TOLERANCE);
    model.dispose();
  });
});

describe('Silero VAD: contract and errors', () => {
  const bytes = new Uint8Array(readFileSync(onnxPath('v5')));

  it('the converted model passes verifyContract (receptive field included)', () => {
    const vad = sl.convertSileroVad(bytes);
    const model = sl.build(vad.config, { inputShape: vad.inputShape });
    model.loadWeights(vad.weights);
    const r = sl.verifyContract(model, { atol: 1e-5, rtol: 1e-4 });
    expect(r.checks).toContain('receptive field');
    model.dispose();
  });

  const expectBadOnnx = (f: () => unknown, message: RegExp) => {
    let err: unknown;
    try {
      f();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(sl.SeqLayersError);
    expect((err as sl.SeqLayersError).code).toBe('BAD_ONNX');
    expect((err as Error).message).toMatch(message);
  };

  it('rejects the v4 "legacy" file, other sample rates and graphs that are not Silero v5/v6', () => {
    expectBadOnnx(() => sl.convertSileroVad(new Uint8Array(readFileSync(onnxPath('legacy')))), /expected a Silero VAD v5\/v6 graph: inputs "input", "state" and "sr", got \["input", "sr", "h", "c"\] \(Silero v4 "legacy" files/);
    expectBadOnnx(() => sl.convertSileroVad(bytes, { sampleRate: 44100 as 16000 }), /expected sampleRate 16000 or 8000, got 44100/);
    const parsed = sl.readOnnx(bytes);
    // The same graph with every LSTM node renamed, and with the Pad in another mode.
    const rewrite = (f: (n: sl.OnnxNode) => sl.OnnxNode): sl.OnnxModel => {
      const graph = (g: sl.OnnxGraph): sl.OnnxGraph => ({
        ...g,
        nodes: g.nodes.map((n) => f({ ...n, attributes: n.attributes.map((a) => (a.g ? { ...a, g: graph(a.g) } : a)) })),
      });
      return { ...parsed, graph: graph(parsed.graph) };
    };
    expectBadOnnx(() => sl.convertSileroVad(rewrite((n) => (n.opType === 'LSTM' ? { ...n, opType: 'GRU' } : n))), /expected a Silero VAD v5\/v6 graph: an LSTM node/);
    const edge = new TextEncoder().encode('edge');
    expectBadOnnx(
      () => sl.convertSileroVad(rewrite((n) => (n.opType === 'Pad' ? { ...n, attributes: n.attributes.map((a) => (a.name === 'mode' ? { ...a, s: edge } : a)) } : n))),
      /the input Pad in mode "reflect"/,
    );
    expectBadOnnx(() => sl.convertSileroVad(new Uint8Array([8, 1])), /ModelProto: expected a graph \(field 7\)/);
  });

  it('refuses what is neither bytes nor a parsed model, naming what arrived', () => {
    const expected = /convertSileroVad: expected the bytes of an \.onnx file \(Uint8Array or ArrayBuffer\) or a model from readOnnx\(\), got /;
    expectBadOnnx(() => sl.convertSileroVad(null as never), new RegExp(expected.source + 'null'));
    expectBadOnnx(() => sl.convertSileroVad('silero_vad.onnx' as never), new RegExp(expected.source + '"silero_vad\\.onnx"'));
    expectBadOnnx(() => sl.convertSileroVad({ graph: null } as never), new RegExp(expected.source + '\\{"graph":null\\}'));
  });
});
