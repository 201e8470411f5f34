// seqlayers in headless Chromium (Debian's `chromium`, driven by playwright-core): the workers
// session API in module Web Workers, and the AudioWorklet processor under an OfflineAudioContext.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDist, serveRoot, testModel } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';
// .ci/run installs it (apt-get install chromium); a machine without it skips these tests, loudly.
const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM) console.warn(`[browser] ${CHROMIUM} is missing: skipping the Chromium tests (apt-get install chromium)`);
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let sl: Awaited<ReturnType<typeof loadDist>>;
let server: Awaited<ReturnType<typeof serveRoot>>;
let browser: import('playwright-core').BrowserContext;
let page: import('playwright-core').Page;
let profile: string;
const pageErrors: string[] = [];

beforeAll(async () => {
  if (!HAVE_CHROMIUM) return;
  sl = await loadDist();
  await sl.init();
  server = await serveRoot();
  profile = mkdtempSync(join(tmpdir(), 'seqlayers-chromium-'));
  const { chromium } = await import('playwright-core');
  browser = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: FLAGS });
  page = await browser.newPage();
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('console', (m) => m.type() === 'error' && pageErrors.push(m.text()));
  await page.goto(`${server.url}/test/runtimes/browser/index.html`);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

/** Calls `run(args)` of a module under test/runtimes/browser/ in the page. */
function inPage<T>(module: string, fn: string, args: unknown): Promise<T> {
  // A string, not a function: vitest would rewrite a function's import().
  return page.evaluate(`import('/test/runtimes/browser/${module}').then((m) => m.${fn}(${JSON.stringify(args)}))`) as Promise<T>;
}

interface WorkletResult {
  latency: number;
  blockFrames: number;
  build: string;
  memoryBytes: number;
  maxError: number;
  prefix: number;
  /** setConstants's refusal of constants lacking the model's key (with switchTo). */
  refused?: string | null;
  msPerQuantum: number;
  baselineMsPerQuantum: number;
}

describe.skipIf(!HAVE_CHROMIUM)('Chromium', () => {
  it('runs the workers session API and a pool in module Web Workers', async () => {
    const { config, inputShape } = testModel(sl);
    const r = await inPage<{
      workerDiff: number;
      badInput: { isSeqLayersError: boolean; code: string; message: string };
      inPageUs: number;
      roundTripUs: number;
      poolDiff: number;
      failures: string[][];
    }>('worker.js', 'run', { config, inputShape });
    expect(r.workerDiff).toBe(0);
    expect(r.badInput).toMatchObject({ isSeqLayersError: true, code: 'BAD_INPUT' });
    expect(r.poolDiff, 'the resumed stream equals the uninterrupted one').toBe(0);
    expect(r.failures.flat()).toEqual(['WORKER_FAILED']);
    console.log(`[browser workers] per call, block of 8 steps (mean µs): in-page step ${r.inPageUs.toFixed(1)}, Web Worker round trip ${r.roundTripUs.toFixed(1)}`);
    expect(pageErrors).toEqual([]);
  });

  const mono = (sl: Parameters<typeof testModel>[0]) =>
    sl.Serial([sl.Conv1D({ filters: 8, kernelSize: 5, padding: 'causal' }), sl.Relu(), sl.Conv1D({ filters: 8, kernelSize: 3, dilationRate: 4, padding: 'causal' }), sl.Dense({ features: 1 })]);
  const cases: [string, (s: typeof sl) => { config: object; channels?: number; blockFrames?: number; weightNaming?: string; conditioning?: number[]; switchTo?: number[] }][] = [
    ['mono, blocks of one quantum (no added latency)', (s) => ({ config: mono(s) })],
    ["mono, weights by the reference's flax names", (s) => ({ config: mono(s), weightNaming: 'flax' })],
    ['mono, blocks of 160 frames (ring latency 128)', (s) => ({ config: mono(s), blockFrames: 160 })],
    ['a model with block size 5 (blocks of 130 frames)', (s) => ({ config: s.Blockwise(mono(s), 5) })],
    ['stereo in, stereo out', (s) => ({ config: s.Serial([s.Conv1D({ filters: 8, kernelSize: 4, padding: 'causal' }), s.Relu(), s.Dense({ features: 2 })]), channels: 2 })],
    ['a conditioning vector in constants (cloned into the worklet)', (s) => ({
      config: s.Serial([s.Conditioning({ conditioningName: 'c', projection: 'linear', combination: 'add' }), mono(s)]), conditioning: [0.25, -0.5, 1],
    })],
    ['another conditioning vector by setConstants (after a refused one)', (s) => ({
      config: s.Serial([s.Conditioning({ conditioningName: 'c', projection: 'linear', combination: 'add' }), mono(s)]), conditioning: [0.25, -0.5, 1], switchTo: [2, 0, -1],
    })],
  ];
  for (const [name, make] of cases) {
    it(`AudioWorklet renders layer() after the stated latency: ${name}`, async () => {
      const args = make(sl);
      const r = await inPage<WorkletResult>('worklet.js', 'run', args);
      const expectedLatency = r.blockFrames - gcd(r.blockFrames, 128);
      expect(r.latency).toBe(expectedLatency);
      expect(r.prefix, 'silence before the latency').toBe(0);
      expect(r.maxError).toBeLessThan(1e-5);
      if (args.switchTo) expect(r.refused).toMatch(/^\[MISSING_CONSTANT\] Conditioning at config\.layers\[0\]: constants\.c/);
      console.log(
        `[audio worklet] ${name}: latency ${r.latency} frames, build ${r.build}, ${r.memoryBytes / 1024} KiB wasm memory, ` +
          `render ${(r.msPerQuantum * 1000).toFixed(1)} µs/quantum (pass-through graph ${(r.baselineMsPerQuantum * 1000).toFixed(1)} µs), max error ${r.maxError.toExponential(1)}`,
      );
      expect(pageErrors).toEqual([]);
    });
  }

  it('runs the browser examples (bare imports resolved as a bundler does)', async () => {
    const { config, inputShape } = testModel(sl);
    const audioConfig = mono(sl);
    const r = await inPage<{ workerError: number; audioError: number; latency: number }>('examples.js', 'run', { config, inputShape, audioConfig });
    expect(r.workerError).toBeLessThan(1e-5);
    expect(r.latency).toBe(128);
    expect(r.audioError).toBeLessThan(1e-5);
    expect(pageErrors).toEqual([]);
  });

  it('a worker whose imports an import map resolves (not a bundler) fails to start, saying why', async () => {
    const bare = await browser.newPage();
    try {
      await bare.goto(`${server.url}/test/runtimes/browser/import-map.html`);
      const { config, inputShape } = testModel(sl);
      const message = await bare.evaluate(
        `import('seqlayers/workers').then((w) => w.startWorker(${JSON.stringify({ config, inputShape })})).then(() => 'started', (e) => e.message)`,
      );
      expect(message).toMatch(
        /^\[WORKER_FAILED\] the worker threw: the worker script http:\/\/.*\/unbundled\/dist\/workers\/worker\.js failed to load \(its imports, e\.g\. 'comlink', must resolve inside a worker: bundle it, as import maps do not reach workers\) while starting$/,
      );
    } finally {
      await bare.close();
    }
  });

  it('AudioWorklet: a bad config rejects createModelNode with its code', async () => {
    const r = await inPage<{ code: string; message: string }>('worklet.js', 'runBad', { config: { type: 'Conv1D', filters: 4, kernelSize: 3, padding: 'same' } });
    expect(r.code).toBe('BAD_CONFIG');
    expect(r.message).toMatch(/^\[BAD_CONFIG\] /);
  });

  it('AudioWorklet: more than 32 channels in or out reject createModelNode with their code (found in review: 33 input channels crashed the renderer)', async () => {
    const input = await inPage<{ code: string; message: string }>('worklet.js', 'runBad', { config: sl.Dense({ features: 1 }), inputShape: [33] });
    expect(input).toMatchObject({ code: 'BAD_ARGUMENT', message: expect.stringMatching(/with 1 to 32 channels .*, got \[33\]$/) });
    const output = await inPage<{ code: string; message: string }>('worklet.js', 'runBad', { config: sl.Dense({ features: 33 }) });
    expect(output).toMatchObject({ code: 'BAD_CONFIG', message: expect.stringMatching(/of 1 to 32 channels .*, got \[33\]$/) });
    expect(pageErrors).toEqual([]);
  });
});

const gcd = (a: number, b: number): number => (b ? gcd(b, a % b) : a);
