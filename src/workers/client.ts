// The caller side of seqlayers/workers: a model running in a worker (ModelWorker), streams
// through it (ModelStream), and a pool that pins streams to workers and moves them to another
// worker, from their last snapshot, when theirs dies (ModelPool). Host-independent: index.ts
// (Web Workers, Deno) and node.ts (worker_threads) supply a WorkerHost.
import { releaseProxy, transfer, wrap, type Endpoint, type Remote } from 'comlink';
import { checkOptionKeys, type LayerConfig } from '../config.js';
import { DETACHED, SeqLayersError, show } from '../errors.js';
import type { Constants } from '../layer.js';
import { checkModelOptions, type WeightNaming } from '../model.js';
import { checkMaxMemory, type KernelBuild } from '../runtime/runtime.js';
import { Sequence, type DType } from '../sequence.js';
import { copyArray, isDetachedView } from '../util/bytes.js';
import { constantsFromWire, constantsToWire, decodeStepOutcomes, encodeStepBatch, fromWire, kernelsFor, reviveError, toWire, type ModelInfo, type ServiceApi, type StepCall, type StepReply, type WireConstants, type WireSequence } from './protocol.js';

export type { ModelInfo } from './protocol.js';

/** How a host starts the worker script (worker.js or worker-node.js) and learns of its end. */
export interface WorkerHost {
  spawn(): SpawnedWorker;
  /** Workers a pool starts when not told (the host's core count). */
  concurrency(): number;
}

export interface SpawnedWorker {
  endpoint: Endpoint;
  /** Calls back once if the worker ends or reports an uncaught error. */
  onExit(cb: (reason: string) => void): void;
  /** Ends the worker at once. */
  terminate(): void;
  /** After the API was released: resolves once the worker has ended (ending it if it lingers). */
  finish(): Promise<void>;
}

export interface WorkerOptions {
  /** The model's config: JSON data (e.g. JSON.parse of a saved config) or a config builder's result. */
  config: LayerConfig | object;
  /** Channel shape of the input, e.g. [80]. */
  inputShape: readonly number[];
  inputDtype?: DType;
  /**
   * safetensors bytes (e.g. sl.writeSafetensors(model.getWeights())). startWorker transfers
   * their ArrayBuffer, which is detached here afterwards; a pool copies them (with the config
   * and constants) to start replacement workers, so the caller's array stays the caller's.
   */
  weights?: Uint8Array;
  /** How `weights` names its tensors (default 'seqlayers'; 'flax' for the reference's variables, see WeightNaming). */
  weightNaming?: WeightNaming;
  /** Seed of the random initialisation when there are no weights (default 0). */
  seed?: number;
  /** Compiled kernels; default: those of this thread's runtime after sl.init(), else compiled here. */
  module?: WebAssembly.Module;
  /** Kernel build to compile when `module` is absent: 'auto', 'simd' or 'relaxed'. */
  build?: 'auto' | KernelBuild;
  /** Each worker's WebAssembly memory budget in bytes (as init's maxMemoryBytes). */
  maxMemoryBytes?: number;
  /** Module URLs each worker imports before building: custom layers register themselves there. */
  layerModules?: readonly string[];
  /** Build-time constants, as build() takes them (e.g. a cross attention's source: its channels size the projection). */
  constants?: Constants;
}

export interface OpenOptions {
  /** Batch items of the stream (default 1). */
  batch?: number;
  /** Start from a State.toBytes() snapshot (e.g. one from stream.snapshot()) instead of a fresh state. */
  snapshot?: Uint8Array;
  /** Pushes sent and not yet served before push() waits (default 4). Unread outputs are kept until read(). */
  maxInFlight?: number;
  /**
   * In a pool: when the worker returns a state snapshot with a push's outputs. After a worker
   * dies, the stream restarts from its last snapshot and replays the pushes acknowledged since
   * (outputs dropped) and then those not yet acknowledged, so no output is lost or repeated.
   * 'auto' (the default): once the pushes since the last snapshot (or since the stream opened)
   * hold as many bytes as the state, so snapshots cost about what copying the input does and the
   * log of pushes to replay stays about the state's size (a model with a 1 MiB KV cache and
   * 2 KB pushes: one snapshot in 512 pushes; the demo model's 3.5 KB state and 20-frame pushes:
   * every push). A number k: after every k-th push (1: after every push; larger: less copying,
   * longer replays). Ignored by a lone worker (startWorker), whose streams cannot move.
   */
  snapshotEvery?: number | 'auto';
  /**
   * Told of each worker failure the stream survived (code WORKER_FAILED), once the stream has
   * begun moving to another worker. An exception it throws is ignored: the move goes on, and the
   * failure is in `failures` either way.
   */
  onFailure?: (error: SeqLayersError) => void;
  /**
   * Constants for the stream's initial state, as initialState() takes them (e.g. the sources a
   * cross attention projects once, a conditioning vector); kept to open it again in a pool.
   */
  constants?: Constants;
}

/** Options of push() and process(). */
export interface PushOptions {
  /**
   * Constants of the push's blocks, as step() takes them: one object for every block, or a
   * list of one per block (e.g. segment ids, a streamed source's blocks). Kept with the push
   * for replays, like its blocks.
   */
  constants?: Constants | readonly (Constants | undefined)[];
}

/** A promise with its resolve and reject at hand. */
class Deferred<T> {
  resolve!: (v: T) => void;
  reject!: (e: unknown) => void;
  readonly promise = new Promise<T>((res, rej) => {
    this.resolve = res;
    this.reject = rej;
  });
}

/**
 * What a call into a worker serves: a stream and, for a step, the push (absent: the stream's
 * open or replay). When a layer fails inside the worker on that call, it is the one to blame.
 */
interface CallSource {
  stream: ModelStream;
  push?: Push;
}

/** A step call waiting to be sent in the worker's next batch. */
interface QueuedStep {
  call: StepCall;
  source: CallSource;
  done: Deferred<StepReply>;
}

/**
 * Step batches a worker may have unanswered; steps made meanwhile wait and go in one message
 * when one is answered. A message between threads cost 10–300 µs in Node on the 2-core VM
 * measured (more than a small model's step), so batching is what lets a pool serve many
 * streams; 2 keep the worker busy while a reply travels, and an idle worker gets a step at once.
 */
const MAX_BATCHES_IN_FLIGHT = 2;

/** A model in one worker. Calls run in order; a dead worker rejects them with WORKER_FAILED. */
export class ModelWorker {
  readonly streams = new Set<ModelStream>();
  /** Why the worker stopped serving, once it did. */
  failure: SeqLayersError | null = null;
  /**
   * Called once if the worker fails (set by a pool), with the call a layer failed on (null:
   * the worker died, cause unknown).
   */
  onFailure: ((e: SeqLayersError, culprit: CallSource | null) => void) | null = null;
  /**
   * The rejecters of the calls in flight, each removed when its call settles: a death rejects
   * them. (A race of every call against one never-settling death promise left a reaction on it
   * per call, about 1 KB each, kept for the worker's life.)
   */
  private readonly pending = new Set<(e: SeqLayersError) => void>();
  private closing: Promise<void> | null = null;
  /** Set once the proxy is released: the worker's end is expected from then on. */
  private released = false;
  /** Steps for the next batch, in call order. */
  private queued: QueuedStep[] = [];
  private batchesInFlight = 0;

  private constructor(
    private readonly spawned: SpawnedWorker,
    private readonly api: Remote<ServiceApi>,
    readonly info: ModelInfo,
  ) {
    spawned.onExit((reason) => this.released || this.fail(new SeqLayersError('WORKER_FAILED', `the worker ${reason}`)));
  }

  /** Starts a worker and builds the model in it; the weights' buffer is transferred. */
  static async start(host: WorkerHost, opts: WorkerOptions & { module: WebAssembly.Module }): Promise<ModelWorker> {
    // Built before the worker starts: a throw here must not leave one running (its end would
    // reject `ended` with no one listening, an unhandled rejection).
    const init = {
      constants: opts.constants && constantsToWire(opts.constants, 'startWorker'),
      module: opts.module,
      config: opts.config,
      inputShape: [...opts.inputShape],
      inputDtype: opts.inputDtype,
      weights: opts.weights,
      weightNaming: opts.weightNaming,
      seed: opts.seed,
      maxMemoryBytes: opts.maxMemoryBytes,
      layerModules: opts.layerModules ? [...opts.layerModules] : undefined,
    };
    const spawned = host.spawn();
    const api = wrap<ServiceApi>(spawned.endpoint);
    const ended = new Deferred<never>();
    spawned.onExit((reason) => ended.reject(new SeqLayersError('WORKER_FAILED', `the worker ${reason} while starting`)));
    try {
      const info = await Promise.race([api.init(transfer(init, opts.weights ? [opts.weights.buffer as ArrayBuffer] : [])), ended.promise]);
      return new ModelWorker(spawned, api, info);
    } catch (e) {
      spawned.terminate();
      await spawned.finish();
      throw reviveError(e);
    }
  }

  get alive(): boolean {
    return !this.failure && !this.closing;
  }

  /** A new stream with its own state in this worker (it fails with the worker: no pool to move to). */
  open(opts: OpenOptions = {}): Promise<ModelStream> {
    if (this.closing) return Promise.reject(new SeqLayersError('CLOSED', 'open: the worker is closed'));
    return ModelStream.open(this, null, opts);
  }

  /**
   * @internal A call into the worker, rejected with WORKER_FAILED if the worker dies first.
   * `source`: whom to blame if a layer fails inside the worker on this call.
   */
  call<T>(f: (api: Remote<ServiceApi>) => Promise<T>, source: CallSource | null = null): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.released) return Promise.reject(new SeqLayersError('CLOSED', 'the worker is closed'));
    return new Promise<T>((resolve, reject) => {
      this.pending.add(reject);
      const done = () => this.pending.delete(reject);
      let reply: Promise<T>;
      try {
        reply = f(this.api);
      } catch (e) {
        reply = Promise.reject(e);
      }
      reply.then(resolve, reject).then(done, done);
    }).catch((e) => {
      const err = reviveError(e);
      // The worker answers in order, so the first call answered WORKER_FAILED (its layer
      // failed; later calls hear that the worker stopped serving) is the one to blame.
      if (err.code === 'WORKER_FAILED') this.fail(err, source);
      throw err;
    });
  }

  /**
   * @internal A stream's step (a push, or a replay), sent with the others made meanwhile (see
   * MAX_BATCHES_IN_FLIGHT). Rejected with the call's coded error; one that failed a layer inside
   * the worker (WORKER_FAILED) is blamed on `source`, as call() does.
   */
  step(call: StepCall, source: CallSource): Promise<StepReply> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.released) return Promise.reject(new SeqLayersError('CLOSED', 'the worker is closed'));
    const done = new Deferred<StepReply>();
    this.queued.push({ call, source, done });
    if (this.batchesInFlight < MAX_BATCHES_IN_FLIGHT) this.sendSteps();
    return done.promise;
  }

  // Sends every queued step in one message; their outcomes come back in one, in order.
  private sendSteps(): void {
    if (this.queued.length === 0) return;
    const batch = this.queued;
    this.queued = [];
    this.batchesInFlight++;
    const steps = encodeStepBatch(batch.map((q) => q.call));
    this.call((api) => api.steps(transfer(steps, [steps.arrays.data]))).then(
      (reply) => {
        this.batchesInFlight--;
        this.sendSteps();
        const outcomes = decodeStepOutcomes(reply);
        for (let i = 0; i < outcomes.length; i++) {
          const o = outcomes[i]!, { done, source } = batch[i]!;
          if ('reply' in o) {
            done.resolve(o.reply);
            continue;
          }
          const err = reviveError(o.error);
          if (err.code !== 'WORKER_FAILED') {
            done.reject(err);
            continue;
          }
          // Outcomes are in call order, so the first WORKER_FAILED (its layer failed; later calls
          // hear that the worker stopped serving) is the one to blame. The worker fails once the
          // streams took the replies before it (their handlers run first), as if each call had
          // come back in a message of its own; then this call and the rest are rejected.
          queueMicrotask(() => {
            this.fail(err, source);
            for (const q of batch.slice(i)) q.done.reject(err);
          });
          break;
        }
      },
      (e: SeqLayersError) => {
        this.batchesInFlight--;
        for (const q of batch) q.done.reject(e);
      },
    );
  }

  /** Ends the worker now: calls in flight fail with WORKER_FAILED (a pool moves its streams). */
  terminate(): void {
    this.spawned.terminate();
    this.fail(new SeqLayersError('WORKER_FAILED', 'the worker was terminated'));
  }

  /** @internal Marks the worker failed (once): ends it, fails its calls, tells its owner. */
  fail(e: SeqLayersError, culprit: CallSource | null = null): void {
    if (this.failure) return;
    this.failure = e;
    this.spawned.terminate();
    for (const reject of [...this.pending]) reject(e);
    this.pending.clear();
    for (const q of this.queued.splice(0)) q.done.reject(e);
    if (this.onFailure) this.onFailure(e, culprit);
    else for (const s of [...this.streams]) s.workerFailed(e, culprit);
  }

  /**
   * Closes every stream (each drains its pushes in flight), frees the model, releases the
   * Comlink proxy and waits for the worker to end.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.all([...this.streams].map((s) => s.close().catch(() => {})));
      if (!this.failure) {
        await this.call((api) => api.dispose()).catch(() => {});
        this.released = true;
        this.api[releaseProxy]();
      }
      await this.spawned.finish();
    })();
    return this.closing;
  }
}

/** Who can give a stream a new worker (a pool); lone workers have none. */
interface StreamOwner {
  acquire(): Promise<ModelWorker>;
  forget(s: ModelStream): void;
}

type Outcome = { ok: Sequence[] } | { error: SeqLayersError };

interface Push {
  blocks: WireSequence[];
  /** The constants of each block (null: none), or none at all. */
  constants?: (WireConstants | null)[];
  /** The worker returns a snapshot with the outputs. */
  snapshot: boolean;
  acked: boolean;
  /** The stream epoch it was last sent in (-1: not yet). */
  sentIn: number;
  /** process() waits on this; push() results go to the read queue instead. */
  result: Deferred<Sequence[]> | null;
  /** The snapshot that came with the reply, if any. */
  snapshotBytes?: Uint8Array;
}

/** A push() waiting for room: admitted (turned into a Push in the log) in call order. */
interface Waiting {
  blocks: WireSequence[];
  constants?: (WireConstants | null)[];
  result: Deferred<Sequence[]> | null;
  snapshot: boolean;
  admitted: Deferred<Push>;
}

const MAX_FAILURES_WITHOUT_PROGRESS = 2;

/** Which pushes of a stream ask for a snapshot (OpenOptions.snapshotEvery; 0: none, no log). */
export class SnapshotSchedule {
  private pushes = 0;
  private bytes = 0;
  /** Bytes of the state (null: not known yet). */
  private stateBytes: number | null = null;

  constructor(readonly every: number | 'auto') {}

  /** Whether the stream keeps a log of its pushes (and copies them for it). */
  get keepsLog(): boolean {
    return this.every !== 0;
  }

  /** Whether the next push, of `bytes` bytes, asks for a snapshot (`asked`: its caller asked for one). */
  due(bytes: number, asked = false): boolean {
    this.pushes++;
    this.bytes += bytes;
    const due = asked || (this.every === 'auto' ? this.stateBytes === null || this.bytes >= this.stateBytes : this.every > 0 && this.pushes >= this.every);
    if (due) this.pushes = this.bytes = 0;
    return due;
  }

  /** The state holds `bytes` bytes: a snapshot of it arrived, or the stream opened on a worker. */
  sized(bytes: number): void {
    this.stateBytes = bytes;
  }
}

/** Bytes a push's blocks hold (values and masks). */
const pushBytes = (blocks: readonly WireSequence[]) => blocks.reduce((n, b) => n + b.values.byteLength + b.mask.byteLength, 0);

/**
 * One stream through a model in a worker: its own state, blocks in order. push() sends blocks
 * (waiting while `maxInFlight` pushes are not yet served) and read() returns each push's
 * outputs in order; process() is push + its own outputs. Outputs: one Sequence per block.
 */
export class ModelStream {
  /** Worker failures this stream survived (in a pool), oldest first. */
  readonly failures: SeqLayersError[] = [];
  private remoteId = 0;
  /** Bumped when the stream moves to another worker: replies from before are stale. */
  private epoch = 0;
  /** Snapshot the log starts from (null: the state the stream was opened with). */
  private base: Uint8Array | null;
  /** Pushes since `base`, in order: acknowledged ones first, then those in flight. */
  private readonly log: Push[] = [];
  private readonly unread: Outcome[] = [];
  private readonly readers: Deferred<Sequence[]>[] = [];
  /**
   * Pushes waiting for room, in call order. Room is handed to the first of them synchronously
   * when a push is served, and a new push goes behind them: a woken waiter cannot lose its place
   * to a push() called before it runs (which served pushes out of order).
   */
  private readonly waiting: Waiting[] = [];
  private inFlight = 0;
  private failuresInARow = 0;
  /** The move to another worker under way, if any: nothing is sent until it is done. */
  private resuming: Promise<void> | null = null;
  private error: SeqLayersError | null = null;
  private closing: Promise<void> | null = null;
  private drained: Deferred<void> | null = null;
  private readonly maxInFlight: number;
  private readonly snapshots: SnapshotSchedule;
  private readonly onFailure?: (e: SeqLayersError) => void;
  /** OpenOptions.constants, for each fresh state the stream opens (none once it has a snapshot). */
  private readonly openConstants: WireConstants | undefined;

  private constructor(
    private worker: ModelWorker,
    private readonly owner: StreamOwner | null,
    readonly batch: number,
    opts: OpenOptions,
  ) {
    // A copy: the stream restores it on a new worker after a failure, whatever the caller does with its bytes.
    this.base = opts.snapshot instanceof Uint8Array ? copyArray(opts.snapshot) : (opts.snapshot ?? null);
    this.openConstants = opts.constants && constantsToWire(opts.constants, 'open', true);
    this.maxInFlight = opts.maxInFlight ?? 4;
    this.snapshots = new SnapshotSchedule(owner ? (opts.snapshotEvery ?? 'auto') : 0); // a lone worker's stream cannot move
    this.onFailure = opts.onFailure;
  }

  /** @internal */
  static async open(worker: ModelWorker, owner: StreamOwner | null, opts: OpenOptions): Promise<ModelStream> {
    if (opts === null || typeof opts !== 'object') throw new SeqLayersError('BAD_ARGUMENT', `open: expected options as an object, got ${show(opts)}`);
    checkOptionKeys(opts, 'open', OPEN_OPTIONS);
    const batch = opts.batch ?? 1;
    if (!Number.isInteger(batch) || batch < 1) throw new SeqLayersError('BAD_ARGUMENT', `open: expected batch to be a positive integer, got ${show(batch)}`);
    const { maxInFlight, snapshotEvery } = opts;
    if (maxInFlight !== undefined && !(Number.isInteger(maxInFlight) && maxInFlight >= 1)) {
      throw new SeqLayersError('BAD_ARGUMENT', `open: expected maxInFlight to be an integer >= 1, got ${show(maxInFlight)}`);
    }
    // A pool stream needs snapshots to resume (a lone worker's stream ignores snapshotEvery).
    if (owner && snapshotEvery !== undefined && snapshotEvery !== 'auto' && !(Number.isInteger(snapshotEvery) && snapshotEvery >= 1)) {
      throw new SeqLayersError('BAD_ARGUMENT', `open: expected snapshotEvery to be 'auto' or an integer >= 1, got ${show(snapshotEvery)}`);
    }
    if (opts.onFailure !== undefined && typeof opts.onFailure !== 'function') {
      throw new SeqLayersError('BAD_ARGUMENT', `open: expected onFailure to be a function, got ${show(opts.onFailure)}`);
    }
    if (opts.snapshot instanceof Uint8Array && isDetachedView(opts.snapshot)) {
      throw new SeqLayersError('BAD_INPUT', `open: the buffer of the snapshot ${DETACHED}; pass a copy`);
    }
    const s = new ModelStream(worker, owner, batch, opts);
    try {
      await s.attach(worker);
    } catch (e) {
      // The worker died while the stream opened there: a pool has begun moving the stream
      // (workerFailed runs before the call's rejection arrives). Wait for the move rather than
      // fail the open and leave the moved stream behind, unreachable, in another worker.
      if (!s.resuming) throw e;
      await s.moved();
      if (s.error) throw s.error;
    }
    return s;
  }

  /** The model's metadata (block size, latencies, output shape). */
  get info(): ModelInfo {
    return this.worker.info;
  }

  /** Queues blocks (with their constants) for the worker; resolves once they are accepted (backpressure). */
  async push(blocks: Sequence | readonly Sequence[], opts?: PushOptions): Promise<void> {
    await this.submit(blocks, null, false, opts);
  }

  /** The outputs of the oldest unread push(), one Sequence per block, in order. */
  read(): Promise<Sequence[]> {
    const next = this.unread.shift();
    if (next) {
      return 'ok' in next ? Promise.resolve(next.ok) : Promise.reject(next.error);
    }
    if (this.error) return Promise.reject(this.error);
    if (this.closing && this.inFlight === 0) return Promise.reject(new SeqLayersError('CLOSED', 'read: the stream is closed and every output was read'));
    const d = new Deferred<Sequence[]>();
    this.readers.push(d);
    return d.promise;
  }

  /** Sends blocks (with their constants) and resolves with their outputs (not through read()). */
  process(block: Sequence, opts?: PushOptions): Promise<Sequence>;
  process(blocks: readonly Sequence[], opts?: PushOptions): Promise<Sequence[]>;
  async process(blocks: Sequence | readonly Sequence[], opts?: PushOptions): Promise<Sequence | Sequence[]> {
    const result = new Deferred<Sequence[]>();
    await this.submit(blocks, result, false, opts);
    const out = await result.promise;
    return Array.isArray(blocks) ? out : out[0]!;
  }

  /** The state after every push so far, as State.toBytes() (open({ snapshot }) resumes from it). */
  async snapshot(): Promise<Uint8Array> {
    const result = new Deferred<Sequence[]>();
    const push = await this.submit([], result, true);
    await result.promise;
    return push.snapshotBytes!.slice(); // the stream keeps its own to resume from
  }

  /**
   * Stops taking pushes, waits for those in flight, then frees the state in the worker.
   * Unread outputs stay readable; afterwards read() rejects with CLOSED.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const w of this.waiting.splice(0)) w.admitted.reject(new SeqLayersError('CLOSED', 'push: the stream was closed while this push waited for room'));
      // The pushes in flight are served first, on another worker if this one dies meanwhile; the
      // state is freed where the stream is once no move is under way (a move changes the worker
      // and the stream's id there).
      while (this.resuming || this.inFlight > 0) {
        await this.moved();
        if (this.inFlight > 0) {
          this.drained = new Deferred<void>();
          await this.drained.promise;
        }
      }
      if (!this.error && this.worker.alive) await this.worker.call((api) => api.close(this.remoteId)).catch(() => {});
      this.detach();
      const closed = new SeqLayersError('CLOSED', 'read: the stream is closed and every output was read');
      for (const r of this.readers.splice(0)) r.reject(this.error ?? closed);
    })();
    return this.closing;
  }

  // Waits for a move under way (a failed move starts the next one, or fails the stream and
  // clears the marker); the same settled promise twice means nothing more is coming, so this
  // loop cannot spin on it (an await of a settled promise never yields to the event loop).
  private async moved(): Promise<void> {
    for (let r = this.resuming; r; r = this.resuming === r ? null : this.resuming) await r;
  }

  /** @internal Fails everything unsettled with `e` and stops the stream (pool shutdown). */
  abort(e: SeqLayersError): void {
    this.fatal(e);
  }

  private async submit(blocks: Sequence | readonly Sequence[], result: Deferred<Sequence[]> | null, snapshot: boolean, opts?: PushOptions): Promise<Push> {
    if (opts !== undefined) {
      if (opts === null || typeof opts !== 'object') throw new SeqLayersError('BAD_ARGUMENT', `push: expected options as an object, got ${show(opts)}`);
      checkOptionKeys(opts, 'push', PUSH_OPTIONS);
    }
    const list = Array.isArray(blocks) ? (blocks as readonly Sequence[]) : [blocks as Sequence];
    const bad = list.findIndex((x) => !(x instanceof Sequence));
    if (bad >= 0) throw new SeqLayersError('BAD_INPUT', `push: expected a Sequence or an array of Sequences, got ${show(list[bad])}${list === blocks ? ` at index ${bad}` : ''}`);
    // Checked here, before anything is posted: a detached buffer cannot be cloned, and the
    // DataCloneError would read as the worker's failure (a lone worker would be ended for it).
    const gone = list.findIndex((x) => isDetachedView(x.values) || isDetachedView(x.mask));
    if (gone >= 0) {
      throw new SeqLayersError('BAD_INPUT', `push: the buffer of block ${gone} ${DETACHED}; push a copy of the block`);
    }
    if (this.error) throw this.error;
    if (this.closing) throw new SeqLayersError('CLOSED', 'push: the stream is closed');
    // Copies, whatever the caller does with its arrays once push() resolves: a push may wait for
    // a batch to be sent, and the log keeps it for replays.
    const w: Waiting = { blocks: list.map((x) => toWire(x, true)), constants: blockConstants(opts?.constants, list.length), result, snapshot, admitted: new Deferred<Push>() };
    this.waiting.push(w);
    this.admit();
    return w.admitted.promise;
  }

  // Admits waiting pushes, oldest first, while fewer than maxInFlight are unserved, and sends them.
  private admit(): void {
    if (this.error) return;
    let admitted = false;
    while (this.waiting.length > 0 && this.inFlight < this.maxInFlight) {
      const { blocks, constants, result, snapshot, admitted: done } = this.waiting.shift()!;
      const takeSnapshot = this.snapshots.due(pushBytes(blocks), snapshot);
      const push: Push = { blocks, constants, snapshot: takeSnapshot, acked: false, sentIn: -1, result };
      this.log.push(push);
      this.inFlight++;
      done.resolve(push);
      admitted = true;
    }
    if (admitted) this.pump();
  }

  // Sends, in order, every push not yet sent to the current worker.
  private pump(): void {
    if (this.resuming || this.error) return;
    const epoch = this.epoch, worker = this.worker, id = this.remoteId;
    for (const push of this.log) {
      if (push.acked || push.sentIn === epoch) continue;
      push.sentIn = epoch;
      worker.step({ stream: id, blocks: push.blocks, req: { snapshot: push.snapshot, discard: false, constants: push.constants } }, { stream: this, push }).then(
        (reply) => epoch === this.epoch && (reply.lost === undefined ? this.acked(push, reply) : this.lost(push, reviveError(reply.lost))),
        (e: SeqLayersError) => epoch === this.epoch && this.refused(push, e),
      );
    }
  }

  private acked(push: Push, reply: StepReply): void {
    push.acked = true;
    this.failuresInARow = 0;
    if (reply.snapshot) {
      this.snapshots.sized(reply.snapshot.byteLength);
      this.base = reply.snapshot;
      push.snapshotBytes = reply.snapshot;
      this.log.splice(0, this.log.indexOf(push) + 1);
    } else if (!this.snapshots.keepsLog) {
      this.log.splice(this.log.indexOf(push), 1);
    }
    this.settle(push, { ok: reply.outputs.map(fromWire) });
  }

  // A coded error for one push (bad input): the worker left the state as it was, so the push is
  // dropped from the log and the stream goes on.
  private refused(push: Push, e: SeqLayersError): void {
    this.log.splice(this.log.indexOf(push), 1);
    this.settle(push, { error: e });
  }

  // A coded error for one push that the worker hit after the push began writing the state: the
  // worker discarded the stream's state (StepReply.lost). The push is refused as above, and the
  // stream is rebuilt on the same worker from its last snapshot, replaying the acknowledged
  // pushes since and resending the later ones, as after a worker's death but without counting
  // a failure. This costs nothing per push; the alternative, stepping every one-block push on
  // a copy of the state (as multi-block pushes are), would copy the state on every push. A
  // lone worker's stream keeps no log (snapshotEvery 0) and cannot be rebuilt: it fails.
  private lost(push: Push, e: SeqLayersError): void {
    if (!this.owner) return this.fatal(e);
    this.log.splice(this.log.indexOf(push), 1);
    this.epoch++; // replies to the pushes sent after it (refused: no stream there) are stale
    this.detachFrom(this.worker);
    this.move(this.worker);
    this.settle(push, { error: e });
  }

  private settle(push: Push, o: Outcome): void {
    this.inFlight--;
    if (push.result) {
      if ('ok' in o) push.result.resolve(o.ok);
      else push.result.reject(o.error);
    } else {
      const reader = this.readers.shift();
      if (!reader) this.unread.push(o);
      else if ('ok' in o) reader.resolve(o.ok);
      else reader.reject(o.error);
    }
    this.admit();
    if (this.inFlight === 0 && this.drained) this.drained.resolve();
  }

  /**
   * @internal The stream's worker failed: move to another one (pool) or fail (lone worker).
   * `culprit`: the call a layer failed on, if known (else the worker died).
   */
  workerFailed(e: SeqLayersError, culprit: CallSource | null = null): void {
    this.epoch++;
    this.detachFrom(this.worker);
    if (this.error) return;
    if (!this.owner) return this.fatal(e);
    // A failure counts against the streams that may have caused it: the one whose call a layer
    // failed on, or every stream when the worker died of an unknown cause. The others move on
    // (a poison push does not take its worker's other streams down with it).
    let refused: Push | null = null;
    if ((!culprit || culprit.stream === this) && ++this.failuresInARow > MAX_FAILURES_WITHOUT_PROGRESS) {
      // A push that failed every worker it reached is refused and the stream goes on without
      // it, as after a bad input; without such a push to drop, the stream fails.
      refused = culprit?.push && this.log.includes(culprit.push) ? culprit.push : null;
      if (!refused) return this.fatal(e);
      this.log.splice(this.log.indexOf(refused), 1);
      this.failuresInARow = 0;
    }
    this.failures.push(e);
    this.move();
    if (refused) {
      const n = MAX_FAILURES_WITHOUT_PROGRESS + 1;
      this.settle(refused, { error: new SeqLayersError('WORKER_FAILED', `push refused: a layer failed on it in its worker, after ${n} worker failures of the stream in a row without progress (the last: ${e.message})`) });
    }
    try {
      this.onFailure?.(e);
    } catch {
      // The caller's callback failed; the stream is moving regardless (see OpenOptions.onFailure).
    }
  }

  // Starts moving the stream (to `same`, or to a worker the pool gives), unless it is being
  // closed with nothing in flight: then nothing is left to serve, and close() goes on where it
  // is (the state there is gone).
  private move(same?: ModelWorker): void {
    this.resuming = this.closing && this.log.every((p) => p.acked) ? null : this.resume(this.epoch, same);
  }

  // Restores the last snapshot on a new worker, replays the acknowledged pushes since (their
  // outputs were delivered: dropped), then resends those in flight. Deterministic kernels (the
  // same module everywhere) make the replayed state bit-identical.
  private async resume(epoch: number, same?: ModelWorker): Promise<void> {
    // Only failures in a row count against the stream (MAX_FAILURES_WITHOUT_PROGRESS). A push
    // acknowledged is progress; so is a completed move (reopened, replay acknowledged) when no
    // push was in flight at the failure, so an idle stream survives any number of deaths as
    // long as it finishes moving between them. A death during the move counts: the stream's
    // reopening and replay were in flight there and may be its cause (a restore that kills
    // every worker it reaches would otherwise cycle through the pool forever). With pushes in
    // flight, their acknowledgement is the progress: a push that kills every worker it reaches
    // is not retried forever (see workerFailed).
    const idle = this.log.every((p) => p.acked);
    try {
      const worker = same ?? (await this.owner!.acquire());
      if (epoch !== this.epoch) return;
      await this.attach(worker);
      if (epoch !== this.epoch) return;
      const acked = this.log.filter((p) => p.acked);
      const replay = acked.flatMap((p) => p.blocks);
      const constants = acked.some((p) => p.constants) ? acked.flatMap((p) => p.constants ?? p.blocks.map(() => null)) : undefined;
      if (replay.length) {
        const id = this.remoteId;
        const reply = await worker.step({ stream: id, blocks: replay, req: { snapshot: false, discard: true, constants } }, { stream: this }).catch((e: SeqLayersError) => {
          // A coded refusal (e.g. MEMORY_BUDGET for the copy of the state a multi-block step
          // runs on) left the state just opened there: free it, as the stream fails below.
          if (epoch === this.epoch && e.code !== 'WORKER_FAILED') worker.call((api) => api.close(id)).catch(() => {});
          throw e;
        });
        if (epoch !== this.epoch) return;
        if (reply.lost !== undefined) throw reviveError(reply.lost); // the worker discarded the state
      }
      if (idle) this.failuresInARow = 0;
      this.resuming = null;
      this.pump();
    } catch (e) {
      // A worker that dies while we attach bumps the epoch and starts another resume (its
      // failure reaches workerFailed before its rejected call reaches here); anything else ends
      // the stream.
      if (epoch === this.epoch) this.fatal(e as SeqLayersError);
    } finally {
      if (epoch === this.epoch) this.resuming = null;
    }
  }

  private async attach(worker: ModelWorker): Promise<void> {
    this.worker = worker;
    worker.streams.add(this);
    try {
      const opened = await worker.call((api) => api.open(this.batch, this.base ?? undefined, this.base ? undefined : this.openConstants), { stream: this });
      this.remoteId = opened.stream;
      this.snapshots.sized(opened.stateBytes);
    } catch (e) {
      worker.streams.delete(this);
      throw e;
    }
  }

  private detachFrom(worker: ModelWorker): void {
    worker.streams.delete(this);
  }

  private detach(): void {
    this.detachFrom(this.worker);
    this.owner?.forget(this);
  }

  private fatal(e: SeqLayersError): void {
    if (this.error) return;
    this.error = e;
    this.epoch++; // replies still to come are stale: their pushes are settled here
    for (const w of this.waiting.splice(0)) w.admitted.reject(e);
    // A move under way is stale now (the epoch moved on): nothing will clear its marker.
    this.resuming = null;
    for (const push of this.log.filter((p) => !p.acked)) this.settle(push, { error: e });
    this.log.length = 0;
    for (const r of this.readers.splice(0)) r.reject(e);
    this.detach();
  }
}

export interface PoolOptions extends WorkerOptions {
  /** Number of workers (default: the host's core count). */
  workers?: number;
}

/**
 * N workers running the same model; each stream is pinned to the least loaded worker. When a
 * worker dies (or a layer traps inside it) the pool starts a replacement and moves the
 * worker's streams, from their last snapshots, to the live workers.
 */
export class ModelPool {
  /** The live workers. */
  readonly workers: ModelWorker[] = [];
  /** Failed workers until they have ended (close() waits for them). */
  private readonly ending = new Set<Promise<void>>();
  private readonly streams = new Set<ModelStream>();
  private readonly starting = new Set<Promise<ModelWorker>>();
  private closing: Promise<void> | null = null;

  private constructor(
    private readonly host: WorkerHost,
    private readonly opts: WorkerOptions & { module: WebAssembly.Module },
  ) {}

  /** The model's metadata (block size, latencies, output shape). */
  info!: ModelInfo;

  /** @internal */
  static async create(host: WorkerHost, opts: PoolOptions): Promise<ModelPool> {
    const config = checkWorkerOptions(opts, 'createPool', POOL_OPTIONS);
    const n = opts.workers ?? host.concurrency();
    if (!Number.isInteger(n) || n < 1) throw new SeqLayersError('BAD_ARGUMENT', `createPool: expected workers to be a positive integer, got ${show(n)}`);
    const module = await kernelsFor(opts);
    // Its own copies of what replacement workers are started from, whatever the caller then
    // does with its config, weights (another checkpoint loaded into the array, or the array
    // transferred) or constants.
    const constants = opts.constants && constantsFromWire(constantsToWire(opts.constants, 'createPool', true));
    const pool = new ModelPool(host, { ...opts, module, config, weights: opts.weights && copyArray(opts.weights), constants });
    try {
      await Promise.all(Array.from({ length: n }, () => pool.startWorker()));
      pool.info = pool.workers[0]!.info;
    } catch (e) {
      await pool.close();
      throw e;
    }
    return pool;
  }

  /** Opens a stream on the least loaded worker (snapshots as OpenOptions.snapshotEvery says, 'auto' by default). */
  async open(opts: OpenOptions = {}): Promise<ModelStream> {
    if (this.closing) throw new SeqLayersError('CLOSED', 'open: the pool is closed');
    // No await before ModelStream.open pins the stream: concurrent opens see each other's load.
    const worker = this.leastLoaded() ?? (await this.acquire());
    const closed = () => new SeqLayersError('CLOSED', 'open: the pool was closed while the stream opened');
    let s: ModelStream;
    try {
      s = await ModelStream.open(worker, this.owner, opts);
    } catch (e) {
      // Its worker ended as the pool closed (terminated past the timeout, or none was left to
      // move to): the close refused it, as it refuses a stream that did open.
      throw this.closing && e instanceof SeqLayersError && e.code === 'WORKER_FAILED' ? closed() : e;
    }
    if (this.closing) {
      await s.close();
      throw closed();
    }
    this.streams.add(s);
    return s;
  }

  /**
   * Closes the pool: streams drain their pushes in flight, then workers end. Past `timeoutMs`
   * (default 10 s) workers are terminated and what is still unsettled rejects with CLOSED.
   */
  close(opts: { timeoutMs?: number } = {}): Promise<void> {
    this.closing ??= (async () => {
      await Promise.allSettled([...this.starting]);
      const graceful = Promise.all([...this.streams].map((s) => s.close().catch(() => {})));
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timedOut = await Promise.race([
        graceful.then(() => false),
        new Promise<boolean>((res) => (timer = setTimeout(() => res(true), opts.timeoutMs ?? 10_000))),
      ]);
      clearTimeout(timer);
      if (timedOut) {
        const e = new SeqLayersError('CLOSED', `the pool was closed before this push was served (drain timed out after ${opts.timeoutMs ?? 10_000} ms)`);
        for (const s of [...this.streams]) s.abort(e);
        for (const w of [...this.workers]) w.terminate();
      }
      await Promise.all([...this.workers.map((w) => w.close()), ...this.ending]);
    })();
    return this.closing;
  }

  private readonly owner: StreamOwner = {
    acquire: () => this.acquire(),
    forget: (s) => this.streams.delete(s),
  };

  private leastLoaded(): ModelWorker | undefined {
    const live = this.workers.filter((w) => w.alive);
    return live.length ? live.reduce((a, b) => (b.streams.size < a.streams.size ? b : a)) : undefined;
  }

  private acquire(): Promise<ModelWorker> {
    const live = this.leastLoaded();
    if (live) return Promise.resolve(live);
    const next = [...this.starting][0];
    if (next && !this.closing) return next;
    return Promise.reject(new SeqLayersError('WORKER_FAILED', 'no live worker in the pool to move the stream to'));
  }

  private startWorker(): Promise<ModelWorker> {
    // Each worker gets its own copy of the weights, transferred; the pool keeps the original.
    const p = ModelWorker.start(this.host, { ...this.opts, weights: this.opts.weights && copyArray(this.opts.weights) }).then((w) => {
      w.onFailure = (e, culprit) => this.workerFailed(w, e, culprit);
      this.workers.push(w);
      return w;
    });
    this.starting.add(p);
    const done = () => this.starting.delete(p);
    p.then(done, done);
    return p;
  }

  private workerFailed(w: ModelWorker, e: SeqLayersError, culprit: CallSource | null): void {
    this.workers.splice(this.workers.indexOf(w), 1);
    if (!this.closing) this.startWorker().catch(() => {});
    for (const s of [...w.streams]) s.workerFailed(e, culprit);
    const ended = w.close().then(() => void this.ending.delete(ended));
    this.ending.add(ended);
  }
}

/**
 * PushOptions.constants for the wire, one entry per block (null: none), or undefined when no
 * block has any; a list must have one entry per block.
 */
function blockConstants(c: PushOptions['constants'], blocks: number): (WireConstants | null)[] | undefined {
  if (c === undefined) return undefined;
  if (!Array.isArray(c)) {
    const w = constantsToWire(c as Constants, 'push', true);
    return Array.from({ length: blocks }, () => w);
  }
  if (c.length !== blocks) throw new SeqLayersError('BAD_ARGUMENT', `push: expected constants for each of the ${blocks} blocks, got a list of ${c.length}`);
  return c.map((k, i) => (k === undefined ? null : constantsToWire(k, `push: block ${i}`, true)));
}


// The options each call takes (Records: an option added to the type must be added here).
const WORKER_OPTIONS = Object.keys({
  config: 1, inputShape: 1, inputDtype: 1, weights: 1, weightNaming: 1, seed: 1, module: 1, build: 1, maxMemoryBytes: 1, layerModules: 1, constants: 1,
} satisfies Record<keyof WorkerOptions, 1>);
const POOL_OPTIONS = [...WORKER_OPTIONS, 'workers' satisfies keyof PoolOptions];
const OPEN_OPTIONS = Object.keys({ batch: 1, snapshot: 1, maxInFlight: 1, snapshotEvery: 1, onFailure: 1, constants: 1 } satisfies Record<keyof OpenOptions, 1>);
const PUSH_OPTIONS = Object.keys({ constants: 1 } satisfies Record<keyof PushOptions, 1>);

/**
 * What must hold before options cross to a worker, checked before any worker starts: only
 * options `what` takes, an input shape, the config as plain data (a function, such as a
 * Lambda's, cannot be posted) and the weights as bytes whose buffer is still here (start
 * transfers it, so a second start with the same array would post an empty buffer).
 */
/** Checks a worker's options before any thread starts; returns a copy of the config (what crosses to the worker). */
function checkWorkerOptions(opts: WorkerOptions, what: string, allowed: string[]): object {
  if (opts === null || typeof opts !== 'object') throw new SeqLayersError('BAD_ARGUMENT', `${what}: expected options as an object, got ${show(opts)}`);
  checkOptionKeys(opts, what, allowed);
  checkModelOptions(opts, what);
  if (opts.maxMemoryBytes !== undefined) checkMaxMemory(opts.maxMemoryBytes);
  const modules = opts.layerModules;
  if (modules !== undefined && !(Array.isArray(modules) && modules.every((m) => typeof m === 'string'))) {
    throw new SeqLayersError('BAD_ARGUMENT', `${what}: expected layerModules to be a list of module URLs (strings), got ${show(modules)}`);
  }
  const fn = findFunction(opts.config, 'config');
  if (fn) throw new SeqLayersError('BAD_CONFIG', `${what}: ${fn} is a function, which cannot cross to a worker (a Lambda layer runs only in the thread that built it)`);
  let config: object;
  try {
    config = structuredClone(opts.config);
  } catch (e) {
    throw new SeqLayersError('BAD_CONFIG', `${what}: expected a config of JSON data, which crosses to a worker; this one cannot be copied (${e instanceof Error ? e.message : String(e)})`);
  }
  if (opts.constants !== undefined) constantsToWire(opts.constants, what);
  const w = opts.weights;
  if (w === undefined) return config;
  if (!(w instanceof Uint8Array)) throw new SeqLayersError('BAD_ARGUMENT', `${what}: expected weights as the Uint8Array of a .safetensors file, got ${show(w)}`);
  if (w.buffer.byteLength === 0) {
    throw new SeqLayersError('BAD_ARGUMENT', `${what}: the weights' buffer is empty or was transferred to an earlier worker; pass weights.slice() to each start to keep a copy`);
  }
  return config;
}

/** The path of the first function inside a config, or null. */
function findFunction(v: unknown, path: string, depth = 0): string | null {
  if (typeof v === 'function') return path;
  if (typeof v !== 'object' || v === null || depth > 64) return null;
  for (const [k, child] of Object.entries(v)) {
    const found = findFunction(child, Array.isArray(v) ? `${path}[${k}]` : `${path}.${k}`, depth + 1);
    if (found) return found;
  }
  return null;
}

/** Starts one worker running the model (the weights' buffer is transferred). */
export async function startWorkerOn(host: WorkerHost, opts: WorkerOptions): Promise<ModelWorker> {
  const config = checkWorkerOptions(opts, 'startWorker', WORKER_OPTIONS);
  const module = await kernelsFor(opts);
  return ModelWorker.start(host, { ...opts, config, module });
}
