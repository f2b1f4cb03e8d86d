/**
 * The top-down video pose dataset and its batch iterator.
 *
 * A sample is one person at one key frame, plus the frames its network needs (frames.ts). The
 * key-frame person box is enlarged by 25% (affine.ts `boxToCenterScale`), and the one affine crop
 * it gives — after augmentation (augment.ts: half body, scale, rotation, flip with left/right
 * swap) — cuts every shared-crop frame of the sample, so that the frames stay aligned. Each frame
 * gets the heatmap targets of the same person (same track id) in that frame, or zero weights when
 * the person is not annotated there (training supervision; no network input depends on the id).
 *
 * GLPose's global proposals (selection 'localGlobal') are person boxes of any person, sampled over
 * the frames outside the local window, as the paper's detector proposals ("we first sample 20 human
 * proposals in the video level", GLPose Sec. 3.3): each is cut with its own box, and nothing about it
 * comes from the ground-truth identity — the network ranks the candidates by feature similarity.
 * The boxes come from `proposals` (a detector's boxes per frame, e.g. a detection file) or, by
 * default, the frame's annotated person boxes taken as anonymous detections. They get no targets.
 *
 * Batches are tensors: images [B, T, 3, H, W] (ImageNet-normalized RGB), targets [B, T, K, h, w],
 * targetWeights [B, T, K, 1], plus per-sample `meta` on the host.
 */
import { tensor } from '../../../ops/creation.js';
import { engine } from '../../../engine/engine.js';
import type { Rng } from '../../../engine/random.js';
import { fail } from '../../../engine/shape.js';
import type { Tensor } from '../../../engine/tensor.js';
import { affinePoint, boxToCenterScale, getAffineTransform, normalizeImagenet, warpAffineRgb, type Affine, type CenterScale, type ImageHWC } from '../affine.js';
import { flipPermutation, type JointSet } from '../joints.js';
import type { Box, PersonAnnotation, VideoFrame, VideoSequence } from '../datasets/types.js';
import { drawAugmentation, halfBodyCenterScale, NO_AUGMENT, type AugmentDraw, type AugmentOptions } from './augment.js';
import { selectFrames, selectionLength, type FrameSelection } from './frames.js';
import { defaultSigma, generateTarget } from './targets.js';

/** Loads the pixels of one frame (e.g. io.ts `readFrame`, or a SynthPose clip in memory). */
export type FrameLoader = (video: VideoSequence, frame: VideoFrame) => ImageHWC;

export interface TopDownOptions {
  readonly jointSet: JointSet;
  readonly loadFrame: FrameLoader;
  /** Network input [width, height] (e.g. [288, 384] for HRNet-W48, [256, 256] for RPSTN). */
  readonly inputSize: readonly [number, number];
  /** Heatmap [width, height]; default inputSize / 4. */
  readonly heatmapSize?: readonly [number, number];
  /** Gaussian σ; default 3 at 96x72 and larger, else 2 (targets.ts `defaultSigma`). */
  readonly sigma?: number;
  readonly frames?: FrameSelection;
  /** Training mode: augmentation on, random frame gaps. Off: the plain crop (validation/test). */
  readonly train?: boolean;
  readonly augment?: AugmentOptions;
  /**
   * Which joints are supervised: 'visible' (visibility > 0, HRNet's rule) or 'annotated' (every joint
   * with coordinates, i.e. not (0, 0, 0): SynthPose's occluded joints keep exact positions).
   */
  readonly supervise?: 'visible' | 'annotated';
  /** Box enlargement (default 1.25, i.e. 25%). */
  readonly padding?: number;
  /** Keep only people with at least this many supervised joints in the key frame (default 1). */
  readonly minJoints?: number;
  /** Keep only labeled key frames (default true). */
  readonly labeledOnly?: boolean;
  /**
   * The person boxes of a frame as a detector gives them, for GLPose's global proposals (selection
   * 'localGlobal'); default: the frame's annotated person boxes, taken without their track ids.
   */
  readonly proposals?: (video: VideoSequence, frame: VideoFrame) => readonly Box[];
}

export interface SampleMeta {
  readonly videoId: string;
  /** Image ids of the sample's frames, in network order. */
  readonly frameIds: readonly number[];
  readonly positions: readonly number[];
  /** Index of the key frame within the sample's frames. */
  readonly key: number;
  readonly trackId: number;
  /** Crop of the key frame before augmentation (for mapping predictions back). */
  readonly center: readonly [number, number];
  readonly scale: readonly [number, number];
  readonly augment: AugmentDraw;
  /** Per frame: the image → input affine actually applied (flip included). */
  readonly transforms: readonly Affine[];
  /** Key-frame ground truth in image pixels ([K·3], dataset order, before flip). */
  readonly keypoints: Float64Array;
  readonly margins?: { readonly dPrev: number; readonly dNext: number; readonly wPrev: number; readonly wNext: number };
  /** GLPose's global proposals, in the order of the last frames: frame position and the box that cut it. */
  readonly proposals?: readonly { readonly position: number; readonly box: Box }[];
}

/** One sample on the host: images [T, 3, H, W], targets [T, K, h, w], weights [T, K]. */
export interface PoseSample {
  readonly images: Float32Array;
  readonly targets: Float32Array;
  readonly targetWeights: Float32Array;
  readonly meta: SampleMeta;
}

export interface PoseBatch {
  /** [B, T, 3, H, W] */
  readonly images: Tensor;
  /** [B, T, K, h, w] */
  readonly targets: Tensor;
  /** [B, T, K, 1] */
  readonly targetWeights: Tensor;
  readonly meta: readonly SampleMeta[];
}

interface Entry {
  video: VideoSequence;
  pos: number;
  person: PersonAnnotation;
  box: Box;
}

/** Mirror of an image of width W: x ↦ W − 1 − x (HRNet's flip: `data_numpy[:, ::-1]`). */
function mirrorAffine(W: number): Affine {
  return [-1, 0, W - 1, 0, 1, 0];
}

/** a ∘ b (apply b first). */
function compose(a: Affine, b: Affine): Affine {
  return [
    a[0] * b[0] + a[1] * b[3], a[0] * b[1] + a[1] * b[4], a[0] * b[2] + a[1] * b[5] + a[2],
    a[3] * b[0] + a[4] * b[3], a[3] * b[1] + a[4] * b[4], a[3] * b[2] + a[4] * b[5] + a[5],
  ];
}

export class TopDownDataset {
  readonly jointSet: JointSet;
  readonly inputSize: readonly [number, number];
  readonly heatmapSize: readonly [number, number];
  readonly sigma: number;
  readonly numFrames: number;
  /** People left out: no box, or too few supervised joints. */
  readonly skipped: number;
  private readonly entries: Entry[] = [];
  private readonly opts: TopDownOptions;
  private readonly flipPerm: number[];

  /**
   * @throws Error when the videos' joint lists do not match `jointSet`, or sizes are invalid.
   */
  constructor(videos: readonly VideoSequence[], opts: TopDownOptions) {
    const op = 'TopDownDataset';
    this.opts = opts;
    this.jointSet = opts.jointSet;
    const [iw, ih] = opts.inputSize;
    if (!(Number.isInteger(iw) && Number.isInteger(ih) && iw > 0 && ih > 0)) fail(op, 'inputSize as positive integers [width, height]', `[${opts.inputSize.join(', ')}]`);
    this.inputSize = [iw, ih];
    this.heatmapSize = opts.heatmapSize ?? [Math.round(iw / 4), Math.round(ih / 4)];
    this.sigma = opts.sigma ?? defaultSigma(this.heatmapSize);
    this.numFrames = selectionLength(opts.frames ?? { kind: 'single' });
    this.flipPerm = flipPermutation(opts.jointSet);
    const K = opts.jointSet.numJoints;
    let skipped = 0;
    for (const v of videos) {
      if (v.keypointNames.length !== K || v.keypointNames.some((n, i) => n !== opts.jointSet.names[i])) {
        fail(op, `videos with the joints of ${opts.jointSet.name} [${opts.jointSet.names.join(', ')}]`, `[${v.keypointNames.join(', ')}] in video ${v.id}`);
      }
      v.frames.forEach((f, pos) => {
        if ((opts.labeledOnly ?? true) && !f.isLabeled) return;
        for (const p of f.people) {
          const n = this.supervised(p.keypoints).reduce((a, b) => a + b, 0);
          if (!p.bbox || !(p.bbox[2] > 0 && p.bbox[3] > 0) || n < (opts.minJoints ?? 1)) {
            skipped++;
            continue;
          }
          this.entries.push({ video: v, pos, person: p, box: p.bbox });
        }
      });
    }
    this.skipped = skipped;
  }

  get length(): number {
    return this.entries.length;
  }

  private supervised(kp: ArrayLike<number>): number[] {
    const K = this.jointSet.numJoints;
    const out = new Array<number>(K);
    const annotated = this.opts.supervise === 'annotated';
    for (let k = 0; k < K; k++) {
      const v = kp[3 * k + 2]!;
      out[k] = this.jointSet.used[k] && (annotated ? !(kp[3 * k] === 0 && kp[3 * k + 1] === 0 && v === 0) : v > 0) ? 1 : 0;
    }
    return out;
  }

  /**
   * Builds sample `i`. In training mode the augmentation and the random frame gaps are drawn from
   * `rng` (default: posegrad's `engine.rng`, so `manualSeed` reproduces it).
   * @throws Error when i is out of range or a frame cannot be loaded.
   */
  sample(i: number, rng: Rng = engine.rng): PoseSample {
    if (!Number.isInteger(i) || i < 0 || i >= this.entries.length) fail('TopDownDataset.sample', `an index in [0, ${this.entries.length})`, String(i));
    const { video, pos, person, box } = this.entries[i]!;
    const train = this.opts.train ?? false;
    const set = this.jointSet;
    const K = set.numJoints;
    const [iw, ih] = this.inputSize;
    const [hw, hh] = this.heatmapSize;
    const aspect = iw / ih;
    const pad = this.opts.padding ?? 1.25;
    const fsel = this.opts.frames ?? { kind: 'single' };
    // GLPose: the key frame and the local ones from selectFrames, the global proposals drawn here
    // (boxes of any person, no identity), with the same number of random draws.
    const base0 = selectFrames(fsel.kind === 'localGlobal' ? { ...fsel, global: 0 } : fsel, pos, video.frames.length, train, rng);
    const props = fsel.kind === 'localGlobal' ? this.globalProposals(video, pos, person, fsel.local, fsel.global, train, rng) : [];
    const sel = props.length ? { ...base0, positions: [...base0.positions, ...props.map((q) => q.pos)], sharedCrop: [...base0.sharedCrop, ...props.map(() => false)] } : base0;
    const ownBox: (Box | null)[] = [...base0.positions.map(() => null), ...props.map((q) => q.box)];
    const keyVis = this.supervised(person.keypoints);
    const aug = train ? drawAugmentation(keyVis.reduce((a, b) => a + b, 0), this.opts.augment ?? {}, rng) : NO_AUGMENT;
    const base = boxToCenterScale(box, aspect, { padding: pad });
    let cs: CenterScale = base;
    if (aug.halfBody) {
      const visKp = Float64Array.from(person.keypoints, (v, j) => (j % 3 === 2 ? keyVis[(j - 2) / 3]! : v));
      cs = halfBodyCenterScale(visKp, set, aug.upper, aspect) ?? base;
    }
    const scale: [number, number] = [cs.scale[0] * aug.scale, cs.scale[1] * aug.scale];
    const T = sel.positions.length;
    const images = new Float32Array(T * 3 * ih * iw);
    const targets = new Float32Array(T * K * hh * hw);
    const weights = new Float32Array(T * K);
    const transforms: Affine[] = [];
    const frameIds: number[] = [];
    const cache = new Map<number, ImageHWC>();
    sel.positions.forEach((p, t) => {
      const frame = video.frames[p]!;
      frameIds.push(frame.id);
      let img = cache.get(p);
      if (!img) cache.set(p, (img = this.opts.loadFrame(video, frame)));
      const proposal = ownBox[t] ?? null;
      // targets: the same person (track id) in a shared-crop frame; a global proposal has none
      const same = proposal ? undefined : (frame.people.find((q) => q.trackId === person.trackId && person.trackId >= 0) ?? (p === pos ? person : undefined));
      // the crop: shared (key box) or the proposal's own box
      let c: [number, number] = [cs.center[0], cs.center[1]];
      let s = scale;
      if (proposal) {
        const own = boxToCenterScale(proposal, aspect, { padding: pad });
        c = own.center;
        s = [own.scale[0] * aug.scale, own.scale[1] * aug.scale];
      }
      let tr: Affine;
      if (aug.flip) {
        const cf: [number, number] = [img.width - 1 - c[0], c[1]];
        tr = compose(getAffineTransform(cf, s, aug.rotation, [iw, ih]), mirrorAffine(img.width));
      } else {
        tr = getAffineTransform(c, s, aug.rotation, [iw, ih]);
      }
      transforms.push(tr);
      images.set(normalizeImagenet(warpAffineRgb(img, tr, iw, ih)), t * 3 * ih * iw);
      if (!same) return; // person not annotated in this frame: zero targets, zero weights
      const vis = this.supervised(same.keypoints);
      const joints = new Float64Array(2 * K);
      const w = new Float64Array(K);
      for (let k = 0; k < K; k++) {
        // after a flip, slot k shows the mirrored joint perm[k] (left ↔ right)
        const src = aug.flip ? this.flipPerm[k]! : k;
        const q = affinePoint(tr, [same.keypoints[3 * src]!, same.keypoints[3 * src + 1]!]);
        joints[2 * k] = q[0];
        joints[2 * k + 1] = q[1];
        w[k] = vis[src]!;
      }
      const g = generateTarget(joints, w, { imageSize: [iw, ih], heatmapSize: [hw, hh], sigma: this.sigma });
      targets.set(g.target, t * K * hh * hw);
      weights.set(g.weight, t * K);
    });
    return {
      images,
      targets,
      targetWeights: weights,
      meta: {
        videoId: video.id,
        frameIds,
        positions: sel.positions,
        key: sel.key,
        trackId: person.trackId,
        center: base.center,
        scale: base.scale,
        augment: aug,
        transforms,
        keypoints: Float64Array.from(person.keypoints),
        ...(sel.margins ? { margins: sel.margins } : {}),
        ...(props.length ? { proposals: props.map((q) => ({ position: q.pos, box: q.box })) } : {}),
      },
    };
  }

  /** The person boxes of a frame (the `proposals` option, or the annotated boxes without their ids). */
  private proposalsOf(video: VideoSequence, frame: VideoFrame): Box[] {
    const boxes = this.opts.proposals ? this.opts.proposals(video, frame) : frame.people.map((q) => q.bbox);
    return boxes.filter((b): b is Box => !!b && b[2] > 0 && b[3] > 0);
  }

  /**
   * GLPose's `count` global proposals for the key frame at `key`: person boxes (any person) of the
   * frames more than `local` frames away, drawn uniformly from all of them with `rng` in training,
   * evenly spaced over them (in frame order) otherwise. Without such boxes, the boxes of every
   * frame; without any, the key person's own box.
   */
  private globalProposals(video: VideoSequence, key: number, person: PersonAnnotation, local: number, count: number, random: boolean, rng: Rng): { pos: number; box: Box }[] {
    if (count <= 0) return [];
    const collect = (keep: (p: number) => boolean): { pos: number; box: Box }[] => {
      const out: { pos: number; box: Box }[] = [];
      video.frames.forEach((f, p) => {
        if (keep(p)) for (const box of this.proposalsOf(video, f)) out.push({ pos: p, box });
      });
      return out;
    };
    let pool = collect((p) => Math.abs(p - key) > local);
    if (pool.length === 0) pool = collect(() => true);
    if (pool.length === 0) pool = [{ pos: key, box: person.bbox! }];
    return Array.from({ length: count }, (_, g) => (random ? pool[rng.int(pool.length)]! : pool[Math.floor(((g + 0.5) * pool.length) / count)]!));
  }

  /** Stacks samples into batch tensors on `device` (default: the engine's default device). */
  collate(samples: readonly PoseSample[], device = engine.defaultDevice): PoseBatch {
    const B = samples.length;
    if (B === 0) fail('TopDownDataset.collate', 'at least one sample', '0');
    const T = this.numFrames;
    const K = this.jointSet.numJoints;
    const [iw, ih] = this.inputSize;
    const [hw, hh] = this.heatmapSize;
    const cat = (get: (s: PoseSample) => Float32Array, per: number): Float32Array => {
      const out = new Float32Array(B * per);
      samples.forEach((s, b) => out.set(get(s), b * per));
      return out;
    };
    return {
      images: tensor(cat((s) => s.images, T * 3 * ih * iw), { shape: [B, T, 3, ih, iw], device }),
      targets: tensor(cat((s) => s.targets, T * K * hh * hw), { shape: [B, T, K, hh, hw], device }),
      targetWeights: tensor(cat((s) => s.targetWeights, T * K), { shape: [B, T, K, 1], device }),
      meta: samples.map((s) => s.meta),
    };
  }

  /**
   * Iterates over batches. With `shuffle`, the order is a Fisher-Yates permutation drawn from `rng`
   * (default engine.rng) at the start of the pass; the same rng then draws each sample's
   * augmentation, so one seed reproduces the whole pass. The caller disposes the batch tensors.
   */
  *batches(opts: { batchSize: number; shuffle?: boolean; dropLast?: boolean; rng?: Rng; device?: typeof engine.defaultDevice }): Generator<PoseBatch> {
    const bs = opts.batchSize;
    if (!Number.isInteger(bs) || bs < 1) fail('TopDownDataset.batches', 'batchSize as an integer ≥ 1', String(bs));
    const rng = opts.rng ?? engine.rng;
    const order = Array.from({ length: this.length }, (_, i) => i);
    if (opts.shuffle) {
      for (let i = order.length - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
    }
    for (let start = 0; start < order.length; start += bs) {
      const idx = order.slice(start, start + bs);
      if (idx.length < bs && opts.dropLast) break;
      yield this.collate(idx.map((i) => this.sample(i, rng)), opts.device);
    }
  }
}
