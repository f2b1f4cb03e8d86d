/**
 * Pose estimation on real frames with MoveNet: MultiPose finds the people of a frame, and a
 * SinglePose network (Thunder by default) re-estimates each person's keypoints on a square crop
 * around its box, the two-stage scheme of top-down pose estimators (and of tfjs-models'
 * pose-detection, which crops SinglePose around the previous frame's keypoints).
 *
 * Browser-safe: frames are RgbaImage objects, the networks run on any backend, and nothing reads
 * files. Coordinates are image pixels of the frame (x right, y down, pixel centres at integers).
 */
import type { DeviceName } from '../../backends/backend.js';
import { noGrad, tidy } from '../../engine/engine.js';
import { tensor } from '../../ops/creation.js';
import { affinePoint, invertAffine, warpAffineRgb, type Affine } from '../pose/affine.js';
import type { RgbaImage } from '../pose/image.js';
import { decodeMultiPose, decodeSinglePose, readMoveNetOutput, type MoveNetHostOutput, type MoveNetPose } from './decode.js';
import { disposeMoveNetOutput, type MoveNet } from './movenet.js';

export interface MoveNetPipelineOptions {
  /**
   * Longer side of MultiPose's input in pixels, a multiple of 32 (default 512; tfjs-models uses 256,
   * at which people under ~60 px tall are missed: see docs/models/movenet.md and docs/results.md).
   */
  detectorMaxSize?: number;
  /** People whose MultiPose score is below this are dropped (default 0.2; tfjs-models uses 0.25). */
  minPersonScore?: number;
  /** The SinglePose crop is a square of side cropPadding · max(w, h) around the box centre (default 1.25). */
  cropPadding?: number;
  /**
   * SinglePose crops per forward (default DEFAULT_BATCH_SIZE = 8). A frame's persons run in batches
   * of at most this many, one after the other, each freed before the next, so device memory is
   * bounded by one batch however many persons a frame has. The poses do not depend on it.
   */
  batchSize?: number;
}

/** SinglePose crops per forward when no batch size is given (MoveNetPipelineOptions.batchSize, the demo's --batch). */
export const DEFAULT_BATCH_SIZE = 8;

/**
 * The [start, end) ranges that split `n` items into consecutive batches of at most `batchSize`
 * (the last one shorter); none when n = 0.
 * @throws Error "batchRanges: expected ..." when n is not a non-negative integer or batchSize not a positive integer.
 */
export function batchRanges(n: number, batchSize: number): [number, number][] {
  if (!(Number.isInteger(n) && n >= 0)) throw new Error(`batchRanges: expected n as a non-negative integer, got ${n}`);
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new Error(`batchRanges: expected batchSize as a positive integer, got ${batchSize}`);
  const out: [number, number][] = [];
  for (let s = 0; s < n; s += batchSize) out.push([s, Math.min(n, s + batchSize)]);
  return out;
}

/** One network input prepared on the host: [B, 3, H, W] RGB 0..255 and the affine of each image (frame → input pixels). */
export interface PreparedInput {
  data: Float32Array;
  shape: [number, number, number, number];
  transforms: Affine[];
}

/** [x, y, w, h] in pixels. */
export type Box = [number, number, number, number];

/**
 * The affine (in pixel-centre coordinates) that maps the frame region [x0, x0 + sw] × [y0, y0 + sh]
 * onto an output of outW × outH pixels.
 */
function regionTransform(x0: number, y0: number, sw: number, sh: number, outW: number, outH: number): Affine {
  const kx = outW / sw;
  const ky = outH / sh;
  // out + 0.5 = (in + 0.5 − x0) · k
  return [kx, 0, (0.5 - x0) * kx - 0.5, 0, ky, (0.5 - y0) * ky - 0.5];
}

/** The detector input size [H, W] for a frame: longer side `maxSize`, both multiples of 32 (tfjs-models' rule). */
export function detectorInputSize(width: number, height: number, maxSize: number): [number, number] {
  if (!(Number.isInteger(maxSize) && maxSize >= 32 && maxSize % 32 === 0)) throw new Error(`detectorInputSize: expected maxSize a multiple of 32, got ${maxSize}`);
  const s = maxSize / Math.max(width, height);
  const r = (v: number): number => Math.max(32, Math.round((v * s) / 32) * 32);
  return [r(height), r(width)];
}

/** The whole frame resized (bilinear) to the detector's input. */
export function prepareDetectorInput(frame: RgbaImage, maxSize: number): PreparedInput {
  const [H, W] = detectorInputSize(frame.width, frame.height, maxSize);
  const t = regionTransform(0, 0, frame.width, frame.height, W, H);
  return { data: warpAffineRgb(frame, t, W, H), shape: [1, 3, H, W], transforms: [t] };
}

/** The square crop of each box (side `padding` · max(w, h), centred on the box), resized to size × size. */
export function prepareCrops(frame: RgbaImage, boxes: readonly Box[], size: readonly [number, number], padding: number): PreparedInput {
  const [H, W] = size;
  const plane = 3 * H * W;
  const data = new Float32Array(boxes.length * plane);
  const transforms = boxes.map((b, i) => {
    const [x, y, w, h] = b;
    const side = padding * Math.max(w, h, 1);
    const t = regionTransform(x + w / 2 - side / 2, y + h / 2 - side / 2, side, side, W, H);
    data.set(warpAffineRgb(frame, t, W, H), i * plane);
    return t;
  });
  return { data, shape: [boxes.length, 3, H, W], transforms };
}

/**
 * Runs a MoveNet on a prepared input (the whole batch in one forward), without autograd, in its own
 * `tidy` (every intermediate is freed, also when the forward throws), and reads its maps back.
 * @returns the host maps; the device tensors are freed.
 */
export async function runMoveNet(model: MoveNet, input: PreparedInput, device: DeviceName): Promise<MoveNetHostOutput> {
  const out = noGrad(() =>
    tidy(() => {
      const x = tensor(input.data, { shape: input.shape, device });
      try {
        return model.forward(x);
      } finally {
        x.dispose();
      }
    }),
  );
  try {
    return await readMoveNetOutput(out, [input.shape[2], input.shape[3]], model.center_weight);
  } finally {
    disposeMoveNetOutput(out);
  }
}

/** Maps a pose from input pixels (MoveNet's continuous coordinates: pixel i spans [i, i+1]) back to the frame. */
export function poseToFrame(pose: MoveNetPose, t: Affine): MoveNetPose {
  const inv = invertAffine(t);
  const map = (x: number, y: number): [number, number] => affinePoint(inv, [x - 0.5, y - 0.5]);
  const keypoints = pose.keypoints.map((k) => {
    const [x, y] = map(k.x, k.y);
    return { ...k, x, y };
  });
  let box: Box | undefined;
  if (pose.box) {
    const [x0, y0] = map(pose.box[0], pose.box[1]);
    const [x1, y1] = map(pose.box[0] + pose.box[2], pose.box[1] + pose.box[3]);
    box = [x0, y0, x1 - x0, y1 - y0];
  }
  return { keypoints, score: pose.score, ...(box ? { box } : {}) };
}

/** MultiPose on one frame: the people scoring ≥ minScore, in frame pixels, best first. */
export function decodeDetections(maps: MoveNetHostOutput, detector: MoveNet, t: Affine, minScore: number): MoveNetPose[] {
  return decodeMultiPose(maps, detector.config)
    .filter((p) => p.score >= minScore)
    .map((p) => poseToFrame(p, t))
    .sort((a, b) => b.score - a.score);
}

/** SinglePose on a batch of crops: one pose per crop, in frame pixels. */
export function decodeRefined(maps: MoveNetHostOutput, refiner: MoveNet, transforms: readonly Affine[]): MoveNetPose[] {
  return transforms.map((t, b) => poseToFrame(decodeSinglePose(maps, refiner.config, b), t));
}

/**
 * Detection (MultiPose) and refinement (SinglePose on crops) for one frame, on one backend.
 * `boxes`: refine these boxes instead of detecting (null: detect). Without a refiner the MultiPose
 * keypoints are returned as they are.
 */
export class MoveNetPipeline {
  readonly detectorMaxSize: number;
  readonly minPersonScore: number;
  readonly cropPadding: number;
  /** SinglePose crops per forward (MoveNetPipelineOptions.batchSize). */
  readonly batchSize: number;

  constructor(
    readonly detector: MoveNet | null,
    readonly refiner: MoveNet | null,
    opts: MoveNetPipelineOptions = {},
  ) {
    if (detector && !detector.config.multiPose) throw new Error(`MoveNetPipeline: expected a MultiPose detector, got MoveNet ${detector.config.variant}`);
    if (refiner && refiner.config.multiPose) throw new Error('MoveNetPipeline: expected a SinglePose refiner (lightning or thunder), got MultiPose');
    if (!detector && !refiner) throw new Error('MoveNetPipeline: expected a detector, a refiner or both, got neither');
    this.detectorMaxSize = opts.detectorMaxSize ?? 512;
    this.minPersonScore = opts.minPersonScore ?? 0.2;
    this.cropPadding = opts.cropPadding ?? 1.25;
    this.batchSize = opts.batchSize ?? DEFAULT_BATCH_SIZE;
    if (!(Number.isInteger(this.batchSize) && this.batchSize >= 1)) throw new Error(`MoveNetPipeline: expected batchSize as a positive integer (crops per forward), got ${opts.batchSize}`);
  }

  /** MultiPose on the frame. @throws Error when there is no detector. */
  async detect(frame: RgbaImage, device: DeviceName): Promise<MoveNetPose[]> {
    if (!this.detector) throw new Error('MoveNetPipeline.detect: expected a MultiPose detector, got none (pass boxes)');
    const input = prepareDetectorInput(frame, this.detectorMaxSize);
    return decodeDetections(await runMoveNet(this.detector, input, device), this.detector, input.transforms[0]!, this.minPersonScore);
  }

  /**
   * SinglePose on a crop around each box, `batchSize` crops per forward: each batch's crops are
   * prepared, run, read back and decoded before the next batch starts, so host and device memory
   * hold one batch at a time. @returns one pose per box, in box order, with the box.
   * @throws Error when there is no refiner.
   */
  async refine(frame: RgbaImage, boxes: readonly Box[], device: DeviceName): Promise<MoveNetPose[]> {
    if (!this.refiner) throw new Error('MoveNetPipeline.refine: expected a SinglePose refiner, got none');
    const poses: MoveNetPose[] = [];
    for (const [s, e] of batchRanges(boxes.length, this.batchSize)) {
      const input = prepareCrops(frame, boxes.slice(s, e), this.refiner.config.inputSize, this.cropPadding);
      poses.push(...decodeRefined(await runMoveNet(this.refiner, input, device), this.refiner, input.transforms));
    }
    return poses.map((p, i) => ({ ...p, box: [...boxes[i]!] as Box }));
  }
}
