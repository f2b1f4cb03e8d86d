/**
 * A greedy multi-person pose tracker: gives every detected person an id that stays the same across
 * the frames of a video, by matching each frame's detections to the live tracks' last poses. This is
 * the flow-free greedy matching of the PoseTrack baselines (Xiao et al., "Simple Baselines for Human
 * Pose Estimation and Tracking", ECCV 2018, without the optical-flow box propagation) and of the
 * tfjs-models pose-detection trackers (`KeypointTracker` / `BoundingBoxTracker` used by MoveNet
 * MultiPose):
 *
 * 1. Tracks not matched for more than `maxAge` frames are dropped.
 * 2. The similarity of every detection to every live track (to the track's last matched pose) is
 *    computed: OKS of the keypoints, or IoU of the boxes.
 * 3. All (detection, track) pairs are sorted by similarity, descending (ties: lower track id first,
 *    then lower detection index), and walked once: a pair is assigned when its similarity is
 *    ≥ `threshold` and neither its detection nor its track is assigned yet.
 * 4. Every unassigned detection starts a new track with the next id (1, 2, 3, ... in detection order;
 *    ids are never reused until `reset()`).
 * 5. Matched tracks take the detection as their new last pose.
 *
 * There is no motion model: a track that missed frames is compared at the place it was last seen.
 *
 * **OKS** (COCO keypoint evaluation, https://cocodataset.org/#keypoints-eval):
 * `OKS = mean_i exp(-d_i² / (2 · s² · k_i²))` with `d_i` the pixel distance between keypoint i of
 * the detection and of the track, `s² = ` the area of the track's box (pixels²; COCO uses the
 * ground-truth object's area), `k_i = 2σ_i` with σ the per-keypoint falloff (COCO's sigmas by
 * default), and the mean over the keypoints whose score is > `minKeypointScore` in both poses. Fewer
 * than `minKeypoints` such keypoints give similarity 0 (tfjs-models' `minNumberOfKeypoints`).
 *
 * **IoU**: intersection over union of the `[x, y, w, h]` boxes.
 *
 * Defaults, and why:
 * - `threshold` 0.2 for OKS, the tfjs-models keypoint tracker's `minSimilarity`, which uses the
 *   same sigmas and the same 0.3 keypoint score cut. For a person box of √area = s, moving every
 *   joint by d ≈ 0.1·s gives OKS ≈ 0.65, d ≈ 0.2·s gives ≈ 0.33, d ≈ 0.25·s gives ≈ 0.22, while the
 *   same pose shifted by 0.65·s (a neighbour about one box width away) scores < 0.01; so 0.2 lets a
 *   track be re-found after a few frames of walking and still does not jump to a neighbour (and the
 *   greedy order gives each track its best detection first anyway).
 * - `threshold` 0.3 for IoU: two equal boxes shifted by a fraction f of their width have
 *   IoU = (1 − f)/(1 + f), so 0.3 tolerates a shift of about half a box width. tfjs-models' box
 *   tracker uses 0.15 (a shift of ¾ of a width), loose enough to pass an id between two people
 *   walking side by side.
 * - `maxAge` 3 frames: bridges MoveNet's one- or two-frame dropouts (blur, a limb crossing the
 *   body, a brief occlusion) while not keeping a stale pose alive long enough for a different person
 *   walking into that spot to inherit the id (there is no motion model to say where the track went).
 *   tfjs-models keeps tracks 1000 ms; pass `maxAge = round(fps)` for that behaviour.
 * - `minKeypointScore` 0.3 and `minKeypoints` 4: tfjs-models' `keypointConfidenceThreshold` and
 *   `minNumberOfKeypoints` (also MoveNet's usual drawing threshold).
 *
 * Coordinates are image pixels. `frameIndex` is the frame's number in the video: missed frames are
 * counted from it, so skipped frame numbers count as missed.
 */
import type { Keypoint } from './decode.js';
import { COCO17 } from './joints.js';

/** One person found in one frame (MoveNet MultiPose, or any detector + single-person network). */
export interface DetectedPerson {
  /** One keypoint per joint (COCO's 17 in MoveNet order for OKS), x/y in image pixels, score in [0, 1]. */
  keypoints: readonly Keypoint[];
  /** `[x, y, w, h]` in pixels: top-left corner and size. */
  box: readonly [number, number, number, number];
  /** Person score. */
  score: number;
}

/** A detected person with its track id. */
export interface TrackedPerson extends DetectedPerson {
  /** Track id: a positive integer, the same for the same person across frames. */
  trackId: number;
}

export type TrackMetric = 'oks' | 'iou';

export interface PoseTrackerOptions {
  /** Similarity between a detection and a track's last pose (default 'oks'). */
  metric?: TrackMetric;
  /** Minimum similarity for a match, in (0, 1] (default 0.2 for OKS, 0.3 for IoU; see the module doc). */
  threshold?: number;
  /** Frames a track survives unmatched (default 3): a track last matched at frame L can match at frame F when F − L − 1 ≤ maxAge. */
  maxAge?: number;
  /** OKS uses the keypoints scoring above this in both poses (default 0.3). */
  minKeypointScore?: number;
  /** OKS needs at least this many such keypoints, else the similarity is 0 (default 4). */
  minKeypoints?: number;
  /** Per-keypoint OKS falloff σ (default COCO's 17 sigmas: 0.026 for the nose ... 0.089 for the ankles). */
  keypointFalloff?: readonly number[];
}

/** A live track, as `PoseTracker.tracks()` reports it. */
export interface TrackState {
  readonly id: number;
  /** The frame of the last match. */
  readonly lastFrame: number;
  /** The last matched detection (the object passed to update, not a copy). */
  readonly person: DetectedPerson;
}

const OP = 'PoseTracker.update';

/** See the module documentation. */
export class PoseTracker {
  readonly metric: TrackMetric;
  readonly threshold: number;
  readonly maxAge: number;
  readonly minKeypointScore: number;
  readonly minKeypoints: number;
  readonly keypointFalloff: readonly number[];
  private live: { id: number; lastFrame: number; person: DetectedPerson }[] = [];
  private nextId = 1;
  private lastFrameIndex = -Infinity;

  /** @throws Error naming PoseTracker when an option is out of range. */
  constructor(opts: PoseTrackerOptions = {}) {
    const bad = (what: string, got: unknown): never => {
      throw new Error(`PoseTracker: expected ${what}, got ${JSON.stringify(got) ?? String(got)}`);
    };
    this.metric = opts.metric ?? 'oks';
    if (this.metric !== 'oks' && this.metric !== 'iou') bad("metric 'oks' or 'iou'", opts.metric);
    this.threshold = opts.threshold ?? (this.metric === 'oks' ? 0.2 : 0.3);
    if (!(this.threshold > 0 && this.threshold <= 1)) bad('threshold in (0, 1]', opts.threshold);
    this.maxAge = opts.maxAge ?? 3;
    if (!(Number.isInteger(this.maxAge) && this.maxAge >= 0)) bad('maxAge as a non-negative integer (frames)', opts.maxAge);
    this.minKeypointScore = opts.minKeypointScore ?? 0.3;
    if (!Number.isFinite(this.minKeypointScore)) bad('a finite minKeypointScore', opts.minKeypointScore);
    this.minKeypoints = opts.minKeypoints ?? 4;
    if (!(Number.isInteger(this.minKeypoints) && this.minKeypoints >= 1)) bad('minKeypoints as a positive integer', opts.minKeypoints);
    this.keypointFalloff = Object.freeze([...(opts.keypointFalloff ?? COCO17.oksSigmas!)]);
    if (this.keypointFalloff.length === 0 || !this.keypointFalloff.every((s) => Number.isFinite(s) && s > 0)) bad('keypointFalloff as positive numbers', opts.keypointFalloff);
  }

  /**
   * Assigns track ids to the persons of frame `frameIndex`.
   * @param persons this frame's detections (may be empty).
   * @param frameIndex the frame's number: an integer ≥ 0, larger than at the previous call.
   * @returns the persons in input order, each a shallow copy with `trackId`; ids are distinct within the frame.
   * @throws Error "PoseTracker.update: expected ..." for a frameIndex that does not increase, a
   *   non-finite coordinate, score or box, a negative box size, or (OKS) a keypoint count that differs
   *   from keypointFalloff's.
   */
  update(persons: readonly DetectedPerson[], frameIndex: number): TrackedPerson[] {
    if (!Array.isArray(persons)) throw new Error(`${OP}: expected an array of persons, got ${typeof persons}`);
    if (!(Number.isInteger(frameIndex) && frameIndex >= 0)) throw new Error(`${OP}: expected frameIndex as a non-negative integer, got ${frameIndex}`);
    if (frameIndex <= this.lastFrameIndex) throw new Error(`${OP}: expected frameIndex larger than the previous one (${this.lastFrameIndex}), got ${frameIndex}`);
    persons.forEach((p, i) => this.check(p, i));
    this.lastFrameIndex = frameIndex;
    this.live = this.live.filter((t) => frameIndex - t.lastFrame - 1 <= this.maxAge);

    const pairs: { sim: number; det: number; track: number }[] = [];
    persons.forEach((p, d) => {
      this.live.forEach((t, k) => {
        const sim = this.similarity(p, t.person);
        if (sim >= this.threshold) pairs.push({ sim, det: d, track: k });
      });
    });
    pairs.sort((a, b) => b.sim - a.sim || this.live[a.track]!.id - this.live[b.track]!.id || a.det - b.det);
    const idOf = new Array<number>(persons.length).fill(0);
    const trackTaken = new Set<number>();
    for (const { det, track } of pairs) {
      if (idOf[det] !== 0 || trackTaken.has(track)) continue;
      idOf[det] = this.live[track]!.id;
      trackTaken.add(track);
      this.live[track]!.lastFrame = frameIndex;
      this.live[track]!.person = persons[det]!;
    }
    persons.forEach((p, d) => {
      if (idOf[d] !== 0) return;
      idOf[d] = this.nextId++;
      this.live.push({ id: idOf[d]!, lastFrame: frameIndex, person: p });
    });
    return persons.map((p, d) => ({ ...p, trackId: idOf[d]! }));
  }

  /** Forgets every track and restarts ids at 1 and frame numbers (call between videos). */
  reset(): void {
    this.live = [];
    this.nextId = 1;
    this.lastFrameIndex = -Infinity;
  }

  /** The live tracks (matched within the last maxAge + 1 frames of the latest update), by id. */
  tracks(): TrackState[] {
    return this.live.map((t) => ({ id: t.id, lastFrame: t.lastFrame, person: t.person })).sort((a, b) => a.id - b.id);
  }

  /** The similarity the tracker uses between a detection and a track's last pose (OKS or IoU, in [0, 1]). */
  similarity(person: DetectedPerson, trackPose: DetectedPerson): number {
    return this.metric === 'iou' ? boxIou(person.box, trackPose.box) : this.oks(person, trackPose);
  }

  private oks(a: DetectedPerson, track: DetectedPerson): number {
    const area = Math.max(track.box[2] * track.box[3], 1e-6);
    let sum = 0;
    let n = 0;
    for (let i = 0; i < this.keypointFalloff.length; i++) {
      const ka = a.keypoints[i]!;
      const kb = track.keypoints[i]!;
      if (!(ka.score > this.minKeypointScore && kb.score > this.minKeypointScore)) continue;
      const k = 2 * this.keypointFalloff[i]!;
      sum += Math.exp(-((ka.x - kb.x) ** 2 + (ka.y - kb.y) ** 2) / (2 * area * k * k));
      n++;
    }
    return n >= this.minKeypoints ? sum / n : 0;
  }

  private check(p: DetectedPerson, i: number): void {
    const where = `persons[${i}]`;
    if (typeof p !== 'object' || p === null) throw new Error(`${OP}: expected ${where} as {keypoints, box, score}, got ${String(p)}`);
    const b = p.box;
    if (!Array.isArray(b) || b.length !== 4 || !b.every((v) => typeof v === 'number' && Number.isFinite(v))) {
      throw new Error(`${OP}: expected ${where}.box as [x, y, w, h] of finite numbers, got ${JSON.stringify(b)}`);
    }
    if (b[2] < 0 || b[3] < 0) throw new Error(`${OP}: expected ${where}.box with w, h >= 0, got ${JSON.stringify(b)}`);
    if (typeof p.score !== 'number' || !Number.isFinite(p.score)) throw new Error(`${OP}: expected ${where}.score as a finite number, got ${p.score}`);
    if (!Array.isArray(p.keypoints)) throw new Error(`${OP}: expected ${where}.keypoints as an array, got ${typeof p.keypoints}`);
    if (this.metric === 'oks' && p.keypoints.length !== this.keypointFalloff.length) {
      throw new Error(`${OP}: expected ${where}.keypoints with ${this.keypointFalloff.length} entries (one per keypointFalloff), got ${p.keypoints.length}`);
    }
    p.keypoints.forEach((k, j) => {
      if (!(Number.isFinite(k?.x) && Number.isFinite(k?.y) && Number.isFinite(k?.score))) {
        throw new Error(`${OP}: expected ${where}.keypoints[${j}] with finite x, y and score, got ${fmtKeypoint(k)}`);
      }
    });
  }
}

function fmtKeypoint(k: unknown): string {
  if (typeof k !== 'object' || k === null) return String(k);
  const o = k as Record<string, unknown>;
  return `{x: ${String(o.x)}, y: ${String(o.y)}, score: ${String(o.score)}}`;
}

/** Intersection over union of two `[x, y, w, h]` boxes (0 when both are empty). */
export function boxIou(a: readonly number[], b: readonly number[]): number {
  const [ax, ay, aw, ah] = a as [number, number, number, number];
  const [bx, by, bw, bh] = b as [number, number, number, number];
  const iw = Math.max(0, Math.min(ax + aw, bx + bw) - Math.max(ax, bx));
  const ih = Math.max(0, Math.min(ay + ah, by + bh) - Math.max(ay, by));
  const inter = iw * ih;
  const union = aw * ah + bw * bh - inter;
  return union > 0 ? inter / union : 0;
}
