// Runs a model on a stream of audio render quanta: a ring gathers the quantum-sized input into
// the model's blocks, and a FIFO, primed with just enough silence, returns a full quantum every
// time. Host-independent (the AudioWorklet processor drives it; tests drive it in Node) and
// allocation-free per quantum: every buffer is made in the constructor.
import { SeqLayersError, show } from '../errors.js';
import type { Constants } from '../layer.js';
import type { Model, RunOptions, State, StepOutput } from '../model.js';
import { Sequence } from '../sequence.js';

const gcd = (a: number, b: number): number => (b ? gcd(b, a % b) : a);

export interface AdapterOptions {
  /** Frames per render quantum (128 unless the context was made with a renderSizeHint). */
  quantum: number;
  /**
   * Frames per model step: a multiple of the model's block size (default: the smallest such
   * multiple >= quantum). The ring adds blockFrames - gcd(blockFrames, quantum) frames of latency.
   */
  blockFrames?: number;
  /**
   * Constants for the whole stream (batch 1), given to initialState and to every step: e.g. a
   * conditioning vector, or a source a cross attention projects once.
   */
  constants?: Constants;
}

export class BlockAdapter {
  /** Frames per model step. */
  readonly blockFrames: number;
  /** Output frame n is the model's layer() output at input frame n - latency; silence before, and at any invalid frame. */
  readonly latency: number;
  readonly inChannels: number;
  readonly outChannels: number;
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
    const bad = (msg: string) => new SeqLayersError('BAD_CONFIG', `audio: ${msg}`);
    const { inputSpec, outputSpec } = model;
    if (inputSpec.shape.length !== 1 || inputSpec.dtype !== 'float32') throw bad(`expected a model input of [channels] float32, got ${show(inputSpec.shape)} ${inputSpec.dtype}`);
    if (outputSpec.shape.length !== 1 || outputSpec.dtype !== 'float32') throw bad(`expected a model output of [channels] float32, got ${show(outputSpec.shape)} ${outputSpec.dtype}`);
    if (model.outputRatio.num !== model.outputRatio.den) throw bad(`expected output ratio 1 (one output frame per input frame), got ${model.outputRatio}`);
    if (!model.supportsStep) throw bad('the model cannot step');
    const q = opts.quantum;
    const block = model.blockSize;
    const n = opts.blockFrames ?? block * Math.ceil(q / block);
    if (!Number.isInteger(n) || n < 1 || n % block !== 0) throw bad(`expected blockFrames to be a positive multiple of the block size ${block}, got ${show(opts.blockFrames)}`);
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
    this.run = { constants: opts.constants };
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
    this.trial({ constants });
    this.run.constants = constants;
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
   * (nothing connected) counts as silence.
   */
  process(input: readonly Float32Array[] | undefined, output: readonly Float32Array[]): void {
    const frames = output[0]!.length;
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

  /** Frees the stream state (the model stays). */
  dispose(): void {
    this.state.dispose();
  }
}
