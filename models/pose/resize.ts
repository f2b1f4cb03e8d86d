/**
 * Area-averaging resize of RGBA images, without codecs or Node APIs (browser-safe; image.ts
 * re-exports it).
 */
import type { RgbaImage } from './image.js';

/**
 * Resizes with area averaging (cv2.INTER_AREA-like): each output pixel is the coverage-weighted mean
 * of the input pixels under its footprint. Used for downscaling (it does not alias); upscaling
 * with it gives nearest-like blocks. All four channels are resampled; values are rounded.
 * @throws Error for a non-positive output size.
 */
export function resizeArea(img: RgbaImage, width: number, height: number): RgbaImage {
  if (img.data.length !== img.width * img.height * 4) throw new Error(`resizeArea: expected ${img.width}x${img.height}x4 = ${img.width * img.height * 4} RGBA bytes, got ${img.data.length}`);
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

