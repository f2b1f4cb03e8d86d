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

/**
 * Resizes with area averaging (cv2.INTER_AREA-like): each output pixel is the coverage-weighted mean
 * of the input pixels under its footprint. Used for downscaling (it does not alias); upscaling
 * with it gives nearest-like blocks. All four channels are resampled; values are rounded.
 * @throws Error for a non-positive output size.
 */
export function resizeArea(img: RgbaImage, width: number, height: number): RgbaImage {
  checkImage('resizeArea', img);
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) throw new Error(`resizeArea: expected a positive integer output size, got ${width}x${height}`);
  const wx = areaWeights(img.width, width);
  const wy = areaWeights(img.height, height);
  // horizontal pass into float rows, then vertical
  const tmp = new Float64Array(img.height * width * 4);
  for (let y = 0; y < img.height; y++) {
    for (let ox = 0; ox < width; ox++) {
      for (const [ix, w] of wx[ox]!) {
        const s = (y * img.width + ix) * 4;
        const d = (y * width + ox) * 4;
        for (let c = 0; c < 4; c++) tmp[d + c]! += w * img.data[s + c]!;
      }
    }
  }
  const out = new Uint8Array(width * height * 4);
  for (let oy = 0; oy < height; oy++) {
    for (let ox = 0; ox < width; ox++) {
      const acc = [0, 0, 0, 0];
      for (const [iy, w] of wy[oy]!) {
        const s = (iy * width + ox) * 4;
        for (let c = 0; c < 4; c++) acc[c]! += w * tmp[s + c]!;
      }
      for (let c = 0; c < 4; c++) out[(oy * width + ox) * 4 + c] = Math.min(255, Math.max(0, Math.round(acc[c]!)));
    }
  }
  return { width, height, channels: 4, data: out };
}

/** For each output index, the input indices and weights (summing to 1) that its footprint covers. */
function areaWeights(inSize: number, outSize: number): [number, number][][] {
  const scale = inSize / outSize;
  const table: [number, number][][] = [];
  for (let o = 0; o < outSize; o++) {
    const a = o * scale;
    const b = (o + 1) * scale;
    const row: [number, number][] = [];
    for (let i = Math.floor(a); i < Math.min(Math.ceil(b), inSize); i++) {
      const cover = Math.min(b, i + 1) - Math.max(a, i);
      if (cover > 1e-12) row.push([i, cover / scale]);
    }
    table.push(row);
  }
  return table;
}

function checkImage(op: string, img: RgbaImage): void {
  if (img.data.length !== img.width * img.height * 4) throw new Error(`${op}: expected ${img.width}x${img.height}x4 = ${img.width * img.height * 4} RGBA bytes, got ${img.data.length}`);
}
