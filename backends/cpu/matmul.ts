/**
 * Matrix multiply on cpu. `gemm` is the one inner routine (also used by conv2d and deformConv2d
 * through im2col): C[M, N] (+)= op(A)·op(B) with op = identity or transpose. Loop orders keep the
 * innermost loop on contiguous memory: i-k-j for A·B, i-j-k dot products for A·Bᵀ, k-i-j for Aᵀ·B.
 */
import type { MatmulParams } from '../backend.js';
import type { TypedArray } from '../../engine/dtype.js';
import { alloc, type CT, type CpuStorage } from './util.js';

/**
 * C[cOff + i·N + j] (+)= Σ_k A(i, k)·B(k, j), where A(i, k) = A[aOff + i·K + k] (or A[aOff + k·M + i]
 * when transA) and B(k, j) = B[bOff + k·N + j] (or B[bOff + j·K + k] when transB).
 */
export function gemm(
  M: number, N: number, K: number,
  A: TypedArray, aOff: number, transA: boolean,
  B: TypedArray, bOff: number, transB: boolean,
  C: TypedArray, cOff: number, accumulate: boolean,
): void {
  if (!accumulate) C.fill(0, cOff, cOff + M * N);
  if (!transA && !transB) {
    for (let i = 0; i < M; i++) {
      const cRow = cOff + i * N;
      const aRow = aOff + i * K;
      for (let k = 0; k < K; k++) {
        const av = A[aRow + k]!;
        const bRow = bOff + k * N;
        for (let j = 0; j < N; j++) C[cRow + j]! += av * B[bRow + j]!;
      }
    }
  } else if (!transA && transB) {
    for (let i = 0; i < M; i++) {
      const aRow = aOff + i * K;
      for (let j = 0; j < N; j++) {
        const bRow = bOff + j * K;
        let s = 0;
        for (let k = 0; k < K; k++) s += A[aRow + k]! * B[bRow + k]!;
        C[cOff + i * N + j]! += s;
      }
    }
  } else if (transA && !transB) {
    for (let k = 0; k < K; k++) {
      const aRow = aOff + k * M;
      const bRow = bOff + k * N;
      for (let i = 0; i < M; i++) {
        const av = A[aRow + i]!;
        const cRow = cOff + i * N;
        for (let j = 0; j < N; j++) C[cRow + j]! += av * B[bRow + j]!;
      }
    }
  } else {
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += A[aOff + k * M + i]! * B[bOff + j * K + k]!;
        C[cOff + i * N + j]! += s;
      }
    }
  }
}

export function matmul(a: CT, b: CT, p: MatmulParams): CpuStorage {
  const [ba, a1, a2] = a.shape as [number, number, number];
  const [bb, b1, b2] = b.shape as [number, number, number];
  const M = p.transA ? a2 : a1;
  const K = p.transA ? a1 : a2;
  const N = p.transB ? b1 : b2;
  const B = Math.max(ba, bb);
  // Accumulate in float64 for every float dtype, then round once into the output.
  const acc = new Float64Array(B * M * N);
  for (let bi = 0; bi < B; bi++) {
    gemm(M, N, K, a.storage, ba === 1 ? 0 : bi * M * K, p.transA, b.storage, bb === 1 ? 0 : bi * K * N, p.transB, acc, bi * M * N, true);
  }
  const out = alloc(a.dtype, B * M * N);
  out.set(acc);
  return out;
}
