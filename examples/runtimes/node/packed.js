// Live streams of utterances packed one after another, served by a pool: segment ids keep each
// utterance's attention to itself and positions restart with it, so no stream needs a new
// state at an utterance boundary. The ids come with each push, as the blocks do.
//   node examples/runtimes/node/packed.js
import * as sl from 'seqlayers';
import { createPool } from 'seqlayers/workers';

await sl.init();
const config = sl.Serial([
  sl.Dense({ features: 16 }),
  sl.DotProductSelfAttentionV2({ numHeads: 2, unitsPerHead: 8, maxPastHorizon: 32, segmentIdsName: 'utterance', positionName: 'position' }),
  sl.Flatten(),
]);
const model = sl.build(config, { inputShape: [8], seed: 1 });
const pool = await createPool({ config, inputShape: [8], weights: sl.writeSafetensors(model.getWeights()), workers: 2 });

// Two streams of 60 steps; the utterances start at these steps.
const starts = [[0, 17, 40], [0, 25]];
const ids = (f) => sl.Sequence.fromValues(Int32Array.from({ length: 60 }, (_, t) => f(t)), [1, 60], 'int32');
const results = await Promise.all(
  starts.map(async (s, i) => {
    const x = sl.randomSequence([1, 60, 8], { randomLengths: false, seed: i });
    const utterance = ids((t) => s.filter((b) => b <= t).length - 1), position = ids((t) => t - s.filter((b) => b <= t).at(-1));
    const stream = await pool.open();
    const outputs = [];
    for (let t = 0; t < 60; t += 4) {
      const constants = { utterance: utterance.sliceTime(t, t + 4), position: position.sliceTime(t, t + 4) };
      outputs.push(await stream.process(x.sliceTime(t, t + 4), { constants }));
    }
    await stream.close();
    return { x, s, y: sl.Sequence.concatenate(outputs), constants: { utterance, position } };
  }),
);
for (const { x, s, y, constants } of results) {
  sl.assertSequencesClose(y, model.layer(x, { constants }), 'the packed stream');
  // Each utterance alone (one segment, positions from 0) gives the same outputs.
  s.forEach((begin, u) => {
    const end = s[u + 1] ?? 60, n = end - begin;
    const alone = model.layer(x.sliceTime(begin, end), { constants: { utterance: ids(() => 0).sliceTime(0, n), position: ids((t) => t).sliceTime(0, n) } });
    sl.assertSequencesClose(y.sliceTime(begin, end), alone, `utterance ${u}`, 1e-5, 1e-5);
  });
}
await pool.close();
console.log('2 streams of packed utterances over 2 workers: every output equal to model.layer(), and each utterance to itself alone');
