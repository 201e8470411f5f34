// Types of the bench helpers the tests use (test/bench-lib.test.ts); the benchmarks themselves are plain JS.

/** Seconds per call from compare(): p99 only with P99_SAMPLES samples or more. */
export interface Timing {
  median: number;
  p99: number | undefined;
  max: number;
  mean: number;
  samples: number;
  batch: number;
}
/** A result as results.json stores it, in µs. */
export interface Micros {
  median: number;
  p99?: number;
  max: number;
  samples: number;
  batch?: number;
}
export const P99_SAMPLES: number;
export function compare(
  contestants: Record<string, () => unknown>,
  timing?: { warmup?: number; rounds?: number; roundTime?: number; tailBudget?: number },
): Promise<Record<string, Timing>>;
export function micros(t: Timing): Micros;
export function micros(t: undefined): undefined;
export interface Row {
  workload: string;
  ours: Record<string, Micros | undefined>;
  anchors: Record<string, Micros | undefined>;
  speedup: Record<string, number>;
  rate?: string;
  notes?: string;
  target?: string;
  met?: boolean;
}
export function table(rows: Row[], anchorNames: string[]): string;
