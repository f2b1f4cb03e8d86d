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
  readonly size: number;
  readonly crc32: number;
  /** Offset of the local file header. */
  readonly headerOffset: number;
}

export interface ZipArchive {
  readonly bytes: Uint8Array;
  readonly entries: Map<string, ZipEntry>;
}

export type InflateRaw = (data: Uint8Array) => Uint8Array;

const OP = 'readZip';

function fail(expected: string, received: string): never {
  throw new Error(`${OP}: expected ${expected}, got ${received}`);
}

/**
 * Parses the central directory of a zip archive.
 * @throws Error when no end-of-central-directory record is found (not a zip, or truncated), when
 *   the directory lies outside the data, or an entry is encrypted.
 */
export function readZip(bytes: Uint8Array): ZipArchive {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // The EOCD record is 22 bytes plus a comment of at most 65535 bytes, at the very end.
  let eocd = -1;
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 65535); i--) {
    if (dv.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) fail('a zip end-of-central-directory record', `none in ${bytes.length} bytes (not a zip archive, or a truncated one)`);
  let count = dv.getUint16(eocd + 10, true);
  let dirSize = dv.getUint32(eocd + 12, true);
  let dirOffset = dv.getUint32(eocd + 16, true);
  if (count === 0xffff || dirSize === 0xffffffff || dirOffset === 0xffffffff) {
    // zip64: a locator just before the EOCD points at the zip64 EOCD record.
    const loc = eocd - 20;
    if (loc < 0 || dv.getUint32(loc, true) !== 0x07064b50) fail('a zip64 end-of-central-directory locator', 'none');
    const rec = big(dv, loc + 8);
    if (rec + 56 > bytes.length || dv.getUint32(rec, true) !== 0x06064b50) fail('a zip64 end-of-central-directory record', `none at offset ${rec}`);
    count = big(dv, rec + 32);
    dirSize = big(dv, rec + 40);
    dirOffset = big(dv, rec + 48);
  }
  if (dirOffset + dirSize > bytes.length) fail(`a central directory inside the ${bytes.length} bytes`, `offset ${dirOffset} + size ${dirSize} (truncated archive?)`);
  const entries = new Map<string, ZipEntry>();
  let p = dirOffset;
  for (let i = 0; i < count; i++) {
    if (p + 46 > bytes.length || dv.getUint32(p, true) !== 0x02014b50) fail(`central directory entry ${i} at offset ${p}`, 'something else (corrupt archive)');
    const flags = dv.getUint16(p + 8, true);
    const method = dv.getUint16(p + 10, true);
    const crc32 = dv.getUint32(p + 16, true);
    let compressedSize = dv.getUint32(p + 20, true);
    let size = dv.getUint32(p + 24, true);
    const nameLen = dv.getUint16(p + 28, true);
    const extraLen = dv.getUint16(p + 30, true);
    const commentLen = dv.getUint16(p + 32, true);
    let headerOffset = dv.getUint32(p + 42, true);
    const name = new TextDecoder().decode(bytes.subarray(p + 46, p + 46 + nameLen));
    if (flags & 1) fail(`an unencrypted entry for '${name}'`, 'an encrypted one');
    // zip64 extra field (id 1): 8-byte values for each 32-bit field that is 0xffffffff, in order.
    let e = p + 46 + nameLen;
    const eEnd = e + extraLen;
    while (e + 4 <= eEnd) {
      const id = dv.getUint16(e, true);
      const len = dv.getUint16(e + 2, true);
      if (id === 1) {
        let q = e + 4;
        if (size === 0xffffffff) (size = big(dv, q)), (q += 8);
        if (compressedSize === 0xffffffff) (compressedSize = big(dv, q)), (q += 8);
        if (headerOffset === 0xffffffff) headerOffset = big(dv, q);
      }
      e += 4 + len;
    }
    entries.set(name, { name, method, compressedSize, size, crc32, headerOffset });
    p = eEnd + commentLen;
  }
  return { bytes, entries };
}

function big(dv: DataView, at: number): number {
  const v = dv.getBigUint64(at, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail('a zip64 value below 2^53', String(v));
  return Number(v);
}

/** The stored (possibly compressed) bytes of an entry, located through its local header. */
function compressedData(zip: ZipArchive, e: ZipEntry): Uint8Array {
  const { bytes } = zip;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const h = e.headerOffset;
  if (h + 30 > bytes.length || dv.getUint32(h, true) !== 0x04034b50) fail(`a local file header for '${e.name}' at offset ${h}`, 'something else (corrupt or truncated archive)');
  const start = h + 30 + dv.getUint16(h + 26, true) + dv.getUint16(h + 28, true);
  if (start + e.compressedSize > bytes.length) {
    fail(`${e.compressedSize} bytes of data for '${e.name}' from offset ${start}`, `${Math.max(0, bytes.length - start)} (truncated archive)`);
  }
  return bytes.subarray(start, start + e.compressedSize);
}

function finish(e: ZipEntry, data: Uint8Array, verify: boolean): Uint8Array {
  if (data.length !== e.size) fail(`${e.size} bytes after decompressing '${e.name}'`, String(data.length));
  if (verify) {
    const c = crc32(data);
    if (c !== e.crc32) fail(`CRC-32 0x${e.crc32.toString(16)} for '${e.name}'`, `0x${c.toString(16)} (corrupt archive)`);
  }
  return data;
}

/** Node's zlib.inflateRawSync when running in Node (found without a static import), else null. */
function nodeInflateRaw(): InflateRaw | null {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const zlib = proc?.getBuiltinModule?.('node:zlib') as { inflateRawSync?: (b: Uint8Array) => Uint8Array } | undefined;
  return zlib?.inflateRawSync ? (b) => new Uint8Array(zlib.inflateRawSync!(b)) : null;
}

/**
 * The contents of an entry. Stored entries are zero-copy views into the archive.
 * @param verify check the CRC-32 (default true).
 * @throws Error for a missing entry, an unsupported method, a deflated entry when no inflater is
 *   available (outside Node, without `inflateRaw`), a truncated archive, or a CRC mismatch.
 */
export function readZipEntry(zip: ZipArchive, name: string, opts: { inflateRaw?: InflateRaw; verify?: boolean } = {}): Uint8Array {
  const e = zip.entries.get(name);
  if (!e) fail(`an entry '${name}'`, `entries [${[...zip.entries.keys()].slice(0, 10).join(', ')}${zip.entries.size > 10 ? ', ...' : ''}]`);
  const raw = compressedData(zip, e);
  if (e.method === 0) return finish(e, raw, opts.verify ?? true);
  if (e.method !== 8) fail(`compression method 0 (stored) or 8 (deflate) for '${name}'`, `method ${e.method}`);
  const inflate = opts.inflateRaw ?? nodeInflateRaw();
  if (!inflate) fail(`an inflateRaw function for the deflated entry '${name}'`, 'none (outside Node: pass opts.inflateRaw, or use the async loader, which uses DecompressionStream)');
  let out: Uint8Array;
  try {
    out = inflate(raw);
  } catch (err) {
    fail(`valid deflate data for '${name}'`, `an error: ${(err as Error).message}`);
  }
  return finish(e, out, opts.verify ?? true);
}

/** readZipEntry, inflating with `DecompressionStream('deflate-raw')` (browsers, Node ≥ 18). */
export async function readZipEntryAsync(zip: ZipArchive, name: string, opts: { verify?: boolean } = {}): Promise<Uint8Array> {
  const e = zip.entries.get(name);
  if (!e || e.method !== 8) return readZipEntry(zip, name, opts);
  const DS = (globalThis as { DecompressionStream?: new (format: string) => TransformStream<Uint8Array, Uint8Array> }).DecompressionStream;
  if (!DS) fail(`DecompressionStream to inflate '${name}'`, 'none in this runtime');
  let out: Uint8Array;
  try {
    const stream = new Blob([compressedData(zip, e).slice() as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DS('deflate-raw'));
    out = new Uint8Array(await new Response(stream).arrayBuffer());
  } catch (err) {
    fail(`valid deflate data for '${name}'`, `an error: ${(err as Error).message}`);
  }
  return finish(e, out, opts.verify ?? true);
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
