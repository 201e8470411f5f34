// Layer-wise throughput: a whole sequence per call, batch 1 and 8, for a conv stack, an LSTM
// and a Transformer-style block. The anchors get their natural layouts (ONNX Conv NCW, ONNX
// LSTM [time, batch, channels]); the conversion is outside the timed call, as a user would
// produce their input in that layout.
import { convKernelOIK, lstmOnnx, lstmTfjs } from '../anchors/convert.js';
import { OnnxGraph, float } from '../anchors/onnx.js';
import { sl } from '../lib.js';
import { attentionAvailable, transformerBlock } from './attention.js';
import { atLeast, layerRow } from './harness.js';

const TIME = 256;
const ALL = ['onnxruntime-web', 'tfjs-wasm'];
const target = { text: '≥1.5× ort-web, tfjs', met: atLeast(1.5, ALL) };

/** [a, b, c] -> [b, a, c] or [a, c, b] etc.: permutes a dense 3-D array. */
function permute3(v, dims, perm) {
  const out = new Float32Array(v.length);
  const od = perm.map((p) => dims[p]);
  const strides = [dims[1] * dims[2], dims[2], 1];
  let o = 0;
  for (let i = 0; i < od[0]; i++) for (let j = 0; j < od[1]; j++) for (let k = 0; k < od[2]; k++) {
    const idx = [0, 0, 0];
    idx[perm[0]] = i;
    idx[perm[1]] = j;
    idx[perm[2]] = k;
    out[o++] = v[idx[0] * strides[0] + idx[1] * strides[1] + idx[2] * strides[2]];
  }
  return out;
}

/** 4 × (causal Conv1D k=3, 128 -> 128, ReLU). */
function convStack(batch) {
  const C = 128, LAYERS = 4;
  return {
    workload: `conv stack 4× Conv1D k=3 128→128 + ReLU, batch ${batch} × ${TIME} frames`,
    config: sl.Serial(Array.from({ length: LAYERS }, () => sl.Conv1D({ filters: C, kernelSize: 3, padding: 'causal', activation: 'relu' }))),
    inputShape: [C],
    batch,
    time: TIME,
    onnx(w, b, t) {
      const g = new OnnxGraph();
      let h = g.input('x', [b, C, t]);
      for (let i = 0; i < LAYERS; i++) {
        const W = g.init(`W${i}`, [C, C, 3], convKernelOIK(w[`layers.${i}.kernel`], 3, C, C));
        const conv = g.op('Conv', [h, W, g.init(`B${i}`, [C], w[`layers.${i}.bias`])], { kernel_shape: [3], pads: [2, 0] });
        h = g.op('Relu', [conv], {}, i === LAYERS - 1 ? 'y' : undefined);
      }
      g.output('y', [b, C, t]);
      return { bytes: g.toModel(), x: 'x', xDims: [b, C, t], y: 'y', toOnnx: (v) => permute3(v, [b, t, C], [0, 2, 1]), fromOnnx: (v) => permute3(v, [b, C, t], [0, 2, 1]) };
    },
    tfjs(tf, w) {
      const layers = Array.from({ length: LAYERS }, (_, i) => ({ kernel: tf.tensor(w[`layers.${i}.kernel`], [3, C, C]), bias: tf.tensor(w[`layers.${i}.bias`]) }));
      return (x) => layers.reduce((h, l) => tf.relu(tf.add(tf.conv1d(tf.pad(h, [[0, 0], [2, 0], [0, 0]]), l.kernel, 1, 'valid'), l.bias)), x);
    },
    target,
  };
}

/** LSTM 256 -> 256 units. */
function lstm(batch) {
  const D = 256, U = 256;
  return {
    workload: `LSTM 256/256, batch ${batch} × ${TIME} steps`,
    config: sl.LSTM({ units: U }),
    inputShape: [D],
    batch,
    time: TIME,
    onnx(w, b, t) {
      const l = lstmOnnx(w['kernel.kernel'], w['recurrent_kernel.kernel'], w.bias, D, U);
      const g = new OnnxGraph();
      const x = g.input('x', [t, b, D]);
      g.node('LSTM', [x, g.init('W', [1, 4 * U, D], l.W), g.init('R', [1, 4 * U, U], l.R), g.init('B', [1, 8 * U], l.B)], { hidden_size: U }, ['y']);
      g.output('y', [t, 1, b, U]);
      return { bytes: g.toModel(), x, xDims: [t, b, D], y: 'y', toOnnx: (v) => permute3(v, [b, t, D], [1, 0, 2]), fromOnnx: (v) => permute3(v, [t, b, U], [1, 0, 2]) };
    },
    tfjs(tf, w) {
      const l = lstmTfjs(w['kernel.kernel'], w['recurrent_kernel.kernel'], w.bias, D, U);
      const kernel = tf.tensor(l.kernel, [D + U, 4 * U]), bias = tf.tensor(l.bias), forget = tf.scalar(0);
      return (x) => {
        let c = tf.zeros([x.shape[0], U]), h = c;
        const ys = [];
        for (const xt of tf.unstack(x, 1)) {
          [c, h] = tf.basicLSTMCell(forget, kernel, bias, xt, c, h);
          ys.push(h);
        }
        return tf.stack(ys, 1);
      };
    },
    target,
  };
}

/** Pre-norm feed-forward block: x + Dense(256)(ReLU(Dense(1024)(LayerNorm(x)))). */
function ffnBlock(batch) {
  const D = 256, F = 1024;
  return {
    workload: `Transformer FFN block (LayerNorm, 256→1024→256, residual), batch ${batch} × ${TIME}`,
    config: sl.Residual([sl.LayerNormalization(), sl.Dense({ features: F, activation: 'relu' }), sl.Dense({ features: D })]),
    inputShape: [D],
    batch,
    time: TIME,
    onnx(w, b, t) {
      const g = new OnnxGraph();
      const x = g.input('x', [b, t, D]);
      const n = g.op('LayerNormalization', [x, g.init('scale', [D], w['layers.0.scale']), g.init('bias', [D], w['layers.0.bias'])], { axis: -1, epsilon: float(1e-6) });
      const h = g.op('Relu', [g.op('Add', [g.op('MatMul', [n, g.init('W1', [D, F], w['layers.1.kernel'])]), g.init('b1', [F], w['layers.1.bias'])])]);
      const o = g.op('Add', [g.op('MatMul', [h, g.init('W2', [F, D], w['layers.2.kernel'])]), g.init('b2', [D], w['layers.2.bias'])]);
      g.op('Add', [x, o], {}, 'y');
      g.output('y', [b, t, D]);
      return { bytes: g.toModel(), x, xDims: [b, t, D], y: 'y' };
    },
    tfjs(tf, w) {
      const scale = tf.tensor(w['layers.0.scale']), bias = tf.tensor(w['layers.0.bias']);
      const W1 = tf.tensor(w['layers.1.kernel'], [D, F]), b1 = tf.tensor(w['layers.1.bias']);
      const W2 = tf.tensor(w['layers.2.kernel'], [F, D]), b2 = tf.tensor(w['layers.2.bias']);
      return (x) => {
        const x2 = tf.reshape(x, [-1, D]);
        const { mean, variance } = tf.moments(x2, -1, true);
        const n = tf.add(tf.mul(tf.mul(tf.sub(x2, mean), tf.rsqrt(tf.add(variance, 1e-6))), scale), bias);
        const h = tf.fused.matMul({ a: n, b: W1, bias: b1, activation: 'relu' });
        return tf.reshape(tf.add(x2, tf.fused.matMul({ a: h, b: W2, bias: b2 })), x.shape);
      };
    },
    target,
  };
}

/** Whole-sequence rows; the Transformer block needs DotProductSelfAttention (else the FFN half alone). */
export async function throughputRows(ctx) {
  const rows = [];
  for (const batch of [1, 8]) {
    const block = attentionAvailable() ? transformerBlock(batch, TIME) : ffnBlock(batch);
    for (const def of [convStack(batch), lstm(batch), block]) rows.push(await layerRow(ctx, def));
  }
  return rows;
}
