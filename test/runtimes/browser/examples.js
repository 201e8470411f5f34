// Runs in Chromium: the browser examples (examples/runtimes/browser), checked against layer().
import * as sl from '/dist/index.js';
import { streamInWorker } from '/examples/runtimes/browser/worker.js';
import { renderThroughModel } from '/examples/runtimes/browser/audio.js';

export async function run({ config, inputShape, audioConfig }) {
  await sl.init();
  const model = sl.build(config, { inputShape, seed: 2 });
  const x = sl.randomSequence([1, 64, ...inputShape], { randomLengths: false, seed: 3 });
  const y = await streamInWorker(config, inputShape, sl.writeSafetensors(model.getWeights()), x);
  const expected = model.layer(x);
  const workerError = y.values.reduce((m, v, i) => Math.max(m, Math.abs(v - expected.values[i])), 0);

  const audioModel = sl.build(audioConfig, { inputShape: [1], seed: 4 });
  const input = new AudioBuffer({ numberOfChannels: 1, length: 48000, sampleRate: 48000 });
  const samples = new Float32Array(48000).map((_, t) => Math.sin(t / 7) * 0.5 + Math.sin(t / 3.1) * 0.25);
  input.copyToChannel(samples, 0);
  const { rendered, latency } = await renderThroughModel(audioConfig, sl.writeSafetensors(audioModel.getWeights()), input);
  const ref = audioModel.layer(sl.Sequence.fromValues(samples, [1, 48000, 1])).values;
  const out = rendered.getChannelData(0);
  let audioError = 0;
  for (let t = latency; t < out.length; t++) audioError = Math.max(audioError, Math.abs(out[t] - ref[t - latency]));
  return { workerError, audioError, latency };
}
