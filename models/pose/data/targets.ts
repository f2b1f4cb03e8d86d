/**
 * Gaussian heatmap targets with visibility weights: HRNet's `JointsDataset.generate_target`
 * (Sun et al., CVPR 2019; the same code in SimpleBaseline and DCPose), reproduced convention for
 * convention:
 *
 * - stride = imageSize / heatmapSize per axis; the joint lands on the heatmap cell
 *   μ = int(x / stride + 0.5), where int() truncates toward zero (as Python's int does);
 * - an unnormalized Gaussian exp(−((x−μx)² + (y−μy)²) / 2σ²) with peak 1, cut to a square of
 *   half-size 3σ around μ (13x13 for σ = 2);
 * - the weight is the joint's visibility (0 or 1), and becomes 0 when the 3σ square lies entirely
 *   outside the heatmap; an invisible joint gets an all-zero heatmap.
 *
 * The papers use σ = 2 at 64x48 / 64x64 heatmaps and σ = 3 at 96x72 (see `defaultSigma`).
 */
import { fail } from '../../../engine/shape.js';

export interface TargetOptions {
  /** Network input size [width, height] in pixels. */
  readonly imageSize: readonly [number, number];
  /** Heatmap size [width, height]. */
  readonly heatmapSize: readonly [number, number];
  /** Gaussian standard deviation in heatmap cells. */
  readonly sigma: number;
}

/** σ used by the papers for a heatmap size: 3 at 96x72 (and larger), 2 below. */
export function defaultSigma(heatmapSize: readonly [number, number]): number {
  return heatmapSize[0] * heatmapSize[1] >= 96 * 72 ? 3 : 2;
}

/**
 * Heatmaps and weights for K joints.
 * @param joints `[K·2]` joint positions in input-image pixels.
 * @param visible `[K]` visibility (> 0 means the joint is supervised).
 * @returns target `[K, h, w]` (float32, row-major) and weight `[K]` (0 or 1).
 * @throws Error when the array lengths disagree or a size or σ is not positive.
 */
export function generateTarget(joints: ArrayLike<number>, visible: ArrayLike<number>, opts: TargetOptions): { target: Float32Array; weight: Float32Array } {
  const op = 'generateTarget';
  const K = visible.length;
  if (joints.length !== 2 * K) fail(op, `joints of length 2·K = ${2 * K}`, `length ${joints.length}`);
  const [W, H] = opts.heatmapSize;
  const [IW, IH] = opts.imageSize;
  if (!(W > 0 && H > 0 && IW > 0 && IH > 0)) fail(op, 'positive image and heatmap sizes', `image [${IW}, ${IH}], heatmap [${W}, ${H}]`);
  if (!(opts.sigma > 0)) fail(op, 'sigma > 0', String(opts.sigma));
  const target = new Float32Array(K * H * W);
  const weight = new Float32Array(K);
  const tmp = opts.sigma * 3;
  const size = 2 * tmp + 1;
  const len = Math.ceil(size); // np.arange(0, size)
  const c0 = Math.floor(size / 2); // size // 2
  const strideX = IW / W;
  const strideY = IH / H;
  for (let k = 0; k < K; k++) {
    weight[k] = visible[k]! > 0 ? 1 : 0;
    const muX = Math.trunc(joints[2 * k]! / strideX + 0.5);
    const muY = Math.trunc(joints[2 * k + 1]! / strideY + 0.5);
    const ulX = Math.trunc(muX - tmp);
    const ulY = Math.trunc(muY - tmp);
    const brX = Math.trunc(muX + tmp + 1);
    const brY = Math.trunc(muY + tmp + 1);
    if (ulX >= W || ulY >= H || brX < 0 || brY < 0) {
      weight[k] = 0;
      continue;
    }
    if (weight[k]! < 0.5) continue;
    // usable part of the patch and of the heatmap
    const gx0 = Math.max(0, -ulX);
    const gx1 = Math.min(brX, W) - ulX;
    const gy0 = Math.max(0, -ulY);
    const gy1 = Math.min(brY, H) - ulY;
    const ix0 = Math.max(0, ulX);
    const iy0 = Math.max(0, ulY);
    const base = k * H * W;
    for (let gy = gy0; gy < Math.min(gy1, len); gy++) {
      for (let gx = gx0; gx < Math.min(gx1, len); gx++) {
        const d2 = (gx - c0) * (gx - c0) + (gy - c0) * (gy - c0);
        target[base + (iy0 + gy - gy0) * W + (ix0 + gx - gx0)] = Math.exp(-d2 / (2 * opts.sigma * opts.sigma));
      }
    }
  }
  return { target, weight };
}
