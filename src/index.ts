// seqlayers: streaming sequence layers on WebAssembly SIMD.
import './layers/index.js';

export { init, initSync, createRuntime, getRuntime, relaxedSimdSupported, kernelUrl, Runtime } from './runtime/runtime.js';
export type { InitOptions, RuntimeInfo, KernelBuild } from './runtime/runtime.js';
export { Sequence } from './sequence.js';
export type { DType, Values } from './sequence.js';
export { SeqLayersError } from './errors.js';
export type { ErrorCode } from './errors.js';
export { Fraction } from './fraction.js';
export { build, Model, State } from './model.js';
export type { BuildOptions, RunOptions, StepOutput } from './model.js';
export { Layer, Param, RunContext, toWasm, fromWasm } from './layer.js';
export type { ChannelSpec, WSeq, StateSpec, StateBuffer, BuildContext, Constants, ConstantArray, Initializer } from './layer.js';
export type { ReceptiveField, ReceptiveFieldPerStep } from './receptive-field.js';
export { defineLayer, registerLayers, registeredTypes, normalizeConfig, toSnakeCase, f } from './config.js';
export type { LayerConfig, LayerDef, ConfigOf, Fields } from './config.js';
export { readSafetensors, writeSafetensors, toFloat32 } from './weights/safetensors.js';
export type { Tensor, SafeDType, SafetensorsFile } from './weights/safetensors.js';
export { Serial, Parallel, Residual } from './combinators.js';
export * from './layers/simple.js';
