/**
 * GLPose presets.
 * - `paper`: the paper's setting (Sec. 3.3 and 4.1): HRNet-W48 stage 3 (48-channel 96x72 features)
 *   at 384x288, k = 4 local frames per side, n = 6 global proposals kept out of G = 20 candidates,
 *   3 BasicBlocks in Feature Processing (720 → 48 channels), a 3x3 head, K = 17 (PoseTrack's 15
 *   joints stored in COCO order). The backbone is frozen (see docs/models/glpose.md).
 * - `small`: for the CPU demo: HRNet `small` (width 16) at 128x96 (16-channel 32x24 features),
 *   k = 1, n = 2 of G = 4, K = 17.
 * - `tiny`: for tests and parity fixtures: HRNet `tiny` (width 4) at 64x64 (4-channel 16x16
 *   features), k = 1, n = 2 of G = 3, K = 17.
 * - `real`: the frozen pretrained MoveNet SinglePose Lightning (192x192 crops) as the backbone: V is
 *   its 24-channel 48x48 FPN output; k = 2 local frames per side, n = 3 global proposals of G = 6
 *   (11 MoveNet passes per sample instead of the paper's 29, for training on wasm), the paper's
 *   Feature Processing (3 BasicBlocks, (1 + 4 + 3)·24 = 192 → 24 channels) and Enhancement, and a
 *   residual 3x3 head that starts as a copy of MoveNet's key-frame heatmaps. Build it with the
 *   pretrained MoveNet: `createGLPose('real', {}, { movenet })`. 17 COCO joints (MoveNet's, and the
 *   real-video teacher's labels).
 * `paper` and `small` decode with the PoseTrack joint set, `real` with COCO-17.
 */
import { moveNetSpec } from '../backbones/backbone.js';
import { HRNET_PRESETS, type HRNet } from '../backbones/hrnet.js';
import type { Module } from '../nn/module.js';
import { selectFrames } from '../pose/data/frames.js';
import { GLPose, type GLPoseConfig, type GLPoseOptions } from './model.js';

export type GLPosePresetName = 'paper' | 'small' | 'tiny' | 'real';

export const GLPOSE_PRESETS: Readonly<Record<GLPosePresetName, GLPoseConfig>> = Object.freeze({
  paper: {
    backbone: HRNET_PRESETS.w48,
    inputSize: [288, 384],
    numJoints: 17,
    localFrames: 4,
    globalFrames: 6,
    globalCandidates: 20,
    processingBlocks: 3,
    aggregationBlocks: 2,
    headKernel: 3,
    rankBy: 'dot',
    freezeBackbone: true,
    jointSet: 'posetrack',
  },
  small: {
    backbone: HRNET_PRESETS.small,
    inputSize: [96, 128],
    numJoints: 17,
    localFrames: 1,
    globalFrames: 2,
    globalCandidates: 4,
    processingBlocks: 3,
    aggregationBlocks: 2,
    headKernel: 3,
    rankBy: 'dot',
    freezeBackbone: false,
    jointSet: 'posetrack',
  },
  tiny: {
    backbone: HRNET_PRESETS.tiny,
    inputSize: [64, 64],
    numJoints: 17,
    localFrames: 1,
    globalFrames: 2,
    globalCandidates: 3,
    processingBlocks: 3,
    aggregationBlocks: 2,
    headKernel: 3,
    rankBy: 'dot',
    freezeBackbone: false,
  },
  real: {
    backbone: moveNetSpec('lightning'),
    inputSize: [192, 192],
    numJoints: 17,
    localFrames: 2,
    globalFrames: 3,
    globalCandidates: 6,
    processingBlocks: 3,
    aggregationBlocks: 2,
    headKernel: 3,
    rankBy: 'dot',
    freezeBackbone: true,
    jointSet: 'coco17',
    residual: true,
  },
});

/**
 * The configuration of a preset with fields overridden (for example `{ localFrames: 2 }` for the
 * paper's k ablation, or `{ numJoints: 15 }`).
 * @throws Error for an unknown preset name.
 */
export function glposePreset(name: string, overrides: Partial<GLPoseConfig> = {}): GLPoseConfig {
  const base = (GLPOSE_PRESETS as Record<string, GLPoseConfig>)[name];
  if (!base) throw new Error(`glposePreset: expected one of [${Object.keys(GLPOSE_PRESETS).join(', ')}], got '${name}'`);
  return { ...base, ...overrides };
}

/**
 * Builds GLPose from a preset name (or a full configuration) with optional overrides; `opts.movenet`
 * is the pretrained MoveNet of the `real` preset (random weights without it). The result's type
 * parameter is the backbone's class: HRNet for the HRNet presets, Module otherwise.
 * @throws Error for an unknown preset or an invalid configuration.
 */
export function createGLPose(preset: 'real', overrides?: Partial<GLPoseConfig>, opts?: GLPoseOptions): GLPose<Module>;
export function createGLPose(preset: Exclude<GLPosePresetName, 'real'>, overrides?: Partial<GLPoseConfig>, opts?: GLPoseOptions): GLPose<HRNet>;
export function createGLPose(preset: GLPosePresetName | GLPoseConfig, overrides?: Partial<GLPoseConfig>, opts?: GLPoseOptions): GLPose<Module>;
export function createGLPose(preset: GLPosePresetName | GLPoseConfig, overrides: Partial<GLPoseConfig> = {}, opts: GLPoseOptions = {}): GLPose<Module> {
  return new GLPose<Module>(typeof preset === 'string' ? glposePreset(preset, overrides) : { ...preset, ...overrides }, opts);
}

/**
 * The frame selection the data pipeline needs for this configuration (models/pose/data/frames.ts):
 * the key frame, k local frames per side and G global candidates, in the order
 * `glposeInputsFromFrames` splits.
 */
export function glposeFrameSelection(cfg: Pick<GLPoseConfig, 'localFrames' | 'globalCandidates'>): { kind: 'localGlobal'; local: number; global: number } {
  return { kind: 'localGlobal', local: cfg.localFrames, global: cfg.globalCandidates };
}

/**
 * The frames each GLPose call reads, for running a whole clip of `numFrames` frames (one key frame
 * per call, in `glposeInputsFromFrames` order): the key frame, its k neighbours on each side
 * (clamped at the clip ends) and G global candidates spread evenly over the rest of the clip (the
 * data pipeline's deterministic choice). `outputs` is the key frame. Same shape as the demo's
 * ClipWindow.
 * @throws Error when numFrames < 1.
 */
export function glposeWindows(numFrames: number, cfg: Pick<GLPoseConfig, 'localFrames' | 'globalCandidates'>): { frames: number[]; outputs: number[] }[] {
  if (!Number.isInteger(numFrames) || numFrames < 1) throw new Error(`glposeWindows: expected numFrames as an integer ≥ 1, got ${numFrames}`);
  return Array.from({ length: numFrames }, (_, key) => ({ frames: [...selectFrames(glposeFrameSelection(cfg), key, numFrames, false).positions], outputs: [key] }));
}

/**
 * The paper's training recipe (Sec. 4.1), for the trainer: Adam, lr 1e-3, ÷10 at epochs 6, 12 and
 * 18 (1e-4, 1e-5, 1e-6), 20 epochs; augmentation: rotation in [−45°, 45°], scale in [0.65, 1.35],
 * "truncation" (read as HRNet's half-body crop) and horizontal flip. In models/pose/data/augment.ts
 * terms the rotation range [−2·rf, 2·rf] needs rotationFactor 22.5 (HRNet's config value 45 would
 * give ±90°); the half-body probability is HRNet's 0.3 (unstated in the paper). Batch size unstated
 * (4 GPUs).
 */
export const GLPOSE_TRAINING = Object.freeze({
  optimizer: 'adam' as const,
  lr: 1e-3,
  milestones: Object.freeze([6, 12, 18]),
  gamma: 0.1,
  epochs: 20,
  augment: Object.freeze({ scaleFactor: 0.35, rotationFactor: 22.5, flipProb: 0.5, halfBodyProb: 0.3 }),
});
