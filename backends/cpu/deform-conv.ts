/**
 * deformConv2d on cpu (torchvision.ops.deform_conv2d, DCNv1 and DCNv2): deformable im2col + GEMM,
 * one sample and one weight group at a time, everything accumulated in float64.
 *
 * 1. Sampling plan. For sample b, every (offset group og, kernel tap t = i·kw + j, output pixel p)
 *    gets a fractional position, shared by all the channels of the offset group:
 *      y = oy·sh - ph + i·dh + offset[b, og·2K + 2t,     p]      (K = kh·kw, P = Ho·Wo)
 *      x = ox·sw - pw + j·dw + offset[b, og·2K + 2t + 1, p]
 *    and a modulation m = mask[b, og·K + t, p] (1 without a mask). Channel c belongs to offset group
 *    ⌊c / (Cin/OG)⌋, and to weight group ⌊c / (Cin/G)⌋.
 * 2. Deformable im2col. col[(c·K + t), p] = m · bilinear(x[b, c], y, x), where bilinear reads the
 *    four integer neighbours (floor(y), floor(x)) .. (+1, +1) with weights (1-ly)(1-lx), (1-ly)lx,
 *    ly(1-lx), ly·lx, a neighbour outside the image reading 0, and a point with y ≤ -1, y ≥ H,
 *    x ≤ -1 or x ≥ W reading 0 altogether (torchvision's convention).
 * 3. GEMM. out[b, g] = W_g [Cout/G, Cg·K] · col_g [Cg·K, P], then + bias.
 *
 * Backward, per sample and weight group, with dcol = W_gᵀ · dy[b, g]:
 * - dW_g += dy[b, g] · col_gᵀ                           (col recomputed from the plan)
 * - dx:     each dcol entry, times m, is scattered onto the 4 bilinear neighbours with their weights
 * - dmask:  Σ_c dcol · bilinear(x[b, c], y, x)          over the channels of the offset group
 * - doffset: Σ_c m · dcol · ∂bilinear/∂y (and ∂/∂x), where the partials come from the same four
 *   neighbours: ∂/∂y = (1-lx)(v10 - v00) + lx(v11 - v01), ∂/∂x = (1-ly)(v01 - v00) + ly(v11 - v10).
 *   At integer positions (the kinks) this is the derivative from the right, as torchvision.
 * Memory traffic: the plan is O(OG·K·P); the column buffer O(Cg·K·P) per weight group; x is read
 * four times per column entry.
 */
import type { DeformConv2dParams } from '../backend.js';
import type { TypedArray } from '../../engine/dtype.js';
import { gemm } from './matmul.js';
import { alloc, type CT, type CpuStorage } from './util.js';

interface DGeo {
  B: number; C: number; H: number; W: number;
  Cout: number; Cg: number; Coutg: number; G: number;
  kh: number; kw: number; K: number;
  Ho: number; Wo: number; P: number;
  OG: number; Cog: number;
  sh: number; sw: number; ph: number; pw: number; dh: number; dw: number;
}

function geometry(x: CT, offset: CT, w: CT, p: DeformConv2dParams): DGeo {
  const [B, C, H, W] = x.shape as [number, number, number, number];
  const [Cout, Cg, kh, kw] = w.shape as [number, number, number, number];
  const [Ho, Wo] = offset.shape.slice(2) as [number, number];
  const G = p.groups;
  const OG = p.offsetGroups;
  return {
    B, C, H, W, Cout, Cg, Coutg: Cout / G, G, kh, kw, K: kh * kw, Ho, Wo, P: Ho * Wo, OG, Cog: C / OG,
    sh: p.stride[0], sw: p.stride[1], ph: p.padding[0], pw: p.padding[1], dh: p.dilation[0], dw: p.dilation[1],
  };
}

/** Sampling positions and modulation of sample b, indexed [(og·K + t)·P + p]. */
interface Plan {
  ys: Float64Array;
  xs: Float64Array;
  ms: Float64Array;
}

function samplingPlan(offset: TypedArray, mask: TypedArray | null, b: number, g: DGeo): Plan {
  const { OG, K, kw, Ho, Wo, P, sh, sw, ph, pw, dh, dw } = g;
  const n = OG * K * P;
  const ys = new Float64Array(n);
  const xs = new Float64Array(n);
  const ms = new Float64Array(n).fill(1);
  for (let og = 0; og < OG; og++) {
    const offBase = (b * OG + og) * 2 * K * P;
    const maskBase = (b * OG + og) * K * P;
    for (let t = 0; t < K; t++) {
      const i = Math.floor(t / kw);
      const j = t - i * kw;
      const s0 = (og * K + t) * P;
      const dyRow = offBase + 2 * t * P;
      const dxRow = dyRow + P;
      for (let oy = 0; oy < Ho; oy++) {
        const yBase = oy * sh - ph + i * dh;
        for (let ox = 0; ox < Wo; ox++) {
          const q = oy * Wo + ox;
          ys[s0 + q] = yBase + offset[dyRow + q]!;
          xs[s0 + q] = ox * sw - pw + j * dw + offset[dxRow + q]!;
          if (mask) ms[s0 + q] = mask[maskBase + t * P + q]!;
        }
      }
    }
  }
  return { ys, xs, ms };
}

/** Bilinear read of the H×W plane at `base`, zero outside (torchvision's bilinear_interpolate). */
function bilinear(src: TypedArray, base: number, H: number, W: number, y: number, x: number): number {
  if (y <= -1 || y >= H || x <= -1 || x >= W) return 0;
  const y0 = Math.floor(y);
  const x0 = Math.floor(x);
  const ly = y - y0;
  const lx = x - x0;
  const in0y = y0 >= 0;
  const in1y = y0 + 1 <= H - 1;
  const in0x = x0 >= 0;
  const in1x = x0 + 1 <= W - 1;
  const row0 = base + y0 * W;
  const row1 = row0 + W;
  let v = 0;
  if (in0y && in0x) v += (1 - ly) * (1 - lx) * src[row0 + x0]!;
  if (in0y && in1x) v += (1 - ly) * lx * src[row0 + x0 + 1]!;
  if (in1y && in0x) v += ly * (1 - lx) * src[row1 + x0]!;
  if (in1y && in1x) v += ly * lx * src[row1 + x0 + 1]!;
  return v;
}

/** Value at an in-bounds integer position, else 0. */
function at(src: TypedArray, base: number, H: number, W: number, y: number, x: number): number {
  return y >= 0 && y < H && x >= 0 && x < W ? src[base + y * W + x]! : 0;
}

/**
 * Deformable im2col for the channels [c0, c0 + Cg) of sample b (one weight group):
 * col[(c - c0)·K + t, p] = m · bilinear(x[b, c], y, x).
 */
function deformIm2col(xs: TypedArray, b: number, c0: number, plan: Plan, g: DGeo, col: Float64Array): void {
  const { C, H, W, Cg, Cog, K, P } = g;
  for (let cl = 0; cl < Cg; cl++) {
    const c = c0 + cl;
    const og = Math.floor(c / Cog);
    const base = (b * C + c) * H * W;
    for (let t = 0; t < K; t++) {
      const s0 = (og * K + t) * P;
      const row = (cl * K + t) * P;
      for (let q = 0; q < P; q++) {
        const s = s0 + q;
        col[row + q] = plan.ms[s]! * bilinear(xs, base, H, W, plan.ys[s]!, plan.xs[s]!);
      }
    }
  }
}

export function deformConv2d(x: CT, offset: CT, mask: CT | null, w: CT, bias: CT | null, p: DeformConv2dParams): CpuStorage {
  const g = geometry(x, offset, w, p);
  const { B, Cout, Cg, Coutg, G, K, P } = g;
  const R = Cg * K;
  const acc = new Float64Array(B * Cout * P);
  const col = new Float64Array(R * P);
  for (let b = 0; b < B; b++) {
    const plan = samplingPlan(offset.storage, mask ? mask.storage : null, b, g);
    for (let gi = 0; gi < G; gi++) {
      deformIm2col(x.storage, b, gi * Cg, plan, g, col);
      gemm(Coutg, P, R, w.storage, gi * Coutg * R, false, col, 0, false, acc, (b * Cout + gi * Coutg) * P, true);
    }
  }
  if (bias) {
    for (let b = 0; b < B; b++) {
      for (let co = 0; co < Cout; co++) {
        const off = (b * Cout + co) * P;
        const bv = bias.storage[co]!;
        for (let q = 0; q < P; q++) acc[off + q]! += bv;
      }
    }
  }
  const out = alloc(x.dtype, acc.length);
  out.set(acc);
  return out;
}

export function deformConv2dBackward(
  dy: CT, x: CT, offset: CT, mask: CT | null, w: CT, p: DeformConv2dParams,
): { dx: CpuStorage; dOffset: CpuStorage; dMask: CpuStorage | null; dWeight: CpuStorage } {
  const g = geometry(x, offset, w, p);
  const { B, C, H, W, Cout, Cg, Coutg, G, K, P, OG, Cog } = g;
  const R = Cg * K;
  const xs = x.storage;
  const dxAcc = new Float64Array(x.storage.length);
  const dOffAcc = new Float64Array(offset.storage.length);
  const dMaskAcc = new Float64Array(B * OG * K * P);
  const dWAcc = new Float64Array(w.storage.length);
  const col = new Float64Array(R * P);
  const dcol = new Float64Array(R * P);
  for (let b = 0; b < B; b++) {
    const plan = samplingPlan(offset.storage, mask ? mask.storage : null, b, g);
    for (let gi = 0; gi < G; gi++) {
      const dyOff = (b * Cout + gi * Coutg) * P;
      // dW_g += dy_g · colᵀ
      deformIm2col(xs, b, gi * Cg, plan, g, col);
      gemm(Coutg, R, P, dy.storage, dyOff, false, col, 0, true, dWAcc, gi * Coutg * R, true);
      // dcol = W_gᵀ · dy_g
      gemm(R, P, Coutg, w.storage, gi * Coutg * R, true, dy.storage, dyOff, false, dcol, 0, false);
      for (let cl = 0; cl < Cg; cl++) {
        const c = gi * Cg + cl;
        const og = Math.floor(c / Cog);
        const base = (b * C + c) * H * W;
        const offBase = (b * OG + og) * 2 * K * P;
        const maskBase = (b * OG + og) * K * P;
        for (let t = 0; t < K; t++) {
          const s0 = (og * K + t) * P;
          const row = (cl * K + t) * P;
          for (let q = 0; q < P; q++) {
            const s = s0 + q;
            const gc = dcol[row + q]!;
            if (gc === 0) continue;
            const yy = plan.ys[s]!;
            const xx = plan.xs[s]!;
            const m = plan.ms[s]!;
            const y0 = Math.floor(yy);
            const x0 = Math.floor(xx);
            const ly = yy - y0;
            const lx = xx - x0;
            // The four neighbours (0 outside the image).
            const v00 = at(xs, base, H, W, y0, x0);
            const v01 = at(xs, base, H, W, y0, x0 + 1);
            const v10 = at(xs, base, H, W, y0 + 1, x0);
            const v11 = at(xs, base, H, W, y0 + 1, x0 + 1);
            // d/doffset: the partials of the bilinear read.
            const dVy = (1 - lx) * (v10 - v00) + lx * (v11 - v01);
            const dVx = (1 - ly) * (v01 - v00) + ly * (v11 - v10);
            dOffAcc[offBase + 2 * t * P + q]! += m * gc * dVy;
            dOffAcc[offBase + (2 * t + 1) * P + q]! += m * gc * dVx;
            if (yy <= -1 || yy >= H || xx <= -1 || xx >= W) continue; // the read was 0: no dx, no dmask
            if (mask) dMaskAcc[maskBase + t * P + q]! += gc * ((1 - ly) * ((1 - lx) * v00 + lx * v01) + ly * ((1 - lx) * v10 + lx * v11));
            // dx: scatter m·gc onto the in-bounds neighbours.
            const gm = m * gc;
            const in0y = y0 >= 0;
            const in1y = y0 + 1 < H;
            const in0x = x0 >= 0;
            const in1x = x0 + 1 < W;
            const r0 = base + y0 * W;
            const r1 = r0 + W;
            if (in0y && in0x) dxAcc[r0 + x0]! += gm * (1 - ly) * (1 - lx);
            if (in0y && in1x) dxAcc[r0 + x0 + 1]! += gm * (1 - ly) * lx;
            if (in1y && in0x) dxAcc[r1 + x0]! += gm * ly * (1 - lx);
            if (in1y && in1x) dxAcc[r1 + x0 + 1]! += gm * ly * lx;
          }
        }
      }
    }
  }
  const round = (acc: Float64Array): CpuStorage => {
    const out = alloc(x.dtype, acc.length);
    out.set(acc);
    return out;
  };
  return { dx: round(dxAcc), dOffset: round(dOffAcc), dMask: mask ? round(dMaskAcc) : null, dWeight: round(dWAcc) };
}
