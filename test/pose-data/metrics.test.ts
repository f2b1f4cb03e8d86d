/**
 * poseval-style PoseTrack AP and PCK on hand-computed cases. Every expected number is derived in the
 * comments from the definitions in docs/metrics.md, not from running the code.
 */
import { describe, expect, it } from 'vitest';
import { computeRPC, evaluatePoseval, formatPosevalTable, POSEVAL_JOINTS, vocAP, type PosevalFrame } from '../../models/pose/metrics/poseval.js';
import { evaluatePCK, personSize, torsoSize } from '../../models/pose/metrics/pck.js';
import { polygonContains } from '../../models/pose/metrics/polygon.js';
import type { Box } from '../../models/pose/datasets/types.js';

const NAMES = [...POSEVAL_JOINTS];
const J = NAMES.length;
const NOSE = NAMES.indexOf('nose');
const NECK = NAMES.indexOf('neck');
// Head box 30 x 40: diagonal 50, head size 0.6 · 50 = 30, so a match needs distance ≤ 15 px.
const HEAD: Box = [0, 0, 30, 40];

/** A keypoint array with only the given joints set. */
function kp(entries: Record<number, [number, number, number]>): number[] {
  const a = new Array<number>(3 * J).fill(0);
  for (const [j, [x, y, v]] of Object.entries(entries)) {
    a[3 * Number(j)] = x;
    a[3 * Number(j) + 1] = y;
    a[3 * Number(j) + 2] = v;
  }
  return a;
}
/** A prediction: unlisted joints are NaN (not predicted). */
function pr(entries: Record<number, [number, number, number]>): number[] {
  const a = new Array<number>(3 * J).fill(NaN);
  for (const [j, [x, y, s]] of Object.entries(entries)) {
    a[3 * Number(j)] = x;
    a[3 * Number(j) + 1] = y;
    a[3 * Number(j) + 2] = s;
  }
  return a;
}
function fullPose(x0: number, y0: number, v = 1): Record<number, [number, number, number]> {
  const e: Record<number, [number, number, number]> = {};
  for (let j = 0; j < J; j++) e[j] = [x0 + 10 * j, y0 + 3 * j, v];
  return e;
}

describe('computeRPC and vocAP (poseval computeRPC / VOCap)', () => {
  it('gives the precision/recall points and the area under the precision envelope', () => {
    // scores .9 (TP), .8 (FP), .7 (TP), 4 positives in all:
    // recall .25 .25 .5, precision 1 .5 2/3; envelope 1 1 2/3 2/3 0 over mrec 0 .25 .25 .5 1
    // AP = .25·1 + .25·(2/3) + .5·0 = 0.41666...
    const { precision, recall } = computeRPC([0.9, 0.8, 0.7], [true, false, true], 4);
    expect(recall).toEqual([0.25, 0.25, 0.5]);
    expect(precision[0]).toBe(1);
    expect(precision[1]).toBe(0.5);
    expect(precision[2]).toBeCloseTo(2 / 3, 12);
    expect(vocAP(recall, precision)).toBeCloseTo(0.25 + 0.25 * (2 / 3), 12);
  });

  it('sorts by score and takes tied scores later-sample-first (numpy argsort()[::-1])', () => {
    // Tied scores: order is sample 1 (FP) then sample 0 (TP): precision 0, 1/2; recall 0, 1.
    const r = computeRPC([0.5, 0.5], [true, false], 1);
    expect(r.precision).toEqual([0, 0.5]);
    expect(r.recall).toEqual([0, 1]);
    // Unsorted input is sorted: .2 (TP) comes after .9 (TP) and .5 (FP).
    const s = computeRPC([0.2, 0.9, 0.5], [true, true, false], 2);
    expect(s.recall).toEqual([0.5, 0.5, 1]);
    expect(s.precision[2]).toBeCloseTo(2 / 3, 12);
  });
});

describe('evaluatePoseval: hand-computed cases', () => {
  it('perfect predictions give AP 100 for every joint', () => {
    const frames: PosevalFrame[] = [
      { gt: [{ keypoints: kp(fullPose(100, 100)), bboxHead: HEAD }], pred: [{ keypoints: pr(fullPose(100, 100)) }] },
    ];
    const r = evaluatePoseval(frames, { keypointNames: NAMES });
    expect(r.ap).toEqual(new Array(J).fill(100));
    expect(r.table.mean).toBe(100);
    expect(r.table.head).toBe(100);
    expect(r.nGT).toEqual(new Array(J).fill(1));
  });

  it('one joint over four frames: TP .9, FP .8, TP .7, one missed ground truth → AP 41.67', () => {
    // Only the nose is annotated. Distances: 5 (≤ 15, TP), 30 (> 15: the prediction matches no
    // joint, pck 0, so it is unassigned and a false positive), 1 (TP); frame 4 has no prediction.
    // nGT = 4 → AP = 100·(.25·1 + .25·2/3) = 41.667 (as in the computeRPC case above).
    const g = (x: number, y: number): PosevalFrame['gt'][number] => ({ keypoints: kp({ [NOSE]: [x, y, 1] }), bboxHead: HEAD });
    const frames: PosevalFrame[] = [
      { gt: [g(100, 100)], pred: [{ keypoints: pr({ [NOSE]: [100, 105, 0.9] }) }] },
      { gt: [g(100, 100)], pred: [{ keypoints: pr({ [NOSE]: [100, 130, 0.8] }) }] },
      { gt: [g(100, 100)], pred: [{ keypoints: pr({ [NOSE]: [101, 100, 0.7] }) }] },
      { gt: [g(200, 200)], pred: [] },
    ];
    const r = evaluatePoseval(frames, { keypointNames: NAMES });
    expect(r.ap[NOSE]).toBeCloseTo((100 * 5) / 12, 10);
    expect(r.nGT[NOSE]).toBe(4);
    // Joints with neither ground truth nor predictions get AP 0 in poseval and still count in the
    // mean: mean = 41.667 / 15; Head = mean(head_top 0, neck 0, nose 41.667).
    expect(r.ap.filter((_, j) => j !== NOSE)).toEqual(new Array(J - 1).fill(0));
    expect(r.table.mean).toBeCloseTo((100 * 5) / 12 / 15, 10);
    expect(r.table.head).toBeCloseTo((100 * 5) / 12 / 3, 10);
    expect(r.recall[NOSE]).toBe(50);
    expect(r.precision[NOSE]).toBeCloseTo(200 / 3, 10);
  });

  it('assigns at most one prediction per ground truth: a second, weaker match is a false positive', () => {
    // G0 and G1 have nose and neck annotated. pck (matched joints / 2):
    //   P0 (score .9) matches G1 on both: pck(P0,G1) = 1
    //   P1 (score .8) matches G1 on the nose only: pck(P1,G1) = .5
    //   P2 (score .6) matches G0 on the nose only: pck(P2,G0) = .5
    // G1 takes P0 (1 > .5), G0 takes P2, P1 is unassigned: both its joints are false positives.
    // nose samples: .9 T, .8 F, .6 T; nGT 2 → recall .5 .5 1, precision 1 .5 2/3
    //   AP = .5·1 + .5·(2/3) = 83.33
    // neck samples: .9 T, .8 F, .6 F (P2's neck is far from G0's) → recall .5 .5 .5 → AP = 50
    const G0 = { keypoints: kp({ [NOSE]: [100, 100, 1], [NECK]: [100, 140, 1] }), bboxHead: HEAD };
    const G1 = { keypoints: kp({ [NOSE]: [300, 100, 1], [NECK]: [300, 140, 1] }), bboxHead: HEAD };
    const P0 = { keypoints: pr({ [NOSE]: [302, 100, 0.9], [NECK]: [300, 143, 0.9] }) };
    const P1 = { keypoints: pr({ [NOSE]: [298, 101, 0.8], [NECK]: [300, 190, 0.8] }) };
    const P2 = { keypoints: pr({ [NOSE]: [101, 99, 0.6], [NECK]: [100, 200, 0.6] }) };
    const r = evaluatePoseval([{ gt: [G0, G1], pred: [P0, P1, P2] }], { keypointNames: NAMES });
    expect(r.ap[NOSE]).toBeCloseTo(100 * (0.5 + 0.5 * (2 / 3)), 10);
    expect(r.ap[NECK]).toBeCloseTo(50, 10);
  });

  it('drops points strictly inside ignore regions, from ground truth and predictions alike', () => {
    // A correct prediction (score 1) plus a false person (score 2) standing far away.
    // Without ignore regions, per joint: 2 F, 1 T with nGT 1 → precision 0, .5; recall 0, 1;
    //   envelope .5 over recall 0 → 1: AP = 50 for every joint.
    // With a region covering the false person, its points are dropped: AP = 100.
    const gt = [{ keypoints: kp(fullPose(100, 100)), bboxHead: HEAD }];
    const pred = [{ keypoints: pr(fullPose(100, 100)) }, { keypoints: pr(Object.fromEntries(Object.entries(fullPose(1000, 500)).map(([j, [x, y]]) => [j, [x, y, 2]]))) }];
    const region = { x: [990, 1200, 1200, 990], y: [490, 490, 600, 600] };
    expect(evaluatePoseval([{ gt, pred }], { keypointNames: NAMES }).ap).toEqual(new Array(J).fill(50));
    expect(evaluatePoseval([{ gt, pred, ignoreRegions: [region] }], { keypointNames: NAMES }).ap).toEqual(new Array(J).fill(100));
    // A region over the ground-truth nose only: that GT joint is dropped (nGT 0), and so is the
    // matching predicted nose, which lies in the same region; the nose then has no prediction: AP 0.
    const noseRegion = { x: [90, 110, 110, 90], y: [90, 90, 110, 110] };
    const r = evaluatePoseval([{ gt, pred: [pred[0]!], ignoreRegions: [noseRegion] }], { keypointNames: NAMES });
    const nose = NAMES.indexOf(NAMES[0]!); // joint 0 sits at (100, 100) in fullPose
    expect(r.nGT[nose]).toBe(0);
    expect(r.ap[nose]).toBe(0);
    expect(r.nGT.filter((_, j) => j !== nose)).toEqual(new Array(J - 1).fill(1));
  });

  it('does not score frames without ground-truth people, and counts missed joints', () => {
    // Frame 2 has no people: its (wrong) prediction is ignored, as poseval's cleanupData does.
    // Frame 3 has a person but no prediction: nGT 2 per joint, one TP each → AP 50.
    const gt = { keypoints: kp(fullPose(100, 100)), bboxHead: HEAD };
    const frames: PosevalFrame[] = [
      { gt: [gt], pred: [{ keypoints: pr(fullPose(100, 100)) }] },
      { gt: [], pred: [{ keypoints: pr(fullPose(500, 500)) }] },
      { gt: [gt], pred: [] },
    ];
    const r = evaluatePoseval(frames, { keypointNames: NAMES });
    expect(r.numFrames).toBe(2);
    expect(r.ap).toEqual(new Array(J).fill(50));
  });

  it('treats a prediction for a joint without ground truth as undefined (NaN), left out of the mean', () => {
    // Ground truth annotates all joints except head_top; the prediction has all 15.
    // head_top: one FP and nGT 0 → recall 0/0 → AP NaN (poseval); the mean is over the 14 others.
    const top = NAMES.indexOf('head_top');
    const e = fullPose(100, 100);
    delete e[top];
    const r = evaluatePoseval([{ gt: [{ keypoints: kp(e), bboxHead: HEAD }], pred: [{ keypoints: pr(fullPose(100, 100)) }] }], { keypointNames: NAMES });
    expect(Number.isNaN(r.ap[top]!)).toBe(true);
    expect(r.table.mean).toBe(100);
    expect(Number.isNaN(r.table.head)).toBe(true);
  });

  it('maps joints by name, including PoseTrack 2018 head_bottom for the neck', () => {
    const names18 = ['nose', 'head_bottom', 'head_top', 'left_ear', 'right_ear', 'left_shoulder', 'right_shoulder', 'left_elbow', 'right_elbow', 'left_wrist', 'right_wrist', 'left_hip', 'right_hip', 'left_knee', 'right_knee', 'left_ankle', 'right_ankle'];
    const g = new Array<number>(51).fill(0);
    g[3] = 10; // head_bottom at (10, 20)
    g[4] = 20;
    g[5] = 1;
    const p = new Array<number>(51).fill(NaN);
    p[3] = 12;
    p[4] = 20;
    p[5] = 0.7;
    const r = evaluatePoseval([{ gt: [{ keypoints: g, bboxHead: HEAD }], pred: [{ keypoints: p }] }], { keypointNames: names18 });
    expect(r.ap[NECK]).toBe(100);
    expect(r.nGT.reduce((a, b) => a + b, 0)).toBe(1);
  });

  it('throws on a missing head box, a missing joint name and a wrong keypoint length', () => {
    const ok = { keypoints: kp(fullPose(0, 0)), bboxHead: HEAD };
    expect(() => evaluatePoseval([{ gt: [{ ...ok, bboxHead: null }], pred: [] }], { keypointNames: NAMES })).toThrow(/evaluatePoseval: expected a head box/);
    expect(() => evaluatePoseval([], { keypointNames: NAMES.slice(1) })).toThrow(/evaluatePoseval: expected keypointNames containing 'right_ankle'/);
    expect(() => evaluatePoseval([{ gt: [{ keypoints: [1, 2, 3], bboxHead: HEAD }], pred: [] }], { keypointNames: NAMES })).toThrow(/expected ground-truth keypoints of length 45/);
  });

  it('formats the Head/Sho/.../Mean table', () => {
    const r = evaluatePoseval([{ gt: [{ keypoints: kp(fullPose(0, 0)), bboxHead: HEAD }], pred: [{ keypoints: pr(fullPose(0, 0)) }] }], { keypointNames: NAMES });
    expect(formatPosevalTable(r)).toContain('| AP | 100.0 | 100.0 | 100.0 | 100.0 | 100.0 | 100.0 | 100.0 | 100.0 |');
  });
});

describe('polygonContains (shapely Polygon.contains)', () => {
  const square = { x: [0, 10, 10, 0], y: [0, 0, 10, 10] };
  it('is true strictly inside, false outside and on the boundary', () => {
    expect(polygonContains(square, 5, 5)).toBe(true);
    expect(polygonContains(square, 11, 5)).toBe(false);
    expect(polygonContains(square, 10, 5)).toBe(false); // on an edge
    expect(polygonContains(square, 0, 0)).toBe(false); // on a vertex
    expect(polygonContains(square, 5, 0)).toBe(false);
  });
  it('handles concave polygons and degenerate regions', () => {
    // A U shape: the notch (x 4..6, y 5..10) is outside.
    const u = { x: [0, 10, 10, 6, 6, 4, 4, 0], y: [0, 0, 10, 10, 5, 5, 10, 10] };
    expect(polygonContains(u, 5, 8)).toBe(false);
    expect(polygonContains(u, 2, 8)).toBe(true);
    expect(polygonContains(u, 5, 2)).toBe(true);
    expect(polygonContains({ x: [0, 1], y: [0, 1] }, 0.5, 0.5)).toBe(false);
  });
});

describe('evaluatePCK', () => {
  const names = ['left_shoulder', 'right_hip', 'head'];
  // Torso: shoulder (0, 0) to hip (0, 10) → 10; α = 0.2 → threshold 2 px.
  const gt = [0, 0, 1, 0, 10, 1, 5, 5, 1];

  it('torso normalization: correct iff distance ≤ 0.2 · torso', () => {
    const samples = [
      { gt, pred: [0, 0, 1, 0, 10, 1, 5, 6.9, 1] }, // head off by 1.9: correct
      { gt, pred: [0, 0, 1, 0, 10, 1, 7, 5, 1] }, // head off by 2.0: correct (≤)
      { gt, pred: [0, 2.1, 1, 0, 10, 1, 5, 7.1, 1] }, // shoulder and head off by 2.1: wrong
    ];
    const r = evaluatePCK(samples, { keypointNames: names, normalization: 'torso' });
    // shoulder 2/3, hip 3/3, head 2/3
    expect(r.perJoint[0]).toBeCloseTo(200 / 3, 10);
    expect(r.perJoint[1]).toBe(100);
    expect(r.perJoint[2]).toBeCloseTo(200 / 3, 10);
    expect(r.mean).toBeCloseTo((200 / 3 + 100 + 200 / 3) / 3, 10);
    expect(r.overall).toBeCloseTo((100 * 7) / 9, 10);
    expect(r.counts).toEqual([3, 3, 3]);
  });

  it('person normalization uses max(w, h) of the box, skips invisible joints and box-less frames', () => {
    // Box 20 x 50 → L = 50, threshold 10 px. Head is invisible in the second sample.
    const samples = [
      { gt, pred: [9, 0, 1, 0, 10, 1, 5, 16, 1], bbox: [0, 0, 20, 50] as Box }, // shoulder 9 ok, head 11 wrong
      { gt: [0, 0, 1, 0, 10, 1, 5, 5, 0], pred: [0, 0, 1, 30, 10, 1, 99, 99, 1], bbox: [0, 0, 50, 20] as Box }, // hip 30 wrong
      { gt, pred: [0, 0, 1, 0, 10, 1, 5, 5, 1], bbox: null }, // skipped
    ];
    const r = evaluatePCK(samples, { keypointNames: names, normalization: 'person' });
    expect(r.skipped).toBe(1);
    expect(r.scored).toBe(2);
    expect(r.counts).toEqual([2, 2, 1]);
    expect(r.perJoint).toEqual([100, 50, 0]);
  });

  it('skips torso-less frames and validates its input', () => {
    expect(torsoSize([0, 0, 0, 0, 10, 1, 0, 0, 1], 0, 1)).toBeNull();
    expect(personSize([0, 0, 0, 0])).toBeNull();
    const r = evaluatePCK([{ gt: [0, 0, 0, 0, 10, 1, 5, 5, 1], pred: gt }], { keypointNames: names, normalization: 'torso' });
    expect(r.skipped).toBe(1);
    expect(Number.isNaN(r.mean)).toBe(true);
    expect(() => evaluatePCK([{ gt, pred: [1, 2] }], { keypointNames: names, normalization: 'torso' })).toThrow(/evaluatePCK: expected pred of length 9/);
    expect(() => evaluatePCK([], { keypointNames: ['a'], normalization: 'torso' })).toThrow(/evaluatePCK: expected torso joints 'left_shoulder' and 'right_hip'/);
    expect(() => evaluatePCK([], { keypointNames: names, normalization: 'torso', alpha: 0 })).toThrow(/expected alpha > 0/);
  });
});
