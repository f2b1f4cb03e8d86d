/**
 * Evaluation of a trained network on held-out SynthPose clips: poseval-style mAP (models/pose/
 * metrics/poseval.ts, PoseTrack's evaluation rules) over all labeled frames, and split with the
 * metric's frame filter into "hard" frames (some joint hidden by an occluder or another figure, or
 * the frame rendered with motion blur) and "clean" frames (neither), plus the occluded and blurred
 * subsets on their own.
 *
 * Protocol: top-down with ground-truth person boxes (the key-frame box enlarged by 25%, as the
 * data pipeline crops); no flip test unless `flip` (then HRNet's: the heatmaps of the crops and of
 * their mirror images, the latter mirrored back with left/right swapped and shifted one pixel, are
 * averaged; models/pose/data/flip.ts); heatmaps decoded with HRNet's get_final_preds (argmax,
 * quarter-pixel shift, inverse affine of the crop); the per-joint score is the heatmap maximum.
 * SynthPose's hidden joints keep their exact position and are scored (docs/synthpose.md).
 */
import { engine, noGrad, tidy } from '../../engine/engine.js';
import { fail } from '../../engine/shape.js';
import type { DeviceName } from '../../backends/backend.js';
import type { Affine } from '../pose/affine.js';
import { TopDownDataset, type FrameLoader, type PoseBatch, type PoseSample } from '../pose/data/dataset.js';
import { flipBack } from '../pose/data/flip.js';
import { flipPermutation } from '../pose/joints.js';
import { add, mul } from '../../ops/elementwise.js';
import { flip } from '../../ops/shape.js';
import type { VideoFrame, VideoSequence } from '../pose/datasets/types.js';
import { getFinalPreds } from '../pose/decode.js';
import { evaluatePoseTrack, type PosevalPredPerson, type PosevalResult } from '../pose/metrics/poseval.js';
import { staticBatch, type Adapter } from './adapters.js';
import { isHardFrame } from './data.js';

/** mAP over each frame subset. */
export interface EvalResult {
  /** Every scored frame. */
  all: PosevalResult;
  /** Occluded or blurred frames. */
  hard: PosevalResult;
  /** Frames neither occluded nor blurred. */
  clean: PosevalResult;
  occluded: PosevalResult;
  blurred: PosevalResult;
}

/** Subsets of the scored frames, by their SynthPose flags. */
export const FRAME_SUBSETS: Readonly<Record<keyof EvalResult, (f: VideoFrame) => boolean>> = Object.freeze({
  all: () => true,
  hard: (f: VideoFrame) => isHardFrame(f),
  clean: (f: VideoFrame) => !isHardFrame(f),
  occluded: (f: VideoFrame) => f.flags?.occluded === true,
  blurred: (f: VideoFrame) => f.flags?.blurred === true,
});

/**
 * Scores predictions (keyed by image id, `[K·3]` x, y, score per person) on the labeled frames of
 * `videos` whose position is a multiple of `frameStride`, for each subset of FRAME_SUBSETS.
 * @throws Error from evaluatePoseTrack (joint lists that differ, keypoint arrays of the wrong length).
 */
export function scorePredictions(videos: readonly VideoSequence[], predictions: ReadonlyMap<number, readonly PosevalPredPerson[]>, frameStride = 1): EvalResult {
  const scored = (f: VideoFrame): boolean => f.index % frameStride === 0;
  const run = (keep: (f: VideoFrame) => boolean): PosevalResult => evaluatePoseTrack(videos, predictions, { filter: (f) => scored(f) && keep(f) });
  return { all: run(FRAME_SUBSETS.all), hard: run(FRAME_SUBSETS.hard), clean: run(FRAME_SUBSETS.clean), occluded: run(FRAME_SUBSETS.occluded), blurred: run(FRAME_SUBSETS.blurred) };
}

export interface PredictOptions {
  loadFrame: FrameLoader;
  /** Feed every network its key frame in place of the neighbours (the static-input control, `staticBatch`). */
  staticInput?: boolean;
  /** Samples per forward pass (default 16). */
  batchSize?: number;
  device?: DeviceName;
  /** Score only frames whose position in the clip is a multiple of this (default 1: all). */
  frameStride?: number;
  /**
   * The flip test (default false): every batch also runs mirrored (`flippedBatch`) and the two
   * heatmaps are averaged after mirroring the second back (left/right channels swapped, shifted
   * one pixel: flip.ts `flipBack`). Twice the compute.
   */
  flip?: boolean;
  /** Called after each batch with (samples done, total). */
  onProgress?: (done: number, total: number) => void;
}

/**
 * A batch with every crop mirrored horizontally (images [B, T, 3, H, W] along W), for the flip
 * test. Its meta records the mirrored crops' affines (x ↦ W − 1 − x after the crop), so that
 * per-crop caches (FaSRnet, VREMD: ids from the affine) keep the two apart; targets are not mirrored
 * (the flip test never reads them).
 */
export function flippedBatch(batch: PoseBatch): PoseBatch {
  const W = batch.images.shape[4]!;
  const mirror = (t: Affine): Affine => [-t[0], -t[1], W - 1 - t[2], t[3], t[4], t[5]];
  return { ...batch, images: flip(batch.images, 4), meta: batch.meta.map((m) => ({ ...m, transforms: m.transforms.map(mirror) })) };
}

interface Kept {
  priority: number;
  keypoints: Float64Array;
}

/**
 * Runs the adapter's network in eval mode over every person of every labeled frame of `videos`
 * (the top-down crops of the validation pipeline: `train: false`, no augmentation) and decodes
 * the heatmaps to image keypoints. When several samples predict the same person in the same frame
 * (RPSTN's overlapping windows), the prediction with the highest priority (most context) is kept;
 * on a tie, the later one (the later output of a window, or the later window).
 * The network's training mode is restored afterwards.
 * @returns predictions keyed by image id, one entry per person.
 */
export async function predictVideos(adapter: Adapter, videos: readonly VideoSequence[], opts: PredictOptions): Promise<Map<number, PosevalPredPerson[]>> {
  const stride = opts.frameStride ?? 1;
  if (!Number.isInteger(stride) || stride < 1) fail('predictVideos', 'frameStride as an integer ≥ 1', String(stride));
  const bs = opts.batchSize ?? 16;
  const ds = new TopDownDataset(videos, {
    jointSet: adapter.jointSet,
    loadFrame: opts.loadFrame,
    inputSize: adapter.inputSize,
    frames: adapter.frames,
    train: false,
    supervise: 'annotated',
  });
  const K = adapter.jointSet.numJoints;
  const flipPerm = flipPermutation(adapter.jointSet);
  const wasTraining = adapter.module.training;
  adapter.module.eval();
  const best = new Map<number, Map<number, Kept>>();
  const decodesScored = (s: PoseSample): boolean => (opts.staticInput ? s.meta.positions[s.meta.key]! % stride === 0 : s.meta.positions.some((p) => p % stride === 0));
  try {
    let pending: PoseSample[] = [];
    let done = 0;
    const flush = async (): Promise<void> => {
      if (pending.length === 0) return;
      const samples = pending;
      pending = [];
      const { outs, metas } = tidy(() => {
        const collated = ds.collate(samples, opts.device ?? engine.defaultDevice);
        const batch = opts.staticInput ? staticBatch(collated) : collated;
        let preds = noGrad(() => adapter.predict(batch));
        if (opts.flip) {
          const mirrored = noGrad(() => adapter.predict(flippedBatch(batch)));
          preds = preds.map((p, i) => {
            const q = mirrored[i];
            if (!q || q.t !== p.t) fail('predictVideos', `the mirrored batch to predict frame ${p.t} as output ${i}`, q ? `frame ${q.t}` : 'nothing');
            return { ...p, heatmaps: noGrad(() => mul(add(p.heatmaps, flipBack(q.heatmaps, { flipPerm })), 0.5)) };
          });
        }
        return { outs: preds.map((p) => ({ ...p, heatmaps: p.heatmaps.keep() })), metas: batch.meta };
      });
      for (const o of outs) {
        const values = await o.heatmaps.data();
        const shape = o.heatmaps.shape;
        o.heatmaps.dispose();
        const kps = getFinalPreds(values, shape, { crops: samples.map((s) => ({ center: [s.meta.center[0], s.meta.center[1]], scale: [s.meta.scale[0], s.meta.scale[1]] })) });
        metas.forEach((meta, b) => {
          const pos = meta.positions[o.t]!;
          if (pos % stride !== 0) return;
          const imageId = meta.frameIds[o.t]!;
          const prio = o.priority[b]!;
          let frame = best.get(imageId);
          if (!frame) best.set(imageId, (frame = new Map()));
          const cur = frame.get(meta.trackId);
          if (cur && cur.priority > prio) return; // ties: the later output (more recurrence) wins
          const kp = new Float64Array(3 * K);
          kps[b]!.forEach((p, k) => {
            kp[3 * k] = p.x;
            kp[3 * k + 1] = p.y;
            kp[3 * k + 2] = p.score;
          });
          frame.set(meta.trackId, { priority: prio, keypoints: kp });
        });
      }
      opts.onProgress?.(done, ds.length);
    };
    for (let i = 0; i < ds.length; i++) {
      const s = ds.sample(i);
      done++;
      if (!decodesScored(s)) continue;
      pending.push(s);
      if (pending.length >= bs) await flush();
    }
    await flush();
  } finally {
    adapter.module.train(wasTraining);
  }
  const out = new Map<number, PosevalPredPerson[]>();
  for (const [id, people] of best) out.set(id, [...people.values()].map((p) => ({ keypoints: p.keypoints })));
  return out;
}

/** predictVideos then scorePredictions, with the wall-clock seconds it took. */
export async function evaluateAdapter(adapter: Adapter, videos: readonly VideoSequence[], opts: PredictOptions): Promise<EvalResult & { seconds: number }> {
  const t0 = performance.now();
  const preds = await predictVideos(adapter, videos, opts);
  return { ...scorePredictions(videos, preds, opts.frameStride ?? 1), seconds: (performance.now() - t0) / 1000 };
}

/** A one-line summary: mAP all / hard / clean. */
export function formatEval(r: EvalResult): string {
  return `mAP ${r.all.table.mean.toFixed(1)} (hard ${r.hard.table.mean.toFixed(1)}, clean ${r.clean.table.mean.toFixed(1)}; occluded ${r.occluded.table.mean.toFixed(1)}, blurred ${r.blurred.table.mean.toFixed(1)})`;
}
