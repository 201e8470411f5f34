// Entry for Cloudflare Workers (the `workerd` export condition). workerd forbids compiling
// WebAssembly from bytes, so the kernels come in as compiled modules through module imports
// (wrangler uploads .wasm imports as modules), and init()/initSync() pick the relaxed-SIMD
// build where the runtime validates it.
import simd from '../build/kernels.wasm';
import relaxed from '../build/kernels-relaxed.wasm';
import { init as initAsync, initSync as initNow, relaxedSimdSupported } from '../dist/index.js';

export * from '../dist/index.js';

const kernels = () => (relaxedSimdSupported() ? relaxed : simd);

/** Loads the kernels imported with this module (options as the main entry's init). */
export function init(opts = {}) {
  return initAsync({ module: kernels(), ...opts });
}

/** init() without a promise, for a Worker's global scope (options: maxMemoryBytes). */
export function initSync(opts = {}) {
  return initNow({ module: kernels(), ...opts });
}
