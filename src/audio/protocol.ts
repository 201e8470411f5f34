// What the main thread and the seqlayers-model processor exchange.
import type { LayerConfig } from '../config.js';
import type { WeightNaming } from '../model.js';
import type { WireConstants } from '../workers/protocol.js';

/** processorOptions of the seqlayers-model AudioWorkletNode (structured-cloned into the worklet). */
export interface ProcessorOptions {
  /** Compiled kernels: the worklet cannot fetch, so the main thread compiles them. */
  module: WebAssembly.Module;
  config: LayerConfig | object;
  /** [channels] of the model input: the node's input is mixed to this many channels. */
  inputShape: number[];
  /** safetensors bytes; absent = the seeded random initialisation. */
  weights?: Uint8Array;
  weightNaming?: WeightNaming;
  seed?: number;
  maxMemoryBytes?: number;
  blockFrames?: number;
  /** Constants for the build, the state and every step (see ModelNodeOptions.constants). */
  constants?: WireConstants;
}

/** Messages to the processor: free the model, or replace the constants of later steps (answered by `id`). */
export type NodeMessage = { type: 'dispose' } | { type: 'constants'; id: number; constants: WireConstants };

/**
 * Messages from the processor: one 'ready' or 'error' after construction, 'error' later on a
 * failure, and the answer to each 'constants' message (refused: the coded error's message).
 */
export type ProcessorMessage =
  | { type: 'ready'; latency: number; blockFrames: number; build: 'simd' | 'relaxed'; memoryBytes: number }
  | { type: 'error'; message: string }
  | { type: 'constants'; id: number; refused?: string };
