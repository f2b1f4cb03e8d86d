/**
 * MoveNet on real labelled frames: Thunder on the ground-truth person boxes of the PoseTrack 2018
 * sample (../shared/data/posetrack18-sample, every labelled person of every annotation file) must
 * reach PCKh@0.5 ≥ 60% (COCO keypoints mapped to PoseTrack's slots with cocoToPoseTrack) and stay
 * well above the fixed template (the sample's mean box-normalized pose placed in each box). The
 * full measurement, with more models, is scripts/eval-real.ts (docs/results.md, "Real frames").
 *
 * The data is not in the repository: without ../shared/data the test is skipped with a message,
 * except under CI=true, where its absence fails. Runs on wasm (about ten times faster than cpu).
 * Also checks models/pose/metrics/pckh.ts on hand-made cases (no data needed).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { init } from '../../engine/engine.js';
import { moveNetFromSafetensors } from '../../models/movenet/load.js';
import type { MoveNet } from '../../models/movenet/movenet.js';
import { MoveNetPipeline } from '../../models/movenet/pipeline.js';
import { readPoseTrackDir } from '../../models/pose/datasets/io.js';
import type { Box, PersonAnnotation } from '../../models/pose/datasets/types.js';
import { decodeImage } from '../../models/pose/image.js';
import { POSETRACK } from '../../models/pose/joints.js';
import { evaluatePCKh, isAnnotated, meanBoxPose, placeInBox, posevalHeadSize, type PckhSample } from '../../models/pose/metrics/pckh.js';
import { cocoToPoseTrack } from '../../models/pose/posetrack-json.js';

const ROOT = join(import.meta.dirname, '..', '..');
const DATA = join(ROOT, '..', 'shared', 'data');
const ANNOTATIONS = join(DATA, 'posetrack18-sample', 'annotations', 'val');
const HAVE_DATA = existsSync(ANNOTATIONS);
const ON_CI = process.env.CI === 'true';

describe('PCKh@α with poseval head size (pckh.ts)', () => {
  const names = ['a', 'b', 'c'];
  const gt = [10, 10, 1, 0, 0, 0, 50, 50, 1]; // joint b not annotated
  const head: Box = [0, 0, 30, 40]; // diagonal 50 → head size 30, threshold 15 at α = 0.5

  it('counts annotated joints, uses 0.6 · head diagonal, and treats null or NaN as wrong', () => {
    expect(posevalHeadSize(head)).toBeCloseTo(30, 12);
    expect([0, 1, 2].map((k) => isAnnotated(gt, k))).toEqual([true, false, true]);
    const r = evaluatePCKh(
      [
        { gt, pred: [25, 10, 0.9, 0, 0, 0, 50, 65.01, 0.1], bboxHead: head }, // a: 15 px (correct, ≤), c: 15.01 px (wrong)
        { gt, pred: null, bboxHead: head },
        { gt, pred: [NaN, 10, 1, 0, 0, 0, 50, 50, 1], bboxHead: head },
        { gt, pred: [10, 10, 1, 0, 0, 0, 50, 50, 1], bboxHead: null }, // skipped
      ],
      { keypointNames: names },
    );
    expect(r.counts).toEqual([3, 0, 3]);
    expect(r.correct).toEqual([1, 0, 1]);
    expect(r.total).toBe(6);
    expect(r.overall).toBeCloseTo(100 / 3, 10);
    expect(Number.isNaN(r.perJoint[1]!)).toBe(true);
    expect(r.scored).toBe(3);
    expect(r.skipped).toBe(1);
    expect(r.meanOffset[0]![0]).toBeCloseTo(15 / 30, 12); // over the finite predictions only (+15 px), in head sizes
    expect(r.meanOffset[0]![1]).toBe(0);
    const only = evaluatePCKh([{ gt, pred: [25, 10, 0.9, 0, 0, 0, 50, 65.01, 0.1], bboxHead: head }], { keypointNames: names, joints: ['c'] });
    expect(only.total).toBe(1);
    expect(only.overall).toBe(0);
    expect(() => evaluatePCKh([], { keypointNames: names, joints: ['z'] })).toThrow(/evaluatePCKh: expected joints from keypointNames \[a, b, c\], got 'z'/);
    expect(() => evaluatePCKh([{ gt: [1, 2, 3], pred: null, bboxHead: head }], { keypointNames: names })).toThrow(/expected gt of length 9, got length 3 in sample 0/);
  });

  it('builds the fixed template as the mean box-normalized pose and places it in a box', () => {
    const t = meanBoxPose(
      [
        { keypoints: [0, 0, 1, 0, 0, 0, 10, 20, 1], bbox: [0, 0, 10, 20] },
        { keypoints: [15, 5, 1, 0, 0, 0, 10, 10, 1], bbox: [10, 0, 10, 10] },
        { keypoints: [1, 1, 1, 1, 1, 1, 1, 1, 1], bbox: null }, // no box: left out
      ],
      3,
    );
    expect(Array.from(t.subarray(0, 3))).toEqual([0.25, 0.25, 1]);
    expect(Number.isNaN(t[3]!) && t[5] === 0).toBe(true);
    expect(Array.from(t.subarray(6))).toEqual([0.5, 1, 1]);
    expect(Array.from(placeInBox(t, [100, 200, 40, 80]).subarray(6))).toEqual([120, 280, 1]);
  });
});

describe('MoveNet Thunder on the real PoseTrack 2018 sample (ground-truth boxes)', () => {
  it.runIf(!HAVE_DATA)('needs ../shared/data (skipped without it, required under CI=true)', (ctx) => {
    if (ON_CI) throw new Error(`real-frames: CI=true requires the sample data in ${DATA}, got no ${ANNOTATIONS}`);
    console.warn(`[real-frames skipped] no sample data in ${DATA} (../shared/data/posetrack18-sample); see scripts/eval-real.ts`);
    ctx.skip();
  });

  describe.runIf(HAVE_DATA)('PCKh@0.5', () => {
    let thunder: MoveNet | null = null;
    beforeAll(async () => {
      await init('wasm');
      thunder = moveNetFromSafetensors(new Uint8Array(readFileSync(join(ROOT, 'assets', 'weights', 'movenet', 'thunder.safetensors'))), 'thunder.safetensors');
      await thunder.toAsync('wasm');
    });
    afterAll(() => thunder?.dispose());

    it('reaches ≥ 60% on every labelled joint and is far above the fixed template', async () => {
      const videos = readPoseTrackDir(ANNOTATIONS);
      const pipeline = new MoveNetPipeline(null, thunder!, { cropPadding: 1.25 });
      const K = POSETRACK.numJoints;
      const moveNet: PckhSample[] = [];
      const gtPeople: PersonAnnotation[] = [];
      for (const v of videos) {
        for (const f of v.frames) {
          if (!f.isLabeled) continue;
          const people = f.people.filter((p) => p.bbox && p.bbox[2] > 0 && p.bbox[3] > 0 && Array.from({ length: K }, (_, k) => isAnnotated(p.keypoints, k)).some(Boolean));
          if (people.length === 0) continue;
          const image = decodeImage(new Uint8Array(readFileSync(join(v.root, f.file))));
          const poses = await pipeline.refine(image, people.map((p) => [...p.bbox!] as [number, number, number, number]), 'wasm');
          people.forEach((p, i) => {
            const kp = cocoToPoseTrack(poses[i]!.keypoints).flatMap((k) => [k.x, k.y, k.score]);
            moveNet.push({ gt: p.keypoints, pred: kp, bboxHead: p.bboxHead });
            gtPeople.push(p);
          });
        }
      }
      const template = meanBoxPose(gtPeople, K);
      const fixed = evaluatePCKh(
        gtPeople.map((p) => ({ gt: p.keypoints, pred: placeInBox(template, p.bbox!), bboxHead: p.bboxHead })),
        { keypointNames: POSETRACK.names },
      );
      const r = evaluatePCKh(moveNet, { keypointNames: POSETRACK.names });
      console.info(`[real-frames] Thunder PCKh@0.5 ${r.overall.toFixed(1)}% (${r.totalCorrect}/${r.total} joints, ${r.scored} persons); fixed template ${fixed.overall.toFixed(1)}%`);
      expect(r.scored).toBeGreaterThanOrEqual(14); // the sample: 3 frames, 14 persons, 182 labelled joints
      expect(r.total).toBeGreaterThanOrEqual(150);
      expect(r.skipped).toBe(0);
      expect(r.overall).toBeGreaterThanOrEqual(60);
      expect(r.overall - fixed.overall).toBeGreaterThanOrEqual(25);
    });
  });
});
