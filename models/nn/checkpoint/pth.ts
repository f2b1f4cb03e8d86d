/**
 * Loads PyTorch checkpoints (`torch.save` output) in TypeScript, without Python and without
 * executing anything. Three containers are recognized by their first bytes:
 *
 * - **zip** (torch ≥ 1.6, the default): `<name>/data.pkl` is the object pickle; each storage is the
 *   entry `<name>/data/<key>`; `<name>/byteorder` (torch ≥ 2.1) gives the byte order.
 * - **legacy** (torch < 1.6, or `_use_new_zipfile_serialization=False`; DCPose and RPSTN used it):
 *   five things one after another: a pickled magic number, the protocol version (1001), a sys-info
 *   dict, the object pickle, the sorted list of storage keys; then, for each key, an int64 element
 *   count and the raw little-endian storage.
 * - **tar** (torch before 0.1.10; torch 1.13 still reads it): members 'storages' (records + raw
 *   data), 'tensors' (size/stride/offset records) and 'pickle' (the object, whose persistent ids
 *   are tensor keys).
 *
 * The object pickle is read by `unpickle` with the allowlist of `torchGlobals`; tensors become
 * contiguous HostTensors (see `materialize`). Python dicts become Maps, tuples and lists arrays.
 */
import { describe, latin1, unpickle } from './pickle.js';
import { isTar, readTar } from './tar.js';
import { materialize, storageFromPid, StorageRef, TensorRef, torchGlobals, type PthTensor } from './torch.js';
import { readZip, readZipEntry, readZipEntryAsync, type InflateRaw, type ZipArchive } from './zip.js';

/** A value read from a checkpoint. Python dicts are Maps (keys keep their Python type). */
export type PyValue = null | boolean | number | bigint | string | Uint8Array | PthTensor | PyValue[] | Map<PyKey, PyValue> | Set<PyValue>;
export type PyKey = string | number | bigint | boolean | null | PyValue[];

export interface LoadPthOptions {
  /** Inflates deflated zip entries (default: Node's zlib when available). */
  inflateRaw?: InflateRaw;
  /** Check zip CRC-32s (default true). */
  verify?: boolean;
}

export type CheckpointFormat = 'zip' | 'legacy' | 'tar' | 'safetensors' | 'unknown';

const OP = 'loadPth';
const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL = 1001;

function fail(expected: string, received: string): never {
  throw new Error(`${OP}: expected ${expected}, got ${received}`);
}

/** Guesses the container of a checkpoint from its first bytes. */
export function detectFormat(bytes: Uint8Array): CheckpointFormat {
  if (bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04) return 'zip';
  if (isTar(bytes)) return 'tar';
  if (bytes.length >= 2 && bytes[0] === 0x80 && bytes[1]! >= 2 && bytes[1]! <= 5) return 'legacy';
  if (bytes.length >= 9) {
    const n = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, true);
    if (n > 0n && n < BigInt(bytes.length) && bytes[8] === 0x7b) return 'safetensors';
  }
  return 'unknown';
}

/**
 * Reads a `.pth`/`.pt`/`.pth.tar` checkpoint written by torch.save (any of the three containers).
 * Deflated zip entries are inflated with `opts.inflateRaw`, or Node's zlib when available; in a
 * browser use `loadPthAsync`.
 * @returns the saved object: a Map for a state dict (tensor values as PthTensor), or a Map holding
 *   'state_dict', 'epoch', 'optimizer', ... for a training checkpoint.
 * @throws Error when the file is truncated or corrupt, is not a PyTorch checkpoint (or is a
 *   TorchScript archive), names a Python global outside the allowlist (such as `os.system` or a
 *   user class), or holds an unsupported dtype (complex, quantized).
 */
export function loadPth(bytes: Uint8Array, opts: LoadPthOptions = {}): PyValue {
  const fmt = detectFormat(bytes);
  if (fmt === 'zip') {
    const zip = readZip(bytes);
    return loadZip(zip, (name) => readZipEntry(zip, name, { inflateRaw: opts.inflateRaw, verify: opts.verify }));
  }
  if (fmt === 'legacy') return loadLegacy(bytes);
  if (fmt === 'tar') return loadTar(bytes);
  if (fmt === 'safetensors') fail('a PyTorch checkpoint (zip, legacy or tar)', 'a safetensors file (use readSafetensors or loadCheckpointFile)');
  fail('a PyTorch checkpoint (a zip archive, a legacy pickle stream starting with 0x80, or a tar)', `${bytes.length} bytes starting with [${[...bytes.subarray(0, 4)].map((b) => '0x' + b.toString(16).padStart(2, '0')).join(', ')}]`);
}

/** loadPth, inflating deflated zip entries with DecompressionStream (browsers and Node). */
export async function loadPthAsync(bytes: Uint8Array, opts: { verify?: boolean } = {}): Promise<PyValue> {
  if (detectFormat(bytes) !== 'zip') return loadPth(bytes, opts);
  const zip = readZip(bytes);
  const cache = new Map<string, Uint8Array>();
  for (const name of zip.entries.keys()) cache.set(name, await readZipEntryAsync(zip, name, opts));
  return loadZip(zip, (name) => {
    const b = cache.get(name);
    if (!b) return readZipEntry(zip, name, opts);
    return b;
  });
}

// ------------------------------------------------------------------------------------ zip

function loadZip(zip: ZipArchive, entry: (name: string) => Uint8Array): PyValue {
  const pkls = [...zip.entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n) || n === 'data.pkl');
  if (pkls.length !== 1) {
    fail("one '<archive>/data.pkl' entry (a torch.save zip archive)", `${pkls.length} among [${[...zip.entries.keys()].slice(0, 8).join(', ')}]`);
  }
  const prefix = pkls[0]!.slice(0, -'data.pkl'.length);
  if (zip.entries.has(`${prefix}constants.pkl`) || [...zip.entries.keys()].some((n) => n.startsWith(`${prefix}code/`))) {
    fail('a torch.save checkpoint', 'a TorchScript archive (torch.jit.save); save the model.state_dict() with torch.save instead');
  }
  let littleEndian = true;
  if (zip.entries.has(`${prefix}byteorder`)) {
    const order = latin1(entry(`${prefix}byteorder`)).trim();
    if (order !== 'little' && order !== 'big') fail("byteorder 'little' or 'big'", JSON.stringify(order));
    littleEndian = order === 'little';
  }
  const storages = new Map<string, StorageRef>();
  const { value } = unpickle(entry(pkls[0]!), {
    op: OP,
    findGlobal: torchGlobals(OP),
    persistentLoad: (pid) => {
      const s = storageFromPid(OP, pid, storages, littleEndian);
      if (!s.root && !s.bytes) {
        const name = `${prefix}data/${s.key}`;
        if (!zip.entries.has(name)) fail(`the storage entry '${name}'`, 'no such entry (truncated or incomplete archive)');
        s.bytes = entry(name);
      }
      return s;
    },
  });
  return materialize(OP, value) as PyValue;
}

// ------------------------------------------------------------------------------------ legacy stream

function loadLegacy(bytes: Uint8Array): PyValue {
  const plain = { op: OP, findGlobal: torchGlobals(OP) };
  let r = unpickle(bytes, plain, 0);
  const magic = typeof r.value === 'number' ? BigInt(r.value) : r.value;
  if (magic !== LEGACY_MAGIC) fail('the legacy torch.save magic number 0x1950a86a20f9469cfc6c', describe(r.value));
  r = unpickle(bytes, plain, r.end);
  if (r.value !== LEGACY_PROTOCOL) fail(`legacy protocol version ${LEGACY_PROTOCOL}`, describe(r.value));
  r = unpickle(bytes, plain, r.end);
  const sysInfo = r.value;
  if (!(sysInfo instanceof Map)) fail('a sys_info dict', describe(sysInfo));
  const littleEndian = sysInfo.get('little_endian') !== false;
  const storages = new Map<string, StorageRef>();
  r = unpickle(bytes, { ...plain, persistentLoad: (pid) => storageFromPid(OP, pid, storages, littleEndian) }, r.end);
  const value = r.value;
  r = unpickle(bytes, plain, r.end);
  const keys = r.value;
  if (!Array.isArray(keys)) fail('the list of storage keys after the object', describe(keys));
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let p = r.end;
  for (const k of keys) {
    const s = storages.get(String(k));
    if (!s) fail(`storage '${String(k)}' to be referenced by the object`, 'an unreferenced key (corrupt file)');
    if (p + 8 > bytes.length) fail(`the element count of storage '${s.key}' at offset ${p}`, 'the end of the file (truncated file)');
    const n = dv.getBigInt64(p, true);
    if (n !== BigInt(s.numel)) fail(`${s.numel} elements in storage '${s.key}'`, String(n));
    p += 8;
    const size = s.numel * s.elementType.size;
    if (p + size > bytes.length) fail(`${size} bytes of storage '${s.key}' at offset ${p}`, `${bytes.length - p} (truncated file)`);
    s.bytes = bytes.subarray(p, p + size);
    p += size;
  }
  return materialize(OP, value) as PyValue;
}

// ------------------------------------------------------------------------------------ tar

function loadTar(bytes: Uint8Array): PyValue {
  const members = readTar(bytes);
  const get = (name: string): Uint8Array => {
    const m = members.get(name);
    if (!m) fail(`a '${name}' member in the tar checkpoint`, `members [${[...members.keys()].join(', ')}]`);
    return m;
  };
  const plain = { op: OP, findGlobal: torchGlobals(OP) };
  const objects = new Map<string, StorageRef | TensorRef>();

  // storages: count, then per storage (key, location, storage_type) + int64 count + raw data; then views.
  const sb = get('storages');
  const sdv = new DataView(sb.buffer, sb.byteOffset, sb.byteLength);
  let r = unpickle(sb, plain, 0);
  const numStorages = r.value;
  if (typeof numStorages !== 'number') fail('a storage count', describe(numStorages));
  let p = r.end;
  for (let i = 0; i < numStorages; i++) {
    r = unpickle(sb, plain, p);
    const rec = r.value;
    if (!Array.isArray(rec) || rec.length !== 3) fail('a storage record (key, location, storage_type)', describe(rec));
    const [key, , type] = rec;
    p = r.end;
    if (p + 8 > sb.length) fail(`the element count of storage ${String(key)}`, 'the end of the member (truncated file)');
    const n = Number(sdv.getBigInt64(p, true));
    p += 8;
    const s = storageFromPid(OP, ['storage', type, key, 'cpu', n], new Map(), true);
    const size = n * s.elementType.size;
    if (p + size > sb.length) fail(`${size} bytes of storage ${String(key)}`, `${sb.length - p} (truncated file)`);
    s.bytes = sb.subarray(p, p + size);
    p += size;
    objects.set(String(key), s);
  }
  r = unpickle(sb, plain, p);
  const views = r.value;
  if (!Array.isArray(views)) fail('a list of storage views', describe(views));
  for (const v of views) {
    const [target, root, offset, numel] = v as [unknown, unknown, number, number];
    const base = objects.get(String(root));
    if (!(base instanceof StorageRef)) fail(`a root storage ${String(root)} for view ${String(target)}`, 'none');
    if (offset + numel > base.numel) fail(`a view inside storage ${String(root)} of ${base.numel} elements`, `offset ${offset} + ${numel}`);
    objects.set(String(target), new StorageRef(base.elementType, String(target), numel, true, base, offset));
  }

  // tensors: count, then per tensor (key, storage_id, type) + ndim (int32, 4 pad) + sizes, strides, offset (int64).
  const tb = get('tensors');
  const tdv = new DataView(tb.buffer, tb.byteOffset, tb.byteLength);
  r = unpickle(tb, plain, 0);
  const numTensors = r.value;
  if (typeof numTensors !== 'number') fail('a tensor count', describe(numTensors));
  p = r.end;
  const i64 = (what: string): number => {
    if (p + 8 > tb.length) fail(`${what} at offset ${p}`, 'the end of the member (truncated file)');
    const v = Number(tdv.getBigInt64(p, true));
    p += 8;
    return v;
  };
  for (let i = 0; i < numTensors; i++) {
    r = unpickle(tb, plain, p);
    const rec = r.value;
    if (!Array.isArray(rec) || rec.length !== 3) fail('a tensor record (key, storage_id, tensor_type)', describe(rec));
    const [key, storageId] = rec;
    p = r.end;
    if (p + 8 > tb.length) fail(`the rank of tensor ${String(key)}`, 'the end of the member (truncated file)');
    const ndim = tdv.getInt32(p, true);
    p += 8;
    const size = Array.from({ length: ndim }, () => i64('a tensor size'));
    const stride = Array.from({ length: ndim }, () => i64('a tensor stride'));
    const offset = i64('a storage offset');
    const s = objects.get(String(storageId));
    if (!(s instanceof StorageRef)) fail(`storage ${String(storageId)} for tensor ${String(key)}`, 'none');
    objects.set(String(key), new TensorRef(s, offset, size, stride));
  }

  const { value } = unpickle(get('pickle'), {
    ...plain,
    persistentLoad: (pid) => {
      const o = objects.get(String(pid instanceof Uint8Array ? latin1(pid) : pid));
      if (!o) fail(`a tensor or storage for persistent id ${describe(pid)}`, 'none');
      return o;
    },
  });
  return materialize(OP, value) as PyValue;
}
