// Worker script for Node worker_threads: serves one model over Comlink. Released by the caller,
// it frees the model and closes its port, so the thread ends by itself.
import { parentPort } from 'node:worker_threads';
import { expose, finalizer } from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { ModelService } from './service.js';

const port = parentPort!;
expose(Object.assign(new ModelService(), { [finalizer]: () => port.close() }), nodeEndpoint(port));
