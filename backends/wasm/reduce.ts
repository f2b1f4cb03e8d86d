/**
 * JS side of the reductions, scans and top-k (assembly/reduce.ts). x is viewed as
 * [outer, size, inner]; see the kernel file for the SIMD layout.
 */
import type { ReduceOp } from '../spec.js';
import { checkDtype, kernel, sfx, type WasmContext, type WT } from './context.js';
import type { WasmStorage } from './memory.js';
import { scratch } from './scratch.js';

type S = WasmStorage;
const OPS: Record<ReduceOp, number> = { sum: 0, prod: 1, max: 2, min: 3 };

export function reduce(ctx: WasmContext, op: ReduceOp, x: WT, outer: number, size: number, inner: number): S {
  checkDtype(op, x.dtype);
  const code = OPS[op];
  if (code === undefined) throw new Error(`wasm: expected a reduction in [${Object.keys(OPS).join(', ')}], got '${op}'`);
  const out = ctx.mem.alloc(op, outer * inner * 4);
  if (outer * inner === 0) return out;
  kernel(ctx, `reduce_${sfx(x.dtype)}`)(code, x.storage.ptr, out.ptr, outer, size, inner);
  return out;
}

export function argReduce(ctx: WasmContext, op: 'argmax' | 'argmin', x: WT, outer: number, size: number, inner: number): S {
  checkDtype(op, x.dtype);
  const out = ctx.mem.alloc(op, outer * inner * 4);
  if (outer * inner === 0) return out;
  kernel(ctx, `arg_reduce_${sfx(x.dtype)}`)(op === 'argmax' ? 1 : 0, x.storage.ptr, out.ptr, outer, size, inner);
  return out;
}

export function cumsum(ctx: WasmContext, x: WT, outer: number, size: number, inner: number): S {
  checkDtype('cumsum', x.dtype);
  const n = outer * size * inner;
  const out = ctx.mem.alloc('cumsum', n * 4);
  if (n === 0) return out;
  kernel(ctx, `cumsum_${sfx(x.dtype)}`)(x.storage.ptr, out.ptr, outer, size, inner);
  return out;
}

export function topk(ctx: WasmContext, x: WT, outer: number, size: number, k: number, largest: boolean): { values: S; indices: S } {
  checkDtype('topk', x.dtype);
  const values = ctx.mem.alloc('topk', outer * k * 4);
  const indices = ctx.mem.alloc('topk', outer * k * 4);
  if (outer * k === 0) return { values, indices };
  const tmp = scratch(ctx.mem, 'topk', 2 * size * 4, 'topk');
  kernel(ctx, 'topk_u32')(x.storage.ptr, values.ptr, indices.ptr, outer, size, k, largest ? 1 : 0, x.dtype === 'int32' ? 1 : 0, tmp);
  return { values, indices };
}
