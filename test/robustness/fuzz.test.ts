// Parsers under fuzzing (a bounded run; `node tools/fuzz.js --cases N` runs longer): every input
// ends in a coded SeqLayersError or a valid result, never another exception, a WebAssembly trap,
// a hang or a half-loaded model; and random valid configs keep the layer contract. The generators
// live in tools/fuzz.js; each report prints how many cases it tried and how they ended.
import { readFileSync, existsSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import * as sl from '../../src/index.js';
import { layerDef } from '../../src/config.js';
import { crc32, seededRandom } from '../../src/util/hash.js';
import { formatReport, fuzzConfigs, fuzzContract, fuzzImporter, fuzzOnnx, fuzzSafetensors, fuzzSnapshots, type FuzzApi, type FuzzReport } from '../../tools/fuzz.js';

/** Fixed so a failure reproduces with `node tools/fuzz.js --seed 8 --case I`. */
const SEED = 8;
/** A case this slow is a failure (generous: two builds run in parallel on two cores). */
const slowMs = 15_000;
const api: FuzzApi = { sl, layerDef, seededRandom, crc32 };
let rt: sl.Runtime;

beforeAll(async () => {
  rt = await sl.createRuntime({ maxMemoryBytes: 256 << 20 });
});

/** A model file shipped with the @ricky0123/vad-web devDependency, if installed. */
function vadFile(name: string): Uint8Array | undefined {
  const url = new URL(`../../node_modules/@ricky0123/vad-web/dist/${name}`, import.meta.url);
  return existsSync(url) ? new Uint8Array(readFileSync(url)) : undefined;
}

function expectClean(r: FuzzReport, minCases: number): void {
  console.log(formatReport(r));
  expect(r.failures, formatReport(r)).toEqual([]);
  expect(r.cases).toBeGreaterThanOrEqual(minCases);
}

describe('fuzzing', () => {
  it('safetensors: truncated, huge header lengths, bad offsets, dtypes, UTF-8, nesting, duplicates, byte flips; loads all or nothing', () => {
    const r = fuzzSafetensors(api, rt, { cases: 3000, seed: SEED, slowMs });
    expectClean(r, 3000);
    expect(r.valid, 'some mutated files are still valid').toBeGreaterThan(50);
  });

  it('configs: mutations of a valid config of every registered layer type, built and run', () => {
    const r = fuzzConfigs(api, rt, { cases: 3000, seed: SEED, slowMs });
    expectClean(r, 3000);
    expect(r.unseeded, 'every registered type has a config that builds and runs').toEqual([]);
  });

  it('contract: random valid layers and 2-4 layer stacks pass verifyContract (layer == step, padding, batch, metadata)', () => {
    // `node tools/fuzz.js --only contract --cases 40000` runs longer (about 10 ms a case).
    const r = fuzzContract(api, rt, { cases: 300, seed: SEED, slowMs });
    expectClean(r, 300);
    expect(r.valid, 'most drawn cases get checked').toBeGreaterThan(200);
  });

  it('state snapshots: truncated, flipped, wrong checksum, another model, rewritten fields', () => {
    expectClean(fuzzSnapshots(api, rt, { cases: 2000, seed: SEED, slowMs }), 2000);
  });

  it('ONNX files: generated models and a real one, mutated', () => {
    const legacy = vadFile('silero_vad_legacy.onnx');
    expectClean(fuzzOnnx(api, rt, { cases: 2000, seed: SEED, slowMs, onnxFiles: legacy ? [legacy] : [] }), 2000);
  });

  it('the ONNX importer: the Silero VAD v5 graph with nodes, attributes and tensors edited, converted, built and run', () => {
    const sileroFile = vadFile('silero_vad_v5.onnx');
    expect(sileroFile, 'the Silero VAD v5 file of the @ricky0123/vad-web devDependency').toBeDefined();
    expectClean(fuzzImporter(api, rt, { cases: 300, seed: SEED, slowMs, sileroFile }), 300);
  });
});
