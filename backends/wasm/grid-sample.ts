/**
 * JS side of gridSample (torch.nn.functional.grid_sample, 4-D) on wasm; the kernels are in
 * assembly/grid-sample.ts (plan per point in float64, gather per channel from zero-bordered planes,
 * backward scatter into a zero-bordered dx and per-point grid gradients). Contract:
 * backends/backend.ts (GridSampleParams); reference: backends/cpu/resample.ts.
 * The kernels take one scratch region per thread ('gridWork'): the padded planes of one sample
 * (forward: x; backward: x and dx), the per-chunk plan, and in a split backward two more padded dx
 * copies for the samples shared with a neighbouring thread.
 *
 * Threads: the units (sample, chunk of 256 points) are split into contiguous ranges, one per
 * thread, on whole samples when N ≥ T (no sample is padded twice and no dx is shared), else inside
 * samples (the backward then adds the threads' partial dx of each shared sample in thread order;
 * see assembly/grid-sample.ts THREADS). Below THREAD_MIN_SAMPLES sampled values per thread the
 * kernels stay on fewer threads.
 */
import type { GridSampleParams } from '../backend.js';
import { checkDtype, kernel, type WasmContext, type WT } from './context.js';
import type { WasmStorage } from './memory.js';
import { scratch } from './scratch.js';
import { splitRange, threadsFor } from './threads.js';

/** Sampled values (channels × points) per thread below which gridSample uses fewer threads. */
export const THREAD_MIN_SAMPLES = 2 ** 14;

/** Points per unit (CHUNK of assembly/grid-sample.ts). */
const CHUNK = 256;

const PAD_MODES = { zeros: 0, border: 1, reflection: 2 } as const;

interface Split {
  T: number;
  /** Unit bounds per thread, and units per sample. */
  b: number[];
  nck: number;
}

/** The threads and their unit ranges for N samples of P points and C channels. */
function split(ctx: WasmContext, N: number, C: number, P: number): Split {
  const nck = Math.ceil(P / CHUNK);
  const units = N * nck;
  const T = threadsFor(ctx.pool, N * C * P, THREAD_MIN_SAMPLES, units);
  // whole samples per thread when there are enough of them
  return { T, b: splitRange(units, T, N >= T ? nck : 1), nck };
}

export function gridSample(ctx: WasmContext, x: WT, grid: WT, p: GridSampleParams): WasmStorage {
  checkDtype('gridSample', x.dtype);
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const [, Ho, Wo] = grid.shape as [number, number, number];
  const P = Ho * Wo;
  const out = ctx.mem.alloc('gridSample', N * C * P * 4);
  if (N * C * P === 0) return out;
  const { T, b } = split(ctx, N, C, P);
  const bytes = C * (H + 3) * (W + 2) * 4 + kernel(ctx, 'grid_sample_plan_bytes')();
  const works = Array.from({ length: T }, (_, t) => scratch(ctx.mem, 'gridWork', bytes, 'gridSample', t));
  const head = [x.storage.ptr, grid.storage.ptr, out.ptr, C, H, W, P, p.mode === 'nearest' ? 1 : 0, PAD_MODES[p.paddingMode], p.alignCorners ? 1 : 0];
  if (T === 1) kernel(ctx, 'grid_sample_f32')(...head, works[0]!, b[0]!, b[1]!);
  else ctx.pool!.run(ctx.exports, 'grid_sample_f32', (t) => (t < T ? [...head, works[t]!, b[t]!, b[t + 1]!] : null));
  return out;
}

export function gridSampleBackward(ctx: WasmContext, dy: WT, x: WT, grid: WT, p: GridSampleParams): { dx: WasmStorage; dGrid: WasmStorage } {
  checkDtype('gridSampleBackward', x.dtype);
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const [, Ho, Wo] = grid.shape as [number, number, number];
  const P = Ho * Wo;
  const dx = ctx.mem.alloc('gridSampleBackward', N * C * H * W * 4);
  const dGrid = ctx.mem.alloc('gridSampleBackward', N * P * 2 * 4);
  if (N * C * H * W === 0 && N * P === 0) return { dx, dGrid };
  if (C === 0 || P === 0) {
    // nothing is sampled: both gradients are zero
    if (N * C * H * W > 0) kernel(ctx, 'fill_u32')(dx.ptr, N * C * H * W, 0);
    if (N * P > 0) kernel(ctx, 'fill_u32')(dGrid.ptr, N * P * 2, 0);
    return { dx, dGrid };
  }
  const { T, b, nck } = split(ctx, N, C, P);
  const planes = C * (H + 3) * (W + 2) * 4;
  const shared = T > 1 && N < T; // ranges cut through samples: room for two partial dx copies
  const bytes = 2 * planes + kernel(ctx, 'grid_sample_plan_bytes')();
  const works = Array.from({ length: T }, (_, t) => scratch(ctx.mem, 'gridWork', bytes + (shared ? 2 * planes : 0), 'gridSampleBackward', t));
  const head = [x.storage.ptr, dy.storage.ptr, grid.storage.ptr, dx.ptr, dGrid.ptr, C, H, W, P, p.mode === 'nearest' ? 1 : 0, PAD_MODES[p.paddingMode], p.alignCorners ? 1 : 0];
  const job = (t: number): number[] => [...head, works[t]!, b[t]!, b[t + 1]!, works[t]! + bytes];
  if (T === 1) {
    kernel(ctx, 'grid_sample_backward_f32')(...job(0));
    return { dx, dGrid };
  }
  ctx.pool!.run(ctx.exports, 'grid_sample_backward_f32', (t) => (t < T ? job(t) : null));
  // samples split between threads: add their partial dx (slot 0: a range's first sample, 1: its last)
  const parts = new Map<number, number[]>();
  for (let t = 0; t < T; t++) {
    if (b[t + 1]! <= b[t]!) continue;
    const first = Math.floor(b[t]! / nck);
    const last = Math.floor((b[t + 1]! - 1) / nck);
    for (const n of first === last ? [first] : [first, last]) {
      if (b[t]! <= n * nck && b[t + 1]! >= (n + 1) * nck) continue; // whole: written directly
      const list = parts.get(n) ?? [];
      list.push(works[t]! + bytes + (n === first ? 0 : planes));
      parts.set(n, list);
    }
  }
  const sum = kernel(ctx, 'grid_sample_unpad_sum_f32');
  for (const [n, list] of parts) sum(ctx.mem.args(list), list.length, dx.ptr + 4 * n * C * H * W, C, H, W);
  return { dx, dGrid };
}
