// What both seqlayers/workers entries export besides startWorker and createPool.
export { ModelPool, ModelStream, ModelWorker } from './client.js';
export type { ModelInfo, OpenOptions, PoolOptions, PushOptions, WorkerOptions } from './client.js';
