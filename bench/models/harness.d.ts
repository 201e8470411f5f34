// Types of the harness helpers the tests use (test/bench-lib.test.ts); the benchmarks themselves are plain JS.
import type { Row } from '../lib.js';

export function atLeast(ratio: number, names: string[], q?: 'speedup' | 'speedupP99'): (r: Row & { speedupP99?: Record<string, number> }) => boolean;
