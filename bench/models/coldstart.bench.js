// Cold start: in a fresh Node process each time (V8 caches compiled WebAssembly per process),
// our init() + building the Silero-sized model, against creating each onnxruntime session for
// the same model (the first session also instantiates onnxruntime-web's WebAssembly). Ours
// builds as a user with a trained model does: the weights file's bytes are read before the
// clock starts (as the anchors' model bytes are), then init(), readSafetensors and
// build(config, { weights }). Building with random initialisation (orthogonal recurrent
// kernels and normal draws in JS) is a second row, without a target. Also the size of each
// WebAssembly binary.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { round, sl } from '../lib.js';
import { sileroVad } from './silero.js';

const RUNS = 7;
const DIST = new URL('../../dist/index.js', import.meta.url).href;

/**
 * What `body` (an async function body; `t0` is set just before it) takes in a fresh process,
 * RUNS times, in µs: the median and the maximum (RUNS processes are too few for a p99).
 */
function fresh(imports, body) {
  const script = `${imports}\nconst t0 = performance.now();\n${body}\nconsole.log(performance.now() - t0);`;
  const times = [];
  for (let i = 0; i < RUNS; i++) {
    const out = execFileSync(process.execPath, ['--experimental-wasm-relaxed-simd', '--input-type=module', '-e', script], { encoding: 'utf8', cwd: fileURLToPath(new URL('..', import.meta.url)) });
    times.push(Number(out.trim().split('\n').at(-1)));
  }
  times.sort((a, b) => a - b);
  return { median: round(times[RUNS >> 1] * 1e3), max: round(times[RUNS - 1] * 1e3), samples: RUNS };
}

const kb = (url) => Math.round(statSync(url).size / 1024);

export async function coldstartRows(ctx) {
  // The model with seed-1 weights: its safetensors file for ours, its ONNX twin for the anchors.
  const model = sl.build(sileroVad.config, { inputShape: sileroVad.inputShape, runtime: ctx.rts.plain, seed: 1 });
  const weights = model.getWeights();
  const w = Object.fromEntries(Object.entries(weights).map(([k, t]) => [k, t.data]));
  model.dispose();
  const dir = mkdtempSync(join(tmpdir(), 'seqlayers-bench-'));
  const onnxFile = join(dir, 'silero.onnx'), weightsFile = join(dir, 'silero.safetensors');
  writeFileSync(onnxFile, sileroVad.onnx(w).bytes);
  writeFileSync(weightsFile, sl.writeSafetensors(weights));
  const ours = {}, oursRandom = {}, anchors = {};
  try {
    const imports = `import * as sl from ${JSON.stringify(DIST)};\nimport { sileroVad } from './models/silero.js';\nimport { readFileSync } from 'node:fs';`;
    for (const build of Object.keys(ctx.rts)) {
      const init = `await sl.init({ build: '${build === 'plain' ? 'simd' : 'relaxed'}' });`;
      ours[build] = fresh(`${imports}\nconst bytes = readFileSync(${JSON.stringify(weightsFile)});`, `${init}\nsl.build(sileroVad.config, { inputShape: [1], weights: sl.readSafetensors(bytes) });`);
      oursRandom[build] = fresh(imports, `${init}\nsl.build(sileroVad.config, { inputShape: [1] });`);
    }
    for (const name of ['onnxruntime-web', 'onnxruntime-node']) {
      if (!ctx.anchors[name]) continue;
      const setup = name === 'onnxruntime-web' ? 'ort.env.wasm.numThreads = 1;' : '';
      anchors[name] = fresh(
        `import * as ort from '${name}';\nimport { readFileSync } from 'node:fs';\nconst bytes = readFileSync(${JSON.stringify(onnxFile)});\n${setup}`,
        `await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true });
  }
  const sizes = {
    'kernels.wasm': kb(new URL('../../build/kernels.wasm', import.meta.url)),
    'kernels-relaxed.wasm': kb(new URL('../../build/kernels-relaxed.wasm', import.meta.url)),
  };
  let ortKb;
  try {
    ortKb = kb(new URL('../../node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.wasm', import.meta.url));
  } catch {
    ortKb = undefined;
  }
  const best = Math.min(...Object.values(ours).map((t) => t.median));
  return [
    {
      workload: 'cold start: init() + read the weights + build the Silero-sized model (fresh process; anchors: create the session)',
      unit: 'µs/call',
      ours,
      anchors,
      speedup: Object.fromEntries(Object.entries(anchors).map(([n, t]) => [n, round(t.median / best)])),
      rate: `${Object.entries(sizes).map(([n, s]) => `${n} ${s} KB`).join(', ')}${ortKb ? `; onnxruntime-web's ${(ortKb / 1024).toFixed(1)} MB` : ''}`,
      target: '≤20 ms, each binary ≤300 KB',
      met: best <= 20e3 && Object.values(sizes).every((s) => s <= 300),
      binaryKB: sizes,
    },
    {
      workload: 'cold start: init() + build the Silero-sized model with random initialisation (fresh process)',
      unit: 'µs/call',
      ours: oursRandom,
      anchors: {},
      speedup: {},
    },
  ];
}
