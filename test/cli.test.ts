// The command-line tool (src/cli.ts), run as users run it: `node dist/cli.js ...` in a child
// process (dist/ is rebuilt first when src/ changed). Every command, the file formats, and the
// messages and exit codes of bad arguments and unreadable files.
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as sl from '../src/index.js';
import { readNpy, writeNpy } from '../src/io/npy.js';
import { ensureBuilt, ROOT } from './runtimes/helpers.js';

const onnx = createRequire(import.meta.url).resolve('@ricky0123/vad-web/dist/silero_vad_v5.onnx');
const wavPath = join(ROOT, 'test/fixtures/vad/speech.wav');
let dir: string;

/** Runs the CLI; resolves with its exit code and output (never rejects). */
function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(ROOT, 'dist/cli.js'), ...args], { cwd: dir, maxBuffer: 1 << 26 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

// The CLI picks its kernel build in its own process: one vitest project is enough.
const relaxedProject = process.execArgv.includes('--experimental-wasm-relaxed-simd');

describe.skipIf(relaxedProject)('seqlayers CLI', () => {
  beforeAll(async () => {
    await sl.init();
    await ensureBuilt();
    dir = mkdtempSync(join(tmpdir(), 'seqlayers-cli-'));
  }, 180_000);
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('help, and usage errors with exit code 2', async () => {
    const help = await cli('help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/seqlayers summary <config.json>/);
    expect(help.stdout).toMatch(/seqlayers convert-silero <silero_vad.onnx> <outdir>/);
    const cases: [string[], RegExp][] = [
      [[], /^seqlayers: expected a command\nRun "seqlayers help" for usage\.\n$/],
      [['frobnicate'], /unknown command "frobnicate" \(commands: summary, run, bench, convert-silero\)/],
      [['summary'], /^seqlayers summary: summary expects <config>, got 0 arguments/],
      [['summary', 'a.json', '--weights', 'w'], /summary does not take --weights/],
      [['run', 'a.json', '--colour'], /Unknown option '--colour'/],
      [['convert-silero', onnx, 'out', '--sample-rate', '44100'], /--sample-rate: expected 16000 or 8000, got "44100"/],
      [['summary', 'a.json', '--weight-storage', 'int8'], /summary does not take --weight-storage/],
    ];
    for (const [args, message] of cases) {
      const r = await cli(...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
    }
  });

  it('convert-silero, summary, run (stdout, .json, .npy, progress) and bench on Silero VAD', async () => {
    const conv = await cli('convert-silero', onnx, 'vad');
    expect(conv.code, conv.stderr).toBe(0);
    expect(conv.stdout).toMatch(/Silero VAD at 16000 Hz: chunks of 512 samples with 64 of context, 309121 parameters/);
    const config = join(dir, 'vad/silero_vad_16k.json'), weights = join(dir, 'vad/silero_vad_16k.safetensors');
    expect(JSON.parse(readFileSync(config, 'utf8'))).toMatchObject({ sample_rate: 16000, input_shape: [1] });

    const summary = await cli('summary', config);
    expect(summary.code, summary.stderr).toBe(0);
    const lines = summary.stdout.split('\n');
    expect(lines[0]).toBe('silero_vad_16k.json: input [1] float32 at 16000 Hz');
    expect(lines[1]).toMatch(/^layer +output +ratio +block +latency +receptive field +params +state$/);
    expect(summary.stdout).toMatch(/^Serial +\[1\] +1\/512 +512 +0\/0 +\[-inf, 511\] +0 +0 B$/m);
    expect(summary.stdout).toMatch(/^ {2}Frame \(layers\.0\) +\[576, 1\] +1\/512 +512 +0\/0 +\[-64, 511\] +0 +320 B$/m);
    expect(summary.stdout).toMatch(/^ {2}LSTM \(layers\.12\) +\[128\] +1 +1 +0\/0 +\[-inf, 0\] +131584 +1024 B$/m);
    expect(summary.stdout).toMatch(/parameters: 309121 \(1207\.5 KiB float32\); state per stream: 1344 B; steps: yes, 512 input steps per block/);

    // The library's own layer() output, to compare the streamed CLI output with.
    const vad = sl.convertSileroVad(readFileSync(onnx));
    const model = sl.build(vad.config, { inputShape: [1] });
    model.loadWeights(vad.weights);
    const audio = sl.readWav(readFileSync(wavPath)).channels[0]!;
    const expected = model.layer(sl.Sequence.fromValues(audio, [1, audio.length, 1])).values;
    model.dispose();
    const close = (got: ArrayLike<number>, tol: number) => {
      expect(got.length).toBe(expected.length);
      for (let i = 0; i < got.length; i++) expect(Math.abs(got[i]! - expected[i]!)).toBeLessThanOrEqual(tol);
    };

    const stdout = await cli('run', config, '--weights', weights, '--input', wavPath, '--progress');
    expect(stdout.code, stdout.stderr).toBe(0);
    close(stdout.stdout.trim().split('\n').map((l) => Number(l.split('\t')[1])), 1e-5);
    expect(stdout.stdout.split('\n')[0]).toMatch(/^0\t0\.0294\d*$/);
    expect(stdout.stderr).toMatch(/\[#{30}\] 100% 209\/209 blocks\n/);
    expect(stdout.stderr).toMatch(/106650 input steps in 209 steps of 512: 209 outputs \[209, 1\] in [\d.]+ s, real-time factor [\d.]+\n$/);

    const json = await cli('run', config, '--weights', weights, '--input', wavPath, '--out', 'p.json', '--block', '1536', '--quiet');
    expect(json.code, json.stderr).toBe(0);
    expect([json.stdout, json.stderr]).toEqual(['', '']);
    const out = JSON.parse(readFileSync(join(dir, 'p.json'), 'utf8'));
    expect(out.shape).toEqual([209, 1]);
    expect(out.mask.every((m: number) => m === 1)).toBe(true);
    close(out.values, 1e-6);

    const npy = await cli('run', config, '--weights', weights, '--input', wavPath, '--out', 'p.npy');
    expect(npy.code, npy.stderr).toBe(0);
    const arr = readNpy(readFileSync(join(dir, 'p.npy')));
    expect(arr.shape).toEqual([209, 1]);
    close(arr.data, 1e-6);

    const bench = await cli('bench', config, '--weights', weights, '--steps', '30');
    expect(bench.code, bench.stderr).toBe(0);
    // The CLI sets V8's relaxed-SIMD flag where the host needs it (Node 20): the faster build here.
    expect(bench.stdout).toMatch(/silero_vad_16k\.json: 30 steps of 512 input steps \(batch 1, relaxed kernels\)\nper step: median [\d.]+ µs, p90 [\d.]+ µs, p99 [\d.]+ µs, mean [\d.]+ µs\nthroughput: \d+ steps\/s, \d+ input steps\/s\nreal-time factor: [\d.]+ \(median step time \/ 32\.0 ms of audio\)\n/);

    // int8 weights: the same speech probabilities within the int8 rounding.
    const int8 = await cli('run', config, '--weights', weights, '--input', wavPath, '--weight-storage', 'int8');
    expect(int8.code, int8.stderr).toBe(0);
    const f32Probs = stdout.stdout.trim().split('\n').map((l) => Number(l.split('\t')[1]));
    const int8Probs = int8.stdout.trim().split('\n').map((l) => Number(l.split('\t')[1]));
    expect(int8Probs.length).toBe(f32Probs.length);
    expect(Math.max(...int8Probs.map((p, i) => Math.abs(p - f32Probs[i]!)))).toBeLessThan(0.05);
    const int8Bench = await cli('bench', config, '--weights', weights, '--steps', '5', '--weight-storage', 'int8');
    expect(int8Bench.stdout).toMatch(/\nweight storage int8: LSTM, Dense \(2 layers\); the others as they were\n$/);
    const bad = await cli('bench', config, '--weight-storage', 'f16');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--weight-storage: expected one of float32, int8, got "f16"/);
  }, 60_000);

  it('a bare config with npy and json inputs, batched or not', async () => {
    const config = sl.Serial([sl.Conv1D({ filters: 3, kernelSize: 3, padding: 'causal' }), sl.Relu(), sl.Dense({ features: 2 })]);
    writeFileSync(join(dir, 'conv.json'), JSON.stringify(config));
    const model = sl.build(config, { inputShape: [4], seed: 5 });
    writeFileSync(join(dir, 'conv.safetensors'), sl.writeSafetensors(model.getWeights()));
    const x = sl.Sequence.fromValues(Float32Array.from({ length: 2 * 7 * 4 }, (_, i) => Math.sin(i)), [2, 7, 4]);
    const want = model.layer(x).values;
    model.dispose();

    const noShape = await cli('summary', 'conv.json');
    expect(noShape.code).toBe(2);
    expect(noShape.stderr).toMatch(/conv\.json does not say the input channel shape: pass --input-shape \(e\.g\. --input-shape 80\)/);
    const summary = await cli('summary', 'conv.json', '--input-shape', '4');
    expect(summary.code, summary.stderr).toBe(0);
    expect(summary.stdout).toMatch(/^ {2}Conv1D \(layers\.0\) +\[3\] +1 +1 +0\/0 +\[-2, 0\] +39 +34 B$/m);

    writeFileSync(join(dir, 'x.npy'), writeNpy([2, 7, 4], x.values as Float32Array));
    const batched = await cli('run', 'conv.json', '--input-shape', '4', '--weights', 'conv.safetensors', '--input', 'x.npy', '--out', 'y.npy');
    expect(batched.code, batched.stderr).toBe(0);
    const y = readNpy(readFileSync(join(dir, 'y.npy')));
    expect(y.shape).toEqual([2, 7, 2]);
    y.data.forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 5));

    // The same weights by their flax names ('params/layers_0/kernel', as flatten_dict writes them).
    const flax = sl.build(config, { inputShape: [4], weights: sl.readSafetensors(readFileSync(join(dir, 'conv.safetensors'))) });
    const named = flax.getWeights({ naming: 'flax' });
    flax.dispose();
    writeFileSync(join(dir, 'flax.safetensors'), sl.writeSafetensors(named));
    const byFlax = await cli('run', 'conv.json', '--input-shape', '4', '--weights', 'flax.safetensors', '--weight-naming', 'flax', '--input', 'x.npy', '--out', 'yf.npy');
    expect(byFlax.code, byFlax.stderr).toBe(0);
    expect(readNpy(readFileSync(join(dir, 'yf.npy'))).data).toEqual(y.data);
    const unnamed = await cli('run', 'conv.json', '--input-shape', '4', '--weights', 'flax.safetensors', '--input', 'x.npy');
    expect(unnamed.code).toBe(1);
    expect(unnamed.stderr).toMatch(/missing parameters \["layers\.0\.kernel"/);
    const badNaming = await cli('run', 'conv.json', '--input-shape', '4', '--weights', 'flax.safetensors', '--weight-naming', 'keras', '--input', 'x.npy');
    expect(badNaming.code).toBe(2);
    expect(badNaming.stderr).toMatch(/--weight-naming \(or the model file's weight_naming\): expected one of seqlayers, flax, got "keras"/);
    // A model file that says its weights are named by flax (as tools/export_reference.py writes it).
    writeFileSync(join(dir, 'flax-model.json'), JSON.stringify({ config, input_shape: [4], weight_naming: 'flax' }));
    const fromFile = await cli('run', 'flax-model.json', '--weights', 'flax.safetensors', '--input', 'x.npy', '--out', 'yff.npy');
    expect(fromFile.code, fromFile.stderr).toBe(0);
    expect(readNpy(readFileSync(join(dir, 'yff.npy'))).data).toEqual(y.data);

    // One item as nested JSON arrays [time, channels]: stdout lines "step<TAB>values".
    const rows = Array.from({ length: 7 }, (_, t) => Array.from(x.values.subarray(t * 4, t * 4 + 4)));
    writeFileSync(join(dir, 'x.json'), JSON.stringify(rows));
    const single = await cli('run', 'conv.json', '--input-shape', '4', '--weights', 'conv.safetensors', '--input', 'x.json', '--block', '2');
    expect(single.code, single.stderr).toBe(0);
    const lines = single.stdout.trim().split('\n').map((l) => l.split('\t').map(Number));
    expect(lines.map((l) => l[0])).toEqual([0, 1, 2, 3, 4, 5, 6]);
    lines.forEach((l, t) => [l[1], l[2]].forEach((v, j) => expect(v).toBeCloseTo(want[t * 2 + j]!, 4)));

    // run gives layer()'s length and values: a Delay's tail (its layer() is 3 steps longer) and
    // a lookahead conv's flush, in blocks that do not divide the input.
    const delayed = sl.Serial([sl.Conv1D({ filters: 2, kernelSize: 3, padding: 'reverse_causal' }), sl.Delay({ length: 3 })]);
    writeFileSync(join(dir, 'delayed.json'), JSON.stringify(delayed));
    const dm = sl.build(delayed, { inputShape: [4], seed: 2 });
    writeFileSync(join(dir, 'delayed.safetensors'), sl.writeSafetensors(dm.getWeights()));
    const dWant = dm.layer(x);
    dm.dispose();
    const dRun = await cli('run', 'delayed.json', '--input-shape', '4', '--weights', 'delayed.safetensors', '--input', 'x.npy', '--block', '2', '--out', 'yd.npy');
    expect(dRun.code, dRun.stderr).toBe(0);
    const yd = readNpy(readFileSync(join(dir, 'yd.npy')));
    expect(yd.shape).toEqual([2, 10, 2]);
    yd.data.forEach((v, i) => expect(v).toBeCloseTo(dWant.values[i]! * dWant.mask[Math.floor(i / 2)]!, 5));
  }, 60_000);

  it('constants: an array (--constant), a whole Sequence (--sequence) and one streamed with the steps (--stream)', async () => {
    const text = sl.Sequence.fromValues(Float32Array.from({ length: 5 * 3 }, (_, i) => Math.cos(i)), [1, 5, 3]);
    const speaker = { values: Float32Array.from([0.5, -1, 0.25]), shape: [1, 3] };
    const seg = sl.Sequence.fromValues(Int32Array.from({ length: 9 }, (_, t) => (t < 4 ? 0 : 1)), [1, 9], 'int32');
    const config = sl.Serial([
      sl.Conditioning({ conditioningName: 'speaker', projection: 'linear', combination: 'add' }),
      sl.DotProductSelfAttentionV2({ numHeads: 2, unitsPerHead: 2, maxPastHorizon: 4, segmentIdsName: 'seg' }),
      sl.Flatten(),
      sl.DotProductAttention({ sourceName: 'text', numHeads: 1, unitsPerHead: 2 }),
      sl.Flatten(),
    ]);
    writeFileSync(join(dir, 'cond.json'), JSON.stringify({ config, input_shape: [4] }));
    const model = sl.build(config, { inputShape: [4], seed: 6, constants: { text, speaker, seg } });
    writeFileSync(join(dir, 'cond.safetensors'), sl.writeSafetensors(model.getWeights()));
    const x = sl.Sequence.fromValues(Float32Array.from({ length: 9 * 4 }, (_, i) => Math.sin(i / 3)), [1, 9, 4]);
    const want = model.layer(x, { constants: { text, speaker, seg } }).values;
    model.dispose();
    writeFileSync(join(dir, 'cx.npy'), writeNpy([9, 4], x.values as Float32Array));
    writeFileSync(join(dir, 'text.npy'), writeNpy([1, 5, 3], text.values as Float32Array));
    writeFileSync(join(dir, 'speaker.json'), JSON.stringify([[0.5, -1, 0.25]]));
    writeFileSync(join(dir, 'seg.json'), JSON.stringify({ shape: [1, 9], values: Array.from(seg.values) }));
    const given = ['--constant', 'speaker=speaker.json', '--sequence', 'text=text.npy', '--stream', 'seg=seg.json'];
    const r = await cli('run', 'cond.json', '--weights', 'cond.safetensors', '--input', 'cx.npy', '--block', '2', '--out', 'cy.npy', ...given);
    expect(r.code, r.stderr).toBe(0);
    const y = readNpy(readFileSync(join(dir, 'cy.npy')));
    expect(y.shape).toEqual([9, 2]);
    y.data.forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 5));
    const summary = await cli('summary', 'cond.json', ...given);
    expect(summary.code, summary.stderr).toBe(0);
    expect(summary.stdout).toMatch(/DotProductAttention \(layers\.3\)/);
    // bench takes them too: whole ones with every step, a streamed one's first block.
    const bench = await cli('bench', 'cond.json', '--block', '2', '--steps', '20', ...given);
    expect(bench.code, bench.stderr).toBe(0);
    expect(bench.stdout).toMatch(/^cond\.json: 20 steps of 2 input steps \(batch 1, (simd|relaxed) kernels\)\nper step: median /);
    const noConstants = await cli('bench', 'cond.json', '--block', '2', '--steps', '20');
    expect([noConstants.code, noConstants.stderr]).toEqual([1, expect.stringMatching(/\[MISSING_CONSTANT\]/)]);
    // Wrong or missing constants.
    const cases: [string[], number, RegExp][] = [
      [['--constant', 'speaker'], 2, /--constant: expected name=file \(e\.g\. --constant speaker=speaker\.npy\), got "speaker"/],
      [['--constant', 'speaker=speaker.json', '--sequence', 'speaker=text.npy'], 2, /--sequence speaker: the constant "speaker" is given twice/],
      [['--constant', 'speaker=speaker.txt'], 2, /--constant speaker: expected a \.npy or \.json file, got "speaker\.txt"/],
      [['--constant', 'speaker=speaker.json', '--sequence', 'text=text.npy', '--stream', 'seg=text.npy'], 1, /\[BAD_INPUT\] --stream seg: expected 9 steps as the input, got shape \[1, 5, 3\]/],
      [['--constant', 'speaker=speaker.json', '--sequence', 'text=text.npy'], 1, /\[MISSING_CONSTANT\] DotProductSelfAttentionV2 at config\.layers\[1\]: constants\.seg/],
      // Per-step ids given whole, and a constant that sizes a layer given with the wrong shape: hints.
      [['--constant', 'speaker=speaker.json', '--sequence', 'text=text.npy', '--sequence', 'seg=seg.json'], 1,
        /constants\.seg: expected segment ids \[1, 1\].*got a Sequence \[1, 9\] float32 \(it is as long as the input: pass it with --stream seg=\.\.\. to give each step its block\)/],
      [['--constant', 'speaker=text.npy', '--sequence', 'text=text.npy', '--stream', 'seg=seg.json'], 1,
        /\[BAD_WEIGHTS\] .*\(the shapes of the constants given size some layers: check those of --constant, --sequence and --stream\)/],
    ];
    for (const [args, code, message] of cases) {
      const bad = await cli('run', 'cond.json', '--weights', 'cond.safetensors', '--input', 'cx.npy', ...args);
      expect(bad.code, `${args.join(' ')}: ${bad.stderr}`).toBe(code);
      expect(bad.stderr).toMatch(message);
    }
  }, 60_000);

  it('unreadable or wrong files: a clear message and exit code 1', async () => {
    writeFileSync(join(dir, 'garbage.wav'), 'not a wav at all');
    writeFileSync(join(dir, 'broken.json'), '{"type": "Serial",');
    writeFileSync(join(dir, 'conv.json'), JSON.stringify(sl.Serial([sl.Dense({ features: 2 })])));
    const vad = join(dir, 'vad8');
    expect((await cli('convert-silero', onnx, vad, '--sample-rate', '8000')).code).toBe(0);
    const cases: [string[], RegExp][] = [
      [['summary', 'missing.json'], /^seqlayers summary: \[BAD_ARGUMENT\] cannot read the config "missing.json": no such file\n$/],
      [['summary', 'broken.json', '--input-shape', '1'], /\[BAD_ARGUMENT\] the config "broken.json" is not valid JSON: /],
      [['run', join(vad, 'silero_vad_8k.json'), '--weights', 'nope.safetensors', '--input', wavPath], /\[BAD_ARGUMENT\] cannot read the weights file "nope.safetensors": no such file/],
      [['run', join(vad, 'silero_vad_8k.json'), '--weights', join(vad, 'silero_vad_8k.safetensors'), '--input', wavPath], /\[BAD_INPUT\] .*speech\.wav is sampled at 16000 Hz, the model at 8000 Hz: resample it first/],
      [['run', join(vad, 'silero_vad_8k.json'), '--weights', join(vad, 'silero_vad_8k.safetensors'), '--input', 'garbage.wav'], /\[BAD_WAV\] WAV: expected a RIFF\/WAVE header/],
      [['run', join(vad, 'silero_vad_8k.json'), '--weights', 'garbage.wav', '--input', wavPath], /\[BAD_SAFETENSORS\]/],
      [['run', 'conv.json', '--input-shape', '3', '--weights', join(vad, 'silero_vad_8k.safetensors'), '--input', wavPath], /\[BAD_WEIGHTS\] missing parameters \["layers\.0\.kernel", "layers\.0\.bias"\]/],
      [['convert-silero', wavPath, 'out'], /^seqlayers convert-silero: \[BAD_ONNX\] ONNX: /],
      [['convert-silero', createRequire(import.meta.url).resolve('@ricky0123/vad-web/dist/silero_vad_legacy.onnx'), 'out'], /Silero v4 "legacy" files/],
    ];
    for (const [args, message] of cases) {
      const r = await cli(...args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(1);
      expect(r.stderr).toMatch(message);
    }
    const badBlock = await cli('run', join(vad, 'silero_vad_8k.json'), '--weights', join(vad, 'silero_vad_8k.safetensors'), '--input', 'garbage.wav', '--block', '300');
    expect(badBlock.code).toBe(2); // arguments are checked before the input is read
    expect(badBlock.stderr).toMatch(/--block: expected a multiple of the model's block size 256, got 300/);
    const block = await cli('bench', join(vad, 'silero_vad_8k.json'), '--block', '300');
    expect(block.code).toBe(2);
    expect(block.stderr).toMatch(/--block: expected a multiple of the model's block size 256, got 300/);
  }, 60_000);

  it('inputs and outputs a review found handled badly: JSON that is not an array of equal rows, int32 fractions, no steps, unwritable or misnamed --out, complex64 rows', async () => {
    const dense = sl.Dense({ features: 2 });
    writeFileSync(join(dir, 'd.json'), JSON.stringify(dense));
    writeFileSync(join(dir, 'd.safetensors'), sl.writeSafetensors(sl.build(dense, { inputShape: [2] }).getWeights()));
    const run = (input: string, ...more: string[]) => cli('run', 'd.json', '--input-shape', '2', '--weights', 'd.safetensors', '--input', input, ...more);
    writeFileSync(join(dir, 'ok.json'), '[[1, 2], [3, 4]]');
    for (const [name, text] of [['scalar', '5'], ['null', 'null'], ['ragged', '[[1, 2], [[3, 4]]]'], ['ragged2', '[[1, 2], [3, [4]]]']]) {
      writeFileSync(join(dir, `${name}.json`), text!);
      const r = await run(`${name}.json`);
      expect(r.code, `${name}: ${r.stderr}`).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`\\[BAD_INPUT\\] ${name}\\.json: expected nested arrays of numbers with equal lengths`));
    }
    const both = await run('ok.json', '--progress', '--quiet');
    expect([both.code, both.stderr]).toEqual([2, expect.stringMatching(/--progress and --quiet: expected one of them, got both/)]);
    writeFileSync(join(dir, 'noconfig.json'), '{"input_shape": [2]}');
    const noConfig = await cli('summary', 'noconfig.json');
    expect([noConfig.code, noConfig.stderr]).toEqual([1, expect.stringMatching(/\[BAD_CONFIG\] noconfig\.json: expected a layer config \{"type": \.\.\.\} or a model file \{"config": \.\.\., "input_shape": \[\.\.\.\]\}, got an object with keys "input_shape"/)]);
    writeFileSync(join(dir, 'empty.json'), '{"shape": [0, 2], "values": []}');
    expect((await run('empty.json')).stderr).toMatch(/\[BAD_INPUT\] empty\.json holds no steps: nothing to run/);
    const badExt = await run('garbage.json', '--out', 'y.csv'); // the name is checked before the input is read
    expect([badExt.code, badExt.stderr]).toEqual([2, expect.stringMatching(/--out: expected a \.npy or \.json file name, got "y\.csv"/)]);
    const noDir = await run('ok.json', '--out', join('no', 'such', 'y.json'));
    expect([noDir.code, noDir.stderr]).toEqual([1, expect.stringMatching(/^seqlayers run: \[BAD_ARGUMENT\] cannot write the output "no\/such\/y\.json": no such folder\n$/)]);

    // int32 steps take whole numbers only.
    const embed = sl.Embedding({ numEmbeddings: 4, dimension: 2 });
    writeFileSync(join(dir, 'e.json'), JSON.stringify({ config: embed, input_shape: [], input_dtype: 'int32' }));
    writeFileSync(join(dir, 'e.safetensors'), sl.writeSafetensors(sl.build(embed, { inputShape: [], inputDtype: 'int32' }).getWeights()));
    writeFileSync(join(dir, 'tokens.json'), '[1, 1.9, 2]');
    const frac = await cli('run', 'e.json', '--weights', 'e.safetensors', '--input', 'tokens.json');
    expect(frac.stderr).toMatch(/\[BAD_INPUT\] tokens\.json: the model takes int32 steps, expected whole numbers in int32's range, got 1\.89999\d* at element 1/);

    // complex64 outputs: both parts of every value, printed and written with a trailing axis of 2.
    const stft = { type: 'STFT', frameLength: 8, frameStep: 4, fftLength: 8 };
    writeFileSync(join(dir, 'stft.json'), JSON.stringify({ config: stft, input_shape: [] }));
    const sm = sl.build(stft, { inputShape: [] });
    writeFileSync(join(dir, 'stft.safetensors'), sl.writeSafetensors(sm.getWeights()));
    const sig = Float32Array.from({ length: 12 }, (_, i) => Math.sin(i));
    writeFileSync(join(dir, 'sig.npy'), writeNpy([12], sig));
    const want = sm.layer(sl.Sequence.fromValues(sig, [1, 12]));
    const printed = await cli('run', 'stft.json', '--weights', 'stft.safetensors', '--input', 'sig.npy', '--block', '4');
    expect(printed.code, printed.stderr).toBe(0);
    const rows = printed.stdout.trim().split('\n').map((l) => l.split('\t').slice(1));
    expect(rows.length).toBe(want.time);
    expect(rows.map((r) => r.length)).toEqual(Array.from(want.mask, (m) => (m ? 10 : 1)));
    rows.forEach((r, t) => want.mask[t] && r.forEach((v, j) => expect(Number(v)).toBeCloseTo(want.values[t * 10 + j]!, 4)));
    expect((await cli('run', 'stft.json', '--weights', 'stft.safetensors', '--input', 'sig.npy', '--block', '4', '--out', 'stft.npy')).code).toBe(0);
    const file = readNpy(readFileSync(join(dir, 'stft.npy')));
    expect(file.shape).toEqual([want.time, 5, 2]);
    file.data.forEach((v, i) => expect(v).toBeCloseTo(want.values[i]! * want.mask[Math.floor(i / 10)]!, 5));
  }, 60_000);

  describe('what a second review found', () => {
    const run = (...more: string[]) => cli('run', 'd2.json', '--weights', 'd2.safetensors', ...more);
    beforeAll(() => {
      const dense = sl.Dense({ features: 2 });
      writeFileSync(join(dir, 'd2.json'), JSON.stringify({ config: dense, input_shape: [2] }));
      writeFileSync(join(dir, 'd2.safetensors'), sl.writeSafetensors(sl.build(dense, { inputShape: [2] }).getWeights()));
      writeFileSync(join(dir, 'd80.json'), JSON.stringify({ config: dense, input_shape: [80] }));
      writeFileSync(join(dir, 'row.json'), '[[1, 2]]');
    });

    it('--block is at most MAX_DIM, and a block beyond the runtime memory is refused before it is built', async () => {
      // 2^53 was an uncoded RangeError, 2^30 minutes of building a random input, 2^29 3 GB for run.
      const cases: [Promise<{ code: number; stderr: string }>, number, RegExp][] = [
        [cli('bench', 'd2.json', '--block', '9007199254740992', '--steps', '1'), 2, /--block: expected at most 16777216 steps \(the largest size of any dimension\), got 9007199254740992/],
        [run('--input', 'row.json', '--block', String(2 ** 29)), 2, /--block: expected at most 16777216 steps/],
        [cli('bench', 'd80.json', '--block', String(2 ** 24), '--steps', '1'), 1,
          /\[MEMORY_BUDGET\] --block 16777216: a step of 16777216 inputs of shape \[80\] holds 5368709120 bytes, over the runtime's memory budget of \d+ bytes/],
      ];
      for (const [r, code, message] of cases) {
        const { code: got, stderr } = await r;
        expect([got, stderr]).toEqual([code, expect.stringMatching(message)]);
      }
    }, 60_000);

    it('JSON nested deeper than the 32 axes an array may have is BAD_INPUT, not a stack overflow', async () => {
      writeFileSync(join(dir, 'deep.json'), `${'['.repeat(100_000)}${']'.repeat(100_000)}`);
      for (const r of await Promise.all([run('--input', 'deep.json'), run('--input', 'row.json', '--constant', 'c=deep.json')])) {
        expect([r.code, r.stderr]).toEqual([1, expect.stringMatching(/^seqlayers run: \[BAD_INPUT\] deep\.json: expected an array of at most 32 axes, got 100000\n$/)]);
      }
    }, 60_000);

    it('`run ... | head -1`: the reader closes stdout early and the CLI stops quietly', async () => {
      writeFileSync(join(dir, 'long.npy'), writeNpy([200_000, 2], Float32Array.from({ length: 400_000 }, (_, i) => Math.sin(i))));
      const child = spawn(process.execPath, [join(ROOT, 'dist/cli.js'), 'run', 'd2.json', '--weights', 'd2.safetensors', '--input', 'long.npy', '--block', '1000', '--quiet'], { cwd: dir });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      child.stdout.once('data', () => child.stdout.destroy());
      const code = await new Promise((resolve) => child.on('close', resolve));
      expect([code, stderr]).toEqual([0, '']);
    }, 60_000);

    it('a model of scalar steps (input_shape []) takes a mono WAV, as it takes the same samples as a 1-D .npy', async () => {
      const stft = { type: 'STFT', frameLength: 400, frameStep: 160, fftLength: 512, outputMagnitude: true };
      writeFileSync(join(dir, 'mag.json'), JSON.stringify({ config: stft, input_shape: [], sample_rate: 16000 }));
      writeFileSync(join(dir, 'mag.safetensors'), sl.writeSafetensors(sl.build(stft, { inputShape: [] }).getWeights()));
      writeFileSync(join(dir, 'speech.npy'), writeNpy([106650], sl.readWav(readFileSync(wavPath)).channels[0]!));
      const [fromWav, fromNpy] = await Promise.all([
        cli('run', 'mag.json', '--weights', 'mag.safetensors', '--input', wavPath, '--out', 'mag-wav.npy'),
        cli('run', 'mag.json', '--weights', 'mag.safetensors', '--input', 'speech.npy', '--out', 'mag-npy.npy'),
      ]);
      expect([fromWav.code, fromWav.stderr]).toEqual([0, expect.stringMatching(/^106650 input steps in /)]);
      expect(fromNpy.code, fromNpy.stderr).toBe(0);
      expect(readFileSync(join(dir, 'mag-wav.npy'))).toEqual(readFileSync(join(dir, 'mag-npy.npy')));
    }, 60_000);
  });
});
