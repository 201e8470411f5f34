// Silero VAD v5/v6, converted from the published ONNX files (npm @ricky0123/vad-web), against
// onnxruntime-node running the same files the way their users stream them: a 64-sample context
// prepended to each 512-sample chunk, the state fed back, sr = 16000. Audio: the committed
// espeak-ng recording test/fixtures/vad/speech.wav (speech, silence, speech).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import * as sl from '../src/index.js';
import { expectCoded } from './errors.js';

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

  const expectBadOnnx = (f: () => unknown, message: RegExp) => expectCoded('BAD_ONNX', f, message);
  const parsed = sl.readOnnx(bytes);
  /** The v5 graph with every node of every (sub)graph mapped through `f` (a node, or nodes in its place). */
  const rewrite = (f: (n: sl.OnnxNode) => sl.OnnxNode | sl.OnnxNode[]): sl.OnnxModel => {
    const graph = (g: sl.OnnxGraph): sl.OnnxGraph => ({
      ...g,
      nodes: g.nodes.flatMap((n) => f({ ...n, attributes: n.attributes.map((a) => (a.g ? { ...a, g: graph(a.g) } : a)) })),
    });
    return { ...parsed, graph: graph(parsed.graph) };
  };
  const op = (opType: string, input: string, output: string): sl.OnnxNode => ({ name: `${opType}_added`, opType, domain: '', inputs: [input], outputs: [output], attributes: [] });

  it('rejects the v4 "legacy" file, other sample rates and graphs that are not Silero v5/v6', () => {
    expectBadOnnx(() => sl.convertSileroVad(new Uint8Array(readFileSync(onnxPath('legacy')))), /expected a Silero VAD v5\/v6 graph: inputs "input", "state" and "sr", got \["input", "sr", "h", "c"\] \(Silero v4 "legacy" files/);
    // The same graph with every LSTM node made a GRU, and with the Pad in another mode.
    expectBadOnnx(() => sl.convertSileroVad(rewrite((n) => (n.opType === 'LSTM' ? { ...n, opType: 'GRU' } : n))), /expected a Silero VAD v5\/v6 graph: only Identity, Squeeze, Unsqueeze, Cast to float and If nodes between the LSTM and the decoder Relu, got GRU\(/);
    const edge = new TextEncoder().encode('edge');
    expectBadOnnx(
      () => sl.convertSileroVad(rewrite((n) => (n.opType === 'Pad' ? { ...n, attributes: n.attributes.map((a) => (a.name === 'mode' ? { ...a, s: edge } : a)) } : n))),
      /the input Pad in mode "reflect"/,
    );
    expectBadOnnx(() => sl.convertSileroVad(new Uint8Array([8, 1])), /ModelProto: expected a graph \(field 7\)/);
    // Single-rate exports (silero_vad_half.onnx, the OpenVINO one) have no "sr": said so, with no v4 hint.
    const noSr = { ...parsed, graph: { ...parsed.graph, inputs: parsed.graph.inputs.filter((i) => i.name !== 'sr') } };
    expectBadOnnx(() => sl.convertSileroVad(noSr), /got \["input", "state"\] \(no "sr": single-rate exports such as silero_vad_half\.onnx and silero_vad_openvino_16k\.onnx are not read; use silero_vad\.onnx\)$/);
    // Equal(sr, sr): what was found, not an empty value name.
    expectBadOnnx(() => sl.convertSileroVad(rewrite((n) => (n.opType === 'Equal' && n.inputs.includes('sr') ? { ...n, inputs: ['sr', 'sr'] } : n))), /the If node "If_0" on Equal\(sr, <rate>\), got Equal\(sr, sr\) -> Equal_0_C/);
  });

  it('options are checked: unknown keys (the snake_case spelling too) and values are BAD_ARGUMENT', () => {
    expectCoded('BAD_ARGUMENT', () => sl.convertSileroVad(bytes, { sample_rate: 8000 } as never), /convertSileroVad: unknown option "sample_rate" \(did you mean "sampleRate"\?\); the options are sampleRate/);
    expectCoded('BAD_ARGUMENT', () => sl.convertSileroVad(bytes, { samplerate: 8000 } as never), /unknown option "samplerate" \(did you mean "sampleRate"\?\)/);
    expectCoded('BAD_ARGUMENT', () => sl.convertSileroVad(bytes, null as never), /convertSileroVad: expected an options object, got null/);
    expectCoded('BAD_ARGUMENT', () => sl.convertSileroVad(bytes, 5 as never), /convertSileroVad: expected an options object, got 5/);
    expectCoded('BAD_ARGUMENT', () => sl.convertSileroVad(bytes, { sampleRate: 44100 as 16000 }), /convertSileroVad: expected sampleRate 16000 or 8000, got 44100/);
  });

  it('every op between the stages is read: one the converter cannot express is BAD_ONNX naming it, not dropped', () => {
    // A Neg on the LSTM's input (in every LSTM node), the Cast of the LSTM's output made a Neg,
    // a Sqrt after the Sigmoid: onnxruntime's probabilities move by up to 1 with each.
    const negInput = rewrite((n) => (n.opType === 'LSTM' ? [op('Neg', n.inputs[0]!, `${n.inputs[0]}_neg`), { ...n, inputs: [`${n.inputs[0]}_neg`, ...n.inputs.slice(1)] }] : n));
    expectBadOnnx(() => sl.convertSileroVad(negInput), /only Identity, Squeeze, Unsqueeze, Cast to float and If nodes between the last encoder Relu and the LSTM, got Neg\(If_0_then_branch__Inline_0__\/decoder\/rnn\/Unsqueeze_3_output_0\)/);
    const negOutput = rewrite((n) => (n.opType === 'Cast' && n.outputs[0]!.endsWith('/decoder/Cast_1_output_0') ? { ...n, opType: 'Neg', attributes: [] } : n));
    expectBadOnnx(() => sl.convertSileroVad(negOutput), /between the LSTM and the decoder Relu, got Neg\(If_0_then_branch__Inline_0__\/decoder\/Unsqueeze_output_0\)/);
    const castToInt = rewrite((n) => (n.opType === 'Cast' && n.outputs[0]!.endsWith('/decoder/Cast_1_output_0') ? { ...n, attributes: [{ name: 'to', type: 2, i: 6 }] } : n));
    expectBadOnnx(() => sl.convertSileroVad(castToInt), /between the LSTM and the decoder Relu, got Cast\(.*\) -> .*\{to: 6\}/);
    const sqrtAfter = rewrite((n) => (n.opType === 'Sigmoid' ? [{ ...n, outputs: [`${n.outputs[0]}_pre`] }, op('Sqrt', `${n.outputs[0]}_pre`, n.outputs[0]!)] : n));
    expectBadOnnx(() => sl.convertSileroVad(sqrtAfter), /between the decoder Sigmoid and the output, got Sqrt\(/);
    // The 8 kHz branch is read the same way.
    expectBadOnnx(() => sl.convertSileroVad(negInput, { sampleRate: 8000 }), /between the last encoder Relu and the LSTM, got Neg\(If_0_else_branch__Inline_0__/);
  });

  it('an encoder Relu that redefines a value another node computes is BAD_ONNX at once (it made the encoder walk loop forever)', () => {
    const cycle = rewrite((n) => (n.opType === 'Relu' && n.outputs[0]!.endsWith('/encoder/2/activation/Relu_output_0') ? { ...n, outputs: [n.outputs[0]!.replace('/encoder/2/', '/encoder/1/')] } : n));
    expectBadOnnx(() => sl.convertSileroVad(cycle), /the value "If_0_else_branch__Inline_0__\/encoder\/1\/activation\/Relu_output_0" is defined twice: by Relu\(/);
  });

  it('Pad pads the Pad layer cannot express (negative: ONNX crops; past one reflection) are BAD_ONNX naming the Pad node', () => {
    const withPads = (pads: number[]) =>
      rewrite((n) => {
        if (n.opType !== 'Pad') return n;
        const c: sl.OnnxNode = { name: '', opType: 'Constant', domain: '', inputs: [], outputs: [`${n.outputs[0]}_pads`], attributes: [{ name: 'value', type: 4, t: { name: '', dims: [4], dataType: 7, data: BigInt64Array.from(pads, BigInt) } }] };
        return [c, { ...n, inputs: [n.inputs[0]!, c.outputs[0]!] }];
      });
    expect(sl.convertSileroVad(withPads([0, 32, 0, 32])).config.layers).toContainEqual({ type: 'Pad', axis: 2, padding: [32, 32], mode: 'reflect' });
    expectBadOnnx(() => sl.convertSileroVad(withPads([0, -32, 0, 96])),
      /Pad node "If_0_then_branch__Inline_0__\/stft\/padding\/Pad": pads \[0, left, 0, right\] on the \[batch, samples\] input \(no axes\), left and right in \[0, 575\] for a 576-sample window, got \[0, -32, 0, 96\]/);
    expectBadOnnx(() => sl.convertSileroVad(withPads([0, 0, 0, 576])), /left and right in \[0, 575\] for a 576-sample window, got \[0, 0, 0, 576\]/);
  });

  it('refuses what is neither bytes nor a parsed model, naming what arrived', () => {
    const expected = /convertSileroVad: expected the bytes of an \.onnx file \(Uint8Array or ArrayBuffer\) or a model from readOnnx\(\), got /;
    expectBadOnnx(() => sl.convertSileroVad(null as never), new RegExp(expected.source + 'null'));
    expectBadOnnx(() => sl.convertSileroVad('silero_vad.onnx' as never), new RegExp(expected.source + '"silero_vad\\.onnx"'));
    expectBadOnnx(() => sl.convertSileroVad({ graph: null } as never), new RegExp(expected.source + '\\{"graph":null\\}'));
    // A partial model: the field named, not "g.initializers is not iterable".
    expectBadOnnx(() => sl.convertSileroVad({ graph: { inputs: ['input', 'state', 'sr'].map((name) => ({ name })) } } as never), /convertSileroVad: model\.graph: expected a graph \{nodes, initializers, inputs, outputs\} as readOnnx\(\) makes, got \{"inputs":/);
  });
});
