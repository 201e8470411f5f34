// The AudioWorklet processor of seqlayers/audio ("seqlayers-model"): builds the model
// synchronously in the render thread from a compiled kernel module, config and weights passed
// in processorOptions, then steps it inside process() through a BlockAdapter (no allocation per
// quantum). The worklet scope has no fetch, TextDecoder, performance or timers: nothing here or
// in what it imports uses them on this path.
import { SeqLayersError, show } from '../errors.js';
import '../layers/index.js';
import { build, type Model } from '../model.js';
import { Runtime } from '../runtime/runtime.js';
import { readSafetensors } from '../weights/safetensors.js';
import { constantsFromWire, type WireConstants } from '../workers/protocol.js';
import { BlockAdapter } from './adapter.js';
import type { NodeMessage, ProcessorMessage, ProcessorOptions } from './protocol.js';

// The AudioWorkletGlobalScope API (not in TypeScript's DOM library).
declare class AudioWorkletProcessor {
  readonly port: MessagePort;
  constructor(options?: { processorOptions?: unknown });
}
declare function registerProcessor(name: string, ctor: new (options: { processorOptions: ProcessorOptions }) => AudioWorkletProcessor): void;

class SeqLayersProcessor extends AudioWorkletProcessor {
  private model: Model | null = null;
  private adapter: BlockAdapter | null = null;

  constructor(options: { processorOptions: ProcessorOptions }) {
    super(options);
    try {
      const o = options?.processorOptions;
      if (typeof o !== 'object' || o === null) {
        throw new SeqLayersError('BAD_ARGUMENT', `seqlayers-model: expected processorOptions as createModelNode() passes them ({ module, config, inputShape, ... }), got ${show(o)}`);
      }
      const rt = new Runtime(o.module, o.maxMemoryBytes);
      const constants = o.constants && constantsFromWire(o.constants);
      this.model = build(o.config, { inputShape: o.inputShape, seed: o.seed, runtime: rt, constants });
      if (o.weights) this.model.loadWeights(readSafetensors(o.weights), { naming: o.weightNaming });
      const g = globalThis as { renderQuantumSize?: number };
      this.adapter = new BlockAdapter(this.model, { quantum: g.renderQuantumSize ?? 128, blockFrames: o.blockFrames, constants });
      this.post({
        type: 'ready',
        latency: this.adapter.latency,
        blockFrames: this.adapter.blockFrames,
        build: rt.build,
        memoryBytes: rt.memory.buffer.byteLength,
      });
    } catch (e) {
      this.fail(e);
    }
    this.port.onmessage = (ev: MessageEvent<NodeMessage>) => {
      const m = ev.data;
      if (m?.type === 'dispose') this.dispose();
      else if (m?.type === 'constants') this.setConstants(m.id, m.constants);
    };
  }

  process(inputs: Float32Array[][], outputs: Float32Array[][]): boolean {
    if (!this.adapter) return false;
    try {
      this.adapter.process(inputs[0], outputs[0]!);
      return true;
    } catch (e) {
      this.fail(e);
      return false;
    }
  }

  // Between render quanta (messages never interrupt process()): the next block steps with them.
  private setConstants(id: number, constants: WireConstants): void {
    try {
      if (!this.adapter) throw new SeqLayersError('DISPOSED', 'setConstants: the node was disposed');
      this.adapter.setConstants(constantsFromWire(constants));
      this.post({ type: 'constants', id });
    } catch (e) {
      this.post({ type: 'constants', id, refused: e instanceof SeqLayersError ? e.message : `[WORKER_FAILED] ${(e as Error)?.message ?? String(e)}` });
    }
  }

  private post(m: ProcessorMessage): void {
    this.port.postMessage(m);
  }

  // Reported through the port: a processorerror event carries no message.
  private fail(e: unknown): void {
    const err = e as Error;
    this.post({ type: 'error', message: e instanceof SeqLayersError ? err.message : `[WORKER_FAILED] ${err?.name ?? 'Error'}: ${err?.message ?? String(e)}` });
    this.dispose();
  }

  private dispose(): void {
    this.adapter?.dispose();
    this.model?.dispose();
    this.adapter = null;
    this.model = null;
    this.port.onmessage = null;
  }
}

registerProcessor('seqlayers-model', SeqLayersProcessor);
