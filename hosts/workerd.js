// Entry for Cloudflare Workers (the `workerd` export condition). workerd forbids compiling
// WebAssembly from bytes, so the kernels come in as compiled modules through module imports
// (wrangler uploads .wasm imports as modules), and init()/initSync() pick the relaxed-SIMD
// build where the runtime validates it.
import simd from '../build/kernels.wasm';
import relaxed from '../build/kernels-relaxed.wasm';
import { initFromModules } from '../dist/index.js';

export * from '../dist/index.js';

export const { init, initSync } = initFromModules(simd, relaxed);
