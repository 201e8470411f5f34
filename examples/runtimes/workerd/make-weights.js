// Writes weights.safetensors for the example (seeded random weights; ship your trained ones):
//   node examples/runtimes/workerd/make-weights.js [out.safetensors]
import { writeFileSync } from 'node:fs';
import * as sl from 'seqlayers';
import { config, inputShape } from './model.js';

await sl.init();
const model = sl.build(config, { inputShape, seed: 11 });
const out = process.argv[2] ?? new URL('./weights.safetensors', import.meta.url);
writeFileSync(out, sl.writeSafetensors(model.getWeights()));
