/**
 * Resampling: interpolate (torch.nn.functional.interpolate for 4-D input, modes 'nearest' and
 * 'bilinear') and gridSample (torch.nn.functional.grid_sample, 4-D). Both have dedicated forward
 * and backward kernels; gridSample's backward gives gradients for the input and for the grid
 * (VREMD's deformable attention learns its sampling offsets through the grid).
 */
import type { GridSampleParams, InterpolateParams } from '../backends/backend.js';
import type { Tensor } from '../engine/tensor.js';
import { backendOf, check, fail, fmtShape, kt, record, requireFloat, requireInt, sameDeviceDtype, wrap } from './util.js';

export interface InterpolateOptions {
  /** Output size [H, W] (or one number for both). Exactly one of size and scaleFactor. */
  size?: number | readonly [number, number];
  /** Multiplier for H and W (or a pair); the output is ⌊in·scaleFactor⌋. */
  scaleFactor?: number | readonly [number, number];
  /** Default 'nearest'. */
  mode?: 'nearest' | 'bilinear';
  /** bilinear only: map corner pixel centres onto each other. Default false. */
  alignCorners?: boolean;
  /** With scaleFactor: sample with in/out instead of 1/scaleFactor (PyTorch's recompute_scale_factor). */
  recomputeScaleFactor?: boolean;
}

function numberPair(op: string, name: string, v: number | readonly number[]): [number, number] {
  if (typeof v === 'number') return [v, v];
  if (!Array.isArray(v) || v.length !== 2) fail(op, `${name} as a number or a pair`, String(v));
  return [v[0]!, v[1]!];
}

/**
 * Resizes [N, C, H, W] images (torch.nn.functional.interpolate, 4-D input).
 * Shapes: x [N, C, H, W] -> [N, C, Ho, Wo] with (Ho, Wo) = size, or ⌊(H, W)·scaleFactor⌋.
 * Sampling follows PyTorch's upsample_nearest2d / upsample_bilinear2d: with scaleFactor (and no
 * recomputeScaleFactor) the source coordinate is dst/scaleFactor, otherwise dst·in/out; nearest
 * takes ⌊src⌋ (computed in float32, as PyTorch) and bilinear uses half-pixel centres unless
 * alignCorners. Gradients flow to x.
 * @throws Error on a rank other than 4, an int32 input, both or neither of size and scaleFactor,
 *   a non-positive size or scale, an empty output, an unknown mode, or alignCorners with 'nearest'.
 */
export function interpolate(x: Tensor, opts: InterpolateOptions): Tensor {
  const op = 'interpolate';
  check(op, 'input', x);
  requireFloat(op, 'input', x);
  if (x.rank !== 4) fail(op, 'input of rank 4 [N, C, H, W]', `shape ${fmtShape(x.shape)}`);
  const mode = opts.mode ?? 'nearest';
  if (mode !== 'nearest' && mode !== 'bilinear') fail(op, "mode 'nearest' or 'bilinear'", String(mode));
  if (mode === 'nearest' && opts.alignCorners !== undefined) fail(op, "alignCorners only with mode 'bilinear'", `alignCorners ${opts.alignCorners} with mode 'nearest'`);
  const alignCorners = opts.alignCorners ?? false;
  const hasSize = opts.size !== undefined && opts.size !== null;
  const hasScale = opts.scaleFactor !== undefined && opts.scaleFactor !== null;
  if (hasSize === hasScale) fail(op, 'exactly one of size and scaleFactor', hasSize ? 'both' : 'neither');
  if (hasSize && opts.recomputeScaleFactor) fail(op, 'recomputeScaleFactor only with scaleFactor', 'size');
  const [N, C, H, W] = x.shape as [number, number, number, number];
  let outH: number;
  let outW: number;
  let scales: [number, number] | null = null;
  if (hasSize) {
    [outH, outW] = numberPair(op, 'size', opts.size!);
    requireInt(op, 'size', outH, 1);
    requireInt(op, 'size', outW, 1);
  } else {
    const s = numberPair(op, 'scaleFactor', opts.scaleFactor!);
    for (const v of s) if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) fail(op, 'a positive finite scaleFactor', String(v));
    outH = Math.floor(H * s[0]);
    outW = Math.floor(W * s[1]);
    if (outH < 1 || outW < 1) fail(op, 'an output of at least 1x1', `${outH}x${outW} from input ${fmtShape(x.shape)} and scaleFactor ${fmtShape(s)}`);
    if (!opts.recomputeScaleFactor) scales = s;
  }
  const ratio = (inSize: number, outSize: number, scale: number | null): number => {
    if (mode === 'nearest') {
      // PyTorch's nearest_idx: identity and exact 2x are special-cased; the scale is float32.
      if (outSize === inSize) return 1;
      if (outSize === 2 * inSize) return 0.5;
      return Math.fround(scale !== null ? 1 / scale : inSize / outSize);
    }
    if (alignCorners) return outSize > 1 ? (inSize - 1) / (outSize - 1) : 0;
    return scale !== null ? 1 / scale : inSize / outSize;
  };
  const p: InterpolateParams = { outH, outW, mode, alignCorners, ratioH: ratio(H, outH, scales ? scales[0] : null), ratioW: ratio(W, outW, scales ? scales[1] : null) };
  const be = backendOf(x);
  const out = wrap(x.device, be.interpolate(kt(op, x), p), [N, C, outH, outW], x.dtype);
  return record(op, out, [x], (g) => [wrap(g.device, be.interpolateBackward(kt(op, g), x.shape, p), x.shape, g.dtype)]);
}

export interface GridSampleOptions {
  /** Default 'bilinear'. */
  mode?: 'bilinear' | 'nearest';
  /** What out-of-range points read: zeros, the border pixel, or the reflection. Default 'zeros'. */
  paddingMode?: 'zeros' | 'border' | 'reflection';
  /** -1 and 1 are the centres of the corner pixels (true) or their outer edges (false, the default). */
  alignCorners?: boolean;
}

/**
 * Samples x at the grid's points (torch.nn.functional.grid_sample, 4-D).
 * Shapes: x [N, C, H, W], grid [N, Ho, Wo, 2] holding (x, y) normalized to [-1, 1] (x along W)
 * -> [N, C, Ho, Wo]. Gradients flow to x and to the grid (zero for 'nearest', whose output is
 * piecewise constant in the grid).
 * @throws Error on ranks other than 4, a grid whose last dim is not 2, a batch mismatch, int32
 *   tensors, mismatched dtype/device, or an unknown mode or paddingMode.
 */
export function gridSample(x: Tensor, grid: Tensor, opts: GridSampleOptions = {}): Tensor {
  const op = 'gridSample';
  check(op, 'input', x);
  check(op, 'grid', grid);
  requireFloat(op, 'input', x);
  requireFloat(op, 'grid', grid);
  sameDeviceDtype(op, x, grid);
  if (x.rank !== 4) fail(op, 'input of rank 4 [N, C, H, W]', `shape ${fmtShape(x.shape)}`);
  if (grid.rank !== 4) fail(op, 'grid of rank 4 [N, Ho, Wo, 2]', `shape ${fmtShape(grid.shape)}`);
  if (grid.shape[3] !== 2) fail(op, 'grid of shape [N, Ho, Wo, 2] (last dim 2: x, y)', `shape ${fmtShape(grid.shape)}`);
  if (grid.shape[0] !== x.shape[0]) fail(op, `grid with batch size ${x.shape[0]} (input ${fmtShape(x.shape)})`, `shape ${fmtShape(grid.shape)}`);
  const mode = opts.mode ?? 'bilinear';
  if (mode !== 'bilinear' && mode !== 'nearest') fail(op, "mode 'bilinear' or 'nearest'", String(mode));
  const paddingMode = opts.paddingMode ?? 'zeros';
  if (!['zeros', 'border', 'reflection'].includes(paddingMode)) fail(op, "paddingMode 'zeros', 'border' or 'reflection'", String(paddingMode));
  const p: GridSampleParams = { mode, paddingMode, alignCorners: opts.alignCorners ?? false };
  const [N, C] = x.shape as [number, number];
  const [, Ho, Wo] = grid.shape as [number, number, number];
  const be = backendOf(x);
  const out = wrap(x.device, be.gridSample(kt(op, x), kt(op, grid), p), [N, C, Ho, Wo], x.dtype);
  return record(op, out, [x, grid], (g) => {
    const r = be.gridSampleBackward(kt(op, g), kt(op, x), kt(op, grid), p);
    const dx = wrap(g.device, r.dx, x.shape, g.dtype);
    const dGrid = wrap(g.device, r.dGrid, grid.shape, g.dtype);
    return [x.requiresGrad ? dx : null, grid.requiresGrad ? dGrid : null];
  });
}
