/**
 * JS side of softmax / logSoftmax and their backward passes (assembly/softmax.ts): max, then
 * exp and sum (each exp once), then scale; SIMD along contiguous rows (inner == 1) or across four
 * neighbouring rows.
 *
 * Threads: the kernels run over a range of independent units (rows when inner == 1, else
 * (row, 16-column group) pairs), so with worker threads the units are split into contiguous
 * ranges, one per thread, each writing its own rows (bit-identical to one thread). Below
 * THREAD_MIN_ELEMENTS per thread the kernel stays on the calling thread: a small softmax is done
 * before a worker would have woken up.
 */
import { checkDtype, kernel, type WasmContext, type WT } from './context.js';
import type { WasmStorage } from './memory.js';
import { splitRange, threadsFor } from './threads.js';

/**
 * Elements per thread below which softmax stays on fewer threads: about 110 µs of forward work
 * (0.85 ns per element on the 2-core VM), twice the cost of a dispatch there (about 55 µs, see
 * norm.ts), so that a split is never slower than one thread.
 */
export const THREAD_MIN_ELEMENTS = 2 ** 17;

/** Independent units of [outer, size, inner] (see assembly/softmax.ts THREADS). */
function units(outer: number, inner: number): number {
  return inner === 1 ? outer : outer * Math.ceil(inner / 16);
}

/** Runs `name` (head arguments, then the unit range) over the units, split between threads. */
function run(ctx: WasmContext, name: string, head: number[], n: number, outer: number, inner: number): void {
  const U = units(outer, inner);
  const T = threadsFor(ctx.pool, n, THREAD_MIN_ELEMENTS, U);
  if (T === 1) {
    kernel(ctx, name)(...head, 0, U);
    return;
  }
  const b = splitRange(U, T);
  ctx.pool!.run(ctx.exports, name, (t) => (t < T ? [...head, b[t]!, b[t + 1]!] : null));
}

export function softmax(ctx: WasmContext, x: WT, outer: number, size: number, inner: number, log: boolean): WasmStorage {
  checkDtype('softmax', x.dtype);
  const n = outer * size * inner;
  const out = ctx.mem.alloc(log ? 'logSoftmax' : 'softmax', n * 4);
  if (n === 0) return out;
  run(ctx, 'softmax_f32', [x.storage.ptr, out.ptr, outer, size, inner, log ? 1 : 0], n, outer, inner);
  return out;
}

export function softmaxBackward(ctx: WasmContext, y: WT, dy: WT, outer: number, size: number, inner: number, log: boolean): WasmStorage {
  checkDtype('softmaxBackward', y.dtype);
  const n = outer * size * inner;
  const out = ctx.mem.alloc('softmaxBackward', n * 4);
  if (n === 0) return out;
  run(ctx, 'softmax_backward_f32', [y.storage.ptr, dy.storage.ptr, out.ptr, outer, size, inner, log ? 1 : 0], n, outer, inner);
  return out;
}
