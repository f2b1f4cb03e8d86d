/**
 * softmax / logSoftmax on cpu over the middle axis of [outer, size, inner]. Two passes per row:
 * the max (subtracted first, so logits in the thousands cannot overflow exp), then the sum of
 * exponentials. Backward: dx = y·(dy - Σ dy·y) for softmax, dx = dy - exp(y)·Σ dy for logSoftmax.
 */
import { alloc, type CT, type CpuStorage } from './util.js';

export function softmax(x: CT, outer: number, size: number, inner: number, log: boolean): CpuStorage {
  const xs = x.storage;
  const out = alloc(x.dtype, xs.length);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * size * inner + i;
      let m = -Infinity;
      for (let s = 0; s < size; s++) m = Math.max(m, xs[base + s * inner]!);
      if (m === -Infinity) {
        // A fully masked row (all -inf): PyTorch gives NaN; posegrad gives probability 0 (log: -inf).
        for (let s = 0; s < size; s++) out[base + s * inner] = log ? -Infinity : 0;
        continue;
      }
      let sum = 0;
      for (let s = 0; s < size; s++) sum += Math.exp(xs[base + s * inner]! - m);
      if (log) {
        const lse = m + Math.log(sum);
        for (let s = 0; s < size; s++) out[base + s * inner] = xs[base + s * inner]! - lse;
      } else {
        for (let s = 0; s < size; s++) out[base + s * inner] = Math.exp(xs[base + s * inner]! - m) / sum;
      }
    }
  }
  return out;
}

export function softmaxBackward(y: CT, dy: CT, outer: number, size: number, inner: number, log: boolean): CpuStorage {
  const ys = y.storage;
  const ds = dy.storage;
  const out = alloc(y.dtype, ys.length);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * size * inner + i;
      let dot = 0;
      for (let s = 0; s < size; s++) {
        const p = base + s * inner;
        dot += log ? ds[p]! : ds[p]! * ys[p]!;
      }
      for (let s = 0; s < size; s++) {
        const p = base + s * inner;
        out[p] = log ? ds[p]! - Math.exp(ys[p]!) * dot : ys[p]! * (ds[p]! - dot);
      }
    }
  }
  return out;
}
