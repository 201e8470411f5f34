// The same session API in a browser: the model runs in a module Web Worker. Bundle with your
// bundler as usual (the package's `browser` condition picks the Web Worker entry).
import * as sl from 'seqlayers';
import { startWorker } from 'seqlayers/workers';

/** Streams `x` through `config` in a Web Worker, 8 steps per block; returns the outputs. */
export async function streamInWorker(config, inputShape, weights, x) {
  await sl.init(); // the worker gets this runtime's kernel module: the same build, the same results
  const worker = await startWorker({ config, inputShape, weights });
  const stream = await worker.open();
  const outputs = [];
  for (let t = 0; t < x.time; t += 8) outputs.push(await stream.process(x.sliceTime(t, t + 8)));
  await worker.close();
  return sl.Sequence.concatenate(outputs);
}
