/**
 * Pooling on cpu (NCHW): one loop nest per output pixel, each (n, c) plane handled independently.
 *
 * Window of output (oy, ox): rows oy·sh - ph + i·dh for i < kh (and likewise for columns); taps
 * outside the input are skipped (max pool) or count as zeros (avg pool with countIncludePad).
 * - maxPool2d keeps the first strict maximum (the last NaN wins, as PyTorch) and records its flat offset
 *   iy·W + ix in the plane; backward scatters dy onto that offset.
 * - avgPool2d follows PyTorch's divisor rule: the window is clipped to the padded input
 *   [-ph, H+ph) to get the countIncludePad divisor, then to the input for the sum and the
 *   count_include_pad=false divisor. Backward spreads dy/divisor over the same taps.
 * - adaptiveAvgPool2d averages rows [⌊i·H/oh⌋, ⌈(i+1)·H/oh⌉) and the matching columns.
 * Sums run in float64 and are rounded once into the output dtype.
 */
import type { Pool2dParams } from '../backend.js';
import { alloc, type CT, type CpuStorage } from './util.js';

export function maxPool2d(x: CT, p: Pool2dParams): { out: CpuStorage; indices: CpuStorage } {
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const { outH, outW } = p;
  const [kh, kw] = p.kernel;
  const [sh, sw] = p.stride;
  const [ph, pw] = p.padding;
  const [dh, dw] = p.dilation;
  const xs = x.storage;
  const out = alloc(x.dtype, N * C * outH * outW);
  const indices = new Int32Array(N * C * outH * outW);
  for (let nc = 0; nc < N * C; nc++) {
    const xOff = nc * H * W;
    const oOff = nc * outH * outW;
    for (let oy = 0; oy < outH; oy++) {
      for (let ox = 0; ox < outW; ox++) {
        // First in-bounds tap of the window: PyTorch's index when every value is -Infinity.
        let y0 = oy * sh - ph;
        while (y0 < 0) y0 += dh;
        let x0 = ox * sw - pw;
        while (x0 < 0) x0 += dw;
        let best = -Infinity;
        let bestIdx = y0 * W + x0;
        for (let i = 0; i < kh; i++) {
          const iy = oy * sh - ph + i * dh;
          if (iy < 0 || iy >= H) continue;
          for (let j = 0; j < kw; j++) {
            const ix = ox * sw - pw + j * dw;
            if (ix < 0 || ix >= W) continue;
            const v = xs[xOff + iy * W + ix]!;
            if (v > best || Number.isNaN(v)) {
              best = v;
              bestIdx = iy * W + ix;
            }
          }
        }
        out[oOff + oy * outW + ox] = best;
        indices[oOff + oy * outW + ox] = bestIdx;
      }
    }
  }
  return { out, indices };
}

export function maxPool2dBackward(dy: CT, indices: CT, xShape: readonly number[], p: Pool2dParams): CpuStorage {
  const [N, C, H, W] = xShape as [number, number, number, number];
  const P = p.outH * p.outW;
  const ds = dy.storage;
  const is = indices.storage;
  const acc = new Float64Array(N * C * H * W);
  for (let nc = 0; nc < N * C; nc++) {
    for (let o = 0; o < P; o++) acc[nc * H * W + is[nc * P + o]!]! += ds[nc * P + o]!;
  }
  const dx = alloc(dy.dtype, acc.length);
  dx.set(acc);
  return dx;
}

/** One avg-pool window: the clipped input range and its divisor. */
function avgWindow(o: number, s: number, pad: number, k: number, size: number): { lo: number; hi: number; padded: number } {
  const start = o * s - pad;
  const end = Math.min(start + k, size + pad);
  return { lo: Math.max(start, 0), hi: Math.min(end, size), padded: end - start };
}

export function avgPool2d(x: CT, p: Pool2dParams): CpuStorage {
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const { outH, outW, countIncludePad } = p;
  const xs = x.storage;
  const out = alloc(x.dtype, N * C * outH * outW);
  for (let oy = 0; oy < outH; oy++) {
    const wy = avgWindow(oy, p.stride[0], p.padding[0], p.kernel[0], H);
    for (let ox = 0; ox < outW; ox++) {
      const wx = avgWindow(ox, p.stride[1], p.padding[1], p.kernel[1], W);
      const divisor = countIncludePad ? wy.padded * wx.padded : (wy.hi - wy.lo) * (wx.hi - wx.lo);
      for (let nc = 0; nc < N * C; nc++) {
        const xOff = nc * H * W;
        let s = 0;
        for (let iy = wy.lo; iy < wy.hi; iy++) for (let ix = wx.lo; ix < wx.hi; ix++) s += xs[xOff + iy * W + ix]!;
        out[(nc * outH + oy) * outW + ox] = divisor > 0 ? s / divisor : 0;
      }
    }
  }
  return out;
}

export function avgPool2dBackward(dy: CT, xShape: readonly number[], p: Pool2dParams): CpuStorage {
  const [N, C, H, W] = xShape as [number, number, number, number];
  const { outH, outW, countIncludePad } = p;
  const ds = dy.storage;
  const acc = new Float64Array(N * C * H * W);
  for (let oy = 0; oy < outH; oy++) {
    const wy = avgWindow(oy, p.stride[0], p.padding[0], p.kernel[0], H);
    for (let ox = 0; ox < outW; ox++) {
      const wx = avgWindow(ox, p.stride[1], p.padding[1], p.kernel[1], W);
      const divisor = countIncludePad ? wy.padded * wx.padded : (wy.hi - wy.lo) * (wx.hi - wx.lo);
      if (divisor <= 0) continue;
      for (let nc = 0; nc < N * C; nc++) {
        const g = ds[(nc * outH + oy) * outW + ox]! / divisor;
        const xOff = nc * H * W;
        for (let iy = wy.lo; iy < wy.hi; iy++) for (let ix = wx.lo; ix < wx.hi; ix++) acc[xOff + iy * W + ix]! += g;
      }
    }
  }
  const dx = alloc(dy.dtype, acc.length);
  dx.set(acc);
  return dx;
}

/** Adaptive window [⌊i·size/out⌋, ⌈(i+1)·size/out⌉). */
function adaptiveRange(i: number, size: number, out: number): [number, number] {
  return [Math.floor((i * size) / out), Math.ceil(((i + 1) * size) / out)];
}

export function adaptiveAvgPool2d(x: CT, outH: number, outW: number): CpuStorage {
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const xs = x.storage;
  const out = alloc(x.dtype, N * C * outH * outW);
  for (let nc = 0; nc < N * C; nc++) {
    const xOff = nc * H * W;
    for (let oy = 0; oy < outH; oy++) {
      const [y0, y1] = adaptiveRange(oy, H, outH);
      for (let ox = 0; ox < outW; ox++) {
        const [x0, x1] = adaptiveRange(ox, W, outW);
        let s = 0;
        for (let iy = y0; iy < y1; iy++) for (let ix = x0; ix < x1; ix++) s += xs[xOff + iy * W + ix]!;
        out[(nc * outH + oy) * outW + ox] = s / ((y1 - y0) * (x1 - x0));
      }
    }
  }
  return out;
}

export function adaptiveAvgPool2dBackward(dy: CT, xShape: readonly number[]): CpuStorage {
  const [N, C, H, W] = xShape as [number, number, number, number];
  const [outH, outW] = dy.shape.slice(2) as [number, number];
  const ds = dy.storage;
  const acc = new Float64Array(N * C * H * W);
  for (let nc = 0; nc < N * C; nc++) {
    const xOff = nc * H * W;
    for (let oy = 0; oy < outH; oy++) {
      const [y0, y1] = adaptiveRange(oy, H, outH);
      for (let ox = 0; ox < outW; ox++) {
        const [x0, x1] = adaptiveRange(ox, W, outW);
        const g = ds[(nc * outH + oy) * outW + ox]! / ((y1 - y0) * (x1 - x0));
        for (let iy = y0; iy < y1; iy++) for (let ix = x0; ix < x1; ix++) acc[xOff + iy * W + ix]! += g;
      }
    }
  }
  const dx = alloc(dy.dtype, acc.length);
  dx.set(acc);
  return dx;
}
