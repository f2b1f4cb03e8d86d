/**
 * Image helpers for the pose pipeline: decode JPEG/PNG bytes to RGBA, encode RGBA to PNG or JPEG,
 * and resize. The codecs are pure JavaScript that runs in browsers and Node alike (`fast-png`, on
 * `fflate`, for PNG; `jpeg-js` for JPEG); file I/O stays with the caller (in Node,
 * `readImageFile` in `posegrad/node`), so these functions work on any byte source.
 *
 * An `RgbaImage` is interleaved RGBA, row-major (HWC with 4 channels), 0..255; it satisfies
 * affine.ts's `ImageHWC`, so it can be cropped directly.
 */
import { decode as decodePngBytes, encode as encodePngBytes, type DecodedPng } from 'fast-png';
import jpeg from 'jpeg-js';
import type { ImageHWC } from './affine.js';

export interface RgbaImage extends ImageHWC {
  readonly width: number;
  readonly height: number;
  readonly channels: 4;
  readonly data: Uint8Array;
}

/** A new image of `width` x `height`, filled with one RGBA color (default opaque black). */
export function createImage(width: number, height: number, rgba: readonly [number, number, number, number] = [0, 0, 0, 255]): RgbaImage {
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) throw new Error(`createImage: expected a positive integer size, got ${width}x${height}`);
  const data = new Uint8Array(width * height * 4);
  for (let i = 0; i < width * height; i++) data.set(rgba, i * 4);
  return { width, height, channels: 4, data };
}

/** Which format the bytes hold, from their signature. */
export function sniffFormat(bytes: Uint8Array): 'png' | 'jpeg' | null {
  if (bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) return 'png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  return null;
}

/**
 * Decodes PNG or JPEG bytes (detected from the signature) to RGBA. Greyscale, palette, 1/2/4-bit
 * and 16-bit PNGs are expanded to 8-bit RGBA (16-bit samples rounded as v·255/65535, tRNS
 * transparency applied), as pngjs did.
 * @throws Error "decodeImage: expected PNG or JPEG bytes, got ..." for anything else, or the
 *   decoder's message (prefixed with decodeImage) for a corrupt file.
 */
export function decodeImage(bytes: Uint8Array): RgbaImage {
  const fmt = sniffFormat(bytes);
  if (!fmt) {
    const head = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new Error(`decodeImage: expected PNG or JPEG bytes, got ${bytes.length} bytes starting with [${head}]`);
  }
  try {
    if (fmt === 'jpeg') {
      const r = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true });
      return { width: r.width, height: r.height, channels: 4, data: new Uint8Array(r.data.buffer, r.data.byteOffset, r.data.byteLength) };
    }
    const png = decodePngBytes(bytes);
    return { width: png.width, height: png.height, channels: 4, data: pngToRgba(png) };
  } catch (e) {
    throw new Error(`decodeImage: expected a valid ${fmt.toUpperCase()} file, got a decoding error (${(e as Error).message})`);
  }
}

/** Encodes an RGBA image as PNG bytes. */
export function encodePng(img: RgbaImage): Uint8Array {
  checkImage('encodePng', img);
  return encodePngBytes({ width: img.width, height: img.height, data: img.data, depth: 8, channels: 4 });
}

/** Encodes an RGBA image as JPEG bytes (quality 0..100, default 85; alpha is dropped). */
export function encodeJpeg(img: RgbaImage, quality = 85): Uint8Array {
  checkImage('encodeJpeg', img);
  const r = withBufferFrom(() => jpeg.encode({ width: img.width, height: img.height, data: img.data }, quality));
  return new Uint8Array(r.data.buffer, r.data.byteOffset, r.data.byteLength);
}

/**
 * jpeg-js's encoder returns `Buffer.from(bytes)` whenever it is loaded as a CommonJS module, which
 * a bundler does for a browser too, where there is no Buffer. Outside Node, this lends it a
 * `Buffer.from` that makes a Uint8Array for the duration of the call.
 */
function withBufferFrom<T>(fn: () => T): T {
  const g = globalThis as { Buffer?: unknown };
  if (g.Buffer !== undefined) return fn();
  g.Buffer = { from: (a: ArrayLike<number>) => Uint8Array.from(a) };
  try {
    return fn();
  } finally {
    delete g.Buffer;
  }
}

/** A decoded PNG of any colour type and bit depth as 8-bit RGBA. */
function pngToRgba(png: DecodedPng): Uint8Array {
  const { width, height, depth } = png;
  const n = width * height;
  const out = new Uint8Array(n * 4);
  if (png.palette) {
    const rowBytes = Math.ceil((width * depth) / 8);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const bit = x * depth;
        const index = (png.data[y * rowBytes + (bit >> 3)]! >> (8 - depth - (bit & 7))) & ((1 << depth) - 1);
        const c = png.palette[index];
        if (!c) throw new Error(`expected palette indices below ${png.palette.length}, got ${index}`);
        const o = (y * width + x) * 4;
        out[o] = c[0]!;
        out[o + 1] = c[1]!;
        out[o + 2] = c[2]!;
        out[o + 3] = c[3] ?? 255; // fast-png appends the tRNS alpha to each palette entry
      }
    }
    return out;
  }
  const ch = png.channels;
  const max = 2 ** depth - 1;
  // Samples per row as stored: 1/2/4-bit rows are packed and padded to a whole byte.
  const rowBytes = depth < 8 ? Math.ceil((width * depth) / 8) : 0;
  const sample = (i: number, y: number, xc: number): number => {
    if (depth >= 8) return png.data[i]!;
    const bit = xc * depth;
    return (png.data[y * rowBytes + (bit >> 3)]! >> (8 - depth - (bit & 7))) & max;
  };
  const to8 = depth === 8 ? (v: number) => v : (v: number) => Math.round((v * 255) / max);
  // tRNS for greyscale / truecolour: one colour (in the file's depth) that is fully transparent.
  const key = png.transparency && png.transparency.length >= (ch >= 3 ? 3 : 1) ? png.transparency : null;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = y * width + x;
      const s = (c: number): number => sample(p * ch + c, y, x * ch + c);
      const o = p * 4;
      if (ch <= 2) {
        const g = s(0);
        out[o] = out[o + 1] = out[o + 2] = to8(g);
        out[o + 3] = ch === 2 ? to8(s(1)) : key && g === key[0] ? 0 : 255;
      } else {
        const r = s(0), gr = s(1), b = s(2);
        out[o] = to8(r);
        out[o + 1] = to8(gr);
        out[o + 2] = to8(b);
        out[o + 3] = ch === 4 ? to8(s(3)) : key && r === key[0] && gr === key[1] && b === key[2] ? 0 : 255;
      }
    }
  }
  return out;
}

export { resizeArea } from './resize.js';

function checkImage(op: string, img: RgbaImage): void {
  if (img.data.length !== img.width * img.height * 4) throw new Error(`${op}: expected ${img.width}x${img.height}x4 = ${img.width * img.height * 4} RGBA bytes, got ${img.data.length}`);
}
