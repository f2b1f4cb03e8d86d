/**
 * JS side of gridSample (torch.nn.functional.grid_sample, 4-D) on wasm; the kernels are in
 * assembly/grid-sample.ts (plan per point in float64, gather per channel from zero-bordered planes,
 * backward scatter into a zero-bordered dx and per-point grid gradients). Contract:
 * backends/backend.ts (GridSampleParams); reference: backends/cpu/resample.ts.
 * The kernels take one scratch region per thread: the padded planes of one sample (forward: x;
 * backward: x and dx), then the per-chunk plan. With worker threads, the samples (or, for one
 * sample in the forward, the points) are split between the threads (threads.ts run).
 */
import type { GridSampleParams } from '../backend.js';
import { checkDtype, kernel, type WasmContext, type WT } from './context.js';
import type { WasmStorage } from './memory.js';
import { scratch } from './scratch.js';

/** Below this many sampled values, gridSample stays on one thread. */
const THREAD_MIN_SAMPLES = 2 ** 15;

const PAD_MODES = { zeros: 0, border: 1, reflection: 2 } as const;

function workOf(ctx: WasmContext, t: number, op: string, C: number, H: number, W: number, copies: number): number {
  const planBytes = kernel(ctx, 'grid_sample_plan_bytes')();
  return scratch(ctx.mem, 'gridWork', copies * C * (H + 3) * (W + 2) * 4 + planBytes, op, t);
}

const splitAt = (units: number, T: number, t: number): number => Math.round((t * units) / T);

export function gridSample(ctx: WasmContext, x: WT, grid: WT, p: GridSampleParams): WasmStorage {
  checkDtype('gridSample', x.dtype);
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const [, Ho, Wo] = grid.shape as [number, number, number];
  const P = Ho * Wo;
  const out = ctx.mem.alloc('gridSample', N * C * P * 4);
  if (N * C * P === 0) return out;
  const head = [x.storage.ptr, grid.storage.ptr, out.ptr, C, H, W, P, p.mode === 'nearest' ? 1 : 0, PAD_MODES[p.paddingMode], p.alignCorners ? 1 : 0];
  // threads split the samples, or, for one sample, the points (in multiples of 4)
  const T = ctx.pool && N * C * P >= THREAD_MIN_SAMPLES ? Math.min(ctx.pool.size, N > 1 ? N : Math.floor(P / 64)) : 1;
  if (T <= 1) {
    kernel(ctx, 'grid_sample_f32')(...head, workOf(ctx, 0, 'gridSample', C, H, W, 1), 0, N, 0, P);
    return out;
  }
  const works = Array.from({ length: T }, (_, t) => workOf(ctx, t, 'gridSample', C, H, W, 1));
  ctx.pool!.run(ctx.exports, 'grid_sample_f32', (t) => {
    if (t >= T) return null;
    if (N > 1) return [...head, works[t]!, splitAt(N, T, t), splitAt(N, T, t + 1), 0, P];
    const pb = t === 0 ? 0 : Math.round(splitAt(P, T, t) / 4) * 4;
    const pe = t === T - 1 ? P : Math.round(splitAt(P, T, t + 1) / 4) * 4;
    return [...head, works[t]!, 0, 1, pb, pe];
  });
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
  const head = [x.storage.ptr, dy.storage.ptr, grid.storage.ptr, dx.ptr, dGrid.ptr, C, H, W, P, p.mode === 'nearest' ? 1 : 0, PAD_MODES[p.paddingMode], p.alignCorners ? 1 : 0];
  // threads split the samples (each writes its own samples' dx and dGrid)
  const T = ctx.pool && N * C * P >= THREAD_MIN_SAMPLES ? Math.min(ctx.pool.size, N) : 1;
  const works = Array.from({ length: T }, (_, t) => workOf(ctx, t, 'gridSampleBackward', C, H, W, 2));
  if (T <= 1) kernel(ctx, 'grid_sample_backward_f32')(...head, works[0]!, 0, N);
  else ctx.pool!.run(ctx.exports, 'grid_sample_backward_f32', (t) => (t < T ? [...head, works[t]!, splitAt(N, T, t), splitAt(N, T, t + 1)] : null));
  return { dx, dGrid };
}
