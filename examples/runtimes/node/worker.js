// A model in a worker_thread: the caller streams blocks through it without blocking.
//   node examples/runtimes/node/worker.js
import * as sl from 'seqlayers';
import { startWorker } from 'seqlayers/workers';

await sl.init();
// A config is JSON data, and weights are safetensors bytes: both cross the thread boundary.
const config = sl.Serial([
  sl.Conv1D({ filters: 16, kernelSize: 3, padding: 'causal' }),
  sl.Relu(),
  sl.Dense({ features: 4 }),
]);
const model = sl.build(config, { inputShape: [8], seed: 1 });
const weights = sl.writeSafetensors(model.getWeights());

const worker = await startWorker({ config, inputShape: [8], weights }); // weights are transferred
const stream = await worker.open();

const x = sl.randomSequence([1, 64, 8], { randomLengths: false });
const outputs = [];
outputs.push(await stream.process(x.sliceTime(0, 8))); // one block, one round trip
outputs.push(...(await stream.process([x.sliceTime(8, 16), x.sliceTime(16, 24)]))); // two blocks, one round trip
for (let t = 24; t < 64; t += 8) await stream.push(x.sliceTime(t, t + 8)); // queue blocks...
for (let t = 24; t < 64; t += 8) outputs.push(...(await stream.read())); // ...and read their outputs in order

try {
  await stream.process(sl.randomSequence([1, 8, 3])); // wrong channel count
} catch (e) {
  console.log(`a coded error across the boundary: ${e instanceof sl.SeqLayersError} ${e.code}`);
}
await worker.close(); // drains, frees the model, releases the proxy, the thread exits

sl.assertSequencesClose(sl.Sequence.concatenate(outputs), model.layer(x), 'worker vs layer');
console.log('streamed 64 steps through a worker_thread: equal to model.layer()');
