// The Silero VAD browser demo (examples/vad-demo/, served by examples/vad-serve.js) in headless
// Chromium: the page converts the ONNX file, runs the model in an AudioWorklet over the bundled
// recording, and plots the probabilities and segments; they must match the library in Node.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { speechSegments } from '../../examples/vad-segments.js';
import { serve } from '../../examples/vad-serve.js';
import { loadDist, ROOT } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM) console.warn(`[vad demo] ${CHROMIUM} is missing: skipping the demo page test (apt-get install chromium)`);

let server: Awaited<ReturnType<typeof serve>>;
let browser: import('playwright-core').BrowserContext;
let profile: string;

beforeAll(async () => {
  if (!HAVE_CHROMIUM) return;
  await loadDist(); // the page imports dist/
  server = await serve(0);
  profile = mkdtempSync(join(tmpdir(), 'seqlayers-vad-demo-'));
  const { chromium } = await import('playwright-core');
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
  });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

describe.skipIf(!HAVE_CHROMIUM)('Silero VAD demo page', () => {
  it('runs the VAD in an AudioWorklet over the bundled WAV and plots the segments the library finds', async () => {
    const errors: string[] = [];
    const page = await browser.newPage();
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    await page.goto(`${server.url}/examples/vad-demo/index.html?run=bundled`);
    await page.waitForFunction('window.vadResult || window.vadError', undefined, { timeout: 60_000 });
    expect(await page.evaluate('window.vadError')).toBeUndefined();
    const result = (await page.evaluate('window.vadResult')) as { probabilities: number[]; segments: [number, number][]; latency: number };
    expect(errors).toEqual([]);

    // The same model in Node, layer mode over the whole file.
    const sl = await loadDist();
    await sl.init();
    const vad = sl.convertSileroVad(readFileSync(createRequire(import.meta.url).resolve('@ricky0123/vad-web/dist/silero_vad_v5.onnx')));
    const model = sl.build(vad.config, { inputShape: [1] });
    model.loadWeights(vad.weights);
    const audio = sl.readWav(readFileSync(join(ROOT, 'test/fixtures/vad/speech.wav'))).channels[0]!;
    const expected = model.layer(sl.Sequence.fromValues(audio, [1, audio.length, 1])).values;
    model.dispose();
    expect(result.probabilities.length).toBe(expected.length);
    result.probabilities.forEach((p, i) => expect(Math.abs(p - expected[i]!), `chunk ${i}`).toBeLessThanOrEqual(1e-5));
    expect(result.segments).toEqual(speechSegments(expected, 512, 16000));
    expect(result.segments.length).toBe(3);
    // The segments are listed on the page as they are plotted.
    const listed = await page.$$eval('#segments li', (items) => items.map((li) => li.textContent));
    expect(listed).toEqual(result.segments.map(([a, b]) => `speech ${a.toFixed(2)} s – ${b.toFixed(2)} s`));
    await page.close();
  }, 120_000);
});
