/**
 * Training augmentation for top-down crops, as HRNet's `JointsDataset.__getitem__` (and DCPose,
 * which applies one draw to all frames of a sample): half-body crops, random scale, random rotation
 * and horizontal flip with left/right joint swap. The random draws come from posegrad's generator
 * (`engine.rng` unless another `Rng` is passed), in a fixed order, so `manualSeed(s)` reproduces a
 * batch exactly.
 *
 * Differences from HRNet, on purpose: HRNet picks the upper body with `np.random.randn() < 0.5`
 * (probability ≈ 0.69, a slip for `rand`); we use probability `upperBodyProb` (default 0.5).
 */
import { engine } from '../../../engine/engine.js';
import type { Rng } from '../../../engine/random.js';
import { fail } from '../../../engine/shape.js';
import { PIXEL_STD, type CenterScale } from '../affine.js';
import type { JointSet } from '../joints.js';

export interface AugmentOptions {
  /** Scale jitter: s · clip(N(0,1)·sf + 1, 1 − sf, 1 + sf) (HRNet COCO/PoseTrack: 0.35). */
  readonly scaleFactor?: number;
  /** Rotation: clip(N(0,1)·rf, −2rf, 2rf) degrees (HRNet: 45), applied with probability rotationProb (0.6). */
  readonly rotationFactor?: number;
  readonly rotationProb?: number;
  /** Horizontal flip probability (0.5; 0 disables). */
  readonly flipProb?: number;
  /** Half-body probability (HRNet: 0.3) and the visible-joint count it needs (more than 8). */
  readonly halfBodyProb?: number;
  readonly numJointsHalfBody?: number;
  /** Probability of taking the upper body when both halves qualify (0.5). */
  readonly upperBodyProb?: number;
}

/** One draw of the augmentation, shared by every frame of a sample. */
export interface AugmentDraw {
  /** Multiplier on the crop scale. */
  readonly scale: number;
  /** Rotation in degrees (counter-clockwise in the image, as HRNet's get_affine_transform). */
  readonly rotation: number;
  readonly flip: boolean;
  /** Whether the half-body crop was attempted (it may still fail for lack of joints). */
  readonly halfBody: boolean;
  /** When halfBody: true → upper body, false → lower body. */
  readonly upper: boolean;
}

export const NO_AUGMENT: AugmentDraw = { scale: 1, rotation: 0, flip: false, halfBody: false, upper: false };

function clip(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}

/**
 * Draws the augmentation for one sample. Always consumes the same number of random numbers (six),
 * whatever the outcome, so that one sample's draw never shifts the next sample's.
 * @param numVisible visible joints of the key-frame person (half body needs more than numJointsHalfBody).
 */
export function drawAugmentation(numVisible: number, opts: AugmentOptions = {}, rng: Rng = engine.rng): AugmentDraw {
  const sf = opts.scaleFactor ?? 0.35;
  const rf = opts.rotationFactor ?? 45;
  const u0 = rng.uniform();
  const u1 = rng.uniform();
  const n0 = rng.normal();
  const n1 = rng.normal();
  const u2 = rng.uniform();
  const u3 = rng.uniform();
  const halfBody = numVisible > (opts.numJointsHalfBody ?? 8) && u0 < (opts.halfBodyProb ?? 0.3);
  return {
    scale: clip(n0 * sf + 1, 1 - sf, 1 + sf),
    rotation: u2 <= (opts.rotationProb ?? 0.6) ? clip(n1 * rf, -2 * rf, 2 * rf) : 0,
    flip: u3 < (opts.flipProb ?? 0.5),
    halfBody,
    upper: u1 < (opts.upperBodyProb ?? 0.5),
  };
}

/** Whether a joint belongs to the lower body (hips, knees, ankles, and the pelvis/belly), by name. */
export function isLowerBody(name: string): boolean {
  return /hip|knee|ankle|pelvis|belly/.test(name);
}

/**
 * HRNet's `half_body_transform`: the box around the visible joints of one half (upper or lower),
 * widened to `aspectRatio` (= width / height) and enlarged 1.5×. Falls back to the other half when
 * the chosen one has fewer than 3 visible joints, and returns null when the result has fewer than 2.
 * @param keypoints `[K·3]` x, y, visibility in image pixels.
 */
export function halfBodyCenterScale(keypoints: ArrayLike<number>, set: JointSet, upper: boolean, aspectRatio: number): CenterScale | null {
  if (keypoints.length !== 3 * set.numJoints) fail('halfBodyCenterScale', `keypoints of length ${3 * set.numJoints}`, `length ${keypoints.length}`);
  const up: [number, number][] = [];
  const low: [number, number][] = [];
  for (let k = 0; k < set.numJoints; k++) {
    if (!(keypoints[3 * k + 2]! > 0) || !set.used[k]) continue;
    (isLowerBody(set.names[k]!) ? low : up).push([keypoints[3 * k]!, keypoints[3 * k + 1]!]);
  }
  const sel = upper && up.length > 2 ? up : low.length > 2 ? low : up;
  if (sel.length < 2) return null;
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  let cx = 0;
  let cy = 0;
  for (const [x, y] of sel) {
    x0 = Math.min(x0, x);
    y0 = Math.min(y0, y);
    x1 = Math.max(x1, x);
    y1 = Math.max(y1, y);
    cx += x / sel.length;
    cy += y / sel.length;
  }
  let w = x1 - x0;
  let h = y1 - y0;
  if (w > aspectRatio * h) h = w / aspectRatio;
  else if (w < aspectRatio * h) w = h * aspectRatio;
  return { center: [cx, cy], scale: [(w / PIXEL_STD) * 1.5, (h / PIXEL_STD) * 1.5] };
}
