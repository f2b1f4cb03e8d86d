/**
 * The safetensors format (https://huggingface.co/docs/safetensors): an 8-byte little-endian header
 * length, a JSON header mapping each name to {dtype, shape, data_offsets} (plus an optional
 * `__metadata__` map of strings), then the raw little-endian tensor bytes.
 *
 * Reading converts to posegrad's host dtypes: F64 -> float64; F32, F16, BF16 -> float32;
 * I64, I32, I16, I8, U8, BOOL -> int32 (I64 values outside the int32 range throw).
 */
import type { DType, TypedArray } from '../../engine/dtype.js';

export interface HostTensor {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly data: TypedArray;
}

export interface SafetensorsFile {
  readonly tensors: Map<string, HostTensor>;
  readonly metadata: Record<string, string>;
}

const ST_BYTES: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

/**
 * Parses a safetensors file.
 * @throws Error when the file is truncated, the header is not valid JSON, offsets overlap the end,
 *   or a dtype is unsupported.
 */
export function readSafetensors(bytes: Uint8Array): SafetensorsFile {
  const op = 'readSafetensors';
  if (bytes.length < 8) throw new Error(`${op}: expected at least 8 bytes (the header length), got ${bytes.length}`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(dv.getBigUint64(0, true));
  if (n > bytes.length - 8) throw new Error(`${op}: expected a header of at most ${bytes.length - 8} bytes, got a header length of ${n} (truncated file?)`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`${op}: expected a JSON header, got unparsable bytes (${(e as Error).message})`);
  }
  const base = 8 + n;
  const tensors = new Map<string, HostTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = (info ?? {}) as Record<string, string>;
      continue;
    }
    const { dtype, shape, data_offsets: offs } = info as { dtype: string; shape: number[]; data_offsets: [number, number] };
    const width = ST_BYTES[dtype];
    if (!width) throw new Error(`${op}: expected a dtype among ${Object.keys(ST_BYTES).join('/')} for '${name}', got ${dtype}`);
    const count = shape.reduce((a, b) => a * b, 1);
    if (!offs || offs[1] - offs[0] !== count * width || base + offs[1] > bytes.length) {
      throw new Error(`${op}: expected ${count * width} bytes inside the file for '${name}', got offsets [${offs}] in a file of ${bytes.length} bytes`);
    }
    tensors.set(name, decode(op, name, dtype, shape, new DataView(bytes.buffer, bytes.byteOffset + base + offs[0], offs[1] - offs[0]), count));
  }
  return { tensors, metadata };
}

function decode(op: string, name: string, dtype: string, shape: number[], dv: DataView, count: number): HostTensor {
  switch (dtype) {
    case 'F64': {
      const a = new Float64Array(count);
      for (let i = 0; i < count; i++) a[i] = dv.getFloat64(i * 8, true);
      return { dtype: 'float64', shape, data: a };
    }
    case 'F32': {
      const a = new Float32Array(count);
      for (let i = 0; i < count; i++) a[i] = dv.getFloat32(i * 4, true);
      return { dtype: 'float32', shape, data: a };
    }
    case 'F16':
    case 'BF16': {
      const a = new Float32Array(count);
      for (let i = 0; i < count; i++) a[i] = dtype === 'F16' ? half(dv.getUint16(i * 2, true)) : bf16(dv.getUint16(i * 2, true));
      return { dtype: 'float32', shape, data: a };
    }
    default: {
      const a = new Int32Array(count);
      for (let i = 0; i < count; i++) {
        let v: number;
        if (dtype === 'I64') {
          const b = dv.getBigInt64(i * 8, true);
          if (b > 2147483647n || b < -2147483648n) throw new Error(`${op}: expected int64 values within int32 range for '${name}', got ${b}`);
          v = Number(b);
        } else if (dtype === 'I32') v = dv.getInt32(i * 4, true);
        else if (dtype === 'I16') v = dv.getInt16(i * 2, true);
        else if (dtype === 'I8') v = dv.getInt8(i);
        else v = dv.getUint8(i);
        a[i] = v;
      }
      return { dtype: 'int32', shape, data: a };
    }
  }
}

function half(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

function bf16(h: number): number {
  const buf = new DataView(new ArrayBuffer(4));
  buf.setUint32(0, h << 16);
  return buf.getFloat32(0);
}

/** Serializes host tensors (and string metadata) to safetensors bytes, in insertion order. */
export function writeSafetensors(tensors: Map<string, HostTensor> | Record<string, HostTensor>, metadata?: Record<string, string>): Uint8Array {
  const entries = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let off = 0;
  for (const [name, t] of entries) {
    const width = t.dtype === 'float64' ? 8 : 4;
    header[name] = { dtype: t.dtype === 'float64' ? 'F64' : t.dtype === 'float32' ? 'F32' : 'I32', shape: t.shape, data_offsets: [off, off + t.data.length * width] };
    off += t.data.length * width;
  }
  const raw = new TextEncoder().encode(JSON.stringify(header));
  // Pad the header with spaces so that the data starts 8-byte aligned.
  const hb = new Uint8Array(Math.ceil(raw.length / 8) * 8).fill(0x20);
  hb.set(raw);
  const out = new Uint8Array(8 + hb.length + off);
  const dv = new DataView(out.buffer);
  dv.setBigUint64(0, BigInt(hb.length), true);
  out.set(hb, 8);
  let p = 8 + hb.length;
  for (const [, t] of entries) {
    const d = t.data;
    for (let i = 0; i < d.length; i++) {
      if (t.dtype === 'float64') dv.setFloat64(p + i * 8, d[i]!, true);
      else if (t.dtype === 'float32') dv.setFloat32(p + i * 4, d[i]!, true);
      else dv.setInt32(p + i * 4, d[i]!, true);
    }
    p += d.length * (t.dtype === 'float64' ? 8 : 4);
  }
  return out;
}
