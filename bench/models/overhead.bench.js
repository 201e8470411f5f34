// Per-step overhead of the public API: a trivial layer (Relu over 64 channels, one frame) by
// step() and stepInto(), against each anchor's floor for a trivial graph (one Relu). Also
// counts what 100,000 steady-state steps allocate: JS heap bytes, garbage collections, and
// WebAssembly memory growth.
import { PerformanceObserver } from 'node:perf_hooks';
import v8 from 'node:v8';
import vm from 'node:vm';
import { OnnxGraph } from '../anchors/onnx.js';
import { compare, micros, pseudoRandom, round, sl } from '../lib.js';

const CHANNELS = 64;
const COUNTED_STEPS = 100_000;

/** V8's gc(), without --expose-gc on the command line (the flag only has to be set before the context is made). */
function exposeGc() {
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc');
}

/**
 * What `steps` steady-state calls of fn allocate (after as many warm-up calls): garbage
 * collections during the calls, JS heap bytes per call (median over 10 windows, each measured
 * from a collected heap), and growth of WebAssembly memory.
 */
async function allocations(rt, fn, steps = COUNTED_STEPS) {
  const gc = exposeGc();
  for (let i = 0; i < steps; i++) fn();
  const wasm0 = rt.memory.buffer.byteLength;
  // Start from an empty young generation: garbage left by the previous contestant (step()
  // allocates) would otherwise be collected during this one's count.
  gc();
  let gcs = 0;
  const obs = new PerformanceObserver((list) => (gcs += list.getEntries().length));
  obs.observe({ entryTypes: ['gc'] });
  for (let i = 0; i < steps; i++) fn();
  await new Promise((r) => setTimeout(r, 10)); // gc entries are delivered asynchronously
  obs.disconnect();
  const windows = 10, perWindow = steps / windows, bytes = [];
  for (let w = 0; w < windows; w++) {
    gc();
    const h0 = v8.getHeapStatistics().used_heap_size;
    for (let i = 0; i < perWindow; i++) fn();
    bytes.push((v8.getHeapStatistics().used_heap_size - h0) / perWindow);
  }
  bytes.sort((a, b) => a - b);
  return { heapBytesPerStep: Math.max(0, bytes[windows >> 1]), gcs, wasmGrowth: rt.memory.buffer.byteLength - wasm0 };
}

const describe = (a) => `JS heap ${a.heapBytesPerStep.toFixed(1)} B/step, ${a.gcs} GCs in ${COUNTED_STEPS.toLocaleString('en')} steps, WASM memory +${a.wasmGrowth} B`;

export async function overheadRows(ctx) {
  const data = pseudoRandom(CHANNELS);
  const shape = [1, 1, CHANNELS];
  const contestants = {};
  const counts = {};
  for (const [build, rt] of Object.entries(ctx.rts)) {
    const m = sl.build(sl.Relu(), { inputShape: [CHANNELS], runtime: rt });
    const state = m.initialState(1);
    const x = sl.Sequence.fromValues(data, shape);
    const out = { values: new Float32Array(CHANNELS), mask: new Uint8Array(1) };
    contestants[`${build} step`] = () => m.step(x, state);
    contestants[`${build} stepInto`] = () => m.stepInto(x, state, out);
    counts[`${build} step`] = await allocations(rt, contestants[`${build} step`]);
    counts[`${build} stepInto`] = await allocations(rt, contestants[`${build} stepInto`]);
  }
  const g = new OnnxGraph();
  g.op('Relu', [g.input('x', shape)], {}, 'y');
  g.output('y', shape);
  const bytes = g.toModel();
  for (const name of ['onnxruntime-web', 'onnxruntime-node']) {
    const a = ctx.anchors[name];
    if (!a) continue;
    const session = await a.session(bytes);
    contestants[name] = () => session.run({ x: a.tensor(data, shape) });
  }
  if (ctx.anchors['tfjs-wasm']) {
    const { tf } = ctx.anchors['tfjs-wasm'];
    contestants['tfjs-wasm'] = () => {
      const y = tf.tidy(() => tf.relu(tf.tensor(data, shape)));
      y.dataSync();
      y.dispose();
    };
  }
  const times = await compare(contestants, ctx.timing);
  const anchorNames = Object.keys(contestants).filter((n) => !n.includes(' '));
  return ['step', 'stepInto'].map((api) => {
    const ours = Object.fromEntries(Object.keys(ctx.rts).map((b) => [b, micros(times[`${b} ${api}`])]));
    const best = Math.min(...Object.keys(ctx.rts).map((b) => times[`${b} ${api}`].median));
    const speedup = Object.fromEntries(anchorNames.map((n) => [n, round(times[n].median / best)]));
    const alloc = counts[`${ctx.rts.relaxed ? 'relaxed' : 'plain'} ${api}`];
    const zeroAlloc = api === 'stepInto' ? alloc.gcs === 0 && alloc.heapBytesPerStep < 1 && alloc.wasmGrowth === 0 : true;
    return {
      workload: `trivial layer (Relu, ${CHANNELS} ch, 1 frame) ${api}()`,
      unit: 'µs/step',
      ours,
      anchors: Object.fromEntries(anchorNames.map((n) => [n, micros(times[n])])),
      speedup,
      rate: describe(alloc),
      target: api === 'stepInto' ? '≤2 µs, ≥8× below ort-web, no allocation' : '≤2 µs, ≥8× below ort-web',
      met: best <= 2e-6 && (speedup['onnxruntime-web'] ?? Infinity) >= 8 && zeroAlloc,
    };
  });
}
