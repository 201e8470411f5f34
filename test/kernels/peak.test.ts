// The madd peak loop (assembly/peak.ts) that bench/kernels/gemm.bench.js divides GEMM rates by:
// its flop count must be what the built binary's loop executes. Reads the loop out of the
// binary this project runs (binaryen, the compiler's own disassembler) and counts its f32x4
// multiplies, adds and fused madds.
import binaryen from 'binaryen';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import * as sl from '../../src/index.js';

let rt: sl.Runtime;
beforeAll(async () => {
  await sl.init();
  rt = sl.getRuntime();
});

/** The text of f32_peak_madd's loop in the built binary of `build`. */
function peakLoop(build: sl.Runtime['build']): string {
  const mod = binaryen.readBinary(readFileSync(sl.kernelUrl(build)));
  try {
    const name = binaryen.getExportInfo(mod.getExport('f32_peak_madd')).value;
    const text = binaryen.emitText(binaryen.getFunctionInfo(mod.getFunction(name)).body);
    const start = text.indexOf('(loop');
    let depth = 0, end = start;
    do depth += text[end] === '(' ? 1 : text[end] === ')' ? -1 : 0;
    while (depth > 0 && ++end < text.length);
    return text.slice(start, end + 1);
  } finally {
    mod.dispose();
  }
}

const count = (text: string, op: string) => text.split(`(${op}\n`).length - 1;

describe('f32_peak_madd', () => {
  it('executes every flop it counts: no product computed once for several chains (found in review)', () => {
    const loop = peakLoop(rt.build);
    const mul = count(loop, 'f32x4.mul'), add = count(loop, 'f32x4.add'), fma = count(loop, 'f32x4.relaxed_madd');
    expect(4 * mul + 4 * add + 8 * fma).toBe(rt.k.f32_peak_madd_flops());
    // Each add accumulates its own product (the kernels' form), or each madd is fused.
    if (rt.build === 'relaxed') expect([mul, add, fma]).toEqual([0, 0, 12]);
    else expect([mul, add, fma]).toEqual([8, 8, 0]);
  });
});
