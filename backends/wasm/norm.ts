/**
 * JS side of layerNorm and batchNorm on wasm (kernels: assembly/norm.ts). SIMD two-pass statistics
 * with float64 block sums, SIMD affine maps; the contract is backends/backend.ts and the reference
 * backends/cpu/normalization.ts. (groupNorm runs layerNorm's kernels on the [N·G, C/G·S] view.)
 * Wrappers allocate the outputs and call one kernel; layerNormBackward with gamma also gives each
 * thread a float64 accumulator of 2·cols in the 'normAcc' scratch (per thread) and adds them up
 * with layer_norm_param_grads_f32.
 *
 * Threads: layerNorm splits its rows and batchNorm its channels into contiguous ranges, one per
 * thread (threads.ts splitRange), when each thread gets at least THREAD_MIN_ELEMENTS elements;
 * results are bit-identical to one thread, but for layerNorm's dGamma/dBeta (the same or the next
 * float32: the threads' float64 partial sums are added at the end, see assembly/norm.ts).
 * The threshold is high because these kernels are fast (memory-bound, 2.2 elements/ns forward,
 * 1.2 backward on one thread) while a split costs a fixed delay: on the 2-core VM of
 * docs/benchmarks.md (2026-12-05, quiet) layerNorm 192x1024 took 90 µs on one thread and 100 µs
 * split in two (fwd+bwd 250 → 230 µs), i.e. d ≈ 50-55 µs per dispatch (probably waking the
 * worker, then waking the caller that slept waiting for it, plus bringing the worker's half into
 * its cache), not the 12-20 µs of an empty round trip. Two threads take W/2 + d: not slower than
 * one thread (W) from W = 2d, and 1.8x from W = 18d ≈ 1 ms. 2^18 elements per
 * thread (120 µs of forward work, twice that backward) keeps every call below W ≈ 240 µs (forward)
 * on one thread, so a split is at least 1.3x (forward; 1.6x backward) where it happens.
 */
import { checkDtype, kernel, type WasmContext, type WT } from './context.js';
import type { WasmStorage } from './memory.js';
import { scratch } from './scratch.js';
import { f64Words, splitRange, threadsFor } from './threads.js';

type S = WasmStorage;

/**
 * Elements per thread below which a norm kernel uses fewer threads: about 120 µs of layerNorm
 * forward work, twice the cost of a dispatch (see the file comment).
 */
export const THREAD_MIN_ELEMENTS = 2 ** 18;

const ptr = (t: WT | null): number => (t ? t.storage.ptr : 0);

/** Threads for `units` independent units (rows or channels) of `n` elements in all. */
const threadsOf = (ctx: WasmContext, n: number, units: number): number => threadsFor(ctx.pool, n, THREAD_MIN_ELEMENTS, units);

/**
 * Runs kernel `name` over `units` units split between T threads: args(u0, u1, t) gives thread t's
 * arguments for its range.
 */
function split(ctx: WasmContext, name: string, T: number, units: number, args: (u0: number, u1: number, t: number) => number[]): void {
  if (T === 1) {
    kernel(ctx, name)(...args(0, units, 0));
    return;
  }
  const b = splitRange(units, T);
  ctx.pool!.run(ctx.exports, name, (t) => (t < T ? args(b[t]!, b[t + 1]!, t) : null));
}

export function layerNorm(ctx: WasmContext, x: WT, gamma: WT | null, beta: WT | null, rows: number, cols: number, eps: number): { y: S; mean: S; rstd: S } {
  checkDtype('layerNorm', x.dtype);
  const y = ctx.mem.alloc('layerNorm', rows * cols * 4);
  const mean = ctx.mem.alloc('layerNorm', rows * 4);
  const rstd = ctx.mem.alloc('layerNorm', rows * 4);
  if (rows * cols > 0) {
    const head = [x.storage.ptr, ptr(gamma), ptr(beta), y.ptr, mean.ptr, rstd.ptr, cols, ...f64Words(eps)];
    split(ctx, 'layer_norm_f32', threadsOf(ctx, rows * cols, rows), rows, (r0, r1) => [...head, r0, r1]);
  }
  return { y, mean, rstd };
}

export function layerNormBackward(ctx: WasmContext, dy: WT, x: WT, mean: WT, rstd: WT, gamma: WT | null, rows: number, cols: number): { dx: S; dGamma: S | null; dBeta: S | null } {
  checkDtype('layerNormBackward', x.dtype);
  const dx = ctx.mem.alloc('layerNormBackward', rows * cols * 4);
  const dGamma = gamma ? ctx.mem.alloc('layerNormBackward', cols * 4) : null;
  const dBeta = gamma ? ctx.mem.alloc('layerNormBackward', cols * 4) : null;
  if (cols === 0) return { dx, dGamma, dBeta };
  const T = threadsOf(ctx, rows * cols, rows);
  // thread t's float64 column sums (none without gamma)
  const accs = gamma ? Array.from({ length: T }, (_, t) => scratch(ctx.mem, 'normAcc', cols * 16, 'layerNormBackward', t)) : [];
  const head = [dy.storage.ptr, x.storage.ptr, mean.storage.ptr, rstd.storage.ptr, ptr(gamma), dx.ptr];
  split(ctx, 'layer_norm_backward_f32', T, rows, (r0, r1, t) => [...head, accs[t] ?? 0, cols, r0, r1]);
  if (gamma) kernel(ctx, 'layer_norm_param_grads_f32')(dGamma!.ptr, dBeta!.ptr, ctx.mem.args(accs), T, cols);
  return { dx, dGamma, dBeta };
}

export function batchNormStats(ctx: WasmContext, x: WT, n: number, c: number, s: number): { mean: S; variance: S } {
  checkDtype('batchNormStats', x.dtype);
  const mean = ctx.mem.alloc('batchNormStats', c * 4);
  const variance = ctx.mem.alloc('batchNormStats', c * 4);
  if (c > 0) split(ctx, 'batch_norm_stats_f32', threadsOf(ctx, n * c * s, c), c, (c0, c1) => [x.storage.ptr, mean.ptr, variance.ptr, n, c, s, c0, c1]);
  return { mean, variance };
}

export function batchNormForward(ctx: WasmContext, x: WT, mean: WT, variance: WT, gamma: WT | null, beta: WT | null, n: number, c: number, s: number, eps: number): S {
  checkDtype('batchNormForward', x.dtype);
  const y = ctx.mem.alloc('batchNormForward', n * c * s * 4);
  if (n * c * s > 0) {
    const head = [x.storage.ptr, mean.storage.ptr, variance.storage.ptr, ptr(gamma), ptr(beta), y.ptr, n, c, s, ...f64Words(eps)];
    split(ctx, 'batch_norm_forward_f32', threadsOf(ctx, n * c * s, c), c, (c0, c1) => [...head, c0, c1]);
  }
  return y;
}

export function batchNormBackward(ctx: WasmContext, dy: WT, x: WT, mean: WT, variance: WT, gamma: WT | null, n: number, c: number, s: number, eps: number, training: boolean): { dx: S; dGamma: S | null; dBeta: S | null } {
  checkDtype('batchNormBackward', x.dtype);
  const dx = ctx.mem.alloc('batchNormBackward', n * c * s * 4);
  const dGamma = gamma ? ctx.mem.alloc('batchNormBackward', c * 4) : null;
  const dBeta = gamma ? ctx.mem.alloc('batchNormBackward', c * 4) : null;
  if (c > 0) {
    const head = [dy.storage.ptr, x.storage.ptr, mean.storage.ptr, variance.storage.ptr, ptr(gamma), dx.ptr, dGamma ? dGamma.ptr : 0, dBeta ? dBeta.ptr : 0, n, c, s, ...f64Words(eps), training ? 1 : 0];
    split(ctx, 'batch_norm_backward_f32', threadsOf(ctx, n * c * s, c), c, (c0, c1) => [...head, c0, c1]);
  }
  return { dx, dGamma, dBeta };
}
