/**
 * PCK@α (Percentage of Correct Keypoints) for single-person video benchmarks (Penn Action,
 * Sub-JHMDB, SynthPose), with the two standard normalizations. See docs/metrics.md.
 *
 * A ground-truth joint counts when its visibility is > 0. It is correct when
 * ‖pred − gt‖₂ ≤ α · L, where L is, per person and frame:
 * - `'torso'`: the torso size ‖gt[a] − gt[b]‖₂ between two torso joints of the same ground truth,
 *   by default left shoulder and right hip (the LSP / Penn Action convention). A person-frame where
 *   either torso joint is not annotated, or where they coincide, has no torso size: it is skipped
 *   and counted in `skipped`.
 * - `'person'`: the person size max(w, h) of the ground-truth person box. A person-frame without a
 *   box (or with an empty one) is skipped and counted in `skipped`.
 *
 * This is the textbook definition; RPSTN's official evaluation script differs from it and is not
 * followed.
 */
import { fail } from '../../../engine/shape.js';
import type { Box } from '../datasets/types.js';

export type PckNormalization = 'torso' | 'person';

export interface PckSample {
  /** `[K·3]` predicted x, y, score (the score is ignored). */
  readonly pred: ArrayLike<number>;
  /** `[K·3]` ground-truth x, y, visibility. */
  readonly gt: ArrayLike<number>;
  /** The ground-truth person box (needed for `'person'`). */
  readonly bbox?: Box | null;
}

export interface PckOptions {
  /** Joint names of the keypoint arrays. */
  readonly keypointNames: readonly string[];
  readonly normalization: PckNormalization;
  /** Threshold as a fraction of the normalizing length (default 0.2). */
  readonly alpha?: number;
  /** The two joints whose distance is the torso size (default ['left_shoulder', 'right_hip']). */
  readonly torsoJoints?: readonly [string, string];
}

export interface PckResult {
  readonly jointNames: readonly string[];
  /** PCK per joint in percent; NaN for a joint that is never visible in the ground truth. */
  readonly perJoint: readonly number[];
  /** Visible ground-truth joints per joint (the denominators). */
  readonly counts: readonly number[];
  /** Mean of the per-joint PCKs over the joints with count > 0 (the usual "mPCK"). */
  readonly mean: number;
  /** Correct joints / visible joints over all joints (each joint weighted by its count). */
  readonly overall: number;
  /** Person-frames left out because they had no normalizing length. */
  readonly skipped: number;
  /** Person-frames scored. */
  readonly scored: number;
}

/** ‖gt[a] − gt[b]‖ when both joints are annotated (visibility > 0) and distinct, else null. */
export function torsoSize(gt: ArrayLike<number>, a: number, b: number): number | null {
  if (!(gt[3 * a + 2]! > 0 && gt[3 * b + 2]! > 0)) return null;
  const d = Math.hypot(gt[3 * a]! - gt[3 * b]!, gt[3 * a + 1]! - gt[3 * b + 1]!);
  return d > 0 ? d : null;
}

/** max(w, h) of a person box, or null when there is no box or it is empty. */
export function personSize(bbox: Box | null | undefined): number | null {
  if (!bbox) return null;
  const s = Math.max(bbox[2], bbox[3]);
  return s > 0 ? s : null;
}

/**
 * PCK@α over person-frames. @throws Error when a keypoint array has the wrong length, α is not
 * positive, or a torso joint name is not in `keypointNames`.
 */
export function evaluatePCK(samples: readonly PckSample[], opts: PckOptions): PckResult {
  const op = 'evaluatePCK';
  const K = opts.keypointNames.length;
  const alpha = opts.alpha ?? 0.2;
  if (!(alpha > 0)) fail(op, 'alpha > 0', String(alpha));
  if (opts.normalization !== 'torso' && opts.normalization !== 'person') fail(op, "normalization 'torso' or 'person'", String(opts.normalization));
  let ta = -1;
  let tb = -1;
  if (opts.normalization === 'torso') {
    const [na, nb] = opts.torsoJoints ?? ['left_shoulder', 'right_hip'];
    ta = opts.keypointNames.indexOf(na);
    tb = opts.keypointNames.indexOf(nb);
    if (ta < 0 || tb < 0) fail(op, `torso joints '${na}' and '${nb}' in keypointNames`, `[${opts.keypointNames.join(', ')}]`);
  }
  const correct = new Array<number>(K).fill(0);
  const counts = new Array<number>(K).fill(0);
  let skipped = 0;
  let scored = 0;
  samples.forEach((s, i) => {
    if (s.pred.length !== 3 * K) fail(op, `pred of length ${3 * K}`, `length ${s.pred.length} in sample ${i}`);
    if (s.gt.length !== 3 * K) fail(op, `gt of length ${3 * K}`, `length ${s.gt.length} in sample ${i}`);
    const L = opts.normalization === 'torso' ? torsoSize(s.gt, ta, tb) : personSize(s.bbox);
    if (L === null) {
      skipped++;
      return;
    }
    scored++;
    for (let k = 0; k < K; k++) {
      if (!(s.gt[3 * k + 2]! > 0)) continue;
      counts[k]!++;
      const d = Math.hypot(s.pred[3 * k]! - s.gt[3 * k]!, s.pred[3 * k + 1]! - s.gt[3 * k + 1]!);
      if (d <= alpha * L) correct[k]!++; // a NaN prediction is never correct
    }
  });
  const perJoint = counts.map((c, k) => (c > 0 ? (100 * correct[k]!) / c : NaN));
  const defined = perJoint.filter((v) => !Number.isNaN(v));
  const total = counts.reduce((a, b) => a + b, 0);
  return {
    jointNames: [...opts.keypointNames],
    perJoint,
    counts,
    mean: defined.length ? defined.reduce((a, b) => a + b, 0) / defined.length : NaN,
    overall: total > 0 ? (100 * correct.reduce((a, b) => a + b, 0)) / total : NaN,
    skipped,
    scored,
  };
}

/** The part of a video that pckSamples reads (datasets/types.ts `VideoSequence`). */
export interface PckVideo<F extends PckVideoFrame = PckVideoFrame> {
  readonly frames: readonly F[];
}
export interface PckVideoFrame {
  readonly id: number;
  readonly isLabeled: boolean;
  readonly people: readonly { readonly keypoints: ArrayLike<number>; readonly bbox: Box | null }[];
}

/**
 * Pairs ground truth with predictions for evaluatePCK: for every labeled frame (passing `filter`),
 * ground-truth person i is paired with prediction i of that image id (single-person datasets have
 * one each). A ground-truth person without a prediction is paired with an all-NaN prediction, so
 * its joints count as wrong.
 */
export function pckSamples<F extends PckVideoFrame>(
  videos: readonly PckVideo<F>[],
  predictions: ReadonlyMap<number, readonly ArrayLike<number>[]>,
  filter?: (frame: F) => boolean,
): PckSample[] {
  const out: PckSample[] = [];
  for (const v of videos) {
    for (const f of v.frames) {
      if (!f.isLabeled || (filter && !filter(f))) continue;
      const preds = predictions.get(f.id) ?? [];
      f.people.forEach((p, i) => {
        out.push({ gt: p.keypoints, pred: preds[i] ?? new Array<number>(p.keypoints.length).fill(NaN), bbox: p.bbox });
      });
    }
  }
  return out;
}
