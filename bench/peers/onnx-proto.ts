/**
 * The bench's ONNX encoder is the library's: models/nn/onnx/proto.ts holds onnx.proto's field
 * numbers (one schema, shared with `nn.exportOnnx`) and a dependency-free encoder and decoder.
 * This module re-exports it for the one-node kernel models (onnx-models.ts) and the peers.
 */
export { attribute, decodeModel, encodeModel, modelObject, type AttrValue, type OnnxGraph, type OnnxInitializer, type OnnxNode, type OnnxValue } from '../../models/nn/onnx/proto.js';
