// Streams a model under Deno, one block at a time, and checks it against whole-sequence
// processing. The `deno` export condition imports the kernels as WebAssembly modules, so this
// runs with no permissions at all:  deno run stream.js
import * as sl from 'seqlayers';

const info = await sl.init();
const model = sl.build(
  sl.Serial([
    sl.Conv1D({ filters: 16, kernelSize: 3, padding: 'causal' }),
    sl.Relu(),
    sl.Conv1D({ filters: 16, kernelSize: 2, dilationRate: 2, padding: 'causal' }),
    sl.Dense({ features: 4 }),
  ]),
  { inputShape: [8], seed: 11 },
);

const x = sl.randomSequence([1, 120, 8], { randomLengths: false, seed: 12 });
const state = model.initialState(1);
const blocks = [];
for (let t = 0; t < x.time; t += 10) blocks.push(model.step(x.sliceTime(t, t + 10), state));
const streamed = sl.Sequence.concatenate(blocks);

sl.assertSequencesClose(streamed, model.layer(x), 'step vs layer', 1e-5, 1e-5);
console.log(`Deno ${Deno.version.deno}, ${info.build} kernels: ${blocks.length} blocks streamed, equal to layer()`);
