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
import { loadContext, type LoadContext, type LoadLimits } from './limits.js';
import { describe, latin1, unpickle, type UnpickleOptions } from './pickle.js';
import { isTar, readTar } from './tar.js';
import { keyOf, materialize, storageFromPid, StorageRef, TensorRef, torchGlobals, type PthTensor } from './torch.js';
import { readZip, readZipEntry, readZipEntryAsync, type InflateRaw, type ZipArchive } from './zip.js';

/** A value read from a checkpoint. Python dicts are Maps (keys keep their Python type). */
export type PyValue = null | boolean | number | bigint | string | Uint8Array | PthTensor | PyValue[] | Map<PyKey, PyValue> | Set<PyValue>;
export type PyKey = string | number | bigint | boolean | null | PyValue[];

export interface LoadPthOptions extends LoadLimits {
  /** Inflates deflated zip entries (default: Node's zlib when available). */
  inflateRaw?: InflateRaw;
  /** Check zip CRC-32s (default true). */
  verify?: boolean;
  /** The file name, for error messages ('loadPth(<name>): ...'); loadCheckpointFile passes the path. */
  name?: string;
}

export type CheckpointFormat = 'zip' | 'legacy' | 'tar' | 'safetensors' | 'unknown';

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL = 1001;

/** One load: its error prefix and limits. */
interface Ctx extends LoadContext {
  readonly name: string | undefined;
}

function context(bytes: Uint8Array, opts: LoadPthOptions): Ctx {
  const op = opts.name === undefined ? 'loadPth' : `loadPth(${opts.name})`;
  return { ...loadContext(op, bytes.length, opts), name: opts.name };
}

function failIn(ctx: { op: string }, expected: string, received: string): never {
  throw new Error(`${ctx.op}: expected ${expected}, got ${received}`);
}

/** The unpickle options of one load: the allowlist, the limits and where the pickle is. */
function pickleOpts(ctx: Ctx, entry: string, persistentLoad?: (pid: unknown) => unknown): UnpickleOptions {
  const o: UnpickleOptions = { op: ctx.op, findGlobal: torchGlobals(ctx.op), entry, budget: ctx.budget, maxDepth: ctx.maxDepth, maxIntBytes: ctx.maxIntBytes };
  if (persistentLoad) o.persistentLoad = persistentLoad;
  return o;
}

function finish(ctx: Ctx, value: unknown): PyValue {
  return materialize(ctx.op, value, { budget: ctx.budget, maxDepth: ctx.maxDepth }) as PyValue;
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

function notACheckpoint(ctx: Ctx, bytes: Uint8Array, fmt: CheckpointFormat): never {
  if (fmt === 'safetensors') failIn(ctx, 'a PyTorch checkpoint (zip, legacy or tar)', 'a safetensors file (use readSafetensors or loadCheckpointFile)');
  failIn(ctx, 'a PyTorch checkpoint (a zip archive, a legacy pickle stream starting with 0x80, or a tar)', `${bytes.length} bytes starting with [${[...bytes.subarray(0, 4)].map((b) => '0x' + b.toString(16).padStart(2, '0')).join(', ')}]`);
}

/**
 * Reads a `.pth`/`.pt`/`.pth.tar` checkpoint written by torch.save (any of the three containers).
 * Deflated zip entries are inflated with `opts.inflateRaw`, or Node's zlib when available; in a
 * browser use `loadPthAsync`.
 *
 * Loading is bounded (limits.ts, docs/checkpoints.md): a memory budget (`opts.maxBytes`, default
 * max(32 MiB, 8 × the file size)) is checked before each allocation (inflated entries, decoded
 * tensors, pickled containers), only the zip entries that the pickle references are read, each
 * inflated up to its declared size, tensors that share a storage share its decoded data, pickled
 * integers are at most `opts.maxIntBytes` (1024) bytes and nesting at most `opts.maxDepth` (1000).
 * @returns the saved object: a Map for a state dict (tensor values as PthTensor), or a Map holding
 *   'state_dict', 'epoch', 'optimizer', ... for a training checkpoint.
 * @throws Error (naming `opts.name`, the zip entry, pickle opcode and offset, or tensor key) when
 *   the file is truncated or corrupt, is not a PyTorch checkpoint (or is a TorchScript archive),
 *   names a Python global outside the allowlist (such as `os.system` or a user class), holds an
 *   unsupported dtype (complex, quantized), or exceeds a limit.
 */
export function loadPth(bytes: Uint8Array, opts: LoadPthOptions = {}): PyValue {
  const ctx = context(bytes, opts);
  const fmt = detectFormat(bytes);
  if (fmt === 'zip') {
    const zip = readZip(bytes, { name: opts.name });
    const read = (name: string): Uint8Array => readEntry(ctx, zip, name, () => readZipEntry(zip, name, { inflateRaw: opts.inflateRaw, verify: opts.verify }));
    const plan = zipPlan(ctx, zip);
    const parsed = zipObject(ctx, zip, plan, read(plan.pkl), plan.byteorder ? read(plan.byteorder) : null);
    for (const [s, name] of parsed.storages) s.bytes = read(name);
    return finish(ctx, parsed.value);
  }
  if (fmt === 'legacy') return loadLegacy(ctx, bytes);
  if (fmt === 'tar') return loadTar(ctx, bytes);
  notACheckpoint(ctx, bytes, fmt);
}

/**
 * loadPth, inflating deflated zip entries with DecompressionStream (browsers and Node): data.pkl
 * first, then only the storages that it references, each up to its declared size.
 */
export async function loadPthAsync(bytes: Uint8Array, opts: Omit<LoadPthOptions, 'inflateRaw'> = {}): Promise<PyValue> {
  if (detectFormat(bytes) !== 'zip') return loadPth(bytes, opts);
  const ctx = context(bytes, opts);
  const zip = readZip(bytes, { name: opts.name });
  const read = (name: string): Promise<Uint8Array> => readEntry(ctx, zip, name, () => readZipEntryAsync(zip, name, { verify: opts.verify }));
  const plan = zipPlan(ctx, zip);
  const pkl = await read(plan.pkl);
  const order = plan.byteorder ? await read(plan.byteorder) : null;
  const parsed = zipObject(ctx, zip, plan, pkl, order);
  for (const [s, name] of parsed.storages) s.bytes = await read(name);
  return finish(ctx, parsed.value);
}

// ------------------------------------------------------------------------------------ zip

/** Charges a deflated entry's declared size to the budget, then reads it (stored entries are views: free). */
function readEntry<T>(ctx: Ctx, zip: ZipArchive, name: string, read: () => T): T {
  const e = zip.entries.get(name);
  if (e && e.method !== 0) ctx.budget.charge(e.size, `the inflated zip entry '${name}' (${e.size} bytes declared, ${e.compressedSize} compressed)`);
  return read();
}

interface ZipPlan {
  readonly prefix: string;
  readonly pkl: string;
  readonly byteorder: string | null;
}

function zipPlan(ctx: Ctx, zip: ZipArchive): ZipPlan {
  const pkls = [...zip.entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n) || n === 'data.pkl');
  if (pkls.length !== 1) {
    failIn(ctx, "one '<archive>/data.pkl' entry (a torch.save zip archive)", `${pkls.length} among [${[...zip.entries.keys()].slice(0, 8).join(', ')}]`);
  }
  const prefix = pkls[0]!.slice(0, -'data.pkl'.length);
  if (zip.entries.has(`${prefix}constants.pkl`) || [...zip.entries.keys()].some((n) => n.startsWith(`${prefix}code/`))) {
    failIn(ctx, 'a torch.save checkpoint', 'a TorchScript archive (torch.jit.save); save the model.state_dict() with torch.save instead');
  }
  return { prefix, pkl: pkls[0]!, byteorder: zip.entries.has(`${prefix}byteorder`) ? `${prefix}byteorder` : null };
}

/**
 * Unpickles data.pkl. Storages are checked against their entries' declared sizes as the pickle
 * names them, and returned with their entry names for the caller to read: only those entries.
 */
function zipObject(ctx: Ctx, zip: ZipArchive, plan: ZipPlan, pkl: Uint8Array, order: Uint8Array | null): { value: unknown; storages: Map<StorageRef, string> } {
  let littleEndian = true;
  if (order) {
    const o = latin1(order.subarray(0, 16)).trim();
    if (o !== 'little' && o !== 'big') failIn(ctx, "byteorder 'little' or 'big'", JSON.stringify(o));
    littleEndian = o === 'little';
  }
  const storages = new Map<string, StorageRef>();
  const needed = new Map<StorageRef, string>();
  const { value } = unpickle(
    pkl,
    pickleOpts(ctx, `'${plan.pkl}'`, (pid) => {
      const s = storageFromPid(ctx.op, pid, storages, littleEndian);
      const root = s.root ?? s;
      if (!root.bytes && !needed.has(root)) {
        const name = `${plan.prefix}data/${root.key}`;
        const e = zip.entries.get(name);
        if (!e) failIn(ctx, `the storage entry '${name}'`, 'no such entry (truncated or incomplete archive)');
        const want = root.numel * root.elementType.size;
        if (e.size < want) failIn(ctx, `${want} bytes in '${name}' for storage '${root.key}' (${root.numel} ${root.elementType.name} elements)`, `an entry of ${e.size} bytes (truncated or corrupt archive)`);
        needed.set(root, name);
      }
      return s;
    }),
  );
  return { value, storages: needed };
}

// ------------------------------------------------------------------------------------ legacy stream

function loadLegacy(ctx: Ctx, bytes: Uint8Array): PyValue {
  const at = (what: string): UnpickleOptions => pickleOpts(ctx, `the legacy stream's ${what} pickle`);
  let r = unpickle(bytes, at('magic number'), 0);
  const magic = typeof r.value === 'number' ? BigInt(r.value) : r.value;
  if (magic !== LEGACY_MAGIC) failIn(ctx, 'the legacy torch.save magic number 0x1950a86a20f9469cfc6c', describe(r.value));
  r = unpickle(bytes, at('protocol'), r.end);
  if (r.value !== LEGACY_PROTOCOL) failIn(ctx, `legacy protocol version ${LEGACY_PROTOCOL}`, describe(r.value));
  r = unpickle(bytes, at('sys_info'), r.end);
  const sysInfo = r.value;
  if (!(sysInfo instanceof Map)) failIn(ctx, 'a sys_info dict', describe(sysInfo));
  const littleEndian = sysInfo.get('little_endian') !== false;
  const storages = new Map<string, StorageRef>();
  const objectAt = r.end;
  r = unpickle(bytes, { ...at('object'), persistentLoad: (pid) => storageFromPid(ctx.op, pid, storages, littleEndian) }, objectAt);
  const value = r.value;
  r = unpickle(bytes, at('storage keys'), r.end);
  const keys = r.value;
  if (!Array.isArray(keys)) failIn(ctx, 'the list of storage keys after the object', describe(keys));
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let p = r.end;
  for (const k of keys) {
    const key = keyOf(ctx.op, k, 'a storage key');
    const s = storages.get(key);
    if (!s) failIn(ctx, `storage '${key}' to be referenced by the object`, 'an unreferenced key (corrupt file)');
    if (p + 8 > bytes.length) failIn(ctx, `the element count of storage '${s.key}' at offset ${p}`, 'the end of the file (truncated file)');
    const n = dv.getBigInt64(p, true);
    if (n !== BigInt(s.numel)) failIn(ctx, `${s.numel} elements in storage '${s.key}'`, String(n));
    p += 8;
    const size = s.numel * s.elementType.size;
    if (p + size > bytes.length) failIn(ctx, `${size} bytes of storage '${s.key}' at offset ${p}`, `${bytes.length - p} (truncated file)`);
    s.bytes = bytes.subarray(p, p + size);
    p += size;
  }
  return finish(ctx, value);
}

// ------------------------------------------------------------------------------------ tar

/** A non-negative integer read from a tar record, or an Error naming it. */
function count(ctx: Ctx, v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) failIn(ctx, `${what} as a non-negative integer`, describe(v));
  return v;
}

function loadTar(ctx: Ctx, bytes: Uint8Array): PyValue {
  const members = readTar(bytes, { name: ctx.name });
  const get = (name: string): Uint8Array => {
    const m = members.get(name);
    if (!m) failIn(ctx, `a '${name}' member in the tar checkpoint`, `members [${[...members.keys()].join(', ')}]`);
    return m;
  };
  const objects = new Map<string, StorageRef | TensorRef>();

  // storages: count, then per storage (key, location, storage_type) + int64 count + raw data; then views.
  const sb = get('storages');
  const sdv = new DataView(sb.buffer, sb.byteOffset, sb.byteLength);
  const inStorages = pickleOpts(ctx, "the tar member 'storages'");
  let r = unpickle(sb, inStorages, 0);
  const numStorages = count(ctx, r.value, 'a storage count');
  let p = r.end;
  for (let i = 0; i < numStorages; i++) {
    r = unpickle(sb, inStorages, p);
    const rec = r.value;
    if (!Array.isArray(rec) || rec.length !== 3) failIn(ctx, 'a storage record (key, location, storage_type)', describe(rec));
    const [rawKey, , type] = rec;
    const key = keyOf(ctx.op, rawKey, 'a storage key');
    p = r.end;
    if (p + 8 > sb.length) failIn(ctx, `the element count of storage ${key}`, 'the end of the member (truncated file)');
    const n = sdv.getBigInt64(p, true);
    p += 8;
    if (n < 0n || n > BigInt(sb.length)) failIn(ctx, `the element count of storage ${key} within the member's ${sb.length} bytes`, `${n} (truncated or corrupt file)`);
    const s = storageFromPid(ctx.op, ['storage', type, key, 'cpu', Number(n)], new Map(), true);
    const size = Number(n) * s.elementType.size;
    if (p + size > sb.length) failIn(ctx, `${size} bytes of storage ${key}`, `${sb.length - p} (truncated file)`);
    s.bytes = sb.subarray(p, p + size);
    p += size;
    objects.set(key, s);
  }
  r = unpickle(sb, inStorages, p);
  const views = r.value;
  if (!Array.isArray(views)) failIn(ctx, 'a list of storage views', describe(views));
  for (const v of views) {
    if (!Array.isArray(v) || v.length < 4) failIn(ctx, 'a storage view (key, root key, offset, size)', describe(v));
    const target = keyOf(ctx.op, v[0], 'a storage view key');
    const root = keyOf(ctx.op, v[1], 'a root storage key');
    const offset = count(ctx, v[2], `the offset of storage view ${target}`);
    const numel = count(ctx, v[3], `the size of storage view ${target}`);
    const base = objects.get(root);
    if (!(base instanceof StorageRef)) failIn(ctx, `a root storage ${root} for view ${target}`, 'none');
    if (offset + numel > base.numel) failIn(ctx, `a view inside storage ${root} of ${base.numel} elements`, `offset ${offset} + ${numel}`);
    objects.set(target, new StorageRef(base.elementType, target, numel, true, base.root ?? base, base.rootOffset + offset));
  }

  // tensors: count, then per tensor (key, storage_id, type) + ndim (int32, 4 pad) + sizes, strides, offset (int64).
  const tb = get('tensors');
  const tdv = new DataView(tb.buffer, tb.byteOffset, tb.byteLength);
  const inTensors = pickleOpts(ctx, "the tar member 'tensors'");
  r = unpickle(tb, inTensors, 0);
  const numTensors = count(ctx, r.value, 'a tensor count');
  p = r.end;
  const i64 = (what: string): number => {
    if (p + 8 > tb.length) failIn(ctx, `${what} at offset ${p}`, 'the end of the member (truncated file)');
    const v = tdv.getBigInt64(p, true);
    if (v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER)) failIn(ctx, `${what} at offset ${p} as a non-negative integer`, String(v));
    p += 8;
    return Number(v);
  };
  for (let i = 0; i < numTensors; i++) {
    r = unpickle(tb, inTensors, p);
    const rec = r.value;
    if (!Array.isArray(rec) || rec.length !== 3) failIn(ctx, 'a tensor record (key, storage_id, tensor_type)', describe(rec));
    const key = keyOf(ctx.op, rec[0], 'a tensor key');
    const storageId = keyOf(ctx.op, rec[1], 'a storage key');
    p = r.end;
    if (p + 8 > tb.length) failIn(ctx, `the rank of tensor ${key}`, 'the end of the member (truncated file)');
    const ndim = tdv.getInt32(p, true);
    p += 8;
    if (ndim < 0 || p + ndim * 16 + 8 > tb.length) failIn(ctx, `the rank of tensor ${key} with its sizes and strides inside the member`, `${ndim} (truncated or corrupt file)`);
    const size = Array.from({ length: ndim }, () => i64('a tensor size'));
    const stride = Array.from({ length: ndim }, () => i64('a tensor stride'));
    const offset = i64('a storage offset');
    const s = objects.get(storageId);
    if (!(s instanceof StorageRef)) failIn(ctx, `storage ${storageId} for tensor ${key}`, 'none');
    objects.set(key, new TensorRef(s, offset, size, stride));
  }

  const { value } = unpickle(
    get('pickle'),
    pickleOpts(ctx, "the tar member 'pickle'", (pid) => {
      const id = keyOf(ctx.op, pid, 'a persistent id');
      const o = objects.get(id);
      if (!o) failIn(ctx, `a tensor or storage for persistent id ${describe(pid)}`, 'none');
      return o;
    }),
  );
  return finish(ctx, value);
}
