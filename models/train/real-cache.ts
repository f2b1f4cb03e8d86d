/**
 * The frozen-backbone cache of the `real` heads (issue 12, item 3): MoveNet Lightning's outputs
 * { features [24, 48, 48], heatmaps [17, 48, 48] } ('centered' heatmaps, models/backbones/backbone.ts)
 * for every student (corrupted) frame of a real-data folder (models/train/real-data.ts), computed
 * once and stored as float16, so that the four temporal heads train on cached maps instead of
 * running the 1.8M-parameter backbone on every crop of every step.
 *
 * The crop (what MoveNet sees) is a function of the frame alone, so that it can be cached:
 * the frame's own person box (the tracker's smoothed box, one person per clip) enlarged by 25% to a
 * square (`boxToCenterScale`, padding 1.25, aspect 1), 192x192 — the data pipeline's top-down crop,
 * except that the neighbouring frames are cut with their own box instead of the key frame's (the
 * boxes are smoothed over time, so the two differ by a few pixels; a tracker-driven demo crops the
 * same way).
 *
 * Views. View 0 is the plain crop of every frame (train and val). Augmented views (training clips
 * only) draw one augmentation per clip and view (`drawAugmentation` with the recipe's options:
 * scale, rotation, horizontal flip — the half-body crop is left out, as it depends on one frame's
 * joints) and apply it to every frame of the clip, so a temporal sample taken from one view is
 * augmented consistently across its frames (DCPose's rule). `augment` names the options set
 * ('shared' = recipes.ts TRAIN_AUGMENT, 'glpose' = GLPose's paper recipe GLPOSE_TRAINING.augment),
 * so each network trains on views of its own recipe.
 *
 * Layout of the cache folder (`<root>/<key>/`, key = sha256 of the MoveNet weights' sha256, the
 * data's buildKey and the crop settings):
 *
 *   index.json                 { format, key, weightsSha256, buildKey, views: [{ name, augment, ... }],
 *                                clips: { [vid]: { frames, views: { [name]: { draw, transforms } } } } }
 *                              (assembled from the sidecars at the end of a build)
 *   <vid>.<view>.f16           float16 [frames, 41, 48, 48]: 24 feature channels then 17 heatmaps
 *   <vid>.<view>.json          its sidecar: { frames, split, draw, transforms }
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { noGrad, tidy } from '../../engine/engine.js';
import { Rng } from '../../engine/random.js';
import { fail } from '../../engine/shape.js';
import { tensor } from '../../ops/creation.js';
import { concat } from '../../ops/shape.js';
import type { PoseBackbone } from '../backbones/backbone.js';
import { boxToCenterScale, getAffineTransform, normalizeImagenet, warpAffineRgb, type Affine, type ImageHWC } from '../pose/affine.js';
import { drawAugmentation, NO_AUGMENT, type AugmentDraw, type AugmentOptions } from '../pose/data/augment.js';
import type { Box, VideoSequence } from '../pose/datasets/types.js';
import { float16BitsToNumber, numberToFloat16Bits } from '../nn/safetensors.js';

/** Bump when the meaning of the cached maps changes. */
export const REAL_CACHE_FORMAT = 1;
export const DEFAULT_CACHE_ROOT = '/tmp/realpose-cache';
/** Input side (MoveNet Lightning), the heatmap side and the box padding. */
export const CACHE_INPUT = 192;
export const CACHE_PADDING = 1.25;

export interface CacheView {
  /** 'plain', or `${augment}-${i}` for the i-th augmented view of an options set. */
  readonly name: string;
  readonly augment: 'none' | 'shared' | 'glpose';
}

export interface ClipViewInfo {
  readonly draw: AugmentDraw;
  /** The affine (source crop pixels → 192x192 input) of every frame. */
  readonly transforms: Affine[];
}

export interface CacheIndex {
  format: number;
  key: string;
  weightsSha256: string;
  buildKey: string;
  channels: { features: number; heatmaps: number; size: number };
  views: CacheView[];
  clips: Record<string, { frames: number; split: 'train' | 'val'; views: Record<string, ClipViewInfo> }>;
  seconds: number;
}

/** Mirror of an image of width W: x ↦ W − 1 − x (HRNet's flip). */
function mirror(W: number): Affine {
  return [-1, 0, W - 1, 0, 1, 0];
}

/** a ∘ b (apply b first). */
function compose(a: Affine, b: Affine): Affine {
  return [
    a[0] * b[0] + a[1] * b[3], a[0] * b[1] + a[1] * b[4], a[0] * b[2] + a[1] * b[5] + a[2],
    a[3] * b[0] + a[4] * b[3], a[3] * b[1] + a[4] * b[4], a[3] * b[2] + a[4] * b[5] + a[5],
  ];
}

/** The box of every frame of a clip (its one person), frames without one take the nearest frame's. */
export function clipBoxes(video: VideoSequence): Box[] {
  const boxes: (Box | null)[] = video.frames.map((f) => f.people.find((p) => p.bbox && p.bbox[2] > 0 && p.bbox[3] > 0)?.bbox ?? null);
  const have = boxes.flatMap((b, i) => (b ? [i] : []));
  if (!have.length) fail('realCache', `a person box in some frame of clip ${video.id}`, 'none');
  return boxes.map((b, i) => b ?? boxes[have.reduce((best, j) => (Math.abs(j - i) < Math.abs(best - i) ? j : best), have[0]!)]!);
}

/** The crop affine of a frame: its own box, padded 1.25, square, with an augmentation draw. */
export function cropAffine(box: Box, imageWidth: number, draw: AugmentDraw): Affine {
  const cs = boxToCenterScale(box, 1, { padding: CACHE_PADDING });
  const s: [number, number] = [cs.scale[0] * draw.scale, cs.scale[1] * draw.scale];
  if (draw.flip) return compose(getAffineTransform([imageWidth - 1 - cs.center[0], cs.center[1]], s, draw.rotation, [CACHE_INPUT, CACHE_INPUT]), mirror(imageWidth));
  return getAffineTransform(cs.center, s, draw.rotation, [CACHE_INPUT, CACHE_INPUT]);
}

/** The views a cache holds: plain + `shared` augmented views from TRAIN_AUGMENT + `glpose` ones. */
export function cacheViews(shared: number, glpose: number): CacheView[] {
  return [{ name: 'plain', augment: 'none' }, ...Array.from({ length: shared }, (_, i) => ({ name: `shared-${i}`, augment: 'shared' as const })), ...Array.from({ length: glpose }, (_, i) => ({ name: `glpose-${i}`, augment: 'glpose' as const }))];
}

export function cacheKey(weightsSha256: string, buildKey: string): string {
  return createHash('sha256').update(JSON.stringify({ format: REAL_CACHE_FORMAT, weightsSha256, buildKey, input: CACHE_INPUT, padding: CACHE_PADDING, heatmaps: 'centered' })).digest('hex');
}

/** float32 → float16 bits. */
export function toFloat16(src: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = numberToFloat16Bits(src[i]!);
  return out;
}

/** A lookup table float16 bits → float32 (65536 entries), for fast decoding. */
let F16_TABLE: Float32Array | null = null;
export function float16Table(): Float32Array {
  if (!F16_TABLE) {
    F16_TABLE = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) F16_TABLE[i] = float16BitsToNumber(i);
  }
  return F16_TABLE;
}

export interface BuildCacheOptions {
  root?: string;
  weightsSha256: string;
  buildKey: string;
  views: CacheView[];
  /** Options per augmented family. */
  augments: { shared: AugmentOptions; glpose: AugmentOptions };
  loadFrame: (video: VideoSequence, frameIndex: number) => ImageHWC;
  batch?: number;
  seed?: number;
  onClip?: (done: number, total: number, seconds: number) => void;
  /** Build only the jobs i with i % count = index (several builders in parallel). */
  part?: { index: number; count: number };
}

/**
 * Computes (or reuses) the cache of `train` and `val` clips through `backbone` (MoveNet Lightning,
 * 'centered' heatmaps, on the engine's default device). Views other than 'plain' are computed for
 * the training clips only. Files already present (same key, same view) are kept.
 * @returns the cache directory and its index.
 * @throws Error from the backbone or the frame loader (naming the clip).
 */
export async function buildRealCache(backbone: PoseBackbone, train: readonly VideoSequence[], val: readonly VideoSequence[], o: BuildCacheOptions): Promise<{ dir: string; index: CacheIndex }> {
  const key = cacheKey(o.weightsSha256, o.buildKey);
  const dir = join(o.root ?? DEFAULT_CACHE_ROOT, key);
  mkdirSync(dir, { recursive: true });
  const idxPath = join(dir, 'index.json');
  const old: CacheIndex | null = existsSync(idxPath) ? (JSON.parse(readFileSync(idxPath, 'utf8')) as CacheIndex) : null;
  // entries of an index written before the per-file sidecars (<vid>.<view>.json) existed
  if (old) for (const [vid, c] of Object.entries(old.clips)) for (const [view, info] of Object.entries(c.views)) {
    const side = join(dir, `${vid}.${view}.json`);
    if (!existsSync(side) && existsSync(join(dir, `${vid}.${view}.f16`))) writeAtomic(side, { frames: c.frames, split: c.split, ...info });
  }
  const views = [...(old?.views ?? [])];
  for (const v of o.views) if (!views.some((w) => w.name === v.name)) views.push(v);
  const header = { format: REAL_CACHE_FORMAT, key, weightsSha256: o.weightsSha256, buildKey: o.buildKey, channels: { features: backbone.featureChannels, heatmaps: backbone.numJoints, size: CACHE_INPUT / 4 }, views };
  const B = o.batch ?? 16;
  let jobs: { video: VideoSequence; split: 'train' | 'val'; view: CacheView }[] = [];
  // the plain view of every clip first (what most runs need), then the augmented views
  for (const video of train) jobs.push({ video, split: 'train', view: o.views[0]! });
  for (const video of val) jobs.push({ video, split: 'val', view: o.views[0]! });
  for (const view of o.views.slice(1)) for (const video of train) jobs.push({ video, split: 'train', view });
  if (o.part) jobs = jobs.filter((_, i) => i % o.part!.count === o.part!.index);
  const t0 = performance.now();
  let done = 0;
  for (const { video, split, view } of jobs) {
    const file = join(dir, `${video.id}.${view.name}.f16`);
    const side = join(dir, `${video.id}.${view.name}.json`);
    if (existsSync(file) && existsSync(side)) {
      o.onClip?.(++done, jobs.length, (performance.now() - t0) / 1000);
      continue;
    }
    const boxes = clipBoxes(video);
    // one draw per clip and view, seeded by (seed, clip id, view name)
    const seed = createHash('sha256').update(`${o.seed ?? 0}/${video.id}/${view.name}`).digest().readUInt32LE(0);
    const draw = view.augment === 'none' ? NO_AUGMENT : { ...drawAugmentation(0, { ...o.augments[view.augment], halfBodyProb: 0 }, new Rng(seed)), halfBody: false };
    const n = video.frames.length;
    const transforms: Affine[] = [];
    const C = backbone.featureChannels + backbone.numJoints;
    const S = CACHE_INPUT / 4;
    const out = new Uint16Array(n * C * S * S);
    for (let s = 0; s < n; s += B) {
      const e = Math.min(n, s + B);
      const imgs = new Float32Array((e - s) * 3 * CACHE_INPUT * CACHE_INPUT);
      for (let i = s; i < e; i++) {
        let img: ImageHWC;
        try {
          img = o.loadFrame(video, i);
        } catch (err) {
          return fail('realCache', `a readable frame ${i} of clip ${video.id}`, (err as Error).message);
        }
        const tr = cropAffine(boxes[i]!, img.width, draw);
        transforms.push(tr);
        imgs.set(normalizeImagenet(warpAffineRgb(img, tr, CACHE_INPUT, CACHE_INPUT)), (i - s) * 3 * CACHE_INPUT * CACHE_INPUT);
      }
      const maps = tidy(() =>
        noGrad(() => {
          const r = backbone.forward(tensor(imgs, { shape: [e - s, 3, CACHE_INPUT, CACHE_INPUT] }));
          return concat([r.features, r.heatmaps], 1).keep();
        }),
      );
      const data = await maps.data();
      maps.dispose();
      out.set(toFloat16(data), s * C * S * S);
    }
    writeFileSync(`${file}.tmp`, out);
    renameSync(`${file}.tmp`, file);
    writeAtomic(side, { frames: n, split, draw, transforms });
    done++;
    o.onClip?.(done, jobs.length, (performance.now() - t0) / 1000);
  }
  const index = readCacheIndex(dir, header);
  index.seconds = (old?.seconds ?? 0) + (performance.now() - t0) / 1000;
  writeAtomic(idxPath, index);
  return { dir, index };
}

/**
 * The index of a cache folder assembled from its per-file sidecars (so that several builders can
 * fill one folder at once, each writing only its own files).
 */
export function readCacheIndex(dir: string, header: Omit<CacheIndex, 'clips' | 'seconds'>): CacheIndex {
  const index: CacheIndex = { ...header, clips: {}, seconds: 0 };
  for (const f of readdirSync(dir)) {
    const m = /^(.+)\.([^.]+)\.json$/.exec(f);
    if (!m || !existsSync(join(dir, `${m[1]}.${m[2]}.f16`))) continue;
    const side = JSON.parse(readFileSync(join(dir, f), 'utf8')) as { frames: number; split: 'train' | 'val' } & ClipViewInfo;
    const clip = (index.clips[m[1]!] ??= { frames: side.frames, split: side.split, views: {} });
    clip.views[m[2]!] = { draw: side.draw, transforms: side.transforms };
  }
  return index;
}

/** Writes JSON atomically (a stopped build never leaves half a file). */
function writeAtomic(path: string, value: unknown): void {
  writeFileSync(`${path}.tmp`, JSON.stringify(value));
  renameSync(`${path}.tmp`, path);
}

/** Reads the cached maps of one clip and view: float16 bits [frames, C, S, S]. @throws Error when missing or of the wrong size. */
export function readCachedClip(dir: string, index: CacheIndex, vid: string, view: string): Uint16Array {
  const clip = index.clips[vid];
  if (!clip || !clip.views[view]) fail('realCache', `clip ${vid} view ${view} in the cache ${dir}`, 'none (build it with npm run train -- --preset real)');
  const buf = readFileSync(join(dir, `${vid}.${view}.f16`));
  const { features, heatmaps, size } = index.channels;
  const want = clip.frames * (features + heatmaps) * size * size;
  if (buf.byteLength !== want * 2) fail('realCache', `${want} float16 values in ${vid}.${view}.f16`, String(buf.byteLength / 2));
  return new Uint16Array(buf.buffer, buf.byteOffset, want);
}
