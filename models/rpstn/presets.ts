/**
 * RPSTN presets.
 * - `paper`: the Penn Action setting of RPSTN (ResNet50). The paper (Sec. IV, "Implementation
 *   details") gives SimpleBaselines for both networks, 256x256 input (64x64 heatmaps, 7x7 JRPSP
 *   kernels), T = 5 frames and K = 13 Penn Action joints; "ResNet50" names the feature extractor
 *   (SBL-ResNet-50, 256 channels). The paper does not give the pose initializer's depth: ResNet-101
 *   is the official code's (lib/core/config.py, POSE_INIT.NUM_LAYERS = 101; FEA_EXT.NUM_LAYERS = 50).
 *   The computation is the official one (variant 'official', see RPSTNVariant).
 * - `small`: for the CPU demo. Same structure with ResNet-18 blocks at a quarter of the widths
 *   (16/32/64/128, stem 16), 64 deconv/feature channels, 128x128 input (32x32 heatmaps, 3x3
 *   kernels), T = 5, K = 13. About 0.1 GMACs per frame.
 * - `tiny`: for tests and training on this machine: one BasicBlock per stage at 4/4/8/8 channels,
 *   8 feature channels, 128x128 input, T = 3, K = 13.
 * - `real`: the frozen pretrained MoveNet SinglePose Lightning (192x192 crops) as both the pose
 *   initializer P (its heatmaps of frame 1) and the feature extractor F (its 24-channel 48x48 FPN
 *   features of every frame), T = 5, K = 17 COCO joints (MoveNet's, and the real-video teacher's
 *   labels), 5x5 JRPSP kernels; residual form (M'_{t+1} = JRE(H_{t+1} + conv_d(m)), no bn_u,
 *   conv_d zero-initialized), so that it starts as a copy of MoveNet's heatmaps of every frame;
 *   variant 'paper' (the clean JRE reshape: no official checkpoint to match). Build it with the
 *   pretrained MoveNet: `new RPSTN(rpstnPreset('real'), { movenet })`.
 * `paper` and `small` decode with the Penn Action joint set (13 joints), `real` with COCO-17.
 */
import { moveNetSpec } from '../backbones/backbone.js';
import type { RPSTNConfig } from './model.js';

export type RPSTNPresetName = 'paper' | 'small' | 'tiny' | 'real';

export const RPSTN_PRESETS: Readonly<Record<RPSTNPresetName, RPSTNConfig>> = Object.freeze({
  paper: {
    numJoints: 13,
    numFrames: 5,
    inputSize: [256, 256],
    initializer: { depth: 101, deconvChannels: 256 },
    extractor: { depth: 50, deconvChannels: 256 },
    jointSet: 'pennAction',
  },
  small: {
    numJoints: 13,
    numFrames: 5,
    inputSize: [128, 128],
    initializer: { depth: 18, widths: [16, 32, 64, 128], stemChannels: 16, deconvChannels: 64 },
    extractor: { depth: 18, widths: [16, 32, 64, 128], stemChannels: 16, deconvChannels: 64 },
    jointSet: 'pennAction',
  },
  tiny: {
    numJoints: 13,
    numFrames: 3,
    inputSize: [128, 128],
    initializer: { block: 'basic', layers: [1, 1, 1, 1], widths: [4, 4, 8, 8], stemChannels: 4, deconvChannels: 8 },
    extractor: { block: 'basic', layers: [1, 1, 1, 1], widths: [4, 4, 8, 8], stemChannels: 4, deconvChannels: 8 },
    jointSet: 'pennAction',
  },
  real: {
    numJoints: 17,
    numFrames: 5,
    inputSize: [192, 192],
    backbone: moveNetSpec('lightning'),
    freezeBackbone: true,
    residual: true,
    variant: 'paper',
    jointSet: 'coco17',
  },
});

/**
 * The configuration of a preset, optionally with fields overridden (for example `numJoints: 15`
 * for Sub-JHMDB).
 * @throws Error for an unknown preset name.
 */
export function rpstnPreset(name: string, overrides: Partial<RPSTNConfig> = {}): RPSTNConfig {
  const base = (RPSTN_PRESETS as Record<string, RPSTNConfig>)[name];
  if (!base) throw new Error(`rpstnPreset: expected one of [${Object.keys(RPSTN_PRESETS).join(', ')}], got '${name}'`);
  return { ...base, ...overrides };
}
