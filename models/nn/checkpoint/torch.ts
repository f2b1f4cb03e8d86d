/**
 * What a PyTorch checkpoint's pickle may name, and how tensors are rebuilt from storages.
 *
 * The allowlist maps each permitted Python global to a builder of plain data:
 * - `torch._utils._rebuild_tensor_v2` / `_rebuild_tensor` / `_rebuild_parameter` (and
 *   `torch._tensor._rebuild_from_type_v2` for plain tensors and parameters) → a `TensorRef`;
 * - the storage classes (`torch.FloatStorage`, ..., `torch.cuda.*Storage`, `torch.UntypedStorage`)
 *   → a `StorageType` marker, used in persistent ids;
 * - `collections.OrderedDict` → Map; `builtins.set`/`frozenset` → Set; `_codecs.encode` → bytes;
 *   `torch.Size` → array; `torch.device` → string ('cuda:0'); torch dtypes → their name ('float16');
 * - numpy scalars and arrays (`numpy.dtype`, `numpy.core.multiarray.scalar`, `_reconstruct`,
 *   `numpy.core.numeric._frombuffer`),
 *   which training checkpoints use for metrics, → numbers and host tensors.
 * Any other global throws, naming it. Nothing is ever imported or executed.
 *
 * Tensors are rebuilt after the whole file is read (the legacy format stores the storages after
 * the pickle): `materialize` walks the unpickled value and replaces every TensorRef by a
 * contiguous, row-major HostTensor (overlapping views of one storage share its decoded data; the
 * memory is planned and budgeted before anything is decoded), converting dtypes: float64 →
 * float64; float32, float16, bfloat16 → float32; int64 (range-checked), int32, int16, int8, uint8,
 * bool → int32.
 */
import type { DType, TypedArray } from '../../../engine/dtype.js';
import type { HostTensor } from '../safetensors.js';
import { DEFAULT_MAX_DEPTH, type Budget } from './limits.js';
import { describe, isPyGlobal, latin1, pyGlobal, SET_STATE, type PyGlobal } from './pickle.js';

/** A tensor read from a checkpoint: a HostTensor that remembers the dtype it had in PyTorch. */
export interface PthTensor extends HostTensor {
  /** The PyTorch dtype in the file ('float32', 'float16', 'int64', 'bool', ...). */
  readonly sourceDtype: string;
}

/** An element type of a storage or numpy array, and how to read it. */
export interface ElementType {
  /** PyTorch's dtype name ('float32', 'int64', ...). */
  readonly name: string;
  readonly size: number;
  /** The posegrad dtype it converts to, or null when unsupported (complex, quantized). */
  readonly out: DType | null;
}

const ET = (name: string, size: number, out: DType | null): ElementType => ({ name, size, out });

/** PyTorch's legacy storage class names (torch/storage.py, _dtype_to_storage_type_map). */
const STORAGE_TYPES: Record<string, ElementType> = {
  DoubleStorage: ET('float64', 8, 'float64'),
  FloatStorage: ET('float32', 4, 'float32'),
  HalfStorage: ET('float16', 2, 'float32'),
  BFloat16Storage: ET('bfloat16', 2, 'float32'),
  LongStorage: ET('int64', 8, 'int32'),
  IntStorage: ET('int32', 4, 'int32'),
  ShortStorage: ET('int16', 2, 'int32'),
  CharStorage: ET('int8', 1, 'int32'),
  ByteStorage: ET('uint8', 1, 'int32'),
  BoolStorage: ET('bool', 1, 'int32'),
  UntypedStorage: ET('uint8', 1, 'int32'),
  ComplexFloatStorage: ET('complex64', 8, null),
  ComplexDoubleStorage: ET('complex128', 16, null),
  QInt8Storage: ET('qint8', 1, null),
  QUInt8Storage: ET('quint8', 1, null),
  QInt32Storage: ET('qint32', 4, null),
  QUInt4x2Storage: ET('quint4x2', 1, null),
  QUInt2x4Storage: ET('quint2x4', 1, null),
};

/** What GLOBAL torch.FloatStorage (etc.) pushes: a marker naming the element type. */
export interface StorageType extends PyGlobal {
  readonly elementType: ElementType;
}

export function isStorageType(v: unknown): v is StorageType {
  return !!v && typeof v === 'object' && 'elementType' in v && (v as unknown as PyGlobal).__pyGlobal === true;
}

/**
 * A storage from the file: a flat run of `numel` elements. Its bytes are attached when the
 * container provides them (immediately for zip archives, after the pickle for the legacy format).
 */
export class StorageRef {
  bytes: Uint8Array | null = null;
  constructor(
    readonly elementType: ElementType,
    readonly key: string,
    readonly numel: number,
    readonly littleEndian: boolean,
    /** For legacy storage views: the root storage and the element offset into it. */
    readonly root: StorageRef | null = null,
    readonly rootOffset = 0,
  ) {}

  /** The bytes of this storage (a view into the root's for a view). */
  data(op: string): Uint8Array {
    if (this.root) {
      const r = this.root.data(op);
      const start = this.rootOffset * this.elementType.size;
      return r.subarray(start, start + this.numel * this.elementType.size);
    }
    if (!this.bytes) throw new Error(`${op}: expected the data of storage '${this.key}', got none (the file ends before it, or it is missing from the archive)`);
    return this.bytes;
  }
}

/** A tensor as pickled: a strided view of a storage, rebuilt into a HostTensor by `materialize`. */
export class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly size: readonly number[],
    readonly stride: readonly number[],
  ) {}
}

/** A numpy dtype (numpy.dtype('f8', False, True) + BUILD with the byte order). */
class NpDType {
  byteOrder = '<';
  constructor(readonly code: string) {}
  [SET_STATE](state: unknown): void {
    if (Array.isArray(state) && typeof state[1] === 'string') this.byteOrder = state[1];
  }
}

/** A numpy array (numpy.core.multiarray._reconstruct + BUILD (version, shape, dtype, fortran, data)). */
class NpArray {
  constructor(readonly op: string) {}
  shape: number[] = [];
  dtype: NpDType | null = null;
  fortran = false;
  data: Uint8Array | null = null;
  [SET_STATE](state: unknown): void {
    if (!Array.isArray(state) || state.length < 5) throw new Error(`${this.op}: expected a numpy array state (version, shape, dtype, fortran, data), got ${describe(state)}`);
    const [, shape, dtype, fortran, data] = state as [unknown, unknown, unknown, unknown, unknown];
    if (!Array.isArray(shape) || !(dtype instanceof NpDType)) throw new Error(`${this.op}: expected a numpy array shape and dtype, got ${describe(shape)}, ${describe(dtype)}`);
    if (!(data instanceof Uint8Array)) throw new Error(`${this.op}: expected numpy array data as bytes, got ${describe(data)} (object arrays are not supported)`);
    if (shape.some((d) => typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0)) throw new Error(`${this.op}: expected a numpy array shape of non-negative integers, got ${describe(shape)}`);
    this.shape = shape as number[];
    this.dtype = dtype;
    this.fortran = fortran === true;
    this.data = data;
  }
}

const NP_TYPES: Record<string, ElementType> = {
  f8: ET('float64', 8, 'float64'),
  f4: ET('float32', 4, 'float32'),
  f2: ET('float16', 2, 'float32'),
  i8: ET('int64', 8, 'int32'),
  i4: ET('int32', 4, 'int32'),
  i2: ET('int16', 2, 'int32'),
  i1: ET('int8', 1, 'int32'),
  u8: ET('uint64', 8, 'int32'),
  u4: ET('uint32', 4, 'int32'),
  u2: ET('uint16', 2, 'int32'),
  u1: ET('uint8', 1, 'int32'),
  b1: ET('bool', 1, 'int32'),
};

function npElement(op: string, d: NpDType): { et: ElementType; le: boolean } {
  const et = NP_TYPES[d.code];
  if (!et) throw new Error(`${op}: expected a numpy dtype among [${Object.keys(NP_TYPES).join(', ')}], got '${d.code}'`);
  return { et, le: d.byteOrder !== '>' };
}

const TORCH_DTYPE_NAMES = ['float64', 'float32', 'float16', 'bfloat16', 'int64', 'int32', 'int16', 'int8', 'uint8', 'bool', 'double', 'float', 'half', 'long', 'int', 'short'];

function asTensorRef(op: string, v: unknown, what: string): TensorRef {
  if (!(v instanceof TensorRef)) throw new Error(`${op}: expected a tensor for ${what}, got ${describe(v)}`);
  return v;
}

function intList(op: string, v: unknown, what: string): number[] {
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0)) {
    throw new Error(`${op}: expected ${what} as a tuple of non-negative integers, got ${describe(v)}`);
  }
  return v as number[];
}

function rebuild(op: string, args: unknown[], fn: string): TensorRef {
  const [storage, offset, size, stride] = args;
  if (!(storage instanceof StorageRef)) throw new Error(`${op}: expected a storage as the first argument of ${fn}, got ${describe(storage)}`);
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) throw new Error(`${op}: expected a non-negative storage offset in ${fn}, got ${describe(offset)}`);
  const sz = intList(op, size, `the size in ${fn}`);
  const st = intList(op, stride, `the stride in ${fn}`);
  if (sz.length !== st.length) throw new Error(`${op}: expected as many strides as dims in ${fn}, got size [${sz}] and stride [${st}]`);
  return new TensorRef(storage, offset, sz, st);
}

/**
 * The allowlist: a findGlobal for `unpickle` that maps each permitted (module, name) to a builder,
 * and throws for any other global.
 */
export function torchGlobals(op: string): (module: string, name: string) => PyGlobal {
  const table = new Map<string, PyGlobal>();
  const def = (names: string[], impl: { call?: (args: unknown[]) => unknown; newObj?: (args: unknown[]) => unknown; value?: unknown }): void => {
    for (const n of names) table.set(n, pyGlobal(n, impl));
  };
  def(['torch._utils._rebuild_tensor_v2', 'torch._utils._rebuild_tensor'], { call: (a) => rebuild(op, a, '_rebuild_tensor_v2') });
  def(['torch._utils._rebuild_parameter', 'torch._utils._rebuild_parameter_with_state'], { call: (a) => asTensorRef(op, a[0], '_rebuild_parameter') });
  def(['torch._tensor._rebuild_from_type_v2'], {
    call: (a) => {
      const [fn, type, args] = a as [PyGlobal, PyGlobal, unknown[]];
      if (!type || !['torch.Tensor', 'torch.nn.parameter.Parameter'].includes(type.qualname)) throw new Error(`${op}: expected a tensor type torch.Tensor or torch.nn.Parameter, got ${describe(type)}`);
      // Only the tensor rebuilders (not _rebuild_from_type_v2 itself, whose nesting would recurse).
      if (!isPyGlobal(fn) || !fn.call || !fn.qualname.startsWith('torch._utils._rebuild_')) throw new Error(`${op}: expected a tensor rebuild function (torch._utils._rebuild_*), got ${describe(fn)}`);
      if (!Array.isArray(args)) throw new Error(`${op}: expected an argument tuple for ${fn.qualname}, got ${describe(args)}`);
      return fn.call(args);
    },
  });
  def(['torch.Tensor', 'torch.nn.parameter.Parameter', 'numpy.ndarray'], {});
  def(['collections.OrderedDict'], {
    call: (a) => {
      const m = new Map<unknown, unknown>();
      const items = a[0];
      if (Array.isArray(items)) for (const kv of items) if (Array.isArray(kv) && kv.length === 2) m.set(kv[0], kv[1]);
      return m;
    },
  });
  def(['builtins.set', '__builtin__.set', 'builtins.frozenset', '__builtin__.frozenset'], { call: (a) => new Set(Array.isArray(a[0]) ? a[0] : []) });
  def(['builtins.bytearray', '__builtin__.bytearray'], { call: (a) => (a[0] instanceof Uint8Array ? a[0] : typeof a[0] === 'string' ? encode(op, a[0], text(op, a[1] ?? 'latin1', 'an encoding')) : new Uint8Array(0)) });
  def(['_codecs.encode'], { call: (a) => encode(op, text(op, a[0], 'a string for _codecs.encode'), text(op, a[1] ?? 'utf-8', 'an encoding')) });
  def(['torch.Size'], { call: (a) => [...intList(op, a[0] ?? [], 'torch.Size')] });
  def(['torch.device'], { call: (a) => (a.length > 1 && a[1] !== null ? `${text(op, a[0], 'a device type')}:${keyOf(op, a[1], 'a device index')}` : text(op, a[0], 'a device')) });
  for (const d of TORCH_DTYPE_NAMES) def([`torch.${d}`], { value: d });
  def(['numpy.dtype'], { call: (a) => new NpDType(text(op, a[0], 'a numpy dtype code')) });
  def(['numpy.core.multiarray.scalar', 'numpy._core.multiarray.scalar'], {
    call: (a) => {
      const [d, bytes] = a;
      if (!(d instanceof NpDType) || !(bytes instanceof Uint8Array)) throw new Error(`${op}: expected numpy.scalar(dtype, bytes), got ${describe(d)}, ${describe(bytes)}`);
      const { et, le } = npElement(op, d);
      if (bytes.length !== et.size) throw new Error(`${op}: expected ${et.size} bytes for a numpy ${et.name} scalar, got ${bytes.length}`);
      const v = readElements(op, et, bytes, le, 0, 1, 'a numpy scalar')[0]!;
      return et.name === 'bool' ? v !== 0 : v;
    },
  });
  def(['numpy.core.multiarray._reconstruct', 'numpy._core.multiarray._reconstruct'], { call: () => new NpArray(op) });
  // Pickle protocol 5 arrays: _frombuffer(bytes, dtype, shape, order).
  def(['numpy.core.numeric._frombuffer', 'numpy._core.numeric._frombuffer'], {
    call: (a) => {
      const [data, dtype, shape, order] = a;
      const arr = new NpArray(op);
      arr[SET_STATE]([1, shape, dtype, order === 'F', data]);
      return arr;
    },
  });
  for (const [name, et] of Object.entries(STORAGE_TYPES)) {
    for (const mod of ['torch', 'torch.cuda']) {
      const qualname = `${mod}.${name}`;
      table.set(qualname, { __pyGlobal: true, qualname, elementType: et } as StorageType);
    }
  }
  for (const t of ['Double', 'Float', 'Half', 'BFloat16', 'Long', 'Int', 'Short', 'Char', 'Byte', 'Bool']) {
    // Legacy tensor classes named in the tar format's tensor records.
    def([`torch.${t}Tensor`, `torch.cuda.${t}Tensor`], {});
  }
  return (module, name) => {
    const g = table.get(`${module}.${name}`);
    if (!g) {
      throw new Error(
        `${op}: expected a pickle global from the allowlist of tensor and container builders (torch._utils._rebuild_tensor_v2, collections.OrderedDict, torch.*Storage, numpy scalars, ...), got '${module}.${name}'. ` +
          'posegrad never executes pickled code; save a state_dict of plain tensors (model.state_dict()) instead of objects.',
      );
    }
    return g;
  };
}

/** A pickled str, or an Error naming `what`. */
function text(op: string, v: unknown, what: string): string {
  if (typeof v !== 'string') throw new Error(`${op}: expected ${what} as a string, got ${describe(v)}`);
  return v;
}

/**
 * A storage or tensor key (str, int or bytes) as a string; anything else (a tuple, a dict) throws,
 * rather than being stringified.
 */
export function keyOf(op: string, v: unknown, what: string): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  if (v instanceof Uint8Array) return latin1(v);
  throw new Error(`${op}: expected ${what} as a string or an integer, got ${describe(v)}`);
}

function encode(op: string, s: string, enc: string): Uint8Array {
  const e = enc.toLowerCase().replace('_', '-');
  if (e === 'latin1' || e === 'latin-1' || e === 'iso-8859-1') {
    const out = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c > 255) throw new Error(`${op}: expected a latin-1 string for _codecs.encode, got a character U+${c.toString(16)}`);
      out[i] = c;
    }
    return out;
  }
  if (e === 'utf-8' || e === 'utf8') return new TextEncoder().encode(s);
  throw new Error(`${op}: expected a latin1 or utf-8 encoding for _codecs.encode, got '${enc}'`);
}

/** The StorageRef that a persistent id ('storage', type, key, location, numel[, view]) names. */
export function storageFromPid(op: string, pid: unknown, storages: Map<string, StorageRef>, littleEndian: boolean): StorageRef {
  if (!Array.isArray(pid) || pid.length < 5) throw new Error(`${op}: expected a persistent id ('storage', type, key, location, numel), got ${describe(pid)}`);
  const [kind, type, rawKey, , numel, view] = pid as [unknown, unknown, unknown, unknown, unknown, unknown];
  const k = kind instanceof Uint8Array ? latin1(kind) : kind;
  if (k === 'module') throw new Error(`${op}: expected tensors and containers, got a pickled nn.Module class; save model.state_dict() instead of the model`);
  if (k !== 'storage') throw new Error(`${op}: expected a persistent id of kind 'storage', got ${describe(k)}`);
  if (!isStorageType(type)) throw new Error(`${op}: expected a storage type (torch.FloatStorage, ...), got ${describe(type)}`);
  const et = type.elementType;
  if (!et.out) throw new Error(`${op}: expected a storage dtype among [float64, float32, float16, bfloat16, int64, int32, int16, int8, uint8, bool], got ${et.name} (${type.qualname})`);
  if (typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0) throw new Error(`${op}: expected a storage size, got ${describe(numel)}`);
  const key = keyOf(op, rawKey, 'a storage key');
  let root = storages.get(key);
  if (!root) {
    root = new StorageRef(et, key, numel, littleEndian);
    storages.set(key, root);
  } else if (root.elementType.name !== et.name) {
    throw new Error(`${op}: expected storage '${key}' to keep dtype ${root.elementType.name}, got ${et.name}`);
  }
  if (Array.isArray(view)) {
    // Legacy storage views: (view_key, offset, view_numel).
    const [vk, off, vn] = view as [unknown, unknown, unknown];
    const viewKey = keyOf(op, vk, 'a storage view key');
    let v = storages.get(viewKey);
    if (!v) {
      if (typeof off !== 'number' || typeof vn !== 'number' || !Number.isSafeInteger(off) || !Number.isSafeInteger(vn) || off < 0 || vn < 0) {
        throw new Error(`${op}: expected a storage view (key, offset, size) of non-negative integers, got offset ${describe(off)} and size ${describe(vn)}`);
      }
      if (off + vn > root.numel) throw new Error(`${op}: expected a storage view inside its root of ${root.numel} elements, got offset ${off} + ${vn}`);
      // A view of a view is a view of the first root.
      v = new StorageRef(et, viewKey, vn, littleEndian, root.root ?? root, root.rootOffset + off);
      storages.set(viewKey, v);
    }
    return v;
  }
  return root;
}

// ------------------------------------------------------------------------------------ decoding

function half(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

const f32view = new DataView(new ArrayBuffer(4));
function bf16(h: number): number {
  f32view.setUint32(0, h << 16);
  return f32view.getFloat32(0);
}

/**
 * Reads elements [first, first + count) of a flat run of `et` values into posegrad's host dtype.
 * @throws Error (naming `what`) for int64/uint values outside the int32 range, or an unsupported type.
 */
export function readElements(op: string, et: ElementType, bytes: Uint8Array, le: boolean, first: number, count: number, what: string): TypedArray {
  if (!et.out) throw new Error(`${op}: expected a supported dtype for ${what}, got ${et.name}`);
  const need = (first + count) * et.size;
  if (need > bytes.length) throw new Error(`${op}: expected ${need} bytes of data for ${what}, got ${bytes.length} (truncated file?)`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const base = first * et.size;
  switch (et.name) {
    case 'float64': {
      const a = new Float64Array(count);
      for (let i = 0; i < count; i++) a[i] = dv.getFloat64(base + i * 8, le);
      return a;
    }
    case 'float32': {
      if (le && (bytes.byteOffset + base) % 4 === 0) return new Float32Array(bytes.buffer.slice(bytes.byteOffset + base, bytes.byteOffset + base + count * 4));
      const a = new Float32Array(count);
      for (let i = 0; i < count; i++) a[i] = dv.getFloat32(base + i * 4, le);
      return a;
    }
    case 'float16':
    case 'bfloat16': {
      const a = new Float32Array(count);
      const f = et.name === 'float16' ? half : bf16;
      for (let i = 0; i < count; i++) a[i] = f(dv.getUint16(base + i * 2, le));
      return a;
    }
    case 'int64':
    case 'uint64': {
      const a = new Int32Array(count);
      for (let i = 0; i < count; i++) {
        const lo = dv.getUint32(base + i * 8 + (le ? 0 : 4), le);
        const hi = dv.getInt32(base + i * 8 + (le ? 4 : 0), le);
        const ok = et.name === 'int64' ? (hi === 0 && lo < 0x80000000) || (hi === -1 && lo >= 0x80000000) : hi === 0 && lo < 0x80000000;
        if (!ok) throw new Error(`${op}: expected ${et.name} values within the int32 range for ${what}, got ${BigInt(hi) * 4294967296n + BigInt(lo)}`);
        a[i] = lo | 0;
      }
      return a;
    }
    case 'int32':
    case 'uint32': {
      const a = new Int32Array(count);
      for (let i = 0; i < count; i++) {
        const v = et.name === 'int32' ? dv.getInt32(base + i * 4, le) : dv.getUint32(base + i * 4, le);
        if (v > 0x7fffffff) throw new Error(`${op}: expected uint32 values within the int32 range for ${what}, got ${v}`);
        a[i] = v;
      }
      return a;
    }
    case 'int16':
    case 'uint16': {
      const a = new Int32Array(count);
      for (let i = 0; i < count; i++) a[i] = et.name === 'int16' ? dv.getInt16(base + i * 2, le) : dv.getUint16(base + i * 2, le);
      return a;
    }
    case 'int8': {
      const a = new Int32Array(count);
      for (let i = 0; i < count; i++) a[i] = dv.getInt8(base + i);
      return a;
    }
    default: {
      // uint8, bool
      const a = new Int32Array(count);
      for (let i = 0; i < count; i++) a[i] = bytes[base + i]!;
      return a;
    }
  }
}

/** Bytes per element of a posegrad host dtype. */
function outSize(d: DType): number {
  return d === 'float64' ? 8 : 4;
}

function emptyOf(d: DType): TypedArray {
  return d === 'float64' ? new Float64Array(0) : d === 'float32' ? new Float32Array(0) : new Int32Array(0);
}

/** A path for messages, shortened when deep nesting makes it long. */
function shortPath(path: string): string {
  return path.length > 120 ? `${path.slice(0, 60)}...${path.slice(-40)}` : path;
}

/** One tensor to decode: where it lies in its root storage, and whether it is one contiguous run there. */
interface Plan {
  readonly ref: TensorRef;
  readonly path: string;
  readonly n: number;
  readonly root: StorageRef;
  /** First and last element in the root storage. */
  readonly start: number;
  readonly last: number;
  readonly contiguous: boolean;
  /** The decoded run of the root that holds this tensor (set when decoding). */
  cluster?: Cluster;
}

/** Overlapping tensors of one root storage share one decoded run: views stay views. */
interface Cluster {
  readonly root: StorageRef;
  readonly start: number;
  end: number;
  readonly paths: string[];
  data?: TypedArray;
}

/**
 * Checks a tensor against its storage (bounds, bytes present) and where it lies in the root.
 * @throws Error naming the tensor when it runs past its storage or the storage's bytes are missing.
 */
function planTensor(op: string, r: TensorRef, path: string): Plan {
  const st = r.storage;
  const et = st.elementType;
  const what = `tensor '${shortPath(path)}'`;
  // (A zero dim makes the tensor empty even when the other dims' product overflows.)
  let n = r.size.includes(0) ? 0 : 1;
  for (const d of r.size) n *= d;
  const root = st.root ?? st;
  const base = st.root ? st.rootOffset : 0;
  if (n === 0) return { ref: r, path, n, root, start: base + r.offset, last: base + r.offset, contiguous: true };
  let last = r.offset;
  for (let d = 0; d < r.size.length; d++) last += (r.size[d]! - 1) * r.stride[d]!;
  if (!(last < st.numel)) throw new Error(`${op}: expected ${what} (offset ${r.offset}, size [${r.size}], stride [${r.stride}]) inside its storage of ${st.numel} elements, got an element at index ${last}`);
  const bytes = st.data(op);
  if (bytes.length < st.numel * et.size) throw new Error(`${op}: expected ${st.numel * et.size} bytes for the storage of ${what}, got ${bytes.length} (truncated file?)`);
  // Contiguous row-major: one run of elements.
  let contiguous = true;
  let expect = 1;
  for (let d = r.size.length - 1; d >= 0; d--) {
    if (r.size[d] !== 1 && r.stride[d] !== expect) contiguous = false;
    expect *= r.size[d]!;
  }
  return { ref: r, path, n, root, start: base + r.offset, last: base + last, contiguous };
}

/** Copies a strided view out of the decoded run `span` (whose first element is the view's first) in row-major order. */
function gather(out: DType, span: TypedArray, spanFirst: number, r: TensorRef, n: number): TypedArray {
  const data = out === 'float64' ? new Float64Array(n) : out === 'float32' ? new Float32Array(n) : new Int32Array(n);
  const shape = r.size;
  const idx = new Array<number>(shape.length).fill(0);
  let src = spanFirst;
  for (let i = 0; i < n; i++) {
    data[i] = span[src]!;
    for (let d = shape.length - 1; d >= 0; d--) {
      idx[d]!++;
      src += r.stride[d]!;
      if (idx[d]! < shape[d]!) break;
      src -= r.stride[d]! * shape[d]!;
      idx[d] = 0;
    }
  }
  return data;
}

/** A numpy array as a tensor reference over its own bytes (C or Fortran order). */
function numpyRef(op: string, a: NpArray, path: string): TensorRef {
  if (!a.dtype || !a.data) throw new Error(`${op}: expected a complete numpy array for '${path}', got one without state`);
  const { et, le } = npElement(op, a.dtype);
  let n = a.shape.includes(0) ? 0 : 1;
  for (const d of a.shape) n *= d;
  if (n * et.size > a.data.length) throw new Error(`${op}: expected ${n * et.size} bytes of data for numpy array '${shortPath(path)}' of shape [${a.shape}], got ${a.data.length} (truncated file?)`);
  const stride: number[] = new Array<number>(a.shape.length);
  let acc = 1;
  if (a.fortran) for (let d = 0; d < a.shape.length; d++) (stride[d] = acc), (acc *= a.shape[d]!);
  else for (let d = a.shape.length - 1; d >= 0; d--) (stride[d] = acc), (acc *= a.shape[d]!);
  const st = new StorageRef(et, path, n, le);
  st.bytes = a.data;
  return new TensorRef(st, 0, a.shape, stride);
}

export interface MaterializeOptions {
  /** The memory budget that decoded tensors are charged to (default: unlimited). */
  budget?: Budget;
  /** The deepest nesting of containers walked (default 1000). */
  maxDepth?: number;
}

/**
 * Replaces every TensorRef (and numpy array) inside `value` by a HostTensor, in place for dicts and
 * lists. `path` names entries in errors.
 *
 * Memory is planned before anything is decoded: every tensor is checked against its storage, the
 * tensors of one storage that overlap are decoded once as one run and are views (subarrays) of it,
 * a tensor shared by several entries is decoded once, and strided tensors (transposed, expanded with
 * stride 0) get their own row-major copy. The total is charged to `opts.budget` first.
 * @throws Error naming the tensor for a view outside its storage, missing storage bytes, a budget
 *   exceeded, or containers nested deeper than `opts.maxDepth`.
 */
export function materialize(op: string, value: unknown, opts: MaterializeOptions = {}): unknown {
  const maxDepth = opts.maxDepth ?? DEFAULT_MAX_DEPTH;
  const at = (path: string, k: unknown): string => {
    const ks = k !== null && typeof k === 'object' ? `<${describe(k)}>` : String(k);
    return path ? `${path}.${ks}` : ks;
  };

  // 1. Find the tensors (first path of each), checking the nesting depth.
  const refs = new Map<object, { ref: TensorRef; path: string }>();
  const seen = new Set<object>();
  const find = (v: unknown, path: string, depth: number): void => {
    if (v === null || typeof v !== 'object' || v instanceof Uint8Array || seen.has(v)) return;
    seen.add(v);
    if (v instanceof TensorRef) return void refs.set(v, { ref: v, path });
    if (v instanceof NpArray) return void refs.set(v, { ref: numpyRef(op, v, path), path });
    if (v instanceof StorageRef) throw new Error(`${op}: expected tensors, got a bare storage at '${shortPath(path)}' (save tensors, not storages)`);
    if (!(v instanceof Map || Array.isArray(v) || v instanceof Set)) return;
    if (depth >= maxDepth) throw new Error(`${op}: expected containers nested at most ${maxDepth} deep (maxDepth), got deeper at '${shortPath(path)}'`);
    if (v instanceof Map) {
      for (const [k, x] of v) {
        find(k, at(path, k), depth + 1); // keys are not replaced, but their depth counts
        find(x, at(path, k), depth + 1);
      }
    }
    else if (Array.isArray(v)) for (let i = 0; i < v.length; i++) find(v[i], at(path, i), depth + 1);
    else for (const x of v) find(x, path, depth + 1);
  };
  find(value, '', 0);

  // 2. Plan: bounds, then overlapping runs of each root storage merged into clusters.
  const plans = new Map<object, Plan>();
  for (const [k, { ref, path }] of refs) plans.set(k, planTensor(op, ref, path));
  const byRoot = new Map<StorageRef, Plan[]>();
  for (const p of plans.values()) {
    if (p.n === 0) continue;
    let list = byRoot.get(p.root);
    if (!list) byRoot.set(p.root, (list = []));
    list.push(p);
  }
  const budget = opts.budget;
  for (const [root, list] of byRoot) {
    const out = root.elementType.out!;
    list.sort((a, b) => a.start - b.start);
    let cur: Cluster | null = null;
    const clusters: Cluster[] = [];
    for (const p of list) {
      if (!cur || p.start > cur.end) clusters.push((cur = { root, start: p.start, end: p.last, paths: [] }));
      cur.end = Math.max(cur.end, p.last);
      if (cur.paths.length < 3) cur.paths.push(p.path);
      p.cluster = cur;
    }
    if (budget) {
      for (const c of clusters) {
        const n = (c.end - c.start + 1) * outSize(out);
        if (!budget.fits(n)) budget.charge(n, `the ${root.elementType.name} data of tensor${c.paths.length > 1 ? 's' : ''} ${c.paths.map((x) => `'${shortPath(x)}'`).join(', ')}${c.paths.length > 2 ? ', ...' : ''} (elements ${c.start} to ${c.end} of storage '${root.key}')`);
        budget.used += n;
      }
    }
  }
  // Strided tensors need a copy each; identical views share one.
  const copies = new Map<string, Plan>();
  const copyOf = new Map<Plan, Plan>();
  for (const p of plans.values()) {
    if (p.contiguous || p.n === 0) continue;
    const key = `${p.root.key}|${p.start}|${p.ref.size}|${p.ref.stride}`;
    const first = copies.get(key);
    if (first && first.root === p.root) {
      copyOf.set(p, first);
      continue;
    }
    copies.set(key, p);
    if (budget) {
      const n = p.n * outSize(p.root.elementType.out!);
      if (!budget.fits(n)) budget.charge(n, `tensor '${shortPath(p.path)}' (size [${p.ref.size}], stride [${p.ref.stride}]: a strided copy of ${p.n} ${p.root.elementType.name} elements)`);
      budget.used += n;
    }
  }

  // 3. Decode: each cluster once, then views and copies.
  const built = new Map<Plan, PthTensor>();
  const tensorOf = (p: Plan): PthTensor => {
    const done = built.get(p);
    if (done) return done;
    const et = p.root.elementType;
    const out = et.out!;
    const shape = [...p.ref.size];
    let data: TypedArray;
    if (p.n === 0) data = emptyOf(out);
    else {
      const c = p.cluster!;
      if (!c.data) {
        const what = c.paths.length > 1 ? `storage '${c.root.key}' (tensors ${c.paths.map((x) => `'${shortPath(x)}'`).join(', ')})` : `tensor '${shortPath(c.paths[0]!)}'`;
        c.data = readElements(op, et, c.root.data(op), c.root.littleEndian, c.start, c.end - c.start + 1, what);
      }
      const first = p.start - c.start;
      const twin = copyOf.get(p);
      if (p.contiguous) data = c.data.subarray(first, first + p.n);
      else if (twin) data = tensorOf(twin).data as TypedArray;
      else data = gather(out, c.data, first, p.ref, p.n);
    }
    const t: PthTensor = { dtype: out, shape, data, sourceDtype: et.name };
    built.set(p, t);
    return t;
  };

  // 4. Replace, in place.
  const done = new Map<object, unknown>();
  const walk = (v: unknown): unknown => {
    if (v === null || typeof v !== 'object' || v instanceof Uint8Array) return v;
    const prev = done.get(v);
    if (prev !== undefined) return prev;
    const plan = plans.get(v);
    if (plan) {
      const t = tensorOf(plan);
      done.set(v, t);
      return t;
    }
    if (v instanceof NpDType) return `numpy.${v.code}`;
    // A class named as data (the tar format's tensor types): its dotted name.
    if (isPyGlobal(v)) return v.qualname;
    done.set(v, v);
    if (v instanceof Map) for (const [k, x] of v) v.set(k, walk(x));
    else if (Array.isArray(v)) for (let i = 0; i < v.length; i++) v[i] = walk(v[i]);
    else if (v instanceof Set) {
      const items = [...v];
      v.clear();
      for (const x of items) v.add(walk(x));
    }
    return v;
  };
  return walk(value);
}
