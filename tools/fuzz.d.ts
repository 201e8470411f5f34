// Types of tools/fuzz.js for the test suite (the tool itself is plain JavaScript run by node).
import type * as SL from '../src/index.js';
import type { layerDef } from '../src/config.js';
import type { crc32, seededRandom } from '../src/util/hash.js';

/** What the generators use: the package (sources or dist) and a few internals. */
export interface FuzzApi {
  sl: typeof SL;
  layerDef: typeof layerDef;
  seededRandom: typeof seededRandom;
  crc32: typeof crc32;
}

export interface FuzzOptions {
  /** Cases to try (default 1000). */
  cases?: number;
  /** Seed of the run; case i of a seed is always the same input (default 1). */
  seed?: number;
  /** Run only case `only`. */
  only?: number;
  /** A case slower than this is a failure (default 5000 ms). */
  slowMs?: number;
  /** Stop after this many failures (default 10). */
  maxFailures?: number;
  /** Extra ONNX files to mutate. */
  onnxFiles?: Uint8Array[];
  /** The Silero VAD v5 ONNX file, for the importer target. */
  sileroFile?: Uint8Array;
  /** Called with a description of each case before it runs (to find a hang). */
  trace?: (line: string) => void;
}

export interface FuzzReport {
  target: string;
  cases: number;
  /** Cases that ended in a valid result. */
  valid: number;
  /** Cases that ended in a coded error, by code. */
  errors: Record<string, number>;
  failures: { case: number; seed: number; what: string; error: string }[];
  ms: number;
  slowestMs: number;
  /** configs only: layer types with a seed config, and those without. */
  seeded?: number;
  unseeded?: string[];
}

export declare const TARGETS: readonly string[];
export declare class FuzzFailure extends Error {}
export declare function fuzzSafetensors(api: FuzzApi, rt: SL.Runtime, opts?: FuzzOptions): FuzzReport;
export declare function fuzzConfigs(api: FuzzApi, rt: SL.Runtime, opts?: FuzzOptions): FuzzReport;
export declare function fuzzContract(api: FuzzApi, rt: SL.Runtime, opts?: FuzzOptions): FuzzReport;
export declare function fuzzSnapshots(api: FuzzApi, rt: SL.Runtime, opts?: FuzzOptions): FuzzReport;
export declare function fuzzOnnx(api: FuzzApi, rt: SL.Runtime, opts?: FuzzOptions): FuzzReport;
export declare function fuzzImporter(api: FuzzApi, rt: SL.Runtime, opts?: FuzzOptions): FuzzReport;
export declare function fuzzAll(api: FuzzApi, rt: SL.Runtime, targets?: readonly string[], opts?: FuzzOptions): FuzzReport[];
export declare function formatReport(r: FuzzReport): string;
