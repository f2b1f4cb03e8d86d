/**
 * The flip test (HRNet `core/function.py validate` with `flip_back` and SHIFT_HEATMAP; used by
 * DCPose and FaSRnet at test time): run the model on the input and on its mirror image, mirror the
 * second heatmaps back, swap the left/right channels, shift them one pixel to the right (the
 * mirrored features are off by one pixel), and average:
 *
 *   out = ½ · (f(x) + shift(swap(flip(f(flip(x))))))
 *
 * `shift` keeps column 0 and moves columns 0..w−2 to 1..w−1 (HRNet:
 * `output_flipped[:, :, :, 1:] = output_flipped.clone()[:, :, :, 0:-1]`).
 */
import { add, mul } from '../../../ops/elementwise.js';
import { concat, flip, indexSelect, slice } from '../../../ops/shape.js';
import { tensor } from '../../../ops/creation.js';
import { fail, fmtShape } from '../../../engine/shape.js';
import type { Tensor } from '../../../engine/tensor.js';

export interface FlipTestOptions {
  /** The permutation of heatmap channels under a flip (joints.ts `flipPermutation`). */
  readonly flipPerm: readonly number[];
  /** Shift the flipped heatmaps one pixel right (default true). */
  readonly shift?: boolean;
  /** The channel (joint) axis of the model output; default rank − 3 ([..., K, h, w]). */
  readonly channelDim?: number;
}

/** Mirrors heatmaps back (last axis), swaps left/right channels and optionally shifts by one pixel. */
export function flipBack(heatmaps: Tensor, opts: FlipTestOptions): Tensor {
  const op = 'flipBack';
  const r = heatmaps.rank;
  if (r < 3) fail(op, 'heatmaps of rank ≥ 3 [..., K, h, w]', `shape ${fmtShape(heatmaps.shape)}`);
  const cd = opts.channelDim ?? r - 3;
  const K = heatmaps.shape[cd]!;
  if (opts.flipPerm.length !== K) fail(op, `a flip permutation of ${K} channels`, `${opts.flipPerm.length} entries`);
  const w = heatmaps.shape[r - 1]!;
  let y = flip(heatmaps, r - 1);
  y = indexSelect(y, cd, tensor(Int32Array.from(opts.flipPerm), { device: heatmaps.device }));
  if ((opts.shift ?? true) && w > 1) y = concat([slice(y, r - 1, 0, 1), slice(y, r - 1, 0, w - 1)], r - 1);
  return y;
}

/**
 * The flip test around any model function `model: x → heatmaps`. `x` is mirrored along its last
 * axis (width), whatever its rank ([B, 3, H, W] or [B, T, 3, H, W]).
 * @returns ½ (model(x) + flipBack(model(flip(x)))), same shape as model(x).
 * @throws Error when the outputs of the two passes differ in shape, or as flipBack.
 */
export function flipTest(model: (x: Tensor) => Tensor, x: Tensor, opts: FlipTestOptions): Tensor {
  const out = model(x);
  const outF = model(flip(x, x.rank - 1));
  if (fmtShape(out.shape) !== fmtShape(outF.shape)) fail('flipTest', `the flipped pass to give ${fmtShape(out.shape)}`, fmtShape(outF.shape));
  return mul(add(out, flipBack(outF, opts)), 0.5);
}
