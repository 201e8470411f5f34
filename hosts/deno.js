// Entry for Deno (the `deno` export condition): the kernels are imported as WebAssembly source
// modules, which needs no --allow-read permission; init()/initSync() pick the relaxed-SIMD build
// where the runtime validates it.
import source simd from '../build/kernels.wasm';
import source relaxed from '../build/kernels-relaxed.wasm';
import { initFromModules } from '../dist/index.js';

export * from '../dist/index.js';

export const { init, initSync } = initFromModules(simd, relaxed);
