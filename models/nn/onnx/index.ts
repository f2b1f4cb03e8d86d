/**
 * ONNX export (see docs/export.md): `exportOnnx` traces a module's forward into an ONNX model;
 * `saveOnnx` writes it to a file (Node). The encoder (`encodeModel`, `decodeModel`) writes the
 * messages of onnx.proto from one table of field numbers (`ONNX_PROTO`).
 */
export { exportOnnx, exportOnnxGraph, onnxInputNames, DEFAULT_OPSET, SUPPORTED_OPSETS, type ExportOnnxOptions, type ExportedOnnx } from './export.js';
export { saveOnnx } from './file.js';
export { encodeModel, decodeModel, ONNX_PROTO, ONNX_DTYPE, onnxProtoSchema, type OnnxGraph, type OnnxNode, type OnnxValue, type OnnxInitializer, type AttrValue } from './proto.js';
