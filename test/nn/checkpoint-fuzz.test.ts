/**
 * A seeded fuzz test of the .pth loader over mutated real checkpoints (test/fixtures/checkpoints,
 * written by torch.save): byte flips and overwrites, truncations, duplicated and deleted ranges,
 * and length fields (pickle lengths, zip sizes, offsets and counts) set to edge values, anywhere in
 * the file or aimed at its pickles (with the zip CRC-32 recomputed, so that the mutation gets past
 * it). Every mutation must end in a correct load or a clean Error — exactly `Error`, not a
 * RangeError or TypeError escaping from inside, with a message that names the file — within 1 s
 * and 100 MB, and no code may run: the pickles of every mutant are also unpickled with a recording
 * allowlist, and every global that is resolved or called must be one of the tensor and container
 * builders listed here.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadPth, loadPthAsync, type PyValue } from '../../models/nn/checkpoint/pth.js';
import { pyGlobal, unpickle, type PyGlobal } from '../../models/nn/checkpoint/pickle.js';
import { readTar } from '../../models/nn/checkpoint/tar.js';
import { storageFromPid, torchGlobals } from '../../models/nn/checkpoint/torch.js';
import { crc32, readZip, readZipEntry } from '../../models/nn/checkpoint/zip.js';
import type { HostTensor } from '../../models/nn/safetensors.js';

const DIR = new URL('../fixtures/checkpoints/', import.meta.url);
const SEEDS = [
  'model.zip.pth', 'model.legacy.pth', 'model.tar.pth', 'model.deflate.pth', 'model.zip64.pth', 'model.bigendian.pth',
  'misc.zip.pth', 'misc.legacy.pth', 'nested.zip.pth', 'nested.legacy.pth',
  'pyvalues.p2.zip.pth', 'pyvalues.p4.legacy.pth', 'pyvalues.p5.zip.pth', 'bad_system.pth', 'bad_class.pth',
];
// FUZZ_MUTATIONS and FUZZ_SEED run a longer or another campaign by hand (the 20 s bound then does not apply).
const MUTATIONS = Number(process.env.FUZZ_MUTATIONS ?? 3000);
const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed15);

/** What the unpickler may resolve: the tensor and container builders, nothing that executes code. */
const ALLOWED: readonly RegExp[] = [
  /^torch\._utils\._rebuild_(tensor|tensor_v2|parameter|parameter_with_state)$/,
  /^torch\._tensor\._rebuild_from_type_v2$/,
  /^(torch\.Tensor|torch\.nn\.parameter\.Parameter|numpy\.ndarray)$/,
  /^collections\.OrderedDict$/,
  /^(builtins|__builtin__)\.(set|frozenset|bytearray)$/,
  /^_codecs\.encode$/,
  /^torch\.(Size|device)$/,
  /^torch\.(float64|float32|float16|bfloat16|int64|int32|int16|int8|uint8|bool|double|float|half|long|int|short)$/,
  /^numpy\.dtype$/,
  /^numpy\.(_?core)\.(multiarray\.scalar|multiarray\._reconstruct|numeric\._frombuffer)$/,
  /^torch(\.cuda)?\.(Double|Float|Half|BFloat16|Long|Int|Short|Char|Byte|Bool|Untyped|ComplexFloat|ComplexDouble|QInt8|QUInt8|QInt32|QUInt4x2|QUInt2x4)Storage$/,
  /^torch(\.cuda)?\.(Double|Float|Half|BFloat16|Long|Int|Short|Char|Byte|Bool)Tensor$/,
];

/** mulberry32: a small seeded generator. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Seed {
  name: string;
  bytes: Uint8Array;
  /** [start, end) of the pickle bytes (data.pkl for a zip, the five pickles of a legacy stream). */
  pickle: [number, number];
  /** For a stored zip: where data.pkl's CRC-32 sits in the central directory. */
  crcAt: number | null;
  /** For a zip: the offsets of the central directory entries and the EOCD record. */
  zipFields: number[];
  /** The correct load (or its error message). */
  original: PyValue | string;
}

function seedOf(name: string): Seed {
  const bytes = new Uint8Array(readFileSync(new URL(name, DIR)));
  let pickle: [number, number] = [0, bytes.length];
  let crcAt: number | null = null;
  const zipFields: number[] = [];
  if (bytes[0] === 0x50) {
    const zip = readZip(bytes);
    const pkl = [...zip.entries.keys()].find((n) => n.endsWith('data.pkl'))!;
    const e = zip.entries.get(pkl)!;
    if (e.method === 0) {
      const d = readZipEntry(zip, pkl);
      pickle = [d.byteOffset - bytes.byteOffset, d.byteOffset - bytes.byteOffset + d.length];
    }
    // Central directory entries (signature PK\x01\x02) and the EOCD (PK\x05\x06).
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i + 4 <= bytes.length; i++) {
      const sig = dv.getUint32(i, true);
      if (sig === 0x02014b50 || sig === 0x06054b50 || sig === 0x06064b50 || sig === 0x07064b50) zipFields.push(i);
      if (sig === 0x02014b50 && e.method === 0) {
        const nameLen = dv.getUint16(i + 28, true);
        if (new TextDecoder().decode(bytes.subarray(i + 46, i + 46 + nameLen)) === pkl) crcAt = i + 16;
      }
    }
  } else if (bytes[0] === 0x80) {
    // The legacy stream's five pickles (the magic number, protocol, sys_info, object, storage keys).
    let end = 0;
    const g = torchGlobals('seed');
    for (let k = 0; k < 5; k++) end = unpickle(bytes, { findGlobal: g, persistentLoad: (pid) => storageFromPid('seed', pid, new Map(), true) }, end).end;
    pickle = [0, end];
  }
  let original: PyValue | string;
  try {
    original = loadPth(bytes);
  } catch (e) {
    original = (e as Error).message;
  }
  return { name, bytes, pickle, crcAt, zipFields, original };
}

const INTERESTING_U32 = [0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];
const INTERESTING_U8 = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x28, 0x29, 0x2e, 0x5d, 0x7d, 0x8a, 0x8b, 0x94, 0x95, 0x63, 0x52, 0x51, 0x68, 0x6a, 0x71, 0x72, 0x58, 0x42];

interface Mutant {
  bytes: Uint8Array;
  kind: string;
  verify: boolean;
}

function mutate(s: Seed, r: () => number): Mutant {
  const b = s.bytes;
  const int = (n: number): number => Math.floor(r() * n);
  const pick = <T,>(xs: readonly T[]): T => xs[int(xs.length)]!;
  // Half of the mutations aim at the pickle, the rest anywhere (container structure, storages).
  const aimed = r() < 0.5;
  const [p0, p1] = aimed ? s.pickle : [0, b.length];
  const pos = (): number => p0 + int(Math.max(1, p1 - p0));
  let kind = pick(['flip', 'set', 'u32', 'u16', 'u64', 'truncate', 'duplicate', 'delete', 'zipfield']);
  if (kind === 'zipfield' && s.zipFields.length === 0) kind = 'u32';
  let out: Uint8Array;
  const inPlace = (f: (o: Uint8Array, dv: DataView) => void): Uint8Array => {
    const o = b.slice();
    f(o, new DataView(o.buffer));
    return o;
  };
  switch (kind) {
    case 'flip':
      out = inPlace((o) => {
        for (let k = 1 + int(4); k > 0; k--) o[pos()]! ^= 1 + int(255);
      });
      break;
    case 'set':
      out = inPlace((o) => {
        for (let k = 1 + int(3); k > 0; k--) o[pos()] = pick(INTERESTING_U8);
      });
      break;
    case 'u32':
    case 'u16':
    case 'u64':
      out = inPlace((o, dv) => {
        const at = Math.min(pos(), o.length - 8);
        if (at < 0) return;
        const old = dv.getUint32(at, true);
        const v = r() < 0.3 ? (old + pick([-1, 1, 2, -2, 64, 1 << 20])) >>> 0 : pick(INTERESTING_U32);
        if (kind === 'u32') dv.setUint32(at, v, true);
        else if (kind === 'u16') dv.setUint16(at, v & 0xffff, true);
        else dv.setBigUint64(at, r() < 0.5 ? BigInt(v) : BigInt(v) << 32n, true);
      });
      break;
    case 'zipfield':
      out = inPlace((o, dv) => {
        const rec = pick(s.zipFields);
        const sig = dv.getUint32(rec, true);
        // Central directory: sizes 20/24, name/extra/comment lengths 28/30/32, header offset 42;
        // EOCD: counts 8/10, directory size 12, offset 16; zip64 records: 8-byte fields.
        const fields = sig === 0x02014b50 ? [[20, 4], [24, 4], [28, 2], [30, 2], [32, 2], [42, 4], [10, 2]] : sig === 0x06054b50 ? [[8, 2], [10, 2], [12, 4], [16, 4], [20, 2]] : [[8, 8], [24, 8], [32, 8], [40, 8], [48, 8]];
        const [off, len] = pick(fields) as [number, number];
        const at = rec + off;
        if (at + len > o.length) return;
        const v = r() < 0.4 ? (len === 2 ? dv.getUint16(at, true) : dv.getUint32(at, true)) + pick([-1, 1, 30, -30, 1024]) : pick(INTERESTING_U32);
        if (len === 2) dv.setUint16(at, v & 0xffff, true);
        else if (len === 4) dv.setUint32(at, v >>> 0, true);
        else dv.setBigUint64(at, BigInt(v >>> 0) * BigInt(1 + int(1 << 20)), true);
      });
      break;
    case 'truncate':
      out = b.slice(0, pos());
      break;
    case 'duplicate': {
      const a = pos();
      const n = 1 + int(Math.min(256, b.length - a));
      const at = pos();
      out = new Uint8Array(b.length + n);
      out.set(b.subarray(0, at));
      out.set(b.subarray(a, a + n), at);
      out.set(b.subarray(at), at + n);
      break;
    }
    default: {
      const a = pos();
      const n = 1 + int(64);
      out = new Uint8Array(b.length - Math.min(n, b.length - a));
      out.set(b.subarray(0, a));
      out.set(b.subarray(a + n), a);
    }
  }
  // In-place mutations of a stored data.pkl: recompute its CRC-32 so that the pickle gets parsed.
  const inplace = out.length === b.length;
  let verify = true;
  if (aimed && s.crcAt !== null && inplace && r() < 0.7) {
    new DataView(out.buffer).setUint32(s.crcAt, crc32(out.subarray(s.pickle[0], s.pickle[1])), true);
    kind += '+crc';
  } else if (r() < 0.5) verify = false;
  return { bytes: out, kind: `${aimed ? 'pickle' : 'file'}:${kind}`, verify };
}

/** Tensors are well-formed: a data array of the shape's size and of the dtype's type. */
function checkTensors(v: unknown, seen = new Set<unknown>()): number {
  if (v === null || typeof v !== 'object' || seen.has(v)) return 0;
  seen.add(v);
  if ('data' in v && 'shape' in v && 'dtype' in v) {
    const t = v as HostTensor;
    const n = t.shape.reduce((a, b) => a * b, 1);
    expect(t.data.length).toBe(n);
    const ctor = { float64: Float64Array, float32: Float32Array, int32: Int32Array }[t.dtype as 'float64' | 'float32' | 'int32'];
    expect(t.data).toBeInstanceOf(ctor);
    return 1;
  }
  let k = 0;
  if (v instanceof Map) for (const x of v.values()) k += checkTensors(x, seen);
  else if (Array.isArray(v) || v instanceof Set) for (const x of v) k += checkTensors(x, seen);
  return k;
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a === 'number' && typeof b === 'number') return Number.isNaN(a) && Number.isNaN(b);
  if (!a || !b || typeof a !== 'object' || typeof b !== 'object') return false;
  if (ArrayBuffer.isView(a) && ArrayBuffer.isView(b)) {
    const x = a as unknown as ArrayLike<number>;
    const y = b as unknown as ArrayLike<number>;
    if (x.length !== y.length || a.constructor !== b.constructor) return false;
    for (let i = 0; i < x.length; i++) if (!Object.is(x[i], y[i])) return false;
    return true;
  }
  if (a instanceof Map && b instanceof Map) {
    if (a.size !== b.size) return false;
    const ka = [...a.keys()];
    const kb = [...b.keys()];
    return ka.every((k, i) => sameValue(k, kb[i]) && sameValue(a.get(k), b.get(kb[i])));
  }
  if ((Array.isArray(a) && Array.isArray(b)) || (a instanceof Set && b instanceof Set)) {
    const x = [...(a as Iterable<unknown>)];
    const y = [...(b as Iterable<unknown>)];
    return x.length === y.length && x.every((v, i) => sameValue(v, y[i]));
  }
  if ('data' in a && 'data' in b) {
    const x = a as HostTensor & { sourceDtype?: string };
    const y = b as HostTensor & { sourceDtype?: string };
    return x.dtype === y.dtype && x.sourceDtype === y.sourceDtype && sameValue([...x.shape], [...y.shape]) && sameValue(x.data, y.data);
  }
  return false;
}

/**
 * Unpickles the mutant's pickles with a findGlobal that records what it resolves and wraps each
 * callable so that every call is recorded too. Returns the qualnames resolved and called.
 */
function recordGlobals(m: Uint8Array): { resolved: Set<string>; called: Set<string>; refused: number } {
  const resolved = new Set<string>();
  const called = new Set<string>();
  let refused = 0;
  const allow = torchGlobals('fuzz');
  const findGlobal = (mod: string, name: string): PyGlobal => {
    let g: PyGlobal;
    try {
      g = allow(mod, name);
    } catch (e) {
      refused++;
      throw e;
    }
    resolved.add(g.qualname);
    const wrap = (f: ((a: unknown[]) => unknown) | undefined): ((a: unknown[]) => unknown) | undefined => (f ? (a) => (called.add(g.qualname), f(a)) : undefined);
    if ('elementType' in g || 'value' in g) return g;
    const impl: { call?: (a: unknown[]) => unknown; newObj?: (a: unknown[]) => unknown } = {};
    if (g.call) impl.call = wrap(g.call.bind(g));
    if (g.newObj) impl.newObj = wrap(g.newObj.bind(g));
    return pyGlobal(g.qualname, impl);
  };
  const opts = { op: 'fuzz', findGlobal, persistentLoad: (pid: unknown) => storageFromPid('fuzz', pid, new Map(), true) };
  const pickles: [Uint8Array, number][] = [];
  try {
    if (m[0] === 0x50) {
      const zip = readZip(m);
      const pkl = [...zip.entries.keys()].find((n) => n.endsWith('data.pkl'));
      if (pkl) pickles.push([readZipEntry(zip, pkl, { verify: false }), 0]);
    } else if (m[0] === 0x80) pickles.push([m, 0]);
    else {
      const t = readTar(m);
      for (const k of ['storages', 'tensors', 'pickle']) if (t.has(k)) pickles.push([t.get(k)!, 0]);
    }
  } catch {
    /* the container does not open: nothing to unpickle */
  }
  for (const [bytes] of pickles) {
    let at = 0;
    for (let k = 0; k < 5 && at < bytes.length; k++) {
      try {
        at = unpickle(bytes, opts, at).end;
      } catch {
        break;
      }
    }
  }
  return { resolved, called, refused };
}

describe('fuzzing the .pth loader with mutated real checkpoints', () => {
  it(`${MUTATIONS} seeded mutations: each a correct load or a clean Error naming the file, fast and small, and no code runs`, async () => {
    const t0 = performance.now();
    const seeds = SEEDS.map(seedOf);
    const r = rng(SEED);
    const outcomes = new Map<string, number>();
    const count = (k: string): void => void outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
    let worstMs = 0;
    let worstMB = 0;
    let refused = 0;
    const called = new Set<string>();
    for (let i = 0; i < MUTATIONS; i++) {
      const s = seeds[i % seeds.length]!;
      const m = mutate(s, r);
      const name = `fuzz-${i}-${s.name}`;
      const useAsync = m.bytes[0] === 0x50 && r() < 0.1;
      const rss0 = process.memoryUsage.rss();
      const t = performance.now();
      let value: PyValue | undefined;
      let err: unknown;
      try {
        value = useAsync ? await loadPthAsync(m.bytes, { name, verify: m.verify }) : loadPth(m.bytes, { name, verify: m.verify });
      } catch (e) {
        err = e;
      }
      const ms = performance.now() - t;
      const mb = (process.memoryUsage.rss() - rss0) / 2 ** 20;
      worstMs = Math.max(worstMs, ms);
      worstMB = Math.max(worstMB, mb);
      const where = `mutation ${i} (${m.kind} of ${s.name}${useAsync ? ', async' : ''})`;
      expect(ms, `${where}: time`).toBeLessThan(1000);
      expect(mb, `${where}: memory`).toBeLessThan(100);
      if (err !== undefined) {
        expect(err, where).toBeInstanceOf(Error);
        const e = err as Error;
        // A clean Error: exactly Error (not a RangeError or TypeError from inside), naming the file.
        expect(e.constructor.name, `${where}: ${e.constructor.name}: ${e.message}\n${e.stack}`).toBe('Error');
        expect(e.message, where).toMatch(new RegExp(`^(loadPth|readZip|readTar)\\(${name.replace(/\./g, '\\.')}\\): expected `));
        const limit = /memory budget|maxDepth|maxIntBytes/.test(e.message) ? 'limit' : /CRC-32/.test(e.message) ? 'crc' : e.message.startsWith('readZip') ? 'zip' : e.message.startsWith('readTar') ? 'tar' : 'pickle/tensor';
        count(`error (${limit})`);
      } else {
        checkTensors(value);
        count(typeof s.original !== 'string' && sameValue(value, s.original) ? 'loaded, same as the original' : 'loaded, different values');
      }
      const g = recordGlobals(m.bytes);
      refused += g.refused;
      for (const q of [...g.resolved, ...g.called]) expect(ALLOWED.some((re) => re.test(q)), `${where}: global ${q}`).toBe(true);
      for (const q of g.called) called.add(q);
    }
    const total = performance.now() - t0;
    const summary = [...outcomes].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k}: ${n}`).join(', ');
    console.log(`checkpoint fuzz: ${MUTATIONS} mutations of ${SEEDS.length} files in ${(total / 1000).toFixed(1)} s; ${summary}; slowest ${worstMs.toFixed(0)} ms, largest RSS growth ${worstMB.toFixed(0)} MB; ${refused} global lookups refused; called only [${[...called].sort().join(', ')}]`);
    expect([...outcomes.values()].reduce((a, b) => a + b, 0)).toBe(MUTATIONS);
    // Both outcomes occur: the mutations reach past the container checks.
    expect(outcomes.get('loaded, different values') ?? 0).toBeGreaterThan(0);
    expect(refused).toBeGreaterThan(0);
    if (process.env.FUZZ_MUTATIONS === undefined) expect(total).toBeLessThan(20_000);
  }, 3_600_000);
});
