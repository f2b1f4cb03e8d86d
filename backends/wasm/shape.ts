/**
 * JS side of data movement (assembly/shape.ts). Every op is expressed as one or more strided
 * copies (`copyNd`): the output's dims with an input stride and an output stride each. Adjacent
 * dims are merged when both sides continue contiguously, so that e.g. slicing a batch, padding the
 * border of an image or concatenating along channels copy long runs with memory.copy.
 */
import { stridesOf } from '../../engine/shape.js';
import { checkDtype, kernel, numel, type WasmContext, type WT } from './context.js';
import type { WasmStorage } from './memory.js';

type S = WasmStorage;

/** Copies `shape` elements, reading at px + Σ i·sIn and writing at po + Σ i·sOut (element strides). */
function copyNd(ctx: WasmContext, px: number, po: number, shape: readonly number[], sIn: readonly number[], sOut: readonly number[]): void {
  const dims: number[] = [];
  const a: number[] = [];
  const b: number[] = [];
  for (let d = 0; d < shape.length; d++) {
    const n = shape[d]!;
    if (n === 0) return;
    if (n === 1) continue;
    const k = dims.length - 1;
    if (k >= 0 && a[k] === sIn[d]! * n && b[k] === sOut[d]! * n) {
      dims[k]! *= n;
      a[k] = sIn[d]!;
      b[k] = sOut[d]!;
      continue;
    }
    dims.push(n);
    a.push(sIn[d]!);
    b.push(sOut[d]!);
  }
  const R = dims.length;
  const args = ctx.mem.args([R, ...dims, ...a, ...b], R);
  kernel(ctx, 'copy_nd_u32')(px, po, args);
}

export function permute(ctx: WasmContext, x: WT, perm: readonly number[]): S {
  checkDtype('permute', x.dtype);
  const n = numel(x.shape);
  const out = ctx.mem.alloc('permute', n * 4);
  if (n === 0) return out;
  const st = stridesOf(x.shape);
  const outShape = perm.map((p) => x.shape[p]!);
  copyNd(ctx, x.storage.ptr, out.ptr, outShape, perm.map((p) => st[p]!), stridesOf(outShape));
  return out;
}

export function slice(ctx: WasmContext, x: WT, begin: readonly number[], size: readonly number[], step: readonly number[]): S {
  checkDtype('slice', x.dtype);
  const n = numel(size);
  const out = ctx.mem.alloc('slice', n * 4);
  if (n === 0) return out;
  const st = stridesOf(x.shape);
  let base = 0;
  for (let d = 0; d < begin.length; d++) base += begin[d]! * st[d]!;
  copyNd(ctx, x.storage.ptr + 4 * base, out.ptr, size, st.map((s, d) => s * step[d]!), stridesOf(size));
  return out;
}

const f32 = new Float32Array(1);
const bitsOf = (v: number, dtype: string): number => {
  if (dtype === 'int32') return Math.trunc(v) | 0;
  f32[0] = v;
  return new Int32Array(f32.buffer)[0]!;
};

export function pad(ctx: WasmContext, x: WT, before: readonly number[], after: readonly number[], value: number): S {
  checkDtype('pad', x.dtype);
  const outShape = x.shape.map((d, i) => d + before[i]! + after[i]!);
  const n = numel(outShape);
  const out = ctx.mem.alloc('pad', n * 4);
  if (n === 0) return out;
  kernel(ctx, 'fill_u32')(out.ptr, n, bitsOf(value, x.dtype));
  const os = stridesOf(outShape);
  let base = 0;
  for (let d = 0; d < x.shape.length; d++) base += before[d]! * os[d]!;
  copyNd(ctx, x.storage.ptr, out.ptr + 4 * base, x.shape, stridesOf(x.shape), os);
  return out;
}

export function concat(ctx: WasmContext, xs: readonly WT[], axis: number): S {
  const first = xs[0]!;
  checkDtype('concat', first.dtype);
  const outShape = [...first.shape];
  outShape[axis] = xs.reduce((s, t) => s + t.shape[axis]!, 0);
  const n = numel(outShape);
  const out = ctx.mem.alloc('concat', n * 4);
  if (n === 0) return out;
  const outer = numel(outShape.slice(0, axis));
  const inner = numel(outShape.slice(axis + 1));
  const rowOut = outShape[axis]! * inner;
  let off = 0;
  for (const t of xs) {
    const row = t.shape[axis]! * inner;
    if (row > 0) copyNd(ctx, t.storage.ptr, out.ptr + 4 * off, [outer, row], [row, 1], [rowOut, 1]);
    off += row;
  }
  return out;
}

export function flip(ctx: WasmContext, x: WT, axes: readonly number[]): S {
  checkDtype('flip', x.dtype);
  const n = numel(x.shape);
  const out = ctx.mem.alloc('flip', n * 4);
  if (n === 0) return out;
  const st = stridesOf(x.shape);
  let base = 0;
  const sIn = st.map((s, d) => {
    if (axes.includes(d)) {
      base += (x.shape[d]! - 1) * s;
      return -s;
    }
    return s;
  });
  copyNd(ctx, x.storage.ptr + 4 * base, out.ptr, x.shape, sIn, st);
  return out;
}

export function gather(ctx: WasmContext, x: WT, index: WT, axis: number): S {
  checkDtype('gather', x.dtype);
  const n = numel(index.shape);
  const out = ctx.mem.alloc('gather', n * 4);
  if (n === 0) return out;
  const R = index.shape.length;
  const args = ctx.mem.args([R, ...index.shape, ...stridesOf(x.shape)], R);
  kernel(ctx, 'gather_scatter_u32')(0, x.storage.ptr, index.storage.ptr, out.ptr, axis, args);
  return out;
}

export function scatterAdd(ctx: WasmContext, outShape: readonly number[], index: WT, src: WT, axis: number): S {
  checkDtype('scatterAdd', src.dtype);
  const n = numel(outShape);
  const out = ctx.mem.alloc('scatterAdd', n * 4);
  if (n === 0) return out;
  kernel(ctx, 'fill_u32')(out.ptr, n, 0);
  const m = numel(index.shape);
  if (m === 0) return out;
  const R = index.shape.length;
  const args = ctx.mem.args([R, ...index.shape, ...stridesOf(outShape)], R);
  kernel(ctx, 'gather_scatter_u32')(src.dtype === 'int32' ? 2 : 1, src.storage.ptr, index.storage.ptr, out.ptr, axis, args);
  return out;
}

export function indexSelect(ctx: WasmContext, x: WT, axis: number, index: WT): S {
  checkDtype('indexSelect', x.dtype);
  const k = numel(index.shape);
  const outShape = [...x.shape];
  outShape[axis] = k;
  const n = numel(outShape);
  const out = ctx.mem.alloc('indexSelect', n * 4);
  if (n === 0) return out;
  const outer = numel(x.shape.slice(0, axis));
  const inner = numel(x.shape.slice(axis + 1));
  kernel(ctx, 'index_select_u32')(x.storage.ptr, index.storage.ptr, out.ptr, outer, x.shape[axis]!, k, inner);
  return out;
}
