/**
 * Hostile checkpoint files (test/reference/hostile_checkpoints.ts; the small ones are committed in
 * test/fixtures/checkpoints/hostile/) fail fast, under 1 s and 100 MB of RSS growth, with an Error
 * that names the file, where the fault is (pickle opcode and offset, zip entry, tensor key) and the
 * limit; the ones that are merely large in appearance (256 views of one storage, an unused zip bomb)
 * load, small. Plus the limits themselves: maxBytes, maxDepth, maxIntBytes, linear integer decoding,
 * bounded inflation.
 *
 * Before the limits (measured with the same files, one process each, killed at 3 GB or 40 s):
 * long4_256k > 40 s (killed; > 120 s in the issue), stride0_1g6 9.2 s and +1.6 GB, stride0_10g
 * killed at 3 GB after 23 s, views_256 2.9 s and +1.07 GB, views_256_strided 7.6 s and +1.04 GB,
 * zipbomb / zipbomb_lying / zipbomb_pkl killed at 3 GB (6 to 11 s), zipbomb_unused (async) killed at
 * 3 GB, deep_lists and deep_marks a RangeError (stack overflow), many_dicts 7.4 s and +716 MB.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadCheckpointFile, loadPth, loadPthAsync, unpickle, type PyValue } from '../../models/nn/checkpoint/index.js';
import { decodeLong } from '../../models/nn/checkpoint/pickle.js';
import { MAX_DEFLATE_RATIO, readZip, readZipEntry } from '../../models/nn/checkpoint/zip.js';
import type { HostTensor } from '../../models/nn/safetensors.js';
import { COMMITTED_LIMIT, HOSTILE_CASES, legacyFile, P, stateDictPickle, torchZip, zeroDeflate } from '../reference/hostile_checkpoints.js';

const DIR = new URL('../fixtures/checkpoints/hostile/', import.meta.url);
const MB = 2 ** 20;

/** Runs `f`, measuring its time and the growth of the process's RSS (current and peak). */
async function measure(f: () => unknown): Promise<{ ms: number; mb: number; peakMb: number; value?: unknown; error?: Error }> {
  const rss0 = process.memoryUsage.rss();
  const peak0 = process.resourceUsage().maxRSS * 1024;
  const t0 = performance.now();
  let value: unknown;
  let error: Error | undefined;
  try {
    value = await f();
  } catch (e) {
    error = e as Error;
  }
  const ms = performance.now() - t0;
  return { ms, mb: (process.memoryUsage.rss() - rss0) / MB, peakMb: (process.resourceUsage().maxRSS * 1024 - peak0) / MB, value, error };
}

const BUDGET = /to fit the memory budget of 32 MiB \(the default max\(32 MiB, 8 × the file size\); raise it with the maxBytes option if the file is trusted\), got /;

/** Each hostile case: the Error it must end in (messages are anchored at the file's name). */
const REJECTED: Record<string, RegExp> = {
  long4_256k: /^loadPth\(long4_256k\.pth\): expected an integer of at most 1024 bytes \(maxIntBytes\), got 262144 bytes \(LONG4 at offset 2 in the legacy stream's magic number pickle\)$/,
  long_text_256k: /^loadPth\(long_text_256k\.pth\): expected an integer of at most 2468 digits \(maxIntBytes 1024\), got 262144 characters \(LONG at offset 2 in the legacy stream's magic number pickle\)$/,
  int_text_256k: /^loadPth\(int_text_256k\.pth\): expected an integer of at most 2468 digits \(maxIntBytes 1024\), got 262144 characters \(INT at offset 2 /,
  stride0_1g6: new RegExp(`^loadPth\\(stride0_1g6\\.pth\\): expected tensor 'w' \\(size \\[400000000\\], stride \\[0\\]: a strided copy of 400000000 float32 elements\\) ${BUDGET.source}1\\.49 GiB more`),
  stride0_10g: new RegExp(`^loadPth\\(stride0_10g\\.pth\\): expected tensor 'w' \\(size \\[50000,50000\\], stride \\[0,0\\]: a strided copy of 2500000000 float32 elements\\) ${BUDGET.source}9\\.31 GiB more`),
  views_256_strided: /^loadPth\(views_256_strided\.pth\): expected tensor 't\d+' \(size \[1000,1000\], stride \[1,1000\]: a strided copy of 1000000 float32 elements\) to fit the memory budget of 32\.3 MiB /,
  zipbomb: new RegExp(`^loadPth\\(zipbomb\\.pth\\): expected the inflated zip entry 'archive/data/0' \\(1073741824 bytes declared, 1061890 compressed\\) ${BUDGET.source}1 GiB more`),
  zipbomb_lying: /^readZip\(zipbomb_lying\.pth\): expected 'archive\/data\/0' to inflate to its declared 4096 bytes, got more \(inflation stopped there: a corrupt archive or a zip bomb\)$/,
  zipbomb_pkl: new RegExp(`^loadPth\\(zipbomb_pkl\\.pth\\): expected the inflated zip entry 'archive/data\\.pkl' \\(1073741824 bytes declared, 1061890 compressed\\) ${BUDGET.source}1 GiB more`),
  deep_lists: /^loadPth\(deep_lists\.pth\): expected containers nested at most 1000 deep \(maxDepth\), got deeper at 'x\.0\.0\.0.*\.\.\..*0\.0'$/,
  deep_marks: /^loadPth\(deep_marks\.pth\): expected at most 1000 MARKs open at once \(maxDepth\), got one more \(MARK at offset \d+ in the legacy stream's object pickle\)$/,
  many_dicts: new RegExp(`^loadPth\\(many_dicts\\.pth\\): expected the pickle's values \\(EMPTY_DICT at offset \\d+ in the legacy stream's object pickle\\) ${BUDGET.source}256 bytes more`),
  storage_oversize: /^loadPth\(storage_oversize\.pth\): expected 4398046511104 bytes of storage '0' at offset \d+, got 16 \(truncated file\)$/,
  zip_entry_short: /^loadPth\(zip_entry_short\.pth\): expected 4194304 bytes in 'archive\/data\/0' for storage '0' \(1048576 float32 elements\), got an entry of 16 bytes \(truncated or corrupt archive\)$/,
};

describe('hostile checkpoints fail fast with a clear Error', () => {
  it('the committed fixtures are what the generator writes, and every case is covered here', () => {
    const committed = readdirSync(DIR).filter((f) => f.endsWith('.pth'));
    const small = Object.entries(HOSTILE_CASES).filter(([, f]) => f().length <= COMMITTED_LIMIT).map(([n]) => `${n}.pth`);
    expect(committed.sort()).toEqual(small.sort());
    for (const f of committed) expect(Buffer.from(readFileSync(new URL(f, DIR))).equals(Buffer.from(HOSTILE_CASES[f.slice(0, -4)]!())), f).toBe(true);
    expect(Object.keys(HOSTILE_CASES).sort()).toEqual([...Object.keys(REJECTED), 'views_256', 'zipbomb_unused'].sort());
  });

  for (const [name, error] of Object.entries(REJECTED)) {
    const bytes = HOSTILE_CASES[name]!();
    const modes = bytes[0] === 0x50 ? (['sync', 'async'] as const) : (['sync'] as const);
    for (const mode of modes) {
      it(`${name} (${(bytes.length / 1024).toFixed(1)} KiB, ${mode})`, async () => {
        const opts = { name: `${name}.pth` };
        const r = await measure(() => (mode === 'async' ? loadPthAsync(bytes, opts) : loadPth(bytes, opts)));
        expect(r.error, 'an Error').toBeDefined();
        expect(r.error!.constructor).toBe(Error);
        expect(r.error!.message).toMatch(error);
        expect(r.ms, 'time (ms)').toBeLessThan(1000);
        expect(r.mb, 'RSS growth (MB)').toBeLessThan(100);
        expect(r.peakMb, 'peak RSS growth (MB)').toBeLessThan(100);
      });
    }
  }

  it('loadCheckpointFile names the path', async () => {
    const path = new URL('stride0_10g.pth', DIR).pathname;
    await expect(loadCheckpointFile(path)).rejects.toThrow(`loadPth(${path}): expected tensor 'w'`);
  });
});

describe('what only looks hostile loads, small', () => {
  for (const mode of ['sync', 'async'] as const) {
    it(`256 overlapping views of one 4 MB storage are views of one decoded run (${mode})`, async () => {
      const bytes = HOSTILE_CASES.views_256!();
      const r = await measure(() => (mode === 'async' ? loadPthAsync(bytes) : loadPth(bytes)));
      expect(r.error).toBeUndefined();
      const sd = r.value as Map<string, HostTensor>;
      expect(sd.size).toBe(256);
      const first = sd.get('v0')!.data;
      for (const [k, t] of sd) {
        expect(t.shape, k).toEqual([(1 << 20) - 256]);
        expect(t.data.buffer, k).toBe(first.buffer);
      }
      expect(sd.get('v255')!.data.byteOffset - first.byteOffset).toBe(255 * 4);
      expect(r.ms).toBeLessThan(1000);
      expect(r.mb).toBeLessThan(100);
    });

    it(`an unused 1 GiB zip bomb entry is never inflated (${mode})`, async () => {
      const bytes = HOSTILE_CASES.zipbomb_unused!();
      const r = await measure(() => (mode === 'async' ? loadPthAsync(bytes) : loadPth(bytes)));
      expect(r.error).toBeUndefined();
      const w = (r.value as Map<string, HostTensor>).get('w')!;
      expect([w.shape, Array.from(w.data)]).toEqual([[2, 2], [1, 2, 3, 4]]);
      expect(r.ms).toBeLessThan(1000);
      expect(r.mb).toBeLessThan(100);
    });
  }
});

describe('the limits', () => {
  const expanded = (size: number[], stride: number[]): Uint8Array => {
    const s = [{ key: '0', type: 'FloatStorage', numel: 1, data: new Uint8Array(new Float32Array([7.5]).buffer) }];
    return legacyFile(stateDictPickle([{ key: 'w', storage: '0', offset: 0, size, stride }], s), s);
  };

  it('maxBytes: an expanded (stride-0) tensor within the budget loads; beyond it, the Error names the tensor and the option', () => {
    const w = (loadPth(expanded([3, 4], [0, 0])) as Map<string, HostTensor>).get('w')!;
    expect([w.shape, Array.from(w.data)]).toEqual([[3, 4], new Array(12).fill(7.5)]);
    expect(() => loadPth(expanded([100, 100], [0, 0]), { maxBytes: 20_000, name: 'x.pth' })).toThrow(
      /^loadPth\(x\.pth\): expected tensor 'w' \(size \[100,100\], stride \[0,0\]: a strided copy of 10000 float32 elements\) to fit the memory budget of 20000 bytes \(the maxBytes option\), got 40000 bytes more on top of \d+ bytes already used$/,
    );
    // 64 MiB of stride 0 from a 300-byte file: over the default budget, within a raised one.
    const big = expanded([16 << 20], [0]);
    expect(() => loadPth(big)).toThrow(/memory budget of 32 MiB/);
    const t = (loadPth(big, { maxBytes: 80 * MB }) as Map<string, HostTensor>).get('w')!;
    expect(t.data.length).toBe(16 << 20);
    expect(t.data[(16 << 20) - 1]).toBe(7.5);
    expect(() => loadPth(big, { maxBytes: -1 })).toThrow('loadPth: expected a positive maxBytes, got -1');
    // Sizes whose product overflows: refused by the budget, or empty when a dim is 0.
    expect(() => loadPth(expanded([2 ** 52, 2 ** 52], [0, 0]))).toThrow(/a strided copy of 2\.0\d+e\+31 float32 elements\) to fit the memory budget of 32 MiB/);
    const empty = (loadPth(expanded([2 ** 52, 2 ** 52, 0], [0, 0, 0])) as Map<string, HostTensor>).get('w')!;
    expect([empty.shape, empty.data.length]).toEqual([[2 ** 52, 2 ** 52, 0], 0]);
  });

  it('identical strided views share one copy; a transposed view is a row-major copy', () => {
    const data = new Uint8Array(new Float32Array([1, 2, 3, 4, 5, 6]).buffer);
    const s = [{ key: '0', type: 'FloatStorage', numel: 6, data }];
    const t = (k: string, size: number[], stride: number[]): { key: string; storage: string; offset: number; size: number[]; stride: number[] } => ({ key: k, storage: '0', offset: 0, size, stride });
    const sd = loadPth(legacyFile(stateDictPickle([t('a', [3, 2], [1, 3]), t('b', [3, 2], [1, 3]), t('c', [2, 3], [3, 1])], s), s)) as Map<string, HostTensor>;
    expect(Array.from(sd.get('a')!.data)).toEqual([1, 4, 2, 5, 3, 6]);
    expect(sd.get('b')!.data).toBe(sd.get('a')!.data);
    expect(Array.from(sd.get('c')!.data)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('maxDepth: 999 nested lists load, 1001 do not; MARKs likewise', () => {
    const nested = (n: number): Uint8Array => {
      const p = new P().proto().bytes(0x7d).str('x');
      for (let i = 0; i < n; i++) p.bytes(0x5d);
      for (let i = 0; i < n - 1; i++) p.bytes(0x61);
      return legacyFile(p.bytes(0x73).stop().build(), []);
    };
    let v = (loadPth(nested(999)) as Map<string, PyValue>).get('x');
    let depth = 0;
    while (Array.isArray(v)) (v = v[0]), depth++;
    expect(depth).toBe(999);
    expect(() => loadPth(nested(1001))).toThrow(/^loadPth: expected containers nested at most 1000 deep \(maxDepth\), got deeper at 'x\.0\.0/);
    expect(loadPth(nested(1001), { maxDepth: 2000 })).toBeInstanceOf(Map);
    const marks = (n: number): Uint8Array => new Uint8Array([0x80, 0x02, ...new Array(n).fill(0x28), ...new Array(n).fill(0x74), 0x2e]);
    const findGlobal = (): never => {
      throw new Error('no globals');
    };
    expect(unpickle(marks(1000), { findGlobal }).value).toBeInstanceOf(Array);
    expect(() => unpickle(marks(1001), { findGlobal })).toThrow('unpickle: expected at most 1000 MARKs open at once (maxDepth), got one more (MARK at offset 1002)');
  });

  it('maxIntBytes: integers decode in linear time, exactly, up to the limit', () => {
    const naive = (b: Uint8Array): bigint => {
      let v = 0n;
      for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
      return b.length && b[b.length - 1]! & 0x80 ? v - (1n << BigInt(8 * b.length)) : v;
    };
    let seed = 12345;
    const byte = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
    for (let n = 0; n <= 40; n++) {
      for (const top of [0x00, 0x7f, 0x80, 0xff, -1]) {
        const b = Uint8Array.from({ length: n }, byte);
        if (n && top >= 0) b[n - 1] = top;
        const want = naive(b);
        const got = decodeLong(b);
        expect(typeof got === 'bigint' ? got : BigInt(got), `${n} bytes`).toBe(want);
        expect(typeof got, `${n} bytes`).toBe(want >= -(2n ** 53n) + 1n && want <= 2n ** 53n - 1n ? 'number' : 'bigint');
      }
    }
    // 256 KiB in one pass (the byte-by-byte shift took minutes).
    const huge = Uint8Array.from({ length: 256 * 1024 }, byte);
    const t0 = performance.now();
    const v = decodeLong(huge);
    expect(performance.now() - t0).toBeLessThan(500);
    expect(typeof v === 'bigint' && v.toString(16).length).toBeGreaterThan(500_000);
    // The limit, and the option that raises it.
    const long4 = (n: number): Uint8Array => new Uint8Array([0x80, 0x02, 0x8b, n & 0xff, (n >> 8) & 0xff, 0, 0, ...new Uint8Array(n).fill(0x11), 0x2e]);
    const findGlobal = (): never => {
      throw new Error('no globals');
    };
    expect(unpickle(long4(1024), { findGlobal }).value).toBe(naive(new Uint8Array(1024).fill(0x11)));
    expect(() => unpickle(long4(1025), { findGlobal, entry: "'archive/data.pkl'" })).toThrow("unpickle: expected an integer of at most 1024 bytes (maxIntBytes), got 1025 bytes (LONG4 at offset 2 in 'archive/data.pkl')");
    expect(unpickle(long4(2000), { findGlobal, maxIntBytes: 2000 }).value).toBe(naive(new Uint8Array(2000).fill(0x11)));
    const text = (digits: number): Uint8Array => new Uint8Array([0x80, 0x02, 0x49, ...new TextEncoder().encode('7'.repeat(digits)), 0x0a, 0x2e]);
    expect(unpickle(text(2468), { findGlobal }).value).toBe(BigInt('7'.repeat(2468)));
    expect(() => unpickle(text(2470), { findGlobal })).toThrow(/expected an integer of at most 2468 digits \(maxIntBytes 1024\), got 2470 characters \(INT at offset 2\)/);
  });

  it('zip entries are inflated only up to their declared size, which must be possible for deflate', () => {
    const zip = readZip(HOSTILE_CASES.zipbomb_lying!(), { name: 'bomb.zip' });
    const sizes: (number | undefined)[] = [];
    // A custom inflater is told the declared size; one that ignores it is caught afterwards.
    expect(() => readZipEntry(zip, 'archive/data/0', { inflateRaw: (_b, max) => (sizes.push(max), new Uint8Array(8192)) })).toThrow(
      "readZip(bomb.zip): expected 'archive/data/0' to inflate to its declared 4096 bytes, got more",
    );
    expect(sizes).toEqual([4096]);
    // A declared size beyond deflate's 1032:1 is refused before inflating.
    const liar = torchZip(new P().proto().bytes(0x7d).stop().build(), [{ name: '0', data: zeroDeflate(1), method: 8, size: 1030 * MAX_DEFLATE_RATIO * 2 }]);
    const z2 = readZip(liar);
    expect(() => readZipEntry(z2, 'archive/data/0', { inflateRaw: () => { throw new Error('must not be called'); } })).toThrow(
      /^readZip: expected at most 1032 bytes per compressed byte for the deflated 'archive\/data\/0' \(deflate's limit\), got \d+ declared from \d+ \(corrupt or hostile archive\)$/,
    );
  });
});
