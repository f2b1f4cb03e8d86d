/**
 * Test helpers for VREMD: a guard that DCA's bilinear sampling points stay away from the kinks of
 * bilinear interpolation (integer token coordinates) so that central differences are valid.
 */
import type { Tensor } from '../../engine/tensor.js';

export { paramGradcheck } from '../helpers/gradcheck.js';

/**
 * The smallest distance of any sampling coordinate (tokens) to an integer: bilinear sampling is
 * piecewise linear between cell centres, so finite differences need this well above eps.
 */
export function minKinkDistance(points: Tensor): number {
  let m = Infinity;
  for (const v of points.dataSync()) m = Math.min(m, Math.abs(v - Math.round(v)));
  return m;
}
