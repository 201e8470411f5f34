// seqlayers/audio: a model inside an AudioWorklet, run synchronously in the render thread.
// The main thread compiles the kernels and hands them, with the config and weights, to the
// processor (processor.ts), which steps the model on every render quantum.
import type { LayerConfig } from '../config.js';
import { SeqLayersError, show } from '../errors.js';
import { build as buildModel, type WeightNaming } from '../model.js';
import { Runtime, type KernelBuild } from '../runtime/runtime.js';
import type { Constants } from '../layer.js';
import { constantsToWire, kernelsFor, reviveError } from '../workers/protocol.js';
import type { NodeMessage, ProcessorMessage, ProcessorOptions } from './protocol.js';

export { BlockAdapter, MAX_QUANTUM } from './adapter.js';
export type { AdapterOptions } from './adapter.js';

/** URL of the processor module, for context.audioWorklet.addModule (createModelNode adds it). */
export const processorUrl = new URL('./processor.js', import.meta.url);

/**
 * Most channels a node's input or output may carry: the Web Audio spec requires at least 32,
 * and Chromium, Firefox and Safari allow no more. More make the AudioWorkletNode constructor
 * throw NotSupportedError, and an input of 33 channels crashed Chromium's renderer.
 */
const MAX_CHANNELS = 32;

export interface ModelNodeOptions {
  /** The model's config (JSON data); its input is [channels] of samples, its output ratio 1, its output [1 to 32 channels]. */
  config: LayerConfig | object;
  /** Model input channels as [channels], 1 to 32 (default [1]: mono). */
  inputShape?: readonly number[];
  /** safetensors bytes (cloned into the worklet). */
  weights?: Uint8Array;
  /** How `weights` names its tensors (default 'seqlayers'; 'flax' for the reference's variables, see WeightNaming). */
  weightNaming?: WeightNaming;
  seed?: number;
  /** Compiled kernels; default: those of this thread's runtime after sl.init(), else compiled here. */
  module?: WebAssembly.Module;
  /** Kernel build to compile when `module` is absent: 'auto', 'simd' or 'relaxed'. */
  build?: 'auto' | KernelBuild;
  /** The worklet runtime's WebAssembly memory budget in bytes. */
  maxMemoryBytes?: number;
  /** Frames per model step (a multiple of the model's block size; default: the smallest one >= 128). */
  blockFrames?: number;
  /**
   * Constants for the node's whole life (batch 1), given to build, to the state and to every
   * step (cloned into the worklet): e.g. a conditioning vector such as a speaker embedding.
   */
  constants?: Constants;
}

export interface ModelNode {
  /** Connect it like any node: input [channels], output [model output channels]. */
  readonly node: AudioWorkletNode;
  /** Output frame n is the model's layer() output at input frame n - latency; silence before, and at any invalid frame. */
  readonly latency: number;
  readonly blockFrames: number;
  readonly build: KernelBuild;
  /** WebAssembly memory of the worklet's runtime, in bytes. */
  readonly memoryBytes: number;
  /** Rejects with the coded error if the processor fails while rendering (then it outputs silence). */
  readonly failed: Promise<never>;
  /**
   * Replaces the constants of the steps after the current one (e.g. another speaker's
   * conditioning vector; the same keys and shapes). Resolves once the processor took them, or
   * rejects with their coded error, the node keeping the ones it had.
   */
  setConstants(constants: Constants): Promise<void>;
  /** Frees the model in the worklet; the node outputs nothing afterwards. Disconnect it too. */
  dispose(): void;
}

/**
 * Adds the processor module to the context (once), builds the model in the worklet and
 * resolves when it is ready, or rejects with its coded error (e.g. BAD_CONFIG).
 */
export async function createModelNode(context: BaseAudioContext, opts: ModelNodeOptions): Promise<ModelNode> {
  if (opts === null || typeof opts !== 'object') throw new SeqLayersError('BAD_ARGUMENT', `createModelNode: expected options { config, inputShape?, ... }, got ${show(opts)}`);
  if (opts.inputShape !== undefined && !Array.isArray(opts.inputShape)) {
    throw new SeqLayersError('BAD_ARGUMENT', `createModelNode: expected inputShape as [channels], got ${show(opts.inputShape)}`);
  }
  const inputShape = [...(opts.inputShape ?? [1])];
  const constants = opts.constants && constantsToWire(opts.constants, 'createModelNode');
  const [module] = await Promise.all([kernelsFor(opts), context.audioWorklet.addModule(processorUrl)]);
  // The node's output channel count is fixed at construction: build the model here once to learn
  // it (and to report a bad config with its code before touching the audio graph).
  const probe = buildModel(opts.config, { inputShape, runtime: new Runtime(module, opts.maxMemoryBytes), constants: opts.constants });
  const outputChannels = probe.outputSpec.shape[0] ?? 1;
  probe.dispose();
  const inputChannels = inputShape[0] ?? 1;
  const fits = (channels: number) => channels >= 1 && channels <= MAX_CHANNELS;
  if (!fits(inputChannels)) {
    throw new SeqLayersError('BAD_ARGUMENT', `createModelNode: expected inputShape [channels] with 1 to ${MAX_CHANNELS} channels (Web Audio's limit per node), got ${show(inputShape)}`);
  }
  if (!fits(outputChannels)) {
    throw new SeqLayersError('BAD_CONFIG', `createModelNode: expected a model output of 1 to ${MAX_CHANNELS} channels (Web Audio's limit per node), got ${show(probe.outputSpec.shape)}`);
  }
  const processorOptions: ProcessorOptions = {
    module,
    config: opts.config,
    inputShape,
    weights: opts.weights,
    weightNaming: opts.weightNaming,
    seed: opts.seed,
    maxMemoryBytes: opts.maxMemoryBytes,
    blockFrames: opts.blockFrames,
    constants,
  };
  let node: AudioWorkletNode;
  try {
    node = new AudioWorkletNode(context, 'seqlayers-model', {
      numberOfInputs: 1,
      numberOfOutputs: 1,
      channelCount: inputChannels,
      channelCountMode: 'explicit',
      outputChannelCount: [outputChannels],
      processorOptions,
    });
  } catch (e) {
    // The browser refused the node (e.g. a channel count past its own limit, or options it cannot clone).
    if (!(e instanceof DOMException)) throw e;
    throw new SeqLayersError('BAD_ARGUMENT', `createModelNode: expected the browser to make the AudioWorkletNode (${inputChannels} input channels, ${outputChannels} output channels), got ${e.name}: ${e.message}`);
  }
  let failWith!: (e: SeqLayersError) => void;
  const failed = new Promise<never>((_, reject) => (failWith = reject));
  failed.catch(() => {});
  const answers = new Map<number, { resolve: () => void; reject: (e: SeqLayersError) => void }>();
  let nextId = 1;
  /** Why the processor will answer no more messages (it failed, or the node was disposed). */
  let gone: SeqLayersError | null = null;
  const ready = await new Promise<Extract<ProcessorMessage, { type: 'ready' }>>((resolve, reject) => {
    node.port.onmessage = (ev: MessageEvent<ProcessorMessage>) => {
      const m = ev.data;
      if (m.type === 'ready') resolve(m);
      else if (m.type === 'constants') {
        const answer = answers.get(m.id);
        answers.delete(m.id);
        if (m.refused === undefined) answer?.resolve();
        else answer?.reject(reviveError(new Error(m.refused)));
      } else {
        const e = reviveError(new Error(m.message));
        reject(e);
        failWith(e);
        gone ??= e;
        for (const a of answers.values()) a.reject(e);
        answers.clear();
      }
    };
    node.onprocessorerror = () => reject(new SeqLayersError('WORKER_FAILED', 'the seqlayers-model processor failed to start'));
  });
  return {
    node,
    latency: ready.latency,
    blockFrames: ready.blockFrames,
    build: ready.build,
    memoryBytes: ready.memoryBytes,
    failed,
    setConstants(c: Constants): Promise<void> {
      if (gone) return Promise.reject(gone);
      let wire;
      try {
        wire = constantsToWire(c, 'setConstants');
      } catch (e) {
        return Promise.reject(e);
      }
      const id = nextId++;
      const answered = new Promise<void>((resolve, reject) => answers.set(id, { resolve, reject }));
      node.port.postMessage({ type: 'constants', id, constants: wire } satisfies NodeMessage);
      return answered;
    },
    dispose: () => {
      gone ??= new SeqLayersError('DISPOSED', 'setConstants: the node was disposed');
      node.port.postMessage({ type: 'dispose' } satisfies NodeMessage);
    },
  };
}
