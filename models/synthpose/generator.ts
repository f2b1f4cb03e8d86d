/**
 * SynthPose: deterministic synthetic video clips for pose estimation, with exact keypoints.
 *
 * A clip is a textured background seen through a moving camera (smooth pan and zoom), 1..N
 * articulated figures (figure.ts) performing an action with noisy joint angles, and moving textured
 * occluders in front of them. Some frames are motion-blurred: the frame is the mean of several
 * sub-frames spread over one frame interval, during a camera jerk. Ground truth is exact: each joint
 * is projected from the same body model that is rasterized. A joint is visible (v = 1) when the id
 * buffer at its pixel shows its own figure, hidden (v = 0, coordinates kept) when an occluder or
 * another figure covers it, and not annotated ((0, 0, 0)) when it is outside the image.
 * docs/synthpose.md describes the parameters.
 *
 * Everything random comes from posegrad's `Rng` (xoshiro128**), seeded from (seed, clip index), so
 * one seed gives the same bytes on every run and machine, and clips can be made in any order.
 */
import { Rng } from '../../engine/random.js';
import { fail } from '../../engine/shape.js';
import { POSETRACK } from '../pose/joints.js';
import type { FrameFlags, PersonAnnotation, VideoFrame, VideoSequence } from '../pose/datasets/types.js';
import {
  ACTIONS, actionAngles, addNoise, AngleNoise, bodyJoints, FIGURE_JOINTS, NUM_NOISY_ANGLES, PELVIS_TO_GROUND, project, PROPORTIONS, randomFigure,
  type Action, type FigureParams, type Vec3,
} from './figure.js';
import { Canvas, drawBackground, drawCapsule, drawConvexPolygon, drawTexturedShape, makeTexture, OCCLUDER_ID, type Texture } from './raster.js';

export interface SynthPoseOptions {
  /** Frame size in pixels (default 256 x 256). */
  readonly width?: number;
  readonly height?: number;
  /** Frames per clip (default 64). */
  readonly frames?: number;
  /** Master seed (default 0). Clip i uses a generator seeded from (seed, i). */
  readonly seed?: number;
  /** Figures per clip, drawn uniformly in [minPeople, maxPeople] (default 1..2). */
  readonly minPeople?: number;
  readonly maxPeople?: number;
  /** Occluders per clip, drawn uniformly in [0, maxOccluders] (default 2). */
  readonly maxOccluders?: number;
  /** Probability that a frame starts a blur burst (default 0.1); a burst continues with probability 0.5. */
  readonly blurProbability?: number;
  /** Sub-frames averaged in a blurred frame (odd, default 5). */
  readonly blurSubframes?: number;
  /** Camera pan amplitude as a fraction of the width (default 0.08); zoom varies within 1..1.1. */
  readonly cameraMotion?: number;
  /** Uniform sensor noise amplitude in grey levels (default 3). */
  readonly noise?: number;
  /** Standard deviation of the joint-angle noise in radians (default 0.08). */
  readonly angleNoise?: number;
  /** Actions to draw from (default all). */
  readonly actions?: readonly Action[];
}

/** A rendered frame: RGB bytes (HWC), and its flags. */
export interface SynthFrame {
  readonly rgb: Uint8Array;
  readonly flags: FrameFlags;
}

export interface SynthOccluder {
  readonly shape: 'ellipse' | 'rect';
  /** Half sizes in pixels. */
  readonly rx: number;
  readonly ry: number;
  /** Screen position at t = 0 and velocity per frame. */
  readonly x0: number;
  readonly y0: number;
  readonly vx: number;
  readonly vy: number;
}

export interface SynthClip {
  readonly index: number;
  readonly width: number;
  readonly height: number;
  /** Ground truth in the PoseTrack 2018 layout (17 slots, ears unused), frames carrying flags. */
  readonly video: VideoSequence;
  readonly frames: readonly SynthFrame[];
  readonly figures: readonly FigureParams[];
  readonly occluders: readonly SynthOccluder[];
}

/** Seed of clip `index` under master seed `seed` (splitmix-style mixing). */
export function clipSeed(seed: number, index: number): number {
  let z = (Math.imul((seed >>> 0) ^ 0x5bd1e995, 0x9e3779b1) + Math.imul(index + 1, 0x85ebca6b)) >>> 0;
  z = Math.imul(z ^ (z >>> 15), 0x2c1b3c6d) >>> 0;
  z = Math.imul(z ^ (z >>> 12), 0x297a2d39) >>> 0;
  return (z ^ (z >>> 15)) >>> 0;
}

interface Resolved {
  W: number; H: number; T: number; seed: number; minPeople: number; maxPeople: number; maxOccluders: number;
  blurP: number; S: number; camera: number; noise: number; angleNoise: number; actions: readonly Action[];
}

function resolve(o: SynthPoseOptions): Resolved {
  const op = 'synthpose';
  const r: Resolved = {
    W: o.width ?? 256, H: o.height ?? 256, T: o.frames ?? 64, seed: o.seed ?? 0,
    minPeople: o.minPeople ?? 1, maxPeople: o.maxPeople ?? 2, maxOccluders: o.maxOccluders ?? 2,
    blurP: o.blurProbability ?? 0.1, S: o.blurSubframes ?? 5, camera: o.cameraMotion ?? 0.08,
    noise: o.noise ?? 3, angleNoise: o.angleNoise ?? 0.08, actions: o.actions ?? ACTIONS,
  };
  const int = (v: number, min: number, name: string): void => {
    if (!Number.isInteger(v) || v < min) fail(op, `${name} as an integer ≥ ${min}`, String(v));
  };
  int(r.W, 32, 'width');
  int(r.H, 32, 'height');
  int(r.T, 1, 'frames');
  if (r.T > 10000) fail(op, 'frames ≤ 10000 (4-digit frame numbers in ids)', String(r.T));
  int(r.minPeople, 1, 'minPeople');
  int(r.maxPeople, r.minPeople, 'maxPeople');
  if (r.maxPeople > 254) fail(op, 'maxPeople ≤ 254', String(r.maxPeople));
  int(r.maxOccluders, 0, 'maxOccluders');
  int(r.S, 1, 'blurSubframes');
  if (r.S % 2 === 0) fail(op, 'an odd blurSubframes (the middle sub-frame carries the ground truth)', String(r.S));
  if (!(r.blurP >= 0 && r.blurP <= 1)) fail(op, 'blurProbability in [0, 1]', String(r.blurP));
  if (!(r.camera >= 0)) fail(op, 'cameraMotion ≥ 0', String(r.camera));
  if (r.actions.length === 0 || r.actions.some((a) => !ACTIONS.includes(a))) fail(op, `actions from [${ACTIONS.join(', ')}]`, `[${r.actions.join(', ')}]`);
  return r;
}

interface Placed {
  p: FigureParams;
  noise: AngleNoise;
  /** World pelvis position at t = 0. */
  x0: number;
  y0: number;
  /** World velocity in px/frame. */
  vx: number;
}

interface Camera {
  ox: number;
  oy: number;
  zoom: number;
}

const POSETRACK_SLOT: readonly number[] = FIGURE_JOINTS.map((n) => POSETRACK.names.indexOf(n));

/**
 * Renders clip `index` of the SynthPose set described by `opts`.
 * @throws Error when an option is out of range.
 */
export function generateClip(index: number, opts: SynthPoseOptions = {}): SynthClip {
  const o = resolve(opts);
  if (!Number.isInteger(index) || index < 0 || index > 999999) fail('synthpose', 'a clip index in 0..999999', String(index));
  const rng = new Rng(clipSeed(o.seed, index));
  const { W, H, T } = o;
  const margin = Math.ceil(o.camera * W * 1.5 + 8);
  const tex = makeTexture(rng, W + 2 * margin, H + 2 * margin, Math.max(8, Math.round(W / 10)));

  // camera: smooth pan (two sines) and zoom
  const amp = o.camera * W;
  const cam = {
    ax: amp * (0.5 + 0.5 * rng.uniform()), ay: 0.4 * amp * rng.uniform(),
    wx: (2 * Math.PI) / (40 + 80 * rng.uniform()), wy: (2 * Math.PI) / (30 + 60 * rng.uniform()), wz: (2 * Math.PI) / (50 + 100 * rng.uniform()),
    px: 2 * Math.PI * rng.uniform(), py: 2 * Math.PI * rng.uniform(), pz: 2 * Math.PI * rng.uniform(),
  };
  const camera = (t: number): Camera => ({
    ox: margin + cam.ax * Math.sin(cam.wx * t + cam.px),
    oy: margin + cam.ay * Math.sin(cam.wy * t + cam.py),
    zoom: 1 + (o.camera > 0 ? 0.05 * (1 + Math.sin(cam.wz * t + cam.pz)) : 0),
  });

  // figures, farther (smaller) ones first
  const nPeople = o.minPeople + rng.int(o.maxPeople - o.minPeople + 1);
  const placed: Placed[] = [];
  for (let i = 0; i < nPeople; i++) {
    const hFrac = nPeople === 1 ? 0.5 + 0.25 * rng.uniform() : 0.35 + 0.3 * rng.uniform();
    const action = o.actions[rng.int(o.actions.length)]!;
    const p = randomFigure(rng, hFrac * H, action);
    const dir = Math.sin(p.yaw);
    const vx = p.speed * dir;
    // pelvis so that feet stand on a ground line in the lower part of the view
    const groundY = margin + H * (0.82 + 0.12 * rng.uniform());
    const y0 = groundY - PELVIS_TO_GROUND * p.height;
    const cx = margin + W * (nPeople === 1 ? 0.5 : (i + 0.5) / nPeople) + W * 0.1 * (rng.uniform() - 0.5);
    placed.push({ p, noise: new AngleNoise(rng, NUM_NOISY_ANGLES, o.angleNoise), x0: cx - (vx * T) / 2, y0, vx });
  }
  placed.sort((a, b) => a.p.height - b.p.height);

  // occluders crossing the view
  const nOcc = rng.int(o.maxOccluders + 1);
  const occluders: SynthOccluder[] = [];
  const occTex: Texture[] = [];
  for (let k = 0; k < nOcc; k++) {
    const shape = rng.uniform() < 0.5 ? 'rect' : 'ellipse';
    const rx = shape === 'rect' ? W * (0.04 + 0.05 * rng.uniform()) : W * (0.1 + 0.08 * rng.uniform());
    const ry = shape === 'rect' ? H * (0.3 + 0.25 * rng.uniform()) : H * (0.1 + 0.08 * rng.uniform());
    const fromLeft = rng.uniform() < 0.5;
    const span = W + 2 * rx;
    const vx = ((fromLeft ? 1 : -1) * span * (0.6 + 0.6 * rng.uniform())) / T;
    // cross the centre around a random time in the middle of the clip
    const tc = T * (0.3 + 0.4 * rng.uniform());
    const x0 = W * (0.3 + 0.4 * rng.uniform()) - vx * tc;
    const y0 = H * (0.35 + 0.35 * rng.uniform());
    occluders.push({ shape, rx, ry, x0, y0, vx, vy: 0 });
    occTex.push(makeTexture(rng, Math.ceil(2 * rx) + 2, Math.ceil(2 * ry) + 2, 6));
  }

  const vid = String(index).padStart(6, '0');
  const cv = new Canvas(W, H);
  const acc = new Float32Array(W * H * 3);
  const frames: SynthFrame[] = [];
  const videoFrames: VideoFrame[] = [];
  let blurring = false;
  for (let t = 0; t < T; t++) {
    const noiseNow = placed.map((f) => Float64Array.from(f.noise.step()));
    blurring = blurring ? rng.uniform() < 0.5 : rng.uniform() < o.blurP;
    const blurred = blurring && o.S > 1;
    // drawn on every frame, so that the blur setting does not change the rest of the clip
    const jerkDraw = W * (0.025 + 0.03 * rng.uniform());
    const jerkLen = blurred ? jerkDraw : 0;
    const jerkAng = 2 * Math.PI * rng.uniform();
    const S = blurred ? o.S : 1;
    const mid = (S - 1) / 2;
    let people: PersonAnnotation[] = [];
    let occluded = false;
    acc.fill(0);
    for (let si = 0; si < S; si++) {
      const s = S === 1 ? 0 : si / (S - 1) - 0.5; // −0.5 .. 0.5 of a frame
      const tt = t + s;
      const c = camera(tt);
      c.ox += jerkLen * s * Math.cos(jerkAng);
      c.oy += jerkLen * s * Math.sin(jerkAng);
      drawBackground(cv, tex, c.ox, c.oy, c.zoom);
      const poses = placed.map((f, fi) => renderFigure(cv, f, fi + 1, tt, noiseNow[fi]!, c, W, H));
      occluders.forEach((oc, k) => drawTexturedShape(cv, oc.shape, oc.x0 + oc.vx * tt, oc.y0 + oc.vy * tt, oc.rx, oc.ry, occTex[k]!, OCCLUDER_ID));
      if (si === mid) {
        const ann = annotate(cv, poses);
        people = ann.people;
        occluded = ann.occluded;
      }
      for (let i = 0; i < acc.length; i++) acc[i]! += cv.rgb[i]!;
    }
    for (let i = 0; i < acc.length; i++) cv.rgb[i] = acc[i]! / S;
    const flags: FrameFlags = { occluded, blurred };
    frames.push({ rgb: cv.toBytes(rng, o.noise), flags });
    const id = Number(`1${vid}${String(t).padStart(4, '0')}`);
    videoFrames.push({
      id,
      file: `images/synthpose/${vid}/${String(t).padStart(6, '0')}.png`,
      index: t,
      isLabeled: true,
      width: W,
      height: H,
      ignoreRegions: [],
      people: people.map((p, i) => ({ ...p, id: id * 100 + i })),
      flags,
    });
  }
  return {
    index,
    width: W,
    height: H,
    video: { id: vid, keypointNames: [...POSETRACK.names], frames: videoFrames, root: '' },
    frames,
    figures: placed.map((f) => f.p),
    occluders,
  };
}

/** A figure as drawn in one (sub-)frame: image positions of its joints and head. */
interface DrawnPose {
  id: number;
  trackId: number;
  joints: Float64Array; // [15·2] in FIGURE_JOINTS order
  head: [number, number, number]; // centre x, y, radius
  radius: number; // largest limb radius, for the person box
}

function renderFigure(cv: Canvas, f: Placed, id: number, t: number, noise: Float64Array, c: Camera, W: number, H: number): DrawnPose {
  const p = f.p;
  const h = p.height;
  const angles = addNoise(actionAngles(p, t), noise);
  const { joints, headCenter } = bodyJoints(h, angles);
  const wx = f.x0 + f.vx * t;
  const wy = f.y0;
  const z = c.zoom;
  const toImg = (v: Vec3): Vec3 => {
    const q = project(v, p.yaw);
    return [(wx + q[0] - c.ox - W / 2) * z + W / 2, (wy + q[1] - c.oy - H / 2) * z + H / 2, q[2]];
  };
  const J = FIGURE_JOINTS.map((n) => toImg(joints[n]));
  const P = PROPORTIONS;
  const hc = toImg(headCenter);
  const byName = (n: (typeof FIGURE_JOINTS)[number]): Vec3 => J[FIGURE_JOINTS.indexOf(n)]!;
  type Part = { depth: number; draw: () => void };
  const parts: Part[] = [];
  const limb = (a: Vec3, b: Vec3, r: number, color: readonly number[], stripes = 0): void => {
    parts.push({ depth: (a[2] + b[2]) / 2, draw: () => drawCapsule(cv, a[0], a[1], b[0], b[1], r * z, color, id, stripes * z) });
  };
  const lSho = byName('left_shoulder');
  const rSho = byName('right_shoulder');
  const lHip = byName('left_hip');
  const rHip = byName('right_hip');
  const neck = byName('head_bottom');
  const pelvis = toImg([0, angles.bob * h, 0]);
  // torso: the shoulder-hip quad (front view width) plus a spine capsule (side view thickness)
  parts.push({
    depth: (lSho[2] + rSho[2] + lHip[2] + rHip[2]) / 4,
    draw: () => {
      drawConvexPolygon(cv, [lSho[0], rSho[0], rHip[0], lHip[0]], [lSho[1], rSho[1], rHip[1], lHip[1]], p.shirt, id, p.stripes * z);
      drawCapsule(cv, neck[0], neck[1] + 0.03 * h * z, pelvis[0], pelvis[1], P.torsoRadius * h, p.shirt, id, p.stripes * z);
      drawCapsule(cv, lSho[0], lSho[1], rSho[0], rSho[1], P.armRadius * h * 1.1 * z, p.shirt, id);
      drawCapsule(cv, lHip[0], lHip[1], rHip[0], rHip[1], P.legRadius * h * z, p.pants, id);
    },
  });
  limb(neck, hc, P.armRadius * h * 0.9, p.skin);
  parts.push({ depth: hc[2], draw: () => drawCapsule(cv, hc[0], hc[1], hc[0], hc[1], P.headRadius * h * z, p.skin, id) });
  limb(lSho, byName('left_elbow'), P.armRadius * h, p.shirt, p.stripes);
  limb(rSho, byName('right_elbow'), P.armRadius * h, p.shirt, p.stripes);
  limb(byName('left_elbow'), byName('left_wrist'), P.armRadius * h * 0.85, p.skin);
  limb(byName('right_elbow'), byName('right_wrist'), P.armRadius * h * 0.85, p.skin);
  limb(lHip, byName('left_knee'), P.legRadius * h, p.pants);
  limb(rHip, byName('right_knee'), P.legRadius * h, p.pants);
  limb(byName('left_knee'), byName('left_ankle'), P.legRadius * h * 0.8, p.pants);
  limb(byName('right_knee'), byName('right_ankle'), P.legRadius * h * 0.8, p.pants);
  parts.sort((a, b) => a.depth - b.depth); // far parts first (painter's algorithm); sort is stable
  for (const part of parts) part.draw();
  const flat = new Float64Array(2 * J.length);
  J.forEach((q, k) => {
    flat[2 * k] = q[0];
    flat[2 * k + 1] = q[1];
  });
  return { id, trackId: id - 1, joints: flat, head: [hc[0], hc[1], P.headRadius * h * z], radius: P.legRadius * h * z };
}

/** Keypoints, visibility from the id buffer, head and person boxes of the drawn figures. */
function annotate(cv: Canvas, poses: readonly DrawnPose[]): { people: PersonAnnotation[]; occluded: boolean } {
  const { width: W, height: H } = cv;
  let occluded = false;
  const people: PersonAnnotation[] = [];
  for (const d of poses) {
    const kp = new Float64Array(3 * POSETRACK.numJoints);
    let inImage = 0;
    let x0 = Infinity;
    let y0 = Infinity;
    let x1 = -Infinity;
    let y1 = -Infinity;
    FIGURE_JOINTS.forEach((_, k) => {
      const x = d.joints[2 * k]!;
      const y = d.joints[2 * k + 1]!;
      x0 = Math.min(x0, x);
      y0 = Math.min(y0, y);
      x1 = Math.max(x1, x);
      y1 = Math.max(y1, y);
      const px = Math.round(x);
      const py = Math.round(y);
      if (px < 0 || py < 0 || px >= W || py >= H) return; // outside the image: not annotated
      inImage++;
      const slot = POSETRACK_SLOT[k]!;
      const visible = cv.ids[py * W + px] === d.id;
      if (!visible) occluded = true;
      kp[3 * slot] = x;
      kp[3 * slot + 1] = y;
      kp[3 * slot + 2] = visible ? 1 : 0;
    });
    if (inImage === 0) continue;
    const [hx, hy, hr] = d.head;
    const neckY = d.joints[2 * FIGURE_JOINTS.indexOf('head_bottom') + 1]!;
    const r = d.radius;
    x0 = Math.min(x0 - r, hx - hr);
    x1 = Math.max(x1 + r, hx + hr);
    y0 = Math.min(y0 - r, hy - hr);
    y1 = Math.max(y1 + r, hy + hr);
    people.push({
      trackId: d.trackId,
      keypoints: kp,
      bbox: [x0, y0, x1 - x0, y1 - y0],
      // head box: the head disc, down to the neck
      bboxHead: [hx - hr, hy - hr, 2 * hr, Math.max(neckY, hy + hr) - (hy - hr)],
    });
  }
  return { people, occluded };
}
