/**
 * A minimal tar reader for PyTorch's oldest checkpoint format (torch.save before 0.1.10 wrote a tar
 * with the members 'sys_info', 'pickle', 'tensors' and 'storages'; torch 1.13 still reads it).
 *
 * A tar is a sequence of 512-byte headers, each followed by the member's data padded to 512 bytes.
 * Names come from the ustar header, or from a preceding PAX ('x') or GNU long-name ('L') record.
 */

function fail(name: string | undefined, expected: string, received: string): never {
  throw new Error(`${name === undefined ? 'readTar' : `readTar(${name})`}: expected ${expected}, got ${received}`);
}

/** True when `bytes` starts with a ustar (POSIX or GNU) header. */
export function isTar(bytes: Uint8Array): boolean {
  if (bytes.length < 512) return false;
  const magic = String.fromCharCode(...bytes.subarray(257, 262));
  return magic === 'ustar';
}

function field(b: Uint8Array, at: number, len: number): string {
  let end = at;
  while (end < at + len && b[end] !== 0) end++;
  return new TextDecoder().decode(b.subarray(at, end));
}

function octal(b: Uint8Array, at: number, len: number, what: string, name: string | undefined): number {
  // GNU base-256 encoding for large sizes: high bit of the first byte set.
  if (b[at]! & 0x80) {
    let v = 0;
    for (let i = at + 1; i < at + len; i++) v = v * 256 + b[i]!;
    return v;
  }
  const s = field(b, at, len).trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) fail(name, `an octal ${what}`, JSON.stringify(s));
  return parseInt(s, 8);
}

/**
 * The regular-file members of a tar archive, by name (zero-copy views).
 * @param opts.name the file name for error messages.
 * @throws Error on a truncated archive or a corrupt header (bad checksum or size).
 */
export function readTar(bytes: Uint8Array, opts: { name?: string } = {}): Map<string, Uint8Array> {
  const file = opts.name;
  const out = new Map<string, Uint8Array>();
  let p = 0;
  let longName: string | null = null;
  while (p + 512 <= bytes.length) {
    const h = bytes.subarray(p, p + 512);
    if (h.every((x) => x === 0)) break; // end-of-archive blocks
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
    const stored = octal(h, 148, 8, 'header checksum', file);
    if (stored !== sum) fail(file, `header checksum ${sum} at offset ${p}`, `${stored} (corrupt archive)`);
    const size = octal(h, 124, 12, 'member size', file);
    const type = String.fromCharCode(h[156]!);
    const dataStart = p + 512;
    if (dataStart + size > bytes.length) fail(file, `${size} bytes of member data at offset ${dataStart}`, `${bytes.length - dataStart} (truncated archive)`);
    const data = bytes.subarray(dataStart, dataStart + size);
    const prefix = field(h, 345, 155);
    const name = longName ?? (prefix ? `${prefix}/${field(h, 0, 100)}` : field(h, 0, 100));
    longName = null;
    if (type === 'x') {
      // PAX records: "<len> key=value\n"; only 'path' matters here.
      const text = new TextDecoder().decode(data);
      const m = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(text);
      if (m) longName = m[1]!;
    } else if (type === 'L') {
      longName = field(data, 0, data.length);
    } else if (type === '0' || type === '\0') {
      out.set(name, data);
    }
    p = dataStart + Math.ceil(size / 512) * 512;
  }
  return out;
}
