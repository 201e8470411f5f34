// `npm run demo`: streams the demo model over a generated signal one frame at a time and checks
// the streamed output against whole-sequence processing.
import * as sl from '../dist/index.js';
import { config, inputShape, signal } from './demo-model.js';

const info = await sl.init();
const model = sl.build(config, { inputShape, seed: 0 });
const frames = 3000;
const x = signal(frames);

const whole = model.layer(x);

// Stream: one block per step, output written into preallocated buffers (no allocation).
const state = model.initialState(1);
const block = model.blockSize;
const outT = model.outputRatio.floorMul(block);
const out = { values: new Float32Array(outT * model.outputShape()[0]), mask: new Uint8Array(outT) };
const streamed = new Float32Array(whole.values.length);
const times = [];
for (let t = 0; t < frames; t += block) {
  const xb = x.sliceTime(t, t + block);
  const t0 = performance.now();
  model.stepInto(xb, state, out);
  times.push(performance.now() - t0);
  streamed.set(out.values, (t / block) * out.values.length);
}

let maxDiff = 0;
for (let i = 0; i < streamed.length; i++) maxDiff = Math.max(maxDiff, Math.abs(streamed[i] - whole.values[i]));
const steady = times.slice(100).sort((a, b) => a - b);
const us = (ms) => `${(ms * 1000).toFixed(1)} µs`;

console.log(`seqlayers demo: causal Conv1D x2 + Dense x2, ${inputShape[0]} features in, ${model.params().reduce((s, p) => s + p.size, 0)} parameters`);
console.log(`kernel build:        ${info.build}${info.relaxedSupported ? '' : ' (relaxed SIMD not available on this host)'}`);
console.log(`frames streamed:     ${frames} (block ${block}, output latency ${model.outputLatency})`);
console.log(`max |layer - step|:  ${maxDiff.toExponential(2)}`);
console.log(`per-step time:       median ${us(steady[steady.length >> 1])}, p99 ${us(steady[Math.floor(steady.length * 0.99)])}`);
if (maxDiff > 1e-5) {
  console.error('step output differs from layer output');
  process.exit(1);
}
