/**
 * Dropout (torch.nn.functional.dropout / dropout2d; Srivastava et al. 2014, inverted dropout).
 * The keep mask is drawn on the host from the engine's seeded generator (`manualSeed`), so a seed
 * gives the same mask on every backend; it is uploaded already scaled by 1/(1-p) and multiplied in,
 * which makes the gradient mask·1/(1-p). The masks do not match PyTorch's generator.
 */
import { engine } from '../engine/engine.js';
import { sizeOf } from '../engine/shape.js';
import type { Tensor } from '../engine/tensor.js';
import { tensor } from './creation.js';
import { mul } from './elementwise.js';
import { reshape } from './shape.js';
import { check, fail, fmtShape, requireFloat } from './util.js';

function checkP(op: string, p: number): void {
  if (typeof p !== 'number' || !(p >= 0 && p <= 1)) fail(op, 'a dropout probability p in [0, 1]', String(p));
}

/** x · mask, mask of `maskShape` (broadcast against x) with each entry 0 w.p. p, else 1/(1-p). */
function applyMask(x: Tensor, maskShape: readonly number[], p: number): Tensor {
  const n = sizeOf(maskShape);
  const m = new Float64Array(n);
  if (p < 1) {
    const scale = 1 / (1 - p);
    for (let i = 0; i < n; i++) m[i] = engine.rng.uniform() < p ? 0 : scale;
  }
  return mul(x, tensor(m, { dtype: x.dtype, device: x.device, shape: maskShape }));
}

/**
 * Zeroes each element with probability p and scales the others by 1/(1-p)
 * (torch.nn.functional.dropout). Shapes: x [...] -> the same shape.
 * When `training` is false or p = 0 it returns x unchanged (as a view); p = 1 gives zeros.
 * @throws Error when p is outside [0, 1] or x is int32.
 */
export function dropout(x: Tensor, p = 0.5, training = true): Tensor {
  const op = 'dropout';
  check(op, 'input', x);
  requireFloat(op, 'input', x);
  checkP(op, p);
  if (!training || p === 0) return reshape(x, x.shape);
  return applyMask(x, x.shape, p);
}

/**
 * Channel dropout (torch.nn.functional.dropout2d): zeroes whole [H, W] planes of x [N, C, H, W]
 * with probability p and scales the others by 1/(1-p). Identity (a view) when not training or p = 0.
 * @throws Error when x is not rank 4, p is outside [0, 1], or x is int32.
 */
export function dropout2d(x: Tensor, p = 0.5, training = true): Tensor {
  const op = 'dropout2d';
  check(op, 'input', x);
  requireFloat(op, 'input', x);
  checkP(op, p);
  if (x.rank !== 4) fail(op, 'input of rank 4 [N, C, H, W]', `shape ${fmtShape(x.shape)}`);
  if (!training || p === 0) return reshape(x, x.shape);
  return applyMask(x, [x.shape[0]!, x.shape[1]!, 1, 1], p);
}
