// Attention workloads: a multi-head self-attention decode step with a KV cache of 256 steps,
// and a pre-norm Transformer block over a whole sequence. Ours is DotProductSelfAttention
// (fused Q/K/V projection, no output projection) followed by DenseShaped [H, U] -> [d]; the
// anchors compute the same: one QKV MatMul, scaled dot products over the cache plus the new
// key, softmax, the values, the output MatMul. The decode anchors keep the cache as explicit
// state ([1, H, 256, U] keys and values, and an additive validity bias per cached step that
// starts at -1e9 so unfilled slots get no weight, as ours masks them).
import { OnnxGraph, float } from '../anchors/onnx.js';
import { sl } from '../lib.js';
import { atLeast } from './harness.js';

/** Ours: self attention with `past` cached steps, then the output projection. */
const attentionConfig = (heads, units, past, weightStorage = 'float32') =>
  sl.Serial([{ type: 'DotProductSelfAttention', numHeads: heads, unitsPerHead: units, maxPastHorizon: past, weightStorage }, sl.DenseShaped({ outputShape: [heads * units], weightStorage })]);

/** Whether this build has DotProductSelfAttention registered. */
export const attentionAvailable = () => sl.registeredTypes().includes('DotProductSelfAttention');

const MASKED = -1e9;

/**
 * Decode step: d = 512, 8 heads of 64, KV cache of 256 past steps (+ the new one). With
 * weightStorage 'int8' (projections and output projection), timed against its float32 twin;
 * the anchors stay float32 (their outputs differ by the int8 rounding: the check allows 5 %).
 */
export function attentionStep(weightStorage = 'float32') {
  const H = 8, U = 64, D = H * U, PAST = 256;
  const cacheDims = [1, H, PAST, U];
  const int8 = weightStorage === 'int8';
  return {
    workload: `self-attention decode step d=${D}, ${H} heads, KV cache ${PAST}${int8 ? ', int8 weights' : ''}`,
    config: attentionConfig(H, U, PAST, weightStorage),
    ...(int8 ? { float32Config: attentionConfig(H, U, PAST), maxDiff: 0.05 } : {}),
    inputShape: [D],
    frames: 1,
    onnx(w) {
      const g = new OnnxGraph();
      const x = g.input('x', [1, 1, D]);
      const qkv = g.op('MatMul', [x, g.init('Wqkv', [D, 3 * D], w['layers.0.query_key_value_projection.kernel'])]);
      const heads = (i) => g.op('Transpose', [g.op('Reshape', [g.op('Slice', [qkv, g.ints([i * D]), g.ints([(i + 1) * D]), g.ints([2])]), g.ints([1, 1, H, U])])], { perm: [0, 2, 1, 3] });
      const [q, k, v] = [0, 1, 2].map(heads);
      const keys = g.op('Concat', [g.input('k_cache', cacheDims), k], { axis: 2 });
      const values = g.op('Concat', [g.input('v_cache', cacheDims), v], { axis: 2 });
      const bias = g.op('Concat', [g.input('k_bias', [1, 1, 1, PAST]), g.init('zero', [1, 1, 1, 1], new Float32Array(1))], { axis: 3 });
      for (const [t, name] of [[keys, 'k_cache'], [values, 'v_cache'], [bias, 'k_bias']]) {
        const axis = name === 'k_bias' ? 3 : 2;
        g.op('Slice', [t, g.ints([1]), g.ints([PAST + 1]), g.ints([axis])], {}, `${name}_out`);
        g.output(`${name}_out`, name === 'k_bias' ? [1, 1, 1, PAST] : cacheDims);
      }
      const logits = g.op('Add', [g.op('Mul', [g.op('MatMul', [q, g.op('Transpose', [keys], { perm: [0, 1, 3, 2] })]), g.init('scale', [], Float32Array.of(1 / Math.sqrt(U)))]), bias]);
      const o = g.op('MatMul', [g.op('Softmax', [logits], { axis: -1 }), values]);
      const flat = g.op('Reshape', [g.op('Transpose', [o], { perm: [0, 2, 1, 3] }), g.ints([1, 1, D])]);
      g.op('Add', [g.op('MatMul', [flat, g.init('Wo', [D, D], w['layers.1.kernel'])]), g.init('bo', [D], w['layers.1.bias'])], {}, 'y');
      g.output('y', [1, 1, D]);
      const states = [
        { input: 'k_cache', output: 'k_cache_out', dims: cacheDims },
        { input: 'v_cache', output: 'v_cache_out', dims: cacheDims },
        { input: 'k_bias', output: 'k_bias_out', dims: [1, 1, 1, PAST], fill: MASKED },
      ];
      return { bytes: g.toModel(), x, xDims: [1, 1, D], y: 'y', states };
    },
    tfjs(tf, w) {
      const Wqkv = tf.tensor(w['layers.0.query_key_value_projection.kernel'], [D, 3 * D]);
      const Wo = tf.tensor(w['layers.1.kernel'], [D, D]), bo = tf.tensor(w['layers.1.bias']);
      const zero = tf.zeros([1, 1, 1, 1]);
      return {
        states: () => [tf.zeros(cacheDims), tf.zeros(cacheDims), tf.fill([1, 1, 1, PAST], MASKED)],
        step: (x, [kc, vc, kb]) => {
          const qkv = tf.matMul(tf.reshape(x, [1, D]), Wqkv);
          const heads = (i) => tf.transpose(tf.reshape(tf.slice(qkv, [0, i * D], [1, D]), [1, 1, H, U]), [0, 2, 1, 3]);
          const keys = tf.concat([kc, heads(1)], 2), values = tf.concat([vc, heads(2)], 2), bias = tf.concat([kb, zero], 3);
          const logits = tf.add(tf.mul(tf.matMul(heads(0), keys, false, true), 1 / Math.sqrt(U)), bias);
          const o = tf.reshape(tf.transpose(tf.matMul(tf.softmax(logits), values), [0, 2, 1, 3]), [1, D]);
          const y = tf.add(tf.matMul(o, Wo), bo);
          return [y, tf.slice(keys, [0, 0, 1, 0], [-1, -1, PAST, -1]), tf.slice(values, [0, 0, 1, 0], [-1, -1, PAST, -1]), tf.slice(bias, [0, 0, 0, 1], [-1, -1, -1, PAST])];
        },
      };
    },
    target: { text: '≥4× ort-web, tfjs', met: atLeast(4, ['onnxruntime-web', 'tfjs-wasm']) },
  };
}

/**
 * Pre-norm Transformer block over a whole sequence: x + MHA(LN(x)) (causal, unbounded past),
 * then + FFN(LN(.)) with ReLU. d = 256, 4 heads of 64, FFN 1024.
 */
export function transformerBlock(batch, time) {
  const H = 4, U = 64, D = H * U, F = 1024;
  const config = sl.Serial([
    sl.Residual([sl.LayerNormalization(), attentionConfig(H, U, -1)]),
    sl.Residual([sl.LayerNormalization(), sl.Dense({ features: F, activation: 'relu' }), sl.Dense({ features: D })]),
  ]);
  // Parameter paths: layers.0.layers.{0: LN, 1: Serial(attention, DenseShaped)}, layers.1.layers.{0: LN, 1, 2: Dense}.
  const P = { ln1: 'layers.0.layers.0', qkv: 'layers.0.layers.1.layers.0.query_key_value_projection.kernel', out: 'layers.0.layers.1.layers.1', ln2: 'layers.1.layers.0', ff1: 'layers.1.layers.1', ff2: 'layers.1.layers.2' };
  const causal = new Float32Array(time * time);
  for (let i = 0; i < time; i++) for (let j = i + 1; j < time; j++) causal[i * time + j] = MASKED;
  return {
    workload: `Transformer block (LN, MHA causal ${H}×${U}, FFN ${D}→${F}→${D}), batch ${batch} × ${time}`,
    config,
    inputShape: [D],
    batch,
    time,
    onnx(w, b, t) {
      const g = new OnnxGraph();
      const x = g.input('x', [b, t, D]);
      const ln = (h, p) => g.op('LayerNormalization', [h, g.init(`${p}.s`, [D], w[`${p}.scale`]), g.init(`${p}.b`, [D], w[`${p}.bias`])], { axis: -1, epsilon: float(1e-6) });
      const dense = (h, p, n, m) => g.op('Add', [g.op('MatMul', [h, g.init(`${p}.W`, [n, m], w[`${p}.kernel`])]), g.init(`${p}.B`, [m], w[`${p}.bias`])]);
      const qkv = g.op('MatMul', [ln(x, P.ln1), g.init('Wqkv', [D, 3 * D], w[P.qkv])]);
      const heads = (i) => g.op('Transpose', [g.op('Reshape', [g.op('Slice', [qkv, g.ints([i * D]), g.ints([(i + 1) * D]), g.ints([2])]), g.ints([b, t, H, U])])], { perm: [0, 2, 1, 3] });
      const [q, k, v] = [0, 1, 2].map(heads);
      const logits = g.op('Add', [g.op('Mul', [g.op('MatMul', [q, g.op('Transpose', [k], { perm: [0, 1, 3, 2] })]), g.init('scale', [], Float32Array.of(1 / Math.sqrt(U)))]), g.init('causal', [t, t], causal)]);
      const o = g.op('Reshape', [g.op('Transpose', [g.op('MatMul', [g.op('Softmax', [logits], { axis: -1 }), v])], { perm: [0, 2, 1, 3] }), g.ints([b, t, D])]);
      const h1 = g.op('Add', [x, dense(o, P.out, D, D)]);
      const f = dense(g.op('Relu', [dense(ln(h1, P.ln2), P.ff1, D, F)]), P.ff2, F, D);
      g.op('Add', [h1, f], {}, 'y');
      g.output('y', [b, t, D]);
      return { bytes: g.toModel(), x, xDims: [b, t, D], y: 'y' };
    },
    tfjs(tf, w) {
      const T = (p, shape) => tf.tensor(w[p], shape);
      const Wqkv = T(P.qkv, [D, 3 * D]), causalT = tf.tensor(causal, [time, time]);
      const ln = (h, p) => {
        const { mean, variance } = tf.moments(h, -1, true);
        return tf.add(tf.mul(tf.mul(tf.sub(h, mean), tf.rsqrt(tf.add(variance, 1e-6))), T(`${p}.scale`)), T(`${p}.bias`));
      };
      const params = Object.fromEntries(['out', 'ff1', 'ff2'].map((n) => [n, { W: tf.tensor(w[`${P[n]}.kernel`], n === 'ff1' ? [D, F] : n === 'ff2' ? [F, D] : [D, D]), B: T(`${P[n]}.bias`) }]));
      return (x) => {
        const [b, t] = x.shape;
        const x2 = tf.reshape(x, [b * t, D]);
        const qkv = tf.matMul(ln(x2, P.ln1), Wqkv);
        const heads = (i) => tf.transpose(tf.reshape(tf.slice(qkv, [0, i * D], [-1, D]), [b, t, H, U]), [0, 2, 1, 3]);
        const logits = tf.add(tf.mul(tf.matMul(heads(0), heads(1), false, true), 1 / Math.sqrt(U)), causalT);
        const o = tf.reshape(tf.transpose(tf.matMul(tf.softmax(logits), heads(2)), [0, 2, 1, 3]), [b * t, D]);
        const h1 = tf.add(x2, tf.fused.matMul({ a: o, b: params.out.W, bias: params.out.B }));
        const f = tf.fused.matMul({ a: tf.fused.matMul({ a: ln(h1, P.ln2), b: params.ff1.W, bias: params.ff1.B, activation: 'relu' }), b: params.ff2.W, bias: params.ff2.B });
        return tf.reshape(tf.add(h1, f), [b, t, D]);
      };
    },
    target: { text: '≥1.5× ort-web, tfjs', met: atLeast(1.5, ['onnxruntime-web', 'tfjs-wasm']) },
  };
}
