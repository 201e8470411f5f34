// A short soak (tools/soak.js runs the long one): 8 streams x 2,000 steps through conv + LSTM +
// windowed self-attention in a shuffled order. Memory does not grow after warm-up and the sampled
// stream equals layer mode.
import { describe, expect, it } from 'vitest';
import * as sl from '../../src/index.js';
import { formatSoak, runSoak } from '../../tools/soak.js';

describe('soak', () => {
  it('8 streams x 2,000 steps: no memory growth after warm-up, stream 0 equals layer mode', async () => {
    const runtime = await sl.createRuntime({ maxMemoryBytes: 64 << 20 });
    const r = runSoak(sl, { streams: 8, steps: 2000, block: 16, warmupSteps: 400, runtime });
    console.log(formatSoak(r));
    expect(r.end.wasmBytes).toBe(r.warm.wasmBytes);
    expect(r.end.heapInUse).toBe(r.warm.heapInUse);
    expect(r.end.jsHeapUsed - r.warm.jsHeapUsed, 'JS heap growth after warm-up').toBeLessThan(1 << 20);
    expect(r.maskMismatches).toBe(0);
    expect(r.maxDiff).toBeLessThanOrEqual(1e-5);
  });
});
