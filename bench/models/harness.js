// Runs one model workload on both of our builds and on every anchor, in one interleaved
// comparison: streaming rows (one block per call, state carried between calls) and layer rows
// (a whole sequence per call). Before timing, every anchor's output is checked against ours
// on the same input and the same weights (relative max difference, in row.check).
import { compare, fmt, micros, pseudoRandom, relDiff, round, sl } from '../lib.js';

const ONNX = ['onnxruntime-web', 'onnxruntime-node'];
/** Largest relative difference of an anchor's output from ours that still counts as the same model. */
const MAX_DIFF = 1e-4;

/**
 * Our model on each build, with the same weights (the first build's, from seed 1); with
 * def.float32Config (an int8 workload's float32 twin), that model too, as '<build> float32'.
 */
function buildOurs(ctx, def) {
  const models = {};
  let weights = null;
  for (const [build, rt] of Object.entries(ctx.rts)) {
    const m = sl.build(def.config, { inputShape: def.inputShape, runtime: rt, seed: 1 });
    if (weights) m.loadWeights(weights);
    else weights = m.getWeights();
    models[build] = m;
    if (def.float32Config) models[`${build} float32`] = sl.build(def.float32Config, { inputShape: def.inputShape, runtime: rt, weights });
  }
  // Plain arrays keyed by path, as the graph builders read them.
  const w = Object.fromEntries(Object.entries(weights).map(([k, t]) => [k, t.data]));
  return { models, w };
}

/**
 * speedup = anchor median / our best median, and the same at p99 (speedupP99) for anchors
 * with a p99 when one of our builds has one (compare() gives none below P99_SAMPLES samples).
 */
function speedups(ours, anchors) {
  const best = (q) => Math.min(...Object.values(ours).map((t) => t[q] ?? Infinity));
  const speedup = {}, speedupP99 = {};
  for (const [name, t] of Object.entries(anchors)) {
    speedup[name] = round(t.median / best('median'));
    if (t.p99 !== undefined && best('p99') < Infinity) speedupP99[name] = round(t.p99 / best('p99'));
  }
  return { speedup, speedupP99 };
}

/** Contestant names of our builds; '<build> float32' are an int8 workload's float32 twins; every other contestant is an anchor. */
const BUILDS = new Set(['plain', 'relaxed']);
const FLOAT32_TWIN = / float32$/;

function row(def, times, check, unit) {
  const ours = {}, anchors = {}, twins = {};
  for (const [name, t] of Object.entries(times)) (BUILDS.has(name) ? ours : FLOAT32_TWIN.test(name) ? twins : anchors)[name] = t;
  const { speedup, speedupP99 } = speedups(ours, anchors);
  const out = {
    workload: def.workload,
    unit,
    ours: Object.fromEntries(Object.entries(ours).map(([k, t]) => [k, micros(t)])),
    anchors: Object.fromEntries(Object.entries(anchors).map(([k, t]) => [k, micros(t)])),
    speedup,
    speedupP99,
    check,
  };
  if (def.float32Config) {
    const best = (ts) => Math.min(...Object.values(ts).map((t) => t.median));
    out.oursFloat32 = Object.fromEntries(Object.entries(twins).map(([k, t]) => [k.replace(FLOAT32_TWIN, ''), micros(t)]));
    out.speedupOverFloat32 = round(best(twins) / best(ours));
    out.rate = `${out.speedupOverFloat32}× our float32 weights (${fmt(best(twins) * 1e6)}), best build each, same run`;
  }
  if (def.target) {
    out.target = def.target.text;
    out.met = def.target.met(out);
  }
  const off = Object.entries(check).filter(([, d]) => !(d <= (def.maxDiff ?? MAX_DIFF)));
  if (off.length) {
    out.notes = `outputs differ from ours: ${off.map(([n, d]) => `${n} ${d}`).join(', ')}`;
    out.met = false;
  }
  return out;
}

/**
 * A streaming row. def: { workload, config, inputShape, frames (input steps per call),
 * onnx?(w) -> { bytes, x, xDims, y, states: [{ input, output, dims, fill? (initial value, default 0) }] },
 * tfjs?(tf, w) -> { states: () => tensors, step(x, states) -> [y, ...states] }, target? }.
 * Inputs are [1, frames, ...inputShape]; ONNX inputs are fed in the same memory order (the
 * workloads here keep it: one frame, or one channel).
 */
export async function streamingRow(ctx, def) {
  const { models, w } = buildOurs(ctx, def);
  const size = def.frames * def.inputShape.reduce((a, b) => a * b, 1);
  const inputs = [1, 2, 3].map((s) => pseudoRandom(size, s));
  const shape = [1, def.frames, ...def.inputShape];
  const contestants = {};
  const last = {};

  for (const [build, m] of Object.entries(models)) {
    const outShape = m.outputShape();
    const outTime = m.outputRatio.floorMul(def.frames);
    const out = { values: new Float32Array(outTime * outShape.reduce((a, b) => a * b, 1)), mask: new Uint8Array(outTime) };
    let state = m.initialState(1);
    for (const v of inputs) m.stepInto(sl.Sequence.fromValues(v, shape), state, out);
    last[build] = out.values.slice();
    state = m.initialState(1);
    const x = sl.Sequence.fromValues(inputs[0], shape);
    contestants[build] = () => m.stepInto(x, state, out);
  }

  const check = {};
  if (def.onnx) {
    const graph = def.onnx(w);
    for (const name of ONNX) {
      const a = ctx.anchors[name];
      if (!a) continue;
      const session = await a.session(graph.bytes);
      const fresh = () => {
        const feeds = {};
        for (const s of graph.states) feeds[s.input] = a.tensor(new Float32Array(s.dims.reduce((p, q) => p * q, 1)).fill(s.fill ?? 0), s.dims);
        return feeds;
      };
      const step = async (feeds) => {
        const r = await session.run(feeds);
        for (const s of graph.states) feeds[s.input] = r[s.output];
        return r[graph.y];
      };
      let feeds = fresh();
      let y;
      for (const v of inputs) {
        feeds[graph.x] = a.tensor(v, graph.xDims);
        y = await step(feeds);
      }
      check[name] = round(relDiff(y.data, last.plain), 2);
      feeds = fresh();
      feeds[graph.x] = a.tensor(inputs[0], graph.xDims);
      contestants[name] = () => step(feeds);
    }
  }
  if (def.tfjs && ctx.anchors['tfjs-wasm']) {
    const { tf } = ctx.anchors['tfjs-wasm'];
    const t = def.tfjs(tf, w);
    let states = t.states();
    const step = (v) => {
      const [y, ...next] = tf.tidy(() => t.step(tf.tensor(v, shape), states));
      for (const s of states) s.dispose();
      states = next;
      const data = y.dataSync();
      y.dispose();
      return data;
    };
    let y;
    for (const v of inputs) y = step(v);
    check['tfjs-wasm'] = round(relDiff(y, last.plain), 2);
    for (const s of states) s.dispose();
    states = t.states();
    contestants['tfjs-wasm'] = () => step(inputs[0]);
  }

  const times = await compare(contestants, ctx.timing);
  for (const m of Object.values(models)) m.dispose();
  return row(def, times, check, 'µs/step');
}

/**
 * A layer row: one whole sequence [batch, time, ...inputShape] per call. def: { workload,
 * config, inputShape, batch, time, onnx?(w, batch, time) -> { bytes, x, xDims, toOnnx?(v) },
 * tfjs?(tf, w) -> (x) -> y, target? }. ONNX inputs are ours unless toOnnx reorders them (e.g.
 * to NCW); outputs are compared after fromOnnx, if given.
 */
export async function layerRow(ctx, def) {
  const { models, w } = buildOurs(ctx, def);
  const shape = [def.batch, def.time, ...def.inputShape];
  const data = pseudoRandom(shape.reduce((a, b) => a * b, 1), 5);
  const x = sl.Sequence.fromValues(data, shape);
  const contestants = {};
  let ref;
  for (const [build, m] of Object.entries(models)) {
    ref ??= m.layer(x).values;
    contestants[build] = () => m.layer(x);
  }
  const check = {};
  if (def.onnx) {
    const graph = def.onnx(w, def.batch, def.time);
    const xv = graph.toOnnx ? graph.toOnnx(data) : data;
    for (const name of ONNX) {
      const a = ctx.anchors[name];
      if (!a) continue;
      const session = await a.session(graph.bytes);
      const feeds = { [graph.x]: a.tensor(xv, graph.xDims) };
      const y = (await session.run(feeds))[graph.y].data;
      check[name] = round(relDiff(graph.fromOnnx ? graph.fromOnnx(y) : y, ref), 2);
      contestants[name] = () => session.run(feeds);
    }
  }
  if (def.tfjs && ctx.anchors['tfjs-wasm']) {
    const { tf } = ctx.anchors['tfjs-wasm'];
    const f = def.tfjs(tf, w);
    const xt = tf.tensor(data, shape);
    const run = () => {
      const y = tf.tidy(() => f(xt));
      const v = y.dataSync();
      y.dispose();
      return v;
    };
    check['tfjs-wasm'] = round(relDiff(run(), ref), 2);
    contestants['tfjs-wasm'] = run;
  }
  const times = await compare(contestants, ctx.timing);
  for (const m of Object.values(models)) m.dispose();
  return row(def, times, check, 'µs/call');
}

/**
 * A target met when every listed anchor that ran is at least `ratio` times slower (at `q`:
 * 'speedup' or 'speedupP99'); an anchor that ran without a p99 ratio fails a p99 target.
 */
export function atLeast(ratio, names, q = 'speedup') {
  return (r) => names.filter((n) => r.speedup[n] !== undefined).every((n) => r[q][n] >= ratio);
}
