/**
 * PCKh@α for top-down evaluation on PoseTrack-style annotations, with poseval's head size, plus the
 * fixed-template reference pose that tells what a box alone is worth.
 *
 * PCKh: a ground-truth joint counts when it is annotated by poseval's rule (not x = y = v = 0); it
 * is correct when ‖pred − gt‖₂ ≤ α · headSize, with headSize = 0.6 · ‖head-box diagonal‖ (poseval's
 * definition, the same as poseval.ts). α = 0.5 is PCKh@0.5, the match criterion of PoseTrack's mAP.
 * Unlike poseval's mAP there is no matching and no score: each ground-truth person is paired with
 * one prediction by the caller (or with none, and then all its joints are wrong), and the result is
 * correct joints / counted joints. A person without a head box is skipped and counted in `skipped`.
 *
 * Pure and browser-safe.
 */
import { fail } from '../../../engine/shape.js';
import type { Box } from '../datasets/types.js';

/** poseval's head size: 0.6 · the diagonal of the head box `[x, y, w, h]`. */
export function posevalHeadSize(bboxHead: Box): number {
  return 0.6 * Math.hypot(bboxHead[2], bboxHead[3]);
}

/** Whether joint k of a `[K·3]` ground truth is annotated (poseval's converter rule: not x = y = v = 0). */
export function isAnnotated(gt: ArrayLike<number>, k: number): boolean {
  return !(gt[3 * k] === 0 && gt[3 * k + 1] === 0 && gt[3 * k + 2] === 0);
}

export interface PckhSample {
  /** `[K·3]` predicted x, y, score (the score is ignored); null: no prediction (every joint wrong). NaN coordinates are wrong. */
  readonly pred: ArrayLike<number> | null;
  /** `[K·3]` ground-truth x, y, visibility. */
  readonly gt: ArrayLike<number>;
  /** The ground-truth head box. */
  readonly bboxHead: Box | null;
}

export interface PckhOptions {
  /** Joint names of the keypoint arrays. */
  readonly keypointNames: readonly string[];
  /** Threshold as a fraction of the head size (default 0.5). */
  readonly alpha?: number;
  /** Count only these joints (names); default every joint. */
  readonly joints?: readonly string[];
}

export interface PckhResult {
  readonly jointNames: readonly string[];
  /** PCKh per joint in percent; NaN for a joint that is never counted. */
  readonly perJoint: readonly number[];
  /** Counted (annotated) ground-truth joints per joint. */
  readonly counts: readonly number[];
  /** Correct joints per joint. */
  readonly correct: readonly number[];
  /** Correct / counted over all counted joints, in percent (each joint weighted by its count). */
  readonly overall: number;
  /** Σ counts. */
  readonly total: number;
  /** Σ correct. */
  readonly totalCorrect: number;
  /** People scored, and people left out for lack of a head box. */
  readonly scored: number;
  readonly skipped: number;
  /**
   * Per joint: the mean signed error (pred − gt) in head sizes over the counted joints with a finite
   * prediction, [dx, dy] (NaN when there is none). A systematic offset shows a convention mismatch.
   */
  readonly meanOffset: readonly (readonly [number, number])[];
}

/**
 * PCKh@α over person-frames. @throws Error when a keypoint array has the wrong length, α is not
 * positive, or a joint of `joints` is not in `keypointNames`.
 */
export function evaluatePCKh(samples: readonly PckhSample[], opts: PckhOptions): PckhResult {
  const op = 'evaluatePCKh';
  const names = opts.keypointNames;
  const K = names.length;
  const alpha = opts.alpha ?? 0.5;
  if (!(alpha > 0)) fail(op, 'alpha > 0', String(alpha));
  const use = new Array<boolean>(K).fill(opts.joints === undefined);
  for (const j of opts.joints ?? []) {
    const i = names.indexOf(j);
    if (i < 0) fail(op, `joints from keypointNames [${names.join(', ')}]`, `'${j}'`);
    use[i] = true;
  }
  const counts = new Array<number>(K).fill(0);
  const correct = new Array<number>(K).fill(0);
  const off = Array.from({ length: K }, () => [0, 0, 0]);
  let scored = 0;
  let skipped = 0;
  samples.forEach((s, i) => {
    if (s.gt.length !== 3 * K) fail(op, `gt of length ${3 * K}`, `length ${s.gt.length} in sample ${i}`);
    if (s.pred && s.pred.length !== 3 * K) fail(op, `pred of length ${3 * K} or null`, `length ${s.pred.length} in sample ${i}`);
    if (!s.bboxHead) {
      skipped++;
      return;
    }
    scored++;
    const h = posevalHeadSize(s.bboxHead);
    for (let k = 0; k < K; k++) {
      if (!use[k] || !isAnnotated(s.gt, k)) continue;
      counts[k]!++;
      if (!s.pred) continue;
      const dx = s.pred[3 * k]! - s.gt[3 * k]!;
      const dy = s.pred[3 * k + 1]! - s.gt[3 * k + 1]!;
      if (Math.hypot(dx, dy) <= alpha * h) correct[k]!++; // NaN is never correct
      if (Number.isFinite(dx) && Number.isFinite(dy)) {
        off[k]![0]! += dx / h;
        off[k]![1]! += dy / h;
        off[k]![2]!++;
      }
    }
  });
  const total = counts.reduce((a, b) => a + b, 0);
  const totalCorrect = correct.reduce((a, b) => a + b, 0);
  return {
    jointNames: [...names],
    perJoint: counts.map((c, k) => (c > 0 ? (100 * correct[k]!) / c : NaN)),
    counts,
    correct,
    overall: total > 0 ? (100 * totalCorrect) / total : NaN,
    total,
    totalCorrect,
    scored,
    skipped,
    meanOffset: off.map(([x, y, n]) => (n! > 0 ? ([x! / n!, y! / n!] as const) : ([NaN, NaN] as const))),
  };
}

/** PCKh of a group of joints (e.g. a joints.ts group): correct / counted over its slots, percent. */
export function pckhOfJoints(r: PckhResult, slots: readonly number[]): number {
  let c = 0;
  let n = 0;
  for (const k of slots) {
    c += r.correct[k] ?? 0;
    n += r.counts[k] ?? 0;
  }
  return n > 0 ? (100 * c) / n : NaN;
}

/**
 * The fixed-template reference: the mean pose of `people` with every annotated joint normalized
 * into its person box ((x − bx) / bw, (y − by) / bh). `[K·3]` normalized x, y and 1 where some
 * person has the joint annotated; NaN, NaN, 0 otherwise. People without a (non-empty) box are left out.
 */
export function meanBoxPose(people: readonly { readonly keypoints: ArrayLike<number>; readonly bbox: Box | null }[], numJoints: number): Float64Array {
  const sum = new Float64Array(3 * numJoints);
  for (const p of people) {
    const b = p.bbox;
    if (!b || !(b[2] > 0 && b[3] > 0)) continue;
    if (p.keypoints.length !== 3 * numJoints) fail('meanBoxPose', `keypoints of length ${3 * numJoints}`, `length ${p.keypoints.length}`);
    for (let k = 0; k < numJoints; k++) {
      if (!isAnnotated(p.keypoints, k)) continue;
      sum[3 * k]! += (p.keypoints[3 * k]! - b[0]) / b[2];
      sum[3 * k + 1]! += (p.keypoints[3 * k + 1]! - b[1]) / b[3];
      sum[3 * k + 2]!++;
    }
  }
  const out = new Float64Array(3 * numJoints);
  for (let k = 0; k < numJoints; k++) {
    const n = sum[3 * k + 2]!;
    out[3 * k] = n > 0 ? sum[3 * k]! / n : NaN;
    out[3 * k + 1] = n > 0 ? sum[3 * k + 1]! / n : NaN;
    out[3 * k + 2] = n > 0 ? 1 : 0;
  }
  return out;
}

/** A normalized template (meanBoxPose) placed in `box`: `[K·3]` x, y in pixels and its third value as the score. */
export function placeInBox(template: ArrayLike<number>, box: Box): Float64Array {
  const out = new Float64Array(template.length);
  for (let k = 0; 3 * k < template.length; k++) {
    out[3 * k] = box[0] + template[3 * k]! * box[2];
    out[3 * k + 1] = box[1] + template[3 * k + 1]! * box[3];
    out[3 * k + 2] = template[3 * k + 2]!;
  }
  return out;
}
