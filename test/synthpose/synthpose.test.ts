/**
 * SynthPose: determinism, ground truth consistent with the pixels, occlusion and blur flags, the
 * PoseTrack JSON round trip through our reader, and 100 mAP of the ground truth against itself.
 * Clips are small (96x96 or 128x128, a few frames) to keep the suite fast.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readFrame, readPoseTrackDir } from '../../models/pose/datasets/io.js';
import type { VideoSequence } from '../../models/pose/datasets/types.js';
import { POSETRACK } from '../../models/pose/joints.js';
import { evaluatePoseTrack, type PosevalPredPerson } from '../../models/pose/metrics/poseval.js';
import { clipSeed, generateClip, type SynthClip } from '../../models/synthpose/generator.js';
import { clipJson, encodePngRgb, writeClip } from '../../models/synthpose/writer.js';

const slot = (n: string): number => POSETRACK.names.indexOf(n);

function sameBytes(a: SynthClip, b: SynthClip): boolean {
  if (a.frames.length !== b.frames.length) return false;
  return a.frames.every((f, t) => Buffer.compare(Buffer.from(f.rgb), Buffer.from(b.frames[t]!.rgb)) === 0);
}

describe('SynthPose determinism', () => {
  it('the same seed gives identical frames, PNG bytes and JSON; another seed does not', () => {
    const o = { seed: 11, frames: 6, width: 96, height: 96 };
    const a = generateClip(3, o);
    const b = generateClip(3, o);
    expect(sameBytes(a, b)).toBe(true);
    expect(JSON.stringify(clipJson(a))).toBe(JSON.stringify(clipJson(b)));
    expect(encodePngRgb(a.frames[2]!.rgb, 96, 96).equals(encodePngRgb(b.frames[2]!.rgb, 96, 96))).toBe(true);
    expect(sameBytes(a, generateClip(3, { ...o, seed: 12 }))).toBe(false);
    expect(sameBytes(a, generateClip(4, o))).toBe(false);
    expect(clipSeed(11, 3)).not.toBe(clipSeed(11, 4));
    expect(clipSeed(11, 3)).not.toBe(clipSeed(12, 3));
  });

  it('rejects bad options', () => {
    expect(() => generateClip(0, { width: 8 })).toThrow(/synthpose: expected width as an integer ≥ 32, got 8/);
    expect(() => generateClip(0, { blurSubframes: 4 })).toThrow(/expected an odd blurSubframes/);
    expect(() => generateClip(0, { minPeople: 2, maxPeople: 1 })).toThrow(/expected maxPeople as an integer ≥ 2/);
    expect(() => generateClip(-1)).toThrow(/expected a clip index/);
  });
});

describe('SynthPose ground truth matches the pixels', () => {
  // No sensor noise, no occluders, no blur: a pixel on a limb's axis is the limb's colour times a
  // grey shade factor, so its RGB is proportional to the colour. We test shin midpoints (pants) and
  // the head just below its top (skin) of visible joints, and, as a control, the same test 25 px to the side.
  const isColor = (rgb: Uint8Array, W: number, x: number, y: number, c: readonly number[]): boolean => {
    const px = Math.round(x);
    const py = Math.round(y);
    if (px < 0 || py < 0 || px >= W || py >= W) return false;
    const o = 3 * (py * W + px);
    const k = [0, 1, 2].map((i) => (rgb[o + i]! + 0.5) / (c[i]! + 0.5));
    return Math.max(...k) - Math.min(...k) < 0.06 * Math.max(...k) + 0.02;
  };

  it('limb and head pixels sit at the annotated joints (and not 25 px away)', () => {
    let hits = 0;
    let tests = 0;
    let control = 0;
    for (let clip = 0; clip < 3; clip++) {
      const c = generateClip(clip, { seed: 21, frames: 8, width: 128, height: 128, maxOccluders: 0, maxPeople: 1, blurProbability: 0, noise: 0, angleNoise: 0.05 });
      const fig = c.figures[0]!;
      c.video.frames.forEach((f, t) => {
        const p = f.people[0];
        if (!p) return;
        const k = p.keypoints;
        const check = (ax: number, ay: number, color: readonly number[]): void => {
          tests++;
          if (isColor(c.frames[t]!.rgb, 128, ax, ay, color)) hits++;
          if (isColor(c.frames[t]!.rgb, 128, ax + 25, ay, color)) control++;
        };
        for (const [a, b] of [['left_knee', 'left_ankle'], ['right_knee', 'right_ankle']] as const) {
          if (k[3 * slot(a) + 2]! > 0 && k[3 * slot(b) + 2]! > 0) {
            check((k[3 * slot(a)]! + k[3 * slot(b)]!) / 2, (k[3 * slot(a) + 1]! + k[3 * slot(b) + 1]!) / 2, fig.pants);
          }
        }
        // the head top is on the head's outline; a quarter of the way to the neck is inside the head
        const [ht, hb] = [slot('head_top'), slot('head_bottom')];
        if (k[3 * ht + 2]! > 0 && k[3 * hb + 2]! > 0) check(0.75 * k[3 * ht]! + 0.25 * k[3 * hb]!, 0.75 * k[3 * ht + 1]! + 0.25 * k[3 * hb + 1]!, fig.skin);
      });
    }
    expect(tests).toBeGreaterThan(30);
    expect(hits / tests).toBeGreaterThan(0.9);
    expect(control / tests).toBeLessThan(0.3);
  });

  it('a clip without occluders and with one figure has no hidden joint', () => {
    const c = generateClip(5, { seed: 2, frames: 10, width: 96, height: 96, maxOccluders: 0, maxPeople: 1 });
    for (const f of c.video.frames) {
      expect(f.flags!.occluded).toBe(false);
      for (const p of f.people) for (let k = 0; k < 17; k++) if (p.keypoints[3 * k]! !== 0) expect(p.keypoints[3 * k + 2]).toBe(1);
    }
  });
});

describe('SynthPose occlusion and blur flags', () => {
  it('a joint well inside an occluder is hidden (v = 0) and flags its frame', () => {
    let covered = 0;
    let framesChecked = 0;
    for (let clip = 0; clip < 6; clip++) {
      const c = generateClip(clip, { seed: 8, frames: 12, width: 96, height: 96, maxPeople: 1, maxOccluders: 2, blurProbability: 0 });
      c.video.frames.forEach((f, t) => {
        let anyCovered = false;
        for (const p of f.people) {
          for (let k = 0; k < 17; k++) {
            const x = p.keypoints[3 * k]!;
            const y = p.keypoints[3 * k + 1]!;
            if (x === 0 && y === 0) continue;
            const inside = c.occluders.some((o) => {
              const dx = x - (o.x0 + o.vx * t);
              const dy = y - (o.y0 + o.vy * t);
              return o.shape === 'rect' ? Math.abs(dx) < o.rx - 1.5 && Math.abs(dy) < o.ry - 1.5 : (dx / o.rx) ** 2 + (dy / o.ry) ** 2 < 0.8;
            });
            if (inside) {
              covered++;
              anyCovered = true;
              expect(p.keypoints[3 * k + 2]).toBe(0);
            }
          }
        }
        framesChecked++;
        if (anyCovered) expect(f.flags!.occluded).toBe(true);
        // one figure: a hidden joint can only come from an occluder
        const hidden = f.people.some((p) => Array.from({ length: 17 }, (_, k) => k).some((k) => p.keypoints[3 * k]! !== 0 && p.keypoints[3 * k + 2] === 0));
        expect(f.flags!.occluded).toBe(hidden);
      });
    }
    expect(framesChecked).toBe(72);
    expect(covered).toBeGreaterThan(5); // the test saw real occlusions
  });

  it('blurred frames are smoother than the same frames rendered sharp, with the same ground truth', () => {
    const base = { seed: 4, frames: 8, width: 96, height: 96, noise: 0 };
    const sharp = generateClip(1, { ...base, blurProbability: 0 });
    const blurry = generateClip(1, { ...base, blurProbability: 1 });
    const energy = (rgb: Uint8Array): number => {
      let e = 0;
      for (let y = 0; y < 96; y++) for (let x = 1; x < 96; x++) for (let c = 0; c < 3; c++) e += Math.abs(rgb[3 * (y * 96 + x) + c]! - rgb[3 * (y * 96 + x - 1) + c]!);
      return e;
    };
    let blurredFrames = 0;
    blurry.frames.forEach((f, t) => {
      expect(sharp.frames[t]!.flags.blurred).toBe(false);
      expect(blurry.video.frames[t]!.people.map((p) => Array.from(p.keypoints))).toEqual(sharp.video.frames[t]!.people.map((p) => Array.from(p.keypoints)));
      if (!f.flags.blurred) return;
      blurredFrames++;
      expect(energy(f.rgb)).toBeLessThan(0.97 * energy(sharp.frames[t]!.rgb));
    });
    expect(blurredFrames).toBeGreaterThan(3);
  });
});

describe('SynthPose files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'synthpose-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function gtAsPredictions(videos: readonly VideoSequence[]): Map<number, PosevalPredPerson[]> {
    const m = new Map<number, PosevalPredPerson[]>();
    for (const v of videos) for (const f of v.frames) m.set(f.id, f.people.map((p) => ({ keypoints: Array.from(p.keypoints, (val, i) => (i % 3 === 2 ? 1 : p.keypoints[i - (i % 3)] === 0 && p.keypoints[i - (i % 3) + 1] === 0 ? NaN : val)) })));
    return m;
  }

  it('round-trips through the PoseTrack reader (JSON, flags and PNG pixels)', () => {
    const clips = [0, 1].map((i) => generateClip(i, { seed: 9, frames: 5, width: 96, height: 64 }));
    for (const c of clips) writeClip(c, dir);
    const videos = readPoseTrackDir(join(dir, 'annotations', 'synthpose'));
    expect(videos.map((v) => v.id)).toEqual(['000000', '000001']);
    videos.forEach((v, i) => {
      const c = clips[i]!;
      expect(v.root).toBe(dir);
      expect(v.keypointNames).toEqual(POSETRACK.names);
      expect(v.frames.map((f) => f.flags)).toEqual(c.video.frames.map((f) => f.flags));
      expect(v.frames.map((f) => f.people.map((p) => [p.trackId, Array.from(p.keypoints), p.bbox, p.bboxHead]))).toEqual(
        c.video.frames.map((f) => f.people.map((p) => [p.trackId, Array.from(p.keypoints), p.bbox, p.bboxHead])),
      );
      const img = readFrame(v, v.frames[3]!);
      expect([img.width, img.height]).toEqual([96, 64]);
      const rgb = c.frames[3]!.rgb;
      for (let q = 0; q < 96 * 64; q++) for (let ch = 0; ch < 3; ch++) if (img.data[4 * q + ch] !== rgb[3 * q + ch]) throw new Error(`pixel ${q} channel ${ch} differs`);
    });
    expect(JSON.parse(readFileSync(join(dir, 'annotations', 'synthpose', '000000.json'), 'utf8')).images[0].synthpose).toBeDefined();
  });

  it('scores 100 mAP for its ground truth against itself, and less when joints are moved', () => {
    const videos = readPoseTrackDir(join(dir, 'annotations', 'synthpose'));
    const r = evaluatePoseTrack(videos, gtAsPredictions(videos));
    expect(r.numFrames).toBe(10);
    for (let j = 0; j < 15; j++) if (r.nGT[j]! > 0) expect(r.ap[j]).toBe(100);
    expect(r.nGT.filter((n) => n > 0).length).toBeGreaterThanOrEqual(13);
    const moved = gtAsPredictions(videos);
    for (const ps of moved.values()) for (const p of ps) (p.keypoints as number[])[0]! += 1000; // every nose
    const r2 = evaluatePoseTrack(videos, moved);
    expect(r2.ap[13]).toBe(0); // poseval index 13 = nose
  });

  it('splits the score into occluded and clean frames with the frame flags', () => {
    const videos = readPoseTrackDir(join(dir, 'annotations', 'synthpose'));
    const frames = videos.flatMap((v) => v.frames);
    const occluded = frames.filter((f) => f.flags!.occluded && f.people.length > 0).length;
    const clean = frames.filter((f) => !f.flags!.occluded && f.people.length > 0).length;
    expect(occluded).toBeGreaterThan(0);
    expect(clean).toBeGreaterThan(0);
    // perfect on clean frames, every joint moved far away on occluded frames
    const preds = gtAsPredictions(videos);
    for (const f of frames) if (f.flags!.occluded) for (const p of preds.get(f.id)!) (p.keypoints as number[]).forEach((_, i, a) => i % 3 === 0 && (a[i]! += 1000));
    const onClean = evaluatePoseTrack(videos, preds, { filter: (f) => !f.flags!.occluded });
    const onOccluded = evaluatePoseTrack(videos, preds, { filter: (f) => f.flags!.occluded });
    expect(onClean.numFrames).toBe(clean);
    expect(onOccluded.numFrames).toBe(occluded);
    expect(onClean.table.mean).toBe(100);
    expect(onOccluded.table.mean).toBe(0);
  });
});
