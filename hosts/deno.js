// Entry for Deno (the `deno` export condition): the kernels are imported as WebAssembly source
// modules, which needs no --allow-read permission; init() picks the relaxed-SIMD build where
// the runtime validates it.
import source simd from '../build/kernels.wasm';
import source relaxed from '../build/kernels-relaxed.wasm';
import { init as initRuntime, relaxedSimdSupported } from '../dist/index.js';

export * from '../dist/index.js';

/** Loads the kernels imported with this module (options as the main entry's init). */
export function init(opts = {}) {
  return initRuntime({ module: relaxedSimdSupported() ? relaxed : simd, ...opts });
}
