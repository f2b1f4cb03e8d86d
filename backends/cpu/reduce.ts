/**
 * Reductions, scans and top-k on cpu. Inputs are viewed as [outer, size, inner] and reduced (or
 * scanned) along the middle axis; for each (outer, inner) pair the loop walks `size` elements
 * with stride `inner`.
 */
import { REDUCE, type ReduceOp } from '../spec.js';
import { alloc, type CT, type CpuStorage } from './util.js';

export function reduce(op: ReduceOp, x: CT, outer: number, size: number, inner: number): CpuStorage {
  const spec = REDUCE[op];
  const out = alloc(x.dtype, outer * inner);
  const xs = x.storage;
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      let acc = spec.init;
      let p = o * size * inner + i;
      for (let s = 0; s < size; s++, p += inner) acc = spec.cpu(acc, xs[p]!);
      out[o * inner + i] = acc;
    }
  }
  return out;
}

export function argReduce(op: 'argmax' | 'argmin', x: CT, outer: number, size: number, inner: number): CpuStorage {
  const out = new Int32Array(outer * inner);
  const xs = x.storage;
  const better = op === 'argmax' ? (v: number, best: number) => v > best : (v: number, best: number) => v < best;
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * size * inner + i;
      let best = xs[base]!;
      let bi = 0;
      for (let s = 1; s < size; s++) {
        const v = xs[base + s * inner]!;
        // NaN wins, as in PyTorch
        if (Number.isNaN(v) && !Number.isNaN(best)) { best = v; bi = s; } else if (better(v, best)) { best = v; bi = s; }
      }
      out[o * inner + i] = bi;
    }
  }
  return out;
}

export function cumsum(x: CT, outer: number, size: number, inner: number): CpuStorage {
  const out = alloc(x.dtype, x.storage.length);
  const xs = x.storage;
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      let acc = 0;
      let p = o * size * inner + i;
      for (let s = 0; s < size; s++, p += inner) {
        acc += xs[p]!;
        out[p] = acc;
      }
    }
  }
  return out;
}

export function topk(x: CT, outer: number, size: number, k: number, largest: boolean): { values: CpuStorage; indices: CpuStorage } {
  const values = alloc(x.dtype, outer * k);
  const indices = new Int32Array(outer * k);
  const xs = x.storage;
  const order = new Array<number>(size);
  for (let o = 0; o < outer; o++) {
    const base = o * size;
    for (let s = 0; s < size; s++) order[s] = s;
    // NaN orders above +Infinity, as in PyTorch (first for largest, last for smallest); ties
    // (NaN with NaN too) keep the lower index first
    order.sort((i, j) => {
      const a = xs[base + i]!;
      const b = xs[base + j]!;
      const an = a !== a;
      const bn = b !== b;
      if (a === b || (an && bn)) return i - j;
      const aAbove = an || (!bn && a > b);
      return largest ? (aAbove ? -1 : 1) : aAbove ? 1 : -1;
    });
    for (let j = 0; j < k; j++) {
      values[o * k + j] = xs[base + order[j]!]!;
      indices[o * k + j] = order[j]!;
    }
  }
  return { values, indices };
}
