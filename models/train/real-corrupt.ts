/**
 * SynthPose-style corruption of real person crops (the student's input in models/train/real-data.ts):
 * textured occluders crossing the crop and motion blur from a camera jerk, both seeded.
 *
 * SynthPose draws its occluders and blur while it renders a scene (models/synthpose/generator.ts),
 * so they cannot be applied to a real image as they are. This adapter reuses SynthPose's own
 * pieces (raster.ts `makeTexture`, `drawTexturedShape`, `Canvas` with its id buffer and
 * `OCCLUDER_ID`; generator.ts `clipSeed`) and its parameters:
 *
 * - **Occluders** are SynthPose's: a rectangle (a pole: half sizes 0.04–0.09 of the crop width by
 *   0.30–0.55 of its height) or an ellipse (half axes 0.10–0.18 of the crop), filled with a
 *   procedural texture, at a height of 0.35–0.70 of the crop, moving horizontally by 0.6–1.2 times
 *   (crop width + its own width) over its life. SynthPose lets up to 2 occluders cross a whole clip;
 *   a real clip can be hundreds of frames long, so here an occluder is an *event*: each frame starts
 *   one with probability `occluderRate` (while fewer than `maxOccluders` are live), and it lives
 *   `occluderFrames` frames, crossing the crop near the middle of its life.
 * - **Motion blur** is SynthPose's: a frame starts a blur burst with probability `blurProbability`
 *   and a burst goes on with probability `blurContinue`; a blurred frame is the mean of
 *   `blurSubframes` (odd) copies of the crop shifted along a random direction over a length of
 *   0.025–0.055 of the crop width (SynthPose's camera jerk), centred on the unshifted crop, so the
 *   middle sub-frame is the clean crop and the clean-frame labels stay exact. The shifted copies are
 *   sampled from the whole frame (no border artefacts), by the caller's `render`.
 * - Occluders are drawn after the blur (sharp), as in SynthPose, where they do not move with the
 *   camera jerk.
 *
 * A joint is *occluded* when the occluder id covers its (rounded) pixel, SynthPose's visibility
 * rule. Everything random comes from one `Rng` per clip, seeded from (seed, clip index) with
 * SynthPose's `clipSeed`, so a clip's corruption does not depend on the other clips.
 */
import { Rng } from '../../engine/random.js';
import { fail } from '../../engine/shape.js';
import { clipSeed } from '../synthpose/generator.js';
import { Canvas, drawTexturedShape, makeTexture, OCCLUDER_ID, type Texture } from '../synthpose/raster.js';

export interface CorruptionOptions {
  /** Probability that a frame starts an occluder event (default 0.06). */
  readonly occluderRate?: number;
  /** Life of an occluder event in frames, [min, max] (default [6, 16]). */
  readonly occluderFrames?: readonly [number, number];
  /** Occluders live at once, at most (default 2, SynthPose's maxOccluders). */
  readonly maxOccluders?: number;
  /** Probability that a frame starts a blur burst (default 0.1, SynthPose's). */
  readonly blurProbability?: number;
  /** Probability that a burst continues to the next frame (default 0.5, SynthPose's). */
  readonly blurContinue?: number;
  /** Sub-frames averaged in a blurred frame (odd, default 5, SynthPose's). */
  readonly blurSubframes?: number;
}

/** The options with their defaults filled in (what the manifest records). */
export type ResolvedCorruption = Required<CorruptionOptions>;

export const DEFAULT_CORRUPTION: ResolvedCorruption = Object.freeze({
  occluderRate: 0.06,
  occluderFrames: [6, 16] as const,
  maxOccluders: 2,
  blurProbability: 0.1,
  blurContinue: 0.5,
  blurSubframes: 5,
});

/** Fills in defaults and checks ranges. @throws Error naming the option. */
export function resolveCorruption(o: CorruptionOptions = {}): ResolvedCorruption {
  const op = 'resolveCorruption';
  const r: ResolvedCorruption = { ...DEFAULT_CORRUPTION, ...o };
  const prob = (name: string, v: number): void => {
    if (!(v >= 0 && v <= 1)) fail(op, `${name} in [0, 1]`, String(v));
  };
  prob('occluderRate', r.occluderRate);
  prob('blurProbability', r.blurProbability);
  prob('blurContinue', r.blurContinue);
  const [a, b] = r.occluderFrames;
  if (!(Number.isInteger(a) && Number.isInteger(b) && a >= 1 && b >= a)) fail(op, 'occluderFrames as integers [min, max] with 1 ≤ min ≤ max', `[${a}, ${b}]`);
  if (!(Number.isInteger(r.maxOccluders) && r.maxOccluders >= 0)) fail(op, 'maxOccluders as an integer ≥ 0', String(r.maxOccluders));
  if (!(Number.isInteger(r.blurSubframes) && r.blurSubframes >= 1 && r.blurSubframes % 2 === 1)) fail(op, 'an odd blurSubframes ≥ 1 (the middle sub-frame is the clean crop)', String(r.blurSubframes));
  return { ...r, occluderFrames: [a, b] };
}

/** One occluder event, in crop pixels. */
export interface OccluderEvent {
  readonly shape: 'ellipse' | 'rect';
  readonly rx: number;
  readonly ry: number;
  /** First frame (clip position) and number of frames it lives. */
  readonly start: number;
  readonly frames: number;
  /** Position at its first frame and velocity per frame. */
  readonly x0: number;
  readonly y0: number;
  readonly vx: number;
  readonly texture: Texture;
}

/** The motion blur of one frame: shift length in crop pixels and direction in radians. */
export interface BlurStep {
  readonly length: number;
  readonly angle: number;
}

/** What happens to every frame of one clip. */
export interface CorruptionPlan {
  readonly size: number;
  readonly frames: number;
  readonly occluders: readonly OccluderEvent[];
  /** Per frame: the blur, or null. */
  readonly blur: readonly (BlurStep | null)[];
  readonly subframes: number;
}

/**
 * Draws the corruption of a clip of `frames` square crops of `size` pixels: clip `clipIndex` under
 * master seed `seed` (SynthPose's `clipSeed` mixing).
 * @throws Error for a bad size or frame count.
 */
export function planCorruption(frames: number, size: number, seed: number, clipIndex: number, opts: CorruptionOptions = {}): CorruptionPlan {
  const op = 'planCorruption';
  if (!(Number.isInteger(frames) && frames >= 1)) fail(op, 'frames as an integer ≥ 1', String(frames));
  if (!(Number.isInteger(size) && size >= 16)) fail(op, 'size as an integer ≥ 16', String(size));
  const o = resolveCorruption(opts);
  const rng = new Rng(clipSeed(seed, clipIndex));
  const W = size;
  const H = size;
  const occluders: OccluderEvent[] = [];
  const blur: (BlurStep | null)[] = [];
  let blurring = false;
  for (let t = 0; t < frames; t++) {
    // every draw happens on every frame, so that one rate does not change the other draws
    const startDraw = rng.uniform();
    const shape: 'ellipse' | 'rect' = rng.uniform() < 0.5 ? 'rect' : 'ellipse';
    const u = [rng.uniform(), rng.uniform(), rng.uniform(), rng.uniform(), rng.uniform(), rng.uniform()] as const;
    const life = o.occluderFrames[0] + rng.int(o.occluderFrames[1] - o.occluderFrames[0] + 1);
    const live = occluders.filter((e) => t >= e.start && t < e.start + e.frames).length;
    if (startDraw < o.occluderRate && live < o.maxOccluders) {
      const rx = shape === 'rect' ? W * (0.04 + 0.05 * u[0]) : W * (0.1 + 0.08 * u[0]);
      const ry = shape === 'rect' ? H * (0.3 + 0.25 * u[1]) : H * (0.1 + 0.08 * u[1]);
      const fromLeft = u[2] < 0.5;
      const span = W + 2 * rx;
      const vx = ((fromLeft ? 1 : -1) * span * (0.6 + 0.6 * u[3])) / life;
      // centre of the crop crossed around the middle of the event (SynthPose: around the clip's middle)
      const xMid = W * (0.3 + 0.4 * u[4]);
      const y0 = H * (0.35 + 0.35 * u[5]);
      occluders.push({ shape, rx, ry, start: t, frames: life, x0: xMid - (vx * (life - 1)) / 2, y0, vx, texture: makeTexture(rng, Math.ceil(2 * rx) + 2, Math.ceil(2 * ry) + 2, 6) });
    }
    blurring = blurring ? rng.uniform() < o.blurContinue : rng.uniform() < o.blurProbability;
    const length = W * (0.025 + 0.03 * rng.uniform());
    const angle = 2 * Math.PI * rng.uniform();
    blur.push(blurring && o.blurSubframes > 1 ? { length, angle } : null);
  }
  return { size, frames, occluders, blur, subframes: o.blurSubframes };
}

/** The occluders live at frame `t`, with their positions then. */
export function occludersAt(plan: CorruptionPlan, t: number): { event: OccluderEvent; x: number; y: number }[] {
  return plan.occluders.filter((e) => t >= e.start && t < e.start + e.frames).map((event) => ({ event, x: event.x0 + event.vx * (t - event.start), y: event.y0 }));
}

/**
 * Renders the crop of one frame shifted by (dx, dy) crop pixels (the scene moves by +d): CHW RGB
 * floats 0..255 of size × size, e.g. models/pose/affine.ts `warpAffineRgb` of the frame with the
 * crop's affine translated by d.
 */
export type CropRenderer = (dx: number, dy: number) => Float32Array;

export interface CorruptedFrame {
  /** HWC RGB bytes, size × size. */
  readonly rgb: Uint8Array;
  /** The clean crop, HWC RGB bytes (the middle sub-frame). */
  readonly clean: Uint8Array;
  readonly blurred: boolean;
  /** Number of occluders drawn on this frame. */
  readonly occluders: number;
  /** Occluder id buffer: 1 where an occluder covers the pixel (size × size). */
  readonly mask: Uint8Array;
}

function chwToHwc(chw: Float32Array, n: number, out: Float32Array): void {
  for (let i = 0; i < n; i++) {
    out[3 * i] = chw[i]!;
    out[3 * i + 1] = chw[n + i]!;
    out[3 * i + 2] = chw[2 * n + i]!;
  }
}

/**
 * Applies frame `t` of `plan` to a crop: blur (the mean of the shifted renders), then occluders.
 * @throws Error when t is outside the plan or render returns the wrong size.
 */
export function corruptFrame(plan: CorruptionPlan, t: number, render: CropRenderer): CorruptedFrame {
  const op = 'corruptFrame';
  if (!(Number.isInteger(t) && t >= 0 && t < plan.frames)) fail(op, `a frame in [0, ${plan.frames})`, String(t));
  const S = plan.size;
  const n = S * S;
  const cv = new Canvas(S, S);
  const centre = render(0, 0);
  if (centre.length !== 3 * n) fail(op, `a render of 3x${S}x${S} = ${3 * n} values`, String(centre.length));
  chwToHwc(centre, n, cv.rgb);
  const clean = cv.toBytes();
  const b = plan.blur[t] ?? null;
  if (b) {
    const acc = Float32Array.from(cv.rgb);
    const tmp = new Float32Array(3 * n);
    const K = plan.subframes;
    const mid = (K - 1) / 2;
    for (let k = 0; k < K; k++) {
      if (k === mid) continue;
      const s = k / (K - 1) - 0.5;
      chwToHwc(render(s * b.length * Math.cos(b.angle), s * b.length * Math.sin(b.angle)), n, tmp);
      for (let i = 0; i < acc.length; i++) acc[i]! += tmp[i]!;
    }
    for (let i = 0; i < acc.length; i++) cv.rgb[i] = acc[i]! / K;
  }
  const occ = occludersAt(plan, t);
  for (const { event, x, y } of occ) drawTexturedShape(cv, event.shape, x, y, event.rx, event.ry, event.texture, OCCLUDER_ID);
  const mask = new Uint8Array(n);
  for (let i = 0; i < n; i++) mask[i] = cv.ids[i] === OCCLUDER_ID ? 1 : 0;
  return { rgb: cv.toBytes(), clean, blurred: b !== null, occluders: occ.length, mask };
}

/** Whether the occluder mask covers the (rounded) pixel (x, y); false outside the crop. */
export function isCovered(mask: Uint8Array, size: number, x: number, y: number): boolean {
  const px = Math.round(x);
  const py = Math.round(y);
  if (px < 0 || py < 0 || px >= size || py >= size) return false;
  return mask[py * size + px] === 1;
}
