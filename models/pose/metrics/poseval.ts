/**
 * PoseTrack multi-person pose estimation AP with the semantics of poseval (the official PoseTrack
 * evaluation: `eval_helpers.assignGTmulti`, `computeRPC`, `VOCap` and `evaluateAP.computeMetrics`).
 * See docs/metrics.md for the full definition; in short, per frame:
 *
 * 1. Frames without any ground-truth person are not scored (poseval's `cleanupData`).
 * 2. Ground-truth and predicted points strictly inside an ignore region are dropped; a person left
 *    without points is dropped (poseval's `removeIgnoredPoints`).
 * 3. dist[p, g, j] = ‖pred − gt‖ / headSize(g), headSize = 0.6 · ‖head-box diagonal‖;
 *    match = dist ≤ 0.5 (PCKh@0.5).
 * 4. pck[p, g] = Σ_j match / (number of annotated joints of g). Each prediction keeps only its best
 *    ground truth (first argmax); each ground truth then takes the prediction with the highest
 *    remaining pck (first argmax), unless that pck is 0.
 * 5. Every predicted joint of an assigned prediction is a (score, match) sample; every joint of an
 *    unassigned prediction is a (score, false) sample.
 *
 * Then per joint: samples sorted by score (descending), precision/recall curve, VOC AP (area under
 * the monotone precision envelope), ×100. A joint with no prediction has AP 0; a joint with
 * predictions but no ground truth has AP NaN (recall is 0/0) and is left out of the total, exactly
 * as in poseval. The total is the mean over the 15 joints whose AP is a number.
 */
import { posevalHeadSize } from './pckh.js';
import { fail } from '../../../engine/shape.js';
import type { Box } from '../datasets/types.js';
import { anyPolygonContains, type Polygon } from './polygon.js';

/** poseval's 15 joints, in poseval's order (its `Joint` class). */
export const POSEVAL_JOINTS = [
  'right_ankle', 'right_knee', 'right_hip', 'left_hip', 'left_knee', 'left_ankle',
  'right_wrist', 'right_elbow', 'right_shoulder', 'left_shoulder', 'left_elbow', 'left_wrist',
  'neck', 'nose', 'head_top',
] as const;

/** Other names the same joint goes by in annotation files (PoseTrack 2018 calls the neck `head_bottom`). */
const ALIASES: Record<string, readonly string[]> = { neck: ['neck', 'head_bottom'] };

/** The Head/Sho/Elb/Wri/Hip/Knee/Ank groups of poseval's `getCum`, as indices into POSEVAL_JOINTS. */
export const POSEVAL_GROUPS = {
  head: [14, 12, 13],
  shoulder: [8, 9],
  elbow: [7, 10],
  wrist: [6, 11],
  hip: [2, 3],
  knee: [1, 4],
  ankle: [0, 5],
} as const;

export interface PosevalGtPerson {
  /** `[K·3]` x, y, v in the order of `keypointNames`. A joint is annotated unless x = y = v = 0 (poseval's converter rule). */
  readonly keypoints: ArrayLike<number>;
  /** The head box `[x, y, w, h]`; required (poseval needs it for the head size). */
  readonly bboxHead: Box | null;
}

export interface PosevalPredPerson {
  /** `[K·3]` x, y, score in the order of `keypointNames`. A joint whose x or y is not finite is "not predicted". */
  readonly keypoints: ArrayLike<number>;
}

export interface PosevalFrame {
  readonly gt: readonly PosevalGtPerson[];
  readonly pred: readonly PosevalPredPerson[];
  readonly ignoreRegions?: readonly Polygon[];
}

export interface PosevalOptions {
  /** Joint names of the keypoint arrays; the 15 poseval joints are found by name. */
  readonly keypointNames: readonly string[];
  /** Match threshold on the head-normalized distance (poseval: 0.5). */
  readonly distThresh?: number;
}

export interface PosevalTable {
  readonly head: number;
  readonly shoulder: number;
  readonly elbow: number;
  readonly wrist: number;
  readonly hip: number;
  readonly knee: number;
  readonly ankle: number;
  /** Mean AP over the 15 joints (poseval's "Total"). */
  readonly mean: number;
}

export interface PosevalResult {
  /** POSEVAL_JOINTS. */
  readonly jointNames: readonly string[];
  /** AP per joint in percent (poseval order). */
  readonly ap: readonly number[];
  /** Precision and recall at the lowest score, per joint, in percent. */
  readonly precision: readonly number[];
  readonly recall: readonly number[];
  /** Annotated ground-truth joints per joint (after ignore regions). */
  readonly nGT: readonly number[];
  /** Head/Sho/Elb/Wri/Hip/Knee/Ank/Mean AP (percent). */
  readonly table: PosevalTable;
  /** Mean precision and recall over the joints (percent). */
  readonly totalPrecision: number;
  readonly totalRecall: number;
  /** Frames scored (frames with at least one ground-truth person). */
  readonly numFrames: number;
}

/** Index of each poseval joint in `names`; throws naming the missing joint. */
export function posevalJointIndex(names: readonly string[]): number[] {
  return POSEVAL_JOINTS.map((j) => {
    const candidates = ALIASES[j] ?? [j];
    const i = names.findIndex((n) => candidates.includes(n));
    if (i < 0) fail('evaluatePoseval', `keypointNames containing '${candidates.join("' or '")}'`, `[${names.join(', ')}]`);
    return i;
  });
}

interface Pt {
  x: number;
  y: number;
  s: number;
}


/**
 * Precision/recall points over samples sorted by score, descending (poseval's `computeRPC`). Ties
 * are taken later-sample-first, as numpy's reversed `argsort` does for small arrays.
 */
export function computeRPC(scores: readonly number[], labels: readonly boolean[], totalPos: number): { precision: number[]; recall: number[] } {
  const order = scores.map((_, i) => i).sort((a, b) => scores[b]! - scores[a]! || b - a);
  const precision: number[] = [];
  const recall: number[] = [];
  let npos = 0;
  order.forEach((idx, k) => {
    if (labels[idx]) npos++;
    recall.push(npos / totalPos);
    precision.push(npos / (k + 1));
  });
  return { precision, recall };
}

/** VOC average precision: area under the monotone (non-increasing) envelope of precision over recall (poseval's `VOCap`). */
export function vocAP(recall: readonly number[], precision: readonly number[]): number {
  const mrec = [0, ...recall, 1];
  const mpre = [0, ...precision, 0];
  for (let i = mpre.length - 2; i >= 0; i--) mpre[i] = Math.max(mpre[i]!, mpre[i + 1]!);
  // Math.max propagates NaN as numpy's max does, so a NaN recall curve gives a NaN AP.
  let ap = 0;
  for (let i = 1; i < mrec.length; i++) {
    if (mrec[i] !== mrec[i - 1]) ap += (mrec[i]! - mrec[i - 1]!) * mpre[i]!;
  }
  return ap;
}

function mean(v: readonly number[]): number {
  return v.reduce((a, b) => a + b, 0) / v.length;
}

/**
 * PoseTrack AP (poseval semantics) over `frames`; see the module comment and docs/metrics.md.
 * @throws Error when a joint of POSEVAL_JOINTS is missing from `keypointNames`, a keypoint array
 *   has the wrong length, or a ground-truth person has no head box.
 */
export function evaluatePoseval(frames: readonly PosevalFrame[], opts: PosevalOptions): PosevalResult {
  const op = 'evaluatePoseval';
  const K = opts.keypointNames.length;
  const thresh = opts.distThresh ?? 0.5;
  const jmap = posevalJointIndex(opts.keypointNames);
  const J = POSEVAL_JOINTS.length;
  const scores: number[][] = Array.from({ length: J }, () => []);
  const labels: boolean[][] = Array.from({ length: J }, () => []);
  const nGT = new Array<number>(J).fill(0);
  let numFrames = 0;

  frames.forEach((frame, fi) => {
    if (frame.gt.length === 0) return; // poseval's cleanupData: frames without GT people are not scored
    numFrames++;
    const regions = frame.ignoreRegions ?? [];
    const readPts = (kp: ArrayLike<number>, isGt: boolean, what: string): (Pt | null)[] => {
      if (kp.length !== 3 * K) fail(op, `${what} keypoints of length ${3 * K} (K = ${K})`, `length ${kp.length} in frame ${fi}`);
      return jmap.map((k) => {
        const x = kp[3 * k]!;
        const y = kp[3 * k + 1]!;
        const v = kp[3 * k + 2]!;
        if (isGt ? x === 0 && y === 0 && v === 0 : !(Number.isFinite(x) && Number.isFinite(y))) return null;
        return { x, y, s: v };
      });
    };
    let gts = frame.gt.map((g) => {
      if (!g.bboxHead) fail(op, 'a head box (bbox_head) for every ground-truth person', `a person without one in frame ${fi}`);
      return { pts: readPts(g.keypoints, true, 'ground-truth'), head: posevalHeadSize(g.bboxHead) };
    });
    let prs = frame.pred.map((p) => ({ pts: readPts(p.keypoints, false, 'predicted') }));
    if (regions.length > 0) {
      const drop = <T extends { pts: (Pt | null)[] }>(people: T[]): T[] =>
        people
          .map((p) => ({ ...p, pts: p.pts.map((q) => (q && anyPolygonContains(regions, q.x, q.y) ? null : q)) }))
          .filter((p) => p.pts.some((q) => q !== null));
      gts = drop(gts);
      prs = drop(prs);
    }
    for (const g of gts) g.pts.forEach((q, j) => q && nGT[j]!++);
    if (prs.length === 0) return;
    const push = (p: { pts: (Pt | null)[] }, m: boolean[] | null): void => {
      p.pts.forEach((q, j) => {
        if (!q) return;
        scores[j]!.push(q.s);
        labels[j]!.push(m ? m[j]! : false);
      });
    };
    if (gts.length === 0) {
      for (const p of prs) push(p, null); // no GT left: every prediction is a false positive
      return;
    }
    // match[p][g][j] and pck[p][g]
    const match = prs.map((p) =>
      gts.map((g) => p.pts.map((q, j) => {
        const t = g.pts[j];
        if (!q || !t) return false;
        return Math.hypot(t.x - q.x, t.y - q.y) / g.head <= thresh;
      })),
    );
    const nGTp = gts.map((g) => g.pts.filter((q) => q !== null).length);
    const pck = match.map((row) => row.map((m, gi) => {
      const c = m.filter(Boolean).length;
      return nGTp[gi]! > 0 ? c / nGTp[gi]! : c;
    }));
    // each prediction keeps its best GT only (first argmax)
    for (const row of pck) {
      let best = 0;
      for (let g = 1; g < row.length; g++) if (row[g]! > row[best]!) best = g;
      for (let g = 0; g < row.length; g++) if (g !== best) row[g] = 0;
    }
    // each GT takes the prediction with the highest remaining pck (first argmax), unless it is 0
    const prToGT = gts.map((_, g) => {
      let best = 0;
      for (let p = 1; p < prs.length; p++) if (pck[p]![g]! > pck[best]![g]!) best = p;
      return pck[best]![g]! === 0 ? -1 : best;
    });
    prs.forEach((p, pi) => {
      const g = prToGT.indexOf(pi);
      push(p, g >= 0 ? match[pi]![g]! : null);
    });
  });

  const ap: number[] = [];
  const precision: number[] = [];
  const recall: number[] = [];
  for (let j = 0; j < J; j++) {
    if (scores[j]!.length === 0) {
      ap.push(0);
      precision.push(0);
      recall.push(0);
      continue;
    }
    const rpc = computeRPC(scores[j]!, labels[j]!, nGT[j]!);
    ap.push(vocAP(rpc.recall, rpc.precision) * 100);
    precision.push(rpc.precision[rpc.precision.length - 1]! * 100);
    recall.push(rpc.recall[rpc.recall.length - 1]! * 100);
  }
  const nanFreeMean = (v: number[]): number => mean(v.filter((x) => !Number.isNaN(x)));
  const group = (idx: readonly number[]): number => mean(idx.map((i) => ap[i]!));
  const table: PosevalTable = {
    head: group(POSEVAL_GROUPS.head),
    shoulder: group(POSEVAL_GROUPS.shoulder),
    elbow: group(POSEVAL_GROUPS.elbow),
    wrist: group(POSEVAL_GROUPS.wrist),
    hip: group(POSEVAL_GROUPS.hip),
    knee: group(POSEVAL_GROUPS.knee),
    ankle: group(POSEVAL_GROUPS.ankle),
    mean: nanFreeMean(ap),
  };
  return {
    jointNames: [...POSEVAL_JOINTS],
    ap,
    precision,
    recall,
    nGT,
    table,
    totalPrecision: nanFreeMean(precision),
    totalRecall: nanFreeMean(recall),
    numFrames,
  };
}

/** The Head/Sho/Elb/Wri/Hip/Knee/Ank/Mean row as a Markdown table (one decimal, as poseval prints). */
export function formatPosevalTable(r: PosevalResult, label = 'AP'): string {
  const t = r.table;
  const cells = [t.head, t.shoulder, t.elbow, t.wrist, t.hip, t.knee, t.ankle, t.mean].map((v) => v.toFixed(1));
  return `| | Head | Sho | Elb | Wri | Hip | Knee | Ank | Mean |\n|---|---|---|---|---|---|---|---|---|\n| ${label} | ${cells.join(' | ')} |`;
}

/** The part of a frame the PoseTrack evaluation reads (datasets/types.ts `VideoFrame`). */
export interface PosevalVideoFrame {
  readonly id: number;
  readonly isLabeled: boolean;
  readonly ignoreRegions: readonly Polygon[];
  readonly people: readonly PosevalGtPerson[];
}

/** The part of a video the PoseTrack evaluation reads (datasets/types.ts `VideoSequence`). */
export interface PosevalVideo<F extends PosevalVideoFrame = PosevalVideoFrame> {
  readonly keypointNames: readonly string[];
  readonly frames: readonly F[];
}

export interface PoseTrackEvalOptions<F extends PosevalVideoFrame = PosevalVideoFrame> {
  /**
   * Scores only the labeled frames for which this returns true, e.g. SynthPose's occluded or
   * blurred frames: `(f) => f.flags?.occluded === true`.
   */
  readonly filter?: (frame: F) => boolean;
}

/**
 * PoseTrack AP of `predictions` (keyed by image id; `[K·3]` x, y, score in the videos' joint order)
 * against the ground truth of `videos`. Only labeled frames are scored (`is_labeled`); within
 * those, evaluatePoseval's rules apply (ignore regions, frames without people skipped).
 * @throws Error when the videos do not share one joint list, or as evaluatePoseval.
 */
export function evaluatePoseTrack<F extends PosevalVideoFrame>(
  videos: readonly PosevalVideo<F>[],
  predictions: ReadonlyMap<number, readonly PosevalPredPerson[]>,
  opts: PoseTrackEvalOptions<F> = {},
): PosevalResult {
  const names = videos[0]?.keypointNames ?? [];
  const frames: PosevalFrame[] = [];
  for (const v of videos) {
    if (v.keypointNames.length !== names.length || v.keypointNames.some((n, i) => n !== names[i])) {
      fail('evaluatePoseTrack', `one joint list for all videos [${names.join(', ')}]`, `[${v.keypointNames.join(', ')}]`);
    }
    for (const f of v.frames) {
      if (!f.isLabeled || (opts.filter && !opts.filter(f))) continue;
      frames.push({ gt: f.people, pred: predictions.get(f.id) ?? [], ignoreRegions: f.ignoreRegions });
    }
  }
  return evaluatePoseval(frames, { keypointNames: names });
}
