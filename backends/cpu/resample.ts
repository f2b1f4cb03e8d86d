/**
 * interpolate and gridSample on cpu (NCHW), as PyTorch's upsample_nearest2d / upsample_bilinear2d
 * and grid_sampler_2d.
 *
 * interpolate: the source coordinate of each output row (and column) is computed once, then every
 * (n, c) plane is gathered with it.
 * - nearest: src = min(⌊dst·ratio⌋, in-1), with the product rounded to float32 as PyTorch does
 *   (it computes the scale and the product in float32 even for float64 tensors).
 * - bilinear: src = dst·ratio (alignCorners) or max((dst+0.5)·ratio - 0.5, 0); the two taps are
 *   ⌊src⌋ and min(⌊src⌋+1, in-1) with weights 1-λ and λ.
 * Backward scatters dy with the same taps and weights (a plain scatter: the cpu has no races).
 *
 * gridSample: for each output pixel, the grid gives (x, y) in [-1, 1], unnormalized to pixels:
 * alignCorners: (g+1)/2·(size-1), else ((g+1)·size - 1)/2. 'border' clips to [0, size-1],
 * 'reflection' reflects about the borders (alignCorners: about pixel centres 0 and size-1, else
 * about the edges -0.5 and size-0.5) and then clips. Each step also carries d(pixel)/d(grid), so the
 * backward pass can chain it into the grid gradient. Bilinear reads the four neighbours (zero
 * outside the image); nearest rounds half to even (C's nearbyint). Backward scatters dy·weight
 * into dx and, for bilinear, accumulates over channels
 *   dL/dx_pix = Σ_c dy·[(v_ne - v_nw)(1-ty) + (v_se - v_sw)·ty], and likewise for y,
 * multiplied by the coordinate's chain factor. Nearest has a zero grid gradient.
 * Accumulation is in float64.
 */
import type { GridSampleParams, InterpolateParams } from '../backend.js';
import { alloc, type CT, type CpuStorage } from './util.js';

interface Taps {
  i0: Int32Array;
  i1: Int32Array;
  /** Weight of i1 (λ); i0 gets 1-λ. Nearest: i1 = i0 and λ = 0. */
  lam: Float64Array;
}

/** Per-axis source taps for interpolate. */
function taps(outSize: number, inSize: number, ratio: number, mode: 'nearest' | 'bilinear', alignCorners: boolean): Taps {
  const i0 = new Int32Array(outSize);
  const i1 = new Int32Array(outSize);
  const lam = new Float64Array(outSize);
  for (let d = 0; d < outSize; d++) {
    if (mode === 'nearest') {
      // float32 product, as PyTorch's nearest_neighbor_compute_source_index
      const s = Math.min(Math.floor(Math.fround(d * Math.fround(ratio))), inSize - 1);
      i0[d] = s;
      i1[d] = s;
      lam[d] = 0;
    } else {
      const src = alignCorners ? d * ratio : Math.max((d + 0.5) * ratio - 0.5, 0);
      const s = Math.min(Math.floor(src), inSize - 1);
      i0[d] = s;
      i1[d] = s < inSize - 1 ? s + 1 : s;
      lam[d] = Math.min(Math.max(src - s, 0), 1);
    }
  }
  return { i0, i1, lam };
}

export function interpolate(x: CT, p: InterpolateParams): CpuStorage {
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const { outH, outW } = p;
  const ty = taps(outH, H, p.ratioH, p.mode, p.alignCorners);
  const tx = taps(outW, W, p.ratioW, p.mode, p.alignCorners);
  const xs = x.storage;
  const out = alloc(x.dtype, N * C * outH * outW);
  for (let nc = 0; nc < N * C; nc++) {
    const xOff = nc * H * W;
    const oOff = nc * outH * outW;
    for (let oy = 0; oy < outH; oy++) {
      const r0 = xOff + ty.i0[oy]! * W;
      const r1 = xOff + ty.i1[oy]! * W;
      const ly = ty.lam[oy]!;
      if (p.mode === 'nearest') {
        // a copy, not a blend with zero weights (Infinity · 0 would be NaN)
        for (let ox = 0; ox < outW; ox++) out[oOff + oy * outW + ox] = xs[r0 + tx.i0[ox]!]!;
        continue;
      }
      for (let ox = 0; ox < outW; ox++) {
        const c0 = tx.i0[ox]!;
        const c1 = tx.i1[ox]!;
        const lx = tx.lam[ox]!;
        const top = (1 - lx) * xs[r0 + c0]! + lx * xs[r0 + c1]!;
        const bottom = (1 - lx) * xs[r1 + c0]! + lx * xs[r1 + c1]!;
        out[oOff + oy * outW + ox] = (1 - ly) * top + ly * bottom;
      }
    }
  }
  return out;
}

export function interpolateBackward(dy: CT, xShape: readonly number[], p: InterpolateParams): CpuStorage {
  const [N, C, H, W] = xShape as [number, number, number, number];
  const { outH, outW } = p;
  const ty = taps(outH, H, p.ratioH, p.mode, p.alignCorners);
  const tx = taps(outW, W, p.ratioW, p.mode, p.alignCorners);
  const ds = dy.storage;
  const acc = new Float64Array(N * C * H * W);
  for (let nc = 0; nc < N * C; nc++) {
    const xOff = nc * H * W;
    const oOff = nc * outH * outW;
    for (let oy = 0; oy < outH; oy++) {
      const r0 = xOff + ty.i0[oy]! * W;
      const r1 = xOff + ty.i1[oy]! * W;
      const ly = ty.lam[oy]!;
      for (let ox = 0; ox < outW; ox++) {
        const g = ds[oOff + oy * outW + ox]!;
        const c0 = tx.i0[ox]!;
        const c1 = tx.i1[ox]!;
        const lx = tx.lam[ox]!;
        acc[r0 + c0]! += (1 - ly) * (1 - lx) * g;
        acc[r0 + c1]! += (1 - ly) * lx * g;
        acc[r1 + c0]! += ly * (1 - lx) * g;
        acc[r1 + c1]! += ly * lx * g;
      }
    }
  }
  const dx = alloc(dy.dtype, acc.length);
  dx.set(acc);
  return dx;
}

// ------------------------------------------------------------------------------ gridSample

/** A pixel coordinate and its derivative with respect to the normalized grid value. */
interface Coord {
  v: number;
  dv: number;
}

/** Reflects `v` into [lo2/2, hi2/2] (bounds given doubled, as PyTorch); dv is ±1. */
function reflect(v: number, lo2: number, hi2: number): Coord {
  if (lo2 === hi2) return { v: 0, dv: 0 };
  const min = lo2 / 2;
  const span = (hi2 - lo2) / 2;
  let t = v - min;
  let sign = 1;
  if (t < 0) {
    sign = -1;
    t = -t;
  }
  const extra = t % span;
  const flips = Math.floor(t / span);
  return flips % 2 === 0 ? { v: extra + min, dv: sign } : { v: span - extra + min, dv: -sign };
}

/** Clips to [0, size-1]; the derivative is 0 where clipped. */
function clip(v: number, size: number): Coord {
  if (v <= 0) return { v: 0, dv: 0 };
  if (v >= size - 1) return { v: size - 1, dv: 0 };
  return { v, dv: 1 };
}

/** Normalized grid value -> pixel coordinate under the padding mode (PyTorch's grid_sampler_compute_source_index). */
function sourceCoord(g: number, size: number, p: GridSampleParams): Coord {
  let v = p.alignCorners ? ((g + 1) / 2) * (size - 1) : ((g + 1) * size - 1) / 2;
  let dv = p.alignCorners ? (size - 1) / 2 : size / 2;
  if (p.paddingMode === 'border') {
    const c = clip(v, size);
    v = c.v;
    dv *= c.dv;
  } else if (p.paddingMode === 'reflection') {
    const r = p.alignCorners ? reflect(v, 0, 2 * (size - 1)) : reflect(v, -1, 2 * size - 1);
    const c = clip(r.v, size);
    v = c.v;
    dv *= r.dv * c.dv;
  }
  return { v, dv };
}

/** Round half to even (C's nearbyint in the default rounding mode). */
function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

export function gridSample(x: CT, grid: CT, p: GridSampleParams): CpuStorage {
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const [, Ho, Wo] = grid.shape as [number, number, number, number];
  const xs = x.storage;
  const gs = grid.storage;
  const P = Ho * Wo;
  const out = alloc(x.dtype, N * C * P);
  const inside = (iy: number, ix: number): boolean => iy >= 0 && iy < H && ix >= 0 && ix < W;
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < P; o++) {
      const gi = (n * P + o) * 2;
      const cx = sourceCoord(gs[gi]!, W, p).v;
      const cy = sourceCoord(gs[gi + 1]!, H, p).v;
      if (p.mode === 'nearest') {
        const ix = roundHalfEven(cx);
        const iy = roundHalfEven(cy);
        const ok = inside(iy, ix);
        for (let c = 0; c < C; c++) out[(n * C + c) * P + o] = ok ? xs[((n * C + c) * H + iy) * W + ix]! : 0;
        continue;
      }
      const x0 = Math.floor(cx);
      const y0 = Math.floor(cy);
      const tx = cx - x0;
      const ty = cy - y0;
      const corners: [number, number, number][] = [
        [y0, x0, (1 - tx) * (1 - ty)],
        [y0, x0 + 1, tx * (1 - ty)],
        [y0 + 1, x0, (1 - tx) * ty],
        [y0 + 1, x0 + 1, tx * ty],
      ];
      for (let c = 0; c < C; c++) {
        const plane = (n * C + c) * H * W;
        let s = 0;
        for (const [iy, ix, w] of corners) if (inside(iy, ix)) s += w * xs[plane + iy * W + ix]!;
        out[(n * C + c) * P + o] = s;
      }
    }
  }
  return out;
}

export function gridSampleBackward(dy: CT, x: CT, grid: CT, p: GridSampleParams): { dx: CpuStorage; dGrid: CpuStorage } {
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const [, Ho, Wo] = grid.shape as [number, number, number, number];
  const xs = x.storage;
  const gs = grid.storage;
  const ds = dy.storage;
  const P = Ho * Wo;
  const dxAcc = new Float64Array(N * C * H * W);
  const dGrid = alloc(grid.dtype, N * P * 2);
  const inside = (iy: number, ix: number): boolean => iy >= 0 && iy < H && ix >= 0 && ix < W;
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < P; o++) {
      const gi = (n * P + o) * 2;
      const cx = sourceCoord(gs[gi]!, W, p);
      const cy = sourceCoord(gs[gi + 1]!, H, p);
      if (p.mode === 'nearest') {
        const ix = roundHalfEven(cx.v);
        const iy = roundHalfEven(cy.v);
        if (inside(iy, ix)) for (let c = 0; c < C; c++) dxAcc[((n * C + c) * H + iy) * W + ix]! += ds[(n * C + c) * P + o]!;
        continue; // dGrid stays zero: the output is piecewise constant in the grid
      }
      const x0 = Math.floor(cx.v);
      const y0 = Math.floor(cy.v);
      const tx = cx.v - x0;
      const ty = cy.v - y0;
      // corner: row, column, weight, ∂weight/∂x_pix, ∂weight/∂y_pix
      const corners: [number, number, number, number, number][] = [
        [y0, x0, (1 - tx) * (1 - ty), -(1 - ty), -(1 - tx)],
        [y0, x0 + 1, tx * (1 - ty), 1 - ty, -tx],
        [y0 + 1, x0, (1 - tx) * ty, -ty, 1 - tx],
        [y0 + 1, x0 + 1, tx * ty, ty, tx],
      ];
      let gx = 0;
      let gy = 0;
      for (let c = 0; c < C; c++) {
        const plane = (n * C + c) * H * W;
        const g = ds[(n * C + c) * P + o]!;
        for (const [iy, ix, w, dwx, dwy] of corners) {
          if (!inside(iy, ix)) continue;
          const at = plane + iy * W + ix;
          dxAcc[at]! += w * g;
          gx += dwx * xs[at]! * g;
          gy += dwy * xs[at]! * g;
        }
      }
      dGrid[gi] = gx * cx.dv;
      dGrid[gi + 1] = gy * cy.dv;
    }
  }
  const dx = alloc(x.dtype, dxAcc.length);
  dx.set(dxAcc);
  return { dx, dGrid };
}
