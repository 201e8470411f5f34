// The benchmark sampler's statistics (bench/lib.js) and the harness's target check
// (bench/models/harness.js): a tail is only called a p99 when there are samples enough for one.
import { describe, expect, it, vi } from 'vitest';
import { compare, micros, P99_SAMPLES, table } from '../bench/lib.js';
import { atLeast } from '../bench/models/harness.js';

/** A contestant that takes `ms` milliseconds (a busy wait). */
const busy = (ms: number) => () => {
  const t = performance.now();
  while (performance.now() - t < ms);
};

describe('bench compare()', () => {
  it('gives no p99 below P99_SAMPLES samples, only the maximum of n (found in review)', async () => {
    const t = (await compare({ slow: busy(2) }, { warmup: 0.01, rounds: 3, roundTime: 0.004, tailBudget: 0 })).slow!;
    expect(t.samples).toBeLessThan(P99_SAMPLES);
    expect(t.p99).toBeUndefined();
    expect(t.max).toBeGreaterThanOrEqual(t.median);
    expect(micros(t)).not.toHaveProperty('p99');
    expect(micros(t)).toMatchObject({ samples: t.samples });
  });

  it('takes P99_SAMPLES samples where the budget allows, and reports their p99 (found in review)', async () => {
    const t = (await compare({ slow: busy(2) }, { warmup: 0.01, rounds: 3, roundTime: 0.004, tailBudget: 1 })).slow!;
    expect(t.samples).toBeGreaterThanOrEqual(P99_SAMPLES);
    // The nearest-rank p99 of n >= 100 samples is the ceil(0.99 n)-th smallest, not the n-th.
    expect(t.p99).toBeLessThanOrEqual(t.max);
    expect(micros(t).p99).toBeDefined();
  });

  it('marks a tail of fewer than P99_SAMPLES samples as "max/n" in the table (found in review)', () => {
    vi.spyOn(console, 'log').mockImplementation(() => {});
    const few = { median: 10, max: 30, samples: 15 }, many = { median: 10, p99: 20, max: 30, samples: 150 };
    const text = table([{ workload: 'w', ours: { plain: few, relaxed: many }, anchors: {}, speedup: {} }], []);
    expect(text).toContain('10.0 µs (max/15 30.0 µs)');
    expect(text).toContain('10.0 µs (p99 20.0 µs)');
  });
});

describe('bench atLeast()', () => {
  it('fails a p99 target for an anchor that ran without a p99 (found in review)', () => {
    const row = { workload: 'w', ours: {}, anchors: {}, speedup: { a: 20, b: 20 }, speedupP99: { a: 20 } };
    expect(atLeast(10, ['a'], 'speedupP99')(row)).toBe(true);
    expect(atLeast(10, ['a', 'b'], 'speedupP99')(row)).toBe(false);
    // An anchor that did not run (not installed) is left out.
    expect(atLeast(10, ['a', 'c'], 'speedupP99')(row)).toBe(true);
  });
});
