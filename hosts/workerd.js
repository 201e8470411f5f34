// Entry for Cloudflare Workers (the `workerd` export condition). workerd forbids compiling
// WebAssembly from bytes, so the kernels come in as compiled modules through module imports,
// and init() picks the relaxed-SIMD build where the runtime validates it.
import simd from '../build/kernels.wasm';
import relaxed from '../build/kernels-relaxed.wasm';
import { init as initRuntime, relaxedSimdSupported } from '../dist/index.js';

export * from '../dist/index.js';

/** Loads the kernels imported with this module (options as the main entry's init). */
export function init(opts = {}) {
  return initRuntime({ module: relaxedSimdSupported() ? relaxed : simd, ...opts });
}
