// Run by deno.test.ts under Deno (with read access to the package, for the worker's script):
// streams the test model in-process and in a module Web Worker (seqlayers/workers), and prints
// the outputs as JSON.
import * as sl from 'seqlayers';
import { startWorker } from 'seqlayers/workers';

const { config, inputShape, seed, frames, block } = JSON.parse(Deno.args[0]);
const info = await sl.init();
// init() is idempotent on this entry too: the same runtime, and another budget is refused.
const runtime = sl.getRuntime();
const again = { info: await sl.init(), syncInfo: sl.initSync(), same: sl.getRuntime() === runtime };
again.otherBudget = await sl.init({ maxMemoryBytes: info.maxMemoryBytes / 2 }).then(() => 'accepted', (e) => e.code);
const model = sl.build(config, { inputShape, seed });
const x = sl.randomSequence([1, frames, ...inputShape], { randomLengths: false, seed: 12 });
const blocks = [];
for (let t = 0; t < frames; t += block) blocks.push(x.sliceTime(t, t + block));

const state = model.initialState(1);
const stepped = sl.Sequence.concatenate(blocks.map((b) => model.step(b, state)));

const worker = await startWorker({ config, inputShape, weights: sl.writeSafetensors(model.getWeights()) });
const stream = await worker.open();
const inWorker = sl.Sequence.concatenate(await stream.process(blocks));
let badInput = null;
await stream.process(sl.randomSequence([1, block, inputShape[0] + 1])).catch((e) => (badInput = { code: e.code, isSeqLayersError: e instanceof sl.SeqLayersError }));
await worker.close();

console.log(JSON.stringify({ info, again, build: info.build, deno: Deno.version.deno, stepped: [...stepped.values], inWorker: [...inWorker.values], badInput }));
