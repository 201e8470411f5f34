// The worker side of seqlayers/workers: one model per worker, any number of streams (each a
// State), stepped synchronously in the order calls arrive. Host-independent: worker.ts and
// worker-node.ts expose it over Comlink.
import { SeqLayersError } from '../errors.js';
import '../layers/index.js';
import { build, type Model, type State } from '../model.js';
import { initSync } from '../runtime/runtime.js';
import { readSafetensors } from '../weights/safetensors.js';
import { transfer } from 'comlink';
import { constantsFromWire, decodeStepBatch, encodeStepOutcomes, fromWire, type ModelInfo, type ServiceApi, type ServiceInit, type StepBatch, type StepBatchReply, type StepCall, type StepOutcome, type StepReply, type WireConstants, type WireSequence } from './protocol.js';

export class ModelService implements ServiceApi {
  private model: Model | null = null;
  private readonly streams = new Map<number, State>();
  private nextStream = 1;
  /** Set once a layer failed with an uncoded error: memory may be inconsistent, so refuse work. */
  private broken: string | null = null;

  async init(o: ServiceInit): Promise<ModelInfo> {
    for (const url of o.layerModules ?? []) {
      try {
        await import(url);
      } catch (e) {
        throw new SeqLayersError('BAD_ARGUMENT', `layerModules: could not import ${JSON.stringify(url)}: ${(e as Error).message}`);
      }
    }
    return this.guard(() => {
      if (this.model) throw new SeqLayersError('BAD_ARGUMENT', 'init: this worker already runs a model');
      const rt = initSync({ module: o.module, maxMemoryBytes: o.maxMemoryBytes });
      const model = build(o.config, { inputShape: o.inputShape, inputDtype: o.inputDtype, seed: o.seed, constants: o.constants && constantsFromWire(o.constants) });
      try {
        if (o.weights) model.loadWeights(readSafetensors(o.weights), { naming: o.weightNaming });
      } catch (e) {
        model.dispose();
        throw e;
      }
      this.model = model;
      return {
        blockSize: model.blockSize,
        outputRatio: [model.outputRatio.num, model.outputRatio.den],
        inputLatency: model.inputLatency,
        outputLatency: model.outputLatency,
        outputShape: [...model.outputShape()],
        build: rt.build,
        memoryBytes: model.rt.memory.buffer.byteLength,
      };
    });
  }

  open(batch: number, snapshot?: Uint8Array, constants?: WireConstants): { stream: number; stateBytes: number } {
    return this.guard(() => {
      const model = this.live();
      const state = snapshot ? model.restoreState(snapshot) : model.initialState(batch, { constants: constants && constantsFromWire(constants) });
      if (state.batch !== batch) {
        state.dispose();
        throw new SeqLayersError('BAD_SNAPSHOT', `open: the snapshot holds ${state.batch} batch items, the stream was opened for ${batch}`);
      }
      const id = this.nextStream++;
      this.streams.set(id, state);
      return { stream: id, stateBytes: state.bytes };
    });
  }

  steps(batch: StepBatch): StepBatchReply {
    const outcomes = decodeStepBatch(batch).map((call): StepOutcome => {
      try {
        return { reply: this.step(call) };
      } catch (e) {
        return { error: (e as Error).message };
      }
    });
    const reply = encodeStepOutcomes(outcomes);
    return transfer(reply, [reply.arrays.data]);
  }

  private step({ stream, blocks, req }: StepCall): StepReply {
    return this.guard(() => {
      const model = this.live();
      const state = this.streams.get(stream);
      if (!state) throw new SeqLayersError('CLOSED', `step: stream ${stream} is not open in this worker`);
      const outputs: WireSequence[] = [];
      // A push is all or nothing (the client drops a refused push and goes on from the state
      // before it): with several blocks, a later one refused would leave the earlier ones
      // applied, so they run on a copy that replaces the state only when every block passed.
      const target = blocks.length > 1 ? state.clone() : state;
      try {
        for (let i = 0; i < blocks.length; i++) {
          const c = req.constants?.[i];
          const y = model.step(fromWire(blocks[i]!), target, c ? { constants: constantsFromWire(c) } : undefined);
          if (!req.discard) outputs.push(y); // packed into the reply (encodeStepOutcomes)
        }
      } catch (e) {
        if (target !== state) target.dispose();
        else if (e instanceof SeqLayersError && state.interrupted !== null) {
          // A one-block push runs on the state itself (a copy per push would cost more than
          // the step), so a refusal after the layers began writing leaves it interrupted. The
          // state is discarded and the client told: it rebuilds the stream from its last
          // snapshot and log (see ModelStream.lost), as it does after a worker's death.
          state.dispose();
          this.streams.delete(stream);
          return { outputs: [], lost: e.message };
        }
        throw e;
      }
      if (target !== state) {
        state.dispose();
        this.streams.set(stream, target);
      }
      return req.snapshot ? { outputs, snapshot: target.toBytes() } : { outputs };
    });
  }

  close(stream: number): void {
    this.streams.get(stream)?.dispose();
    this.streams.delete(stream);
  }

  dispose(): void {
    for (const s of this.streams.values()) s.dispose();
    this.streams.clear();
    this.model?.dispose();
    this.model = null;
  }

  private live(): Model {
    if (this.broken) throw new SeqLayersError('WORKER_FAILED', `this worker stopped serving after an earlier failure: ${this.broken}`);
    if (!this.model) throw new SeqLayersError('NOT_INITIALIZED', 'the worker has no model yet (init was not called)');
    return this.model;
  }

  // Coded errors are the caller's (bad input, bad snapshot) and leave the worker usable. Anything
  // else (a WebAssembly trap, a bug in a layer) may have left a state half-written, so the worker
  // reports WORKER_FAILED and serves nothing more; callers move its streams elsewhere.
  private guard<T>(f: () => T): T {
    try {
      return f();
    } catch (e) {
      if (e instanceof SeqLayersError) throw e;
      const err = e as Error;
      this.broken = `${err?.name ?? 'Error'}: ${err?.message ?? String(e)}`;
      throw new SeqLayersError('WORKER_FAILED', `a layer failed inside the worker (${this.broken})`);
    }
  }
}
