// seqlayers/workers for browsers and Deno: models in module Web Workers.
import { ModelPool, startWorkerOn, type ModelWorker, type PoolOptions, type WorkerHost, type WorkerOptions } from './client.js';

export * from './shared.js';

const host: WorkerHost = {
  concurrency: () => globalThis.navigator?.hardwareConcurrency ?? 2,
  spawn() {
    const script = new URL('./worker.js', import.meta.url);
    const worker = new Worker(script, { type: 'module' });
    return {
      endpoint: worker,
      onExit(cb) {
        // Web Workers have no exit event: an uncaught error (or a script that fails to load)
        // is the sign of a broken worker, which the caller then terminates.
        let told = false;
        const tell = (reason: string) => told || ((told = true), cb(reason));
        worker.addEventListener('error', (e) => {
          e.preventDefault(); // handled here: not an uncaught error of the page (or Deno process)
          // A script that fails to load has no message: most often a bare import (comlink) that
          // the page's import map cannot resolve, as import maps do not reach workers.
          tell(`threw: ${e.message || `the worker script ${script} failed to load (its imports, e.g. 'comlink', must resolve inside a worker: bundle it, as import maps do not reach workers)`}`);
        });
        worker.addEventListener('messageerror', () => tell('sent a message that could not be read'));
      },
      terminate: () => worker.terminate(),
      async finish() {
        worker.terminate();
      },
    };
  },
};

/** Starts a module Web Worker running the model; the weights' ArrayBuffer is transferred to it. */
export function startWorker(opts: WorkerOptions): Promise<ModelWorker> {
  return startWorkerOn(host, opts);
}

/** Starts a pool of Web Workers running the model (default: navigator.hardwareConcurrency). */
export function createPool(opts: PoolOptions): Promise<ModelPool> {
  return ModelPool.create(host, opts);
}
