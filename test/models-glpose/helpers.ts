/**
 * Shared helpers for the GLPose tests: the closed-form inputs that test/reference/glpose.py also
 * evaluates (so that the fixture need not store them); the generic helpers live in test/helpers/models.ts.
 */
import type { DType } from '../../engine/dtype.js';
import type { Tensor } from '../../engine/tensor.js';
import { fromFormula } from '../helpers/models.js';

export { fromFormula, randomize, readFixture } from '../helpers/models.js';

/** glpose.py `frames()`: the crops [B, T, 3, H, W] in frames.ts order, rounded to float32 values. */
export function parityFrames(B: number, T: number, H: number, W: number, dtype: DType = 'float64'): Tensor {
  return fromFormula([B, T, 3, H, W], ([b, t, c, y, x]) =>
    Math.fround(Math.sin(0.13 * x! + 0.07 * y! * (c! + 1) + 1.7 * t! + 0.61 * b!) * Math.cos(0.05 * (x! - y!) + 0.3 * c! + 0.2 * t!) + 0.2 * Math.cos(1.3 * t! + 3.1 * b!)), dtype);
}

/** glpose.py `upstream()`: the weights of sum(heatmaps · gout). */
export function upstream(shape: readonly number[], dtype: DType = 'float64'): Tensor {
  return fromFormula(shape, ([b, k, y, x]) => Math.sin(0.37 * x! - 0.23 * y! + 0.71 * k! + 1.1 * b!), dtype);
}

/** glpose.py `target_of()`: Gaussian-like targets [B, K, h, w] (the weights are stored in the fixture). */
export function parityTarget(shape: readonly number[], dtype: DType = 'float64'): Tensor {
  return fromFormula(shape, ([b, k, y, x]) => {
    const cy = 3 + ((k! * 5 + b! * 3) % 10);
    const cx = 2 + ((k! * 7 + b! * 5) % 12);
    return Math.exp(-((y! - cy) ** 2 + (x! - cx) ** 2) / 8);
  }, dtype);
}
