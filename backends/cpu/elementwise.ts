/**
 * Elementwise kernels on cpu: each op is evaluated from the spec table (backends/spec.ts) in
 * float64 JS and stored into the output dtype. Broadcasting walks the output in row-major order
 * with one stride vector per input (stride 0 on broadcast dims).
 */
import { BINARY, UNARY, type BinaryOp, type BinarySpec, type UnaryOp } from '../spec.js';
import { cPow, unaryNaN } from './nan.js';
import { broadcastStrides, sizeOf } from '../../engine/shape.js';
import type { DType } from '../../engine/dtype.js';
import { alloc, forEachBroadcast, type CT, type CpuStorage } from './util.js';

export function fill(shape: readonly number[], dtype: DType, value: number): CpuStorage {
  const out = alloc(dtype, shape);
  out.fill(dtype === 'int32' ? Math.trunc(value) : value);
  return out;
}

export function cast(x: CT, dtype: DType): CpuStorage {
  const out = alloc(dtype, x.storage.length);
  const src = x.storage;
  if (dtype === 'int32') for (let i = 0; i < src.length; i++) out[i] = Math.trunc(src[i]!);
  else out.set(src);
  return out;
}

export function unary(op: UnaryOp, x: CT, params: readonly number[]): CpuStorage {
  const f = UNARY[op].cpu as (x: number, p0: number, p1: number) => number;
  const p0 = params[0] ?? 0;
  const p1 = params[1] ?? 0;
  const src = x.storage;
  const out = alloc(x.dtype, src.length);
  // NaN in: torch's result (nan.ts), whatever the finite-number expression would give
  const rule = unaryNaN(op, params);
  const nanOut = rule === 'zero' ? 0 : rule === 'one' ? 1 : NaN;
  for (let i = 0; i < src.length; i++) {
    const v = src[i]!;
    out[i] = v !== v ? nanOut : f(v, p0, p1);
  }
  return out;
}

export function unaryGrad(op: UnaryOp, x: CT, y: CT, dy: CT, params: readonly number[]): CpuStorage {
  const g = UNARY[op].grad as (x: number, y: number, dy: number, p0: number, p1: number) => number;
  const p0 = params[0] ?? 0;
  const p1 = params[1] ?? 0;
  const xs = x.storage;
  const ys = y.storage;
  const ds = dy.storage;
  const out = alloc(x.dtype, xs.length);
  for (let i = 0; i < xs.length; i++) out[i] = g(xs[i]!, ys[i]!, ds[i]!, p0, p1);
  return out;
}

export function binary(op: BinaryOp, a: CT, b: CT, outShape: readonly number[], outDtype: DType): CpuStorage {
  const f = op === 'pow' ? cPow : BINARY[op].cpu;
  const out = alloc(outDtype, outShape);
  const as = a.storage;
  const bs = b.storage;
  const n = out.length;
  if (as.length === n && bs.length === n) {
    for (let i = 0; i < n; i++) out[i] = f(as[i]!, bs[i]!);
  } else if (bs.length === 1 && as.length === n) {
    const bv = bs[0]!;
    for (let i = 0; i < n; i++) out[i] = f(as[i]!, bv);
  } else if (as.length === 1 && bs.length === n) {
    const av = as[0]!;
    for (let i = 0; i < n; i++) out[i] = f(av, bs[i]!);
  } else {
    const sa = broadcastStrides(a.shape, outShape);
    const sb = broadcastStrides(b.shape, outShape);
    forEachBroadcast(outShape, [sa, sb], (o, offs) => {
      out[o] = f(as[offs[0]!]!, bs[offs[1]!]!);
    });
  }
  if (outDtype === 'int32' && !(BINARY[op] as BinarySpec).compare) for (let i = 0; i < n; i++) out[i] = Math.trunc(out[i]!);
  return out;
}

export function where(cond: CT, a: CT, b: CT, outShape: readonly number[]): CpuStorage {
  const out = alloc(a.dtype, outShape);
  const cs = cond.storage;
  const as = a.storage;
  const bs = b.storage;
  if (sizeOf(outShape) === 0) return out;
  const strides = [broadcastStrides(cond.shape, outShape), broadcastStrides(a.shape, outShape), broadcastStrides(b.shape, outShape)];
  forEachBroadcast(outShape, strides, (o, offs) => {
    out[o] = cs[offs[0]!] !== 0 ? as[offs[1]!]! : bs[offs[2]!]!;
  });
  return out;
}
