/**
 * safetensors: F16/BF16 writing (bit patterns, round to nearest even, subnormals, overflow), the
 * per-tensor storage option, the unchanged default writer, the committed files, and the stricter
 * reader against malformed headers.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  bfloat16BitsToNumber, float16BitsToNumber, numberToBfloat16Bits, numberToFloat16Bits, readSafetensors, SAFETENSORS_MAX_HEADER_BYTES,
  writeSafetensors, type HostTensor,
} from '../../models/nn/safetensors.js';

const ROOT = new URL('../../', import.meta.url);
const f32 = (shape: number[], v: number[]): HostTensor => ({ dtype: 'float32', shape, data: new Float32Array(v) });
const f64 = (shape: number[], v: number[]): HostTensor => ({ dtype: 'float64', shape, data: new Float64Array(v) });
const i32 = (shape: number[], v: number[]): HostTensor => ({ dtype: 'int32', shape, data: new Int32Array(v) });

/** The header and data section of written bytes. */
function split(bytes: Uint8Array): { header: Record<string, any>; data: Uint8Array } {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return { header: JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))), data: bytes.subarray(8 + n) };
}
const u16s = (data: Uint8Array, from: number, count: number): number[] => {
  const dv = new DataView(data.buffer, data.byteOffset + from);
  return Array.from({ length: count }, (_, i) => dv.getUint16(i * 2, true));
};

/** A safetensors file from a header (object or raw text) and a data section. */
function file(header: unknown, data: Uint8Array | number = 0, headerLength?: bigint): Uint8Array {
  const hb = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const d = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + hb.length + d.length);
  new DataView(out.buffer).setBigUint64(0, headerLength ?? BigInt(hb.length), true);
  out.set(hb, 8);
  out.set(d, 8 + hb.length);
  return out;
}

/** Half of the gap to the next representable magnitude (the rounding bound). */
function halfUlp16(x: number): number {
  const h = numberToFloat16Bits(Math.abs(x));
  return (float16BitsToNumber(h + 1) - float16BitsToNumber(h)) / 2;
}

describe('float16 / bfloat16 conversion', () => {
  it('gives the known bit patterns', () => {
    const f16: [number, number][] = [[1, 0x3c00], [-2.5, 0xc100], [65504, 0x7bff], [6e-8, 0x0001], [2 ** -24, 0x0001], [2 ** -14, 0x0400],
      [0, 0x0000], [-0, 0x8000], [Infinity, 0x7c00], [-Infinity, 0xfc00], [NaN, 0x7e00], [0.1, 0x2e66], [65519, 0x7bff], [65520, 0x7c00], [-1e9, 0xfc00],
      [2 ** -25, 0x0000], [2 ** -25 + 2 ** -40, 0x0001], [3 * 2 ** -25, 0x0002], [1 + 2 ** -11, 0x3c00], [1 + 3 * 2 ** -11, 0x3c02]];
    for (const [x, h] of f16) expect(numberToFloat16Bits(x), `f16(${x})`).toBe(h);
    const bf16: [number, number][] = [[1, 0x3f80], [-2.5, 0xc020], [NaN, 0x7fc0], [Infinity, 0x7f80], [-Infinity, 0xff80], [-0, 0x8000],
      [3.4028234663852886e38, 0x7f80], [3.3895313892515355e38, 0x7f7f], [2 ** -133, 0x0001], [2 ** -126, 0x0080], [1 + 2 ** -8, 0x3f80], [1 + 3 * 2 ** -8, 0x3f82], [0.1, 0x3dcd]];
    for (const [x, h] of bf16) expect(numberToBfloat16Bits(x), `bf16(${x})`).toBe(h);
    expect(float16BitsToNumber(0x0001)).toBe(2 ** -24);
    expect(bfloat16BitsToNumber(0x3f80)).toBe(1);
  });

  it('round-trips every non-NaN bit pattern', () => {
    for (let h = 0; h < 0x10000; h++) {
      const v16 = float16BitsToNumber(h);
      if (!Number.isNaN(v16) && numberToFloat16Bits(v16) !== h) throw new Error(`f16 0x${h.toString(16)} -> ${v16} -> 0x${numberToFloat16Bits(v16).toString(16)}`);
      const vb = bfloat16BitsToNumber(h);
      if (!Number.isNaN(vb) && numberToBfloat16Bits(vb) !== h) throw new Error(`bf16 0x${h.toString(16)} -> ${vb} -> 0x${numberToBfloat16Bits(vb).toString(16)}`);
    }
  });

  it('rounds halfway cases to even and others to nearest, subnormals included', () => {
    const cases: [(h: number) => number, (x: number) => number, number][] = [[float16BitsToNumber, numberToFloat16Bits, 0x7bff], [bfloat16BitsToNumber, numberToBfloat16Bits, 0x7f7f]];
    for (const [dec, enc, last] of cases) {
      for (let h = 0; h < last; h++) {
        const lo = dec(h);
        const hi = dec(h + 1);
        const mid = (lo + hi) / 2;
        const eps = (hi - lo) / 64;
        const even = h % 2 === 0 ? h : h + 1;
        if (enc(mid) !== even || enc(-mid) !== (even | 0x8000) || enc(mid - eps) !== h || enc(mid + eps) !== h + 1) {
          throw new Error(`rounding near 0x${h.toString(16)}: ${enc(mid)} ${enc(mid - eps)} ${enc(mid + eps)}`);
        }
      }
    }
  });
});

describe('writeSafetensors storage', () => {
  it('writes F16 and BF16 with the expected bits, read back exactly when representable', () => {
    const values = [1, -2.5, 65504, 6e-8, NaN, Infinity, -Infinity, -0, 0.5, 2 ** -24];
    const t = { a: f32([2, 5], values) };
    for (const [storage, bits, back] of [
      ['F16', [0x3c00, 0xc100, 0x7bff, 0x0001, 0x7e00, 0x7c00, 0xfc00, 0x8000, 0x3800, 0x0001], [1, -2.5, 65504, 2 ** -24, NaN, Infinity, -Infinity, -0, 0.5, 2 ** -24]],
      ['BF16', [0x3f80, 0xc020, 0x4780, 0x3381, 0x7fc0, 0x7f80, 0xff80, 0x8000, 0x3f00, 0x3380], [1, -2.5, 65536, bfloat16BitsToNumber(0x3381), NaN, Infinity, -Infinity, -0, 0.5, 2 ** -24]],
    ] as const) {
      const bytes = writeSafetensors(t, { note: 'x' }, { storage });
      const { header, data } = split(bytes);
      expect(header.a).toEqual({ dtype: storage, shape: [2, 5], data_offsets: [0, 20] });
      expect(header.__metadata__).toEqual({ note: 'x' });
      expect(u16s(data, 0, 10), storage).toEqual(bits);
      const r = readSafetensors(bytes);
      expect(r.metadata).toEqual({ note: 'x' });
      const a = r.tensors.get('a')!;
      expect(a.dtype).toBe('float32');
      expect(a.shape).toEqual([2, 5]);
      expect([...a.data], storage).toEqual(back);
    }
  });

  it('round-trips random values within half an ulp (F16) and 2^-9 relative (BF16)', () => {
    let seed = 12345;
    const rand = (): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const values = Array.from({ length: 4000 }, (_, i) => Math.fround((rand() - 0.5) * 2 ** ((i % 40) - 26)));
    const exact = Array.from({ length: 64 }, (_, i) => float16BitsToNumber((i * 977) & 0x7bff));
    const bytes = writeSafetensors({ r: f32([values.length], values), e: f32([exact.length], exact) }, undefined, { storage: 'F16' });
    const back = readSafetensors(bytes).tensors;
    const r = back.get('r')!.data;
    values.forEach((x, i) => {
      if (Math.abs(r[i]! - x) > halfUlp16(x)) throw new Error(`f16 ${x} -> ${r[i]}`);
    });
    expect([...back.get('e')!.data]).toEqual(exact);
    const wide = values.map((x, i) => x * 2 ** ((i % 200) - 100));
    const rb = readSafetensors(writeSafetensors({ r: f32([wide.length], wide) }, undefined, { storage: 'BF16' })).tensors.get('r')!.data;
    wide.forEach((x, i) => {
      const e = Math.fround(x);
      const tol = Math.abs(e) >= 2 ** -126 ? Math.abs(e) * 2 ** -8 : 2 ** -134;
      if (Math.abs(rb[i]! - e) > tol) throw new Error(`bf16 ${e} -> ${rb[i]}`);
    });
  });

  it('keeps float64 as F64 and int32 as I32 under a string storage; a function picks per tensor', () => {
    const t = new Map<string, HostTensor>([['w', f32([2], [0.1, 3])], ['d', f64([1], [0.1])], ['n', i32([2], [7, -8])]]);
    const s = split(writeSafetensors(t, undefined, { storage: 'BF16' })).header;
    expect([s.w.dtype, s.d.dtype, s.n.dtype]).toEqual(['BF16', 'F64', 'I32']);
    const asked: string[] = [];
    const bytes = writeSafetensors(t, undefined, { storage: (name) => { asked.push(name); return name === 'w' ? 'F64' : 'F16'; } });
    expect(asked).toEqual(['w', 'd']);
    const h = split(bytes).header;
    expect([h.w.dtype, h.d.dtype, h.n.dtype]).toEqual(['F64', 'F16', 'I32']);
    expect([h.w.data_offsets, h.d.data_offsets, h.n.data_offsets]).toEqual([[0, 16], [16, 18], [18, 26]]);
    const r = readSafetensors(bytes).tensors;
    expect(r.get('w')).toEqual(f64([2], [Math.fround(0.1), 3]));
    expect(r.get('d')).toEqual(f32([1], [float16BitsToNumber(numberToFloat16Bits(0.1))]));
    expect(r.get('n')).toEqual(i32([2], [7, -8]));
    expect(() => writeSafetensors(t, undefined, { storage: () => 'I32' })).toThrow(/expected a float storage \(F64\/F32\/F16\/BF16\) for the float32 tensor 'w', got I32/);
    expect(() => writeSafetensors(t, undefined, { storage: () => 'F8' as 'F16' })).toThrow(/expected the storage of 'w' to be one of F64\/F32\/F16\/BF16\/I32, got "F8"/);
    expect(() => writeSafetensors(t, undefined, { storage: 'F64' as 'F32' })).toThrow(/expected opts\.storage to be 'F32', 'F16', 'BF16' or a function, got "F64"/);
  });

  it('throws, naming the tensor, when a finite value overflows the storage', () => {
    expect(() => writeSafetensors({ ok: f32([1], [1]), big: f32([3], [1, -70000, 2]) }, undefined, { storage: 'F16' }))
      .toThrow(/writeSafetensors: expected the values of 'big' to fit F16, got -70000 at flat index 1, which would become Infinity/);
    expect(() => writeSafetensors({ edge: f32([1], [65520]) }, undefined, { storage: 'F16' })).toThrow(/'edge' to fit F16, got 65520/);
    expect(() => writeSafetensors({ m: f32([1], [3.4028234663852886e38]) }, undefined, { storage: 'BF16' })).toThrow(/'m' to fit BF16, got 3\.4028234663852886e\+38/);
    expect(() => writeSafetensors({ d: f64([1], [1e300]) }, undefined, { storage: () => 'F32' })).toThrow(/'d' to fit F32, got 1e\+300/);
    // Infinity and NaN themselves are stored as they are.
    expect(() => writeSafetensors({ inf: f32([2], [Infinity, NaN]) }, undefined, { storage: 'F16' })).not.toThrow();
    expect(() => writeSafetensors({ s: f32([3], [1, 2]) }, undefined, { storage: 'F16' })).toThrow(/expected 3 values for 's' of shape \[3\], got 2/);
  });

  it('writes the same bytes as before without options (committed files rewrite identically)', () => {
    const t = { a: f32([2], [1, 2]), b: f64([1], [0.5]), c: i32([1], [3]) };
    expect(writeSafetensors(t, { k: 'v' }, {})).toEqual(writeSafetensors(t, { k: 'v' }));
    expect(writeSafetensors(t, undefined, { storage: 'F32' })).toEqual(writeSafetensors(t));
    for (const name of readdirSync(new URL('assets/weights/', ROOT)).filter((f) => f.endsWith('.safetensors'))) {
      const bytes = new Uint8Array(readFileSync(new URL(`assets/weights/${name}`, ROOT)));
      const r = readSafetensors(bytes);
      const again = writeSafetensors(r.tensors, Object.keys(r.metadata).length ? r.metadata : undefined);
      expect(Buffer.from(again).equals(Buffer.from(bytes)), name).toBe(true);
    }
  });

  it('reads every committed safetensors file', () => {
    const files = [
      ...readdirSync(new URL('assets/weights/', ROOT)).map((f) => `assets/weights/${f}`),
      ...(readdirSync(new URL('test/fixtures/', ROOT), { recursive: true }) as string[]).map((f) => `test/fixtures/${f}`),
    ].filter((f) => f.endsWith('.safetensors'));
    expect(files.length).toBeGreaterThanOrEqual(20);
    for (const f of files) {
      const r = readSafetensors(new Uint8Array(readFileSync(new URL(f, ROOT))));
      expect(r.tensors.size, f).toBeGreaterThan(0);
    }
  });
});

describe('readSafetensors on malformed headers', () => {
  const ok = { __metadata__: { a: 'b' }, x: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
  const one = (entry: unknown, data = 8) => file({ x: entry }, data);

  it('accepts a well-formed file, null metadata and zero-size tensors sharing an offset', () => {
    expect(readSafetensors(file(ok, 8)).metadata).toEqual({ a: 'b' });
    const r = readSafetensors(file({ __metadata__: null, e: { dtype: 'F32', shape: [0, 4], data_offsets: [0, 0] }, x: { dtype: 'I8', shape: [2], data_offsets: [0, 2] }, z: { dtype: 'F64', shape: [0], data_offsets: [2, 2] } }, 2));
    expect([...r.tensors.keys()]).toEqual(['e', 'x', 'z']);
    expect(r.tensors.get('e')!.data.length).toBe(0);
    expect(readSafetensors(file({}, 0)).tensors.size).toBe(0);
  });

  it('refuses header lengths over 100 MB or past the end, and non-JSON headers', () => {
    expect(SAFETENSORS_MAX_HEADER_BYTES).toBe(100_000_000);
    expect(() => readSafetensors(file(ok, 8, 100_000_001n))).toThrow(/expected a header length of at most 100000000 bytes, got 100000001/);
    expect(() => readSafetensors(file(ok, 8, 2n ** 64n - 1n))).toThrow(/at most 100000000 bytes, got 18446744073709551615/);
    expect(() => readSafetensors(file(ok, 8, 5000n))).toThrow(/expected a header of at most \d+ bytes, got a header length of 5000 \(truncated file\?\)/);
    expect(() => readSafetensors(new Uint8Array(4))).toThrow(/expected at least 8 bytes/);
    expect(() => readSafetensors(file('{"x": ', 0))).toThrow(/expected a JSON header, got unparsable bytes/);
  });

  it('requires the header to be an object and __metadata__ to map strings to strings', () => {
    expect(() => readSafetensors(file([1, 2]))).toThrow(/expected the header to be a JSON object, got an array/);
    expect(() => readSafetensors(file('null'))).toThrow(/expected the header to be a JSON object, got null/);
    expect(() => readSafetensors(file('7'))).toThrow(/expected the header to be a JSON object, got 7/);
    expect(() => readSafetensors(file({ ...ok, __metadata__: ['a'] }, 8))).toThrow(/expected __metadata__ to be an object of strings, got \["a"\]/);
    expect(() => readSafetensors(file({ ...ok, __metadata__: { a: 'b', n: 3 } }, 8))).toThrow(/expected __metadata__\['n'\] to be a string, got 3/);
  });

  it('checks each entry: object, dtype, shape, data_offsets and size', () => {
    expect(() => readSafetensors(one('F32'))).toThrow(/expected 'x' to be an object \{dtype, shape, data_offsets\}, got "F32"/);
    expect(() => readSafetensors(one({ dtype: 'F8', shape: [2], data_offsets: [0, 8] }))).toThrow(/expected a dtype among .* for 'x', got "F8"/);
    expect(() => readSafetensors(one({ dtype: 'toString', shape: [2], data_offsets: [0, 8] }))).toThrow(/for 'x', got "toString"/);
    for (const shape of [[-2], [2.5], ['2'], 2, null]) {
      expect(() => readSafetensors(one({ dtype: 'F32', shape, data_offsets: [0, 8] })), JSON.stringify(shape)).toThrow(/expected the shape of 'x' to be an array of non-negative integers, got/);
    }
    for (const offs of [[0], [0, 8, 9], [-8, 0], [0, 8.5], ['0', '8'], [8, 0], null]) {
      expect(() => readSafetensors(one({ dtype: 'F32', shape: [2], data_offsets: offs })), JSON.stringify(offs))
        .toThrow(/expected data_offsets of 'x' to be \[begin, end\], two non-negative integers with begin <= end, got/);
    }
    expect(() => readSafetensors(one({ dtype: 'F32', shape: [2], data_offsets: [0, 8] }, 4))).toThrow(/expected data_offsets of 'x' inside the 4-byte data section, got \[0, 8\] \(truncated file\?\)/);
    expect(() => readSafetensors(one({ dtype: 'F32', shape: [3], data_offsets: [0, 8] }))).toThrow(/expected 12 bytes for 'x' \(F32 of shape \[3\]\), got data_offsets \[0, 8\] \(8 bytes\)/);
    expect(() => readSafetensors(one({ dtype: 'F32', shape: [2 ** 40, 2 ** 40], data_offsets: [0, 8] }))).toThrow(/expected 4\.8\d*e\+24 bytes for 'x'/);
  });

  it('requires the entries to tile the data section: no overlap, gap or trailing bytes', () => {
    const e = (dtype: string, shape: number[], data_offsets: number[]) => ({ dtype, shape, data_offsets });
    expect(() => readSafetensors(file({ a: e('F32', [2], [0, 8]), b: e('F32', [2], [4, 12]) }, 12)))
      .toThrow(/expected 'b' to start at byte 8 \(after 'a'\), got data_offsets \[4, 12\] overlapping it/);
    expect(() => readSafetensors(file({ b: e('F32', [2], [0, 8]), a: e('F32', [2], [0, 8]) }, 8))).toThrow(/expected '(a|b)' to start at byte 8 \(after '(a|b)'\), got data_offsets \[0, 8\] overlapping it/);
    expect(() => readSafetensors(file({ a: e('F32', [1], [0, 4]), b: e('F32', [1], [8, 12]) }, 12)))
      .toThrow(/expected 'b' to start at byte 4 \(after 'a'\), got data_offsets \[8, 12\] leaving a gap of 4 bytes/);
    expect(() => readSafetensors(file({ a: e('F32', [1], [4, 8]) }, 8))).toThrow(/expected 'a' to start at byte 0 \(the start of the data section\), got data_offsets \[4, 8\] leaving a gap of 4 bytes/);
    expect(() => readSafetensors(file({ a: e('F32', [1], [0, 4]) }, 8))).toThrow(/expected the tensors to cover the 8-byte data section exactly, got 4 trailing bytes after 'a'/);
    expect(() => readSafetensors(file({}, 3))).toThrow(/got 3 trailing bytes after the header \(no tensors\)/);
  });
});
