/** nn: modules, layers, init and checkpoint I/O. */
export * from './module.js';
export * from './layers.js';
export * from './extra-layers.js';
export * from './deform.js';
export * from './attention.js';
export * as init from './init.js';
export * from './safetensors.js';
export * from './optim.js';
export * from './checkpoint/index.js';
export * from './flops.js';
export { exportOnnx, exportOnnxGraph, onnxInputNames, saveOnnx, type ExportOnnxOptions, type ExportedOnnx, type OnnxGraph, type OnnxNode, type OnnxValue, type OnnxInitializer, type AttrValue } from './onnx/index.js';
