/**
 * The greedy pose tracker (models/pose/track.ts) on synthetic people: crossing paths, dropouts
 * shorter and longer than maxAge, new people, OKS and IoU similarities checked against the COCO
 * formula by hand, empty frames and malformed input.
 */
import { describe, expect, it } from 'vitest';
import { boxIou, PoseTracker, type DetectedPerson } from '../../models/pose/track.js';
import { COCO17 } from '../../models/pose/joints.js';

/** A standing pose in COCO order, about 200 px tall at scale 1, centred on (cx, cy). */
const TEMPLATE: [number, number][] = [
  [0, -80], [-5, -85], [5, -85], [-12, -82], [12, -82], // nose, eyes, ears
  [-22, -55], [22, -55], [-28, -25], [28, -25], [-30, 5], [30, 5], // shoulders, elbows, wrists
  [-14, 5], [14, 5], [-15, 50], [15, 50], [-15, 95], [15, 95], // hips, knees, ankles
];

function person(cx: number, cy: number, scale = 1, kpScore = 0.9): DetectedPerson {
  const keypoints = TEMPLATE.map(([dx, dy]) => ({ x: cx + dx * scale, y: cy + dy * scale, score: kpScore }));
  const xs = keypoints.map((k) => k.x);
  const ys = keypoints.map((k) => k.y);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const m = 10 * scale;
  return { keypoints, box: [x0 - m, y0 - m, x1 - x0 + 2 * m, y1 - y0 + 2 * m], score: 0.8 };
}

const ids = (out: { trackId: number }[]): number[] => out.map((p) => p.trackId);

describe('PoseTracker: identities', () => {
  for (const metric of ['oks', 'iou'] as const) {
    it(`two people crossing paths keep their ids (${metric})`, () => {
      const tracker = new PoseTracker({ metric });
      // A walks right at y = 200; B, nearer the camera (larger, lower), walks left; they cross at x ≈ 300.
      const seen: Record<'A' | 'B', Set<number>> = { A: new Set(), B: new Set() };
      for (let f = 0; f < 21; f++) {
        const a = person(150 + 15 * f, 200, 1);
        const b = person(450 - 15 * f, 250, 1.25);
        // the detector's order changes from frame to frame
        const dets = f % 2 === 0 ? [a, b] : [b, a];
        const out = tracker.update(dets, f);
        const byPerson = f % 2 === 0 ? { A: out[0]!, B: out[1]! } : { A: out[1]!, B: out[0]! };
        seen.A.add(byPerson.A.trackId);
        seen.B.add(byPerson.B.trackId);
        expect(byPerson.A.keypoints).toBe(a.keypoints);
      }
      expect([...seen.A]).toEqual([1]);
      expect([...seen.B]).toEqual([2]);
    });
  }

  it('a person missing for up to maxAge frames keeps the id, longer gets a new one', () => {
    const tracker = new PoseTracker(); // maxAge 3
    expect(ids(tracker.update([person(100, 200)], 0))).toEqual([1]);
    // gone for frames 1 and 2, back at frame 3 (slightly moved)
    tracker.update([], 1);
    tracker.update([], 2);
    expect(ids(tracker.update([person(106, 200)], 3))).toEqual([1]);
    // gone for exactly maxAge = 3 frames (4, 5, 6): still the same person
    for (const f of [4, 5, 6]) tracker.update([], f);
    expect(ids(tracker.update([person(110, 200)], 7))).toEqual([1]);
    // gone for 4 frames (8..11): the track died, a new id starts
    for (const f of [8, 9, 10, 11]) tracker.update([], f);
    expect(ids(tracker.update([person(110, 200)], 12))).toEqual([2]);
    expect(tracker.tracks().map((t) => t.id)).toEqual([2]);
  });

  it('skipped frame numbers count as missed frames', () => {
    const tracker = new PoseTracker({ maxAge: 2 });
    tracker.update([person(100, 200)], 0);
    expect(ids(tracker.update([person(100, 200)], 3))).toEqual([1]); // missed 1, 2
    expect(ids(tracker.update([person(100, 200)], 7))).toEqual([2]); // missed 4, 5, 6
  });

  it('a new person gets the next id and the others keep theirs', () => {
    const tracker = new PoseTracker();
    expect(ids(tracker.update([person(100, 200), person(400, 200)], 0))).toEqual([1, 2]);
    expect(ids(tracker.update([person(600, 220), person(402, 200), person(103, 200)], 1))).toEqual([3, 2, 1]);
    // ids are never reused: after person 2 leaves for good, a newcomer is 4
    for (let f = 2; f < 7; f++) tracker.update([person(103, 200), person(600, 220)], f);
    expect(ids(tracker.update([person(103, 200), person(600, 220), person(400, 200)], 7))).toEqual([1, 3, 4]);
  });

  it('greedy: the most similar pair is assigned first, the other detection starts a track', () => {
    const tracker = new PoseTracker({ metric: 'iou' });
    tracker.update([person(300, 200)], 0);
    // both overlap the track's last box; the nearer one (IoU higher) keeps id 1
    expect(ids(tracker.update([person(330, 200), person(310, 200)], 1))).toEqual([2, 1]);
  });

  it('empty frames are fine, before and between detections', () => {
    const tracker = new PoseTracker();
    expect(tracker.update([], 0)).toEqual([]);
    expect(ids(tracker.update([person(100, 200)], 1))).toEqual([1]);
    expect(tracker.update([], 2)).toEqual([]);
    expect(tracker.tracks().map((t) => [t.id, t.lastFrame])).toEqual([[1, 1]]);
  });

  it('reset() forgets the tracks and restarts ids and frame numbers', () => {
    const tracker = new PoseTracker();
    tracker.update([person(100, 200), person(300, 200)], 5);
    tracker.reset();
    expect(tracker.tracks()).toEqual([]);
    expect(ids(tracker.update([person(300, 200)], 0))).toEqual([1]);
  });

  it('returns copies with trackId, in input order, without touching the input', () => {
    const tracker = new PoseTracker();
    const p = person(100, 200);
    const [out] = tracker.update([p], 0);
    expect(out).not.toBe(p);
    expect(out).toEqual({ ...p, trackId: 1 });
    expect('trackId' in p).toBe(false);
  });
});

describe('PoseTracker: similarities', () => {
  it('OKS is the COCO formula with the track box area as scale, over confident keypoints only', () => {
    const tracker = new PoseTracker();
    const track = person(200, 200);
    expect(tracker.similarity(track, track)).toBeCloseTo(1, 12);
    // every keypoint moved by (3, 4): d² = 25
    const moved: DetectedPerson = { ...track, keypoints: track.keypoints.map((k) => ({ ...k, x: k.x + 3, y: k.y + 4 })) };
    const area = track.box[2] * track.box[3];
    const sig = COCO17.oksSigmas!;
    const expected = sig.reduce((s, σ) => s + Math.exp(-25 / (2 * area * (2 * σ) ** 2)), 0) / 17;
    expect(tracker.similarity(moved, track)).toBeCloseTo(expected, 12);
    // the nose scoring below minKeypointScore (0.3) in either pose drops it from the mean
    const noNose: DetectedPerson = { ...moved, keypoints: moved.keypoints.map((k, i) => (i === 0 ? { ...k, score: 0.3 } : k)) };
    const withoutNose = sig.slice(1).reduce((s, σ) => s + Math.exp(-25 / (2 * area * (2 * σ) ** 2)), 0) / 16;
    expect(tracker.similarity(noNose, track)).toBeCloseTo(withoutNose, 12);
    const trackNoNose = track.keypoints.map((k, i) => (i === 0 ? { ...k, score: 0.3 } : k));
    expect(tracker.similarity(moved, { ...track, keypoints: trackNoNose })).toBeCloseTo(withoutNose, 12);
    // the track's box sets the scale: a bigger track box makes the same shift more similar
    const bigTrack: DetectedPerson = { ...track, box: [track.box[0], track.box[1], track.box[2] * 2, track.box[3] * 2] };
    expect(tracker.similarity(moved, bigTrack)).toBeGreaterThan(tracker.similarity(moved, track));
  });

  it('OKS with fewer than minKeypoints confident keypoints is 0, so such people never match', () => {
    const tracker = new PoseTracker();
    const faint = (cx: number): DetectedPerson => {
      const p = person(cx, 200);
      return { ...p, keypoints: p.keypoints.map((k, i) => ({ ...k, score: i < 3 ? 0.9 : 0.1 })) };
    };
    expect(tracker.similarity(faint(100), faint(100))).toBe(0);
    expect(ids(tracker.update([faint(100)], 0))).toEqual([1]);
    expect(ids(tracker.update([faint(100)], 1))).toEqual([2]);
    // the IoU tracker does not look at keypoints
    const iou = new PoseTracker({ metric: 'iou' });
    iou.update([faint(100)], 0);
    expect(ids(iou.update([faint(105)], 1))).toEqual([1]);
  });

  it('OKS separates two people side by side that IoU would link at a low threshold', () => {
    const a = person(200, 200);
    const b = person(250, 200); // half a box width away
    const oks = new PoseTracker();
    expect(oks.similarity(b, a)).toBeLessThan(0.05);
    expect(boxIou(a.box, b.box)).toBeGreaterThan(0.15);
    expect(boxIou(a.box, b.box)).toBeLessThan(0.3);
  });

  it('IoU of [x, y, w, h] boxes', () => {
    expect(boxIou([0, 0, 10, 10], [0, 0, 10, 10])).toBe(1);
    expect(boxIou([0, 0, 10, 10], [5, 0, 10, 10])).toBeCloseTo(50 / 150, 12);
    expect(boxIou([0, 0, 10, 10], [20, 20, 5, 5])).toBe(0);
    expect(boxIou([0, 0, 0, 0], [0, 0, 0, 0])).toBe(0);
  });

  it('custom threshold and falloff', () => {
    const strict = new PoseTracker({ threshold: 0.99 });
    strict.update([person(100, 200)], 0);
    expect(ids(strict.update([person(104, 200)], 1))).toEqual([2]);
    const wide = new PoseTracker({ keypointFalloff: Array(17).fill(1), threshold: 0.9 });
    wide.update([person(100, 200)], 0);
    expect(ids(wide.update([person(130, 200)], 1))).toEqual([1]);
  });

  it('defaults: OKS 0.2, IoU 0.3, maxAge 3, COCO sigmas', () => {
    const t = new PoseTracker();
    expect([t.metric, t.threshold, t.maxAge, t.minKeypointScore, t.minKeypoints]).toEqual(['oks', 0.2, 3, 0.3, 4]);
    expect(t.keypointFalloff).toEqual(COCO17.oksSigmas);
    expect(new PoseTracker({ metric: 'iou' }).threshold).toBe(0.3);
  });
});

describe('PoseTracker: errors', () => {
  const good = person(100, 200);
  it('non-finite coordinates throw naming PoseTracker.update', () => {
    const nanKp: DetectedPerson = { ...good, keypoints: good.keypoints.map((k, i) => (i === 5 ? { ...k, x: NaN } : k)) };
    expect(() => new PoseTracker().update([good, nanKp], 0)).toThrow(/^PoseTracker\.update: expected persons\[1\]\.keypoints\[5\] with finite x, y and score, got \{x: NaN/);
    const infBox: DetectedPerson = { ...good, box: [0, 0, Infinity, 10] };
    expect(() => new PoseTracker().update([infBox], 0)).toThrow(/PoseTracker\.update: expected persons\[0\]\.box as \[x, y, w, h\] of finite numbers/);
    expect(() => new PoseTracker().update([{ ...good, score: NaN }], 0)).toThrow(/PoseTracker\.update: .*score/);
    expect(() => new PoseTracker({ metric: 'iou' }).update([nanKp], 0)).toThrow(/PoseTracker\.update/);
  });

  it('a bad input leaves the tracker unchanged', () => {
    const t = new PoseTracker();
    t.update([good], 0);
    const bad: DetectedPerson = { ...good, box: [NaN, 0, 1, 1] };
    expect(() => t.update([good, bad], 1)).toThrow(/PoseTracker\.update/);
    expect(ids(t.update([good], 1))).toEqual([1]);
  });

  it('frame numbers must increase; keypoint counts must match the falloff', () => {
    const t = new PoseTracker();
    t.update([good], 3);
    expect(() => t.update([good], 3)).toThrow(/PoseTracker\.update: expected frameIndex larger than the previous one \(3\), got 3/);
    expect(() => t.update([good], 1.5)).toThrow(/PoseTracker\.update: expected frameIndex as a non-negative integer/);
    expect(() => t.update([{ ...good, keypoints: good.keypoints.slice(0, 13) }], 4)).toThrow(/PoseTracker\.update: expected persons\[0\]\.keypoints with 17 entries/);
    expect(() => t.update([{ ...good, box: [0, 0, -1, 5] }], 4)).toThrow(/w, h >= 0/);
  });

  it('bad options throw naming PoseTracker', () => {
    expect(() => new PoseTracker({ threshold: 0 })).toThrow(/PoseTracker: expected threshold in \(0, 1\]/);
    expect(() => new PoseTracker({ maxAge: -1 })).toThrow(/PoseTracker: expected maxAge/);
    expect(() => new PoseTracker({ metric: 'l2' as 'oks' })).toThrow(/PoseTracker: expected metric/);
    expect(() => new PoseTracker({ keypointFalloff: [0.1, -1] })).toThrow(/PoseTracker: expected keypointFalloff/);
  });
});
