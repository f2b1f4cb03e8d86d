/**
 * The safetensors format (https://huggingface.co/docs/safetensors): an 8-byte little-endian header
 * length, a JSON header mapping each name to {dtype, shape, data_offsets} (plus an optional
 * `__metadata__` map of strings), then the raw little-endian tensor bytes.
 *
 * Reading converts to posegrad's host dtypes: F64 -> float64; F32, F16, BF16 -> float32;
 * I64, I32, I16, I8, U8, BOOL -> int32 (I64 values outside the int32 range throw). The reader checks
 * the header as the reference implementation does (offsets tile the data section exactly, a 100 MB
 * header limit), so hostile files fail before any large allocation.
 *
 * Writing stores float64 as F64, float32 as F32 (or F16/BF16 on request, rounded to nearest even)
 * and int32 as I32.
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

/** The largest JSON header readSafetensors accepts (the reference implementation's limit, 100 MB). */
export const SAFETENSORS_MAX_HEADER_BYTES = 100_000_000;

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const show = (v: unknown): string => {
  try {
    const s = JSON.stringify(v);
    return s === undefined ? String(v) : s.length > 80 ? `${s.slice(0, 77)}...` : s;
  } catch {
    return String(v);
  }
};

/**
 * Parses a safetensors file (https://github.com/huggingface/safetensors, "Format" section), checking
 * it as the reference implementation does, so that hostile files fail cleanly before any large
 * allocation: the header length is at most SAFETENSORS_MAX_HEADER_BYTES and inside the file; the
 * header is a JSON object; `__metadata__` (optional, null allowed) maps strings to strings; every
 * other entry is `{dtype, shape, data_offsets}` with a known dtype, a shape of non-negative
 * integers and offsets `[begin, end]` of non-negative integers with begin <= end and
 * end - begin = (product of shape) × (dtype width); sorted by begin, the entries tile the data
 * section exactly (no overlap, no gap, no trailing bytes).
 * Dtypes: F64 -> float64; F32, F16, BF16 -> float32; I64 (range-checked), I32, I16, I8, U8, BOOL -> int32.
 * @throws Error naming the tensor and what was expected vs got, for any of the checks above, an
 *   unparsable header, or an I64 value outside the int32 range.
 */
export function readSafetensors(bytes: Uint8Array): SafetensorsFile {
  const op = 'readSafetensors';
  if (bytes.length < 8) throw new Error(`${op}: expected at least 8 bytes (the header length), got ${bytes.length}`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n64 = dv.getBigUint64(0, true);
  if (n64 > BigInt(SAFETENSORS_MAX_HEADER_BYTES)) throw new Error(`${op}: expected a header length of at most ${SAFETENSORS_MAX_HEADER_BYTES} bytes, got ${n64}`);
  const n = Number(n64);
  if (n > bytes.length - 8) throw new Error(`${op}: expected a header of at most ${bytes.length - 8} bytes, got a header length of ${n} (truncated file?)`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    throw new Error(`${op}: expected a JSON header, got unparsable bytes (${(e as Error).message})`);
  }
  if (!isPlainObject(parsed)) throw new Error(`${op}: expected the header to be a JSON object, got ${Array.isArray(parsed) ? 'an array' : show(parsed)}`);
  const header = parsed;
  const base = 8 + n;
  const dataLength = bytes.length - base;
  let metadata: Record<string, string> = {};
  const entries: { name: string; dtype: string; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (info === null) continue;
      if (!isPlainObject(info)) throw new Error(`${op}: expected __metadata__ to be an object of strings, got ${show(info)}`);
      for (const [k, v] of Object.entries(info)) {
        if (typeof v !== 'string') throw new Error(`${op}: expected __metadata__['${k}'] to be a string, got ${show(v)}`);
      }
      metadata = { ...(info as Record<string, string>) };
      continue;
    }
    if (!isPlainObject(info)) throw new Error(`${op}: expected '${name}' to be an object {dtype, shape, data_offsets}, got ${show(info)}`);
    const { dtype, shape, data_offsets: offs } = info;
    if (typeof dtype !== 'string' || !Object.hasOwn(ST_BYTES, dtype)) {
      throw new Error(`${op}: expected a dtype among ${Object.keys(ST_BYTES).join('/')} for '${name}', got ${show(dtype)}`);
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
      throw new Error(`${op}: expected the shape of '${name}' to be an array of non-negative integers, got ${show(shape)}`);
    }
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && (o as number) >= 0) || (offs[0] as number) > (offs[1] as number)) {
      throw new Error(`${op}: expected data_offsets of '${name}' to be [begin, end], two non-negative integers with begin <= end, got ${show(offs)}`);
    }
    const [begin, end] = offs as [number, number];
    if (end > dataLength) {
      throw new Error(`${op}: expected data_offsets of '${name}' inside the ${dataLength}-byte data section, got [${begin}, ${end}] (truncated file?)`);
    }
    // Elements from the shape; a hostile shape may overflow to a huge float, which cannot match.
    const count = (shape as number[]).reduce((a, b) => a * b, 1);
    const width = ST_BYTES[dtype]!;
    if (count * width !== end - begin) {
      throw new Error(`${op}: expected ${count * width} bytes for '${name}' (${dtype} of shape [${shape.join(', ')}]), got data_offsets [${begin}, ${end}] (${end - begin} bytes)`);
    }
    entries.push({ name, dtype, shape: shape as number[], begin, end });
  }
  // The entries must tile the data section: sorted by offsets, each starts where the previous ended.
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  let prev: string | undefined;
  for (const e of sorted) {
    if (e.begin !== pos) {
      throw new Error(e.begin < pos
        ? `${op}: expected '${e.name}' to start at byte ${pos} (after '${prev}'), got data_offsets [${e.begin}, ${e.end}] overlapping it`
        : `${op}: expected '${e.name}' to start at byte ${pos} (${prev === undefined ? 'the start of the data section' : `after '${prev}'`}), got data_offsets [${e.begin}, ${e.end}] leaving a gap of ${e.begin - pos} bytes`);
    }
    pos = e.end;
    prev = e.name;
  }
  if (pos !== dataLength) {
    throw new Error(`${op}: expected the tensors to cover the ${dataLength}-byte data section exactly, got ${dataLength - pos} trailing bytes after ${prev === undefined ? 'the header (no tensors)' : `'${prev}'`}`);
  }
  const tensors = new Map<string, HostTensor>();
  for (const e of entries) {
    const count = (e.end - e.begin) / ST_BYTES[e.dtype]!;
    tensors.set(e.name, decode(op, e.name, e.dtype, e.shape, new DataView(bytes.buffer, bytes.byteOffset + base + e.begin, e.end - e.begin), count));
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
      for (let i = 0; i < count; i++) a[i] = dtype === 'F16' ? float16BitsToNumber(dv.getUint16(i * 2, true)) : bfloat16BitsToNumber(dv.getUint16(i * 2, true));
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

/** The value of IEEE 754 binary16 bits `h` (0..0xffff): subnormals, ±Inf and NaN included. */
export function float16BitsToNumber(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** The value of bfloat16 bits `h` (0..0xffff): the high half of a float32. */
export function bfloat16BitsToNumber(h: number): number {
  const buf = new DataView(new ArrayBuffer(4));
  buf.setUint32(0, (h & 0xffff) << 16);
  return buf.getFloat32(0);
}

/** Rounds x >= 0 to an integer, ties to even. */
function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  return d > 0.5 || (d === 0.5 && f % 2 === 1) ? f + 1 : f;
}

/**
 * Encodes a number as a small IEEE-style float with `expBits` exponent and `manBits` mantissa bits,
 * rounding to nearest, ties to even, straight from the double (no double rounding through float32).
 * Subnormals are kept; magnitudes at or past the halfway point above the largest finite become ±Inf;
 * NaN becomes the quiet NaN with the sign bit clear.
 */
function encodeSmallFloat(x: number, expBits: number, manBits: number): number {
  const expMask = (1 << expBits) - 1;
  const signBit = 1 << (expBits + manBits);
  if (Number.isNaN(x)) return (expMask << manBits) | (1 << (manBits - 1));
  const sign = x < 0 || Object.is(x, -0) ? signBit : 0;
  const a = Math.abs(x);
  const bias = expMask >> 1;
  const emin = 1 - bias;
  const inf = sign | (expMask << manBits);
  // Halfway between the largest finite value, (2 - 2^-manBits) 2^bias, and 2^(bias+1): rounds to Inf (even).
  if (a >= (2 - 2 ** -(manBits + 1)) * 2 ** bias) return inf;
  if (a < 2 ** emin) {
    // Subnormal: multiples of 2^(emin - manBits); a count of 2^manBits is the smallest normal, whose bits follow on.
    return sign | roundHalfEven(a * 2 ** (manBits - emin));
  }
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  let q = roundHalfEven((a / 2 ** e - 1) * 2 ** manBits);
  if (q === 1 << manBits) {
    q = 0;
    e++;
  }
  return sign | ((e + bias) << manBits) | q;
}

/**
 * IEEE 754 binary16 bits (0..0xffff) of `x`, rounded to nearest even; subnormals kept, |x| >= 65520
 * gives ±Inf (0x7c00 / 0xfc00), NaN gives 0x7e00. Examples: 1 -> 0x3c00, -2.5 -> 0xc100,
 * 65504 -> 0x7bff, 6e-8 -> 0x0001.
 */
export function numberToFloat16Bits(x: number): number {
  return encodeSmallFloat(x, 5, 10);
}

/**
 * bfloat16 bits (0..0xffff) of `x` (the high half of its float32, rounded to nearest even, from
 * the double directly); subnormals kept, overflow gives ±Inf (0x7f80 / 0xff80), NaN gives 0x7fc0.
 */
export function numberToBfloat16Bits(x: number): number {
  return encodeSmallFloat(x, 8, 7);
}

/** A storage dtype writeSafetensors can produce. */
export type SafetensorsStorage = 'F64' | 'F32' | 'F16' | 'BF16' | 'I32';

export interface WriteSafetensorsOptions {
  /**
   * How to store float tensors. A string applies to float32 tensors (float64 tensors stay F64); a
   * function chooses per tensor, for float32 and float64 alike. int32 tensors are always I32 (the
   * function is not asked). Default: float32 -> F32, float64 -> F64.
   */
  readonly storage?: 'F32' | 'F16' | 'BF16' | ((name: string, t: HostTensor) => SafetensorsStorage);
}

const STORAGES: readonly SafetensorsStorage[] = ['F64', 'F32', 'F16', 'BF16', 'I32'];

function storageOf(name: string, t: HostTensor, opts: WriteSafetensorsOptions | undefined): SafetensorsStorage {
  if (t.dtype === 'int32') return 'I32';
  const st = opts?.storage;
  if (st === undefined) return t.dtype === 'float64' ? 'F64' : 'F32';
  if (typeof st === 'function') {
    const s = st(name, t);
    if (!STORAGES.includes(s)) throw new Error(`writeSafetensors: expected the storage of '${name}' to be one of ${STORAGES.join('/')}, got ${show(s)}`);
    if (s === 'I32') throw new Error(`writeSafetensors: expected a float storage (F64/F32/F16/BF16) for the ${t.dtype} tensor '${name}', got I32 (would drop fractions)`);
    return s;
  }
  if (st !== 'F32' && st !== 'F16' && st !== 'BF16') throw new Error(`writeSafetensors: expected opts.storage to be 'F32', 'F16', 'BF16' or a function, got ${show(st)}`);
  return t.dtype === 'float64' ? 'F64' : st;
}

/**
 * Serializes host tensors (and string metadata) to safetensors bytes, in insertion order, with
 * the header padded with spaces so that the data section starts 8-byte aligned.
 * `opts.storage` narrows float tensors to F16 (IEEE binary16) or BF16, rounding to nearest even
 * (subnormals kept, NaN and ±Inf kept), or picks per tensor (see WriteSafetensorsOptions). Without
 * opts the output is as before: float64 -> F64, float32 -> F32, int32 -> I32.
 * @throws Error naming the tensor when a finite value would become ±Inf in the chosen storage (e.g.
 *   70000 in F16: silent Inf in weights is garbage), when the data length does not match the shape,
 *   or when the storage choice is unknown or I32 for a float tensor.
 */
export function writeSafetensors(tensors: Map<string, HostTensor> | Record<string, HostTensor>, metadata?: Record<string, string>, opts?: WriteSafetensorsOptions): Uint8Array {
  const entries = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  const storages: SafetensorsStorage[] = [];
  let off = 0;
  for (const [name, t] of entries) {
    const s = storageOf(name, t, opts);
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (opts && count !== t.data.length) throw new Error(`writeSafetensors: expected ${count} values for '${name}' of shape [${t.shape.join(', ')}], got ${t.data.length}`);
    const width = ST_BYTES[s]!;
    storages.push(s);
    header[name] = { dtype: s, shape: t.shape, data_offsets: [off, off + t.data.length * width] };
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
  entries.forEach(([name, t], k) => {
    const s = storages[k]!;
    const d = t.data;
    const overflow = (i: number, what: string): Error =>
      new Error(`writeSafetensors: expected the values of '${name}' to fit ${s}, got ${d[i]} at flat index ${i}, which would become ${what}`);
    for (let i = 0; i < d.length; i++) {
      const v = d[i]!;
      switch (s) {
        case 'F64': dv.setFloat64(p + i * 8, v, true); break;
        case 'F32':
          dv.setFloat32(p + i * 4, v, true);
          if (t.dtype === 'float64' && Number.isFinite(v) && !Number.isFinite(dv.getFloat32(p + i * 4, true))) throw overflow(i, 'Infinity');
          break;
        case 'F16': {
          const h = numberToFloat16Bits(v);
          if (Number.isFinite(v) && (h & 0x7c00) === 0x7c00) throw overflow(i, 'Infinity (F16 max is 65504)');
          dv.setUint16(p + i * 2, h, true);
          break;
        }
        case 'BF16': {
          const h = numberToBfloat16Bits(v);
          if (Number.isFinite(v) && (h & 0x7f80) === 0x7f80) throw overflow(i, 'Infinity');
          dv.setUint16(p + i * 2, h, true);
          break;
        }
        case 'I32': dv.setInt32(p + i * 4, v, true); break;
      }
    }
    p += d.length * ST_BYTES[s]!;
  });
  return out;
}
