/**
 * JS side of the GEMM (assembly/matmul.ts): batched matmul with transposes and batch broadcasting,
 * and `gemmInto`, a GEMM on raw pointers (conv2d's skinny 1x1 case; conv2d's other forward GEMMs
 * call gemm_conv_f32 directly, which carries the bias/clamp epilogue in its write-back). Packed
 * panels live in the 'packA'/'packB' scratch (scratch.ts, one pair per thread), sized once from
 * the module's block sizes.
 */
import type { MatmulParams } from '../backend.js';
import { checkDtype, kernel, type WasmContext, type WT } from './context.js';
import type { WasmStorage } from './memory.js';
import { scratch } from './scratch.js';


/** Default block sizes (elements): KC x NC panel of B in L2, MC x KC panel of A in L1/L2. */
export const GEMM_BLOCKS = { kc: 256, mc: 96, nc: 1024 };

/** Packed-panel scratch sizes per backend, known once the block sizes are set. */
const configured = new WeakMap<WasmContext, { packA: number; packB: number }>();

/** Sets the GEMM block sizes (for tuning; the defaults are GEMM_BLOCKS). */
export function configureGemm(ctx: WasmContext, kc: number, mc: number, nc: number): void {
  kernel(ctx, 'gemm_config')(kc, mc, nc);
  configured.set(ctx, { packA: kernel(ctx, 'gemm_pack_a_bytes')(), packB: kernel(ctx, 'gemm_pack_b_bytes')() });
}

/** The packed-panel scratch sizes (bytes), configuring the block sizes (GEMM_BLOCKS) on first use. */
export function packSizes(ctx: WasmContext): { packA: number; packB: number } {
  if (!configured.has(ctx)) configureGemm(ctx, GEMM_BLOCKS.kc, GEMM_BLOCKS.mc, GEMM_BLOCKS.nc);
  return configured.get(ctx)!;
}

/** Below this many multiply-adds a GEMM stays on one thread (waking a worker costs ~10-50 µs). */
export const THREAD_MIN_MACS = 2 ** 20;

/**
 * C (+)= op(A)·op(B) on raw pointers (float32), with element strides:
 * A(i, k) = A[i·rsA + k·csA], B(k, j) = B[k·rsB + j·csB], C(i, j) = C[i·ldc + j].
 * convArgs ≠ 0: B is the implicit im2col matrix of the input planes at pb, with the conv geometry
 * at convArgs (see assembly/conv.ts); rsB/csB are then unused.
 * With a thread pool, large products are split by columns of C across the threads.
 */
export function gemmInto(ctx: WasmContext, M: number, N: number, K: number, pa: number, rsA: number, csA: number, pb: number, rsB: number, csB: number, pc: number, ldc: number, accumulate: boolean, convArgs = 0): void {
  const sizes = packSizes(ctx);
  const T = ctx.pool ? ctx.pool.size : 1;
  const scratchOf = (t: number): [number, number, number] => [
    scratch(ctx.mem, 'packA', sizes.packA, 'matmul', t),
    scratch(ctx.mem, 'packB', sizes.packB, 'matmul', t),
    scratch(ctx.mem, 'tile', 256, 'matmul', t),
  ];
  if (!convArgs && (M < 4 || N < 4) && M > 0 && N > 0) {
    // skinny: no packing (matrix-vector products, a linear layer on one sample)
    const tmp = scratch(ctx.mem, 'skinny', 2 * K * 4 + 64, 'matmul');
    kernel(ctx, 'gemm_skinny_f32')(M, N, K, pa, rsA, csA, pb, rsB, csB, pc, ldc, accumulate ? 1 : 0, tmp, tmp + 4 * K + 32);
    return;
  }
  const gemm = kernel(ctx, 'gemm_f32');
  if (convArgs) kernel(ctx, 'conv_geometry')(convArgs);
  const lead = (t: number): number[] => [M, N, K, pa, rsA, csA, pb, rsB, csB, pc, ldc, accumulate ? 1 : 0, ...scratchOf(t), convArgs ? 1 : 0];
  if (T === 1 || M * N * K < THREAD_MIN_MACS || N < 16 * T) {
    gemm(...lead(0), 0, N);
    return;
  }
  // column ranges aligned to the 8-column micro-tile
  const bounds = Array.from({ length: T + 1 }, (_, t) => (t === T ? N : Math.round((t * N) / T / 8) * 8));
  const args = Array.from({ length: T }, (_, t) => lead(t));
  ctx.pool!.gemm(() => gemm(...args[0]!, bounds[0]!, bounds[1]!), (t) => args[t]!, bounds, convArgs);
}

export function matmul(ctx: WasmContext, a: WT, b: WT, p: MatmulParams): WasmStorage {
  checkDtype('matmul', a.dtype);
  const [ba, a1, a2] = a.shape as [number, number, number];
  const [bb, b1, b2] = b.shape as [number, number, number];
  const M = p.transA ? a2 : a1;
  const K = p.transA ? a1 : a2;
  const N = p.transB ? b1 : b2;
  const B = Math.max(ba, bb);
  const out = ctx.mem.alloc('matmul', B * M * N * 4);
  if (B * M * N === 0) return out;
  const [rsA, csA] = p.transA ? [1, M] : [K, 1];
  const [rsB, csB] = p.transB ? [1, K] : [N, 1];
  if (B > 1 && (!ctx.pool || M * N * K < THREAD_MIN_MACS)) {
    // the whole batch in one call
    const sizes = packSizes(ctx);
    kernel(ctx, 'gemm_batch_f32')(
      B, ba === 1 ? 0 : M * K, bb === 1 ? 0 : K * N, M * N, M, N, K,
      a.storage.ptr, rsA, csA, b.storage.ptr, rsB, csB, out.ptr, N, 0,
      scratch(ctx.mem, 'packA', sizes.packA, 'matmul'), scratch(ctx.mem, 'packB', sizes.packB, 'matmul'),
      scratch(ctx.mem, 'tile', 256, 'matmul'), scratch(ctx.mem, 'skinny', 2 * K * 4 + 64, 'matmul'),
    );
    return out;
  }
  for (let i = 0; i < B; i++) {
    const pa = a.storage.ptr + 4 * (ba === 1 ? 0 : i * M * K);
    const pb = b.storage.ptr + 4 * (bb === 1 ? 0 : i * K * N);
    gemmInto(ctx, M, N, K, pa, rsA, csA, pb, rsB, csB, out.ptr + 4 * i * M * N, N, false);
  }
  return out;
}
