// A Silero-VAD-sized model, per 32 ms chunk (512 samples at 16 kHz): an STFT as a strided
// Conv1D (258 filters = 129 real + 129 imaginary, kernel 256, stride 128, over 128 buffered +
// 512 new samples = 640), the magnitude, 4 Conv1D + ReLU 129 -> 128 -> 64 -> 64 -> 128 with
// strides 1, 2, 2, 1, an LSTM of 128, ReLU, a Conv1D 128 -> 1 and a sigmoid: one
// probability per chunk. Built from our layers; its ONNX and tfjs twins carry every buffer as
// explicit state. 'semicausal' padding (left k - stride) is what keeps each strided layer
// streamable with no delay.
import { convStates, lstmOnnx, lstmTfjs, onnxConvStep, tfjsConvStep } from '../anchors/convert.js';
import { OnnxGraph } from '../anchors/onnx.js';
import { sl } from '../lib.js';
import { atLeast } from './harness.js';

const CHUNK = 512;
const BINS = 129;
/** The encoder: [in, out, stride] per Conv1D (kernel 3). */
const ENCODER = [[BINS, 128, 1], [128, 64, 2], [64, 64, 2], [64, 128, 1]];
const UNITS = 128;
// Layer indices in the Serial below (parameter paths are layers.<i>.<name>).
const STFT = 0, FIRST_CONV = 5, LSTM = 9, HEAD = 11;

const config = sl.Serial([
  sl.Conv1D({ filters: 2 * BINS, kernelSize: 256, strides: 128, padding: 'semicausal', useBias: false }),
  sl.Reshape({ outputShape: [2, BINS] }),
  sl.Power({ power: 2 }),
  sl.Sum({ axis: 2 }),
  sl.Power({ power: 0.5 }),
  ...ENCODER.map(([, out, s]) => sl.Conv1D({ filters: out, kernelSize: 3, strides: s, padding: 'semicausal', activation: 'relu' })),
  sl.LSTM({ units: UNITS }),
  sl.Relu(),
  sl.Conv1D({ filters: 1, kernelSize: 1, padding: 'causal', activation: 'sigmoid' }),
]);

/** Input frames each encoder layer sees per chunk (4 STFT frames, then halved by each stride 2). */
const framesIn = ENCODER.reduce((acc, [, , s]) => [...acc, acc.at(-1) / s], [CHUNK / 128]);

function onnx(w) {
  const p = (i, name) => w[`layers.${i}.${name}`];
  const g = new OnnxGraph();
  const x = g.input('x', [1, 1, CHUNK]);
  const spec = onnxConvStep(g, x, { name: 'stft', kernel: p(STFT, 'kernel'), k: 256, cin: 1, cout: 2 * BINS, stride: 128, frames: CHUNK });
  const re = g.op('Slice', [spec, g.ints([0]), g.ints([BINS]), g.ints([1])]);
  const im = g.op('Slice', [spec, g.ints([BINS]), g.ints([2 * BINS]), g.ints([1])]);
  let h = g.op('Sqrt', [g.op('Add', [g.op('Mul', [re, re]), g.op('Mul', [im, im])])]);
  const states = convStates('stft', 256, 1, 128);
  ENCODER.forEach(([cin, cout, stride], j) => {
    const i = FIRST_CONV + j;
    h = onnxConvStep(g, h, { name: `conv${j}`, kernel: p(i, 'kernel'), bias: p(i, 'bias'), k: 3, cin, cout, stride, frames: framesIn[j], activation: 'Relu' });
    states.push(...convStates(`conv${j}`, 3, cin, stride));
  });
  // [1, 128, 1] (NCW) -> [time 1, batch 1, 128] for the LSTM.
  const seq = g.op('Transpose', [h], { perm: [2, 0, 1] });
  const l = lstmOnnx(p(LSTM, 'kernel.kernel'), p(LSTM, 'recurrent_kernel.kernel'), p(LSTM, 'bias'), UNITS, UNITS);
  const lw = [g.init('W', [1, 4 * UNITS, UNITS], l.W), g.init('R', [1, 4 * UNITS, UNITS], l.R), g.init('B', [1, 8 * UNITS], l.B)];
  g.node('LSTM', [seq, ...lw, '', g.input('h', [1, 1, UNITS]), g.input('c', [1, 1, UNITS])], { hidden_size: UNITS }, ['', 'h_out', 'c_out']);
  g.output('h_out', [1, 1, UNITS]);
  g.output('c_out', [1, 1, UNITS]);
  states.push({ input: 'h', output: 'h_out', dims: [1, 1, UNITS] }, { input: 'c', output: 'c_out', dims: [1, 1, UNITS] });
  const head = g.op('Transpose', [g.op('Relu', ['h_out'])], { perm: [1, 2, 0] });
  onnxConvStep(g, head, { name: 'head', kernel: p(HEAD, 'kernel'), bias: p(HEAD, 'bias'), k: 1, cin: UNITS, cout: 1, frames: 1, activation: 'Sigmoid', output: 'y' });
  g.output('y', [1, 1, 1]);
  return { bytes: g.toModel(), x, xDims: [1, 1, CHUNK], y: 'y', states };
}

function tfjs(tf, w) {
  const p = (i, name) => w[`layers.${i}.${name}`];
  const stft = { kernel: tf.tensor(p(STFT, 'kernel'), [256, 1, 2 * BINS]), k: 256, stride: 128, frames: CHUNK };
  const convs = ENCODER.map(([cin, cout, stride], j) => ({
    kernel: tf.tensor(p(FIRST_CONV + j, 'kernel'), [3, cin, cout]),
    bias: tf.tensor(p(FIRST_CONV + j, 'bias')),
    k: 3,
    stride,
    frames: framesIn[j],
    activation: 'relu',
  }));
  const l = lstmTfjs(p(LSTM, 'kernel.kernel'), p(LSTM, 'recurrent_kernel.kernel'), p(LSTM, 'bias'), UNITS, UNITS);
  const lstm = { kernel: tf.tensor(l.kernel, [2 * UNITS, 4 * UNITS]), bias: tf.tensor(l.bias), forget: tf.scalar(0) };
  const head = { kernel: tf.tensor(p(HEAD, 'kernel'), [UNITS, 1]), bias: tf.tensor(p(HEAD, 'bias')) };
  return {
    // stft buffer, one buffer per encoder conv, then c and h.
    states: () => [tf.zeros([1, 128, 1]), ...ENCODER.map(([cin, , s]) => tf.zeros([1, 3 - s, cin])), tf.zeros([1, UNITS]), tf.zeros([1, UNITS])],
    step: (x, states) => {
      const next = [];
      const [spec, s0] = tfjsConvStep(tf, x, states[0], stft);
      next.push(s0);
      const re = tf.slice(spec, [0, 0, 0], [-1, -1, BINS]), im = tf.slice(spec, [0, 0, BINS], [-1, -1, BINS]);
      let h = tf.sqrt(tf.add(tf.square(re), tf.square(im)));
      convs.forEach((c, j) => {
        const [y, s] = tfjsConvStep(tf, h, states[1 + j], c);
        next.push(s);
        h = y;
      });
      const [c2, h2] = tf.basicLSTMCell(lstm.forget, lstm.kernel, lstm.bias, tf.reshape(h, [1, UNITS]), states[5], states[6]);
      const y = tf.sigmoid(tf.add(tf.matMul(tf.relu(h2), head.kernel), head.bias));
      return [y, ...next, c2, h2];
    },
  };
}

export const sileroVad = {
  workload: 'Silero-VAD-sized model, 32 ms chunk (512 samples)',
  config,
  inputShape: [1],
  frames: CHUNK,
  onnx,
  tfjs,
  target: {
    text: '≥5× median and ≥10× p99 vs ort-web, tfjs',
    met: (r) => atLeast(5, ['onnxruntime-web', 'tfjs-wasm'])(r) && atLeast(10, ['onnxruntime-web', 'tfjs-wasm'], 'speedupP99')(r),
  },
};
