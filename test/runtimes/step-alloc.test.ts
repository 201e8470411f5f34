// stepInto() of the stateful layers whose steps read constants, run query/key/value networks or
// keep caches allocates nothing on the JS heap in steady state (measured in a fresh Node process
// with a young generation large enough that no collection runs while counting).
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';

describe('stepInto allocates nothing per step', () => {
  it('attention layers (with networks, segment ids and positions), GMM attention, LSTM and conditioning', () => {
    const probe = join(dirname(new URL(import.meta.url).pathname), 'fixtures/step-alloc-probe.js');
    const out = execFileSync(process.execPath, ['--expose-gc', '--max-semi-space-size=256', probe], { encoding: 'utf8' });
    const bytes = JSON.parse(out) as Record<string, number>;
    console.log(`[step] JS heap allocated per stepInto in steady state (bytes): ${JSON.stringify(bytes)}`);
    expect(Object.keys(bytes).length).toBe(11);
    // A single small object per call would be >= 16 bytes; what remains is one-off JIT noise (up to 3 bytes seen).
    for (const [name, b] of Object.entries(bytes)) expect(b, name).toBeLessThan(8);
  });
});
