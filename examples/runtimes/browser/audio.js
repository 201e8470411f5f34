// A model inside an AudioWorklet: it runs synchronously on the audio render thread.
import * as sl from 'seqlayers';
import { createModelNode } from 'seqlayers/audio';

/**
 * Renders `input` (an AudioBuffer) through the model offline; returns the rendered AudioBuffer
 * and the node's latency in frames. For live audio, use an AudioContext instead:
 *   const { node } = await createModelNode(ctx, { config, weights });
 *   microphoneSource.connect(node).connect(ctx.destination);
 */
export async function renderThroughModel(config, weights, input) {
  await sl.init();
  const ctx = new OfflineAudioContext({ numberOfChannels: 1, length: input.length, sampleRate: input.sampleRate });
  // Compiles the kernels here, hands them to the worklet with the config and weights, and waits
  // until the model is built there (a bad config rejects with its code, e.g. BAD_CONFIG).
  const model = await createModelNode(ctx, { config, weights, blockFrames: 160 });
  const source = new AudioBufferSourceNode(ctx, { buffer: input });
  source.connect(model.node).connect(ctx.destination);
  source.start();
  const rendered = await ctx.startRendering();
  model.dispose();
  return { rendered, latency: model.latency }; // output frame n = model.layer(input) at n - latency
}
