/**
 * Hostile PyTorch checkpoint files for the .pth loader's limits (models/nn/checkpoint/limits.ts),
 * built byte by byte: hand-assembled pickles inside hand-assembled zip archives and legacy
 * (torch < 1.6) streams. No torch is involved: torch would refuse to write most of these.
 *
 * Run: npx tsx test/reference/hostile_checkpoints.ts
 * Writes the small cases (under 64 KiB) into test/fixtures/checkpoints/hostile/; the large ones
 * (256 KiB integers, 4 MB of views, 1 MB zip bombs, deep nesting) are built in memory by the tests
 * from the same functions (test/nn/checkpoint-hostile.test.ts), so that the repository stays small.
 *
 * Each case, and what it costs a loader without limits:
 *   long4_256k         a 256 KiB LONG4 integer (quadratic decoding: minutes)
 *   long_text_256k     a 256 KiB text LONG integer ('L' opcode)
 *   int_text_256k      a 256 KiB text INT integer ('I' opcode)
 *   stride0_1g6        ~500 bytes: a float32 tensor of 400M elements with stride 0 over 1 element (1.6 GB)
 *   stride0_10g        ~500 bytes: [50000, 50000] with strides (0, 0) over 1 element (10 GB)
 *   views_256          4 MB: 256 contiguous views (offsets 0..255) of one 1M-element storage (1 GiB as copies)
 *   views_256_strided  4 MB: 256 transposed views of that storage (each one needs a 4 MB copy)
 *   zipbomb            1 MB zip: a storage entry that inflates to its honestly declared 1 GiB
 *   zipbomb_lying      1 MB zip: the entry declares 4 KiB and inflates to 1 GiB
 *   zipbomb_pkl        1 MB zip: data.pkl itself is the 1 GiB bomb
 *   zipbomb_unused     1 MB zip: a valid state dict plus an unreferenced 1 GiB bomb entry (loads)
 *   deep_lists         100 000 lists nested by APPEND (no MARK): recursion depth
 *   deep_marks         100 000 nested MARKs closed by TUPLE
 *   many_dicts         2 MB of EMPTY_DICT opcodes: 2M objects from 2 MB
 *   storage_oversize   a storage declaring 2^40 elements in a 600-byte legacy file
 *   zip_entry_short    a zip whose storage entry holds fewer bytes than the storage declares
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { deflateRawSync, constants as zc, crc32 as zcrc } from 'node:zlib';

// ------------------------------------------------------------------------------------ pickle

const enc = new TextEncoder();

/** A protocol-2 pickle assembled from opcode bytes and strings. */
export class P {
  private readonly parts: number[] = [];
  bytes(...b: number[]): this {
    for (const x of b) this.parts.push(x);
    return this;
  }
  raw(b: Uint8Array): this {
    for (const x of b) this.parts.push(x);
    return this;
  }
  text(s: string): this {
    return this.raw(enc.encode(s));
  }
  proto(): this {
    return this.bytes(0x80, 0x02);
  }
  /** BINUNICODE */
  str(s: string): this {
    const b = enc.encode(s);
    return this.bytes(0x58, ...u32(b.length)).raw(b);
  }
  /** BININT for int32 values, LONG1 beyond. */
  int(v: number | bigint): this {
    const n = BigInt(v);
    if (n >= -(2n ** 31n) && n < 2n ** 31n) return this.bytes(0x4a, ...i32(Number(n)));
    const b = longBytes(n);
    return this.bytes(0x8a, b.length, ...b);
  }
  global(module: string, name: string): this {
    return this.text(`c${module}\n${name}\n`);
  }
  mark(): this {
    return this.bytes(0x28);
  }
  tuple(): this {
    return this.bytes(0x74);
  }
  ints(vs: readonly (number | bigint)[]): this {
    this.mark();
    for (const v of vs) this.int(v);
    return this.tuple();
  }
  stop(): this {
    return this.bytes(0x2e);
  }
  build(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

function u32(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}
function i32(v: number): number[] {
  return u32(v >>> 0);
}
function u16(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff];
}
function u64(v: number | bigint): number[] {
  const n = BigInt(v);
  return [...u32(Number(n & 0xffffffffn)), ...u32(Number(n >> 32n))];
}
/** Little-endian two's complement, as pickle's LONG1/LONG4 encode an int. */
function longBytes(n: bigint): number[] {
  const out: number[] = [];
  let v = n;
  for (;;) {
    out.push(Number(v & 0xffn));
    v >>= 8n;
    const top = out[out.length - 1]! & 0x80;
    if ((v === 0n && !top) || (v === -1n && top)) break;
  }
  return out;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) (out.set(p, o), (o += p.length));
  return out;
}

/** A tensor of a state dict: `_rebuild_tensor_v2(storage key, offset, size, stride)`. */
export interface TensorSpec {
  key: string;
  storage: string;
  offset: number;
  size: readonly number[];
  stride: readonly number[];
}

/** A storage: key, dtype class name ('FloatStorage'), element count. */
export interface StorageSpec {
  key: string;
  type: string;
  numel: number | bigint;
}

/** The object pickle of an OrderedDict state dict whose tensors name storages by persistent id. */
export function stateDictPickle(tensors: readonly TensorSpec[], storages: readonly StorageSpec[]): Uint8Array {
  const p = new P().proto().global('collections', 'OrderedDict').bytes(0x29, 0x52); // OrderedDict()
  const byKey = new Map(storages.map((s) => [s.key, s]));
  for (const t of tensors) {
    const s = byKey.get(t.storage)!;
    p.str(t.key).global('torch._utils', '_rebuild_tensor_v2').mark();
    p.mark().str('storage').global('torch', s.type).str(s.key).str('cpu').int(s.numel).tuple().bytes(0x51); // BINPERSID
    p.int(t.offset).ints(t.size).ints(t.stride).bytes(0x89); // requires_grad False
    p.global('collections', 'OrderedDict').bytes(0x29, 0x52); // backward hooks
    p.tuple().bytes(0x52); // REDUCE
    p.bytes(0x73); // SETITEM
  }
  return p.stop().build();
}

// ------------------------------------------------------------------------------------ legacy stream

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

/** The legacy header: magic number, protocol 1001, sys_info. */
function legacyHeader(): Uint8Array {
  const magic = new P().proto().int(LEGACY_MAGIC).stop().build();
  const proto = new P().proto().int(1001).stop().build();
  const sys = new P().proto().bytes(0x7d).mark().str('protocol_version').int(1001).str('little_endian').bytes(0x88);
  sys.str('type_sizes').bytes(0x7d).bytes(0x75); // {..., 'type_sizes': {}}
  return concat([magic, proto, sys.stop().build()]);
}

/**
 * A legacy torch.save stream: header, the object pickle, the storage keys, then each storage's
 * int64 element count and its bytes (`data` when given, else zeros of numel × elementSize).
 */
export function legacyFile(object: Uint8Array, storages: readonly (StorageSpec & { data?: Uint8Array; elementSize?: number })[]): Uint8Array {
  const keys = new P().proto().mark();
  for (const s of storages) keys.str(s.key);
  const parts = [legacyHeader(), object, keys.bytes(0x6c).stop().build()]; // LIST
  for (const s of storages) {
    parts.push(Uint8Array.from(u64(s.numel)));
    parts.push(s.data ?? new Uint8Array(Number(s.numel) * (s.elementSize ?? 4)));
  }
  return concat(parts);
}

// ------------------------------------------------------------------------------------ zip

export interface ZipSpec {
  name: string;
  /** The bytes stored in the archive (already deflated when method is 8). */
  data: Uint8Array;
  method?: 0 | 8;
  /** The uncompressed size written in the headers (default: data.length for stored entries). */
  size?: number;
  crc?: number;
}

/** A zip archive (no zip64) with the given entries, sizes and CRCs written as told. */
export function zipFile(entries: readonly ZipSpec[]): Uint8Array {
  const local: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = enc.encode(e.name);
    const method = e.method ?? 0;
    const size = e.size ?? e.data.length;
    const crc = e.crc ?? (method === 0 ? zcrc(e.data) >>> 0 : 0);
    const common = [...u16(method), 0, 0, 0, 0, ...u32(crc), ...u32(e.data.length), ...u32(size), ...u16(name.length), 0, 0];
    const lh = Uint8Array.from([...u32(0x04034b50), ...u16(20), 0, 0, ...common]);
    local.push(lh, name, e.data);
    central.push(Uint8Array.from([...u32(0x02014b50), ...u16(20), ...u16(20), 0, 0, ...common, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, ...u32(offset)]), name);
    offset += lh.length + name.length + e.data.length;
  }
  const dir = concat(central);
  const eocd = Uint8Array.from([...u32(0x06054b50), 0, 0, 0, 0, ...u16(entries.length), ...u16(entries.length), ...u32(dir.length), ...u32(offset), 0, 0]);
  return concat([...local, dir, eocd]);
}

/** The entries of a torch.save zip archive: data.pkl, version, then the storages. */
export function torchZip(pkl: Uint8Array, storages: readonly ZipSpec[], opts: { pklMethod?: 0 | 8; pklSize?: number; pklData?: Uint8Array } = {}): Uint8Array {
  return zipFile([
    { name: 'archive/data.pkl', data: opts.pklData ?? pkl, method: opts.pklMethod ?? 0, size: opts.pklSize, crc: opts.pklData ? 0 : undefined },
    { name: 'archive/version', data: enc.encode('3\n') },
    ...storages.map((s) => ({ ...s, name: `archive/data/${s.name}` })),
  ]);
}

/**
 * A raw deflate stream that inflates to `mib` MiB of zeros, about 1 KiB of output per MiB: one
 * full-flushed 1 MiB block of zeros (byte-aligned, referencing nothing before it) repeated, then
 * an empty final block. Nothing of that size is ever allocated here.
 */
export function zeroDeflate(mib: number): Uint8Array {
  const block = deflateRawSync(new Uint8Array(1 << 20), { level: 9, finishFlush: zc.Z_FULL_FLUSH });
  const parts: Uint8Array[] = [];
  for (let i = 0; i < mib; i++) parts.push(block);
  parts.push(Uint8Array.from([0x03, 0x00])); // final, fixed-Huffman, end-of-block
  return concat(parts);
}

// ------------------------------------------------------------------------------------ cases

const KIB = 1024;

function bigIntBody(n: number): Uint8Array {
  return new Uint8Array(n).fill(0x39); // '9'
}

/** Every hostile case by name. Large ones take a few ms to build. */
export const HOSTILE_CASES: Record<string, () => Uint8Array> = {
  long4_256k: () => {
    const n = 256 * KIB;
    const body = new Uint8Array(n).fill(0x5a);
    return concat([Uint8Array.from([0x80, 0x02, 0x8b, ...u32(n)]), body, Uint8Array.from([0x2e])]);
  },
  long_text_256k: () => concat([Uint8Array.from([0x80, 0x02, 0x4c]), bigIntBody(256 * KIB), enc.encode('L\n.')]),
  int_text_256k: () => concat([Uint8Array.from([0x80, 0x02, 0x49]), bigIntBody(256 * KIB), enc.encode('\n.')]),
  stride0_1g6: () => {
    const s = [{ key: '0', type: 'FloatStorage', numel: 1 }];
    return legacyFile(stateDictPickle([{ key: 'w', storage: '0', offset: 0, size: [400_000_000], stride: [0] }], s), s);
  },
  stride0_10g: () => {
    const s = [{ key: '0', type: 'FloatStorage', numel: 1 }];
    return legacyFile(stateDictPickle([{ key: 'w', storage: '0', offset: 0, size: [50_000, 50_000], stride: [0, 0] }], s), s);
  },
  views_256: () => {
    const s = [{ key: '0', type: 'FloatStorage', numel: 1 << 20 }];
    const t = Array.from({ length: 256 }, (_, i) => ({ key: `v${i}`, storage: '0', offset: i, size: [(1 << 20) - 256], stride: [1] }));
    return torchZip(stateDictPickle(t, s), [{ name: '0', data: new Uint8Array(4 << 20) }]);
  },
  views_256_strided: () => {
    const s = [{ key: '0', type: 'FloatStorage', numel: 1 << 20 }];
    const t = Array.from({ length: 256 }, (_, i) => ({ key: `t${i}`, storage: '0', offset: i, size: [1000, 1000], stride: [1, 1000] }));
    return torchZip(stateDictPickle(t, s), [{ name: '0', data: new Uint8Array(4 << 20) }]);
  },
  zipbomb: () => {
    const s = [{ key: '0', type: 'FloatStorage', numel: 256 << 20 }];
    const pkl = stateDictPickle([{ key: 'w', storage: '0', offset: 0, size: [256 << 20], stride: [1] }], s);
    return torchZip(pkl, [{ name: '0', data: zeroDeflate(1024), method: 8, size: 1 << 30 }]);
  },
  zipbomb_lying: () => {
    const s = [{ key: '0', type: 'FloatStorage', numel: 1024 }];
    const pkl = stateDictPickle([{ key: 'w', storage: '0', offset: 0, size: [1024], stride: [1] }], s);
    return torchZip(pkl, [{ name: '0', data: zeroDeflate(1024), method: 8, size: 4096 }]);
  },
  zipbomb_pkl: () => torchZip(new Uint8Array(0), [], { pklData: zeroDeflate(1024), pklMethod: 8, pklSize: 1 << 30 }),
  zipbomb_unused: () => {
    const s = [{ key: '0', type: 'FloatStorage', numel: 4 }];
    const pkl = stateDictPickle([{ key: 'w', storage: '0', offset: 0, size: [2, 2], stride: [2, 1] }], s);
    const data = new Uint8Array(new Float32Array([1, 2, 3, 4]).buffer);
    return torchZip(pkl, [{ name: '0', data }, { name: '99', data: zeroDeflate(1024), method: 8, size: 1 << 30 }]);
  },
  deep_lists: () => {
    const n = 100_000;
    const p = new P().proto().bytes(0x7d).str('x'); // {'x': [[[...]]]}
    for (let i = 0; i < n; i++) p.bytes(0x5d); // EMPTY_LIST
    for (let i = 0; i < n - 1; i++) p.bytes(0x61); // APPEND
    const obj = p.bytes(0x73).stop().build();
    return legacyFile(obj, []);
  },
  deep_marks: () => {
    const n = 100_000;
    const p = new P().proto();
    for (let i = 0; i < n; i++) p.bytes(0x28);
    for (let i = 0; i < n; i++) p.bytes(0x74);
    return legacyFile(p.stop().build(), []);
  },
  many_dicts: () => {
    const n = 2 << 20;
    const b = new Uint8Array(n + 5);
    b.set([0x80, 0x02, 0x28]);
    b.fill(0x7d, 3, 3 + n);
    b.set([0x6c, 0x2e], 3 + n); // LIST, STOP
    return legacyFile(b, []);
  },
  storage_oversize: () => {
    const s = [{ key: '0', type: 'FloatStorage', numel: 2n ** 40n }];
    return legacyFile(stateDictPickle([{ key: 'w', storage: '0', offset: 0, size: [4], stride: [1] }], s), [{ ...s[0]!, data: new Uint8Array(16) }]);
  },
  zip_entry_short: () => {
    const s = [{ key: '0', type: 'FloatStorage', numel: 1 << 20 }];
    const pkl = stateDictPickle([{ key: 'w', storage: '0', offset: 0, size: [4], stride: [1] }], s);
    return torchZip(pkl, [{ name: '0', data: new Uint8Array(16) }]);
  },
};

/** The cases small enough to commit as files. */
export const COMMITTED_LIMIT = 64 * KIB;

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const dir = new URL('../fixtures/checkpoints/hostile/', import.meta.url);
  mkdirSync(dir, { recursive: true });
  for (const [name, make] of Object.entries(HOSTILE_CASES)) {
    const b = make();
    if (b.length > COMMITTED_LIMIT) {
      console.log(`${name}: ${b.length} bytes (built in memory by the tests)`);
      continue;
    }
    writeFileSync(new URL(`${name}.pth`, dir), b);
    console.log(`${name}.pth: ${b.length} bytes`);
  }
}
