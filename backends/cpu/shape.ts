/**
 * Data movement on cpu: permute, slice, pad, concat, flip, gather, scatterAdd and indexSelect.
 * Each walks the output in row-major order and computes the source offset from per-dim strides.
 */
import { stridesOf, sizeOf } from '../../engine/shape.js';
import { alloc, forEachBroadcast, type CT, type CpuStorage } from './util.js';

export function permute(x: CT, perm: readonly number[]): CpuStorage {
  const outShape = perm.map((p) => x.shape[p]!);
  const inStrides = stridesOf(x.shape);
  const strides = perm.map((p) => inStrides[p]!);
  const out = alloc(x.dtype, outShape);
  const xs = x.storage;
  forEachBroadcast(outShape, [strides], (o, offs) => {
    out[o] = xs[offs[0]!]!;
  });
  return out;
}

export function slice(x: CT, begin: readonly number[], size: readonly number[], step: readonly number[]): CpuStorage {
  const inStrides = stridesOf(x.shape);
  const strides = inStrides.map((s, d) => s * step[d]!);
  let base = 0;
  for (let d = 0; d < begin.length; d++) base += begin[d]! * inStrides[d]!;
  const out = alloc(x.dtype, size);
  const xs = x.storage;
  forEachBroadcast(size, [strides], (o, offs) => {
    out[o] = xs[base + offs[0]!]!;
  });
  return out;
}

export function pad(x: CT, before: readonly number[], after: readonly number[], value: number): CpuStorage {
  const outShape = x.shape.map((d, i) => d + before[i]! + after[i]!);
  const out = alloc(x.dtype, outShape);
  out.fill(value);
  const outStrides = stridesOf(outShape);
  let base = 0;
  for (let d = 0; d < x.shape.length; d++) base += before[d]! * outStrides[d]!;
  const xs = x.storage;
  forEachBroadcast(x.shape, [outStrides], (i, offs) => {
    out[base + offs[0]!] = xs[i]!;
  });
  return out;
}

export function concat(xs: readonly CT[], axis: number): CpuStorage {
  const first = xs[0]!;
  const outShape = [...first.shape];
  outShape[axis] = xs.reduce((s, t) => s + t.shape[axis]!, 0);
  const out = alloc(first.dtype, outShape);
  const outer = sizeOf(outShape.slice(0, axis));
  const inner = sizeOf(outShape.slice(axis + 1));
  const rowOut = outShape[axis]! * inner;
  let off = 0;
  for (const t of xs) {
    const row = t.shape[axis]! * inner;
    const src = t.storage;
    for (let o = 0; o < outer; o++) out.set(src.subarray(o * row, (o + 1) * row), o * rowOut + off);
    off += row;
  }
  return out;
}

export function flip(x: CT, axes: readonly number[]): CpuStorage {
  const strides = stridesOf(x.shape);
  let base = 0;
  const s2 = strides.map((s, d) => {
    if (axes.includes(d)) {
      base += (x.shape[d]! - 1) * s;
      return -s;
    }
    return s;
  });
  const out = alloc(x.dtype, x.shape);
  const xs = x.storage;
  forEachBroadcast(x.shape, [s2], (o, offs) => {
    out[o] = xs[base + offs[0]!]!;
  });
  return out;
}

/** Offsets of `index`'s elements into a tensor of `shape`, with the `axis` coordinate replaced by the index value. */
function scatterOffsets(shape: readonly number[], index: CT, axis: number, fn: (i: number, off: number) => void): void {
  const strides = stridesOf(shape);
  const idx = index.storage;
  const ishape = index.shape;
  const istrides = stridesOf(ishape);
  const n = idx.length;
  for (let i = 0; i < n; i++) {
    let rem = i;
    let off = 0;
    for (let d = 0; d < ishape.length; d++) {
      const c = Math.floor(rem / istrides[d]!);
      rem -= c * istrides[d]!;
      off += (d === axis ? idx[i]! : c) * strides[d]!;
    }
    fn(i, off);
  }
}

export function gather(x: CT, index: CT, axis: number): CpuStorage {
  const out = alloc(x.dtype, index.shape);
  const xs = x.storage;
  scatterOffsets(x.shape, index, axis, (i, off) => {
    out[i] = xs[off]!;
  });
  return out;
}

export function scatterAdd(outShape: readonly number[], index: CT, src: CT, axis: number): CpuStorage {
  const out = alloc(src.dtype, outShape);
  const ss = src.storage;
  scatterOffsets(outShape, index, axis, (i, off) => {
    out[off]! += ss[i]!;
  });
  return out;
}

export function indexSelect(x: CT, axis: number, index: CT): CpuStorage {
  const outShape = [...x.shape];
  outShape[axis] = index.storage.length;
  const out = alloc(x.dtype, outShape);
  const outer = sizeOf(x.shape.slice(0, axis));
  const inner = sizeOf(x.shape.slice(axis + 1));
  const n = x.shape[axis]!;
  const k = index.storage.length;
  const xs = x.storage;
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < k; j++) {
      const src = (o * n + index.storage[j]!) * inner;
      out.set(xs.subarray(src, src + inner), (o * k + j) * inner);
    }
  }
  return out;
}
