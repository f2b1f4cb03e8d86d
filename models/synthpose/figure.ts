/**
 * SynthPose figures: a 3D-lite articulated body (15 PoseTrack joints) driven by joint angles, and
 * the actions that move those angles over time (walking, waving, jumping jacks) plus smooth noise.
 *
 * Body frame: x to the person's left, y down, z forward (toward the camera when yaw = 0). Limbs
 * rotate about the pelvis-fixed axes: "flexion" swings a limb forward (toward +z), "abduction"
 * raises it sideways, away from the body. The body is turned by `yaw` about the vertical axis and
 * projected orthographically: image x = x·cos(yaw) + z·sin(yaw), closeness = z·cos(yaw) − x·sin(yaw).
 * So a person facing the camera (yaw 0) has their left side on the image's right, as in photos.
 */
import type { Rng } from '../../engine/random.js';

export type Action = 'walk' | 'wave' | 'jacks';
export const ACTIONS: readonly Action[] = ['walk', 'wave', 'jacks'];

/** Joint names of the skeleton, a subset of the PoseTrack slots (everything but the ears). */
export const FIGURE_JOINTS = [
  'nose', 'head_bottom', 'head_top', 'left_shoulder', 'right_shoulder', 'left_elbow', 'right_elbow',
  'left_wrist', 'right_wrist', 'left_hip', 'right_hip', 'left_knee', 'right_knee', 'left_ankle', 'right_ankle',
] as const;
export type FigureJoint = (typeof FIGURE_JOINTS)[number];

/** Body proportions, as fractions of the standing height (roughly anthropometric). */
export const PROPORTIONS = {
  torso: 0.3,
  neckToHead: 0.075,
  headRadius: 0.062,
  shoulderHalf: 0.105,
  hipHalf: 0.065,
  upperArm: 0.165,
  forearm: 0.15,
  thigh: 0.245,
  shin: 0.235,
  armRadius: 0.032,
  legRadius: 0.045,
  torsoRadius: 0.05,
} as const;

/** Per-person appearance and motion parameters, drawn once per figure. */
export interface FigureParams {
  /** Standing height in pixels (world units). */
  height: number;
  action: Action;
  /** Cycles per frame of the action. */
  frequency: number;
  phase0: number;
  yaw: number;
  /** Ground-plane walking speed in px/frame (walk only, along the facing direction). */
  speed: number;
  /** Waving arm for 'wave': +1 left, −1 right. */
  waveSide: number;
  skin: [number, number, number];
  shirt: [number, number, number];
  pants: [number, number, number];
  /** Stripe period on the shirt in px (0 = plain). */
  stripes: number;
}

/** Joint angles of one instant (radians). */
export interface Angles {
  lean: number;
  headTilt: number;
  shoFlexL: number; shoFlexR: number; shoAbdL: number; shoAbdR: number;
  elbowL: number; elbowR: number; elbowAbdL: number; elbowAbdR: number;
  hipFlexL: number; hipFlexR: number; hipAbdL: number; hipAbdR: number;
  kneeL: number; kneeR: number;
  /** Vertical pelvis offset (fraction of height, negative = up). */
  bob: number;
}

export type Vec3 = [number, number, number];

/** Smooth per-angle noise: an Ornstein-Uhlenbeck process sampled once per frame (σ in radians). */
export class AngleNoise {
  private readonly state: Float64Array;
  constructor(private readonly rng: Rng, private readonly n: number, private readonly sigma: number, private readonly theta = 0.15) {
    this.state = new Float64Array(n);
    for (let i = 0; i < n; i++) this.state[i] = rng.normal() * sigma;
  }
  /** Advances one frame; returns the current values. */
  step(): Float64Array {
    const k = Math.sqrt(2 * this.theta) * this.sigma;
    for (let i = 0; i < this.n; i++) this.state[i] = this.state[i]! * (1 - this.theta) + k * this.rng.normal();
    return this.state;
  }
  get size(): number {
    return this.n;
  }
}

/** The angles of `action` at time t (frames), before noise. */
export function actionAngles(p: FigureParams, t: number): Angles {
  const ph = p.phase0 + 2 * Math.PI * p.frequency * t;
  const s = Math.sin(ph);
  const a: Angles = {
    lean: 0, headTilt: 0,
    shoFlexL: 0, shoFlexR: 0, shoAbdL: 0.12, shoAbdR: 0.12,
    elbowL: 0.15, elbowR: 0.15, elbowAbdL: 0, elbowAbdR: 0,
    hipFlexL: 0, hipFlexR: 0, hipAbdL: 0.04, hipAbdR: 0.04,
    kneeL: 0.05, kneeR: 0.05, bob: 0,
  };
  if (p.action === 'walk') {
    a.lean = 0.06;
    a.hipFlexL = 0.45 * s;
    a.hipFlexR = -0.45 * s;
    a.kneeL = 0.1 + 0.6 * Math.max(0, Math.sin(ph - 0.9));
    a.kneeR = 0.1 + 0.6 * Math.max(0, Math.sin(ph + Math.PI - 0.9));
    a.shoFlexL = -0.4 * s;
    a.shoFlexR = 0.4 * s;
    a.elbowL = 0.3 + 0.2 * Math.max(0, -s);
    a.elbowR = 0.3 + 0.2 * Math.max(0, s);
    a.bob = -0.012 * Math.abs(Math.cos(ph));
  } else if (p.action === 'wave') {
    const up = 2.3 + 0.1 * Math.sin(ph * 0.5);
    const wave = 0.55 * s;
    if (p.waveSide > 0) {
      a.shoAbdL = up;
      a.elbowAbdL = wave - 0.3;
      a.elbowL = 0.2;
    } else {
      a.shoAbdR = up;
      a.elbowAbdR = wave - 0.3;
      a.elbowR = 0.2;
    }
    a.hipAbdL = a.hipAbdR = 0.06;
    a.lean = 0.03 * Math.sin(ph * 0.5);
  } else {
    const open = 0.5 - 0.5 * Math.cos(ph);
    a.shoAbdL = a.shoAbdR = 0.15 + 2.5 * open;
    a.elbowL = a.elbowR = 0.1;
    a.hipAbdL = a.hipAbdR = 0.03 + 0.3 * open;
    a.kneeL = a.kneeR = 0.12 * (1 - open);
    a.bob = -0.04 * Math.sin(Math.PI * open);
  }
  return a;
}

const ANGLE_KEYS: readonly (keyof Angles)[] = [
  'lean', 'headTilt', 'shoFlexL', 'shoFlexR', 'shoAbdL', 'shoAbdR', 'elbowL', 'elbowR', 'elbowAbdL', 'elbowAbdR',
  'hipFlexL', 'hipFlexR', 'hipAbdL', 'hipAbdR', 'kneeL', 'kneeR',
];
export const NUM_NOISY_ANGLES = ANGLE_KEYS.length;

/** Adds noise (one value per noisy angle, in ANGLE_KEYS order) to the angles, in place. */
export function addNoise(a: Angles, noise: ArrayLike<number>): Angles {
  ANGLE_KEYS.forEach((k, i) => {
    a[k] += noise[i]!;
  });
  // keep joints in their anatomical range: knees and elbows only bend one way
  a.kneeL = Math.max(0, a.kneeL);
  a.kneeR = Math.max(0, a.kneeR);
  a.elbowL = Math.max(0, a.elbowL);
  a.elbowR = Math.max(0, a.elbowR);
  return a;
}

function limbDir(side: number, flex: number, abd: number): Vec3 {
  return [side * Math.sin(abd), Math.cos(abd) * Math.cos(flex), Math.cos(abd) * Math.sin(flex)];
}

function add(a: Vec3, b: Vec3, k = 1): Vec3 {
  return [a[0] + k * b[0], a[1] + k * b[1], a[2] + k * b[2]];
}

/** Joint positions in the body frame (pelvis at the origin), in pixels, plus the head centre. */
export function bodyJoints(h: number, a: Angles): { joints: Record<FigureJoint, Vec3>; headCenter: Vec3 } {
  const P = PROPORTIONS;
  const pelvis: Vec3 = [0, a.bob * h, 0];
  const up: Vec3 = [0, -Math.cos(a.lean), Math.sin(a.lean)];
  const neck = add(pelvis, up, P.torso * h);
  const headUp: Vec3 = [0, -Math.cos(a.lean + a.headTilt), Math.sin(a.lean + a.headTilt)];
  const headCenter = add(neck, headUp, P.neckToHead * h);
  const headTop = add(headCenter, headUp, 0.9 * P.headRadius * h);
  const nose = add(add(headCenter, [0, 0, 1], 0.9 * P.headRadius * h), headUp, -0.15 * P.headRadius * h);
  const sho = (side: number): Vec3 => add(neck, [side * P.shoulderHalf * h, 0.02 * h, 0]);
  const hip = (side: number): Vec3 => add(pelvis, [side * P.hipHalf * h, 0, 0]);
  const lSho = sho(1);
  const rSho = sho(-1);
  const lElb = add(lSho, limbDir(1, a.shoFlexL, a.shoAbdL), P.upperArm * h);
  const rElb = add(rSho, limbDir(-1, a.shoFlexR, a.shoAbdR), P.upperArm * h);
  const lWri = add(lElb, limbDir(1, a.shoFlexL + a.elbowL, a.shoAbdL + a.elbowAbdL), P.forearm * h);
  const rWri = add(rElb, limbDir(-1, a.shoFlexR + a.elbowR, a.shoAbdR + a.elbowAbdR), P.forearm * h);
  const lHip = hip(1);
  const rHip = hip(-1);
  const lKnee = add(lHip, limbDir(1, a.hipFlexL, a.hipAbdL), P.thigh * h);
  const rKnee = add(rHip, limbDir(-1, a.hipFlexR, a.hipAbdR), P.thigh * h);
  const lAnk = add(lKnee, limbDir(1, a.hipFlexL - a.kneeL, a.hipAbdL), P.shin * h);
  const rAnk = add(rKnee, limbDir(-1, a.hipFlexR - a.kneeR, a.hipAbdR), P.shin * h);
  return {
    joints: {
      nose, head_bottom: neck, head_top: headTop,
      left_shoulder: lSho, right_shoulder: rSho, left_elbow: lElb, right_elbow: rElb, left_wrist: lWri, right_wrist: rWri,
      left_hip: lHip, right_hip: rHip, left_knee: lKnee, right_knee: rKnee, left_ankle: lAnk, right_ankle: rAnk,
    },
    headCenter,
  };
}

/** Projects a body-frame point: [image dx, image dy, closeness] relative to the pelvis. */
export function project(p: Vec3, yaw: number): Vec3 {
  const c = Math.cos(yaw);
  const s = Math.sin(yaw);
  return [p[0] * c + p[2] * s, p[1], p[2] * c - p[0] * s];
}

/** The standing height from pelvis to ankle (for placing feet on the ground), as a fraction of height. */
export const PELVIS_TO_GROUND = PROPORTIONS.thigh + PROPORTIONS.shin;

function color(rng: Rng, lo: number, hi: number): [number, number, number] {
  return [lo + (hi - lo) * rng.uniform(), lo + (hi - lo) * rng.uniform(), lo + (hi - lo) * rng.uniform()];
}

/** Draws a figure's parameters. */
export function randomFigure(rng: Rng, height: number, action: Action): FigureParams {
  const skinTone = 0.35 + 0.55 * rng.uniform();
  const yawChoices = action === 'walk' ? [Math.PI / 2, -Math.PI / 2, Math.PI / 3, -Math.PI / 3] : [0, 0.4, -0.4, Math.PI];
  return {
    height,
    action,
    frequency: action === 'walk' ? 0.035 + 0.03 * rng.uniform() : 0.04 + 0.04 * rng.uniform(),
    phase0: 2 * Math.PI * rng.uniform(),
    yaw: yawChoices[rng.int(yawChoices.length)]! + 0.15 * (rng.uniform() - 0.5),
    speed: action === 'walk' ? height * (0.004 + 0.004 * rng.uniform()) : 0,
    waveSide: rng.uniform() < 0.5 ? 1 : -1,
    skin: [255 * skinTone, 255 * skinTone * 0.78, 255 * skinTone * 0.62],
    shirt: color(rng, 20, 240),
    pants: color(rng, 15, 160),
    stripes: rng.uniform() < 0.5 ? 4 + 6 * rng.uniform() : 0,
  };
}
