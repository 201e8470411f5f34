// Our weights (model.getWeights(), reference layouts) in the anchors' layouts, and the graph
// pieces several workloads share: a streaming convolution (explicit state in and out) and an
// LSTM, for ONNX and for tfjs.

/** Conv1D kernel [k, in, out] (ours and tfjs) -> ONNX Conv weight [out, in, k]. */
export function convKernelOIK(kernel, k, cin, cout) {
  const w = new Float32Array(cout * cin * k);
  for (let t = 0; t < k; t++) for (let i = 0; i < cin; i++) for (let o = 0; o < cout; o++) w[(o * cin + i) * k + t] = kernel[(t * cin + i) * cout + o];
  return w;
}

/** [rows, cols] -> [cols, rows]. */
export function transpose(a, rows, cols) {
  const t = new Float32Array(a.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = a[r * cols + c];
  return t;
}

/** Reorders the 4 gate blocks (of `u` columns) of each row of a [rows, 4u] matrix: out block j = in block order[j]. */
function gateColumns(a, rows, u, order) {
  const out = new Float32Array(a.length);
  for (let r = 0; r < rows; r++) for (let j = 0; j < 4; j++) out.set(a.subarray(r * 4 * u + order[j] * u, r * 4 * u + (order[j] + 1) * u), r * 4 * u + j * u);
  return out;
}

// Our LSTM gates are Keras's i, f, g, o (indices 0..3). ONNX wants i, o, f, c; tfjs's
// basicLSTMCell i, j, f, o (j the candidate).
const ONNX_GATES = [0, 3, 1, 2];
const TFJS_GATES = [0, 2, 1, 3];

/**
 * ONNX LSTM inputs from ours (kernel [din, 4u], recurrent kernel [u, 4u], bias [4u]):
 * W [1, 4u, din], R [1, 4u, u], B [1, 8u] (input bias, then a zero recurrent bias).
 */
export function lstmOnnx(kernel, recurrent, bias, din, u) {
  const W = transpose(gateColumns(kernel, din, u, ONNX_GATES), din, 4 * u);
  const R = transpose(gateColumns(recurrent, u, u, ONNX_GATES), u, 4 * u);
  const B = new Float32Array(8 * u);
  B.set(gateColumns(bias, 1, u, ONNX_GATES));
  return { W, R, B };
}

/** tfjs basicLSTMCell's kernel [din + u, 4u] (for concat([x, h])) and bias [4u], forget bias 0. */
export function lstmTfjs(kernel, recurrent, bias, din, u) {
  const k = new Float32Array((din + u) * 4 * u);
  k.set(gateColumns(kernel, din, u, TFJS_GATES));
  k.set(gateColumns(recurrent, u, u, TFJS_GATES), din * 4 * u);
  return { kernel: k, bias: gateColumns(bias, 1, u, TFJS_GATES) };
}

/**
 * ONNX: one streaming step of a Conv1D (NCW) with padding 'causal' or 'semicausal' as the
 * reference pads it: the state holds the last k - stride input frames (k - 1 for stride 1),
 * concatenated in front of the block; a 'valid' Conv follows and the new state is the tail.
 * Adds the state input and output to the graph; returns the output name.
 */
export function onnxConvStep(g, x, { name, kernel, bias, k, cin, cout, stride = 1, frames, activation, output }) {
  const keep = k - stride;
  const W = g.init(`${name}.W`, [cout, cin, k], convKernelOIK(kernel, k, cin, cout));
  const inputs = [x, W];
  if (bias) inputs.push(g.init(`${name}.B`, [cout], bias));
  if (keep > 0) {
    const state = g.input(`${name}.state`, [1, cin, keep]);
    inputs[0] = g.op('Concat', [state, x], { axis: 2 });
    g.op('Slice', [inputs[0], g.ints([frames]), g.ints([frames + keep]), g.ints([2])], {}, `${name}.state_out`);
    g.output(`${name}.state_out`, [1, cin, keep]);
  }
  const attrs = { kernel_shape: [k], strides: [stride] };
  if (!activation) return g.op('Conv', inputs, attrs, output);
  return g.op(activation, [g.op('Conv', inputs, attrs)], {}, output);
}

/** The state inputs and outputs onnxConvStep added for the layer `name` (none when k <= stride). */
export function convStates(name, k, cin, stride = 1) {
  return k > stride ? [{ input: `${name}.state`, output: `${name}.state_out`, dims: [1, cin, k - stride] }] : [];
}

/** tfjs: the same streaming step in NWC; returns [y, newState] (state null when k <= stride). */
export function tfjsConvStep(tf, x, state, { kernel, bias, k, stride = 1, frames, activation }) {
  const keep = k - stride;
  const cat = keep > 0 ? tf.concat([state, x], 1) : x;
  let y = tf.conv1d(cat, kernel, stride, 'valid');
  if (bias) y = tf.add(y, bias);
  if (activation) y = tf[activation](y);
  return [y, keep > 0 ? tf.slice(cat, [0, frames, 0], [-1, keep, -1]) : null];
}
