/**
 * JS side of interpolate (assembly/resample.ts). The per-axis source taps are computed here with
 * the cpu backend's formulas (nearest: ⌊fround(dst·fround(ratio))⌋ clipped; bilinear:
 * dst·ratio or max((dst+0.5)·ratio - 0.5, 0)) and passed to the kernel as a table in scratch.
 */
import type { InterpolateParams } from '../backend.js';
import { checkDtype, kernel, type WasmContext, type WT } from './context.js';
import type { WasmStorage } from './memory.js';
import { scratch } from './scratch.js';


/** Writes [i0y, i1y, λy, i0x, i1x, λx] into scratch and returns its pointer. */
function tapTable(ctx: WasmContext, H: number, W: number, p: InterpolateParams): number {
  const n = 3 * (p.outH + p.outW);
  const ptr = scratch(ctx.mem, 'taps', n * 4, 'interpolate');
  const i32 = ctx.mem.i32;
  const f32 = ctx.mem.f32;
  let at = ptr >>> 2;
  const axis = (outSize: number, inSize: number, ratio: number): void => {
    for (let d = 0; d < outSize; d++) {
      let s: number;
      let s1: number;
      let lam: number;
      if (p.mode === 'nearest') {
        s = Math.min(Math.floor(Math.fround(d * Math.fround(ratio))), inSize - 1);
        s1 = s;
        lam = 0;
      } else {
        const src = p.alignCorners ? d * ratio : Math.max((d + 0.5) * ratio - 0.5, 0);
        s = Math.min(Math.floor(src), inSize - 1);
        s1 = s < inSize - 1 ? s + 1 : s;
        lam = Math.min(Math.max(src - s, 0), 1);
      }
      i32[at + d] = s;
      i32[at + outSize + d] = s1;
      f32[at + 2 * outSize + d] = lam;
    }
    at += 3 * outSize;
  };
  axis(p.outH, H, p.ratioH);
  axis(p.outW, W, p.ratioW);
  return ptr;
}

export function interpolate(ctx: WasmContext, x: WT, p: InterpolateParams): WasmStorage {
  checkDtype('interpolate', x.dtype);
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const n = N * C * p.outH * p.outW;
  const out = ctx.mem.alloc('interpolate', n * 4);
  if (n > 0) kernel(ctx, 'interpolate_f32')(x.storage.ptr, out.ptr, N * C, H, W, p.outH, p.outW, tapTable(ctx, H, W, p), p.mode === 'nearest' ? 1 : 0);
  return out;
}

export function interpolateBackward(ctx: WasmContext, dy: WT, xShape: readonly number[], p: InterpolateParams): WasmStorage {
  checkDtype('interpolateBackward', dy.dtype);
  const [N, C, H, W] = xShape as [number, number, number, number];
  const dx = ctx.mem.alloc('interpolateBackward', N * C * H * W * 4);
  if (N * C * H * W > 0) kernel(ctx, 'interpolate_backward_f32')(dy.storage.ptr, dx.ptr, N * C, H, W, p.outH, p.outW, tapTable(ctx, H, W, p), p.mode === 'nearest' ? 1 : 0);
  return dx;
}
