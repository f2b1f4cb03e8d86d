/**
 * Dataset readers on the real samples in ../shared/data (PoseTrack 2018 val files from mmpose's
 * test data, Sub-JHMDB), and the PoseTrack AP of ground truth and perturbed ground truth.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { POSETRACK, SUB_JHMDB, PENN_ACTION } from '../../models/pose/joints.js';
import { readFrame, readPoseTrackDir, readPoseTrackFile, readSubJhmdbFile } from '../../models/pose/datasets/io.js';
import { parsePennAction } from '../../models/pose/datasets/pennaction.js';
import { parseCocoVideos, parsePoseTrack17, predictionsToPoseTrack18Json, toPoseTrack18Json } from '../../models/pose/datasets/posetrack.js';
import type { VideoSequence } from '../../models/pose/datasets/types.js';
import { evaluatePoseTrack, POSEVAL_JOINTS, type PosevalPredPerson } from '../../models/pose/metrics/poseval.js';
import { evaluatePCK, pckSamples } from '../../models/pose/metrics/pck.js';
import { anyPolygonContains } from '../../models/pose/metrics/polygon.js';

const DATA = '/work/shared/data';
const PT = join(DATA, 'posetrack18-sample');
const JHMDB = join(DATA, 'jhmdb-sample');
const have = existsSync(PT) && existsSync(JHMDB);

/** Ground truth as predictions (score `score(j)`), with `edit` applied to each person's copy. */
function gtAsPredictions(videos: readonly VideoSequence[], edit?: (kp: number[], person: number) => void): Map<number, PosevalPredPerson[]> {
  const m = new Map<number, PosevalPredPerson[]>();
  let n = 0;
  for (const v of videos) {
    for (const f of v.frames) {
      m.set(f.id, f.people.map((p) => {
        const kp: number[] = [];
        for (let k = 0; k < v.keypointNames.length; k++) {
          const vis = p.keypoints[3 * k + 2]! > 0;
          kp.push(vis ? p.keypoints[3 * k]! : NaN, vis ? p.keypoints[3 * k + 1]! : NaN, 1);
        }
        edit?.(kp, n++);
        return { keypoints: kp };
      }));
    }
  }
  return m;
}

describe.skipIf(!have)('PoseTrack 2018 reader (real sample)', () => {
  it('reads the three per-video files with head boxes, ignore regions and labels', () => {
    const videos = readPoseTrackDir(join(PT, 'annotations', 'val'));
    expect(videos.map((v) => v.id).sort()).toEqual(['003418', '009473', '012834']);
    const v = videos.find((x) => x.id === '012834')!;
    expect(v.root).toBe(PT);
    expect(v.keypointNames).toEqual(POSETRACK.names);
    expect(v.frames).toHaveLength(1);
    const f = v.frames[0]!;
    expect(f.isLabeled).toBe(true);
    expect(f.id).toBe(10128340000);
    expect(f.people).toHaveLength(11);
    expect(f.ignoreRegions).toHaveLength(4);
    expect([f.width, f.height]).toEqual([1920, 1080]);
    const p = f.people[0]!;
    expect(p.trackId).toBe(0);
    expect(p.bboxHead).toEqual([378, 503, 44, 53]);
    expect(p.bbox![0]).toBeCloseTo(322.3, 6);
    expect(p.keypoints).toHaveLength(51);
    // the ears (slots 3, 4) are never annotated in PoseTrack
    for (const person of f.people) expect([person.keypoints[11], person.keypoints[14]]).toEqual([0, 0]);
    // num_keypoints in the file = annotated joints we read
    const annotated = f.people.map((q) => Array.from({ length: 17 }, (_, k) => q.keypoints[3 * k + 2]!).filter((x) => x > 0).length);
    expect(annotated).toEqual([11, 14, 11, 15, 12, 13, 14, 14, 13, 11, 14]);
  });

  it('reads the merged val file into the same videos, and decodes a frame', () => {
    const merged = readPoseTrackFile(join(PT, 'annotations', 'test_posetrack18_val.json'));
    const single = readPoseTrackDir(join(PT, 'annotations', 'val'));
    expect(merged.map((v) => v.id).sort()).toEqual(single.map((v) => v.id).sort());
    const v = merged.find((x) => x.id === '009473')!;
    const img = readFrame(v, v.frames[0]!);
    expect([img.width, img.height]).toEqual([1920, 1080]);
  });

  it('round-trips through the 2018 writer', () => {
    const videos = readPoseTrackDir(join(PT, 'annotations', 'val'));
    const again = parseCocoVideos(JSON.parse(JSON.stringify(toPoseTrack18Json(videos))), PT);
    expect(again.length).toBe(videos.length);
    for (const v of videos) {
      const w = again.find((x) => x.id === v.id)!;
      expect(w.frames[0]!.people.map((p) => Array.from(p.keypoints))).toEqual(v.frames[0]!.people.map((p) => Array.from(p.keypoints)));
      expect(w.frames[0]!.ignoreRegions).toEqual(v.frames[0]!.ignoreRegions);
      expect(w.frames[0]!.people.map((p) => p.bboxHead)).toEqual(v.frames[0]!.people.map((p) => p.bboxHead));
    }
  });
});

describe.skipIf(!have)('PoseTrack AP on the real sample', () => {
  const videos = readPoseTrackDir(join(PT, 'annotations', 'val'));
  const pt = (name: string): number => POSETRACK.names.indexOf(name);
  const pv = (name: string): number => (POSEVAL_JOINTS as readonly string[]).indexOf(name);

  it('ground truth as predictions gives 100 mAP on every joint', () => {
    const r = evaluatePoseTrack(videos, gtAsPredictions(videos));
    expect(r.numFrames).toBe(3);
    for (const n of r.nGT) expect(n).toBeGreaterThan(0);
    expect(r.ap).toEqual(new Array(15).fill(100));
    expect(r.table.mean).toBe(100);
  });

  it('dropping every right-ankle prediction costs exactly that joint: mean 14/15 · 100', () => {
    const r = evaluatePoseTrack(videos, gtAsPredictions(videos, (kp) => {
      kp[3 * pt('right_ankle')] = NaN;
    }));
    expect(r.ap[pv('right_ankle')]).toBe(0);
    expect(r.table.ankle).toBe(50);
    expect(r.table.mean).toBeCloseTo((14 * 100) / 15, 10);
  });

  it('moving every other left wrist far away, at a lower score, gives AP = (kept wrists) / (GT wrists)', () => {
    // The moved wrists sort after every correct one, so the curve reaches recall n_tp/nGT at
    // precision 1 and then only falls: AP = n_tp / nGT. The poses stay assigned to their ground
    // truth (they still match on all their other joints).
    const lw = pt('left_wrist');
    let kept = 0;
    let total = 0;
    const preds = gtAsPredictions(videos, (kp, n) => {
      if (Number.isNaN(kp[3 * lw]!)) return;
      total++;
      if (n % 2 === 0) {
        kp[3 * lw]! += 5000; // far outside the 1920-wide frame: never in an ignore region, never a match
        kp[3 * lw + 2] = 0.5;
      } else kept++;
    });
    const r = evaluatePoseTrack(videos, preds);
    // ground-truth left wrists inside ignore regions are not counted; here none are
    let inside = 0;
    for (const v of videos) for (const f of v.frames) for (const p of f.people) if (p.keypoints[3 * lw + 2]! > 0 && anyPolygonContains(f.ignoreRegions, p.keypoints[3 * lw]!, p.keypoints[3 * lw + 1]!)) inside++;
    expect(inside).toBe(0);
    expect(r.nGT[pv('left_wrist')]).toBe(total);
    expect(r.ap[pv('left_wrist')]).toBeCloseTo((100 * kept) / total, 10);
    expect(r.ap.filter((_, j) => j !== pv('left_wrist'))).toEqual(new Array(14).fill(100));
  });

  it('a shift within PCKh 0.5 keeps 100, beyond it every joint is lost', () => {
    // Shift each person's joints by 0.45 and 0.55 head sizes (head size = 0.6 · head-box diagonal).
    const people = videos.flatMap((v) => v.frames.flatMap((f) => f.people));
    const shift = (frac: number) => gtAsPredictions(videos, (kp, n) => {
      const h = people[n]!.bboxHead!;
      const d = frac * 0.6 * Math.hypot(h[2], h[3]);
      for (let k = 0; k < 17; k++) kp[3 * k + 1]! += d;
    });
    const near = evaluatePoseTrack(videos, shift(0.45));
    const far = evaluatePoseTrack(videos, shift(0.55));
    expect(far.ap).toEqual(new Array(15).fill(0));
    // A shifted point can fall into an ignore region and be dropped: count those misses and
    // predict the AP from them (recall loss only, precision stays 1).
    let expectedMean = 0;
    const lost = new Array<number>(15).fill(0);
    let n = 0;
    for (const v of videos) for (const f of v.frames) for (const p of f.people) {
      const d = 0.45 * 0.6 * Math.hypot(p.bboxHead![2], p.bboxHead![3]);
      POSEVAL_JOINTS.forEach((name, j) => {
        const k = POSETRACK.names.indexOf(name === 'neck' ? 'head_bottom' : name);
        if (!(p.keypoints[3 * k + 2]! > 0)) return;
        const x = p.keypoints[3 * k]!;
        const y = p.keypoints[3 * k + 1]!;
        if (!anyPolygonContains(f.ignoreRegions, x, y) && anyPolygonContains(f.ignoreRegions, x, y + d)) lost[j]!++;
      });
      n++;
    }
    expect(n).toBe(14);
    POSEVAL_JOINTS.forEach((_, j) => {
      const expected = (100 * (near.nGT[j]! - lost[j]!)) / near.nGT[j]!;
      expect(near.ap[j]).toBeCloseTo(expected, 10);
      expectedMean += expected / 15;
    });
    expect(near.table.mean).toBeCloseTo(expectedMean, 10);
  });

  it('does not score unlabeled frames', () => {
    // The same frame marked unlabeled, with garbage predictions: no effect.
    const unl: VideoSequence[] = videos.map((v) => ({ ...v, frames: [...v.frames, { ...v.frames[0]!, id: v.frames[0]!.id + 1, index: 1, isLabeled: false }] }));
    const preds = gtAsPredictions(videos);
    for (const v of videos) preds.set(v.frames[0]!.id + 1, [{ keypoints: new Array(51).fill(3) }]);
    const r = evaluatePoseTrack(unl, preds);
    expect(r.numFrames).toBe(3);
    expect(r.table.mean).toBe(100);
  });

  it('writes predictions in the submission layout (visibility 1, per-joint scores)', () => {
    const preds = [{ imageId: videos[0]!.frames[0]!.id, keypoints: Array.from({ length: 51 }, (_, i) => (i % 3 === 2 ? 0.25 : i)) }];
    const sub = predictionsToPoseTrack18Json(videos, preds);
    expect(sub.annotations).toHaveLength(1);
    expect(sub.annotations[0].scores).toEqual(new Array(17).fill(0.25));
    expect(sub.annotations[0].keypoints.slice(0, 6)).toEqual([0, 1, 1, 3, 4, 1]);
  });
});

describe('PoseTrack 2017 (annolist) reader', () => {
  it('converts poseval joint ids to the 17 PoseTrack slots and derives the box', () => {
    // id 13 = nose, 12 = neck (head_bottom), 0 = right_ankle in poseval's order.
    const json = {
      annolist: [
        {
          image: [{ name: 'images/bonn/000001_bonn/00001.jpg' }],
          imgnum: [1],
          is_labeled: [1],
          ignore_regions: [{ point: [{ x: [0], y: [0] }, { x: [10], y: [0] }, { x: [10], y: [10] }] }],
          annorect: [
            {
              x1: [10], y1: [20], x2: [40], y2: [60], track_id: [3],
              annopoints: [{ point: [
                { id: [13], x: [100], y: [50], is_visible: [1] },
                { id: [12], x: [100], y: [80], is_visible: [0] },
                { id: [0], x: [120], y: [250] },
              ] }],
            },
          ],
        },
        { image: [{ name: 'images/bonn/000001_bonn/00002.jpg' }], imgnum: [2], annorect: [] },
      ],
    };
    const v = parsePoseTrack17(json, '/data');
    expect(v.id).toBe('000001');
    expect(v.frames).toHaveLength(2);
    const p = v.frames[0]!.people[0]!;
    expect(p.trackId).toBe(3);
    expect(p.bboxHead).toEqual([10, 20, 30, 40]);
    expect(Array.from(p.keypoints.slice(0, 3))).toEqual([100, 50, 1]); // nose
    expect(Array.from(p.keypoints.slice(3, 6))).toEqual([100, 80, 0]); // head_bottom, not visible
    expect(Array.from(p.keypoints.slice(3 * 16, 3 * 16 + 3))).toEqual([120, 250, 1]); // right_ankle
    // box: x extent 100..120, y extent 50..250 → center (110, 150), size 1.3 · (20, 200)
    expect(p.bbox![0]).toBeCloseTo(97, 10);
    expect(p.bbox![1]).toBeCloseTo(20, 10);
    expect(p.bbox![2]).toBeCloseTo(26, 10);
    expect(p.bbox![3]).toBeCloseTo(260, 10);
    expect(v.frames[0]!.ignoreRegions).toEqual([{ x: [0, 10, 10], y: [0, 0, 10] }]);
    expect(v.frames[1]!.isLabeled).toBe(false);
    expect(() => parsePoseTrack17({ annolist: [{ image: [{ name: 'a/b/1.jpg' }], annorect: [{ annopoints: [{ point: [{ id: [15], x: [1], y: [1] }] }] }] }] }, '/')).toThrow(/readPoseTrack: expected point ids in 0..14, got 15/);
  });
});

describe.skipIf(!have)('Sub-JHMDB reader (real sample)', () => {
  it('reads the 15-joint COCO-style split file and its frames', () => {
    const videos = readSubJhmdbFile(join(JHMDB, 'test_jhmdb_sub1.json'));
    expect(videos).toHaveLength(3);
    expect(videos[0]!.keypointNames).toEqual(SUB_JHMDB.names);
    const f = videos[0]!.frames[0]!;
    expect(f.file).toBe('Frisbee_catch_f_cm_np1_ri_med_0/00001.png');
    expect(f.people[0]!.bbox).toEqual([79, 62, 54, 159]);
    expect(f.people[0]!.bboxHead).toBeNull();
    expect(f.people[0]!.keypoints[0]).toBeCloseTo(98.851746, 6);
    const img = readFrame(videos[0]!, f);
    expect([img.width, img.height]).toEqual([320, 240]);
  });
  it('PCK of the ground truth is 100 (torso and person size); a missing prediction counts as wrong', () => {
    const videos = readSubJhmdbFile(join(JHMDB, 'test_jhmdb_sub1.json'));
    const preds = new Map(videos.flatMap((v) => v.frames.map((f) => [f.id, f.people.map((p) => Array.from(p.keypoints))] as const)));
    for (const normalization of ['torso', 'person'] as const) {
      const r = evaluatePCK(pckSamples(videos, preds), { keypointNames: SUB_JHMDB.names, normalization });
      expect(r.scored).toBe(3);
      expect(r.perJoint).toEqual(new Array(15).fill(100));
    }
    // drop the predictions of one frame: 1 of 3 samples wrong on every joint
    preds.delete(videos[0]!.frames[0]!.id);
    const r = evaluatePCK(pckSamples(videos, preds), { keypointNames: SUB_JHMDB.names, normalization: 'torso' });
    expect(r.mean).toBeCloseTo(200 / 3, 10);
    // torso size of the first frame: left_shoulder (107.31, 103.37) to right_hip (96.91, 145.03)
    const kp = videos[0]!.frames[0]!.people[0]!.keypoints;
    expect(Math.hypot(kp[12]! - kp[15]!, kp[13]! - kp[16]!)).toBeCloseTo(Math.hypot(107.314272 - 96.914279, 103.37138 - 145.028519), 6);
  });
  it('rejects a file whose joints are not Sub-JHMDB', () => {
    expect(() => readSubJhmdbFile(join(PT, 'annotations', 'val', '009473_mpii_test.json'))).toThrow(/parseSubJhmdb: expected the Sub-JHMDB joints/);
  });
});

describe('Penn Action (converted json) reader', () => {
  const K = PENN_ACTION.numJoints;
  const row = (v: number) => new Array(K).fill(v);
  it('reads frames, joints, visibility and [x1, y1, x2, y2] boxes', () => {
    const json = {
      video: '0042', action: 'jump_rope', pose: 'front', train: 0, nframes: 2, dimensions: [360, 480, 2],
      x: [row(10), row(11)], y: [row(20), row(21)], visibility: [row(1), [0, ...row(1).slice(1)]],
      bbox: [[5, 6, 105, 206]],
    };
    const v = parsePennAction(json, '/penn');
    expect(v.id).toBe('0042');
    expect(v.train).toBe(false);
    expect(v.frames.map((f) => f.file)).toEqual(['frames/0042/000001.jpg', 'frames/0042/000002.jpg']);
    expect([v.frames[0]!.width, v.frames[0]!.height]).toEqual([480, 360]);
    expect(v.frames[0]!.people[0]!.bbox).toEqual([5, 6, 100, 200]);
    expect(v.frames[1]!.people[0]!.bbox).toBeNull(); // fewer bbox rows than frames
    expect(Array.from(v.frames[1]!.people[0]!.keypoints.slice(0, 6))).toEqual([11, 21, 0, 11, 21, 1]);
  });
  it('rejects rows of the wrong size', () => {
    expect(() => parsePennAction({ nframes: 1, x: [[1, 2]], y: [row(0)], visibility: [row(1)] }, '/')).toThrow(/parsePennAction: expected 'x' rows of 13 values/);
    expect(() => parsePennAction({ nframes: 2, x: [row(0)], y: [row(0)], visibility: [row(1)] }, '/')).toThrow(/expected 'x' with 2 rows, got 1 rows/);
  });
});
