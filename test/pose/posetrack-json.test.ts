/**
 * PoseTrack 2018 JSON output (models/pose/posetrack-json.ts): the layout, PoseTrack's image ids,
 * stable formatting, reading the file back with the repo's PoseTrack reader, the COCO → PoseTrack
 * joint mapping, and scoring a 'posetrack'-format file against the real PoseTrack sample.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cocoToPoseTrack, formatPoseTrackJson, toPoseTrackJson, type PoseTrackJsonFrame } from '../../models/pose/posetrack-json.js';
import type { TrackedPerson } from '../../models/pose/track.js';
import { COCO17, POSETRACK } from '../../models/pose/joints.js';
import { parseCocoVideos } from '../../models/pose/datasets/posetrack.js';
import { readPoseTrackFile } from '../../models/pose/datasets/io.js';
import { evaluatePoseTrack, type PosevalPredPerson } from '../../models/pose/metrics/poseval.js';

const PT = '/work/shared/data/posetrack18-sample';
const havePT = existsSync(join(PT, 'annotations/val/003418_mpii_test.json'));
const TMP = mkdtempSync(join(tmpdir(), 'posegrad-ptjson-'));
afterAll(() => rmSync(TMP, { recursive: true, force: true }));

function tracked(trackId: number, cx: number, cy: number, score = 0.9): TrackedPerson {
  const keypoints = COCO17.names.map((_, i) => ({ x: cx + (i % 5) * 3.14159, y: cy + i * 10.005, score: Math.round((score - i * 0.01) * 1e6) / 1e6 }));
  return { trackId, keypoints, box: [cx - 20, cy - 10, 60.123, 190.5], score: 0.77777 };
}

const frames: PoseTrackJsonFrame[] = [
  { file: 'clip/0001.jpg', persons: [tracked(1, 100, 50), tracked(2, 300, 60)] },
  { file: 'clip/0002.jpg', persons: [] },
  { file: 'clip/0003.jpg', persons: [tracked(2, 305, 61), tracked(3, 500, 40)] },
];

describe('toPoseTrackJson', () => {
  it('writes the PoseTrack 2018 layout with COCO keypoint names', () => {
    const doc = toPoseTrackJson(frames, { videoName: 'walk', imageSize: [640, 480] });
    expect(Object.keys(doc)).toEqual(['categories', 'images', 'annotations']);
    expect(doc.categories).toHaveLength(1);
    const cat = doc.categories[0]!;
    expect(cat.keypoints).toEqual([...COCO17.names]);
    expect([cat.id, cat.name, cat.supercategory]).toEqual([1, 'person', 'person']);
    // COCO's own skeleton (1-based), which is also what the PoseTrack 2018 files carry
    expect(cat.skeleton).toEqual([[16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13], [6, 7], [6, 8], [7, 9], [8, 10], [9, 11], [2, 3], [1, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7]]);
    expect(doc.images).toEqual([0, 1, 2].map((i) => ({ id: i, file_name: `clip/000${i + 1}.jpg`, frame_id: i, vid_id: 'walk', nframes: 3, is_labeled: true, width: 640, height: 480 })));
    expect(doc.annotations.map((a) => [a.id, a.image_id, a.track_id, a.category_id])).toEqual([[0, 0, 1, 1], [1, 0, 2, 1], [200, 2, 2, 1], [201, 2, 3, 1]]);
    const a = doc.annotations[0]!;
    expect(a.keypoints).toHaveLength(51);
    expect(a.scores).toHaveLength(17);
    // x, y rounded to 0.01 px, the score as the third value and in `scores`
    expect(a.keypoints.slice(3, 6)).toEqual([103.14, 60.01, 0.89]);
    expect(a.scores[1]).toBe(0.89);
    expect(a.bbox).toEqual([80, 40, 60.12, 190.5]);
    expect(a.score).toBe(0.7778);
  });

  it('uses PoseTrack image ids for PoseTrack video names', () => {
    const doc = toPoseTrackJson(
      [{ file: 'images/val/003418_mpii_test/000000.jpg', persons: [tracked(4, 10, 10)] }, { file: 'images/val/003418_mpii_test/000008.jpg', persons: [] }],
      { videoName: '003418_mpii_test' },
    );
    expect(doc.images.map((im) => [im.id, im.frame_id, im.vid_id])).toEqual([[10034180000, 10034180000, '003418'], [10034180008, 10034180008, '003418']]);
    expect(doc.annotations[0]!.id).toBe(1003418000000);
    expect(doc.images[0]).not.toHaveProperty('width');
  });

  it.skipIf(!havePT)('matches the image ids and file names of the real PoseTrack 2018 sample', () => {
    const gt = JSON.parse(readFileSync(join(PT, 'annotations/val/003418_mpii_test.json'), 'utf8'));
    const im = gt.images[0];
    const doc = toPoseTrackJson([{ file: im.file_name, persons: [] }], { videoName: '003418_mpii_test', imageSize: [im.width, im.height] });
    expect(doc.images[0]).toMatchObject({ id: im.id, frame_id: im.frame_id, vid_id: im.vid_id, file_name: im.file_name, width: im.width, height: im.height });
    expect(doc.categories[0]!.skeleton).toEqual(gt.categories[0].skeleton);
  });

  it('rejects malformed persons, naming toPoseTrackJson and the person', () => {
    const p = tracked(1, 0, 0);
    const nan = { ...p, keypoints: p.keypoints.map((k, i) => (i === 3 ? { ...k, y: NaN } : k)) };
    expect(() => toPoseTrackJson([{ file: 'a.jpg', persons: [p, nan] }])).toThrow(/^toPoseTrackJson: expected frames\[0\]\.persons\[1\]\.keypoints\[3\] with finite x, y and score, got \{x: 9\.424\d*, y: NaN/);
    expect(() => toPoseTrackJson([{ file: 'a.jpg', persons: [{ ...p, keypoints: p.keypoints.slice(0, 15) }] }])).toThrow(/toPoseTrackJson: expected frames\[0\]\.persons\[0\]\.keypoints with 17 entries, got 15 entries/);
    expect(() => toPoseTrackJson([{ file: 'a.jpg', persons: [{ ...p, trackId: 1.5 }] }])).toThrow(/trackId as a non-negative integer/);
    expect(() => toPoseTrackJson([{ file: 'a.jpg', persons: [{ ...p, box: [0, 0, Infinity, 1] }] }])).toThrow(/box as \[x, y, w, h\] of finite numbers/);
    expect(() => toPoseTrackJson([], { imageSize: [0, 10] })).toThrow(/imageSize/);
    expect(() => toPoseTrackJson([{ file: 'x/000001.jpg', persons: [] }, { file: 'y/000001.jpg', persons: [] }], { videoName: '000001' })).toThrow(/repeats id 10000010001/);
  });

  it('an empty video is a valid document', () => {
    const doc = toPoseTrackJson([]);
    expect(doc.images).toEqual([]);
    expect(doc.annotations).toEqual([]);
    expect(JSON.parse(formatPoseTrackJson(doc))).toEqual(doc);
  });
});

describe('formatPoseTrackJson', () => {
  it('is valid JSON equal to the document, one line per category, image and annotation', () => {
    const doc = toPoseTrackJson(frames, { videoName: 'walk' });
    const text = formatPoseTrackJson(doc);
    expect(JSON.parse(text)).toEqual(doc);
    expect(text.endsWith('}\n')).toBe(true);
    const lines = text.trimEnd().split('\n');
    // { + 3 × (key line + closing line) + 1 category + 3 images + 4 annotations + }
    expect(lines).toHaveLength(2 + 6 + 1 + 3 + 4);
    expect(lines.filter((l) => l.startsWith('    {"id":') && l.includes('"track_id"'))).toHaveLength(4);
    expect(formatPoseTrackJson(toPoseTrackJson(frames, { videoName: 'walk' }))).toBe(text);
  });
});

describe('reading the output back with the PoseTrack reader', () => {
  it('parseCocoVideos / readPoseTrackFile return the tracks, keypoints and boxes', () => {
    const doc = toPoseTrackJson(frames, { videoName: 'walk', imageSize: [640, 480] });
    const file = join(TMP, 'walk.json');
    writeFileSync(file, formatPoseTrackJson(doc));
    for (const videos of [readPoseTrackFile(file, TMP), parseCocoVideos(JSON.parse(readFileSync(file, 'utf8')), TMP)]) {
      expect(videos).toHaveLength(1);
      const v = videos[0]!;
      expect(v.id).toBe('walk');
      expect(v.keypointNames).toEqual([...COCO17.names]);
      expect(v.frames.map((f) => [f.file, f.width, f.height, f.people.map((p) => p.trackId)])).toEqual([
        ['clip/0001.jpg', 640, 480, [1, 2]],
        ['clip/0002.jpg', 640, 480, []],
        ['clip/0003.jpg', 640, 480, [2, 3]],
      ]);
      const back = v.frames[2]!.people[1]!;
      const src = frames[2]!.persons[1]!;
      src.keypoints.forEach((k, i) => {
        expect(back.keypoints[3 * i]).toBeCloseTo(k.x, 2);
        expect(back.keypoints[3 * i + 1]).toBeCloseTo(k.y, 2);
        expect(back.keypoints[3 * i + 2]).toBeCloseTo(k.score, 4);
      });
      expect(back.bbox).toEqual([480, 30, 60.12, 190.5]);
    }
  });
});

describe('cocoToPoseTrack', () => {
  const coco = COCO17.names.map((_, i) => ({ x: 100 + i, y: 200 + 2 * i, score: 0.5 + i / 100 }));
  coco[0] = { x: 100, y: 100, score: 0.9 }; // nose
  coco[5] = { x: 80, y: 150, score: 0.8 }; // left shoulder
  coco[6] = { x: 120, y: 160, score: 0.6 }; // right shoulder

  it('puts head_bottom between the shoulders and head_top opposite it about the nose', () => {
    const pt = cocoToPoseTrack(coco);
    expect(pt).toHaveLength(17);
    expect(pt[1]!.x).toBeCloseTo(100, 12);
    expect(pt[1]!.y).toBeCloseTo(155, 12);
    expect(pt[1]!.score).toBeCloseTo(0.7, 12);
    expect(pt[2]!.x).toBeCloseTo(100, 12);
    expect(pt[2]!.y).toBeCloseTo(45, 12);
    expect(pt[2]!.score).toBeCloseTo(0.7, 12);
    // every other slot is copied: the names agree between the two joint sets there
    for (const i of [0, 3, 4, ...Array.from({ length: 12 }, (_, j) => j + 5)]) {
      expect(POSETRACK.names[i]).toBe(COCO17.names[i]);
      expect(pt[i]).toEqual(coco[i]);
      expect(pt[i]).not.toBe(coco[i]);
    }
  });

  it('throws for a wrong keypoint count', () => {
    expect(() => cocoToPoseTrack(coco.slice(0, 16))).toThrow(/^cocoToPoseTrack: expected 17 keypoints \(COCO order\), got 16$/);
  });

  it("keypointFormat 'posetrack' writes mapped keypoints under PoseTrack's names", () => {
    const doc = toPoseTrackJson([{ file: 'a/000000.jpg', persons: [{ trackId: 1, keypoints: coco, box: [0, 0, 10, 10], score: 1 }] }], { keypointFormat: 'posetrack' });
    expect(doc.categories[0]!.keypoints).toEqual([...POSETRACK.names]);
    expect(doc.annotations[0]!.keypoints.slice(3, 9)).toEqual([100, 155, 0.7, 100, 45, 0.7]);
  });
});

describe.skipIf(!havePT)('scoring a written file against the real PoseTrack sample', () => {
  it("a 'posetrack'-format file matches the ground truth's image ids and scores 100 AP on the copied joints", () => {
    const gtFile = join(PT, 'annotations/val/003418_mpii_test.json');
    const gtVideos = readPoseTrackFile(gtFile);
    const frame = gtVideos[0]!.frames[0]!;
    // COCO-order "detections" that copy the ground truth's body joints and nose (eyes made up)
    const persons: TrackedPerson[] = frame.people.map((p, n) => {
      const kp = COCO17.names.map((_, i) => ({ x: p.keypoints[3 * i]!, y: p.keypoints[3 * i + 1]!, score: 0.9 }));
      kp[1] = { x: kp[0]!.x - 5, y: kp[0]!.y - 5, score: 0.9 };
      kp[2] = { x: kp[0]!.x + 5, y: kp[0]!.y - 5, score: 0.9 };
      return { trackId: n + 1, keypoints: kp, box: [...p.bbox!] as [number, number, number, number], score: 0.9 };
    });
    const doc = toPoseTrackJson([{ file: frame.file, persons }], { videoName: '003418_mpii_test', keypointFormat: 'posetrack', imageSize: [frame.width, frame.height] });
    const file = join(TMP, '003418_mpii_test.json');
    writeFileSync(file, formatPoseTrackJson(doc));
    const pred = readPoseTrackFile(file);
    expect(pred[0]!.keypointNames).toEqual(gtVideos[0]!.keypointNames);
    const preds = new Map<number, PosevalPredPerson[]>();
    for (const f of pred[0]!.frames) preds.set(f.id, f.people.map((p) => ({ keypoints: p.keypoints })));
    expect([...preds.keys()]).toEqual([frame.id]);
    const r = evaluatePoseTrack(gtVideos, preds);
    expect(r.numFrames).toBe(1);
    for (const g of ['shoulder', 'elbow', 'hip'] as const) expect(r.table[g]).toBe(100);
  });
});
