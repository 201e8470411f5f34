// Runs a model on a stream of audio render quanta: a ring gathers the quantum-sized input into
// the model's blocks, and a FIFO, primed with just enough silence, returns a full quantum every
// time. Host-independent (the AudioWorklet processor drives it; tests drive it in Node) and
// allocation-free per quantum: every buffer is made in the constructor.
import { SeqLayersError, show } from '../errors.js';
import type { Constants } from '../layer.js';
import { Model, type RunOptions, type State, type StepOutput } from '../model.js';
import { Sequence } from '../sequence.js';
import { constantsFromWire, constantsToWire } from '../workers/protocol.js';

const gcd = (a: number, b: number): number => (b ? gcd(b, a % b) : a);

export interface AdapterOptions {
  /** Frames per render quantum (128 unless the context was made with a renderSizeHint; at most MAX_QUANTUM, 65536). */
  quantum: number;
  /**
   * Frames per model step: a multiple of the model's block size (default: the smallest such
   * multiple >= quantum). The ring adds blockFrames - gcd(blockFrames, quantum) frames of latency.
   */
  blockFrames?: number;
  /**
   * Constants for the whole stream (batch 1), given to initialState and to every step: e.g. a
   * conditioning vector, or a source a cross attention projects once. The adapter keeps a copy.
   */
  constants?: Constants;
}

/** Most frames a render quantum may have: 65536 (Web Audio's own are 128, or a renderSizeHint). */
export const MAX_QUANTUM = 1 << 16;

/** A channel of one render quantum, or none (silence in, skipped out). */
const fitsQuantum = (a: unknown, q: number) => a === undefined || (a instanceof Float32Array && a.length === q);

const badQuantum = (what: string, q: number, got: unknown) =>
  new SeqLayersError('BAD_INPUT', `audio: expected ${what} as Float32Arrays of ${q} frames (one render quantum), got ${show(got)}`);

/** A private copy of constants (checked as step() checks them): the caller may edit or transfer its own. */
const copyConstants = (c: Constants, what: string): Constants => constantsFromWire(constantsToWire(c, what, true));

export class BlockAdapter {
  /** Frames per model step. */
  readonly blockFrames: number;
  /** Output frame n is the model's layer() output at input frame n - latency; silence before, and at any invalid frame. */
  readonly latency: number;
  readonly inChannels: number;
  readonly outChannels: number;
  /** Frames per render quantum: every process() call takes and fills this many. */
  readonly quantum: number;
  private readonly state: State;
  private readonly x: Sequence;
  private readonly out: StepOutput;
  /** The options of every step (made once: nothing is allocated per quantum). */
  private readonly run: RunOptions;
  private filled = 0; // frames of the current block gathered so far
  private readonly fifo: Float32Array; // interleaved output frames, a ring of `capacity`
  private readonly capacity: number;
  private head = 0; // next frame to play
  private count: number; // frames queued

  constructor(
    private readonly model: Model,
    opts: AdapterOptions,
  ) {
    const badConfig = (msg: string) => new SeqLayersError('BAD_CONFIG', `audio: ${msg}`);
    const badArgument = (msg: string) => new SeqLayersError('BAD_ARGUMENT', `audio: ${msg}`);
    if (!(model instanceof Model)) throw badArgument(`expected a Model (from build()), got ${show(model)}`);
    if (opts === null || typeof opts !== 'object') throw badArgument(`expected options { quantum, blockFrames?, constants? }, got ${show(opts)}`);
    const { inputSpec, outputSpec } = model;
    if (inputSpec.shape.length !== 1 || inputSpec.dtype !== 'float32') throw badConfig(`expected a model input of [channels] float32, got ${show(inputSpec.shape)} ${inputSpec.dtype}`);
    if (outputSpec.shape.length !== 1 || outputSpec.dtype !== 'float32') throw badConfig(`expected a model output of [channels] float32, got ${show(outputSpec.shape)} ${outputSpec.dtype}`);
    if (model.outputRatio.num !== model.outputRatio.den) throw badConfig(`expected output ratio 1 (one output frame per input frame), got ${model.outputRatio}`);
    if (!model.supportsStep) throw badConfig('the model cannot step');
    const q = opts.quantum;
    if (!Number.isInteger(q) || q < 1 || q > MAX_QUANTUM) throw badArgument(`expected quantum (frames per render quantum) to be an integer from 1 to ${MAX_QUANTUM}, got ${show(q)}`);
    this.quantum = q;
    const block = model.blockSize;
    const n = opts.blockFrames ?? block * Math.ceil(q / block);
    if (!Number.isInteger(n) || n < 1 || n % block !== 0) throw badArgument(`expected blockFrames to be a positive multiple of the block size ${block}, got ${show(opts.blockFrames)}`);
    this.blockFrames = n;
    this.inChannels = inputSpec.shape[0]!;
    this.outChannels = outputSpec.shape[0]!;
    // Before the first step the FIFO must cover every quantum; after it, output arrives N frames
    // at a time against q frames taken: the largest shortfall is N - gcd(N, q).
    const prime = n - gcd(n, q);
    this.latency = prime + model.outputLatency;
    this.capacity = prime + n + q;
    this.fifo = new Float32Array(this.capacity * this.outChannels);
    this.count = prime;
    this.run = { constants: opts.constants && copyConstants(opts.constants, 'audio') };
    this.state = model.initialState(1, this.run);
    this.x = new Sequence(new Float32Array(n * this.inChannels), new Uint8Array(n).fill(1), [1, n, this.inChannels]);
    this.out = { values: new Float32Array(n * this.outChannels), mask: new Uint8Array(n) };
    try {
      this.trial(this.run);
    } catch (e) {
      this.state.dispose();
      throw e;
    }
  }

  /**
   * Replaces the constants of every later step (e.g. another speaker's conditioning vector),
   * after a trial step with them; refused ones (with their code) leave the current ones.
   */
  setConstants(constants: Constants): void {
    this.checkLive('setConstants');
    const own = copyConstants(constants, 'setConstants');
    this.trial({ constants: own });
    this.run.constants = own;
  }

  // One block of silence on a copy of the state: constants the steps need but lack (or of the
  // wrong shape) are refused here, with their code, rather than on the render thread. The
  // output buffer is rewritten by the next step anyway.
  private trial(run: RunOptions): void {
    const copy = this.state.clone();
    try {
      this.model.stepInto(this.x, copy, this.out, run);
    } finally {
      copy.dispose();
    }
  }

  /**
   * One quantum: input[c] and output[c] are planar channels of `quantum` frames. A missing input
   * or input channel (nothing connected) counts as silence; a missing output channel is skipped.
   * Arrays of another type or length are BAD_INPUT, before anything is taken; after dispose()
   * (of the adapter or its model) every call is DISPOSED, the FIFO left unplayed.
   */
  process(input: readonly Float32Array[] | undefined, output: readonly Float32Array[]): void {
    this.checkLive('process');
    this.checkQuantum(input, output);
    const frames = this.quantum;
    const cin = this.inChannels, cout = this.outChannels, n = this.blockFrames;
    const xv = this.x.values;
    for (let i = 0; i < frames; ) {
      const take = Math.min(frames - i, n - this.filled);
      for (let c = 0; c < cin; c++) {
        const src = input?.[c];
        for (let k = 0; k < take; k++) xv[(this.filled + k) * cin + c] = src ? src[i + k]! : 0;
      }
      this.filled += take;
      i += take;
      if (this.filled === n) {
        this.model.stepInto(this.x, this.state, this.out, this.run);
        this.filled = 0;
        const ov = this.out.values, om = this.out.mask;
        let w = (this.head + this.count) % this.capacity;
        for (let t = 0; t < n; t++) {
          // Invalid frames (the warm-up of a model with output latency) play as silence.
          for (let c = 0; c < cout; c++) this.fifo[w * cout + c] = om[t] ? ov[t * cout + c]! : 0;
          if (++w === this.capacity) w = 0;
        }
        this.count += n;
      }
    }
    for (let t = 0; t < frames; t++) {
      for (let c = 0; c < cout; c++) {
        const dst = output[c];
        if (dst) dst[t] = this.fifo[this.head * cout + c]!;
      }
      if (++this.head === this.capacity) this.head = 0;
    }
    this.count -= frames;
  }

  // Allocates nothing unless it refuses (it runs every quantum).
  private checkQuantum(input: readonly Float32Array[] | undefined, output: readonly Float32Array[]): void {
    const q = this.quantum;
    if (input !== undefined) {
      if (!Array.isArray(input)) throw badQuantum('the input channels', q, input);
      for (let c = 0; c < this.inChannels; c++) if (!fitsQuantum(input[c], q)) throw badQuantum(`input channel ${c}`, q, input[c]);
    }
    if (!Array.isArray(output) || !(output[0] instanceof Float32Array)) throw badQuantum('the output channels', q, output);
    for (let c = 0; c < this.outChannels; c++) if (!fitsQuantum(output[c], q)) throw badQuantum(`output channel ${c}`, q, output[c]);
  }

  // Checked first: a disposed adapter would otherwise play the frames its FIFO still holds
  // until its next step refused the state.
  private checkLive(what: string): void {
    if (this.state.disposed) throw new SeqLayersError('DISPOSED', `audio: ${what}: this adapter was disposed`);
    if (this.model.isDisposed) throw new SeqLayersError('DISPOSED', `audio: ${what}: the model of this adapter was disposed`);
  }

  /** Frees the stream state (the model stays); process and setConstants are DISPOSED afterwards. */
  dispose(): void {
    this.state.dispose();
  }
}
