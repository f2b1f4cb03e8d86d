/**
 * JS side of pooling (assembly/pooling.ts): maxPool2d (+ int32 indices into each H·W plane),
 * avgPool2d (PyTorch's divisor rules), adaptiveAvgPool2d, and their backward passes.
 */
import type { Pool2dParams } from '../backend.js';
import { checkDtype, kernel, type WasmContext, type WT } from './context.js';
import type { WasmStorage } from './memory.js';

type S = WasmStorage;

function poolArgs(H: number, W: number, p: Pool2dParams): number[] {
  return [H, W, p.kernel[0], p.kernel[1], p.stride[0], p.stride[1], p.padding[0], p.padding[1], p.dilation[0], p.dilation[1], p.outH, p.outW, p.countIncludePad ? 1 : 0];
}

export function maxPool2d(ctx: WasmContext, x: WT, p: Pool2dParams): { out: S; indices: S } {
  checkDtype('maxPool2d', x.dtype);
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const n = N * C * p.outH * p.outW;
  const out = ctx.mem.alloc('maxPool2d', n * 4);
  const indices = ctx.mem.alloc('maxPool2d', n * 4);
  if (n > 0) kernel(ctx, 'max_pool_f32')(x.storage.ptr, out.ptr, indices.ptr, N * C, ctx.mem.args(poolArgs(H, W, p)));
  return { out, indices };
}

export function maxPool2dBackward(ctx: WasmContext, dy: WT, indices: WT, xShape: readonly number[], p: Pool2dParams): S {
  checkDtype('maxPool2dBackward', dy.dtype);
  const [N, C, H, W] = xShape as [number, number, number, number];
  const dx = ctx.mem.alloc('maxPool2dBackward', N * C * H * W * 4);
  if (N * C * H * W > 0) kernel(ctx, 'max_pool_backward_f32')(dy.storage.ptr, indices.storage.ptr, dx.ptr, N * C, H * W, p.outH * p.outW);
  return dx;
}

export function avgPool2d(ctx: WasmContext, x: WT, p: Pool2dParams): S {
  checkDtype('avgPool2d', x.dtype);
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const n = N * C * p.outH * p.outW;
  const out = ctx.mem.alloc('avgPool2d', n * 4);
  if (n > 0) kernel(ctx, 'avg_pool_f32')(x.storage.ptr, out.ptr, N * C, 0, ctx.mem.args(poolArgs(H, W, p)));
  return out;
}

export function avgPool2dBackward(ctx: WasmContext, dy: WT, xShape: readonly number[], p: Pool2dParams): S {
  checkDtype('avgPool2dBackward', dy.dtype);
  const [N, C, H, W] = xShape as [number, number, number, number];
  const dx = ctx.mem.alloc('avgPool2dBackward', N * C * H * W * 4);
  if (N * C * H * W > 0) kernel(ctx, 'avg_pool_f32')(dy.storage.ptr, dx.ptr, N * C, 1, ctx.mem.args(poolArgs(H, W, p)));
  return dx;
}

export function adaptiveAvgPool2d(ctx: WasmContext, x: WT, outH: number, outW: number): S {
  checkDtype('adaptiveAvgPool2d', x.dtype);
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const n = N * C * outH * outW;
  const out = ctx.mem.alloc('adaptiveAvgPool2d', n * 4);
  if (n > 0) kernel(ctx, 'adaptive_avg_pool_f32')(x.storage.ptr, out.ptr, N * C, H, W, outH, outW, 0);
  return out;
}

export function adaptiveAvgPool2dBackward(ctx: WasmContext, dy: WT, xShape: readonly number[]): S {
  checkDtype('adaptiveAvgPool2dBackward', dy.dtype);
  const [N, C, H, W] = xShape as [number, number, number, number];
  const [outH, outW] = dy.shape.slice(2) as [number, number];
  const dx = ctx.mem.alloc('adaptiveAvgPool2dBackward', N * C * H * W * 4);
  if (N * C * H * W > 0) kernel(ctx, 'adaptive_avg_pool_f32')(dy.storage.ptr, dx.ptr, N * C, H, W, outH, outW, 1);
  return dx;
}
