/**
 * Image helpers for the pose pipeline: decode JPEG/PNG bytes to RGBA, encode RGBA to PNG, and
 * resize. Decoding and encoding use the project's two image dependencies (`jpeg-js`, `pngjs`, both
 * pure JavaScript); file I/O stays with the caller, so these functions work on any byte source.
 *
 * An `RgbaImage` is interleaved RGBA, row-major (HWC with 4 channels), 0..255; it satisfies
 * affine.ts's `ImageHWC`, so it can be cropped directly.
 */
import jpeg from 'jpeg-js';
import pngjs from 'pngjs';
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
 * Decodes PNG or JPEG bytes (detected from the signature) to RGBA. Greyscale and palette PNGs are
 * expanded to RGBA by pngjs.
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
    const png = pngjs.PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    return { width: png.width, height: png.height, channels: 4, data: new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.byteLength) };
  } catch (e) {
    throw new Error(`decodeImage: expected a valid ${fmt.toUpperCase()} file, got a decoding error (${(e as Error).message})`);
  }
}

/** Encodes an RGBA image as PNG bytes. */
export function encodePng(img: RgbaImage): Uint8Array {
  checkImage('encodePng', img);
  const png = new pngjs.PNG({ width: img.width, height: img.height });
  png.data = Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength);
  return new Uint8Array(pngjs.PNG.sync.write(png));
}

/** Encodes an RGBA image as JPEG bytes (quality 0..100, default 85; alpha is dropped). */
export function encodeJpeg(img: RgbaImage, quality = 85): Uint8Array {
  checkImage('encodeJpeg', img);
  const r = jpeg.encode({ width: img.width, height: img.height, data: img.data }, quality);
  return new Uint8Array(r.data.buffer, r.data.byteOffset, r.data.byteLength);
}

export { resizeArea } from './resize.js';

function checkImage(op: string, img: RgbaImage): void {
  if (img.data.length !== img.width * img.height * 4) throw new Error(`${op}: expected ${img.width}x${img.height}x4 = ${img.width * img.height * 4} RGBA bytes, got ${img.data.length}`);
}
