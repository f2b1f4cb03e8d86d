/**
 * The real training data (models/train/real-data.ts) on a 5-frame "video": the bundled demo frames
 * (assets/demo/*.jpg, pedestrians of vtest.avi) as a frames-folder source, on wasm. Checks the
 * tracks and clips, that the labels are the teacher's (MoveNet Thunder with the flip test,
 * real-teacher.ts), the label cache and build key (a second run labels and writes nothing), the
 * corruption flags against the written pixels and keypoints, the split's disjointness, and that the
 * trainer's loader (models/train/data.ts `loadSplit` + TopDownDataset with COCO-17) reads the output.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engine } from '../../engine/engine.js';
import { moveNetFromSafetensors } from '../../models/movenet/load.js';
import type { MoveNet } from '../../models/movenet/movenet.js';
import { MoveNetPipeline, type Box } from '../../models/movenet/pipeline.js';
import { TopDownDataset } from '../../models/pose/data/dataset.js';
import { decodeImage, type RgbaImage } from '../../models/pose/image.js';
import { COCO17 } from '../../models/pose/joints.js';
import { cachedFrameLoader, frameCounts, loadSplit } from '../../models/train/data.js';
import { corruptFrame, planCorruption } from '../../models/train/real-corrupt.js';
import { buildRealData, DEFAULT_WEIGHTS, type RealDataOptions, type SourceLabels } from '../../models/train/real-data.js';
import { mergeViews, teacherLabels } from '../../models/train/real-teacher.js';

const ROOT = join(import.meta.dirname, '..', '..');
const DEMO = join(ROOT, 'assets', 'demo');
const FILES = ['0001.jpg', '0002.jpg', '0003.jpg', '0004.jpg', '0005.jpg'];

interface Doc {
  images: { id: number; file_name: string; is_labeled: boolean; synthpose: { occluded: boolean; blurred: boolean }; real: { source_frame: number; clean_file: string; occluders: number; blur: unknown; interpolated: boolean } }[];
  annotations: { image_id: number; track_id: number; keypoints: number[]; scores: number[]; bbox: number[] }[];
  categories: { keypoints: string[] }[];
}

describe('real training data (5 demo frames, wasm)', () => {
  let out: string;
  let opts: RealDataOptions;
  let first: Awaited<ReturnType<typeof buildRealData>>;
  let labels: SourceLabels;
  let frames: RgbaImage[];

  beforeAll(async () => {
    if (!engine.isInitialized('wasm')) engine.registerBackendFactory('wasm', async () => (await import('../../backends/wasm/index.js')).createWasmBackend());
    await engine.init('wasm');
    out = mkdtempSync(join(tmpdir(), 'posegrad-real-data-'));
    frames = FILES.map((f) => decodeImage(new Uint8Array(readFileSync(join(DEMO, f)))));
    opts = {
      outDir: out,
      device: 'wasm',
      sources: [{ name: 'demo', kind: 'frames', path: DEMO, licence: 'test', blocks: [{ split: 'train', start: 0, end: 3 }, { split: 'val', start: 3, end: 5 }], stride: 2, minClipFrames: 2 }],
      label: { minBoxHeight: 40 },
      output: { cropSize: 96, seed: 3, corruption: { occluderRate: 0.6, occluderFrames: [1, 3], blurProbability: 0.5 } },
    };
    first = await buildRealData(opts);
    labels = JSON.parse(readFileSync(join(out, 'labels', 'demo.json'), 'utf8')) as SourceLabels;
  });

  afterAll(() => {
    if (out) rmSync(out, { recursive: true, force: true });
  });

  it('finds the tracked people and cuts each track into one clip per time block', () => {
    expect(first.labelled).toEqual(['demo']);
    expect(first.written).toBe(true);
    expect(labels.tracks.length).toBeGreaterThanOrEqual(2);
    const tracks = new Set(labels.clips.map((c) => c.track));
    expect(tracks.size).toBeGreaterThanOrEqual(2);
    for (const c of labels.clips) {
      expect(c.id).toBe(`demo-t${String(c.track).padStart(3, '0')}-${c.split}`);
      const fr = c.frames.map((f) => f.frame);
      expect(fr).toEqual(c.split === 'train' ? [0, 1, 2] : [3, 4]);
      // the teacher labels every 2nd source frame only
      for (const f of c.frames) expect(f.keypoints === null).toBe(f.frame % 2 !== 0);
    }
    const m = first.manifest;
    expect(m.sources[0]).toMatchObject({ name: 'demo', kind: 'frames', tracks: labels.tracks.length, clips: labels.clips.length, relabelled: true });
    expect(m.stats.train.labelled + m.stats.val.labelled).toBe(labels.clips.reduce((s, c) => s + c.frames.filter((f) => f.keypoints).length, 0));
  });

  it('labels are the teacher\'s: Thunder with the flip test on the clean frame, and plain Thunder without it', async () => {
    const thunder: MoveNet = await moveNetFromSafetensors(new Uint8Array(readFileSync(DEFAULT_WEIGHTS.teacher))).toAsync('wasm');
    try {
      const at0 = labels.clips.filter((c) => c.frames[0]!.frame === 0);
      const boxes = at0.map((c) => c.frames[0]!.box as Box);
      const direct = await teacherLabels(thunder, frames[0]!, boxes, 'wasm');
      at0.forEach((c, i) => {
        const kp = c.frames[0]!.keypoints!;
        direct[i]!.keypoints.forEach((k, j) => {
          expect(kp[3 * j]).toBeCloseTo(k.x, 1);
          expect(kp[3 * j + 1]).toBeCloseTo(k.y, 1);
          expect(kp[3 * j + 2]).toBeCloseTo(k.score, 3);
        });
      });
      // flip off = MoveNet's own pipeline on the same crops
      const plain = await teacherLabels(thunder, frames[0]!, boxes, 'wasm', { flip: false });
      const ref = await new MoveNetPipeline(null, thunder).refine(frames[0]!, boxes, 'wasm');
      plain.forEach((p, i) => p.keypoints.forEach((k, j) => expect([k.x, k.y, k.score]).toEqual([ref[i]!.keypoints[j]!.x, ref[i]!.keypoints[j]!.y, ref[i]!.keypoints[j]!.score])));
      // the flip test is symmetric: on the mirrored frame with the mirrored boxes it gives the mirrored labels
      const f0 = frames[0]!;
      const W = f0.width;
      const mirror = new Uint8Array(f0.data.length);
      for (let y = 0; y < f0.height; y++) for (let x = 0; x < W; x++) mirror.set(f0.data.subarray(4 * (y * W + W - 1 - x), 4 * (y * W + W - x)), 4 * (y * W + x));
      const mirrored = await teacherLabels(thunder, { ...f0, data: mirror }, boxes.map((b) => [W - b[0] - b[2], b[1], b[2], b[3]] as Box), 'wasm');
      let compared = 0;
      mirrored.forEach((p, i) => p.keypoints.forEach((k, j) => {
        const src = COCO17.flipPairs.find((q) => q.includes(j));
        const jj = src ? (src[0] === j ? src[1] : src[0]) : j;
        const d = direct[i]!.keypoints[jj]!;
        if (d.score < 0.3) return;
        compared++;
        expect(Math.abs(k.x - (W - 1 - d.x))).toBeLessThan(1);
        expect(Math.abs(k.y - d.y)).toBeLessThan(1);
      }));
      expect(compared).toBeGreaterThan(10);
      // most joints of these walkers are confident, and the two views mostly agree
      const conf = direct.flatMap((p) => p.keypoints.map((k) => k.score));
      expect(conf.filter((s) => s >= 0.3).length / conf.length).toBeGreaterThan(0.5);
      expect(direct.flatMap((p) => p.agreed).filter(Boolean).length / conf.length).toBeGreaterThan(0.6);
    } finally {
      thunder.dispose();
    }
  });

  it('merges the two views: the weighted mean where they agree, the surer view with the lower score where not', () => {
    const pose = (x: number, s: number) => ({ score: s, keypoints: [{ name: 'nose', x, y: 10, score: s }] });
    const agree = mergeViews(pose(10, 0.75), pose(12, 0.25), 5);
    expect(agree.pose.keypoints[0]).toMatchObject({ x: 10.5, y: 10, score: 0.5 });
    const disagree = mergeViews(pose(10, 0.4), pose(30, 0.9), 5);
    expect(disagree.agreed).toEqual([false]);
    expect(disagree.pose.keypoints[0]).toMatchObject({ x: 30, score: 0.4 });
  });

  it('caches: a second run labels nothing and writes nothing; a new seed rewrites without relabelling', async () => {
    const t0 = performance.now();
    const again = await buildRealData(opts);
    expect(again.labelled).toEqual([]);
    expect(again.reused).toEqual(['demo']);
    expect(again.written).toBe(false);
    expect(again.manifest.buildKey).toBe(first.manifest.buildKey);
    expect(performance.now() - t0).toBeLessThan(3000);
    const m = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
    expect(m.sources[0].labelKey).toBe(labels.key);
    expect(m.posegrad.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(m.teacher.weights.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(m.sources[0].sha256).toMatch(/^[0-9a-f]{64}$/);

    const other = mkdtempSync(join(tmpdir(), 'posegrad-real-data-seed-'));
    try {
      rmSync(other, { recursive: true, force: true });
      // same labels in another folder: copy the cache, change the seed
      const { cpSync } = await import('node:fs');
      cpSync(join(out, 'labels'), join(other, 'labels'), { recursive: true });
      const r = await buildRealData({ ...opts, outDir: other, output: { ...opts.output, seed: 4 } });
      expect(r.labelled).toEqual([]);
      expect(r.written).toBe(true);
      expect(r.manifest.buildKey).not.toBe(first.manifest.buildKey);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it('records per frame whether the student\'s crop is occluded or blurred, consistently with the pixels and keypoints', () => {
    let occluded = 0;
    let blurred = 0;
    let clean = 0;
    for (const clip of labels.clips) {
      const doc = JSON.parse(readFileSync(join(out, 'annotations', 'real', `${clip.id}.json`), 'utf8')) as Doc;
      expect(doc.categories[0]!.keypoints).toEqual([...COCO17.names]);
      doc.images.forEach((im, t) => {
        const ann = doc.annotations.find((a) => a.image_id === im.id)!;
        expect(ann.track_id).toBe(clip.track);
        expect(im.real.source_frame).toBe(clip.frames[t]!.frame);
        const corrupted = readFileSync(join(out, im.file_name));
        const cleanBytes = readFileSync(join(out, im.real.clean_file));
        expect(im.synthpose.blurred).toBe(im.real.blur !== null);
        if (im.real.blur === null && im.real.occluders === 0) expect(corrupted.equals(cleanBytes)).toBe(true);
        else expect(corrupted.equals(cleanBytes)).toBe(false);
        if (!im.is_labeled) {
          expect(ann.keypoints.every((v) => v === 0)).toBe(true);
          return;
        }
        // a joint covered by an occluder keeps its coordinates with visibility 0; the frame is then occluded
        const hidden = ann.keypoints.some((v, i) => i % 3 === 2 && v === 0 && (ann.keypoints[i - 2] !== 0 || ann.keypoints[i - 1] !== 0));
        expect(im.synthpose.occluded).toBe(hidden);
        if (hidden) expect(im.real.occluders).toBeGreaterThan(0);
        // unsupervised joints are exactly the teacher's unsure ones
        ann.scores.forEach((s, j) => expect(ann.keypoints[3 * j] === 0 && ann.keypoints[3 * j + 1] === 0).toBe(s < 0.3));
        if (im.synthpose.occluded) occluded++;
        if (im.synthpose.blurred) blurred++;
        if (!im.synthpose.occluded && !im.synthpose.blurred) clean++;
      });
    }
    expect(occluded).toBeGreaterThan(0);
    expect(blurred).toBeGreaterThan(0);
    expect(clean).toBeGreaterThan(0);
    const s = first.manifest.stats;
    expect(s.train.occluded + s.val.occluded).toBe(occluded);
    expect(s.train.blurred + s.val.blurred).toBe(blurred);
    expect(s.train.clean + s.val.clean).toBe(clean);
  });

  it('blurs around the clean crop and draws occluders from the seed (real-corrupt.ts)', () => {
    const plan = planCorruption(40, 32, 9, 1, { occluderRate: 0.3, blurProbability: 0.3 });
    expect(planCorruption(40, 32, 9, 1, { occluderRate: 0.3, blurProbability: 0.3 }).blur).toEqual(plan.blur);
    const flat = (v: number) => () => new Float32Array(3 * 32 * 32).fill(v);
    const t = plan.blur.findIndex((b) => b !== null);
    expect(t).toBeGreaterThanOrEqual(0);
    const c = corruptFrame(plan, t, flat(100)); // a flat image stays flat under blur
    expect(c.blurred).toBe(true);
    for (let i = 0; i < c.mask.length; i++) if (c.mask[i] === 0) expect(c.rgb[3 * i]).toBe(100);
    expect(plan.occluders.length).toBeGreaterThan(0);
  });

  it('splits by time block: no clip, and no source frame of a track, in both halves', () => {
    const split = JSON.parse(readFileSync(join(out, 'split.json'), 'utf8')) as { train: string[]; val: string[]; subset: string; jointSet: string };
    expect(split.subset).toBe('real');
    expect(split.jointSet).toBe('coco17');
    expect(split.train.length).toBeGreaterThan(0);
    expect(split.val.length).toBeGreaterThan(0);
    expect(split.train.filter((id) => split.val.includes(id))).toEqual([]);
    const framesOf = (ids: string[]) => new Set(labels.clips.filter((c) => ids.includes(c.id)).flatMap((c) => c.frames.map((f) => f.frame)));
    const tr = framesOf(split.train);
    const va = framesOf(split.val);
    expect([...tr].every((f) => f < 3)).toBe(true);
    expect([...va].every((f) => f >= 3)).toBe(true);
  });

  it('the trainer\'s loader reads the output (loadSplit, TopDownDataset with COCO-17, flags)', () => {
    const split = loadSplit(out);
    expect(split.jointSet).toBe('coco17');
    expect(split.train.every((v) => v.keypointNames.join() === COCO17.names.join())).toBe(true);
    const ds = new TopDownDataset(split.train, { jointSet: COCO17, loadFrame: cachedFrameLoader(), inputSize: [64, 64], frames: { kind: 'prevCurNext' }, supervise: 'annotated', train: true });
    expect(ds.length).toBeGreaterThan(0);
    const s = ds.sample(0);
    expect(s.images.length).toBe(3 * 3 * 64 * 64);
    // the key frame (the middle of prev, cur, next) has supervised joints
    const K = 17;
    const w = Array.from(s.targetWeights);
    expect(w.slice(K, 2 * K).some((v) => v > 0)).toBe(true);
    const vc = frameCounts(split.val);
    expect(vc.frames).toBe(first.manifest.stats.val.labelled);
    expect(vc.hard).toBe(first.manifest.stats.val.hard);
  });
});
