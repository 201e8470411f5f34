// ONNX import: a protobuf reader for .onnx files (weights and graph structure, no runtime) and
// converters from published ONNX models to seqlayers configs and weights.
export { readOnnx, onnxConstants, onnxAttribute, onnxFloat32, describeOnnxNode, ONNX_DTYPES, MAX_GRAPH_DEPTH, MAX_TENSOR_ELEMENTS } from './model.js';
export type { OnnxModel, OnnxGraph, OnnxNode, OnnxTensor, OnnxAttribute, OnnxValueInfo, OnnxData } from './model.js';
export { convertSileroVad } from './silero.js';
export type { SileroVad, SileroVadOptions } from './silero.js';
