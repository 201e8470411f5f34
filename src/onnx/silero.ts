// Silero VAD v5/v6 (MIT, github.com/snakers4/silero-vad) from its published ONNX file to a
// seqlayers config and weights. The graph is read, not assumed: the sample-rate If, the
// reflection Pad and its pads (folded from the graph), the STFT Conv and its basis, the
// magnitude, the Conv + ReLU encoder (kernel, stride, padding per layer), the LSTM (weights
// folded through the exporter's gate reordering) and the Conv + Sigmoid decoder, and the data
// path between them, which may hold only ops that pass values on unchanged (traceBack);
// anything else is a BAD_ONNX error saying what was expected.
//
// How a Silero stream maps onto a seqlayers model. Silero's users call the ONNX model once per
// chunk of `chunk` samples (512 at 16 kHz, 256 at 8 kHz) with the last `context` samples of the
// previous chunk prepended (64 / 32; zeros before the first chunk) and the LSTM state fed back.
// Inside one call the chunk is reflect-padded on the right, cut into STFT frames (4), and the
// encoder convolutions zero-pad those frames at the chunk's edges: everything before the LSTM
// happens within one chunk. So here the input is the raw sample stream [B, T, 1]; a Frame layer
// (semicausal: frame_length context + chunk, frame_step chunk) turns each chunk into one step
// holding its `context + chunk` samples, its buffer being the context; everything before the
// LSTM runs on that step's channel axes (Pad and Conv2D with a time kernel of 1), and the LSTM
// steps once per chunk. Block size = chunk, output ratio 1/chunk, one probability per chunk.
//
// The layers (16 kHz; 8 kHz halves the sizes: chunk 256, context 32, basis [130, 1, 128]
// stride 64, 65 bins):
//   layers.0   Frame(576, 512, 'semicausal')        [1]        → [576, 1]
//   layers.1   Pad(axis 2, [0, 64], 'reflect')      [576, 1]   → [640, 1]
//   layers.2   Conv2D(258, [1, 256], [1, 128])      [640, 1]   → [4, 258]   STFT (re ‖ im)
//   layers.3-6 Reshape [4, 2, 129], Power 2, Sum(axis -2), Power 0.5        → [4, 129]  magnitude
//   layers.7-10 Conv2D([1, 3], strides [1, s], padding [1, 1], relu), s = 1, 2, 2, 1
//                                                  → [4, 128] → [2, 64] → [1, 64] → [1, 128]
//   layers.11  Reshape [128];  layers.12 LSTM(128);  layers.13 Relu;
//   layers.14  Dense(1);  layers.15 Sigmoid                          → [1] speech probability
//
// Parameters (ONNX tensor → seqlayers parameter; ONNX names as in the v5/v6 files, the 8 kHz
// branch's prefixed 'If_0_else_branch__Inline_0__'):
//   stft.forward_basis_buffer [2F, 1, K]       → layers.2.kernel [1, K, 1, 2F]: k[0, j, 0, o] = w[o, 0, j]
//   encoder.{e}.reparam_conv.weight [O, I, k]  → layers.{7+e}.kernel [1, k, I, O]: k[0, j, c, o] = w[o, c, j]
//   encoder.{e}.reparam_conv.bias [O]          → layers.{7+e}.bias [O]
//   LSTM input W [1, 4H, I] (gates i, o, f, c)  → layers.12.kernel.kernel [I, 4H] (gates i, f, g, o):
//     the LSTM node's W, R and B inputs are folded from decoder.rnn.weight_ih / weight_hh /
//     bias_ih / bias_hh (PyTorch order i, f, g, o) through the exporter's Slice + Concat into
//     ONNX order i, o, f, c; here each gate block is transposed into place: kernel[:, g*H:(g+1)*H]
//     = W[0, onnxGate(g)*H : (onnxGate(g)+1)*H, :]^T with onnxGate = {i: 0, f: 2, g: 3, o: 1}
//   LSTM recurrent R [1, 4H, H]                → layers.12.recurrent_kernel.kernel [H, 4H], the same way
//   LSTM bias B [1, 8H] (Wb ‖ Rb)              → layers.12.bias [4H] = Wb + Rb, gates reordered the same way
//   decoder.decoder.2.weight [1, H, 1]         → layers.14.kernel [H, 1]: k[c, 0] = w[0, c, 0]
//   decoder.decoder.2.bias [1]                 → layers.14.bias [1]
// The graph's final Squeeze and ReduceMean over one chunk's single output are identities.
import { checkOptionKeys, type LayerConfig } from '../config.js';
import { SeqLayersError, show } from '../errors.js';
import type { Tensor } from '../weights/safetensors.js';
import { ConstantFolder, type Folded } from './fold.js';
import { asBytes } from '../util/bytes.js';
import { checkOnnxGraph, describeOnnxNode, onnxAttribute, readOnnx, type OnnxGraph, type OnnxModel, type OnnxNode } from './model.js';
import { badOnnx } from './protobuf.js';

export interface SileroVadOptions {
  /** The branch to convert: 16000 (default) or 8000 Hz. */
  sampleRate?: 16000 | 8000;
}

/** A converted Silero VAD: what `build(config, { inputShape })` and `loadWeights(weights)` take. */
export interface SileroVad {
  /** A Serial of library layers (see the table above). */
  readonly config: LayerConfig;
  /** Parameters by path, float32, in seqlayers layouts. */
  readonly weights: Record<string, Tensor>;
  /** The model's input channel shape: [1] (mono samples). */
  readonly inputShape: readonly number[];
  readonly sampleRate: number;
  /** Samples per chunk: the block size, and the samples per output probability. */
  readonly chunk: number;
  /** Samples of the previous chunk each chunk sees (the Frame layer's buffer). */
  readonly context: number;
  /** Provenance for a safetensors header (`writeSafetensors(weights, metadata)`). */
  readonly metadata: Record<string, string>;
}

/** Silero's streaming convention per sample rate (OnnxWrapper in silero-vad's utils_vad.py). */
const STREAMING = { 16000: { chunk: 512, context: 64 }, 8000: { chunk: 256, context: 32 } } as const;

/** ONNX LSTM gate blocks (i, o, f, c) in seqlayers' gate order (i, f, g, o). */
const ONNX_GATE = [0, 2, 3, 1] as const;

const expected = (what: string) => badOnnx(`expected a Silero VAD v5/v6 graph: ${what}`);

/** Converts the Silero VAD v5 or v6 ONNX file (bytes or a parsed model) into a seqlayers config and weights. */
export function convertSileroVad(onnx: Uint8Array | ArrayBuffer | OnnxModel, opts?: SileroVadOptions): SileroVad {
  if (opts !== undefined) checkOptionKeys(opts, 'convertSileroVad', ['sampleRate']);
  const sampleRate = opts?.sampleRate ?? 16000;
  if (sampleRate !== 16000 && sampleRate !== 8000) throw new SeqLayersError('BAD_ARGUMENT', `convertSileroVad: expected sampleRate 16000 or 8000, got ${show(sampleRate)}`);
  const bytes = asBytes(onnx);
  const model = bytes ? readOnnx(bytes) : (onnx as OnnxModel);
  if (!model || typeof model !== 'object' || !model.graph) {
    throw badOnnx(`convertSileroVad: expected the bytes of an .onnx file (Uint8Array or ArrayBuffer) or a model from readOnnx(), got ${show(onnx)}`);
  }
  checkOnnxGraph(model.graph, 'convertSileroVad: model.graph');
  const g = model.graph;
  const names = g.inputs.map((i) => i.name);
  if (!['input', 'state', 'sr'].every((n) => names.includes(n))) {
    const hint = names.includes('h') && names.includes('c') ? ' (Silero v4 "legacy" files, with h and c, are not this model)'
      : !names.includes('sr') ? ' (no "sr": single-rate exports such as silero_vad_half.onnx and silero_vad_openvino_16k.onnx are not read; use silero_vad.onnx)' : '';
    throw expected(`inputs "input", "state" and "sr", got ${show(names)}${hint}`);
  }
  if (!g.outputs.some((o) => o.name === 'output')) throw expected(`an output "output" (the speech probability), got ${show(g.outputs.map((o) => o.name))}`);
  const folder = new ConstantFolder(g);
  const branch = selectBranch(g, folder, sampleRate);
  const { chunk, context } = STREAMING[sampleRate];
  // "output" comes from the decoder's Sigmoid (one per branch) through plumbing only.
  const sigmoids = traceBack('output', folder, (n) => isPlumbing(n) || isMeanOfOne(n, folder), (v) => folder.producer(v)?.opType === 'Sigmoid',
    `only ${PLUMBING}, ReduceMean over non-batch axes and If nodes between the decoder Sigmoid and the output`);
  const sigmoid = [...sigmoids].map((v) => folder.producer(v)!).filter((n) => branch.nodes.includes(n));
  if (sigmoid.length !== 1) throw expected(`one Sigmoid giving the output in the ${sampleRate} Hz branch, got ${sigmoid.length}`);

  // Geometry of one chunk: the window, its STFT frames, then each encoder layer's frames.
  const window = context + chunk;
  const net = readBranch(branch, folder, sigmoid[0]!, window);
  const padded = net.pad[0] + window + net.pad[1];
  let frames = Math.floor((padded - net.stft.k) / net.stft.s) + 1;
  for (const e of net.encoder) frames = Math.floor((frames + 2 * e.p - e.k) / e.s) + 1;
  if (frames !== 1) throw expected(`an encoder that reduces a ${window}-sample window to one frame, got ${frames}`);
  const bins = net.stft.filters / 2;
  const stftFrames = Math.floor((padded - net.stft.k) / net.stft.s) + 1;

  const conv2d = (filters: number, k: number, s: number, spatialPadding: 'valid' | [number, number], extra: object) => ({
    type: 'Conv2D', filters, kernelSize: [1, k], strides: [1, s], timePadding: 'causal', spatialPadding, ...extra,
  });
  const encoderAt = 7;
  const lstmAt = encoderAt + net.encoder.length + 1;
  const config: LayerConfig = {
    type: 'Serial',
    layers: [
      { type: 'Frame', frameLength: window, frameStep: chunk, padding: 'semicausal' },
      { type: 'Pad', axis: 2, padding: net.pad, mode: 'reflect' },
      conv2d(net.stft.filters, net.stft.k, net.stft.s, 'valid', { useBias: false }),
      { type: 'Reshape', outputShape: [stftFrames, 2, bins] },
      { type: 'Power', power: 2 },
      { type: 'Sum', axis: -2 },
      { type: 'Power', power: 0.5 },
      ...net.encoder.map((e) => conv2d(e.out, e.k, e.s, [e.p, e.p], { activation: 'relu' })),
      { type: 'Reshape', outputShape: [net.lstm.input] },
      { type: 'LSTM', units: net.lstm.units },
      { type: 'Relu' },
      { type: 'Dense', features: 1 },
      { type: 'Sigmoid' },
    ],
  };

  const weights: Record<string, Tensor> = {};
  const put = (name: string, shape: number[], data: Float32Array) => (weights[name] = { dtype: 'F32', shape, data });
  // ONNX Conv weight [O, I, k] → Conv2D kernel [1, k, I, O].
  const convKernel = (w: Folded) => {
    const [o, i, k] = w.dims as [number, number, number];
    const out = new Float32Array(o * i * k);
    for (let a = 0; a < o; a++) for (let c = 0; c < i; c++) for (let j = 0; j < k; j++) out[(j * i + c) * o + a] = w.values[(a * i + c) * k + j]!;
    return out;
  };
  put('layers.2.kernel', [1, net.stft.k, 1, net.stft.filters], convKernel(net.stft.w));
  net.encoder.forEach((e, n) => {
    put(`layers.${encoderAt + n}.kernel`, [1, e.k, e.in, e.out], convKernel(e.w));
    put(`layers.${encoderAt + n}.bias`, [e.out], Float32Array.from(e.b.values));
  });
  const { units: h, input: din } = net.lstm;
  // ONNX [4H, cols] (gates i, o, f, c) → seqlayers [cols, 4H] (gates i, f, g, o).
  const gates = (m: Folded, cols: number) => {
    const out = new Float32Array(cols * 4 * h);
    for (let gate = 0; gate < 4; gate++) {
      const from = ONNX_GATE[gate]! * h;
      for (let u = 0; u < h; u++) for (let c = 0; c < cols; c++) out[c * 4 * h + gate * h + u] = m.values[(from + u) * cols + c]!;
    }
    return out;
  };
  put(`layers.${lstmAt}.kernel.kernel`, [din, 4 * h], gates(net.lstm.w, din));
  put(`layers.${lstmAt}.recurrent_kernel.kernel`, [h, 4 * h], gates(net.lstm.r, h));
  const bias = new Float32Array(4 * h);
  for (let gate = 0; gate < 4; gate++) {
    const from = ONNX_GATE[gate]! * h;
    for (let u = 0; u < h; u++) bias[gate * h + u] = net.lstm.b.values[from + u]! + net.lstm.b.values[4 * h + from + u]!;
  }
  put(`layers.${lstmAt}.bias`, [4 * h], bias);
  put(`layers.${lstmAt + 2}.kernel`, [h, 1], Float32Array.from(net.decoder.w.values));
  put(`layers.${lstmAt + 2}.bias`, [1], Float32Array.from(net.decoder.b.values));

  const metadata = {
    source: 'Silero VAD (MIT, github.com/snakers4/silero-vad), converted from ONNX by seqlayers convertSileroVad',
    onnx_producer: `${model.producerName} ${model.producerVersion}`.trim(),
    sample_rate: String(sampleRate),
    chunk: String(chunk),
    context: String(context),
  };
  return { config, weights, inputShape: [1], sampleRate, chunk, context, metadata };
}

/** The If branch that runs for `sampleRate`: the graph's If on Equal(sr, rate). */
function selectBranch(g: OnnxGraph, folder: ConstantFolder, sampleRate: number): OnnxGraph {
  for (const n of g.nodes) {
    if (n.opType !== 'If') continue;
    const eq = folder.producer(n.inputs[0] ?? '');
    if (!eq || eq.opType !== 'Equal' || !eq.inputs.includes('sr')) continue;
    const other = eq.inputs.find((x) => x !== 'sr');
    if (eq.inputs.length !== 2 || other === undefined) throw expected(`the If node ${show(n.name)} on Equal(sr, <rate>), got ${describeOnnxNode(eq)}`);
    const rate = folder.ints(other)[0];
    const then = onnxAttribute(n, 'then_branch')?.g, otherwise = onnxAttribute(n, 'else_branch')?.g;
    if (!then || !otherwise) throw expected(`If node ${show(n.name)} with then_branch and else_branch subgraphs`);
    // The else branch serves every other rate; Silero supports 16000 and 8000 only.
    return rate === sampleRate ? then : otherwise;
  }
  throw expected('an If node on Equal(sr, <rate>) choosing the sample-rate branch');
}

interface ConvSpec {
  w: Folded;
  b: Folded;
  in: number;
  out: number;
  k: number;
  s: number;
  p: number;
}

interface Network {
  pad: [number, number];
  stft: { w: Folded; filters: number; k: number; s: number };
  encoder: ConvSpec[];
  lstm: { w: Folded; r: Folded; b: Folded; units: number; input: number };
  decoder: { w: Folded; b: Folded };
}

/**
 * Reads one sample-rate branch: pad, STFT, magnitude, encoder, LSTM, decoder (`sigmoid` its
 * last node). `window` is the samples of one call (context + chunk).
 */
function readBranch(branch: OnnxGraph, folder: ConstantFolder, sigmoid: OnnxNode, window: number): Network {
  const consumers = (name: string) => branch.nodes.filter((n) => n.inputs.includes(name));
  const only = (name: string, op: string, what: string): OnnxNode => {
    const c = consumers(name);
    if (c.length !== 1 || c[0]!.opType !== op) throw expected(`${what}: one ${op} reading ${show(name)}, got ${show(c.map((n) => n.opType))}`);
    return c[0]!;
  };

  // Reflection padding of the [B, T] input, on the right of the time axis; a reflection repeats
  // no edge sample, so it reaches at most window - 1 samples (as the Pad layer's and ONNX's).
  const pad = branch.nodes.find((n) => n.opType === 'Pad');
  if (!pad || pad.inputs[0] !== 'input') throw expected('a Pad node on the input');
  const mode = onnxAttribute(pad, 'mode')?.s;
  if (!mode || new TextDecoder().decode(mode) !== 'reflect') throw expected(`the input Pad in mode "reflect"`);
  const pads = folder.ints(pad.inputs[1] ?? '');
  if (pads.length !== 4 || pads[0] !== 0 || pads[2] !== 0 || pad.inputs[3] || pads.some((p) => p < 0 || p > window - 1)) {
    throw expected(`Pad node ${show(pad.name)}: pads [0, left, 0, right] on the [batch, samples] input (no axes), left and right in [0, ${window - 1}] for a ${window}-sample window, got ${show(pads)}`);
  }

  // STFT: Unsqueeze to [B, 1, T], then a Conv with the fixed basis [2F, 1, K].
  const unsq = only(pad.outputs[0]!, 'Unsqueeze', 'the padded input');
  const stftNode = only(unsq.outputs[0]!, 'Conv', 'the STFT');
  const stft = convOf(stftNode, folder, false);
  if (stft.in !== 1 || stft.p !== 0 || stft.out % 2) throw expected(`an STFT Conv over one channel without padding, with an even number of filters, got ${show(stft.w.dims)}`);

  // Magnitude: sqrt(re^2 + im^2), re and im the two channel halves of the STFT.
  const sqrt = branch.nodes.find((n) => n.opType === 'Sqrt');
  const add = sqrt && folder.producer(sqrt.inputs[0] ?? '');
  if (!add || add.opType !== 'Add') throw expected('the magnitude Sqrt(Add(Pow(re, 2), Pow(im, 2)))');
  const halves = add.inputs.map((x) => {
    const pow = folder.producer(x);
    if (!pow || pow.opType !== 'Pow' || folder.fold(pow.inputs[1] ?? '').values[0] !== 2) throw expected('Pow(x, 2) in the magnitude');
    return channelRange(pow.inputs[0]!, stftNode.outputs[0]!, folder, stft.out);
  });
  const f = stft.out / 2;
  const cover = halves.map(([a, b]) => `${a}:${b}`).sort().join(',');
  if (cover !== `0:${f},${f}:${2 * f}`) throw expected(`the magnitude to pair STFT channels [0, ${f}) with [${f}, ${2 * f}), got ${cover}`);

  // Encoder: Conv + Relu, from the magnitude on, while a Conv follows (each Conv once: a file
  // whose Relu feeds an earlier Conv would otherwise lead round forever).
  const encoder: ConvSpec[] = [];
  const seen = new Set<OnnxNode>();
  let cur = sqrt!.outputs[0]!;
  let channels = f;
  for (let next = consumers(cur); next.length === 1 && next[0]!.opType === 'Conv'; next = consumers(cur)) {
    if (seen.has(next[0]!)) throw expected(`an encoder without cycles, got Conv node ${show(next[0]!.name)} twice`);
    seen.add(next[0]!);
    const c = convOf(next[0]!, folder, true);
    if (c.in !== channels) throw expected(`encoder layer ${encoder.length} to read ${channels} channels, got ${show(c.w.dims)}`);
    encoder.push(c);
    cur = only(next[0]!.outputs[0]!, 'Relu', `encoder layer ${encoder.length - 1}`).outputs[0]!;
    channels = c.out;
  }
  if (!encoder.length) throw expected('Conv + Relu encoder layers after the magnitude');

  // Decoder: Relu → Conv [1, H, 1] → Sigmoid.
  const decNode = folder.producer(sigmoid.inputs[0] ?? '');
  if (!decNode || decNode.opType !== 'Conv') throw expected('a Sigmoid after the decoder Conv');
  const decRelu = folder.producer(decNode.inputs[0] ?? '');
  if (decRelu?.opType !== 'Relu') throw expected('a Relu before the decoder Conv');

  // LSTM: the decoder's Relu reads an LSTM's Y or Y_h (one step: the same values) through
  // plumbing; every LSTM it reaches (the exporter emits one per state-present branch) must hold
  // the same weights and read the last encoder Relu, again through plumbing only.
  const lstms = [...traceBack(decRelu.inputs[0] ?? '', folder, isPlumbing, (v) => folder.producer(v)?.opType === 'LSTM',
    `only ${PLUMBING} and If nodes between the LSTM and the decoder Relu`)].map((v) => {
    const n = folder.producer(v)!;
    if (n.outputs.indexOf(v) > 1) throw expected(`the decoder to read the LSTM's Y or Y_h, got its output ${n.outputs.indexOf(v)} (${show(v)})`);
    return n;
  });
  const lstm = lstmOf(lstms[0]!, folder);
  for (const n of lstms.slice(1)) {
    const o = lstmOf(n, folder);
    if (!sameValues(o.w, lstm.w) || !sameValues(o.r, lstm.r) || !sameValues(o.b, lstm.b)) throw expected('every LSTM node with the same weights');
  }
  for (const n of lstms) traceBack(n.inputs[0] ?? '', folder, isPlumbing, (v) => v === cur, `only ${PLUMBING} and If nodes between the last encoder Relu and the LSTM`);
  if (lstm.input !== channels) throw expected(`an LSTM reading the encoder's ${channels} channels, got input size ${lstm.input}`);

  const dec = convOf(decNode, folder, true);
  if (dec.out !== 1 || dec.k !== 1 || dec.in !== lstm.units) throw expected(`a decoder Conv [1, ${lstm.units}, 1], got ${show(dec.w.dims)}`);

  return {
    pad: [pads[1]!, pads[3]!],
    stft: { w: stft.w, filters: stft.out, k: stft.k, s: stft.s },
    encoder,
    lstm,
    decoder: { w: dec.w, b: dec.b },
  };
}

/** isPlumbing's ops, for messages. */
const PLUMBING = 'Identity, Squeeze, Unsqueeze, Cast to float';
/** Ops that pass values on unchanged on Silero's data path: shape plumbing, and Cast to float of float values. */
function isPlumbing(n: OnnxNode): boolean {
  return n.opType === 'Identity' || n.opType === 'Squeeze' || n.opType === 'Unsqueeze' || (n.opType === 'Cast' && onnxAttribute(n, 'to')?.i === 1);
}

/**
 * A ReduceMean over axes other than the batch's: the decoder gives one value per item ([B, 1, 1],
 * one frame checked by the converter), so such a mean is that value.
 */
function isMeanOfOne(n: OnnxNode, folder: ConstantFolder): boolean {
  if (n.opType !== 'ReduceMean') return false;
  const axes = n.inputs[1] ? folder.ints(n.inputs[1]) : onnxAttribute(n, 'axes')?.ints;
  return !!axes?.length && axes.every((a) => a >= 1);
}

/** Paths longer than this between two stages of Silero are taken as a hostile file (or a cycle); the real ones are under 10 ops. */
const MAX_PATH = 64;

/**
 * Where the value `name` comes from: follows it back through the ops `passes` accepts (their
 * first input) and through If nodes (the matching output of both branches) to values `stop`
 * accepts, and returns those. Any other op on the way, or a value no node computes, is a
 * BAD_ONNX error: `what` says what was expected.
 */
function traceBack(name: string, folder: ConstantFolder, passes: (n: OnnxNode) => boolean, stop: (value: string) => boolean, what: string): Set<string> {
  const found = new Set<string>(), done = new Set<string>();
  const walk = (v: string, depth: number): void => {
    if (done.has(v)) return;
    if (depth > MAX_PATH) throw expected(`${what}, got a path of more than ${MAX_PATH} nodes (or a cycle) through ${show(v)}`);
    if (stop(v)) found.add(v);
    else {
      const n = folder.producer(v);
      if (!n) throw expected(`${what}, got ${show(v)}, which no node computes`);
      if (n.opType === 'If') {
        const k = n.outputs.indexOf(v);
        for (const side of ['then_branch', 'else_branch']) {
          const out = onnxAttribute(n, side)?.g?.outputs[k]?.name;
          if (out === undefined) throw expected(`${what}: If node ${show(n.name)} with a ${side} giving its output ${k}`);
          walk(out, depth + 1);
        }
      } else if (passes(n)) walk(n.inputs[0] ?? '', depth + 1);
      else throw expected(`${what}, got ${describeOnnxNode(n)}`);
    }
    done.add(v);
  };
  walk(name, 0);
  return found;
}

/** A 1-D Conv node: constant weight [O, I, k] (and bias [O] when `withBias`), symmetric pads, no dilation or groups. */
function convOf(n: OnnxNode, folder: ConstantFolder, withBias: boolean): ConvSpec {
  const w = folder.fold(n.inputs[1] ?? '');
  if (w.dims.length !== 3) throw expected(`a 1-D Conv weight [out, in, k] in node ${show(n.name)}, got ${show(w.dims)}`);
  const [out, cin, k] = w.dims as [number, number, number];
  const b = withBias ? folder.fold(n.inputs[2] ?? '') : { dims: [out], values: new Float64Array(out) };
  if (b.values.length !== out) throw expected(`a Conv bias of ${out} values in node ${show(n.name)}, got ${show(b.dims)}`);
  if (!withBias && n.inputs[2]) throw expected(`no bias on the STFT Conv ${show(n.name)}`);
  const attr = (name: string, dflt: number[]) => onnxAttribute(n, name)?.ints ?? dflt;
  const [s] = attr('strides', [1]);
  const pads = attr('pads', [0, 0]);
  const dil = attr('dilations', [1]);
  const group = onnxAttribute(n, 'group')?.i ?? 1;
  if (pads.length !== 2 || pads[0] !== pads[1] || dil.some((d) => d !== 1) || group !== 1 || onnxAttribute(n, 'auto_pad')) {
    throw expected(`Conv ${show(n.name)} with symmetric pads, no dilation and one group, got pads ${show(pads)}, dilations ${show(dil)}, group ${group}`);
  }
  return { w, b, in: cin, out, k, s: s ?? 1, p: pads[0]! };
}

/** A forward, single-direction LSTM with default activations and its folded W [1, 4H, I], R [1, 4H, H], B [1, 8H]. */
function lstmOf(n: OnnxNode, folder: ConstantFolder) {
  const units = onnxAttribute(n, 'hidden_size')?.i;
  const direction = onnxAttribute(n, 'direction')?.s;
  const acts = onnxAttribute(n, 'activations')?.strings?.map((s) => new TextDecoder().decode(s));
  if (
    !units || (direction && new TextDecoder().decode(direction) !== 'forward') || onnxAttribute(n, 'clip') ||
    (onnxAttribute(n, 'input_forget')?.i ?? 0) !== 0 || (onnxAttribute(n, 'layout')?.i ?? 0) !== 0 ||
    (acts && acts.join() !== 'Sigmoid,Tanh,Tanh') || n.inputs[4]
  ) {
    throw expected(`a forward LSTM with default activations, no clip, peepholes or sequence lengths (node ${show(n.name)})`);
  }
  const w = folder.fold(n.inputs[1] ?? ''), r = folder.fold(n.inputs[2] ?? ''), b = folder.fold(n.inputs[3] ?? '');
  const input = w.dims[2] ?? 0;
  if (w.dims.join() !== `1,${4 * units},${input}` || r.dims.join() !== `1,${4 * units},${units}` || b.dims.join() !== `1,${8 * units}` || n.inputs[7]) {
    throw expected(`LSTM weights W [1, ${4 * units}, in], R [1, ${4 * units}, ${units}], B [1, ${8 * units}] and no peepholes, got ${show(w.dims)}, ${show(r.dims)}, ${show(b.dims)}`);
  }
  return { w, r, b, units, input };
}

/**
 * The channel range [start, end) of the [B, C, T] STFT output `source` that `name` selects
 * through Slice (on axis 1 or on other axes without cutting) and Cast nodes.
 */
function channelRange(name: string, source: string, folder: ConstantFolder, channels: number): [number, number] {
  let lo = 0, hi = channels;
  for (let at = name, depth = 0; at !== source; depth++) {
    const n = folder.producer(at);
    if (!n || depth > 16 || (n.opType !== 'Slice' && n.opType !== 'Cast')) throw expected('the magnitude to read the STFT output through Slice and Cast nodes only');
    if (n.opType === 'Slice') {
      const starts = folder.ints(n.inputs[1] ?? ''), ends = folder.ints(n.inputs[2] ?? '');
      const axes = n.inputs[3] ? folder.ints(n.inputs[3]) : starts.map((_, i) => i);
      const steps = n.inputs[4] ? folder.ints(n.inputs[4]) : starts.map(() => 1);
      axes.forEach((a, i) => {
        if (steps[i] !== 1) throw expected('unit-step Slices in the magnitude');
        if (a === 1 || a === -2) {
          const len = hi - lo;
          const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + len : v, 0), len);
          [lo, hi] = [lo + clamp(starts[i]!), lo + clamp(ends[i]!)];
        } else if (starts[i] !== 0 || ends[i]! < 2 ** 31) throw expected('Slices in the magnitude that cut channels only');
      });
    }
    at = n.inputs[0]!;
  }
  return [lo, hi];
}

function sameValues(a: Folded, b: Folded): boolean {
  return a.dims.join() === b.dims.join() && a.values.every((v, i) => v === b.values[i]);
}
