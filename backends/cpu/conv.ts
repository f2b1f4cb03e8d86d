/**
 * conv2d on cpu by im2col + GEMM, per sample and per group.
 * - im2col unrolls the receptive field of every output pixel into a column: col is
 *   [Cg·kh·kw, Ho·Wo], zero where the tap falls in the padding.
 * - forward:         out[n, g] = W_g [Coutg, Cg·kh·kw] · col
 * - backward input:  dcol = W_gᵀ · dy[n, g], then col2im adds each column back onto its taps
 * - backward weight: dW_g += dy[n, g] · colᵀ
 * Sums run in float64 and are rounded once into the output dtype.
 * Padding is per side (Conv2dParams): im2col and col2im use only the top/left sides (ph, pw), the
 * bottom/right ones enter through the output size. The forward's epilogue adds the bias and
 * applies p.clamp (min(max(v, lo), hi), NaN propagating) before rounding.
 */
import { convOutLength, convPads, type Conv2dParams } from '../backend.js';
import type { TypedArray } from '../../engine/dtype.js';
import { gemm } from './matmul.js';
import { alloc, type CT, type CpuStorage } from './util.js';

interface Geo {
  N: number; C: number; H: number; W: number;
  Cout: number; Cg: number; Coutg: number; kh: number; kw: number;
  Ho: number; Wo: number; G: number;
  sh: number; sw: number; ph: number; pw: number; dh: number; dw: number;
}

export function convGeometry(xShape: readonly number[], wShape: readonly number[], p: Conv2dParams, outHW?: readonly number[]): Geo {
  const [N, C, H, W] = xShape as [number, number, number, number];
  const [Cout, Cg, kh, kw] = wShape as [number, number, number, number];
  const [sh, sw] = p.stride;
  const [ph, pb, pw, pr] = convPads(p.padding);
  const [dh, dw] = p.dilation;
  const Ho = outHW ? outHW[0]! : convOutLength(H, kh, sh, ph, pb, dh);
  const Wo = outHW ? outHW[1]! : convOutLength(W, kw, sw, pw, pr, dw);
  return { N, C, H, W, Cout, Cg, Coutg: Cout / p.groups, kh, kw, Ho, Wo, G: p.groups, sh, sw, ph, pw, dh, dw };
}

/** col[(c·kh + i)·kw + j, oy·Wo + ox] = x[c, oy·sh - ph + i·dh, ox·sw - pw + j·dw] (0 outside). */
export function im2col(xs: TypedArray, xOff: number, g: Geo, col: TypedArray): void {
  const { Cg, H, W, kh, kw, Ho, Wo, sh, sw, ph, pw, dh, dw } = g;
  const P = Ho * Wo;
  for (let c = 0; c < Cg; c++) {
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        const row = ((c * kh + i) * kw + j) * P;
        for (let oy = 0; oy < Ho; oy++) {
          const iy = oy * sh - ph + i * dh;
          const dst = row + oy * Wo;
          if (iy < 0 || iy >= H) {
            col.fill(0, dst, dst + Wo);
            continue;
          }
          const src = xOff + (c * H + iy) * W;
          for (let ox = 0; ox < Wo; ox++) {
            const ix = ox * sw - pw + j * dw;
            col[dst + ox] = ix >= 0 && ix < W ? xs[src + ix]! : 0;
          }
        }
      }
    }
  }
}

/** The adjoint of im2col: dx[c, iy, ix] += col[...] for every tap that read it. */
export function col2im(col: TypedArray, g: Geo, dx: TypedArray, dxOff: number): void {
  const { Cg, H, W, kh, kw, Ho, Wo, sh, sw, ph, pw, dh, dw } = g;
  const P = Ho * Wo;
  for (let c = 0; c < Cg; c++) {
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        const row = ((c * kh + i) * kw + j) * P;
        for (let oy = 0; oy < Ho; oy++) {
          const iy = oy * sh - ph + i * dh;
          if (iy < 0 || iy >= H) continue;
          const dst = dxOff + (c * H + iy) * W;
          for (let ox = 0; ox < Wo; ox++) {
            const ix = ox * sw - pw + j * dw;
            if (ix >= 0 && ix < W) dx[dst + ix]! += col[row + oy * Wo + ox]!;
          }
        }
      }
    }
  }
}

export function conv2d(x: CT, w: CT, bias: CT | null, p: Conv2dParams): CpuStorage {
  const g = convGeometry(x.shape, w.shape, p);
  const { N, C, H, W, Cout, Cg, Coutg, kh, kw, Ho, Wo, G } = g;
  const P = Ho * Wo;
  const R = Cg * kh * kw;
  const col = alloc(x.dtype, R * P);
  const acc = new Float64Array(N * Cout * P);
  for (let n = 0; n < N; n++) {
    for (let gi = 0; gi < G; gi++) {
      im2col(x.storage, (n * C + gi * Cg) * H * W, g, col);
      gemm(Coutg, P, R, w.storage, gi * Coutg * R, false, col, 0, false, acc, (n * Cout + gi * Coutg) * P, true);
    }
  }
  if (bias) {
    const bs = bias.storage;
    for (let n = 0; n < N; n++) for (let co = 0; co < Cout; co++) {
      const off = (n * Cout + co) * P;
      for (let q = 0; q < P; q++) acc[off + q]! += bs[co]!;
    }
  }
  if (p.clamp) {
    const [lo, hi] = p.clamp;
    for (let q = 0; q < acc.length; q++) acc[q] = Math.min(Math.max(acc[q]!, lo), hi);
  }
  const out = alloc(x.dtype, acc.length);
  out.set(acc);
  return out;
}

export function conv2dBackwardInput(dy: CT, w: CT, xShape: readonly number[], p: Conv2dParams): CpuStorage {
  const g = convGeometry(xShape, w.shape, p, dy.shape.slice(2));
  const { N, C, H, W, Cout, Cg, Coutg, kh, kw, Ho, Wo, G } = g;
  const P = Ho * Wo;
  const R = Cg * kh * kw;
  const col = new Float64Array(R * P);
  const acc = new Float64Array(N * C * H * W);
  for (let n = 0; n < N; n++) {
    for (let gi = 0; gi < G; gi++) {
      gemm(R, P, Coutg, w.storage, gi * Coutg * R, true, dy.storage, (n * Cout + gi * Coutg) * P, false, col, 0, false);
      col2im(col, g, acc, (n * C + gi * Cg) * H * W);
    }
  }
  const out = alloc(dy.dtype, acc.length);
  out.set(acc);
  return out;
}

export function conv2dBackwardWeight(x: CT, dy: CT, wShape: readonly number[], p: Conv2dParams): CpuStorage {
  const g = convGeometry(x.shape, wShape, p, dy.shape.slice(2));
  const { N, C, H, W, Cout, Cg, Coutg, kh, kw, Ho, Wo, G } = g;
  const P = Ho * Wo;
  const R = Cg * kh * kw;
  const col = alloc(x.dtype, R * P);
  const acc = new Float64Array(Cout * R);
  for (let n = 0; n < N; n++) {
    for (let gi = 0; gi < G; gi++) {
      im2col(x.storage, (n * C + gi * Cg) * H * W, g, col);
      gemm(Coutg, R, P, dy.storage, (n * Cout + gi * Coutg) * P, false, col, 0, true, acc, gi * Coutg * R, true);
    }
  }
  const out = alloc(x.dtype, acc.length);
  out.set(acc);
  return out;
}
