// Streaming steps side by side: one block per call with the state carried between calls, ours
// through stepInto (the allocation-free path of audio threads), onnxruntime with its state as
// explicit graph inputs and outputs fed back every call (as its streaming users do), tfjs with
// state tensors kept between tidy() calls. Same weights everywhere (ours, converted).
import { lstmOnnx, lstmTfjs, onnxConvStep, convStates, tfjsConvStep } from '../anchors/convert.js';
import { OnnxGraph } from '../anchors/onnx.js';
import { sl } from '../lib.js';
import { attentionAvailable, attentionStep } from './attention.js';
import { atLeast, streamingRow } from './harness.js';
import { sileroVad } from './silero.js';

const WEB_AND_TFJS = ['onnxruntime-web', 'tfjs-wasm'];

/** Causal Conv1D, kernel 3, 256 -> 256 channels, one frame per step. */
export const conv1dStep = {
  workload: 'Conv1D k=3 256→256 causal, 1 frame',
  config: sl.Conv1D({ filters: 256, kernelSize: 3, padding: 'causal' }),
  inputShape: [256],
  frames: 1,
  onnx(w) {
    const g = new OnnxGraph();
    const x = g.input('x', [1, 256, 1]);
    onnxConvStep(g, x, { name: 'conv', kernel: w.kernel, bias: w.bias, k: 3, cin: 256, cout: 256, frames: 1, output: 'y' });
    g.output('y', [1, 256, 1]);
    return { bytes: g.toModel(), x, xDims: [1, 256, 1], y: 'y', states: convStates('conv', 3, 256) };
  },
  tfjs(tf, w) {
    const kernel = tf.tensor(w.kernel, [3, 256, 256]), bias = tf.tensor(w.bias);
    return {
      states: () => [tf.zeros([1, 2, 256])],
      step: (x, [s]) => tfjsConvStep(tf, x, s, { kernel, bias, k: 3, frames: 1 }),
    };
  },
  target: { text: '≥15× ort-web, tfjs', met: atLeast(15, WEB_AND_TFJS) },
};

/**
 * The same Conv1D frame with the ONNX anchors given it as Concat + MatMul (the kernel as one
 * [k · in, out] matrix over the last k frames, frames-major) instead of a Conv: onnxruntime-web's
 * 1-D Conv is slow (~5× this graph), so this row shows how much of the Conv1D row's ratio is
 * that op. The Conv graph stays the primary anchor (what a PyTorch export gives). No target.
 */
export const conv1dStepMatMul = {
  ...conv1dStep,
  workload: 'Conv1D k=3 256→256 causal, 1 frame; ONNX anchors as Concat + MatMul (no Conv op)',
  onnx(w) {
    const g = new OnnxGraph();
    const x = g.input('x', [1, 1, 256]);
    const state = g.input('conv.state', [1, 2, 256]);
    const cat = g.op('Concat', [state, x], { axis: 1 });
    g.op('Slice', [cat, g.ints([1]), g.ints([3]), g.ints([1])], {}, 'conv.state_out');
    g.output('conv.state_out', [1, 2, 256]);
    const rows = g.op('Reshape', [cat, g.ints([1, 768])]);
    g.op('Add', [g.op('MatMul', [rows, g.init('K', [768, 256], w.kernel)]), g.init('B', [256], w.bias)], {}, 'y');
    g.output('y', [1, 256]);
    return { bytes: g.toModel(), x, xDims: [1, 1, 256], y: 'y', states: [{ input: 'conv.state', output: 'conv.state_out', dims: [1, 2, 256] }] };
  },
  tfjs: undefined,
  target: undefined,
};

/** LSTM, 512 inputs, 512 units, one step. */
export const lstmStep = {
  workload: 'LSTM 512/512, 1 step',
  config: sl.LSTM({ units: 512 }),
  inputShape: [512],
  frames: 1,
  onnx(w) {
    const u = 512;
    const { W, R, B } = lstmOnnx(w['kernel.kernel'], w['recurrent_kernel.kernel'], w.bias, 512, u);
    const g = new OnnxGraph();
    const x = g.input('x', [1, 1, 512]);
    const h = g.input('h', [1, 1, u]), c = g.input('c', [1, 1, u]);
    const weights = [g.init('W', [1, 4 * u, 512], W), g.init('R', [1, 4 * u, u], R), g.init('B', [1, 8 * u], B)];
    g.node('LSTM', [x, ...weights, '', h, c], { hidden_size: u }, ['', 'h_out', 'c_out']);
    g.output('h_out', [1, 1, u]);
    g.output('c_out', [1, 1, u]);
    const states = [{ input: 'h', output: 'h_out', dims: [1, 1, u] }, { input: 'c', output: 'c_out', dims: [1, 1, u] }];
    return { bytes: g.toModel(), x, xDims: [1, 1, 512], y: 'h_out', states };
  },
  tfjs(tf, w) {
    const l = lstmTfjs(w['kernel.kernel'], w['recurrent_kernel.kernel'], w.bias, 512, 512);
    const kernel = tf.tensor(l.kernel, [1024, 2048]), bias = tf.tensor(l.bias), forget = tf.scalar(0);
    return {
      states: () => [tf.zeros([1, 512]), tf.zeros([1, 512])],
      step: (x, [c, h]) => {
        const [c2, h2] = tf.basicLSTMCell(forget, kernel, bias, tf.reshape(x, [1, 512]), c, h);
        return [tf.clone(h2), c2, h2];
      },
    };
  },
  target: { text: '≥1.6× ort-web, tfjs', met: atLeast(1.6, WEB_AND_TFJS) },
};

/**
 * The same LSTM step with weightStorage 'int8', timed against its float32 twin (same weights)
 * and the anchors (float32): the anchors' outputs differ by the int8 rounding, so the check
 * allows 5 % (the test suite states the accuracy).
 */
export const lstmStepInt8 = {
  ...lstmStep,
  workload: 'LSTM 512/512, 1 step, int8 weights',
  config: sl.LSTM({ units: 512, weightStorage: 'int8' }),
  float32Config: lstmStep.config,
  maxDiff: 0.05,
  target: undefined,
};

/** The same Conv1D frame with weightStorage 'int8', against its float32 twin and the anchors (float32), as lstmStepInt8. */
export const conv1dStepInt8 = {
  ...conv1dStep,
  workload: 'Conv1D k=3 256→256 causal, 1 frame, int8 weights',
  config: sl.Conv1D({ filters: 256, kernelSize: 3, padding: 'causal', weightStorage: 'int8' }),
  float32Config: conv1dStep.config,
  maxDiff: 0.05,
  target: undefined,
};

/** GRU 512/512 one step with int8 weights against its float32 twin (no anchor row: ours only). */
export const gruStepInt8 = {
  workload: 'GRU 512/512, 1 step, int8 weights (vs our float32 only)',
  config: sl.GRU({ units: 512, weightStorage: 'int8' }),
  float32Config: sl.GRU({ units: 512 }),
  inputShape: [512],
  frames: 1,
};

/** Every streaming row; the attention row needs DotProductSelfAttention in this build. */
export async function streamingRows(ctx) {
  const rows = [];
  for (const def of [conv1dStep, conv1dStepMatMul, conv1dStepInt8, lstmStep, lstmStepInt8, gruStepInt8, sileroVad]) rows.push(await streamingRow(ctx, def));
  if (attentionAvailable()) {
    rows.push(await streamingRow(ctx, attentionStep()));
    rows.push(await streamingRow(ctx, { ...attentionStep('int8'), target: undefined }));
  } else rows.push({ workload: 'self-attention decode step', unit: 'µs/step', ours: {}, anchors: {}, speedup: {}, notes: 'pending: DotProductSelfAttention is not in this build' });
  return rows;
}
