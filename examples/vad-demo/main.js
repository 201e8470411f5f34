// The Silero VAD demo page: converts the ONNX file in the page, runs the model in an
// AudioWorklet (seqlayers/audio) over a WAV file (OfflineAudioContext) or the microphone
// (AudioContext), and plots the speech probability over time with the speech segments.
// Served by examples/vad-serve.js. `?run=bundled` runs the bundled recording at load (tests).
import * as sl from 'seqlayers';
import { createModelNode } from 'seqlayers/audio';
import { speechSegments } from '../vad-segments.js';

const SR = 16000;
const $ = (id) => document.getElementById(id);
const status = (text) => ($('status').textContent = text);

await sl.init();
const onnx = new Uint8Array(await (await fetch('/node_modules/@ricky0123/vad-web/dist/silero_vad_v5.onnx')).arrayBuffer());
const vad = sl.convertSileroVad(onnx);
// The worklet plays one output frame per input frame: each chunk's probability is repeated over
// its samples (Upsample1D), which makes the model's output ratio 1.
const config = { ...vad.config, layers: [...vad.config.layers, { type: 'Upsample1D', rate: vad.chunk }] };
const weights = sl.writeSafetensors(vad.weights);
status(`Ready: Silero VAD v5, ${vad.chunk}-sample chunks at ${SR} Hz (kernels: ${sl.getRuntime().build}).`);

/** Speech probability per chunk of `samples` (16 kHz mono), rendered offline through the worklet. */
async function probabilitiesOf(samples) {
  const chunks = Math.ceil(samples.length / vad.chunk);
  // Room for the node's latency (under one block) after the last chunk.
  const ctx = new OfflineAudioContext({ numberOfChannels: 1, length: (chunks + 2) * vad.chunk, sampleRate: SR });
  const model = await createModelNode(ctx, { config, weights });
  const buffer = new AudioBuffer({ length: samples.length, sampleRate: SR, numberOfChannels: 1 });
  buffer.copyToChannel(samples, 0);
  const source = new AudioBufferSourceNode(ctx, { buffer });
  source.connect(model.node).connect(ctx.destination);
  source.start();
  const t0 = performance.now();
  const out = (await ctx.startRendering()).getChannelData(0);
  const ms = performance.now() - t0;
  model.dispose();
  // Output frame n is the model's output at input frame n - latency.
  const p = Float32Array.from({ length: chunks }, (_, i) => out[model.latency + i * vad.chunk]);
  return { p, latency: model.latency, build: model.build, ms };
}

function draw(samples, p, segments, seconds) {
  const canvas = $('plot'), g = canvas.getContext('2d'), w = canvas.width, h = canvas.height;
  g.clearRect(0, 0, w, h);
  g.fillStyle = 'rgba(40, 180, 80, 0.2)';
  for (const [a, b] of segments) g.fillRect((a / seconds) * w, 0, ((b - a) / seconds) * w, h);
  if (samples) {
    g.strokeStyle = '#bbb';
    g.beginPath();
    const per = samples.length / w;
    for (let x = 0; x < w; x++) {
      let lo = 0, hi = 0;
      for (let i = Math.floor(x * per); i < Math.floor((x + 1) * per); i++) (lo = Math.min(lo, samples[i])), (hi = Math.max(hi, samples[i]));
      g.moveTo(x, h / 2 - hi * h * 0.45);
      g.lineTo(x, h / 2 - lo * h * 0.45);
    }
    g.stroke();
  }
  g.strokeStyle = '#999';
  g.setLineDash([4, 4]);
  g.beginPath();
  g.moveTo(0, h / 2);
  g.lineTo(w, h / 2);
  g.stroke();
  g.setLineDash([]);
  g.strokeStyle = '#1560bd';
  g.lineWidth = 2;
  g.beginPath();
  const chunkSeconds = vad.chunk / SR;
  p.forEach((v, i) => g.lineTo(((i + 0.5) * chunkSeconds * w) / seconds, h - v * h));
  g.stroke();
  g.lineWidth = 1;
}

function showSegments(segments) {
  $('segments').replaceChildren(...segments.map(([a, b]) => Object.assign(document.createElement('li'), { textContent: `speech ${a.toFixed(2)} s – ${b.toFixed(2)} s` })));
}

async function runOn(samples, name) {
  status(`Running on ${name}…`);
  const { p, latency, build, ms } = await probabilitiesOf(samples);
  const segments = speechSegments(p, vad.chunk, SR);
  draw(samples, p, segments, samples.length / SR);
  showSegments(segments);
  status(`${name}: ${(samples.length / SR).toFixed(2)} s, ${p.length} chunks, rendered in ${ms.toFixed(0)} ms (worklet latency ${latency} frames, ${build} kernels).`);
  window.vadResult = { probabilities: Array.from(p), segments, latency, build };
}

async function runBundled() {
  const wav = sl.readWav(new Uint8Array(await (await fetch('/test/fixtures/vad/speech.wav')).arrayBuffer()));
  await runOn(wav.channels[0], 'the bundled recording');
}

$('bundled').onclick = () => runBundled().catch((e) => status(String(e)));
$('file').onchange = async () => {
  const file = $('file').files[0];
  if (!file) return;
  try {
    // Decoding in a 16 kHz context resamples any rate; the first channel is used.
    const buffer = await new OfflineAudioContext(1, 1, SR).decodeAudioData(await file.arrayBuffer());
    await runOn(buffer.getChannelData(0), file.name);
  } catch (e) {
    status(`${file.name}: ${e}`);
  }
};

let live = null;
$('mic').onclick = async () => {
  try {
    const ctx = new AudioContext({ sampleRate: SR });
    const media = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false } });
    const model = await createModelNode(ctx, { config, weights });
    const analyser = new AnalyserNode(ctx, { fftSize: 512 });
    // Muted path to the destination keeps the graph pulling the worklet.
    ctx.createMediaStreamSource(media).connect(model.node);
    model.node.connect(analyser);
    model.node.connect(new GainNode(ctx, { gain: 0 })).connect(ctx.destination);
    const window10s = Math.round((10 * SR) / vad.chunk), p = [], frame = new Float32Array(analyser.fftSize);
    live = { ctx, media, model, stop: false };
    $('stop').disabled = false;
    status('Listening (the last 10 s are plotted)…');
    let chunks = Math.floor((ctx.currentTime * SR) / vad.chunk);
    const tick = () => {
      if (live.stop) return;
      // One value per chunk of audio time that passed since the last frame (the analyser holds
      // the latest chunk's probability, repeated over its samples).
      analyser.getFloatTimeDomainData(frame);
      for (const due = Math.floor((ctx.currentTime * SR) / vad.chunk); chunks < due; chunks++) p.push(frame[frame.length - 1]);
      p.splice(0, Math.max(0, p.length - window10s));
      const seconds = (p.length * vad.chunk) / SR;
      const segments = speechSegments(p, vad.chunk, SR);
      draw(null, p, segments, Math.max(seconds, 1e-3));
      showSegments(segments);
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  } catch (e) {
    status(`Microphone: ${e}`);
  }
};
$('stop').onclick = () => {
  if (!live) return;
  live.stop = true;
  live.media.getTracks().forEach((t) => t.stop());
  live.model.dispose();
  live.ctx.close();
  live = null;
  $('stop').disabled = true;
  status('Stopped.');
};

if (new URLSearchParams(location.search).get('run') === 'bundled') runBundled().catch((e) => ((window.vadError = String(e)), status(String(e))));
