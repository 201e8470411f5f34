// Worker script for Web Workers and Deno (module workers): serves one model over Comlink.
// Released by the caller, it frees the model and closes itself.
import { expose, finalizer } from 'comlink';
import { ModelService } from './service.js';

const scope = globalThis as unknown as { close(): void };
expose(Object.assign(new ModelService(), { [finalizer]: () => scope.close() }));
