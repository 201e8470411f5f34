// Silero VAD, streamed: the published ONNX file (npm @ricky0123/vad-web, MIT) converted to a
// seqlayers model, run in a Node worker (seqlayers/workers) over a WAV file one 512-sample chunk
// (32 ms) at a time, next to onnxruntime-web run the usual way in this process (64 samples of
// context prepended, the state passed in and out of every call). Prints the speech segments of
// both, the time per chunk, the real-time factor, and how far the probabilities differ.
//
//   node examples/vad.js [file.wav] [--model v5|v6]     (16 kHz mono; default: the bundled test WAV)
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-web';
import * as sl from 'seqlayers';
import { startWorker } from 'seqlayers/workers';
import { speechSegments } from './vad-segments.js';

const args = process.argv.slice(2);
const version = args.includes('--model') ? args[args.indexOf('--model') + 1] : 'v5';
const wavPath = args.find((a, i) => !a.startsWith('--') && args[i - 1] !== '--model') ?? fileURLToPath(new URL('../test/fixtures/vad/speech.wav', import.meta.url));
if (version !== 'v5' && version !== 'v6') throw new Error(`--model: expected v5 or v6, got ${version}`);
const onnxBytes = readFileSync(createRequire(import.meta.url).resolve(`@ricky0123/vad-web/dist/silero_vad_${version}.onnx`));

const info = await sl.init();
const wav = sl.readWav(readFileSync(wavPath));
if (wav.sampleRate !== 16000 || wav.channels.length !== 1) {
  console.error(`${wavPath}: expected 16 kHz mono audio, got ${wav.sampleRate} Hz, ${wav.channels.length} channel(s) (sox in.wav -r 16000 -c 1 out.wav)`);
  process.exit(1);
}
const audio = wav.channels[0];
const CHUNK = 512, CONTEXT = 64, SR = 16000;
const chunks = Math.ceil(audio.length / CHUNK);
/** Chunk i, zero-padded at the end of the file. */
const chunkAt = (i) => {
  const c = new Float32Array(CHUNK);
  c.set(audio.subarray(i * CHUNK, (i + 1) * CHUNK));
  return c;
};

// --- seqlayers: convert, then stream in a worker (round trip per chunk), and in this thread.
let t0 = performance.now();
const vad = sl.convertSileroVad(onnxBytes);
const convertMs = performance.now() - t0;
t0 = performance.now();
const worker = await startWorker({ config: vad.config, inputShape: vad.inputShape, weights: sl.writeSafetensors(vad.weights) });
const stream = await worker.open();
const workerStartMs = performance.now() - t0;
const ours = new Float32Array(chunks);
const workerTimes = [];
for (let i = 0; i < chunks; i++) {
  const x = sl.Sequence.fromValues(chunkAt(i), [1, CHUNK, 1]);
  const start = performance.now();
  const y = await stream.process(x);
  workerTimes.push(performance.now() - start);
  ours[i] = y.values[0];
}
await stream.close();
await worker.close();

// The same model in this thread, stepInto (no allocation per chunk): the compute alone.
const model = sl.build(vad.config, { inputShape: vad.inputShape });
model.loadWeights(vad.weights);
const state = model.initialState(1);
const out = { values: new Float32Array(1), mask: new Uint8Array(1) };
const localTimes = [];
for (let i = 0; i < chunks; i++) {
  const x = sl.Sequence.fromValues(chunkAt(i), [1, CHUNK, 1]);
  const start = performance.now();
  model.stepInto(x, state, out);
  localTimes.push(performance.now() - start);
}
state.dispose();
model.dispose();

// --- onnxruntime-web, the usual way: one session.run per chunk, context and state carried by hand.
ort.env.wasm.numThreads = 1; // what a page without cross-origin isolation gets
t0 = performance.now();
const session = await ort.InferenceSession.create(onnxBytes);
const ortCreateMs = performance.now() - t0;
const sr = new ort.Tensor('int64', BigInt64Array.of(BigInt(SR)), []);
let ortState = new ort.Tensor('float32', new Float32Array(2 * 128), [2, 1, 128]);
let context = new Float32Array(CONTEXT);
const theirs = new Float32Array(chunks);
const ortTimes = [];
for (let i = 0; i < chunks; i++) {
  const chunk = chunkAt(i);
  const start = performance.now();
  const input = new Float32Array(CONTEXT + CHUNK);
  input.set(context);
  input.set(chunk, CONTEXT);
  context = chunk.slice(-CONTEXT);
  const r = await session.run({ input: new ort.Tensor('float32', input, [1, CONTEXT + CHUNK]), state: ortState, sr });
  ortState = r.stateN;
  theirs[i] = r.output.data[0];
  ortTimes.push(performance.now() - start);
}
await session.release();

// --- Report.
const stats = (times) => {
  const s = [...times].sort((a, b) => a - b);
  const total = times.reduce((a, b) => a + b, 0);
  return { median: s[s.length >> 1], p99: s[Math.floor(s.length * 0.99)], rtf: total / (audio.length / SR) / 1000 };
};
const us = (ms) => (ms < 1 ? `${(ms * 1000).toFixed(0)} µs` : `${ms.toFixed(2)} ms`);
const sec = (s) => `${s.toFixed(2)} s`;
let maxDiff = 0;
for (let i = 0; i < chunks; i++) maxDiff = Math.max(maxDiff, Math.abs(ours[i] - theirs[i]));

const a = speechSegments(ours, CHUNK, SR), b = speechSegments(theirs, CHUNK, SR);
console.log(`Silero VAD ${version} (ONNX from @ricky0123/vad-web, converted in ${convertMs.toFixed(0)} ms) on ${wavPath.split('/').pop()}:`);
console.log(`${sec(audio.length / SR)} at 16 kHz, ${chunks} chunks of ${CHUNK} samples (${(CHUNK / SR) * 1000} ms), kernels: ${info.build}\n`);
console.log('speech segments        seqlayers              onnxruntime-web');
for (let i = 0; i < Math.max(a.length, b.length); i++) {
  const f = (s) => (s ? `${sec(s[0])} - ${sec(s[1])}` : '-');
  console.log(`  ${String(i + 1).padEnd(20)} ${f(a[i]).padEnd(22)} ${f(b[i])}`);
}
console.log('\nper chunk                              median     p99        real-time factor');
for (const [name, times] of [['seqlayers, Node worker (round trip)', workerTimes], ['seqlayers, this thread (stepInto)', localTimes], ['onnxruntime-web, this thread', ortTimes]]) {
  const s = stats(times);
  console.log(`  ${name.padEnd(37)}${us(s.median).padEnd(11)}${us(s.p99).padEnd(11)}${s.rtf.toFixed(4)}`);
}
console.log(`\nstart-up: seqlayers worker ${workerStartMs.toFixed(0)} ms, onnxruntime-web session ${ortCreateMs.toFixed(0)} ms`);
console.log(`max |p_seqlayers - p_onnxruntime| over ${chunks} chunks: ${maxDiff.toExponential(2)}`);
if (maxDiff > 1e-4 || JSON.stringify(a) !== JSON.stringify(b)) {
  console.error('seqlayers and onnxruntime-web disagree');
  process.exit(1);
}
