/**
 * JS side of layerNorm and batchNorm on wasm (kernels: assembly/norm.ts). SIMD two-pass statistics
 * with float64 block sums, SIMD affine maps; the contract is backends/backend.ts and the reference
 * backends/cpu/normalization.ts. Wrappers allocate the outputs (and, for layerNorm's dGamma/dBeta,
 * a float64 scratch of 2·cols in the 'normAcc' scratch) and call one kernel.
 */
import { checkDtype, kernel, type WasmContext, type WT } from './context.js';
import type { WasmStorage } from './memory.js';
import { scratch } from './scratch.js';

type S = WasmStorage;


const ptr = (t: WT | null): number => (t ? t.storage.ptr : 0);

export function layerNorm(ctx: WasmContext, x: WT, gamma: WT | null, beta: WT | null, rows: number, cols: number, eps: number): { y: S; mean: S; rstd: S } {
  checkDtype('layerNorm', x.dtype);
  const y = ctx.mem.alloc('layerNorm', rows * cols * 4);
  const mean = ctx.mem.alloc('layerNorm', rows * 4);
  const rstd = ctx.mem.alloc('layerNorm', rows * 4);
  if (rows * cols > 0) kernel(ctx, 'layer_norm_f32')(x.storage.ptr, ptr(gamma), ptr(beta), y.ptr, mean.ptr, rstd.ptr, rows, cols, eps);
  return { y, mean, rstd };
}

export function layerNormBackward(ctx: WasmContext, dy: WT, x: WT, mean: WT, rstd: WT, gamma: WT | null, rows: number, cols: number): { dx: S; dGamma: S | null; dBeta: S | null } {
  checkDtype('layerNormBackward', x.dtype);
  const dx = ctx.mem.alloc('layerNormBackward', rows * cols * 4);
  const dGamma = gamma ? ctx.mem.alloc('layerNormBackward', cols * 4) : null;
  const dBeta = gamma ? ctx.mem.alloc('layerNormBackward', cols * 4) : null;
  if (cols === 0) return { dx, dGamma, dBeta };
  const acc = gamma ? scratch(ctx.mem, 'normAcc', cols * 16, 'layerNormBackward') : 0;
  kernel(ctx, 'layer_norm_backward_f32')(dy.storage.ptr, x.storage.ptr, mean.storage.ptr, rstd.storage.ptr, ptr(gamma), dx.ptr, dGamma ? dGamma.ptr : 0, dBeta ? dBeta.ptr : 0, acc, rows, cols);
  return { dx, dGamma, dBeta };
}

export function batchNormStats(ctx: WasmContext, x: WT, n: number, c: number, s: number): { mean: S; variance: S } {
  checkDtype('batchNormStats', x.dtype);
  const mean = ctx.mem.alloc('batchNormStats', c * 4);
  const variance = ctx.mem.alloc('batchNormStats', c * 4);
  if (c > 0) kernel(ctx, 'batch_norm_stats_f32')(x.storage.ptr, mean.ptr, variance.ptr, n, c, s);
  return { mean, variance };
}

export function batchNormForward(ctx: WasmContext, x: WT, mean: WT, variance: WT, gamma: WT | null, beta: WT | null, n: number, c: number, s: number, eps: number): S {
  checkDtype('batchNormForward', x.dtype);
  const y = ctx.mem.alloc('batchNormForward', n * c * s * 4);
  if (n * c * s > 0) kernel(ctx, 'batch_norm_forward_f32')(x.storage.ptr, mean.storage.ptr, variance.storage.ptr, ptr(gamma), ptr(beta), y.ptr, n, c, s, eps);
  return y;
}

export function batchNormBackward(ctx: WasmContext, dy: WT, x: WT, mean: WT, variance: WT, gamma: WT | null, n: number, c: number, s: number, eps: number, training: boolean): { dx: S; dGamma: S | null; dBeta: S | null } {
  checkDtype('batchNormBackward', x.dtype);
  const dx = ctx.mem.alloc('batchNormBackward', n * c * s * 4);
  const dGamma = gamma ? ctx.mem.alloc('batchNormBackward', c * 4) : null;
  const dBeta = gamma ? ctx.mem.alloc('batchNormBackward', c * 4) : null;
  if (c > 0) {
    kernel(ctx, 'batch_norm_backward_f32')(dy.storage.ptr, x.storage.ptr, mean.storage.ptr, variance.storage.ptr, ptr(gamma), dx.ptr, dGamma ? dGamma.ptr : 0, dBeta ? dBeta.ptr : 0, n, c, s, eps, training ? 1 : 0);
  }
  return { dx, dGamma, dBeta };
}
