/**
 * The trainer's evaluation (models/train/evaluate.ts) on a tiny in-memory SynthPose set:
 * ground-truth keypoints score 100 mAP in every frame subset; the hard/clean split follows the
 * frames' flags; the frame stride scores only the frames it names; the full predict → decode →
 * score path gives high mAP for target heatmaps and low mAP for displaced ones; when two
 * predictions cover the same person and frame, the higher priority wins; and the flip test
 * (`flip`) mirrors the crops, averages the mirrored-back heatmaps and leaves nothing behind.
 */
import { describe, expect, it } from 'vitest';
import { memory } from '../../engine/engine.js';
import type { Tensor } from '../../engine/tensor.js';
import { zerosLike } from '../../ops/creation.js';
import { reshape, slice, concat } from '../../ops/shape.js';
import { Module } from '../../models/nn/module.js';
import type { PoseBatch } from '../../models/pose/data/dataset.js';
import type { FrameSelection } from '../../models/pose/data/frames.js';
import type { VideoSequence } from '../../models/pose/datasets/types.js';
import type { PosevalPredPerson } from '../../models/pose/metrics/poseval.js';
import { flipPermutation, POSETRACK } from '../../models/pose/joints.js';
import { affinePoint } from '../../models/pose/affine.js';
import { flipBack } from '../../models/pose/data/flip.js';
import { TopDownDataset } from '../../models/pose/data/dataset.js';
import { generateClip } from '../../models/synthpose/generator.js';
import { synthFrameLoader } from '../../models/synthpose/loader.js';
import type { Adapter, Prediction } from '../../models/train/adapters.js';
import { frameCounts, isHardFrame } from '../../models/train/data.js';
import { flippedBatch, predictVideos, scorePredictions } from '../../models/train/evaluate.js';

const clips = [0, 1, 2].map((i) => generateClip(i, { seed: 11, frames: 6, width: 128, height: 128 }));
const videos: VideoSequence[] = clips.map((c) => c.video);
const loadFrame = synthFrameLoader(clips);

/** Every ground-truth person as a prediction with score 1 (optionally only in some frames). */
function gtPredictions(keep: (frameIndex: number, hard: boolean) => boolean = () => true): Map<number, PosevalPredPerson[]> {
  const m = new Map<number, PosevalPredPerson[]>();
  for (const v of videos) {
    for (const f of v.frames) {
      if (!keep(f.index, isHardFrame(f))) continue;
      m.set(f.id, f.people.map((p) => ({ keypoints: Float64Array.from(p.keypoints, (x, j) => (j % 3 === 2 ? 1 : x)) })));
    }
  }
  return m;
}

describe('scorePredictions', () => {
  const counts = frameCounts(videos);

  it('the set has hard and clean frames (else the split tests below would be vacuous)', () => {
    expect(counts.frames).toBe(18);
    expect(counts.hard).toBeGreaterThan(0);
    expect(counts.clean).toBeGreaterThan(0);
  });

  it('ground-truth keypoints score 100 in every subset, and each subset scores its own frames', () => {
    const r = scorePredictions(videos, gtPredictions());
    for (const k of ['all', 'hard', 'clean'] as const) {
      expect(r[k].table.mean).toBe(100);
      for (const ap of r[k].ap) expect(ap).toBe(100);
    }
    expect(r.all.numFrames).toBe(counts.frames);
    expect(r.hard.numFrames).toBe(counts.hard);
    expect(r.clean.numFrames).toBe(counts.clean);
    expect(r.occluded.numFrames).toBe(counts.occluded);
    expect(r.blurred.numFrames).toBe(counts.blurred);
  });

  it('perfect on clean frames and absent on hard ones: clean 100, hard 0, all in between', () => {
    const r = scorePredictions(videos, gtPredictions((_, hard) => !hard));
    expect(r.clean.table.mean).toBe(100);
    expect(r.hard.table.mean).toBe(0);
    expect(r.all.table.mean).toBeGreaterThan(0);
    expect(r.all.table.mean).toBeLessThan(100);
    // AP of a joint = recall when every prediction is correct: the clean share of its ground truth
    r.all.ap.forEach((ap, j) => {
      if (r.all.nGT[j] === 0) return;
      expect(ap).toBeCloseTo((100 * r.clean.nGT[j]!) / r.all.nGT[j]!, 9);
    });
  });

  it('a frame stride scores only the frames at multiples of it', () => {
    const r = scorePredictions(videos, gtPredictions((i) => i % 3 === 0), 3);
    expect(r.all.numFrames).toBe(3 * 2); // frames 0 and 3 of each clip
    expect(r.all.table.mean).toBe(100);
    const wrong = scorePredictions(videos, gtPredictions((i) => i % 3 === 0), 2); // frames 0, 2, 4: only 0 predicted
    expect(wrong.all.numFrames).toBe(3 * 3);
    expect(wrong.all.table.mean).toBeLessThan(100);
  });
});

/** A stand-in network whose "heatmaps" are the batch's own targets (optionally displaced). */
class OracleAdapter implements Adapter {
  readonly id = 'oracle';
  readonly model = 'baseline' as const;
  readonly preset = 'tiny' as const;
  readonly module = new Module();
  readonly inputSize = [64, 64] as const;
  readonly jointSet = POSETRACK;
  readonly baselineArch = 'hrnet' as const;
  constructor(
    readonly frames: FrameSelection = { kind: 'single' },
    private readonly outputs: (batch: PoseBatch, target: Tensor) => Prediction[] = (b, t) => [{ t: 0, heatmaps: t, priority: b.meta.map(() => 0) }],
  ) {}
  trainableParameters(): Tensor[] {
    return [];
  }
  loss(): Tensor {
    throw new Error('not used');
  }
  predict(batch: PoseBatch): Prediction[] {
    const [B, , K, h, w] = batch.targets.shape as [number, number, number, number, number];
    const key = batch.meta[0]!.key;
    return this.outputs(batch, reshape(slice(batch.targets, 1, key, key + 1), [B, K, h, w]));
  }
  initFromBaseline(): string {
    return '';
  }
  clearCache(): void {}
  cacheStats(): null {
    return null;
  }
}

/** Heatmaps moved right by `dx` heatmap pixels (zeros enter on the left). */
function shiftRight(t: Tensor, dx: number): Tensor {
  const w = t.shape[3]!;
  return concat([zerosLike(slice(t, 3, 0, dx)), slice(t, 3, 0, w - dx)], 3);
}

describe('predictVideos (predict → decode → score)', () => {
  const score = async (a: Adapter): Promise<ReturnType<typeof scorePredictions>> => scorePredictions(videos, await predictVideos(a, videos, { loadFrame, batchSize: 8 }));

  it('target heatmaps decode to near-perfect keypoints; displaced heatmaps do not', async () => {
    const exact = await score(new OracleAdapter());
    expect(exact.all.numFrames).toBe(18);
    // decoding loses at most a quarter heatmap pixel of precision; joints outside the crop have empty targets
    expect(exact.all.table.mean).toBeGreaterThan(90);
    const shifted = await score(new OracleAdapter(undefined, (b, t) => [{ t: 0, heatmaps: shiftRight(t, 6), priority: b.meta.map(() => 0) }]));
    expect(shifted.all.table.mean).toBeLessThan(exact.all.table.mean - 40);
  });

  it('the highest-priority prediction of a person in a frame wins, whatever the order', async () => {
    const exact = await score(new OracleAdapter());
    const zeros = (t: Tensor): Tensor => zerosLike(t);
    const goodFirst = await score(new OracleAdapter(undefined, (b, t) => [
      { t: 0, heatmaps: t, priority: b.meta.map(() => 2) },
      { t: 0, heatmaps: zeros(t), priority: b.meta.map(() => 1) },
    ]));
    const goodLast = await score(new OracleAdapter(undefined, (b, t) => [
      { t: 0, heatmaps: zeros(t), priority: b.meta.map(() => 1) },
      { t: 0, heatmaps: t, priority: b.meta.map(() => 2) },
    ]));
    const badWins = await score(new OracleAdapter(undefined, (b, t) => [
      { t: 0, heatmaps: t, priority: b.meta.map(() => 1) },
      { t: 0, heatmaps: zeros(t), priority: b.meta.map(() => 2) },
    ]));
    expect(goodFirst.all.table.mean).toBe(exact.all.table.mean);
    expect(goodLast.all.table.mean).toBe(exact.all.table.mean);
    expect(badWins.all.table.mean).toBeLessThan(10);
  });

  it('leaves no tensor behind and restores the training mode', async () => {
    const a = new OracleAdapter();
    a.module.train();
    const n0 = memory().numTensors;
    await predictVideos(a, videos, { loadFrame, batchSize: 5 });
    expect(memory().numTensors).toBe(n0);
    expect(a.module.training).toBe(true);
  });

  it('rejects a bad frame stride', async () => {
    await expect(predictVideos(new OracleAdapter(), videos, { loadFrame, frameStride: 0 })).rejects.toThrow('predictVideos: expected frameStride as an integer ≥ 1, got 0');
  });
});

describe('the flip test (PredictOptions.flip)', () => {
  it('flippedBatch mirrors every crop along its width, and its affines with it', () => {
    const ds = new TopDownDataset(videos, { jointSet: POSETRACK, loadFrame, inputSize: [48, 64], frames: { kind: 'curPrevNext' } });
    const batch = ds.collate([ds.sample(0), ds.sample(4)]);
    const f = flippedBatch(batch);
    expect(f.images.shape).toEqual(batch.images.shape);
    const a = batch.images.dataSync();
    const b = f.images.dataSync();
    for (const i of [0, 17, 1000, a.length - 1]) {
      const x = i % 48;
      expect(b[i - x + (47 - x)]).toBe(a[i]);
    }
    f.meta.forEach((m, s) => m.transforms.forEach((t, k) => {
      const p: [number, number] = [31.5, 12.25];
      const q = affinePoint(batch.meta[s]!.transforms[k]!, p);
      const r = affinePoint(t, p);
      expect(r[0]).toBeCloseTo(47 - q[0], 9);
      expect(r[1]).toBeCloseTo(q[1], 9);
    }));
    for (const t of [batch.images, batch.targets, batch.targetWeights, f.images]) t.dispose();
  });

  it('an equivariant network keeps near-perfect keypoints; each batch runs mirrored too; nothing is left behind', async () => {
    const perm = flipPermutation(POSETRACK);
    let calls = 0;
    let mirroredCalls = 0;
    // The oracle as a network that sees the image: on a mirrored batch it answers the mirrored, left/right-swapped targets.
    const a = new OracleAdapter(undefined, (b, t) => {
      calls++;
      const mirrored = b.meta[0]!.transforms[b.meta[0]!.key]![0] < 0;
      if (mirrored) mirroredCalls++;
      return [{ t: 0, heatmaps: mirrored ? flipBack(t, { flipPerm: perm, shift: false }) : t, priority: b.meta.map(() => 0) }];
    });
    const n0 = memory().numTensors;
    const plain = scorePredictions(videos, await predictVideos(a, videos, { loadFrame, batchSize: 8 }));
    const plainCalls = calls;
    const flipped = scorePredictions(videos, await predictVideos(a, videos, { loadFrame, batchSize: 8, flip: true }));
    expect(memory().numTensors).toBe(n0);
    expect(calls - plainCalls).toBe(2 * plainCalls);
    expect(mirroredCalls).toBe(plainCalls);
    // HRNet's one-pixel shift moves the averaged peak by half a heatmap pixel: still near-perfect
    expect(flipped.all.table.mean).toBeGreaterThan(85);
    expect(Math.abs(flipped.all.table.mean - plain.all.table.mean)).toBeLessThan(10);
  });
});
