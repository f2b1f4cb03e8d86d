/**
 * The teacher of the real training data (models/train/real-data.ts): MoveNet SinglePose (Thunder)
 * on a square crop around each person box of a clean frame, with the flip test. Written on
 * MoveNet's public API (`prepareCrops`, `runMoveNet`, `decodeSinglePose`, `poseToFrame`); the flip
 * test itself is here, not in models/movenet.
 *
 * Flip test, at the keypoint level: every crop is run twice in one batch, as it is and mirrored
 * left–right. The mirrored view's keypoints are decoded with MoveNet's own decoding, mirrored back
 * (x ↦ W − x in MoveNet's continuous input coordinates, where pixel i spans [i, i + 1]) and their
 * left/right joints swapped (joints.ts `flipPermutation(COCO17)`). Then, per joint:
 *
 * - the two views agree (their positions are within `agreeRadius` · crop side): the label is the
 *   score-weighted mean of the two positions, with the mean score;
 * - they disagree (typically a left/right confusion, or a joint one view cannot see): the label is
 *   the higher-scoring view's position, with the *lower* of the two scores, so that an uncertain
 *   joint tends to fall below the supervision threshold instead of teaching a guess.
 *
 * Why keypoints and not heatmaps (HRNet's flip test, models/pose/data/flip.ts): MoveNet's
 * SinglePose decoding combines four maps (centre, regression, heatmaps, offsets), two of which are
 * vectors that would need their x components negated, and its stride-2 TF 'SAME' convolutions pad
 * asymmetrically, so the mirrored maps are not aligned cell for cell with the originals. Decoding
 * each view with MoveNet's own rules and merging the results avoids both problems.
 */
import type { DeviceName } from '../../backends/backend.js';
import type { Affine } from '../pose/affine.js';
import type { RgbaImage } from '../pose/image.js';
import { COCO17, flipPermutation } from '../pose/joints.js';
import { decodeSinglePose, type MoveNetKeypoint, type MoveNetPose } from '../movenet/decode.js';
import type { MoveNet } from '../movenet/movenet.js';
import { poseToFrame, prepareCrops, runMoveNet, type Box, type PreparedInput } from '../movenet/pipeline.js';

export interface TeacherOptions {
  /** The crop is a square of side cropPadding · max(w, h) around the box centre (default 1.25, the pipeline's). */
  readonly cropPadding?: number;
  /** Run the flip test (default true); false gives MoveNet's plain decoding of the crop. */
  readonly flip?: boolean;
  /** The two views agree on a joint when they are within this fraction of the crop side (default 0.05). */
  readonly agreeRadius?: number;
  /** Crops per forward pass (each is run twice with the flip test; default 8). */
  readonly batch?: number;
}

export const DEFAULT_TEACHER: Required<TeacherOptions> = Object.freeze({ cropPadding: 1.25, flip: true, agreeRadius: 0.05, batch: 8 });

/** One teacher label: 17 COCO keypoints in frame pixels (pixel centres at integers) with scores. */
export interface TeacherPose {
  readonly keypoints: MoveNetKeypoint[];
  /** Mean keypoint score. */
  readonly score: number;
  /** Per joint: whether the two views agreed (all true without the flip test). */
  readonly agreed: boolean[];
  /** Per joint: distance between the two views in frame pixels (0 without the flip test). */
  readonly flipDistance: number[];
}

const FLIP = flipPermutation(COCO17);

/** Mirrors every row of a [B, 3, H, W] batch left–right. */
export function mirrorBatch(input: PreparedInput): PreparedInput {
  const [B, C, H, W] = input.shape;
  const out = new Float32Array(input.data.length);
  for (let r = 0; r < B * C * H; r++) {
    const o = r * W;
    for (let x = 0; x < W; x++) out[o + x] = input.data[o + W - 1 - x]!;
  }
  return { data: out, shape: [B, C, H, W], transforms: input.transforms };
}

/** A pose decoded on a mirrored input, mirrored back into the unmirrored input (x ↦ W − x, left ↔ right). */
export function unmirrorPose(pose: MoveNetPose, inputWidth: number): MoveNetPose {
  const keypoints = FLIP.map((src, j) => {
    const k = pose.keypoints[src]!;
    return { name: COCO17.names[j]!, x: inputWidth - k.x, y: k.y, score: k.score };
  });
  return { keypoints, score: pose.score };
}

/** The flip test's merge of two poses (input pixels, the second already unmirrored); see the module doc. */
export function mergeViews(a: MoveNetPose, b: MoveNetPose, radius: number): { pose: MoveNetPose; agreed: boolean[]; distance: number[] } {
  const agreed: boolean[] = [];
  const distance: number[] = [];
  const keypoints = a.keypoints.map((ka, j) => {
    const kb = b.keypoints[j]!;
    const d = Math.hypot(ka.x - kb.x, ka.y - kb.y);
    distance.push(d);
    if (d <= radius) {
      agreed.push(true);
      const w = ka.score + kb.score;
      const wa = w > 0 ? ka.score / w : 0.5;
      return { name: ka.name, x: wa * ka.x + (1 - wa) * kb.x, y: wa * ka.y + (1 - wa) * kb.y, score: (ka.score + kb.score) / 2 };
    }
    agreed.push(false);
    const best = ka.score >= kb.score ? ka : kb;
    return { name: ka.name, x: best.x, y: best.y, score: Math.min(ka.score, kb.score) };
  });
  return { pose: { keypoints, score: keypoints.reduce((s, k) => s + k.score, 0) / keypoints.length }, agreed, distance };
}

/**
 * Labels the people of one clean frame: Thunder (or any SinglePose MoveNet) on a crop around each
 * box, with the flip test unless `flip: false`.
 * @returns one pose per box, in frame pixels.
 * @throws Error when the model is a MultiPose network.
 */
export async function teacherLabels(model: MoveNet, frame: RgbaImage, boxes: readonly Box[], device: DeviceName, opts: TeacherOptions = {}): Promise<TeacherPose[]> {
  if (model.config.multiPose) throw new Error('teacherLabels: expected a SinglePose MoveNet (thunder or lightning), got MultiPose');
  const o = { ...DEFAULT_TEACHER, ...opts };
  const [H, W] = model.config.inputSize;
  const out: TeacherPose[] = [];
  for (let s = 0; s < boxes.length; s += o.batch) {
    const chunk = boxes.slice(s, s + o.batch);
    const input = prepareCrops(frame, chunk, [H, W], o.cropPadding);
    const n = chunk.length;
    if (!o.flip) {
      const maps = await runMoveNet(model, input, device);
      for (let b = 0; b < n; b++) {
        const p = poseToFrame(decodeSinglePose(maps, model.config, b), input.transforms[b]!);
        out.push({ keypoints: p.keypoints, score: p.score, agreed: p.keypoints.map(() => true), flipDistance: p.keypoints.map(() => 0) });
      }
      continue;
    }
    const mirrored = mirrorBatch(input);
    const both = new Float32Array(2 * input.data.length);
    both.set(input.data, 0);
    both.set(mirrored.data, input.data.length);
    const transforms: Affine[] = [...input.transforms, ...input.transforms];
    const maps = await runMoveNet(model, { data: both, shape: [2 * n, 3, H, W], transforms }, device);
    for (let b = 0; b < n; b++) {
      const a = decodeSinglePose(maps, model.config, b);
      const m = unmirrorPose(decodeSinglePose(maps, model.config, n + b), W);
      const merged = mergeViews(a, m, o.agreeRadius * Math.max(H, W));
      const t = input.transforms[b]!;
      const p = poseToFrame(merged.pose, t);
      const scale = 1 / Math.abs(t[0]); // input pixels → frame pixels (the crop is an isotropic scale)
      out.push({ keypoints: p.keypoints, score: p.score, agreed: merged.agreed, flipDistance: merged.distance.map((d) => d * scale) });
    }
  }
  return out;
}
