#!/usr/bin/env node
// Soak: many streams of one model stepped for a long time, in a shuffled order, in one runtime.
// Measures WebAssembly memory, the heap's bytes in use and the JS heap after warm-up and at the
// end (none may grow), and checks a sampled stream against layer mode over its whole input.
//
//   node tools/soak.js [--streams 8] [--steps 100000] [--block 16] [--seed 1]
//
// runs against dist/ (`npm run build` first); test/robustness/soak.test.ts runs a short version
// of the same function against src/.
import v8 from 'node:v8';
import vm from 'node:vm';

/** Channels per input step of the soak model. */
export const SOAK_INPUT_SHAPE = [16];

/**
 * The soak model: a causal conv front end, an LSTM and windowed (local) self-attention, then a
 * projection. Every layer keeps a bounded streaming state (conv buffer, h/c, a KV ring).
 */
export function soakConfig(sl) {
  return sl.Serial([
    sl.Conv1D({ filters: 32, kernelSize: 5, padding: 'causal' }),
    sl.Relu(),
    sl.LSTM({ units: 32 }),
    sl.LocalDotProductSelfAttention({ numHeads: 4, unitsPerHead: 8, maxPastHorizon: 16, blockSize: 16 }),
    sl.Flatten(),
    sl.Dense({ features: 8 }),
  ]);
}

/**
 * Block `k` of stream `s`: [1, block, ...SOAK_INPUT_SHAPE] values in [-1, 1) from a seed of
 * (seed, s, k), with about one step in ten invalid. The same call always gives the same block,
 * so layer mode can rebuild a stream's input without keeping it.
 */
export function soakBlock(sl, seed, s, k, block) {
  return sl.randomSequence([1, block, ...SOAK_INPUT_SHAPE], { seed: (seed * 1_000_003 + s * 65_537 + k) >>> 0, low: -1, high: 1, randomMask: k % 7 === 3 });
}

/** A forced garbage collection (the flag can be set at run time), so JS heap readings compare. */
function collector() {
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc');
}

/**
 * Runs `streams` streams for `steps` steps each in blocks of `block`, each round visiting the
 * streams in a new random order; even streams use stepInto (allocation-free), odd ones step().
 * Returns the measurements after warm-up (`warmupSteps` steps of every stream) and at the end,
 * and stream 0's largest difference from layer mode.
 */
export function runSoak(sl, opts = {}) {
  const { streams = 8, steps = 100_000, block = 16, seed = 1, warmupSteps = Math.min(1024, steps / 4), runtime } = opts;
  if (steps % block) throw new Error(`steps (${steps}) must be a multiple of block (${block})`);
  const gc = collector();
  const rt = runtime ?? sl.getRuntime();
  const model = sl.build(soakConfig(sl), { inputShape: SOAK_INPUT_SHAPE, runtime: rt, seed });
  const states = Array.from({ length: streams }, () => model.initialState(1));
  const outShape = model.outputShape();
  const perStep = outShape.reduce((a, b) => a * b, 1);
  const out = { values: new Float32Array(block * perStep), mask: new Uint8Array(block) };
  const sampled = { values: new Float32Array(steps * perStep), mask: new Uint8Array(steps) };
  let random = seed >>> 0;
  const rand = () => ((random = (Math.imul(random, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const order = Array.from({ length: streams }, (_, i) => i);
  const measure = () => {
    gc();
    return { wasmBytes: rt.memory.buffer.byteLength, heapInUse: rt.heap.inUse, jsHeapUsed: process.memoryUsage().heapUsed };
  };
  let warm = null;
  const t0 = performance.now();
  try {
    for (let k = 0; k < steps / block; k++) {
      if (k * block === warmupSteps) warm = { ...measure(), ms: performance.now() - t0 };
      for (let i = streams - 1; i > 0; i--) {
        const j = Math.floor(rand() * (i + 1));
        [order[i], order[j]] = [order[j], order[i]];
      }
      for (const s of order) {
        const x = soakBlock(sl, seed, s, k, block);
        if (s % 2) {
          model.step(x, states[s]);
        } else {
          model.stepInto(x, states[s], out);
          if (s === 0) {
            sampled.values.set(out.values, k * block * perStep);
            sampled.mask.set(out.mask, k * block);
          }
        }
      }
    }
    const ms = performance.now() - t0;
    const end = measure();
    // Layer mode over stream 0's whole input, rebuilt block by block.
    const input = sl.Sequence.concatenate(Array.from({ length: steps / block }, (_, k) => soakBlock(sl, seed, 0, k, block)));
    const reference = model.layer(input);
    let maxDiff = 0, maskMismatches = 0;
    for (let t = 0; t < steps; t++) {
      if (sampled.mask[t] !== reference.mask[t]) maskMismatches++;
      if (!reference.mask[t]) continue;
      for (let c = 0; c < perStep; c++) maxDiff = Math.max(maxDiff, Math.abs(sampled.values[t * perStep + c] - reference.values[t * perStep + c]));
    }
    return {
      streams, steps, block, stepCalls: (streams * steps) / block,
      stepsPerSecond: Math.round((streams * steps) / (ms / 1000)),
      warm: warm ?? end, end, maxDiff, maskMismatches,
      build: rt.build,
    };
  } finally {
    for (const s of states) s.dispose();
    model.dispose();
  }
}

/** A few lines describing a soak report. */
export function formatSoak(r) {
  const mb = (n) => `${(n / 2 ** 20).toFixed(2)} MiB`;
  return [
    `soak: ${r.streams} streams x ${r.steps} steps in blocks of ${r.block} (${r.stepCalls} step calls, ${r.build} build): ${r.stepsPerSecond} steps/s`,
    `  WebAssembly memory: ${mb(r.warm.wasmBytes)} after warm-up, ${mb(r.end.wasmBytes)} at the end`,
    `  heap in use:        ${r.warm.heapInUse} bytes after warm-up, ${r.end.heapInUse} at the end`,
    `  JS heap used:       ${mb(r.warm.jsHeapUsed)} after warm-up, ${mb(r.end.jsHeapUsed)} at the end (${((r.end.jsHeapUsed - r.warm.jsHeapUsed) / 1024).toFixed(0)} KiB change)`,
    `  stream 0 vs layer mode: max |difference| ${r.maxDiff}, mask mismatches ${r.maskMismatches}`,
  ].join('\n');
}

async function main() {
  const args = process.argv.slice(2);
  const arg = (name, dflt) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? Number(args[i + 1]) : dflt;
  };
  const sl = await import(new URL('../dist/index.js', import.meta.url).href);
  await sl.init();
  const r = runSoak(sl, { streams: arg('streams', 8), steps: arg('steps', 100_000), block: arg('block', 16), seed: arg('seed', 1) });
  console.log(formatSoak(r));
  const grew = r.end.wasmBytes !== r.warm.wasmBytes || r.end.heapInUse !== r.warm.heapInUse || r.end.jsHeapUsed - r.warm.jsHeapUsed > 2 ** 20;
  const differs = r.maskMismatches > 0 || !(r.maxDiff <= 1e-4);
  if (grew) console.log('FAIL: memory grew after warm-up');
  if (differs) console.log('FAIL: the sampled stream differs from layer mode');
  process.exitCode = grew || differs ? 1 : 0;
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) await main();
