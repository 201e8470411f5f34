// seqlayers under Deno (npm `deno`, whose binary comes from the npm package @deno/linux-x64-glibc):
// the package installed in a project's node_modules, imported by name through its `deno` export
// condition (kernels as WebAssembly source imports), run with no permissions at all.
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, loadDist, testModel } from './helpers.js';

const DENO = join(ROOT, 'node_modules/.bin/deno');
let sl: Awaited<ReturnType<typeof loadDist>>;
let project: string;

/** Runs a script of the project under Deno with only `permissions` (--no-prompt: denials throw). */
async function deno(permissions: string[], script: string, ...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(DENO, ['run', '--no-prompt', ...permissions, script, ...args], { cwd: project, env: { ...process.env, NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1' } });
  return stdout;
}

beforeAll(async () => {
  sl = await loadDist();
  await sl.init();
  // A user's project with seqlayers installed: package.json + node_modules/seqlayers.
  project = mkdtempSync(join(tmpdir(), 'seqlayers-deno-'));
  mkdirSync(join(project, 'node_modules'));
  symlinkSync(ROOT, join(project, 'node_modules/seqlayers'));
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module', dependencies: { seqlayers: '*' } }));
  copyFileSync(join(ROOT, 'test/runtimes/deno/run.js'), join(project, 'run.js'));
  copyFileSync(join(ROOT, 'examples/runtimes/deno/stream.js'), join(project, 'stream.js'));
});

afterAll(() => {
  if (project) rmSync(project, { recursive: true, force: true });
});

describe('Deno', () => {
  it('imports the package by name and streams in-process and in a module worker, equal to layer() here', async () => {
    const { config, inputShape } = testModel(sl);
    // Deno reads a worker's script like a file: workers need read access to the package.
    const out = JSON.parse(await deno([`--allow-read=${ROOT}`], 'run.js', JSON.stringify({ config, inputShape, seed: 7, frames: 96, block: 8 }))) as {
      build: string;
      deno: string;
      stepped: number[];
      inWorker: number[];
      badInput: { code: string; isSeqLayersError: boolean };
      info: object;
      again: { info: object; syncInfo: object; same: boolean; otherBudget: string };
    };
    // A later init() or initSync() changes nothing and one asking for another budget is refused (found in review).
    expect(out.again).toEqual({ info: out.info, syncInfo: out.info, same: true, otherBudget: 'BAD_ARGUMENT' });
    const model = sl.build(config, { inputShape, seed: 7 });
    const expected = model.layer(sl.randomSequence([1, 96, ...inputShape], { randomLengths: false, seed: 12 })).values;
    const err = (got: number[]) => got.reduce((m, v, i) => Math.max(m, Math.abs(v - expected[i]!)), 0);
    expect(out.stepped).toHaveLength(expected.length);
    expect(err(out.stepped)).toBeLessThan(1e-5);
    expect(out.inWorker).toEqual(out.stepped); // the worker got the same kernel module
    expect(out.badInput).toEqual({ code: 'BAD_INPUT', isSeqLayersError: true });
    console.log(`[deno] Deno ${out.deno}, ${out.build} kernels, max |stream - layer| ${err(out.stepped).toExponential(1)}`);
  });

  it('runs the example with no permissions', async () => {
    expect(await deno([], 'stream.js')).toMatch(/blocks streamed, equal to layer\(\)/);
  });
});
