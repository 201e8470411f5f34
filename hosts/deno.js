// Entry for Deno (the `deno` export condition): the kernels are imported as WebAssembly source
// modules, which needs no --allow-read permission; init()/initSync() pick the relaxed-SIMD build
// where the runtime validates it.
import source simd from '../build/kernels.wasm';
import source relaxed from '../build/kernels-relaxed.wasm';
import { init as initAsync, initSync as initNow, relaxedSimdSupported } from '../dist/index.js';

export * from '../dist/index.js';

const kernels = () => (relaxedSimdSupported() ? relaxed : simd);

/** Loads the kernels imported with this module (options as the main entry's init). */
export function init(opts = {}) {
  return initAsync({ module: kernels(), ...opts });
}

/** init() without a promise (options: maxMemoryBytes). */
export function initSync(opts = {}) {
  return initNow({ module: kernels(), ...opts });
}
