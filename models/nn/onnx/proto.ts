/**
 * The ONNX file format: the messages of onnx/onnx.proto (proto2, IR version 10) that posegrad
 * writes, as one table of field numbers (`ONNX_PROTO`), with a dependency-free protobuf encoder and
 * decoder driven by it. Both `nn.exportOnnx` and the bench's one-node models
 * (bench/peers/onnx-models.ts) encode through this module; `onnxProtoSchema()` prints the table as
 * .proto text, so that a protobuf library can check it (test/nn/onnx-export.test.ts does, with
 * protobufjs).
 *
 * Field numbers are onnx.proto's. Fields posegrad never sets are left out of the table (a decoder
 * skips unknown fields). Repeated scalars are written unpacked, as proto2 does unless a field says
 * `[packed = true]` (TensorProto's *_data fields); the decoder accepts both forms.
 */

type Scalar = 'int64' | 'int32' | 'float' | 'double' | 'string' | 'bytes';

interface FieldDef {
  readonly no: number;
  /** A scalar type, or the name of a message in ONNX_PROTO. */
  readonly type: Scalar | string;
  readonly repeated?: boolean;
  readonly packed?: boolean;
}

type MessageDef = Readonly<Record<string, FieldDef>>;

/** onnx.proto's messages, by name, each field with its number and type (the one schema). */
export const ONNX_PROTO: Readonly<Record<string, MessageDef>> = {
  OperatorSetIdProto: { domain: { no: 1, type: 'string' }, version: { no: 2, type: 'int64' } },
  StringStringEntryProto: { key: { no: 1, type: 'string' }, value: { no: 2, type: 'string' } },
  'TensorShapeProto.Dimension': { dim_value: { no: 1, type: 'int64' }, dim_param: { no: 2, type: 'string' }, denotation: { no: 3, type: 'string' } },
  TensorShapeProto: { dim: { no: 1, type: 'TensorShapeProto.Dimension', repeated: true } },
  'TypeProto.Tensor': { elem_type: { no: 1, type: 'int32' }, shape: { no: 2, type: 'TensorShapeProto' } },
  TypeProto: { tensor_type: { no: 1, type: 'TypeProto.Tensor' }, denotation: { no: 6, type: 'string' } },
  ValueInfoProto: { name: { no: 1, type: 'string' }, type: { no: 2, type: 'TypeProto' }, doc_string: { no: 3, type: 'string' } },
  TensorProto: {
    dims: { no: 1, type: 'int64', repeated: true },
    data_type: { no: 2, type: 'int32' },
    float_data: { no: 4, type: 'float', repeated: true, packed: true },
    int32_data: { no: 5, type: 'int32', repeated: true, packed: true },
    int64_data: { no: 7, type: 'int64', repeated: true, packed: true },
    name: { no: 8, type: 'string' },
    raw_data: { no: 9, type: 'bytes' },
    double_data: { no: 10, type: 'double', repeated: true, packed: true },
    doc_string: { no: 12, type: 'string' },
  },
  AttributeProto: {
    name: { no: 1, type: 'string' },
    f: { no: 2, type: 'float' },
    i: { no: 3, type: 'int64' },
    s: { no: 4, type: 'bytes' },
    t: { no: 5, type: 'TensorProto' },
    floats: { no: 7, type: 'float', repeated: true },
    ints: { no: 8, type: 'int64', repeated: true },
    strings: { no: 9, type: 'bytes', repeated: true },
    doc_string: { no: 13, type: 'string' },
    type: { no: 20, type: 'int32' },
  },
  NodeProto: {
    input: { no: 1, type: 'string', repeated: true },
    output: { no: 2, type: 'string', repeated: true },
    name: { no: 3, type: 'string' },
    op_type: { no: 4, type: 'string' },
    attribute: { no: 5, type: 'AttributeProto', repeated: true },
    doc_string: { no: 6, type: 'string' },
    domain: { no: 7, type: 'string' },
  },
  GraphProto: {
    node: { no: 1, type: 'NodeProto', repeated: true },
    name: { no: 2, type: 'string' },
    initializer: { no: 5, type: 'TensorProto', repeated: true },
    doc_string: { no: 10, type: 'string' },
    input: { no: 11, type: 'ValueInfoProto', repeated: true },
    output: { no: 12, type: 'ValueInfoProto', repeated: true },
    value_info: { no: 13, type: 'ValueInfoProto', repeated: true },
  },
  ModelProto: {
    ir_version: { no: 1, type: 'int64' },
    producer_name: { no: 2, type: 'string' },
    producer_version: { no: 3, type: 'string' },
    domain: { no: 4, type: 'string' },
    model_version: { no: 5, type: 'int64' },
    doc_string: { no: 6, type: 'string' },
    graph: { no: 7, type: 'GraphProto' },
    opset_import: { no: 8, type: 'OperatorSetIdProto', repeated: true },
    metadata_props: { no: 14, type: 'StringStringEntryProto', repeated: true },
  },
};

/** AttributeProto.AttributeType. */
export const ATTR_TYPE = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7, STRINGS: 8 } as const;

/** TensorProto.DataType. */
export const ONNX_DTYPE = { FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6, INT64: 7, BOOL: 9, DOUBLE: 11 } as const;

/** The IR version posegrad writes (onnx 1.15+; onnxruntime ≥ 1.17 reads it). */
export const IR_VERSION = 10;

/** ONNX_PROTO as proto2 text, e.g. for `protobuf.parse(onnxProtoSchema())`. */
export function onnxProtoSchema(): string {
  const lines = ['syntax = "proto2";', 'package onnx;', ''];
  const nested = (name: string): string[] => Object.keys(ONNX_PROTO).filter((n) => n.startsWith(`${name}.`) && !n.slice(name.length + 1).includes('.'));
  const emit = (name: string, indent: string): void => {
    const short = name.slice(name.lastIndexOf('.') + 1);
    lines.push(`${indent}message ${short} {`);
    for (const n of nested(name)) emit(n, `${indent}  `);
    for (const [field, f] of Object.entries(ONNX_PROTO[name]!)) {
      lines.push(`${indent}  ${f.repeated ? 'repeated' : 'optional'} ${f.type} ${field} = ${f.no}${f.packed ? ' [packed = true]' : ''};`);
    }
    lines.push(`${indent}}`);
  };
  for (const name of Object.keys(ONNX_PROTO)) if (!name.includes('.')) emit(name, '');
  return lines.join('\n');
}

// ------------------------------------------------------------------------------ encoding

/** A message being written: its byte chunks (not yet concatenated) and their total length. */
interface Chunks {
  parts: Uint8Array[];
  length: number;
}

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

function varintBytes(v: number | bigint): Uint8Array {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 0x80000000) {
    const out: number[] = [];
    let x = v;
    while (x >= 0x80) {
      out.push((x & 0x7f) | 0x80);
      x >>>= 7;
    }
    out.push(x);
    return Uint8Array.from(out);
  }
  if (typeof v === 'number' && !Number.isInteger(v)) throw new Error(`onnx proto: expected an integer, got ${v}`);
  let x = BigInt.asUintN(64, BigInt(v));
  const out: number[] = [];
  while (x >= 0x80n) {
    out.push(Number(x & 0x7fn) | 0x80);
    x >>= 7n;
  }
  out.push(Number(x));
  return Uint8Array.from(out);
}

function push(c: Chunks, b: Uint8Array): void {
  c.parts.push(b);
  c.length += b.length;
}

function tag(no: number, wire: number): Uint8Array {
  return varintBytes((no << 3) | wire);
}

function scalarBytes(type: Scalar, v: unknown): { wire: number; bytes: Uint8Array } {
  switch (type) {
    case 'int64':
    case 'int32':
      return { wire: 0, bytes: varintBytes(v as number | bigint) };
    case 'float': {
      const b = new Uint8Array(4);
      new DataView(b.buffer).setFloat32(0, v as number, true);
      return { wire: 5, bytes: b };
    }
    case 'double': {
      const b = new Uint8Array(8);
      new DataView(b.buffer).setFloat64(0, v as number, true);
      return { wire: 1, bytes: b };
    }
    case 'string':
    case 'bytes': {
      const data = typeof v === 'string' ? textEncoder.encode(v) : v instanceof Uint8Array ? v : Uint8Array.from(v as ArrayLike<number>);
      return { wire: 2, bytes: data };
    }
  }
}

function encodeInto(typeName: string, obj: Record<string, unknown>, out: Chunks): void {
  const def = ONNX_PROTO[typeName];
  if (!def) throw new Error(`onnx proto: unknown message ${typeName}`);
  for (const [name, value] of Object.entries(obj)) {
    if (value === undefined || value === null) continue;
    const f = def[name];
    if (!f) throw new Error(`onnx proto: ${typeName} has no field '${name}'`);
    const values = f.repeated ? (value as ArrayLike<unknown>) : [value];
    if (f.repeated && typeof (value as ArrayLike<unknown>).length !== 'number') throw new Error(`onnx proto: expected ${typeName}.${name} to be a list`);
    if (f.type in ONNX_PROTO) {
      for (let i = 0; i < values.length; i++) {
        const sub: Chunks = { parts: [], length: 0 };
        encodeInto(f.type, values[i] as Record<string, unknown>, sub);
        push(out, tag(f.no, 2));
        push(out, varintBytes(sub.length));
        out.parts.push(...sub.parts);
        out.length += sub.length;
      }
    } else if (f.packed) {
      if (values.length === 0) continue;
      const sub: Chunks = { parts: [], length: 0 };
      for (let i = 0; i < values.length; i++) push(sub, scalarBytes(f.type as Scalar, values[i]).bytes);
      push(out, tag(f.no, 2));
      push(out, varintBytes(sub.length));
      out.parts.push(...sub.parts);
      out.length += sub.length;
    } else {
      for (let i = 0; i < values.length; i++) {
        const { wire, bytes } = scalarBytes(f.type as Scalar, values[i]);
        push(out, tag(f.no, wire));
        if (wire === 2) push(out, varintBytes(bytes.length));
        push(out, bytes);
      }
    }
  }
}

/**
 * Encodes a plain object as the message `typeName` of ONNX_PROTO (field names as in onnx.proto;
 * int64 as number or bigint; bytes as Uint8Array; sub-messages as objects).
 * @throws Error naming a field the message does not have.
 */
export function encodeMessage(typeName: string, obj: Record<string, unknown>): Uint8Array {
  const c: Chunks = { parts: [], length: 0 };
  encodeInto(typeName, obj, c);
  const out = new Uint8Array(c.length);
  let off = 0;
  for (const p of c.parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

// ------------------------------------------------------------------------------ decoding

class Reader {
  pos = 0;
  constructor(readonly buf: Uint8Array, readonly end = buf.length) {}
  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.end) throw new Error('onnx proto: truncated varint');
      const b = this.buf[this.pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return result;
      shift += 7n;
      if (shift > 70n) throw new Error('onnx proto: varint too long');
    }
  }
  bytes(n: number): Uint8Array {
    if (this.pos + n > this.end) throw new Error('onnx proto: truncated field');
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
}

function decodeScalar(type: Scalar, r: Reader, wire: number): unknown {
  switch (type) {
    case 'int64':
    case 'int32':
      return Number(BigInt.asIntN(64, r.varint()));
    case 'float': {
      const b = r.bytes(4);
      return new DataView(b.buffer, b.byteOffset, 4).getFloat32(0, true);
    }
    case 'double': {
      const b = r.bytes(8);
      return new DataView(b.buffer, b.byteOffset, 8).getFloat64(0, true);
    }
    case 'string':
      if (wire !== 2) throw new Error('onnx proto: expected a length-delimited string');
      return textDecoder.decode(r.bytes(Number(r.varint())));
    case 'bytes':
      if (wire !== 2) throw new Error('onnx proto: expected length-delimited bytes');
      return new Uint8Array(r.bytes(Number(r.varint())));
  }
}

function skip(r: Reader, wire: number): void {
  if (wire === 0) r.varint();
  else if (wire === 1) r.bytes(8);
  else if (wire === 2) r.bytes(Number(r.varint()));
  else if (wire === 5) r.bytes(4);
  else throw new Error(`onnx proto: unsupported wire type ${wire}`);
}

function decodeFrom(typeName: string, r: Reader): Record<string, unknown> {
  const def = ONNX_PROTO[typeName]!;
  const byNo = new Map(Object.entries(def).map(([n, f]) => [f.no, [n, f] as const]));
  const out: Record<string, unknown> = {};
  while (r.pos < r.end) {
    const key = Number(r.varint());
    const no = key >>> 3;
    const wire = key & 7;
    const hit = byNo.get(no);
    if (!hit) {
      skip(r, wire);
      continue;
    }
    const [name, f] = hit;
    const add = (v: unknown): void => {
      if (f.repeated) ((out[name] ??= []) as unknown[]).push(v);
      else out[name] = v;
    };
    if (f.type in ONNX_PROTO) {
      const len = Number(r.varint());
      const sub = new Reader(r.buf, r.pos + len);
      sub.pos = r.pos;
      add(decodeFrom(f.type, sub));
      r.pos += len;
    } else if (f.repeated && wire === 2 && f.type !== 'string' && f.type !== 'bytes') {
      const len = Number(r.varint());
      const sub = new Reader(r.buf, r.pos + len);
      sub.pos = r.pos;
      const w = f.type === 'float' ? 5 : f.type === 'double' ? 1 : 0;
      while (sub.pos < sub.end) add(decodeScalar(f.type as Scalar, sub, w));
      r.pos += len;
    } else add(decodeScalar(f.type as Scalar, r, wire));
  }
  return out;
}

/**
 * Decodes bytes as the message `typeName` into a plain object (int64 as number, bytes as
 * Uint8Array; unset fields absent; unknown fields skipped).
 * @throws Error on malformed bytes.
 */
export function decodeMessage(typeName: string, bytes: Uint8Array): Record<string, unknown> {
  return decodeFrom(typeName, new Reader(bytes));
}

// ------------------------------------------------------------------------------ graphs

/** An attribute value: integers become INT/INTS, strings STRING; `{ float }`/`{ floats }` for floats. */
export type AttrValue = number | readonly number[] | string | { float: number } | { floats: readonly number[] };

export interface OnnxNode {
  op: string;
  inputs: readonly string[];
  outputs: readonly string[];
  /** Integers become INT/INTS; use `{ float }` / `{ floats }` for float attributes. */
  attrs?: Record<string, AttrValue>;
  /** '' (the default ONNX domain) or 'com.microsoft'. */
  domain?: string;
  /** Node name (default `n<index>`). */
  name?: string;
}

/** A graph input or output: a number per fixed dim, a string per symbolic dim ('batch'). */
export interface OnnxValue {
  name: string;
  shape: readonly (number | string)[];
  /** ONNX_DTYPE (default FLOAT). */
  elemType?: number;
}

/** A constant tensor (a weight). Data of a Float32Array is FLOAT, Float64Array DOUBLE, Int32Array INT32, BigInt64Array INT64, Uint8Array BOOL. */
export interface OnnxInitializer {
  name: string;
  shape: readonly number[];
  data: Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;
}

export interface OnnxGraph {
  nodes: readonly OnnxNode[];
  inputs: readonly OnnxValue[];
  outputs: readonly OnnxValue[];
  /** Constant tensors (weights). */
  initializers?: readonly OnnxInitializer[];
  /** Opset of the default domain (e.g. 19 for DeformConv, 17 for LayerNormalization). */
  opset: number;
  /** Extra operator sets, e.g. [{ domain: 'com.microsoft', version: 1 }]. */
  extraOpsets?: readonly { domain: string; version: number }[];
  /** GraphProto.name (default 'posegrad'). */
  name?: string;
  /** ModelProto.producer_name (default 'posegrad'). */
  producer?: string;
  /** ModelProto.metadata_props. */
  metadata?: Readonly<Record<string, string>>;
  /** ModelProto.doc_string. */
  docString?: string;
}

/** The ONNX elem type of an initializer's data. */
export function elemTypeOf(data: OnnxInitializer['data']): number {
  if (data instanceof Float32Array) return ONNX_DTYPE.FLOAT;
  if (data instanceof Float64Array) return ONNX_DTYPE.DOUBLE;
  if (data instanceof Int32Array) return ONNX_DTYPE.INT32;
  if (data instanceof BigInt64Array) return ONNX_DTYPE.INT64;
  if (data instanceof Uint8Array) return ONNX_DTYPE.BOOL;
  throw new Error(`onnx initializer: expected Float32Array, Float64Array, Int32Array, BigInt64Array or Uint8Array data, got ${(data as object).constructor?.name}`);
}

/** One AttributeProto object, typed from the JS value. */
export function attribute(name: string, v: AttrValue): Record<string, unknown> {
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new Error(`onnx attribute ${name}: expected an integer (use { float } for floats), got ${v}`);
    return { name, type: ATTR_TYPE.INT, i: v };
  }
  if (typeof v === 'string') return { name, type: ATTR_TYPE.STRING, s: textEncoder.encode(v) };
  if (Array.isArray(v)) {
    for (const x of v) if (!Number.isInteger(x)) throw new Error(`onnx attribute ${name}: expected integers (use { floats } for floats), got ${x}`);
    return { name, type: ATTR_TYPE.INTS, ints: v };
  }
  if ('float' in (v as object)) return { name, type: ATTR_TYPE.FLOAT, f: (v as { float: number }).float };
  return { name, type: ATTR_TYPE.FLOATS, floats: (v as { floats: readonly number[] }).floats };
}

function valueInfo(v: OnnxValue): Record<string, unknown> {
  return {
    name: v.name,
    type: { tensor_type: { elem_type: v.elemType ?? ONNX_DTYPE.FLOAT, shape: { dim: v.shape.map((d) => (typeof d === 'string' ? { dim_param: d } : { dim_value: d })) } } },
  };
}

/** The ModelProto message as a plain object (before encoding). */
export function modelObject(g: OnnxGraph): Record<string, unknown> {
  return {
    ir_version: IR_VERSION,
    producer_name: g.producer ?? 'posegrad',
    producer_version: '0.1.0',
    doc_string: g.docString,
    opset_import: [{ domain: '', version: g.opset }, ...(g.extraOpsets ?? [])],
    graph: {
      name: g.name ?? 'posegrad',
      node: g.nodes.map((n, i) => ({
        name: n.name ?? `n${i}`,
        op_type: n.op,
        input: n.inputs,
        output: n.outputs,
        domain: n.domain ?? '',
        attribute: Object.entries(n.attrs ?? {}).map(([k, v]) => attribute(k, v)),
      })),
      initializer: (g.initializers ?? []).map((t) => ({
        name: t.name,
        dims: t.shape,
        data_type: elemTypeOf(t.data),
        raw_data: littleEndianBytes(t.data),
      })),
      input: g.inputs.map(valueInfo),
      output: g.outputs.map(valueInfo),
    },
    metadata_props: g.metadata ? Object.entries(g.metadata).map(([key, value]) => ({ key, value })) : undefined,
  };
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function littleEndianBytes(data: OnnxInitializer['data']): Uint8Array {
  const view = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (LITTLE_ENDIAN || data.BYTES_PER_ELEMENT === 1) return view;
  const out = new Uint8Array(view.length);
  const w = data.BYTES_PER_ELEMENT;
  for (let i = 0; i < view.length; i += w) for (let j = 0; j < w; j++) out[i + j] = view[i + w - 1 - j]!;
  return out;
}

/** Serializes a graph to ONNX bytes, ready for `InferenceSession.create(bytes)`. */
export function encodeModel(g: OnnxGraph): Uint8Array {
  return encodeMessage('ModelProto', modelObject(g));
}

/** Decodes ONNX bytes back to a plain object (see decodeMessage). */
export function decodeModel(bytes: Uint8Array): Record<string, unknown> {
  return decodeMessage('ModelProto', bytes);
}
