// Types of tools/soak.js for the test suite (the tool itself is plain JavaScript run by node).
import type * as SL from '../src/index.js';

export declare const SOAK_INPUT_SHAPE: readonly number[];
/** The soak model: Conv1D, Relu, LSTM, LocalDotProductSelfAttention, Flatten, Dense. */
export declare function soakConfig(sl: typeof SL): SL.LayerConfig;
/** Block `k` of stream `s` (deterministic), [1, block, ...SOAK_INPUT_SHAPE]. */
export declare function soakBlock(sl: typeof SL, seed: number, s: number, k: number, block: number): SL.Sequence;

export interface SoakMeasure {
  /** WebAssembly memory size. */
  wasmBytes: number;
  /** Bytes the runtime's heap has allocated. */
  heapInUse: number;
  /** process.memoryUsage().heapUsed after a forced GC. */
  jsHeapUsed: number;
}

export interface SoakReport {
  streams: number;
  steps: number;
  block: number;
  stepCalls: number;
  stepsPerSecond: number;
  warm: SoakMeasure;
  end: SoakMeasure;
  /** Largest |step - layer| over stream 0's valid outputs. */
  maxDiff: number;
  maskMismatches: number;
  build: string;
}

export declare function runSoak(
  sl: typeof SL,
  opts?: { streams?: number; steps?: number; block?: number; seed?: number; warmupSteps?: number; runtime?: SL.Runtime },
): SoakReport;
export declare function formatSoak(r: SoakReport): string;
