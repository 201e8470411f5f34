// seqlayers/workers for Node: models in worker_threads (the `node` export condition).
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { ModelPool, startWorkerOn, type ModelWorker, type PoolOptions, type WorkerHost, type WorkerOptions } from './client.js';

export * from './shared.js';

/** A worker lingering this long after its API was released is terminated. */
const EXIT_GRACE_MS = 2000;

const host: WorkerHost = {
  concurrency: () => availableParallelism(),
  spawn() {
    const worker = new Worker(new URL('./worker-node.js', import.meta.url));
    let exited = false;
    const exit = new Promise<void>((res) => worker.once('exit', () => ((exited = true), res())));
    return {
      endpoint: nodeEndpoint(worker),
      onExit(cb) {
        let told = false;
        const tell = (reason: string) => told || ((told = true), cb(reason));
        worker.once('error', (e) => tell(`threw ${e.name}: ${e.message}`));
        worker.once('exit', (code) => tell(`exited with code ${code}`));
      },
      terminate: () => void worker.terminate(),
      async finish() {
        if (exited) return;
        const timer = setTimeout(() => void worker.terminate(), EXIT_GRACE_MS);
        await exit;
        clearTimeout(timer);
      },
    };
  },
};

/** Starts a worker_thread running the model; the weights' ArrayBuffer is transferred to it. */
export function startWorker(opts: WorkerOptions): Promise<ModelWorker> {
  return startWorkerOn(host, opts);
}

/** Starts a pool of worker_threads running the model (default: one per core). */
export function createPool(opts: PoolOptions): Promise<ModelPool> {
  return ModelPool.create(host, opts);
}
