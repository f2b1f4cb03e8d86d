/**
 * Heatmap decoding: heatmaps [N, K, H, W] → keypoints (x, y, score).
 *
 * - `getMaxPreds` is HRNet/DCPose's `get_max_preds`: per heatmap, the first argmax (row-major),
 *   its value as the score, and coordinates (idx mod W, ⌊idx / W⌋); a heatmap whose maximum is ≤ 0
 *   gets coordinates (0, 0), as in the original (`pred_mask = maxvals > 0`).
 * - `getFinalPreds` is `get_final_preds` with POST_PROCESS on: round the argmax
 *   (px = ⌊x + 0.5⌋), and when 1 < px < W-1 and 1 < py < H-1 shift each axis by
 *   0.25·sign(neighbour difference), then map back to image pixels through the inverse affine of
 *   the crop (`transform_preds`: getAffineTransform(center, scale, 0, [W, H], inv)).
 * - `decodeArgmax` is the plain argmax (RPSTN's official evaluation decodes at 64x64 this way),
 *   optionally mapped back through the same inverse affine.
 *
 * Everything runs on the host, in float64, on the values read from the heatmap tensor.
 */
import type { Tensor } from '../../engine/tensor.js';
import { affinePoint, getAffineTransform, type CenterScale } from './affine.js';

export interface Keypoint {
  /** Image (or heatmap) x in pixels. */
  x: number;
  y: number;
  /** The heatmap maximum. */
  score: number;
}

export type HeatmapShape = readonly [number, number, number, number];

export interface MaxPreds {
  /** [N·K·2] heatmap coordinates (x, y), row-major over (n, k). */
  coords: Float64Array;
  /** [N·K] heatmap maxima. */
  maxvals: Float64Array;
}

function checkShape(op: string, values: ArrayLike<number>, shape: readonly number[]): HeatmapShape {
  if (shape.length !== 4 || !shape.every((d) => Number.isInteger(d) && d > 0)) throw new Error(`${op}: expected heatmaps of shape [N, K, H, W] with positive sizes, got [${shape.join(', ')}]`);
  const n = shape[0]! * shape[1]! * shape[2]! * shape[3]!;
  if (values.length !== n) throw new Error(`${op}: expected ${n} heatmap values for shape [${shape.join(', ')}], got ${values.length}`);
  return shape as unknown as HeatmapShape;
}

/**
 * HRNet's get_max_preds.
 * @throws Error when `shape` is not [N, K, H, W] or does not match the number of values.
 */
export function getMaxPreds(heatmaps: ArrayLike<number>, shape: readonly number[]): MaxPreds {
  const [N, K, H, W] = checkShape('getMaxPreds', heatmaps, shape);
  const P = H * W;
  const coords = new Float64Array(N * K * 2);
  const maxvals = new Float64Array(N * K);
  for (let m = 0; m < N * K; m++) {
    const off = m * P;
    let best = -Infinity;
    let idx = 0;
    for (let i = 0; i < P; i++) {
      const v = heatmaps[off + i]!;
      // NaN never wins; the first maximum wins ties (numpy argmax).
      if (v > best) {
        best = v;
        idx = i;
      }
    }
    if (best === -Infinity && Number.isNaN(heatmaps[off]!)) best = NaN;
    maxvals[m] = best;
    const ok = best > 0;
    coords[2 * m] = ok ? idx % W : 0;
    coords[2 * m + 1] = ok ? Math.floor(idx / W) : 0;
  }
  return { coords, maxvals };
}

export interface DecodeOptions {
  /**
   * One crop per sample (length N): coordinates are mapped from the heatmap back to image pixels
   * through the inverse affine of the crop. Without it, coordinates stay in heatmap pixels.
   */
  crops?: readonly CenterScale[];
}

export interface FinalPredsOptions extends DecodeOptions {
  /** The quarter-pixel shift toward the higher neighbour (HRNet's TEST.POST_PROCESS; default true). */
  postProcess?: boolean;
}

/**
 * HRNet/DCPose get_final_preds: argmax + quarter-pixel refinement + inverse affine.
 * Returns keypoints [N][K] in image pixels (heatmap pixels when no crops are given).
 * @throws Error on a bad shape or when `crops` does not have N entries.
 */
export function getFinalPreds(heatmaps: ArrayLike<number>, shape: readonly number[], opts: FinalPredsOptions = {}): Keypoint[][] {
  const [N, K, H, W] = checkShape('getFinalPreds', heatmaps, shape);
  const { coords, maxvals } = getMaxPreds(heatmaps, shape);
  if (opts.postProcess ?? true) {
    for (let m = 0; m < N * K; m++) {
      const px = Math.floor(coords[2 * m]! + 0.5);
      const py = Math.floor(coords[2 * m + 1]! + 0.5);
      if (1 < px && px < W - 1 && 1 < py && py < H - 1) {
        const off = m * H * W;
        const dx = heatmaps[off + py * W + px + 1]! - heatmaps[off + py * W + px - 1]!;
        const dy = heatmaps[off + (py + 1) * W + px]! - heatmaps[off + (py - 1) * W + px]!;
        coords[2 * m] = coords[2 * m]! + Math.sign(dx) * 0.25;
        coords[2 * m + 1] = coords[2 * m + 1]! + Math.sign(dy) * 0.25;
      }
    }
  }
  return toKeypoints('getFinalPreds', coords, maxvals, N, K, W, H, opts.crops);
}

/**
 * Plain argmax decoding (no sub-pixel refinement), as RPSTN's evaluation at 64x64. Coordinates are
 * the argmax pixel (0, 0 when the maximum is ≤ 0, as getMaxPreds), mapped to image pixels when
 * `crops` are given.
 */
export function decodeArgmax(heatmaps: ArrayLike<number>, shape: readonly number[], opts: DecodeOptions = {}): Keypoint[][] {
  const [N, K, H, W] = checkShape('decodeArgmax', heatmaps, shape);
  const { coords, maxvals } = getMaxPreds(heatmaps, shape);
  return toKeypoints('decodeArgmax', coords, maxvals, N, K, W, H, opts.crops);
}

export type DecodeMethod = 'hrnet' | 'argmax';

/**
 * Reads a heatmap tensor [N, K, H, W] (awaiting the device, so it works on webgpu) and decodes it
 * with `method` ('hrnet' = getFinalPreds, 'argmax' = decodeArgmax).
 * @throws Error when the tensor is not rank 4.
 */
export async function decodeHeatmaps(heatmaps: Tensor, method: DecodeMethod = 'hrnet', opts: DecodeOptions = {}): Promise<Keypoint[][]> {
  if (heatmaps.rank !== 4) throw new Error(`decodeHeatmaps: expected heatmaps of rank 4 [N, K, H, W], got shape [${heatmaps.shape.join(', ')}]`);
  const values = await heatmaps.data();
  return method === 'hrnet' ? getFinalPreds(values, heatmaps.shape, opts) : decodeArgmax(values, heatmaps.shape, opts);
}

function toKeypoints(op: string, coords: Float64Array, maxvals: Float64Array, N: number, K: number, W: number, H: number, crops?: readonly CenterScale[]): Keypoint[][] {
  if (crops && crops.length !== N) throw new Error(`${op}: expected ${N} crops (one per heatmap sample), got ${crops.length}`);
  const out: Keypoint[][] = [];
  for (let n = 0; n < N; n++) {
    const t = crops ? getAffineTransform(crops[n]!.center, crops[n]!.scale, 0, [W, H], true) : null;
    const row: Keypoint[] = [];
    for (let k = 0; k < K; k++) {
      const m = n * K + k;
      const p: [number, number] = [coords[2 * m]!, coords[2 * m + 1]!];
      const [x, y] = t ? affinePoint(t, p) : p;
      row.push({ x, y, score: maxvals[m]! });
    }
    out.push(row);
  }
  return out;
}
