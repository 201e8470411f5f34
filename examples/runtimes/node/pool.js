// A pool of worker_threads serving many streams; a worker that dies is replaced, and its streams
// resume on another worker from their last snapshot without losing or repeating output.
//   node examples/runtimes/node/pool.js
import * as sl from 'seqlayers';
import { createPool } from 'seqlayers/workers';

await sl.init();
const config = sl.Serial([sl.Conv1D({ filters: 16, kernelSize: 3, padding: 'causal' }), sl.Relu(), sl.Dense({ features: 4 })]);
const model = sl.build(config, { inputShape: [8], seed: 1 });
const pool = await createPool({ config, inputShape: [8], weights: sl.writeSafetensors(model.getWeights()), workers: 2 });

const inputs = Array.from({ length: 4 }, (_, i) => sl.randomSequence([1, 80, 8], { randomLengths: false, seed: i }));
const results = await Promise.all(
  inputs.map(async (x, i) => {
    // maxInFlight: push() waits while 2 pushes are unserved. The worker returns the stream's
    // state with some pushes' outputs (snapshotEvery, 'auto' by default): a resume starts there.
    const stream = await pool.open({ maxInFlight: 2, onFailure: (e) => console.log(`stream ${i}: ${e.code}, resuming`) });
    const outputs = [];
    for (let t = 0; t < 80; t += 8) {
      outputs.push(await stream.process(x.sliceTime(t, t + 8)));
      if (i === 0 && t === 40) pool.workers[0].terminate(); // a worker dies mid-stream
    }
    await stream.close();
    return sl.Sequence.concatenate(outputs);
  }),
);
results.forEach((y, i) => sl.assertSequencesClose(y, model.layer(inputs[i]), `stream ${i}`));
await pool.close(); // streams drain, workers exit (after 10 s, stuck ones are terminated)
console.log(`4 streams over 2 workers, one worker killed: every output equal to model.layer()`);
