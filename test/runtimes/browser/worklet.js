// Runs in Chromium (served by the test): renders a signal through the model in an AudioWorklet
// with an OfflineAudioContext and compares it with model.layer() on the same signal.
import * as sl from '/dist/index.js';
import { createModelNode } from '/dist/audio/index.js';
import { seededRandom } from '/dist/util/hash.js';

const SAMPLE_RATE = 48000;

/** A deterministic test signal: two tones and a little noise, `channels` x `frames`. */
function signal(channels, frames) {
  const random = sl.normal(seededRandom(1));
  return Array.from({ length: channels }, (_, c) => {
    const x = new Float32Array(frames);
    for (let t = 0; t < frames; t++) x[t] = 0.5 * Math.sin((2 * Math.PI * (220 + 110 * c) * t) / SAMPLE_RATE) + 0.2 * Math.sin((2 * Math.PI * 3150 * t) / SAMPLE_RATE) + 0.05 * random();
    return x;
  });
}

async function render(channels, frames, planar, makeNode) {
  const ctx = new OfflineAudioContext({ numberOfChannels: channels, length: frames, sampleRate: SAMPLE_RATE });
  const buffer = ctx.createBuffer(planar.length, frames, SAMPLE_RATE);
  planar.forEach((x, c) => buffer.copyToChannel(x, c));
  const source = new AudioBufferSourceNode(ctx, { buffer });
  const node = await makeNode(ctx);
  source.connect(node).connect(ctx.destination);
  source.start();
  const t0 = performance.now();
  const rendered = await ctx.startRendering();
  const ms = performance.now() - t0;
  return { ms, out: Array.from({ length: channels }, (_, c) => rendered.getChannelData(c)) };
}

/**
 * Renders `seconds` of signal through `config` (input [channels]) and returns the error against
 * layer() after the node's latency, and the render time per 128-frame quantum. `weightNaming`:
 * how the weights handed to the node name their tensors; `conditioning`: see below.
 */
export async function run({ config, channels = 1, blockFrames, seconds = 1, weightNaming, conditioning, switchTo }) {
  await sl.init();
  // `conditioning`: the values of a [1, n] conditioning vector, constants.c given to the node;
  // `switchTo`: other values, set with setConstants before rendering (after a refused set).
  const vector = (v) => ({ c: { values: Float32Array.from(v), shape: [1, v.length] } });
  const constants = conditioning && vector(conditioning);
  const model = sl.build(config, { inputShape: [channels], seed: 3, constants });
  const outChannels = model.outputShape()[0];
  const weights = sl.writeSafetensors(model.getWeights({ naming: weightNaming }));
  const frames = Math.round(seconds * SAMPLE_RATE);
  const planar = signal(channels, frames);
  let info, refused;
  const withModel = await render(outChannels, frames, planar, async (ctx) => {
    info = await createModelNode(ctx, { config, inputShape: [channels], weights, weightNaming, blockFrames, constants });
    if (switchTo) {
      refused = await info.setConstants({ other: vector(switchTo).c }).then(() => null, (e) => e.message);
      await info.setConstants(vector(switchTo));
    }
    return info.node;
  });
  // The same graph with a pass-through node: what rendering costs without the model.
  const baseline = await render(channels, frames, planar, async (ctx) => new GainNode(ctx));

  const interleaved = new Float32Array(frames * channels);
  for (let t = 0; t < frames; t++) for (let c = 0; c < channels; c++) interleaved[t * channels + c] = planar[c][t];
  const expected = model.layer(sl.Sequence.fromValues(interleaved, [1, frames, channels]), { constants: switchTo ? vector(switchTo) : constants }).values;
  let maxError = 0;
  let prefix = 0;
  for (let t = 0; t < frames; t++) {
    for (let c = 0; c < outChannels; c++) {
      const got = withModel.out[c][t];
      if (t < info.latency) prefix = Math.max(prefix, Math.abs(got));
      else maxError = Math.max(maxError, Math.abs(got - expected[(t - info.latency) * outChannels + c]));
    }
  }
  const quanta = frames / 128;
  return {
    latency: info.latency,
    blockFrames: info.blockFrames,
    build: info.build,
    memoryBytes: info.memoryBytes,
    maxError,
    prefix,
    refused,
    msPerQuantum: withModel.ms / quanta,
    baselineMsPerQuantum: baseline.ms / quanta,
  };
}

/** createModelNode's error for options ({ config, inputShape? }) the worklet cannot run. */
export async function runBad(options) {
  const ctx = new OfflineAudioContext({ numberOfChannels: 1, length: 128, sampleRate: SAMPLE_RATE });
  try {
    await createModelNode(ctx, options);
    return null;
  } catch (e) {
    return { name: e.name, code: e.code, message: e.message };
  }
}
