/**
 * The top-down data pipeline: targets and the flip test against reference fixtures
 * (test/reference/pose_data.py), and the dataset on SynthPose clips (in memory) and on the real
 * PoseTrack sample: shapes for each network's frame selection, seeded reproducibility, crop and
 * target geometry, the flip augmentation, and visibility weights.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { manualSeed, tidy } from '../../engine/engine.js';
import { conv2d } from '../../ops/conv.js';
import { tensor } from '../../ops/creation.js';
import { affinePoint, IMAGENET_MEAN, IMAGENET_STD, type ImageHWC } from '../../models/pose/affine.js';
import { TopDownDataset, type PoseSample } from '../../models/pose/data/dataset.js';
import { flipBack, flipTest } from '../../models/pose/data/flip.js';
import { selectFrames } from '../../models/pose/data/frames.js';
import { generateTarget } from '../../models/pose/data/targets.js';
import { halfBodyCenterScale } from '../../models/pose/data/augment.js';
import { readFrame, readPoseTrackDir } from '../../models/pose/datasets/io.js';
import { flipPermutation, POSETRACK } from '../../models/pose/joints.js';
import { generateClip } from '../../models/synthpose/generator.js';
import { synthFrameLoader } from '../../models/synthpose/loader.js';
import { assertClose } from '../helpers/close.js';
import { loadFixture, toTensor } from '../helpers/fixtures.js';

const fx = loadFixture('pose-data', 'pipeline');

describe('generateTarget (HRNet generate_target fixtures)', () => {
  for (const c of fx.casesOf('targets')) {
    it(c.name, () => {
      const joints = fx.get(`${c.name}/joints`).data;
      const vis = fx.get(`${c.name}/vis`).data;
      const { target, weight } = generateTarget(joints, vis, { imageSize: c.params.imageSize, heatmapSize: c.params.heatmapSize, sigma: c.params.sigma });
      assertClose(target, fx.get(`${c.name}/out`).data, { atol: 1e-6, rtol: 0 }, `${c.name} target`);
      expect(Array.from(weight)).toEqual(Array.from(fx.get(`${c.name}/out1`).data));
    });
  }
  it('rejects mismatched lengths and a bad sigma', () => {
    expect(() => generateTarget([1, 2, 3], [1, 1], { imageSize: [8, 8], heatmapSize: [2, 2], sigma: 2 })).toThrow(/generateTarget: expected joints of length 2·K = 4, got length 3/);
    expect(() => generateTarget([1, 2], [1], { imageSize: [8, 8], heatmapSize: [2, 2], sigma: 0 })).toThrow(/expected sigma > 0/);
  });
});

describe('flipTest (HRNet flip test fixture)', () => {
  const c = fx.casesOf('flip')[0]!;
  const perm = [0, 2, 1, 4, 3];
  it('matches flip → model → flip back → swap → shift → average', () => {
    tidy(() => {
      const x = toTensor(fx.get(`${c.name}/x`), 'float64');
      const w = toTensor(fx.get(`${c.name}/weight`), 'float64');
      const b = toTensor(fx.get(`${c.name}/bias`), 'float64');
      const out = flipTest((inp) => conv2d(inp, w, b, { padding: 1 }), x, { flipPerm: perm });
      expect(out.shape).toEqual([2, 5, 6, 7]);
      assertClose(out.dataSync(), fx.get(`${c.name}/out`).data, { atol: 1e-10, rtol: 1e-10 }, 'flipTest');
    });
  });
  it('flips any rank along the width and checks its arguments', () => {
    tidy(() => {
      // [B, T, K, h, w] heatmaps: K is axis rank − 3
      const h = tensor(Float32Array.from({ length: 1 * 2 * 3 * 1 * 3 }, (_, i) => i), { shape: [1, 2, 3, 1, 3] });
      const y = flipBack(h, { flipPerm: [0, 2, 1], shift: false });
      // channel 1 of the result is channel 2 of the input, mirrored: [6, 7, 8] → [8, 7, 6]
      expect(Array.from(y.dataSync().slice(3, 6))).toEqual([8, 7, 6]);
      const s = flipBack(h, { flipPerm: [0, 2, 1] });
      // shifted right by one, column 0 kept: [8, 7, 6] → [8, 8, 7]
      expect(Array.from(s.dataSync().slice(3, 6))).toEqual([8, 8, 7]);
      expect(() => flipBack(h, { flipPerm: [0, 1] })).toThrow(/flipBack: expected a flip permutation of 3 channels, got 2 entries/);
      expect(() => flipBack(tensor([1, 2]), { flipPerm: [0] })).toThrow(/flipBack: expected heatmaps of rank ≥ 3/);
    });
  });
});

describe('selectFrames', () => {
  it('gives each network its frames', () => {
    expect(selectFrames({ kind: 'curPrevNext' }, 0, 10, false).positions).toEqual([0, 0, 1]); // border: prev = cur
    const m = selectFrames({ kind: 'curPrevNext' }, 0, 10, false).margins!;
    expect([m.dPrev, m.dNext, m.wPrev, m.wNext]).toEqual([0, 1, 1, 0]);
    expect(selectFrames({ kind: 'curPrevNext' }, 5, 10, false).margins!.wPrev).toBe(0.5);
    expect(selectFrames({ kind: 'prevCurNext' }, 9, 10, false).positions).toEqual([8, 9, 9]);
    expect(selectFrames({ kind: 'consecutive', length: 5 }, 7, 10, false).positions).toEqual([7, 8, 9, 9, 9]);
    const lg = selectFrames({ kind: 'localGlobal', local: 2, global: 3 }, 10, 30, false);
    expect(lg.positions.slice(0, 5)).toEqual([10, 9, 11, 8, 12]);
    expect(lg.positions.slice(5).every((p) => Math.abs(p - 10) > 2)).toBe(true);
    expect(lg.sharedCrop).toEqual([true, true, true, true, true, false, false, false]);
    expect(() => selectFrames({ kind: 'single' }, 3, 3, false)).toThrow(/selectFrames: expected a key frame in \[0, 3\), got 3/);
  });
  it('draws random gaps and margin weights with the rng', () => {
    manualSeed(3);
    const gaps = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const s = selectFrames({ kind: 'curPrevNext', maxGap: 3 }, 10, 30, true);
      const m = s.margins!;
      expect(m.wPrev).toBeCloseTo(m.dNext / (m.dPrev + m.dNext), 12);
      gaps.add(`${m.dPrev},${m.dNext}`);
    }
    expect(gaps.size).toBeGreaterThan(4);
  });
});

describe('halfBodyCenterScale', () => {
  it('boxes the visible upper or lower joints, widened to the aspect ratio, ×1.5', () => {
    const kp = new Array<number>(51).fill(0);
    const set = (slot: number, x: number, y: number): void => {
      kp[3 * slot] = x;
      kp[3 * slot + 1] = y;
      kp[3 * slot + 2] = 1;
    };
    set(0, 100, 100); // nose
    set(5, 80, 140); // shoulders
    set(6, 120, 140);
    set(11, 90, 200); // hips
    set(12, 110, 200);
    set(13, 90, 260); // knees
    const up = halfBodyCenterScale(kp, POSETRACK, true, 0.75)!;
    // upper joints: x 80..120, y 100..140 → w 40, h 40 → h = 40/0.75; centre = mean (100, 126.67)
    expect(up.center[0]).toBeCloseTo(100, 10);
    expect(up.center[1]).toBeCloseTo(380 / 3, 10);
    expect(up.scale[0]).toBeCloseTo((40 / 200) * 1.5, 10);
    expect(up.scale[1]).toBeCloseTo((40 / 0.75 / 200) * 1.5, 10);
    const low = halfBodyCenterScale(kp, POSETRACK, false, 0.75)!;
    expect(low.center[1]).toBeCloseTo(220, 10);
  });
});

/** Un-normalizes channel c of a [3, H, W] crop at (x, y). */
function pixel(img: Float32Array, H: number, W: number, c: number, x: number, y: number): number {
  return (img[c * H * W + y * W + x]! * IMAGENET_STD[c]! + IMAGENET_MEAN[c]!) * 255;
}

/** Bilinear sample of an RGB(A) image. */
function bilinear(img: ImageHWC, c: number, x: number, y: number): number {
  const x0 = Math.floor(x);
  const y0 = Math.floor(y);
  const fx = x - x0;
  const fy = y - y0;
  const at = (xx: number, yy: number): number => img.data[(yy * img.width + xx) * img.channels + c]!;
  return (1 - fy) * ((1 - fx) * at(x0, y0) + fx * at(x0 + 1, y0)) + fy * ((1 - fx) * at(x0, y0 + 1) + fx * at(x0 + 1, y0 + 1));
}

describe('TopDownDataset on SynthPose clips', () => {
  const clips = [0, 1].map((i) => generateClip(i, { seed: 5, frames: 8, width: 128, height: 128, maxPeople: 1 }));
  const loadFrame = synthFrameLoader(clips);
  const videos = clips.map((c) => c.video);
  const base = { jointSet: POSETRACK, loadFrame, inputSize: [48, 64] as [number, number] };

  it('yields [B, T, 3, H, W] / [B, T, K, h, w] / [B, T, K, 1] for each frame selection', () => {
    for (const [frames, T] of [[{ kind: 'single' }, 1], [{ kind: 'curPrevNext' }, 3], [{ kind: 'consecutive', length: 5 }, 5], [{ kind: 'localGlobal', local: 1, global: 2 }, 5]] as const) {
      const ds = new TopDownDataset(videos, { ...base, frames });
      expect(ds.length).toBe(16);
      const [batch] = [...ds.batches({ batchSize: 3 })].slice(0, 1);
      expect(batch!.images.shape).toEqual([3, T, 3, 64, 48]);
      expect(batch!.targets.shape).toEqual([3, T, 17, 16, 12]);
      expect(batch!.targetWeights.shape).toEqual([3, T, 17, 1]);
      expect(batch!.meta[0]!.frameIds).toHaveLength(T);
      for (const t of [batch!.images, batch!.targets, batch!.targetWeights]) t.dispose();
    }
    const ds = new TopDownDataset(videos, { ...base });
    const all = [...ds.batches({ batchSize: 5 })];
    expect(all.map((b) => b.images.shape[0])).toEqual([5, 5, 5, 1]);
    expect([...ds.batches({ batchSize: 5, dropLast: true })]).toHaveLength(3);
  });

  it('crops the same pixels the ground truth points at, and puts each target peak at its joint', () => {
    const ds = new TopDownDataset(videos, { ...base, frames: { kind: 'curPrevNext' } });
    let checked = 0;
    for (const i of [0, 5, 9, 14]) {
      const s = ds.sample(i);
      const video = videos.find((v) => v.id === s.meta.videoId)!;
      s.meta.positions.forEach((p, t) => {
        const frame = video.frames[p]!;
        const person = frame.people.find((q) => q.trackId === s.meta.trackId)!;
        const img = loadFrame(video, frame);
        const tr = s.meta.transforms[t]!;
        for (let k = 0; k < 17; k++) {
          const w = s.targetWeights[t * 17 + k]!;
          if (person.keypoints[3 * k + 2]! > 0 && w === 0) {
            // only a joint whose 3σ patch is outside the heatmap loses its weight
            const q = affinePoint(tr, [person.keypoints[3 * k]!, person.keypoints[3 * k + 1]!]);
            expect(q[0] < -24 || q[1] < -24 || q[0] > 48 + 24 || q[1] > 64 + 24).toBe(true);
          }
          if (w === 0) continue;
          const [x, y] = [person.keypoints[3 * k]!, person.keypoints[3 * k + 1]!];
          const q = affinePoint(tr, [x, y]);
          // target peak (value 1) at int(q / 4 + 0.5)
          const hx = Math.trunc(q[0] / 4 + 0.5);
          const hy = Math.trunc(q[1] / 4 + 0.5);
          if (hx >= 0 && hy >= 0 && hx < 12 && hy < 16) {
            expect(s.targets[((t * 17 + k) * 16 + hy) * 12 + hx]).toBe(1);
            checked++;
          }
          // the crop pixel nearest to the projected joint shows the image there
          const cx = Math.round(q[0]);
          const cy = Math.round(q[1]);
          if (cx < 0 || cy < 0 || cx >= 48 || cy >= 64) continue;
          const back = affinePoint(invert(tr), [cx, cy]);
          if (back[0] < 0 || back[1] < 0 || back[0] >= 127 || back[1] >= 127) continue;
          for (let c = 0; c < 3; c++) expect(Math.abs(pixel(s.images.subarray(t * 3 * 64 * 48), 64, 48, c, cx, cy) - bilinear(img, c, back[0], back[1]))).toBeLessThan(1e-2);
        }
      });
    }
    expect(checked).toBeGreaterThan(50);
  });

  it('reproduces a shuffled, augmented pass from a seed', () => {
    const ds = new TopDownDataset(videos, { ...base, frames: { kind: 'curPrevNext', maxGap: 2 }, train: true });
    const pass = (seed: number): PoseSample[] => {
      manualSeed(seed);
      const out: PoseSample[] = [];
      for (const b of ds.batches({ batchSize: 4, shuffle: true })) {
        out.push({ images: b.images.dataSync() as Float32Array, targets: b.targets.dataSync() as Float32Array, targetWeights: b.targetWeights.dataSync() as Float32Array, meta: b.meta[0]! });
        for (const t of [b.images, b.targets, b.targetWeights]) t.dispose();
      }
      return out;
    };
    const a = pass(42);
    const b = pass(42);
    const c = pass(43);
    expect(a.length).toBe(4);
    a.forEach((x, i) => {
      expect(Buffer.from(x.images.buffer).equals(Buffer.from(b[i]!.images.buffer))).toBe(true);
      expect(Buffer.from(x.targets.buffer).equals(Buffer.from(b[i]!.targets.buffer))).toBe(true);
      expect(x.meta.augment).toEqual(b[i]!.meta.augment);
    });
    expect(a.some((x, i) => !Buffer.from(x.images.buffer).equals(Buffer.from(c[i]!.images.buffer)))).toBe(true);
    // the augmentation really varies: several scales, rotations and both flip states over a pass
    manualSeed(7);
    const draws = Array.from({ length: 16 }, (_, i) => ds.sample(i).meta.augment);
    expect(new Set(draws.map((d) => d.flip)).size).toBe(2);
    expect(new Set(draws.map((d) => d.scale.toFixed(6))).size).toBeGreaterThan(8);
    expect(draws.some((d) => d.rotation !== 0) && draws.some((d) => d.rotation === 0)).toBe(true);
  });

  it('a flip mirrors the crop (with HRNet’s one-pixel offset) and swaps left/right targets', () => {
    const plain = new TopDownDataset(videos, { ...base });
    const flipped = new TopDownDataset(videos, { ...base, train: true, augment: { flipProb: 1, scaleFactor: 0, rotationProb: 0, halfBodyProb: 0 } });
    const perm = flipPermutation(POSETRACK);
    let asymmetric = 0; // left/right pairs at different places: the swap is really tested
    for (const i of [2, 5, 11, 14]) {
      const a = plain.sample(i);
      const b = flipped.sample(i);
      expect(b.meta.augment.flip).toBe(true);
      // crop_flipped(x) = crop(W − x) for x = 1..W−1 (the flip test's shift undoes this offset)
      let maxDiff = 0;
      for (let c = 0; c < 3; c++) for (let y = 0; y < 64; y++) for (let x = 1; x < 48; x++) {
        maxDiff = Math.max(maxDiff, Math.abs(b.images[(c * 64 + y) * 48 + x]! - a.images[(c * 64 + y) * 48 + (48 - x)]!));
      }
      expect(maxDiff).toBeLessThan(1e-4);
      for (let k = 0; k < 17; k++) expect(b.targetWeights[k]).toBe(a.targetWeights[perm[k]!]);
      // every flipped heatmap k peaks at the mirror of the plain heatmap perm[k]
      const argmax = (arr: Float32Array, k: number): [number, number] => {
        let best = 0;
        for (let j = 1; j < 16 * 12; j++) if (arr[k * 192 + j]! > arr[k * 192 + best]!) best = j;
        return [best % 12, Math.floor(best / 12)];
      };
      for (let k = 0; k < 17; k++) {
        if (b.targetWeights[k] !== 1) continue;
        const [bx, by] = argmax(b.targets, k);
        const [ax, ay] = argmax(a.targets, perm[k]!);
        expect(by).toBe(ay);
        expect(Math.abs(bx - (12 - ax))).toBeLessThanOrEqual(1);
        if (perm[k] !== k) {
          const [ox, oy] = argmax(a.targets, k);
          if (Math.abs(ox - ax) > 1 || oy !== ay) asymmetric++;
        }
      }
    }
    expect(asymmetric).toBeGreaterThan(4);
  });

  it('weights hidden joints 0 when supervising visible joints, 1 when supervising annotated ones', () => {
    const occ = generateClip(0, { seed: 8, frames: 12, width: 96, height: 96, maxPeople: 1, maxOccluders: 2, blurProbability: 0 });
    const load = synthFrameLoader([occ]);
    const vis = new TopDownDataset([occ.video], { jointSet: POSETRACK, loadFrame: load, inputSize: [48, 64] });
    const ann = new TopDownDataset([occ.video], { jointSet: POSETRACK, loadFrame: load, inputSize: [48, 64], supervise: 'annotated' });
    let hidden = 0;
    for (let i = 0; i < vis.length; i++) {
      const a = vis.sample(i);
      const b = ann.sample(i);
      const kp = a.meta.keypoints;
      for (let k = 0; k < 17; k++) {
        const isHidden = kp[3 * k + 2] === 0 && !(kp[3 * k] === 0 && kp[3 * k + 1] === 0);
        if (!isHidden) continue;
        hidden++;
        expect(a.targetWeights[k]).toBe(0);
        expect(b.targetWeights[k]).toBe(1);
      }
      expect(a.targetWeights[3]).toBe(0); // ears are never supervised
    }
    expect(hidden).toBeGreaterThan(0);
  });

  it('rejects videos of another joint set and bad sizes', () => {
    const bad = { ...videos[0]!, keypointNames: ['a'] };
    expect(() => new TopDownDataset([bad], base)).toThrow(/TopDownDataset: expected videos with the joints of posetrack/);
    expect(() => new TopDownDataset(videos, { ...base, inputSize: [0, 64] })).toThrow(/expected inputSize as positive integers/);
    expect(() => new TopDownDataset(videos, base).sample(99)).toThrow(/expected an index in \[0, 16\), got 99/);
  });
});

describe("GLPose's global proposals (selection 'localGlobal')", () => {
  const clips = [0, 1, 2].map((i) => generateClip(i, { seed: 9, frames: 10, width: 128, height: 128, minPeople: 2, maxPeople: 3 }));
  const loadFrame = synthFrameLoader(clips);
  const videos = clips.map((c) => c.video);
  const frames = { kind: 'localGlobal', local: 1, global: 4 } as const;
  const base = { jointSet: POSETRACK, loadFrame, inputSize: [48, 64] as [number, number], frames };
  /** The same videos with every track id replaced by a different, unrelated number in every frame. */
  const scrambled = videos.map((v) => ({ ...v, frames: v.frames.map((f) => ({ ...f, people: f.people.map((p, i) => ({ ...p, trackId: 1000 + ((f.index * 31 + i * 17 + p.trackId * 7) % 89) })) })) }));

  it('never read a track id: scrambled ids give the same proposals and crops, in training and in evaluation', () => {
    for (const train of [false, true]) {
      const a = new TopDownDataset(videos, { ...base, train });
      const b = new TopDownDataset(scrambled, { ...base, train });
      expect(b.length).toBe(a.length);
      for (const i of [0, 3, 7, a.length - 1]) {
        manualSeed(i);
        const sa = a.sample(i);
        manualSeed(i);
        const sb = b.sample(i);
        expect(sb.meta.proposals).toEqual(sa.meta.proposals);
        expect(sb.meta.positions).toEqual(sa.meta.positions);
        expect(Array.from(sb.images)).toEqual(Array.from(sa.images));
      }
    }
  });

  it('proposals are boxes of any person outside the local window, cut with their own box, with no targets', () => {
    const ds = new TopDownDataset(videos, base);
    let others = 0;
    for (let i = 0; i < ds.length; i++) {
      const s = ds.sample(i);
      const video = videos.find((v) => v.id === s.meta.videoId)!;
      const key = s.meta.positions[0]!;
      expect(s.meta.proposals).toHaveLength(4);
      s.meta.proposals!.forEach((q, g) => {
        expect(Math.abs(q.position - key)).toBeGreaterThan(1);
        expect(s.meta.positions[3 + g]).toBe(q.position);
        const owner = video.frames[q.position]!.people.find((p) => p.bbox === q.box);
        expect(owner, 'an annotated box of that frame').toBeDefined();
        if (owner!.trackId !== s.meta.trackId) others++;
        // the crop is the proposal's own box, and a proposal is not supervised
        for (let k = 0; k < 17; k++) expect(s.targetWeights[(3 + g) * 17 + k]).toBe(0);
      });
    }
    expect(others).toBeGreaterThan(0); // other people's boxes are proposals too (the network ranks them)
  });

  it('take the boxes of a detector when one is given', () => {
    const detections = (_v: unknown, f: { index: number }): readonly [number, number, number, number][] => [[10 + f.index, 20, 40, 80]];
    const ds = new TopDownDataset(videos, { ...base, proposals: detections });
    const s = ds.sample(0);
    for (const q of s.meta.proposals!) expect(q.box).toEqual([10 + q.position, 20, 40, 80]);
  });
});

const PT = '/work/shared/data/posetrack18-sample';
describe.skipIf(!existsSync(PT))('TopDownDataset on the real PoseTrack sample', () => {
  it('crops people from the JPEG frames with the 25%-enlarged box', () => {
    const videos = readPoseTrackDir(join(PT, 'annotations', 'val')).filter((v) => v.id === '009473');
    const ds = new TopDownDataset(videos, { jointSet: POSETRACK, loadFrame: readFrame, inputSize: [96, 128] });
    expect(ds.length).toBe(2);
    const s = ds.sample(0);
    const box = videos[0]!.frames[0]!.people[0]!.bbox!;
    // box 351 x 751.4, aspect 0.75 → width 563.6 · 1.25 / 200
    expect(s.meta.scale[1]).toBeCloseTo((box[3] * 1.25) / 200, 8);
    expect(s.meta.scale[0]).toBeCloseTo((box[3] * 0.75 * 1.25) / 200, 8);
    const img = readFrame(videos[0]!, videos[0]!.frames[0]!);
    const tr = s.meta.transforms[0]!;
    const inv = invert(tr);
    for (const [cx, cy] of [[48, 64], [20, 30], [70, 100]] as [number, number][]) {
      const q = affinePoint(inv, [cx, cy]);
      for (let c = 0; c < 3; c++) expect(Math.abs(pixel(s.images, 128, 96, c, cx, cy) - bilinear(img, c, q[0], q[1]))).toBeLessThan(1e-2);
    }
    expect(s.targetWeights.reduce((a, b) => a + b, 0)).toBe(14);
  });
});

function invert(t: readonly number[]): [number, number, number, number, number, number] {
  const [a, b, c, d, e, f] = t as [number, number, number, number, number, number];
  const det = a * e - b * d;
  return [e / det, -b / det, (b * f - c * e) / det, -d / det, a / det, (c * d - a * f) / det];
}
