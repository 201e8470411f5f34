// The kernel module: every export of every kernel family. JS binds these by name
// (src/runtime/kernels.ts); sizes and strides are in elements, pointers are byte addresses.
export * from './memory';
export * from './mask';
export * from './gemm/pack';
export * from './gemm/f32-gemm-4x8';
export * from './gemm/f32-gemm-2x16';
export * from './gemm/f32-gemm-1x24';
export * from './gemm/f32-gemv';
export * from './gemm/q8-gemv';
export * from './conv';
export * from './elementwise';
export * from './broadcast';
export * from './activations';
export * from './embedding';
export * from './norm';
export * from './peak';
export * from './shape';
export * from './recurrent';
export * from './fft';
export * from './dsp';
export * from './attention';
export * from './position';
export * from './pooling';
