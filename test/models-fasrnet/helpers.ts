/**
 * Shared helpers for the FaSRnet tests: the closed-form inputs that test/reference/fasrnet.py also
 * evaluates (so that the fixture need not store them); the generic helpers live in test/helpers/models.ts.
 */
import type { DType } from '../../engine/dtype.js';
import type { Tensor } from '../../engine/tensor.js';
import { fromFormula } from '../helpers/models.js';

export { fromFormula, randomize, readFixture } from '../helpers/models.js';

/** The parity clip (fasrnet.py `clip()`): frame f ∈ {0: cur, 1: prev, 2: next}, [B, 3, H, W]. */
export function clipFrame(f: number, B: number, H: number, W: number, dtype: DType = 'float64'): Tensor {
  return fromFormula([B, 3, H, W], ([b, c, i, j]) =>
    Math.sin(0.23 * i! * (1 + 0.15 * c!) + 0.17 * j! + 0.9 * f + 1.7 * b! + 0.5 * c!) + 0.4 * Math.cos((0.11 * (i! - 2 * f) * (j! + 3 * b!)) / 8 + 0.3 * c!), dtype);
}

/** The upstream gradients of hr and hFinal (fasrnet.py `upstream()`). */
export function upstream(shape: readonly number[], dtype: DType = 'float64'): [Tensor, Tensor] {
  return [
    fromFormula(shape, ([b, k, i, j]) => Math.sin(1.3 * b! + 0.7 * k! + 0.37 * i! - 0.23 * j!), dtype),
    fromFormula(shape, ([b, k, i, j]) => Math.cos(0.4 * b! - 1.1 * k! + 0.29 * i! + 0.31 * j!), dtype),
  ];
}

/** Loss targets and weights (fasrnet.py `loss_target()`). */
export function lossTarget(shape: readonly number[], dtype: DType = 'float64'): [Tensor, Tensor] {
  const [B, K] = shape as [number, number];
  const target = fromFormula(shape, ([b, k, i, j]) => 0.5 + 0.5 * Math.sin(0.5 * i! + 0.3 * j! + k! + 2 * b!), dtype);
  const w = fromFormula([B, K, 1], ([b, k]) => ((b === 0 && k === 1) || (b === 1 && k === 2) ? 0 : 1), dtype);
  return [target, w];
}
