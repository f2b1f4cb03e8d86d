/**
 * A small zip reader for PyTorch's checkpoint archives (torch.save since 1.6).
 *
 * The reader finds the end-of-central-directory record (with its zip64 extension when present),
 * walks the central directory for names, sizes, methods and CRCs, and reads each entry's local
 * header only to find where its data begins (PyTorch pads local headers with an extra field so that
 * tensor data is 64-byte aligned; the central directory does not show that padding).
 *
 * PyTorch stores entries uncompressed (method 0), which gives zero-copy views. Archives that were
 * re-zipped may use deflate (method 8): pass an `inflateRaw` function (Node's zlib.inflateRawSync
 * is found automatically when running in Node), or use `readZipEntryAsync`, which uses the
 * `DecompressionStream('deflate-raw')` of browsers and Node.
 */

export interface ZipEntry {
  readonly name: string;
  /** 0 = stored, 8 = deflate. */
  readonly method: number;
  readonly compressedSize: number;
  /** The declared uncompressed size (inflation stops there). */
  readonly size: number;
  readonly crc32: number;
  /** Offset of the local file header. */
  readonly headerOffset: number;
}

export interface ZipArchive {
  readonly bytes: Uint8Array;
  readonly entries: Map<string, ZipEntry>;
  /** The file name used in error messages ('readZip(<name>): ...'), when known. */
  readonly name?: string;
}

/**
 * Inflates raw deflate data. `maxOutputLength` is the entry's declared size: an inflater should
 * stop (throw) beyond it, as Node's zlib does with its option of that name; the output length is
 * checked afterwards in any case.
 */
export type InflateRaw = (data: Uint8Array, maxOutputLength?: number) => Uint8Array;

/**
 * Deflate's largest possible compression ratio: a 258-byte match coded in 2 bits. An entry that
 * declares more than this many bytes per compressed byte is corrupt (or lying), whatever it holds.
 */
export const MAX_DEFLATE_RATIO = 1032;

function fail(zip: { name?: string } | undefined, expected: string, received: string): never {
  throw new Error(`${zip?.name ? `readZip(${zip.name})` : 'readZip'}: expected ${expected}, got ${received}`);
}

/**
 * Parses the central directory of a zip archive.
 * @param opts.name the file name for error messages.
 * @throws Error when no end-of-central-directory record is found (not a zip, or truncated), when
 *   the directory or an entry's fields lie outside the data, an entry is encrypted, a name is
 *   repeated, or a stored entry's two sizes differ.
 */
export function readZip(bytes: Uint8Array, opts: { name?: string } = {}): ZipArchive {
  const z = { name: opts.name };
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // The EOCD record is 22 bytes plus a comment of at most 65535 bytes, at the very end.
  let eocd = -1;
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 65535); i--) {
    if (dv.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) fail(z, 'a zip end-of-central-directory record', `none in ${bytes.length} bytes (not a zip archive, or a truncated one)`);
  let count = dv.getUint16(eocd + 10, true);
  let dirSize = dv.getUint32(eocd + 12, true);
  let dirOffset = dv.getUint32(eocd + 16, true);
  if (count === 0xffff || dirSize === 0xffffffff || dirOffset === 0xffffffff) {
    // zip64: a locator just before the EOCD points at the zip64 EOCD record.
    const loc = eocd - 20;
    if (loc < 0 || dv.getUint32(loc, true) !== 0x07064b50) fail(z, 'a zip64 end-of-central-directory locator', 'none');
    const rec = big(z, dv, loc + 8);
    if (rec + 56 > bytes.length || dv.getUint32(rec, true) !== 0x06064b50) fail(z, 'a zip64 end-of-central-directory record', `none at offset ${rec}`);
    count = big(z, dv, rec + 32);
    dirSize = big(z, dv, rec + 40);
    dirOffset = big(z, dv, rec + 48);
  }
  const dirEnd = dirOffset + dirSize;
  if (dirEnd > bytes.length) fail(z, `a central directory inside the ${bytes.length} bytes`, `offset ${dirOffset} + size ${dirSize} (truncated archive?)`);
  const entries = new Map<string, ZipEntry>();
  let p = dirOffset;
  for (let i = 0; i < count; i++) {
    if (p + 46 > dirEnd || dv.getUint32(p, true) !== 0x02014b50) fail(z, `central directory entry ${i} at offset ${p}`, 'something else (corrupt archive)');
    const flags = dv.getUint16(p + 8, true);
    const method = dv.getUint16(p + 10, true);
    const crc32 = dv.getUint32(p + 16, true);
    let compressedSize = dv.getUint32(p + 20, true);
    let size = dv.getUint32(p + 24, true);
    const nameLen = dv.getUint16(p + 28, true);
    const extraLen = dv.getUint16(p + 30, true);
    const commentLen = dv.getUint16(p + 32, true);
    let headerOffset = dv.getUint32(p + 42, true);
    if (p + 46 + nameLen + extraLen + commentLen > dirEnd) fail(z, `central directory entry ${i} (${46 + nameLen + extraLen + commentLen} bytes at offset ${p}) inside the directory`, `one that runs past its end at ${dirEnd} (corrupt archive)`);
    const name = new TextDecoder().decode(bytes.subarray(p + 46, p + 46 + nameLen));
    if (flags & 1) fail(z, `an unencrypted entry for '${name}'`, 'an encrypted one');
    // zip64 extra field (id 1): 8-byte values for each 32-bit field that is 0xffffffff, in order.
    let e = p + 46 + nameLen;
    const eEnd = e + extraLen;
    while (e + 4 <= eEnd) {
      const id = dv.getUint16(e, true);
      const len = dv.getUint16(e + 2, true);
      const fEnd = e + 4 + len;
      if (fEnd > eEnd) fail(z, `an extra field of ${len} bytes inside the entry '${name}'`, `one that runs past it (corrupt archive)`);
      if (id === 1) {
        let q = e + 4;
        const next = (): number => {
          if (q + 8 > fEnd) fail(z, `a zip64 value in the extra field of '${name}'`, 'a field too short for it (corrupt archive)');
          const v = big(z, dv, q);
          q += 8;
          return v;
        };
        if (size === 0xffffffff) size = next();
        if (compressedSize === 0xffffffff) compressedSize = next();
        if (headerOffset === 0xffffffff) headerOffset = next();
      }
      e = fEnd;
    }
    if (entries.has(name)) fail(z, 'distinct entry names', `'${name}' twice (a corrupt or ambiguous archive)`);
    if (method === 0 && size !== compressedSize) fail(z, `equal sizes for the stored entry '${name}'`, `${compressedSize} stored and ${size} declared (corrupt archive)`);
    entries.set(name, { name, method, compressedSize, size, crc32, headerOffset });
    p = eEnd + commentLen;
  }
  return opts.name === undefined ? { bytes, entries } : { bytes, entries, name: opts.name };
}

function big(z: { name?: string }, dv: DataView, at: number): number {
  if (at + 8 > dv.byteLength) fail(z, `a zip64 value at offset ${at}`, `the end of the data after ${dv.byteLength} bytes (truncated archive)`);
  const v = dv.getBigUint64(at, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(z, 'a zip64 value below 2^53', String(v));
  return Number(v);
}

/** The stored (possibly compressed) bytes of an entry, located through its local header. */
function compressedData(zip: ZipArchive, e: ZipEntry): Uint8Array {
  const { bytes } = zip;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const h = e.headerOffset;
  if (h + 30 > bytes.length || dv.getUint32(h, true) !== 0x04034b50) fail(zip, `a local file header for '${e.name}' at offset ${h}`, 'something else (corrupt or truncated archive)');
  const start = h + 30 + dv.getUint16(h + 26, true) + dv.getUint16(h + 28, true);
  if (start + e.compressedSize > bytes.length) {
    fail(zip, `${e.compressedSize} bytes of data for '${e.name}' from offset ${start}`, `${Math.max(0, bytes.length - start)} (truncated archive)`);
  }
  return bytes.subarray(start, start + e.compressedSize);
}

function finish(zip: ZipArchive, e: ZipEntry, data: Uint8Array, verify: boolean): Uint8Array {
  if (data.length !== e.size) fail(zip, `${e.size} bytes after decompressing '${e.name}'`, String(data.length));
  if (verify) {
    const c = crc32(data);
    if (c !== e.crc32) fail(zip, `CRC-32 0x${e.crc32.toString(16)} for '${e.name}'`, `0x${c.toString(16)} (corrupt archive)`);
  }
  return data;
}

/** Node's zlib.inflateRawSync when running in Node (found without a static import), else null. */
function nodeInflateRaw(): InflateRaw | null {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const zlib = proc?.getBuiltinModule?.('node:zlib') as { inflateRawSync?: (b: Uint8Array, o?: { maxOutputLength?: number }) => Uint8Array } | undefined;
  const inflate = zlib?.inflateRawSync;
  if (!inflate) return null;
  return (b, max) => {
    try {
      return new Uint8Array(inflate(b, max === undefined ? undefined : { maxOutputLength: Math.max(1, max) }));
    } catch (err) {
      if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw new TooLarge();
      throw err;
    }
  };
}

/** Thrown by an inflater that reached its maxOutputLength. */
class TooLarge extends Error {}

/** The entry, its checks before inflating (method, plausible declared size), and its compressed bytes. */
function prepare(zip: ZipArchive, name: string): { e: ZipEntry; raw: Uint8Array } {
  const e = zip.entries.get(name);
  if (!e) fail(zip, `an entry '${name}'`, `entries [${[...zip.entries.keys()].slice(0, 10).join(', ')}${zip.entries.size > 10 ? ', ...' : ''}]`);
  const raw = compressedData(zip, e);
  if (e.method !== 0 && e.method !== 8) fail(zip, `compression method 0 (stored) or 8 (deflate) for '${name}'`, `method ${e.method}`);
  if (e.method === 8 && e.size > e.compressedSize * MAX_DEFLATE_RATIO + 1024) {
    fail(zip, `at most ${MAX_DEFLATE_RATIO} bytes per compressed byte for the deflated '${name}' (deflate's limit)`, `${e.size} declared from ${e.compressedSize} (corrupt or hostile archive)`);
  }
  return { e, raw };
}

function tooLarge(zip: ZipArchive, e: ZipEntry): never {
  fail(zip, `'${e.name}' to inflate to its declared ${e.size} bytes`, 'more (inflation stopped there: a corrupt archive or a zip bomb)');
}

/**
 * The contents of an entry. Stored entries are zero-copy views into the archive; deflated ones are
 * inflated up to their declared size and no further (callers budget that size before calling).
 * @param verify check the CRC-32 (default true).
 * @throws Error for a missing entry, an unsupported method, a declared size beyond deflate's 1032:1
 *   ratio, data that inflates to more or less than the declared size, a deflated entry when no
 *   inflater is available (outside Node, without `inflateRaw`), a truncated archive, or a CRC mismatch.
 */
export function readZipEntry(zip: ZipArchive, name: string, opts: { inflateRaw?: InflateRaw; verify?: boolean } = {}): Uint8Array {
  const { e, raw } = prepare(zip, name);
  if (e.method === 0) return finish(zip, e, raw, opts.verify ?? true);
  const inflate = opts.inflateRaw ?? nodeInflateRaw();
  if (!inflate) fail(zip, `an inflateRaw function for the deflated entry '${name}'`, 'none (outside Node: pass opts.inflateRaw, or use the async loader, which uses DecompressionStream)');
  let out: Uint8Array;
  try {
    out = inflate(raw, e.size);
  } catch (err) {
    if (err instanceof TooLarge) tooLarge(zip, e);
    fail(zip, `valid deflate data for '${name}'`, `an error: ${(err as Error).message}`);
  }
  if (out.length > e.size) tooLarge(zip, e);
  return finish(zip, e, out, opts.verify ?? true);
}

/**
 * readZipEntry, inflating with `DecompressionStream('deflate-raw')` (browsers, Node ≥ 18), chunk
 * by chunk: the stream is cancelled as soon as it goes past the declared size.
 */
export async function readZipEntryAsync(zip: ZipArchive, name: string, opts: { verify?: boolean } = {}): Promise<Uint8Array> {
  const e = zip.entries.get(name);
  if (!e || e.method !== 8) return readZipEntry(zip, name, opts);
  const { raw } = prepare(zip, name);
  const DS = (globalThis as { DecompressionStream?: new (format: string) => TransformStream<Uint8Array, Uint8Array> }).DecompressionStream;
  if (!DS) fail(zip, `DecompressionStream to inflate '${name}'`, 'none in this runtime');
  const out = new Uint8Array(e.size);
  let n = 0;
  let over = false;
  try {
    const reader = new Blob([raw.slice() as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DS('deflate-raw')).getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (n + value.length > e.size) {
        over = true;
        await reader.cancel().catch(() => undefined);
        break;
      }
      out.set(value, n);
      n += value.length;
    }
  } catch (err) {
    fail(zip, `valid deflate data for '${name}'`, `an error: ${(err as Error).message}`);
  }
  if (over) tooLarge(zip, e);
  return finish(zip, e, out.subarray(0, n), opts.verify ?? true);
}

/** CRC-32 of `data`: Node's native zlib.crc32 when available (Node ≥ 20.15), else crc32Portable. */
export function crc32(data: Uint8Array): number {
  nativeCrc ??= findNativeCrc();
  return nativeCrc ? nativeCrc(data) >>> 0 : crc32Portable(data);
}

let nativeCrc: ((data: Uint8Array) => number) | false | undefined;
function findNativeCrc(): ((data: Uint8Array) => number) | false {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const zlib = proc?.getBuiltinModule?.('node:zlib') as { crc32?: (b: Uint8Array) => number } | undefined;
  return typeof zlib?.crc32 === 'function' ? zlib.crc32 : false;
}

let CRC_TABLES: Uint32Array[] | null = null;

/**
 * CRC-32 (IEEE 802.3, the zip checksum) in plain JS, "slicing by 8": eight 256-entry tables let
 * the loop consume 8 bytes per step (T[k][b] is the CRC of byte b followed by k zero bytes).
 */
export function crc32Portable(data: Uint8Array): number {
  if (!CRC_TABLES) {
    const t0 = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      t0[n] = c >>> 0;
    }
    const ts = [t0];
    for (let k = 1; k < 8; k++) {
      const prev = ts[k - 1]!;
      const t = new Uint32Array(256);
      for (let n = 0; n < 256; n++) t[n] = (prev[n]! >>> 8) ^ t0[prev[n]! & 0xff]!;
      ts.push(t);
    }
    CRC_TABLES = ts;
  }
  const [t0, t1, t2, t3, t4, t5, t6, t7] = CRC_TABLES as [Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array];
  let c = 0xffffffff;
  let i = 0;
  const n8 = data.length - (data.length % 8);
  for (; i < n8; i += 8) {
    const a = (c ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24))) >>> 0;
    const b = data[i + 4]! | (data[i + 5]! << 8) | (data[i + 6]! << 16) | (data[i + 7]! << 24);
    c = t7[a & 0xff]! ^ t6[(a >>> 8) & 0xff]! ^ t5[(a >>> 16) & 0xff]! ^ t4[a >>> 24]! ^ t3[b & 0xff]! ^ t2[(b >>> 8) & 0xff]! ^ t1[(b >>> 16) & 0xff]! ^ t0[b >>> 24]!;
  }
  for (; i < data.length; i++) c = t0[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
