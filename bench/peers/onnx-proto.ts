/**
 * A minimal ONNX model encoder: the subset of onnx.proto's messages that a one-node (or few-node)
 * float32 graph needs, written here as a protobuf schema and encoded with protobufjs. The field
 * numbers are those of onnx/onnx.proto (IR version 10); fields we never set are left out.
 *
 * Inputs are graph inputs (fed at run time); weights may be given as initializers (constants),
 * which is how a deployed model holds them.
 */
import protobuf from 'protobufjs';

const SCHEMA = `
syntax = "proto2";
package onnx;

message OperatorSetIdProto {
  optional string domain = 1;
  optional int64 version = 2;
}

message TensorShapeProto {
  message Dimension {
    optional int64 dim_value = 1;
    optional string dim_param = 2;
  }
  repeated Dimension dim = 1;
}

message TypeProto {
  message Tensor {
    optional int32 elem_type = 1;
    optional TensorShapeProto shape = 2;
  }
  optional Tensor tensor_type = 1;
}

message ValueInfoProto {
  optional string name = 1;
  optional TypeProto type = 2;
}

message TensorProto {
  repeated int64 dims = 1;
  optional int32 data_type = 2;
  optional string name = 8;
  optional bytes raw_data = 9;
}

message AttributeProto {
  enum AttributeType {
    UNDEFINED = 0; FLOAT = 1; INT = 2; STRING = 3; TENSOR = 4; GRAPH = 5;
    FLOATS = 6; INTS = 7; STRINGS = 8; TENSORS = 9; GRAPHS = 10;
  }
  optional string name = 1;
  optional float f = 2;
  optional int64 i = 3;
  optional bytes s = 4;
  repeated float floats = 7;
  repeated int64 ints = 8;
  optional AttributeType type = 20;
}

message NodeProto {
  repeated string input = 1;
  repeated string output = 2;
  optional string name = 3;
  optional string op_type = 4;
  repeated AttributeProto attribute = 5;
  optional string domain = 7;
}

message GraphProto {
  repeated NodeProto node = 1;
  optional string name = 2;
  repeated TensorProto initializer = 5;
  repeated ValueInfoProto input = 11;
  repeated ValueInfoProto output = 12;
}

message ModelProto {
  optional int64 ir_version = 1;
  optional string producer_name = 2;
  optional string producer_version = 3;
  optional GraphProto graph = 7;
  repeated OperatorSetIdProto opset_import = 8;
}
`;

/** ONNX TensorProto.DataType.FLOAT. */
const FLOAT = 1;

export type AttrValue = number | readonly number[] | string | { float: number } | { floats: readonly number[] };

export interface OnnxNode {
  op: string;
  inputs: readonly string[];
  outputs: readonly string[];
  /** Integers become INT/INTS; use `{ float }` / `{ floats }` for float attributes. */
  attrs?: Record<string, AttrValue>;
  /** '' (the default ONNX domain) or 'com.microsoft'. */
  domain?: string;
}

export interface OnnxValue {
  name: string;
  shape: readonly number[];
}

export interface OnnxGraph {
  nodes: readonly OnnxNode[];
  inputs: readonly OnnxValue[];
  outputs: readonly OnnxValue[];
  /** Constant float32 tensors (weights). */
  initializers?: readonly (OnnxValue & { data: Float32Array })[];
  /** Opset of the default domain (e.g. 19 for DeformConv, 17 for LayerNormalization). */
  opset: number;
  /** Extra operator sets, e.g. [{ domain: 'com.microsoft', version: 1 }]. */
  extraOpsets?: readonly { domain: string; version: number }[];
}

let modelType: protobuf.Type | null = null;

function getModelType(): protobuf.Type {
  if (!modelType) modelType = protobuf.parse(SCHEMA, { keepCase: true }).root.lookupType('onnx.ModelProto');
  return modelType;
}

function valueInfo(v: OnnxValue): object {
  return { name: v.name, type: { tensor_type: { elem_type: FLOAT, shape: { dim: v.shape.map((d) => ({ dim_value: d })) } } } };
}

/** One AttributeProto object, typed from the JS value. */
export function attribute(name: string, v: AttrValue): object {
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new Error(`onnx attribute ${name}: expected an integer (use { float } for floats), got ${v}`);
    return { name, type: 2, i: v };
  }
  if (typeof v === 'string') return { name, type: 3, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: 7, ints: v };
  if ('float' in (v as object)) return { name, type: 1, f: (v as { float: number }).float };
  return { name, type: 6, floats: (v as { floats: readonly number[] }).floats };
}

/** The ModelProto message as a plain object (before encoding); exposed for tests. */
export function modelObject(g: OnnxGraph): Record<string, unknown> {
  return {
    ir_version: 10,
    producer_name: 'posegrad-bench',
    producer_version: '0.1.0',
    opset_import: [{ domain: '', version: g.opset }, ...(g.extraOpsets ?? [])],
    graph: {
      name: 'bench',
      node: g.nodes.map((n, i) => ({
        name: `n${i}`,
        op_type: n.op,
        input: n.inputs,
        output: n.outputs,
        domain: n.domain ?? '',
        attribute: Object.entries(n.attrs ?? {}).map(([k, v]) => attribute(k, v)),
      })),
      initializer: (g.initializers ?? []).map((t) => ({
        name: t.name,
        dims: t.shape,
        data_type: FLOAT,
        raw_data: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength),
      })),
      input: g.inputs.map(valueInfo),
      output: g.outputs.map(valueInfo),
    },
  };
}

/** Serializes a graph to ONNX bytes, ready for `InferenceSession.create(bytes)`. */
export function encodeModel(g: OnnxGraph): Uint8Array {
  const T = getModelType();
  const msg = T.fromObject(modelObject(g));
  return T.encode(msg).finish();
}

/** Decodes ONNX bytes back to a plain object (for tests). */
export function decodeModel(bytes: Uint8Array): Record<string, unknown> {
  const T = getModelType();
  return T.toObject(T.decode(bytes), { longs: Number, bytes: Array, defaults: false }) as Record<string, unknown>;
}
