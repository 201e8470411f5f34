// Builds the two kernel binaries from assembly/ with asc, as asconfig.json's targets say:
//   simd     build/kernels.wasm          WebAssembly SIMD (runs everywhere SIMD128 does)
//   relaxed  build/kernels-relaxed.wasm  SIMD + relaxed SIMD (fused multiply-add), used where it validates
// Both use the stub runtime (no GC) and import nothing (--use abort=), so every host can
// instantiate them synchronously from a compiled Module. build/kernels.exports.d.ts comes from
// asc's raw bindings and gives the TypeScript side the exact export signatures.
import { main } from 'assemblyscript/asc';
import { mkdirSync, renameSync, rmSync } from 'node:fs';

mkdirSync('build', { recursive: true });
for (const target of ['simd', 'relaxed']) {
  const { error, stderr } = await main(['--config', 'asconfig.json', '--target', target]);
  if (error) {
    console.error(stderr.toString());
    process.exit(1);
  }
}
// Keep only the type declarations of the raw bindings: their JS instantiates asynchronously and
// wraps every export, which the AudioWorklet and hot paths cannot afford.
renameSync('build/kernels.d.ts', 'build/kernels.exports.d.ts');
rmSync('build/kernels.js');
console.log('built build/kernels.wasm and build/kernels-relaxed.wasm');
