/** Small helpers shared by the cpu kernels. Storage on cpu is a plain typed array. */
import type { KTensor } from '../backend.js';
import { allocArray, type DType, type TypedArray } from '../../engine/dtype.js';
import { sizeOf } from '../../engine/shape.js';

export type CpuStorage = TypedArray;
export type CT = KTensor<CpuStorage>;

export function alloc(dtype: DType, shape: readonly number[] | number): TypedArray {
  return allocArray(dtype, typeof shape === 'number' ? shape : sizeOf(shape));
}

/** Calls fn(outIndex, aIndex, bIndex, ...) for each output element, with per-input broadcast strides. */
export function forEachBroadcast(outShape: readonly number[], strides: readonly (readonly number[])[], fn: (o: number, offs: Int32Array) => void): void {
  const rank = outShape.length;
  const n = sizeOf(outShape);
  const k = strides.length;
  const offs = new Int32Array(k);
  if (n === 0) return;
  if (rank === 0) {
    fn(0, offs);
    return;
  }
  const idx = new Int32Array(rank);
  const last = rank - 1;
  const lastSize = outShape[last]!;
  const lastStrides = strides.map((s) => s[last]!);
  let o = 0;
  for (;;) {
    const base = offs.slice();
    for (let j = 0; j < lastSize; j++) {
      for (let t = 0; t < k; t++) offs[t] = base[t]! + j * lastStrides[t]!;
      fn(o++, offs);
    }
    for (let t = 0; t < k; t++) offs[t] = base[t]!;
    // advance the outer counters
    let d = last - 1;
    for (; d >= 0; d--) {
      idx[d]!++;
      for (let t = 0; t < k; t++) offs[t]! += strides[t]![d]!;
      if (idx[d]! < outShape[d]!) break;
      for (let t = 0; t < k; t++) offs[t]! -= strides[t]![d]! * outShape[d]!;
      idx[d] = 0;
    }
    if (d < 0) return;
  }
}
