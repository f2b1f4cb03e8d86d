/**
 * JS side of softmax / logSoftmax and their backward passes (assembly/softmax.ts): two-pass,
 * max-subtracted, SIMD along contiguous rows (inner == 1) or across four neighbouring rows.
 */
import { checkDtype, kernel, type WasmContext, type WT } from './context.js';
import type { WasmStorage } from './memory.js';

export function softmax(ctx: WasmContext, x: WT, outer: number, size: number, inner: number, log: boolean): WasmStorage {
  checkDtype('softmax', x.dtype);
  const n = outer * size * inner;
  const out = ctx.mem.alloc(log ? 'logSoftmax' : 'softmax', n * 4);
  if (n === 0) return out;
  kernel(ctx, 'softmax_f32')(x.storage.ptr, out.ptr, outer, size, inner, log ? 1 : 0);
  return out;
}

export function softmaxBackward(ctx: WasmContext, y: WT, dy: WT, outer: number, size: number, inner: number, log: boolean): WasmStorage {
  checkDtype('softmaxBackward', y.dtype);
  const n = outer * size * inner;
  const out = ctx.mem.alloc('softmaxBackward', n * 4);
  if (n === 0) return out;
  kernel(ctx, 'softmax_backward_f32')(y.storage.ptr, dy.storage.ptr, out.ptr, outer, size, inner, log ? 1 : 0);
  return out;
}
