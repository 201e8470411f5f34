#!/usr/bin/env node
// The command-line tool: `npx seqlayers <command>`. Run `seqlayers help` for the commands.
// Exit codes: 0 done, 1 a file or model could not be used, 2 bad arguments.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { MAX_DIM, MAX_RANK } from './config.js';
import * as sl from './index.js';
import { readNpy, writeNpy } from './io/npy.js';
import { stateElementBytes, type Layer } from './layer.js';
import { firstNonInt32 } from './sequence.js';

const USAGE = `seqlayers: streaming sequence layers on WebAssembly SIMD

Usage:
  seqlayers summary <config.json> [--input-shape S] [constants]
      A table of the model's layers: output shape, output ratio, block size, latency
      (input/output), receptive field, parameters and streaming state bytes.
  seqlayers run <config.json> --weights <file.safetensors> --input <file.wav|.npy|.json>
                [--block N] [--out <file.npy|.json>] [--input-shape S] [--weight-storage W]
                [--weight-naming flax] [--progress | --quiet] [constants]
      Streams the model over the input, N input steps per step (default: the block size),
      flushing at the end as layer() would. Without --out, prints one line per output step.
  seqlayers bench <config.json> [--weights <file.safetensors>] [--block N] [--steps N]
                  [--input-shape S] [--weight-storage W] [--weight-naming flax] [constants]
      Measures the time of one step (random input, random weights unless --weights; batch 1:
      constants of batch 1, a --stream one's first block with every step).
  seqlayers convert-silero <silero_vad.onnx> <outdir> [--sample-rate 16000|8000]
      Converts Silero VAD v5/v6 from its ONNX file into <outdir>/silero_vad_<16k|8k>.json and
      .safetensors (see docs/silero-vad.md).

<config.json> is a layer config ({"type": "Serial", ...}), or a model file
{"config": {...}, "input_shape": [...], "sample_rate": ..., "weight_naming": ...} as
convert-silero and tools/export_reference.py write.
--input-shape gives the input channel shape (e.g. 80, or 4,80) when the file has none.
--weight-storage int8 stores the weights of every layer that can as int8 (weightStorage).
--weight-naming flax reads tensors named as the reference's flax variables ('params/layers_0/kernel');
a model file may say so itself ("weight_naming": "flax", as tools/export_reference.py writes).
A .json input or constant holds nested arrays (row-major) or {"shape": [...], "values": [...]},
read as float32.
Constants (repeatable; each a .npy or .json file of the same batch as the input, 1 for an
unbatched one):
  --constant name=file   an array [batch, ...], e.g. a conditioning vector: given whole
  --sequence name=file   a Sequence [batch, time, ...] of valid steps, e.g. a cross attention's
                         source: given whole
  --stream name=file     a Sequence [batch, time, ...] as long as the input, e.g. segment ids:
                         each step gets its block`;

/** A wrong command line: printed with a hint, exit code 2. */
class UsageError extends Error {}

/** What a config file describes. */
interface ModelFile {
  config: sl.LayerConfig;
  inputShape: number[];
  inputDtype: sl.DType;
  /** Samples per second of the input, when the file says (audio models). */
  sampleRate?: number;
  /** How its weights files name tensors, when the file says ('flax' from tools/export_reference.py). */
  weightNaming?: string;
}

const OPTIONS = {
  weights: { type: 'string' },
  input: { type: 'string' },
  out: { type: 'string' },
  block: { type: 'string' },
  steps: { type: 'string' },
  'input-shape': { type: 'string' },
  'sample-rate': { type: 'string' },
  'weight-storage': { type: 'string' },
  'weight-naming': { type: 'string' },
  constant: { type: 'string', multiple: true },
  sequence: { type: 'string', multiple: true },
  stream: { type: 'string', multiple: true },
  progress: { type: 'boolean' },
  quiet: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Options each command takes, and how many positional arguments. */
const COMMANDS: Record<string, { options: (keyof typeof OPTIONS)[]; args: string[] }> = {
  summary: { options: ['input-shape', 'constant', 'sequence', 'stream'], args: ['config'] },
  run: { options: ['weights', 'input', 'out', 'block', 'input-shape', 'weight-storage', 'weight-naming', 'progress', 'quiet', 'constant', 'sequence', 'stream'], args: ['config'] },
  bench: { options: ['weights', 'block', 'steps', 'input-shape', 'weight-storage', 'weight-naming', 'constant', 'sequence', 'stream'], args: ['config'] },
  'convert-silero': { options: ['sample-rate'], args: ['onnx', 'outdir'] },
};

type Flags = { [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K] extends { multiple: true } ? string[] : (typeof OPTIONS)[K]['type'] extends 'string' ? string : boolean };

async function main(argv: string[]): Promise<void> {
  // `seqlayers run ... | head` closes the pipe early: the reader has all it wants, so stop quietly.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
    process.exit(0);
  });
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/\. To specify a positional argument.*$/s, ''));
  }
  const [command, ...args] = parsed.positionals;
  const flags = parsed.values as Flags;
  if (command === undefined || command === 'help' || flags.help) {
    if (command === undefined && !flags.help) throw new UsageError('expected a command');
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const spec = COMMANDS[command];
  if (!spec) throw new UsageError(`unknown command ${JSON.stringify(command)} (commands: ${Object.keys(COMMANDS).join(', ')})`);
  const extra = (Object.keys(flags) as (keyof Flags)[]).filter((k) => !spec.options.includes(k));
  if (extra.length) throw new UsageError(`${command} does not take ${extra.map((k) => `--${k}`).join(', ')}`);
  if (args.length !== spec.args.length) {
    throw new UsageError(`${command} expects ${spec.args.map((a) => `<${a}>`).join(' ')}, got ${args.length} argument${args.length === 1 ? '' : 's'}`);
  }
  // Node 20 validates relaxed SIMD only behind V8's flag, which can still be set before any
  // WebAssembly is compiled: the CLI runs the faster build wherever V8 has it.
  if (!sl.relaxedSimdSupported()) setFlagsFromString('--experimental-wasm-relaxed-simd');
  await sl.init();
  if (command === 'summary') summary(args[0]!, flags);
  else if (command === 'run') run(args[0]!, flags);
  else if (command === 'bench') bench(args[0]!, flags);
  else convertSilero(args[0]!, args[1]!, flags);
}

// ---------------------------------------------------------------------------------------------
// Files and arguments

/** Why a file operation failed, in words (ENOENT: `missing`, e.g. 'no such file'). */
function fsReason(e: unknown, missing: string): string {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'ENOENT' ? missing : code === 'EISDIR' ? 'it is a directory' : code === 'EACCES' ? 'permission denied' : (e as Error).message;
}

function readFile(path: string, what: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new sl.SeqLayersError('BAD_ARGUMENT', `cannot read the ${what} ${JSON.stringify(path)}: ${fsReason(e, 'no such file')}`);
  }
}

function writeFile(path: string, what: string, bytes: Uint8Array | string): void {
  try {
    writeFileSync(path, bytes);
  } catch (e) {
    throw new sl.SeqLayersError('BAD_ARGUMENT', `cannot write the ${what} ${JSON.stringify(path)}: ${fsReason(e, 'no such folder')}`);
  }
}

function readJson(path: string, what: string): unknown {
  const text = new TextDecoder().decode(readFile(path, what));
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new sl.SeqLayersError('BAD_ARGUMENT', `the ${what} ${JSON.stringify(path)} is not valid JSON: ${(e as Error).message}`);
  }
}

function positiveInt(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${flag}: expected a positive integer, got ${JSON.stringify(value)}`);
  return n;
}

/**
 * Input steps per step: --block (a multiple of the model's block size, at most MAX_DIM, the
 * largest size of any dimension) or the block size. Its values must fit the runtime's memory,
 * where a step copies them: checked before anything that size is built.
 */
function blockOf(flags: Flags, model: sl.Model, file: ModelFile): number {
  const given = positiveInt(flags.block, 'block');
  if (given !== undefined && given > MAX_DIM) throw new UsageError(`--block: expected at most ${MAX_DIM} steps (the largest size of any dimension), got ${given}`);
  const block = given ?? model.blockSize;
  if (block % model.blockSize) throw new UsageError(`--block: expected a multiple of the model's block size ${model.blockSize}, got ${block}`);
  const bytes = block * file.inputShape.reduce((a, b) => a * b, 1) * 4;
  const budget = sl.getRuntime().info().maxMemoryBytes;
  if (bytes > budget) {
    throw new sl.SeqLayersError('MEMORY_BUDGET', `--block ${block}: a step of ${block} inputs of shape [${file.inputShape.join(', ')}] holds ${bytes} bytes, over the runtime's memory budget of ${budget} bytes`);
  }
  return block;
}

function parseShape(value: string): number[] {
  const dims = value.split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  if (!dims.every((d) => Number.isInteger(d) && d >= 1)) throw new UsageError(`--input-shape: expected positive integers separated by commas (e.g. 80 or 4,80), got ${JSON.stringify(value)}`);
  return dims;
}

/**
 * Reads a bare layer config or a model file; --input-shape wins over the file's input_shape,
 * and --weight-storage sets every layer's weightStorage that has one.
 */
function loadModelFile(path: string, flags: Flags): ModelFile {
  const raw = readJson(path, 'config');
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new sl.SeqLayersError('BAD_CONFIG', `${path}: expected a layer config {"type": ...} or a model file {"config": ..., "input_shape": [...]}, got ${JSON.stringify(raw)?.slice(0, 60)}`);
  }
  const obj = raw as Record<string, unknown>;
  if (!('type' in obj) && !('config' in obj)) {
    throw new sl.SeqLayersError('BAD_CONFIG', `${path}: expected a layer config {"type": ...} or a model file {"config": ..., "input_shape": [...]}, got an object with ${Object.keys(obj).length ? `keys ${Object.keys(obj).slice(0, 8).map((k) => JSON.stringify(k)).join(', ')}` : 'no keys'}`);
  }
  const wrapped = 'config' in obj && !('type' in obj);
  let config = (wrapped ? obj.config : obj) as sl.LayerConfig;
  const storage = flags['weight-storage'];
  if (storage !== undefined) {
    if (!(sl.WEIGHT_STORAGES as readonly string[]).includes(storage)) {
      throw new UsageError(`--weight-storage: expected one of ${sl.WEIGHT_STORAGES.join(', ')}, got ${JSON.stringify(storage)}`);
    }
    config = sl.withWeightStorage(config, storage as sl.WeightStorage);
  }
  const fileShape = wrapped ? (obj.input_shape ?? obj.inputShape) : undefined;
  if (fileShape !== undefined && !(Array.isArray(fileShape) && fileShape.every((d) => Number.isInteger(d) && d >= 1))) {
    throw new sl.SeqLayersError('BAD_CONFIG', `${path}: expected input_shape to be a list of positive integers, got ${JSON.stringify(fileShape)}`);
  }
  const inputShape = flags['input-shape'] !== undefined ? parseShape(flags['input-shape']) : (fileShape as number[] | undefined);
  if (!inputShape) {
    throw new UsageError(`${path} does not say the input channel shape: pass --input-shape (e.g. --input-shape 80), or use a model file {"config": ..., "input_shape": [80]}`);
  }
  const inputDtype = ((wrapped ? (obj.input_dtype ?? obj.inputDtype) : undefined) ?? 'float32') as sl.DType;
  const rate = wrapped ? (obj.sample_rate ?? obj.sampleRate) : undefined;
  const naming = wrapped ? (obj.weight_naming ?? obj.weightNaming) : undefined;
  return { config, inputShape, inputDtype, sampleRate: typeof rate === 'number' ? rate : undefined, weightNaming: naming as string | undefined };
}

function buildModel(file: ModelFile, weightsPath: string | undefined, naming?: string, constants?: sl.Constants): sl.Model {
  if (naming !== undefined && !(sl.WEIGHT_NAMINGS as readonly string[]).includes(naming)) {
    throw new UsageError(`--weight-naming (or the model file's weight_naming): expected one of ${sl.WEIGHT_NAMINGS.join(', ')}, got ${JSON.stringify(naming)}`);
  }
  const model = sl.build(file.config, { inputShape: file.inputShape, inputDtype: file.inputDtype, seed: 0, constants });
  if (weightsPath !== undefined) {
    try {
      model.loadWeights(sl.readSafetensors(readFile(weightsPath, 'weights file')), { naming: naming as sl.WeightNaming | undefined });
    } catch (e) {
      model.dispose();
      // Constants given at build size some layers (a conditioning projection, a source's).
      if (e instanceof sl.SeqLayersError && e.code === 'BAD_WEIGHTS' && constants && Object.keys(constants).length) {
        throw new sl.SeqLayersError('BAD_WEIGHTS', `${e.message.replace(/^\[BAD_WEIGHTS\] /, '')} (the shapes of the constants given size some layers: check those of --constant, --sequence and --stream)`);
      }
      throw e;
    }
  }
  return model;
}

// ---------------------------------------------------------------------------------------------
// summary

const showRF = (rf: sl.ReceptiveField) => (rf ? `[${rf.map((v) => (v === Infinity ? 'inf' : v === -Infinity ? '-inf' : String(v))).join(', ')}]` : 'none');
const rfHull = (rf: sl.ReceptiveFieldPerStep): sl.ReceptiveField =>
  [...rf.values()].reduce<sl.ReceptiveField>((a, v) => (!a ? v : !v ? a : [Math.min(a[0], v[0]), Math.max(a[1], v[1])]), null);
const bytesText = (n: number) => (n < 10240 ? `${n} B` : n < 10 * 2 ** 20 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 2 ** 20).toFixed(1)} MiB`);

function summary(path: string, flags: Flags): void {
  const file = loadModelFile(path, flags);
  const model = buildModel(file, undefined, undefined, readConstants(flags).all);
  const rows: string[][] = [['layer', 'output', 'ratio', 'block', 'latency', 'receptive field', 'params', 'state']];
  const visit = (l: Layer, depth: number, batch: number) => {
    const params = l.params.filter((p) => !p.viewOf).reduce((s, p) => s + p.size, 0);
    const state = l.stateSpecs(batch).reduce((s, b) => s + b.shape.reduce((a, d) => a * d, 1) * stateElementBytes(b.dtype), 0);
    rows.push([
      `${'  '.repeat(depth)}${l.type}${l.config.name ? ` "${l.config.name}"` : ''}${l.path ? ` (${l.path})` : ''}`,
      `[${l.output.shape.join(', ')}]${l.output.dtype === 'float32' ? '' : ` ${l.output.dtype}`}`,
      l.outputRatio.toString(),
      String(l.blockSize),
      `${l.inputLatency}/${l.outputLatency}`,
      showRF(rfHull(l.receptiveFieldPerStep)),
      String(params),
      bytesText(state),
    ]);
    for (const c of l.children) visit(c, depth + 1, batch * l.childBatchFactor);
  };
  visit(model.root, 0, 1);
  const widths = rows[0]!.map((_, j) => Math.max(...rows.map((r) => r[j]!.length)));
  const line = (r: string[]) => r.map((c, j) => (j === 0 || j === 1 || j === 5 ? c.padEnd(widths[j]!) : c.padStart(widths[j]!))).join('  ').trimEnd();
  const params = model.params().reduce((s, p) => s + p.size, 0);
  const state = model.initialState(1);
  const out = [
    `${basename(path)}: input [${file.inputShape.join(', ')}] ${file.inputDtype}${file.sampleRate ? ` at ${file.sampleRate} Hz` : ''}`,
    line(rows[0]!),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.slice(1).map(line),
    '',
    `parameters: ${params} (${bytesText(params * 4)} float32); state per stream: ${bytesText(state.bytes)}; steps: ${model.supportsStep ? `yes, ${model.blockSize} input steps per block` : 'no (layer mode only)'}`,
  ];
  state.dispose();
  model.dispose();
  process.stdout.write(`${out.join('\n')}\n`);
}

// ---------------------------------------------------------------------------------------------
// run

/** The input as a Sequence, and whether the file had a batch axis (kept in the output file). */
function readInput(path: string, file: ModelFile): { x: sl.Sequence; batched: boolean } {
  const ext = extname(path).toLowerCase();
  const channels = file.inputShape;
  const size = channels.reduce((a, b) => a * b, 1);
  const bytes = readFile(path, 'input');
  if (ext === '.wav') {
    const wav = sl.readWav(bytes);
    if (file.sampleRate && wav.sampleRate !== file.sampleRate) {
      throw new sl.SeqLayersError('BAD_INPUT', `${path} is sampled at ${wav.sampleRate} Hz, the model at ${file.sampleRate} Hz: resample it first (e.g. sox in.wav -r ${file.sampleRate} out.wav)`);
    }
    // A model of input [c] takes c channels; one of input [] (scalar samples) a mono file.
    const c = wav.channels.length;
    if (channels.length === 0 ? c !== 1 : channels.length !== 1 || channels[0] !== c) {
      throw new sl.SeqLayersError('BAD_INPUT', `${path} has ${c} channel(s), the model takes input [${channels.join(', ')}]: expected ${channels.length === 0 ? 'a mono file' : `input shape [${c}]`}`);
    }
    const t = wav.channels[0]!.length;
    const values = new Float32Array(t * c);
    for (let i = 0; i < t; i++) for (let j = 0; j < c; j++) values[i * c + j] = wav.channels[j]![i]!;
    return { x: sl.Sequence.fromValues(values, [1, t, ...channels]), batched: false };
  }
  let shape: number[], data: Float32Array | Int32Array;
  if (ext === '.npy') ({ shape: shape, data } = readNpy(bytes) as { shape: number[]; data: Float32Array | Int32Array });
  else if (ext === '.json') ({ shape, data } = jsonArray(path, bytes));
  else throw new UsageError(`--input: expected a .wav, .npy or .json file, got ${JSON.stringify(path)}`);
  // [T, ...channels] or [B, T, ...channels]; a 1-D array is a signal for a model taking [1].
  const rank = shape.length - channels.length;
  const tail = shape.slice(Math.max(0, rank));
  const mono = shape.length === 1 && size === 1 && channels.length === 1;
  if (!mono && (rank < 1 || rank > 2 || tail.join() !== channels.join())) {
    throw new sl.SeqLayersError('BAD_INPUT', `${path} holds an array of shape [${shape.join(', ')}], expected [time, ${channels.join(', ')}] or [batch, time, ${channels.join(', ')}]`);
  }
  const full = mono ? [1, shape[0]!, 1] : rank === 1 ? [1, ...shape] : shape;
  if (file.inputDtype === 'int32' && !(data instanceof Int32Array)) {
    const i = firstNonInt32(data);
    if (i >= 0) throw new sl.SeqLayersError('BAD_INPUT', `${path}: the model takes int32 steps, expected whole numbers in int32's range, got ${data[i]} at element ${i}`);
  }
  const values = file.inputDtype === 'int32' ? Int32Array.from(data) : data instanceof Float32Array ? data : Float32Array.from(data);
  return { x: sl.Sequence.fromValues(values, full, file.inputDtype), batched: rank === 2 && !mono };
}

/**
 * A step's MISSING_CONSTANT about a constant given whole that is as long as the input, with a
 * hint: a layer reading one number per step wants it with --stream. Other errors unchanged.
 */
function withStreamHint(e: unknown, whole: sl.Constants, time: number): unknown {
  const name = e instanceof sl.SeqLayersError && e.code === 'MISSING_CONSTANT' ? /constants\.([^:]+):/.exec(e.message)?.[1] : undefined;
  const c = name !== undefined && Object.hasOwn(whole, name) ? whole[name]! : undefined;
  if (!c || c.shape[1] !== time) return e;
  const message = (e as Error).message.replace(/^\[MISSING_CONSTANT\] /, '');
  return new sl.SeqLayersError('MISSING_CONSTANT', `${message} (it is as long as the input: pass it with --stream ${name}=... to give each step its block)`);
}

/**
 * The constants of --constant (arrays), --sequence (Sequences given whole) and --stream
 * (Sequences sliced with the steps), each name=file (.npy or .json): `whole` and `streamed`, and
 * `all` for build (where only shapes matter).
 */
function readConstants(flags: Flags): { whole: sl.Constants; streamed: Record<string, sl.Sequence>; all: sl.Constants } {
  const whole: Record<string, sl.Sequence | sl.ConstantArray> = {}, streamed: Record<string, sl.Sequence> = {};
  for (const kind of ['constant', 'sequence', 'stream'] as const) {
    for (const arg of flags[kind] ?? []) {
      const m = /^([^=]+)=(.+)$/.exec(arg);
      if (!m) throw new UsageError(`--${kind}: expected name=file (e.g. --${kind} speaker=speaker.npy), got ${JSON.stringify(arg)}`);
      const [, name, path] = m as unknown as [string, string, string];
      if (name in whole || name in streamed) throw new UsageError(`--${kind} ${name}: the constant ${JSON.stringify(name)} is given twice`);
      const ext = extname(path).toLowerCase();
      if (ext !== '.npy' && ext !== '.json') throw new UsageError(`--${kind} ${name}: expected a .npy or .json file, got ${JSON.stringify(path)}`);
      const bytes = readFile(path, `constant ${name}`);
      const { shape, data } = ext === '.npy' ? readNpy(bytes) : jsonArray(path, bytes);
      if (kind === 'constant') {
        if (shape.length < 1) throw new sl.SeqLayersError('BAD_INPUT', `constant ${name}: expected an array [batch, ...], got a scalar`);
        whole[name] = { values: data, shape: [...shape] };
        continue;
      }
      if (shape.length < 2) throw new sl.SeqLayersError('BAD_INPUT', `--${kind} ${name}: expected a Sequence [batch, time, ...], got shape [${shape.join(', ')}]`);
      const seq = sl.Sequence.fromValues(data, [...shape], data instanceof Int32Array ? 'int32' : 'float32');
      if (kind === 'sequence') whole[name] = seq;
      else streamed[name] = seq;
    }
  }
  return { whole, streamed, all: { ...whole, ...streamed } };
}

/** A JSON input: nested arrays (row-major), or {"shape": [...], "values": [...]}. */
function jsonArray(path: string, bytes: Uint8Array): { shape: number[]; data: Float32Array } {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new sl.SeqLayersError('BAD_INPUT', `${path} is not valid JSON: ${(e as Error).message}`);
  }
  const badShape = () => new sl.SeqLayersError('BAD_INPUT', `${path}: expected nested arrays of numbers with equal lengths, or {"shape": [...], "values": [...]}`);
  const tooDeep = (rank: number) => new sl.SeqLayersError('BAD_INPUT', `${path}: expected an array of at most ${MAX_RANK} axes, got ${rank}`);
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    const { shape, values } = v as { shape?: unknown; values?: unknown };
    if (!Array.isArray(shape) || !Array.isArray(values) || !shape.every((d) => Number.isInteger(d) && d >= 0) || shape.reduce((a: number, b: number) => a * b, 1) !== values.length || !values.every((x) => typeof x === 'number')) throw badShape();
    if (shape.length > MAX_RANK) throw tooDeep(shape.length);
    return { shape, data: Float32Array.from(values as number[]) };
  }
  if (!Array.isArray(v)) throw badShape();
  const shape: number[] = [];
  for (let a: unknown = v; Array.isArray(a); a = a[0]) shape.push(a.length);
  // The walk below recurses once per axis.
  if (shape.length > MAX_RANK) throw tooDeep(shape.length);
  // Row-major, every array at depth d of length shape[d] and numbers only at the last depth.
  const flat: number[] = [];
  const walk = (a: unknown, d: number): boolean => {
    if (d < shape.length) return Array.isArray(a) && a.length === shape[d] && a.every((x) => walk(x, d + 1));
    if (typeof a !== 'number') return false;
    flat.push(a);
    return true;
  };
  if (!walk(v, 0)) throw badShape();
  return { shape, data: Float32Array.from(flat) };
}

function run(path: string, flags: Flags): void {
  const file = loadModelFile(path, flags);
  if (flags.weights === undefined) throw new UsageError('run needs --weights <file.safetensors> (bench runs without weights)');
  if (flags.input === undefined) throw new UsageError('run needs --input <file.wav|.npy|.json>');
  const constants = readConstants(flags);
  const model = buildModel(file, flags.weights, flags['weight-naming'] ?? file.weightNaming, constants.all);
  if (!model.supportsStep) throw new sl.SeqLayersError('NOT_STEPPABLE', `${path}: this model cannot stream (it has layers that only run whole sequences); nothing to run step by step`);
  const block = blockOf(flags, model, file);
  if (flags.progress && flags.quiet) throw new UsageError('--progress and --quiet: expected one of them, got both');
  const outExt = flags.out === undefined ? undefined : extname(flags.out).toLowerCase();
  if (outExt !== undefined && outExt !== '.npy' && outExt !== '.json') throw new UsageError(`--out: expected a .npy or .json file name, got ${JSON.stringify(flags.out)}`);
  const { x, batched } = readInput(flags.input, file);
  if (x.time === 0) throw new sl.SeqLayersError('BAD_INPUT', `${flags.input} holds no steps: nothing to run`);
  for (const [name, c] of Object.entries(constants.all)) {
    if (c.shape[0] !== x.batch) throw new sl.SeqLayersError('BAD_INPUT', `constant ${name}: expected a batch of ${x.batch} as the input's (its first axis), got shape [${c.shape.join(', ')}]`);
  }
  for (const [name, c] of Object.entries(constants.streamed)) {
    if (c.time !== x.time) throw new sl.SeqLayersError('BAD_INPUT', `--stream ${name}: expected ${x.time} steps as the input, got shape [${c.shape.join(', ')}]`);
  }

  // Steps over the input, then invalid blocks to flush the input latency and until layer()'s
  // length is out (a Delay's layer() holds its tail too); the first outputLatency outputs are
  // dropped (the contract that makes this equal layer()).
  const keep = model.root.layerOutputTime(x.time);
  const steps = Math.max(x.time + model.inputLatency, new sl.Fraction(1).div(model.outputRatio).ceilMul(model.outputLatency + keep));
  const flushed = x.padTime(0, Math.ceil(steps / block) * block - x.time, false);
  const blocks = flushed.time / block;
  const streamed = Object.entries(constants.streamed).map(([name, c]) => [name, c.padTime(0, flushed.time - c.time, false)] as const);
  const constantsOf = (i: number): sl.Constants => ({ ...constants.whole, ...Object.fromEntries(streamed.map(([name, c]) => [name, c.sliceTime(i * block, (i + 1) * block)])) });
  const showProgress = flags.progress || (!flags.quiet && process.stderr.isTTY && blocks >= 50);
  const state = model.initialState(x.batch, { constants: constants.whole });
  const outputs: sl.Sequence[] = [];
  const t0 = performance.now();
  let shown = 0;
  for (let i = 0; i < blocks; i++) {
    try {
      outputs.push(model.step(flushed.sliceTime(i * block, (i + 1) * block), state, { constants: constantsOf(i) }));
    } catch (e) {
      throw withStreamHint(e, constants.whole, x.time);
    }
    const now = performance.now();
    if (showProgress && (now - shown > 100 || i === blocks - 1)) {
      shown = now;
      const done = (i + 1) / blocks, width = 30;
      process.stderr.write(`\r[${'#'.repeat(Math.round(done * width)).padEnd(width, '-')}] ${(done * 100).toFixed(0).padStart(3)}% ${i + 1}/${blocks} blocks`);
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  if (showProgress) process.stderr.write('\n');
  state.dispose();
  const all = sl.Sequence.concatenate(outputs);
  const y = all.sliceTime(model.outputLatency, model.outputLatency + keep).maskInvalid();
  model.dispose();

  // complex64 values are (re, im) pairs: a trailing axis of 2 in files, both printed.
  const pairs = y.dtype === 'complex64' ? [2] : [];
  const outShape = [...(batched ? y.shape : y.shape.slice(1)), ...pairs];
  if (flags.out !== undefined) {
    const bytes = outExt === '.npy' ? writeNpy(outShape, y.values) : new TextEncoder().encode(JSON.stringify({ shape: outShape, values: Array.from(y.values), mask: Array.from(y.mask) }));
    writeFile(flags.out, 'output', bytes);
  } else {
    const row = y.values.length / (y.batch * y.time);
    const lines: string[] = [];
    for (let b = 0; b < y.batch; b++) {
      for (let t = 0; t < y.time; t++) {
        const at = (b * y.time + t) * row;
        const vals = Array.from(y.values.subarray(at, at + row), (v) => String(Number(v.toPrecision(6))));
        lines.push([...(y.batch > 1 ? [b] : []), t, ...(y.mask[b * y.time + t] ? vals : ['invalid'])].join('\t'));
      }
    }
    process.stdout.write(lines.length ? `${lines.join('\n')}\n` : '');
  }
  if (!flags.quiet) {
    const rtf = file.sampleRate ? `, real-time factor ${(seconds / (x.time / file.sampleRate)).toFixed(4)}` : '';
    process.stderr.write(`${x.time} input steps in ${blocks} steps of ${block}: ${y.time} outputs [${outShape.join(', ')}]${flags.out ? ` written to ${flags.out}` : ''} in ${seconds.toFixed(3)} s${rtf}\n`);
  }
}

// ---------------------------------------------------------------------------------------------
// bench

/** The types of the layers in a (normalized) config whose weightStorage is `storage`, in order. */
function layersStoring(config: unknown, storage: string): string[] {
  if (Array.isArray(config)) return config.flatMap((c) => layersStoring(c, storage));
  if (config === null || typeof config !== 'object') return [];
  const o = config as Record<string, unknown>;
  const own = o.weightStorage === storage && typeof o.type === 'string' ? [o.type] : [];
  return [...own, ...Object.values(o).flatMap((v) => layersStoring(v, storage))];
}

function bench(path: string, flags: Flags): void {
  const file = loadModelFile(path, flags);
  const constants = readConstants(flags);
  for (const [name, c] of Object.entries(constants.all)) {
    if (c.shape[0] !== 1) throw new sl.SeqLayersError('BAD_INPUT', `constant ${name}: expected a batch of 1 (bench steps one item), got shape [${c.shape.join(', ')}]`);
  }
  const model = buildModel(file, flags.weights, flags['weight-naming'] ?? file.weightNaming, constants.all);
  if (!model.supportsStep) throw new sl.SeqLayersError('NOT_STEPPABLE', `${path}: this model cannot step, so it has no per-step time`);
  const block = blockOf(flags, model, file);
  // Every step gets the whole constants and each streamed one's first block.
  const firstBlocks = Object.entries(constants.streamed).map(([name, c]) => {
    if (c.time < block) throw new sl.SeqLayersError('BAD_INPUT', `--stream ${name}: expected at least the ${block} steps of a block, got shape [${c.shape.join(', ')}]`);
    return [name, c.sliceTime(0, block)] as const;
  });
  const stepConstants: sl.Constants = { ...constants.whole, ...Object.fromEntries(firstBlocks) };
  const size = file.inputShape.reduce((a, b) => a * b, 1);
  const x = file.inputDtype === 'int32'
    ? sl.Sequence.fromValues(Int32Array.from({ length: block * size }, (_, i) => i % 7), [1, block, ...file.inputShape], 'int32')
    : sl.Sequence.fromValues(Float32Array.from({ length: block * size }, (_, i) => Math.sin(i * 0.37) * 0.5), [1, block, ...file.inputShape]);
  const t = model.outputRatio.floorMul(block), outSize = model.outputShape().reduce((a, b) => a * b, 1);
  const out = { values: model.outputSpec.dtype === 'int32' ? new Int32Array(t * outSize) : new Float32Array(t * outSize * (model.outputSpec.dtype === 'complex64' ? 2 : 1)), mask: new Uint8Array(t) };
  const state = model.initialState(1, { constants: constants.whole });
  const run = { constants: stepConstants };
  for (let i = 0; i < 20; i++) model.stepInto(x, state, out, run); // warm-up: JIT and caches
  const fixed = positiveInt(flags.steps, 'steps');
  const times: number[] = [];
  const start = performance.now();
  while (fixed ? times.length < fixed : times.length < 50 || (performance.now() - start < 1000 && times.length < 100_000)) {
    const t0 = performance.now();
    model.stepInto(x, state, out, run);
    times.push(performance.now() - t0);
  }
  state.dispose();
  model.dispose();
  const sorted = [...times].sort((a, b) => a - b);
  const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
  const us = (ms: number) => `${(ms * 1000).toFixed(1)} µs`;
  const mean = times.reduce((a, b) => a + b, 0) / times.length;
  const lines = [
    `${basename(path)}: ${times.length} steps of ${block} input steps (batch 1, ${sl.getRuntime().build} kernels)`,
    `per step: median ${us(q(0.5))}, p90 ${us(q(0.9))}, p99 ${us(q(0.99))}, mean ${us(mean)}`,
    `throughput: ${Math.round(1000 / mean)} steps/s, ${Math.round((block * 1000) / mean)} input steps/s`,
  ];
  if (file.sampleRate) lines.push(`real-time factor: ${(q(0.5) / ((block / file.sampleRate) * 1000)).toFixed(4)} (median step time / ${((block / file.sampleRate) * 1000).toFixed(1)} ms of audio)`);
  const storage = flags['weight-storage'];
  if (storage !== undefined) {
    const stored = layersStoring(file.config, storage);
    const counts = new Map<string, number>();
    for (const type of stored) counts.set(type, (counts.get(type) ?? 0) + 1);
    const named = [...counts].map(([type, n]) => (n > 1 ? `${n} ${type}` : type)).join(', ');
    lines.push(`weight storage ${storage}: ${stored.length ? `${named} (${stored.length} layer${stored.length === 1 ? '' : 's'}); the others as they were` : 'no layer of this model offers it'}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

// ---------------------------------------------------------------------------------------------
// convert-silero

function convertSilero(onnxPath: string, outDir: string, flags: Flags): void {
  const rate = flags['sample-rate'] === undefined ? 16000 : Number(flags['sample-rate']);
  if (rate !== 16000 && rate !== 8000) throw new UsageError(`--sample-rate: expected 16000 or 8000, got ${JSON.stringify(flags['sample-rate'])}`);
  const vad = sl.convertSileroVad(readFile(onnxPath, 'ONNX file'), { sampleRate: rate });
  const model = sl.build(vad.config, { inputShape: vad.inputShape });
  model.loadWeights(vad.weights); // checks names and shapes before anything is written
  model.dispose();
  try {
    mkdirSync(outDir, { recursive: true });
  } catch (e) {
    throw new sl.SeqLayersError('BAD_ARGUMENT', `cannot create the output folder ${JSON.stringify(outDir)}: ${(e as Error).message}`);
  }
  const name = `silero_vad_${rate / 1000}k`;
  const modelFile = { format: 'seqlayers model', source: vad.metadata.source, sample_rate: rate, input_shape: vad.inputShape, config: sl.toSnakeCase(vad.config) };
  const configPath = join(outDir, `${name}.json`), weightsPath = join(outDir, `${name}.safetensors`);
  writeFile(configPath, 'model file', `${JSON.stringify(modelFile, null, 1)}\n`);
  writeFile(weightsPath, 'weights', sl.writeSafetensors(vad.weights, vad.metadata));
  const params = Object.values(vad.weights).reduce((s, t) => s + t.data.length, 0);
  process.stdout.write(
    `Silero VAD at ${rate} Hz: chunks of ${vad.chunk} samples with ${vad.context} of context, ${params} parameters\n` +
      `wrote ${configPath}\nwrote ${weightsPath}\n` +
      `try: seqlayers run ${configPath} --weights ${weightsPath} --input speech.wav\n`,
  );
}

main(process.argv.slice(2)).catch((e: unknown) => {
  const command = process.argv[2] && COMMANDS[process.argv[2]] ? ` ${process.argv[2]}` : '';
  if (e instanceof UsageError) {
    process.stderr.write(`seqlayers${command}: ${e.message}\nRun "seqlayers help" for usage.\n`);
    process.exitCode = 2;
  } else if (e instanceof sl.SeqLayersError) {
    process.stderr.write(`seqlayers${command}: ${e.message}\n`);
    process.exitCode = 1;
  } else {
    process.stderr.write(`seqlayers${command}: unexpected error: ${(e as Error)?.stack ?? String(e)}\n`);
    process.exitCode = 1;
  }
});
