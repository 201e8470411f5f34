// The demo model of `npm run demo` and the pool benchmark: a causal convolution stack and a
// dense head over 80 features per frame (e.g. a 10 ms log-mel frame), streamable one frame at a
// time.
import * as sl from '../dist/index.js';

export const inputShape = [80];

export const config = sl.Serial([
  sl.Conv1D({ filters: 128, kernelSize: 5, padding: 'causal' }),
  sl.Relu(),
  sl.Conv1D({ filters: 128, kernelSize: 3, dilationRate: 2, padding: 'causal' }),
  sl.Relu(),
  sl.Dense({ features: 64 }),
  sl.Relu(),
  sl.Dense({ features: 1 }),
]);

/** `frames` frames of a slowly modulated synthetic feature signal, shape [1, frames, 80]. */
export function signal(frames) {
  const v = new Float32Array(frames * inputShape[0]);
  for (let t = 0; t < frames; t++) {
    for (let c = 0; c < inputShape[0]; c++) v[t * inputShape[0] + c] = Math.sin(0.05 * t * (1 + c / 40)) + 0.1 * Math.cos(0.7 * t + c);
  }
  return sl.Sequence.fromValues(v, [1, frames, ...inputShape]);
}
