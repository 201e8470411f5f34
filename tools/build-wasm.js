// Builds the two kernel binaries from assembly/ with asc:
//   build/kernels.wasm          WebAssembly SIMD (runs everywhere SIMD128 does)
//   build/kernels-relaxed.wasm  SIMD + relaxed SIMD (fused multiply-add); chosen where it validates
// Both use the stub runtime (no GC) and import nothing (--use abort=), so every host can
// instantiate them synchronously from a compiled Module. build/kernels.d.ts comes from asc's
// raw bindings and gives the TypeScript side the exact export signatures.
import { main } from 'assemblyscript/asc';
import { mkdirSync, rmSync, renameSync } from 'node:fs';

const common = ['assembly/index.ts', '--runtime', 'stub', '--use', 'abort=', '-O3', '--noAssert', '--enable', 'simd'];
const builds = [
  { out: 'build/kernels.wasm', flags: ['--bindings', 'raw'] },
  { out: 'build/kernels-relaxed.wasm', flags: ['--enable', 'relaxed-simd'] },
];

mkdirSync('build', { recursive: true });
for (const { out, flags } of builds) {
  const { error, stderr } = await main([...common, ...flags, '-o', out]);
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
