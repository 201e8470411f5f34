import { defineConfig } from 'vitest/config';

// Every test runs against both kernel builds: the baseline SIMD build, and the relaxed-SIMD
// build (Node 20 validates relaxed SIMD only with --experimental-wasm-relaxed-simd).
export default defineConfig({
  test: {
    projects: [
      {
        extends: true,
        test: { name: 'simd', include: ['test/**/*.test.ts'] },
      },
      {
        extends: true,
        test: {
          name: 'relaxed',
          include: ['test/**/*.test.ts'],
          exclude: ['test/runtimes/**'],
          execArgv: ['--experimental-wasm-relaxed-simd'],
        },
      },
    ],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
