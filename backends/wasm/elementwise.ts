/**
 * JS side of the elementwise kernels (assembly/elementwise.ts and the generated
 * assembly/generated/elementwise.ts): fill, cast, unary/unaryGrad from the spec table, broadcasting
 * binary ops and where. Broadcasting is planned here: size-1 output dims are dropped, and adjacent
 * dims merged when every operand walks them contiguously (or not at all), so that `[N, C, H, W] +
 * [C, 1, 1]` becomes rows of H·W elements with a broadcast scalar per row.
 */
import type { DType } from '../../engine/dtype.js';
import { broadcastStrides } from '../../engine/shape.js';
import type { BinaryOp, UnaryOp } from '../spec.js';

import { checkDtype, kernel, numel, sfx, type WasmContext, type WT } from './context.js';
import type { WasmStorage } from './memory.js';

const f32bits = new Float32Array(1);
const i32bits = new Int32Array(f32bits.buffer);

export function fill(ctx: WasmContext, shape: readonly number[], dtype: DType, value: number): WasmStorage {
  checkDtype('fill', dtype);
  const n = numel(shape);
  const out = ctx.mem.alloc('fill', n * 4);
  if (n === 0) return out;
  let bits: number;
  if (dtype === 'int32') bits = Math.trunc(value) | 0;
  else {
    f32bits[0] = value;
    bits = i32bits[0]!;
  }
  kernel(ctx, 'fill_u32')(out.ptr, n, bits);
  return out;
}

export function cast(ctx: WasmContext, x: WT, dtype: DType): WasmStorage {
  checkDtype('cast', dtype);
  checkDtype('cast', x.dtype);
  const n = numel(x.shape);
  const out = ctx.mem.alloc('cast', n * 4);
  if (n === 0) return out;
  if (x.dtype === dtype) kernel(ctx, 'copy_u32')(x.storage.ptr, out.ptr, n);
  else kernel(ctx, dtype === 'int32' ? 'cast_f32_i32' : 'cast_i32_f32')(x.storage.ptr, out.ptr, n);
  return out;
}

export function unary(ctx: WasmContext, op: UnaryOp, x: WT, params: readonly number[]): WasmStorage {
  checkDtype(op, x.dtype);
  const n = numel(x.shape);
  const out = ctx.mem.alloc(op, n * 4);
  if (n === 0) return out;
  kernel(ctx, `unary_${op}_${sfx(x.dtype)}`)(x.storage.ptr, out.ptr, n, params[0] ?? 0, params[1] ?? 0);
  return out;
}

export function unaryGrad(ctx: WasmContext, op: UnaryOp, x: WT, y: WT, dy: WT, params: readonly number[]): WasmStorage {
  checkDtype(op, x.dtype);
  const n = numel(x.shape);
  const out = ctx.mem.alloc(op, n * 4);
  if (n === 0) return out;
  kernel(ctx, `unary_grad_${op}_f32`)(x.storage.ptr, y.storage.ptr, dy.storage.ptr, out.ptr, n, params[0] ?? 0, params[1] ?? 0);
  return out;
}

/**
 * Collapses a broadcast of operands with `shapes` to `outShape` into [dims..., inner]: returns the
 * outer dims with per-operand strides, and the inner run with per-operand strides (0 or 1).
 */
export function planBroadcast(shapes: readonly (readonly number[])[], outShape: readonly number[]): { dims: number[]; strides: number[][]; inner: number; innerStrides: number[] } {
  const all = shapes.map((s) => broadcastStrides(s, outShape));
  const dims: number[] = [];
  const strides: number[][] = shapes.map(() => []);
  for (let d = 0; d < outShape.length; d++) {
    const size = outShape[d]!;
    if (size === 1) continue;
    const k = dims.length - 1;
    // merge into the previous dim when every operand continues contiguously (or stays put)
    if (k >= 0 && all.every((st, t) => strides[t]![k] === st[d]! * size)) {
      dims[k]! *= size;
      all.forEach((st, t) => (strides[t]![k] = st[d]!));
      continue;
    }
    dims.push(size);
    all.forEach((st, t) => strides[t]!.push(st[d]!));
  }
  if (dims.length === 0) return { dims: [], strides: shapes.map(() => []), inner: 1, innerStrides: shapes.map(() => 1) };
  const inner = dims.pop()!;
  const innerStrides = strides.map((s) => s.pop()!);
  return { dims, strides, inner, innerStrides };
}

export function binary(ctx: WasmContext, op: BinaryOp, a: WT, b: WT, outShape: readonly number[], outDtype: DType): WasmStorage {
  checkDtype(op, a.dtype);
  checkDtype(op, outDtype);
  const n = numel(outShape);
  const out = ctx.mem.alloc(op, n * 4);
  if (n === 0) return out;
  const p = planBroadcast([a.shape, b.shape], outShape);
  const R = p.dims.length;
  const args = ctx.mem.args([R, ...p.dims, ...p.strides[0]!, ...p.strides[1]!], R);
  kernel(ctx, `binary_${op}_${sfx(a.dtype)}`)(a.storage.ptr, b.storage.ptr, out.ptr, p.inner, p.innerStrides[0]!, p.innerStrides[1]!, args);
  return out;
}

export function where(ctx: WasmContext, cond: WT, a: WT, b: WT, outShape: readonly number[]): WasmStorage {
  checkDtype('where', a.dtype);
  const n = numel(outShape);
  const out = ctx.mem.alloc('where', n * 4);
  if (n === 0) return out;
  const p = planBroadcast([cond.shape, a.shape, b.shape], outShape);
  const dims = [...p.dims, p.inner];
  const st = p.strides.map((s, t) => [...s, p.innerStrides[t]!]);
  const R = dims.length;
  const args = ctx.mem.args([R, ...dims, ...st[0]!, ...st[1]!, ...st[2]!], R);
  kernel(ctx, 'where_u32')(cond.storage.ptr, a.storage.ptr, b.storage.ptr, out.ptr, cond.dtype === 'int32' ? 0 : 1, args);
  return out;
}
